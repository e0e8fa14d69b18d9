#!/usr/bin/env python3
"""Generates tests/vectors/verify/verify.json: conformance vectors for `tokenclock::verify`.

An implementation independent of the Rust verifier: tokens and keys are minted with PyJWT and
`cryptography`, signatures of the valid cases are cross-checked with PyJWT, and the expected
outcome of every case that depends on claims or time is computed by `reference()` below, a
separate Python model of the rules in docs/verifier.md. Cases whose outcome is about parsing,
keys or key selection declare their expected error explicitly.

Deterministic: keys are generated once and stored in the output's `generator_keys` (runners
ignore that member); on every later run they are read back. Timestamps are fixed. PS*/ES*
signatures are randomised, so a token from the previous output is reused whenever its signing
input (header.payload) is unchanged. Running the script twice gives the same file.

    python3 -m venv /tmp/gen-venv && /tmp/gen-venv/bin/pip install pyjwt cryptography
    /tmp/gen-venv/bin/python tests/vectors/gen/gen_verify.py
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import sys
import warnings
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import cryptography
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

warnings.simplefilter("ignore")  # PyJWT's InsecureKeyLengthWarning for the short-key cases

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "vectors" / "verify" / "verify.json"

T0 = 1_700_000_000  # iat of the standard token, seconds
T0_MS = T0 * 1000
EXP = T0 + 3600  # one-hour lifetime
EXP_MS = EXP * 1000
NOW_MS = T0_MS + 60_000  # one minute after iat: valid
ISS = "https://issuer.example"
AUD = "api://resource"

# ------------------------------------------------------------------------------------------
# Keys


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_make_keys(previous: dict | None) -> dict:
    if previous and "generator_keys" in previous:
        return previous["generator_keys"]

    def pem_private(k) -> str:
        return k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    keys = {
        "rsa": pem_private(rsa.generate_private_key(65537, 2048)),
        "rsa_other": pem_private(rsa.generate_private_key(65537, 2048)),
        "rsa_small": pem_private(rsa.generate_private_key(65537, 1024)),
        "p256": pem_private(ec.generate_private_key(ec.SECP256R1())),
        "p256_other": pem_private(ec.generate_private_key(ec.SECP256R1())),
        "p384": pem_private(ec.generate_private_key(ec.SECP384R1())),
        "ed25519": pem_private(ed25519.Ed25519PrivateKey.generate()),
        "ed25519_other": pem_private(ed25519.Ed25519PrivateKey.generate()),
        "hs": os.urandom(64).hex(),
        "hs_other": os.urandom(64).hex(),
        "hs_short": os.urandom(16).hex(),
    }
    # A self-signed certificate for the "rsa" key, fixed validity; PKCS#1 v1.5 signing is
    # deterministic, and it is stored anyway.
    key = serialization.load_pem_private_key(keys["rsa"].encode(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x7C0C)
        .not_valid_before(dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2033, 1, 1, tzinfo=dt.timezone.utc))
        .sign(key, hashes.SHA256())
    )
    keys["rsa_cert"] = cert.public_bytes(serialization.Encoding.PEM).decode()
    return keys


class Keys:
    def __init__(self, stored: dict):
        self.stored = stored
        self.priv = {
            name: serialization.load_pem_private_key(stored[name].encode(), None)
            for name in ("rsa", "rsa_other", "rsa_small", "p256", "p256_other", "p384", "ed25519", "ed25519_other")
        }

    def secret(self, name: str) -> bytes:
        return bytes.fromhex(self.stored[name])

    def private(self, name: str):
        return self.priv[name]

    def public_pem(self, name: str, fmt: str = "spki") -> str:
        pub = self.priv[name].public_key()
        if fmt == "pkcs1":
            return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
        return pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def jwk(self, name: str, kid: str | None = None, alg: str | None = None, **extra) -> dict:
        if name.startswith("hs"):
            out = {"kty": "oct", "k": b64u(self.secret(name))}
        else:
            if name.startswith("rsa"):
                alg_obj = jwt.algorithms.RSAAlgorithm
            elif name.startswith("p"):
                alg_obj = jwt.algorithms.ECAlgorithm
            else:
                alg_obj = jwt.algorithms.OKPAlgorithm
            out = json.loads(alg_obj.to_jwk(self.priv[name].public_key()))
            out.pop("key_ops", None)
        if kid is not None:
            out["kid"] = kid
        if alg is not None:
            out["alg"] = alg
        out.update(extra)
        return out


# ------------------------------------------------------------------------------------------
# Token minting


def mint(claims, signer: str, alg: str, keys: Keys, headers: dict | None = None) -> str:
    """A token signed by PyJWT. `claims` may be a dict or raw JSON text (bytes)."""
    key = keys.secret(signer) if signer.startswith("hs") else keys.private(signer)
    if isinstance(claims, dict):
        return jwt.encode(claims, key, algorithm=alg, headers=headers)
    return jwt.api_jws.encode(claims, key, algorithm=alg, headers=headers)


def mint_raw(header_json: str, payload_json: str, hmac_key: bytes | None, hash_name: str = "sha256") -> str:
    """A hand-built token (for headers/payloads PyJWT will not produce), HMAC-signed or unsigned."""
    signing_input = f"{b64u(header_json.encode())}.{b64u(payload_json.encode())}"
    if hmac_key is None:
        return signing_input + "."
    sig = hmac.new(hmac_key, signing_input.encode(), getattr(hashlib, hash_name)).digest()
    return f"{signing_input}.{b64u(sig)}"


def std_claims(**over) -> dict:
    c = {"iss": ISS, "sub": "user-123", "aud": AUD, "iat": T0, "exp": EXP, "scope": "read"}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


# ------------------------------------------------------------------------------------------
# The reference model of docs/verifier.md (claims and time), independent of the Rust code.


def to_ms(value, rounding) -> int:
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return int((d * 1000).to_integral_value(rounding=rounding))


def skew_threshold(iat, nbf, exp) -> int:
    start = nbf if nbf is not None else iat
    if exp is None or start is None or exp <= start:
        return 1000
    return max(1000, min(60_000, (exp - start) // 10))


def reference(claims: dict, opts: dict, now: int) -> dict:
    leeway = opts.get("leeway_ms", 5000)
    if leeway < 0:
        return {"error": "invalid_config"}
    if leeway > (86_400_000 if opts.get("allow_large_leeway") else 30_000):
        return {"error": "leeway_too_large"}
    exp = to_ms(claims["exp"], ROUND_FLOOR) if "exp" in claims else None
    nbf = to_ms(claims["nbf"], ROUND_CEILING) if "nbf" in claims else None
    iat = to_ms(claims["iat"], ROUND_FLOOR) if "iat" in claims else None
    max_age = opts.get("max_age_ms")
    if opts.get("require_exp", True) and exp is None:
        return {"error": "missing_claim", "claim": "exp"}
    if max_age is not None and iat is None:
        return {"error": "missing_claim", "claim": "iat"}
    if opts.get("issuer") is not None:
        if "iss" not in claims:
            return {"error": "missing_claim", "claim": "iss"}
        if claims["iss"] != opts["issuer"]:
            return {"error": "invalid_issuer"}
    token_aud = claims.get("aud")
    token_aud = [token_aud] if isinstance(token_aud, str) else (token_aud or [])
    wanted = opts.get("audience") or []
    if not wanted:
        if token_aud:
            return {"error": "invalid_audience"}
    elif "aud" not in claims:
        return {"error": "missing_claim", "claim": "aud"}
    elif not set(token_aud) & set(wanted):
        return {"error": "invalid_audience"}
    threshold = skew_threshold(iat, nbf, exp)
    # Leeway is subtracted from now for exp (and max age), added to now for nbf and iat.
    if exp is not None and now - leeway >= exp:
        by = now - exp
        return {"error": "expired", "by_ms": by, "likely_clock_skew": by <= threshold}
    if nbf is not None and now + leeway < nbf:
        by = nbf - now
        return {"error": "not_yet_valid", "valid_in_ms": by, "likely_clock_skew": by <= threshold}
    if iat is not None and now + leeway < iat:
        by = iat - now
        return {"error": "issued_in_future", "by_ms": by, "likely_clock_skew": by <= threshold}
    if iat is not None and max_age is not None and now - leeway >= iat + max_age:
        return {"error": "too_old", "by_ms": now - (iat + max_age)}
    return {
        "claims_subset": claims,
        "times": {"iat_ms": iat, "nbf_ms": nbf, "exp_ms": exp},
    }


def pyjwt_signature_ok(token: str, key, alg: str) -> bool:
    """PyJWT's opinion of the signature alone (every claim check off)."""
    try:
        jwt.decode(
            token,
            key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            },
        )
        return True
    except jwt.PyJWTError:
        return False


# ------------------------------------------------------------------------------------------
# Cases


class Builder:
    def __init__(self, keys: Keys, previous: dict | None):
        self.keys = keys
        self.cases: list[dict] = []
        self.old_tokens = {}
        if previous:
            for c in previous.get("cases", []):
                self.old_tokens[c["id"]] = c["input"].get("token")

    def stable(self, case_id: str, token: str) -> str:
        """Reuses the previous token when its signing input is unchanged (PS*/ES* are random)."""
        old = self.old_tokens.get(f"verify-{case_id}")
        if old and old.rsplit(".", 1)[0] == token.rsplit(".", 1)[0]:
            return old
        return token

    def add(self, case_id, comment, token, key, opts=None, now_ms=NOW_MS, expected=None, flags=(), check_sig=None):
        opts = dict(opts or {})
        opts.setdefault("algorithms", ["HS256"])
        token = self.stable(case_id, token)
        inp = {"token": token, "key": key}
        inp.update(opts)
        inp["now_ms"] = now_ms
        if expected is None:
            # Claims/time outcome: the signature must be good according to PyJWT.
            alg, pykey = check_sig
            assert pyjwt_signature_ok(token, pykey, alg), case_id
            payload = json.loads(unb64u(token.split(".")[1]))
            expected = reference(payload, opts, now_ms)
            if "claims_subset" in expected:
                header = json.loads(unb64u(token.split(".")[0]))
                expected = {"alg": header["alg"], "kid": header.get("kid"), **expected}
        self.cases.append(
            {
                "id": f"verify-{case_id}",
                "comment": comment,
                "flags": list(flags),
                "input": inp,
                "expected": expected,
            }
        )


def build(keys: Keys, previous) -> list[dict]:
    b = Builder(keys, previous)
    k = keys
    hs = {"kind": "secret", "hex": k.stored["hs"]}
    std_opts = {"issuer": ISS, "audience": [AUD]}

    def pem_key(name, fmt="spki"):
        return {"kind": "pem", "pem": k.public_pem(name, fmt)}

    # --- Every algorithm verifies, claims returned -----------------------------------------
    for alg in ("HS256", "HS384", "HS512"):
        t = mint(std_claims(), "hs", alg, k)
        b.add(f"valid-{alg.lower()}", f"{alg} with a 64-byte secret verifies; claims and times returned",
              t, hs, {**std_opts, "algorithms": [alg]}, check_sig=(alg, k.secret("hs")), flags=["algorithm"])
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        t = mint(std_claims(), "rsa", alg, k)
        b.add(f"valid-{alg.lower()}", f"{alg} with an RSA-2048 SubjectPublicKeyInfo PEM verifies",
              t, pem_key("rsa"), {**std_opts, "algorithms": [alg]},
              check_sig=(alg, k.public_pem("rsa")), flags=["algorithm"])
    for alg, name in (("ES256", "p256"), ("ES384", "p384"), ("EdDSA", "ed25519")):
        t = mint(std_claims(), name, alg, k)
        b.add(f"valid-{alg.lower()}", f"{alg} with a {name} PEM public key verifies",
              t, pem_key(name), {**std_opts, "algorithms": [alg]},
              check_sig=(alg, k.public_pem(name)), flags=["algorithm"])

    rs = mint(std_claims(), "rsa", "RS256", k)
    b.add("valid-rs256-pkcs1-pem", "an RSA PUBLIC KEY (PKCS#1) PEM works too",
          rs, pem_key("rsa", "pkcs1"), {**std_opts, "algorithms": ["RS256"]},
          check_sig=("RS256", k.public_pem("rsa")), flags=["key"])
    b.add("valid-rs256-certificate", "a CERTIFICATE PEM: its public key is used (validity not checked)",
          rs, {"kind": "pem", "pem": k.stored["rsa_cert"]}, {**std_opts, "algorithms": ["RS256"]},
          check_sig=("RS256", k.public_pem("rsa")), flags=["key"])
    b.add("valid-rs256-jwk", "a single RSA JWK (no kid) works",
          rs, {"kind": "jwk", "jwk": k.jwk("rsa")}, {**std_opts, "algorithms": ["RS256"]},
          check_sig=("RS256", k.public_pem("rsa")), flags=["key"])
    t = mint(std_claims(), "p256", "ES256", k, headers={"kid": "ec-1"})
    b.add("valid-es256-jwk-kid", "a single EC JWK whose kid matches the token's",
          t, {"kind": "jwk", "jwk": k.jwk("p256", kid="ec-1", alg="ES256", use="sig")},
          {**std_opts, "algorithms": ["ES256"]}, check_sig=("ES256", k.public_pem("p256")), flags=["key"])
    t = mint(std_claims(), "ed25519", "EdDSA", k)
    b.add("valid-eddsa-jwk", "a single OKP Ed25519 JWK works",
          t, {"kind": "jwk", "jwk": k.jwk("ed25519")}, {**std_opts, "algorithms": ["EdDSA"]},
          check_sig=("EdDSA", k.public_pem("ed25519")), flags=["key"])
    t = mint(std_claims(), "hs", "HS256", k)
    b.add("valid-hs256-oct-jwk", "an oct JWK is an HMAC secret",
          t, {"kind": "jwk", "jwk": k.jwk("hs")}, {**std_opts, "algorithms": ["HS256"]},
          check_sig=("HS256", k.secret("hs")), flags=["key"])

    # --- Time boundaries (HS256, lifetime 3600 s so the skew threshold is 60 s) --------------
    hs_token = mint(std_claims(), "hs", "HS256", k)
    sig = ("HS256", k.secret("hs"))
    for cid, comment, leeway, now in [
        ("exp-at-exp-leeway0", "now == exp with zero leeway: expired (RFC 7519: invalid on or after exp)", 0, EXP_MS),
        ("exp-minus-1ms-leeway0", "1 ms before exp, zero leeway: valid", 0, EXP_MS - 1),
        ("exp-plus-leeway-minus-1", "exp + leeway - 1 ms: still valid (leeway subtracted from now)", 5000, EXP_MS + 4999),
        ("exp-plus-leeway", "exp + leeway exactly: expired by 5000 ms, likely skew", 5000, EXP_MS + 5000),
        ("exp-minus-leeway", "exp - leeway: valid (a wrongly-signed leeway would reject this)", 5000, EXP_MS - 5000),
        ("exp-skew-threshold", "expired by exactly the threshold (lifetime/10 capped at 60 s): likely skew", 5000, EXP_MS + 60_000),
        ("exp-skew-threshold-plus-1", "expired by threshold + 1 ms: not likely skew", 5000, EXP_MS + 60_001),
        ("exp-long-ago", "expired a day ago: not skew", 5000, EXP_MS + 86_400_000),
        ("iat-future-within-leeway", "iat 4999 ms ahead of now, leeway 5 s: valid", 5000, T0_MS - 4999),
        ("iat-future-at-leeway", "iat exactly leeway ahead: valid (now + leeway < iat is false)", 5000, T0_MS - 5000),
        ("iat-future-beyond-leeway", "iat 5001 ms ahead: issued_in_future by 5001, likely skew", 5000, T0_MS - 5001),
        ("iat-future-leeway0", "iat 1 ms ahead with zero leeway: issued_in_future", 0, T0_MS - 1),
        ("iat-future-far", "iat 2 minutes ahead: beyond the 60 s threshold", 5000, T0_MS - 120_000),
        ("leeway-30s-accepted", "leeway 30 000 ms is the largest allowed by default", 30_000, EXP_MS + 29_999),
    ]:
        b.add(cid, comment, hs_token, hs, {**std_opts, "leeway_ms": leeway}, now_ms=now, check_sig=sig,
              flags=["boundary", "time"])

    nbf_claims = std_claims(nbf=T0 + 10)
    nbf_token = mint(nbf_claims, "hs", "HS256", k)
    nbf_ms = (T0 + 10) * 1000
    for cid, comment, leeway, now in [
        ("nbf-at-nbf", "now == nbf, zero leeway: valid", 0, nbf_ms),
        ("nbf-minus-1ms", "1 ms before nbf, zero leeway: not_yet_valid, valid_in 1", 0, nbf_ms - 1),
        ("nbf-minus-leeway", "nbf - leeway exactly: valid (leeway added to now)", 5000, nbf_ms - 5000),
        ("nbf-minus-leeway-minus-1", "nbf - leeway - 1: not_yet_valid", 5000, nbf_ms - 5001),
        ("nbf-far-future", "nbf 10 minutes ahead: lifetime from nbf is 3590 s, threshold 60 s, not skew", 5000, nbf_ms - 600_000),
    ]:
        b.add(cid, comment, nbf_token, hs, {**std_opts, "leeway_ms": leeway}, now_ms=now, check_sig=sig,
              flags=["boundary", "time"])

    short = std_claims(exp=T0 + 300)
    short_token = mint(short, "hs", "HS256", k)
    for cid, comment, now in [
        ("short-lifetime-threshold", "lifetime 300 s: threshold 30 s; expired by 30 000 ms is likely skew", (T0 + 300) * 1000 + 30_000),
        ("short-lifetime-threshold-plus-1", "expired by 30 001 ms of a 300 s token: not skew", (T0 + 300) * 1000 + 30_001),
    ]:
        b.add(cid, comment, short_token, hs, {**std_opts, "leeway_ms": 0}, now_ms=now, check_sig=sig,
              flags=["boundary", "skew"])
    tiny = mint(std_claims(exp=T0 + 5), "hs", "HS256", k)
    for cid, comment, now in [
        ("tiny-lifetime-floor", "lifetime 5 s: threshold floored at 1 s; expired by 1000 ms is skew", (T0 + 5) * 1000 + 1000),
        ("tiny-lifetime-floor-plus-1", "expired by 1001 ms of a 5 s token: not skew", (T0 + 5) * 1000 + 1001),
    ]:
        b.add(cid, comment, tiny, hs, {**std_opts, "leeway_ms": 0}, now_ms=now, check_sig=sig,
              flags=["boundary", "skew"])

    frac = mint(std_claims(exp=EXP + 0.9999, nbf=T0 + 0.0001), "hs", "HS256", k)
    b.add("fractional-exp-floor", "exp 1700003600.9999 floors to ...600999 ms: at that ms it is expired",
          frac, hs, {**std_opts, "leeway_ms": 0}, now_ms=EXP_MS + 999, check_sig=sig, flags=["boundary"])
    b.add("fractional-exp-floor-minus-1", "one ms earlier it is valid; nbf ...000.0001 ceils to ...000001",
          frac, hs, {**std_opts, "leeway_ms": 0}, now_ms=EXP_MS + 998, check_sig=sig, flags=["boundary"])
    b.add("fractional-nbf-ceil", "nbf 1700000000.0001 ceils to ...000001 ms: at ...000000 not yet valid",
          frac, hs, {**std_opts, "leeway_ms": 0}, now_ms=T0_MS, check_sig=sig, flags=["boundary"])

    # max age
    b.add("max-age-ok", "max_age 600 s, leeway 5 s: age 605 s - 1 ms is fine",
          hs_token, hs, {**std_opts, "max_age_ms": 600_000}, now_ms=T0_MS + 604_999, check_sig=sig, flags=["boundary"])
    b.add("max-age-exceeded", "age reaches max_age + leeway: too_old by 5000 ms (same boundary rule as exp)",
          hs_token, hs, {**std_opts, "max_age_ms": 600_000}, now_ms=T0_MS + 605_000, check_sig=sig, flags=["boundary"])
    no_iat = mint(std_claims(iat=None), "hs", "HS256", k)
    b.add("max-age-needs-iat", "max_age set and no iat: missing_claim",
          no_iat, hs, {**std_opts, "max_age_ms": 600_000}, check_sig=sig)
    b.add("no-iat-ok", "iat is optional without max_age", no_iat, hs, std_opts, check_sig=sig)

    # exp required
    no_exp = mint(std_claims(exp=None), "hs", "HS256", k)
    b.add("missing-exp", "exp is required by default", no_exp, hs, std_opts, check_sig=sig)
    b.add("missing-exp-allowed", "require_exp = false accepts a token without exp",
          no_exp, hs, {**std_opts, "require_exp": False}, check_sig=sig)

    # leeway configuration
    b.add("leeway-31s-refused", "leeway 31 s is refused without allow_large_leeway",
          hs_token, hs, {**std_opts, "leeway_ms": 31_000}, check_sig=sig, flags=["config"])
    b.add("leeway-31s-allowed", "leeway 31 s with allow_large_leeway: accepted (exp + 30 s is valid)",
          hs_token, hs, {**std_opts, "leeway_ms": 31_000, "allow_large_leeway": True}, now_ms=EXP_MS + 30_000,
          check_sig=sig, flags=["config"])
    b.add("leeway-negative", "a negative leeway is refused", hs_token, hs, {**std_opts, "leeway_ms": -1},
          check_sig=sig, flags=["config"])

    # iss / aud
    b.add("iss-mismatch", "iss differs from the expected issuer",
          hs_token, hs, {**std_opts, "issuer": "https://other.example"}, check_sig=sig)
    b.add("iss-case-sensitive", "issuer comparison is exact (case-sensitive)",
          hs_token, hs, {**std_opts, "issuer": ISS.upper()}, check_sig=sig)
    b.add("iss-missing", "issuer configured, token without iss: missing_claim",
          mint(std_claims(iss=None), "hs", "HS256", k), hs, std_opts, check_sig=sig)
    b.add("iss-not-checked", "no issuer configured: iss is not checked",
          hs_token, hs, {"audience": [AUD]}, check_sig=sig)
    b.add("aud-mismatch", "aud does not contain the expected audience",
          hs_token, hs, {**std_opts, "audience": ["api://other"]}, check_sig=sig)
    b.add("aud-one-of-many", "token aud array contains one of the configured audiences",
          mint(std_claims(aud=["api://x", AUD]), "hs", "HS256", k), hs,
          {**std_opts, "audience": ["api://y", AUD]}, check_sig=sig)
    b.add("aud-missing", "audience configured, token without aud: missing_claim",
          mint(std_claims(aud=None), "hs", "HS256", k), hs, std_opts, check_sig=sig)
    b.add("aud-unexpected", "token has aud but no audience is configured: rejected (RFC 7519 4.1.3)",
          hs_token, hs, {"issuer": ISS}, check_sig=sig)
    b.add("aud-empty-array-unconfigured", "aud [] and no audience configured: accepted",
          mint(std_claims(aud=[]), "hs", "HS256", k), hs, {"issuer": ISS}, check_sig=sig)
    b.add("aud-empty-array-configured", "aud [] with an audience configured: invalid_audience",
          mint(std_claims(aud=[]), "hs", "HS256", k), hs, std_opts, check_sig=sig)

    # --- Signatures, algorithms, keys ----------------------------------------------------------
    b.add("hs256-wrong-secret", "HS256 token checked with another secret",
          hs_token, {"kind": "secret", "hex": k.stored["hs_other"]}, std_opts,
          expected={"error": "invalid_signature"}, flags=["signature"])
    assert not pyjwt_signature_ok(hs_token, k.secret("hs_other"), "HS256")
    b.add("rs256-wrong-key", "RS256 token checked with another RSA key",
          rs, pem_key("rsa_other"), {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_signature"}, flags=["signature"])
    assert not pyjwt_signature_ok(rs, k.public_pem("rsa_other"), "RS256")
    es = mint(std_claims(), "p256", "ES256", k)
    b.add("es256-wrong-key", "ES256 token checked with another P-256 key",
          es, pem_key("p256_other"), {**std_opts, "algorithms": ["ES256"]},
          expected={"error": "invalid_signature"}, flags=["signature"])
    ed = mint(std_claims(), "ed25519", "EdDSA", k)
    b.add("eddsa-wrong-key", "EdDSA token checked with another Ed25519 key",
          ed, pem_key("ed25519_other"), {**std_opts, "algorithms": ["EdDSA"]},
          expected={"error": "invalid_signature"}, flags=["signature"])
    h, p, s = hs_token.split(".")
    forged_payload = b64u(json.dumps(std_claims(scope="admin"), separators=(",", ":")).encode())
    b.add("tampered-payload", "payload changed after signing",
          f"{h}.{forged_payload}.{s}", hs, std_opts, expected={"error": "invalid_signature"}, flags=["signature"])
    rs_as_ps = rs.split(".")
    ps_header = b64u(json.dumps({"alg": "PS256", "typ": "JWT"}, separators=(",", ":")).encode())
    b.add("rs-signature-under-ps-header", "an RS256 signature relabelled PS256 does not verify",
          f"{ps_header}.{rs_as_ps[1]}.{rs_as_ps[2]}", pem_key("rsa"), {**std_opts, "algorithms": ["PS256"]},
          expected={"error": "invalid_signature"}, flags=["signature"])

    # Algorithm confusion: the RSA public key PEM used as an HMAC secret.
    rsa_pem = k.public_pem("rsa")
    confused = mint_raw(json.dumps({"alg": "HS256", "typ": "JWT"}), json.dumps(std_claims()), rsa_pem.encode())
    try:  # PyJWT refuses a PEM public key as an HMAC secret outright; so do we.
        jwt.decode(confused, rsa_pem, algorithms=["HS256"], options={"verify_aud": False})
        raise AssertionError("PyJWT accepted the confused token")
    except jwt.InvalidKeyError:
        pass
    b.add("confusion-rs-key-hs-token", "HS256 token MACed with the RSA public key PEM; verifier has the PEM and pins RS256+HS256",
          confused, pem_key("rsa"), {**std_opts, "algorithms": ["RS256", "HS256"]},
          expected={"error": "key_algorithm_mismatch"}, flags=["confusion"])
    b.add("confusion-rs-only", "same token, verifier pins RS256 only: the alg is refused first",
          confused, pem_key("rsa"), {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "algorithm_not_allowed"}, flags=["confusion"])
    b.add("confusion-pem-as-secret", "the PEM text given as an HMAC secret is refused (as PyJWT does)",
          confused, {"kind": "secret", "hex": rsa_pem.encode().hex()}, std_opts,
          expected={"error": "invalid_key"}, flags=["confusion", "key"])

    none_token = jwt.encode(std_claims(), None, algorithm="none")
    b.add("alg-none", "alg none is never accepted, even with an empty signature",
          none_token, hs, std_opts, expected={"error": "algorithm_not_allowed"}, flags=["algorithm"])
    none_upper = mint_raw(json.dumps({"alg": "NONE"}), json.dumps(std_claims()), None)
    b.add("alg-none-uppercase", "alg NONE: unknown, not allowed",
          none_upper, hs, std_opts, expected={"error": "algorithm_not_allowed"}, flags=["algorithm"])
    hs384 = mint(std_claims(), "hs", "HS384", k)
    b.add("alg-not-pinned", "HS384 token, verifier pins HS256 only",
          hs384, hs, std_opts, expected={"error": "algorithm_not_allowed"}, flags=["algorithm"])
    b.add("ec-curve-mismatch", "ES384 token and a P-256 key (both algorithms pinned)",
          mint(std_claims(), "p384", "ES384", k), pem_key("p256"), {**std_opts, "algorithms": ["ES256", "ES384"]},
          expected={"error": "key_algorithm_mismatch"}, flags=["key"])
    b.add("eddsa-token-rsa-key", "EdDSA token, RSA key, both algorithms pinned",
          ed, pem_key("rsa"), {**std_opts, "algorithms": ["RS256", "EdDSA"]},
          expected={"error": "key_algorithm_mismatch"}, flags=["key"])
    b.add("no-pinned-alg-fits-key", "an RSA key with only HMAC algorithms pinned is refused at construction",
          rs, pem_key("rsa"), {**std_opts, "algorithms": ["HS256"]},
          expected={"error": "key_algorithm_mismatch"}, flags=["key", "config"])
    b.add("short-secret", "a 16-byte HMAC secret is refused (RFC 7518 3.2: at least 256 bits)",
          mint(std_claims(), "hs_short", "HS256", k), {"kind": "secret", "hex": k.stored["hs_short"]}, std_opts,
          expected={"error": "invalid_key"}, flags=["key"])
    b.add("rsa-1024-refused", "an RSA-1024 key is refused",
          mint(std_claims(), "rsa_small", "RS256", k), pem_key("rsa_small"), {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_key"}, flags=["key"])
    b.add("private-pem-refused", "a private key PEM is refused: give the public key",
          rs, {"kind": "pem", "pem": k.stored["rsa"]}, {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_key"}, flags=["key"])
    b.add("not-pem", "garbage instead of a PEM", rs, {"kind": "pem", "pem": "not a key"},
          {**std_opts, "algorithms": ["RS256"]}, expected={"error": "invalid_key"}, flags=["key"])

    # --- Malformed tokens ------------------------------------------------------------------
    for cid, comment, token, reason in [
        ("two-segments", "only two segments", f"{h}.{p}", "malformed_token"),
        ("four-segments", "four segments", f"{h}.{p}.{s}.{s}", "malformed_token"),
        ("bad-base64", "a character outside base64url in the payload", f"{h}.{p[:-1]}*.{s}", "invalid_base64"),
        ("padded-base64", "= padding is not base64url (RFC 7515 section 2)", f"{h}.{p}==.{s}", "invalid_base64"),
        ("bad-base64-length", "a segment whose length is 1 mod 4 cannot be base64url", f"{h}.{p[:4 * (len(p) // 4) - 3]}.{s}", "invalid_base64"),
        ("payload-not-json", "payload is base64url of non-JSON", f"{h}.{b64u(b'not json')}.{s}", "invalid_json"),
        ("header-not-json", "header is base64url of non-JSON", f"{b64u(b'{alg')}.{p}.{s}", "invalid_json"),
        ("bearer-prefix", "the verifier wants the bare token, not the Authorization header value", f"Bearer {hs_token}", "not_bare_token"),
        ("jwe", "a five-segment JWE", f"{h}.{p}.{p}.{p}.{s}", "encrypted_token"),
        ("empty", "empty string", "", "malformed_token"),
    ]:
        b.add(f"malformed-{cid}", comment, token, hs, std_opts,
              expected={"error": "malformed_token", "reason": reason}, flags=["malformed"])

    secret = k.secret("hs")
    hdr = json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":"))
    claims_json = json.dumps(std_claims(), separators=(",", ":"))
    dup = mint_raw(hdr, claims_json[:-1] + f',"exp":{EXP + 86_400}' + "}", secret)
    b.add("malformed-duplicate-exp", "two exp members (validly signed): rejected, never last-one-wins",
          dup, hs, std_opts, expected={"error": "malformed_token", "reason": "duplicate_claim"}, flags=["malformed"])
    exp_str = mint_raw(hdr, json.dumps(std_claims(exp=str(EXP)), separators=(",", ":")), secret)
    b.add("malformed-exp-string", "exp as a numeric string (validly signed): invalid_claim_type",
          exp_str, hs, std_opts, expected={"error": "malformed_token", "reason": "invalid_claim_type"}, flags=["malformed"])
    crit = mint_raw(json.dumps({"alg": "HS256", "crit": ["exp"], "exp": 1}, separators=(",", ":")), claims_json, secret)
    b.add("malformed-crit", "a crit header names extensions this verifier does not understand (RFC 7515 4.1.11)",
          crit, hs, std_opts, expected={"error": "malformed_token", "reason": "unsupported_crit"}, flags=["malformed"])
    neg = mint_raw(hdr, json.dumps(std_claims(iat=-1), separators=(",", ":")), secret)
    b.add("malformed-negative-iat", "iat -1: claim_out_of_range",
          neg, hs, std_opts, expected={"error": "malformed_token", "reason": "claim_out_of_range"}, flags=["malformed"])

    # --- JWKS --------------------------------------------------------------------------------
    jwks = {
        "keys": [
            k.jwk("rsa", kid="rsa-1", alg="RS256", use="sig"),
            k.jwk("rsa_other", kid="rsa-2", alg="RS256", use="sig"),
            k.jwk("p256", kid="ec-1"),
            k.jwk("ed25519", kid="ed-1", alg="EdDSA"),
            k.jwk("rsa_other", kid="enc-1", use="enc", alg="RSA-OAEP"),
        ]
    }
    jwks_key = {"kind": "jwks", "jwks": jwks}
    all_asym = ["RS256", "PS256", "ES256", "EdDSA"]
    rs_kid2 = mint(std_claims(), "rsa_other", "RS256", k, headers={"kid": "rsa-2"})
    b.add("jwks-select-rsa-2", "kid rsa-2 selects the second RSA key",
          rs_kid2, jwks_key, {**std_opts, "algorithms": all_asym},
          check_sig=("RS256", k.public_pem("rsa_other")), flags=["jwks"])
    es_kid = mint(std_claims(), "p256", "ES256", k, headers={"kid": "ec-1"})
    b.add("jwks-select-ec", "kid ec-1 selects the EC key (no alg in the JWK)",
          es_kid, jwks_key, {**std_opts, "algorithms": all_asym},
          check_sig=("ES256", k.public_pem("p256")), flags=["jwks"])
    ed_kid = mint(std_claims(), "ed25519", "EdDSA", k, headers={"kid": "ed-1"})
    b.add("jwks-select-ed", "kid ed-1 selects the Ed25519 key",
          ed_kid, jwks_key, {**std_opts, "algorithms": all_asym},
          check_sig=("EdDSA", k.public_pem("ed25519")), flags=["jwks"])
    wrong_kid = mint(std_claims(), "rsa", "RS256", k, headers={"kid": "rsa-2"})
    b.add("jwks-kid-points-at-other-key", "signed by rsa-1's key but labelled rsa-2: invalid_signature",
          wrong_kid, jwks_key, {**std_opts, "algorithms": all_asym},
          expected={"error": "invalid_signature"}, flags=["jwks"])
    b.add("jwks-unknown-kid", "kid that names no key",
          mint(std_claims(), "rsa", "RS256", k, headers={"kid": "rsa-9"}), jwks_key,
          {**std_opts, "algorithms": all_asym}, expected={"error": "unknown_kid"}, flags=["jwks"])
    b.add("jwks-jwk-alg-mismatch", "PS256 token for kid rsa-1 whose JWK alg is RS256",
          mint(std_claims(), "rsa", "PS256", k, headers={"kid": "rsa-1"}), jwks_key,
          {**std_opts, "algorithms": all_asym}, expected={"error": "key_algorithm_mismatch"}, flags=["jwks"])
    b.add("jwks-kid-on-encryption-key",
          "kid names the use=enc key: no usable key has that kid, a token error (unknown_kid), never a configuration error",
          mint(std_claims(), "rsa_other", "RS256", k, headers={"kid": "enc-1"}), jwks_key,
          {**std_opts, "algorithms": all_asym}, expected={"error": "unknown_kid"}, flags=["jwks"])
    b.add("jwks-no-kid-ambiguous", "no kid, two RSA keys could verify RS256: unknown_kid",
          rs, jwks_key, {**std_opts, "algorithms": all_asym}, expected={"error": "unknown_kid"}, flags=["jwks"])
    b.add("jwks-no-kid-unique", "no kid, exactly one key (EC) usable for ES256: used",
          es, jwks_key, {**std_opts, "algorithms": all_asym},
          check_sig=("ES256", k.public_pem("p256")), flags=["jwks"])
    b.add("jwks-kid-on-single-pem", "a kid on the token is ignored when the key is a single PEM",
          rs_kid2, pem_key("rsa_other"), {**std_opts, "algorithms": ["RS256"]},
          check_sig=("RS256", k.public_pem("rsa_other")), flags=["key"])
    b.add("jwk-single-kid-mismatch", "a single JWK with kid rsa-1, token kid rsa-2: unknown_kid",
          rs_kid2, {"kind": "jwk", "jwk": k.jwk("rsa_other", kid="rsa-1")}, {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "unknown_kid"}, flags=["key"])
    many = {"keys": [{"kty": "oct", "kid": f"k{i}", "k": b64u(bytes([i]) * 32)} for i in range(101)]}
    b.add("jwks-too-many-keys", "101 keys: more than the 100-key cap",
          hs_token, {"kind": "jwks", "jwks": many}, std_opts, expected={"error": "invalid_jwks"}, flags=["jwks", "limits"])
    b.add("jwks-no-usable-key", "a JWKS with only an encryption key",
          rs, {"kind": "jwks", "jwks": {"keys": [jwks["keys"][4]]}}, {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_jwks"}, flags=["jwks"])
    b.add("jwks-not-json", "JWKS text that is not JSON",
          rs, {"kind": "jwks", "text": "{\"keys\": ["}, {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_jwks"}, flags=["jwks"])
    b.add("jwks-no-keys-member", "a JSON object without keys",
          rs, {"kind": "jwks", "jwks": {"kty": "RSA"}}, {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_jwks"}, flags=["jwks"])
    hs_kid = mint(std_claims(), "hs", "HS256", k, headers={"kid": "k7"})
    mixed = {"keys": [{"kty": "oct", "kid": "k7", "k": b64u(k.secret("hs"))}] + jwks["keys"][:2]}
    b.add("jwks-oct-by-kid", "an oct key selected by kid in a mixed JWKS",
          hs_kid, {"kind": "jwks", "jwks": mixed}, {**std_opts, "algorithms": ["HS256", "RS256"]},
          check_sig=("HS256", k.secret("hs")), flags=["jwks"])

    # A kid naming an entry that was skipped at construction is the token's error.
    fake_p521 = {"kty": "EC", "crv": "P-521", "kid": "p521-1", "x": b64u(b"\x01" * 66), "y": b64u(b"\x02" * 66)}
    fake_ed448 = {"kty": "OKP", "crv": "Ed448", "kid": "ed448-1", "x": b64u(b"\x03" * 57)}
    unusable = {
        "keys": [
            k.jwk("rsa", kid="rsa-1", alg="RS256"),
            k.jwk("rsa_other", kid="ops-1", key_ops=["encrypt"]),
            fake_p521,
            fake_ed448,
            k.jwk("rsa_small", kid="small-1"),
            k.jwk("p256", kid="enc-ec", use="enc"),
        ]
    }
    for kid, alg, signer, why in [
        ("ops-1", "RS256", "rsa_other", "key_ops without verify"),
        ("p521-1", "ES256", "p256", "an EC key on P-521 (unsupported curve)"),
        ("ed448-1", "EdDSA", "ed25519", "an OKP key on Ed448 (unsupported curve)"),
        ("small-1", "RS256", "rsa_small", "an RSA-1024 key (refused material)"),
        ("enc-ec", "ES256", "p256", "a use=enc EC key"),
    ]:
        b.add(f"jwks-kid-on-unusable-{kid}",
              f"kid names a JWKS entry skipped at construction ({why}): unknown_kid, a token error",
              mint(std_claims(), signer, alg, k, headers={"kid": kid}), {"kind": "jwks", "jwks": unusable},
              {**std_opts, "algorithms": ["RS256", "ES256", "EdDSA"]}, expected={"error": "unknown_kid"}, flags=["jwks"])

    # A set of one key without a kid: a token without kid uses it; a token with a kid does not
    # (the kid names no key, as in PyJWT's PyJWKClient and jose's createLocalJWKSet).
    single_set = {"kind": "jwks", "jwks": {"keys": [k.jwk("rsa")]}}
    b.add("jwks-single-key-no-kid", "a one-key set without kids, token without kid: the key is used",
          rs, single_set, {**std_opts, "algorithms": ["RS256"]},
          check_sig=("RS256", k.public_pem("rsa")), flags=["jwks"])
    b.add("jwks-single-key-token-kid", "a one-key set without kids, token with a kid: unknown_kid",
          mint(std_claims(), "rsa", "RS256", k, headers={"kid": "rsa-1"}), single_set,
          {**std_opts, "algorithms": ["RS256"]}, expected={"error": "unknown_kid"}, flags=["jwks"])

    # Key material of another kind is never an HMAC secret: at least what PyJWT's
    # HMACAlgorithm.prepare_key refuses (checked below against the installed PyJWT).
    rsa_pub = k.private("rsa").public_key()
    cert = x509.load_pem_x509_certificate(k.stored["rsa_cert"].encode())
    der = serialization.Encoding.DER
    ssh = serialization.Encoding.OpenSSH
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    openssh = serialization.PublicFormat.OpenSSH
    not_secrets = [
        ("pem-bom", "a PEM public key after a UTF-8 BOM", ("\ufeff" + rsa_pem).encode(), True),
        ("pem-leading-space", "a PEM public key after blank lines and spaces", ("\n\n  " + rsa_pem).encode(), True),
        ("pem-certificate", "a PEM certificate", k.stored["rsa_cert"].encode(), True),
        ("pem-pkcs1", "a PKCS#1 RSA PUBLIC KEY PEM", k.public_pem("rsa", "pkcs1").encode(), True),
        ("pem-private", "a PEM private key", k.stored["p256"].encode(), True),
        ("der-spki-rsa", "a DER SubjectPublicKeyInfo (RSA)", rsa_pub.public_bytes(der, spki), True),
        ("der-spki-p256", "a DER SubjectPublicKeyInfo (P-256)", k.private("p256").public_key().public_bytes(der, spki), True),
        ("der-spki-ed25519", "a DER SubjectPublicKeyInfo (Ed25519, 44 bytes)", k.private("ed25519").public_key().public_bytes(der, spki), True),
        ("der-pkcs1", "a DER PKCS#1 RSAPublicKey", rsa_pub.public_bytes(der, serialization.PublicFormat.PKCS1), True),
        ("der-certificate", "a DER X.509 certificate", cert.public_bytes(der), True),
        ("der-pkcs8-private", "a DER PKCS#8 private key",
         k.private("p256").private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), False),
        ("ssh-rsa", "an OpenSSH ssh-rsa public key", rsa_pub.public_bytes(ssh, openssh), True),
        ("ssh-ed25519", "an OpenSSH ssh-ed25519 public key", k.private("ed25519").public_key().public_bytes(ssh, openssh), True),
        ("ssh-ecdsa", "an OpenSSH ecdsa-sha2-nistp256 public key", k.private("p256").public_key().public_bytes(ssh, openssh), True),
        ("ssh-sk-ed25519", "an OpenSSH security-key (sk-ssh-ed25519@openssh.com) public key line",
         b"sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA user@host", False),
        ("ssh-cert", "an OpenSSH certificate line after a BOM",
         b"\xef\xbb\xbfssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t", False),
        ("ssh2-rfc4716", "an RFC 4716 SSH2 public key block",
         b"---- BEGIN SSH2 PUBLIC KEY ----\n" + rsa_pub.public_bytes(ssh, openssh).split()[1] + b"\n---- END SSH2 PUBLIC KEY ----\n", True),
        ("jwk-rsa", "a JWK (RSA public key) as JSON text", json.dumps(k.jwk("rsa")).encode(), True),
        ("jwk-oct", "an oct JWK as JSON text (the secret is its k, not its text)", json.dumps(k.jwk("hs")).encode(), True),
        ("jwks", "a JWKS document as JSON text", json.dumps({"keys": [k.jwk("rsa")]}).encode(), True),
        ("jwks-bom", "a JWKS document after a UTF-8 BOM", b"\xef\xbb\xbf" + json.dumps({"keys": [k.jwk("p256")]}).encode(), True),
    ]
    for cid, comment, material, pyjwt_refuses in not_secrets:
        try:
            jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).prepare_key(material)
            refused = False
        except jwt.InvalidKeyError:
            refused = True
        assert refused == pyjwt_refuses, (cid, refused)
        mac = mint_raw(json.dumps({"alg": "HS256", "typ": "JWT"}), json.dumps(std_claims()), material)
        b.add(f"not-a-secret-{cid}",
              f"{comment} given as an HMAC secret is refused" + (" (as PyJWT does)" if pyjwt_refuses else " (PyJWT accepts it)"),
              mac, {"kind": "secret", "hex": material.hex()}, std_opts,
              expected={"error": "invalid_key"}, flags=["confusion", "key"])
    # No false alarms: secrets that start like key material but are none.
    for cid, comment, material in [
        ("brace", "a secret that starts with { but is not JSON", b"{not json: just a long secret, 0123456789}"),
        ("sequence-byte", "a secret that starts with the DER SEQUENCE byte", bytes([0x30, 0x20]) + b"\x07" * 40),
        ("ssh-word", "a secret that starts with ssh- but is no key line", b"ssh-agent-passphrase-0123456789abcdefghij"),
    ]:
        ok = mint_raw(json.dumps({"alg": "HS256", "typ": "JWT"}), json.dumps(std_claims(**{"iss": ISS, "aud": AUD})), material)
        b.add(f"secret-lookalike-{cid}", f"{comment}: an ordinary HMAC secret",
              ok, {"kind": "secret", "hex": material.hex()}, std_opts, check_sig=("HS256", material), flags=["key"])

    # Key bytes whose kind the pinned algorithms decide (PyJWT's key=bytes).
    b.add("bytes-pem-asymmetric-only", "PEM public key bytes with only RS256 pinned: a public key",
          rs, {"kind": "bytes", "hex": rsa_pem.encode().hex()}, {**std_opts, "algorithms": ["RS256"]},
          check_sig=("RS256", rsa_pem), flags=["key"])
    b.add("bytes-pem-hmac-pinned", "PEM public key bytes with HS256 pinned too: refused as an HMAC secret",
          rs, {"kind": "bytes", "hex": rsa_pem.encode().hex()}, {**std_opts, "algorithms": ["RS256", "HS256"]},
          expected={"error": "invalid_key"}, flags=["key", "confusion"])
    b.add("bytes-secret-hmac", "secret bytes with HS256 pinned: an HMAC secret",
          hs_token, {"kind": "bytes", "hex": k.stored["hs"]}, std_opts,
          check_sig=("HS256", k.secret("hs")), flags=["key"])
    b.add("bytes-secret-asymmetric-only", "secret bytes with only RS256 pinned: not a PEM public key",
          rs, {"kind": "bytes", "hex": k.stored["hs"]}, {**std_opts, "algorithms": ["RS256"]},
          expected={"error": "invalid_key"}, flags=["key"])
    return b.cases


def main() -> int:
    previous = json.loads(OUT.read_text()) if OUT.exists() else None
    keys = Keys(load_or_make_keys(previous))
    cases = build(keys, previous)
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate ids"
    doc = {
        "suite": "verify",
        "description": (
            "tokenclock::verify::Verifier: signatures (every algorithm), pinned algorithms, key kinds, "
            "JWKS selection, iss/aud, and time claims with leeway, by_ms/valid_in_ms and likely_clock_skew. "
            "Input/expected layout: core/tests/vectors_verify.rs. Generated by tests/vectors/gen/gen_verify.py "
            f"(PyJWT {jwt.__version__}, cryptography {cryptography.__version__}); generator_keys holds the "
            "generator's private keys and is not read by the runners."
        ),
        "cases": cases,
        "generator_keys": keys.stored,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
