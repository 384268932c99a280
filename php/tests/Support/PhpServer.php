<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

/**
 * A `php -S` process serving a router script on a free local port (or the one given), for tests
 * that need real HTTP. The router finds its scratch folder in EDGEPUSH_STATE_DIR.
 */
final class PhpServer
{
    public readonly string $url;
    public readonly string $stateDir;
    /** @var resource|null */
    private $process;

    /** @param array<string, string> $env */
    public function __construct(string $router, array $env = [], ?int $port = null)
    {
        $this->stateDir = sys_get_temp_dir() . '/edgepush-php-' . bin2hex(random_bytes(6));
        mkdir($this->stateDir);
        $port ??= self::freePort();
        $this->url = 'http://127.0.0.1:' . $port;
        $log = $this->stateDir . '/server.log';
        $process = proc_open(
            [PHP_BINARY, '-S', '127.0.0.1:' . $port, $router],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']],
            $pipes,
            null,
            ['EDGEPUSH_STATE_DIR' => $this->stateDir] + $env + getenv(),
        );
        if ($process === false) {
            throw new \RuntimeException('Cannot start php -S for ' . $router);
        }
        $this->process = $process;
        $deadline = microtime(true) + 10;
        while (($socket = @stream_socket_client('tcp://127.0.0.1:' . $port, $errno, $error, 1)) === false) {
            if (microtime(true) > $deadline || !proc_get_status($process)['running']) {
                $this->stop();
                throw new \RuntimeException("php -S $router did not start: " . @file_get_contents($log));
            }
            usleep(20_000);
        }
        fclose($socket);
    }

    public function stop(): void
    {
        if ($this->process === null) {
            return;
        }
        proc_terminate($this->process);
        proc_close($this->process);
        $this->process = null;
        foreach (glob($this->stateDir . '/*') ?: [] as $file) {
            unlink($file);
        }
        rmdir($this->stateDir);
    }

    public function __destruct()
    {
        $this->stop();
    }

    /** A TCP port nobody listens on right now. */
    public static function freePort(): int
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        if ($probe === false) {
            throw new \RuntimeException('Cannot find a free port');
        }
        $port = (int) substr((string) strrchr((string) stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);

        return $port;
    }
}
