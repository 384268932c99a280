<?php

declare(strict_types=1);

namespace Edgepush\Http;

/** An HTTP answer: what the publisher needs of it. */
final class Response
{
    public function __construct(
        public readonly int $status,
        public readonly string $body,
    ) {
    }
}
