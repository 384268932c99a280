<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Exception\EdgepushException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Http\CurlTransport;
use Edgepush\Http\SignedClient;
use Edgepush\RetryPolicy;
use Edgepush\Signer;
use Edgepush\SubscriptionChange;
use Edgepush\Tests\Support\RecordingTransport;
use Edgepush\Tests\Support\WebSocketClient;
use Edgepush\Topic;

/**
 * Subscriptions the backend makes (signed POST /subscribe and /unsubscribe, and a connect token's
 * `subs`) against a real worker whose TOPIC_NAMESPACES (scripts/env.sh) make `feed` and `live`
 * public and `private` readable only by grant.
 */
final class BackendSubscriptionTest extends IntegrationTestCase
{
    public function testSubscribesEverySocketOfTheUserOpenAndToCome(): void
    {
        $user = self::newUser();
        $topic = self::newTopic('feed');
        [$first] = self::connect($user);
        $transport = new RecordingTransport();

        $change = self::publisher(transport: $transport)->subscribe($user, [$topic]);

        self::assertSame(200, $transport->responses[0]->status, $transport->responses[0]->body);
        self::assertEquals(new SubscriptionChange($user, [$topic], true, 1), $change);
        self::assertSame('subscribed', self::answerFor($first, $topic)['type']);
        [$later, $welcome] = self::connect($user);
        self::assertSame('subscribed', self::answerFor($later, $topic)['type'], 'right after the welcome');

        $published = self::publisher()->publishToTopic($topic, 'Posted', ['n' => 1]);

        self::assertSame(2, $published->sockets);
        self::assertSame(1, $published->relays, 'one room holds both sockets');
        foreach ([$first, $later] as $socket) {
            self::assertSame([[$topic, $published->id]], self::topicEvents($socket));
        }
    }

    public function testUnsubscribingEndsItForEverySocket(): void
    {
        $user = self::newUser();
        $topic = self::newTopic('feed');
        [$first] = self::connect($user);
        [$second] = self::connect($user);
        $publisher = self::publisher();
        self::assertSame(2, $publisher->subscribe($user, [$topic])->sockets);
        self::assertSame(2, $publisher->publishToTopic($topic, 'Posted')->sockets);

        $change = $publisher->unsubscribe($user, [new Topic($topic)]);

        self::assertEquals(new SubscriptionChange($user, [$topic], false, 2), $change);
        $published = $publisher->publishToTopic($topic, 'Posted');
        self::assertSame(0, $published->sockets);
        foreach ([$first, $second] as $socket) {
            $ids = array_column(self::topicEvents($socket), 1);
            self::assertNotContains($published->id, $ids, 'an event after the unsubscribe arrived');
        }
        [$third] = self::connect($user);
        self::assertSame([], self::topicEvents($third), 'a later socket is not subscribed either');
    }

    public function testAnOfflineUserIsSubscribedWhenTheyConnect(): void
    {
        $user = self::newUser();
        [$feed, $private] = [self::newTopic('feed'), self::newTopic('private')];

        $change = self::publisher()->subscribe($user, [$feed, $private]);

        self::assertSame(0, $change->sockets);
        [$socket] = self::connect($user);
        // A private topic too: the backend's word needs no grant.
        self::assertSame('subscribed', self::answerFor($socket, $feed)['type']);
        self::assertSame('subscribed', self::answerFor($socket, $private)['type']);
        $published = self::publisher()->publishToTopic($private, 'Secret');
        self::assertSame([[$private, $published->id]], self::topicEvents($socket));
    }

    public function testRelaysCountTheRoomsOfTheSubscribedUsers(): void
    {
        [$a, $b] = [self::newUser(), self::newUser()];
        $topic = self::newTopic('live');
        $sockets = [self::connect($a)[0], self::connect($a)[0], self::connect($b)[0]];
        foreach ([$a, $b] as $user) {
            self::publisher()->subscribe($user, [$topic]);
        }
        foreach ($sockets as $socket) {
            self::answerFor($socket, $topic);
        }

        $published = self::publisher()->publishToTopic($topic, 'Posted');

        self::assertSame([3, 2], [$published->sockets, $published->relays], '3 sockets in 2 rooms');
        self::assertNull(self::publisher()->publish($a, 'Message')->relays, 'an event to a user');
    }

    public function testAConnectTokenSubscribesItsConnectionFromTheStart(): void
    {
        $user = self::newUser();
        [$feed, $private] = [self::newTopic('feed'), self::newTopic('private')];

        [$socket] = self::connect($user, subs: [$feed, $private]);

        self::assertSame('subscribed', self::answerFor($socket, $feed)['type']);
        self::assertSame('subscribed', self::answerFor($socket, $private)['type']);
        [$other] = self::connect($user);
        $published = self::publisher()->publishToTopic($private, 'Secret');
        self::assertSame(1, $published->sockets, 'only the connection of that token');
        self::assertSame([[$private, $published->id]], self::topicEvents($socket));
        self::assertSame([], self::topicEvents($other));
    }

    public function testTheLibraryRefusesAPatternWithoutSending(): void
    {
        $transport = new RecordingTransport();
        try {
            self::publisher(transport: $transport)->subscribe(self::newUser(), ['feed:*']);
            self::fail('a pattern was subscribed');
        } catch (InvalidInputException $e) {
            self::assertSame(['invalid_topic', null], [$e->getErrorCode(), $e->getHttpStatus()]);
        }
        self::assertSame([], $transport->responses);
    }

    public function testAnUndeclaredNamespaceIsRefused(): void
    {
        $topic = 'undeclared' . bin2hex(random_bytes(3)) . ':x';
        foreach (['subscribe', 'unsubscribe'] as $call) {
            try {
                self::publisher()->{$call}(self::newUser(), [self::newTopic('feed'), $topic]);
                self::fail("$call took an undeclared namespace");
            } catch (InvalidInputException $e) {
                self::assertSame(['unknown_namespace', 400], [$e->getErrorCode(), $e->getHttpStatus()]);
                self::assertStringContainsString($topic, $e->getMessage());
            }
        }
    }

    /** @return iterable<string, array{string, string}> */
    public static function refusedBodies(): iterable
    {
        yield 'a pattern' => ['{"user":"42","topics":["feed:*"]}', 'invalid_topic'];
        yield 'a malformed topic' => ['{"user":"42","topics":["Feed:all"]}', 'invalid_topic'];
        yield 'no topic' => ['{"user":"42","topics":[]}', 'invalid_field'];
        yield 'an empty user' => ['{"user":"","topics":["feed:all"]}', 'invalid_field'];
    }

    /**
     * The worker's own checks, past the library's: the body is sent as is.
     *
     * @dataProvider refusedBodies
     */
    public function testTheWorkerRefusesBadBodies(string $body, string $code): void
    {
        $client = new SignedClient(
            self::env('EDGEPUSH_URL'),
            new Signer(self::env('EDGEPUSH_TEST_KEY_ID'), self::env('EDGEPUSH_TEST_PUBLISH_SECRET')),
            new CurlTransport(),
            new RetryPolicy(1),
        );
        try {
            $client->post('/subscribe', $body);
            self::fail("accepted: $body");
        } catch (EdgepushException $e) {
            self::assertInstanceOf(InvalidInputException::class, $e);
            self::assertSame([$code, 400], [$e->getErrorCode(), $e->getHttpStatus()], $e->getMessage());
        }
    }

    /**
     * The next subscribed or unsubscribed frame for $topic.
     *
     * @return array<string, mixed>
     */
    private static function answerFor(WebSocketClient $socket, string $topic): array
    {
        while (($frame = $socket->receive(10)) !== null) {
            if (in_array($frame['type'], ['subscribed', 'unsubscribed'], true) && $frame['topic'] === $topic) {
                return $frame;
            }
            self::assertNotSame('close', $frame['type'], json_encode($frame));
        }
        self::fail("no answer for $topic");
    }

    /**
     * The topic events that arrive until the socket is quiet, as [topic, id].
     *
     * @return list<array{string, int}>
     */
    private static function topicEvents(WebSocketClient $socket): array
    {
        return array_map(
            static fn (array $e): array => [$e['topic'] ?? '(no topic)', $e['id']],
            self::events($socket, 1.0),
        );
    }
}
