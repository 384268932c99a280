<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

/** The shared test vectors of protocol/test-vectors.json. */
final class Vectors
{
    /** @return array<string, mixed> */
    public static function load(): array
    {
        $file = __DIR__ . '/../../../protocol/test-vectors.json';

        return json_decode((string) file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
    }
}
