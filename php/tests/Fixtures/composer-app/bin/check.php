<?php

/*
 * Boots the app with the package as Composer installed it and the recipe as Flex applies it, asks
 * GET /edgepush/token anonymously and as user 42, posts an unsigned webhook to POST
 * /edgepush/webhook, renders edgepush_public_url(), and prints what it
 * saw as JSON. Composer's autoloader holds the app and edgepush; Symfony and Twig come from Debian's
 * packages (their own autoloaders), which Composer cannot install from.
 */

declare(strict_types=1);

use App\Kernel;
use App\User;
use Symfony\Component\Dotenv\Dotenv;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\Security\Core\Authentication\Token\UsernamePasswordToken;

require dirname(__DIR__) . '/vendor/autoload.php';
foreach (['Symfony/Bundle/FrameworkBundle', 'Symfony/Bundle/TwigBundle', 'Symfony/Bridge/Twig', 'Twig',
    'Symfony/Component/Security/Core', 'Symfony/Component/Yaml', 'Symfony/Component/Dotenv'] as $package) {
    require_once "/usr/share/php/$package/autoload.php";
}

(new Dotenv())->bootEnv(dirname(__DIR__) . '/.env');
$kernel = new Kernel($_SERVER['APP_ENV'], (bool) $_SERVER['APP_DEBUG']);
$kernel->boot();
$container = $kernel->getContainer();

$answer = static fn (Response $r): array => [
    'status' => $r->getStatusCode(),
    'cache_control' => $r->headers->get('Cache-Control'),
    'body' => json_decode((string) $r->getContent(), true),
];
$anonymous = $answer($kernel->handle(Request::create('/edgepush/token')));
$container->get('security.token_storage')->setToken(new UsernamePasswordToken(new User(42), 'main', ['ROLE_USER']));
$loggedIn = $answer($kernel->handle(Request::create('/edgepush/token')));
$unsignedWebhook = $answer($kernel->handle(Request::create('/edgepush/webhook', 'POST', [], [], [], [], '{"topic":"t:1","events":[]}')));

echo json_encode([
    'bundles' => array_map(static fn (object $b): string => $b::class, array_values($kernel->getBundles())),
    'bundle_file' => (new ReflectionClass(Edgepush\EdgepushBundle::class))->getFileName(),
    'anonymous' => $anonymous,
    'logged_in' => $loggedIn,
    'unsigned_webhook' => $unsignedWebhook,
    'public_url' => $container->get('test.service_container')->get('twig')
        ->createTemplate('{{ edgepush_public_url() }}')->render(),
], JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
$kernel->shutdown();
