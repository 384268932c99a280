// www/demo-env.sh sourced as the README says (`source www/demo-env.sh`), from bash and from zsh
// (macOS's default shell; skipped where zsh is not installed), from the repo and from elsewhere:
// it finds .dev.vars next to itself and exports the first publish key.
//
//   node --test www/tests/demo-env.test.mjs
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { root } from "./harness.mjs";

const has = (shell) => spawnSync(shell, ["-c", "exit 0"]).status === 0;
const shells = ["bash", "zsh"];

// A copy of the script in a repo of its own, with a .dev.vars as scripts/dev.sh writes it.
const dir = mkdtempSync(join(tmpdir(), "edgepush-demo-env-"));
const repo = join(dir, "my repo");
mkdirSync(join(repo, "www"), { recursive: true });
copyFileSync(join(root, "www", "demo-env.sh"), join(repo, "www", "demo-env.sh"));
writeFileSync(
  join(repo, ".dev.vars"),
  "JWT_SECRET=0123456789abcdef0123456789abcdef\nPUBLISH_KEYS=dev:first-secret-0123456789abcdef0123,old:second\n",
);
after(() => rmSync(dir, { recursive: true, force: true }));

/** Sources the copy in `shell` from `cwd` as `path`; the three variables it exports afterwards. */
function source(shell, cwd, path) {
  const script = `source ${JSON.stringify(path)}; printf '%s|%s|%s' "$EDGEPUSH_URL" "$EDGEPUSH_KEY_ID" "$EDGEPUSH_PUBLISH_SECRET"`;
  const env = { ...process.env };
  for (const name of ["EDGEPUSH_URL", "EDGEPUSH_KEY_ID", "EDGEPUSH_PUBLISH_SECRET"]) delete env[name];
  // -f: no startup files of the user's own (zsh reads ~/.zshrc otherwise).
  const args = shell === "zsh" ? ["-f", "-c", script] : ["-c", script];
  return execFileSync(shell, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const expected = "http://127.0.0.1:8787|dev|first-secret-0123456789abcdef0123";

describe("source www/demo-env.sh", () => {
  for (const shell of shells) {
    test(`in ${shell}, from the repo and from another folder`, { skip: !has(shell) && `${shell} is not installed` }, () => {
      assert.equal(source(shell, repo, "www/demo-env.sh"), expected);
      assert.equal(source(shell, dir, join(repo, "www", "demo-env.sh")), expected);
      assert.equal(source(shell, join(repo, "www"), "./demo-env.sh"), expected);
    });
  }

  test("in zsh without FUNCTION_ARGZERO, and with nounset", { skip: !has("zsh") && "zsh is not installed" }, () => {
    const path = join(repo, "www", "demo-env.sh");
    const script = `setopt no_function_argzero nounset; source ${JSON.stringify(path)}; printf '%s' "$EDGEPUSH_KEY_ID"`;
    assert.equal(execFileSync("zsh", ["-f", "-c", script], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), "dev");
  });
});
