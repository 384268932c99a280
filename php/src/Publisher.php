<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\EdgepushException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;
use Edgepush\Exception\ServiceUnavailableException;
use Edgepush\Http\CurlTransport;
use Edgepush\Http\SignedClient;
use Edgepush\Http\Transport;

/**
 * Publishes events to users' open sockets, and to the subscribers of topics, through an edgepush
 * worker; tells who is online and who reads a topic, and subscribes users to topics.
 *
 *     $publisher = new Publisher('https://push.example.com', 'k2026a', $secret);
 *     $publisher->publish(42, 'BlogPostCreated', ['title' => $post->getTitle()]);
 *     $publisher->publishToTopic('product:42', 'ProductChanged', ['price' => 1990]);
 *     $publisher->presenceOfUser(42)->online;
 *     $publisher->subscribe(42, ['feed:all']);
 *
 * Every call carries an idempotency key (random unless given), so the automatic retries of
 * network errors, 5xx answers and partly failed batches (207) never publish an event twice.
 */
final class Publisher implements TopicMessaging
{
    public const MAX_BATCH_EVENTS = 100;
    public const MAX_BODY_BYTES = 1048576;
    /** The most topics one {@see subscribe()} or {@see unsubscribe()} call takes. */
    public const MAX_SUBSCRIBE_TOPICS = 1024;

    private readonly SignedClient $client;

    /**
     * @param string $url    the worker's base URL, e.g. https://push.example.com (no path: the API is at the root)
     * @param string $keyId  the publish key id, as in the server's PUBLISH_KEYS
     * @param string $secret that key's secret (at least 32 bytes)
     *
     * @throws ConfigurationException for a URL that is not a base URL. A key id or secret that
     *                                cannot be used (the recipe's `!ChangeMe!`) is reported by the
     *                                first call that sends a request, with the same exception: so
     *                                a service that injects the publisher and publishes nothing
     *                                works meanwhile.
     */
    public function __construct(
        string $url,
        string $keyId,
        #[\SensitiveParameter] string $secret,
        ?Transport $transport = null,
        ?RetryPolicy $retry = null,
    ) {
        $this->client = new SignedClient(
            $url,
            static fn (): Signer => new Signer($keyId, $secret),
            $transport ?? new CurlTransport(),
            $retry ?? new RetryPolicy(),
        );
    }

    /** A fresh random idempotency key (32 hex digits). */
    public static function newIdempotencyKey(): string
    {
        return bin2hex(random_bytes(16));
    }

    /**
     * Publishes one event to every open socket of $user, or to every subscriber of a {@see Topic}.
     *
     * @param mixed   $payload        anything json_encode() accepts, at most 64 KiB once encoded
     * @param ?string $idempotencyKey pass your own (e.g. "post-17-created") to make the call idempotent
     *                                across processes too; by default each call gets a random one
     *
     * @throws EdgepushException
     */
    public function publish(
        string|int|Recipient|Topic $user,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ): PublishedEvent {
        return $this->publishEvent(new Event($user, $name, $payload), $idempotencyKey);
    }

    /**
     * Publishes one event to every subscriber of $topic (`product:42`); the result names the topic
     * and carries the event's id in the topic's stream.
     *
     * @param mixed $payload anything json_encode() accepts, at most 64 KiB once encoded
     *
     * @throws EdgepushException
     */
    public function publishToTopic(
        string|Topic $topic,
        string $name,
        mixed $payload = null,
        ?string $idempotencyKey = null,
    ): PublishedEvent {
        return $this->publishEvent(Event::toTopic($topic, $name, $payload), $idempotencyKey);
    }

    /**
     * Publishes an already-built event (e.g. one carrying its own idempotency key).
     *
     * @throws EdgepushException
     */
    public function publishEvent(Event $event, ?string $idempotencyKey = null): PublishedEvent
    {
        return $this->post([$event], $event->toJson(), $idempotencyKey)[0];
    }

    /**
     * Publishes up to 100 events, to any users and topics, in one request.
     *
     * @param iterable<Event> $events
     * @param ?string         $idempotencyKey the event at index i gets "<key>:<i>" unless it has its own
     *
     * @return list<PublishedEvent> in the order of $events
     *
     * @throws EdgepushException
     */
    public function publishBatch(iterable $events, ?string $idempotencyKey = null): array
    {
        $events = is_array($events) ? array_values($events) : iterator_to_array($events, false);
        foreach ($events as $index => $event) {
            if (!$event instanceof Event) {
                throw new InvalidInputException(sprintf(
                    'Batch entry %d is %s; build each entry with new Edgepush\Event(...).',
                    $index,
                    get_debug_type($event),
                ), 'invalid_field');
            }
        }
        if ($events === []) {
            throw new InvalidInputException('The batch is empty; pass at least one event.', 'invalid_field');
        }
        if (count($events) > self::MAX_BATCH_EVENTS) {
            throw new PayloadTooLargeException(sprintf(
                'The batch holds %d events; the limit is %d per request. Split it.',
                count($events),
                self::MAX_BATCH_EVENTS,
            ), 'batch_too_large');
        }
        $body = '{"events":[' . implode(',', array_map(static fn (Event $e): string => $e->toJson(), $events)) . ']}';

        return $this->post($events, $body, $idempotencyKey);
    }

    /** Publishes one event and forgets the answer; see {@see publish()}. */
    public function send(string|int|Recipient|Topic $user, string $name, mixed $payload = null): void
    {
        $this->publish($user, $name, $payload);
    }

    /**
     * Closes every open socket of $user. With $reconnect false (a logout) the browsers do not
     * reconnect, and every token of the user issued until now is revoked; with true they
     * reconnect at once (e.g. to pick up new permissions with a fresh token).
     *
     * A logout returns once the second it was signed in has passed (waiting up to a second): the
     * worker revokes at that second, tokens issued in it included, so a token issued right after
     * the call connects.
     *
     * @return int how many sockets were closed
     *
     * @throws EdgepushException
     */
    public function disconnect(string|int|Recipient $user, bool $reconnect = false): int
    {
        $body = Json::encode(['user' => Validate::userId($user), 'reconnect' => $reconnect]);
        $answer = $this->client->post('/disconnect', $body);
        if (!is_int($answer['sockets'] ?? null)) {
            throw SignedClient::unexpected('POST /disconnect', 'no socket count', Json::encode($answer));
        }
        if (!$reconnect) {
            self::waitPast($this->client->signedAtOfLastCall());
        }

        return $answer['sockets'];
    }

    /**
     * Revokes every connect token of $user issued at or before $before (Unix seconds; default:
     * the server's now, the call's signed time) and closes their sockets: for a password change
     * or "sign out everywhere". Tokens your app issues after the call returns connect again: it
     * returns once the second it was signed in has passed (waiting up to a second), as the worker
     * refuses the tokens issued in the second it revokes at. (A revocation in force later than
     * that, from a `before` in the future or an earlier call, keeps refusing tokens until then.)
     *
     * @return int the revocation in force, in Unix seconds
     *
     * @throws EdgepushException
     */
    public function revoke(string|int|Recipient $user, ?int $before = null): int
    {
        $request = ['user' => Validate::userId($user)];
        if ($before !== null) {
            $request['before'] = $before;
        }
        $answer = $this->client->post('/revoke', Json::encode($request));
        if (!is_int($answer['revoked_at'] ?? null)) {
            throw SignedClient::unexpected('POST /revoke', 'no revocation time', Json::encode($answer));
        }
        $signedAt = $this->client->signedAtOfLastCall();
        if ($answer['revoked_at'] >= $signedAt) {
            self::waitPast($signedAt);
        }

        return $answer['revoked_at'];
    }

    /**
     * Returns once this machine's clock (time(), which connect tokens take their `iat` from) has
     * passed $second, waiting at most a second (a clock set back does not hold the call longer).
     */
    private static function waitPast(int $second): void
    {
        $deadline = microtime(true) + 1.0;
        while (time() <= $second && microtime(true) < $deadline) {
            // time() may lag microtime() by a clock tick: a millisecond at least, then look again
            usleep(max(1000, (int) ceil((min($second + 1, $deadline) - microtime(true)) * 1_000_000)));
        }
    }

    /**
     * Whether $user has a socket open now, and how many (signed `GET /presence?user=`; one
     * request to the user's room).
     *
     * @throws EdgepushException
     */
    public function presenceOfUser(string|int|Recipient $user): UserPresence
    {
        $user = Validate::userId($user);
        $request = '/presence?user=' . rawurlencode($user);
        $answer = $this->client->get($request);
        if (($answer['user'] ?? null) !== $user || !is_bool($answer['online'] ?? null) || !is_int($answer['sockets'] ?? null)) {
            throw SignedClient::unexpected('GET ' . $request, 'no presence of that user', Json::encode($answer));
        }

        return new UserPresence($user, $answer['online'], $answer['sockets']);
    }

    /**
     * How many sockets are subscribed to $topic, and, for a namespace with `presence`, which users
     * (signed `GET /presence?topic=`; one request to the topic).
     *
     * @throws EdgepushException invalid_topic for a malformed topic or a pattern (before sending),
     *                           unknown_namespace for a namespace the worker does not declare
     */
    public function presenceOfTopic(string|Topic $topic): TopicPresence
    {
        $topic = $topic instanceof Topic ? $topic->name : Validate::topic($topic);
        $request = '/presence?topic=' . rawurlencode($topic);
        $answer = $this->client->get($request);
        $users = $answer['users'] ?? null;
        $usersValid = $users === null
            || (is_array($users) && array_is_list($users) && array_filter($users, 'is_string') === $users);
        if (($answer['topic'] ?? null) !== $topic || !is_int($answer['occupancy'] ?? null) || !$usersValid) {
            throw SignedClient::unexpected('GET ' . $request, 'no presence of that topic', Json::encode($answer));
        }

        return new TopicPresence($topic, $answer['occupancy'], $users);
    }

    /**
     * Subscribes every socket of $user to $topics: those open now (they get a `subscribed` frame,
     * then the topics' events) and every socket that connects later, until {@see unsubscribe()}.
     * The worker takes this as the app's word: it checks only that each topic is valid and of a
     * declared namespace, not that the user may read it.
     *
     * @param iterable<string|Topic> $topics 1 to 1024 topics (not patterns)
     *
     * @throws EdgepushException invalid_topic (before sending), unknown_namespace, invalid_field
     */
    public function subscribe(string|int|Recipient $user, iterable $topics): SubscriptionChange
    {
        return $this->changeSubscriptions('/subscribe', $user, $topics);
    }

    /**
     * Ends subscriptions made by {@see subscribe()} (or a token's `subs`), for every socket of
     * $user, open and to come.
     *
     * @param iterable<string|Topic> $topics 1 to 1024 topics (not patterns)
     *
     * @throws EdgepushException invalid_topic (before sending), unknown_namespace, invalid_field
     */
    public function unsubscribe(string|int|Recipient $user, iterable $topics): SubscriptionChange
    {
        return $this->changeSubscriptions('/unsubscribe', $user, $topics);
    }

    /**
     * @param iterable<string|Topic> $topics
     *
     * @throws EdgepushException
     */
    private function changeSubscriptions(string $path, string|int|Recipient $user, iterable $topics): SubscriptionChange
    {
        $user = Validate::userId($user);
        $names = [];
        foreach ($topics as $index => $topic) {
            if (!is_string($topic) && !$topic instanceof Topic) {
                throw new InvalidInputException(sprintf(
                    'Topic %s is %s; pass topic names or Edgepush\Topic objects.',
                    json_encode($index),
                    get_debug_type($topic),
                ), 'invalid_field');
            }
            $names[] = $topic instanceof Topic ? $topic->name : Validate::topic($topic);
        }
        $names = array_values(array_unique($names));
        if ($names === [] || count($names) > self::MAX_SUBSCRIBE_TOPICS) {
            throw new InvalidInputException(sprintf(
                '%s takes 1 to %d topics, not %d; split the list.',
                $path,
                self::MAX_SUBSCRIBE_TOPICS,
                count($names),
            ), 'invalid_field');
        }
        $answer = $this->client->post($path, Json::encode(['user' => $user, 'topics' => $names]));
        if (($answer['user'] ?? null) !== $user || ($answer['topics'] ?? null) !== $names || !is_int($answer['sockets'] ?? null)) {
            throw SignedClient::unexpected('POST ' . $path, 'no result for that user and those topics', Json::encode($answer));
        }

        return new SubscriptionChange($user, $names, $path === '/subscribe', $answer['sockets']);
    }

    /**
     * @param list<Event> $events
     *
     * @return list<PublishedEvent>
     */
    private function post(array $events, string $body, ?string $idempotencyKey): array
    {
        if (strlen($body) > self::MAX_BODY_BYTES) {
            throw new PayloadTooLargeException(sprintf(
                'The publish body is %d bytes; the limit is %d. Split the batch.',
                strlen($body),
                self::MAX_BODY_BYTES,
            ), 'payload_too_large');
        }
        $key = $idempotencyKey === null ? self::newIdempotencyKey() : Validate::idempotencyKey($idempotencyKey);
        // Some events failed (207): while one of the failures may succeed later (internal_error),
        // the client's retry loop sends the same body with the same key again. The event at index i
        // has the key (key, i), so the whole batch goes again (a subset would shift the indices,
        // and give events the keys of others): the events already stored come back as duplicates,
        // the refused ones are refused again, and only the missing ones are stored. Each event
        // keeps the outcome of the first answer that stored it.
        /** @var array<int, PublishedEvent> $stored */
        $stored = [];
        /** @var array<int, EventFailure> $failed */
        $failed = [];
        $retry = null;
        $accept = static function (array $answer) use ($events, $key, &$stored, &$failed, &$retry): void {
            $failed = [];
            foreach (self::outcomes($answer, $events) as $index => $outcome) {
                if ($outcome instanceof PublishedEvent) {
                    $stored[$index] ??= $outcome;
                } else {
                    $failed[$index] = $outcome;
                }
            }
            $retryable = array_filter($failed, static fn (EventFailure $f): bool => SignedClient::retryable($f->code));
            if ($retryable !== []) {
                throw $retry = new ServiceUnavailableException(
                    self::failureMessage($failed, count($events), $key),
                    'internal_error',
                    207,
                );
            }
            if ($failed !== []) {
                $retry = null;
                throw self::partialFailure($stored, $failed, $events, $key, null);
            }
        };
        try {
            $this->client->post('/publish', $body, ['Idempotency-Key' => $key], $accept);
        } catch (EdgepushException $e) {
            $ranOutOn207 = $retry !== null && ($e === $retry || $e->getPrevious() === $retry);
            if ($ranOutOn207 || $retry !== null && $stored !== []) {
                // the retries ran out on a 207, or the retry of a 207 that stored events failed
                // otherwise (a network error): the events stored stay stored, and the caller learns which
                $last = $ranOutOn207 ? null : ($e->getPrevious() instanceof EdgepushException ? $e->getPrevious() : $e);
                throw self::partialFailure($stored, $failed, $events, $key, $this->client->attemptsOfLastCall(), $e, $last);
            }
            throw $e;
        }

        return array_map(static fn (int $index): PublishedEvent => $stored[$index], array_keys($events));
    }

    /**
     * One outcome per event of the answer, each for the event's user or topic.
     *
     * @param array<mixed> $answer
     * @param list<Event>  $events
     *
     * @return list<PublishedEvent|EventFailure>
     */
    private static function outcomes(array $answer, array $events): array
    {
        $outcomes = [];
        $entries = is_array($answer['events'] ?? null) ? array_values($answer['events']) : [];
        foreach ($events as $index => $event) {
            $entry = $entries[$index] ?? null;
            if (!is_array($entry)) {
                break;
            }
            $error = $entry['error'] ?? null;
            if (is_array($error)) {
                // a failed event's entry names its target too; one that names another is not an answer to this event
                if (isset($entry['user']) && $entry['user'] !== $event->user || isset($entry['topic']) && $entry['topic'] !== $event->topic) {
                    break;
                }
                $outcomes[] = new EventFailure(
                    $event->user,
                    $event->topic,
                    is_string($error['code'] ?? null) ? $error['code'] : 'internal_error',
                    is_string($error['message'] ?? null) ? $error['message'] : '',
                );
                continue;
            }
            $id = $entry['id'] ?? null;
            $sockets = $entry['sockets'] ?? null;
            $sameTarget = ($entry['user'] ?? null) === $event->user && ($entry['topic'] ?? null) === $event->topic;
            if (!$sameTarget || !is_int($id) || !is_int($sockets)) {
                break;
            }
            $duplicate = ($entry['duplicate'] ?? false) === true;
            $relays = is_int($entry['relays'] ?? null) ? $entry['relays'] : null;
            $outcomes[] = new PublishedEvent($event->user, $id, $sockets, $duplicate, $event->topic, $relays);
        }
        if (count($outcomes) !== count($events) || count($entries) !== count($events)) {
            $what = sprintf('no valid result for each of the %d events', count($events));
            throw SignedClient::unexpected('POST /publish', $what, Json::encode($answer));
        }

        return $outcomes;
    }

    /** @param array<int, EventFailure> $failed */
    private static function failureMessage(array $failed, int $count, string $key): string
    {
        $which = implode('; ', array_map(
            static fn (int $index, EventFailure $f): string => sprintf(
                'event %d (%s): %s %s',
                $index,
                $f->topic !== null ? sprintf('topic "%s"', $f->topic) : sprintf('user "%s"', (string) $f->user),
                $f->code,
                $f->message,
            ),
            array_keys($failed),
            $failed,
        ));

        return sprintf(
            '%d of the %d events were not stored (the others were) with Idempotency-Key "%s": %s.',
            count($failed),
            $count,
            $key,
            rtrim($which, '. '),
        );
    }

    /**
     * The exception of a batch that stays partly stored: of the class a whole answer with the
     * code of its first failure that retrying cannot fix would get (the service's failure when
     * every failure may yet succeed), with one result per event.
     *
     * @param array<int, PublishedEvent> $stored
     * @param array<int, EventFailure>   $failed
     * @param list<Event>                $events
     * @param ?int                       $attempts set when the retries ran out
     * @param ?EdgepushException         $last     the failure of the last attempt, when it was no 207
     */
    private static function partialFailure(
        array $stored,
        array $failed,
        array $events,
        string $key,
        ?int $attempts,
        ?\Throwable $previous = null,
        ?EdgepushException $last = null,
    ): EdgepushException {
        ksort($failed);
        $message = self::failureMessage($failed, count($events), $key);
        if ($attempts !== null && $attempts > 1) {
            $message = sprintf('Gave up after %d attempts. %s', $attempts, $message);
        }
        if ($last !== null) {
            $message .= sprintf(' The last attempt: %s.', rtrim($last->getMessage(), '. '));
        }
        $refused = array_values(array_filter($failed, static fn (EventFailure $f): bool => !SignedClient::retryable($f->code)));
        $retryLater = count($refused) < count($failed)
            ? ' Publishing again with that key stores only what is missing (the events stored come back as duplicates).'
            : '';
        $class = ServiceUnavailableException::class;
        $code = 'internal_error';
        $advice = '';
        if ($refused !== []) {
            $code = $refused[0]->code;
            [$class, $advice] = SignedClient::exceptionFor($code);
            $advice = ' ' . $advice;
            $conflicts = array_filter($refused, static fn (EventFailure $f): bool => $f->code === 'idempotency_conflict') !== [];
            $advice .= $conflicts
                ? ' The key of each event refused with idempotency_conflict ("<key>:<index>" of the batch) is taken by '
                    . 'another event: publish those events again, alone, each with a new key, not the whole batch under a '
                    . 'new key, which would store the other events a second time.'
                : ' Once they are fixed, publishing the batch again with the same key stores only what is missing; '
                    . 'a new key would store the other events a second time.';
        }
        $results = [];
        foreach (array_keys($events) as $index) {
            $results[] = $stored[$index] ?? $failed[$index];
        }

        return new $class($message . $advice . $retryLater, $code, 207, $previous, $results);
    }
}
