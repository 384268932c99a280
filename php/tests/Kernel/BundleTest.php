<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Event;
use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\ServiceUnavailableException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\PublishedEvent;
use Edgepush\Publisher;
use Edgepush\Symfony\Messenger\MessengerMessaging;
use Edgepush\Symfony\Messenger\PublishMessage;
use Edgepush\Tests\Support\FakeEdgepush;
use Edgepush\TokenIssuer;
use Edgepush\TopicMessaging;
use PHPUnit\Framework\TestCase;
use Psr\Container\ContainerInterface;
use Symfony\Component\Filesystem\Filesystem;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Exception\HandlerFailedException;
use Symfony\Component\Messenger\Exception\UnrecoverableMessageHandlingException;
use Symfony\Component\Messenger\MessageBusInterface;
use Symfony\Component\Messenger\Stamp\HandledStamp;
use Symfony\Component\Messenger\Stamp\ReceivedStamp;
use Symfony\Component\Messenger\Transport\InMemoryTransport;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;
use Symfony\Component\Security\Core\Authentication\Token\UsernamePasswordToken;
use Symfony\Component\Security\Core\User\InMemoryUser;
use Twig\Environment;
use Twig\Error\RuntimeError;

/** Boots a Symfony app with the bundle and publishes, over real HTTP, to FakeEdgepush. */
final class BundleTest extends TestCase
{
    private const JWT_SECRET = 'kernel-test-jwt-secret-0123456789abcdef';

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
            'jwt_secret' => self::JWT_SECRET,
            'token_ttl' => 900,
            'messenger' => true,
            'max_attempts' => 2,
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

    public function testTheServicesAreAutowirable(): void
    {
        self::assertInstanceOf(Publisher::class, self::$container->get(Publisher::class));
        self::assertInstanceOf(TokenIssuer::class, self::$container->get(TokenIssuer::class));
        self::assertInstanceOf(MessengerMessaging::class, self::$container->get(BlogController::class)->messaging);
    }

    public function testPublishesThroughThePublisherService(): void
    {
        $publisher = self::$container->get(Publisher::class);

        $event = $publisher->publish(new TestUser(42, 'ada@example.com'), 'BlogPostCreated', ['title' => 'Edge']);

        self::assertSame('42', $event->user);
        $request = self::lastRequest();
        self::assertSame(202, $request['status']);
        self::assertSame('{"user":"42","name":"BlogPostCreated","payload":{"title":"Edge"}}', $request['body']);
    }

    public function testSendDispatchesAMessageThatTheHandlerPublishesOnce(): void
    {
        $before = count(self::$server->requests());

        self::$container->get(BlogController::class)->create(new TestUser(43, 'bob@example.com'), 'Async');

        self::assertCount($before, self::$server->requests(), 'send() must not wait on the network');
        $transport = self::$container->get('messenger.transport.async');
        self::assertInstanceOf(InMemoryTransport::class, $transport);
        $envelopes = [...$transport->get()];
        self::assertCount(1, $envelopes);
        $message = $envelopes[0]->getMessage();
        self::assertInstanceOf(PublishMessage::class, $message);
        self::assertSame('43', $message->event->user);
        self::assertMatchesRegularExpression('/^[0-9a-f]{32}$/', (string) $message->event->idempotencyKey);

        $handled = self::consume($envelopes[0])->last(HandledStamp::class);
        self::assertInstanceOf(HandledStamp::class, $handled);
        self::assertInstanceOf(PublishedEvent::class, $handled->getResult());
        $first = self::lastRequest();
        self::assertSame(
            '{"user":"43","name":"BlogPostCreated","payload":{"title":"Async"},'
            . '"idempotency_key":"' . $message->event->idempotencyKey . '"}',
            $first['body'],
        );

        self::consume($envelopes[0]); // a redelivery carries the same key, so the server deduplicates it
        self::assertSame($first['body'], self::lastRequest()['body']);
    }

    public function testTopicMessagingIsTheMessagingServiceAndDispatchesTopicEvents(): void
    {
        self::assertSame(
            self::$container->get(BlogController::class)->messaging,
            self::$container->get(ProductController::class)->messaging,
        );
        self::assertInstanceOf(TopicMessaging::class, self::$container->get('edgepush.messaging'));

        $transport = self::$container->get('messenger.transport.async');
        self::assertInstanceOf(InMemoryTransport::class, $transport);
        $transport->reset();

        self::$container->get(ProductController::class)->changePrice(42, 1990);

        $envelopes = [...$transport->get()];
        self::assertCount(1, $envelopes);
        $message = $envelopes[0]->getMessage();
        self::assertInstanceOf(PublishMessage::class, $message);
        self::assertSame(['product:42', null], [$message->event->topic, $message->event->user]);
        $handled = self::consume($envelopes[0])->last(HandledStamp::class);
        self::assertInstanceOf(HandledStamp::class, $handled);
        $published = $handled->getResult();
        self::assertInstanceOf(PublishedEvent::class, $published);
        self::assertSame(['product:42', null], [$published->topic, $published->user]);
        self::assertSame(
            '{"topic":"product:42","name":"ProductChanged","payload":{"price":1990},'
            . '"idempotency_key":"' . $message->event->idempotencyKey . '"}',
            self::lastRequest()['body'],
        );
        $transport->reset();
    }

    public function testThePublisherServicePublishesToTopicsWithTheirOwnIds(): void
    {
        $publisher = self::$container->get(Publisher::class);

        $first = $publisher->publishToTopic('feed:kernel', 'Posted');
        $batch = $publisher->publishBatch([
            PublishMessage::toTopic('feed:kernel', 'Posted')->event,
            new Event(42, 'X'),
        ]);

        self::assertSame('feed:kernel', $first->topic);
        self::assertSame([$first->id + 1, 'feed:kernel'], [$batch[0]->id, $batch[0]->topic]);
        self::assertSame('42', $batch[1]->user);
    }

    public function testTheHandlerLeavesOutagesToMessengerRetriesAndRejectsTheRest(): void
    {
        self::$server->queue(401, '{"error":{"code":"invalid_signature","message":"the signature does not match"}}');
        $failure = self::failureOf(new PublishMessage('42', 'X'));
        self::assertInstanceOf(UnrecoverableMessageHandlingException::class, $failure);
        self::assertInstanceOf(SignatureRejectedException::class, $failure->getPrevious());

        self::$server->queue(503, 'Service Unavailable');
        self::$server->queue(503, 'Service Unavailable');
        $failure = self::failureOf(new PublishMessage('42', 'X'));
        self::assertInstanceOf(ServiceUnavailableException::class, $failure);
        self::assertStringStartsWith('Gave up after 2 attempts', $failure->getMessage());
    }

    public function testTwigRendersATokenForTheLoggedInUser(): void
    {
        $storage = self::$container->get('security.token_storage');
        self::assertInstanceOf(TokenStorageInterface::class, $storage);
        $storage->setToken(new UsernamePasswordToken(new TestUser(42, 'ada@example.com'), 'main', ['ROLE_USER']));
        try {
            $twig = self::$container->get('twig');
            self::assertInstanceOf(Environment::class, $twig);
            $claims = self::verifiedClaims($twig->createTemplate('{{ edgepush_token() }}')->render());
            self::assertSame('42', $claims['sub']);
            self::assertSame(900, $claims['exp'] - $claims['iat']);
            $claims = self::verifiedClaims($twig->createTemplate('{{ edgepush_token(7) }}')->render());
            self::assertSame('7', $claims['sub']);
        } finally {
            $storage->setToken(null);
        }
    }

    public function testTwigRendersTopicGrantsAndSubscriptionTokens(): void
    {
        $storage = self::$container->get('security.token_storage');
        $storage->setToken(new UsernamePasswordToken(new TestUser(42, 'ada@example.com'), 'main', ['ROLE_USER']));
        try {
            $twig = self::$container->get('twig');
            $claims = self::verifiedClaims(
                $twig->createTemplate("{{ edgepush_token(topics = ['product:*', 'private:x']) }}")->render(),
            );
            self::assertSame(['42', ['product:*', 'private:x']], [$claims['sub'], $claims['topics']]);
            $claims = self::verifiedClaims(
                $twig->createTemplate("{{ edgepush_token(7, subs = ['feed:all', 'orders:#7']) }}")->render(),
            );
            self::assertSame(['7', ['feed:all', 'orders:#7']], [$claims['sub'], $claims['subs']]);
            self::assertArrayNotHasKey('topics', $claims);
            $render = static fn (string $template): string => $twig->createTemplate($template)->render();
            $claims = self::verifiedClaims($render("{{ edgepush_subscription_token('orders:#42') }}"));
            self::assertSame(['sub', 'topic', 'exp'], array_keys($claims));
            self::assertSame(['42', 'orders:#42'], [$claims['sub'], $claims['topic']]);
            $claims = self::verifiedClaims($render("{{ edgepush_subscription_token('private:x', 7) }}"));
            self::assertSame(['7', 'private:x'], [$claims['sub'], $claims['topic']]);
        } finally {
            $storage->setToken(null);
        }
        try {
            $twig->createTemplate("{{ edgepush_subscription_token('private:x') }}")->render();
            self::fail('expected a Twig RuntimeError');
        } catch (RuntimeError $e) {
            $expected = 'edgepush_subscription_token() was called without a user id';
            self::assertStringContainsString($expected, $e->getMessage());
        }
    }

    public function testTwigAsksForAUserWhenNobodyIsLoggedIn(): void
    {
        try {
            self::$container->get('twig')->createTemplate('{{ edgepush_token() }}')->render();
            self::fail('expected a Twig RuntimeError');
        } catch (RuntimeError $e) {
            self::assertInstanceOf(InvalidInputException::class, $e->getPrevious());
            self::assertStringContainsString('nobody is logged in', $e->getMessage());
        }
    }

    public function testTwigSaysWhenTheUserPassedIsNotARecipient(): void
    {
        $user = new InMemoryUser('ada@example.com', null);
        foreach (['{{ edgepush_token(user) }}', "{{ edgepush_subscription_token('private:x', user) }}"] as $template) {
            try {
                self::$container->get('twig')->createTemplate($template)->render(['user' => $user]);
                self::fail("expected $template to fail");
            } catch (RuntimeError $e) {
                $previous = $e->getPrevious();
                self::assertInstanceOf(ConfigurationException::class, $previous, $template);
                self::assertStringContainsString(
                    'was passed a Symfony\Component\Security\Core\User\InMemoryUser, which does not implement Edgepush\Recipient',
                    $previous->getMessage(),
                );
            }
        }
    }

    /** Handles an envelope as a worker consuming the async transport would. */
    private static function consume(Envelope $envelope): Envelope
    {
        return self::$container->get(MessageBusInterface::class)->dispatch($envelope->with(new ReceivedStamp('async')));
    }

    private static function failureOf(PublishMessage $message): \Throwable
    {
        try {
            self::consume(new Envelope($message));
        } catch (HandlerFailedException $e) {
            return $e->getPrevious() ?? $e;
        }
        self::fail('expected the handler to fail');
    }

    /** @return array{status: int, body: string} */
    private static function lastRequest(): array
    {
        $requests = self::$server->requests();

        return end($requests) ?: self::fail('no request reached the server');
    }

    /** @return array<string, mixed> */
    private static function verifiedClaims(string $token): array
    {
        [$header, $claims, $signature] = explode('.', $token);
        $mac = hash_hmac('sha256', "$header.$claims", self::JWT_SECRET, true);
        self::assertSame(rtrim(strtr(base64_encode($mac), '+/', '-_'), '='), $signature);

        return json_decode(base64_decode(strtr($claims, '-_', '+/')), true);
    }
}
