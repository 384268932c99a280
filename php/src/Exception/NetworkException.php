<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * A transport got no answer: connection refused or reset, DNS failure, timeout. The publisher
 * retries these; write it from a custom {@see \Edgepush\Http\Transport}.
 */
final class NetworkException extends ServiceUnavailableException
{
}
