<?php

declare(strict_types=1);

namespace Edgepush\Tests\Integration;

use Edgepush\Exception\SignatureRejectedException;

/** The worker refuses bad publish credentials, and the publisher reports them with the typed exception. */
final class SignatureTest extends IntegrationTestCase
{
    public function testAWrongSecretIsRejected(): void
    {
        $wrongSecret = 'a-wrong-secret-that-is-long-enough-0123';

        $this->assertRejected(self::env('EDGEPUSH_TEST_KEY_ID'), $wrongSecret, 'invalid_signature');
    }

    public function testAnUnknownKeyIdIsRejected(): void
    {
        $this->assertRejected('php-it-unknown-key', self::env('EDGEPUSH_TEST_PUBLISH_SECRET'), 'unknown_key');
    }

    public function testTheRotatedKeyIsAccepted(): void
    {
        if (self::env('EDGEPUSH_TEST_ROTATED_KEY_ID') === '') {
            self::markTestSkipped('EDGEPUSH_TEST_ROTATED_KEY_ID is not set (scripts/env.sh sets it)');
        }
        $publisher = self::publisher(
            self::env('EDGEPUSH_TEST_ROTATED_KEY_ID'),
            self::env('EDGEPUSH_TEST_ROTATED_SECRET'),
        );

        self::assertSame(0, $publisher->publish(self::newUser(), 'Message')->sockets);
    }

    private function assertRejected(string $keyId, string $secret, string $code): void
    {
        try {
            self::publisher($keyId, $secret)->publish(self::newUser(), 'Message', ['text' => 'never delivered']);
            self::fail('expected a SignatureRejectedException');
        } catch (SignatureRejectedException $e) {
            self::assertSame($code, $e->getErrorCode());
            self::assertSame(401, $e->getHttpStatus());
            self::assertStringContainsString('PUBLISH_KEYS', $e->getMessage());
        }
    }
}
