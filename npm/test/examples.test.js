// The fetch example in examples/ runs as a user runs it (a subprocess; `tokenclock` resolved from
// the user's node_modules, URLs from argv or the environment) against the loopback tcserver, and
// does its job: three API calls, one token request. The README shows the same code.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./fixtures/tcserver.js";

const NPM = fileURLToPath(new URL("..", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../examples/fetch_client_credentials.mjs", import.meta.url));
const README = fileURLToPath(new URL("../../README.md", import.meta.url));

let server;
let dir;
before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), "tc-example-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(NPM, join(dir, "node_modules", "tokenclock"), "dir");
  copyFileSync(EXAMPLE, join(dir, "example.mjs"));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const urlsFrom of ["argv", "env"]) {
  test(`the fetch example calls the API with one token (URLs from ${urlsFrom})`, async () => {
    const before = (await server.stats()).token.requests;
    const args = [join(dir, "example.mjs")];
    const env = { ...process.env };
    if (urlsFrom === "argv") args.push(server.info.token_url, server.info.api_url);
    else Object.assign(env, { TOKEN_URL: server.info.token_url, API_URL: server.info.api_url });
    const out = execFileSync(process.execPath, args, { env, encoding: "utf8", timeout: 60_000 });
    const lines = out.trim().split("\n");
    assert.equal(lines.length, 4, out);
    for (const line of lines.slice(0, 3)) {
      const body = JSON.parse(line);
      assert.equal(body.ok, true);
      assert.equal(body.scope, "read");
    }
    assert.equal(lines[3], "1 token request(s)");
    assert.equal((await server.stats()).token.requests - before, 1);
  });
}

test("the README shows the example's code as it runs", () => {
  const readme = readFileSync(README, "utf8");
  const code = readFileSync(EXAMPLE, "utf8");
  const body = code.slice(code.indexOf("import { createFetch }"));
  assert.ok(readme.includes(body.trim()), "README's fetch example differs from examples/fetch_client_credentials.mjs");
});
