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
    }

    /** @dataProvider badKeys */
    public function testRefusesUnusableKeys(string $keyId, string $secret, string $message): void
    {
        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage($message);

        new Signer($keyId, $secret);
    }
}
