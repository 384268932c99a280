<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * A payload is over 64 KiB of JSON, a batch holds over 100 events, or the body is over 1 MiB
 * (codes payload_too_large, batch_too_large). Send a reference (an id, a URL) instead of the data,
 * or split the batch.
 */
final class PayloadTooLargeException extends InvalidInputException
{
}
