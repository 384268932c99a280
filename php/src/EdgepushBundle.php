<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Symfony\DependencyInjection\CheckHttpClientPass;
use Edgepush\Symfony\DependencyInjection\EdgepushExtension;
use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\HttpKernel\Bundle\Bundle;

/**
 * The Symfony bundle: the Publisher, the TokenIssuer, the Messaging service, the Messenger handler,
 * the `edgepush_token()` and `edgepush_public_url()` Twig functions and the token endpoint
 * (`@EdgepushBundle/config/routes.php`), configured under the `edgepush` key.
 *
 * It lives at the root of the `Edgepush\` namespace, where Symfony Flex looks for the bundle of a
 * `symfony-bundle` package (`<Namespace>\<Namespace>Bundle`); the rest of the Symfony glue is in
 * `Edgepush\Symfony\`.
 */
final class EdgepushBundle extends Bundle
{
    /** The bundle's directory (php/), which holds config/routes.php. */
    public function getPath(): string
    {
        return \dirname(__DIR__);
    }

    public function build(ContainerBuilder $container): void
    {
        parent::build($container);
        $container->addCompilerPass(new CheckHttpClientPass());
    }

    protected function getContainerExtensionClass(): string
    {
        return EdgepushExtension::class;
    }
}
