<?php

declare(strict_types=1);

namespace Edgepush\Http;

/** An HTTP answer: what the publisher needs of it. */
final class Response
{
    /** @var array<string, string> the header fields, names in lower case (a repeated field: its values joined by ", ") */
    public readonly array $headers;

    /** @param array<string, string|list<string>> $headers header fields, names in any case */
    public function __construct(
        public readonly int $status,
        public readonly string $body,
        array $headers = [],
    ) {
        $lower = [];
        foreach ($headers as $name => $value) {
            $value = is_array($value) ? implode(', ', $value) : $value;
            $name = strtolower((string) $name);
            $lower[$name] = isset($lower[$name]) ? $lower[$name] . ', ' . $value : $value;
        }
        $this->headers = $lower;
    }

    /** The value of header $name (any case), or null. */
    public function header(string $name): ?string
    {
        return $this->headers[strtolower($name)] ?? null;
    }
}
