<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\NetworkException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\Http\CurlTransport;
use Edgepush\Http\Psr18Transport;
use Edgepush\Http\Transport;
use Edgepush\Publisher;
use Edgepush\RetryPolicy;
use Edgepush\Tests\Support\FakeEdgepush;
use Edgepush\Tests\Support\PhpServer;
use PHPUnit\Framework\TestCase;
use Psr\Http\Client\ClientInterface;
use Psr\Http\Message\RequestInterface;
use Psr\Http\Message\ResponseInterface;
use Symfony\Component\HttpClient\Psr18Client;

/** Both transports over real HTTP, against FakeEdgepush (which checks signatures with the real clock). */
final class HttpTransportTest extends TestCase
{
    private static FakeEdgepush $server;

    public static function setUpBeforeClass(): void
    {
        self::$server = new FakeEdgepush();
    }

    public static function tearDownAfterClass(): void
    {
        self::$server->stop();
    }

    /** @return iterable<string, array{\Closure(): Transport}> */
    public static function transports(): iterable
    {
        yield 'curl' => [static fn (): Transport => new CurlTransport(5.0)];
        yield 'PSR-18 (Symfony HttpClient)' => [static fn (): Transport => new Psr18Transport(new Psr18Client())];
    }

    /**
     * @dataProvider transports
     *
     * @param \Closure(): Transport $transport
     */
    public function testPublishesAndDisconnectsOverHttp(\Closure $transport): void
    {
        $publisher = new Publisher(self::$server->url(), FakeEdgepush::KEY_ID, FakeEdgepush::SECRET, $transport());
        $user = 'u-' . bin2hex(random_bytes(4));

        $first = $publisher->publish($user, 'Message', ['text' => 'héllo']);
        // Over 1 KiB: must not stall on Expect: 100-continue.
        $second = $publisher->publish($user, 'Message', ['text' => str_repeat('x', 5000)]);

        self::assertSame([1, 2], [$first->id, $second->id]);
        self::assertSame(0, $publisher->disconnect($user));
        $requests = array_slice(self::$server->requests(), -3);
        self::assertSame([202, 202, 200], array_column($requests, 'status'));
        self::assertSame('{"user":"' . $user . '","name":"Message","payload":{"text":"héllo"}}', $requests[0]['body']);
        self::assertSame('application/json', $requests[0]['headers']['content-type']);
        self::assertArrayHasKey('idempotency-key', $requests[0]['headers']);
    }

    /**
     * A GET with an empty body, its query signed as sent.
     *
     * @dataProvider transports
     *
     * @param \Closure(): Transport $transport
     */
    public function testAsksForPresenceAndSubscribesOverHttp(\Closure $transport): void
    {
        $publisher = new Publisher(self::$server->url(), FakeEdgepush::KEY_ID, FakeEdgepush::SECRET, $transport());
        $user = 'u é&=#' . bin2hex(random_bytes(4));

        self::assertSame($user, $publisher->presenceOfUser($user)->user);
        self::assertSame([], $publisher->presenceOfTopic('live:#7,42')->users);
        self::assertSame(['feed:all'], $publisher->subscribe($user, ['feed:all'])->topics);

        $requests = array_slice(self::$server->requests(), -3);
        self::assertSame([200, 200, 200], array_column($requests, 'status'));
        self::assertSame(['GET', 'GET', 'POST'], array_column($requests, 'method'));
        self::assertSame('/presence?topic=live%3A%237%2C42', $requests[1]['path']);
        self::assertSame(['', ''], [$requests[0]['body'], $requests[1]['body']]);
        self::assertArrayNotHasKey('content-type', $requests[0]['headers']);
        self::assertSame('0', $requests[0]['headers']['content-length'] ?? '0');
    }

    /**
     * @dataProvider transports
     *
     * @param \Closure(): Transport $transport
     */
    public function testTheServerRefusesAWrongSecret(\Closure $transport): void
    {
        $publisher = new Publisher(self::$server->url(), FakeEdgepush::KEY_ID, str_repeat('w', 32), $transport());

        $this->expectException(SignatureRejectedException::class);
        $this->expectExceptionMessage('answered 401 invalid_signature');

        $publisher->publish('42', 'Message');
    }

    /**
     * @dataProvider transports
     *
     * @param \Closure(): Transport $transport
     */
    public function testAClosedPortIsANetworkError(\Closure $transport): void
    {
        $this->expectException(NetworkException::class);
        $this->expectExceptionMessageMatches('#^POST http://127\.0\.0\.1:\d+/publish got no answer: #');

        $transport()->send('POST', 'http://127.0.0.1:' . PhpServer::freePort() . '/publish', [], '{}');
    }

    public function testRetriesReachTheServerAfterScripted503s(): void
    {
        self::$server->queue(503, 'Service Unavailable');
        self::$server->queue(500, '{"error":{"code":"internal_error","message":"try again"}}');
        $publisher = new Publisher(
            self::$server->url(),
            FakeEdgepush::KEY_ID,
            FakeEdgepush::SECRET,
            new CurlTransport(5.0),
            new RetryPolicy(3, 10, 20),
        );

        $event = $publisher->publish('retry-user', 'Message');

        self::assertSame(1, $event->id);
        $requests = array_slice(self::$server->requests(), -3);
        self::assertSame([503, 500, 202], array_column($requests, 'status'));
        $keys = array_map(static fn (array $request): string => $request['headers']['idempotency-key'], $requests);
        self::assertCount(1, array_unique($keys));
    }

    /**
     * @dataProvider transports
     *
     * @param \Closure(): Transport $transport
     */
    public function testTheAnswerCarriesItsHeaders(\Closure $transport): void
    {
        self::$server->queue(429, '{}');

        $response = $transport()->send('POST', self::$server->url() . '/publish', [], '{}');

        self::assertSame(429, $response->status);
        self::assertSame('application/json', $response->header('Content-Type'));
        self::assertSame('application/json', $response->headers['content-type']);
    }

    public function testAPsr18ClientWithoutFactoriesNeedsThemPassed(): void
    {
        $client = new class () implements ClientInterface {
            public function sendRequest(RequestInterface $request): ResponseInterface
            {
                throw new \LogicException('not called');
            }
        };

        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('is not a PSR-17 request and stream factory');

        new Psr18Transport($client);
    }
}
