#!/usr/bin/env python3
"""Generates tests/vectors/verify/keyset.json: transcripts of `tokenclock::verify::remote`
(the remote key set: discovery, caching, single flight, unknown-`kid` cooldown, failures that
keep the last good set, rotation grace, limits, the issuer's clock from `Date`).

The expectations are written here from the rules in docs/verifier.md ("Remote key sets"), not
taken from the implementation. Tokens are HS256 with `oct` JWKs (minted with PyJWT); the
signature algorithm does not matter to these rules, and verify.json covers every algorithm.

    /work/main/.venv/bin/python tests/vectors/gen/gen_keyset.py   (needs PyJWT)
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

import jwt

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "vectors" / "verify" / "keyset.json"

WALL0 = 1_700_000_000_000  # the readings of a transcript: (WALL0 + at, MONO0 + at)
MONO0 = 50_000
ISS = "https://issuer.example"
JWKS_URL = "https://issuer.example/jwks"
DISCOVERY_URL = "https://issuer.example/.well-known/openid-configuration"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def secret(name: str) -> bytes:
    return hashlib.sha512(b"tokenclock keyset vector key " + name.encode()).digest()


def jwk(name: str, **extra: Any) -> Dict[str, Any]:
    return {"kty": "oct", "kid": name, "alg": "HS256", "use": "sig", "k": b64u(secret(name)), **extra}


def jwks(*names: str) -> Dict[str, Any]:
    return {"keys": [jwk(n) for n in names]}


def token(kid: str, key: str | None = None) -> str:
    claims = {"iss": ISS, "sub": "user-1", "iat": WALL0 // 1000 - 60, "exp": WALL0 // 1000 + 86_400 * 2}
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, secret(key or kid), algorithm="HS256", headers=headers)


def http_date(at_ms: int, offset_ms: int = 0) -> str:
    import email.utils

    return email.utils.formatdate((WALL0 + at_ms + offset_ms) / 1000, usegmt=True)


TOKENS = {
    "k1": token("k1"),
    "k2": token("k2"),
    "k3": token("k3"),
    "kx": token("kx"),  # a kid no set ever has
    "k1_forged": token("k1", key="kx"),  # names k1, signed with another key
}

DOCS = {
    "k1": jwks("k1"),
    "k1k2": jwks("k1", "k2"),
    "k2k3": jwks("k2", "k3"),
    "enc_only": {"keys": [jwk("e1", use="enc")]},
    "not_jwks": {"hello": "world"},
    "metadata": {"issuer": ISS, "jwks_uri": JWKS_URL, "token_endpoint": ISS + "/token"},
    "metadata_slash": {"issuer": ISS + "/", "jwks_uri": JWKS_URL},
    "metadata_other": {"issuer": "https://evil.example", "jwks_uri": "https://evil.example/jwks"},
    "metadata_http": {"issuer": ISS, "jwks_uri": "http://keys.example/jwks"},
    "metadata_no_jwks": {"issuer": ISS},
}

JWKS_SRC = {"jwks_uri": JWKS_URL}
ISSUER_SRC = {"issuer": ISS}
OPTS = {"algorithms": ["HS256"]}


def fetch(kind: str = "jwks", url: str = JWKS_URL) -> Dict[str, Any]:
    return {"step": "fetch", "kind": kind, "url": url, "timeout_ms": 5000, "max_body_bytes": 262144}


def bg_fetch(kind: str = "jwks", url: str = JWKS_URL) -> Dict[str, Any]:
    return {**fetch(kind, url), "step": "ready_and_fetch"}


def ok_jwks(at: int, doc: str, keys: int, fresh: int, **headers: Any) -> Dict[str, Any]:
    return {
        "call": "response", "at": at, "status": 200, "body_ref": doc, **headers,
        "expect": {"outcome": "keys_updated", "keys": keys, "fresh_for_ms": fresh},
    }


CASES: List[Dict[str, Any]] = []


def case(id_: str, comment: str, source: Dict[str, Any], steps: List[Dict[str, Any]],
         options: Dict[str, Any] | None = None, config: Dict[str, Any] | None = None,
         flags: List[str] | None = None) -> None:
    c: Dict[str, Any] = {"id": id_, "comment": comment}
    if flags:
        c["flags"] = flags
    c["input"] = {"source": source, "options": options or OPTS, "config": config or {}, "steps": steps}
    c["expected"] = None  # a transcript: each step has its own `expect`
    CASES.append(c)


case("keyset-cold-start-single-flight",
     "the first verification fetches; a second one waits for that fetch (until its 5 s "
     "deadline); after the response both verify from the cache",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         {"call": "step", "at": 10, "expect": {"step": "wait", "wait_ms": 4990}},
         ok_jwks(120, "k1k2", 2, 600_000),
         {"call": "step", "at": 130, "expect": {"step": "ready"}},
         {"call": "verify", "at": 130, "token": "k1", "expect": {"ok": True}},
         {"call": "verify", "at": 130, "token": "k2", "expect": {"ok": True}},
         {"call": "verify", "at": 130, "token": "k1_forged", "expect": {"error": "invalid_signature"}},
         {"call": "events", "expect": [
             {"event": "keys_updated", "keys": 2, "added": ["k1", "k2"], "removed": [], "fresh_for_ms": 600_000}]},
     ])

case("keyset-stale-refetched-in-background",
     "a stale set keeps verifying while exactly one background fetch replaces it",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(100, "k1", 1, 120_000, cache_control="public, max-age=120"),
         {"call": "step", "at": 120_099, "expect": {"step": "ready"}},
         {"call": "step", "at": 120_100, "expect": bg_fetch()},
         {"call": "step", "at": 120_101, "expect": {"step": "ready"}},
         {"call": "verify", "at": 120_101, "token": "k1", "expect": {"ok": True}},
         ok_jwks(120_200, "k1k2", 2, 120_000, cache_control="max-age=120"),
         {"call": "step", "at": 120_300, "expect": {"step": "ready"}},
         {"call": "verify", "at": 120_300, "token": "k2", "expect": {"ok": True}},
     ])

case("keyset-cache-lifetime-bounds",
     "max-age (less Age) sets the lifetime, bounded to 1 min .. 1 h; no-store and no-cache get "
     "the lower bound; without a header 10 min",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(0, "k1", 1, 60_000, cache_control="max-age=5"),
         {"call": "step", "at": 60_000, "expect": bg_fetch()},
         ok_jwks(60_000, "k1", 1, 3_600_000, cache_control="max-age=999999"),
         {"call": "step", "at": 3_660_000, "expect": bg_fetch()},
         ok_jwks(3_660_000, "k1", 1, 200_000, cache_control="max-age=300", age="100"),
         {"call": "step", "at": 3_860_000, "expect": bg_fetch()},
         ok_jwks(3_860_000, "k1", 1, 60_000, cache_control="no-store, max-age=900"),
         {"call": "step", "at": 3_920_000, "expect": bg_fetch()},
         ok_jwks(3_920_000, "k1", 1, 600_000, cache_control="max-age=abc"),
         {"call": "step", "at": 4_519_999, "expect": {"step": "ready"}},
     ])

case("keyset-unknown-kid-cooldown",
     "a kid the set lacks refetches only once the 30 s cooldown since the last fetch passed; "
     "the refetch's end starts a new cooldown",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(100, "k1", 1, 600_000),
         {"call": "verify", "at": 1_000, "token": "kx", "expect": {"error": "unknown_kid"}},
         {"call": "unknown_kid", "at": 1_000, "expect": {"refetch": "no", "retry_in_ms": 29_100}},
         {"call": "unknown_kid", "at": 30_100, "expect": {"refetch": "fetch", "kind": "jwks", "url": JWKS_URL}},
         {"call": "unknown_kid", "at": 30_150, "expect": {"refetch": "wait", "wait_ms": 4_950}},
         ok_jwks(30_200, "k1", 1, 600_000),
         {"call": "verify", "at": 30_200, "token": "kx", "expect": {"error": "unknown_kid"}},
         {"call": "unknown_kid", "at": 30_200, "expect": {"refetch": "no", "retry_in_ms": 30_000}},
     ])

case("keyset-rotation-new-kid",
     "a token signed with a key added after the last fetch: one refetch (after the cooldown) "
     "and it verifies",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(0, "k1", 1, 600_000),
         {"call": "verify", "at": 40_000, "token": "k2", "expect": {"error": "unknown_kid"}},
         {"call": "unknown_kid", "at": 40_000, "expect": {"refetch": "fetch", "kind": "jwks", "url": JWKS_URL}},
         ok_jwks(40_050, "k1k2", 2, 600_000),
         {"call": "verify", "at": 40_050, "token": "k2", "expect": {"ok": True}},
         {"call": "events", "expect": [
             {"event": "keys_updated", "keys": 1, "added": ["k1"], "removed": [], "fresh_for_ms": 600_000},
             {"event": "keys_updated", "keys": 2, "added": ["k2"], "removed": [], "fresh_for_ms": 600_000}]},
     ])

case("keyset-failures-keep-last-good",
     "a 500, a malformed body and a transport error never drop the set in use; retries back "
     "off 1 s, 2 s, 4 s; fetch_failed is reported once per run, recovered after it",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(0, "k1", 1, 60_000, cache_control="max-age=60"),
         {"call": "step", "at": 60_000, "expect": bg_fetch()},
         {"call": "response", "at": 60_010, "status": 500, "body_text": "oops",
          "expect": {"error": "http_error"}},
         {"call": "verify", "at": 60_010, "token": "k1", "expect": {"ok": True}},
         {"call": "step", "at": 61_009, "expect": {"step": "ready"}},
         {"call": "step", "at": 61_010, "expect": bg_fetch()},
         {"call": "response", "at": 61_010, "status": 200, "body_text": "<html>not json</html>",
          "expect": {"error": "invalid_jwks"}},
         {"call": "step", "at": 63_009, "expect": {"step": "ready"}},
         {"call": "step", "at": 63_010, "expect": bg_fetch()},
         {"call": "failure", "at": 63_020, "error": "transport_error", "expect": {"ok": True}},
         {"call": "verify", "at": 63_020, "token": "k1", "expect": {"ok": True}},
         {"call": "step", "at": 67_020, "expect": bg_fetch()},
         ok_jwks(67_030, "k1", 1, 60_000, cache_control="max-age=60"),
         {"call": "events", "expect": [
             {"event": "keys_updated", "keys": 1, "added": ["k1"], "removed": [], "fresh_for_ms": 60_000},
             {"event": "fetch_failed", "kind": "jwks", "code": "http_error", "retry_in_ms": 1_000,
              "serving_last_good": True},
             {"event": "keys_updated", "keys": 1, "added": [], "removed": [], "fresh_for_ms": 60_000},
             {"event": "recovered", "failures": 3}]},
     ])

case("keyset-no-usable-key-refused",
     "a set whose keys are all unusable for the pinned algorithms (use: enc) or that is not a "
     "JWKS is refused like a failed fetch; the good set stays",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(0, "k1", 1, 60_000, cache_control="max-age=60"),
         {"call": "step", "at": 60_000, "expect": bg_fetch()},
         {"call": "response", "at": 60_000, "status": 200, "body_ref": "enc_only",
          "expect": {"error": "invalid_jwks"}},
         {"call": "step", "at": 61_000, "expect": bg_fetch()},
         {"call": "response", "at": 61_000, "status": 200, "body_ref": "not_jwks",
          "expect": {"error": "invalid_jwks"}},
         {"call": "verify", "at": 61_000, "token": "k1", "expect": {"ok": True}},
     ])

case("keyset-body-too-large",
     "a body over 256 KiB is refused (the ticket tells the host where to stop reading)",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         {"call": "response", "at": 10, "status": 200, "body_size": 262_145,
          "expect": {"error": "too_large"}},
         {"call": "step", "at": 20, "expect": {"step": "unavailable", "error": "keys_unavailable",
                                                "cause": "too_large", "retry_in_ms": 990}},
     ])

case("keyset-cold-failure-unavailable",
     "no set yet and the fetch failed: verifications fail with keys_unavailable until the "
     "backoff ends, then one fetch",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         {"call": "failure", "at": 100, "error": "transport_error", "expect": {"ok": True}},
         {"call": "step", "at": 200, "expect": {"step": "unavailable", "error": "keys_unavailable",
                                                 "cause": "transport_error", "retry_in_ms": 900}},
         {"call": "unknown_kid", "at": 200, "expect": {"refetch": "no", "retry_in_ms": 29_900}},
         {"call": "step", "at": 1_100, "expect": fetch()},
         ok_jwks(1_200, "k1", 1, 600_000),
         {"call": "verify", "at": 1_200, "token": "k1", "expect": {"ok": True}},
     ])

case("keyset-fetch-deadline",
     "a fetch never reported back ends at its 5 s deadline (a hung or killed fetch cannot block "
     "the set); its late response is a stale ticket and changes nothing",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         {"call": "step", "at": 4_999, "expect": {"step": "wait", "wait_ms": 1}},
         {"call": "step", "at": 5_000, "expect": {"step": "unavailable", "error": "keys_unavailable",
                                                   "cause": "timeout", "retry_in_ms": 1_000}},
         ok_jwks(5_500, "k1", 1, 0) | {"expect": {"error": "stale_ticket"}},
         {"call": "step", "at": 6_000, "expect": fetch()},
         {"call": "failure", "at": 6_100, "ticket": 1, "error": "transport_error",
          "expect": {"error": "stale_ticket"}},
         ok_jwks(6_100, "k1", 1, 600_000),
         {"call": "verify", "at": 6_100, "token": "k1", "expect": {"ok": True}},
     ])

case("keyset-rotation-grace",
     "a key that leaves the set keeps verifying for the 5 min grace, then not",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(0, "k1k2", 2, 60_000, cache_control="max-age=60"),
         {"call": "step", "at": 60_000, "expect": bg_fetch()},
         ok_jwks(60_000, "k2k3", 3, 60_000, cache_control="max-age=60"),
         {"call": "verify", "at": 60_000, "token": "k1", "expect": {"ok": True}},
         {"call": "verify", "at": 60_000, "token": "k3", "expect": {"ok": True}},
         {"call": "step", "at": 359_999, "expect": bg_fetch()},
         {"call": "verify", "at": 359_999, "token": "k1", "expect": {"ok": True}},
         {"call": "step", "at": 360_000, "expect": {"step": "ready"}},
         {"call": "verify", "at": 360_000, "token": "k1", "expect": {"error": "unknown_kid"}},
         {"call": "events", "expect": [
             {"event": "keys_updated", "keys": 2, "added": ["k1", "k2"], "removed": [], "fresh_for_ms": 60_000},
             {"event": "keys_updated", "keys": 2, "added": ["k3"], "removed": ["k1"], "fresh_for_ms": 60_000},
             {"event": "grace_ended", "kids": ["k1"]}]},
     ])

case("keyset-rotation-no-grace",
     "with grace_ms 0 a key that leaves the set is refused at once",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(0, "k1k2", 2, 60_000, cache_control="max-age=60"),
         {"call": "step", "at": 60_000, "expect": bg_fetch()},
         ok_jwks(60_000, "k2k3", 2, 60_000, cache_control="max-age=60"),
         {"call": "verify", "at": 60_000, "token": "k1", "expect": {"error": "unknown_kid"}},
     ], config={"grace_ms": 0})

case("keyset-discovery",
     "from an issuer: the metadata document first, then its jwks_uri; the issuer becomes the "
     "required iss",
     ISSUER_SRC, [
         {"call": "step", "at": 0, "expect": fetch("discovery", DISCOVERY_URL)},
         {"call": "step", "at": 1, "expect": {"step": "wait", "wait_ms": 4_999}},
         {"call": "response", "at": 50, "status": 200, "body_ref": "metadata",
          "expect": {"outcome": "discovered"}},
         {"call": "step", "at": 50, "expect": fetch()},
         ok_jwks(100, "k1", 1, 600_000),
         {"call": "verify", "at": 100, "token": "k1", "expect": {"ok": True}},
         {"call": "events", "expect": [
             {"event": "discovered", "jwks_uri": JWKS_URL},
             {"event": "keys_updated", "keys": 1, "added": ["k1"], "removed": [], "fresh_for_ms": 600_000}]},
     ])

case("keyset-discovery-again-when-the-set-moved",
     "a 404 from a discovered jwks_uri (the set moved) makes the next fetch a discovery again; "
     "the keys in use stay meanwhile",
     ISSUER_SRC, [
         {"call": "step", "at": 0, "expect": fetch("discovery", DISCOVERY_URL)},
         {"call": "response", "at": 10, "status": 200, "body_ref": "metadata",
          "expect": {"outcome": "discovered"}},
         {"call": "step", "at": 10, "expect": fetch()},
         ok_jwks(20, "k1", 1, 60_000, cache_control="max-age=60"),
         {"call": "step", "at": 60_020, "expect": bg_fetch()},
         {"call": "response", "at": 60_030, "status": 404, "body_text": "gone",
          "expect": {"error": "http_error"}},
         {"call": "verify", "at": 60_030, "token": "k1", "expect": {"ok": True}},
         {"call": "step", "at": 61_030, "expect": bg_fetch("discovery", DISCOVERY_URL)},
         {"call": "response", "at": 61_040, "status": 200,
          "body": {"issuer": ISS, "jwks_uri": ISS + "/keys/v2"}, "expect": {"outcome": "discovered"}},
         {"call": "step", "at": 61_040, "expect": bg_fetch("jwks", ISS + "/keys/v2")},
         ok_jwks(61_050, "k1k2", 2, 60_000, cache_control="max-age=60"),
         {"call": "verify", "at": 61_050, "token": "k2", "expect": {"ok": True}},
     ])

case("keyset-a-404-from-a-configured-uri-is-just-a-failure",
     "with a configured jwks_uri (no issuer to ask) a 404 is a failed fetch like any other",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         {"call": "response", "at": 10, "status": 404, "body_text": "", "expect": {"error": "http_error"}},
         {"call": "step", "at": 1_010, "expect": fetch()},
     ])

case("keyset-discovery-issuer-must-match-exactly",
     "a metadata document whose issuer differs (a trailing slash, another host) is refused; "
     "so is an http jwks_uri to a remote host and a document without jwks_uri",
     ISSUER_SRC, [
         {"call": "step", "at": 0, "expect": fetch("discovery", DISCOVERY_URL)},
         {"call": "response", "at": 10, "status": 200, "body_ref": "metadata_slash",
          "expect": {"error": "issuer_mismatch"}},
         {"call": "step", "at": 1_010, "expect": fetch("discovery", DISCOVERY_URL)},
         {"call": "response", "at": 1_020, "status": 200, "body_ref": "metadata_other",
          "expect": {"error": "issuer_mismatch"}},
         {"call": "step", "at": 3_020, "expect": fetch("discovery", DISCOVERY_URL)},
         {"call": "response", "at": 3_030, "status": 200, "body_ref": "metadata_http",
          "expect": {"error": "insecure_url"}},
         {"call": "step", "at": 7_030, "expect": fetch("discovery", DISCOVERY_URL)},
         {"call": "response", "at": 7_040, "status": 200, "body_ref": "metadata_no_jwks",
          "expect": {"error": "invalid_metadata"}},
         {"call": "step", "at": 7_041, "expect": {"step": "unavailable", "error": "keys_unavailable",
                                                   "cause": "invalid_metadata", "retry_in_ms": 7_999}},
     ], flags=["security"])

case("keyset-discovery-plain-http-opt-in",
     "with allow_plain_http an in-cluster http issuer and jwks_uri are accepted",
     {"issuer": "http://issuer.svc"}, [
         {"call": "step", "at": 0,
          "expect": fetch("discovery", "http://issuer.svc/.well-known/openid-configuration")},
         {"call": "response", "at": 10, "status": 200,
          "body": {"issuer": "http://issuer.svc", "jwks_uri": "http://issuer.svc/keys"},
          "expect": {"outcome": "discovered"}},
         {"call": "step", "at": 10, "expect": fetch("jwks", "http://issuer.svc/keys")},
     ], config={"allow_plain_http": True})

case("keyset-oauth-discovery-url",
     "RFC 8414: the well-known segment goes between host and path",
     {"issuer": "https://as.example/tenant"}, [
         {"call": "step", "at": 0,
          "expect": fetch("discovery", "https://as.example/.well-known/oauth-authorization-server/tenant")},
     ], config={"discovery": "oauth"})

case("keyset-issuer-clock-ahead",
     "responses' Date headers estimate the issuer's clock; 30 s ahead with a 5 s leeway fires "
     "clock_offset once. Date 30.05 s ahead truncated to the second, sent at 0, received at "
     "100: [30000 - 100, 30000 + 1000 - 0], widened 1 ms each side for a measured round trip "
     "read in whole ms (skew.json)",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(100, "k1", 1, 600_000, date=http_date(50, 30_000), sent_at=0),
         {"call": "estimate", "at": 100, "expect": {"low_ms": 29_899, "high_ms": 31_001, "clock_off": True}},
         {"call": "step", "at": 600_100, "expect": bg_fetch()},
         ok_jwks(600_200, "k1", 1, 600_000, date=http_date(600_150, 30_000)),
         {"call": "events", "expect": [
             {"event": "keys_updated", "keys": 1, "added": ["k1"], "removed": [], "fresh_for_ms": 600_000},
             {"event": "clock_offset", "low_ms": 29_899, "high_ms": 31_001, "leeway_ms": 5_000},
             {"event": "keys_updated", "keys": 1, "added": [], "removed": [], "fresh_for_ms": 600_000}]},
     ])

case("keyset-issuer-clock-agrees",
     "an issuer within the leeway fires nothing; a cached response with Age and a wild Date "
     "is ignored",
     JWKS_SRC, [
         {"call": "step", "at": 0, "expect": fetch()},
         ok_jwks(100, "k1", 1, 600_000, date=http_date(0)),
         {"call": "estimate", "at": 100, "expect": {"low_ms": -100, "high_ms": 900, "clock_off": False}},
         {"call": "step", "at": 600_100, "expect": bg_fetch()},
         ok_jwks(600_100, "k1", 1, 600_000 - 7_000, date=http_date(0, -3_600_000), age="7"),
         {"call": "estimate", "at": 600_100, "expect": {"clock_off": False}},
         {"call": "events", "expect": [
             {"event": "keys_updated", "keys": 1, "added": ["k1"], "removed": [], "fresh_for_ms": 600_000},
             {"event": "keys_updated", "keys": 1, "added": [], "removed": [], "fresh_for_ms": 593_000}]},
     ])

case("keyset-config-errors",
     "bad configuration is refused at construction",
     JWKS_SRC, [
         {"call": "new", "source": {"jwks_uri": "http://keys.example/jwks"}, "expect": {"error": "insecure_url"}},
         {"call": "new", "source": {"jwks_uri": "https://u:p@keys.example/jwks"}, "expect": {"error": "invalid_url"}},
         {"call": "new", "source": {"issuer": "https://issuer.example?x=1"}, "expect": {"error": "invalid_url"}},
         {"call": "new", "config": {"cooldown_ms": -1}, "expect": {"error": "invalid_config"}},
         {"call": "new", "config": {"fetch_timeout_ms": 0}, "expect": {"error": "invalid_config"}},
         {"call": "new", "config": {"min_cache_ms": 10, "max_cache_ms": 5}, "expect": {"error": "invalid_config"}},
         {"call": "new", "options": {"algorithms": []}, "expect": {"error": "invalid_config"}},
         {"call": "new", "config": {"grace_ms": 0}, "expect": {"ok": True}},
     ])


def main() -> None:
    doc = {
        "suite": "keyset",
        "description": (
            "tokenclock::verify::remote::RemoteKeySet transcripts: discovery, cache lifetime, single "
            "flight, unknown-kid cooldown, failures keep the last good set, rotation grace, limits, "
            "the issuer's clock. Readings are (wall0 + at, mono0 + at). Layout: "
            "core/tests/vectors_keyset.rs. Generated by tests/vectors/gen/gen_keyset.py."
        ),
        "wall0_ms": WALL0,
        "mono0_ms": MONO0,
        "tokens": TOKENS,
        "documents": DOCS,
        "cases": CASES,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
