<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\Tests\Support\RecordingTransport;
use Edgepush\Tests\Support\WebSocketClient;
use Edgepush\Topic;
use Edgepush\TopicPresence;
use Edgepush\UserPresence;

/**
 * Signed `GET /presence` against a real worker whose TOPIC_NAMESPACES (scripts/env.sh) make
 * `live` public with presence and `feed` public without it.
 */
final class PresenceTest extends IntegrationTestCase
{
    public function testAUserIsOnlineWhileASocketIsOpen(): void
    {
        $user = self::newUser();
        $transport = new RecordingTransport();
        $publisher = self::publisher(transport: $transport);

        self::assertEquals(new UserPresence($user, false, 0), $publisher->presenceOfUser($user));
        self::assertSame(200, $transport->responses[0]->status);
        [$first] = self::connect($user);
        [$second] = self::connect($user);
        self::assertEquals(new UserPresence($user, true, 2), $publisher->presenceOfUser($user));

        $second->close();
        self::assertSame(1, self::eventually(
            static fn (): int => $publisher->presenceOfUser($user)->sockets,
            1,
        ), 'the closed socket is no longer counted');
        $first->close();
        self::assertFalse(self::eventually(static fn (): bool => $publisher->presenceOfUser($user)->online, false));
    }

    public function testAnyUserIdReachesItsOwnRoomThroughTheQuery(): void
    {
        // Characters that mean something in a query or a URL: each must arrive as itself, and
        // the signature must cover the query as sent.
        $user = self::newUser() . ' a&b=c#d+e/f?g%2Fé';
        [$socket] = self::connect($user);

        self::assertEquals(new UserPresence($user, true, 1), self::publisher()->presenceOfUser($user));
        self::assertEquals(new UserPresence($user . 'x', false, 0), self::publisher()->presenceOfUser($user . 'x'));
        $socket->close();
    }

    public function testATopicWithPresenceListsItsReaders(): void
    {
        [$a, $b] = [self::newUser(), self::newUser()];
        $topic = self::newTopic('live');
        $publisher = self::publisher();
        self::assertEquals(new TopicPresence($topic, 0, []), $publisher->presenceOfTopic($topic));

        [$aTab] = self::connect($a);
        [$aOtherTab] = self::connect($a);
        [$bTab] = self::connect($b);
        foreach ([$aTab, $aOtherTab, $bTab] as $socket) {
            self::subscribeTo($socket, $topic);
        }

        $presence = self::eventually(static fn (): TopicPresence => $publisher->presenceOfTopic(new Topic($topic)), 3, 'occupancy');
        self::assertSame($topic, $presence->topic);
        self::assertSame(3, $presence->occupancy, 'three sockets');
        self::assertEqualsCanonicalizing([$a, $b], $presence->users, 'two users');

        $bTab->close();
        $presence = self::eventually(static fn (): TopicPresence => $publisher->presenceOfTopic($topic), 2, 'occupancy');
        self::assertSame([$a], $presence->users);
    }

    public function testATopicWithoutPresenceIsCountedButNotListed(): void
    {
        $user = self::newUser();
        $topic = self::newTopic('feed');
        [$socket] = self::connect($user);
        self::subscribeTo($socket, $topic);
        // A relay replaces every member's count with what the member answers.
        self::assertSame(1, self::publisher()->publishToTopic($topic, 'Posted')->sockets);

        self::assertEquals(new TopicPresence($topic, 1, null), self::publisher()->presenceOfTopic($topic));
    }

    public function testATopicThatBelongsToAUserIsAskedForByItsExactName(): void
    {
        $user = self::newUser();
        $topic = Topic::ofUsers('orders', $user);
        [$socket] = self::connect($user);
        self::assertSame(1, self::publisher()->subscribe($user, [$topic])->sockets);
        self::assertSame('subscribed', self::answerFor($socket, $topic->name)['type']);
        self::assertSame(1, self::publisher()->publish($topic, 'OrderShipped')->sockets);

        $presence = self::publisher()->presenceOfTopic($topic);

        self::assertSame([$topic->name, 1], [$presence->topic, $presence->occupancy]);
    }

    public function testAnUndeclaredNamespaceIsRefused(): void
    {
        try {
            self::publisher()->presenceOfTopic('undeclared' . bin2hex(random_bytes(3)) . ':x');
            self::fail('an undeclared namespace was answered');
        } catch (InvalidInputException $e) {
            self::assertSame(['unknown_namespace', 400], [$e->getErrorCode(), $e->getHttpStatus()]);
        }
    }

    /** @return iterable<string, array{string, string, string}> */
    public static function badKeys(): iterable
    {
        yield 'a wrong secret' => ['EDGEPUSH_TEST_KEY_ID', str_repeat('w', 40), 'invalid_signature'];
        yield 'the secret of another key' => ['EDGEPUSH_TEST_KEY_ID', 'EDGEPUSH_TEST_ROTATED_SECRET', 'invalid_signature'];
        yield 'an unknown key' => ['nope', str_repeat('w', 40), 'unknown_key'];
    }

    /** @dataProvider badKeys */
    public function testABadPublishKeyIsRefused(string $keyId, string $secret, string $code): void
    {
        $keyId = str_starts_with($keyId, 'EDGEPUSH_') ? self::env($keyId) : $keyId;
        $secret = str_starts_with($secret, 'EDGEPUSH_') ? self::env($secret) : $secret;
        try {
            self::publisher($keyId, $secret)->presenceOfUser(self::newUser());
            self::fail('answered');
        } catch (SignatureRejectedException $e) {
            self::assertSame([$code, 401], [$e->getErrorCode(), $e->getHttpStatus()], $e->getMessage());
        }
    }

    /**
     * Asks $ask until its answer (or the answer's $property) is $expected, for up to 10 s, and
     * returns the last answer: counts follow opens and closes a moment later.
     *
     * @template T
     *
     * @param callable(): T $ask
     *
     * @return T
     */
    private static function eventually(callable $ask, mixed $expected, ?string $property = null): mixed
    {
        $deadline = microtime(true) + 10;
        do {
            $answer = $ask();
            $value = $property === null ? $answer : $answer->{$property};
            if ($value === $expected || microtime(true) > $deadline) {
                return $answer;
            }
            usleep(100_000);
        } while (true);
    }

    private static function subscribeTo(WebSocketClient $socket, string $topic): void
    {
        $socket->send(json_encode(['type' => 'subscribe', 'topics' => [['topic' => $topic]]]));
        self::assertSame('subscribed', self::answerFor($socket, $topic)['type']);
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
}
