// Packaging test: what `npm publish` would ship (`npm pack`), installed into a throwaway
// project and imported by name from there, the way a user's Node ESM code does. Catches a
// file missing from "files" or a broken exports map, which the in-repo tests cannot see.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NPM_DIR = fileURLToPath(new URL("..", import.meta.url));

test("the packed tarball installs and imports in a fresh project", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tokenclock-pack-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: NPM_DIR, encoding: "utf8" }),
  );
  const shipped = packed.files.map((f) => f.path).sort();
  assert.deepEqual(shipped, [
    "api.js",
    "index.d.ts",
    "index.js",
    "node.js",
    "package.json",
    "pkg/tokenclock_wasm.d.ts",
    "pkg/tokenclock_wasm.js",
    "pkg/tokenclock_wasm_bg.wasm",
  ]);

  // Unpack as node_modules/tokenclock (what npm install does, minus the registry).
  const target = join(dir, "node_modules", "tokenclock");
  mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xzf", join(dir, packed.filename), "-C", target, "--strip-components=1"]);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", type: "module" }));
  writeFileSync(
    join(dir, "consumer.js"),
    'import { version, rulesIsExpired } from "tokenclock";\n' +
      "console.log(JSON.stringify({ version: version(), at: rulesIsExpired(1000, 1000, 0) }));\n",
  );
  const out = execFileSync(process.execPath, ["consumer.js"], { cwd: dir, encoding: "utf8" });
  const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));
  assert.deepEqual(JSON.parse(out), { version: pkg.version, at: true });
});
