<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;

/**
 * One event to publish, to a user or to a topic, validated and encoded when it is built, so a bad
 * event fails where it is created rather than inside a retry loop or a message handler.
 *
 *     new Event(42, 'Message', ['text' => 'Hi']);                       // to user 42
 *     new Event(new Topic('product:42'), 'ProductChanged', ['price' => 1990]);
 *     Event::toTopic('product:42', 'ProductChanged', ['price' => 1990]); // the same
 */
final class Event
{
    public const MAX_PAYLOAD_BYTES = 65536;

    /** The user it goes to, or null for an event to a topic. */
    public readonly ?string $user;
    /** The topic it goes to, or null for an event to a user. */
    public readonly ?string $topic;
    public readonly string $name;
    /** The payload as the JSON text that will be sent. */
    public readonly string $payloadJson;
    public readonly ?string $idempotencyKey;

    /**
     * @param string|int|Recipient|Topic $user           the user it goes to, or a topic
     * @param mixed                      $payload        anything json_encode() accepts (arrays with string keys
     *                                                   become objects, an empty array becomes []), at most 64 KiB
     *                                                   once encoded
     * @param ?string                    $idempotencyKey makes this event idempotent on its own: publishing the
     *                                                   same key to the same user or topic again returns the
     *                                                   original id instead of a new event
     *
     * @throws InvalidInputException
     */
    public function __construct(
        string|int|Recipient|Topic $user,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ) {
        $this->topic = $user instanceof Topic ? $user->name : null;
        $this->user = $user instanceof Topic ? null : Validate::userId($user);
        $this->name = Validate::eventName($name);
        try {
            $this->payloadJson = Json::encode($payload);
        } catch (\JsonException $e) {
            throw new InvalidInputException(sprintf(
                'The payload of event "%s" for %s cannot be encoded as JSON (%s); pass arrays, scalars, '
                . 'null or JsonSerializable objects, with strings in UTF-8.',
                $this->name,
                $this->recipient(),
                $e->getMessage(),
            ), 'invalid_json', previous: $e);
        }
        $this->checkSize();
        $this->idempotencyKey = $idempotencyKey === null ? null : Validate::idempotencyKey($idempotencyKey);
    }

    /**
     * The event whose payload is this JSON text, kept byte for byte (`{}` stays `{}`, `[]` stays
     * `[]`), for an event read back from a queue; validated like the constructor's, and the text must
     * be one JSON value.
     *
     * @internal
     *
     * @throws InvalidInputException
     */
    public static function withPayloadJson(
        string|int|Recipient|Topic $user,
        string $name,
        string $payloadJson,
        ?string $idempotencyKey = null,
    ): self {
        $event = (new \ReflectionClass(self::class))->newInstanceWithoutConstructor();
        $event->topic = $user instanceof Topic ? $user->name : null;
        $event->user = $user instanceof Topic ? null : Validate::userId($user);
        $event->name = Validate::eventName($name);
        $event->payloadJson = $payloadJson;
        $event->checkSize();
        try {
            // the text goes into the publish body as it is: anything but one JSON value would change that body
            json_decode($payloadJson, false, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new InvalidInputException(sprintf(
                'The payload of event "%s" for %s is not JSON text (%s).',
                $event->name,
                $event->recipient(),
                $e->getMessage(),
            ), 'invalid_json', previous: $e);
        }
        $event->idempotencyKey = $idempotencyKey === null ? null : Validate::idempotencyKey($idempotencyKey);

        return $event;
    }

    /**
     * An event to a topic: the same as `new Event(new Topic($topic), ...)`.
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

    /** @throws PayloadTooLargeException */
    private function checkSize(): void
    {
        if (strlen($this->payloadJson) > self::MAX_PAYLOAD_BYTES) {
            throw new PayloadTooLargeException(sprintf(
                'The payload of event "%s" for %s is %d bytes of JSON; the limit is %d per event. '
                . 'Send a reference (an id, a URL) instead of the data.',
                $this->name,
                $this->recipient(),
                strlen($this->payloadJson),
                self::MAX_PAYLOAD_BYTES,
            ), 'payload_too_large');
        }
    }

    /** Whom it goes to, for messages: `user "42"` or `topic "product:42"`. */
    public function recipient(): string
    {
        return $this->topic === null ? sprintf('user "%s"', $this->user) : sprintf('topic "%s"', $this->topic);
    }

    /** The event as the publish body carries it. */
    public function toJson(): string
    {
        $to = $this->topic === null ? '"user":' . Json::encode($this->user) : '"topic":' . Json::encode($this->topic);
        $json = '{' . $to . ',"name":' . Json::encode($this->name)
            . ',"payload":' . $this->payloadJson;
        if ($this->idempotencyKey !== null) {
            $json .= ',"idempotency_key":' . Json::encode($this->idempotencyKey);
        }

        return $json . '}';
    }
}
