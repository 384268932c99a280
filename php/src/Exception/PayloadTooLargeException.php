<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * A payload is over 64 KiB of JSON, a batch holds over 100 events, or the body is over 1 MiB
 * (codes payload_too_large, batch_too_large). Send a reference (an id, a URL) instead of the data,
 * or split the batch. Also a token that would be over the worker's 4096 bytes (token_too_large,
 * from {@see \Edgepush\TokenIssuer}): grant and subscribe to fewer topics.
 */
final class PayloadTooLargeException extends InvalidInputException
{
}
