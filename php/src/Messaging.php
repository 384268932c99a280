<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\EdgepushException;

/**
 * Sends an event to every open socket of a user. {@see Publisher} sends it right away; in Symfony,
 * with `edgepush.messenger: true`, it is dispatched on the message bus and published by a handler.
 * To send to topics as well, type against {@see TopicMessaging}, which both implementations are.
 */
interface Messaging
{
    /**
     * @param mixed $payload anything json_encode() accepts, at most 64 KiB once encoded
     *
     * @throws EdgepushException
     */
    public function send(string|int|Recipient $user, string $name, mixed $payload = null): void;
}
