<?php

/*
 * A backend's webhook endpoint in plain PHP, for `php -S 127.0.0.1:PORT webhook-receiver.php`
 * (Integration\WebhookTest): verifies each request with the library (the test keys of
 * scripts/env.sh, the worker's first and its rotated one) and appends one JSON line per request
 * to $EDGEPUSH_STATE_DIR/webhooks.jsonl: {"target", "topic", "events"} when verified, {"target",
 * "refused", "message"} when not. Answers 204, or the refusal as the bundle's endpoint does.
 */

declare(strict_types=1);

use Edgepush\Exception\EdgepushException;
use Edgepush\Signer;
use Edgepush\Webhook;
use Edgepush\WebhookEvent;

require __DIR__ . '/../../autoload.php';

$target = (string) $_SERVER['REQUEST_URI'];
$record = static function (array $line): void {
    file_put_contents(
        getenv('EDGEPUSH_STATE_DIR') . '/webhooks.jsonl',
        json_encode($line, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n",
        FILE_APPEND | LOCK_EX,
    );
};
try {
    $webhook = Webhook::verify(
        $_SERVER['HTTP_EDGEPUSH_SIGNATURE'] ?? null,
        $target,
        (string) file_get_contents('php://input'),
        [
            new Signer((string) getenv('EDGEPUSH_TEST_KEY_ID'), (string) getenv('EDGEPUSH_TEST_PUBLISH_SECRET')),
            new Signer((string) getenv('EDGEPUSH_TEST_ROTATED_KEY_ID'), (string) getenv('EDGEPUSH_TEST_ROTATED_SECRET')),
        ],
        method: $_SERVER['REQUEST_METHOD'],
    );
} catch (EdgepushException $e) {
    $record(['target' => $target, 'refused' => $e->getErrorCode(), 'message' => $e->getMessage()]);
    http_response_code($e->getHttpStatus() ?? 400);
    header('Content-Type: application/json');
    echo json_encode(['error' => ['code' => $e->getErrorCode(), 'message' => $e->getMessage()]]);

    return;
}
$record([
    'target' => $target,
    'topic' => $webhook->topic,
    'events' => array_map(
        static fn (WebhookEvent $e): array => ['type' => $e->type, 'user' => $e->user, 'ts' => $e->ts],
        $webhook->events,
    ),
]);
http_response_code(204);
