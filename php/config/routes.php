<?php

/*
 * The bundle's routes; import them with the prefix of your choice (the recipe's
 * config/routes/edgepush.yaml uses /edgepush):
 *
 *     edgepush:
 *         resource: '@EdgepushBundle/config/routes.php'
 *         prefix: /edgepush
 */

declare(strict_types=1);

use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;

return static function (RoutingConfigurator $routes): void {
    $routes->add('edgepush_token', '/token')
        ->controller('edgepush.token_controller')
        ->methods(['GET']);
};
