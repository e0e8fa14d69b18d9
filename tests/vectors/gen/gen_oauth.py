#!/usr/bin/env python3
"""Generates tests/vectors/oauth-request.json and tests/vectors/token-response.json.

Expected values are computed here with the Python standard library only (urllib.parse.quote_plus,
base64, hashlib), independently of the Rust code, so the vectors check the implementation
rather than restate it. Run from anywhere:  python3 tests/vectors/gen/gen_oauth.py
"""
import base64
import hashlib
import json
import pathlib
from urllib.parse import quote_plus

ROOT = pathlib.Path(__file__).resolve().parents[3]
KEYS = ROOT / "core" / "tests" / "keys"
OUT = ROOT / "tests" / "vectors"

RSA_PRIVATE = (KEYS / "rsa-private.pem").read_text()
RSA_PUBLIC = (KEYS / "rsa-public.pem").read_text()
EC_PRIVATE = (KEYS / "ec-private.pem").read_text()
EC_PUBLIC = (KEYS / "ec-public.pem").read_text()

TOKEN_URL = "https://as.example.com/oauth2/token"
CT = ["Content-Type", "application/x-www-form-urlencoded"]
ACCEPT = ["Accept", "application/json"]
NOW = {"low_ms": 1_700_000_000_000, "high_ms": 1_700_000_000_000}


def enc(s):
    # RFC 6749 Appendix B form encoding; safe="" so "/" is escaped too. Keeps A-Za-z0-9-._~.
    return quote_plus(s, safe="")


def basic(client_id, secret):
    # RFC 6749 §2.3.1: form-encode id and secret, join with ":", base64.
    raw = (enc(client_id) + ":" + enc(secret)).encode("ascii")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def body(form):
    return "&".join(enc(n) + "=" + enc(v) for n, v in form)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier):
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def assertion_times(low_ms, high_ms, lifetime_s):
    """Mirror of the documented rule, written from the spec text, not the Rust code."""
    iat = low_ms // 1000
    exp = min((high_ms + lifetime_s * 1000) // 1000, iat + 3600)
    if exp * 1000 - high_ms < 30_000:
        return None
    return {"iat": iat, "nbf": iat, "exp": exp}


def jwt(header, claims):
    return {"jwt": {"header": header, "claims": claims, "jti_b64url_len": 22}}


request_cases = []


def req(id_, comment, auth, grant, expected, now=NOW, seed=1, flags=None, token_url=TOKEN_URL,
        allow_insecure_http=None):
    case = {
        "id": "oauth-request-" + id_,
        "comment": comment,
        "input": {"op": "token_request", "token_url": token_url, "auth": auth, "grant": grant,
                  "issuer_now": now, "rng_seed": seed},
        "expected": expected,
    }
    if allow_insecure_http is not None:
        case["input"]["allow_insecure_http"] = allow_insecure_http
    if flags:
        case["flags"] = flags
    request_cases.append(case)


def ok(form, headers, token_url=TOKEN_URL, with_body=True):
    exp = {"method": "POST", "url": token_url, "headers": headers, "form": [list(p) for p in form]}
    if with_body:
        exp["body"] = body(form)
    return exp


def cc(scope=None, extra=()):
    return {"type": "client_credentials", "scope": scope, "extra": [list(p) for p in extra]}


def sb(cid, secret):
    return {"method": "client_secret_basic", "client_id": cid, "client_secret": secret}


def sp(cid, secret):
    return {"method": "client_secret_post", "client_id": cid, "client_secret": secret}


# --- client_secret_basic: the §2.3.1 encoding with tricky ids and secrets ----------------------
for id_, cid, secret, comment in [
    ("basic-plain", "s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw", "RFC 6749 §4.4.2 example client; nothing to escape"),
    ("basic-colon-secret", "client", "pa:ss:word", "':' in the secret must be %3A, or the server splits at the wrong colon"),
    ("basic-percent-plus-space", "client", "a%b+c d", "'%' → %25, '+' → %2B, space → '+'"),
    ("basic-non-ascii", "clïent", "pässwörd€", "non-ASCII: UTF-8 bytes percent-encoded before base64"),
    ("basic-colon-id", "urn:example:client:1", "secret", "':' in the client id is escaped too"),
    ("basic-all-specials", "id/with/slashes", "!\"#$&'()*,/;<=>?@[\\]^`{|}~-._", "every ASCII punctuation mark: only -._~ stay as they are"),
    ("basic-equals-slash", "client", "abc/def==", "base64-looking secret: '/' and '=' are escaped"),
]:
    req(id_, comment, sb(cid, secret), cc(),
        ok([("grant_type", "client_credentials")], [CT, ACCEPT, ["Authorization", basic(cid, secret)]]))

req("basic-scope", "scope with several tokens and URL-like scopes is form-encoded (space → '+')",
    sb("client", "secret"), cc("openid profile https://graph.example.com/.default"),
    ok([("grant_type", "client_credentials"), ("scope", "openid profile https://graph.example.com/.default")],
       [CT, ACCEPT, ["Authorization", basic("client", "secret")]]))

# --- client_secret_post -------------------------------------------------------------------------
extra = [("audience", "https://api.example.com/"), ("resource", "https://r1.example/"), ("resource", "https://r2.example/")]
req("post-extra", "client_secret_post with scope and extra parameters (audience, repeated resource per RFC 8707)",
    sp("client", "pa:ss word"), cc("read write", extra),
    ok([("grant_type", "client_credentials"), ("scope", "read write")] + extra
       + [("client_id", "client"), ("client_secret", "pa:ss word")], [CT, ACCEPT]))

# --- refresh_token --------------------------------------------------------------------------------
req("refresh-post", "refresh token grant with a narrower scope",
    sp("client", "secret"), {"type": "refresh_token", "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA", "scope": "read"},
    ok([("grant_type", "refresh_token"), ("refresh_token", "tGzv3JOkF0XG5Qx2TlKWIA"), ("scope", "read"),
        ("client_id", "client"), ("client_secret", "secret")], [CT, ACCEPT]))
req("refresh-public", "public client: client_id in the form, no secret",
    {"method": "none", "client_id": "native-app"}, {"type": "refresh_token", "refresh_token": "rt+/=:x", "scope": None},
    ok([("grant_type", "refresh_token"), ("refresh_token", "rt+/=:x"), ("client_id", "native-app")], [CT, ACCEPT]))
req("refresh-basic", "refresh token with Basic authentication",
    sb("client", "s e:c"), {"type": "refresh_token", "refresh_token": "8xLOxBtZp8", "scope": None},
    ok([("grant_type", "refresh_token"), ("refresh_token", "8xLOxBtZp8")],
       [CT, ACCEPT, ["Authorization", basic("client", "s e:c")]]))

# --- authorization_code ---------------------------------------------------------------------------
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
req("authcode-public", "authorization code + PKCE verifier, public client, redirect URI with a query",
    {"method": "none", "client_id": "native-app"},
    {"type": "authorization_code", "code": "SplxlOBeZQQYbYS6WxSbIA", "redirect_uri": "https://client.example.com/cb?x=1&y=2",
     "code_verifier": VERIFIER},
    ok([("grant_type", "authorization_code"), ("code", "SplxlOBeZQQYbYS6WxSbIA"),
        ("redirect_uri", "https://client.example.com/cb?x=1&y=2"), ("code_verifier", VERIFIER),
        ("client_id", "native-app")], [CT, ACCEPT]))
req("authcode-loopback", "loopback redirect and http token URL on 127.0.0.1 (allowed for local servers)",
    sb("client", "secret"),
    {"type": "authorization_code", "code": "c", "redirect_uri": "http://127.0.0.1:53682/", "code_verifier": "a" * 128},
    ok([("grant_type", "authorization_code"), ("code", "c"), ("redirect_uri", "http://127.0.0.1:53682/"),
        ("code_verifier", "a" * 128)], [CT, ACCEPT, ["Authorization", basic("client", "secret")]],
       token_url="http://127.0.0.1:8080/token"),
    token_url="http://127.0.0.1:8080/token")
req("authcode-custom-scheme", "private-use URI scheme redirect (RFC 8252 §7.1)",
    {"method": "none", "client_id": "app"},
    {"type": "authorization_code", "code": "c0de", "redirect_uri": "com.example.app:/oauth2redirect", "code_verifier": VERIFIER},
    ok([("grant_type", "authorization_code"), ("code", "c0de"), ("redirect_uri", "com.example.app:/oauth2redirect"),
        ("code_verifier", VERIFIER), ("client_id", "app")], [CT, ACCEPT]))
req("localhost-ipv6", "http to [::1] is loopback", sp("c", "s"), cc(),
    ok([("grant_type", "client_credentials"), ("client_id", "c"), ("client_secret", "s")], [CT, ACCEPT],
       token_url="http://[::1]:9000/token"), token_url="http://[::1]:9000/token")

# --- errors -----------------------------------------------------------------------------------------
def err(code):
    return {"error": code}

req("err-insecure-url", "plain http to a real host: the secret would travel in clear",
    sb("c", "s"), cc(), err("insecure_url"), token_url="http://as.example.com/token")
# The explicit opt-in (in-cluster identity providers): plain http to any host, and only that.
req("insecure-http-opt-in", "allow_insecure_http: plain http to a non-loopback host is built as usual",
    sb("c", "s"), cc(), ok([("grant_type", "client_credentials")], [CT, ACCEPT, ["Authorization", basic("c", "s")]],
                           token_url="http://keycloak:8080/realms/r/protocol/openid-connect/token"),
    token_url="http://keycloak:8080/realms/r/protocol/openid-connect/token", allow_insecure_http=True)
req("err-insecure-url-opt-out", "allow_insecure_http false is the default: refused",
    sb("c", "s"), cc(), err("insecure_url"), token_url="http://keycloak:8080/token", allow_insecure_http=False)
req("err-insecure-opt-in-still-checks", "the opt-in lifts only the loopback rule: userinfo still refused",
    sb("c", "s"), cc(), err("invalid_url"), token_url="http://u:p@keycloak:8080/token", allow_insecure_http=True)
req("err-insecure-opt-in-scheme", "the opt-in does not admit other schemes",
    sb("c", "s"), cc(), err("invalid_url"), token_url="ftp://keycloak/token", allow_insecure_http=True)
req("err-loopback-lookalike", "localhost.example.com is not loopback", sb("c", "s"), cc(), err("insecure_url"),
    token_url="http://localhost.example.com/token")
req("err-userinfo-url", "credentials in the URL", sb("c", "s"), cc(), err("invalid_url"),
    token_url="https://user:pw@as.example.com/token")
req("err-fragment-url", "RFC 6749 §3.2: no fragment", sb("c", "s"), cc(), err("invalid_url"),
    token_url="https://as.example.com/token#x")
req("err-crlf-url", "CR/LF in the URL (header injection attempt)", sb("c", "s"), cc(), err("invalid_url"),
    token_url="https://as.example.com/token\r\nX-Evil: 1")
req("err-ftp-url", "unsupported scheme", sb("c", "s"), cc(), err("invalid_url"), token_url="ftp://as.example.com/token")
req("err-empty-client-id", "client_id must not be empty", sb("", "s"), cc(), err("empty_parameter"))
req("err-crlf-secret", "control characters in a secret are refused, not encoded", sb("c", "s\r\nx"), cc(), err("invalid_parameter"))
req("err-empty-secret", "an empty client secret is a configuration mistake", sp("c", ""), cc(), err("empty_parameter"))
req("err-public-client-credentials", "RFC 6749 §4.4: client credentials need a confidential client",
    {"method": "none", "client_id": "c"}, cc(), err("client_auth_required"))
req("err-reserved-extra", "an extra parameter may not override grant_type", sb("c", "s"),
    cc(None, [("grant_type", "password")]), err("reserved_parameter"))
req("err-extra-name-space", "extra parameter name with a space", sb("c", "s"), cc(None, [("my param", "v")]), err("invalid_parameter"))
req("err-scope-quote", "RFC 6749 §3.3: '\"' is not a scope character", sb("c", "s"), cc('read "all"'), err("invalid_parameter"))
req("err-scope-empty", "an empty scope is an error, not silently dropped", sb("c", "s"), cc(""), err("empty_parameter"))
req("err-scope-blank", "a scope of spaces only", sb("c", "s"), cc("   "), err("invalid_parameter"))
req("err-short-verifier", "RFC 7636 §4.1: verifier of 42 characters", {"method": "none", "client_id": "c"},
    {"type": "authorization_code", "code": "c", "redirect_uri": "https://c.example/cb", "code_verifier": "a" * 42},
    err("invalid_parameter"))
req("err-verifier-alphabet", "RFC 7636 §4.1: '+' is not in the verifier alphabet", {"method": "none", "client_id": "c"},
    {"type": "authorization_code", "code": "c", "redirect_uri": "https://c.example/cb", "code_verifier": "+" * 43},
    err("invalid_parameter"))
req("err-redirect-fragment", "RFC 6749 §3.1.2: redirect URI without fragment", {"method": "none", "client_id": "c"},
    {"type": "authorization_code", "code": "c", "redirect_uri": "https://c.example/cb#f", "code_verifier": VERIFIER},
    err("invalid_parameter"))
req("err-redirect-relative", "redirect URI must be absolute", {"method": "none", "client_id": "c"},
    {"type": "authorization_code", "code": "c", "redirect_uri": "/cb", "code_verifier": VERIFIER},
    err("invalid_parameter"))
req("err-empty-refresh-token", "empty refresh token", sp("c", "s"), {"type": "refresh_token", "refresh_token": "", "scope": None},
    err("empty_parameter"))
req("err-refresh-token-too-large", "refresh token over 16 KiB", sp("c", "s"),
    {"type": "refresh_token", "refresh_token": "r" * (16 * 1024 + 1), "scope": None}, err("too_large"))

# --- assertions (feature `sign`) --------------------------------------------------------------
def pkjwt(cid, alg, kid, priv, pub, audience=None):
    return {"method": "private_key_jwt", "client_id": cid, "alg": alg, "kid": kid,
            "private_key_pem": priv, "public_key_pem": pub, "audience": audience}


def jb(issuer, alg, kid, priv, pub, subject=None, audience=None, scope=None, placement="form", lifetime_s=3600):
    return {"type": "jwt_bearer", "issuer": issuer, "subject": subject, "audience": audience, "scope": scope,
            "scope_placement": placement, "alg": alg, "kid": kid, "private_key_pem": priv,
            "public_key_pem": pub, "lifetime_s": lifetime_s}


now_u = {"low_ms": 1_700_000_000_400, "high_ms": 1_700_000_002_900}
t = assertion_times(now_u["low_ms"], now_u["high_ms"], 300)
req("pkjwt-rs256", "private_key_jwt (RFC 7523 §2.2): iss=sub=client_id, aud=token URL, 300 s, iat back-dated to low",
    pkjwt("client-1", "RS256", "key-1", RSA_PRIVATE, RSA_PUBLIC), cc("read"),
    ok([("grant_type", "client_credentials"), ("scope", "read"), ("client_id", "client-1"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt({"alg": "RS256", "typ": "JWT", "kid": "key-1"},
                                 {"iss": "client-1", "sub": "client-1", "aud": TOKEN_URL, **t}))],
       [CT, ACCEPT], with_body=False), now=now_u, seed=7, flags=["sign"])
t = assertion_times(1_700_000_000_000, 1_700_000_000_000, 300)
req("pkjwt-es256-audience", "private_key_jwt with an explicit audience (issuer identifier) and no kid",
    pkjwt("client-2", "ES256", None, EC_PRIVATE, EC_PUBLIC, audience="https://as.example.com"),
    {"type": "refresh_token", "refresh_token": "rt", "scope": None},
    ok([("grant_type", "refresh_token"), ("refresh_token", "rt"), ("client_id", "client-2"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt({"alg": "ES256", "typ": "JWT"},
                                 {"iss": "client-2", "sub": "client-2", "aud": "https://as.example.com", **t}))],
       [CT, ACCEPT], with_body=False), seed=8, flags=["sign"])

def csjwt(cid, secret, audience=None):
    return {"method": "client_secret_jwt", "client_id": cid, "client_secret": secret, "audience": audience}


SECRET32 = "0123456789abcdef0123456789abcdef"
t = assertion_times(now_u["low_ms"], now_u["high_ms"], 300)
req("csjwt-hs256", "client_secret_jwt (RFC 7523 §2.2, OIDC Core §9): HS256 with the secret, same claims and "
    "skew-corrected times as private_key_jwt",
    csjwt("client-1", SECRET32), cc("read"),
    ok([("grant_type", "client_credentials"), ("scope", "read"), ("client_id", "client-1"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt({"alg": "HS256", "typ": "JWT"},
                                 {"iss": "client-1", "sub": "client-1", "aud": TOKEN_URL, **t}))],
       [CT, ACCEPT], with_body=False), now=now_u, seed=7, flags=["sign"])
now_ahead = {"low_ms": 1_700_000_060_000, "high_ms": 1_700_000_060_250}
t = assertion_times(now_ahead["low_ms"], now_ahead["high_ms"], 300)
req("csjwt-audience-refresh", "client_secret_jwt with an explicit audience, a non-ASCII secret, refresh grant",
    csjwt("client-2", "s\u00e9cret with spaces & symbols: +/=%!", audience="https://as.example.com"),
    {"type": "refresh_token", "refresh_token": "rt", "scope": None},
    ok([("grant_type", "refresh_token"), ("refresh_token", "rt"), ("client_id", "client-2"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt({"alg": "HS256", "typ": "JWT"},
                                 {"iss": "client-2", "sub": "client-2", "aud": "https://as.example.com", **t}))],
       [CT, ACCEPT], with_body=False), now=now_ahead, seed=9, flags=["sign"])
req("err-csjwt-short-secret", "client_secret_jwt with a 31-byte secret: too short for HS256 (RFC 7518 §3.2)",
    csjwt("c", SECRET32[:31]), cc(), err("weak_secret"), flags=["sign"])
req("err-csjwt-empty-secret", "client_secret_jwt with an empty secret", csjwt("c", ""), cc(), err("empty_parameter"),
    flags=["sign"])


now_w = {"low_ms": 1_700_000_000_999, "high_ms": 1_700_000_120_000}
t = assertion_times(now_w["low_ms"], now_w["high_ms"], 3600)
assert t["exp"] - t["iat"] == 3600  # the clamp is exercised
req("jwt-bearer-google", "Google-style service account: scope as a claim, 2 min uncertainty, exp clamped to iat+3600",
    {"method": "anonymous"},
    jb("svc@project.iam.gserviceaccount.com", "RS256", "kid-abc", RSA_PRIVATE, RSA_PUBLIC,
       scope="https://www.googleapis.com/auth/cloud-platform", placement="claim"),
    ok([("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", jwt({"alg": "RS256", "typ": "JWT", "kid": "kid-abc"},
                          {"iss": "svc@project.iam.gserviceaccount.com", "aud": TOKEN_URL,
                           "scope": "https://www.googleapis.com/auth/cloud-platform", **t}))],
       [CT, ACCEPT], with_body=False), now=now_w, seed=9, flags=["sign"])
t = assertion_times(now_u["low_ms"], now_u["high_ms"], 300)
req("jwt-bearer-es256-form-scope", "RFC 7523 §2.1 generic: subject, scope as form parameter, lifetime 300 s (not clamped)",
    {"method": "none", "client_id": "c"},
    jb("issuer-x", "ES256", "e1", EC_PRIVATE, EC_PUBLIC, subject="user@example.com", audience="https://as.example.com",
       scope="a b", lifetime_s=300),
    ok([("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", jwt({"alg": "ES256", "typ": "JWT", "kid": "e1"},
                          {"iss": "issuer-x", "sub": "user@example.com", "aud": "https://as.example.com", **t})),
        ("scope", "a b"), ("client_id", "c")],
       [CT, ACCEPT], with_body=False), now=now_u, seed=10, flags=["sign"])
assert assertion_times(1_700_000_000_000, 1_700_000_000_000 + 3_580_000, 3600) is None
req("err-jwt-bearer-uncertain", "issuer time known only within 59 min 40 s: no assertion fits every issuer time",
    {"method": "anonymous"}, jb("i", "RS256", None, RSA_PRIVATE, RSA_PUBLIC), err("issuer_time_too_uncertain"),
    now={"low_ms": 1_700_000_000_000, "high_ms": 1_700_003_580_000}, flags=["sign"])
req("err-jwt-bearer-lifetime", "lifetime above 3600 s", {"method": "anonymous"},
    jb("i", "RS256", None, RSA_PRIVATE, RSA_PUBLIC, lifetime_s=7200), err("invalid_lifetime"), flags=["sign"])
req("err-jwt-bearer-inverted-time", "issuer_now with low > high", {"method": "anonymous"},
    jb("i", "ES256", None, EC_PRIVATE, EC_PUBLIC), err("invalid_issuer_time"),
    now={"low_ms": 2_000, "high_ms": 1_000}, flags=["sign"])
req("err-wrong-key-type", "an EC key for RS256", {"method": "anonymous"},
    jb("i", "RS256", None, EC_PRIVATE, EC_PUBLIC), err("invalid_key"), flags=["sign"])

# --- assertion times (no signing needed) ------------------------------------------------------------
def times_case(id_, comment, low, high, lifetime):
    t = assertion_times(low, high, lifetime)
    exp = {"iat_s": t["iat"], "nbf_s": t["nbf"], "exp_s": t["exp"]} if t else err("issuer_time_too_uncertain")
    request_cases.append({"id": "oauth-request-times-" + id_, "comment": comment,
                          "input": {"op": "assertion_times", "issuer_now": {"low_ms": low, "high_ms": high},
                                    "lifetime_s": lifetime}, "expected": exp})

times_case("exact", "no uncertainty: iat = floor(now), exp = iat + lifetime", 1_700_000_000_500, 1_700_000_000_500, 3600)
times_case("uncertain-clamped", "5.5 s uncertainty: iat from low, exp clamped to iat + 3600", 1_700_000_000_700, 1_700_000_006_200, 3600)
times_case("uncertain-short", "short lifetime: exp = floor(high + 300 s), span < 3600", 1_700_000_000_700, 1_700_000_006_200, 300)
times_case("round-down", "both ends rounded down to the second", 999, 1_999, 60)
times_case("too-uncertain", "59 min 40 s uncertainty leaves 20 s: refused", 1_700_000_000_000, 1_700_003_580_000, 3600)
times_case("edge-accepted", "59 min 30 s uncertainty leaves exactly 30 s: accepted", 1_700_000_000_000, 1_700_003_570_000, 3600)
request_cases.append({"id": "oauth-request-times-bad-lifetime", "comment": "lifetime below 60 s",
                      "input": {"op": "assertion_times", "issuer_now": NOW, "lifetime_s": 59},
                      "expected": err("invalid_lifetime")})
request_cases.append({"id": "oauth-request-times-negative", "comment": "issuer time before the epoch",
                      "input": {"op": "assertion_times", "issuer_now": {"low_ms": -1, "high_ms": 5}, "lifetime_s": 60},
                      "expected": err("invalid_issuer_time")})

# --- PKCE, state, authorization URL, redirect --------------------------------------------------------
request_cases.append({"id": "oauth-request-pkce-rfc7636-appendix-b", "comment": "RFC 7636 Appendix B example",
                      "input": {"op": "pkce_challenge", "verifier": VERIFIER},
                      "expected": {"challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}})
assert s256(VERIFIER) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
long_v = "~" + "A1-._" * 25 + "zz"
request_cases.append({"id": "oauth-request-pkce-128", "comment": "longest verifier (128 chars), every allowed punctuation",
                      "input": {"op": "pkce_challenge", "verifier": long_v}, "expected": {"challenge": s256(long_v)}})
request_cases.append({"id": "oauth-request-pkce-129", "comment": "129 characters is too long",
                      "input": {"op": "pkce_challenge", "verifier": "a" * 129}, "expected": err("invalid_parameter")})
for seed in (1, 2):
    request_cases.append({"id": f"oauth-request-pkce-generate-{seed}", "comment": "generated verifier: 43 base64url chars, S256 challenge",
                          "input": {"op": "pkce_generate", "rng_seed": seed},
                          "expected": {"verifier_len": 43, "challenge_len": 43, "state_len": 22}})

AUTHZ = "https://as.example.com/authorize"
def authz_url(endpoint, params):
    sep = "&" if "?" in endpoint else "?"
    return endpoint + sep + "&".join(enc(n) + "=" + enc(v) for n, v in params)

params = [("response_type", "code"), ("client_id", "s6BhdRkqt3"), ("redirect_uri", "https://client.example.com/cb"),
          ("scope", "openid profile"), ("state", "af0ifjsldkj"), ("code_challenge", s256(VERIFIER)),
          ("code_challenge_method", "S256")]
request_cases.append({"id": "oauth-request-authorize-url", "comment": "RFC 6749 §4.1.1 + RFC 7636 §4.3, form-encoded",
                      "input": {"op": "authorization_url", "authorize_endpoint": AUTHZ, "client_id": "s6BhdRkqt3",
                                "redirect_uri": "https://client.example.com/cb", "scope": "openid profile",
                                "verifier": VERIFIER, "state": "af0ifjsldkj", "extra": []},
                      "expected": {"url": authz_url(AUTHZ, params)}})
ep = "https://login.example.com/tenant/authorize?p=b2c_1_signin"
params = [("response_type", "code"), ("client_id", "c:1"), ("redirect_uri", "http://127.0.0.1:53682/"),
          ("state", "s t"), ("code_challenge", s256(VERIFIER)), ("code_challenge_method", "S256"),
          ("audience", "https://api.example.com/"), ("prompt", "consent")]
request_cases.append({"id": "oauth-request-authorize-url-query", "comment": "endpoint with a query keeps it; no scope; extra parameters",
                      "input": {"op": "authorization_url", "authorize_endpoint": ep, "client_id": "c:1",
                                "redirect_uri": "http://127.0.0.1:53682/", "scope": None, "verifier": VERIFIER,
                                "state": "s t", "extra": [["audience", "https://api.example.com/"], ["prompt", "consent"]]},
                      "expected": {"url": authz_url(ep, params)}})
request_cases.append({"id": "oauth-request-authorize-url-insecure", "comment": "authorization endpoint over plain http",
                      "input": {"op": "authorization_url", "authorize_endpoint": "http://as.example.com/authorize",
                                "client_id": "c", "redirect_uri": "https://c/cb", "scope": None, "verifier": VERIFIER,
                                "state": "s", "extra": []}, "expected": err("insecure_url")})
request_cases.append({"id": "oauth-request-authorize-url-reserved", "comment": "extra parameter may not replace code_challenge_method",
                      "input": {"op": "authorization_url", "authorize_endpoint": AUTHZ, "client_id": "c",
                                "redirect_uri": "https://c/cb", "scope": None, "verifier": VERIFIER, "state": "s",
                                "extra": [["code_challenge_method", "plain"]]}, "expected": err("reserved_parameter")})

def redirect(id_, comment, url, state, expected):
    request_cases.append({"id": "oauth-request-redirect-" + id_, "comment": comment,
                          "input": {"op": "redirect", "redirect": url, "expected_state": state}, "expected": expected})

redirect("ok", "RFC 6749 §4.1.2 example", "https://client.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz", "xyz",
         {"code": "SplxlOBeZQQYbYS6WxSbIA"})
redirect("ok-encoded", "percent- and plus-encoded code, extra iss parameter, fragment ignored",
         "/cb?state=xyz&iss=https%3A%2F%2Fas.example.com&code=a%2Fb+c#_=_", "xyz", {"code": "a/b c"})
redirect("state-mismatch", "CSRF: state differs", "/cb?code=abc&state=xyz1", "xyz", err("state_mismatch"))
redirect("missing-state", "no state", "/cb?code=abc", "xyz", err("missing_state"))
redirect("forged-error", "an error response with a wrong state is a state problem, not an error to act on",
         "/cb?error=access_denied&state=other", "xyz", err("state_mismatch"))
redirect("error", "RFC 6749 §4.1.2.1 error response", "/cb?error=access_denied&error_description=The+user+said+no&state=xyz", "xyz",
         {"error": "authorization_error", "oauth_error": "access_denied", "description": "The user said no"})
redirect("missing-code", "state ok, no code", "/cb?state=xyz", "xyz", err("missing_code"))
redirect("duplicate-code", "RFC 6749 §3.1: a parameter must not repeat", "/cb?code=a&code=b&state=xyz", "xyz", err("malformed_redirect"))
redirect("bad-escape", "invalid percent-escape", "/cb?code=%G1&state=xyz", "xyz", err("malformed_redirect"))


# ==================================================================================================
response_cases = []
JSON_CT = [["Content-Type", "application/json"]]
FULL = {"access_token": None, "token_type": "Bearer", "expires_in_ms": None, "refresh_token": None, "scope": None, "id_token": None}


def resp(id_, comment, status, body, expected, headers=JSON_CT, flags=None, **extra_input):
    inp = {"status": status, "headers": headers}
    if isinstance(body, bytes):
        inp["body_hex"] = body.hex()
    else:
        inp["body"] = body
    keep = extra_input.pop("expected_keep", None)
    inp.update(extra_input)
    if keep is not None:
        expected = dict(expected, refresh_token_to_keep=keep)
    case = {"id": "token-response-" + id_, "comment": comment, "input": inp, "expected": expected}
    if flags:
        case["flags"] = flags
    response_cases.append(case)


def success(**fields):
    out = dict(FULL)
    out.update(fields)
    return out


# The class of a failure (SPEC "Failure classes and who decides"): one odd answer must never end
# a session for good.
# * invalid_grant: its own class (the session drops a refresh token and falls back);
# * configuration errors ("permanent": fail fast, retried only after a long backoff): the codes
#   below, and unknown codes on any status but 408, 429 and 5xx;
# * everything else is transient: temporarily_unavailable, server_error, unknown codes on
#   408/429/5xx, every HTTP error without a readable OAuth error whatever its status (a WAF's
#   HTML 403, a redirect, a 404 during a deploy), and every malformed response.
CONFIG_CODES = {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "unsupported_grant_type"}


def oauth_class(code, status):
    if code == "invalid_grant":
        return "invalid_grant"
    if code in CONFIG_CODES:
        return "permanent"
    if code in ("temporarily_unavailable", "server_error"):
        return "transient"
    return "transient" if status in (408, 429) or 500 <= status <= 599 else "permanent"


def oauth(code, status, oauth_error=None, description=None, retry_after=None):
    return {"error": code, "class": oauth_class(code, status), "kind": "oauth", "status": status,
            "oauth_error": oauth_error or code, "description": description, "retry_after": retry_after}


def http(status, retry_after=None):
    """A non-2xx without a usable OAuth error: transient whatever the status."""
    return {"error": "http_error", "class": "transient", "kind": "http", "status": status, "retry_after": retry_after}


def bad(code, status=200):
    """A response that is neither a success nor an OAuth error: transient."""
    return {"error": code, "class": "transient", "kind": "malformed", "status": status}


J = json.dumps
# --- successes --------------------------------------------------------------------------------------
resp("rfc6749-example", "RFC 6749 §5.1 example", 200,
     J({"access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA", "example_parameter": "example_value"}),
     success(access_token="2YotnFZFEjr1zCsicMWpAA", expires_in_ms=3_600_000, refresh_token="tGzv3JOkF0XG5Qx2TlKWIA"),
     previous_refresh_token="old-rt", expected_keep="tGzv3JOkF0XG5Qx2TlKWIA")
resp("full", "every field, including id_token and scope", 200,
     J({"access_token": "at", "token_type": "Bearer", "expires_in": 60, "refresh_token": "rt", "scope": "openid email",
        "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}),
     success(access_token="at", expires_in_ms=60_000, refresh_token="rt", scope="openid email", id_token="eyJhbGciOiJSUzI1NiJ9.e30.c2ln"))
resp("bearer-lowercase", "token_type in lower case (many servers)", 200, J({"access_token": "a", "token_type": "bearer", "expires_in": 1}),
     success(access_token="a", expires_in_ms=1_000))
resp("bearer-uppercase", "token_type in upper case", 200, J({"access_token": "a", "token_type": "BEARER"}), success(access_token="a"))
resp("expires-in-string", "expires_in as a numeric string (Azure AD v1, some PHP servers)", 200,
     J({"access_token": "a", "token_type": "Bearer", "expires_in": "3600", "ext_expires_in": "3600"}),
     success(access_token="a", expires_in_ms=3_600_000))
resp("expires-in-fraction", "fractional seconds are floored to the millisecond", 200,
     '{"access_token":"a","token_type":"Bearer","expires_in":3599.9999}', success(access_token="a", expires_in_ms=3_599_999))
resp("expires-in-string-fraction", "fractional numeric string", 200,
     J({"access_token": "a", "expires_in": "59.5"}), success(access_token="a", expires_in_ms=59_500))
resp("expires-in-float-integral", "3600.0 is 3600 s", 200, '{"access_token":"a","expires_in":3600.0}',
     success(access_token="a", expires_in_ms=3_600_000))
resp("expires-in-max", "365 days exactly is accepted", 200, J({"access_token": "a", "expires_in": 31_536_000}),
     success(access_token="a", expires_in_ms=31_536_000_000))
resp("no-refresh-token", "no refresh_token: keep the old one (rotation helper)", 200,
     J({"access_token": "a", "token_type": "Bearer", "expires_in": 300}), success(access_token="a", expires_in_ms=300_000),
     previous_refresh_token="old-rt", expected_keep="old-rt")
resp("empty-refresh-token", "refresh_token \"\" is read as absent", 200, J({"access_token": "a", "refresh_token": ""}),
     success(access_token="a"), previous_refresh_token="old-rt", expected_keep="old-rt")
resp("null-fields", "null optional fields are absent; a null error member is ignored", 200,
     J({"access_token": "a", "token_type": None, "expires_in": None, "refresh_token": None, "scope": None, "id_token": None, "error": None}),
     success(access_token="a"))
resp("no-token-type", "token_type missing: read as Bearer (documented leniency)", 200, J({"access_token": "a", "expires_in": 10}),
     success(access_token="a", expires_in_ms=10_000))
resp("charset", "charset parameter in Content-Type", 200, J({"access_token": "a"}), success(access_token="a"),
     headers=[["content-type", "application/json; charset=UTF-8"]])
resp("no-content-type", "no Content-Type at all, body is a JSON object", 200, J({"access_token": "a"}), success(access_token="a"), headers=[])
resp("text-plain", "wrong Content-Type but a JSON object body (old servers): read", 200, J({"access_token": "a"}),
     success(access_token="a"), headers=[["Content-Type", "text/plain"]])
resp("bom", "UTF-8 byte-order mark before the JSON", 200, b"\xef\xbb\xbf" + J({"access_token": "a"}).encode(), success(access_token="a"))
resp("whitespace", "leading and trailing whitespace", 200, "\r\n  " + J({"access_token": "a"}) + " \n", success(access_token="a"))
resp("scope-array", "scope as an array of strings is joined with spaces", 200, J({"access_token": "a", "scope": ["read", "write"]}),
     success(access_token="a", scope="read write"))
resp("status-201", "any 2xx is a success", 201, J({"access_token": "a"}), success(access_token="a"))
resp("token-visible-ascii", "opaque token with ':' '%' '~' and '=' is fine (visible ASCII)", 200,
     J({"access_token": "v1:ab%2F~c=="}), success(access_token="v1:ab%2F~c=="))
resp("extra-fields", "unknown members, nested objects and a duplicate unknown member are ignored", 200,
     '{"access_token":"a","x":{"y":[1,2,{"z":null}]},"x":1,"not-before-policy":0,"session_state":"s"}', success(access_token="a"))
resp("padded-1mib", "body of exactly 1 MiB (whitespace padded) is accepted", 200, J({"access_token": "a"}),
     success(access_token="a"), pad_to_len=1024 * 1024)
resp("escaped-key", "member names are compared after JSON unescaping", 200, '{"\\u0061ccess_token":"a"}', success(access_token="a"))

# --- malformed successes ---------------------------------------------------------------------------
# All transient: a half-deployed or misrouted server answers like this for a while, and the
# session's backoff bounds the retries.
resp("missing-access-token", "no access_token", 200, J({"token_type": "Bearer", "expires_in": 3600}), bad("missing_access_token"))
resp("empty-access-token", "access_token \"\"", 200, J({"access_token": ""}), bad("missing_access_token"))
resp("null-access-token", "access_token null", 200, J({"access_token": None}), bad("missing_access_token"))
resp("number-access-token", "access_token not a string", 200, J({"access_token": 12345}), bad("invalid_access_token"))
resp("access-token-space", "space inside the token would split the Authorization header", 200, J({"access_token": "ab cd"}),
     bad("invalid_access_token"))
resp("access-token-crlf", "CR/LF inside the token: header injection", 200, J({"access_token": "ab\r\nX-Evil: 1"}),
     bad("invalid_access_token"))
resp("access-token-nul", "NUL inside the token", 200, J({"access_token": "ab\u0000"}), bad("invalid_access_token"))
resp("access-token-non-ascii", "non-ASCII token", 200, J({"access_token": "jéton"}, ensure_ascii=False), bad("invalid_access_token"))
resp("token-type-mac", "MAC tokens are not bearer tokens", 200, J({"access_token": "a", "token_type": "mac"}),
     bad("unsupported_token_type"))
resp("token-type-dpop", "a DPoP-bound token used as bearer fails everywhere", 200, J({"access_token": "a", "token_type": "DPoP"}),
     bad("unsupported_token_type"))
resp("token-type-empty", "token_type \"\"", 200, J({"access_token": "a", "token_type": ""}), bad("unsupported_token_type"))
resp("token-type-number", "token_type not a string", 200, J({"access_token": "a", "token_type": 1}), bad("invalid_field"))
resp("expires-in-zero", "expires_in 0: already dead", 200, J({"access_token": "a", "expires_in": 0}), bad("invalid_expires_in"))
resp("expires-in-negative", "negative expires_in", 200, J({"access_token": "a", "expires_in": -1}), bad("invalid_expires_in"))
resp("expires-in-negative-string", "negative numeric string", 200, J({"access_token": "a", "expires_in": "-3600"}),
     bad("invalid_expires_in"))
resp("expires-in-word", "non-numeric string", 200, J({"access_token": "a", "expires_in": "one hour"}), bad("invalid_expires_in"))
resp("expires-in-exponent-string", "exponent notation in a string is not accepted", 200, J({"access_token": "a", "expires_in": "3.6e3"}),
     bad("invalid_expires_in"))
resp("expires-in-over-year", "365 days + 1 s", 200, J({"access_token": "a", "expires_in": 31_536_001}), bad("invalid_expires_in"))
resp("expires-in-huge", "1e300", 200, '{"access_token":"a","expires_in":1e300}', bad("invalid_expires_in"))
resp("expires-in-u64", "beyond i64", 200, '{"access_token":"a","expires_in":18446744073709551615}', bad("invalid_expires_in"))
resp("expires-in-tiny", "0.0001 s floors to 0 ms", 200, '{"access_token":"a","expires_in":0.0001}', bad("invalid_expires_in"))
resp("expires-in-bool", "boolean expires_in", 200, J({"access_token": "a", "expires_in": True}), bad("invalid_expires_in"))
resp("refresh-token-number", "refresh_token not a string", 200, J({"access_token": "a", "refresh_token": 5}), bad("invalid_field"))
resp("refresh-token-control", "control character in refresh_token", 200, J({"access_token": "a", "refresh_token": "r\n"}),
     bad("invalid_field"))
resp("id-token-space", "id_token with a space", 200, J({"access_token": "a", "id_token": "a b"}), bad("invalid_field"))
resp("scope-object", "scope as an object", 200, J({"access_token": "a", "scope": {"x": 1}}), bad("invalid_field"))
resp("duplicate-access-token", "two access_token members: parsers would disagree", 200, '{"access_token":"a","access_token":"b"}',
     bad("duplicate_field"))
resp("duplicate-escaped", "duplicate hidden behind a JSON escape", 200, '{"expires_in":60,"\\u0065xpires_in":3600,"access_token":"a"}',
     bad("duplicate_field"))
resp("html-200", "a proxy's login page with status 200", 200, "<!DOCTYPE html><html><body>Sign in</body></html>",
     bad("invalid_json"), headers=[["Content-Type", "text/html; charset=utf-8"]])
resp("empty-200", "empty body", 200, "", bad("invalid_json"))
resp("truncated", "body cut off mid-object", 200, '{"access_token":"a","expires_in":36', bad("invalid_json"))
resp("trailing-garbage", "a second value after the object", 200, '{"access_token":"a"} {"x":1}', bad("invalid_json"))
resp("invalid-utf8", "invalid UTF-8 inside a string", 200, b'{"access_token":"a\xff"}', bad("invalid_json"))
resp("array", "JSON array", 200, J([{"access_token": "a"}]), bad("not_json_object"))
resp("string", "JSON string", 200, J("access_token=a"), bad("not_json_object"))
resp("form-encoded", "form-encoded success (GitHub without Accept: application/json)", 200,
     "access_token=a&token_type=bearer", bad("invalid_json"), headers=[["Content-Type", "application/x-www-form-urlencoded"]])
resp("too-large", "1 MiB + 1 byte is refused before parsing", 200, J({"access_token": "a"}), bad("body_too_large"),
     pad_to_len=1024 * 1024 + 1)
resp("nesting-bomb", "deep nesting inside the object stops at serde_json's recursion limit (128), no stack overflow", 200,
     '{"x":' + "[" * 10_000 + "]" * 10_000 + ',"access_token":"a"}', bad("invalid_json"))
resp("nesting-top-level-array", "a deeply nested array is rejected as not an object before it is descended", 200,
     "[" * 10_000 + "]" * 10_000, bad("not_json_object"))

# --- error responses ---------------------------------------------------------------------------------
resp("invalid-grant", "RFC 6749 §5.2: the refresh token is dead → fall back to the primary grant", 400,
     J({"error": "invalid_grant", "error_description": "Refresh token expired"}),
     oauth("invalid_grant", 400, description="Refresh token expired"))
resp("invalid-client-401", "invalid_client with 401 after Basic auth (§5.2 MUST)", 401, J({"error": "invalid_client"}),
     oauth("invalid_client", 401), headers=JSON_CT + [["WWW-Authenticate", 'Basic realm="as"']])
resp("invalid-client-400", "invalid_client with 400 (client_secret_post)", 400, J({"error": "invalid_client"}),
     oauth("invalid_client", 400))
resp("unauthorized-client", "unauthorized_client", 400, J({"error": "unauthorized_client"}), oauth("unauthorized_client", 400))
resp("unsupported-grant-type", "unsupported_grant_type", 400, J({"error": "unsupported_grant_type"}),
     oauth("unsupported_grant_type", 400))
resp("invalid-scope", "invalid_scope", 400, J({"error": "invalid_scope"}), oauth("invalid_scope", 400))
resp("invalid-request", "invalid_request", 400, J({"error": "invalid_request", "error_uri": "https://as/doc"}),
     oauth("invalid_request", 400))
resp("temporarily-unavailable", "temporarily_unavailable with Retry-After seconds", 503,
     J({"error": "temporarily_unavailable"}), oauth("temporarily_unavailable", 503, retry_after="120"),
     headers=JSON_CT + [["Retry-After", "120"]])
resp("server-error", "server_error from a token endpoint", 500, J({"error": "server_error"}), oauth("server_error", 500))
resp("unknown-code-400", "unknown error code on 400: a configuration error (permanent: fail fast, retried after a long backoff)", 400, J({"error": "invalid_dpop_proof"}),
     oauth("oauth_error", 400, oauth_error="invalid_dpop_proof"))
resp("unknown-code-503", "unknown error code on 503: transient by status", 503, J({"error": "overloaded"}),
     oauth("oauth_error", 503, oauth_error="overloaded"))
resp("case-sensitive-code", "error codes are case-sensitive (§5.2): INVALID_GRANT is unknown", 400, J({"error": "INVALID_GRANT"}),
     oauth("oauth_error", 400, oauth_error="INVALID_GRANT"))
resp("github-200-error", "GitHub answers 200 with an error object", 200,
     J({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
     oauth("oauth_error", 200, oauth_error="bad_verification_code", description="The code passed is incorrect or expired."))
resp("error-wins", "error and access_token together: treated as an error", 200, J({"error": "invalid_grant", "access_token": "a"}),
     oauth("invalid_grant", 200))
desc = "Ungültiges Token\r\n<script>" + "x" * 400
clean = "".join(c if " " <= c <= "~" else "?" for c in desc)[:256]
resp("description-sanitised", "error_description: non-ASCII and CR/LF replaced by '?', capped at 256 characters", 400,
     J({"error": "invalid_grant", "error_description": desc}, ensure_ascii=False),
     oauth("invalid_grant", 400, description=clean))
code = 'bad"code\\\n' + "y" * 100
clean_code = "".join(c if (c in " !" or "#" <= c <= "[" or "]" <= c <= "~") else "?" for c in code)[:64]
resp("code-sanitised", "unknown error code sanitised to RFC 6749's charset, capped at 64 bytes", 400, J({"error": code}),
     oauth("oauth_error", 400, oauth_error=clean_code))
resp("description-not-string", "error_description of another type is dropped", 400, J({"error": "invalid_grant", "error_description": 5}),
     oauth("invalid_grant", 400))
resp("error-empty", "empty error code on 400: no usable OAuth error", 400, J({"error": ""}), http(400))
resp("error-number", "error code not a string", 400, J({"error": 400}), http(400))
resp("error-duplicate", "two error members: not trusted", 400, '{"error":"invalid_grant","error":"invalid_client"}', http(400))
resp("429-html", "rate limited by a gateway, Retry-After as HTTP-date, lower-case name, padded", 429, "<html>Too Many Requests</html>",
     http(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
     headers=[["content-type", "text/html"], ["retry-after", "  Wed, 21 Oct 2015 07:28:00 GMT \t"]])
resp("502-empty", "bad gateway, empty body", 502, "", http(502), headers=[])
resp("504-json-no-error", "gateway timeout with a JSON body without error", 504, J({"message": "timeout"}), http(504))
resp("408", "request timeout", 408, "", http(408), headers=[])
resp("404-html", "wrong token URL, or the issuer mid-deploy: no OAuth error, so transient (backoff), never dead until restart", 404, "<html>Not Found</html>", http(404), headers=[["Content-Type", "text/html"]])
resp("401-empty", "401 without a body (a proxy in front of the issuer): no OAuth error, so transient, unlike invalid_client", 401, "", http(401),
     headers=[["WWW-Authenticate", "Basic"]])
resp("302-redirect", "a token endpoint must not redirect: not followed, a transient failure (backoff) until it stops", 302, "", http(302), headers=[["Location", "https://login.example/"]])
resp("403-html-waf", "a WAF's HTML 403 page in front of the token endpoint: not the authorization server's word, transient",
     403, "<!DOCTYPE html><html><body><h1>403 Forbidden</h1>Request blocked.</body></html>", http(403),
     headers=[["Content-Type", "text/html; charset=utf-8"]])
resp("301-trailing-slash", "a 301 to the URL with a trailing slash: not followed (a POST must not be redirected), transient",
     301, "", http(301), headers=[["Location", "https://issuer.example/token/"]])
resp("403-json-no-error", "403 with a JSON body that is not an OAuth error (an API gateway's message): transient", 403,
     J({"message": "Forbidden"}), http(403))
resp("unknown-code-401", "unknown error code on 401: a configuration error (permanent)", 401, J({"error": "unauthorized"}),
     oauth("oauth_error", 401, oauth_error="unauthorized"))
resp("unknown-code-429", "unknown error code on 429: transient by status", 429, J({"error": "slow_down"}),
     oauth("oauth_error", 429, oauth_error="slow_down"))
resp("retry-after-too-long", "Retry-After over 64 bytes is dropped", 503, "", http(503),
     headers=[["Retry-After", "1" * 65]])
resp("retry-after-control", "Retry-After with a control character is dropped", 503, "", http(503),
     headers=[["Retry-After", "12\u000034"]])
resp("error-too-large", "1 MiB + 1 error body is not parsed", 500, J({"error": "invalid_grant"}), http(500),
     pad_to_len=1024 * 1024 + 1)
resp("status-600", "status out of range", 600, J({"access_token": "a"}), bad("invalid_status", 600))
resp("status-0", "status 0 (a host passing a transport failure as a status)", 0, "", bad("invalid_status", 0), headers=[])


def write(name, suite, description, cases):
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate ids"
    doc = {"suite": suite, "description": description, "cases": cases}
    (OUT / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"{name}: {len(cases)} cases")


write("oauth-request.json", "oauth-request",
      "OAuth 2.0 token requests (client auth, grants), assertion times, PKCE, authorization URL and redirect check. "
      "Generated by tests/vectors/gen/gen_oauth.py; layout documented in core/tests/vectors_oauth.rs.",
      request_cases)
write("token-response.json", "token-response",
      "Token endpoint responses (RFC 6749 §5.1/§5.2): parsed fields or error code and class. "
      "Generated by tests/vectors/gen/gen_oauth.py; layout documented in core/tests/vectors_oauth.rs.",
      response_cases)
