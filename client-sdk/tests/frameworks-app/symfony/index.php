<?php

// The Symfony app of the Stimulus test (client-sdk/tests/js/frameworks.test.mjs), served by
// `php -S 127.0.0.1:PORT -t <the Vite build's dist/> index.php`: FrameworkBundle, TwigBundle and
// the edgepush bundle, configured from the environment as an app's .env does (EDGEPUSH_URL, the
// worker; EDGEPUSH_JWT_SECRET, EDGEPUSH_KEY_ID, EDGEPUSH_PUBLISH_SECRET), with the bundle's routes
// under /edgepush as the recipe imports them.
//
//   GET /               page.html.twig: the element edgepush_stimulus_controller() renders, and
//                       the app's Stimulus bundle (/assets/stimulus.js, built by Vite)
//   GET /edgepush/token the bundle's token endpoint
//   anything else       a file of the Vite build (php -S serves it)
//
// "Logging in" is the cookie `user=<numeric id>`: the request's security token is that user's
// (a real app's firewall does this); without it the visitor is anonymous.

declare(strict_types=1);

if (PHP_SAPI === 'cli-server' && is_file($_SERVER['DOCUMENT_ROOT'] . parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH))) {
    return false;
}

require dirname(__DIR__, 4) . '/php/tests/bootstrap.php';

use Edgepush\EdgepushBundle;
use Edgepush\Tests\Kernel\TestUser;
use Psr\Log\NullLogger;
use Symfony\Bundle\FrameworkBundle\Controller\TemplateController;
use Symfony\Bundle\FrameworkBundle\FrameworkBundle;
use Symfony\Bundle\FrameworkBundle\Kernel\MicroKernelTrait;
use Symfony\Bundle\TwigBundle\TwigBundle;
use Symfony\Component\DependencyInjection\Loader\Configurator\ContainerConfigurator;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpKernel\Kernel;
use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorage;
use Symfony\Component\Security\Core\Authentication\Token\UsernamePasswordToken;

final class StimulusAppKernel extends Kernel
{
    use MicroKernelTrait;

    /** @param array<string, mixed> $edgepush */
    public function __construct(private readonly array $edgepush)
    {
        parent::__construct('prod', false);
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
        return sys_get_temp_dir() . '/edgepush-stimulus-app/' . md5(serialize($this->edgepush) . filemtime(__FILE__)) . '/cache';
    }

    public function getLogDir(): string
    {
        return dirname($this->getCacheDir()) . '/log';
    }

    private function configureContainer(ContainerConfigurator $container): void
    {
        $container->extension('framework', ['secret' => 'stimulus-app', 'http_method_override' => false, 'router' => ['utf8' => true]]);
        $container->extension('twig', ['default_path' => __DIR__ . '/templates', 'strict_variables' => true]);
        $container->extension('edgepush', $this->edgepush);
        $services = $container->services();
        $services->set('security.token_storage', TokenStorage::class)->public();
        $services->set('logger', NullLogger::class);
    }

    private function configureRoutes(RoutingConfigurator $routes): void
    {
        $routes->import('@EdgepushBundle/config/routes.php')->prefix('/edgepush');
        $routes->add('page', '/')->controller(TemplateController::class)->defaults(['template' => 'page.html.twig']);
    }
}

$kernel = new StimulusAppKernel([
    'url' => (string) getenv('EDGEPUSH_URL'),
    'key_id' => (string) getenv('EDGEPUSH_KEY_ID'),
    'publish_secret' => (string) getenv('EDGEPUSH_PUBLISH_SECRET'),
    'jwt_secret' => (string) getenv('EDGEPUSH_JWT_SECRET'),
    'token_ttl' => 600,
]);
$kernel->boot();
$request = Request::createFromGlobals();
if (ctype_digit((string) $request->cookies->get('user'))) {
    $user = new TestUser((int) $request->cookies->get('user'), 'user@example.com');
    $kernel->getContainer()->get('security.token_storage')->setToken(new UsernamePasswordToken($user, 'main', $user->getRoles()));
}
$response = $kernel->handle($request);
$response->send();
$kernel->terminate($request, $response);
