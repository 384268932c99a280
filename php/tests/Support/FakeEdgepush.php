<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

/**
 * A stand-in edgepush worker over real HTTP (fake-edgepush-router.php), for the suites that run
 * without the real one: it checks signatures as the server does, answers publish and disconnect
 * calls in the server's shape, plays scripted answers first, and records every request.
 */
final class FakeEdgepush
{
    public const KEY_ID = 'fake-key';
    public const SECRET = 'fake-publish-secret-0123456789abcdef';

    private readonly PhpServer $server;

    public function __construct()
    {
        $this->server = new PhpServer(__DIR__ . '/fake-edgepush-router.php', [
            'FAKE_EDGEPUSH_KEY' => self::KEY_ID . ':' . self::SECRET,
        ]);
    }

    public function url(): string
    {
        return $this->server->url;
    }

    /** Answers the next request with this, before any signature check. */
    public function queue(int $status, string $body): void
    {
        $file = $this->server->stateDir . '/queue.json';
        $queue = is_file($file) ? json_decode((string) file_get_contents($file), true) : [];
        $queue[] = ['status' => $status, 'body' => $body];
        file_put_contents($file, json_encode($queue));
    }

    /** @return list<array{method: string, path: string, headers: array<string, string>, body: string, status: int}> */
    public function requests(): array
    {
        $file = $this->server->stateDir . '/requests.jsonl';
        $lines = is_file($file) ? file($file, FILE_IGNORE_NEW_LINES) : [];

        return array_map(static fn (string $line): array => json_decode($line, true), $lines ?: []);
    }

    public function stop(): void
    {
        $this->server->stop();
    }
}
