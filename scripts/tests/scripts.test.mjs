// The README commands' scripts, run against stand-ins (no package installed, no worker built,
// no port of a real worker):
//   - scripts/setup.sh on a fresh Debian (apt-get, dpkg-query, apt-cache and sudo are stubs that
//     log): it installs the profile's packages and npm before it asks for Rust, as root without
//     sudo, and says what to run when it cannot be root;
//   - scripts/build-worker.sh's EDGEPUSH_SKIP_BUILD modes, with a stub worker-build: under
//     scripts/dev.sh's setting a change rebuilds, and the first build after dev.sh's own does not;
//   - scripts/shared-worker.sh with a stub worker: it refuses a port already taken, records the
//     group before the worker is ready (an interrupted start leaves nothing running), and stops no
//     group that is not its worker's.
//
//   node --test scripts/tests/scripts.test.mjs
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync,
  statSync, symlinkSync, utimesSync, writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const temp = mkdtempSync(join(tmpdir(), "edgepush-scripts-"));
after(() => rmSync(temp, { recursive: true, force: true }));

function write(path, text, mode = 0o644) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}
const stub = (path, body) => write(path, `#!/usr/bin/env bash\n${body}\n`, 0o755);

/**
 * A folder for PATH with every command of /usr/bin and /bin but `without`, so that a test decides
 * which of cargo, rustup, npm, sudo, apt-get... exist.
 */
function systemBin(name, without) {
  const bin = join(temp, name);
  mkdirSync(bin, { recursive: true });
  for (const dir of ["/usr/local/bin", "/usr/bin", "/bin"]) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      if (without.includes(file) || existsSync(join(bin, file))) continue;
      symlinkSync(join(dir, file), join(bin, file));
    }
  }
  return bin;
}

// ---------- scripts/setup.sh ----------

describe("scripts/setup.sh on a fresh Debian", () => {
  const removed = ["apt-get", "apt-cache", "dpkg-query", "sudo", "id", "cargo", "rustup", "npm"];
  const system = systemBin("system", removed);
  /**
   * Runs the real scripts/setup.sh with stubs: `installed` Debian packages ("all" or names),
   * `uid`, whether sudo and Debian's rustup exist, and `tools` (cargo, rustup, npm) on PATH.
   */
  function setup(name, args, { installed = [], uid = 0, sudo = false, debianRustup = false, tools = [] }) {
    const stubs = join(temp, `stubs-${name}`);
    const log = join(temp, `apt-${name}.log`);
    writeFileSync(log, "");
    stub(join(stubs, "id"), `[ "$1" = -u ] && echo ${uid} || exec ${system}/id "$@"`);
    stub(join(stubs, "dpkg-query"), `
pkg=\${@: -1}
case " ${installed === "all" ? "all" : installed.join(" ")} " in *" all "*|*" $pkg "*) printf 'install ok installed' ;; *) exit 1 ;; esac`);
    stub(join(stubs, "apt-get"), `echo "\${SUDO_USED:+sudo }\${DEBIAN_FRONTEND:+DEBIAN_FRONTEND=$DEBIAN_FRONTEND }apt-get $*" >> ${log}`);
    stub(join(stubs, "apt-cache"), debianRustup ? `[ "\${@: -1}" = rustup ] && echo "Package: rustup" || exit 100` : "exit 100");
    if (sudo) stub(join(stubs, "sudo"), `SUDO_USED=1 exec "$@"`);
    if (tools.includes("cargo")) stub(join(stubs, "cargo"), `[ "$1" = --version ] && echo "cargo 1.99.0" || { echo "cargo $*" >> ${log}; }`);
    if (tools.includes("rustup")) stub(join(stubs, "rustup"), `[ "$1" = target ] && echo wasm32-unknown-unknown || echo "rustup 1.28"`);
    if (tools.includes("npm")) stub(join(stubs, "npm"), `echo "npm $*" >> ${log}`);
    mkdirSync(stubs, { recursive: true });
    const home = join(temp, `home-${name}`);
    mkdirSync(home, { recursive: true });
    const result = spawnSync("bash", [join(root, "scripts", "setup.sh"), ...args], {
      env: { PATH: `${stubs}:${system}`, HOME: home, LANG: "C" },
      encoding: "utf8",
    });
    return { status: result.status, stderr: result.stderr, apt: readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
  }

  test("dev profile as root without sudo: the build packages and npm, apt-get directly, then what to run for Rust", () => {
    const run = setup("root", ["--dev"], {});
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.apt[0], "apt-get update -qq");
    assert.match(run.apt[1], /^DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /);
    const packages = run.apt[1].split(" ").slice(6);
    assert.deepEqual(packages, ["build-essential", "ca-certificates", "curl", "npm"]);
    assert.doesNotMatch(run.stderr, /sudo/);
    assert.match(run.stderr, /rustup is missing: .*curl --proto '=https' --tlsv1\.2 -sSf https:\/\/sh\.rustup\.rs \| sh/);
  });

  test("test profile as a user with sudo: every package, with sudo, and Debian's rustup where Debian has it", () => {
    const run = setup("sudo", [], { uid: 1000, sudo: true, debianRustup: true });
    assert.equal(run.apt[0], "sudo apt-get update -qq");
    assert.match(run.apt[1], /^sudo DEBIAN_FRONTEND=noninteractive apt-get install /);
    const packages = run.apt[1].split(" ").slice(7);
    for (const pkg of ["build-essential", "chromium", "php-cli", "pushpin", "npm", "rustup"]) {
      assert.ok(packages.includes(pkg), `${pkg} in ${packages}`);
    }
  });

  test("no root and no sudo: nothing run, the command to run as root", () => {
    const run = setup("nosudo", ["--dev"], { uid: 1000, tools: ["cargo", "rustup", "npm"] });
    assert.equal(run.status, 1);
    assert.deepEqual(run.apt, []);
    assert.match(run.stderr, /run as root `apt-get update && apt-get install --no-install-recommends build-essential ca-certificates curl`/);
  });

  test("everything there (CI's machine): no apt-get at all, and the dev profile asks for no browser", () => {
    const run = setup("ready", ["--dev"], { installed: ["build-essential", "ca-certificates", "curl"], uid: 1000, tools: ["cargo", "rustup", "npm"] });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.apt.filter((line) => line.includes("apt-get")), []);
    const all = setup("ready-test", [], { installed: "all", uid: 1000, tools: ["cargo", "rustup", "npm"] });
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(all.apt.filter((line) => line.includes("apt-get")), []);
  });
});

// ---------- scripts/build-worker.sh ----------

describe("scripts/build-worker.sh's EDGEPUSH_SKIP_BUILD", () => {
  const repo = join(temp, "build-repo");
  for (const file of ["build-worker.sh", "env.sh"]) {
    mkdirSync(join(repo, "scripts"), { recursive: true });
    copyFileSync(join(root, "scripts", file), join(repo, "scripts", file));
  }
  const builds = join(temp, "builds.log");
  stub(join(repo, ".tools", "bin", "worker-build"), `echo build >> ${builds}; mkdir -p build; echo wasm > build/index.js`);
  write(join(repo, "server", "entry.js"), "export {};\n");
  write(join(repo, "server", "src", "lib.rs"), "// worker\n");
  write(join(repo, "protocol", "src", "lib.rs"), "// protocol\n");
  write(join(repo, "Cargo.toml"), "");
  write(join(repo, "Cargo.lock"), "");
  const count = () => (existsSync(builds) ? readFileSync(builds, "utf8").split("\n").length - 1 : 0);
  const build = (skip) => {
    const env = { ...process.env };
    if (skip === undefined) delete env.EDGEPUSH_SKIP_BUILD;
    else env.EDGEPUSH_SKIP_BUILD = skip;
    const result = spawnSync("bash", [join(repo, "scripts", "build-worker.sh")], { env, encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    return count();
  };
  /** Saves a source after the last build started. */
  const edit = (path) => {
    const built = statSync(join(repo, "server", "build", "entry.js")).mtimeMs;
    const at = new Date(Math.max(built + 50, Date.now() - 1000));
    utimesSync(join(repo, path), at, at);
  };
  // What scripts/dev.sh sets for wrangler's [build] runs.
  const devSkip = readFileSync(join(root, "scripts", "dev.sh"), "utf8").match(
    /export EDGEPUSH_SKIP_BUILD=(\S+)\s*\n(?:#.*\n)*exec wrangler dev/,
  )?.[1];

  test("under scripts/dev.sh: its own build, then wrangler's first is skipped and an edit is built", async () => {
    assert.ok(devSkip, "scripts/dev.sh exports EDGEPUSH_SKIP_BUILD before `exec wrangler dev`");
    assert.equal(build(undefined), 1); // dev.sh's own build
    assert.equal(build(devSkip), 1); // wrangler's at start: nothing changed
    await sleep(100);
    edit("server/src/lib.rs");
    assert.equal(build(devSkip), 2); // a watched change
    assert.equal(build(devSkip), 2);
    await sleep(100);
    edit("protocol/src/lib.rs");
    assert.equal(build(devSkip), 3);
  });

  test("EDGEPUSH_SKIP_BUILD=1 (the test suites, the bench) skips whenever a build exists; unset always builds", async () => {
    const before = count();
    await sleep(100);
    edit("server/src/lib.rs");
    assert.equal(build("1"), before);
    assert.equal(build(undefined), before + 1);
    assert.equal(build(undefined), before + 2);
  });
});

// ---------- scripts/shared-worker.sh ----------

describe("scripts/shared-worker.sh", () => {
  const repo = join(temp, "shared-repo");
  for (const file of ["shared-worker.sh", "env.sh"]) {
    mkdirSync(join(repo, "scripts"), { recursive: true });
    copyFileSync(join(root, "scripts", file), join(repo, "scripts", file));
  }
  // The worker: answers /health after READY_MS (never when -1), as worker-under-test.sh PORT STORE.
  write(join(repo, "scripts", "fake-worker.mjs"), `
import { createServer } from "node:http";
const [port] = process.argv.slice(2);
const ready = Date.now() + Number(process.env.READY_MS ?? 0);
createServer((req, res) => {
  const ok = process.env.READY_MS !== "-1" && Date.now() >= ready;
  res.writeHead(ok ? 200 : 503).end(ok ? '{"status":"ok"}' : "starting");
}).listen(Number(port), "127.0.0.1");
`);
  stub(join(repo, "scripts", "worker-under-test.sh"), `exec node "$(dirname "$0")/fake-worker.mjs" "$@"`);
  // The test kit's `edgepush-worker down PGID`: SIGTERM to the group, then wait for it.
  stub(join(repo, ".tools", "bin", "cargo"), `
[ "\${@: -2:1}" = down ] || { echo "cargo stub: $*" >&2; exit 1; }
kill -TERM -- "-\${@: -1}" 2>/dev/null
for _ in $(seq 100); do kill -0 -- "-\${@: -1}" 2>/dev/null || exit 0; sleep 0.1; done`);
  const pidfile = (port) => join(repo, "target", "e2e", `shared-worker-${port}.pid`);
  const groupAlive = (pgid) => spawnSync("kill", ["-0", "--", `-${pgid}`]).status === 0;
  const freePort = () =>
    new Promise((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
  const run = (command, port, env = {}) =>
    spawnSync("bash", [join(repo, "scripts", "shared-worker.sh"), command], {
      env: { ...process.env, EDGEPUSH_SHARED_PORT: String(port), ...env },
      encoding: "utf8",
      timeout: 60000,
    });

  test("a port taken by another server: refused, that server left alone", async () => {
    const other = createServer((req, res) => res.end('{"status":"ok"}'));
    await new Promise((resolve) => other.listen(0, "127.0.0.1", resolve));
    const { port } = other.address();
    try {
      const start = run("start", port);
      assert.notEqual(start.status, 0);
      assert.match(start.stderr, new RegExp(`port ${port} is already in use`));
      assert.equal(existsSync(pidfile(port)), false);
      assert.equal(run("stop", port).status, 0);
      assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    } finally {
      other.close();
    }
  });

  test("start, then stop: the group recorded, then gone", async () => {
    const port = await freePort();
    const start = run("start", port, { READY_MS: "300" });
    assert.equal(start.status, 0, start.stderr);
    const pgid = Number(readFileSync(pidfile(port), "utf8"));
    assert.ok(groupAlive(pgid));
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    assert.equal(run("stop", port).status, 0);
    assert.equal(groupAlive(pgid), false);
    assert.equal(existsSync(pidfile(port)), false);
  });

  test("interrupted while the worker starts: the group is recorded at once, and stopped", async () => {
    const port = await freePort();
    const script = spawn("bash", [join(repo, "scripts", "shared-worker.sh"), "start"], {
      env: { ...process.env, EDGEPUSH_SHARED_PORT: String(port), READY_MS: "-1" },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => script.on("exit", resolve));
    let pgid = 0;
    for (let i = 0; i < 100 && !pgid; i++) {
      await sleep(100);
      pgid = existsSync(pidfile(port)) ? Number(readFileSync(pidfile(port), "utf8")) : 0;
    }
    try {
      assert.ok(pgid > 0, "the pid file names the group while the worker is not ready");
      assert.ok(groupAlive(pgid));
      script.kill("SIGINT");
      await exited;
      assert.equal(groupAlive(pgid), false);
      assert.equal(existsSync(pidfile(port)), false);
    } finally {
      script.kill("SIGKILL");
      if (pgid && groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
    }
  });

  test("a pid file naming a group that is not the worker's: stop leaves it alone", async () => {
    const port = await freePort();
    const stranger = spawn("sleep", ["30"], { detached: true, stdio: "ignore" });
    try {
      mkdirSync(dirname(pidfile(port)), { recursive: true });
      writeFileSync(pidfile(port), `${stranger.pid}\n`);
      const stop = run("stop", port);
      assert.equal(stop.status, 0, stop.stderr);
      assert.ok(groupAlive(stranger.pid), "the stranger's group still runs");
      assert.equal(existsSync(pidfile(port)), false);
    } finally {
      stranger.kill("SIGKILL");
    }
  });
});
