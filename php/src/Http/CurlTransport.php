<?php

declare(strict_types=1);

namespace Edgepush\Http;

use Edgepush\Exception\ConfigurationException;
use Edgepush\Exception\NetworkException;

/**
 * The default transport, on ext-curl. It keeps its connection open between requests.
 */
final class CurlTransport implements Transport
{
    private ?\CurlHandle $handle = null;

    /**
     * @param float $timeout        seconds for a whole request, connecting included
     * @param float $connectTimeout seconds to establish the connection
     */
    public function __construct(
        private readonly float $timeout = 10.0,
        private readonly float $connectTimeout = 3.0,
    ) {
        if (!extension_loaded('curl')) {
            throw new ConfigurationException(
                'The default edgepush transport needs ext-curl; install it (apt install php-curl) '
                . 'or pass an Edgepush\Http\Psr18Transport wrapping your PSR-18 client.',
            );
        }
        if ($timeout <= 0 || $connectTimeout <= 0) {
            throw new ConfigurationException('The edgepush HTTP timeouts must be positive numbers of seconds.');
        }
    }

    public function send(string $method, string $url, array $headers, string $body): Response
    {
        $this->handle ??= curl_init();
        curl_reset($this->handle);
        $lines = ['Expect:']; // no 100-continue round trip for bodies over 1 KiB
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        curl_setopt_array($this->handle, [
            CURLOPT_URL => $url,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
            CURLOPT_TIMEOUT_MS => (int) ceil($this->timeout * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) ceil($this->connectTimeout * 1000),
        ]);
        $received = [];
        curl_setopt($this->handle, CURLOPT_HEADERFUNCTION, static function ($handle, string $line) use (&$received): int {
            if (preg_match('/^HTTP\//', $line) === 1) {
                $received = []; // a new answer (after a 1xx): only the last one's headers
            } elseif (str_contains($line, ':')) {
                [$name, $value] = explode(':', $line, 2);
                $received[] = [trim($name), trim($value)];
            }

            return strlen($line);
        });
        if ($method !== 'GET' || $body !== '') {
            curl_setopt($this->handle, CURLOPT_POSTFIELDS, $body);
        }
        $answer = curl_exec($this->handle);
        if (!is_string($answer)) {
            throw new NetworkException(sprintf(
                '%s %s got no answer: %s (curl error %d).',
                $method,
                $url,
                curl_error($this->handle),
                curl_errno($this->handle),
            ));
        }

        $headers = [];
        foreach ($received as [$name, $value]) {
            $headers[strtolower($name)][] = $value;
        }

        return new Response((int) curl_getinfo($this->handle, CURLINFO_RESPONSE_CODE), $answer, $headers);
    }
}
