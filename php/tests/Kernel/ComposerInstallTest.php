<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use PHPUnit\Framework\TestCase;
use Symfony\Component\Filesystem\Filesystem;

/**
 * The package as an app gets it: `composer validate` of the repository's composer.json, then a
 * throwaway app (tests/Fixtures/composer-app) that adds the repository as a path repository,
 * Packagist switched off and the network disabled, runs `composer require edgepush/edgepush`, gets
 * the recipe of php/recipe applied the way Flex applies a manifest, and boots: the bundle is
 * registered, its routes answer tokens and refuse an unsigned webhook, its Twig function renders
 * the public URL.
 *
 * The app requires only edgepush, whose own requirements are PHP and ext-json: Symfony and Twig
 * come from Debian's packages (not Composer packages), loaded by their autoloaders in bin/check.php.
 */
final class ComposerInstallTest extends TestCase
{
    private const PACKAGE = 'edgepush/edgepush';

    private static string $root;
    private static string $app;
    /** @var array{0: int, 1: string, 2: string} */
    private static array $require;

    public static function setUpBeforeClass(): void
    {
        self::$root = dirname(__DIR__, 3);
        self::$app = sys_get_temp_dir() . '/edgepush-composer-app-' . bin2hex(random_bytes(6));
        (new Filesystem())->mirror(dirname(__DIR__) . '/Fixtures/composer-app', self::$app);
        file_put_contents(self::$app . '/composer.json', json_encode([
            'name' => 'example/app',
            'type' => 'project',
            'repositories' => [
                ['type' => 'path', 'url' => self::$root, 'options' => [
                    'symlink' => true,
                    // the version a VCS repository would give the main branch, whatever the checkout
                    'versions' => [self::PACKAGE => 'dev-main'],
                ]],
                ['packagist.org' => false],
            ],
            'autoload' => ['psr-4' => ['App\\' => 'src/']],
        ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR));
        self::$require = self::exec(
            ['composer', 'require', '--no-interaction', '--no-progress', '--no-audit', self::PACKAGE . ':dev-main'],
            self::$app,
        );
    }

    public static function tearDownAfterClass(): void
    {
        (new Filesystem())->remove(self::$app);
    }

    public function testTheRepositorysComposerJsonIsValid(): void
    {
        [$status, $output] = self::exec(['composer', 'validate', '--strict', '--no-check-lock'], self::$root);

        self::assertSame(0, $status, $output);
        self::assertStringContainsString('composer.json is valid', $output);
    }

    public function testTheLicenseFileIsTheDeclaredLicense(): void
    {
        $composer = json_decode((string) file_get_contents(self::$root . '/composer.json'), true);
        self::assertSame('Apache-2.0', $composer['license']);
        self::assertMatchesRegularExpression('/^license = "Apache-2.0"$/m', (string) file_get_contents(self::$root . '/Cargo.toml'));
        self::assertStringContainsString('Apache License', (string) file_get_contents(self::$root . '/LICENSE'));
        self::assertStringContainsString('Version 2.0, January 2004', (string) file_get_contents(self::$root . '/LICENSE'));
    }

    public function testComposerRequireInstallsThePackageOffline(): void
    {
        [$status, $output] = self::$require;
        self::assertSame(0, $status, $output);
        self::assertStringContainsString('Installing edgepush/edgepush (dev-main)', $output);

        $installed = json_decode((string) file_get_contents(self::$app . '/vendor/composer/installed.json'), true);
        $packages = array_column($installed['packages'], null, 'name');
        self::assertSame([self::PACKAGE], array_keys($packages), 'nothing but edgepush is installed');
        self::assertSame('symfony-bundle', $packages[self::PACKAGE]['type']);
        self::assertSame(
            realpath(self::$root . '/php/src/Publisher.php'),
            realpath(self::$app . '/vendor/edgepush/edgepush/php/src/Publisher.php'),
        );
    }

    /** Flex registers a symfony-bundle without a recipe by this rule (symfony/flex SymfonyBundle). */
    public function testFlexFindsTheBundleWhereItLooks(): void
    {
        $installed = json_decode((string) file_get_contents(self::$app . '/vendor/composer/installed.json'), true);
        $package = array_column($installed['packages'], null, 'name')[self::PACKAGE];
        $found = [];
        foreach ($package['autoload']['psr-4'] as $namespace => $path) {
            $last = substr((string) strrchr('\\' . trim($namespace, '\\'), '\\'), 1);
            $class = str_ends_with($last, 'Bundle') ? $last : $last . 'Bundle';
            $file = self::$app . '/vendor/' . self::PACKAGE . '/' . $path . '/' . $class . '.php';
            if (is_file($file) && str_contains((string) file_get_contents($file), 'Symfony\Component\HttpKernel\Bundle\Bundle')) {
                $found[] = trim($namespace, '\\') . '\\' . $class;
            }
        }

        self::assertSame(['Edgepush\EdgepushBundle'], $found);
    }

    public function testTheAppWithTheRecipeBootsAndServesTokens(): void
    {
        self::assertSame(0, self::$require[0], self::$require[1]);
        self::applyRecipe(self::$root . '/php/recipe/' . self::PACKAGE . '/0.1', self::$app);
        file_put_contents(self::$app . '/.env.local', implode("\n", [
            'APP_ENV=prod',
            'APP_DEBUG=0',
            'APP_SECRET=composer-install-test',
            'EDGEPUSH_PUBLIC_URL=https://push.example.com',
            'EDGEPUSH_PUBLISH_SECRET=composer-test-publish-secret-0123456789',
            'EDGEPUSH_JWT_SECRET=composer-test-jwt-secret-0123456789abcdef',
        ]) . "\n");

        [$status, $output, $stdout] = self::exec([PHP_BINARY, 'bin/check.php'], self::$app);

        self::assertSame(0, $status, $output);
        self::assertSame($stdout, $output, 'bin/check.php printed to stderr');
        $seen = json_decode($stdout, true, 16, JSON_THROW_ON_ERROR);
        self::assertContains('Edgepush\EdgepushBundle', $seen['bundles']);
        self::assertSame(
            realpath(self::$app . '/vendor/edgepush/edgepush/php/src/EdgepushBundle.php'),
            realpath($seen['bundle_file']),
        );
        self::assertSame(401, $seen['anonymous']['status']);
        self::assertSame('missing_token', $seen['anonymous']['body']['error']['code']);
        self::assertSame(200, $seen['logged_in']['status']);
        self::assertStringContainsString('no-store', (string) $seen['logged_in']['cache_control']);
        [, $claims] = explode('.', $seen['logged_in']['body']['token']);
        $claims = json_decode(base64_decode(strtr($claims, '-_', '+/')), true);
        self::assertSame('42', $claims['sub']);
        self::assertSame($claims['exp'], $seen['logged_in']['body']['expires_at']);
        self::assertSame('https://push.example.com', $seen['public_url']);
        self::assertSame(401, $seen['unsigned_webhook']['status'], 'the recipe\'s routes hold the webhook endpoint');
        self::assertSame('missing_signature', $seen['unsigned_webhook']['body']['error']['code']);
    }

    /** What Flex does with a manifest: bundles.php, the copied files, the env block of .env. */
    private static function applyRecipe(string $recipe, string $app): void
    {
        $manifest = json_decode((string) file_get_contents($recipe . '/manifest.json'), true, 16, JSON_THROW_ON_ERROR);
        self::assertSame(['bundles', 'copy-from-recipe', 'env'], array_keys($manifest));
        $bundles = [
            'Symfony\Bundle\FrameworkBundle\FrameworkBundle' => ['all'],
            'Symfony\Bundle\TwigBundle\TwigBundle' => ['all'],
        ] + $manifest['bundles'];
        $php = "<?php\n\nreturn [\n";
        foreach ($bundles as $class => $envs) {
            $php .= "    $class::class => [" . implode(', ', array_map(static fn (string $e): string => "'$e' => true", $envs)) . "],\n";
        }
        file_put_contents($app . '/config/bundles.php', $php . "];\n");
        foreach ($manifest['copy-from-recipe'] as $from => $to) {
            $to = str_replace('%CONFIG_DIR%', 'config', $to);
            (new Filesystem())->mirror($recipe . '/' . $from, $app . '/' . $to);
        }
        $env = "###> " . self::PACKAGE . " ###\n";
        foreach ($manifest['env'] as $name => $value) {
            $env .= str_starts_with($name, '#') ? "# $value\n" : "$name=$value\n";
        }
        file_put_contents($app . '/.env', $env . "###< " . self::PACKAGE . " ###\n");
    }

    /**
     * @param list<string> $command
     *
     * @return array{0: int, 1: string, 2: string} exit status, stdout and stderr together, stdout
     */
    private static function exec(array $command, string $cwd): array
    {
        $env = [
            'PATH' => (string) getenv('PATH'),
            'COMPOSER_HOME' => self::$app . '/.composer-home',
            'COMPOSER_CACHE_DIR' => self::$app . '/.composer-cache',
            'COMPOSER_DISABLE_NETWORK' => '1',
            'COMPOSER_ALLOW_SUPERUSER' => '1',
        ];
        $process = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $cwd, $env);
        self::assertIsResource($process, 'cannot start ' . $command[0]);
        $stdout = (string) stream_get_contents($pipes[1]);
        $stderr = (string) stream_get_contents($pipes[2]);
        $status = proc_close($process);

        return [$status, trim($stdout . "\n" . $stderr), $stdout];
    }
}
