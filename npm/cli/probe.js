// The I/O half of `skew` (and `inspect --server`): drives one core SkewProbe per origin. The
// probe decides when to send and how many times (docs/cli.md, "skew"); this file only sleeps,
// sends the HTTP HEAD (GET after a 405/501) or the SNTP packet, reads the clocks around each
// exchange and reports what came back, or a transport error code.
import { lookup } from "node:dns/promises";
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { SkewProbe } from "./core.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_NONAME", "EAI_ADDRFAMILY"]);
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const TLS_CODE = /^(?:ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL)/;
const HTTP_CODE = /^(?:UND_ERR|HPE_|ECONNRESET$|EPIPE$|ECONNABORTED$)/;

/**
 * The transport code the core knows (`timeout`, `dns_error`, `connect_error`, `tls_error`,
 * `http_error`, else `io_error`) for an error from fetch() or a socket.
 */
export function transportCode(error) {
  if (error?.name === "TimeoutError" || error?.name === "AbortError" || error?.code === "timeout") return "timeout";
  const codes = [];
  for (let e = error, depth = 0; e && depth < 5; e = e.cause, depth += 1) {
    if (typeof e.code === "string") codes.push(e.code);
    if (e.name === "TimeoutError" || e.name === "AbortError") return "timeout";
  }
  for (const code of codes) {
    if (DNS_CODES.has(code)) return "dns_error";
    if (CONNECT_CODES.has(code)) return "connect_error";
    if (TLS_CODE.test(code)) return "tls_error";
    if (HTTP_CODE.test(code)) return "http_error";
  }
  return "io_error";
}

/** One HTTP request for a Date sample: `{ response, sent, received }` (body discarded). */
async function request(url, method, timeoutMs, clock) {
  const sent = clock();
  const response = await fetch(url, {
    method,
    headers: { "cache-control": "no-cache" },
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  });
  const received = clock();
  // Only the headers matter; free the connection for the next sample.
  await response.body?.cancel().catch(() => {});
  return { response, sent, received };
}

/** Measures a URL's Date header. Resolves to the probe's origin object. */
async function driveDate(probe, url, clock) {
  let method = "HEAD";
  for (;;) {
    const action = probe.poll(clock());
    if (action.action !== "send") break;
    if (action.waitMs > 0) await sleep(action.waitMs);
    try {
      let exchange = await request(url, method, action.timeoutMs, clock);
      if (method === "HEAD" && (exchange.response.status === 405 || exchange.response.status === 501)) {
        // HEAD not allowed here: GET from now on (its body is discarded unread).
        method = "GET";
        exchange = await request(url, method, action.timeoutMs, clock);
      }
      const { response, sent, received } = exchange;
      probe.onDateResponse(response.headers.get("date"), response.headers.get("age"), sent, received);
    } catch (error) {
      probe.onError(transportCode(error));
    }
  }
  return probe.origin(clock());
}

/**
 * One SNTP exchange on a fresh connected UDP socket (so only the server's replies arrive).
 * Settles once: the first of a reply, a socket error or the timeout; nothing touches the probe
 * after that, and the socket is closed.
 */
async function sntpExchange(probe, host, port, timeoutMs, clock) {
  let settled = false;
  let socket = null;
  let timer;
  const outcome = await new Promise((resolve) => {
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket?.close();
      } catch {
        // already closed
      }
      resolve(result);
    };
    timer = setTimeout(() => finish({ error: "timeout" }), timeoutMs);
    (async () => {
      const { address, family } = await lookup(host);
      if (settled) return;
      socket = createSocket(family === 6 ? "udp6" : "udp4");
      // A connected UDP socket reports an ICMP "port unreachable" as ECONNREFUSED.
      socket.on("error", (error) => finish({ error: transportCode(error) }));
      socket.on("message", (message) => finish({ message, received: clock() }));
      await new Promise((connected) => socket.connect(port, address, connected));
      if (settled) return;
      const packet = probe.sntpRequest(clock(), randomBytes(4).readUInt32BE(0));
      socket.send(packet, (error) => {
        if (error) finish({ error: transportCode(error) });
      });
    })().catch((error) => finish({ error: transportCode(error) }));
  });
  if (outcome.error !== undefined) probe.onError(outcome.error);
  else probe.onSntpReply(new Uint8Array(outcome.message), outcome.received);
}

/** Measures an SNTP server. Resolves to the probe's origin object. */
async function driveSntp(probe, host, port, clock) {
  for (;;) {
    const action = probe.poll(clock());
    if (action.action !== "send") break;
    if (action.waitMs > 0) await sleep(action.waitMs);
    await sntpExchange(probe, host, port, action.timeoutMs, clock);
  }
  return probe.origin(clock());
}

/**
 * A planned origin: `{ name, source: "date", url }` or `{ name, source: "sntp", host, port }`.
 * Creates its probe now (throws the core's invalid_argument for a bad `samples`) and returns a
 * function that measures it.
 */
export function plan(origin, samples, clock) {
  const probe = new SkewProbe(origin.name, origin.source, samples);
  return origin.source === "date"
    ? () => driveDate(probe, origin.url, clock)
    : () => driveSntp(probe, origin.host, origin.port, clock);
}
