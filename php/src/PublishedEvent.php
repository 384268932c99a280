<?php

declare(strict_types=1);

namespace Edgepush;

/** What the server answered for one published event. */
final class PublishedEvent
{
    public function __construct(
        /** The user it was published to. */
        public readonly string $user,
        /** Its per-user id: strictly increasing, what a browser resumes from. */
        public readonly int $id,
        /** How many of the user's open sockets it was sent to (0 if the user is offline). */
        public readonly int $sockets,
        /** True when its idempotency key was seen before: $id is the original event's and nothing was sent again. */
        public readonly bool $duplicate = false,
    ) {
    }
}
