<?php

declare(strict_types=1);

namespace Edgepush\Symfony\DependencyInjection;

use Psr\Http\Client\ClientInterface;
use Psr\Http\Message\RequestFactoryInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Symfony\Component\DependencyInjection\Compiler\CompilerPassInterface;
use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\DependencyInjection\Exception\InvalidArgumentException;

/**
 * Checks, when the container is compiled, that the service named by `edgepush.http_client` is a
 * PSR-18 client (otherwise the first publish would fail with a TypeError), and that it is a PSR-17
 * request and stream factory itself or the container has those factories (otherwise every service
 * using the publisher would fail to be built).
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
        if (interface_exists($class)) {
            return; // the client built may or may not be a PSR-17 factory: checked when built
        }
        // Psr18Transport builds its requests with the client when it is a PSR-17 factory (Symfony's
        // Psr18Client), otherwise with the app's factories (EdgepushExtension passes them when the
        // container has them): without either it could not be built, and every service that uses
        // the publisher would fail
        $missing = array_filter(
            [RequestFactoryInterface::class => 'request factory', StreamFactoryInterface::class => 'stream factory'],
            static fn (string $factory): bool => !is_a($class, $factory, true) && !$container->has($factory),
            ARRAY_FILTER_USE_KEY,
        );
        if ($missing !== []) {
            throw new InvalidArgumentException(sprintf(
                'edgepush.http_client names the service "%s", a %s, which is no PSR-17 %s, and the container has no '
                . '%s service to build requests with: register PSR-17 factories under %s and %s (nyholm/psr7\'s '
                . 'Flex recipe does), or name a client that is one (Symfony\'s Psr18Client, e.g. psr18.http_client).',
                $id,
                $class,
                implode(' nor ', $missing),
                implode(' nor ', array_keys($missing)),
                RequestFactoryInterface::class,
                StreamFactoryInterface::class,
            ));
        }
    }
}
