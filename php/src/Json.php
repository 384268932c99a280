<?php

declare(strict_types=1);

namespace Edgepush;

/**
 * The one JSON encoding edgepush uses on the wire: slashes and non-ASCII unescaped, floats keep
 * their fraction.
 *
 * @internal
 */
final class Json
{
    /** @throws \JsonException */
    public static function encode(mixed $value): string
    {
        return json_encode(
            $value,
            JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR,
        );
    }
}
