<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use Edgepush\Recipient;
use Symfony\Component\Security\Core\User\UserInterface;

/** An app's user entity: logs in by e-mail, receives events by numeric id. */
final class TestUser implements UserInterface, Recipient
{
    public function __construct(private readonly int $id, private readonly string $email)
    {
    }

    public function getEdgepushUserId(): int
    {
        return $this->id;
    }

    public function getUserIdentifier(): string
    {
        return $this->email;
    }

    public function getUsername(): string
    {
        return $this->email;
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
