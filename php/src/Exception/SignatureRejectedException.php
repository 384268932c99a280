<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * The server refused the request's signature (codes missing_signature, invalid_signature,
 * unknown_key, stale_timestamp): the key id or secret does not match the server's PUBLISH_KEYS, or
 * this machine's clock is more than 300 s off.
 */
final class SignatureRejectedException extends EdgepushException
{
}
