<?php

declare(strict_types=1);

namespace Edgepush\Http;

use Edgepush\Exception\NetworkException;

/**
 * Sends one HTTP request. The default is {@see CurlTransport}; {@see Psr18Transport} plugs in any
 * PSR-18 client.
 */
interface Transport
{
    /**
     * Sends the request as given and returns the answer, whatever its status.
     *
     * @param array<string, string> $headers
     *
     * @throws NetworkException when no answer arrived (refused, reset, timed out)
     */
    public function send(string $method, string $url, array $headers, string $body): Response;
}
