<?php

declare(strict_types=1);

namespace Edgepush\Symfony\Messenger;

use Edgepush\Exception\EdgepushException;
use Edgepush\Exception\ServiceUnavailableException;
use Edgepush\PublishedEvent;
use Edgepush\Publisher;
use Symfony\Component\Messenger\Exception\UnrecoverableMessageHandlingException;

/**
 * Publishes a {@see PublishMessage}. When the service stays unavailable the exception goes to
 * Messenger, which retries the message later; any other failure (invalid event, rejected
 * signature, configuration) is marked unrecoverable, since retrying cannot fix it.
 */
final class PublishMessageHandler
{
    public function __construct(private readonly Publisher $publisher)
    {
    }

    public function __invoke(PublishMessage $message): PublishedEvent
    {
        try {
            return $this->publisher->publishEvent($message->event);
        } catch (ServiceUnavailableException $e) {
            throw $e;
        } catch (EdgepushException $e) {
            throw new UnrecoverableMessageHandlingException($e->getMessage(), 0, $e);
        }
    }
}
