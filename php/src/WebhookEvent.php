<?php

declare(strict_types=1);

namespace Edgepush;

/**
 * One thing a topic's webhook tells the backend about its readers (docs/topics.md, "Webhooks").
 *
 * The type is one of the constants for the events the worker sends today; a type this version
 * does not know (one a later worker adds) is kept as it came, with its user if it has one, so
 * that match on the constants and ignore the rest: a delivery is never refused for it, which
 * would make the worker send it again and finally drop the known events with it.
 */
final class WebhookEvent
{
    /** The topic's first socket subscribed: it has readers now. */
    public const OCCUPIED = 'occupied';
    /** The topic's last socket left. */
    public const VACATED = 'vacated';
    /** A user's first socket subscribed to the topic (over the user's own connection). */
    public const MEMBER_JOINED = 'member_joined';
    /** A user's last socket left the topic. */
    public const MEMBER_LEFT = 'member_left';

    /**
     * @param string      $type one of the constants (or a type a later worker added)
     * @param string|null $user the user, for member_joined and member_left; null for the others
     * @param int         $ts   when it happened, in milliseconds since the Unix epoch
     */
    public function __construct(
        public readonly string $type,
        public readonly ?string $user,
        public readonly int $ts,
    ) {
    }

    /** True for the types this version knows (the constants). */
    public function isKnown(): bool
    {
        return in_array($this->type, [self::OCCUPIED, self::VACATED, self::MEMBER_JOINED, self::MEMBER_LEFT], true);
    }

    /** When it happened, in UTC. */
    public function at(): \DateTimeImmutable
    {
        $at = \DateTimeImmutable::createFromFormat('U.v', sprintf('%d.%03d', intdiv($this->ts, 1000), $this->ts % 1000));
        assert($at !== false);

        return $at;
    }
}
