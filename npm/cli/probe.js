// The network half of the executor: performs one `http` or `sntp` action of the core's CliRun
// (which decides what to send, when, with which method, and how many times) and answers it:
// the response's status and headers with the clocks read around the exchange, the SNTP reply,
// or a transport error code.
import { lookup } from "node:dns/promises";
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { reading } from "./io.js";

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

/** Performs an `http` action; resolves to the answer (a function of the run). */
export async function httpExchange(action) {
  try {
    const sent = reading();
    const response = await fetch(action.url, {
      method: action.method,
      headers: action.headers,
      redirect: "manual",
      signal: AbortSignal.timeout(action.timeoutMs),
    });
    const received = reading();
    // Only the headers matter; free the connection for the next request.
    await response.body?.cancel().catch(() => {});
    const date = response.headers.get("date");
    const age = response.headers.get("age");
    return (run) => run.onHttpResponse(action.id, response.status, date, age, sent, received);
  } catch (error) {
    const code = transportCode(error);
    return (run) => run.onTransportError(action.id, code);
  }
}

/**
 * Performs an `sntp` action on a fresh connected UDP socket (so only the server's replies
 * arrive). Settles once: the first of a reply, a socket error or the timeout; the socket is
 * closed. Resolves to the answer (a function of the run).
 */
export async function sntpExchange(run, action) {
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
    timer = setTimeout(() => finish({ error: "timeout" }), action.timeoutMs);
    (async () => {
      const { address, family } = await lookup(action.host);
      if (settled) return;
      socket = createSocket(family === 6 ? "udp6" : "udp4");
      // A connected UDP socket reports an ICMP "port unreachable" as ECONNREFUSED.
      socket.on("error", (error) => finish({ error: transportCode(error) }));
      socket.on("message", (message) => finish({ message, received: reading() }));
      await new Promise((connected) => socket.connect(action.port, address, connected));
      if (settled) return;
      const packet = run.sntpPacket(action.id, reading(), randomBytes(4).readUInt32BE(0));
      if (packet === null) return finish({ ignore: true });
      socket.send(packet, (error) => {
        if (error) finish({ error: transportCode(error) });
      });
    })().catch((error) => finish({ error: transportCode(error) }));
  });
  if (outcome.ignore) return () => {};
  if (outcome.error !== undefined) return (r) => r.onTransportError(action.id, outcome.error);
  return (r) => r.onSntpReply(action.id, new Uint8Array(outcome.message), outcome.received);
}
