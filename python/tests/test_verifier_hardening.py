"""Verifier behaviour specific to the Python host (the shared vectors cover the rest): tokens as
``str`` or ``bytes`` and what a token that is no text raises, a fractional ``now`` at
sub-millisecond distances from ``nbf``/``iat``/``exp``, JWKS documents as text, bytes or any
mapping, PEM ``bytes`` keys, and that a ``kid`` naming an unusable JWKS entry is a token error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import types
from pathlib import Path
from typing import Any, Dict

import pytest

import tokenclock

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "verify" / "verify.json"
KEY = b"k" * 32
T = 1_700_000_000  # whole seconds: nbf, iat


def case(case_id: str) -> Dict[str, Any]:
    for c in json.loads(VECTORS.read_text())["cases"]:
        if c["id"] == case_id:
            return dict(c["input"])
    raise KeyError(case_id)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: Dict[str, Any], header: Dict[str, Any] | None = None) -> str:
    signing_input = f"{b64(json.dumps(header or {'alg': 'HS256'}).encode())}.{b64(json.dumps(claims).encode())}"
    sig = hmac.new(KEY, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


TOKEN = hs256({"sub": "u", "iat": T, "nbf": T, "exp": T + 60})


def verifier(**kw: Any) -> tokenclock.Verifier:
    return tokenclock.Verifier(KEY, ["HS256"], leeway=0, **kw)


# ----- tokens that are bytes, or no text -----------------------------------------------------


def test_verifier_takes_bytes_tokens_as_pyjwt_does() -> None:
    v = verifier()
    as_str = v.verify(TOKEN, now=T + 1.0)
    assert v.verify(TOKEN.encode(), now=T + 1.0) == as_str
    assert v.verify(bytearray(TOKEN.encode()), now=T + 1.0) == as_str


@pytest.mark.parametrize(
    "token, reason",
    [
        (TOKEN[:10] + "\ud800" + TOKEN[10:], "invalid_utf8"),  # a lone surrogate
        ("\udfff", "invalid_utf8"),
        (TOKEN.encode()[:10] + b"\xff" + TOKEN.encode()[10:], "invalid_utf8"),
        (b"\xc3\xa9" + TOKEN.encode(), None),  # UTF-8, not ASCII: peek refuses it
        (None, "not_a_string"),
        (12345, "not_a_string"),
        ({"token": TOKEN}, "not_a_string"),
    ],
    ids=["lone-surrogate", "only-surrogate", "bytes-not-utf8", "bytes-non-ascii", "none", "int", "dict"],
)
def test_verifier_token_that_is_no_text_is_an_invalid_token(token: Any, reason: str | None) -> None:
    with pytest.raises(tokenclock.MalformedToken) as info:
        verifier().verify(token, now=T + 1.0)
    e = info.value
    assert isinstance(e, tokenclock.InvalidToken) and e.code == "malformed_token"
    if reason is not None:
        assert e.reason == reason
    # Never the token's text in the message or repr.
    for seg in TOKEN.split("."):
        assert seg not in str(e) and seg not in repr(e)


# ----- a fractional now ----------------------------------------------------------------------


def test_verifier_sub_millisecond_now_never_accepts_early() -> None:
    v = verifier()
    # 0.4 ms before nbf (and iat): rounding to the nearest ms accepted this.
    with pytest.raises(tokenclock.TokenNotYetValid):
        v.verify(TOKEN, now=T - 0.0004)
    with pytest.raises(tokenclock.TokenNotYetValid):
        v.verify(TOKEN, now=math.nextafter(float(T), 0.0))  # the float just below nbf
    assert v.verify(TOKEN, now=float(T))["nbf"] == T
    iat_only = hs256({"sub": "u", "iat": T, "exp": T + 60})
    with pytest.raises(tokenclock.TokenIssuedInFuture):
        v.verify(iat_only, now=T - 0.0004)
    assert v.verify(iat_only, now=T + 0.0004)["iat"] == T
    # exp: valid until the instant itself, expired on and after it.
    assert v.verify(TOKEN, now=T + 60 - 0.0004)["exp"] == T + 60
    assert v.verify(TOKEN, now=math.nextafter(float(T + 60), 0.0))["exp"] == T + 60
    with pytest.raises(tokenclock.TokenExpired):
        v.verify(TOKEN, now=float(T + 60))
    with pytest.raises(tokenclock.TokenExpired):
        v.verify(TOKEN, now=T + 60 + 0.0004)


# ----- keys ----------------------------------------------------------------------------------


def test_verifier_jwks_as_text_bytes_or_any_mapping() -> None:
    inp = case("verify-jwks-select-rsa-2")
    doc = inp["key"]["jwks"]
    text = json.dumps(doc)
    forms = [doc, types.MappingProxyType(doc), text, text.encode(), bytearray(text.encode())]
    for form in forms:
        v = tokenclock.Verifier.from_jwks(form, inp["algorithms"], issuer=inp["issuer"], audience=inp["audience"])
        assert v.kids == ["rsa-1", "rsa-2", "ec-1", "ed-1"]
        assert v.verify(inp["token"], now=inp["now_ms"] / 1000)["kid"] == "rsa-2"
    # One JWK as a mapping too.
    jwk = types.MappingProxyType({"kty": "oct", "k": b64(KEY)})
    assert tokenclock.Verifier(jwk, ["HS256"], leeway=0).verify(TOKEN, now=T + 1.0)["alg"] == "HS256"


def test_verifier_kid_naming_an_unusable_jwks_entry_is_an_invalid_token() -> None:
    inp = case("verify-jwks-kid-on-encryption-key")
    v = tokenclock.Verifier.from_jwks(inp["key"]["jwks"], inp["algorithms"], issuer=inp["issuer"], audience=inp["audience"])
    with pytest.raises(tokenclock.InvalidToken) as info:
        v.verify(inp["token"], now=inp["now_ms"] / 1000)
    assert type(info.value) is tokenclock.UnknownKid and info.value.code == "unknown_kid"
    assert not isinstance(info.value, tokenclock.ConfigError)


def test_verifier_pem_bytes_key_with_asymmetric_algorithms_is_a_public_key() -> None:
    inp = case("verify-valid-rs256")
    pem = inp["key"]["pem"].encode()
    kw = {"issuer": inp["issuer"], "audience": inp["audience"]}
    v = tokenclock.Verifier(pem, ["RS256"], **kw)
    assert v.verify(inp["token"], now=inp["now_ms"] / 1000)["alg"] == "RS256"
    assert tokenclock.Verifier(bytearray(pem), ["RS256", "PS256"], **kw).key_count == 1
    # With an HMAC algorithm pinned too, the same bytes would be a secret: refused.
    with pytest.raises(tokenclock.InvalidKey) as info:
        tokenclock.Verifier(pem, ["RS256", "HS256"], **kw)
    assert "BEGIN" not in str(info.value)
