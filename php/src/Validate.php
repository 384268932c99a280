<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\InvalidInputException;

/**
 * The server's rules for user ids, event names and idempotency keys, checked before sending.
 *
 * @internal
 */
final class Validate
{
    private const MAX_USER_ID_BYTES = 128;
    private const MAX_EVENT_NAME_BYTES = 64;

    /**
     * @return string the id as the wire carries it (integers become their decimal string)
     *
     * @throws InvalidInputException
     */
    public static function userId(string|int|Recipient $user): string
    {
        $id = $user instanceof Recipient ? $user->getEdgepushUserId() : $user;

        return self::text('user id', (string) $id, self::MAX_USER_ID_BYTES);
    }

    /** @throws InvalidInputException */
    public static function eventName(string $name): string
    {
        return self::text('event name', $name, self::MAX_EVENT_NAME_BYTES);
    }

    /** @throws InvalidInputException */
    public static function idempotencyKey(string $key): string
    {
        if (preg_match('/^[\x21-\x7E]{1,128}$/D', $key) !== 1) {
            throw self::invalid('idempotency key', $key, 'must be 1 to 128 visible ASCII characters (no spaces)');
        }

        return $key;
    }

    private static function text(string $what, string $value, int $maxBytes): string
    {
        $problem = match (true) {
            $value === '' => 'must not be empty',
            strlen($value) > $maxBytes => sprintf('must be at most %d bytes', $maxBytes),
            preg_match('/\p{Cc}/u', $value) !== 0 => 'must be UTF-8 without control characters',
            default => null,
        };
        if ($problem !== null) {
            throw self::invalid($what, $value, $problem);
        }

        return $value;
    }

    private static function invalid(string $what, string $value, string $problem): InvalidInputException
    {
        $shown = addcslashes(substr($value, 0, 40), "\0..\37\"\\\177");

        return new InvalidInputException(
            sprintf('Invalid %s "%s"%s: it %s.', $what, $shown, strlen($value) > 40 ? '...' : '', $problem),
            'invalid_field',
        );
    }

    private function __construct()
    {
    }
}
