<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\InvalidInputException;

/**
 * The server's rules for user ids, event names, idempotency keys and topics, checked before sending.
 *
 * @internal
 */
final class Validate
{
    private const MAX_USER_ID_BYTES = 128;
    private const MAX_EVENT_NAME_BYTES = 64;
    private const MAX_TOPIC_BYTES = 255;
    private const MAX_NAMESPACE_BYTES = 32;

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

    /**
     * A topic (`product:42`), or with $pattern a topic pattern (`product:*`), by the rules of
     * protocol/src/topic.rs: visible ASCII, at most 255 bytes, a namespace of 1 to 32 of a-z, 0-9,
     * '_' and '-', no empty ':'-separated segment, '*' only as a whole name segment of a pattern,
     * '#' only at the start of the last segment followed by user ids separated by ','.
     *
     * @throws InvalidInputException with the code invalid_topic
     */
    public static function topic(string $topic, bool $pattern = false): string
    {
        $problem = self::topicProblem($topic, $pattern);
        if ($problem !== null) {
            $shown = addcslashes(substr($topic, 0, 60), "\0..\37\"\\\177..\377");
            throw new InvalidInputException(sprintf(
                'Invalid topic%s "%s"%s: %s.',
                $pattern ? ' pattern' : '',
                $shown,
                strlen($topic) > 60 ? '...' : '',
                $problem,
            ), 'invalid_topic');
        }

        return $topic;
    }

    /** What is wrong with a topic or pattern, in the words of the server's TopicError, or null. */
    private static function topicProblem(string $text, bool $pattern): ?string
    {
        if ($text === '' || strlen($text) > self::MAX_TOPIC_BYTES) {
            return sprintf('a topic is 1 to %d bytes, not %d (namespace:name)', self::MAX_TOPIC_BYTES, strlen($text));
        }
        if (preg_match('/[^\x21-\x7E]/', $text, $m) === 1) {
            return sprintf('a topic is visible ASCII; byte 0x%02x is not (nothing is percent-decoded)', ord($m[0]));
        }
        $colon = strpos($text, ':');
        if ($colon === false) {
            return "a topic is namespace:name, and this has no ':'";
        }
        if (preg_match('/^[a-z0-9_-]{1,' . self::MAX_NAMESPACE_BYTES . '}$/D', substr($text, 0, $colon)) !== 1) {
            return sprintf("a namespace is 1 to %d of a-z, 0-9, '_' and '-'", self::MAX_NAMESPACE_BYTES);
        }
        $segments = explode(':', substr($text, $colon + 1));
        if (in_array('', $segments, true)) {
            return "no ':'-separated part of a topic may be empty";
        }
        $wildcard = $pattern
            ? array_filter($segments, static fn (string $s): bool => $s !== '*' && str_contains($s, '*')) !== []
            : str_contains($text, '*');
        if ($wildcard) {
            return "'*' is only a whole name segment of a pattern, never part of a topic";
        }
        $last = (string) array_pop($segments);
        $users = str_starts_with($last, '#') ? explode(',', substr($last, 1)) : [];
        if (
            array_filter($segments, static fn (string $s): bool => str_contains($s, '#')) !== []
            || str_contains(substr($last, 1), '#') || in_array('', $users, true)
        ) {
            return "'#' starts the last segment only, followed by user ids separated by ',' (orders:#42)";
        }

        return null;
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
