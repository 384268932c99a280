<?php

declare(strict_types=1);

namespace Edgepush;

/** What the server answered for one published event. */
final class PublishedEvent
{
    public function __construct(
        /** The user it was published to, or null for an event to a topic. */
        public readonly ?string $user,
        /** Its id in the user's or the topic's stream: strictly increasing, what a browser resumes from. */
        public readonly int $id,
        /** How many open sockets it was sent to (0 if the user is offline, or nobody listens to the topic). */
        public readonly int $sockets,
        /** True when its idempotency key was seen before: $id is the original event's and nothing was sent again. */
        public readonly bool $duplicate = false,
        /** The topic it was published to, or null for an event to a user. */
        public readonly ?string $topic = null,
        /**
         * For an event to a topic: how many Durable Objects it was relayed to (the rooms of the
         * users subscribed, or the topic's shards holding sockets), one request each. Null for an
         * event to a user, a duplicate, or a worker that does not say.
         */
        public readonly ?int $relays = null,
    ) {
    }
}
