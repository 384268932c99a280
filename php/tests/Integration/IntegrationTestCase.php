<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Http\Transport;
use Edgepush\Publisher;
use Edgepush\RetryPolicy;
use Edgepush\Tests\Support\WebSocketClient;
use Edgepush\TokenIssuer;
use PHPUnit\Framework\TestCase;

/**
 * Tests against a real worker at EDGEPUSH_URL, started with the test secrets of scripts/env.sh
 * (scripts/worker-under-test.sh does both). Skipped when EDGEPUSH_URL is not set.
 */
abstract class IntegrationTestCase extends TestCase
{
    private const REQUIRED_ENV = [
        'EDGEPUSH_URL',
        'EDGEPUSH_TEST_JWT_SECRET',
        'EDGEPUSH_TEST_KEY_ID',
        'EDGEPUSH_TEST_PUBLISH_SECRET',
    ];

    protected function setUp(): void
    {
        foreach (self::REQUIRED_ENV as $name) {
            if ((string) getenv($name) === '') {
                self::markTestSkipped("$name is not set: run a worker with scripts/worker-under-test.sh PORT DIR, "
                    . 'then `source scripts/env.sh; EDGEPUSH_URL=http://127.0.0.1:PORT '
                    . 'phpunit -c php/phpunit.xml.dist --testsuite integration`.');
            }
        }
    }

    protected static function env(string $name): string
    {
        return (string) getenv($name);
    }

    /** A user id no other test (or earlier run) has used. */
    protected static function newUser(): string
    {
        return 'php-it-' . bin2hex(random_bytes(6));
    }

    protected static function publisher(
        ?string $keyId = null,
        ?string $secret = null,
        ?string $url = null,
        ?Transport $transport = null,
        ?RetryPolicy $retry = null,
    ): Publisher {
        return new Publisher(
            $url ?? self::env('EDGEPUSH_URL'),
            $keyId ?? self::env('EDGEPUSH_TEST_KEY_ID'),
            $secret ?? self::env('EDGEPUSH_TEST_PUBLISH_SECRET'),
            $transport,
            $retry,
        );
    }

    protected static function tokens(): TokenIssuer
    {
        return new TokenIssuer(self::env('EDGEPUSH_TEST_JWT_SECRET'), 600);
    }

    /**
     * Opens a socket for $user with a token minted here (granting $topics), and reads its welcome frame.
     *
     * @param array<string, string|int> $query
     * @param list<string>              $topics topics and patterns the token grants
     * @param list<string>              $subs   topics the token subscribes the connection to from the start
     *
     * @return array{WebSocketClient, array<string, mixed>} the socket and its welcome frame
     */
    protected static function connect(
        string $user,
        array $query = [],
        bool $tokenInQuery = false,
        array $topics = [],
        array $subs = [],
    ): array {
        $token = self::tokens()->issue($user, null, $topics, $subs);
        $socket = new WebSocketClient(self::env('EDGEPUSH_URL'), $token, $query, $tokenInQuery);
        self::assertSame(101, $socket->status, 'the upgrade was refused: ' . $socket->refusal);
        $welcome = $socket->receive(10);
        self::assertIsArray($welcome, 'no welcome frame');
        self::assertSame('welcome', $welcome['type']);
        self::assertSame($user, $welcome['user']);

        return [$socket, $welcome];
    }

    /** A topic no other test (or earlier run) has used, in $namespace. */
    protected static function newTopic(string $namespace): string
    {
        return $namespace . ':php-it-' . bin2hex(random_bytes(6));
    }

    /**
     * The events among the messages that arrive until the socket is quiet for $quiet seconds.
     *
     * @return list<array<string, mixed>>
     */
    protected static function events(WebSocketClient $socket, float $quiet = 1.5): array
    {
        return array_values(array_filter($socket->drain($quiet), static fn (array $m): bool => $m['type'] === 'event'));
    }
}
