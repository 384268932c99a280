<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

use Nyholm\Psr7\Response;
use Psr\Http\Client\ClientInterface;
use Psr\Http\Message\RequestInterface;
use Psr\Http\Message\ResponseInterface;

/**
 * A PSR-18 client that is no PSR-17 factory, as Guzzle's is not: answers every publish with one
 * event stored for the user it names, and keeps the requests.
 */
final class PlainPsr18Client implements ClientInterface
{
    /** @var list<RequestInterface> */
    public array $requests = [];

    public function sendRequest(RequestInterface $request): ResponseInterface
    {
        $this->requests[] = $request;
        $user = json_decode((string) $request->getBody(), true)['user'] ?? null;

        return new Response(202, [], json_encode(['events' => [['user' => $user, 'id' => 1, 'sockets' => 0]]]));
    }
}
