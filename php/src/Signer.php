<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\ConfigurationException;

/**
 * Signs publish requests: `Edgepush-Signature: keyid=<id>,t=<unix seconds>,v1=<hex>`, where v1 is
 * the HMAC-SHA256, keyed with the secret, of `"<t>\n<METHOD>\n<path>\n"` followed by the raw body.
 * Verifies such headers too, as the worker does (`protocol/src/signature.rs`), for the webhooks
 * the worker signs the same way.
 */
final class Signer
{
    public const HEADER = 'Edgepush-Signature';
    public const MIN_SECRET_BYTES = 32;
    /** How far a signed timestamp may be from the verifier's clock, in seconds. */
    public const TOLERANCE_SECONDS = 300;

    /** What each refusal code of verify() means, and what to do about it. */
    public const REFUSALS = [
        'missing_signature' => 'The request has no Edgepush-Signature header; it was not sent by an edgepush worker.',
        'invalid_signature' => 'The Edgepush-Signature header is malformed or does not match the request: the secret '
            . 'differs from the worker\'s, or the body, method or path changed on the way (a proxy rewriting the path?).',
        'unknown_key' => 'The Edgepush-Signature names a key id that is not configured here: the worker signs with the '
            . 'first key of its PUBLISH_KEYS; configure that key (id and secret) to verify with.',
        'stale_timestamp' => 'The signature\'s timestamp is more than 300 s from this machine\'s clock: a replay, or a '
            . 'clock that is off.',
    ];

    /** Unicode White_Space, what Rust's `str::trim` and `char::is_whitespace` take for white space. */
    private const WHITE_SPACE = '[\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]';

    private readonly string $secret;

    /**
     * @param string $keyId  1 to 64 of A-Z a-z 0-9 _ - . (it travels in the header)
     * @param string $secret at least 32 bytes (it never travels); white space at its ends is
     *                       dropped, as the worker trims each secret of its PUBLISH_KEYS, so a
     *                       secret read from a file with its final newline is the same key
     *
     * @throws ConfigurationException
     */
    public function __construct(
        public readonly string $keyId,
        #[\SensitiveParameter] string $secret,
    ) {
        $secret = self::trim($secret);
        if (preg_match('/^[A-Za-z0-9_.-]{1,64}$/D', $keyId) !== 1) {
            throw new ConfigurationException(sprintf(
                'The publish key id "%s" is invalid: use 1 to 64 of A-Z a-z 0-9 _ - . '
                . 'as configured in the server\'s PUBLISH_KEYS.',
                addcslashes($keyId, "\0..\37\"\\"),
            ));
        }
        if (strlen($secret) < self::MIN_SECRET_BYTES) {
            throw new ConfigurationException(sprintf(
                'The secret of publish key "%s" is %d bytes; edgepush requires at least %d '
                . '(generate one with: openssl rand -hex 32).',
                $keyId,
                strlen($secret),
                self::MIN_SECRET_BYTES,
            ));
        }
        $this->secret = $secret;
    }

    /**
     * The header value for a request sent at $timestamp.
     *
     * @param string $path the request target as sent, with its query string if any
     */
    public function sign(int $timestamp, string $method, string $path, string $body): string
    {
        return sprintf('keyid=%s,t=%d,v1=%s', $this->keyId, $timestamp, bin2hex($this->mac($timestamp, $method, $path, $body)));
    }

    /**
     * Checks a signed request as the worker checks a publish: the header's key id among $keys
     * (several while rotating), its timestamp within 300 s of $now, and the HMAC of exactly
     * $method, $target and $body, compared in constant time.
     *
     * @param string|null        $header the Edgepush-Signature header, null when there is none
     * @param string             $target the request target as received: the path with its query, if any
     * @param Signer|list<Signer> $keys   the keys to accept (the first of a key id wins)
     * @param int                $now    the verifier's clock, in seconds since the Unix epoch
     *
     * @return string|null null when the signature holds; else the refusal code (a key of REFUSALS):
     *                     missing_signature, invalid_signature, unknown_key or stale_timestamp
     */
    public static function verify(?string $header, string $method, string $target, string $body, int $now, Signer|array $keys): ?string
    {
        if ($header === null) {
            return 'missing_signature';
        }
        $fields = self::parseHeader($header);
        if ($fields === null) {
            return 'invalid_signature';
        }
        [$keyId, $timestamp, $mac] = $fields;
        $key = null;
        foreach (is_array($keys) ? $keys : [$keys] as $candidate) {
            if ($candidate->keyId === $keyId) {
                $key = $candidate;
                break;
            }
        }
        if ($key === null) {
            return 'unknown_key';
        }
        // in floats past the int range, which only ever makes a difference larger
        if (abs($now - $timestamp) > self::TOLERANCE_SECONDS) {
            return 'stale_timestamp';
        }
        return hash_equals($key->mac($timestamp, $method, $target, $body), $mac) ? null : 'invalid_signature';
    }

    /** The HMAC-SHA256 (raw bytes) of `"<t>\n<METHOD>\n<path>\n"` followed by the body. */
    private function mac(int $timestamp, string $method, string $path, string $body): string
    {
        return hash_hmac('sha256', $timestamp . "\n" . $method . "\n" . $path . "\n" . $body, $this->secret, true);
    }

    /**
     * `keyid=..,t=..,v1=..` as the worker reads it: fields split on `,` and trimmed, unknown fields
     * ignored, none twice, t a signed 64-bit integer, v1 64 hex digits.
     *
     * @return array{string, int, string}|null key id, timestamp, MAC (raw bytes); null: malformed
     */
    private static function parseHeader(string $header): ?array
    {
        $fields = [];
        foreach (explode(',', $header) as $part) {
            $pair = explode('=', self::trim($part), 2);
            if (count($pair) !== 2) {
                return null;
            }
            [$name, $value] = $pair;
            if (!in_array($name, ['keyid', 't', 'v1'], true)) {
                continue;
            }
            if (isset($fields[$name])) {
                return null;
            }
            $fields[$name] = $value;
        }
        if (!isset($fields['keyid'], $fields['t'], $fields['v1'])) {
            return null;
        }
        $timestamp = self::parseI64($fields['t']);
        if ($timestamp === null || strlen($fields['v1']) !== 64 || !ctype_xdigit($fields['v1'])) {
            return null;
        }

        return [$fields['keyid'], $timestamp, (string) hex2bin($fields['v1'])];
    }

    /**
     * Rust's `str::trim`: Unicode White_Space on both ends (not NUL, unlike PHP's trim()); ASCII
     * white space if $text is not UTF-8, which a Rust string always is.
     */
    private static function trim(string $text): string
    {
        $trimmed = preg_replace('/^' . self::WHITE_SPACE . '+|' . self::WHITE_SPACE . '+$/Du', '', $text);

        return $trimmed ?? trim($text, " \t\n\r\x0B\x0C");
    }

    /** Rust's `i64::from_str`: an optional sign and decimal digits, within the 64-bit range. */
    private static function parseI64(string $text): ?int
    {
        if (preg_match('/^([+-]?)0*(\d+)$/D', $text, $m) !== 1) {
            return null;
        }
        [, $sign, $digits] = $m;
        $limit = $sign === '-' ? '9223372036854775808' : '9223372036854775807';
        if (strlen($digits) > 19 || (strlen($digits) === 19 && strcmp($digits, $limit) > 0)) {
            return null;
        }
        if ($sign === '-' && $digits === '9223372036854775808') {
            return PHP_INT_MIN;
        }

        return $sign === '-' ? -(int) $digits : (int) $digits;
    }
}
