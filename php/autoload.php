<?php

/*
 * Stand-in for Composer's vendor/autoload.php where Composer is not available (e.g. a Debian machine
 * with PHP packages from apt): registers the PSR-4 prefixes that the repository root's composer.json
 * declares, so the mapping has a single source of truth.
 */

declare(strict_types=1);

(static function (): void {
    $root = dirname(__DIR__);
    $composer = json_decode((string) file_get_contents($root . '/composer.json'), true, 512, JSON_THROW_ON_ERROR);
    $prefixes = ($composer['autoload']['psr-4'] ?? []) + ($composer['autoload-dev']['psr-4'] ?? []);
    uksort($prefixes, static fn (string $a, string $b): int => strlen($b) <=> strlen($a)); // longest first
    spl_autoload_register(static function (string $class) use ($prefixes, $root): void {
        foreach ($prefixes as $prefix => $dir) {
            if (str_starts_with($class, $prefix)) {
                $file = $root . '/' . $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
                if (is_file($file)) {
                    require $file;
                }
                return;
            }
        }
    });
})();
