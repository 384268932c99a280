<?php

declare(strict_types=1);

namespace Edgepush;

/**
 * An event of a batch that was not stored: what the server answered for it in a partly failed
 * batch (207). {@see Exception\EdgepushException::getEventResults()} lists these beside the
 * {@see PublishedEvent}s of the events that were stored.
 */
final class EventFailure
{
    public function __construct(
        /** The user it was published to, or null for an event to a topic. */
        public readonly ?string $user,
        /** The topic it was published to, or null for an event to a user. */
        public readonly ?string $topic,
        /** The server's error code, e.g. "internal_error", "idempotency_conflict" (protocol/codes.json). */
        public readonly string $code,
        /** The server's message. */
        public readonly string $message,
    ) {
    }
}
