<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Claims;
use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Recipient;
use Edgepush\Tests\Support\Vectors;
use Edgepush\TokenIssuer;
use Edgepush\Topic;
use PHPUnit\Framework\TestCase;

final class TokenIssuerTest extends TestCase
{
    private const SECRET = 'jwt-test-secret-0123456789abcdef-0123456789';

    /** @return iterable<string, array{array<string, mixed>}> */
    public static function tokenVectors(): iterable
    {
        foreach (Vectors::load()['tokens'] as $vector) {
            yield $vector['description'] => [$vector];
        }
    }

    /**
     * @dataProvider tokenVectors
     *
     * @param array<string, mixed> $vector
     */
    public function testReproducesTheSharedTokenVectors(array $vector): void
    {
        $c = $vector['claims'];
        $claims = new Claims(
            $c['sub'],
            $c['exp'],
            $c['nbf'] ?? null,
            $c['iat'] ?? null,
            $c['aud'] ?? null,
            $c['iss'] ?? null,
        );

        self::assertSame($vector['token'], (new TokenIssuer($vector['secret']))->mint($claims));
    }

    public function testMintsTheTokensTheServersVerifierAccepts(): void
    {
        $vectors = Vectors::load();
        $accepted = array_filter($vectors['token_checks'], static fn (array $check): bool => $check['error'] === null);
        $minted = array_column($vectors['tokens'], 'token');
        $reproducible = array_filter($accepted, static fn (array $c): bool => in_array($c['token'], $minted, true));

        // Every accepted token this library can mint (all but the hand-made integer-sub one) is a
        // vector reproduced above.
        self::assertCount(count($accepted) - 1, $reproducible);
    }

    public function testIssuesATokenForTheUserWithTheConfiguredClaims(): void
    {
        $before = time();
        $token = (new TokenIssuer(self::SECRET, 600, 'edgepush', 'https://app.example'))->issue(42);
        $after = time();

        [$header, $claims] = self::decode($token);
        self::assertSame('{"alg":"HS256","typ":"JWT"}', $header);
        $decoded = json_decode($claims, true);
        self::assertSame(['sub', 'exp', 'iat', 'aud', 'iss'], array_keys($decoded));
        self::assertSame('42', $decoded['sub']);
        self::assertGreaterThanOrEqual($before, $decoded['iat']);
        self::assertLessThanOrEqual($after, $decoded['iat']);
        self::assertSame($decoded['iat'] + 600, $decoded['exp']);
        self::assertSame(['edgepush', 'https://app.example'], [$decoded['aud'], $decoded['iss']]);
        self::assertStringContainsString('"iss":"https://app.example"', $claims, 'slashes stay unescaped');
    }

    public function testTheSignatureCoversHeaderAndClaims(): void
    {
        $token = (new TokenIssuer(self::SECRET))->issue('user-7');
        $dot = (int) strrpos($token, '.');
        $mac = hash_hmac('sha256', substr($token, 0, $dot), self::SECRET, true);

        self::assertSame(rtrim(strtr(base64_encode($mac), '+/', '-_'), '='), substr($token, $dot + 1));
        self::assertDoesNotMatchRegularExpression('/[+\/=]/', $token);
    }

    /** Unlike the publish keys, the worker takes JWT_SECRET as it is (server/src/config.rs): so does the issuer. */
    public function testUsesTheSecretByteForByteAsTheWorkerUsesJwtSecret(): void
    {
        $claims = new Claims('42', 2_000_000_000);
        $token = (new TokenIssuer(self::SECRET . "\n"))->mint($claims);
        $dot = (int) strrpos($token, '.');
        $mac = hash_hmac('sha256', substr($token, 0, $dot), self::SECRET . "\n", true);

        self::assertSame(rtrim(strtr(base64_encode($mac), '+/', '-_'), '='), substr($token, $dot + 1));
        self::assertNotSame((new TokenIssuer(self::SECRET))->mint($claims), $token);
    }

    public function testTakesRecipientsAndAPerCallTtl(): void
    {
        $user = new class () implements Recipient {
            public function getEdgepushUserId(): string|int
            {
                return 'béa';
            }
        };
        $decoded = json_decode(self::decode((new TokenIssuer(self::SECRET))->issue($user, 60))[1], true);

        self::assertSame('béa', $decoded['sub']);
        self::assertSame(60, $decoded['exp'] - $decoded['iat']);
        self::assertArrayNotHasKey('aud', $decoded);
    }

    public function testRefusesAShortSecret(): void
    {
        $this->expectExceptionObject(new ConfigurationException(
            'The edgepush JWT secret is 31 bytes; it must be at least 32, the same as the server\'s JWT_SECRET '
            . '(generate one with: openssl rand -hex 32).',
        ));

        new TokenIssuer(str_repeat('s', 31));
    }

    public function testRefusesAZeroTtl(): void
    {
        $this->expectException(ConfigurationException::class);

        new TokenIssuer(self::SECRET, 0);
    }

    public function testRefusesInvalidUsersAndTtls(): void
    {
        $issuer = new TokenIssuer(self::SECRET);
        foreach ([['', null], ["a\nb", null], ['42', -5]] as [$user, $ttl]) {
            try {
                $issuer->issue($user, $ttl);
                self::fail('expected an InvalidInputException');
            } catch (InvalidInputException $e) {
                self::assertSame('invalid_field', $e->getErrorCode());
            }
        }
    }

    public function testConnectTokensCarryTopicGrantsLastAndOnlyWhenGiven(): void
    {
        $issuer = new TokenIssuer(self::SECRET);
        $claims = new Claims('42', 1767229200, topics: ['product:*', 'private:x']);

        self::assertSame(
            '{"sub":"42","exp":1767229200,"topics":["product:*","private:x"]}',
            self::decode($issuer->mint($claims))[1],
        );
        self::assertSame('{"sub":"42","exp":1767229200}', self::decode($issuer->mint(new Claims('42', 1767229200)))[1]);

        $token = $issuer->issue(42, topics: ['product:*', new Topic('private:x'), 'product:*']);
        $decoded = json_decode(self::decode($token)[1], true);
        self::assertSame(['sub', 'exp', 'iat', 'topics'], array_keys($decoded));
        self::assertSame(['product:*', 'private:x'], $decoded['topics']);
        self::assertArrayNotHasKey('topics', json_decode(self::decode($issuer->issue(42))[1], true));
    }

    public function testRefusesMalformedTopicGrants(): void
    {
        foreach (['product:4*', '*:x', 'Product:1', 'product'] as $grant) {
            try {
                (new TokenIssuer(self::SECRET))->issue(42, topics: [$grant]);
                self::fail("$grant was granted");
            } catch (InvalidInputException $e) {
                self::assertSame('invalid_topic', $e->getErrorCode());
            }
        }
    }

    public function testConnectTokensSubscribeToTopicsFromTheStartAfterTheGrants(): void
    {
        $issuer = new TokenIssuer(self::SECRET);
        $claims = new Claims('42', 1767229200, topics: ['product:*'], subs: ['feed:all', 'orders:#42']);

        self::assertSame(
            '{"sub":"42","exp":1767229200,"topics":["product:*"],"subs":["feed:all","orders:#42"]}',
            self::decode($issuer->mint($claims))[1],
        );

        $token = $issuer->issue(42, subs: ['feed:all', Topic::ofUsers('orders', 42), 'feed:all']);
        $decoded = json_decode(self::decode($token)[1], true);
        self::assertSame(['sub', 'exp', 'iat', 'subs'], array_keys($decoded));
        self::assertSame(['feed:all', 'orders:#42'], $decoded['subs']);
        self::assertArrayNotHasKey('subs', json_decode(self::decode($issuer->issue(42, topics: ['x:*']))[1], true));
    }

    public function testRefusesPatternsAndMalformedTopicsAsSubscriptions(): void
    {
        foreach (['feed:*', 'product:4*', 'Feed:all', 'feed'] as $topic) {
            try {
                (new TokenIssuer(self::SECRET))->issue(42, subs: [$topic]);
                self::fail("$topic was subscribed");
            } catch (InvalidInputException $e) {
                self::assertSame('invalid_topic', $e->getErrorCode());
            }
        }
    }

    public function testSubscriptionTokensGrantOneTopicToOneUser(): void
    {
        $before = time();
        $token = (new TokenIssuer(self::SECRET, 600))->subscriptionToken(42, 'private:x');
        $after = time();

        [$header, $claims] = self::decode($token);
        self::assertSame('{"alg":"HS256","typ":"JWT"}', $header);
        $decoded = json_decode($claims, true);
        self::assertSame(['sub', 'topic', 'exp'], array_keys($decoded));
        self::assertSame(['42', 'private:x'], [$decoded['sub'], $decoded['topic']]);
        self::assertGreaterThanOrEqual($before + 600, $decoded['exp']);
        self::assertLessThanOrEqual($after + 600, $decoded['exp']);
        $dot = (int) strrpos($token, '.');
        $mac = hash_hmac('sha256', substr($token, 0, $dot), self::SECRET, true);
        self::assertSame(rtrim(strtr(base64_encode($mac), '+/', '-_'), '='), substr($token, $dot + 1));

        $token = (new TokenIssuer(self::SECRET))->subscriptionToken('7', Topic::ofUsers('dm', 7, 42), 30);
        $own = json_decode(self::decode($token)[1], true);
        self::assertSame('dm:#7,42', $own['topic']);
        self::assertLessThanOrEqual(time() + 30, $own['exp']);
    }

    /** @return iterable<string, array{string, ?int, string}> */
    public static function refusedSubscriptions(): iterable
    {
        yield 'a pattern' => ['product:*', null, 'invalid_topic'];
        yield 'a malformed topic' => ['product', null, 'invalid_topic'];
        yield 'another user\'s topic' => ['orders:#7', null, 'topic_forbidden'];
        yield 'a lookalike of the user\'s topic' => ['orders:#042', null, 'topic_forbidden'];
        yield 'a zero TTL' => ['private:x', 0, 'invalid_field'];
    }

    /** @dataProvider refusedSubscriptions */
    public function testRefusesSubscriptionTokensNoServerWouldHonour(string $topic, ?int $ttl, string $code): void
    {
        try {
            (new TokenIssuer(self::SECRET))->subscriptionToken(42, $topic, $ttl);
            self::fail('a token was issued');
        } catch (InvalidInputException $e) {
            self::assertSame($code, $e->getErrorCode());
        }
    }

    public function testTheSizeLimitIsTheWorkers(): void
    {
        $source = (string) file_get_contents(__DIR__ . '/../../../protocol/src/token.rs');

        self::assertSame(1, preg_match('/pub const MAX_TOKEN_BYTES: usize = (\d+);/', $source, $m));
        self::assertSame((int) $m[1], TokenIssuer::MAX_TOKEN_BYTES);
    }

    public function testRefusesAConnectTokenTheWorkerWouldRefuseAsTooLarge(): void
    {
        $topics = array_map(static fn (int $i): string => sprintf('product:%060d', $i), range(1, 60));
        try {
            (new TokenIssuer(self::SECRET))->issue(42, topics: $topics);
            self::fail('a token was issued');
        } catch (PayloadTooLargeException $e) {
            self::assertInstanceOf(InvalidInputException::class, $e);
            self::assertSame('token_too_large', $e->getErrorCode());
            $expected = '/^The connect token would be 5\d{3} bytes; the worker refuses tokens over 4096 bytes /';
            self::assertMatchesRegularExpression($expected, $e->getMessage());
        }
        self::assertNotEmpty((new TokenIssuer(self::SECRET))->issue(42, topics: array_slice($topics, 0, 30)));
    }

    public function testMintsTokensOfUpToTheLimit(): void
    {
        $issuer = new TokenIssuer(self::SECRET);
        $longest = 0;
        for ($length = 2900; $length < 3100; ++$length) {
            try {
                $longest = max($longest, strlen($issuer->mint(new Claims(str_repeat('u', $length), 2_000_000_000))));
            } catch (PayloadTooLargeException $e) {
                self::assertSame('token_too_large', $e->getErrorCode());
                self::assertSame(TokenIssuer::MAX_TOKEN_BYTES, $longest, 'the longest token minted');

                return;
            }
        }
        self::fail('no token was refused');
    }

    /** @return array{string, string} the header and claims JSON */
    private static function decode(string $token): array
    {
        $parts = explode('.', $token);
        self::assertCount(3, $parts);

        return [base64_decode(strtr($parts[0], '-_', '+/')), base64_decode(strtr($parts[1], '-_', '+/'))];
    }
}
