// The fetch example in examples/ runs as a user runs it (a subprocess; `tokenclock` resolved from
// the user's node_modules, URLs from argv or the environment) against the loopback tcserver, and
// does its job: three API calls, one token request. The README shows the same code.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./fixtures/tcserver.js";
import { newKey, sign, startIssuer } from "./fixtures/issuer.js";

const NPM = fileURLToPath(new URL("..", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../examples/fetch_client_credentials.mjs", import.meta.url));
const README = fileURLToPath(new URL("../../README.md", import.meta.url));
const RS_EXAMPLE = fileURLToPath(new URL("../../examples/resource_server.mjs", import.meta.url));
const NPM_README = fileURLToPath(new URL("../README.md", import.meta.url));

let server;
let dir;
before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), "tc-example-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(NPM, join(dir, "node_modules", "tokenclock"), "dir");
  copyFileSync(EXAMPLE, join(dir, "example.mjs"));
  copyFileSync(RS_EXAMPLE, join(dir, "resource_server.mjs"));
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

// ----- the resource server example (npm/README.md, "Resource server") ------------------------------

function get(port, headers) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path: "/", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the resource server example verifies a token with the issuer's keys (401 without one)", async () => {
  const issuer = await startIssuer();
  const key = newKey("k1");
  issuer.keys = [key];
  const child = spawn(process.execPath, [join(dir, "resource_server.mjs")], {
    env: { ...process.env, ISSUER: issuer.issuer, PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (c) => {
        out += c;
        const m = /listening on (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) => reject(new Error(`example exited with ${code}: ${out}`)));
    });
    const ok = await get(port, { authorization: `Bearer ${sign(key, issuer.issuer)}` });
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { hello: "user-1" });
    const none = await get(port, {});
    assert.equal(none.status, 401);
    assert.equal(none.headers["www-authenticate"], "Bearer");
    assert.deepEqual(issuer.counts, { discovery: 1, jwks: 1 });
  } finally {
    child.kill();
    await issuer.close();
  }
});

test("both READMEs show the resource server example's code as it runs", () => {
  const code = readFileSync(RS_EXAMPLE, "utf8");
  const body = code.slice(code.indexOf("import { createServer }"));
  assert.ok(body.trim().split("\n").length <= 12, "the example is meant to be short");
  for (const path of [NPM_README, README]) {
    const readme = readFileSync(path, "utf8");
    assert.ok(readme.includes(body.trim()), `${path}'s resource server example differs from examples/resource_server.mjs`);
  }
});
