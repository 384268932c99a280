<?php

/* Sends a chat message to a user's browsers: php examples/send_message.php 42 "Hello" */

declare(strict_types=1);

use Edgepush\Publisher;
use Edgepush\PublishedEvent;

require __DIR__ . '/bootstrap.php';

$publish = static fn (Publisher $edgepush, string $user, string $text): PublishedEvent
    => $edgepush->publish($user, 'Message', ['text' => $text]);

exit(edgepush_example($argv, 'USER_ID TEXT', $publish));
