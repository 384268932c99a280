<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Twig;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Recipient;
use Edgepush\TokenIssuer;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;
use Twig\Extension\AbstractExtension;
use Twig\TwigFunction;

/**
 * `{{ edgepush_token() }}`: a connect token for the logged-in user (whose class implements
 * {@see Recipient}); `{{ edgepush_token(user_id) }}` for any user id.
 */
final class TokenExtension extends AbstractExtension
{
    public function __construct(
        private readonly TokenIssuer $tokens,
        private readonly ?TokenStorageInterface $tokenStorage = null,
    ) {
    }

    public function getFunctions(): array
    {
        return [new TwigFunction('edgepush_token', $this->token(...))];
    }

    public function token(string|int|Recipient|null $user = null): string
    {
        return $this->tokens->issue($user ?? $this->currentUser());
    }

    private function currentUser(): Recipient
    {
        $user = $this->tokenStorage?->getToken()?->getUser();
        if ($user instanceof Recipient) {
            return $user;
        }
        if (!is_object($user)) {
            throw new InvalidInputException(
                'edgepush_token() was called without a user id and nobody is logged in; '
                . 'wrap it in {% if app.user %} or pass an id: edgepush_token(42).',
                'invalid_field',
            );
        }
        throw new ConfigurationException(sprintf(
            'edgepush_token() needs the logged-in user to implement Edgepush\Recipient, and %s does not; '
            . 'implement it (return the id you publish to) or pass the id: edgepush_token(app.user.id).',
            $user::class,
        ));
    }
}
