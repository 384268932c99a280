<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Claims;
use Edgepush\Tests\Support\WebSocketClient;
use Edgepush\TokenIssuer;

/** The worker accepts tokens minted by TokenIssuer, and refuses forged and expired ones before upgrading. */
final class ConnectTokenTest extends IntegrationTestCase
{
    public function testAMintedTokenOpensASocketForItsSubject(): void
    {
        $user = self::newUser();

        [, $welcome] = self::connect($user);

        self::assertSame(25000, $welcome['heartbeat_ms']);
        self::assertIsString($welcome['epoch']);
    }

    public function testAnIntegerUserIdIsItsDecimalString(): void
    {
        $id = random_int(1_000_000, PHP_INT_MAX);
        $socket = new WebSocketClient(self::env('EDGEPUSH_URL'), self::tokens()->issue($id));

        self::assertSame(101, $socket->status, $socket->refusal);
        self::assertSame((string) $id, $socket->receive(10)['user'] ?? null);
    }

    public function testATokenSignedWithAnotherSecretIsRefused(): void
    {
        $token = (new TokenIssuer(str_repeat('not-the-servers-secret', 2)))->issue(self::newUser());

        self::assertRefused(new WebSocketClient(self::env('EDGEPUSH_URL'), $token), 'invalid_token');
    }

    public function testAnExpiredTokenIsRefused(): void
    {
        $token = self::tokens()->mint(new Claims(self::newUser(), time() - 120));

        self::assertRefused(new WebSocketClient(self::env('EDGEPUSH_URL'), $token), 'token_expired');
    }

    private static function assertRefused(WebSocketClient $socket, string $code): void
    {
        self::assertSame(401, $socket->status);
        self::assertSame($code, json_decode($socket->refusal, true)['error']['code'] ?? null, $socket->refusal);
    }
}
