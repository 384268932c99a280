<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Publisher;
use Edgepush\Symfony\Messenger\PublishMessage;
use Symfony\Component\Messenger\MessageBusInterface;
use Twig\Environment;
use Twig\Error\RuntimeError;

/**
 * A fresh app keeps the recipe's placeholder secrets (`!ChangeMe!`, too short for a key) until
 * someone sets real ones: its pages, error pages included, still render, and only what needs a
 * secret fails, with the ConfigurationException that names the problem.
 */
final class PlaceholderSecretTest extends BootedAppTestCase
{
    protected static function bundleConfig(): array
    {
        $manifest = __DIR__ . '/../../recipe/edgepush/edgepush/0.1/manifest.json';
        $env = json_decode((string) file_get_contents($manifest), true, 16, JSON_THROW_ON_ERROR)['env'];

        return [
            'url' => $env['EDGEPUSH_URL'],
            'key_id' => $env['EDGEPUSH_KEY_ID'],
            'publish_secret' => $env['EDGEPUSH_PUBLISH_SECRET'],
            'jwt_secret' => $env['EDGEPUSH_JWT_SECRET'],
        ];
    }

    public function testTwigRendersTemplatesThatDoNotIssueTokens(): void
    {
        self::assertSame('!ChangeMe!', self::bundleConfig()['jwt_secret'], 'the recipe\'s placeholder');
        $twig = self::service('twig');
        self::assertInstanceOf(Environment::class, $twig);

        self::assertSame('Hello Ada', $twig->createTemplate('Hello {{ name }}')->render(['name' => 'Ada']));
        self::assertSame('http://127.0.0.1:8787', $twig->createTemplate('{{ edgepush_public_url() }}')->render());
        self::logIn(new TestUser(42, 'ada@example.com'));
        self::assertStringContainsString(
            'data-controller="edgepush"',
            $twig->createTemplate('<div {{ edgepush_stimulus_controller() }}></div>')->render(),
        );
    }

    public function testTheTokenFunctionsThrowTheConfigurationExceptionWhenCalled(): void
    {
        $twig = self::service('twig');
        self::assertInstanceOf(Environment::class, $twig);
        foreach (['{{ edgepush_token(42) }}', "{{ edgepush_subscription_token('private:x', 42) }}"] as $template) {
            try {
                $twig->createTemplate($template)->render();
                self::fail("expected $template to fail");
            } catch (RuntimeError $e) {
                $previous = $e->getPrevious();
                self::assertInstanceOf(ConfigurationException::class, $previous, $template);
                self::assertStringContainsString('The edgepush JWT secret is 10 bytes', $previous->getMessage());
            }
        }
    }

    public function testServicesThatInjectThePublisherAreBuiltAndOnlyPublishingThrows(): void
    {
        $controller = self::service(BlogController::class); // injects Messaging, the publisher here
        self::assertInstanceOf(BlogController::class, $controller);
        $publisher = self::service(Publisher::class);
        self::assertInstanceOf(Publisher::class, $publisher);

        foreach ([1, 2] as $call) { // the same error on each call, until the secret is set
            try {
                $controller->create(new TestUser(42, 'ada@example.com'), 'Hello');
                self::fail('expected the first publish to fail');
            } catch (ConfigurationException $e) {
                self::assertStringContainsString('The secret of publish key "dev" is 10 bytes', $e->getMessage(), "call $call");
            }
        }
    }

    public function testMessengerDispatchesWithoutBuildingThePublisher(): void
    {
        $bus = self::service(MessageBusInterface::class);
        self::assertInstanceOf(MessageBusInterface::class, $bus);

        $bus->dispatch(new PublishMessage(42, 'Message', ['text' => 'queued'])); // to the async transport
        self::assertCount(1, self::service('messenger.transport.async')->get());
    }
}
