<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\SignatureRejectedException;

/**
 * One webhook delivery of the worker: what happened to a topic's readers, oldest first.
 *
 * With `WEBHOOK_URL` set, each topic of a namespace with `"webhooks": true` posts
 * `{"topic":"room:7","events":[{"type":"occupied","ts":<ms>},{"type":"member_joined","user":"42","ts":<ms>}]}`,
 * signed like a publish request with the first key of the worker's `PUBLISH_KEYS`. Delivery is at
 * least once (a lost `2xx` means the same events again), so handle them idempotently.
 *
 * ```php
 * $webhook = Webhook::verify($_SERVER['HTTP_EDGEPUSH_SIGNATURE'] ?? null, $_SERVER['REQUEST_URI'],
 *     file_get_contents('php://input'), new Signer($keyId, $secret));
 * ```
 */
final class Webhook
{
    /**
     * @param string             $topic  the topic, e.g. `room:7`
     * @param list<WebhookEvent> $events what happened, oldest first
     */
    public function __construct(
        public readonly string $topic,
        public readonly array $events,
    ) {
    }

    /**
     * Verifies a delivery's signature, then parses its body.
     *
     * @param string|null         $signature the Edgepush-Signature header, null when there is none
     * @param string              $target    the request target as received (path and query), e.g.
     *                                       `$_SERVER['REQUEST_URI']` or Symfony's `$request->getRequestUri()`
     * @param string              $body      the raw body, byte for byte
     * @param Signer|list<Signer> $keys      the publish keys to accept: the one the worker's PUBLISH_KEYS
     *                                       lists first, and the next one while rotating
     * @param int|null            $now       seconds since the Unix epoch (default: time())
     *
     * @throws SignatureRejectedException the signature does not hold (its code says why: missing_signature,
     *                                    invalid_signature, unknown_key, stale_timestamp; status 401)
     * @throws InvalidInputException      the body is not a webhook (invalid_json, invalid_field)
     */
    public static function verify(
        ?string $signature,
        string $target,
        string $body,
        Signer|array $keys,
        ?int $now = null,
        string $method = 'POST',
    ): self {
        $refusal = Signer::verify($signature, $method, $target, $body, $now ?? time(), $keys);
        if ($refusal !== null) {
            throw new SignatureRejectedException(Signer::REFUSALS[$refusal], $refusal, 401);
        }

        return self::parse($body);
    }

    /**
     * Parses a body without checking any signature (verify() checks it first).
     *
     * An event of a type this version does not know is kept (see WebhookEvent); fields it does
     * not know are ignored.
     *
     * @throws InvalidInputException not JSON (invalid_json), or not `{"topic": string, "events": [...]}`
     *                               with each event's `type` a string, `ts` a non-negative integer and
     *                               `user` a string for member_joined and member_left (invalid_field)
     */
    public static function parse(string $body): self
    {
        try {
            $data = json_decode($body, true, 16, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (\JsonException $e) {
            throw new InvalidInputException('The webhook body is not JSON: ' . $e->getMessage(), 'invalid_json', null, $e);
        }
        if (!is_array($data) || ($data !== [] && array_is_list($data))) {
            throw self::invalid('it is not a JSON object');
        }
        if (!is_string($data['topic'] ?? null) || $data['topic'] === '') {
            throw self::invalid('"topic" is not a non-empty string');
        }
        if (!is_array($data['events'] ?? null) || !array_is_list($data['events'])) {
            throw self::invalid('"events" is not a list');
        }
        $events = [];
        foreach ($data['events'] as $i => $event) {
            if (!is_array($event) || ($event !== [] && array_is_list($event))) {
                throw self::invalid("event $i is not an object");
            }
            $type = $event['type'] ?? null;
            if (!is_string($type) || $type === '') {
                throw self::invalid("event $i has no \"type\"");
            }
            if (!is_int($event['ts'] ?? null) || $event['ts'] < 0) {
                throw self::invalid("event $i ($type) has no \"ts\" in milliseconds");
            }
            $user = $event['user'] ?? null;
            if ($user !== null && !is_string($user)) {
                throw self::invalid("event $i ($type) has a \"user\" that is not a string");
            }
            if ($user === null && in_array($type, [WebhookEvent::MEMBER_JOINED, WebhookEvent::MEMBER_LEFT], true)) {
                throw self::invalid("event $i ($type) names no \"user\"");
            }
            $events[] = new WebhookEvent($type, $user, $event['ts']);
        }

        return new self($data['topic'], $events);
    }

    private static function invalid(string $problem): InvalidInputException
    {
        return new InvalidInputException("The body is not an edgepush webhook: $problem.", 'invalid_field');
    }
}
