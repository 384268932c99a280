<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Messenger;

use Edgepush\Messaging;
use Edgepush\Recipient;
use Edgepush\Topic;
use Edgepush\TopicMessaging;
use Symfony\Component\Messenger\MessageBusInterface;

/** {@see Messaging} that dispatches a {@see PublishMessage} instead of publishing during the request. */
final class MessengerMessaging implements TopicMessaging
{
    public function __construct(private readonly MessageBusInterface $bus)
    {
    }

    public function send(string|int|Recipient|Topic $user, string $name, mixed $payload = null): void
    {
        $this->bus->dispatch(new PublishMessage($user, $name, $payload));
    }
}
