<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Tests\Support\WebSocketClient;
use Symfony\Component\Mercure\Exception\RuntimeException;
use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\StaticTokenProvider;
use Symfony\Component\Mercure\Update;
use Symfony\Contracts\HttpClient\Exception\HttpExceptionInterface;

/**
 * The worker's Mercure hub (docs/mercure.md) driven by the real symfony/mercure (Debian's
 * php-symfony-mercure): `Hub::publish()` as a Symfony app calls it, and edgepush WebSocket
 * readers of the topics the updates map to. The worker has MERCURE_PUBLISHER_JWT_KEY set to
 * EDGEPUSH_TEST_MERCURE_JWT_SECRET (scripts/worker-under-test.sh).
 */
final class MercureTest extends IntegrationTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        if (self::env('EDGEPUSH_TEST_MERCURE_JWT_SECRET') === '') {
            self::markTestSkipped('EDGEPUSH_TEST_MERCURE_JWT_SECRET is not set: source scripts/env.sh.');
        }
    }

    public function testAPublicUpdateReachesTheEdgepushTopicItNames(): void
    {
        $topic = self::newTopic('feed');
        [$socket] = self::connect(self::newUser());
        self::assertSame('subscribed', self::subscribe($socket, $topic)['type']);

        $id = self::hub()->publish(new Update($topic, '{"title":"Edge"}'));

        self::assertMatchesRegularExpression('/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/D', $id);
        [$event] = self::updates($socket, 1);
        self::assertSame([$topic, 'mercure'], [$event['topic'], $event['name']]);
        self::assertSame(
            ['id' => $id, 'data' => '{"title":"Edge"}', 'private' => false, 'topics' => [$topic]],
            $event['payload'],
        );
    }

    public function testAPrivateUpdateOfAUrlTopicReachesOnlyReadersWithAGrant(): void
    {
        [$url, $mapped] = self::newUrlTopic();
        $granted = self::topicSocket($mapped, ['mercure:*']);
        $other = new WebSocketClient(self::env('EDGEPUSH_URL'), self::tokens()->issue(self::newUser()), ['topic' => $mapped]);
        self::assertSame(403, $other->status);
        self::assertStringContainsString('topic_forbidden', $other->refusal);

        $id = self::hub()->publish(new Update($url, 'for subscribers only', true));

        [$event] = self::updates($granted, 1);
        self::assertSame($mapped, $event['topic']);
        self::assertSame(
            ['id' => $id, 'data' => 'for subscribers only', 'private' => true, 'topics' => [$url]],
            $event['payload'],
        );
    }

    public function testAnUpdateOfSeveralTopicsIsStoredInEachOnce(): void
    {
        [$feed, $product] = [self::newTopic('feed'), self::newTopic('product')];
        [$url, $mapped] = self::newUrlTopic();
        $readers = [];
        foreach ([$feed, $product] as $topic) {
            [$socket] = self::connect(self::newUser());
            self::assertSame('subscribed', self::subscribe($socket, $topic)['type']);
            $readers[$topic] = $socket;
        }
        $readers[$mapped] = self::topicSocket($mapped, ['mercure:*']);

        $id = self::hub()->publish(new Update([$url, $feed, $product], 'three topics'));

        foreach ($readers as $topic => $socket) {
            [$event] = self::updates($socket, 1);
            self::assertSame([$topic, $id], [$event['topic'], $event['payload']['id']]);
            self::assertSame([$url, $feed, $product], $event['payload']['topics'], 'every topic, the first canonical');
        }
    }

    public function testIdTypeAndRetryTravelWithTheUpdateAndTheIdMakesItIdempotent(): void
    {
        $topic = self::newTopic('feed');
        [$socket] = self::connect(self::newUser());
        self::subscribe($socket, $topic);
        $update = new Update($topic, "line 1\nline 2", false, 'urn:php-it:' . bin2hex(random_bytes(6)), 'BookChanged', 2500);

        $id = self::hub()->publish($update);
        $again = self::hub()->publish($update);

        self::assertSame([$update->getId(), $update->getId()], [$id, $again]);
        [$event] = self::updates($socket, 1);
        self::assertSame('BookChanged', $event['name']);
        self::assertSame(
            ['id' => $id, 'data' => "line 1\nline 2", 'private' => false, 'type' => 'BookChanged', 'retry' => 2500, 'topics' => [$topic]],
            $event['payload'],
        );
        self::assertSame([], self::events($socket, 1.0), 'the same id again stored nothing');
    }

    public function testPublishSelectorsMayBeUriTemplates(): void
    {
        [$url, $mapped] = self::newUrlTopic();
        $socket = self::topicSocket($mapped, ['mercure:*']);
        $template = substr($url, 0, (int) strrpos($url, '/')) . '/{id}';

        $id = self::hub(['mercure' => ['publish' => [$template]]])->publish(new Update($url, 'by template'));

        self::assertSame($id, self::updates($socket, 1)[0]['payload']['id']);
    }

    public function testATokenWhoseSelectorsDoNotCoverTheTopicIsRefusedWith403(): void
    {
        $topic = self::newTopic('feed');
        [$socket] = self::connect(self::newUser());
        self::subscribe($socket, $topic);
        [$url] = self::newUrlTopic();

        foreach ([
            'another template' => ['mercure' => ['publish' => ['https://example.com/users/{id}']]],
            'only one of the topics' => ['mercure' => ['publish' => [$url]]],
            'subscribe selectors only' => ['mercure' => ['subscribe' => ['*']]],
        ] as $case => $claims) {
            self::assertSame(403, self::refusedStatus(self::hub($claims), new Update([$url, $topic], 'x')), $case);
        }
        self::assertSame([], self::events($socket, 0.5), 'nothing was stored');
    }

    public function testATokenSignedWithAnotherKeyIsRefusedWith401(): void
    {
        $topic = self::newTopic('feed');
        [$socket] = self::connect(self::newUser());
        self::subscribe($socket, $topic);
        $wrongKey = self::hub(secret: 'not-the-hub-key-0123456789abcdef-0123456789');

        self::assertSame(401, self::refusedStatus($wrongKey, new Update($topic, 'x')));
        $expired = self::hub(['mercure' => ['publish' => ['*']], 'exp' => time() - 60]);
        self::assertSame(401, self::refusedStatus($expired, new Update($topic, 'x')));
        self::assertSame([], self::events($socket, 0.5), 'nothing was stored');
    }

    /**
     * The hub at the worker's /.well-known/mercure with a publisher JWT (HS256) of $claims.
     *
     * @param array<string, mixed> $claims
     */
    private static function hub(array $claims = ['mercure' => ['publish' => ['*']]], ?string $secret = null): Hub
    {
        $secret ??= self::env('EDGEPUSH_TEST_MERCURE_JWT_SECRET');
        $encode = static fn (string $bytes): string => rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
        $input = $encode('{"alg":"HS256","typ":"JWT"}') . '.' . $encode((string) json_encode($claims, JSON_UNESCAPED_SLASHES));
        $jwt = $input . '.' . $encode(hash_hmac('sha256', $input, $secret, true));

        return new Hub(rtrim(self::env('EDGEPUSH_URL'), '/') . '/.well-known/mercure', new StaticTokenProvider($jwt));
    }

    /** The HTTP status with which the hub refused $update. */
    private static function refusedStatus(Hub $hub, Update $update): int
    {
        try {
            $id = $hub->publish($update);
        } catch (RuntimeException $e) {
            $cause = $e->getPrevious();
            self::assertInstanceOf(HttpExceptionInterface::class, $cause, $e->getMessage());

            return $cause->getResponse()->getStatusCode();
        }
        self::fail("the update was accepted as $id");
    }

    /**
     * A URL topic no other test has used, and the edgepush topic it maps to.
     *
     * @return array{string, string}
     */
    private static function newUrlTopic(): array
    {
        $path = 'example.com/php-it-' . bin2hex(random_bytes(6)) . '/books/1';

        return ['https://' . $path, 'mercure:https%3A//' . $path];
    }

    /**
     * Sends a subscribe frame for $topic and returns the answer to it.
     *
     * @return array<string, mixed>
     */
    /**
     * A topic socket reading $topic (`/connect?topic=`), as the `mercure` namespace, which has a
     * shard, is read; its `subscribed` frame is checked.
     *
     * @param list<string> $grants the connect token's `topics` claim
     */
    private static function topicSocket(string $topic, array $grants): WebSocketClient
    {
        $token = self::tokens()->issue(self::newUser(), null, $grants);
        $socket = new WebSocketClient(self::env('EDGEPUSH_URL'), $token, ['topic' => $topic]);
        self::assertSame(101, $socket->status, 'the upgrade was refused: ' . $socket->refusal);
        $first = $socket->receive(10);
        self::assertSame(['subscribed', $topic], [$first['type'] ?? null, $first['topic'] ?? null]);

        return $socket;
    }

    private static function subscribe(WebSocketClient $socket, string $topic): array
    {
        $socket->send(json_encode(['type' => 'subscribe', 'topics' => [['topic' => $topic]]], JSON_UNESCAPED_SLASHES));
        while (($frame = $socket->receive(10)) !== null) {
            if (in_array($frame['type'], ['subscribed', 'unsubscribed'], true) && $frame['topic'] === $topic) {
                return $frame;
            }
            self::assertNotSame('close', $frame['type'], json_encode($frame));
        }
        self::fail("no answer to the subscribe frame for $topic");
    }

    /**
     * The next $count events, each within 10 s.
     *
     * @return list<array<string, mixed>>
     */
    private static function updates(WebSocketClient $socket, int $count): array
    {
        $events = [];
        while (count($events) < $count && ($frame = $socket->receive(10)) !== null) {
            self::assertNotSame('close', $frame['type'], json_encode($frame));
            if ($frame['type'] === 'event') {
                $events[] = $frame;
            }
        }
        self::assertCount($count, $events, 'the update did not arrive');

        return $events;
    }
}
