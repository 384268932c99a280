<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Exception\ConfigurationException;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\Security\Core\User\InMemoryUser;
use Twig\Environment;

/** The bundle's token endpoint and edgepush_public_url(), through the kernel of a booted app. */
final class TokenEndpointTest extends BootedAppTestCase
{
    private const JWT_SECRET = 'endpoint-test-jwt-secret-0123456789abcdef';

    protected static function bundleConfig(): array
    {
        return [
            'url' => 'http://edgepush.internal:8787',
            'public_url' => 'https://push.example.com',
            'key_id' => 'k1',
            'publish_secret' => 'endpoint-test-publish-secret-0123456789',
            'jwt_secret' => self::JWT_SECRET,
            'token_ttl' => 600,
            'token_audience' => 'example-app',
        ];
    }

    public function testTheLoggedInUserGetsAFreshConnectTokenThatNoCacheKeeps(): void
    {
        self::logIn(new TestUser(42, 'ada@example.com'));
        $before = time();

        $response = self::get('/api/edgepush/token');

        self::assertSame(200, $response->getStatusCode());
        self::assertSame('application/json', $response->headers->get('Content-Type'));
        self::assertTrue($response->headers->hasCacheControlDirective('no-store'), (string) $response->headers->get('Cache-Control'));
        self::assertFalse($response->headers->hasCacheControlDirective('public'));
        $body = json_decode((string) $response->getContent(), true, 8, JSON_THROW_ON_ERROR);
        self::assertSame(['token', 'expires_at'], array_keys($body));
        $claims = self::verifiedClaims($body['token']);
        self::assertSame('42', $claims['sub']);
        self::assertSame('example-app', $claims['aud']);
        self::assertSame($claims['exp'], $body['expires_at']);
        self::assertSame(600, $claims['exp'] - $claims['iat']);
        self::assertGreaterThanOrEqual($before + 600, $body['expires_at']);

        self::logIn(new TestUser(7, 'bob@example.com'));
        $other = json_decode((string) self::get('/api/edgepush/token')->getContent(), true);
        self::assertSame('7', self::verifiedClaims($other['token'])['sub']);
    }

    public function testAnAnonymousVisitorGetsA401WithTheErrorCode(): void
    {
        $response = self::get('/api/edgepush/token');

        self::assertSame(401, $response->getStatusCode());
        self::assertSame('application/json', $response->headers->get('Content-Type'));
        self::assertTrue($response->headers->hasCacheControlDirective('no-store'));
        $body = json_decode((string) $response->getContent(), true, 8, JSON_THROW_ON_ERROR);
        self::assertSame('missing_token', $body['error']['code']);
        self::assertStringContainsString('Nobody is logged in', $body['error']['message']);
    }

    public function testTheRouteTakesOnlyGetAndLivesUnderTheImportsPrefix(): void
    {
        self::logIn(new TestUser(42, 'ada@example.com'));

        self::assertSame(405, self::get('/api/edgepush/token', 'POST')->getStatusCode());
        self::assertSame(404, self::get('/edgepush/token')->getStatusCode());
        self::assertSame('/api/edgepush/token', self::$kernel->getContainer()->get('router')->generate('edgepush_token'));
    }

    public function testAUserThatIsNoRecipientIsAConfigurationErrorNotSomeonesToken(): void
    {
        self::logIn(new InMemoryUser('carol@example.com', null));

        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('InMemoryUser does not; implement it');
        self::$kernel->handle(Request::create('/api/edgepush/token'), HttpKernelInterface::MAIN_REQUEST, false);
    }

    public function testTwigRendersThePublicUrlForTheBrowser(): void
    {
        $twig = self::service('twig');
        self::assertInstanceOf(Environment::class, $twig);

        self::assertSame('https://push.example.com', $twig->createTemplate('{{ edgepush_public_url() }}')->render());
    }

    private static function get(string $path, string $method = 'GET'): Response
    {
        return self::handle(Request::create($path, $method));
    }

    /** @return array<string, mixed> */
    private static function verifiedClaims(string $token): array
    {
        [$header, $claims, $signature] = explode('.', $token);
        $mac = hash_hmac('sha256', "$header.$claims", self::JWT_SECRET, true);
        self::assertSame(rtrim(strtr(base64_encode($mac), '+/', '-_'), '='), $signature);

        return json_decode(base64_decode(strtr($claims, '-_', '+/')), true, 8, JSON_THROW_ON_ERROR);
    }
}
