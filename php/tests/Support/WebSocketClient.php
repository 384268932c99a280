<?php

declare(strict_types=1);

namespace Edgepush\Tests\Support;

/**
 * A minimal WebSocket client on a real socket, to watch what the worker delivers: the HTTP/1.1
 * upgrade handshake, unmasked server frames in, masked frames out (RFC 6455).
 */
final class WebSocketClient
{
    private const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

    /** The handshake's HTTP status: 101 when the socket opened. */
    public readonly int $status;
    /** @var array<string, string> the handshake's response headers, names in lower case */
    public readonly array $headers;
    /** The response body when the upgrade was refused. */
    public readonly string $refusal;
    /** @var resource */
    private $stream;
    private string $buffer = '';
    private bool $closed = false;

    /**
     * Connects to `<base>/connect`, offering the token in Sec-WebSocket-Protocol, or in the
     * `token` query parameter when $tokenInQuery.
     *
     * @param array<string, string|int> $query e.g. ['since' => 0, 'epoch' => '...']
     */
    public function __construct(string $baseUrl, string $token, array $query = [], bool $tokenInQuery = false)
    {
        $url = parse_url($baseUrl);
        $tls = ($url['scheme'] ?? 'http') === 'https';
        $host = $url['host'] ?? '127.0.0.1';
        $port = $url['port'] ?? ($tls ? 443 : 80);
        if ($tokenInQuery) {
            $query['token'] = $token;
        }
        $target = rtrim($url['path'] ?? '', '/') . '/connect' . ($query === [] ? '' : '?' . http_build_query($query));
        $stream = stream_socket_client(($tls ? 'tls://' : 'tcp://') . $host . ':' . $port, $errno, $error, 5);
        if ($stream === false) {
            throw new \RuntimeException("Cannot connect to $baseUrl: $error");
        }
        $this->stream = $stream;
        $key = base64_encode(random_bytes(16));
        $this->write(
            "GET $target HTTP/1.1\r\nHost: $host:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n"
            . 'Sec-WebSocket-Protocol: edgepush.v1' . ($tokenInQuery ? '' : ', ' . $token) . "\r\n\r\n",
        ) || throw new \RuntimeException('Cannot send the handshake to ' . $baseUrl);

        $deadline = microtime(true) + 10;
        while (($end = strpos($this->buffer, "\r\n\r\n")) === false) {
            $this->fill($deadline) || throw new \RuntimeException('No handshake answer from ' . $baseUrl);
        }
        $lines = explode("\r\n", substr($this->buffer, 0, $end));
        $this->buffer = substr($this->buffer, $end + 4);
        $this->status = (int) (explode(' ', (string) array_shift($lines))[1] ?? 0);
        $headers = [];
        foreach ($lines as $line) {
            [$name, $value] = explode(':', $line, 2) + [1 => ''];
            $headers[strtolower(trim($name))] = trim($value);
        }
        $this->headers = $headers;
        if ($this->status !== 101) {
            $length = (int) ($headers['content-length'] ?? 0);
            while (strlen($this->buffer) < $length && $this->fill($deadline)) {
            }
            $this->refusal = $this->buffer;
            $this->closed = true;
            fclose($this->stream);

            return;
        }
        $this->refusal = '';
        if (($headers['sec-websocket-accept'] ?? '') !== base64_encode(sha1($key . self::GUID, true))) {
            throw new \RuntimeException('Bad Sec-WebSocket-Accept from ' . $baseUrl);
        }
    }

    /**
     * The next text message, JSON-decoded; a close becomes ['type' => 'close', 'code' => ..,
     * 'reason' => ..] (1006 if the connection just ended). Null when nothing came within $timeout.
     *
     * @return array<string, mixed>|null
     */
    public function receive(float $timeout = 5.0): ?array
    {
        $deadline = microtime(true) + $timeout;
        $message = '';
        while (true) {
            $frame = $this->takeFrame();
            if ($frame === null) {
                if ($this->closed) {
                    return self::closeMessage(1006, 'connection ended');
                }
                if (!$this->fill($deadline) && !$this->closed) {
                    return null;
                }
                continue;
            }
            [$final, $opcode, $payload] = $frame;
            if ($opcode === 0x8) {
                $code = strlen($payload) >= 2 ? unpack('n', $payload)[1] : 1005;
                $this->sendFrame(0x8, substr($payload, 0, 2));
                $this->shutdown();

                return self::closeMessage($code, substr($payload, 2));
            }
            if ($opcode === 0x9) {
                $this->sendFrame(0xA, $payload);
            } elseif ($opcode === 0x1 || $opcode === 0x0) {
                $message .= $payload;
                if ($final) {
                    return json_decode($message, true, 512, JSON_THROW_ON_ERROR);
                }
            }
        }
    }

    /**
     * Every message until none comes for $quiet seconds.
     *
     * @return list<array<string, mixed>>
     */
    public function drain(float $quiet = 1.0): array
    {
        $messages = [];
        while (($message = $this->receive($quiet)) !== null) {
            $messages[] = $message;
            if ($message['type'] === 'close') {
                break;
            }
        }

        return $messages;
    }

    public function send(string $text): void
    {
        $this->sendFrame(0x1, $text) || throw new \RuntimeException('The WebSocket connection is gone');
    }

    public function close(): void
    {
        if (!$this->closed) {
            $this->sendFrame(0x8, pack('n', 1000));
            $this->shutdown();
        }
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Sends one masked frame; false if the connection is gone. */
    private function sendFrame(int $opcode, string $payload): bool
    {
        $length = strlen($payload);
        $header = chr(0x80 | $opcode) . match (true) {
            $length < 126 => chr(0x80 | $length),
            $length < 65536 => chr(0x80 | 126) . pack('n', $length),
            default => chr(0x80 | 127) . pack('J', $length),
        };
        $mask = random_bytes(4);

        return $this->write($header . $mask . ($payload ^ str_repeat($mask, intdiv($length, 4) + 1)));
    }

    /** @return array{bool, int, string}|null a complete frame from the buffer: fin, opcode, payload */
    private function takeFrame(): ?array
    {
        if (strlen($this->buffer) < 2) {
            return null;
        }
        [$first, $second] = [ord($this->buffer[0]), ord($this->buffer[1])];
        $length = $second & 0x7F;
        $offset = 2;
        if ($length === 126) {
            $length = strlen($this->buffer) >= 4 ? unpack('n', $this->buffer, 2)[1] : PHP_INT_MAX;
            $offset = 4;
        } elseif ($length === 127) {
            $length = strlen($this->buffer) >= 10 ? unpack('J', $this->buffer, 2)[1] : PHP_INT_MAX;
            $offset = 10;
        }
        $mask = '';
        if (($second & 0x80) !== 0) {
            $mask = substr($this->buffer, $offset, 4);
            $offset += 4;
        }
        if ($length === PHP_INT_MAX || strlen($this->buffer) < $offset + $length) {
            return null;
        }
        $payload = substr($this->buffer, $offset, $length);
        if ($mask !== '') {
            $payload ^= str_repeat($mask, intdiv($length, 4) + 1);
        }
        $this->buffer = substr($this->buffer, $offset + $length);

        return [($first & 0x80) !== 0, $first & 0x0F, $payload];
    }

    /** Reads what arrives before $deadline into the buffer; false on timeout or end of stream. */
    private function fill(float $deadline): bool
    {
        $wait = max(0.0, $deadline - microtime(true));
        $read = [$this->stream];
        $none = null;
        if (@stream_select($read, $none, $none, (int) $wait, (int) (fmod($wait, 1.0) * 1e6)) !== 1) {
            return false;
        }
        $chunk = fread($this->stream, 65536);
        if ($chunk === false || $chunk === '') {
            $this->shutdown();

            return false;
        }
        $this->buffer .= $chunk;

        return true;
    }

    private function write(string $bytes): bool
    {
        while ($bytes !== '') {
            $written = @fwrite($this->stream, $bytes);
            if ($written === false || $written === 0) {
                return false;
            }
            $bytes = substr($bytes, $written);
        }

        return true;
    }

    private function shutdown(): void
    {
        if (!$this->closed) {
            $this->closed = true;
            fclose($this->stream);
        }
    }

    /** @return array{type: string, code: int, reason: string} */
    private static function closeMessage(int $code, string $reason): array
    {
        return ['type' => 'close', 'code' => $code, 'reason' => $reason];
    }
}
