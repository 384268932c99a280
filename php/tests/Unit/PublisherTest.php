<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Event;
use Edgepush\EventFailure;
use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\EdgepushException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\NetworkException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Exception\ServiceUnavailableException;
use Edgepush\Exception\SignatureRejectedException;
use Edgepush\Http\Response;
use Edgepush\PublishedEvent;
use Edgepush\Publisher;
use Edgepush\RetryPolicy;
use Edgepush\Signer;
use Edgepush\SubscriptionChange;
use Edgepush\Tests\Support\ScriptedTransport;
use Edgepush\Topic;
use Edgepush\TopicPresence;
use Edgepush\UserPresence;
use PHPUnit\Framework\TestCase;

final class PublisherTest extends TestCase
{
    private const KEY_ID = 'k2026a';
    private const SECRET = 'edgepush-test-secret-0123456789abcdef';

    public function testPublishSendsOneSignedEventAndReturnsTheResult(): void
    {
        $transport = new ScriptedTransport(self::accepted(['user' => '42', 'id' => 17, 'sockets' => 2]));

        $event = self::publisher($transport)->publish(42, 'BlogPostCreated', ['title' => 'Hi']);

        self::assertEquals(new PublishedEvent('42', 17, 2), $event);
        [$request] = $transport->requests;
        self::assertSame('POST', $request['method']);
        self::assertSame('http://push.test:8787/publish', $request['url']);
        self::assertSame('{"user":"42","name":"BlogPostCreated","payload":{"title":"Hi"}}', $request['body']);
        self::assertSame('application/json', $request['headers']['Content-Type']);
        self::assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $request['headers']['Idempotency-Key']);
        self::assertSignedNow($request, '/publish');
    }

    public function testAnUnusableSecretFailsTheFirstCallNotTheConstruction(): void
    {
        $transport = new ScriptedTransport();
        $publisher = new Publisher('http://push.test:8787', self::KEY_ID, '!ChangeMe!', $transport);

        foreach (['publish' => static fn () => $publisher->publish(42, 'X'), 'disconnect' => static fn () => $publisher->disconnect(42)] as $call => $send) {
            try {
                $send();
                self::fail("expected $call to fail");
            } catch (ConfigurationException $e) {
                self::assertStringContainsString('The secret of publish key "k2026a" is 10 bytes', $e->getMessage(), $call);
            }
        }
        self::assertSame([], $transport->requests);
    }

    public function testABaseUrlEndingInASlashIsTheRootOfItsHost(): void
    {
        $transport = new ScriptedTransport(self::accepted(['user' => '42', 'id' => 1, 'sockets' => 0]));

        (new Publisher('https://example.test/', self::KEY_ID, self::SECRET, $transport))->publish('42', 'X');

        self::assertSame('https://example.test/publish', $transport->requests[0]['url']);
        self::assertSignedNow($transport->requests[0], '/publish');
    }

    /** @return iterable<string, array{string}> */
    public static function urlsWithAPath(): iterable
    {
        yield 'a prefix' => ['https://example.test/push'];
        yield 'a prefix and a slash' => ['https://example.test/edgepush/'];
        yield 'two slashes' => ['https://example.test//'];
        yield 'an endpoint' => ['http://127.0.0.1:8787/publish'];
    }

    /**
     * The worker routes exact paths (/publish, not /push/publish) and its signature covers the path
     * it receives, so no prefix can work, passed through (404) or stripped by a proxy (the signature
     * fails): refused when the publisher is built.
     *
     * @dataProvider urlsWithAPath
     */
    public function testRefusesABaseUrlWithAPath(string $url): void
    {
        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('edgepush serves its API at the root of its host');

        new Publisher($url, self::KEY_ID, self::SECRET, new ScriptedTransport());
    }

    public function testReportsDuplicatesAndSendsAGivenIdempotencyKey(): void
    {
        $transport = new ScriptedTransport(
            self::accepted(['user' => '42', 'id' => 5, 'sockets' => 1, 'duplicate' => true]),
        );

        $event = self::publisher($transport)->publish('42', 'X', null, 'post-17-created');

        self::assertTrue($event->duplicate);
        self::assertSame('post-17-created', $transport->requests[0]['headers']['Idempotency-Key']);
    }

    public function testEachCallGetsItsOwnIdempotencyKey(): void
    {
        $transport = new ScriptedTransport(
            self::accepted(['user' => '42', 'id' => 1, 'sockets' => 0]),
            self::accepted(['user' => '42', 'id' => 2, 'sockets' => 0]),
        );
        $publisher = self::publisher($transport);
        $publisher->publish('42', 'X');
        $publisher->send('42', 'X');

        $keys = array_map(static fn (array $r): string => $r['headers']['Idempotency-Key'], $transport->requests);
        self::assertCount(2, array_unique($keys));
    }

    public function testBatchesEventsForManyUsersInOrder(): void
    {
        $transport = new ScriptedTransport(self::accepted(
            ['user' => 'a', 'id' => 3, 'sockets' => 1],
            ['user' => 'b', 'id' => 9, 'sockets' => 0],
        ));

        $events = self::publisher($transport)->publishBatch(
            (static function () {
                yield new Event('a', 'Message', ['text' => 'hi']);
                yield new Event('b', 'Ping', null, 'own-key');
            })(),
            'batch-1',
        );

        self::assertEquals([new PublishedEvent('a', 3, 1), new PublishedEvent('b', 9, 0)], $events);
        self::assertSame(
            '{"events":[{"user":"a","name":"Message","payload":{"text":"hi"}},'
            . '{"user":"b","name":"Ping","payload":null,"idempotency_key":"own-key"}]}',
            $transport->requests[0]['body'],
        );
        self::assertSame('batch-1', $transport->requests[0]['headers']['Idempotency-Key']);
    }

    public function testPublishesToATopicAndReturnsTheTopicsId(): void
    {
        $transport = new ScriptedTransport(
            self::accepted(['topic' => 'product:42', 'id' => 9, 'sockets' => 4]),
            self::accepted(['topic' => 'product:42', 'id' => 10, 'sockets' => 4]),
            self::accepted(['topic' => 'orders:#42', 'id' => 1, 'sockets' => 0]),
        );
        $publisher = self::publisher($transport);

        $event = $publisher->publishToTopic('product:42', 'ProductChanged', ['price' => 1990], 'price-1990');
        $publisher->publish(new Topic('product:42'), 'ProductChanged');
        $publisher->send(Topic::ofUsers('orders', 42), 'OrderShipped');

        self::assertEquals(new PublishedEvent(null, 9, 4, false, 'product:42'), $event);
        self::assertSame(
            '{"topic":"product:42","name":"ProductChanged","payload":{"price":1990}}',
            $transport->requests[0]['body'],
        );
        self::assertSame('price-1990', $transport->requests[0]['headers']['Idempotency-Key']);
        self::assertSame(
            [
                '{"topic":"product:42","name":"ProductChanged","payload":null}',
                '{"topic":"orders:#42","name":"OrderShipped","payload":null}',
            ],
            [$transport->requests[1]['body'], $transport->requests[2]['body']],
        );
        self::assertSignedNow($transport->requests[0], '/publish');
    }

    public function testBatchesUserAndTopicEventsTogether(): void
    {
        $transport = new ScriptedTransport(self::accepted(
            ['user' => '7', 'id' => 3, 'sockets' => 1],
            ['topic' => 'product:42', 'id' => 9, 'sockets' => 4, 'duplicate' => true],
            ['topic' => 'feed:all', 'id' => 120, 'sockets' => 0],
        ));

        $published = self::publisher($transport)->publishBatch([
            new Event(7, 'Message', ['text' => 'hi']),
            Event::toTopic('product:42', 'ProductChanged', null, 'own-key'),
            new Event(new Topic('feed:all'), 'Posted'),
        ], 'batch-1');

        self::assertEquals([
            new PublishedEvent('7', 3, 1),
            new PublishedEvent(null, 9, 4, true, 'product:42'),
            new PublishedEvent(null, 120, 0, false, 'feed:all'),
        ], $published);
        self::assertSame(
            '{"events":[{"user":"7","name":"Message","payload":{"text":"hi"}},'
            . '{"topic":"product:42","name":"ProductChanged","payload":null,"idempotency_key":"own-key"},'
            . '{"topic":"feed:all","name":"Posted","payload":null}]}',
            $transport->requests[0]['body'],
        );
    }

    public function testRefusesATopicPatternBeforeSending(): void
    {
        $transport = new ScriptedTransport();
        try {
            self::publisher($transport)->publishToTopic('product:*', 'ProductChanged');
            self::fail('a pattern was published');
        } catch (InvalidInputException $e) {
            self::assertSame('invalid_topic', $e->getErrorCode());
            self::assertStringContainsString('\'*\' is only a whole name segment of a pattern', $e->getMessage());
        }
        self::assertSame([], $transport->requests);
    }

    /** @return iterable<string, array{string, string, string}> */
    public static function topicRefusals(): iterable
    {
        yield 'invalid_topic' => ['invalid_topic', 'topic: \'*\' is only...', 'patterns like product:* only grant'];
        yield 'unknown_namespace' => ['unknown_namespace', 'no namespace "nope"', 'TOPIC_NAMESPACES'];
    }

    /** @dataProvider topicRefusals */
    public function testTopicRefusalsAreInvalidInputAndNotRetried(string $code, string $detail, string $advice): void
    {
        $transport = new ScriptedTransport(
            new Response(400, json_encode(['error' => ['code' => $code, 'message' => $detail]])),
        );
        try {
            self::publisher($transport)->publishToTopic('nope:x', 'X');
            self::fail('no exception');
        } catch (InvalidInputException $e) {
            self::assertSame($code, $e->getErrorCode());
            self::assertSame(400, $e->getHttpStatus());
            self::assertStringContainsString($advice, $e->getMessage());
        }
        self::assertCount(1, $transport->requests);
    }

    public function testABatchWithARefusedTopicSaysWhichAndIsNotRetried(): void
    {
        $transport = new ScriptedTransport(new Response(207, json_encode(['events' => [
            ['user' => '42', 'id' => 6, 'sockets' => 1],
            ['topic' => 'nope:x', 'error' => ['code' => 'unknown_namespace', 'message' => 'no namespace "nope"']],
        ]])));

        try {
            self::publisher($transport)->publishBatch([new Event('42', 'A'), Event::toTopic('nope:x', 'B')], 'k');
            self::fail('no exception');
        } catch (InvalidInputException $e) {
            self::assertSame('unknown_namespace', $e->getErrorCode());
            self::assertSame(207, $e->getHttpStatus());
            self::assertStringContainsString('event 1 (topic "nope:x"): unknown_namespace', $e->getMessage());
            self::assertStringContainsString('Declare the namespace in the worker\'s TOPIC_NAMESPACES', $e->getMessage());
            self::assertStringEndsWith(
                'publishing the batch again with the same key stores only what is missing; a new key would store the '
                . 'other events a second time.',
                $e->getMessage(),
            );
            self::assertEquals(
                [new PublishedEvent('42', 6, 1), new EventFailure(null, 'nope:x', 'unknown_namespace', 'no namespace "nope"')],
                $e->getEventResults(),
            );
        }
        self::assertCount(1, $transport->requests);
    }

    /** @return iterable<string, array{array<string, mixed>}> */
    public static function answersForAnotherTarget(): iterable
    {
        yield 'a user for a topic event' => [['user' => 'product:42', 'id' => 1, 'sockets' => 0]];
        yield 'another topic' => [['topic' => 'product:43', 'id' => 1, 'sockets' => 0]];
        yield 'both' => [['user' => '7', 'topic' => 'product:42', 'id' => 1, 'sockets' => 0]];
    }

    /**
     * @dataProvider answersForAnotherTarget
     *
     * @param array<string, mixed> $entry
     */
    public function testRefusesAnAnswerForAnotherTarget(array $entry): void
    {
        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('no valid result for each of the 1 events');

        self::publisher(new ScriptedTransport(self::accepted($entry)))->publishToTopic('product:42', 'X');
    }

    /** @return iterable<string, array{array<mixed>, class-string<EdgepushException>, string}> */
    public static function refusedBatches(): iterable
    {
        yield 'empty' => [[], InvalidInputException::class, 'invalid_field'];
        yield 'not events' => [[new Event('a', 'X'), ['user' => 'b']], InvalidInputException::class, 'invalid_field'];
        $big = new Event('a', 'X', str_repeat('p', 65000));
        $small = new Event('a', 'X');
        yield '101 events' => [array_fill(0, 101, $small), PayloadTooLargeException::class, 'batch_too_large'];
        yield 'over 1 MiB' => [array_fill(0, 17, $big), PayloadTooLargeException::class, 'payload_too_large'];
    }

    /**
     * @dataProvider refusedBatches
     *
     * @param array<mixed>                       $events
     * @param class-string<EdgepushException> $class
     */
    public function testRefusesBadBatchesBeforeSending(array $events, string $class, string $code): void
    {
        $transport = new ScriptedTransport();
        try {
            self::publisher($transport)->publishBatch($events);
            self::fail("expected $class");
        } catch (EdgepushException $e) {
            self::assertInstanceOf($class, $e);
            self::assertSame($code, $e->getErrorCode());
        }
        self::assertSame([], $transport->requests);
    }

    public function testAcceptsAFullBatch(): void
    {
        $transport = new ScriptedTransport(
            self::accepted(...array_fill(0, 100, ['user' => 'a', 'id' => 1, 'sockets' => 0])),
        );

        self::assertCount(100, self::publisher($transport)->publishBatch(array_fill(0, 100, new Event('a', 'X'))));
    }

    public function testRefusesAnInvalidIdempotencyKeyBeforeSending(): void
    {
        $transport = new ScriptedTransport();

        $this->expectException(InvalidInputException::class);
        try {
            self::publisher($transport)->publish('42', 'X', null, 'has space');
        } finally {
            self::assertSame([], $transport->requests);
        }
    }

    public function testRetriesNetworkErrorsAnd5xxWithTheSameKeyAndBody(): void
    {
        $transport = new ScriptedTransport(
            new Response(503, '<html>Service Unavailable</html>'),
            new NetworkException('POST http://push.test:8787/publish got no answer: connection refused'),
            new Response(500, '{"error":{"code":"internal_error","message":"storage hiccup"}}'),
            self::accepted(['user' => '42', 'id' => 8, 'sockets' => 1]),
        );

        $event = self::publisher($transport, new RetryPolicy(4, 1, 2))->publish('42', 'X', ['n' => 1]);

        self::assertSame(8, $event->id);
        self::assertCount(4, $transport->requests);
        $key = $transport->requests[0]['headers']['Idempotency-Key'];
        foreach ($transport->requests as $request) {
            self::assertSame($key, $request['headers']['Idempotency-Key']);
            self::assertSame($transport->requests[0]['body'], $request['body']);
            self::assertSignedNow($request, '/publish');
        }
    }

    public function testGivesUpAfterTheLastAttempt(): void
    {
        $transport = new ScriptedTransport(...array_fill(0, 3, new Response(502, 'Bad Gateway')));

        try {
            self::publisher($transport, new RetryPolicy(3, 1, 2))->publish('42', 'X');
            self::fail('expected a ServiceUnavailableException');
        } catch (ServiceUnavailableException $e) {
            $key = $transport->requests[0]['headers']['Idempotency-Key'];
            self::assertSame(
                'Gave up after 3 attempts with Idempotency-Key "' . $key . '" '
                . '(publishing again with that key cannot duplicate the event). '
                . 'Last: POST http://push.test:8787/publish answered 502: "Bad Gateway" (not an edgepush error body). '
                . 'The service is failing or restarting.',
                $e->getMessage(),
            );
            self::assertSame(502, $e->getHttpStatus());
            self::assertNull($e->getErrorCode());
            self::assertInstanceOf(ServiceUnavailableException::class, $e->getPrevious());
        }
        self::assertCount(3, $transport->requests);
    }

    public function testASingleAttemptThrowsTheNetworkErrorItself(): void
    {
        $failure = new NetworkException('no route to host');

        $this->expectExceptionObject($failure);

        self::publisher(new ScriptedTransport($failure), new RetryPolicy(1))->publish('42', 'X');
    }

    /** @return iterable<string, array{int, string, class-string<EdgepushException>, ?string, string}> */
    public static function refusals(): iterable
    {
        $error = static fn (int $status, string $code, string $message, string $class, string $expected): array => [
            $status,
            json_encode(['error' => ['code' => $code, 'message' => $message]]),
            $class,
            $code,
            $expected,
        ];
        $invalid = InvalidInputException::class;
        $tooLarge = PayloadTooLargeException::class;
        $rejected = SignatureRejectedException::class;
        $unavailable = ServiceUnavailableException::class;
        $configuration = ConfigurationException::class;
        yield 'invalid_field' => $error(400, 'invalid_field', 'name is missing', $invalid, 'missing. Fix the request');
        yield 'invalid_json' => $error(400, 'invalid_json', 'EOF', $invalid, 'answered 400 invalid_json: EOF');
        yield 'payload_too_large' => $error(413, 'payload_too_large', '70000 bytes', $tooLarge, 'Send a reference');
        yield 'batch_too_large' => $error(413, 'batch_too_large', '101 events', $tooLarge, 'split the batch');
        yield 'a proxy\'s body limit' => [413, 'Request Entity Too Large', $tooLarge, null, 'send smaller batches'];
        yield 'invalid_signature' => $error(401, 'invalid_signature', 'mismatch', $rejected, 'server\'s PUBLISH_KEYS');
        yield 'unknown_key' => $error(401, 'unknown_key', 'unknown', $rejected, 'PUBLISH_KEYS');
        yield 'missing_signature' => $error(401, 'missing_signature', 'none', $rejected, 'PUBLISH_KEYS');
        yield 'stale_timestamp' => $error(401, 'stale_timestamp', 'too old', $rejected, 'Check this machine\'s clock');
        yield 'server_misconfigured' => $error(500, 'server_misconfigured', 'no key', $unavailable, 'Fix the worker');
        yield 'not_found' => $error(404, 'not_found', 'no route', $configuration, 'points at an edgepush worker');
        yield 'method_not_allowed' => $error(405, 'method_not_allowed', 'use POST', $configuration, 'edgepush worker');
        yield 'a login page' => [403, '<html>Sign in</html>', $configuration, null, '"<html>Sign in</html>" (not an'];
    }

    /**
     * @dataProvider refusals
     *
     * @param class-string<EdgepushException> $class
     */
    public function testTurnsRefusalsIntoTypedExceptionsWithoutRetrying(
        int $status,
        string $body,
        string $class,
        ?string $code,
        string $message,
    ): void {
        $transport = new ScriptedTransport(new Response($status, $body));
        try {
            self::publisher($transport)->publish('42', 'X');
            self::fail("expected $class");
        } catch (EdgepushException $e) {
            self::assertSame($class, $e::class);
            self::assertSame($code, $e->getErrorCode());
            self::assertSame($status, $e->getHttpStatus());
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertCount(1, $transport->requests);
    }

    /** @return iterable<string, array{string}> */
    public static function strangeAnswers(): iterable
    {
        yield 'not JSON' => ['<html>OK</html>'];
        yield 'no events' => ['{"ok":true}'];
        yield 'too few events' => ['{"events":[]}'];
        yield 'wrong types' => ['{"events":[{"user":"42","id":"17","sockets":2}]}'];
    }

    /** @dataProvider strangeAnswers */
    public function testRefusesSuccessAnswersThatAreNotEdgepushs(string $body): void
    {
        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('Check that the url points at an edgepush worker');

        self::publisher(new ScriptedTransport(new Response(202, $body)))->publish('42', 'X');
    }

    public function testRetriesAPartlyFailedBatchWithTheSameKeyUntilEverythingIsStored(): void
    {
        $failed = ['user' => '7', 'error' => ['code' => 'internal_error', 'message' => 'the room of user "7" failed']];
        $transport = new ScriptedTransport(
            new Response(207, json_encode(['events' => [['user' => '42', 'id' => 5, 'sockets' => 1], $failed]])),
            self::accepted(['user' => '42', 'id' => 5, 'sockets' => 0, 'duplicate' => true], ['user' => '7', 'id' => 1, 'sockets' => 2]),
        );

        $published = self::publisher($transport)->publishBatch([new Event('42', 'A'), new Event('7', 'B')], 'batch-1');

        self::assertSame([5, 1], array_map(static fn (PublishedEvent $e): int => $e->id, $published));
        self::assertCount(2, $transport->requests);
        foreach ($transport->requests as $request) {
            self::assertSame('batch-1', $request['headers']['Idempotency-Key']);
        }
    }

    public function testAPartlyFailedBatchThatKeepsFailingSaysWhichEventsWereNotStored(): void
    {
        $answer = new Response(207, json_encode(['events' => [
            ['user' => '42', 'id' => 5, 'sockets' => 1],
            ['user' => '7', 'error' => ['code' => 'internal_error', 'message' => 'storage failed']],
        ]]));
        $transport = new ScriptedTransport($answer, $answer);

        try {
            self::publisher($transport, new RetryPolicy(2, 1, 2))->publishBatch([new Event('42', 'A'), new Event('7', 'B')], 'k');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertSame(207, $e->getHttpStatus());
            self::assertStringContainsString('1 of the 2 events were not stored', $e->getMessage());
            self::assertStringContainsString('event 1 (user "7"): internal_error', $e->getMessage());
        }
        self::assertCount(2, $transport->requests);
    }

    public function testAnIdempotencyConflictInABatchIsNotRetried(): void
    {
        $transport = new ScriptedTransport(new Response(207, json_encode(['events' => [
            ['user' => '42', 'error' => ['code' => 'idempotency_conflict', 'message' => 'key used for another event']],
            ['user' => '42', 'id' => 6, 'sockets' => 1],
        ]])));

        try {
            self::publisher($transport)->publishBatch([new Event('42', 'A'), new Event('42', 'B')], 'k');
            self::fail('no exception');
        } catch (InvalidInputException $e) {
            self::assertSame('idempotency_conflict', $e->getErrorCode());
        }
        self::assertCount(1, $transport->requests);
    }

    public function testAMixedBatchRetriesItsRetryableFailureThenReportsTheRefusalWithEveryResult(): void
    {
        $conflict = ['user' => '42', 'error' => ['code' => 'idempotency_conflict', 'message' => 'key used for another event']];
        $transport = new ScriptedTransport(
            new Response(207, json_encode(['events' => [
                ['user' => '42', 'id' => 5, 'sockets' => 1],
                ['user' => '7', 'error' => ['code' => 'internal_error', 'message' => 'storage failed']],
                $conflict,
            ]])),
            new Response(207, json_encode(['events' => [
                ['user' => '42', 'id' => 5, 'sockets' => 0, 'duplicate' => true],
                ['user' => '7', 'id' => 3, 'sockets' => 2],
                $conflict,
            ]])),
        );

        try {
            self::publisher($transport)->publishBatch([new Event('42', 'A'), new Event('7', 'B'), new Event('42', 'C')], 'k');
            self::fail('no exception');
        } catch (InvalidInputException $e) {
            self::assertSame('idempotency_conflict', $e->getErrorCode());
            self::assertSame(207, $e->getHttpStatus());
            self::assertStringContainsString('1 of the 3 events were not stored', $e->getMessage());
            self::assertStringContainsString('event 2 (user "42"): idempotency_conflict', $e->getMessage());
            self::assertStringNotContainsString('event 1', $e->getMessage(), 'stored by the retry');
            self::assertStringContainsString('not the whole batch under a new key', $e->getMessage());
            $results = $e->getEventResults();
            self::assertNotNull($results);
            self::assertEquals(new PublishedEvent('42', 5, 1), $results[0], 'the first answer\'s outcome, not the retry\'s duplicate');
            self::assertEquals(new PublishedEvent('7', 3, 2), $results[1]);
            self::assertEquals(
                new EventFailure('42', null, 'idempotency_conflict', 'key used for another event'),
                $results[2],
            );
        }
        self::assertCount(2, $transport->requests, 'retried while a failure was retryable');
        self::assertSame($transport->requests[0]['body'], $transport->requests[1]['body']);
        self::assertSame('k', $transport->requests[1]['headers']['Idempotency-Key'], 'the same keys: (k, i) for the event at i');
    }

    public function testAServerMisconfigurationInABatchIsTheSameExceptionAsWhenItFailsTheWholeRequest(): void
    {
        $transport = new ScriptedTransport(new Response(207, json_encode(['events' => [
            ['user' => '42', 'id' => 5, 'sockets' => 1],
            ['topic' => 'feed:all', 'error' => ['code' => 'server_misconfigured', 'message' => 'TOPIC_NAMESPACES is invalid']],
        ]])));

        try {
            self::publisher($transport)->publishBatch([new Event('42', 'A'), Event::toTopic('feed:all', 'B')], 'k');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertSame('server_misconfigured', $e->getErrorCode());
            self::assertStringContainsString('Fix the worker\'s settings', $e->getMessage());
        }
        self::assertCount(1, $transport->requests, 'not retried');
    }

    public function testEventsStoredBeforeARetryKeepTheirFirstOutcome(): void
    {
        $transport = new ScriptedTransport(
            new Response(207, json_encode(['events' => [
                ['topic' => 'feed:all', 'id' => 9, 'sockets' => 4, 'relays' => 2],
                ['user' => '7', 'error' => ['code' => 'internal_error', 'message' => 'storage failed']],
            ]])),
            self::accepted(['topic' => 'feed:all', 'id' => 9, 'sockets' => 0, 'duplicate' => true], ['user' => '7', 'id' => 1, 'sockets' => 2]),
        );

        $published = self::publisher($transport)->publishBatch([Event::toTopic('feed:all', 'A'), new Event('7', 'B')], 'k');

        self::assertEquals([new PublishedEvent(null, 9, 4, false, 'feed:all', 2), new PublishedEvent('7', 1, 2)], $published);
    }

    public function testABatchThatKeepsFailingCarriesEveryEventsResult(): void
    {
        $answer = new Response(207, json_encode(['events' => [
            ['user' => '42', 'id' => 5, 'sockets' => 1],
            ['user' => '7', 'error' => ['code' => 'internal_error', 'message' => 'storage failed']],
        ]]));
        $transport = new ScriptedTransport($answer, $answer);

        try {
            self::publisher($transport, new RetryPolicy(2, 1, 2))->publishBatch([new Event('42', 'A'), new Event('7', 'B')], 'k');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertSame('internal_error', $e->getErrorCode());
            self::assertStringContainsString('Gave up after 2 attempts', $e->getMessage());
            self::assertStringContainsString('Publishing again with that key stores only what is missing', $e->getMessage());
            self::assertEquals(
                [new PublishedEvent('42', 5, 1), new EventFailure('7', null, 'internal_error', 'storage failed')],
                $e->getEventResults(),
            );
        }
    }

    public function testABatchPartlyStoredThenUnreachableStillSaysWhatWasStored(): void
    {
        $transport = new ScriptedTransport(
            new Response(207, json_encode(['events' => [
                ['user' => '42', 'id' => 5, 'sockets' => 1],
                ['user' => '7', 'error' => ['code' => 'internal_error', 'message' => 'storage failed']],
            ]])),
            new NetworkException('POST http://push.test:8787/publish got no answer: connection refused'),
            new NetworkException('POST http://push.test:8787/publish got no answer: connection refused'),
        );

        try {
            self::publisher($transport, new RetryPolicy(3, 1, 2))->publishBatch([new Event('42', 'A'), new Event('7', 'B')], 'k');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertNotInstanceOf(NetworkException::class, $e);
            self::assertSame(['internal_error', 207], [$e->getErrorCode(), $e->getHttpStatus()]);
            self::assertEquals(
                [new PublishedEvent('42', 5, 1), new EventFailure('7', null, 'internal_error', 'storage failed')],
                $e->getEventResults(),
                'event 0 was stored by the first attempt',
            );
            self::assertStringContainsString('Gave up after 3 attempts. 1 of the 2 events were not stored', $e->getMessage());
            self::assertStringContainsString('The last attempt: POST http://push.test:8787/publish got no answer: connection refused', $e->getMessage());
            self::assertStringContainsString('Publishing again with that key stores only what is missing', $e->getMessage());
            self::assertInstanceOf(ServiceUnavailableException::class, $e->getPrevious());
        }
        self::assertCount(3, $transport->requests);
    }

    /** @return iterable<string, array{int}> */
    public static function notNowStatuses(): iterable
    {
        yield '408 Request Timeout' => [408];
        yield '425 Too Early' => [425];
        yield '429 Too Many Requests' => [429];
    }

    /** @dataProvider notNowStatuses */
    public function testRetriesAProxysNotNowAnswer(int $status): void
    {
        $transport = new ScriptedTransport(
            new Response($status, '<html>slow down</html>'),
            self::accepted(['user' => '42', 'id' => 2, 'sockets' => 1]),
        );

        self::assertSame(2, self::publisher($transport)->publish(42, 'X')->id);
        self::assertCount(2, $transport->requests);
        self::assertSame($transport->requests[0]['headers']['Idempotency-Key'], $transport->requests[1]['headers']['Idempotency-Key']);
    }

    public function testAProxysNotNowAnswerThatKeepsComingIsTheServiceBeingUnavailable(): void
    {
        $transport = new ScriptedTransport(new Response(429, 'Too Many Requests'), new Response(429, 'Too Many Requests'));

        try {
            self::publisher($transport, new RetryPolicy(2, 1, 2))->publish(42, 'X');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertSame(429, $e->getHttpStatus());
            self::assertStringContainsString('asks to try again later', $e->getMessage());
            self::assertStringNotContainsString('Check that the url', $e->getMessage());
        }
    }

    public function testWaitsTheRetryAfterOfTheAnswer(): void
    {
        $transport = new ScriptedTransport(
            new Response(429, 'Too Many Requests', ['Retry-After' => '1']),
            self::accepted(['user' => '42', 'id' => 2, 'sockets' => 1]),
        );
        $started = microtime(true);

        self::publisher($transport, new RetryPolicy(2, 1, 5000))->publish(42, 'X');

        self::assertGreaterThanOrEqual(0.95, microtime(true) - $started, 'waited the Retry-After, not the 1 ms backoff');
        self::assertCount(2, $transport->requests);
    }

    public function testARetryAfterLongerThanThePolicyWaitsEndsTheRetries(): void
    {
        $transport = new ScriptedTransport(new Response(503, 'Service Unavailable', ['retry-after' => '120']));

        try {
            self::publisher($transport, new RetryPolicy(4, 1, 2000))->publish(42, 'X', null, 'post-17');
            self::fail('no exception');
        } catch (ServiceUnavailableException $e) {
            self::assertSame(503, $e->getHttpStatus());
            self::assertStringContainsString('It asks to wait 120 s (Retry-After), longer than the retry policy waits (2000 ms)', $e->getMessage());
            self::assertStringContainsString('Idempotency-Key "post-17"', $e->getMessage());
        }
        self::assertCount(1, $transport->requests);
    }

    public function testRevokesAUsersTokens(): void
    {
        $transport = new ScriptedTransport(new Response(200, '{"user":"42","revoked_at":1767225600,"sockets":1}'));
        $started = microtime(true);

        self::assertSame(1767225600, self::publisher($transport)->revoke(42, 1767225600));
        self::assertLessThan(0.5, microtime(true) - $started, 'revoked before the call\'s second: nothing to wait for');
        [$request] = $transport->requests;
        self::assertSame('http://push.test:8787/revoke', $request['url']);
        self::assertSame('{"user":"42","before":1767225600}', $request['body']);
        self::assertSignedNow($request, '/revoke');
    }

    public function testALogoutsRetriesKeepItsSigningTimeWhichTheServerRevokesAt(): void
    {
        // The server revokes at the signed time: a retry signed later would revoke tokens the
        // app issued meanwhile. The retry waits over a second here.
        $transport = new ScriptedTransport(
            new Response(503, '{"error":{"code":"internal_error","message":"a shard failed"}}'),
            new Response(200, '{"user":"42","sockets":0}'),
        );

        self::publisher($transport, new RetryPolicy(2, 2200, 2200))->disconnect(42);

        [$first, $retry] = $transport->requests;
        self::assertSame($first['headers'][Signer::HEADER], $retry['headers'][Signer::HEADER]);
        self::assertSignedNow($retry, '/disconnect');
    }

    /**
     * The worker refuses a token issued in the second it revokes at (iat <= revoked_at, whole
     * seconds), which is the call's signed time: a token minted right after a revoke (the page a
     * password change redirects to) would be refused for good (close 4502). The call returns once
     * that second has passed; so does a logout (testDisconnectsAUser).
     */
    public function testARevocationReturnsOnceTheSecondItWasSignedInHasPassed(): void
    {
        // revoked at the call's signed time, or later (a revocation already in force)
        $transport = new ScriptedTransport(new Response(200, json_encode(['user' => '42', 'revoked_at' => time() + 5, 'sockets' => 0])));

        self::publisher($transport)->revoke(42);

        self::assertGreaterThan(self::signedAt($transport->requests[0]), time());
    }

    public function testDisconnectsAUser(): void
    {
        $transport = new ScriptedTransport(new Response(200, '{"user":"42","sockets":3}'));

        self::assertSame(3, self::publisher($transport)->disconnect(42));
        [$request] = $transport->requests;
        self::assertSame('http://push.test:8787/disconnect', $request['url']);
        self::assertSame('{"user":"42","reconnect":false}', $request['body']);
        self::assertArrayNotHasKey('Idempotency-Key', $request['headers']);
        self::assertSignedNow($request, '/disconnect');
        // a logout revokes at its signed time: it returns once that second has passed, so that
        // the next token issued (the next login's) connects
        self::assertGreaterThan(self::signedAt($request), time());
    }

    public function testATopicEventSaysHowManyObjectsItWasRelayedTo(): void
    {
        $transport = new ScriptedTransport(self::accepted(
            ['topic' => 'feed:all', 'id' => 9, 'sockets' => 4, 'relays' => 2],
            ['user' => '42', 'id' => 3, 'sockets' => 1],
            ['topic' => 'feed:all', 'id' => 8, 'sockets' => 0, 'duplicate' => true],
        ));

        $published = self::publisher($transport)->publishBatch([
            Event::toTopic('feed:all', 'Posted'),
            new Event(42, 'Message'),
            Event::toTopic('feed:all', 'Posted', null, 'posted-8'),
        ]);

        self::assertSame([2, null, null], array_map(static fn (PublishedEvent $e): ?int => $e->relays, $published));
        self::assertEquals(new PublishedEvent(null, 9, 4, false, 'feed:all', 2), $published[0]);
    }

    public function testAsksWhetherAUserIsOnlineWithASignedGet(): void
    {
        $transport = new ScriptedTransport(new Response(200, '{"user":"42","online":true,"sockets":2}'));

        $presence = self::publisher($transport)->presenceOfUser(42);

        self::assertEquals(new UserPresence('42', true, 2), $presence);
        [$request] = $transport->requests;
        self::assertSame(['GET', 'http://push.test:8787/presence?user=42', ''], [$request['method'], $request['url'], $request['body']]);
        self::assertArrayNotHasKey('Content-Type', $request['headers']);
        self::assertArrayNotHasKey('Idempotency-Key', $request['headers']);
        self::assertSignedNow($request, '/presence?user=42', 'GET');
    }

    public function testPercentEncodesTheQueryAndSignsItAsSent(): void
    {
        $user = "a&b=c #+/é";
        $transport = new ScriptedTransport(
            new Response(200, json_encode(['user' => $user, 'online' => false, 'sockets' => 0])),
            new Response(200, '{"topic":"orders:#7,42","occupancy":1}'),
        );
        $publisher = new Publisher('https://example.test', self::KEY_ID, self::SECRET, $transport);

        self::assertEquals(new UserPresence($user, false, 0), $publisher->presenceOfUser($user));
        self::assertEquals(new TopicPresence('orders:#7,42', 1, null), $publisher->presenceOfTopic(Topic::ofUsers('orders', 7, 42)));

        [$byUser, $byTopic] = $transport->requests;
        $userQuery = '/presence?user=a%26b%3Dc%20%23%2B%2F%C3%A9';
        self::assertSame('https://example.test' . $userQuery, $byUser['url']);
        self::assertSignedNow($byUser, $userQuery, 'GET');
        $topicQuery = '/presence?topic=orders%3A%237%2C42';
        self::assertSame('https://example.test' . $topicQuery, $byTopic['url']);
        self::assertSignedNow($byTopic, $topicQuery, 'GET');
    }

    public function testTellsWhoReadsATopic(): void
    {
        $transport = new ScriptedTransport(
            new Response(200, '{"topic":"live:room","occupancy":12,"users":["7","42"]}'),
            new Response(200, '{"topic":"feed:all","occupancy":0}'),
        );
        $publisher = self::publisher($transport);

        self::assertEquals(new TopicPresence('live:room', 12, ['7', '42']), $publisher->presenceOfTopic('live:room'));
        self::assertEquals(new TopicPresence('feed:all', 0, null), $publisher->presenceOfTopic(new Topic('feed:all')));
        self::assertSame('http://push.test:8787/presence?topic=live%3Aroom', $transport->requests[0]['url']);
    }

    public function testRetriesAPresenceQuestionSignedAnew(): void
    {
        $transport = new ScriptedTransport(
            new Response(503, 'Service Unavailable'),
            new NetworkException('connection reset'),
            new Response(200, '{"user":"42","online":false,"sockets":0}'),
        );

        self::assertFalse(self::publisher($transport)->presenceOfUser('42')->online);
        self::assertCount(3, $transport->requests);
        foreach ($transport->requests as $request) {
            self::assertSame('GET', $request['method']);
            self::assertSignedNow($request, '/presence?user=42', 'GET');
        }
    }

    /** @return iterable<string, array{string, string}> */
    public static function strangePresenceAnswers(): iterable
    {
        yield 'another user' => ['user', '{"user":"7","online":true,"sockets":1}'];
        yield 'online as a string' => ['user', '{"user":"42","online":"yes","sockets":1}'];
        yield 'no socket count' => ['user', '{"user":"42","online":true}'];
        yield 'another topic' => ['topic', '{"topic":"live:other","occupancy":1}'];
        yield 'no occupancy' => ['topic', '{"topic":"live:room","users":[]}'];
        yield 'users not a list' => ['topic', '{"topic":"live:room","occupancy":1,"users":{"a":"7"}}'];
        yield 'a user that is not a string' => ['topic', '{"topic":"live:room","occupancy":1,"users":[7]}'];
    }

    /** @dataProvider strangePresenceAnswers */
    public function testRefusesPresenceAnswersOfTheWrongShape(string $asked, string $body): void
    {
        $publisher = self::publisher(new ScriptedTransport(new Response(200, $body)));

        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('Check that the url points at an edgepush worker');

        $asked === 'user' ? $publisher->presenceOfUser(42) : $publisher->presenceOfTopic('live:room');
    }

    public function testRefusesAPatternAsTheTopicOfAPresenceQuestionWithoutSending(): void
    {
        $transport = new ScriptedTransport();
        try {
            self::publisher($transport)->presenceOfTopic('live:*');
            self::fail('a pattern was sent');
        } catch (InvalidInputException $e) {
            self::assertSame('invalid_topic', $e->getErrorCode());
        }
        self::assertSame([], $transport->requests);
    }

    public function testSubscribesAndUnsubscribesAUserForEverySocket(): void
    {
        $transport = new ScriptedTransport(
            new Response(200, '{"user":"42","topics":["feed:all","orders:#42"],"sockets":2}'),
            new Response(200, '{"user":"42","topics":["feed:all"],"sockets":0}'),
        );
        $publisher = self::publisher($transport);

        $subscribed = $publisher->subscribe(42, (static function () {
            yield 'feed:all';
            yield Topic::ofUsers('orders', 42);
            yield 'feed:all';
        })());
        $unsubscribed = $publisher->unsubscribe('42', [new Topic('feed:all')]);

        self::assertEquals(new SubscriptionChange('42', ['feed:all', 'orders:#42'], true, 2), $subscribed);
        self::assertEquals(new SubscriptionChange('42', ['feed:all'], false, 0), $unsubscribed);
        [$subscribe, $unsubscribe] = $transport->requests;
        self::assertSame(['POST', 'http://push.test:8787/subscribe'], [$subscribe['method'], $subscribe['url']]);
        self::assertSame('{"user":"42","topics":["feed:all","orders:#42"]}', $subscribe['body']);
        self::assertSame('application/json', $subscribe['headers']['Content-Type']);
        self::assertSignedNow($subscribe, '/subscribe');
        self::assertSame('http://push.test:8787/unsubscribe', $unsubscribe['url']);
        self::assertSame('{"user":"42","topics":["feed:all"]}', $unsubscribe['body']);
        self::assertSignedNow($unsubscribe, '/unsubscribe');
    }

    /** @return iterable<string, array{iterable<mixed>, string}> */
    public static function refusedSubscriptions(): iterable
    {
        yield 'no topic' => [[], 'invalid_field'];
        yield 'a pattern' => [['feed:all', 'product:*'], 'invalid_topic'];
        yield 'a malformed topic' => [['Feed:all'], 'invalid_topic'];
        yield 'not a topic' => [['feed:all', 42], 'invalid_field'];
        yield 'too many' => [array_map(static fn (int $i): string => "feed:$i", range(1, 1025)), 'invalid_field'];
    }

    /**
     * @dataProvider refusedSubscriptions
     *
     * @param iterable<mixed> $topics
     */
    public function testRefusesBadSubscriptionsBeforeSending(iterable $topics, string $code): void
    {
        $transport = new ScriptedTransport();
        try {
            self::publisher($transport)->subscribe(42, $topics);
            self::fail('sent');
        } catch (InvalidInputException $e) {
            self::assertSame($code, $e->getErrorCode(), $e->getMessage());
        }
        self::assertSame([], $transport->requests);
    }

    public function testAcceptsTheMostTopicsInOneSubscribe(): void
    {
        $topics = array_map(static fn (int $i): string => "feed:$i", range(1, Publisher::MAX_SUBSCRIBE_TOPICS));
        $transport = new ScriptedTransport(new Response(200, json_encode(['user' => '42', 'topics' => $topics, 'sockets' => 1])));

        self::assertCount(1024, self::publisher($transport)->subscribe(42, $topics)->topics);
    }

    /** @return iterable<string, array{int, string, class-string<EdgepushException>, string}> */
    public static function subscriptionRefusals(): iterable
    {
        $error = static fn (string $code): string => json_encode(['error' => ['code' => $code, 'message' => 'no']]);
        yield 'unknown_namespace' => [400, $error('unknown_namespace'), InvalidInputException::class, 'TOPIC_NAMESPACES'];
        yield 'invalid_topic' => [400, $error('invalid_topic'), InvalidInputException::class, 'Name one topic'];
        yield 'invalid_field' => [400, $error('invalid_field'), InvalidInputException::class, 'Fix the request'];
        yield 'invalid_signature' => [401, $error('invalid_signature'), SignatureRejectedException::class, 'PUBLISH_KEYS'];
        yield 'another user in the answer' => [200, '{"user":"7","topics":["feed:all"],"sockets":1}', ConfigurationException::class, 'edgepush worker'];
        yield 'other topics in the answer' => [200, '{"user":"42","topics":[],"sockets":1}', ConfigurationException::class, 'edgepush worker'];
        yield 'no socket count' => [200, '{"user":"42","topics":["feed:all"]}', ConfigurationException::class, 'edgepush worker'];
    }

    /**
     * @dataProvider subscriptionRefusals
     *
     * @param class-string<EdgepushException> $class
     */
    public function testTurnsSubscriptionRefusalsIntoTypedExceptions(int $status, string $body, string $class, string $message): void
    {
        $transport = new ScriptedTransport(new Response($status, $body));
        try {
            self::publisher($transport)->subscribe(42, ['feed:all']);
            self::fail("expected $class");
        } catch (EdgepushException $e) {
            self::assertSame($class, $e::class);
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertCount(1, $transport->requests);
    }

    /** @return iterable<string, array{string}> */
    public static function badUrls(): iterable
    {
        yield 'empty' => [''];
        yield 'no scheme' => ['push.example.com'];
        yield 'ftp' => ['ftp://push.example.com'];
        yield 'a query' => ['https://push.example.com/?x=1'];
        yield 'credentials' => ['https://user:pw@push.example.com'];
        yield 'a fragment' => ['https://push.example.com/#top'];
    }

    /** @dataProvider badUrls */
    public function testRefusesUrlsThatAreNotBaseUrls(string $url): void
    {
        $this->expectException(ConfigurationException::class);
        $this->expectExceptionMessage('is not a base URL like https://push.example.com');

        new Publisher($url, self::KEY_ID, self::SECRET, new ScriptedTransport());
    }

    /** @return iterable<string, array{string, string}> */
    public static function urlsWithCredentials(): iterable
    {
        yield 'user and password' => ['https://ada:s3cret-pw@push.example.com', 'https://***@push.example.com'];
        yield 'a password alone' => ['https://:s3cret-pw@push.example.com:8443', 'https://***@push.example.com:8443'];
        yield 'unparsable' => ['https://ada:s3cret/pw@push.example.com', 'https://***@push.example.com'];
        yield 'no scheme' => ['ada:s3cret-pw@push.example.com', '***@push.example.com'];
    }

    /** @dataProvider urlsWithCredentials */
    public function testTheRefusalOfAUrlWithCredentialsNeverRepeatsThem(string $url, string $shown): void
    {
        try {
            new Publisher($url, self::KEY_ID, self::SECRET, new ScriptedTransport());
            self::fail('expected a ConfigurationException');
        } catch (ConfigurationException $e) {
            self::assertStringNotContainsString('s3cret', $e->getMessage());
            self::assertStringContainsString('"' . $shown . '"', $e->getMessage());
        }
    }

    private static function publisher(ScriptedTransport $transport, ?RetryPolicy $retry = null): Publisher
    {
        $retry ??= new RetryPolicy(4, 1, 2);

        return new Publisher('http://push.test:8787', self::KEY_ID, self::SECRET, $transport, $retry);
    }

    /** @param array<string, mixed> ...$events */
    private static function accepted(array ...$events): Response
    {
        return new Response(202, json_encode(['events' => $events]));
    }

    /** @param array{headers: array<string, string>} $request */
    private static function signedAt(array $request): int
    {
        self::assertSame(1, preg_match('/,t=(\d+),/', $request['headers'][Signer::HEADER], $m));

        return (int) $m[1];
    }

    /** @param array{method: string, headers: array<string, string>, body: string} $request */
    private static function assertSignedNow(array $request, string $path, string $method = 'POST'): void
    {
        $header = $request['headers'][Signer::HEADER];
        self::assertSame(1, preg_match('/^keyid=k2026a,t=(\d+),v1=[0-9a-f]{64}$/', $header, $m), $header);
        self::assertEqualsWithDelta(time(), (int) $m[1], 5);
        $signer = new Signer(self::KEY_ID, self::SECRET);
        self::assertSame($signer->sign((int) $m[1], $method, $path, $request['body']), $header);
    }
}
