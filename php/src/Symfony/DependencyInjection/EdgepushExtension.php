<?php

declare(strict_types=1);

namespace Edgepush\Symfony\DependencyInjection;

use Edgepush\Http\CurlTransport;
use Edgepush\Http\Psr18Transport;
use Edgepush\Messaging;
use Edgepush\Publisher;
use Edgepush\RetryPolicy;
use Edgepush\Signer;
use Edgepush\Symfony\Controller\TokenController;
use Edgepush\Symfony\Controller\WebhookController;
use Edgepush\Symfony\Messenger\MessengerMessaging;
use Edgepush\Symfony\Messenger\PublishMessage;
use Edgepush\Symfony\Messenger\PublishMessageHandler;
use Edgepush\Symfony\Serializer\EventNormalizer;
use Edgepush\Symfony\Twig\StimulusExtension;
use Edgepush\Symfony\Twig\TokenExtension;
use Edgepush\Symfony\Twig\TokenRuntime;
use Edgepush\TokenIssuer;
use Edgepush\TopicMessaging;
use Psr\Http\Message\RequestFactoryInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Symfony\Component\Config\Definition\Exception\InvalidConfigurationException;
use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\DependencyInjection\ContainerInterface;
use Symfony\Component\DependencyInjection\Definition;
use Symfony\Component\DependencyInjection\Extension\Extension;
use Symfony\Component\DependencyInjection\Reference;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\Messenger\MessageBusInterface;
use Symfony\Component\Serializer\Normalizer\DenormalizerInterface;
use Twig\Extension\AbstractExtension;

/**
 * Services: edgepush.publisher, edgepush.token_issuer and edgepush.messaging, autowirable as
 * Publisher, TokenIssuer and Messaging (or TopicMessaging, the same service); the PublishMessage
 * handler when Messenger is installed; edgepush.event_normalizer, which writes and reads PublishMessage
 * and Event for the Symfony Serializer (Messenger's symfony_serializer transport serializer), when that
 * is installed; the Twig extensions when Twig is (edgepush_token() and the others, with the token
 * functions in a runtime built only when a template calls them; edgepush_stimulus_controller()); the
 * token endpoint's and the webhook endpoint's controllers (edgepush.token_controller,
 * edgepush.webhook_controller) when HttpFoundation is.
 */
final class EdgepushExtension extends Extension
{
    /** @param array<array<string, mixed>> $configs */
    public function load(array $configs, ContainerBuilder $container): void
    {
        $config = $this->processConfiguration(new Configuration(), $configs);
        $messengerInstalled = interface_exists(MessageBusInterface::class);

        if ($config['http_client'] !== null && array_filter($configs, static fn (array $c): bool => isset($c['timeout'])) !== []) {
            throw new InvalidConfigurationException(sprintf(
                'edgepush.timeout applies to the built-in curl transport only, and edgepush.http_client ("%s") replaces '
                . 'it: set the timeout on that client, and remove edgepush.timeout.',
                $config['http_client'],
            ));
        }
        $container->setParameter('edgepush.http_client', $config['http_client']);
        $transport = $config['http_client'] === null
            ? new Definition(CurlTransport::class, [$config['timeout']])
            : new Definition(Psr18Transport::class, [
                new Reference($config['http_client']),
                // the app's PSR-17 factories (nyholm/psr7's recipe registers them), if any: null
                // leaves them to the client, if it is one (Symfony's Psr18Client); CheckHttpClientPass
                // refuses a client without either
                new Reference(RequestFactoryInterface::class, ContainerInterface::NULL_ON_INVALID_REFERENCE),
                new Reference(StreamFactoryInterface::class, ContainerInterface::NULL_ON_INVALID_REFERENCE),
            ]);
        $container->register('edgepush.publisher', Publisher::class)->setArguments([
            $config['url'],
            $config['key_id'],
            $config['publish_secret'],
            $transport,
            new Definition(RetryPolicy::class, [$config['max_attempts']]),
        ]);
        $container->setAlias(Publisher::class, 'edgepush.publisher');

        $container->register('edgepush.token_issuer', TokenIssuer::class)->setArguments([
            $config['jwt_secret'],
            $config['token_ttl'],
            $config['token_audience'],
            $config['token_issuer'],
        ]);
        $container->setAlias(TokenIssuer::class, 'edgepush.token_issuer');

        if ($messengerInstalled) {
            $container->register('edgepush.publish_message_handler', PublishMessageHandler::class)
                ->setArguments([new Reference('edgepush.publisher')])
                ->addTag('messenger.message_handler', ['handles' => PublishMessage::class]);
        }
        if (interface_exists(DenormalizerInterface::class)) {
            // before ObjectNormalizer (-1000), which writes a PublishMessage it cannot read back
            $container->register('edgepush.event_normalizer', EventNormalizer::class)
                ->addTag('serializer.normalizer', ['priority' => 100]);
        }
        if ($config['messenger']) {
            if (!$messengerInstalled) {
                throw new InvalidConfigurationException(
                    'edgepush.messenger is true but symfony/messenger is not installed; '
                    . 'install it or set edgepush.messenger: false.',
                );
            }
            $container->register('edgepush.messenger_messaging', MessengerMessaging::class)
                ->setArguments([new Reference(MessageBusInterface::class)]);
        }
        $messaging = $config['messenger'] ? 'edgepush.messenger_messaging' : 'edgepush.publisher';
        $container->setAlias('edgepush.messaging', $messaging);
        $container->setAlias(Messaging::class, 'edgepush.messaging');
        $container->setAlias(TopicMessaging::class, 'edgepush.messaging');

        $tokenStorage = new Reference('security.token_storage', ContainerInterface::NULL_ON_INVALID_REFERENCE);
        if (class_exists(AbstractExtension::class)) {
            $container->register('edgepush.twig_extension', TokenExtension::class)
                // both: the choice is made at runtime, when an env() placeholder is resolved (an empty
                // EDGEPUSH_PUBLIC_URL, the recipe's default, means url)
                ->setArguments([$config['public_url'], $config['url']])
                ->addTag('twig.extension');
            // built when a template calls edgepush_token(), not with Twig: the issuer throws on a short secret
            $container->register('edgepush.twig_token_runtime', TokenRuntime::class)
                ->setArguments([new Reference('edgepush.token_issuer'), $tokenStorage])
                ->addTag('twig.runtime');
            $container->register('edgepush.twig_stimulus_extension', StimulusExtension::class)
                ->setArguments([
                    $config['public_url'],
                    $tokenStorage,
                    new Reference('router', ContainerInterface::NULL_ON_INVALID_REFERENCE),
                    $config['url'],
                ])
                ->addTag('twig.extension');
        }
        if (class_exists(JsonResponse::class)) {
            $container->register('edgepush.token_controller', TokenController::class)
                ->setArguments([new Reference('edgepush.token_issuer'), $tokenStorage])
                ->setPublic(true)
                ->addTag('controller.service_arguments');
            $keys = [new Definition(Signer::class, [$config['key_id'], $config['publish_secret']])];
            foreach ($config['webhook_keys'] as $id => $secret) {
                $keys[] = new Definition(Signer::class, [(string) $id, $secret]);
            }
            $container->register('edgepush.webhook_controller', WebhookController::class)
                ->setArguments([
                    $keys,
                    new Reference('event_dispatcher', ContainerInterface::NULL_ON_INVALID_REFERENCE),
                ])
                ->setPublic(true)
                ->addTag('controller.service_arguments');
        }
    }
}
