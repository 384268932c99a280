<?php

declare(strict_types=1);

namespace Edgepush;

/**
 * The claims of a connect token. Times are seconds since the Unix epoch; only the claims that are
 * set are encoded, in the order sub, exp, nbf, iat, aud, iss, topics, subs.
 */
final class Claims
{
    /**
     * @param string                   $sub    the user id
     * @param string|list<string>|null $aud    the audience the server may be configured to require
     * @param list<string>             $topics topics and topic patterns (`product:*`) the connection may
     *                                         subscribe to; encoded only when not empty
     * @param list<string>             $subs   topics the connection is subscribed to from the start;
     *                                         encoded only when not empty
     */
    public function __construct(
        public readonly string $sub,
        public readonly int $exp,
        public readonly ?int $nbf = null,
        public readonly ?int $iat = null,
        public readonly string|array|null $aud = null,
        public readonly ?string $iss = null,
        public readonly array $topics = [],
        public readonly array $subs = [],
    ) {
    }

    /** @throws \JsonException */
    public function toJson(): string
    {
        $claims = [
            'sub' => $this->sub,
            'exp' => $this->exp,
            'nbf' => $this->nbf,
            'iat' => $this->iat,
            'aud' => is_array($this->aud) ? array_values($this->aud) : $this->aud,
            'iss' => $this->iss,
            'topics' => $this->topics === [] ? null : array_values($this->topics),
            'subs' => $this->subs === [] ? null : array_values($this->subs),
        ];

        return Json::encode(array_filter($claims, static fn (mixed $claim): bool => $claim !== null));
    }
}
