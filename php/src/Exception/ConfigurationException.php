<?php

declare(strict_types=1);

namespace Edgepush\Exception;

/**
 * A setting is unusable (a short secret, a malformed URL or key id), or the URL does not lead to an
 * edgepush worker (404, 405, or an answer that is not edgepush's). Fix the configuration; retrying
 * will not help.
 */
final class ConfigurationException extends EdgepushException
{
}
