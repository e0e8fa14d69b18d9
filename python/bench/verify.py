"""JWT verification throughput: tokenclock's ``Verifier`` against PyJWT's ``jwt.decode``, in one
process and one run, on the same tokens (HS256, RS256, ES256).

Both sides do the same work per call: check the signature with a key prepared once, then
``exp``/``nbf``/``iat`` against the current time with 5 s leeway, ``iss`` and ``aud``, and return
the claims. PyJWT is measured at its best: the key is passed as a loaded ``cryptography`` key
object (or ``bytes`` for HMAC), so ``decode`` does no PEM parsing per call.

Before timing, both sides must accept every token with the same claims and reject a token whose
signature was altered, so neither is timed doing less than verifying.

Timing: each case runs ``--samples`` rounds; in every round each case runs a batch sized so that
it lasts about ``--target-ms`` (calibrated once), samples interleaved round-robin across cases so
drift hits all alike; the figure is the best sample's time per call (``timeit`` practice), the
median beside it. "peer / tokenclock" > 1 means tokenclock is faster. Nothing is asserted.

    .venv/bin/python python/bench/verify.py [--samples N] [--target-ms MS] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import cryptography
import jwt  # PyJWT
import jwt.utils
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import tokenclock

ISSUER = "https://issuer.example.com/"
AUDIENCE = "https://api.example.com/"
LEEWAY_S = 5


def claims(now: int) -> Dict[str, Any]:
    """Typical access-token claims (what an API gateway verifies on every request)."""
    return {
        "iss": ISSUER,
        "sub": "svc-orders@clients",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "azp": "svc-orders",
        "scope": "orders:read orders:write inventory:read",
        "jti": "5d7c2a4e-1f0b-4b6f-9a53-0c8e8f7d2a11",
    }


def pem_public(key: Any) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def tamper(token: str) -> str:
    """The same token with one signature character changed (still valid base64url)."""
    head, payload, sig = token.split(".")
    mid = len(sig) // 2
    flipped = "A" if sig[mid] != "A" else "B"
    return f"{head}.{payload}.{sig[:mid]}{flipped}{sig[mid + 1:]}"


Case = Tuple[str, str, Callable[[], Any]]


def floor(alg: str, token: str, key: Any) -> Callable[[], Any]:
    """Only the signature primitive on the pre-split token (no JSON, no claims): the crypto cost
    every verifier pays, for reference."""
    head, payload, sig = token.split(".")
    signing_input = f"{head}.{payload}".encode("ascii")
    raw = jwt.utils.base64url_decode(sig)
    if alg == "HS256":
        return lambda: hmac.compare_digest(hmac.new(key, signing_input, hashlib.sha256).digest(), raw)
    if alg == "RS256":
        pad, h = padding.PKCS1v15(), hashes.SHA256()
        return lambda: key.verify(raw, signing_input, pad, h)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    sig_alg = ec.ECDSA(hashes.SHA256())
    return lambda: key.verify(der, signing_input, sig_alg)


def build_cases() -> List[Case]:
    now = int(time.time())
    body = claims(now)
    hmac_secret = b"k" * 32 + b"bench-hs256-secret"  # >= 32 bytes: PyJWT >= 2.10 warns below
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())

    # (alg, token, PyJWT's prepared key, tokenclock's key)
    setups = [
        ("HS256", jwt.encode(body, hmac_secret, algorithm="HS256"), hmac_secret, hmac_secret),
        ("RS256", jwt.encode(body, rsa_key, algorithm="RS256"), rsa_key.public_key(), pem_public(rsa_key)),
        ("ES256", jwt.encode(body, ec_key, algorithm="ES256"), ec_key.public_key(), pem_public(ec_key)),
    ]
    cases: List[Case] = []
    for alg, token, peer_key, tc_key in setups:
        verifier = tokenclock.Verifier(
            key=tc_key, algorithms=[alg], leeway=LEEWAY_S, issuer=ISSUER, audience=AUDIENCE
        )
        algs = [alg]

        def tc(verifier=verifier, token=token) -> Any:
            return verifier.verify(token)

        def peer(token=token, peer_key=peer_key, algs=algs) -> Any:
            # PyJWT's defaults verify the signature, exp, nbf, iat; iss/aud when given.
            return jwt.decode(token, peer_key, algorithms=algs, leeway=LEEWAY_S, issuer=ISSUER, audience=AUDIENCE)

        # Same work: same claims accepted, same forgery rejected.
        got_tc, got_peer = tc()["claims"], peer()
        if got_tc != got_peer or got_peer != body:
            raise SystemExit(f"{alg}: the two verifiers disagree on the claims: {got_tc!r} vs {got_peer!r}")
        bad = tamper(token)
        try:
            verifier.verify(bad)
            raise SystemExit(f"{alg}: tokenclock accepted a tampered token")
        except tokenclock.InvalidToken:
            pass
        try:
            jwt.decode(bad, peer_key, algorithms=algs, leeway=LEEWAY_S, issuer=ISSUER, audience=AUDIENCE)
            raise SystemExit(f"{alg}: PyJWT accepted a tampered token")
        except jwt.InvalidTokenError:
            pass
        cases.append((alg, "tokenclock", tc))
        cases.append((alg, f"PyJWT {jwt.__version__}", peer))
        cases.append((alg, "(floor) signature check only, `cryptography`/`hmac`", floor(alg, token, peer_key)))
    return cases


def calibrate(fn: Callable[[], Any], target_s: float) -> int:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4:
            return max(1, int(n * target_s / dt))
        n *= 4


def run(cases: List[Case], samples: int, target_s: float) -> Dict[Tuple[str, str], List[float]]:
    numbers = {(alg, name): calibrate(fn, target_s) for alg, name, fn in cases}
    times: Dict[Tuple[str, str], List[float]] = {(alg, name): [] for alg, name, _ in cases}
    for _ in range(samples):
        for alg, name, fn in cases:
            n = numbers[(alg, name)]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[(alg, name)].append((time.perf_counter() - t0) / n * 1e6)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=25)
    ap.add_argument("--target-ms", type=float, default=40.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cases = build_cases()
    times = run(cases, args.samples, args.target_ms / 1000)

    rows = []
    for alg in ("HS256", "RS256", "ES256"):
        tc_best = min(times[(alg, "tokenclock")])
        tc_med = statistics.median(times[(alg, "tokenclock")])
        for (a, name), ts in times.items():
            if a != alg:
                continue
            best, med = min(ts), statistics.median(ts)
            rows.append({
                "alg": alg, "case": name, "best_us": best, "median_us": med,
                "ratio_best": best / tc_best, "ratio_median": med / tc_med,
            })

    env = (
        f"Python {platform.python_version()} ({platform.machine()}), tokenclock {tokenclock.version()}, "
        f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}; "
        f"{args.samples} samples of ~{args.target_ms:g} ms per case"
    )
    if args.json:
        json.dump({"env": env, "rows": rows}, sys.stdout, indent=2)
        print()
        return
    print(env)
    print()
    print("| alg | case | best µs | median µs | peer / tokenclock (best) | (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['alg']} | {r['case']} | {r['best_us']:.2f} | {r['median_us']:.2f} | "
            f"{r['ratio_best']:.2f}× | {r['ratio_median']:.2f}× |"
        )


if __name__ == "__main__":
    main()
