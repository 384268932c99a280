<?php

declare(strict_types=1);

namespace App;

use Edgepush\Recipient;
use Symfony\Component\Security\Core\User\UserInterface;

/** The app's user entity, receiving events by its numeric id. */
final class User implements UserInterface, Recipient
{
    public function __construct(private readonly int $id)
    {
    }

    public function getEdgepushUserId(): int
    {
        return $this->id;
    }

    public function getUserIdentifier(): string
    {
        return "user-$this->id@example.com";
    }

    public function getUsername(): string
    {
        return $this->getUserIdentifier();
    }

    public function getRoles(): array
    {
        return ['ROLE_USER'];
    }

    public function getPassword(): ?string
    {
        return null;
    }

    public function getSalt(): ?string
    {
        return null;
    }

    public function eraseCredentials(): void
    {
    }
}
