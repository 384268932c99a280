<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\EdgepushException;

/**
 * {@see Messaging} that sends to topics as well: `send(new Topic('product:42'), ...)` reaches every
 * socket subscribed to the topic. Both of the library's implementations ({@see Publisher}, and in
 * Symfony the Messenger one) are one; the bundle autowires it like `Messaging`.
 */
interface TopicMessaging extends Messaging
{
    /**
     * @param string|int|Recipient|Topic $user    a user, or a topic
     * @param mixed                      $payload anything json_encode() accepts, at most 64 KiB once encoded
     *
     * @throws EdgepushException
     */
    public function send(string|int|Recipient|Topic $user, string $name, mixed $payload = null): void;
}
