<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Event;

use Edgepush\Webhook;
use Symfony\Contracts\EventDispatcher\Event;

/**
 * Dispatched by the bundle's webhook endpoint (route `edgepush_webhook`) once per verified
 * delivery, under its class name:
 *
 * ```php
 * #[AsEventListener]
 * public function __invoke(WebhookReceived $received): void
 * {
 *     foreach ($received->webhook->events as $event) { ... }   // oldest first
 * }
 * ```
 *
 * Delivery is at least once: the same events may come again, so handle them idempotently. A
 * listener that throws makes the endpoint answer 500, and the worker delivers again (after 1, 2,
 * 4, 8 and 16 s, then drops the events).
 */
final class WebhookReceived extends Event
{
    public function __construct(public readonly Webhook $webhook)
    {
    }
}
