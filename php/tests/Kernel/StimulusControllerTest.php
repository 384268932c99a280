<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Topic;
use Symfony\Component\Security\Core\User\InMemoryUser;
use Twig\Environment;
use Twig\Error\RuntimeError;

/**
 * edgepush_stimulus_controller() in a booted app: the attributes of the SDK's Stimulus controller
 * for the logged-in user, with the token route where the app imported the bundle's routes. (The
 * rendered page connecting in Chromium: client-sdk/tests/js/frameworks.test.mjs.)
 */
final class StimulusControllerTest extends BootedAppTestCase
{

    protected static function bundleConfig(): array
    {
        return [
            'url' => 'http://edgepush.internal:8787',
            'public_url' => 'https://push.example.com',
            'key_id' => 'k1',
            'publish_secret' => 'stimulus-test-publish-secret-0123456789',
            'jwt_secret' => 'stimulus-test-jwt-secret-0123456789abcdef',
        ];
    }

    public function testTheLoggedInUserGetsTheControllerWithThePublicUrlAndTheTokenRoute(): void
    {
        self::logIn(new TestUser(42, 'ada@example.com'));

        self::assertSame(
            '<div data-controller="edgepush" data-edgepush-url-value="https://push.example.com" '
            . 'data-edgepush-token-url-value="/api/edgepush/token" data-action="edgepush:event->feed#add"></div>',
            self::render('<div {{ edgepush_stimulus_controller() }} data-action="edgepush:event->feed#add"></div>'),
        );
    }

    public function testEventsAndTopicsAreJsonValuesEscapedForTheAttribute(): void
    {
        self::logIn(new TestUser(42, 'ada@example.com'));

        self::assertSame(
            'data-controller="edgepush" data-edgepush-url-value="https://push.example.com" '
            . 'data-edgepush-token-url-value="/token?for=&lt;me&gt;&amp;x=&quot;1&quot;" '
            . 'data-edgepush-events-value="[&quot;Posted&quot;,&quot;Message&quot;]" '
            . 'data-edgepush-topics-value="[&quot;feed:all&quot;,&quot;product:42&quot;]"',
            self::render(
                "{{ edgepush_stimulus_controller(events = ['Posted', 'Message'], topics = ['feed:all', topic], "
                . "token_url = '/token?for=<me>&x=\"1\"') }}",
                ['topic' => new Topic('product:42')],
            ),
        );
    }

    public function testAnAnonymousPageGetsNoControllerSoItOpensNoConnection(): void
    {
        self::assertSame('<div ></div>', self::render('<div {{ edgepush_stimulus_controller() }}></div>'));
    }

    public function testAUserThatIsNoRecipientIsAConfigurationError(): void
    {
        self::logIn(new InMemoryUser('carol@example.com', null));

        try {
            self::render('{{ edgepush_stimulus_controller() }}');
            self::fail('rendered for a user the token endpoint cannot serve');
        } catch (RuntimeError $error) {
            self::assertInstanceOf(ConfigurationException::class, $error->getPrevious());
            self::assertStringContainsString('InMemoryUser does not; implement it', $error->getPrevious()->getMessage());
        }
    }

    /** @param array<string, mixed> $context */
    private static function render(string $template, array $context = []): string
    {
        $twig = self::service('twig');
        self::assertInstanceOf(Environment::class, $twig);

        return $twig->createTemplate($template)->render($context);
    }

}
