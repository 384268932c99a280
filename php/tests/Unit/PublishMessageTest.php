<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Event;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Symfony\Messenger\PublishMessage;
use Edgepush\Symfony\Serializer\EventNormalizer;
use Edgepush\Topic;
use PHPUnit\Framework\TestCase;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Transport\Serialization\Serializer;
use Symfony\Component\Serializer\Encoder\JsonEncoder;
use Symfony\Component\Serializer\Normalizer\ObjectNormalizer;
use Symfony\Component\Serializer\Serializer as SymfonySerializer;

/** The payload bytes of a PublishMessage across both of Messenger's transport serializers. */
final class PublishMessageTest extends TestCase
{
    /** @return iterable<string, array{mixed, string}> a payload and its JSON */
    public static function payloads(): iterable
    {
        yield 'empty object' => [new \stdClass(), '{}'];
        yield 'empty list' => [[], '[]'];
        yield 'nested empties' => [['a' => [], 'o' => new \stdClass(), 'l' => [new \stdClass(), []]], '{"a":[],"o":{},"l":[{},[]]}'];
        yield 'float with zero fraction' => [['ratio' => 1.0, 'big' => 1e100], '{"ratio":1.0,"big":1.0e+100}'];
        yield 'unicode and slashes' => [['t' => "héllo ☃ </script> \u{2028}"], "{\"t\":\"héllo ☃ </script> \\u2028\"}"];
        yield 'numeric string keys' => [['0' => 'a', '2' => 'b'], '{"0":"a","2":"b"}'];
        yield 'null' => [null, 'null'];
        yield 'string' => ['plain', '"plain"'];
    }

    /** @dataProvider payloads */
    public function testTheSymfonySerializerKeepsThePayloadBytes(mixed $payload, string $json): void
    {
        $serializer = new Serializer(new SymfonySerializer([new EventNormalizer(), new ObjectNormalizer()], [new JsonEncoder()]));
        foreach ([new PublishMessage(42, 'X', $payload), PublishMessage::toTopic('product:1', 'X', $payload, 'k')] as $message) {
            self::assertSame($json, $message->event->payloadJson);

            $decoded = $serializer->decode($serializer->encode(new Envelope($message)))->getMessage();

            self::assertInstanceOf(PublishMessage::class, $decoded);
            self::assertSame($json, $decoded->event->payloadJson);
            self::assertSame($message->event->toJson(), $decoded->event->toJson());
        }
    }

    public function testTheSymfonySerializerRoundTripsAnEventWithOrWithoutAKey(): void
    {
        $serializer = new SymfonySerializer([new EventNormalizer(), new ObjectNormalizer()], [new JsonEncoder()]);
        foreach ([new Event(42, 'X', ['o' => new \stdClass()]), Event::toTopic('feed:x', 'Y', [], 'k')] as $event) {
            $json = $serializer->serialize($event, 'json');
            $decoded = $serializer->deserialize($json, Event::class, 'json');

            self::assertInstanceOf(Event::class, $decoded);
            self::assertSame($event->toJson(), $decoded->toJson(), $json);
        }
        self::assertSame(
            '{"user":"42","name":"X","payload_json":"{\\"o\\":{}}"}',
            $serializer->serialize(new Event(42, 'X', ['o' => new \stdClass()]), 'json'),
        );
    }

    /** @dataProvider payloads */
    public function testPhpSerializeKeepsThePayloadBytes(mixed $payload, string $json): void
    {
        $message = unserialize(serialize(new PublishMessage(new Topic('feed:x'), 'X', $payload)));

        self::assertInstanceOf(PublishMessage::class, $message);
        self::assertSame($json, $message->event->payloadJson);
    }

    public function testReadsAMessageThatThePreviousVersionQueuedWithPhpSerialize(): void
    {
        // serialize(new PublishMessage(42, 'Msg', ['a' => []], 'k1')) before EventNormalizer existed
        $queued = 'O:41:"Edgepush\Symfony\Messenger\PublishMessage":1:{s:5:"event";O:14:"Edgepush\Event":5:{'
            . 's:4:"user";s:2:"42";s:5:"topic";N;s:4:"name";s:3:"Msg";s:11:"payloadJson";s:8:"{"a":[]}";'
            . 's:14:"idempotencyKey";s:2:"k1";}}';

        $message = unserialize($queued);

        self::assertInstanceOf(PublishMessage::class, $message);
        self::assertSame('{"user":"42","name":"Msg","payload":{"a":[]},"idempotency_key":"k1"}', $message->event->toJson());
        self::assertSame($queued, serialize(new PublishMessage(42, 'Msg', ['a' => []], 'k1')));
    }

    public function testAnEventWithItsPayloadJsonKeepsTheTextAndValidatesTheRest(): void
    {
        $event = Event::withPayloadJson(new Topic('product:1'), 'X', '{"a":{}, "b":[]}', 'k');
        self::assertSame('{"topic":"product:1","name":"X","payload":{"a":{}, "b":[]},"idempotency_key":"k"}', $event->toJson());
        self::assertSame(65536, strlen(Event::withPayloadJson(42, 'X', '"' . str_repeat('p', 65534) . '"')->payloadJson));

        $invalid = [
            ['1,"user":"2"', 'The payload of event "X" for user "42" is not JSON text (Syntax error).'],
            ['', 'is not JSON text'],
            ["\"caf\xe9\"", 'is not JSON text'],
        ];
        foreach ($invalid as [$text, $message]) {
            try {
                Event::withPayloadJson(42, 'X', $text);
                self::fail("expected $text to be refused");
            } catch (InvalidInputException $e) {
                self::assertStringContainsString($message, $e->getMessage());
                self::assertSame('invalid_json', $e->getErrorCode());
            }
        }
        $this->expectException(PayloadTooLargeException::class);
        Event::withPayloadJson(42, 'X', '"' . str_repeat('p', 65535) . '"');
    }

    public function testAnEventWithItsPayloadJsonValidatesTheFields(): void
    {
        foreach ([['', 'X', 'k'], ['1', '', 'k'], ['1', 'X', 'a b']] as [$user, $name, $key]) {
            try {
                Event::withPayloadJson($user, $name, 'null', $key);
                self::fail('expected an InvalidInputException');
            } catch (InvalidInputException $e) {
                self::assertSame('invalid_field', $e->getErrorCode());
            }
        }
    }
}
