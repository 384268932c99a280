<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\Signer;
use Edgepush\Webhook;
use Edgepush\WebhookEvent;
use PHPUnit\Framework\TestCase;

/** Webhook deliveries: the signature checked as the worker checks a publish, then the body parsed. */
final class WebhookTest extends TestCase
{
    private const NOW = 1_764_576_000;
    private const TARGET = '/edgepush/webhook?app=demo';
    /** A body as the worker's serde writes it (server/src/webhooks.rs). */
    private const BODY = '{"topic":"room:7","events":[{"type":"occupied","ts":1764576000123},'
        . '{"type":"member_joined","user":"42","ts":1764576000123},{"type":"member_left","user":"42","ts":1764576009000},'
        . '{"type":"vacated","ts":1764576009000}]}';

    public function testASignedDeliveryGivesItsTopicAndEventsInOrder(): void
    {
        $key = self::key();

        $webhook = Webhook::verify($key->sign(self::NOW, 'POST', self::TARGET, self::BODY), self::TARGET, self::BODY, $key, self::NOW + 5);

        self::assertSame('room:7', $webhook->topic);
        self::assertSame(
            [
                [WebhookEvent::OCCUPIED, null, 1764576000123],
                [WebhookEvent::MEMBER_JOINED, '42', 1764576000123],
                [WebhookEvent::MEMBER_LEFT, '42', 1764576009000],
                [WebhookEvent::VACATED, null, 1764576009000],
            ],
            array_map(static fn (WebhookEvent $e): array => [$e->type, $e->user, $e->ts], $webhook->events),
        );
        self::assertTrue($webhook->events[0]->isKnown());
        self::assertSame('2025-12-01T08:00:00.123+00:00', $webhook->events[0]->at()->format(DATE_RFC3339_EXTENDED));
    }

    public function testTheKeyWhileRotatingMayBeEitherOfSeveral(): void
    {
        $old = new Signer('old', str_repeat('o', 32));
        $new = self::key();

        $webhook = Webhook::verify($new->sign(self::NOW, 'POST', self::TARGET, self::BODY), self::TARGET, self::BODY, [$old, $new], self::NOW);

        self::assertCount(4, $webhook->events);
    }

    /** @return iterable<string, array{?string, string, int, string}> header, target, now, code */
    public static function refusedSignatures(): iterable
    {
        $key = self::key();
        $header = $key->sign(self::NOW, 'POST', self::TARGET, self::BODY);
        yield 'no header' => [null, self::TARGET, self::NOW, 'missing_signature'];
        yield 'malformed header' => ['v1=deadbeef', self::TARGET, self::NOW, 'invalid_signature'];
        yield 'another target (a proxy rewrote it)' => [$header, '/webhook?app=demo', self::NOW, 'invalid_signature'];
        yield 'without the query' => [$header, '/edgepush/webhook', self::NOW, 'invalid_signature'];
        yield 'another secret' => [(new Signer('k2026a', str_repeat('x', 32)))->sign(self::NOW, 'POST', self::TARGET, self::BODY), self::TARGET, self::NOW, 'invalid_signature'];
        yield 'another key id' => [(new Signer('k2025z', str_repeat('x', 32)))->sign(self::NOW, 'POST', self::TARGET, self::BODY), self::TARGET, self::NOW, 'unknown_key'];
        yield '301 s later' => [$header, self::TARGET, self::NOW + 301, 'stale_timestamp'];
    }

    /** @dataProvider refusedSignatures */
    public function testARefusedSignatureThrowsWithItsCode(?string $header, string $target, int $now, string $code): void
    {
        try {
            Webhook::verify($header, $target, self::BODY, self::key(), $now);
            self::fail('accepted');
        } catch (SignatureRejectedException $e) {
            self::assertSame($code, $e->getErrorCode());
            self::assertSame(401, $e->getHttpStatus());
            self::assertSame(Signer::REFUSALS[$code], $e->getMessage());
        }
    }

    public function testTheSignatureIsCheckedBeforeTheBody(): void
    {
        $this->expectException(SignatureRejectedException::class);

        Webhook::verify('keyid=k2026a,t=1,v1=' . str_repeat('0', 64), self::TARGET, 'not json', self::key(), self::NOW);
    }

    public function testASignedBodyThatIsNoWebhookIsInvalidInput(): void
    {
        $key = self::key();
        $body = '{"user":"42","name":"Message"}';

        $this->expectException(InvalidInputException::class);
        $this->expectExceptionMessage('"topic" is not a non-empty string');
        Webhook::verify($key->sign(self::NOW, 'POST', self::TARGET, $body), self::TARGET, $body, $key, self::NOW);
    }

    /** @return iterable<string, array{string, string, string}> body, code, message */
    public static function malformedBodies(): iterable
    {
        yield 'empty' => ['', 'invalid_json', 'not JSON'];
        yield 'truncated' => ['{"topic":"room:7","events":[', 'invalid_json', 'not JSON'];
        yield 'a list' => ['[1,2]', 'invalid_field', 'not a JSON object'];
        yield 'a string' => ['"room:7"', 'invalid_field', 'not a JSON object'];
        yield 'no topic' => ['{"events":[]}', 'invalid_field', '"topic"'];
        yield 'empty topic' => ['{"topic":"","events":[]}', 'invalid_field', '"topic"'];
        yield 'topic a number' => ['{"topic":7,"events":[]}', 'invalid_field', '"topic"'];
        yield 'no events' => ['{"topic":"room:7"}', 'invalid_field', '"events"'];
        yield 'events an object' => ['{"topic":"room:7","events":{"type":"occupied","ts":1}}', 'invalid_field', '"events"'];
        yield 'event a string' => ['{"topic":"room:7","events":["occupied"]}', 'invalid_field', 'event 0 is not an object'];
        yield 'event without type' => ['{"topic":"room:7","events":[{"ts":1}]}', 'invalid_field', 'event 0 has no "type"'];
        yield 'empty object event' => ['{"topic":"room:7","events":[{}]}', 'invalid_field', 'event 0 has no "type"'];
        yield 'event without ts' => ['{"topic":"room:7","events":[{"type":"occupied"}]}', 'invalid_field', '"ts"'];
        yield 'ts a string' => ['{"topic":"room:7","events":[{"type":"occupied","ts":"1"}]}', 'invalid_field', '"ts"'];
        yield 'ts a float' => ['{"topic":"room:7","events":[{"type":"occupied","ts":1.5}]}', 'invalid_field', '"ts"'];
        yield 'ts negative' => ['{"topic":"room:7","events":[{"type":"occupied","ts":-1}]}', 'invalid_field', '"ts"'];
        yield 'ts past 64 bits' => ['{"topic":"room:7","events":[{"type":"occupied","ts":99999999999999999999}]}', 'invalid_field', '"ts"'];
        yield 'joined without user' => ['{"topic":"room:7","events":[{"type":"occupied","ts":1},{"type":"member_joined","ts":1}]}', 'invalid_field', 'event 1 (member_joined) names no "user"'];
        yield 'left with a numeric user' => ['{"topic":"room:7","events":[{"type":"member_left","user":42,"ts":1}]}', 'invalid_field', 'not a string'];
    }

    /** @dataProvider malformedBodies */
    public function testAMalformedBodyIsRefusedWithACode(string $body, string $code, string $message): void
    {
        try {
            Webhook::parse($body);
            self::fail('parsed');
        } catch (InvalidInputException $e) {
            self::assertSame($code, $e->getErrorCode());
            self::assertStringContainsString($message, $e->getMessage());
        }
    }

    public function testAnEventTypeOfALaterWorkerIsKeptNotRefused(): void
    {
        $webhook = Webhook::parse('{"topic":"room:7","events":[{"type":"occupied","ts":1},'
            . '{"type":"member_renamed","user":"42","ts":2,"name":"Ada"},{"type":"resharded","ts":3}],"shard":2}');

        self::assertSame(
            [['occupied', null, 1, true], ['member_renamed', '42', 2, false], ['resharded', null, 3, false]],
            array_map(static fn (WebhookEvent $e): array => [$e->type, $e->user, $e->ts, $e->isKnown()], $webhook->events),
        );
    }

    public function testADeliveryWithoutEventsIsValid(): void
    {
        self::assertSame([], Webhook::parse('{"topic":"room:7","events":[]}')->events);
    }

    private static function key(): Signer
    {
        return new Signer('k2026a', 'edgepush-test-secret-0123456789abcdef');
    }
}
