<?php

declare(strict_types=1);

namespace Edgepush\Tests\Kernel;

use PHPUnit\Framework\TestCase;
use Symfony\Component\Filesystem\Filesystem;
use Symfony\Component\Security\Core\Authentication\Token\UsernamePasswordToken;
use Symfony\Component\Yaml\Yaml;
use Twig\Environment;

/**
 * The recipe's config/packages/edgepush.yaml and .env block, as an app gets them, with the
 * environment a deployment gives: the URL browsers get is EDGEPUSH_PUBLIC_URL when set, and
 * EDGEPUSH_URL when it is unset or empty (known only at runtime, env() placeholders being
 * resolved then), so a production that sets only EDGEPUSH_URL never sends browsers to the
 * recipe's development URL.
 */
final class RecipePublicUrlTest extends TestCase
{
    private const RECIPE = __DIR__ . '/../../recipe/edgepush/edgepush/0.1';

    /** @var list<string> */
    private array $set = [];
    private ?TestKernel $kernel = null;

    protected function tearDown(): void
    {
        foreach ($this->set as $name) {
            unset($_ENV[$name], $_SERVER[$name]);
        }
        if ($this->kernel !== null) {
            $this->kernel->shutdown();
            (new Filesystem())->remove(dirname($this->kernel->getCacheDir()));
        }
    }

    /** @return iterable<string, array{array<string, string>, string}> */
    public static function environments(): iterable
    {
        yield 'the recipe\'s .env alone (development)' => [[], 'http://127.0.0.1:8787'];
        yield 'production setting only EDGEPUSH_URL' => [['EDGEPUSH_URL' => 'https://push.example.com'], 'https://push.example.com'];
        yield 'an empty EDGEPUSH_PUBLIC_URL' => [
            ['EDGEPUSH_URL' => 'https://push.example.com', 'EDGEPUSH_PUBLIC_URL' => ''],
            'https://push.example.com',
        ];
        yield 'a public URL apart from an internal one' => [
            ['EDGEPUSH_URL' => 'http://edgepush.internal:8787', 'EDGEPUSH_PUBLIC_URL' => 'https://push.example.com'],
            'https://push.example.com',
        ];
    }

    /**
     * @dataProvider environments
     *
     * @param array<string, string> $deployment environment variables the deployment sets over the .env
     */
    public function testTheBrowserGetsThePublicUrlOrElseTheUrl(array $deployment, string $expected): void
    {
        $twig = $this->boot($deployment);

        self::assertSame($expected, $twig->createTemplate('{{ edgepush_public_url() }}')->render());
        $storage = $this->kernel?->getContainer()->get('test.service_container')->get('security.token_storage');
        $storage->setToken(new UsernamePasswordToken(new TestUser(42, 'ada@example.com'), 'main', ['ROLE_USER']));
        self::assertStringContainsString(
            sprintf('data-edgepush-url-value="%s"', $expected),
            $twig->createTemplate('<div {{ edgepush_stimulus_controller() }}></div>')->render(),
        );
    }

    /** @param array<string, string> $deployment */
    private function boot(array $deployment): Environment
    {
        $manifest = json_decode((string) file_get_contents(self::RECIPE . '/manifest.json'), true, 16, JSON_THROW_ON_ERROR);
        $dotenv = array_filter($manifest['env'], static fn (string $name): bool => !str_starts_with($name, '#'), ARRAY_FILTER_USE_KEY);
        foreach ($deployment + $dotenv as $name => $value) {
            $this->set[] = $name;
            $_ENV[$name] = $_SERVER[$name] = $value;
        }
        $config = Yaml::parseFile(self::RECIPE . '/config/packages/edgepush.yaml')['edgepush'];
        $this->kernel = new TestKernel($config);
        $this->kernel->boot();
        $twig = $this->kernel->getContainer()->get('test.service_container')->get('twig');
        self::assertInstanceOf(Environment::class, $twig);

        return $twig;
    }
}
