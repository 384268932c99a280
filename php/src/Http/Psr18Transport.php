<?php

declare(strict_types=1);

namespace Edgepush\Http;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\NetworkException;
use Psr\Http\Client\ClientExceptionInterface;
use Psr\Http\Client\ClientInterface;
use Psr\Http\Client\NetworkExceptionInterface;
use Psr\Http\Client\RequestExceptionInterface;
use Psr\Http\Message\RequestFactoryInterface;
use Psr\Http\Message\StreamFactoryInterface;

/**
 * Sends requests through any PSR-18 client (timeouts, proxies and TLS are the client's settings).
 *
 * A request exception of the client (PSR-18 `RequestExceptionInterface`) is a network error, and
 * retried, when it was caused by the network (Guzzle's for a connection reset, curl errors 55 and
 * 56), or when its cause is unknown and the request carries an Idempotency-Key (every publish);
 * otherwise a ConfigurationException.
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
            if (!self::isNetworkFailure($e) && (self::isInvalidRequest($e) || !self::hasIdempotencyKey($headers))) {
                throw new ConfigurationException(
                    sprintf('The PSR-18 client cannot send %s %s: %s', $method, $url, $e->getMessage()),
                    previous: $e,
                );
            }
            $message = sprintf('%s %s got no answer: %s', $method, $url, $e->getMessage());
            throw new NetworkException($message, previous: $e);
        } catch (ClientExceptionInterface $e) {
            $message = sprintf('%s %s got no answer: %s', $method, $url, $e->getMessage());
            throw new NetworkException($message, previous: $e);
        }

        return new Response($response->getStatusCode(), (string) $response->getBody(), $response->getHeaders());
    }

    /**
     * A "request exception" that is a failure of the network: Guzzle raises RequestException (not
     * its ConnectException) for a connection reset or a failure to send or receive in the middle
     * of a request (curl errors 55, 56), with the curl error number in its handler context; or
     * one caused by a PSR-18 network exception.
     */
    private static function isNetworkFailure(RequestExceptionInterface $e): bool
    {
        if (method_exists($e, 'getHandlerContext')) {
            $context = $e->getHandlerContext();
            if (is_array($context) && is_int($context['errno'] ?? null) && $context['errno'] > 0) {
                return true;
            }
        }
        for ($cause = $e->getPrevious(); $cause !== null; $cause = $cause->getPrevious()) {
            if ($cause instanceof NetworkExceptionInterface) {
                return true;
            }
        }

        return false;
    }

    /** One the client raised because the request itself is invalid (Symfony's Psr18Client wraps an \InvalidArgumentException). */
    private static function isInvalidRequest(RequestExceptionInterface $e): bool
    {
        for ($cause = $e->getPrevious(); $cause !== null; $cause = $cause->getPrevious()) {
            if ($cause instanceof \InvalidArgumentException) {
                return true;
            }
        }

        return false;
    }

    /**
     * Whether the request carries an Idempotency-Key (every publish does): retrying it cannot
     * store an event twice, so a request exception of unknown cause is retried as a network error.
     *
     * @param array<string, string> $headers
     */
    private static function hasIdempotencyKey(array $headers): bool
    {
        return (array_change_key_case($headers, CASE_LOWER)['idempotency-key'] ?? '') !== '';
    }
}
