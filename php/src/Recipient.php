<?php

declare(strict_types=1);

namespace Edgepush;

/**
 * Implement it on your user class so it can be passed wherever a user id is expected:
 * `$messaging->send($user, ...)`, `$tokens->issue($user)`, and `edgepush_token()` in Twig.
 */
interface Recipient
{
    /** The id events are published to and connect tokens are issued for (the token's `sub`). */
    public function getEdgepushUserId(): string|int;
}
