<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\EdgepushException;
use Edgepush\Http\Response;
use Edgepush\Http\SignedClient;
use Edgepush\RetryPolicy;
use Edgepush\Signer;
use Edgepush\Tests\Support\ScriptedTransport;
use PHPUnit\Framework\TestCase;

/** The library agrees with the code table of protocol/codes.json (written from protocol/src/codes.rs). */
final class ErrorCodesTest extends TestCase
{
    /** @return array<string, mixed> */
    private static function table(): array
    {
        $file = __DIR__ . '/../../../protocol/codes.json';

        return json_decode((string) file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
    }

    /** @return array<string, array{class-string<EdgepushException>, string, bool}> */
    private static function failures(): array
    {
        return (new \ReflectionClassConstant(SignedClient::class, 'FAILURES'))->getValue();
    }

    /** @return iterable<string, array{string, int, bool}> */
    public static function errorCodes(): iterable
    {
        foreach (self::table()['error_codes'] as $row) {
            yield $row['code'] => [$row['code'], $row['status'], $row['retryable']];
        }
    }

    public function testTheFailureMappingKnowsExactlyTheServersErrorCodes(): void
    {
        $codes = array_column(self::table()['error_codes'], 'code');
        $known = array_keys(self::failures());
        sort($codes);
        sort($known);

        self::assertSame($codes, $known, 'SignedClient::FAILURES and protocol/codes.json list different codes');
    }

    /** @dataProvider errorCodes */
    public function testEachErrorAnswerBecomesItsOwnExceptionAndIsRetriedOnlyIfRetryable(
        string $code,
        int $status,
        bool $retryable,
    ): void {
        [$class, $advice, $retried] = self::failures()[$code]
            ?? self::fail("SignedClient does not know $code");
        self::assertSame($retryable, $retried, "whether SignedClient retries $code");
        $answer = new Response($status, json_encode(['error' => ['code' => $code, 'message' => 'no.']]));
        $transport = new ScriptedTransport($answer, $answer);
        $client = new SignedClient(
            'http://push.test',
            new Signer('k2026a', 'edgepush-test-secret-0123456789abcdef'),
            $transport,
            new RetryPolicy(2, 0, 0),
        );

        try {
            $client->post('/publish', '{}');
            self::fail("$code was not thrown");
        } catch (EdgepushException $e) {
            self::assertSame($class, $e::class);
            self::assertSame($code, $e->getErrorCode());
            self::assertSame($status, $e->getHttpStatus());
            self::assertStringEndsWith($advice, $e->getMessage());
        }
        self::assertCount($retryable ? 2 : 1, $transport->requests, "attempts for $code");
    }

    /** Error codes the library's own exceptions carry (the second argument of `new ...Exception(`). */
    public function testEveryErrorCodeTheLibraryThrowsIsTheServers(): void
    {
        $codes = array_column(self::table()['error_codes'], 'code');
        $used = [];
        $files = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator(__DIR__ . '/../../src'));
        foreach ($files as $file) {
            if ($file->getExtension() === 'php') {
                foreach (self::exceptionCodes((string) file_get_contents($file->getPathname())) as $code) {
                    $used[$code][] = $file->getFilename();
                }
            }
        }

        self::assertNotEmpty($used, 'no exception with an error code found: the scan is broken');
        foreach ($used as $code => $where) {
            $files = implode(', ', array_unique($where));
            self::assertContains($code, $codes, "$code (in $files) is not a server error code");
        }
    }

    /** Close codes named in the library's comments ("code 4001") are the server's. */
    public function testCloseCodesTheLibraryMentionsAreTheServers(): void
    {
        $codes = array_column(self::table()['close_codes'], 'code');
        $files = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator(__DIR__ . '/../../src'));
        foreach ($files as $file) {
            if ($file->getExtension() !== 'php') {
                continue;
            }
            preg_match_all('/\bcode (\d{4})\b/', (string) file_get_contents($file->getPathname()), $matches);
            foreach ($matches[1] as $number) {
                self::assertContains((int) $number, $codes, "close code $number in {$file->getFilename()}");
            }
        }
    }

    /** @return list<string> the string literals passed as the error code of `new <Name>Exception(...)` */
    private static function exceptionCodes(string $source): array
    {
        $tokens = array_values(array_filter(
            \PhpToken::tokenize($source),
            static fn (\PhpToken $t): bool => !$t->isIgnorable(),
        ));
        $codes = [];
        foreach ($tokens as $i => $token) {
            if (
                !$token->is(T_NEW) || !isset($tokens[$i + 2])
                || !str_ends_with($tokens[$i + 1]->text, 'Exception') || $tokens[$i + 2]->text !== '('
            ) {
                continue;
            }
            // Walk the arguments: the one at index 1, or named errorCode, is the code.
            $depth = 0;
            $argument = 0;
            for ($j = $i + 2; $j < count($tokens); ++$j) {
                $text = $tokens[$j]->text;
                if (in_array($text, ['(', '[', '{'], true)) {
                    ++$depth;
                } elseif (in_array($text, [')', ']', '}'], true)) {
                    if (--$depth === 0) {
                        break;
                    }
                } elseif ($depth === 1 && $text === ',') {
                    ++$argument;
                } elseif ($depth === 1 && $tokens[$j]->is(T_CONSTANT_ENCAPSED_STRING)) {
                    $named = $tokens[$j - 1]->text === ':' && $tokens[$j - 2]->text === 'errorCode';
                    $next = $tokens[$j + 1]->text;
                    if (($argument === 1 || $named) && ($next === ',' || $next === ')')) {
                        $codes[] = substr($text, 1, -1);
                    }
                }
            }
        }

        return $codes;
    }
}
