<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use PHPUnit\Framework\TestCase;
use Symfony\Component\Filesystem\Filesystem;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\Security\Core\Authentication\Token\Storage\TokenStorageInterface;
use Symfony\Component\Security\Core\Authentication\Token\UsernamePasswordToken;
use Symfony\Component\Security\Core\User\UserInterface;

/**
 * A booted app with the bundle (TestKernel, its routes under /api/edgepush), one per test class:
 * booted before the class's first test with {@see bundleConfig()}, shut down and removed after its
 * last; nobody is logged in after each test.
 */
abstract class BootedAppTestCase extends TestCase
{
    protected static TestKernel $kernel;

    /**
     * The bundle's configuration of this class's app.
     *
     * @return array<string, mixed>
     */
    abstract protected static function bundleConfig(): array;

    public static function setUpBeforeClass(): void
    {
        self::$kernel = new TestKernel(static::bundleConfig());
        self::$kernel->boot();
    }

    public static function tearDownAfterClass(): void
    {
        self::$kernel->shutdown();
        (new Filesystem())->remove(dirname(self::$kernel->getCacheDir()));
    }

    protected function tearDown(): void
    {
        self::logIn(null);
    }

    /** A service of the app's container, public or not. */
    protected static function service(string $id): object
    {
        $service = self::$kernel->getContainer()->get('test.service_container')->get($id);
        self::assertIsObject($service, $id);

        return $service;
    }

    /** The app's answer to $request. */
    protected static function handle(Request $request): Response
    {
        return self::$kernel->handle($request);
    }

    /** Logs $user in for the requests and templates that follow (null: nobody). */
    protected static function logIn(?UserInterface $user): void
    {
        $storage = self::service('security.token_storage');
        self::assertInstanceOf(TokenStorageInterface::class, $storage);
        $storage->setToken($user === null ? null : new UsernamePasswordToken($user, 'main', $user->getRoles()));
    }
}
