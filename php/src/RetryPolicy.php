<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\ConfigurationException;

/**
 * How often and how patiently the publisher retries network errors and 5xx answers: exponential
 * backoff from $baseDelayMs, capped at $maxDelayMs, with jitter. The default worst case waits
 * under 1.5 s in total between 4 attempts.
 */
final class RetryPolicy
{
    /** @throws ConfigurationException */
    public function __construct(
        public readonly int $maxAttempts = 4,
        public readonly int $baseDelayMs = 200,
        public readonly int $maxDelayMs = 2000,
    ) {
        if ($maxAttempts < 1 || $baseDelayMs < 0 || $maxDelayMs < $baseDelayMs) {
            throw new ConfigurationException(sprintf(
                'Invalid retry policy (%d attempts, %d-%d ms): use at least 1 attempt '
                . 'and 0 <= base delay <= max delay.',
                $maxAttempts,
                $baseDelayMs,
                $maxDelayMs,
            ));
        }
    }

    /** Milliseconds to wait after failed attempt number $attempt (from 1): between half and all of the capped backoff. */
    public function delayMs(int $attempt): int
    {
        $ceiling = (int) min($this->maxDelayMs, $this->baseDelayMs * 2 ** min(max($attempt - 1, 0), 30));

        return random_int(intdiv($ceiling, 2), $ceiling);
    }
}
