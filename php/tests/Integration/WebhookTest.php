<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Tests\Support\PhpServer;

/**
 * The worker's webhooks reach a PHP backend and verify with the library: a receiver under
 * `php -S 127.0.0.1:$EDGEPUSH_WEBHOOK_PORT` (tests/Fixtures/webhook-receiver.php) records each
 * delivery it verified, while a user subscribes to a topic of the `hooks` namespace (public, with
 * webhooks, in scripts/env.sh) and leaves it.
 *
 * Needs a worker whose WEBHOOK_URL points at that port, e.g. started with
 * `--var WEBHOOK_URL:http://127.0.0.1:8791/edgepush/webhook?app=php-it`; skipped unless
 * EDGEPUSH_WEBHOOK_PORT is set.
 */
final class WebhookTest extends IntegrationTestCase
{
    /** Seconds to wait for a delivery (the worker retries after 1, 2, 4, 8 and 16 s). */
    private const PATIENCE = 20.0;

    private ?PhpServer $receiver = null;

    protected function setUp(): void
    {
        parent::setUp();
        foreach (['EDGEPUSH_WEBHOOK_PORT', 'EDGEPUSH_TEST_ROTATED_KEY_ID', 'EDGEPUSH_TEST_ROTATED_SECRET'] as $name) {
            if (self::env($name) === '') {
                self::markTestSkipped("$name is not set: the worker at EDGEPUSH_URL must post its webhooks to a "
                    . 'receiver this test runs, so start it with --var WEBHOOK_URL:http://127.0.0.1:PORT/edgepush/webhook?app=php-it '
                    . 'and set EDGEPUSH_WEBHOOK_PORT=PORT (with the settings of scripts/env.sh).');
            }
        }
        $this->receiver = new PhpServer(__DIR__ . '/../Fixtures/webhook-receiver.php', [], (int) self::env('EDGEPUSH_WEBHOOK_PORT'));
    }

    protected function tearDown(): void
    {
        $this->receiver?->stop();
    }

    public function testASubscriberJoiningAndLeavingIsToldToTheBackendSignedAndInOrder(): void
    {
        $user = self::newUser();
        $topic = self::newTopic('hooks');
        [$socket] = self::connect($user);
        $socket->send(json_encode(['type' => 'subscribe', 'topics' => [['topic' => $topic]]], JSON_UNESCAPED_SLASHES));
        $answer = $socket->receive(10);
        self::assertSame(['subscribed', $topic], [$answer['type'] ?? null, $answer['topic'] ?? null], json_encode($answer));

        $joined = $this->awaitEvents($topic, 2);
        self::assertSame([['occupied', null], ['member_joined', $user]], self::typesAndUsers($joined));
        self::assertSame($joined[0]['ts'], $joined[1]['ts'], 'both come of the same change');
        self::assertEqualsWithDelta(time() * 1000, $joined[0]['ts'], 30_000);

        $socket->close();

        $all = $this->awaitEvents($topic, 4);
        self::assertSame(
            [['occupied', null], ['member_joined', $user], ['member_left', $user], ['vacated', null]],
            self::typesAndUsers($all),
        );
        self::assertGreaterThanOrEqual($joined[1]['ts'], $all[2]['ts']);
        self::assertSame([], $this->refusals(), 'every request the worker sent verified');
    }

    /**
     * The events the receiver verified for $topic, in the order it got them, once there are at
     * least $count (a delivery retried after a lost answer may repeat some; none is expected here).
     *
     * @return list<array{type: string, user: ?string, ts: int}>
     */
    private function awaitEvents(string $topic, int $count): array
    {
        $deadline = microtime(true) + self::PATIENCE;
        do {
            $events = [];
            foreach ($this->lines() as $line) {
                if (($line['topic'] ?? null) === $topic) {
                    array_push($events, ...$line['events']);
                }
            }
            if (count($events) >= $count) {
                return $events;
            }
            usleep(100_000);
        } while (microtime(true) < $deadline);
        self::fail(sprintf(
            'the receiver verified %d event(s) of %s within %d s, not %d: %s (refused: %s)',
            count($events),
            $topic,
            self::PATIENCE,
            $count,
            json_encode($events),
            json_encode($this->refusals()),
        ));
    }

    /** @return list<array<string, mixed>> what the receiver recorded */
    private function lines(): array
    {
        $file = $this->receiver->stateDir . '/webhooks.jsonl';
        $text = is_file($file) ? (string) file_get_contents($file) : '';

        return array_map(
            static fn (string $line): array => json_decode($line, true, 16, JSON_THROW_ON_ERROR),
            array_values(array_filter(explode("\n", $text))),
        );
    }

    /** @return list<array<string, mixed>> */
    private function refusals(): array
    {
        return array_values(array_filter($this->lines(), static fn (array $line): bool => isset($line['refused'])));
    }

    /**
     * @param list<array{type: string, user: ?string, ts: int}> $events
     *
     * @return list<array{string, ?string}>
     */
    private static function typesAndUsers(array $events): array
    {
        return array_map(static fn (array $e): array => [$e['type'], $e['user']], $events);
    }
}
