#!/usr/bin/env python3
"""Generates tests/vectors/peek.json, independently of the Rust code under test.

Tokens are built here from literal JSON text with the standard library only (`base64`,
`json`); the expected values of the valid cases are computed here too: claims are read with
Python's `json` (a fractional number becomes the nearest double, as in serde_json and
JSON.parse), converted from that double's shortest decimal form (`repr`) to milliseconds with
`decimal.Decimal`, then `exp`/`iat` are floored and `nbf` is ceiled. Error cases carry the
error code (and the part named, `what`) stated by hand from the rules in core/src/peek.rs.
Run from anywhere:

    python3 tests/vectors/gen/gen_peek.py

Input shapes (see core/tests/vectors_peek.rs):
* {"token": "..."}: the string passed to peek();
* {"token_repeat": {"prefix": P, "repeat": R, "count": N, "suffix": S}}: the token is
  P + R * N + S (for inputs too big to spell out).
"""
import base64
import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

MAX_TOKEN_BYTES = 64 * 1024
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jws(header, payload, signature=b"\x01\x02\x03signature-bytes") -> str:
    """header/payload: JSON text (str) or raw bytes; signature: raw bytes."""
    return f"{b64(header)}.{b64(payload)}.{b64(signature)}"


H = '{"alg":"HS256","typ":"JWT"}'
P = '{"sub":"user-1","exp":1700003600}'
GOOD = jws(H, P)


def seconds_to_ms(value, rounding):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r}")
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    ms = int((exact * 1000).to_integral_value(rounding=rounding))
    if exact < 0 or exact * 1000 > MAX_MS:
        raise ValueError(f"out of range: {value!r}")
    return ms


def expected_success(token: str):
    t = token.strip(" \t\r\n\f")
    if t[:6].lower() == "bearer" and t[6:7] in (" ", "\t"):
        t = t[6:].lstrip(" \t")
    h64, p64, _sig = t.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)
    header = json.loads(base64.urlsafe_b64decode(pad(h64)))
    claims = json.loads(base64.urlsafe_b64decode(pad(p64)))
    aud = claims.get("aud", [])
    if isinstance(aud, str):
        aud = [aud]

    def t_ms(name, rounding):
        return seconds_to_ms(claims[name], rounding) if name in claims else None

    return {
        "alg": header["alg"],
        "kid": header.get("kid"),
        "typ": header.get("typ"),
        "iat_ms": t_ms("iat", ROUND_FLOOR),
        "nbf_ms": t_ms("nbf", ROUND_CEILING),
        "exp_ms": t_ms("exp", ROUND_FLOOR),
        "iss": claims.get("iss"),
        "sub": claims.get("sub"),
        "aud": aud,
        "jti": claims.get("jti"),
    }


cases = []


def valid(id_, comment, token=None, *, repeat=None, flags=()):
    if repeat is not None:
        full = repeat["prefix"] + repeat["repeat"] * repeat["count"] + repeat["suffix"]
        inp = {"token_repeat": repeat}
    else:
        full = token
        inp = {"token": token}
    cases.append(
        {
            "id": f"peek-valid-{id_}",
            "comment": comment,
            "flags": list(flags),
            "input": inp,
            "expected": expected_success(full),
        }
    )


def invalid(id_, comment, code, what, token=None, *, repeat=None, flags=()):
    inp = {"token_repeat": repeat} if repeat is not None else {"token": token}
    cases.append(
        {
            "id": f"peek-{id_}",
            "comment": comment,
            "flags": ["malformed", *flags],
            "input": inp,
            "expected": {"error": code, "what": what},
        }
    )


# ---------------------------------------------------------------- valid
valid(
    "full",
    "every interpreted header parameter and claim present, integer NumericDates",
    jws(
        '{"alg":"RS256","kid":"key-2023-11","typ":"at+jwt"}',
        '{"iss":"https://issuer.example","sub":"user-1","aud":"https://api.example",'
        '"iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"4f1c-91"}',
        bytes(range(256)),
    ),
)
valid(
    "fractional-numeric-dates",
    "exp and iat round down, nbf rounds up: 1700000000.9999 -> ...999 ms, 1700000000.0001 -> ...001 ms",
    jws(H, '{"exp":1700000000.9999,"nbf":1700000000.0001,"iat":1699999999.5}'),
    flags=["rounding"],
)
valid(
    "millisecond-exact",
    "1700000000.001 is not the double's binary value 1700000000.00099992...: both directions give ...001",
    jws(H, '{"exp":1700000000.001,"nbf":1700000000.001,"iat":1700000000.001}'),
    flags=["rounding"],
)
valid(
    "sub-millisecond",
    "nbf 0.0001 s rounds up to 1 ms, exp 0.0009 s down to 0 ms",
    jws(H, '{"nbf":0.0001,"exp":0.0009}'),
    flags=["rounding", "boundary"],
)
valid(
    "exponent-forms",
    "1.7e9, 17E8 and 1700000000.0 are all 1700000000 s",
    jws(H, '{"exp":1.7e9,"nbf":17E8,"iat":1700000000.0}'),
)
valid(
    "zero-and-negative-zero",
    "0, -0 and -0.0 are the epoch, not negative",
    jws(H, '{"iat":0,"nbf":-0,"exp":-0.0}'),
    flags=["boundary"],
)
valid(
    "max-range",
    "253402300799.999 s (9999-12-31T23:59:59.999Z) is the largest NumericDate accepted",
    jws(H, '{"exp":253402300799,"nbf":253402300799.999,"iat":253402300799.999}'),
    flags=["boundary"],
)
valid(
    "long-decimal-is-read-as-a-double",
    "30 significant digits: read as the nearest double (1700000001.0), as JSON.parse and Python do",
    jws(H, '{"exp":1700000000.99999999999999999999}'),
    flags=["rounding", "precision"],
)
valid(
    "aud-array",
    "aud as an array of strings",
    jws(H, '{"aud":["api-1","api-2"],"sub":"s"}'),
)
valid("aud-empty-array", "aud [] is an empty list", jws(H, '{"aud":[]}'))
valid(
    "no-claims",
    "empty claims set: every field null, aud empty",
    jws('{"alg":"ES256"}', "{}"),
)
valid("bearer-prefix", "'Bearer ' prefix is stripped", "Bearer " + GOOD)
valid(
    "bearer-any-case-and-whitespace",
    "surrounding ASCII whitespace trimmed; 'bEaReR' + tab + spaces stripped",
    " \t\r\nbEaReR\t  " + GOOD + " \r\n",
)
valid(
    "unicode-claims-raw",
    "UTF-8 claims written raw (not escaped)",
    jws(
        '{"alg":"HS256","kid":"clé-🔑"}',
        json.dumps({"sub": "José 日本 🎉", "iss": "https://émetteur.example"}, ensure_ascii=False),
    ),
)
valid(
    "unicode-claims-escaped",
    "the same claims with \\u escapes and a surrogate pair",
    jws(
        json.dumps({"alg": "HS256", "kid": "clé-🔑"}),
        json.dumps({"sub": "José 日本 🎉", "iss": "https://émetteur.example"}),
    ),
)
valid(
    "alg-none-empty-signature",
    "an unsecured JWT can be peeked; alg says 'none' so callers see it",
    b64('{"alg":"none"}') + "." + b64(P) + ".",
)
valid(
    "uninterpreted-duplicates-last-wins",
    "duplicates of members peek does not interpret (top-level 'x', nested 'exp') are allowed",
    jws(H, '{"x":1,"x":2,"ctx":{"exp":1,"exp":2},"exp":1700000000}'),
)
valid(
    "extra-header-parameters",
    "other header parameters and claims are carried, not checked",
    jws(
        '{"alg":"EdDSA","cty":"JWT","crit":["exp"],"x5t":"abc","kid":""}',
        '{"scope":"read write","cnf":{"jkt":"x"},"exp":1700000000}',
    ),
)


def exact_size_token(total):
    """A valid token of exactly `total` bytes: the signature is 'A' * n (zero bits)."""
    for filler in range(8):
        prefix = f"{b64(H)}.{b64(json.dumps({'sub': 'x' * filler, 'exp': 1700000000}))}."
        n = total - len(prefix)
        if n % 4 != 1:
            return {"prefix": prefix, "repeat": "A", "count": n, "suffix": ""}
    raise AssertionError("no filler fits")


valid(
    "exactly-max-size",
    "a token of exactly MAX_TOKEN_BYTES (65536) bytes is accepted",
    repeat=exact_size_token(MAX_TOKEN_BYTES),
    flags=["boundary"],
)

# ---------------------------------------------------------------- framing
big_plus_one = dict(exact_size_token(MAX_TOKEN_BYTES), suffix="A")
invalid(
    "too-large-by-one",
    "MAX_TOKEN_BYTES + 1 bytes: rejected before decoding",
    "token_too_large",
    None,
    repeat=big_plus_one,
    flags=["boundary"],
)
invalid(
    "too-large-huge",
    "70000 bytes of garbage: size is checked before anything else",
    "token_too_large",
    None,
    repeat={"prefix": "eyJ", "repeat": "a", "count": 70000, "suffix": ""},
)
invalid("empty", "empty string", "malformed_token", None, "")
invalid("whitespace-only", "only whitespace", "malformed_token", None, " \t\r\n ")
invalid("only-dots", "three empty segments", "malformed_token", "header", "..")
invalid("four-dots", "five empty segments is not a JWE", "malformed_token", "header", "....")
invalid("one-segment", "no dots at all", "malformed_token", None, b64(H))
invalid("two-segments", "header.payload without the signature segment", "malformed_token", None, f"{b64(H)}.{b64(P)}")
invalid("four-segments", "one segment too many", "malformed_token", None, GOOD + ".e30")
invalid("six-segments", "neither JWS nor JWE", "malformed_token", None, GOOD + ".a.b.c")
invalid("empty-payload", "header..signature (detached payload) has no claims", "malformed_token", "payload", f"{b64(H)}..c2ln")
invalid("empty-header", ".payload.signature", "malformed_token", "header", f".{b64(P)}.c2ln")
invalid("bearer-only", "'Bearer' and nothing else", "malformed_token", None, "Bearer ")
invalid(
    "jwe-five-segments",
    "a compact JWE (RSA-OAEP / A256GCM) cannot be read without the key",
    "encrypted_token",
    None,
    ".".join(
        [b64('{"alg":"RSA-OAEP","enc":"A256GCM"}'), b64(b"k" * 32), b64(b"iv" * 6), b64(b"ciphertext"), b64(b"t" * 16)]
    ),
)
invalid(
    "jwe-direct-empty-key",
    "a 'dir' JWE has an empty encrypted-key segment; still a JWE",
    "encrypted_token",
    None,
    "Bearer " + b64('{"alg":"dir","enc":"A128GCM"}') + ".." + ".".join([b64(b"iv" * 6), b64(b"ct"), b64(b"t" * 16)]),
)

# ---------------------------------------------------------------- base64url
padded_payload = '{"sub":"a"}'
assert len(b64(padded_payload)) % 4 != 0
invalid(
    "padding",
    "'=' padding is not base64url as RFC 7515 uses it (jsonwebtoken rejects it too)",
    "invalid_base64",
    "payload",
    f"{b64(H)}.{base64.urlsafe_b64encode(padded_payload.encode()).decode()}.c2ln",
)
alphabet_payload = '{"sub":"??>>~~"}'
url_form = b64(alphabet_payload)
assert "-" in url_form or "_" in url_form, url_form
invalid(
    "standard-alphabet",
    "'+' and '/' are the standard alphabet, not base64url",
    "invalid_base64",
    "payload",
    f"{b64(H)}.{url_form.replace('-', '+').replace('_', '/')}.c2ln",
)


def non_canonical(segment):
    """Sets unused low bits of the last character (length must be 2 or 3 mod 4)."""
    assert len(segment) % 4 in (2, 3)
    last = URL_ALPHABET.index(segment[-1])
    assert last % 4 == 0
    return segment[:-1] + URL_ALPHABET[last + 1]


nc_payload = '{"sub":"abcd"}'
invalid(
    "non-canonical-trailing-bits",
    "the last character carries non-zero unused bits: a second spelling of the same bytes",
    "invalid_base64",
    "payload",
    f"{b64(H)}.{non_canonical(b64(nc_payload))}.c2ln",
)
four = '{"sub":"ab"}'
assert len(b64(four)) % 4 == 0
invalid("length-1-mod-4", "a base64 length of 1 mod 4 is impossible", "invalid_base64", "payload", f"{b64(H)}.{b64(four)}A.c2ln")
invalid("inner-space", "whitespace inside a segment", "invalid_base64", "payload", f"{b64(H)}.{b64(P)[:8]} {b64(P)[8:]}.c2ln")
invalid("non-ascii", "a non-ASCII character in the header segment", "invalid_base64", "header", "é" + GOOD)
invalid("bad-signature-base64", "the signature segment must be base64url too", "invalid_base64", "signature", f"{b64(H)}.{b64(P)}.sig!")

# ---------------------------------------------------------------- JSON
invalid("header-not-object", "header is a JSON array", "not_a_json_object", "header", jws('["alg","HS256"]', P))
invalid("payload-array", "payload is a JSON array", "not_a_json_object", "payload", jws(H, "[1700000000]"))
invalid("payload-string", "payload is a JSON string", "not_a_json_object", "payload", jws(H, '"hello"'))
invalid("payload-null", "payload is JSON null", "not_a_json_object", "payload", jws(H, "null"))
invalid("payload-not-json", "unquoted keys", "invalid_json", "payload", jws(H, "{exp:1}"))
invalid("payload-trailing-data", "text after the object", "invalid_json", "payload", jws(H, '{"exp":1} x'))
invalid("payload-bom", "a UTF-8 byte-order mark is not JSON", "invalid_json", "payload", jws(H, b"\xef\xbb\xbf{}"))
invalid("lone-surrogate", "a lone \\ud800 escape is not a Unicode scalar value", "invalid_json", "payload", jws(H, '{"sub":"\\ud800"}'))
invalid("header-not-json", "header truncated", "invalid_json", "header", jws('{"alg":"HS256"', P))
invalid(
    "depth-bomb-nested",
    "200 nested arrays: serde_json's recursion limit is 128",
    "invalid_json",
    "payload",
    jws(H, '{"x":' + "[" * 200 + "]" * 200 + "}"),
)
assert b64("[[[") == "W1tb"
invalid(
    "depth-bomb-huge",
    "a payload of 15000 '[' (base64url 'W1tb' = '[[['): stops at depth 128, no stack overflow",
    "invalid_json",
    "payload",
    repeat={"prefix": b64(H) + ".", "repeat": "W1tb", "count": 5000, "suffix": ".c2ln"},
)
invalid("payload-invalid-utf8", "raw 0xFF byte inside a JSON string", "invalid_utf8", "payload", jws(H, b'{"sub":"\xff"}'))
invalid("payload-overlong-utf8", "overlong encoding of '/' (0xC0 0xAF)", "invalid_utf8", "payload", jws(H, b'{"sub":"\xc0\xaf"}'))
invalid("header-invalid-utf8", "raw 0xFE byte in the header", "invalid_utf8", "header", jws(b'{"alg":"\xfe"}', P))
invalid("exp-1e400", "a number beyond the f64 range is rejected by the JSON parser itself", "invalid_json", "payload", jws(H, '{"exp":1e400}'))

# ---------------------------------------------------------------- header
invalid("header-missing-alg", "peek requires alg so callers can always see it", "invalid_header", "alg", jws('{"typ":"JWT"}', P))
invalid("header-alg-number", "alg must be a string", "invalid_header", "alg", jws('{"alg":256}', P))
invalid("header-alg-null", "alg null", "invalid_header", "alg", jws('{"alg":null}', P))
invalid("header-alg-empty", "alg must not be empty", "invalid_header", "alg", jws('{"alg":""}', P))
invalid("header-kid-number", "kid must be a string", "invalid_header", "kid", jws('{"alg":"HS256","kid":7}', P))
invalid("header-typ-array", "typ must be a string", "invalid_header", "typ", jws('{"alg":"HS256","typ":["JWT"]}', P))

# ---------------------------------------------------------------- claim types
invalid("exp-numeric-string", "a numeric string is not a NumericDate", "invalid_claim_type", "exp", jws(H, '{"exp":"1700000000"}'))
invalid("exp-true", "boolean exp", "invalid_claim_type", "exp", jws(H, '{"exp":true}'))
invalid("exp-null", "null is not 'absent': exp null must not mean 'never expires'", "invalid_claim_type", "exp", jws(H, '{"exp":null}'))
invalid("nbf-object", "object nbf", "invalid_claim_type", "nbf", jws(H, '{"nbf":{"$date":1}}'))
invalid("iat-array", "array iat", "invalid_claim_type", "iat", jws(H, '{"iat":[1700000000]}'))
invalid("iss-number", "iss must be a string", "invalid_claim_type", "iss", jws(H, '{"iss":42}'))
invalid("sub-null", "sub null", "invalid_claim_type", "sub", jws(H, '{"sub":null}'))
invalid("jti-number", "jti must be a string", "invalid_claim_type", "jti", jws(H, '{"jti":12345}'))
invalid("aud-array-with-number", "aud array items must be strings", "invalid_claim_type", "aud", jws(H, '{"aud":["a",1]}'))
invalid("aud-object", "aud object", "invalid_claim_type", "aud", jws(H, '{"aud":{"a":1}}'))
invalid("claim-order", "exp is checked before iat: both wrong, exp is named", "invalid_claim_type", "exp", jws(H, '{"iat":-5,"exp":"soon"}'))

# ---------------------------------------------------------------- claim ranges
invalid("exp-negative", "before 1970", "claim_out_of_range", "exp", jws(H, '{"exp":-1}'))
invalid("nbf-negative-fraction", "-0.001 s is negative", "claim_out_of_range", "nbf", jws(H, '{"nbf":-0.001}'))
invalid("exp-1e300", "finite but absurd", "claim_out_of_range", "exp", jws(H, '{"exp":1e300}'))
invalid("iat-2-pow-63", "2^63 does not fit i64", "claim_out_of_range", "iat", jws(H, '{"iat":9223372036854775808}'))
invalid("iat-2-pow-64", "2^64 does not fit u64 either", "claim_out_of_range", "iat", jws(H, '{"iat":18446744073709551616}'))
invalid("exp-year-10000", "253402300800 s is 10000-01-01", "claim_out_of_range", "exp", jws(H, '{"exp":253402300800}'), flags=["boundary"])
invalid(
    "nbf-just-past-max",
    "253402300799.9991 s is past 9999-12-31T23:59:59.999Z",
    "claim_out_of_range",
    "nbf",
    jws(H, '{"nbf":253402300799.9991}'),
    flags=["boundary"],
)

# ---------------------------------------------------------------- duplicates
invalid("duplicate-exp", "two exp: which one counts is ambiguous", "duplicate_claim", "exp", jws(H, '{"exp":1700000000,"sub":"s","exp":1900000000}'))
invalid("duplicate-exp-escaped", "\\u0065xp is exp after unescaping", "duplicate_claim", "exp", jws(H, '{"\\u0065xp":1700000000,"exp":1900000000}'))
invalid("duplicate-aud", "two aud", "duplicate_claim", "aud", jws(H, '{"aud":"a","aud":"b"}'))
invalid("duplicate-header-alg", "two alg in the header", "duplicate_claim", "alg", jws('{"alg":"none","alg":"HS256"}', P))

ids = [c["id"] for c in cases]
assert len(ids) == len(set(ids)), "duplicate ids"

doc = {
    "suite": "peek",
    "description": (
        "Reading a JWT's header and claims without verification (core/src/peek.rs). "
        "Generated by tests/vectors/gen/gen_peek.py; edit the generator, not this file. "
        "input: {token} or {token_repeat: {prefix, repeat, count, suffix}} = prefix + repeat*count + suffix. "
        "expected: {alg, kid, typ, iat_ms, nbf_ms, exp_ms, iss, sub, aud, jti} (null when absent, aud a list) "
        "or {error, what} where what names the segment/claim (null for whole-token errors)."
    ),
    "cases": cases,
}
out = Path(__file__).resolve().parent.parent / "peek.json"
out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
valid_n = sum(1 for c in cases if "error" not in c["expected"])
print(f"wrote {out}: {len(cases)} cases ({valid_n} valid, {len(cases) - valid_n} malformed)")
