<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Controller;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Recipient;
use Edgepush\TokenIssuer;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;

/**
 * `GET /edgepush/token` (route `edgepush_token`, imported from `@EdgepushBundle/config/routes.php`):
 * a connect token for the logged-in user, `{"token": "...", "expires_at": <seconds since the epoch>}`,
 * never cached; `401 {"error": {"code": "missing_token", ...}}` when nobody is logged in. The page's
 * token provider is then `() => fetch("/edgepush/token").then((r) => r.json()).then((j) => j.token)`.
 */
final class TokenController
{
    public function __construct(
        private readonly TokenIssuer $tokens,
        private readonly ?TokenStorageInterface $tokenStorage = null,
    ) {
    }

    public function __invoke(): JsonResponse
    {
        $user = $this->tokenStorage?->getToken()?->getUser();
        if (!is_object($user)) {
            return self::noStore(new JsonResponse(['error' => [
                'code' => 'missing_token',
                'message' => 'Nobody is logged in, so there is no edgepush token to give; log in first.',
            ]], 401));
        }
        if (!$user instanceof Recipient) {
            throw new ConfigurationException(sprintf(
                'The edgepush token endpoint needs the logged-in user to implement Edgepush\Recipient, and %s '
                . 'does not; implement it (return the id you publish to).',
                $user::class,
            ));
        }
        $token = $this->tokens->issue($user);
        $claims = json_decode(base64_decode(strtr(explode('.', $token)[1], '-_', '+/')), true, 8, JSON_THROW_ON_ERROR);

        return self::noStore(new JsonResponse(['token' => $token, 'expires_at' => $claims['exp']]));
    }

    private static function noStore(JsonResponse $response): JsonResponse
    {
        $response->headers->set('Cache-Control', 'no-store');

        return $response;
    }
}
