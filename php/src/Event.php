<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;

/**
 * One event to publish, validated and encoded when it is built, so a bad event fails where it
 * is created rather than inside a retry loop or a message handler.
 */
final class Event
{
    public const MAX_PAYLOAD_BYTES = 65536;

    public readonly string $user;
    public readonly string $name;
    /** The payload as the JSON text that will be sent. */
    public readonly string $payloadJson;
    public readonly ?string $idempotencyKey;

    /**
     * @param mixed   $payload        anything json_encode() accepts (arrays with string keys become objects,
     *                                an empty array becomes []), at most 64 KiB once encoded
     * @param ?string $idempotencyKey makes this event idempotent on its own: publishing the same key to the
     *                                same user again returns the original id instead of a new event
     *
     * @throws InvalidInputException
     */
    public function __construct(
        string|int|Recipient $user,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ) {
        $this->user = Validate::userId($user);
        $this->name = Validate::eventName($name);
        try {
            $this->payloadJson = Json::encode($payload);
        } catch (\JsonException $e) {
            throw new InvalidInputException(sprintf(
                'The payload of event "%s" for user "%s" cannot be encoded as JSON (%s); pass arrays, scalars, '
                . 'null or JsonSerializable objects, with strings in UTF-8.',
                $this->name,
                $this->user,
                $e->getMessage(),
            ), 'invalid_json', previous: $e);
        }
        if (strlen($this->payloadJson) > self::MAX_PAYLOAD_BYTES) {
            throw new PayloadTooLargeException(sprintf(
                'The payload of event "%s" for user "%s" is %d bytes of JSON; the limit is %d per event. '
                . 'Send a reference (an id, a URL) instead of the data.',
                $this->name,
                $this->user,
                strlen($this->payloadJson),
                self::MAX_PAYLOAD_BYTES,
            ), 'payload_too_large');
        }
        $this->idempotencyKey = $idempotencyKey === null ? null : Validate::idempotencyKey($idempotencyKey);
    }

    /** The event as the publish body carries it. */
    public function toJson(): string
    {
        $json = '{"user":' . Json::encode($this->user) . ',"name":' . Json::encode($this->name)
            . ',"payload":' . $this->payloadJson;
        if ($this->idempotencyKey !== null) {
            $json .= ',"idempotency_key":' . Json::encode($this->idempotencyKey);
        }

        return $json . '}';
    }
}
