<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Event;
use Edgepush\PublishedEvent;
use Edgepush\Symfony\Messenger\PublishMessage;
use Edgepush\Tests\Support\FakeEdgepush;
use Edgepush\Topic;
use PHPUnit\Framework\TestCase;
use Psr\Container\ContainerInterface;
use Symfony\Component\Filesystem\Filesystem;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Exception\MessageDecodingFailedException;
use Symfony\Component\Messenger\MessageBusInterface;
use Symfony\Component\Messenger\Stamp\HandledStamp;
use Symfony\Component\Messenger\Stamp\ReceivedStamp;
use Symfony\Component\Messenger\Transport\InMemoryTransport;
use Symfony\Component\Messenger\Transport\Serialization\PhpSerializer;
use Symfony\Component\Messenger\Transport\Serialization\Serializer;

/**
 * An app whose Messenger transports use the Symfony Serializer (`default_serializer:
 * messenger.transport.symfony_serializer`, JSON): a PublishMessage, to a user or to a topic, comes
 * back from the transport with the same recipient, name, payload bytes and idempotency key, and its
 * handler publishes exactly what was queued (to FakeEdgepush); PHP's serialize() still does too.
 */
final class MessengerSerializerTest extends TestCase
{
    private static FakeEdgepush $server;
    private static TestKernel $kernel;
    private static ContainerInterface $container;

    public static function setUpBeforeClass(): void
    {
        self::$server = new FakeEdgepush();
        self::$kernel = new TestKernel([
            'url' => self::$server->url(),
            'key_id' => FakeEdgepush::KEY_ID,
            'publish_secret' => FakeEdgepush::SECRET,
            'jwt_secret' => 'kernel-test-jwt-secret-0123456789abcdef',
            'messenger' => true,
            'max_attempts' => 1,
        ], [
            'serializer' => ['enabled' => true],
            'messenger' => ['serializer' => ['default_serializer' => 'messenger.transport.symfony_serializer']],
        ]);
        self::$kernel->boot();
        self::$container = self::$kernel->getContainer()->get('test.service_container');
    }

    public static function tearDownAfterClass(): void
    {
        self::$kernel->shutdown();
        (new Filesystem())->remove(dirname(self::$kernel->getCacheDir()));
        self::$server->stop();
    }

    /** @return iterable<string, array{PublishMessage, string}> the message, and its payload's JSON */
    public static function messages(): iterable
    {
        $payload = ['list' => [], 'object' => new \stdClass(), 'text' => 'héllo ☃ a/b', 'ratio' => 1.0, 'n' => [1, 2]];
        $json = '{"list":[],"object":{},"text":"héllo ☃ a/b","ratio":1.0,"n":[1,2]}';
        yield 'to a user' => [new PublishMessage(42, 'Message', $payload), $json];
        yield 'to a topic' => [PublishMessage::toTopic('product:42', 'ProductChanged', new \stdClass()), '{}'];
        yield 'to a topic, empty list' => [new PublishMessage(new Topic('feed:all'), 'Posted', [], 'key-1'), '[]'];
        yield 'to a user, no payload' => [new PublishMessage('ada', 'Ping'), 'null'];
    }

    /** @dataProvider messages */
    public function testTheSymfonySerializerRoundTripsAMessageAndTheHandlerPublishesIt(
        PublishMessage $message,
        string $payloadJson,
    ): void {
        $serializer = self::$container->get('messenger.transport.symfony_serializer');
        self::assertInstanceOf(Serializer::class, $serializer);

        $encoded = $serializer->encode(new Envelope($message));
        $decoded = $serializer->decode($encoded)->getMessage();

        self::assertInstanceOf(PublishMessage::class, $decoded);
        self::assertSame($payloadJson, $message->event->payloadJson);
        self::assertSameEvent($message->event, $decoded->event);
        self::assertSame($message->event->toJson(), self::handle($decoded));
        $event = $message->event;
        $fields = ($event->topic === null ? ['user' => $event->user] : ['topic' => $event->topic])
            + ['name' => $event->name, 'payload_json' => $payloadJson, 'idempotency_key' => $event->idempotencyKey];
        self::assertSame($fields, json_decode($encoded['body'], true), $encoded['body']);
    }

    public function testMessagesDispatchedToTheAsyncTransportComeBackTheSame(): void
    {
        $transport = self::$container->get('messenger.transport.async');
        self::assertInstanceOf(InMemoryTransport::class, $transport);
        $transport->reset();
        $bus = self::$container->get(MessageBusInterface::class);

        $sent = [PublishMessage::toTopic('product:7', 'ProductChanged', ['tags' => []]), new PublishMessage(7, 'X', new \stdClass())];
        foreach ($sent as $message) {
            $bus->dispatch($message); // encoded with the Symfony Serializer, decoded by get()
        }
        self::$container->get('edgepush.messaging')->send(8, 'Sent', ['empty' => new \stdClass()]);

        $received = array_map(static fn (Envelope $e): object => $e->getMessage(), [...$transport->get()]);
        self::assertCount(3, $received);
        foreach ($sent as $i => $message) {
            self::assertInstanceOf(PublishMessage::class, $received[$i]);
            self::assertSameEvent($message->event, $received[$i]->event);
        }
        self::assertSame(['8', 'Sent', '{"empty":{}}'], [$received[2]->event->user, $received[2]->event->name, $received[2]->event->payloadJson]);
        self::assertSame($received[0]->event->toJson(), self::handle($received[0]));
        self::assertSame(
            '{"topic":"product:7","name":"ProductChanged","payload":{"tags":[]},"idempotency_key":"'
            . $sent[0]->event->idempotencyKey . '"}',
            self::handle($received[0]), // a redelivery: the same key again
        );
        $transport->reset();
    }

    public function testPhpSerializeStillRoundTrips(): void
    {
        $serializer = new PhpSerializer();
        foreach (self::messages() as [$message]) {
            $decoded = $serializer->decode($serializer->encode(new Envelope($message)))->getMessage();
            self::assertInstanceOf(PublishMessage::class, $decoded);
            self::assertSameEvent($message->event, $decoded->event);
        }
    }

    public function testReadsTheShapeThatObjectNormalizerWroteBefore(): void
    {
        $serializer = self::$container->get('messenger.transport.symfony_serializer');
        $body = '{"event":{"user":"42","topic":null,"name":"Message","payloadJson":"{\"a\":{}}","idempotencyKey":"old-key"}}';

        $message = $serializer->decode(['body' => $body, 'headers' => ['type' => PublishMessage::class]])->getMessage();

        self::assertInstanceOf(PublishMessage::class, $message);
        self::assertSameEvent(Event::withPayloadJson('42', 'Message', '{"a":{}}', 'old-key'), $message->event);
    }

    /** @return iterable<string, array{string, string}> */
    public static function unreadableBodies(): iterable
    {
        yield 'no recipient' => ['{"name":"X","payload_json":"null","idempotency_key":"k"}', 'it needs either a "user" or a "topic"'];
        yield 'both recipients' => ['{"user":"1","topic":"a:b","name":"X","payload_json":"null","idempotency_key":"k"}', 'it needs either a "user" or a "topic"'];
        yield 'payload not JSON' => ['{"user":"1","name":"X","payload_json":"1,\"user\":\"2\"","idempotency_key":"k"}', 'is not JSON text'];
        yield 'payload not a string' => ['{"user":"1","name":"X","payload_json":{},"idempotency_key":"k"}', '"payload_json" must be a string'];
        yield 'invalid name' => ['{"user":"1","name":"","payload_json":"null","idempotency_key":"k"}', 'Invalid event name'];
        yield 'invalid topic' => ['{"topic":"nope","name":"X","payload_json":"null","idempotency_key":"k"}', 'Invalid topic'];
        yield 'no idempotency key' => ['{"user":"1","name":"X","payload_json":"null"}', 'needs its idempotency key'];
    }

    /** @dataProvider unreadableBodies */
    public function testAnUnreadableMessageFailsToDecodeSoTheTransportRejectsIt(string $body, string $problem): void
    {
        $serializer = self::$container->get('messenger.transport.symfony_serializer');
        try {
            $serializer->decode(['body' => $body, 'headers' => ['type' => PublishMessage::class]]);
            self::fail('expected a MessageDecodingFailedException');
        } catch (MessageDecodingFailedException $e) {
            self::assertStringContainsString($problem, $e->getMessage());
        }
    }

    private static function assertSameEvent(Event $expected, Event $actual): void
    {
        self::assertSame(
            [$expected->user, $expected->topic, $expected->name, $expected->payloadJson, $expected->idempotencyKey],
            [$actual->user, $actual->topic, $actual->name, $actual->payloadJson, $actual->idempotencyKey],
        );
        self::assertMatchesRegularExpression('/^[\x21-\x7E]{1,128}$/D', (string) $actual->idempotencyKey);
    }

    /** Handles $message as a worker consuming the transport would: the body that reached the server. */
    private static function handle(PublishMessage $message): string
    {
        $envelope = self::$container->get(MessageBusInterface::class)->dispatch(new Envelope($message, [new ReceivedStamp('async')]));
        self::assertInstanceOf(PublishedEvent::class, $envelope->last(HandledStamp::class)?->getResult());
        $requests = self::$server->requests();
        $last = end($requests) ?: self::fail('no request reached the server');
        self::assertSame(202, $last['status']);

        return $last['body'];
    }
}
