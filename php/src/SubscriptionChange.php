<?php

declare(strict_types=1);

namespace Edgepush;

/**
 * What the worker answered to {@see Publisher::subscribe()} or {@see Publisher::unsubscribe()}:
 * the user's room keeps (or no longer keeps) these topics for every socket of the user, those
 * open now and those that connect later.
 */
final class SubscriptionChange
{
    /**
     * @param list<string> $topics
     */
    public function __construct(
        /** The user. */
        public readonly string $user,
        /** The topics, as sent. */
        public readonly array $topics,
        /** True for a subscribe, false for an unsubscribe. */
        public readonly bool $subscribed,
        /** How many open sockets of the user it applied to now (0 if the user is offline). */
        public readonly int $sockets,
    ) {
    }
}
