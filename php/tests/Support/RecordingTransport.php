<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

use Edgepush\Http\CurlTransport;
use Edgepush\Http\Response;
use Edgepush\Http\Transport;

/** A real transport (curl by default) that keeps every answer, to check the HTTP status. */
final class RecordingTransport implements Transport
{
    /** @var list<Response> */
    public array $responses = [];

    public function __construct(private readonly Transport $inner = new CurlTransport())
    {
    }

    public function send(string $method, string $url, array $headers, string $body): Response
    {
        return $this->responses[] = $this->inner->send($method, $url, $headers, $body);
    }
}
