<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Twig;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Recipient;
use Edgepush\Topic;
use Symfony\Component\Routing\Exception\RouteNotFoundException;
use Symfony\Component\Routing\Generator\UrlGeneratorInterface;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;
use Twig\Extension\AbstractExtension;
use Twig\TwigFunction;

/**
 * `{{ edgepush_stimulus_controller() }}`: the attributes of the SDK's Stimulus controller
 * (`@edgepush/client/stimulus`, registered as "edgepush") for the logged-in user, to put on an
 * element:
 *
 *     <div {{ edgepush_stimulus_controller() }} data-action="edgepush:event->feed#add"></div>
 *
 * renders `data-controller="edgepush" data-edgepush-url-value="<public_url>"
 * data-edgepush-token-url-value="<the edgepush_token route>"`, so the controller connects to the
 * worker with tokens from the bundle's token endpoint. `events = ['Message']` limits the events it
 * dispatches to those names (and names the events of `topics = ['feed:all']`, which it subscribes
 * to); `token_url` replaces the route. Renders nothing when nobody is logged in, so an anonymous
 * page opens no connection.
 */
final class StimulusExtension extends AbstractExtension
{
    /**
     * @param ?string $publicUrl the worker's URL as browsers reach it; null or "": $url
     * @param ?string $url       the worker's URL as the app reaches it
     */
    public function __construct(
        private readonly ?string $publicUrl,
        private readonly ?TokenStorageInterface $tokenStorage = null,
        private readonly ?UrlGeneratorInterface $urls = null,
        private readonly ?string $url = null,
    ) {
    }

    public function getFunctions(): array
    {
        return [new TwigFunction('edgepush_stimulus_controller', $this->controller(...), ['is_safe' => ['html']])];
    }

    /**
     * @param iterable<string>       $events names of the events to dispatch (none: every event of the user)
     * @param iterable<string|Topic> $topics topics to subscribe to
     */
    public function controller(iterable $events = [], iterable $topics = [], ?string $tokenUrl = null): string
    {
        $user = $this->tokenStorage?->getToken()?->getUser();
        if (!is_object($user)) {
            return '';
        }
        if (!$user instanceof Recipient) {
            throw new ConfigurationException(sprintf(
                'edgepush_stimulus_controller() needs the logged-in user to implement Edgepush\Recipient (the token '
                . 'endpoint issues tokens for it), and %s does not; implement it (return the id you publish to).',
                $user::class,
            ));
        }
        $attributes = [
            'data-controller' => 'edgepush',
            'data-edgepush-url-value' => TokenExtension::browserUrl($this->publicUrl, $this->url) ?? throw new ConfigurationException(
                'edgepush_stimulus_controller() has no URL to render; set edgepush.public_url (or edgepush.url).',
            ),
            'data-edgepush-token-url-value' => $tokenUrl ?? $this->tokenUrl(),
        ];
        $events = array_map('strval', [...$events]);
        $topics = array_map('strval', [...$topics]);
        if ($events !== []) {
            $attributes['data-edgepush-events-value'] = json_encode($events, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        }
        if ($topics !== []) {
            $attributes['data-edgepush-topics-value'] = json_encode($topics, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        }

        return implode(' ', array_map(
            static fn (string $name, string $value): string => sprintf(
                '%s="%s"',
                $name,
                htmlspecialchars($value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8'),
            ),
            array_keys($attributes),
            $attributes,
        ));
    }

    private function tokenUrl(): string
    {
        try {
            if ($this->urls !== null) {
                return $this->urls->generate('edgepush_token');
            }
        } catch (RouteNotFoundException) {
        }
        throw new ConfigurationException(
            'edgepush_stimulus_controller() found no edgepush_token route; import the bundle\'s routes '
            . '(the recipe\'s config/routes/edgepush.yaml: resource \'@EdgepushBundle/config/routes.php\') '
            . 'or pass token_url.',
        );
    }
}
