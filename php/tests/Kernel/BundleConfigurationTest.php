<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\EdgepushBundle;
use Edgepush\Http\CurlTransport;
use Edgepush\Http\Psr18Transport;
use Edgepush\Messaging;
use Edgepush\Publisher;
use Edgepush\Symfony\Controller\TokenController;
use Edgepush\Symfony\Controller\WebhookController;
use Edgepush\Symfony\DependencyInjection\EdgepushExtension;
use Edgepush\Symfony\Twig\TokenExtension;
use Edgepush\Tests\Support\PlainPsr18Client;
use Edgepush\TokenIssuer;
use Nyholm\Psr7\Factory\Psr17Factory;
use PHPUnit\Framework\TestCase;
use Psr\Http\Message\RequestFactoryInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Symfony\Component\Config\Definition\Exception\InvalidConfigurationException;
use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\DependencyInjection\ContainerInterface;
use Symfony\Component\DependencyInjection\Definition;
use Symfony\Component\DependencyInjection\Exception\InvalidArgumentException;
use Symfony\Component\DependencyInjection\Reference;
use Symfony\Component\HttpClient\Psr18Client;

/** The bundle's configuration and service wiring, without booting a kernel. */
final class BundleConfigurationTest extends TestCase
{
    private const CONFIG = [
        'url' => 'https://push.example.com',
        'key_id' => 'k2026a',
        'publish_secret' => 'edgepush-test-secret-0123456789abcdef',
        'jwt_secret' => 'jwt-test-secret-0123456789abcdef-0123456789',
    ];

    public function testWithoutMessengerSendPublishesDirectlyOverCurl(): void
    {
        $container = self::load(self::CONFIG);

        self::assertSame('edgepush.messaging', (string) $container->getAlias(Messaging::class));
        self::assertSame('edgepush.publisher', (string) $container->getAlias('edgepush.messaging'));
        self::assertSame('edgepush.publisher', (string) $container->getAlias(Publisher::class));
        self::assertSame('edgepush.token_issuer', (string) $container->getAlias(TokenIssuer::class));
        $arguments = $container->getDefinition('edgepush.publisher')->getArguments();
        self::assertSame(
            [self::CONFIG['url'], self::CONFIG['key_id'], self::CONFIG['publish_secret']],
            array_slice($arguments, 0, 3),
        );
        self::assertInstanceOf(Definition::class, $arguments[3]);
        self::assertSame(CurlTransport::class, $arguments[3]->getClass());
        self::assertSame([10.0], $arguments[3]->getArguments());
        self::assertSame([4], $arguments[4]->getArguments());
        self::assertSame(
            ['jwt-test-secret-0123456789abcdef-0123456789', 3600, null, null],
            $container->getDefinition('edgepush.token_issuer')->getArguments(),
        );
        $handler = $container->getDefinition('edgepush.publish_message_handler');
        self::assertTrue($handler->hasTag('messenger.message_handler'));
        self::assertTrue($container->getDefinition('edgepush.twig_extension')->hasTag('twig.extension'));
        $runtime = $container->getDefinition('edgepush.twig_token_runtime');
        self::assertTrue($runtime->hasTag('twig.runtime'));
        self::assertSame('edgepush.token_issuer', (string) $runtime->getArgument(0));
    }

    public function testThePublicUrlForTheBrowserIsTheUrlUnlessSetApart(): void
    {
        // chosen at runtime (an env() placeholder is resolved then): RecipePublicUrlTest
        $container = self::load(self::CONFIG);
        self::assertSame([null, self::CONFIG['url']], $container->getDefinition('edgepush.twig_extension')->getArguments());
        $stimulus = $container->getDefinition('edgepush.twig_stimulus_extension');
        self::assertSame([null, self::CONFIG['url']], [$stimulus->getArgument(0), $stimulus->getArgument(3)]);

        $twig = self::load(['url' => 'http://edgepush:8787', 'public_url' => 'https://push.example.com'] + self::CONFIG)
            ->getDefinition('edgepush.twig_extension');
        self::assertSame(['https://push.example.com', 'http://edgepush:8787'], $twig->getArguments());
        self::assertSame('https://push.example.com', TokenExtension::browserUrl('https://push.example.com', 'http://edgepush:8787'));
        self::assertSame('http://edgepush:8787', TokenExtension::browserUrl('', 'http://edgepush:8787'));
        self::assertSame('http://edgepush:8787', TokenExtension::browserUrl(null, 'http://edgepush:8787'));
    }

    public function testTheTokenEndpointsControllerIsAPublicServiceOfTheIssuer(): void
    {
        $controller = self::load(self::CONFIG)->getDefinition('edgepush.token_controller');

        self::assertSame(TokenController::class, $controller->getClass());
        self::assertTrue($controller->isPublic());
        self::assertTrue($controller->hasTag('controller.service_arguments'));
        self::assertSame('edgepush.token_issuer', (string) $controller->getArgument(0));
        self::assertSame('security.token_storage', (string) $controller->getArgument(1));
    }

    public function testTheWebhookControllerVerifiesWithThePublishKeyAndAnyWebhookKeys(): void
    {
        $controller = self::load(self::CONFIG)->getDefinition('edgepush.webhook_controller');

        self::assertSame(WebhookController::class, $controller->getClass());
        self::assertTrue($controller->isPublic());
        self::assertSame(
            [[self::CONFIG['key_id'], self::CONFIG['publish_secret']]],
            array_map(static fn (Definition $key): array => $key->getArguments(), $controller->getArgument(0)),
        );
        self::assertSame('event_dispatcher', (string) $controller->getArgument(1));

        $rotating = self::load(self::CONFIG + ['webhook_keys' => ['k2026-b.x' => 'rotation-secret-0123456789abcdef-xyz']])
            ->getDefinition('edgepush.webhook_controller');
        self::assertSame(
            [[self::CONFIG['key_id'], self::CONFIG['publish_secret']], ['k2026-b.x', 'rotation-secret-0123456789abcdef-xyz']],
            array_map(static fn (Definition $key): array => $key->getArguments(), $rotating->getArgument(0)),
        );
    }

    public function testAPsr18ClientServiceCanBePluggedIn(): void
    {
        $container = self::load(self::CONFIG + ['http_client' => 'app.psr18_client']);
        $transport = $container->getDefinition('edgepush.publisher')->getArgument(3);
        self::assertSame(Psr18Transport::class, $transport->getClass());
        self::assertEquals([
            new Reference('app.psr18_client'),
            new Reference(RequestFactoryInterface::class, ContainerInterface::NULL_ON_INVALID_REFERENCE),
            new Reference(StreamFactoryInterface::class, ContainerInterface::NULL_ON_INVALID_REFERENCE),
        ], $transport->getArguments());

        (new EdgepushBundle())->build($container);
        $container->register('app.psr18_client', Psr18Client::class);
        $container->getAlias(Publisher::class)->setPublic(true);
        $container->compile();
        self::assertInstanceOf(Publisher::class, $container->get(Publisher::class));
    }

    public function testAPsr18ClientThatIsNoFactoryPublishesWithTheAppsPsr17Factories(): void
    {
        $container = self::load(self::CONFIG + ['http_client' => 'app.psr18_client']);
        (new EdgepushBundle())->build($container);
        $container->register('app.psr18_client', PlainPsr18Client::class)->setPublic(true);
        // as nyholm/psr7's Flex recipe registers them
        $container->register('nyholm.psr7.psr17_factory', Psr17Factory::class);
        $container->setAlias(RequestFactoryInterface::class, 'nyholm.psr7.psr17_factory');
        $container->setAlias(StreamFactoryInterface::class, 'nyholm.psr7.psr17_factory');
        $container->getAlias(Publisher::class)->setPublic(true);
        $container->compile();

        $publisher = $container->get(Publisher::class);
        self::assertInstanceOf(Publisher::class, $publisher);
        self::assertSame(1, $publisher->publish(42, 'X')->id);
        $client = $container->get('app.psr18_client');
        self::assertInstanceOf(PlainPsr18Client::class, $client);
        self::assertSame('https://push.example.com/publish', (string) $client->requests[0]->getUri());
        self::assertSame('{"user":"42","name":"X","payload":null}', (string) $client->requests[0]->getBody());
    }

    public function testAPsr18ClientThatIsNoFactoryIsRefusedWhenTheContainerIsCompiledWithoutPsr17Factories(): void
    {
        $container = self::load(self::CONFIG + ['http_client' => 'app.psr18_client']);
        (new EdgepushBundle())->build($container);
        $container->register('app.psr18_client', PlainPsr18Client::class);
        $container->register(StreamFactoryInterface::class, Psr17Factory::class);

        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage(
            'edgepush.http_client names the service "app.psr18_client", a ' . PlainPsr18Client::class . ', which is no PSR-17 '
            . 'request factory, and the container has no Psr\Http\Message\RequestFactoryInterface service',
        );

        $container->compile();
    }

    public function testAnHttpClientThatIsNotAPsr18ClientIsRefusedWhenTheContainerIsCompiled(): void
    {
        $container = self::load(self::CONFIG + ['http_client' => 'http_client']);
        (new EdgepushBundle())->build($container);
        $container->register('http_client', \stdClass::class);

        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('edgepush.http_client names the service "http_client", a stdClass, which is not a PSR-18 client');

        $container->compile();
    }

    public function testTheCurlTimeoutBesideAnHttpClientIsRefused(): void
    {
        $this->expectException(InvalidConfigurationException::class);
        $this->expectExceptionMessage('edgepush.timeout applies to the built-in curl transport only');

        self::load(self::CONFIG + ['http_client' => 'app.psr18_client', 'timeout' => 3.0]);
    }

    public function testRequiresTheSecretsAndTheUrl(): void
    {
        $this->expectException(InvalidConfigurationException::class);
        $this->expectExceptionMessage('"jwt_secret"');

        self::load(array_diff_key(self::CONFIG, ['jwt_secret' => true]));
    }

    public function testRefusesANonPositiveTokenTtl(): void
    {
        $this->expectException(InvalidConfigurationException::class);

        self::load(self::CONFIG + ['token_ttl' => 0]);
    }

    /** @param array<string, mixed> $config */
    private static function load(array $config): ContainerBuilder
    {
        $container = new ContainerBuilder();
        (new EdgepushExtension())->load([$config], $container);

        return $container;
    }
}
