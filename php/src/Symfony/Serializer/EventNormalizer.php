<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Serializer;

use Edgepush\Event;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Symfony\Messenger\PublishMessage;
use Edgepush\Topic;
use Symfony\Component\Serializer\Exception\NotNormalizableValueException;
use Symfony\Component\Serializer\Normalizer\DenormalizerInterface;
use Symfony\Component\Serializer\Normalizer\NormalizerInterface;

/**
 * {@see PublishMessage} and {@see Event} for the Symfony Serializer, e.g. Messenger's
 * `messenger.transport.symfony_serializer`, as the publish body's fields:
 *
 *     {"user":"42","name":"Message","payload_json":"{\"text\":\"Hi\"}","idempotency_key":"…"}
 *
 * (`"topic"` instead of `"user"` for a topic). The payload travels as its JSON text, in a string:
 * a decoder that turns JSON objects into PHP arrays would make `{}` and `[]` the same, so the
 * event that is published is byte for byte the one that was queued, with the same idempotency key.
 * Reading back, the fields are validated like a new Event's, and the shape that Symfony's
 * ObjectNormalizer gave a PublishMessage before this normalizer existed (`{"event":{…,
 * "payloadJson":…,"idempotencyKey":…}}`) is read too. A message that cannot be read fails as the
 * Serializer's NotNormalizableValueException, which Messenger turns into a
 * MessageDecodingFailedException: the transport rejects it instead of the worker stopping.
 *
 * Registered by the bundle (tag `serializer.normalizer`) when symfony/serializer is installed.
 *
 * @internal
 */
final class EventNormalizer implements NormalizerInterface, DenormalizerInterface
{
    /**
     * @param array<string, mixed> $context
     *
     * @return array<string, string>
     */
    public function normalize(mixed $object, ?string $format = null, array $context = []): array
    {
        $event = $object instanceof PublishMessage ? $object->event : $object;
        if (!$event instanceof Event) {
            throw new NotNormalizableValueException(sprintf(
                '%s normalizes an Edgepush\Event or a PublishMessage, not a %s.',
                self::class,
                get_debug_type($object),
            ));
        }
        $data = $event->topic === null ? ['user' => (string) $event->user] : ['topic' => $event->topic];
        $data['name'] = $event->name;
        $data['payload_json'] = $event->payloadJson;
        if ($event->idempotencyKey !== null) {
            $data['idempotency_key'] = $event->idempotencyKey;
        }

        return $data;
    }

    /** @param array<string, mixed> $context */
    public function supportsNormalization(mixed $data, ?string $format = null, array $context = []): bool
    {
        return $data instanceof PublishMessage || $data instanceof Event;
    }

    /** @param array<string, mixed> $context */
    public function denormalize(mixed $data, string $type, ?string $format = null, array $context = []): mixed
    {
        if (is_array($data) && array_keys($data) === ['event'] && is_array($data['event'])) {
            $data = $data['event']; // a PublishMessage as ObjectNormalizer wrote it
        }
        if (!is_array($data)) {
            throw self::unreadable($type, sprintf('an object of fields was expected, not %s', get_debug_type($data)));
        }
        $user = $data['user'] ?? null;
        $topic = $data['topic'] ?? null;
        $name = $data['name'] ?? null;
        $payloadJson = $data['payload_json'] ?? $data['payloadJson'] ?? null;
        $key = $data['idempotency_key'] ?? $data['idempotencyKey'] ?? null;
        if (($user === null) === ($topic === null)) {
            throw self::unreadable($type, 'it needs either a "user" or a "topic"');
        }
        $fields = ['user' => $user, 'topic' => $topic, 'name' => $name, 'payload_json' => $payloadJson];
        foreach ($fields + ['idempotency_key' => $key] as $field => $value) {
            $valid = is_string($value)
                || $field === 'user' && is_int($value)
                || $value === null && in_array($field, ['user', 'topic', 'idempotency_key'], true);
            if (!$valid) {
                throw self::unreadable($type, sprintf('"%s" must be a string, not %s', $field, get_debug_type($value)));
            }
        }
        try {
            $event = Event::withPayloadJson($topic === null ? $user : new Topic($topic), $name, $payloadJson, $key);

            return $type === Event::class ? $event : PublishMessage::ofEvent($event);
        } catch (InvalidInputException $e) {
            throw self::unreadable($type, $e->getMessage(), $e);
        }
    }

    /** @param array<string, mixed> $context */
    public function supportsDenormalization(
        mixed $data,
        string $type,
        ?string $format = null,
        array $context = [],
    ): bool {
        return $type === PublishMessage::class || $type === Event::class;
    }

    /**
     * For the Serializer of Symfony 6.3 and later: the types it handles, the answer of the supports
     * methods depending on the type only.
     *
     * @return array<class-string, bool>
     */
    public function getSupportedTypes(?string $format): array
    {
        return [PublishMessage::class => true, Event::class => true];
    }

    private static function unreadable(
        string $type,
        string $problem,
        ?\Throwable $previous = null,
    ): NotNormalizableValueException {
        return new NotNormalizableValueException(
            sprintf('Cannot read the %s: %s.', $type, rtrim($problem, '.')),
            0,
            $previous,
        );
    }
}
