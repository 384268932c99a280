<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Messaging;

/** An app's controller: the three-line usage the bundle promises. */
final class BlogController
{
    public function __construct(public readonly Messaging $messaging)
    {
    }

    public function create(TestUser $author, string $title): void
    {
        // ... store the post, then:
        $this->messaging->send($author, 'BlogPostCreated', ['title' => $title]);
    }
}
