<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Twig;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Recipient;
use Edgepush\TokenIssuer;
use Edgepush\Topic;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;
use Twig\Extension\RuntimeExtensionInterface;

/**
 * What `edgepush_token()` and `edgepush_subscription_token()` do ({@see TokenExtension} declares
 * them). A Twig runtime, built only when a template calls one of them: so a TokenIssuer that
 * cannot be built (the recipe's placeholder secret) fails those calls with its
 * ConfigurationException, not every page that Twig renders.
 */
final class TokenRuntime implements RuntimeExtensionInterface
{
    public function __construct(
        private readonly TokenIssuer $tokens,
        private readonly ?TokenStorageInterface $tokenStorage = null,
    ) {
    }

    /**
     * @param iterable<string|Topic> $topics topics and patterns the connection may subscribe to
     * @param iterable<string|Topic> $subs   topics the connection is subscribed to from the start
     */
    public function token(mixed $user = null, iterable $topics = [], iterable $subs = []): string
    {
        return $this->tokens->issue($this->user($user, 'edgepush_token'), null, $topics, $subs);
    }

    public function subscriptionToken(string|Topic $topic, mixed $user = null): string
    {
        return $this->tokens->subscriptionToken($this->user($user, 'edgepush_subscription_token'), $topic);
    }

    /** @param mixed $user what the template passed: an id, a Recipient, or null for the logged-in user */
    private function user(mixed $user, string $function): string|int|Recipient
    {
        if ($user === null) {
            return $this->currentUser($function);
        }
        if (is_string($user) || is_int($user) || $user instanceof Recipient) {
            return $user;
        }
        if (is_object($user)) {
            throw new ConfigurationException(sprintf(
                '%s() was passed a %s, which does not implement Edgepush\Recipient; implement it on that class '
                . '(return the id you publish to) or pass the id: %s',
                $function,
                $user::class,
                $function === 'edgepush_token' ? 'edgepush_token(app.user.id).' : "$function('private:x', app.user.id).",
            ));
        }
        throw new InvalidInputException(sprintf(
            '%s() takes a user id (a string or an integer) or an Edgepush\Recipient, not %s.',
            $function,
            get_debug_type($user),
        ), 'invalid_field');
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
