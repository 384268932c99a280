<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\ConfigurationException;

/**
 * Signs publish requests: `Edgepush-Signature: keyid=<id>,t=<unix seconds>,v1=<hex>`, where v1 is
 * the HMAC-SHA256, keyed with the secret, of `"<t>\n<METHOD>\n<path>\n"` followed by the raw body.
 */
final class Signer
{
    public const HEADER = 'Edgepush-Signature';
    public const MIN_SECRET_BYTES = 32;

    /**
     * @param string $keyId  1 to 64 of A-Z a-z 0-9 _ - . (it travels in the header)
     * @param string $secret at least 32 bytes (it never travels)
     *
     * @throws ConfigurationException
     */
    public function __construct(
        public readonly string $keyId,
        #[\SensitiveParameter] private readonly string $secret,
    ) {
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
    }

    /**
     * The header value for a request sent at $timestamp.
     *
     * @param string $path the request target as sent, with its query string if any
     */
    public function sign(int $timestamp, string $method, string $path, string $body): string
    {
        $mac = hash_hmac('sha256', $timestamp . "\n" . $method . "\n" . $path . "\n" . $body, $this->secret);

        return sprintf('keyid=%s,t=%d,v1=%s', $this->keyId, $timestamp, $mac);
    }
}
