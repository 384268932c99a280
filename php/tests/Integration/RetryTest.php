<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Http\CurlTransport;
use Edgepush\RetryPolicy;
use Edgepush\Tests\Support\PhpServer;

/**
 * The worker stores an event but its answer is lost (a 502 from the flaky proxy), the worker
 * restarts (when EDGEPUSH_RESTART_CMD says how) and answers 503 meanwhile; the publisher's
 * automatic retries carry the same idempotency key, so the user still gets the event once.
 */
final class RetryTest extends IntegrationTestCase
{
    public function testRetriesAfterALostAnswerAndARestartDoNotDuplicate(): void
    {
        $proxy = new PhpServer(__DIR__ . '/../Support/flaky-proxy.php', [
            'PROXY_UPSTREAM' => self::env('EDGEPUSH_URL'),
            'PROXY_LOSE' => '1',
            'PROXY_REFUSE' => '1',
        ]);
        $user = self::newUser();
        [, $welcome] = self::connect($user);
        // Long enough for EDGEPUSH_RESTART_CMD to restart the worker while the first request waits.
        $transport = new CurlTransport(180.0);
        $publisher = self::publisher(url: $proxy->url, transport: $transport, retry: new RetryPolicy(4, 100, 500));

        $published = $publisher->publish($user, 'Message', ['text' => 'exactly once']);

        $lines = (array) file($proxy->stateDir . '/proxy.jsonl');
        $log = array_map(static fn (string $line): array => json_decode($line, true), $lines);
        $proxy->stop();
        self::assertSame([502, 503, 202], array_column($log, 'answered'), 'the proxy saw: ' . json_encode($log));
        self::assertSame(self::env('EDGEPUSH_RESTART_CMD') === '' ? 'not configured' : 'restarted', $log[0]['restart']);
        self::assertSame(202, $log[0]['upstream'], 'the worker stored the event whose answer was lost');
        $lost = json_decode($log[0]['upstream_body'], true)['events'][0];
        self::assertTrue($published->duplicate, 'the retry was recognised as the lost request');
        self::assertSame($lost['id'], $published->id);

        // A new socket replays the user's history: the event is in it once.
        [$replay, $resumed] = self::connect($user, ['since' => $welcome['last_id'], 'epoch' => $welcome['epoch']]);
        self::assertTrue($resumed['recovered'] ?? null, 'the history survived: ' . json_encode($resumed));
        self::assertSame([[$published->id, 'exactly once']], array_map(
            static fn (array $event): array => [$event['id'], $event['payload']['text']],
            self::events($replay),
        ));
    }
}
