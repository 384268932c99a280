<?php

declare(strict_types=1);

namespace Edgepush;

/** What the worker answered to {@see Publisher::presenceOfTopic()}: who reads a topic now. */
final class TopicPresence
{
    /**
     * @param ?list<string> $users
     */
    public function __construct(
        /** The topic asked about. */
        public readonly string $topic,
        /**
         * How many sockets are subscribed to it, as the topic last counted them (a socket gone
         * without a close is counted until the next publish to the topic corrects the count).
         */
        public readonly int $occupancy,
        /**
         * The users subscribed over their own connection, for a namespace with `presence` in the
         * worker's TOPIC_NAMESPACES; null for other namespaces. Readers on topic sockets (namespaces
         * with `shards`) are counted in $occupancy, not listed.
         */
        public readonly ?array $users = null,
    ) {
    }
}
