<?php

declare(strict_types=1);

namespace Edgepush\Http;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\NetworkException;
use Psr\Http\Client\ClientExceptionInterface;
use Psr\Http\Client\ClientInterface;
use Psr\Http\Client\RequestExceptionInterface;
use Psr\Http\Message\RequestFactoryInterface;
use Psr\Http\Message\StreamFactoryInterface;

/**
 * Sends requests through any PSR-18 client (timeouts, proxies and TLS are the client's settings).
 *
 * The PSR-17 factories default to the client itself when it implements them, as Symfony's
 * Psr18Client does.
 */
final class Psr18Transport implements Transport
{
    private readonly RequestFactoryInterface $requests;
    private readonly StreamFactoryInterface $streams;

    public function __construct(
        private readonly ClientInterface $client,
        ?RequestFactoryInterface $requestFactory = null,
        ?StreamFactoryInterface $streamFactory = null,
    ) {
        $requestFactory ??= $client instanceof RequestFactoryInterface ? $client : null;
        $streamFactory ??= $client instanceof StreamFactoryInterface ? $client : null;
        if ($requestFactory === null || $streamFactory === null) {
            throw new ConfigurationException(sprintf(
                'The PSR-18 client %s is not a PSR-17 request and stream factory; pass the factories '
                . 'to Edgepush\Http\Psr18Transport (e.g. new Nyholm\Psr7\Factory\Psr17Factory()).',
                $client::class,
            ));
        }
        $this->requests = $requestFactory;
        $this->streams = $streamFactory;
    }

    public function send(string $method, string $url, array $headers, string $body): Response
    {
        $request = $this->requests->createRequest($method, $url)->withBody($this->streams->createStream($body));
        foreach ($headers as $name => $value) {
            $request = $request->withHeader($name, $value);
        }
        try {
            $response = $this->client->sendRequest($request);
        } catch (RequestExceptionInterface $e) {
            throw new ConfigurationException(
                sprintf('The PSR-18 client cannot send %s %s: %s', $method, $url, $e->getMessage()),
                previous: $e,
            );
        } catch (ClientExceptionInterface $e) {
            $message = sprintf('%s %s got no answer: %s', $method, $url, $e->getMessage());
            throw new NetworkException($message, previous: $e);
        }

        return new Response($response->getStatusCode(), (string) $response->getBody());
    }
}
