<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Topic;
use Edgepush\TopicMessaging;

/** An app's controller that tells every page showing a product about its new price. */
final class ProductController
{
    public function __construct(public readonly TopicMessaging $messaging)
    {
    }

    public function changePrice(int $product, int $cents): void
    {
        // ... store the price, then:
        $this->messaging->send(new Topic("product:$product"), 'ProductChanged', ['price' => $cents]);
    }
}
