<?php

/* Posts to a topic's subscribers: php examples/post_to_feed.php feed:torrents "debian-13.iso" */

declare(strict_types=1);

use Edgepush\Publisher;
use Edgepush\PublishedEvent;

require __DIR__ . '/bootstrap.php';

$publish = static fn (Publisher $edgepush, string $topic, string $title): PublishedEvent
    => $edgepush->publishToTopic($topic, 'Posted', ['title' => $title]);

exit(edgepush_example($argv, 'TOPIC TITLE', $publish));
