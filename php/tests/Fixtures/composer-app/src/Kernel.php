<?php

declare(strict_types=1);

namespace App;

use Symfony\Bundle\FrameworkBundle\Kernel\MicroKernelTrait;
use Symfony\Component\HttpKernel\Kernel as BaseKernel;

/** The kernel of symfony/skeleton 5.4: bundles from config/bundles.php, config/ and routes by convention. */
final class Kernel extends BaseKernel
{
    use MicroKernelTrait;
}
