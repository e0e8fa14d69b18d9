"""Verification with remote keys (cache hit): ``Verifier.from_issuer`` against the direct
``Verifier`` and PyJWT's ``PyJWKClient`` + ``jwt.decode``, in one process and one run, on the
same RS256 and ES256 tokens from a loopback issuer (python/tests/loopback_issuer.py).

Every case does the same work per call: find the key for the token's ``kid`` in a cached key
set, check the signature, ``exp``/``nbf``/``iat`` with 5 s leeway, ``iss`` and ``aud``, return
the claims. The key set is fetched once before timing (the issuer counts its requests: no case
may fetch while timed). Before timing every case must accept the token and reject one with an
altered signature.

Timing as python/bench/verify.py: batches of ~``--target-ms``, interleaved round-robin, the
best sample per call and the median. "peer / tokenclock" > 1 means tokenclock is faster.

    .venv/bin/python python/bench/remote_verify.py [--samples N] [--target-ms MS]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import cryptography
import jwt  # PyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_issuer import Issuer, Key  # noqa: E402

import tokenclock  # noqa: E402

AUDIENCE = "api://orders"


class EcKey(Key):
    def __init__(self, kid: str) -> None:  # noqa: D107 - same interface, P-256
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> Dict[str, Any]:
        import base64

        n = self.private.public_key().public_numbers()

        def b64(v: int) -> str:
            return base64.urlsafe_b64encode(v.to_bytes(32, "big")).rstrip(b"=").decode()

        return {"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                "x": b64(n.x), "y": b64(n.y)}

    def sign(self, claims: Dict[str, Any], kid: Any = None) -> str:
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": kid or self.kid})


def tamper(token: str) -> str:
    head, body, sig = token.split(".")
    return ".".join((head, body, ("A" if sig[0] != "A" else "B") + sig[1:]))


Case = Tuple[str, str, Callable[[], Any]]


def build(issuer: Issuer) -> List[Case]:
    rsa_key, ec_key = issuer.keys
    cases: List[Case] = []
    remote = tokenclock.Verifier.from_issuer(issuer.url, algorithms=["RS256", "ES256"], audience=AUDIENCE)
    jwks_client = jwt.PyJWKClient(issuer.jwks_uri)  # caches the set (and the keys)
    for alg, key in (("RS256", rsa_key), ("ES256", ec_key)):
        token = issuer.token(key)
        pem = key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        direct = tokenclock.Verifier(pem, [alg], audience=AUDIENCE, issuer=issuer.url)

        loaded = key.private.public_key()

        def tc_remote(t: str) -> Any:
            return remote.verify(t)["claims"]

        def tc_direct(t: str, v: Any = direct) -> Any:
            return v.verify(t)["claims"]

        def pyjwk(t: str, alg: str = alg) -> Any:
            signing = jwks_client.get_signing_key_from_jwt(t)
            return jwt.decode(t, signing.key, algorithms=[alg], audience=AUDIENCE,
                              issuer=issuer.url, leeway=5)

        def pyjwt_direct(t: str, alg: str = alg, loaded: Any = loaded) -> Any:
            return jwt.decode(t, loaded, algorithms=[alg], audience=AUDIENCE,
                              issuer=issuer.url, leeway=5)

        for name, f in (("tokenclock Verifier.from_issuer (cache hit)", tc_remote),
                        ("tokenclock Verifier (key given)", tc_direct),
                        ("PyJWKClient + jwt.decode (cache hit)", pyjwk),
                        ("jwt.decode (key given)", pyjwt_direct)):
            assert f(token)["sub"] == "user-1", name
            try:
                f(tamper(token))
                raise AssertionError(f"{name} accepted a forged signature")
            except (tokenclock.InvalidToken, jwt.InvalidTokenError):
                pass
            cases.append((alg, name, lambda f=f, t=token: f(t)))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--target-ms", type=float, default=40.0)
    args = ap.parse_args()

    issuer = Issuer()
    issuer.keys = [Key("rsa-1"), EcKey("ec-1")]
    try:
        cases = build(issuer)
        fetched = (issuer.discovery_requests, issuer.jwks_requests)
        numbers = {(a, n): calibrate(fn, args.target_ms / 1000) for a, n, fn in cases}
        times: Dict[Tuple[str, str], List[float]] = {(a, n): [] for a, n, _ in cases}
        for _ in range(args.samples):
            for a, n, fn in cases:
                k = numbers[(a, n)]
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                times[(a, n)].append((time.perf_counter() - t0) / k * 1e6)
        assert (issuer.discovery_requests, issuer.jwks_requests) == fetched, "a case fetched while timed"
    finally:
        issuer.close()

    print(f"Python {platform.python_version()} ({platform.machine()}), tokenclock {tokenclock.version()}, "
          f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}; "
          f"{args.samples} samples of ~{args.target_ms:g} ms per case")
    print()
    print("| alg | case | best µs | median µs | ÷ from_issuer (best) | (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for alg in ("RS256", "ES256"):
        ref = [t for (a, n), t in times.items() if a == alg and "from_issuer" in n][0]
        for (a, n), ts in times.items():
            if a != alg:
                continue
            print(f"| {a} | {n} | {min(ts):.2f} | {statistics.median(ts):.2f} | "
                  f"{min(ts) / min(ref):.2f}× | {statistics.median(ts) / statistics.median(ref):.2f}× |")


if __name__ == "__main__":
    main()
