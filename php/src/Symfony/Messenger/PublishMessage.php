<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Messenger;

use Edgepush\Event;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Publisher;
use Edgepush\Recipient;
use Edgepush\Topic;

/**
 * "Publish this event": dispatch it on the bus and {@see PublishMessageHandler} publishes it. Route it
 * to an async transport so a controller never waits on the network.
 *
 * The event goes to a user, or to a topic (`new PublishMessage(new Topic('product:42'), ...)` or
 * `PublishMessage::toTopic('product:42', ...)`). It is validated when the message is built, and its
 * idempotency key is fixed then: however often the handler runs (retries, redeliveries), the user
 * or the topic gets the event once.
 *
 * It crosses a transport, with PHP's serialize() (Messenger's default) or with the Symfony Serializer
 * (`messenger.transport.symfony_serializer`, through the bundle's
 * {@see \Edgepush\Symfony\Serializer\EventNormalizer}), with its recipient, name, payload text and
 * idempotency key unchanged.
 */
final class PublishMessage
{
    public readonly Event $event;

    /**
     * @param string|int|Recipient|Topic $user a user, or a topic
     *
     * @throws InvalidInputException
     */
    public function __construct(
        string|int|Recipient|Topic $user,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ) {
        $this->event = new Event($user, $name, $payload, $idempotencyKey ?? Publisher::newIdempotencyKey());
    }

    /**
     * A message that publishes to $topic: the same as `new PublishMessage(new Topic($topic), ...)`.
     *
     * @throws InvalidInputException
     */
    public static function toTopic(
        string|Topic $topic,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ): self {
        return new self($topic instanceof Topic ? $topic : new Topic($topic), $name, $payload, $idempotencyKey);
    }

    /**
     * The message that publishes $event as it is, for a message read back from a transport.
     *
     * @internal
     *
     * @throws InvalidInputException when $event has no idempotency key: a message has one from the start
     */
    public static function ofEvent(Event $event): self
    {
        if ($event->idempotencyKey === null) {
            throw new InvalidInputException(sprintf(
                'A PublishMessage of event "%s" for %s needs its idempotency key, fixed when the message was built: '
                . 'without it, every redelivery would publish the event again.',
                $event->name,
                $event->recipient(),
            ), 'invalid_field');
        }
        $message = (new \ReflectionClass(self::class))->newInstanceWithoutConstructor();
        $message->event = $event;

        return $message;
    }
}
