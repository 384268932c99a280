<?php

/*
 * Composer's autoloader when `composer install` ran; otherwise the PSR-4 stand-in for this package
 * plus the autoloaders of Debian's PHP packages (scripts/apt-packages.txt), so the suites run
 * without any download.
 */

declare(strict_types=1);

if (is_file(__DIR__ . '/../../vendor/autoload.php')) {
    require __DIR__ . '/../../vendor/autoload.php';

    return;
}

require __DIR__ . '/../autoload.php';

$packages = [
    'Symfony/Bundle/FrameworkBundle',
    'Symfony/Bundle/TwigBundle',
    'Symfony/Bridge/Twig',
    'Symfony/Component/Messenger',
    'Symfony/Component/Serializer',
    'Symfony/Component/PropertyAccess',
    'Symfony/Component/Security/Core',
    'Symfony/Component/HttpClient',
    'Symfony/Component/Mercure',
    'Symfony/Component/Yaml',
    'Symfony/Component/Dotenv',
    'Twig',
    'Psr/Http/Client',
    'Nyholm/Psr7',
];
foreach ($packages as $package) {
    $autoload = '/usr/share/php/' . $package . '/autoload.php';
    if (!is_file($autoload)) {
        fwrite(STDERR, "Missing $autoload: install the packages of scripts/apt-packages.txt (scripts/setup.sh).\n");
        exit(1);
    }
    require_once $autoload;
}
