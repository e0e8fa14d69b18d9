#!/usr/bin/env python3
"""Extracts fuzzing seed inputs from the conformance vectors (tests/vectors/**.json).

    fuzz/extract_seeds.py OUT_DIR [--max-per-target N] [--max-bytes B]

writes OUT_DIR/<target>/<name> files, one raw fuzz input each, in the byte layouts documented in
fuzz/README.md and on each harness module (fuzz/harness/<target>.rs). `make fuzz` runs it into
fuzz/corpus/ (git-ignored) before every campaign; fuzz/seeds/ (committed, replayed by
`make test`) holds a minimised slice of the corpora.

Structured targets (skew, session, lifetime) are encoded in the byte format of the `arbitrary`
crate (1.x) for the harness types: integers little-endian, bool = one byte (bit 0),
Option = bool then the value, an enum = u32 little-endian `v` choosing variant `(v * n) >> 32`
of `n`, struct fields in declaration order.

Plain Python 3, no dependencies.
"""

import argparse
import email.utils
import hashlib
import json
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "tests", "vectors")
KEYS = os.path.join(ROOT, "fuzz", "harness", "keys")


def load(rel):
    with open(os.path.join(VECTORS, rel), encoding="utf-8") as f:
        return json.load(f)["cases"]


class Enc:
    """The `arbitrary` 1.x byte format."""

    def __init__(self):
        self.b = bytearray()

    def raw(self, fmt, v):
        self.b += struct.pack("<" + fmt, v)
        return self

    def u8(self, v):
        return self.raw("B", v & 0xFF)

    def u16(self, v):
        return self.raw("H", v & 0xFFFF)

    def i16(self, v):
        return self.raw("h", v)

    def u32(self, v):
        return self.raw("I", v & 0xFFFFFFFF)

    def i32(self, v):
        return self.raw("i", max(-(2**31), min(2**31 - 1, v)))

    def u64(self, v):
        return self.raw("Q", v & 0xFFFFFFFFFFFFFFFF)

    def i64(self, v):
        return self.raw("q", max(-(2**63), min(2**63 - 1, v)))

    def bool(self, v):
        return self.u8(1 if v else 0)

    def opt(self, v, put):
        self.bool(v is not None)
        if v is not None:
            put(v)
        return self

    def variant(self, i, n):
        v = -(-(i << 32) // n)  # ceil(i * 2^32 / n)
        assert (v * n) >> 32 == i and v < 2**32
        return self.u32(v)


# ---------------------------------------------------------------------------------------------
# Plain layouts


def le_i64(v):
    return struct.pack("<q", max(-(2**63), min(2**63 - 1, v)))


def peek_seeds():
    for c in load("peek.json"):
        tok = c["input"].get("token")
        if tok is None:
            rep = c["input"]["token_repeat"]
            tok = rep["prefix"] + rep["repeat"] * rep["count"] + rep["suffix"]
        yield c["id"], tok.encode()
    for c in load("verify/verify.json"):
        yield c["id"], c["input"]["token"].encode()


def http_date_seeds():
    for c in load("http-date.json"):
        i = c["input"]
        if "value" in i:
            yield c["id"], le_i64(i["reference_ms"]) + i["value"].encode()
        else:
            yield c["id"], le_i64(i["unix_ms"])


def retry_after_seeds():
    for c in load("retry-after.json"):
        i = c["input"]
        yield c["id"], le_i64(i["reference_ms"]) + i["value"].encode()


def sntp_seeds():
    for c in load("sntp.json"):
        i = c["input"]
        head = le_i64(i["transmit_ms"]) + struct.pack("<I", i["entropy"])
        if i["kind"] == "parse":
            yield c["id"], head + le_i64(i["received_ms"]) + b"\x00" + bytes.fromhex(i["reply_hex"])
        else:
            yield c["id"], head + le_i64(i["transmit_ms"]) + b"\x00"


def token_response_seeds():
    for c in load("token-response.json"):
        i = c["input"]
        headers = "\n".join(f"{k}: {v}" for k, v in i["headers"]).encode()
        body = bytes.fromhex(i["body_hex"]) if "body_hex" in i else i["body"].encode()
        yield c["id"], struct.pack("<HH", i["status"], len(headers)) + headers + body


def jwks_seeds():
    for c in load("verify/verify.json"):
        k = c["input"]["key"]
        if k["kind"] == "jwk":
            yield c["id"], b"\x01" + json.dumps(k["jwk"]).encode()
        elif k["kind"] == "jwks":
            text = k["text"] if "text" in k else json.dumps(k["jwks"])
            yield c["id"], b"\x00" + text.encode()
    for name in sorted(os.listdir(KEYS)):
        if name.endswith(".json"):
            with open(os.path.join(KEYS, name), "rb") as f:
                yield "keys-" + name, (b"\x00" if name == "jwks.json" else b"\x01") + f.read()


FAMILY_SETUP = {"HS": 0, "RS": 1, "PS": 1, "ES256": 2, "ES384": 3, "EdDSA": 4}


def verify_seeds():
    for n, c in enumerate(load("verify/verify.json")):
        i = c["input"]
        alg = (i["algorithms"] or ["HS256"])[0]
        setup = FAMILY_SETUP.get(alg, FAMILY_SETUP.get(alg[:2], 0))
        if n % 4 == 3:
            setup = 5  # the JWKS: the key is picked by kid/alg
        flags = 1
        flags |= 2 if i.get("issuer") == "https://issuer.example" else 0
        flags |= 4 if i.get("audience") == ["api://resource"] else 0
        flags |= 8 if i.get("require_exp") is False else 0
        flags |= 16 if i.get("max_age_ms") is not None else 0
        flags |= 32 if i.get("allow_large_leeway") else 0
        head = bytes([setup, flags]) + le_i64(i["now_ms"]) + le_i64(i.get("leeway_ms", 5000))
        head += le_i64(i.get("max_age_ms") or 0)
        yield c["id"], head + i["token"].encode()


# ---------------------------------------------------------------------------------------------
# Structured layouts (fuzz/harness/{skew,lifetime,session}.rs)


def http_date_ms(s):
    return int(email.utils.parsedate_to_datetime(s).timestamp() * 1000)


def reading(e, r):
    e.i64(r["wall_ms"]).i64(r["mono_ms"])


# FreeOp variants (skew.rs): Manual, Date, Iat, Sntp, Observe, Estimate, Probe, Resolve,
# TakeResolutions, Clear.
FREE_OPS = 10


def skew_seeds():
    for c in load("skew.json"):
        i = c["input"]
        e = Enc()
        cfg = i.get("config") or {}
        # SkewInput { free: true, theta0, rho, drift_ppm, max_samples }
        e.bool(True).i64(0).i16(0).u32(cfg.get("drift_ppm", 200)).u8(cfg.get("max_samples", 16))
        for ev in i["events"]:
            k = ev["kind"]
            if k == "date":
                e.variant(1, FREE_OPS).i64(http_date_ms(ev["date"])).i64(1000)
                reading(e, ev["sent"])
                reading(e, ev["received"])
            elif k == "manual":
                e.variant(0, FREE_OPS).i64(ev["low_ms"]).opt(ev.get("high_ms"), e.i64)
                reading(e, ev["at"])
            elif k == "iat":
                e.variant(2, FREE_OPS).i64(ev["iat_ms"])
                reading(e, ev["received"])
            elif k == "observe":
                e.variant(4, FREE_OPS)
                reading(e, ev["at"])
        if i["kind"] == "probe":
            e.variant(6, FREE_OPS)
            reading(e, i["at"])
            e.i64(i.get("rtt_ms", 0)).i64(i.get("target_width_ms", 0))
        else:
            e.variant(5, FREE_OPS)
            reading(e, i["at"])
        yield c["id"], bytes(e.b)
    # Honest worlds: HonestOp variants Date, Iat, Sntp, Step, Observe, Suspend, Probe.
    for n, ops in enumerate(
        [
            [(0, 100, 50, 500)] * 6 + [(6, 80, 400, 20)] * 6,
            [(0, 5000, 100, 900), (3, 60000, -3_600_000), (0, 1000, 100, 100), (0, 1000, 200, 700)],
            [(5, 1000, 7_200_000), (0, 500, 90, 10), (1, 100, 3_600_000), (0, 900, 90, 900)],
            [(2, 1000, 30000, 500), (3, 10, 5000), (2, 1000, 1000, -900), (4, 100)],
        ]
    ):
        e = Enc()
        e.bool(False).i64([0, 1500, -30_000, 86_399_999][n]).i16([0, 150, -150, 199][n]).u32(200).u8(16)
        for op in ops:
            v, *f = op
            e.variant(v, 7)
            if v == 0:
                e.u32(f[0]).u16(f[1]).u16(f[2])
            elif v == 1:
                e.u32(f[0]).u32(f[1])
            elif v == 2:
                e.u32(f[0]).u32(f[1]).i16(f[2])
            elif v == 3:
                e.u32(f[0]).i32(f[1])
            elif v == 4:
                e.u32(f[0])
            elif v == 5:
                e.u32(f[0]).u32(f[1])
            else:
                e.u16(f[0]).u16(f[1]).u16(f[2])
        yield f"honest-{n}", bytes(e.b)


def lifetime_seeds():
    for c in load("expiry.json"):
        i = c["input"]
        t = i["times"]
        p = i.get("policy") or {}
        e = Enc()
        for k in ("expires_in_ms", "exp_ms", "nbf_ms", "iat_ms"):
            e.opt(t.get(k), e.i64)
        reading(e, i["sent"])
        # rtt: received − sent on each clock (the harness reduces it mod 600 000)
        e.i64(i["received"]["wall_ms"] - i["sent"]["wall_ms"]).i64(i["received"]["mono_ms"] - i["sent"]["mono_ms"])
        e.bool(False)
        iss = i["issuer"]
        e.i64(iss["offset_ms"]).opt(iss.get("low_ms"), e.i64).opt(iss.get("high_ms"), e.i64)
        m = p.get("margin")
        if m is None:
            e.bool(False)
        elif "fixed_ms" in m:
            e.bool(True).variant(1, 2).i64(m["fixed_ms"])
        else:
            e.bool(True).variant(0, 2).i64(m["tenth_of_lifetime_cap_ms"])
        r = p.get("refresh_at")
        if r is None:
            e.bool(False)
        elif "fraction" in r:
            lo, hi = r["fraction"]
            e.bool(True).variant(0, 2).u64(struct.unpack("<Q", struct.pack("<d", lo))[0])
            e.u64(struct.unpack("<Q", struct.pack("<d", hi))[0])
        else:
            e.bool(True).variant(1, 2).i64(r["before_ms"])
        e.opt(p.get("assumed_lifetime_ms"), e.i64).opt(p.get("max_wait_ms"), e.i64)
        e.bool(p.get("not_before") == "nbf").u64(i.get("seed", 1))
        for ch in i["checks"]:
            at = ch["at"]
            s = ch["server"]
            e.variant(0, 2)
            e.i64(at["mono_ms"] - i["received"]["mono_ms"])
            e.i64((at["wall_ms"] - i["received"]["wall_ms"]) - (at["mono_ms"] - i["received"]["mono_ms"]))
            e.i64(s["offset_ms"]).opt(s.get("low_ms"), e.i64).opt(s.get("high_ms"), e.i64)
        yield c["id"], bytes(e.b)


# session.rs enums (variant counts): GrantKind 4, ClaimVal 2, ExpiresIn 3, RetryAfterIn 3,
# Resp 4, TicketPick 3, TokenPick 3, Op 10.
OP_N = 10
OAUTH_CODES = [
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope", "temporarily_unavailable", "server_error",
    "slow_down", "",
]
GRANTS = {"client_credentials": 0, "refresh_token": 1, "authorization_code": 2, "jwt_bearer": 3}


def jwt_claims(tok):
    parts = tok.split(".")
    if len(parts) != 3:
        return None
    import base64

    try:
        return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except Exception:
        return None


def session_seeds():
    for rel in ("session/basic.json", "session/errors.json", "session/skew.json"):
        for c in load(rel):
            cfg = c["input"]["config"]
            e = Enc()
            win = (cfg.get("policy") or {}).get("refresh_at", {}).get("fraction")
            # SessionInput { seed, grant, post_auth, issuer_offset, resource_offset, window, margin }
            e.u64(cfg.get("seed", 1)).variant(GRANTS.get(cfg["grant"]["type"], 0), 4)
            e.bool(cfg["auth"].get("method") == "client_secret_post").i32(0).i32(0)
            e.opt(win, lambda w: e.u8(int(w[0] * 100) - 1).u8(int((w[1] - w[0]) * 100)))
            e.bool(False)
            last = None
            for s in c["input"]["steps"]:
                at = s["at"]["mono_ms"]
                if last is not None and at > last:
                    e.variant(4, OP_N).u32(at - last)  # Advance
                last = at
                call = s["call"]
                if call == "authorize":
                    e.variant(0, OP_N)
                elif call == "next_timeout":
                    e.variant(8, OP_N).bool(False)
                elif call == "fail_refresh":
                    f = {"connect": 0, "timeout": 1}.get(s.get("failure"), 2)
                    e.variant(2, OP_N).u8(f).variant(0, 3)
                elif call == "on_response":
                    e.variant(3, OP_N).bool(s.get("status") == 401).variant(0, 3)
                    e.bool(any(k.lower() == "date" for k, _ in s.get("headers", []))).u16(50).u8(128)
                elif call == "complete_refresh":
                    e.variant(1, OP_N)
                    status = s.get("status", 200)
                    try:
                        body = json.loads(s.get("body", "{}"))
                    except ValueError:
                        body = None
                    if status == 200 and isinstance(body, dict) and "access_token" in body:
                        e.variant(0, 4)  # Resp::Token
                        ei = body.get("expires_in")
                        if isinstance(ei, int) and ei >= 0:
                            e.variant(1, 3).u32(ei)
                        else:
                            e.variant(0, 3)
                        claims = jwt_claims(str(body["access_token"]))
                        if claims is None:
                            e.bool(False)
                        else:
                            e.bool(True)
                            base = claims.get("iat", 1_700_000_000) if isinstance(claims.get("iat"), int) else 1_700_000_000
                            for k in ("exp", "nbf", "iat"):
                                v = claims.get(k)
                                e.opt(v if isinstance(v, int) else None, lambda v: e.variant(0, 2).i32(v - base))
                        e.bool(False).bool("refresh_token" in body)
                    elif isinstance(body, dict) and isinstance(body.get("error"), str):
                        code = OAUTH_CODES.index(body["error"]) if body["error"] in OAUTH_CODES else 8
                        e.variant(1, 4).u8(code).u16(status)
                        ra = [v for k, v in s.get("headers", []) if k.lower() == "retry-after"]
                        e.opt(ra[0] if ra else None, lambda v: e.variant(0, 3).u16(int(v) if v.isdigit() else 1))
                    else:
                        e.variant(2, 4).u16(status).bool(False)
                    rtt = s["at"]["mono_ms"] - s.get("sent", s["at"])["mono_ms"]
                    e.u16(max(0, rtt)).bool(any(k.lower() == "date" for k, _ in s.get("headers", [])))
                    e.u8(128).variant(0, 3)
            yield c["id"], bytes(e.b)


def monitor_seeds():
    edges = 2 * 13  # not critical: the fuzzer learns the shape; these are only starting points
    for n, doc in enumerate(
        [
            {"version": 1, "buckets": [0] * (edges + 1), "sum_ms": 0},
            {"version": 2, "buckets": [], "sum_ms": 0},
            {"version": 1, "buckets": [1, 2, 3], "sum_ms": -5},
            {"version": 1},
        ]
    ):
        name = b"tokenclock_token_age_seconds"
        ages = [0, -2500, 1000, 60_000, -(2**63), 2**63 - 1]
        data = bytes([len(name)]) + name + bytes([len(ages)]) + b"".join(le_i64(a) for a in ages)
        yield f"doc-{n}", data + json.dumps(doc).encode()


TARGETS = {
    "peek": peek_seeds,
    "http_date": http_date_seeds,
    "retry_after": retry_after_seeds,
    "sntp": sntp_seeds,
    "token_response": token_response_seeds,
    "jwks": jwks_seeds,
    "verify": verify_seeds,
    "skew": skew_seeds,
    "session": session_seeds,
    "lifetime": lifetime_seeds,
    "monitor": monitor_seeds,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--max-per-target", type=int, default=0, help="keep at most N (smallest first)")
    ap.add_argument("--max-bytes", type=int, default=0, help="skip inputs larger than B bytes")
    ap.add_argument("--only", action="append", help="only these targets")
    args = ap.parse_args()
    for target, gen in TARGETS.items():
        if args.only and target not in args.only:
            continue
        items = [(name, data) for name, data in gen() if not args.max_bytes or len(data) <= args.max_bytes]
        if args.max_per_target:
            items = sorted(items, key=lambda x: (len(x[1]), x[0]))[: args.max_per_target]
        d = os.path.join(args.out, target)
        os.makedirs(d, exist_ok=True)
        seen = set()
        for name, data in items:
            h = hashlib.sha1(data).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
            with open(os.path.join(d, f"vec-{safe}"), "wb") as f:
                f.write(data)
        print(f"{target}: {len(seen)} inputs -> {d}", file=sys.stderr)


if __name__ == "__main__":
    main()
