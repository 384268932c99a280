<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Signer;
use Edgepush\Tests\Support\Vectors;
use PHPUnit\Framework\TestCase;

final class SignerTest extends TestCase
{
    /** @return iterable<string, array{array<string, mixed>}> */
    public static function signatureVectors(): iterable
    {
        foreach (Vectors::load()['signatures'] as $vector) {
            yield $vector['description'] => [$vector];
        }
    }

    /**
     * @dataProvider signatureVectors
     *
     * @param array<string, mixed> $vector
     */
    public function testReproducesTheSharedSignatureVectors(array $vector): void
    {
        $signer = new Signer($vector['key_id'], $vector['secret']);

        $header = $signer->sign($vector['timestamp'], $vector['method'], $vector['path'], $vector['body']);

        self::assertSame($vector['header'], $header);
    }

    public function testReproducesTheHeadersTheServerAccepts(): void
    {
        $checks = Vectors::load()['signature_checks'];
        $secrets = [];
        foreach (explode(',', $checks['keys']) as $entry) {
            [$id, $secret] = explode(':', $entry, 2);
            $secrets[$id] = $secret;
        }
        $accepted = array_filter($checks['cases'], static fn (array $case): bool => $case['error'] === null);
        self::assertNotEmpty($accepted);
        foreach ($accepted as $case) {
            preg_match('/^keyid=([^,]+),t=(\d+),/', $case['header'], $m);
            $signer = new Signer($m[1], $secrets[$m[1]]);
            $header = $signer->sign((int) $m[2], $case['method'], $case['path'], $case['body']);
            self::assertSame($case['header'], $header, $case['description']);
        }
    }

    /** @return iterable<string, array{array<string, mixed>}> */
    public static function signatureChecks(): iterable
    {
        foreach (Vectors::load()['signature_checks']['cases'] as $case) {
            yield $case['description'] => [$case];
        }
    }

    /**
     * Every case the worker's verifier is tested with gets the same answer here.
     *
     * @dataProvider signatureChecks
     *
     * @param array<string, mixed> $case
     */
    public function testVerifiesTheSharedSignatureChecksAsTheWorkerDoes(array $case): void
    {
        $refusal = Signer::verify($case['header'], $case['method'], $case['path'], $case['body'], $case['now'], self::checkKeys());

        self::assertSame($case['error'], $refusal);
    }

    public function testEachRotationKeyVerifiesWhatItSigned(): void
    {
        $keys = self::checkKeys();
        foreach ($keys as $key) {
            $header = $key->sign(1_700_000_000, 'POST', '/edgepush/webhook?app=1', '{}');
            self::assertNull(Signer::verify($header, 'POST', '/edgepush/webhook?app=1', '{}', 1_700_000_000, $keys));
            self::assertNull(Signer::verify($header, 'POST', '/edgepush/webhook?app=1', '{}', 1_700_000_000, $key));
        }
        $onlyFirst = Signer::verify($keys[1]->sign(1_700_000_000, 'POST', '/', ''), 'POST', '/', '', 1_700_000_000, $keys[0]);
        self::assertSame('unknown_key', $onlyFirst);
        self::assertSame('unknown_key', Signer::verify($keys[0]->sign(1, 'POST', '/', ''), 'POST', '/', '', 1, []));
    }

    public function testAnyChangeToTheRequestIsAMismatchAndTheToleranceIs300Seconds(): void
    {
        $key = new Signer('k1', str_repeat('s', 32));
        $now = 1_700_000_000;
        $header = $key->sign($now, 'POST', '/hook?v=1', '{"a":1}');
        $verify = static fn (string $h, string $method = 'POST', string $target = '/hook?v=1', string $body = '{"a":1}', int $at = 1_700_000_000): ?string
            => Signer::verify($h, $method, $target, $body, $at, $key);

        self::assertNull($verify($header));
        self::assertSame('invalid_signature', $verify($header, body: '{"a":2}'));
        self::assertSame('invalid_signature', $verify($header, method: 'PUT'));
        self::assertSame('invalid_signature', $verify($header, target: '/hook'));
        self::assertSame('invalid_signature', $verify(str_replace("t=$now", 't=' . ($now + 1), $header)));
        self::assertNull($verify(substr($header, 0, -64) . strtoupper(substr($header, -64))), 'upper-case hex');
        self::assertNull($verify(' keyid=k1 , t=' . $now . ' , v1=' . substr($header, -64) . ' ,x=y'));
        self::assertNull($verify($key->sign($now - 300, 'POST', '/hook?v=1', '{"a":1}')));
        self::assertNull($verify($key->sign($now + 300, 'POST', '/hook?v=1', '{"a":1}')));
        self::assertSame('stale_timestamp', $verify($key->sign($now - 301, 'POST', '/hook?v=1', '{"a":1}')));
        self::assertSame('stale_timestamp', $verify($key->sign($now + 301, 'POST', '/hook?v=1', '{"a":1}')));
    }

    public function testExtremeTimestampsAreStaleNotAnOverflow(): void
    {
        $key = new Signer('k1', str_repeat('s', 32));
        foreach ([PHP_INT_MIN, PHP_INT_MIN + 1_700_000_000, PHP_INT_MIN + 1, PHP_INT_MAX, -1] as $t) {
            $header = $key->sign($t, 'POST', '/', '');
            self::assertSame('stale_timestamp', Signer::verify($header, 'POST', '/', '', 1_700_000_000, $key), "t=$t");
        }
        $header = 'keyid=k1,t=+1700000000,v1=' . substr($key->sign(1_700_000_000, 'POST', '/', ''), -64);
        self::assertNull(Signer::verify($header, 'POST', '/', '', 1_700_000_000, $key), 'a + sign, as Rust parses it');
    }

    /** @return iterable<string, array{string}> */
    public static function malformedHeaders(): iterable
    {
        $v1 = str_repeat('0', 64);
        foreach ([
            '',
            'garbage',
            'keyid=k1',
            'keyid=k1,t=abc,v1=00',
            'keyid=k1,t=1700000000',
            'keyid=k1,t=1700000000,v1=zz',
            'keyid=k1,t=1700000000,v1=' . str_repeat('g', 64),
            'keyid=k1,t=1700000000,v1=' . $v1 . '0',
            'keyid=k1,keyid=k2,t=1,v1=00',
            "keyid=k1,t=1700000000,v1=$v1,",
            "keyid=k1,t=1700000000,t=1700000000,v1=$v1",
            "keyid=k1,t=9223372036854775808,v1=$v1",
            "keyid=k1,t=1.5,v1=$v1",
            "keyid=k1,t= 1700000000,v1=$v1",
            "t=1700000000,v1=$v1",
        ] as $header) {
            yield var_export($header, true) => [$header];
        }
    }

    /** @dataProvider malformedHeaders */
    public function testMalformedHeadersAreInvalidSignatures(string $header): void
    {
        self::assertSame('invalid_signature', Signer::verify($header, 'POST', '/', '', 1_700_000_000, new Signer('k1', str_repeat('s', 32))));
    }

    /** @return list<Signer> the keys of the shared signature checks, in order */
    private static function checkKeys(): array
    {
        $keys = [];
        foreach (explode(',', Vectors::load()['signature_checks']['keys']) as $entry) {
            [$id, $secret] = explode(':', $entry, 2);
            $keys[] = new Signer($id, $secret);
        }

        return $keys;
    }

    /** @return iterable<string, array{string}> */
    public static function whiteSpaceAroundSecrets(): iterable
    {
        yield 'a trailing newline (a secret file)' => ["\n"];
        yield 'CRLF' => ["\r\n"];
        yield 'spaces and tabs' => [" \t "];
        yield 'vertical tab and form feed' => ["\x0B\x0C"];
        yield 'no-break and ideographic spaces' => ["\u{A0}\u{3000}\u{2028}"];
    }

    /**
     * The worker trims each secret of PUBLISH_KEYS (Rust's `str::trim`, `protocol/src/signature.rs`),
     * so a secret read from a file or a Docker secret with a trailing newline is the same key here.
     *
     * @dataProvider whiteSpaceAroundSecrets
     */
    public function testTrimsTheSecretAsTheWorkerTrimsPublishKeys(string $space): void
    {
        $vector = Vectors::load()['signatures'][0];
        $signer = new Signer($vector['key_id'], $space . $vector['secret'] . $space);

        $header = $signer->sign($vector['timestamp'], $vector['method'], $vector['path'], $vector['body']);

        self::assertSame($vector['header'], $header);
    }

    public function testKeepsWhatRustsTrimKeeps(): void
    {
        $secret = str_repeat('s', 32);
        $plain = (new Signer('k1', $secret))->sign(1, 'POST', '/', '');

        // NUL, zero-width space, BOM: not White_Space (leading: HMAC pads a short key with NULs anyway)
        foreach (["\0", "\u{200B}", "\u{FEFF}"] as $kept) {
            self::assertNotSame($plain, (new Signer('k1', $kept . $secret))->sign(1, 'POST', '/', ''), bin2hex($kept));
        }
        self::assertStringContainsString('is 30 bytes', (string) self::refusal(str_repeat('s', 30) . "\u{A0}"));
        self::assertNull(self::refusal("\0" . str_repeat('s', 31)), 'NUL counts, as in Rust');
        $inner = (new Signer('k1', 's s' . substr($secret, 3)))->sign(1, 'POST', '/', '');
        self::assertNotSame($plain, $inner, 'white space inside is kept');
    }

    /** The message of the ConfigurationException for $secret; null: accepted. */
    private static function refusal(string $secret): ?string
    {
        try {
            new Signer('k1', $secret);

            return null;
        } catch (ConfigurationException $e) {
            return $e->getMessage();
        }
    }

    public function testAcceptsTheLongestKeyIdAndTheShortestSecret(): void
    {
        $signer = new Signer(str_repeat('a', 64), str_repeat('s', 32));

        self::assertSame(str_repeat('a', 64), $signer->keyId);
    }

    /** @return iterable<string, array{string, string, string}> */
    public static function badKeys(): iterable
    {
        $secret = str_repeat('s', 32);
        yield 'empty id' => ['', $secret, 'is invalid'];
        yield 'id of 65 bytes' => [str_repeat('a', 65), $secret, 'is invalid'];
        yield 'id with a space' => ['my key', $secret, 'is invalid'];
        yield 'id with a colon' => ['k:1', $secret, 'is invalid'];
        yield 'id with a trailing newline' => ["k1\n", $secret, 'is invalid'];
        yield 'secret of 31 bytes' => ['k1', str_repeat('s', 31), 'is 31 bytes'];
        yield 'secret of 31 bytes and a newline' => ['k1', str_repeat('s', 31) . "\n", 'is 31 bytes'];
    }

    /** @dataProvider badKeys */
    public function testRefusesUnusableKeys(string $keyId, string $secret, string $message): void
    {
        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage($message);

        new Signer($keyId, $secret);
    }
}
