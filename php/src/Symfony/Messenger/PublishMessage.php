<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Messenger;

use Edgepush\Event;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Publisher;
use Edgepush\Recipient;

/**
 * "Publish this event": dispatch it on the bus and {@see PublishMessageHandler} publishes it. Route it
 * to an async transport so a controller never waits on the network.
 *
 * The event is validated when the message is built, and its idempotency key is fixed then: however
 * often the handler runs (retries, redeliveries), the user gets the event once.
 */
final class PublishMessage
{
    public readonly Event $event;

    /** @throws InvalidInputException */
    public function __construct(
        string|int|Recipient $user,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ) {
        $this->event = new Event($user, $name, $payload, $idempotencyKey ?? Publisher::newIdempotencyKey());
    }
}
