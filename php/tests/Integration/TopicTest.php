<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Event;
use Edgepush\Exception\EdgepushException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Http\CurlTransport;
use Edgepush\Http\SignedClient;
use Edgepush\PublishedEvent;
use Edgepush\RetryPolicy;
use Edgepush\Signer;
use Edgepush\Tests\Support\RecordingTransport;
use Edgepush\Tests\Support\WebSocketClient;
use Edgepush\Topic;

/**
 * PHP publishes to topics of a real worker, started with
 * TOPIC_NAMESPACES={"product":{"public":true},"feed":{"public":true},"orders":{},"private":{}}.
 */
final class TopicTest extends IntegrationTestCase
{
    public function testPublishingToATopicAnswers202WithTheTopicAndAnId(): void
    {
        $topic = self::newTopic('product');
        $transport = new RecordingTransport();
        $publisher = self::publisher(transport: $transport);

        $published = $publisher->publishToTopic($topic, 'ProductChanged', ['price' => 1990]);

        self::assertSame(202, $transport->responses[0]->status, $transport->responses[0]->body);
        self::assertSame([$topic, null, false], [$published->topic, $published->user, $published->duplicate]);
        self::assertGreaterThanOrEqual(1, $published->id);
        self::assertSame(0, $published->sockets, 'nobody is subscribed');
    }

    public function testIdsIncreasePerTopic(): void
    {
        [$a, $b] = [self::newTopic('product'), self::newTopic('product')];
        $publisher = self::publisher();

        $first = $publisher->publishToTopic($a, 'ProductChanged');
        $second = $publisher->publishToTopic($a, 'ProductChanged');
        $other = $publisher->publishToTopic($b, 'ProductChanged');
        [$third, $fourth] = $publisher->publishBatch([Event::toTopic($a, 'X'), Event::toTopic($a, 'Y')]);

        $ids = [$first->id, $second->id, $third->id, $fourth->id];
        self::assertSame($ids, array_values(array_unique($ids)));
        self::assertSame($ids, self::sorted($ids), 'the ids of one topic strictly increase');
        self::assertLessThanOrEqual($second->id, $other->id, 'a fresh topic counts on its own, not after another');
    }

    public function testAMixedBatchAnswersEachUserAndTopicInOrder(): void
    {
        $user = self::newUser();
        [$socket] = self::connect($user);
        [$product, $feed] = [self::newTopic('product'), self::newTopic('feed')];
        $transport = new RecordingTransport();

        $published = self::publisher(transport: $transport)->publishBatch([
            new Event($user, 'Message', ['n' => 1]),
            Event::toTopic($product, 'ProductChanged', ['n' => 2]),
            new Event(new Topic($feed), 'Posted', ['n' => 3]),
            new Event($user, 'Message', ['n' => 4]),
        ]);

        self::assertSame(202, $transport->responses[0]->status, $transport->responses[0]->body);
        self::assertSame(
            [[$user, null], [null, $product], [null, $feed], [$user, null]],
            array_map(static fn (PublishedEvent $e): array => [$e->user, $e->topic], $published),
        );
        self::assertLessThan($published[3]->id, $published[0]->id);
        $events = self::events($socket);
        self::assertSame([1, 4], array_map(static fn (array $e): int => $e['payload']['n'], $events));
        self::assertSame([$published[0]->id, $published[3]->id], array_column($events, 'id'));
    }

    public function testAnIdempotencyKeyPublishesToATopicOnce(): void
    {
        $topic = self::newTopic('feed');
        $publisher = self::publisher();
        $key = 'php-it-topic-' . bin2hex(random_bytes(6));

        $first = $publisher->publishToTopic($topic, 'Posted', ['title' => 'once'], $key);
        $again = $publisher->publishToTopic($topic, 'Posted', ['title' => 'once'], $key);
        $next = $publisher->publishToTopic($topic, 'Posted');

        self::assertSame([false, true], [$first->duplicate, $again->duplicate]);
        self::assertSame($first->id, $again->id);
        self::assertGreaterThan($first->id, $next->id);
    }

    /** @return iterable<string, array{string}> */
    public static function refusedTopics(): iterable
    {
        yield 'a pattern' => ['product:*'];
        yield 'a star inside a segment' => ['product:4*'];
        yield 'an upper-case namespace' => ['Product:42'];
        yield 'no namespace' => ['product'];
        yield 'an empty segment' => ['product:a::b'];
        yield 'an empty user list' => ['orders:#'];
    }

    /**
     * The worker's own check, past the library's: the body is sent as is.
     *
     * @dataProvider refusedTopics
     */
    public function testAPatternOrMalformedTopicIsRefusedBeforeAnythingIsStored(string $bad): void
    {
        $topic = self::newTopic('product');
        $before = self::publisher()->publishToTopic($topic, 'ProductChanged');
        $body = json_encode(['events' => [
            ['topic' => $topic, 'name' => 'ProductChanged', 'payload' => null],
            ['topic' => $bad, 'name' => 'ProductChanged', 'payload' => null],
        ]]);

        $refusal = self::refusal('/publish', $body);

        self::assertSame(['invalid_topic', 400], [$refusal->getErrorCode(), $refusal->getHttpStatus()]);
        self::assertStringContainsString('events[1].topic', $refusal->getMessage());
        $after = self::publisher()->publishToTopic($topic, 'ProductChanged');
        self::assertFalse($after->duplicate);
        self::assertSame($before->id + 1, $after->id, 'the valid event of the refused batch was not stored');
    }

    public function testTheLibraryRefusesAPatternWithTheSameCodeWithoutSending(): void
    {
        $transport = new RecordingTransport();
        try {
            self::publisher(transport: $transport)->publishToTopic('product:*', 'ProductChanged');
            self::fail('a pattern was published');
        } catch (InvalidInputException $e) {
            self::assertSame(['invalid_topic', null], [$e->getErrorCode(), $e->getHttpStatus()]);
        }
        self::assertSame([], $transport->responses);
    }

    public function testAnUndeclaredNamespaceIsRefused(): void
    {
        $topic = 'undeclared' . bin2hex(random_bytes(3)) . ':x';
        try {
            self::publisher()->publishToTopic($topic, 'X');
            self::fail('an undeclared namespace was accepted');
        } catch (InvalidInputException $e) {
            self::assertSame('unknown_namespace', $e->getErrorCode(), $e->getMessage());
            self::assertContains($e->getHttpStatus(), [400, 207]);
        }
    }

    public function testASubscriberOfAPublicTopicReceivesItsEvents(): void
    {
        $user = self::newUser();
        [$socket] = self::connect($user);
        $topic = self::newTopic('feed');
        $subscribed = self::subscribe($socket, ['topic' => $topic]);
        self::assertSame(['subscribed', $topic], [$subscribed['type'], $subscribed['topic']], json_encode($subscribed));

        $published = self::publisher()->publishToTopic($topic, 'Posted', ['title' => 'Edge']);

        self::assertSame(1, $published->sockets);
        $events = self::events($socket);
        self::assertSame(
            [[$topic, $published->id, 'Posted', ['title' => 'Edge']]],
            array_map(
                static fn (array $e): array => [$e['topic'] ?? null, $e['id'], $e['name'], $e['payload']],
                $events,
            ),
        );
        self::assertGreaterThan($subscribed['last_id'], $published->id);
    }

    public function testPrivateTopicsNeedAGrantFromTheApp(): void
    {
        $user = self::newUser();
        $topic = self::newTopic('private');
        [$socket] = self::connect($user);

        $refused = self::subscribe($socket, ['topic' => $topic]);
        self::assertSame(['unsubscribed', 'topic_forbidden'], [$refused['type'], $refused['error']['code'] ?? null]);
        $forOther = self::tokens()->subscriptionToken(self::newUser(), $topic);
        $refused = self::subscribe($socket, ['topic' => $topic, 'token' => $forOther]);
        self::assertSame('unsubscribed', $refused['type'], 'a subscription token of another user');

        $grant = self::tokens()->subscriptionToken($user, $topic);
        $granted = self::subscribe($socket, ['topic' => $topic, 'token' => $grant]);
        self::assertSame('subscribed', $granted['type'], json_encode($granted));

        [$patternSocket] = self::connect(self::newUser(), topics: ['private:*']);
        self::assertSame('subscribed', self::subscribe($patternSocket, ['topic' => $topic])['type']);

        $published = self::publisher()->publishToTopic($topic, 'Secret');
        self::assertSame(2, $published->sockets);
        self::assertSame([$published->id], array_column(self::events($socket), 'id'));
        self::assertSame([$published->id], array_column(self::events($patternSocket), 'id'));
    }

    /**
     * Sends a subscribe frame for one topic and returns the server's answer to it.
     *
     * @param array<string, mixed> $subscription
     *
     * @return array<string, mixed>
     */
    private static function subscribe(WebSocketClient $socket, array $subscription): array
    {
        $socket->send(json_encode(['type' => 'subscribe', 'topics' => [$subscription]], JSON_UNESCAPED_SLASHES));
        while (($frame = $socket->receive(10)) !== null) {
            if (in_array($frame['type'], ['subscribed', 'unsubscribed', 'error', 'close'], true)) {
                return $frame;
            }
        }
        self::fail('no answer to the subscribe frame for ' . $subscription['topic']);
    }

    /** The exception a signed POST of exactly $body gets. */
    private static function refusal(string $path, string $body): EdgepushException
    {
        $client = new SignedClient(
            self::env('EDGEPUSH_URL'),
            new Signer(self::env('EDGEPUSH_TEST_KEY_ID'), self::env('EDGEPUSH_TEST_PUBLISH_SECRET')),
            new CurlTransport(),
            new RetryPolicy(1),
        );
        try {
            $client->post($path, $body);
        } catch (EdgepushException $e) {
            return $e;
        }
        self::fail("POST $path was accepted: $body");
    }

    /**
     * @param list<int> $ids
     *
     * @return list<int>
     */
    private static function sorted(array $ids): array
    {
        sort($ids);

        return $ids;
    }
}
