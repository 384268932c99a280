<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Twig;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Recipient;
use Twig\Extension\AbstractExtension;
use Twig\TwigFunction;

/**
 * `{{ edgepush_token() }}`: a connect token for the logged-in user (whose class implements
 * {@see Recipient}); `{{ edgepush_token(user_id) }}` for any user id;
 * `{{ edgepush_token(topics: ['product:*']) }}` with topic grants;
 * `{{ edgepush_token(subs: ['feed:all']) }}` subscribed to topics from the start.
 * `{{ edgepush_subscription_token('private:x') }}`: a subscription token for one topic, for the
 * logged-in user (or `edgepush_subscription_token('private:x', user_id)`).
 * `{{ edgepush_public_url() }}`: the worker's URL for the browser (the `public_url` setting, or `url`
 * when it is unset or empty, as the recipe's empty EDGEPUSH_PUBLIC_URL is).
 *
 * The token functions run in {@see TokenRuntime}, which Twig builds (with the TokenIssuer) only
 * when a template calls one of them; Twig builds every extension for every template it renders.
 */
final class TokenExtension extends AbstractExtension
{
    /**
     * @param ?string $publicUrl the worker's URL as browsers reach it; null or "" (an empty
     *                           environment variable): $url
     * @param ?string $url       the worker's URL as the app reaches it
     */
    public function __construct(private readonly ?string $publicUrl = null, private readonly ?string $url = null)
    {
    }

    public function getFunctions(): array
    {
        return [
            new TwigFunction('edgepush_token', [TokenRuntime::class, 'token']),
            new TwigFunction('edgepush_subscription_token', [TokenRuntime::class, 'subscriptionToken']),
            new TwigFunction('edgepush_public_url', $this->publicUrl(...)),
        ];
    }

    public function publicUrl(): string
    {
        return self::browserUrl($this->publicUrl, $this->url) ?? throw new ConfigurationException(
            'edgepush_public_url() has no URL to render; set edgepush.public_url (or edgepush.url).',
        );
    }

    /**
     * The URL browsers connect to: $publicUrl unless it is null or empty (an unset or empty
     * environment variable is known only at runtime), else $url, else null.
     *
     * @internal
     */
    public static function browserUrl(?string $publicUrl, ?string $url): ?string
    {
        foreach ([$publicUrl, $url] as $candidate) {
            if ($candidate !== null && trim($candidate) !== '') {
                return trim($candidate);
            }
        }

        return null;
    }
}
