<?php

/*
 * Router of FakeEdgepush (`php -S`): plays queued answers first, then verifies the
 * Edgepush-Signature like the worker (independently of the library's Signer: the method, the
 * request target with its query, the body) and answers /publish (to users and topics),
 * /disconnect, GET /presence and /subscribe in the worker's shape. Every request is appended
 * to requests.jsonl with the status it got.
 */

declare(strict_types=1);

$dir = (string) getenv('EDGEPUSH_STATE_DIR');
$method = $_SERVER['REQUEST_METHOD'];
$path = $_SERVER['REQUEST_URI'];
$body = (string) file_get_contents('php://input');
$headers = array_change_key_case(getallheaders(), CASE_LOWER);

$answer = static function (int $status, string $json) use ($dir, $method, $path, $headers, $body): never {
    $record = ['method' => $method, 'path' => $path, 'headers' => $headers, 'body' => $body, 'status' => $status];
    file_put_contents("$dir/requests.jsonl", json_encode($record) . "\n", FILE_APPEND);
    http_response_code($status);
    header('Content-Type: application/json');
    echo $json;
    exit;
};
$error = static fn (int $status, string $code, string $message) => $answer(
    $status,
    json_encode(['error' => ['code' => $code, 'message' => $message]]),
);

$queue = is_file("$dir/queue.json") ? json_decode((string) file_get_contents("$dir/queue.json"), true) : [];
if ($queue !== []) {
    $next = array_shift($queue);
    file_put_contents("$dir/queue.json", json_encode($queue));
    $answer($next['status'], $next['body']);
}

[$keyId, $secret] = explode(':', (string) getenv('FAKE_EDGEPUSH_KEY'), 2);
$signature = $headers['edgepush-signature'] ?? null;
if ($signature === null) {
    $error(401, 'missing_signature', 'the request has no Edgepush-Signature header');
}
if (preg_match('/^keyid=([^,]+),t=(\d+),v1=([0-9a-f]{64})$/D', $signature, $m) !== 1) {
    $error(401, 'invalid_signature', 'the Edgepush-Signature header is malformed');
}
if ($m[1] !== $keyId) {
    $error(401, 'unknown_key', "the publish key \"$m[1]\" is not known to this server");
}
if (abs(time() - (int) $m[2]) > 300) {
    $error(401, 'stale_timestamp', 'the signature timestamp is more than 300 s from the server time');
}
if (!hash_equals(hash_hmac('sha256', "$m[2]\n$method\n$path\n$body", $secret), $m[3])) {
    $error(401, 'invalid_signature', 'the signature does not match');
}

if ($method === 'GET' && str_starts_with($path, '/presence?')) {
    if ($body !== '') {
        $error(400, 'invalid_field', 'a GET has no body');
    }
    parse_str((string) parse_url($path, PHP_URL_QUERY), $query);
    $answer(200, json_encode(isset($query['user'])
        ? ['user' => $query['user'], 'online' => false, 'sockets' => 0]
        : ['topic' => $query['topic'] ?? '', 'occupancy' => 0, 'users' => []]));
}
$data = json_decode($body, true);
if (!is_array($data)) {
    $error(400, 'invalid_json', 'the body is not valid JSON');
}
if ($path === '/disconnect') {
    $answer(200, json_encode(['user' => $data['user'], 'sockets' => 0]));
}
if ($path === '/subscribe' || $path === '/unsubscribe') {
    $answer(200, json_encode(['user' => $data['user'], 'topics' => $data['topics'], 'sockets' => 0]));
}
if ($path !== '/publish') {
    $error(404, 'not_found', "no route for $path");
}
$ids = is_file("$dir/ids.json") ? json_decode((string) file_get_contents("$dir/ids.json"), true) : [];
$results = [];
foreach ($data['events'] ?? [$data] as $event) {
    // Users and topics count their ids apart.
    $to = isset($event['topic']) ? ['topic' => $event['topic']] : ['user' => $event['user']];
    $stream = key($to) . ':' . current($to);
    $ids[$stream] = ($ids[$stream] ?? 0) + 1;
    $results[] = $to + ['id' => $ids[$stream], 'sockets' => 0];
}
file_put_contents("$dir/ids.json", json_encode($ids));
$answer(202, json_encode(['events' => $results]));
