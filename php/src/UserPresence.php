<?php

declare(strict_types=1);

namespace Edgepush;

/** What the worker answered to {@see Publisher::presenceOfUser()}: whether the user has a socket open now. */
final class UserPresence
{
    public function __construct(
        /** The user asked about. */
        public readonly string $user,
        /** Whether at least one socket of the user is open. */
        public readonly bool $online,
        /** How many sockets of the user are open. */
        public readonly int $sockets,
    ) {
    }
}
