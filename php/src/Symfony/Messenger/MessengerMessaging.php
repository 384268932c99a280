<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Messenger;

use Edgepush\Exception\EdgepushException;
use Edgepush\Messaging;
use Edgepush\Recipient;
use Edgepush\Topic;
use Edgepush\TopicMessaging;
use Symfony\Component\Messenger\Exception\HandlerFailedException;
use Symfony\Component\Messenger\MessageBusInterface;

/** {@see Messaging} that dispatches a {@see PublishMessage} instead of publishing during the request. */
final class MessengerMessaging implements TopicMessaging
{
    public function __construct(private readonly MessageBusInterface $bus)
    {
    }

    /**
     * With PublishMessage routed to no transport (Messenger's default), the handler publishes
     * during the dispatch: its failure is thrown as the EdgepushException it is, not as the
     * HandlerFailedException (around an UnrecoverableMessageHandlingException) Messenger wraps it in.
     */
    public function send(string|int|Recipient|Topic $user, string $name, mixed $payload = null): void
    {
        try {
            $this->bus->dispatch(new PublishMessage($user, $name, $payload));
        } catch (HandlerFailedException $e) {
            for ($cause = $e->getPrevious(); $cause !== null; $cause = $cause->getPrevious()) {
                if ($cause instanceof EdgepushException) {
                    throw $cause;
                }
            }
            throw $e;
        }
    }
}
