<?php

declare(strict_types=1);

namespace Edgepush\Symfony\DependencyInjection;

use Symfony\Component\Config\Definition\Builder\TreeBuilder;
use Symfony\Component\Config\Definition\ConfigurationInterface;

/** The `edgepush` configuration tree. */
final class Configuration implements ConfigurationInterface
{
    public function getConfigTreeBuilder(): TreeBuilder
    {
        $tree = new TreeBuilder('edgepush');
        $tree->getRootNode()
            ->children()
                ->scalarNode('url')->isRequired()->cannotBeEmpty()
                    ->info('Base URL of the edgepush worker, e.g. https://push.example.com (no path)')->end()
                ->scalarNode('public_url')->defaultNull()
                    ->info('The worker\'s URL as browsers reach it, for edgepush_public_url() (default: url)')->end()
                ->scalarNode('key_id')->isRequired()->cannotBeEmpty()
                    ->info('Publish key id, as in the worker\'s PUBLISH_KEYS')->end()
                ->scalarNode('publish_secret')->isRequired()->cannotBeEmpty()
                    ->info('Secret of that publish key (at least 32 bytes)')->end()
                ->arrayNode('webhook_keys')
                    ->info('More publish keys (id: secret) that webhooks may be signed with, besides key_id, '
                        . 'while rotating: the worker signs with the first key of its PUBLISH_KEYS')
                    ->useAttributeAsKey('id')
                    ->normalizeKeys(false)
                    ->scalarPrototype()->cannotBeEmpty()->end()
                ->end()
                ->scalarNode('jwt_secret')->isRequired()->cannotBeEmpty()
                    ->info('The worker\'s JWT_SECRET, to issue connect tokens (at least 32 bytes)')->end()
                ->integerNode('token_ttl')->defaultValue(3600)->min(1)
                    ->info('Seconds a connect token stays valid')->end()
                ->scalarNode('token_audience')->defaultNull()
                    ->info('The tokens\' aud claim, if the worker requires one')->end()
                ->scalarNode('token_issuer')->defaultNull()
                    ->info('The tokens\' iss claim, if the worker requires one')->end()
                ->booleanNode('messenger')->defaultFalse()
                    ->info('Make Edgepush\Messaging::send() dispatch a PublishMessage on the default bus '
                        . 'instead of publishing during the request')->end()
                ->scalarNode('http_client')->defaultNull()
                    ->info('Service id of a PSR-18 client to publish with (default: built-in curl transport)')->end()
                ->floatNode('timeout')->defaultValue(10.0)->min(0.001)
                    ->info('Seconds per request of the built-in curl transport (with http_client, set the client\'s own)')->end()
                ->integerNode('max_attempts')->defaultValue(4)->min(1)
                    ->info('Attempts per call; network errors and 5xx answers are retried with backoff')->end()
            ->end();

        return $tree;
    }
}
