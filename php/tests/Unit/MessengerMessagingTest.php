<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\ServiceUnavailableException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\Http\Response;
use Edgepush\Publisher;
use Edgepush\RetryPolicy;
use Edgepush\Symfony\Messenger\MessengerMessaging;
use Edgepush\Symfony\Messenger\PublishMessage;
use Edgepush\Symfony\Messenger\PublishMessageHandler;
use Edgepush\Tests\Support\ScriptedTransport;
use PHPUnit\Framework\TestCase;
use Symfony\Component\Messenger\Exception\HandlerFailedException;
use Symfony\Component\Messenger\Handler\HandlersLocator;
use Symfony\Component\Messenger\MessageBus;
use Symfony\Component\Messenger\Middleware\HandleMessageMiddleware;

/**
 * MessengerMessaging with PublishMessage not routed to a transport (Messenger's default): the
 * handler runs during send(), and its failures reach the caller as the EdgepushException that
 * Messaging::send() declares, not wrapped in Messenger's HandlerFailedException.
 */
final class MessengerMessagingTest extends TestCase
{
    public function testSendsThroughTheHandlerWhenHandledSynchronously(): void
    {
        $transport = new ScriptedTransport(new Response(202, '{"events":[{"user":"42","id":1,"sockets":0}]}'));

        self::messaging($transport)->send(42, 'Message', ['text' => 'Hi']);

        self::assertCount(1, $transport->requests);
        self::assertStringStartsWith('{"user":"42","name":"Message","payload":{"text":"Hi"}', $transport->requests[0]['body']);
    }

    public function testARefusalMarkedUnrecoverableIsThrownAsTheEdgepushException(): void
    {
        $transport = new ScriptedTransport(
            new Response(401, '{"error":{"code":"invalid_signature","message":"the signature does not match"}}'),
        );

        try {
            self::messaging($transport)->send(42, 'Message');
            self::fail('no exception');
        } catch (SignatureRejectedException $e) {
            self::assertSame('invalid_signature', $e->getErrorCode());
        }
    }

    public function testAnOutageIsThrownAsTheServiceUnavailableException(): void
    {
        $transport = new ScriptedTransport(new Response(503, 'Service Unavailable'), new Response(503, 'Service Unavailable'));

        try {
            self::messaging($transport)->send(42, 'Message');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertStringStartsWith('Gave up after 2 attempts', $e->getMessage());
        }
    }

    public function testAFailureOfAnotherHandlerStaysMessengers(): void
    {
        $failure = new \LogicException('not edgepush');
        $bus = new MessageBus([new HandleMessageMiddleware(new HandlersLocator([
            PublishMessage::class => [static fn (PublishMessage $message) => throw $failure],
        ]))]);

        try {
            (new MessengerMessaging($bus))->send(42, 'Message');
            self::fail('no exception');
        } catch (HandlerFailedException $e) {
            self::assertSame($failure, $e->getPrevious());
        }
    }

    private static function messaging(ScriptedTransport $transport): MessengerMessaging
    {
        $publisher = new Publisher('http://push.test:8787', 'k2026a', 'edgepush-test-secret-0123456789abcdef', $transport, new RetryPolicy(2, 1, 2));

        return new MessengerMessaging(new MessageBus([new HandleMessageMiddleware(new HandlersLocator([
            PublishMessage::class => [new PublishMessageHandler($publisher)],
        ]))]));
    }
}
