<?php

declare(strict_types=1);

namespace Edgepush\Symfony;

use Symfony\Component\HttpKernel\Bundle\Bundle;

/**
 * Registers the Publisher, the TokenIssuer, the Messaging service, the Messenger handler and the
 * `edgepush_token()` Twig function, configured under the `edgepush` key.
 */
final class EdgepushBundle extends Bundle
{
}
