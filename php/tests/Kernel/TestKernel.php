<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\EdgepushBundle;
use Edgepush\Symfony\Messenger\PublishMessage;
use Psr\Log\NullLogger;
use Symfony\Bundle\FrameworkBundle\FrameworkBundle;
use Symfony\Bundle\FrameworkBundle\Kernel\MicroKernelTrait;
use Symfony\Bundle\TwigBundle\TwigBundle;
use Symfony\Component\DependencyInjection\Loader\Configurator\ContainerConfigurator;
use Symfony\Component\HttpKernel\Kernel;
use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorage;

/**
 * A minimal Symfony app with the bundle: FrameworkBundle, TwigBundle, Messenger with PublishMessage
 * routed to an in-memory (serializing) "async" transport, a token storage to log a user in, an
 * autowired controller, and the bundle's routes under /api/edgepush.
 */
final class TestKernel extends Kernel
{
    use MicroKernelTrait;

    /**
     * @param array<string, mixed> $edgepush  the bundle's configuration
     * @param array<string, mixed> $framework FrameworkBundle configuration merged over the default one
     */
    public function __construct(private readonly array $edgepush, private readonly array $framework = [])
    {
        parent::__construct('test', false);
    }

    public function registerBundles(): iterable
    {
        return [new FrameworkBundle(), new TwigBundle(), new EdgepushBundle()];
    }

    public function getProjectDir(): string
    {
        return __DIR__;
    }

    public function getCacheDir(): string
    {
        return sys_get_temp_dir() . '/edgepush-kernel-test/' . md5(serialize([$this->edgepush, $this->framework])) . '/cache';
    }

    public function getLogDir(): string
    {
        return dirname($this->getCacheDir()) . '/log';
    }

    private function configureContainer(ContainerConfigurator $container): void
    {
        $container->extension('framework', array_replace_recursive([
            'secret' => 'kernel-test',
            'test' => true,
            'http_method_override' => false,
            'router' => ['utf8' => true],
            'messenger' => [
                'transports' => ['async' => 'in-memory://?serialize=true'],
                'routing' => [PublishMessage::class => 'async'],
            ],
        ], $this->framework));
        $container->extension('twig', ['strict_variables' => true]);
        $container->extension('edgepush', $this->edgepush);
        $services = $container->services();
        $services->set('security.token_storage', TokenStorage::class)->public();
        $services->set('logger', NullLogger::class); // the default one prints 404s and 405s to stderr
        $services->set(BlogController::class)->autowire()->public();
        $services->set(ProductController::class)->autowire()->public();
    }

    private function configureRoutes(RoutingConfigurator $routes): void
    {
        // the bundle's routes under a prefix of the app's choosing (the recipe's is /edgepush)
        $routes->import('@EdgepushBundle/config/routes.php')->prefix('/api/edgepush');
    }
}
