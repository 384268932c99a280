<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Event;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Recipient;
use PHPUnit\Framework\TestCase;

final class EventTest extends TestCase
{
    public function testEncodesTheDocumentedShape(): void
    {
        self::assertSame(
            '{"user":"42","name":"Message","payload":{"text":"héllo ☃","url":"https://x.example/a"}}',
            (new Event(42, 'Message', ['text' => 'héllo ☃', 'url' => 'https://x.example/a']))->toJson(),
        );
        self::assertSame(
            '{"user":"a","name":"Ping","payload":null,"idempotency_key":"ping-1"}',
            (new Event('a', 'Ping', idempotencyKey: 'ping-1'))->toJson(),
        );
        self::assertSame('[]', (new Event('a', 'X', []))->payloadJson);
        self::assertSame('{"ratio":1.0}', (new Event('a', 'X', ['ratio' => 1.0]))->payloadJson);
    }

    public function testTakesARecipient(): void
    {
        $user = new class () implements Recipient {
            public function getEdgepushUserId(): string|int
            {
                return 7;
            }
        };

        self::assertSame('7', (new Event($user, 'X'))->user);
    }

    public function testAcceptsValuesAtTheLimits(): void
    {
        $event = new Event(str_repeat('u', 128), str_repeat('n', 64), str_repeat('p', 65534), str_repeat('k', 128));

        self::assertSame(65536, strlen($event->payloadJson));
    }

    /** @return iterable<string, array{mixed, string, mixed, ?string, string}> */
    public static function invalidEvents(): iterable
    {
        yield 'empty user' => ['', 'X', null, null, 'Invalid user id "": it must not be empty.'];
        yield 'user over 128 bytes' => [str_repeat('u', 129), 'X', null, null, 'it must be at most 128 bytes'];
        yield 'user with a newline' => ["4\n2", 'X', null, null, 'Invalid user id "4\n2": it must be UTF-8 without'];
        yield 'user with a C1 control' => ["4\u{85}2", 'X', null, null, 'without control characters'];
        yield 'user not UTF-8' => ["\xff", 'X', null, null, 'without control characters'];
        yield 'empty name' => ['42', '', null, null, 'Invalid event name "": it must not be empty.'];
        yield 'name over 64 bytes' => ['42', str_repeat('n', 65), null, null, 'it must be at most 64 bytes'];
        yield 'name with a tab' => ['42', "Blog\tPost", null, null, 'without control characters'];
        yield 'empty idempotency key' => ['42', 'X', null, '', 'Invalid idempotency key'];
        yield 'idempotency key with a space' => ['42', 'X', null, 'a b', 'visible ASCII'];
        yield 'idempotency key over 128 bytes' => ['42', 'X', null, str_repeat('k', 129), 'visible ASCII'];
        yield 'idempotency key not ASCII' => ['42', 'X', null, 'clé', 'visible ASCII'];
    }

    /** @dataProvider invalidEvents */
    public function testRefusesInvalidFields(
        string $user,
        string $name,
        mixed $payload,
        ?string $key,
        string $message,
    ): void {
        try {
            new Event($user, $name, $payload, $key);
            self::fail('expected an InvalidInputException');
        } catch (InvalidInputException $e) {
            self::assertStringContainsString($message, $e->getMessage());
            self::assertSame('invalid_field', $e->getErrorCode());
            self::assertNull($e->getHttpStatus());
        }
    }

    /** @return iterable<string, array{mixed}> */
    public static function unencodablePayloads(): iterable
    {
        yield 'NAN' => [NAN];
        yield 'infinity inside an array' => [['x' => INF]];
        yield 'a string that is not UTF-8' => [['text' => "caf\xe9"]];
        yield 'a resource' => [STDERR];
    }

    /** @dataProvider unencodablePayloads */
    public function testRefusesPayloadsThatAreNotJson(mixed $payload): void
    {
        try {
            new Event('42', 'Message', $payload);
            self::fail('expected an InvalidInputException');
        } catch (InvalidInputException $e) {
            $expected = 'The payload of event "Message" for user "42" cannot be encoded as JSON';
            self::assertStringStartsWith($expected, $e->getMessage());
            self::assertSame('invalid_json', $e->getErrorCode());
        }
    }

    public function testRefusesAPayloadOver64KiB(): void
    {
        try {
            new Event('42', 'Message', str_repeat('p', 65535));
            self::fail('expected a PayloadTooLargeException');
        } catch (PayloadTooLargeException $e) {
            self::assertSame(
                'The payload of event "Message" for user "42" is 65537 bytes of JSON; the limit is 65536 per event. '
                . 'Send a reference (an id, a URL) instead of the data.',
                $e->getMessage(),
            );
            self::assertSame('payload_too_large', $e->getErrorCode());
        }
    }
}
