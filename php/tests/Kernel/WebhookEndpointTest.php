<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Signer;
use Edgepush\Symfony\Event\WebhookReceived;
use Edgepush\WebhookEvent;
use Symfony\Component\EventDispatcher\EventDispatcherInterface;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;

/** The bundle's webhook endpoint, through the kernel of a booted app with the bundle's routes under /api/edgepush. */
final class WebhookEndpointTest extends BootedAppTestCase
{
    private const KEY_ID = 'k2026a';
    private const SECRET = 'webhook-test-publish-secret-0123456789';
    private const OLD_KEY_ID = 'k2025z';
    private const OLD_SECRET = 'webhook-test-rotated-secret-9876543210';
    private const TARGET = '/api/edgepush/webhook?app=demo';
    private const BODY = '{"topic":"hooks:room-7","events":[{"type":"occupied","ts":1764576000123},'
        . '{"type":"member_joined","user":"42","ts":1764576000123}]}';

    /** @var list<WebhookReceived> */
    private static array $received = [];

    protected static function bundleConfig(): array
    {
        return [
            'url' => 'http://edgepush.internal:8787',
            'key_id' => self::KEY_ID,
            'publish_secret' => self::SECRET,
            'webhook_keys' => [self::OLD_KEY_ID => self::OLD_SECRET],
            'jwt_secret' => 'webhook-test-jwt-secret-0123456789abcdef',
        ];
    }

    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        $dispatcher = self::service('event_dispatcher');
        self::assertInstanceOf(EventDispatcherInterface::class, $dispatcher);
        $dispatcher->addListener(WebhookReceived::class, static function (WebhookReceived $event): void {
            self::$received[] = $event;
        });
    }

    protected function setUp(): void
    {
        self::$received = [];
    }

    public function testASignedDeliveryIsDispatchedOnceAndAnswered204(): void
    {
        $response = self::post(self::sign(new Signer(self::KEY_ID, self::SECRET)));

        self::assertSame(204, $response->getStatusCode(), (string) $response->getContent());
        self::assertSame('', $response->getContent());
        self::assertCount(1, self::$received);
        $webhook = self::$received[0]->webhook;
        self::assertSame('hooks:room-7', $webhook->topic);
        self::assertSame(
            [[WebhookEvent::OCCUPIED, null, 1764576000123], [WebhookEvent::MEMBER_JOINED, '42', 1764576000123]],
            array_map(static fn (WebhookEvent $e): array => [$e->type, $e->user, $e->ts], $webhook->events),
        );
    }

    public function testAWebhookKeyOfTheRotationIsAcceptedToo(): void
    {
        $response = self::post(self::sign(new Signer(self::OLD_KEY_ID, self::OLD_SECRET)));

        self::assertSame(204, $response->getStatusCode(), (string) $response->getContent());
        self::assertCount(1, self::$received);
    }

    /** @return iterable<string, array{?string, string}> header, code */
    public static function refusedSignatures(): iterable
    {
        $key = new Signer(self::KEY_ID, self::SECRET);
        yield 'no signature' => [null, 'missing_signature'];
        yield 'malformed' => ['keyid=' . self::KEY_ID . ',t=now,v1=00', 'invalid_signature'];
        yield 'wrong secret' => [self::sign(new Signer(self::KEY_ID, str_repeat('x', 32))), 'invalid_signature'];
        yield 'another path' => [$key->sign(time(), 'POST', '/edgepush/webhook?app=demo', self::BODY), 'invalid_signature'];
        yield 'without the query' => [$key->sign(time(), 'POST', '/api/edgepush/webhook', self::BODY), 'invalid_signature'];
        yield 'another body' => [$key->sign(time(), 'POST', self::TARGET, '{"topic":"hooks:room-7","events":[]}'), 'invalid_signature'];
        yield 'unknown key' => [self::sign(new Signer('k2024q', self::SECRET)), 'unknown_key'];
        yield 'stale' => [self::sign($key, time() - 301), 'stale_timestamp'];
        yield 'from the future' => [self::sign($key, time() + 400), 'stale_timestamp'];
    }

    /** @dataProvider refusedSignatures */
    public function testARefusedSignatureAnswers401WithTheSharedCodeAndDispatchesNothing(?string $header, string $code): void
    {
        $response = self::post($header);

        self::assertSame(401, $response->getStatusCode());
        self::assertSame('application/json', $response->headers->get('Content-Type'));
        $body = json_decode((string) $response->getContent(), true, 8, JSON_THROW_ON_ERROR);
        self::assertSame(['error' => ['code' => $code, 'message' => Signer::REFUSALS[$code]]], $body);
        self::assertSame([], self::$received);
    }

    /** @return iterable<string, array{string, string}> body, code */
    public static function malformedBodies(): iterable
    {
        yield 'not JSON' => ['{"topic":', 'invalid_json'];
        yield 'a publish body' => ['{"user":"42","name":"Message","payload":{}}', 'invalid_field'];
        yield 'member_left without user' => ['{"topic":"hooks:room-7","events":[{"type":"member_left","ts":1}]}', 'invalid_field'];
    }

    /** @dataProvider malformedBodies */
    public function testASignedBodyThatIsNoWebhookAnswers400(string $body, string $code): void
    {
        $response = self::post(self::sign(new Signer(self::KEY_ID, self::SECRET), body: $body), $body);

        self::assertSame(400, $response->getStatusCode());
        $error = json_decode((string) $response->getContent(), true, 8, JSON_THROW_ON_ERROR)['error'];
        self::assertSame($code, $error['code']);
        self::assertStringContainsString('webhook', $error['message']);
        self::assertSame([], self::$received);
    }

    public function testTheRouteTakesOnlyPostAndLivesUnderTheImportsPrefix(): void
    {
        $router = self::$kernel->getContainer()->get('router');
        self::assertSame('/api/edgepush/webhook', $router->generate('edgepush_webhook'));
        self::assertSame(405, self::handle(Request::create(self::TARGET, 'GET'))->getStatusCode());
        self::assertSame(404, self::handle(Request::create('/edgepush/webhook', 'POST'))->getStatusCode());
    }

    private static function sign(Signer $key, ?int $at = null, string $body = self::BODY): string
    {
        return $key->sign($at ?? time(), 'POST', self::TARGET, $body);
    }

    private static function post(?string $signature, string $body = self::BODY): Response
    {
        $server = ['CONTENT_TYPE' => 'application/json'];
        if ($signature !== null) {
            $server['HTTP_EDGEPUSH_SIGNATURE'] = $signature;
        }

        return self::handle(Request::create(self::TARGET, 'POST', [], [], [], $server, $body));
    }
}
