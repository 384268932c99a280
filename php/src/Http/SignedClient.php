<?php

declare(strict_types=1);

namespace Edgepush\Http;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\EdgepushException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Exception\ServiceUnavailableException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\RetryPolicy;
use Edgepush\Signer;

/**
 * Sends signed requests to an edgepush worker (JSON POSTs, and GETs with an empty body): signs
 * each attempt anew, retries network errors and 5xx answers (all but those whose error code is not retryable, like server_misconfigured),
 * and a proxy's 408, 425 and 429, with backoff (at least the answer's Retry-After, when the
 * retry policy waits that long), and turns error answers into typed exceptions that carry the server's error code.
 *
 * @internal used by {@see \Edgepush\Publisher}
 */
final class SignedClient
{
    private const FIX_INPUT = 'Fix the request; sending it again will not help.';
    private const CHECK_KEYS = 'Check that the publish key id and secret match the server\'s PUBLISH_KEYS.';
    private const CHECK_URL = 'Check that the url points at an edgepush worker.';
    private const CHECK_URL_BASE = 'Check that the url is the edgepush worker\'s base URL, not its /connect path.';
    private const SEND_LESS = 'Send a reference (an id, a URL) instead of the data, or split the batch.';
    private const FAILING = 'The service is failing or restarting.';
    private const TRY_LATER = 'Something in front of the worker (a proxy, a CDN) asks to try again later.';
    /** Statuses a proxy or CDN answers for "not now" (timeout, too early, rate limit): retried like a 5xx. */
    private const TRY_AGAIN = [408, 425, 429];
    /** A call's retries keep its first signing time this long (the server accepts 300 s). */
    private const RESIGN_AFTER_SECONDS = 240;

    /**
     * What each error code of the server becomes: the exception class, the advice appended to the
     * message, and whether the same request may succeed later (retried with backoff). One entry per
     * code of protocol/codes.json; php/tests/Unit/ErrorCodesTest.php keeps them in step.
     *
     * @var array<string, array{class-string<EdgepushException>, string, bool}>
     */
    private const FAILURES = [
        'invalid_json' => [InvalidInputException::class, self::FIX_INPUT, false],
        'invalid_field' => [InvalidInputException::class, self::FIX_INPUT, false],
        'payload_too_large' => [PayloadTooLargeException::class, self::SEND_LESS, false],
        'batch_too_large' => [PayloadTooLargeException::class, self::SEND_LESS, false],
        'missing_signature' => [SignatureRejectedException::class, self::CHECK_KEYS, false],
        'invalid_signature' => [SignatureRejectedException::class, self::CHECK_KEYS, false],
        'stale_timestamp' => [
            SignatureRejectedException::class,
            'Check this machine\'s clock (NTP): a signature is valid for 300 s around the server\'s time.',
            false,
        ],
        'unknown_key' => [SignatureRejectedException::class, self::CHECK_KEYS, false],
        'missing_token' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'invalid_token' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'unsupported_algorithm' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'token_expired' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'token_not_yet_valid' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'invalid_claims' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'token_too_large' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'token_revoked' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'not_found' => [ConfigurationException::class, self::CHECK_URL, false],
        'method_not_allowed' => [ConfigurationException::class, self::CHECK_URL, false],
        'upgrade_required' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'too_many_connections' => [ServiceUnavailableException::class, self::CHECK_URL_BASE, true],
        'rate_limited' => [ServiceUnavailableException::class, self::CHECK_URL_BASE, true],
        'too_many_frames' => [ConfigurationException::class, self::CHECK_URL, false],
        'idempotency_conflict' => [
            InvalidInputException::class,
            'The Idempotency-Key was already used for a different event; use a new key for a new event.',
            false,
        ],
        'invalid_topic' => [
            InvalidInputException::class,
            'Name one topic, namespace:name (patterns like product:* only grant topics in connect tokens).',
            false,
        ],
        'unknown_namespace' => [
            InvalidInputException::class,
            'Declare the namespace in the worker\'s TOPIC_NAMESPACES, or fix the topic.',
            false,
        ],
        'topic_forbidden' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'too_many_subscriptions' => [ConfigurationException::class, self::CHECK_URL_BASE, false],
        'topic_socket_required' => [
            InvalidInputException::class,
            'The namespace has shards: its readers connect topic sockets (the SDK does), '
                . 'so the backend cannot subscribe users to it.',
            false,
        ],
        'invalid_frame' => [ConfigurationException::class, self::CHECK_URL, false],
        'server_misconfigured' => [
            ServiceUnavailableException::class,
            'Fix the worker\'s settings (JWT_SECRET, PUBLISH_KEYS).',
            false,
        ],
        'internal_error' => [ServiceUnavailableException::class, self::FAILING, true],
    ];

    private readonly string $origin;
    /** @var Signer|\Closure(): Signer the signer, or what builds it (until it could) */
    private Signer|\Closure $signer;
    private int $lastAttempts = 0;
    /** The time (Unix seconds) the last attempt of the last call was signed with. */
    private int $lastSignedAt = 0;
    /** The Retry-After of the last answer, in milliseconds. */
    private ?int $retryAfterMs = null;

    /**
     * @param Signer|\Closure(): Signer $signer the signer, or what builds it at the first request:
     *                                        a key that cannot be used fails the first request,
     *                                        not the construction
     *
     * @throws ConfigurationException for a URL that is not a base URL
     */
    public function __construct(
        string $url,
        Signer|\Closure $signer,
        private readonly Transport $transport,
        private readonly RetryPolicy $retry,
    ) {
        $this->signer = $signer;
        $parts = parse_url($url);
        $scheme = strtolower((string) ($parts['scheme'] ?? ''));
        if (
            !is_array($parts) || !in_array($scheme, ['http', 'https'], true) || !isset($parts['host'])
            || array_diff_key($parts, array_flip(['scheme', 'host', 'port', 'path'])) !== []
        ) {
            throw new ConfigurationException(sprintf(
                'The edgepush url "%s" is not a base URL like https://push.example.com (http or https, no query, '
                . 'fragment or credentials).',
                self::redacted($url),
            ));
        }
        $this->origin = $scheme . '://' . $parts['host'] . (isset($parts['port']) ? ':' . $parts['port'] : '');
        // the worker routes exact paths and its signature covers the path it receives: no prefix
        // works, passed through (404) or stripped by a proxy (the signature no longer matches)
        if (!in_array($parts['path'] ?? '', ['', '/'], true)) {
            throw new ConfigurationException(sprintf(
                'The edgepush url "%s" has a path; edgepush serves its API at the root of its host (/publish, '
                . '/connect), so use the base URL alone, like %s (behind a proxy, give the worker a host of its own).',
                $url,
                $this->origin,
            ));
        }
    }

    /**
     * @param string                            $path    e.g. "/publish"
     * @param array<string, string>             $headers extra headers, the same on every attempt
     * @param null|callable(array<mixed>): void $accept  checks a 2xx answer; a retryable
     *                                                   ServiceUnavailableException it throws is
     *                                                   retried like a 5xx answer
     *
     * @return array<mixed> the decoded JSON object of the 2xx answer
     *
     * @throws EdgepushException
     */
    public function post(string $path, string $body, array $headers = [], ?callable $accept = null): array
    {
        return $this->send('POST', $path, $body, $headers + ['Content-Type' => 'application/json'], $accept);
    }

    /**
     * A signed GET with an empty body; the signature covers the path with its query string.
     *
     * @param string $pathAndQuery e.g. "/presence?user=42", its query already percent-encoded
     *
     * @return array<mixed> the decoded JSON object of the 2xx answer
     *
     * @throws EdgepushException
     */
    public function get(string $pathAndQuery): array
    {
        return $this->send('GET', $pathAndQuery, '', []);
    }

    /**
     * @param array<string, string>             $headers
     * @param null|callable(array<mixed>): void $accept
     *
     * @return array<mixed>
     */
    private function send(string $method, string $path, string $body, array $headers, ?callable $accept = null): array
    {
        $this->signer(); // the key's ConfigurationException, before any attempt
        // One signing time for a call and its retries: the server revokes at a /revoke's or a
        // logout's signed time, which a retry must not move on. Signed again only when the time
        // would come near the server's 300 s tolerance.
        $signedAt = time();
        for ($attempt = 1;; ++$attempt) {
            $this->lastAttempts = $attempt;
            $this->retryAfterMs = null;
            if (time() - $signedAt > self::RESIGN_AFTER_SECONDS) {
                $signedAt = time();
            }
            $this->lastSignedAt = $signedAt;
            try {
                $answer = $this->attempt($method, $path, $body, $headers, $signedAt);
                if ($accept !== null) {
                    $accept($answer);
                }

                return $answer;
            } catch (ServiceUnavailableException $e) {
                if (!self::retryable($e->getErrorCode())) {
                    throw $e;
                }
                if ($attempt >= $this->retry->maxAttempts) {
                    $key = isset($headers['Idempotency-Key']) ? sprintf(
                        ' with Idempotency-Key "%s" (publishing again with that key cannot duplicate the event)',
                        $headers['Idempotency-Key'],
                    ) : '';
                    throw $attempt === 1 ? $e : new ServiceUnavailableException(
                        sprintf('Gave up after %d attempts%s. Last: %s', $attempt, $key, $e->getMessage()),
                        $e->getErrorCode(),
                        $e->getHttpStatus(),
                        $e,
                    );
                }
                $delayMs = $this->retry->delayMs($attempt);
                if ($this->retryAfterMs !== null) {
                    if ($this->retryAfterMs > $this->retry->maxDelayMs) {
                        throw new ServiceUnavailableException(sprintf(
                            '%s It asks to wait %d s (Retry-After), longer than the retry policy waits (%d ms): '
                            . 'try again later%s.',
                            rtrim($e->getMessage()),
                            intdiv($this->retryAfterMs + 999, 1000),
                            $this->retry->maxDelayMs,
                            isset($headers['Idempotency-Key']) ? sprintf(' with Idempotency-Key "%s"', $headers['Idempotency-Key']) : '',
                        ), $e->getErrorCode(), $e->getHttpStatus(), $e);
                    }
                    $delayMs = max($delayMs, $this->retryAfterMs);
                }
                usleep($delayMs * 1000);
            }
        }
    }

    /**
     * @param array<string, string> $headers
     *
     * @return array<mixed>
     */
    private function attempt(string $method, string $target, string $body, array $headers, int $signedAt): array
    {
        $url = $this->origin . $target;
        $response = $this->transport->send($method, $url, $headers + [
            'User-Agent' => 'edgepush-php',
            Signer::HEADER => $this->signer()->sign($signedAt, $method, $target, $body),
        ], $body);
        $request = $method . ' ' . $url;
        $this->retryAfterMs = self::retryAfterMs($response->header('Retry-After'));
        if ($response->status < 200 || $response->status >= 300) {
            throw self::failure($request, $response);
        }
        $answer = json_decode($response->body, true);
        if (!is_array($answer)) {
            throw self::unexpected($request, 'a body that is not a JSON object', $response->body, $response->status);
        }

        return $answer;
    }

    /** An exception for a success answer of the wrong shape; $what says what was wrong with it. */
    public static function unexpected(
        string $request,
        string $what,
        string $body,
        ?int $status = null,
    ): ConfigurationException {
        return new ConfigurationException(sprintf(
            '%s answered%s with %s: "%s". Check that the url points at an edgepush worker, not a proxy or another app.',
            $request,
            $status === null ? '' : ' ' . $status,
            $what,
            self::excerpt($body),
        ), null, $status);
    }

    private static function failure(string $request, Response $response): EdgepushException
    {
        $error = json_decode($response->body, true)['error'] ?? null;
        $code = is_array($error) && is_string($error['code'] ?? null) ? $error['code'] : null;
        $detail = is_array($error) && is_string($error['message'] ?? null)
            ? $error['message']
            : sprintf('"%s" (not an edgepush error body)', self::excerpt($response->body));
        [$class, $advice] = self::FAILURES[$code ?? ''] ?? match (true) {
            $response->status >= 500 => [ServiceUnavailableException::class, self::FAILING],
            in_array($response->status, self::TRY_AGAIN, true) => [ServiceUnavailableException::class, self::TRY_LATER],
            $response->status === 413 => [
                PayloadTooLargeException::class,
                'Something in front of the worker limits the body size; send smaller batches.',
            ],
            default => [ConfigurationException::class, self::CHECK_URL],
        };
        $status = $response->status . ($code === null ? '' : ' ' . $code);

        return new $class(
            sprintf('%s answered %s: %s. %s', $request, $status, rtrim($detail, '. '), $advice),
            $code,
            $response->status,
        );
    }

    /** Whether a 5xx answer with this error code (null: not edgepush's answer) is worth retrying. */
    public static function retryable(?string $code): bool
    {
        return $code === null || (self::FAILURES[$code][2] ?? true);
    }

    /**
     * What the server's error $code becomes, as for a whole answer with that code: the exception
     * class and the advice (a code this library does not know: the service is failing).
     *
     * @return array{class-string<EdgepushException>, string}
     */
    public static function exceptionFor(string $code): array
    {
        [$class, $advice] = self::FAILURES[$code] ?? [ServiceUnavailableException::class, self::FAILING];

        return [$class, $advice];
    }

    /** How many attempts the last call made (1 when it was not retried). */
    public function attemptsOfLastCall(): int
    {
        return $this->lastAttempts;
    }

    /**
     * The time (Unix seconds, this machine's clock) the last call's last attempt was signed with:
     * the time the worker revokes at, for a `/revoke` without `before` or a logout.
     */
    public function signedAtOfLastCall(): int
    {
        return $this->lastSignedAt;
    }

    /** Retry-After (delay-seconds or an HTTP date) in milliseconds from now, or null when absent or unreadable. */
    private static function retryAfterMs(?string $value): ?int
    {
        $value = trim((string) $value);
        if ($value === '') {
            return null;
        }
        if (preg_match('/^\d{1,9}$/D', $value) === 1) {
            return (int) $value * 1000;
        }
        $at = strtotime($value);

        return $at === false ? null : max(0, $at - time()) * 1000;
    }

    /** The signer, built at the first request: a key that cannot be used throws, each call until it is fixed. */
    private function signer(): Signer
    {
        if ($this->signer instanceof \Closure) {
            $this->signer = ($this->signer)();
        }

        return $this->signer;
    }

    private static function excerpt(string $body): string
    {
        $oneLine = trim((string) preg_replace('/\s+/', ' ', substr($body, 0, 200)));

        return strlen($body) > 200 ? $oneLine . '...' : $oneLine;
    }

    /**
     * $url with what precedes its last `@` after the scheme shown as `***`: credentials, even in
     * a URL parse_url() cannot read, never reach a message (nor the logs it ends up in).
     */
    private static function redacted(string $url): string
    {
        $at = strrpos($url, '@');
        if ($at === false) {
            return $url;
        }
        $scheme = strpos($url, '://');
        $start = $scheme !== false && $scheme < $at ? $scheme + 3 : 0;

        return substr($url, 0, $start) . '***' . substr($url, $at);
    }
}
