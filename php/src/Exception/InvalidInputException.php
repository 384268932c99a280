<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * An event, user id or idempotency key is invalid (codes invalid_field, invalid_json), whether it
 * was caught before sending or refused by the server. Fix the input; retrying will not help.
 */
class InvalidInputException extends EdgepushException
{
}
