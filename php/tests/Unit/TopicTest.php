<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Event;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Recipient;
use Edgepush\Topic;
use Edgepush\Validate;
use PHPUnit\Framework\TestCase;

/** Topic names by the rules of protocol/src/topic.rs (the cases of its unit tests), and events to topics. */
final class TopicTest extends TestCase
{
    /** @return iterable<string, array{string}> */
    public static function validTopics(): iterable
    {
        foreach (['product:42', 'chat:room-1:messages', 'orders:#42', 'dm:#7,42', 'a:b', 'orders:#4%32'] as $topic) {
            yield $topic => [$topic];
        }
        yield '255 bytes' => ['n:' . str_repeat('x', 253)];
        yield 'a 32-byte namespace' => [str_repeat('n', 32) . ':x'];
    }

    /** @dataProvider validTopics */
    public function testAcceptsValidTopics(string $name): void
    {
        self::assertSame($name, (new Topic($name))->name);
        self::assertSame($name, (string) new Topic($name));
    }

    /** @return iterable<string, array{string, string}> */
    public static function invalidTopics(): iterable
    {
        yield 'empty' => ['', 'a topic is 1 to 255 bytes, not 0'];
        yield '256 bytes' => ['n:' . str_repeat('x', 254), 'a topic is 1 to 255 bytes, not 256'];
        yield 'no namespace' => ['product', "has no ':'"];
        yield 'empty namespace' => [':42', 'a namespace is 1 to 32 of a-z'];
        yield 'upper case namespace' => ['Product:42', 'a namespace is 1 to 32 of a-z'];
        yield '33-byte namespace' => [str_repeat('n', 33) . ':x', 'a namespace is 1 to 32 of a-z'];
        yield 'a space' => ['pro duct:42', 'byte 0x20 is not'];
        yield 'non-ASCII' => ['product:é', 'byte 0xc3 is not'];
        yield 'a newline' => ["product:4\n2", 'byte 0x0a is not'];
        yield 'empty name' => ['product:', "no ':'-separated part of a topic may be empty"];
        yield 'empty segment' => ['product:a::b', "no ':'-separated part of a topic may be empty"];
        yield 'a pattern' => ['product:*', "'*' is only a whole name segment of a pattern"];
        yield 'a star in a segment' => ['product:4*', "'*' is only a whole name segment of a pattern"];
        yield 'no user after #' => ['orders:#', "'#' starts the last segment only"];
        yield 'an empty user' => ['orders:#7,', "'#' starts the last segment only"];
        yield '# before the last segment' => ['orders:#7:x', "'#' starts the last segment only"];
        yield '# inside a segment' => ['orders:a#7', "'#' starts the last segment only"];
    }

    /** @dataProvider invalidTopics */
    public function testRefusesInvalidTopicsSayingWhy(string $name, string $problem): void
    {
        try {
            new Topic($name);
            self::fail("$name was accepted");
        } catch (InvalidInputException $e) {
            self::assertSame('invalid_topic', $e->getErrorCode());
            self::assertNull($e->getHttpStatus());
            self::assertStringContainsString($problem, $e->getMessage());
            self::assertStringStartsWith('Invalid topic "', $e->getMessage());
        }
    }

    public function testPatternsAllowOnlyWholeStarSegments(): void
    {
        foreach (['product:*', 'chat:*:messages', 'product:42', 'orders:#42'] as $pattern) {
            self::assertSame($pattern, Validate::topic($pattern, pattern: true));
        }
        foreach (['*:42', 'product:4*', 'product:**', 'product', 'product:'] as $bad) {
            try {
                Validate::topic($bad, pattern: true);
                self::fail("$bad was accepted as a pattern");
            } catch (InvalidInputException $e) {
                self::assertSame('invalid_topic', $e->getErrorCode());
                self::assertStringStartsWith('Invalid topic pattern "', $e->getMessage());
            }
        }
    }

    public function testUserTopicsAdmitOnlyTheirUsersByteForByte(): void
    {
        $user = new class () implements Recipient {
            public function getEdgepushUserId(): string|int
            {
                return 42;
            }
        };
        self::assertSame('orders:#42', Topic::ofUsers('orders', $user)->name);
        $dm = Topic::ofUsers('dm', 7, '42');
        self::assertSame('dm:#7,42', $dm->name);
        self::assertSame(['7', '42'], $dm->users());
        self::assertTrue($dm->admits(7) && $dm->admits($user));
        self::assertFalse($dm->admits('7,42'));
        self::assertFalse((new Topic('orders:#42'))->admits('042'));
        self::assertFalse((new Topic('orders:#4%32'))->admits(42));
        self::assertNull((new Topic('product:42'))->users());
        self::assertTrue((new Topic('product:42'))->admits('anyone'));
        self::assertSame('chat', (new Topic('chat:room-1:messages'))->namespace());
        self::assertSame('chat:room-1:#7', Topic::ofUsers('chat:room-1', 7)->name);
    }

    /** @return iterable<string, array{string, list<string|int>}> */
    public static function badUserTopics(): iterable
    {
        yield 'no user' => ['orders', []];
        yield 'a comma in an id' => ['orders', ['7,42']];
        yield 'a colon in an id' => ['orders', ['a:b']];
        yield 'a star in an id' => ['orders', ['*']];
        yield 'a space in an id' => ['orders', ['a b']];
        yield 'a bad prefix' => ['Orders', [42]];
    }

    /**
     * @dataProvider badUserTopics
     *
     * @param list<string|int> $users
     */
    public function testRefusesUserTopicsThatWouldNameOtherUsers(string $prefix, array $users): void
    {
        $this->expectException(InvalidInputException::class);
        try {
            Topic::ofUsers($prefix, ...$users);
        } catch (InvalidInputException $e) {
            self::assertSame('invalid_topic', $e->getErrorCode());
            throw $e;
        }
    }

    public function testEventsToATopicCarryTheTopicInsteadOfAUser(): void
    {
        $event = new Event(new Topic('product:42'), 'ProductChanged', ['price' => 1990], 'price-1990');

        self::assertNull($event->user);
        self::assertSame('product:42', $event->topic);
        self::assertSame(
            '{"topic":"product:42","name":"ProductChanged","payload":{"price":1990},"idempotency_key":"price-1990"}',
            $event->toJson(),
        );
        self::assertEquals($event, Event::toTopic('product:42', 'ProductChanged', ['price' => 1990], 'price-1990'));
        self::assertSame('topic "product:42"', $event->recipient());
        self::assertSame('user "7"', (new Event(7, 'X'))->recipient());
        self::assertNull((new Event(7, 'X'))->topic);
    }

    public function testEventsToATopicAreValidatedLikeOthers(): void
    {
        try {
            Event::toTopic('product:*', 'X');
            self::fail('a pattern was accepted');
        } catch (InvalidInputException $e) {
            self::assertSame('invalid_topic', $e->getErrorCode());
        }
        try {
            Event::toTopic('product:42', 'X', str_repeat('p', 65535));
            self::fail('a payload over 64 KiB was accepted');
        } catch (PayloadTooLargeException $e) {
            self::assertStringContainsString('for topic "product:42" is 65537 bytes', $e->getMessage());
        }
    }
}
