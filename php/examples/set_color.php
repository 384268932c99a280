<?php

/* Changes the background color of a user's pages: php examples/set_color.php 42 red */

declare(strict_types=1);

use Edgepush\Publisher;
use Edgepush\PublishedEvent;

require __DIR__ . '/bootstrap.php';

$publish = static fn (Publisher $edgepush, string $user, string $color): PublishedEvent
    => $edgepush->publish($user, 'Background', ['color' => $color]);

exit(edgepush_example($argv, 'USER_ID COLOR', $publish));
