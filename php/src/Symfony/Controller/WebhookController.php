<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Controller;

use Edgepush\Exception\EdgepushException;
use Edgepush\Signer;
use Edgepush\Symfony\Event\WebhookReceived;
use Edgepush\Webhook;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Contracts\EventDispatcher\EventDispatcherInterface;

/**
 * `POST /edgepush/webhook` (route `edgepush_webhook`, imported from `@EdgepushBundle/config/routes.php`):
 * verifies a webhook of the worker with the bundle's publish key (and `webhook_keys`), dispatches a
 * WebhookReceived, and answers `204`. A refused signature answers `401` and a body that is no webhook
 * `400`, both `{"error": {"code": "...", "message": "..."}}` with the shared error codes. The worker
 * sends any delivery that was not answered `2xx` again, and logs `webhook_failed` when it drops one.
 */
final class WebhookController
{
    /** @param list<Signer> $keys */
    public function __construct(
        private readonly array $keys,
        private readonly ?EventDispatcherInterface $dispatcher = null,
    ) {
    }

    public function __invoke(Request $request): Response
    {
        try {
            $webhook = Webhook::verify(
                $request->headers->get(Signer::HEADER),
                $request->getRequestUri(),
                (string) $request->getContent(),
                $this->keys,
                time(),
                $request->getMethod(),
            );
        } catch (EdgepushException $e) {
            return new JsonResponse(
                ['error' => ['code' => $e->getErrorCode(), 'message' => $e->getMessage()]],
                $e->getHttpStatus() ?? 400,
            );
        }
        $this->dispatcher?->dispatch(new WebhookReceived($webhook));

        return new Response(null, 204);
    }
}
