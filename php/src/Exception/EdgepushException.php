<?php

declare(strict_types=1);

namespace Edgepush\Exception;

use Edgepush\EventFailure;
use Edgepush\PublishedEvent;

/**
 * Base of every exception this library throws.
 *
 * The error code is the server's stable code (e.g. "invalid_signature"), or, for input refused
 * before sending, the code the server would have answered. It is null when no edgepush server
 * answered (a network failure, a proxy's error page) or for local configuration mistakes.
 */
abstract class EdgepushException extends \RuntimeException
{
    /**
     * @param null|list<PublishedEvent|EventFailure> $eventResults for a publish that was partly
     *                                                             stored: one result per event
     */
    public function __construct(
        string $message,
        private readonly ?string $errorCode = null,
        private readonly ?int $httpStatus = null,
        ?\Throwable $previous = null,
        private readonly ?array $eventResults = null,
    ) {
        parent::__construct($message, 0, $previous);
    }

    /**
     * For a publish that was stored only in part (a batch answered 207, its retries included):
     * one result per event, in the order of the events, a {@see PublishedEvent} for each event
     * stored (by any attempt of the call: its first answer, never a retry's duplicate) and an
     * {@see EventFailure} for each event that was not. Null for any other failure.
     *
     * @return null|list<PublishedEvent|EventFailure>
     */
    public function getEventResults(): ?array
    {
        return $this->eventResults;
    }

    public function getErrorCode(): ?string
    {
        return $this->errorCode;
    }

    /** The HTTP status of the server's answer, or null when the request was not answered (or not sent). */
    public function getHttpStatus(): ?int
    {
        return $this->httpStatus;
    }
}
