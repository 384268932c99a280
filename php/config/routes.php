<?php

/*
 * The bundle's routes; import them with the prefix of your choice (the recipe's
 * config/routes/edgepush.yaml uses /edgepush):
 *
 *     edgepush:
 *         resource: '@EdgepushBundle/config/routes.php'
 *         prefix: /edgepush
 *
 * edgepush_token: GET {prefix}/token, the logged-in user's connect token.
 * edgepush_webhook: POST {prefix}/webhook, the worker's signed webhooks (its WEBHOOK_URL).
 */

declare(strict_types=1);

use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;

return static function (RoutingConfigurator $routes): void {
    $routes->add('edgepush_token', '/token')
        ->controller('edgepush.token_controller')
        ->methods(['GET']);
    $routes->add('edgepush_webhook', '/webhook')
        ->controller('edgepush.webhook_controller')
        ->methods(['POST']);
};
