<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Event;
use Edgepush\PublishedEvent;
use Edgepush\Tests\Support\WebSocketClient;

/** PHP publishes; a real WebSocket client of that user, authenticated with a PHP-minted token, receives. */
final class DeliveryTest extends IntegrationTestCase
{
    public function testAPublishReachesTheUsersSocket(): void
    {
        $user = self::newUser();
        [$socket, $welcome] = self::connect($user);
        self::assertSame('edgepush.v1', $socket->headers['sec-websocket-protocol'] ?? null);
        self::assertEqualsWithDelta(time() + 600, $welcome['token_expires_at'], 10);

        $published = self::publisher()->publish($user, 'BlogPostCreated', ['title' => 'Héllo ☃', 'tags' => ['a/b']]);

        self::assertEquals(new PublishedEvent($user, $published->id, 1), $published);
        $frame = $socket->receive(10);
        self::assertIsArray($frame);
        self::assertSame(
            ['event', $published->id, 'BlogPostCreated', ['title' => 'Héllo ☃', 'tags' => ['a/b']]],
            [$frame['type'], $frame['id'], $frame['name'], $frame['payload']],
        );
        self::assertGreaterThan($welcome['last_id'], $frame['id']);
    }

    public function testTheTokenCanTravelInTheQueryString(): void
    {
        $user = self::newUser();
        [$socket] = self::connect($user, [], true);

        $published = self::publisher()->publish($user, 'Message', ['text' => 'hi']);

        self::assertSame([$published->id], array_column(self::events($socket), 'id'));
    }

    public function testABatchReachesEachUsersSocketsInOrder(): void
    {
        [$alice, $bob] = [self::newUser(), self::newUser()];
        [$aliceSocket] = self::connect($alice);
        [$bobSocket] = self::connect($bob);

        $published = self::publisher()->publishBatch([
            new Event($alice, 'Message', ['n' => 1]),
            new Event($bob, 'Message', ['n' => 2]),
            new Event($alice, 'Message', ['n' => 3]),
        ]);

        self::assertSame([$alice, $bob, $alice], array_map(static fn (PublishedEvent $e) => $e->user, $published));
        $expected = [[1, $published[0]->id], [3, $published[2]->id]];
        self::assertSame($expected, self::numbersAndIds(self::events($aliceSocket)));
        self::assertSame([[2, $published[1]->id]], self::numbersAndIds(self::events($bobSocket)));
    }

    public function testAnIdempotencyKeyPublishesOnce(): void
    {
        $user = self::newUser();
        [$socket] = self::connect($user);
        $publisher = self::publisher();

        $first = $publisher->publish($user, 'Message', ['text' => 'once'], 'php-it-key-' . $user);
        $again = $publisher->publish($user, 'Message', ['text' => 'once'], 'php-it-key-' . $user);

        self::assertFalse($first->duplicate);
        self::assertTrue($again->duplicate);
        self::assertSame($first->id, $again->id);
        self::assertSame([$first->id], array_column(self::events($socket), 'id'));
    }

    public function testDisconnectLogsTheUserOut(): void
    {
        $user = self::newUser();
        [$socket] = self::connect($user);

        self::assertSame(1, self::publisher()->disconnect($user));

        $close = $socket->receive(10);
        self::assertIsArray($close);
        self::assertSame(['close', 4502], [$close['type'], $close['code']]);
    }

    public function testRevokeRefusesTheUsersOldTokensAndAdmitsNewOnes(): void
    {
        $user = self::newUser();
        $old = self::tokens()->issue($user);
        [$socket] = self::connect($user);

        $revokedAt = self::publisher()->revoke($user);

        self::assertEqualsWithDelta(time(), $revokedAt, 5);
        $close = $socket->receive(10);
        self::assertIsArray($close);
        self::assertSame(['close', 4502], [$close['type'], $close['code']]);
        $refused = new WebSocketClient(self::env('EDGEPUSH_URL'), $old);
        self::assertSame(401, $refused->status);
        self::assertStringContainsString('token_revoked', $refused->refusal);
        self::connect($user); // a token issued now: revoke() returned once the second it revoked at had passed
    }

    /**
     * @param list<array<string, mixed>> $events
     *
     * @return list<array{int, int}>
     */
    private static function numbersAndIds(array $events): array
    {
        return array_map(static fn (array $e): array => [$e['payload']['n'], $e['id']], $events);
    }
}
