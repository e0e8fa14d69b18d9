// `npx tokenclock` the way a user gets it: `npm pack`, `npm install` of the tarball into an
// empty folder (offline: the package has no runtime dependencies), then `npx tokenclock` from
// there — against the loopback servers (tests/servers/tcserver.py) with the API server's clock
// 2.3 s ahead. Catches a CLI file missing from "files", a broken "bin" entry or shebang, or a
// CLI that only works from the source tree.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { cleanEnv, runCli, startServers } from "./cli-helpers.js";

const NPM_DIR = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));

let dir;
let app;
let packed;
let server;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tokenclock-cli-pack-"));
  [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], { cwd: NPM_DIR, encoding: "utf8" }),
  );
  app = join(dir, "app");
  mkdirSync(app);
  execFileSync(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", join(dir, packed.filename)],
    { cwd: app, encoding: "utf8" },
  );
  server = await startServers({ origins: 0, sntp: false });
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `npx --no -- tokenclock ARGS` in the user's folder (--no: never download; --: npx must not read --help). */
function npx(args, options = {}) {
  return runCli(["--no", "--", "tokenclock", ...args], { command: "npx", prefix: [], cwd: app, env: cleanEnv(), timeoutMs: 90_000, ...options });
}

test("the tarball ships the CLI: the bin entry, its modules and the full wasm build", () => {
  assert.deepEqual(pkg.bin, { tokenclock: "bin/tokenclock.js" });
  const shipped = packed.files.map((f) => f.path);
  for (const file of ["bin/tokenclock.js", "cli/core.js", "cli/io.js", "cli/main.js", "cli/probe.js", "full-node.js", "pkg/full/tokenclock_wasm_bg.wasm"]) {
    assert.ok(shipped.includes(file), `${file} is shipped`);
  }
  assert.ok(!shipped.some((p) => p.startsWith("test/")), "no test file is shipped");
  const installedBin = join(app, "node_modules", ".bin", "tokenclock");
  assert.ok(statSync(installedBin).mode & 0o111, "npm installed an executable bin link");
  assert.match(readFileSync(join(app, "node_modules", "tokenclock", "bin", "tokenclock.js"), "utf8"), /^#!\/usr\/bin\/env node\n/);
});

test("npx tokenclock skew http://127.0.0.1:PORT against a server 2.3 s ahead: the interval contains +2.3 s, under 0.3 s wide", async () => {
  await server.config({ api_offset_s: 2.3 });
  const r = await npx(["skew", server.info.api_base, "--json"]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 1, "2.3 s is beyond the default 1 s limit");
  const json = JSON.parse(r.stdout);
  const [o] = json.origins;
  assert.equal(o.name, server.info.api_base);
  assert.equal(o.error, null);
  assert.ok(o.low_ms <= 2_300 && 2_300 <= o.high_ms, `[${o.low_ms}, ${o.high_ms}] contains 2300`);
  assert.ok(o.width_ms < 300, `width ${o.width_ms} ms`);
  assert.equal(o.status, "beyond_limit");

  const text = await npx(["skew", server.info.api_base]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /beyond limit\n/);
  console.log(`npx tokenclock skew ${server.info.api_base}\n${text.stdout}`);
});

test("npx tokenclock --help and an error exit like the source tree's CLI", async () => {
  const help = await npx(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: tokenclock COMMAND \[OPTIONS\]\n/);
  const bad = await npx(["inspect", "hunter2"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.equal(bad.stderr, "tokenclock inspect: error: cannot read the token: token has 1 '.'-separated segment(s); a compact JWS has 3\n");
});
