<?php

declare(strict_types=1);

namespace Edgepush;

use Edgepush\Exception\InvalidInputException;

/**
 * A topic: every socket subscribed to it receives what is published to it.
 *
 *     $publisher->publish(new Topic('product:42'), 'ProductChanged', ['price' => 1990]);
 *     $publisher->publish(Topic::ofUsers('orders', $user), 'OrderShipped', [...]); // orders:#42
 *
 * A topic is `namespace:name`: visible ASCII, at most 255 bytes, a namespace of 1 to 32 of a-z,
 * 0-9, '_' and '-' (declared in the worker's TOPIC_NAMESPACES), name segments separated by ':',
 * none empty, no '*' (patterns such as `product:*` only grant topics in connect tokens). A last
 * segment `#id[,id...]` makes the topic belong to those users: only they can read it. Topics are
 * compared byte for byte: `Product:42` and `orders:#042` are other topics (or invalid ones).
 */
final class Topic implements \Stringable
{
    public readonly string $name;

    /** @throws InvalidInputException with the code invalid_topic */
    public function __construct(string $name)
    {
        $this->name = Validate::topic($name);
    }

    /**
     * The topic that belongs to $users under $prefix: `ofUsers('orders', 42)` is `orders:#42`,
     * `ofUsers('dm', 7, 42)` is `dm:#7,42`. Only those users can subscribe to it.
     *
     * @param string $prefix a namespace, or a namespace and name segments (`chat:room-1`)
     *
     * @throws InvalidInputException with the code invalid_topic
     */
    public static function ofUsers(string $prefix, string|int|Recipient ...$users): self
    {
        if ($users === []) {
            throw new InvalidInputException(
                sprintf('Topic::ofUsers("%s") needs at least one user.', $prefix),
                'invalid_topic',
            );
        }
        $ids = array_map(static function (string|int|Recipient $user): string {
            $id = Validate::userId($user);
            if (preg_match('/^[\x21-\x7E]+$/D', $id) !== 1 || strpbrk($id, ',:#*') !== false) {
                throw new InvalidInputException(sprintf(
                    'The user id "%s" cannot be part of a topic: it must be visible ASCII without \',\', \':\', '
                    . '\'#\' or \'*\'.',
                    addcslashes($id, "\0..\37\"\\\177..\377"),
                ), 'invalid_topic');
            }

            return $id;
        }, array_values($users));

        return new self($prefix . ':#' . implode(',', $ids));
    }

    /** The namespace: the part before the first ':'. */
    public function namespace(): string
    {
        return strstr($this->name, ':', true) ?: $this->name;
    }

    /**
     * For a topic that belongs to users (`orders:#42`, `dm:#7,42`), those users' ids; null for
     * any other topic.
     *
     * @return ?list<string>
     */
    public function users(): ?array
    {
        $last = substr((string) strrchr($this->name, ':'), 1);

        return str_starts_with($last, '#') ? explode(',', substr($last, 1)) : null;
    }

    /** Whether $user may read this topic as far as its user list goes (always, without one). */
    public function admits(string|int|Recipient $user): bool
    {
        $users = $this->users();

        return $users === null || in_array(Validate::userId($user), $users, true);
    }

    public function __toString(): string
    {
        return $this->name;
    }
}
