<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

use Edgepush\Exception\NetworkException;
use Edgepush\Http\Response;
use Edgepush\Http\Transport;

/** A transport that plays a script of answers and failures, and records what it was asked to send. */
final class ScriptedTransport implements Transport
{
    /** @var list<Response|NetworkException> */
    private array $script;
    /** @var list<array{method: string, url: string, headers: array<string, string>, body: string}> */
    public array $requests = [];

    public function __construct(Response|NetworkException ...$script)
    {
        $this->script = array_values($script);
    }

    public function send(string $method, string $url, array $headers, string $body): Response
    {
        $this->requests[] = ['method' => $method, 'url' => $url, 'headers' => $headers, 'body' => $body];
        $next = array_shift($this->script) ?? throw new \LogicException("Unscripted request $method $url");
        if ($next instanceof NetworkException) {
            throw $next;
        }

        return $next;
    }
}
