<?php

/*
 * Router of the flaky proxy (`php -S`) that the retry test puts between the publisher and a real
 * worker at PROXY_UPSTREAM:
 * - requests 1..PROXY_LOSE are forwarded, but the worker's answer is replaced by a 502, as if the
 *   connection died after the worker stored the event; when EDGEPUSH_RESTART_CMD is set, it is run
 *   (and the worker's /health awaited) before that answer, so the retry meets a restarted worker;
 * - the next PROXY_REFUSE requests get a 503 without reaching the worker (it is "restarting");
 * - later requests are forwarded as they are.
 * Each request is logged to proxy.jsonl in EDGEPUSH_STATE_DIR.
 */

declare(strict_types=1);

$dir = (string) getenv('EDGEPUSH_STATE_DIR');
$upstream = rtrim((string) getenv('PROXY_UPSTREAM'), '/');
$lose = (int) getenv('PROXY_LOSE');
$refuse = (int) getenv('PROXY_REFUSE');
$n = (is_file("$dir/proxy.jsonl") ? count(file("$dir/proxy.jsonl")) : 0) + 1; // php -S serves one request at a time

$reply = static function (int $status, string $body, array $entry) use ($dir, $n): never {
    file_put_contents("$dir/proxy.jsonl", json_encode(['n' => $n, 'answered' => $status] + $entry) . "\n", FILE_APPEND);
    http_response_code($status);
    header('Content-Type: ' . ($entry['forwarded'] && $status < 500 ? 'application/json' : 'text/plain'));
    echo $body;
    exit;
};
$forward = static function () use ($upstream): array {
    $headers = [];
    foreach (getallheaders() as $name => $value) {
        if (in_array(strtolower($name), ['content-type', 'edgepush-signature', 'idempotency-key'], true)) {
            $headers[] = "$name: $value";
        }
    }
    $curl = curl_init($upstream . $_SERVER['REQUEST_URI']);
    curl_setopt_array($curl, [
        CURLOPT_CUSTOMREQUEST => $_SERVER['REQUEST_METHOD'],
        CURLOPT_POSTFIELDS => (string) file_get_contents('php://input'),
        CURLOPT_HTTPHEADER => $headers,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => 30,
    ]);
    $body = curl_exec($curl);

    return [(int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE), is_string($body) ? $body : curl_error($curl)];
};
$restart = static function () use ($dir, $upstream): string {
    $command = (string) getenv('EDGEPUSH_RESTART_CMD');
    if ($command === '') {
        return 'not configured';
    }
    exec($command . ' >>' . escapeshellarg("$dir/restart.log") . ' 2>&1', $output, $code);
    if ($code !== 0) {
        return "EDGEPUSH_RESTART_CMD exited with $code";
    }
    $health = curl_init($upstream . '/health');
    curl_setopt_array($health, [CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 2]);
    for ($deadline = time() + 90; time() < $deadline; usleep(200_000)) {
        if (curl_exec($health) !== false && curl_getinfo($health, CURLINFO_RESPONSE_CODE) === 200) {
            return 'restarted';
        }
    }

    return 'the worker did not answer /health within 90 s after EDGEPUSH_RESTART_CMD';
};

if ($n <= $lose) {
    [$status, $body] = $forward();
    $entry = ['forwarded' => true, 'upstream' => $status, 'upstream_body' => $body, 'restart' => $restart()];
    $reply(502, 'Bad Gateway', $entry);
}
if ($n <= $lose + $refuse) {
    $reply(503, 'Service Unavailable', ['forwarded' => false]);
}
[$status, $body] = $forward();
$reply($status, $body, ['forwarded' => true, 'upstream' => $status, 'upstream_body' => $body]);
