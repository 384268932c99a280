<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\InvalidInputException;
use Edgepush\Exception\PayloadTooLargeException;

/**
 * Mints the HS256 tokens browsers connect with. Issue one at login (or on each page that opens a
 * socket) and hand it to the browser, which sends it on `GET /connect`.
 *
 * A connect token may grant topics (`issue($user, topics: ['product:*'])`) and subscribe the
 * connection to topics from the start (`issue($user, subs: ['feed:all'])`); a subscription token
 * (`subscriptionToken($user, 'private:x')`) grants one topic to one user, for the page to send
 * with its subscribe request when the app decides access per request.
 */
final class TokenIssuer
{
    public const MIN_SECRET_BYTES = 32;
    /** The largest token the worker accepts, in bytes (MAX_TOKEN_BYTES of protocol/src/token.rs). */
    public const MAX_TOKEN_BYTES = 4096;
    private const HEADER = '{"alg":"HS256","typ":"JWT"}';

    /**
     * @param string  $secret   the server's JWT_SECRET (at least 32 bytes), byte for byte: the server
     *                          does not trim it (unlike the secrets of PUBLISH_KEYS), so nor does this
     * @param int     $ttl      seconds a token stays valid; the server closes the socket (code 4001) when it expires
     * @param ?string $audience the `aud` claim, if the server requires one
     * @param ?string $issuer   the `iss` claim, if the server requires one
     *
     * @throws ConfigurationException
     */
    public function __construct(
        #[\SensitiveParameter] private readonly string $secret,
        private readonly int $ttl = 3600,
        private readonly ?string $audience = null,
        private readonly ?string $issuer = null,
    ) {
        if (strlen($secret) < self::MIN_SECRET_BYTES) {
            throw new ConfigurationException(sprintf(
                'The edgepush JWT secret is %d bytes; it must be at least %d, the same as the server\'s JWT_SECRET '
                . '(generate one with: openssl rand -hex 32).',
                strlen($secret),
                self::MIN_SECRET_BYTES,
            ));
        }
        if ($ttl < 1) {
            throw new ConfigurationException(sprintf('The edgepush token TTL is %d s; it must be at least 1 s.', $ttl));
        }
    }

    /**
     * A token for $user, valid from now for the configured TTL (or $ttl seconds).
     *
     * @param iterable<string|Topic> $topics topics (`private:x`) and patterns (`product:*`, where `*` is one
     *                                       whole name segment) the connection may subscribe to, besides
     *                                       its own user topics and public namespaces
     * @param iterable<string|Topic> $subs   topics (not patterns) the connection is subscribed to from the
     *                                       start, by the app's word: the worker checks only that each is
     *                                       valid and of a declared namespace
     *
     * @throws InvalidInputException     when the user id, the TTL or a topic is invalid
     * @throws PayloadTooLargeException when the token would be over MAX_TOKEN_BYTES (code
     *                                  token_too_large): the worker would refuse it
     */
    public function issue(
        string|int|Recipient $user,
        ?int $ttl = null,
        iterable $topics = [],
        iterable $subs = [],
    ): string {
        $grants = [];
        foreach ($topics as $topic) {
            $grants[] = $topic instanceof Topic ? $topic->name : Validate::topic($topic, pattern: true);
        }
        $subscribed = [];
        foreach ($subs as $topic) {
            $subscribed[] = $topic instanceof Topic ? $topic->name : Validate::topic($topic);
        }
        $now = time();

        return $this->mint(new Claims(
            sub: Validate::userId($user),
            exp: $now + $this->lifetime($ttl),
            iat: $now,
            aud: $this->audience,
            iss: $this->issuer,
            topics: array_values(array_unique($grants)),
            subs: array_values(array_unique($subscribed)),
        ));
    }

    /**
     * A subscription token: lets $user subscribe to $topic (one topic, not a pattern) until it
     * expires, after the configured TTL or $ttl seconds. Its claims are `{"sub", "topic", "exp"}`;
     * the worker never takes it for a connect token, nor a connect token for one.
     *
     * @throws InvalidInputException when the user, the topic or the TTL is invalid, or the topic belongs to
     *                               other users (`orders:#7` for user 42: code topic_forbidden)
     */
    public function subscriptionToken(string|int|Recipient $user, string|Topic $topic, ?int $ttl = null): string
    {
        $sub = Validate::userId($user);
        $topic = $topic instanceof Topic ? $topic : new Topic($topic);
        if (!$topic->admits($sub)) {
            throw new InvalidInputException(sprintf(
                'The topic "%s" belongs to users %s; user "%s" cannot be granted it by any token.',
                $topic->name,
                implode(', ', $topic->users() ?? []),
                $sub,
            ), 'topic_forbidden');
        }
        $claims = ['sub' => $sub, 'topic' => $topic->name, 'exp' => time() + $this->lifetime($ttl)];

        return $this->sign(Json::encode($claims), 'subscription token', 'use a shorter user id or topic');
    }

    /**
     * Signs exactly these claims (for tests and special cases; {@see issue()} is the everyday call).
     *
     * @throws InvalidInputException     when a claim is not valid UTF-8
     * @throws PayloadTooLargeException when the token would be over MAX_TOKEN_BYTES (token_too_large)
     */
    public function mint(Claims $claims): string
    {
        try {
            $json = $claims->toJson();
        } catch (\JsonException $e) {
            $message = 'The token claims cannot be encoded as JSON: ' . $e->getMessage() . '; use UTF-8 strings.';
            throw new InvalidInputException($message, 'invalid_field', previous: $e);
        }

        return $this->sign(
            $json,
            'connect token',
            'grant fewer topics (one pattern like product:* covers every product topic) and subscribe to fewer '
            . 'from the start (Publisher::subscribe() subscribes the user\'s sockets once connected)',
        );
    }

    /** @throws InvalidInputException */
    private function lifetime(?int $ttl): int
    {
        if ($ttl !== null && $ttl < 1) {
            $message = sprintf('A token TTL of %d s is invalid; pass at least 1 s.', $ttl);
            throw new InvalidInputException($message, 'invalid_field');
        }

        return $ttl ?? $this->ttl;
    }

    /**
     * @param string $kind   what the token is, for the message
     * @param string $advice how to make it smaller, for the message
     *
     * @throws PayloadTooLargeException
     */
    private function sign(string $claimsJson, string $kind, string $advice): string
    {
        $input = self::base64url(self::HEADER) . '.' . self::base64url($claimsJson);
        $token = $input . '.' . self::base64url(hash_hmac('sha256', $input, $this->secret, true));
        if (strlen($token) > self::MAX_TOKEN_BYTES) {
            throw new PayloadTooLargeException(sprintf(
                'The %s would be %d bytes; the worker refuses tokens over %d bytes (token_too_large): %s.',
                $kind,
                strlen($token),
                self::MAX_TOKEN_BYTES,
                $advice,
            ), 'token_too_large');
        }

        return $token;
    }

    private static function base64url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }
}
