<?php

declare(strict_types=1);

namespace Edgepush\Symfony\DependencyInjection;

use Psr\Http\Client\ClientInterface;
use Symfony\Component\DependencyInjection\Compiler\CompilerPassInterface;
use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\DependencyInjection\Exception\InvalidArgumentException;

/**
 * Checks, when the container is compiled, that the service named by `edgepush.http_client` is a
 * PSR-18 client: otherwise the first publish would fail with a TypeError.
 *
 * @internal
 */
final class CheckHttpClientPass implements CompilerPassInterface
{
    public function process(ContainerBuilder $container): void
    {
        $id = $container->hasParameter('edgepush.http_client') ? $container->getParameter('edgepush.http_client') : null;
        if (!is_string($id)) {
            return;
        }
        if (!$container->has($id)) {
            throw new InvalidArgumentException(sprintf(
                'edgepush.http_client names the service "%s", which does not exist; name a PSR-18 client service '
                . '(e.g. psr18.http_client with symfony/http-client), or remove the setting to use curl.',
                $id,
            ));
        }
        $class = $container->getParameterBag()->resolveValue($container->findDefinition($id)->getClass());
        if (!is_string($class) || !class_exists($class) && !interface_exists($class)) {
            return; // built by a factory, or of a class not known yet: checked when built
        }
        if (!is_subclass_of($class, ClientInterface::class) && $class !== ClientInterface::class) {
            throw new InvalidArgumentException(sprintf(
                'edgepush.http_client names the service "%s", a %s, which is not a PSR-18 client '
                . '(Psr\\Http\\Client\\ClientInterface); with symfony/http-client, name psr18.http_client '
                . '(or a Symfony\\Component\\HttpClient\\Psr18Client service), not an HttpClientInterface.',
                $id,
                $class,
            ));
        }
    }
}
