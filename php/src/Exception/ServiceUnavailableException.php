<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * The server could not be reached or kept failing (network errors, 5xx) after the publisher's
 * retries, or it reports its own configuration as broken (server_misconfigured). The event may or
 * may not have been stored: publishing again with the same idempotency key is safe.
 */
class ServiceUnavailableException extends EdgepushException
{
}
