<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Twig;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Recipient;
use Edgepush\TokenIssuer;
use Edgepush\Topic;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;
use Twig\Extension\AbstractExtension;
use Twig\TwigFunction;

/**
 * `{{ edgepush_token() }}`: a connect token for the logged-in user (whose class implements
 * {@see Recipient}); `{{ edgepush_token(user_id) }}` for any user id;
 * `{{ edgepush_token(topics: ['product:*']) }}` with topic grants;
 * `{{ edgepush_token(subs: ['feed:all']) }}` subscribed to topics from the start.
 * `{{ edgepush_subscription_token('private:x') }}`: a subscription token for one topic, for the
 * logged-in user (or `edgepush_subscription_token('private:x', user_id)`).
 * `{{ edgepush_public_url() }}`: the worker's URL for the browser (the `public_url` setting, or `url`).
 */
final class TokenExtension extends AbstractExtension
{
    public function __construct(
        private readonly TokenIssuer $tokens,
        private readonly ?TokenStorageInterface $tokenStorage = null,
        private readonly ?string $publicUrl = null,
    ) {
    }

    public function getFunctions(): array
    {
        return [
            new TwigFunction('edgepush_token', $this->token(...)),
            new TwigFunction('edgepush_subscription_token', $this->subscriptionToken(...)),
            new TwigFunction('edgepush_public_url', $this->publicUrl(...)),
        ];
    }

    public function publicUrl(): string
    {
        return $this->publicUrl ?? throw new ConfigurationException(
            'edgepush_public_url() has no URL to render; set edgepush.public_url (or edgepush.url).',
        );
    }

    /**
     * @param iterable<string|Topic> $topics topics and patterns the connection may subscribe to
     * @param iterable<string|Topic> $subs   topics the connection is subscribed to from the start
     */
    public function token(string|int|Recipient|null $user = null, iterable $topics = [], iterable $subs = []): string
    {
        return $this->tokens->issue($user ?? $this->currentUser('edgepush_token'), null, $topics, $subs);
    }

    public function subscriptionToken(string|Topic $topic, string|int|Recipient|null $user = null): string
    {
        return $this->tokens->subscriptionToken($user ?? $this->currentUser('edgepush_subscription_token'), $topic);
    }

    private function currentUser(string $function): Recipient
    {
        $user = $this->tokenStorage?->getToken()?->getUser();
        if ($user instanceof Recipient) {
            return $user;
        }
        if (!is_object($user)) {
            throw new InvalidInputException(sprintf(
                '%s() was called without a user id and nobody is logged in; '
                . 'wrap it in {%% if app.user %%} or pass an id: %s',
                $function,
                $function === 'edgepush_token' ? 'edgepush_token(42).' : "$function('private:x', 42).",
            ), 'invalid_field');
        }
        throw new ConfigurationException(sprintf(
            '%s() needs the logged-in user to implement Edgepush\Recipient, and %s does not; '
            . 'implement it (return the id you publish to) or pass the id: %s',
            $function,
            $user::class,
            $function === 'edgepush_token' ? 'edgepush_token(app.user.id).' : "$function('private:x', app.user.id).",
        ));
    }
}
