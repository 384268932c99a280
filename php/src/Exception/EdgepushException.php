<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * Base of every exception this library throws.
 *
 * The error code is the server's stable code (e.g. "invalid_signature"), or, for input refused
 * before sending, the code the server would have answered. It is null when no edgepush server
 * answered (a network failure, a proxy's error page) or for local configuration mistakes.
 */
abstract class EdgepushException extends \RuntimeException
{
    public function __construct(
        string $message,
        private readonly ?string $errorCode = null,
        private readonly ?int $httpStatus = null,
        ?\Throwable $previous = null,
    ) {
        parent::__construct($message, 0, $previous);
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
