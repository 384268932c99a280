<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\NetworkException;
use Edgepush\Http\Psr18Transport;
use Edgepush\Publisher;
use Edgepush\RetryPolicy;
use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;
use PHPUnit\Framework\TestCase;
use Psr\Http\Client\ClientInterface;
use Psr\Http\Client\RequestExceptionInterface;
use Psr\Http\Message\RequestInterface;
use Psr\Http\Message\ResponseInterface;

/** How Psr18Transport classifies the exceptions of a PSR-18 client, with a scripted client. */
final class Psr18TransportTest extends TestCase
{
    private const SECRET = 'edgepush-test-secret-0123456789abcdef';

    public function testARequestExceptionOfAConnectionResetIsRetried(): void
    {
        // what Guzzle raises for curl error 56 in the middle of a request: a RequestException, errno in its context
        $reset = self::requestException('cURL error 56: Recv failure: Connection reset by peer', ['errno' => 56]);
        $client = self::client($reset, new Response(202, [], '{"events":[{"user":"42","id":3,"sockets":1}]}'));

        $event = self::publisher($client)->publish(42, 'Message');

        self::assertSame(3, $event->id);
        self::assertCount(2, $client->requests);
        self::assertSame(
            $client->requests[0]->getHeaderLine('Idempotency-Key'),
            $client->requests[1]->getHeaderLine('Idempotency-Key'),
        );
    }

    public function testARequestExceptionOfUnknownCauseIsRetriedForARequestWithAnIdempotencyKey(): void
    {
        $client = self::client(self::requestException('stream ended'), new Response(202, [], '{"events":[{"user":"42","id":1,"sockets":0}]}'));

        self::assertSame(1, self::publisher($client)->publish(42, 'Message')->id);
        self::assertCount(2, $client->requests);
    }

    public function testARequestExceptionOfUnknownCauseIsAConfigurationErrorWithoutAnIdempotencyKey(): void
    {
        $transport = new Psr18Transport(self::client(self::requestException('no')), new Psr17Factory(), new Psr17Factory());

        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('The PSR-18 client cannot send POST http://push.test/disconnect: no');

        $transport->send('POST', 'http://push.test/disconnect', [], '{}');
    }

    public function testAnInvalidRequestIsNotRetried(): void
    {
        // Symfony's Psr18Client wraps the \InvalidArgumentException of a request it cannot send
        $invalid = self::requestException('Unsupported scheme', [], new \InvalidArgumentException('Unsupported scheme'));
        $client = self::client($invalid);

        try {
            self::publisher($client)->publish(42, 'Message');
            self::fail('no exception');
        } catch (ConfigurationException $e) {
            self::assertStringContainsString('cannot send', $e->getMessage());
        }
        self::assertCount(1, $client->requests);
    }

    public function testANetworkFailureIsANetworkExceptionWhateverTheRequest(): void
    {
        $transport = new Psr18Transport(self::client(self::requestException('reset', ['errno' => 55])), new Psr17Factory(), new Psr17Factory());

        $this->expectException(NetworkException::class);
        $this->expectExceptionMessage('POST http://push.test/disconnect got no answer: reset');

        $transport->send('POST', 'http://push.test/disconnect', [], '{}');
    }

    private static function publisher(ClientInterface $client): Publisher
    {
        return new Publisher(
            'http://push.test',
            'k2026a',
            self::SECRET,
            new Psr18Transport($client, new Psr17Factory(), new Psr17Factory()),
            new RetryPolicy(3, 1, 2),
        );
    }

    /** @param array<string, mixed> $context the handler context, as Guzzle's RequestException has */
    private static function requestException(string $message, array $context = [], ?\Throwable $previous = null): RequestExceptionInterface
    {
        return new class ($message, $context, $previous) extends \RuntimeException implements RequestExceptionInterface {
            /** @param array<string, mixed> $context */
            public function __construct(string $message, private readonly array $context, ?\Throwable $previous)
            {
                parent::__construct($message, 0, $previous);
            }

            public function getRequest(): RequestInterface
            {
                return (new Psr17Factory())->createRequest('POST', 'http://push.test/publish');
            }

            /** @return array<string, mixed> */
            public function getHandlerContext(): array
            {
                return $this->context;
            }
        };
    }

    /** A PSR-18 client that plays a script of exceptions and answers, and keeps the requests. */
    private static function client(\Throwable|ResponseInterface ...$script): ClientInterface
    {
        return new class ($script) implements ClientInterface {
            /** @var list<RequestInterface> */
            public array $requests = [];

            /** @param list<\Throwable|ResponseInterface> $script */
            public function __construct(private array $script)
            {
            }

            public function sendRequest(RequestInterface $request): ResponseInterface
            {
                $this->requests[] = $request;
                $next = array_shift($this->script) ?? throw new \LogicException('unscripted request');
                if ($next instanceof \Throwable) {
                    throw $next;
                }

                return $next;
            }
        };
    }
}
