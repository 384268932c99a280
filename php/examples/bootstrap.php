<?php

/*
 * Shared by the example scripts: loads the library (Composer's autoloader, or the stand-in when
 * run from a checkout) and runs one publish with the settings of the environment:
 * EDGEPUSH_URL (default http://127.0.0.1:8787), EDGEPUSH_KEY_ID, EDGEPUSH_PUBLISH_SECRET.
 */

declare(strict_types=1);

use Edgepush\Exception\EdgepushException;
use Edgepush\PublishedEvent;
use Edgepush\Publisher;

/**
 * Checks the arguments, publishes with $publish and prints the event id and socket count.
 *
 * @param list<string>                                        $argv
 * @param \Closure(Publisher, string, string): PublishedEvent $publish gets the publisher, user id (or topic) and value
 *
 * @return int the exit status
 */
function edgepush_example(array $argv, string $usage, \Closure $publish): int
{
    $composer = __DIR__ . '/../../vendor/autoload.php';
    require_once is_file($composer) ? $composer : __DIR__ . '/../autoload.php';
    if (count($argv) !== 3) {
        fwrite(STDERR, "usage: php {$argv[0]} $usage\n");

        return 2;
    }
    $keyId = (string) getenv('EDGEPUSH_KEY_ID');
    $secret = (string) getenv('EDGEPUSH_PUBLISH_SECRET');
    if ($keyId === '' || $secret === '') {
        fwrite(STDERR, 'Set EDGEPUSH_KEY_ID and EDGEPUSH_PUBLISH_SECRET to a publish key of the worker '
            . "(and EDGEPUSH_URL if it is not http://127.0.0.1:8787).\n");

        return 2;
    }
    try {
        $publisher = new Publisher(getenv('EDGEPUSH_URL') ?: 'http://127.0.0.1:8787', $keyId, $secret);
        $event = $publish($publisher, $argv[1], $argv[2]);
    } catch (EdgepushException $e) {
        fwrite(STDERR, $e->getMessage() . "\n");

        return 1;
    }
    $to = $event->topic === null ? "user $event->user" : "topic $event->topic";
    printf("event %d sent to %d socket(s) of %s\n", $event->id, $event->sockets, $to);

    return 0;
}
