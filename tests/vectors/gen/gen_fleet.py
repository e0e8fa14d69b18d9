#!/usr/bin/env python3
"""Generates tests/vectors/session/fleet.json: transcripts for the fleet refresh protocol
(`FleetRefresh` driving a `Session`, core/src/fleet.rs).

Python standard library only (AES-256-GCM, for the sealed records a peer publishes, is
implemented below from FIPS 197 and NIST SP 800-38D). Run from anywhere:

    python3 tests/vectors/gen/gen_fleet.py

The format (the session transcript format plus the `fleet_*`, `store_keys` and
`add_issuer_date` calls) is documented in tests/vectors/session/README.md. Every expected
action, note, lease value, wait time, TTL, store key and record field is stated here from the
protocol's rules (the module docs of core/src/fleet.rs, core/src/identity.rs, core/src/record.rs
and the fleet rules of `Session`), restated below and reasoned per case; the numbers come from
the small model of gen_session.py (skew estimate, token lifetime) extended with:

* The credential identity (what a shared record and its store key belong to): SHA-256 over
  b"tokenclock credential identity" + version byte 1, then tagged fields - `field(tag, None)`
  = [tag, 0], `field(tag, s)` = [tag, 1] + u64 big-endian byte length + UTF-8 bytes - in this
  order: 1 grant type, 2 token URL, 3 client id (None for anonymous), 4 client authentication
  method, 5 the scope normalised (split on ' ', empty parts dropped, sorted, de-duplicated,
  joined with ' '; None stays None), then [6] + u64 count of the extra form parameters and,
  sorted and de-duplicated, field(7, name) field(8, value) for each; 9 / 10 / 11 the JWT
  bearer grant's issuer, subject and audience (the token URL when none; all None for other
  grants); 12 the partition. Secrets (client secret, signing key, refresh token, code) are not
  hashed. Displayed as 64 lower-case hex digits.
* Store keys: record `<prefix>:token:v2:{<identity>}`, lease `<record>:lease`, fence
  `<record>:fence`. Refused for a user-delegated grant (refresh token, authorization code)
  without a partition (`partition_required`, checked first) and for one whose store does not
  seal its records (`encryption_required`: its records carry the refresh token).
* A record's deadline on the issuer's clock (at the token response): with the issuer estimate
  at `received`, only when it has a lower bound `low`: low = sent.wall + est.low, high =
  received.wall + est.high (est.offset when unbounded); the deadline is `exp` when exp <= low +
  expires_in (slack 0), else low + expires_in with slack high - low. Without a lower bound the
  deadline is `exp` (slack 0), and without `exp` either nothing bounds it: the token is not
  published (`record_withheld`, the lease is released) - except for a user-delegated grant,
  whose record must carry the refresh token all the same: deadline 0, slack 0 (every reader
  finds the access token expired and takes only the refresh token).
* Publishing: ttl_ms = deadline + slack - (now.wall + est(now).offset), clamped to
  [1 s, 1 day]; a record carrying a refresh token lives `refresh_record_ttl_ms` (30 days) instead.
  The value is `tcr2.` + base64url(JSON) + `.` + hex(SHA-256(JSON))[:32], sealed (`tce1.` +
  base64url(nonce || AES-256-GCM(record, associated data = the store key) || tag)) when a key is
  set. Record fields: v 2, token_id (hex of the first 16 bytes of SHA-256(access token)),
  access_token, identity, refresh_token (user-delegated grants only, else null), deadline_ms,
  deadline_slack_ms, exp_ms, nbf_ms, iat_ms, fencing.
* Reading: a record whose access token is not visible ASCII (0x21-0x7E, non-empty), whose
  identity is not 64 lower-case hex digits, or whose refresh token has a control character is
  malformed (`record_malformed`); a record of another identity is never adopted
  (`record_identity_mismatch`, checked before anything else about adopting).
* Adopting: the deadline is mapped to local time through our estimate, worst case:
  local = deadline - est(now).high (refused with issuer_clock_unknown without a high bound);
  the token counts as received at `now`: margin = min(10 s, (local - now)/10), hard expiry
  = local - margin, refresh at now + floor(0.8 * (hard - now)). A record is *newer* when it
  holds another token than ours with a later issuer-clock deadline, or when we hold none.
* Lease values: lower-case hex of the 16 `lease_entropy` bytes given at `fleet_begin`, `.`,
  and the attempt number (1 for the refresh's first take_lease action, 2 for its second, ...);
  publish and release carry the value of the lease that was taken.
* Refresh tokens (user-delegated grants): under our lease, a record that is not adopted but
  carries a refresh token other than ours replaces ours (`refresh_token_adopted`) and the fetch
  carries the ticket's request rebuilt with it; outside the lease a record's refresh token is
  not taken. Such a session never presents its refresh token outside the lease: a store error
  (at read or lease) or giving up waiting fails the refresh as a transient transport failure
  `store_unavailable` (note `store_required`; error code `store_unavailable`; backoff as for
  any transport failure; outcome fetch_failed).
* The machine: read -> (newer: adopt | issuer clock unknown: probe once, then adopt |
  otherwise take the lease); lease taken -> read again -> (newer: adopt and release |
  fetch under the lease -> publish, or release when the fetch failed or the record is
  withheld); lease busy -> wait min(poll, max_wait - waited) from now (waiting counted from the
  first busy answer, on the monotonic clock) -> read again ...; waited >= max_wait -> fetch
  without the lease; any store error -> fetch without the lease (at read/lease), finish (at
  publish/release).
"""
import hashlib
import json
import sys
from math import floor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_session import (  # noqa: E402  (the shared model)
    BASIC, CC, JSON_HEADERS, POLICY, POST, PUBLIC, T, T0, Est, L, adv, b64url, body,
    config, floor_s, http_date, judge, jwt, lifetime, next_change, standard_first_token,
    until_hard, until_valid,
)

OUT = Path(__file__).resolve().parent.parent / "session" / "fleet.json"
EC_KEY = Path(__file__).resolve().parents[3] / "core" / "tests" / "keys" / "ec-private.pem"
PREFIX = "tokenclock"
LEASE_MS, POLL_MS, MAX_WAIT_MS = 15_000, 50, 20_000
REFRESH_RECORD_TTL_MS = 30 * 86_400_000
KEY_HEX = "07" * 32
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


# ---------------------------------------------------------------------------------------------
# AES-256-GCM (FIPS 197, NIST SP 800-38D), for sealed records
# ---------------------------------------------------------------------------------------------

def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    """The S-box from its definition: the inverse in GF(2^8), then the affine map."""
    inv = [0] * 256
    for a in range(1, 256):
        for b in range(1, 256):
            p, x, y = 0, a, b
            while y:
                if y & 1:
                    p ^= x
                x, y = _xtime(x), y >> 1
            if p == 1:
                inv[a] = b
                break
    box = []
    for a in range(256):
        b = s = inv[a]
        for k in range(1, 5):
            s ^= ((b << k) | (b >> (8 - k))) & 0xFF
        box.append(s ^ 0x63)
    return box


SBOX = _sbox()


def _expand(key):
    nk, rounds = len(key) // 4, len(key) // 4 + 6
    w = [list(key[4 * i:4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        t = list(w[i - 1])
        if i % nk == 0:
            t = [SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            t = [SBOX[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - nk], t)])
    return [sum(w[4 * r:4 * r + 4], []) for r in range(rounds + 1)]


def aes_block(round_keys, block):
    s = [a ^ b for a, b in zip(block, round_keys[0])]
    for r in range(1, len(round_keys)):
        s = [SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]  # ShiftRows, column-major state
        if r != len(round_keys) - 1:
            mixed = []
            for c in range(4):
                col = s[4 * c:4 * c + 4]
                t = col[0] ^ col[1] ^ col[2] ^ col[3]
                mixed += [col[i] ^ t ^ _xtime(col[i] ^ col[(i + 1) % 4]) for i in range(4)]
            s = mixed
        s = [a ^ b for a, b in zip(s, round_keys[r])]
    return bytes(s)


# FIPS 197 Appendix C.3 (AES-256).
assert aes_block(_expand(bytes(range(32))), bytes.fromhex("00112233445566778899aabbccddeeff")) \
    == bytes.fromhex("8ea2b7ca516745bfeafc49904b496089")


def _gf_mul(x, y):
    r = 0
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            r ^= y
        y = (y >> 1) ^ (0xE1 << 120) if y & 1 else y >> 1
    return r


def aes_gcm_encrypt(key, nonce, plaintext, aad):
    """Ciphertext || 16-byte tag, for a 96-bit nonce."""
    rk = _expand(key)
    h = int.from_bytes(aes_block(rk, bytes(16)), "big")
    out = bytearray()
    for i in range(0, len(plaintext), 16):
        ks = aes_block(rk, nonce + (2 + i // 16).to_bytes(4, "big"))
        out += bytes(a ^ b for a, b in zip(plaintext[i:i + 16], ks))

    def blocks(data):
        data = data + bytes(-len(data) % 16)
        return [int.from_bytes(data[i:i + 16], "big") for i in range(0, len(data), 16)]

    y = 0
    for b in blocks(aad) + blocks(bytes(out)) + [(len(aad) * 8 << 64) | (len(out) * 8)]:
        y = _gf_mul(y ^ b, h)
    tag = y ^ int.from_bytes(aes_block(rk, nonce + b"\x00\x00\x00\x01"), "big")
    return bytes(out) + tag.to_bytes(16, "big")


# NIST SP 800-38D test case 14 (AES-256, zero key, zero nonce, one zero block).
assert aes_gcm_encrypt(bytes(32), bytes(12), bytes(16), b"").hex() == (
    "cea7403d4d606b6e074ec5d3baf39d18" "d0d1c8a799996bf0265b98b5d48ab919")


# ---------------------------------------------------------------------------------------------
# Credential identity, store keys, records
# ---------------------------------------------------------------------------------------------

def _field(tag, value):
    if value is None:
        return bytes([tag, 0])
    b = value.encode()
    return bytes([tag, 1]) + len(b).to_bytes(8, "big") + b


def normalise_scope(scope):
    if scope is None:
        return None
    return " ".join(sorted(set(p for p in scope.split(" ") if p)))


assert normalise_scope("b  a b") == "a b" and normalise_scope(" ") == normalise_scope("") == ""


def identity(cfg):
    """The credential identity (64 hex digits) of a transcript's session configuration."""
    g, a = cfg["grant"], cfg["auth"]
    kind = g["type"]
    h = hashlib.sha256(b"tokenclock credential identity" + bytes([1]))
    h.update(_field(1, {"client_credentials": "client_credentials",
                        "refresh_token": "refresh_token",
                        "authorization_code": "authorization_code",
                        "jwt_bearer": JWT_BEARER}[kind]))
    h.update(_field(2, cfg["token_url"]))
    h.update(_field(3, a.get("client_id") if a["method"] != "anonymous" else None))
    h.update(_field(4, a["method"]))
    h.update(_field(5, normalise_scope(g.get("scope") if kind != "authorization_code" else None)))
    pairs = sorted(set((k, v) for k, v in g.get("extra", []))) if kind == "client_credentials" \
        else []
    h.update(bytes([6]) + len(pairs).to_bytes(8, "big"))
    for k, v in pairs:
        h.update(_field(7, k) + _field(8, v))
    if kind == "jwt_bearer":
        h.update(_field(9, g["issuer"]) + _field(10, g.get("subject"))
                 + _field(11, g.get("audience") or cfg["token_url"]))
    else:
        h.update(_field(9, None) + _field(10, None) + _field(11, None))
    h.update(_field(12, cfg.get("partition")))
    return h.hexdigest()


def user_delegated(cfg):
    return cfg["grant"]["type"] in ("refresh_token", "authorization_code")


def store_keys(cfg, sealed, prefix=PREFIX):
    """The expectation of a `store_keys` call: the three keys, or the error."""
    if user_delegated(cfg) and cfg.get("partition") is None:
        return {"error": "partition_required"}
    if user_delegated(cfg) and not sealed:
        return {"error": "encryption_required"}
    record = f"{prefix}:token:v2:{{{identity(cfg)}}}"
    return {"record": record, "lease": record + ":lease", "fence": record + ":fence"}


def token_id(token):
    return hashlib.sha256(token.encode()).hexdigest()[:32]


BASE = config()
BASE_ID = identity(BASE)
STORE_KEY = store_keys(BASE, False)["record"]


def record_fields(token, deadline, slack, exp, nbf, iat, fencing, ident=BASE_ID,
                  refresh_token=None):
    return {"v": 2, "token_id": token_id(token), "access_token": token, "identity": ident,
            "refresh_token": refresh_token, "deadline_ms": deadline,
            "deadline_slack_ms": slack, "exp_ms": exp, "nbf_ms": nbf, "iat_ms": iat,
            "fencing": fencing}


def encode_json(text):
    return f"tcr2.{b64url(text.encode())}.{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def encode(fields):
    return encode_json(json.dumps(fields, separators=(",", ":")))


def seal(encoded, key_hex, store_key, nonce_hex):
    nonce = bytes.fromhex(nonce_hex)
    ct = aes_gcm_encrypt(bytes.fromhex(key_hex), nonce, encoded.encode(), store_key.encode())
    return "tce1." + b64url(nonce + ct)


def peer_record(name, minted, ttl_s=100, slack=0, fencing=1, **kw):
    """A record a peer published for a token it got at issuer time `minted` (whole second):
    iat = nbf = minted, exp = minted + ttl; deadline = exp unless given."""
    tok = jwt(name, iat=minted, nbf=minted, exp=minted + ttl_s * 1000)
    deadline = kw.pop("deadline", minted + ttl_s * 1000)
    f = record_fields(tok, deadline, slack, minted + ttl_s * 1000, minted, minted, fencing, **kw)
    return tok, f


def lease_entropy(case_id, n=0):
    """16 bytes for one fleet_begin (a host draws them from its CSPRNG)."""
    return hashlib.sha256(f"{case_id}/{n}".encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------
# Model additions
# ---------------------------------------------------------------------------------------------

def issuer_deadline(est, sent, recv, expires_in_ms, exp):
    """(deadline, slack) on the issuer's clock, or None when nothing bounds it."""
    if est["low"] is None:
        return None if exp is None else (exp, 0)
    low = sent["wall_ms"] + est["low"]
    high = recv["wall_ms"] + (est["high"] if est["high"] is not None else est["offset"])
    span = max(0, high - low)
    d = low + expires_in_ms
    return (exp, 0) if exp is not None and exp <= d else (d, span)


def publish_ttl(deadline, slack, now, est):
    return min(max(deadline + slack - (now["wall_ms"] + est["offset"]), 1_000), 86_400_000)


def adopted_lifetime(fields, now, est):
    assert est["high"] is not None
    lw = fields["deadline_ms"] - est["high"]
    lm = now["mono_ms"] + (lw - now["wall_ms"])
    life = max(0, min(lw - now["wall_ms"], lm - now["mono_ms"]))
    margin = min(10_000, life // 10)
    hw, hm = lw - margin, lm - margin
    span = max(0, min(hw - now["wall_ms"], hm - now["mono_ms"]))
    lead = floor(span * 0.8)
    nb = max(v for v in (fields["nbf_ms"], fields["iat_ms"]) if v is not None)
    lt = {"hard": {"wall_ms": hw, "mono_ms": hm},
          "refresh": {"wall_ms": now["wall_ms"] + lead, "mono_ms": now["mono_ms"] + lead},
          "margin": margin, "exp": fields["exp_ms"], "nb": nb,
          "deadline": {"wall_ms": lw, "mono_ms": lm}, "recv": now}
    assert until_hard(lt, now, est) > 0, "the record must be adoptable"
    assert until_valid(lt, now, est) <= 0, "and valid"
    return lt


def A(kind, **kw):
    return {"kind": kind, **kw}


READ = A("read")
PROBE = A("probe_issuer")


def N(kind, code=None):
    return {"kind": kind, **({"code": code} if code else {})}


def rt_request(rt, client_id="app"):
    """The expectation of a refresh-token request with a public client (auth none)."""
    return {"grant_type": "refresh_token",
            "form_subset": {"grant_type": "refresh_token", "refresh_token": rt,
                            "client_id": client_id},
            "form_absent": ["client_secret", "code"], "authorization": None}


class F(T):
    """A transcript with the fleet calls. Tracks the lease values of the current refresh: the
    attempt number counts its take_lease actions; the lease taken is what publish and release
    carry."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.begins = 0
        self.entropy = None
        self.attempt = 0
        self.held = None

    def fleet(self, at, call, action=None, notes=(), error=None, **args):
        e = {"error": error} if error else {"action": action, "notes": list(notes)}
        self._step(at, call, e, **args)

    def begin(self, at, ticket, action=READ, fleet=None, key=None, error=None, sealed=None):
        sealed = key is not None if sealed is None else sealed
        keys = store_keys(self.cfg, sealed)
        assert "record" in keys, keys
        self.begins += 1
        entropy = lease_entropy(self.id, self.begins)
        args = {"ticket": ticket, "prefix": PREFIX, "store_key": keys["record"],
                "sealed": sealed, "lease_entropy": entropy}
        if fleet is not None:
            args["fleet"] = fleet
        if key is not None:
            args["key"] = key
        self.fleet(at, "fleet_begin", action, error=error, **args)
        if error is None:
            self.entropy, self.attempt, self.held = entropy, 0, None
        return keys["record"]

    def take_lease(self, lease_ms=LEASE_MS):
        """The next take_lease action of this refresh."""
        self.attempt += 1
        return A("take_lease", lease=f"{self.entropy}.{self.attempt}", lease_ms=lease_ms)

    def on_lease(self, at, fencing, action, notes=()):
        if fencing:
            self.held = f"{self.entropy}.{self.attempt}"
        self.fleet(at, "fleet_on_lease", action, notes, fencing=fencing)

    def publish(self, fencing, ttl_ms, value_prefix, value_record):
        return A("publish", lease=self.held, fencing=fencing, ttl_ms=ttl_ms,
                 value_prefix=value_prefix, value_record=value_record)

    def release(self, fencing):
        return A("release", lease=self.held, fencing=fencing)

    def store_keys(self, at, sealed):
        self._step(at, "store_keys", store_keys(self.cfg, sealed), prefix=PREFIX, sealed=sealed)

    def issuer_date(self, at, sent, server_ms, expect=None):
        self._step(at, "add_issuer_date", expect or {}, date=http_date(server_ms), sent=sent)


def fetch(fencing, request=None):
    return A("fetch", fencing=fencing, request=request)


CASES = []


def first_token_at_refresh(t, iss, refresh_token=None, request=None, next_request=None):
    """The session fetches k1 (Date header, rtt 200 ms; expires_in = exp - iat = 100 s) and
    reaches its refresh time: the caller gets ready_and_refresh with ticket t2."""
    lt, tok = standard_first_token(t, date=True, issuer=iss, refresh_token=refresh_token,
                                   request=request)
    sent, recv = L(T0), L(T0 + 200)
    own = issuer_deadline(iss.at(recv), sent, recv, 100_000, lt["exp"])
    t.authorize(lt["refresh"], "ready_and_refresh", token="k1", ticket="t2", reason="stale",
                **({"request": next_request} if next_request else {}))
    return lt, tok, own


def cases():
    # --- adopt a peer's newer record ----------------------------------------------------------
    t = F("fleet-adopt-newer-record",
          "At its refresh time the session reads the store: a peer published a newer token (k2, "
          "minted 70 s later, a later issuer-clock deadline). It is adopted at once (no lease, "
          "no token request); its deadline is mapped through our estimate's upper bound, and "
          "the next timeout is the adopted token's refresh time (0.8 of the way to hard expiry).",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    tok2, rec2 = peer_record("k2", T0 + 70_000, fencing=4)
    now = adv(now, 3)
    lt2 = adopted_lifetime(rec2, now, iss.at(now))
    t.fleet(now, "fleet_on_record", A("done", outcome="adopted", token="k2"),
            value=encode(rec2))
    t.authorize(adv(now, 1), "ready", token="k2")
    at = adv(now, 2)
    t.next_timeout(at, adv(at, next_change(lt2, at, iss.at(at))))
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1}))

    # --- probe, then adopt ------------------------------------------------------------------
    t = F("fleet-probe-then-adopt",
          "A new session (no token, the issuer's clock unknown) finds a peer's record: it cannot "
          "place the deadline without an upper bound on the issuer's offset, so it probes the "
          "token endpoint's Date once (add_issuer_date), then adopts. The host clock is 45 s "
          "ahead of the issuer's: the adopted deadline lands 45 s later locally.",
          config())
    H = lambda ms: {"wall_ms": ms + 45_000, "mono_ms": ms - T0 + 7_000_000}  # noqa: E731
    t.authorize(H(T0 + 10_000), "refresh", ticket="t1", reason="initial")
    t.begin(H(T0 + 10_000), "t1")
    tok, rec = peer_record("k1", T0 + 5_000)
    t.fleet(H(T0 + 10_002), "fleet_on_record", PROBE, value=encode(rec))
    iss = Est()
    sent, recv = H(T0 + 10_002), H(T0 + 10_082)
    t.issuer_date(recv, sent, T0 + 10_040)
    iss.date(floor_s(T0 + 10_040), sent, recv)
    now = H(T0 + 10_083)
    lt = adopted_lifetime(rec, now, iss.at(now))
    t.fleet(now, "fleet_on_probe", A("done", outcome="adopted", token="k1"))
    t.authorize(H(T0 + 10_084), "ready", token="k1")
    at = H(T0 + 10_085)
    t.next_timeout(at, adv(at, next_change(lt, at, iss.at(at))))
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0}))

    # --- probe fails: ignore, lease, fetch, publish ---------------------------------------------
    t = F("fleet-probe-fails-then-fetch-and-publish",
          "The issuer probe brings no Date (it failed): the record still cannot be placed, so it "
          "is ignored (issuer_clock_unknown; probed once only) and the lease is taken (lease "
          "value: the begin's entropy in hex, '.1'); the re-read finds the same record, ignored "
          "again, so the session fetches under the lease (fencing 1, the ticket's own request) "
          "and publishes its token under the same lease value: exp binds the deadline "
          "(expires_in 120 s > exp - iat), TTL = deadline - the issuer's clock now (best "
          "estimate); the record carries our identity and no refresh token.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.begin(L(T0), "t1")
    tok, rec = peer_record("k0", T0 - 20_000)
    t.fleet(L(T0 + 2), "fleet_on_record", PROBE, value=encode(rec))
    t.fleet(L(T0 + 90), "fleet_on_probe", t.take_lease(),
            [N("record_ignored", "issuer_clock_unknown")])
    t.on_lease(L(T0 + 92), 1, READ)
    t.fleet(L(T0 + 94), "fleet_on_record", fetch(1),
            [N("record_ignored", "issuer_clock_unknown")], value=encode(rec))
    sent, recv = L(T0 + 94), L(T0 + 294)
    server = T0 + 194
    i = floor_s(server)
    tok1 = jwt("k1", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t1", sent, body(tok1, 120), {"token": "k1"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss = Est()
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 120_000, i + 100_000)
    assert (dl, slack) == (i + 100_000, 0)
    now = L(T0 + 295)
    ttl = publish_ttl(dl, slack, now, iss.at(now))
    t.fleet(now, "fleet_on_fetched",
            t.publish(1, ttl, "tcr2.", record_fields(tok1, dl, slack, i + 100_000, i, i, 1)),
            ok=True, nonce="00" * 12)
    t.fleet(L(T0 + 297), "fleet_on_published", A("done", outcome="published"), written=True)
    t.authorize(L(T0 + 298), "ready", token="k1")
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 1}))

    # --- older record, own record: lease, fetch, publish ----------------------------------------
    t = F("fleet-older-then-own-record-fetch-publish",
          "At the refresh time the store holds an older token (an earlier deadline than ours): "
          "not adopted, the lease is taken (fencing 7). The re-read finds our own token's record "
          "(same token id: not newer): fetch under the lease, then publish k2 with its "
          "issuer-clock deadline (low at sent + expires_in, slack high - low) and TTL.",
          config())
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    old_tok, old = peer_record("k0", T0 - 10_000, deadline=own[0] - 10_000)
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=encode(old))
    t.on_lease(adv(now, 4), 7, READ)
    mine = record_fields(tok1, own[0], own[1], lt["exp"], floor_s(T0 + 100),
                         floor_s(T0 + 100), 3)
    t.fleet(adv(now, 6), "fleet_on_record", fetch(7), value=encode(mine))
    sent, recv = adv(now, 6), adv(now, 156)
    server = sent["wall_ms"] + 75
    i = floor_s(server)
    tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
    now = adv(recv, 1)
    ttl = publish_ttl(dl, slack, now, iss.at(now))
    t.fleet(now, "fleet_on_fetched",
            t.publish(7, ttl, "tcr2.", record_fields(tok2, dl, slack, i + 100_000, i, i, 7)),
            ok=True, nonce="01" * 12)
    t.fleet(adv(now, 2), "fleet_on_published", A("done", outcome="published"), written=True)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- lease taken, peer published meanwhile: adopt and release -------------------------------
    t = F("fleet-lease-then-peer-record-adopt-release",
          "Nothing in the store, the lease is ours (fencing 3); the re-read finds a peer's newer "
          "record (published between our read and our lease): adopt it, release the lease "
          "(its value: the one taken), done adopted. No token request.",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=None)
    t.on_lease(adv(now, 4), 3, READ)
    tok2, rec2 = peer_record("k2", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 6), "fleet_on_record", t.release(3), value=encode(rec2))
    t.fleet(adv(now, 8), "fleet_on_released", A("done", outcome="adopted", token="k2"))
    t.authorize(adv(now, 9), "ready", token="k2")
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1}))

    # --- lease busy: wait, peer publishes: adopt ------------------------------------------------
    t = F("fleet-lease-busy-wait-then-adopt",
          "A peer holds the lease: wait poll_ms (50) from the busy answer (note waiting_for_peer, "
          "once), read again (nothing yet), lease still busy: wait again (the second attempt's "
          "lease value ends in '.2'); the next read finds the peer's record: adopted.",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=None)
    t.on_lease(adv(now, 4), None, A("wait", until=adv(now, 54)), [N("waiting_for_peer")])
    t.fleet(adv(now, 54), "fleet_on_wake", READ)
    t.fleet(adv(now, 56), "fleet_on_record", t.take_lease(), value=None)
    t.on_lease(adv(now, 58), None, A("wait", until=adv(now, 108)))
    t.fleet(adv(now, 108), "fleet_on_wake", READ)
    tok2, rec2 = peer_record("k2", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 110), "fleet_on_record", A("done", outcome="adopted", token="k2"),
            value=encode(rec2))
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1}))

    # --- waited max_wait: fetch without the lease -----------------------------------------------
    t = F("fleet-wait-exceeds-max-wait",
          "lease 1 s, poll 400 ms, max_wait 1 s. Busy at +4 (waiting from +4): wait to +404; busy "
          "at +410 (waited 406): wait min(400, 594) to +810; busy at +816 (waited 812): wait "
          "min(400, 188) to +1004; busy at +1006 (waited 1002 >= 1000): gave_up_waiting, fetch "
          "without the lease, and the token is not published. Four attempts: lease values .1 "
          "to .4.",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2", fleet={"lease_ms": 1_000, "poll_ms": 400, "max_wait_ms": 1_000})
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(1_000), value=None)
    t.on_lease(adv(now, 4), None, A("wait", until=adv(now, 404)), [N("waiting_for_peer")])
    for wake, lease, until in ((404, 410, 810), (810, 816, 1_004)):
        t.fleet(adv(now, wake), "fleet_on_wake", READ)
        t.fleet(adv(now, wake + 2), "fleet_on_record", t.take_lease(1_000), value=None)
        t.on_lease(adv(now, lease), None, A("wait", until=adv(now, until)))
    t.fleet(adv(now, 1_004), "fleet_on_wake", READ)
    t.fleet(adv(now, 1_005), "fleet_on_record", t.take_lease(1_000), value=None)
    t.on_lease(adv(now, 1_006), None, fetch(None), [N("gave_up_waiting")])
    sent, recv = adv(now, 1_006), adv(now, 1_206)
    i = floor_s(sent["wall_ms"])
    tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"})
    t.fleet(adv(recv, 1), "fleet_on_fetched", A("done", outcome="fetched"), ok=True,
            nonce="02" * 12)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- store errors -----------------------------------------------------------------------
    for where, comment in (
            ("read", "The first read fails: fetch without the lease, nothing published."),
            ("lease", "Taking the lease fails: fetch without the lease."),
            ("reread", "The re-read under our lease fails: fetch without it (the lease lapses by "
                       "itself), nothing published."),
            ("publish", "Publishing fails: the token is ours alone (done fetched)."),
    ):
        t = F(f"fleet-store-error-at-{where}",
              f"{comment} Note store_unavailable; no request of a client-credentials session "
              "fails because of the store.",
              config())
        iss = Est()
        lt, _, _ = first_token_at_refresh(t, iss)
        now = lt["refresh"]
        t.begin(now, "t2")
        unavailable = [N("store_unavailable")]
        fencing = None
        if where == "read":
            t.fleet(adv(now, 2), "fleet_on_store_error", fetch(None), unavailable)
        else:
            t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=None)
            if where == "lease":
                t.fleet(adv(now, 4), "fleet_on_store_error", fetch(None), unavailable)
            else:
                t.on_lease(adv(now, 4), 5, READ)
                if where == "reread":
                    t.fleet(adv(now, 6), "fleet_on_store_error", fetch(None), unavailable)
                else:
                    t.fleet(adv(now, 6), "fleet_on_record", fetch(5), value=None)
                    fencing = 5
        sent, recv = adv(now, 10), adv(now, 210)
        server = sent["wall_ms"] + 100
        i = floor_s(server)
        tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
        t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"},
                   headers=JSON_HEADERS + [["Date", http_date(server)]])
        after = adv(recv, 1)
        if fencing is None:
            t.fleet(after, "fleet_on_fetched", A("done", outcome="fetched"), ok=True,
                    nonce="03" * 12)
        else:
            iss.date(i, sent, recv)
            iss.iat(i, recv)
            dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
            ttl = publish_ttl(dl, slack, after, iss.at(after))
            t.fleet(after, "fleet_on_fetched",
                    t.publish(5, ttl, "tcr2.",
                              record_fields(tok2, dl, slack, i + 100_000, i, i, 5)),
                    ok=True, nonce="03" * 12)
            t.fleet(adv(after, 2), "fleet_on_store_error", A("done", outcome="fetched"),
                    unavailable)
        t.authorize(adv(after, 3), "ready", token="k2")
        CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- fetch failure: release -------------------------------------------------------------
    for release_fails in (False, True):
        t = F("fleet-fetch-failed-release" + ("-store-error" if release_fails else ""),
              "The token request under the lease fails (503): the lease is released for the next "
              "process and the refresh ends fetch_failed (the session backs off)."
              + (" The release itself fails: still fetch_failed, note store_unavailable (the "
                 "lease lapses by itself)." if release_fails else ""),
              config())
        iss = Est()
        lt, _, _ = first_token_at_refresh(t, iss)
        now = lt["refresh"]
        t.begin(now, "t2")
        t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=None)
        t.on_lease(adv(now, 4), 9, READ)
        t.fleet(adv(now, 6), "fleet_on_record", fetch(9), value=None)
        t._step(adv(now, 206), "complete_refresh", {"error": "temporarily_unavailable"},
                ticket="t2", status=503, headers=JSON_HEADERS,
                body='{"error":"temporarily_unavailable"}', sent=adv(now, 6))
        t.fleet(adv(now, 207), "fleet_on_fetched", t.release(9), ok=False, nonce="04" * 12)
        if release_fails:
            t.fleet(adv(now, 209), "fleet_on_store_error", A("done", outcome="fetch_failed"),
                    [N("store_unavailable")])
        else:
            t.fleet(adv(now, 209), "fleet_on_released", A("done", outcome="fetch_failed"))
        t.authorize(adv(now, 210), "ready", token="k1")
        CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    # --- damaged and foreign records ----------------------------------------------------------
    t = F("fleet-damaged-records-ignored",
          "A new session that knows the issuer's clock (one Date probe) and holds no token: every "
          "value read is ignored with its code and never adopted; between reads the lease is "
          "busy and the session waits 50 ms (each read is a new attempt: lease values .1, .2, "
          "...). Codes: truncated (record_checksum), a flipped payload character "
          "(record_checksum), prefix tcr1 (record_version), valid checksums over JSON with v 1 "
          "and v 3 (record_version), not a record (record_malformed), a negative deadline "
          "(record_out_of_range), a sealed value without a key (record_encrypted), access tokens "
          "that could not go into a header - a space, CR LF, DEL, a non-ASCII letter, empty - "
          "(record_malformed), an identity in upper-case hex (record_malformed), a refresh token "
          "with a line feed (record_malformed), the identities of another token endpoint and of "
          "another scope (record_identity_mismatch, refused by the session), a record already "
          "past hard expiry here (expired_on_arrival).",
          config())
    t.issuer_date(L(T0 + 100), L(T0), T0 + 50)
    iss = Est()
    iss.date(T0, L(T0), L(T0 + 100))
    t.authorize(L(T0 + 200), "refresh", ticket="t1", reason="initial")
    t.begin(L(T0 + 200), "t1")
    tok, good_fields = peer_record("kx", T0)
    good = encode(good_fields)
    flipped = bytearray(good.encode())
    flipped[45] = ord("B") if flipped[45] == ord("A") else ord("A")
    neg = dict(good_fields, deadline_ms=-5)
    neg["exp_ms"] = None
    expired = peer_record("ky", T0 - 200_000)[1]

    def bad_token(token):
        return encode(dict(good_fields, access_token=token, token_id=token_id(token)))

    other_url = config(token_url="https://other.example/token")
    other_scope = config(grant=dict(CC, scope="admin"))
    for other in (other_url, other_scope):
        assert identity(other) != BASE_ID
    values = [
        (good[:-5], "record_checksum"),
        (flipped.decode(), "record_checksum"),
        ("tcr1." + good[5:], "record_version"),
        (encode_json('{"v":1,"token_id":"00","access_token":"x"}'), "record_version"),
        (encode(dict(good_fields, v=3)), "record_version"),
        ("not a record", "record_malformed"),
        (encode(neg), "record_out_of_range"),
        ("tce1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "record_encrypted"),
        (bad_token(tok[:20] + " " + tok[20:]), "record_malformed"),
        (bad_token(tok + "\r\nX-Injected: 1"), "record_malformed"),
        (bad_token(tok + "\x7f"), "record_malformed"),
        (bad_token(tok + "\u00e9"), "record_malformed"),
        (bad_token(""), "record_malformed"),
        (encode(dict(good_fields, identity=BASE_ID.upper())), "record_malformed"),
        (encode(dict(good_fields, refresh_token="rt\n2")), "record_malformed"),
        (encode(dict(good_fields, identity=identity(other_url))), "record_identity_mismatch"),
        (encode(dict(good_fields, identity=identity(other_scope))), "record_identity_mismatch"),
        (encode(expired), "expired_on_arrival"),
    ]
    at = 202
    for n, (value, code) in enumerate(values):
        t.fleet(L(T0 + at), "fleet_on_record", t.take_lease(), [N("record_ignored", code)],
                value=value)
        t.on_lease(L(T0 + at + 2), None, A("wait", until=L(T0 + at + 52)),
                   [N("waiting_for_peer")] if n == 0 else [])
        t.fleet(L(T0 + at + 52), "fleet_on_wake", READ)
        at += 52
    t.authorize(L(T0 + at), "wait", wait_reason="refresh_in_flight")
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0}))

    # --- sealed records: not-encrypted, undecryptable, publish sealed, lease lost ---------------
    t = F("fleet-sealed-records-and-lease-lost",
          "With a key (32 bytes of 0x07): a clear record is not trusted (record_not_encrypted); "
          "a record sealed with the right key under another credential's store key (moved "
          "here: the store key is the associated data) does not open (record_decrypt); the "
          "token is published sealed (tce1., AES-256-GCM with the given nonce and the store key "
          "as associated data; opened, it is the record below). The publish script refuses: "
          "our lease lapsed, note lease_lost, done fetched.",
          config(), flags=["encrypt"])
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2", key=KEY_HEX)
    tok2, rec2 = peer_record("k9", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(),
            [N("record_ignored", "record_not_encrypted")], value=encode(rec2))
    t.on_lease(adv(now, 4), 2, READ)
    elsewhere = store_keys(config(grant=dict(CC, scope="api.write")), True)["record"]
    assert elsewhere != STORE_KEY
    t.fleet(adv(now, 6), "fleet_on_record", fetch(2), [N("record_ignored", "record_decrypt")],
            value=seal(encode(rec2), KEY_HEX, elsewhere, "09" * 12))
    sent, recv = adv(now, 6), adv(now, 206)
    server = sent["wall_ms"] + 100
    i = floor_s(server)
    tok3 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok3, 100), {"token": "k2"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
    after = adv(recv, 1)
    ttl = publish_ttl(dl, slack, after, iss.at(after))
    t.fleet(after, "fleet_on_fetched",
            t.publish(2, ttl, "tce1.", record_fields(tok3, dl, slack, i + 100_000, i, i, 2)),
            ok=True, nonce="0a" * 12)
    t.fleet(adv(after, 2), "fleet_on_published", A("done", outcome="fetched"),
            [N("lease_lost")], written=False)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- the ticket timed out while waiting: abandoned ------------------------------------------
    t = F("fleet-ticket-abandoned",
          "ticket_timeout_ms 1 s. While the refresh waits on a busy lease, the session abandons "
          "the ticket (a caller after 1 s gets a new one, t3). The next read finds a peer's "
          "record, but the refresh's ticket is stale: done abandoned, nothing adopted for t2 "
          "(the new ticket's caller runs its own refresh).",
          config(ticket_timeout_ms=1_000))
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=None)
    t.on_lease(adv(now, 4), None, A("wait", until=adv(now, 54)), [N("waiting_for_peer")])
    t.authorize(adv(now, 1_000), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    t.fleet(adv(now, 1_001), "fleet_on_wake", READ)
    tok2, rec2 = peer_record("k2", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 1_003), "fleet_on_record", A("done", outcome="abandoned"),
            value=encode(rec2))
    CASES.append(t.done(stats={"abandoned_tickets": 1}))

    # --- unexpected inputs and configuration errors ---------------------------------------------
    t = F("fleet-unexpected-input",
          "An answer to another action than the current one is refused with "
          "fleet_unexpected_input and changes nothing; a store error is an answer only to a "
          "store operation; out-of-range fleet settings are invalid_config.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.begin(L(T0), "t1", fleet={"poll_ms": 1}, error="invalid_config")
    t.begin(L(T0), "t1", fleet={"lease_ms": 50}, error="invalid_config")
    t.begin(L(T0), "t1", fleet={"poll_ms": 20_000, "lease_ms": 10_000}, error="invalid_config")
    t.begin(L(T0), "t1", fleet={"max_wait_ms": 3_600_001}, error="invalid_config")
    t.begin(L(T0), "t1")
    t.fleet(L(T0 + 1), "fleet_on_lease", error="fleet_unexpected_input", fencing=1)
    t.fleet(L(T0 + 1), "fleet_on_wake", error="fleet_unexpected_input")
    t.fleet(L(T0 + 1), "fleet_on_probe", error="fleet_unexpected_input")
    t.fleet(L(T0 + 1), "fleet_on_published", error="fleet_unexpected_input", written=True)
    t.fleet(L(T0 + 1), "fleet_on_released", error="fleet_unexpected_input")
    t.fleet(L(T0 + 1), "fleet_on_fetched", error="fleet_unexpected_input", ok=True,
            nonce="00" * 12)
    t.fleet(L(T0 + 2), "fleet_on_record", t.take_lease(), value=None)
    t.fleet(L(T0 + 3), "fleet_on_record", error="fleet_unexpected_input", value=None)
    t.on_lease(L(T0 + 4), None, A("wait", until=L(T0 + 54)), [N("waiting_for_peer")])
    t.fleet(L(T0 + 5), "fleet_on_store_error", error="fleet_unexpected_input")
    t.fleet(L(T0 + 54), "fleet_on_wake", READ)
    CASES.append(t.done())

    # --- the token request's bound within the lease ------------------------------------------
    t = F("fleet-token-timeout-within-lease",
          "A refresh under a fleet bounds its token request (and issuer probe) by the session's "
          "token_timeout_ms cut to two thirds of the lease: 12 s session bound, 15 s lease → 10 s; "
          "30 s lease → 12 s (the session's own); 3 s lease → 2 s; 100 ms lease → 66 ms "
          "(rounded down). A request outliving the lease would let a peer present the same "
          "refresh token again.",
          config(token_timeout_ms=12_000))
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    for lease_ms, want in ((None, 10_000), (30_000, 12_000), (3_000, 2_000), (100, 66)):
        fleet = None if lease_ms is None else {"lease_ms": lease_ms, "poll_ms": min(50, lease_ms)}
        t.begin(L(T0), "t1", fleet=fleet)
        t._step(L(T0), "fleet_token_timeout", {"token_timeout_ms": want})
    CASES.append(t.done())

    identity_cases()
    user_delegated_cases()
    withheld_cases()


# ---------------------------------------------------------------------------------------------
# Credential identity: what shares a store key
# ---------------------------------------------------------------------------------------------

def jwt_bearer(subject):
    return {"type": "jwt_bearer", "issuer": "svc@example.com", "subject": subject,
            "audience": None, "scope": "api.read", "scope_placement": "form", "alg": "ES256",
            "kid": None, "private_key_pem": EC_KEY.read_text(), "lifetime_s": 300}


ANONYMOUS = {"method": "anonymous"}


def identity_cases():
    def differ(cid, what, cfg, other, flags=None):
        """Session `cfg` differs from `other` only in `what`: another key, and `other`'s record
        moved under our key is never adopted."""
        t = F(cid,
              f"Two sessions that differ only in {what} have different credential identities, "
              "so different store keys (store_keys: the record key is the identity's hex in a "
              "hash tag, the lease and fence keys follow it). A record of the other session "
              "moved under our key is refused by its identity before anything else "
              "(record_identity_mismatch, also under the lease: not adopted, the session "
              "fetches itself).",
              cfg, flags=flags)
        mine, theirs = store_keys(cfg, False), store_keys(other, False)
        assert mine["record"] != theirs["record"], cid
        t.store_keys(L(T0), False)
        t.issuer_date(L(T0 + 100), L(T0), T0 + 50)
        t.authorize(L(T0 + 200), "refresh", ticket="t1", reason="initial")
        t.begin(L(T0 + 200), "t1")
        _, rec = peer_record("ka", T0, ident=identity(other))
        mismatch = [N("record_ignored", "record_identity_mismatch")]
        t.fleet(L(T0 + 202), "fleet_on_record", t.take_lease(), mismatch, value=encode(rec))
        t.on_lease(L(T0 + 204), 1, READ)
        t.fleet(L(T0 + 206), "fleet_on_record", fetch(1), mismatch, value=encode(rec))
        CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0}))

    def share(cid, what, cfg, other):
        """Session `cfg` is the same credential as `other`: same key, and `other`'s record is
        adopted."""
        t = F(cid,
              f"Two sessions that differ only in {what} are the same credential: the same "
              "store key, and the other session's record is adopted (no token request).",
              cfg)
        assert store_keys(cfg, False) == store_keys(other, False), cid
        t.store_keys(L(T0), False)
        t.issuer_date(L(T0 + 100), L(T0), T0 + 50)
        iss = Est()
        iss.date(T0, L(T0), L(T0 + 100))
        t.authorize(L(T0 + 200), "refresh", ticket="t1", reason="initial")
        t.begin(L(T0 + 200), "t1")
        _, rec = peer_record("ka", T0, ident=identity(other))
        now = L(T0 + 202)
        lt = adopted_lifetime(rec, now, iss.at(now))
        t.fleet(now, "fleet_on_record", A("done", outcome="adopted", token="ka"),
                value=encode(rec))
        t.authorize(L(T0 + 203), "ready", token="ka")
        at = L(T0 + 204)
        t.next_timeout(at, adv(at, next_change(lt, at, iss.at(at))))
        CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0}))

    cc = lambda **g: config(grant=dict(CC, **g))  # noqa: E731
    differ("fleet-identity-extra-parameter-value", "the value of an extra form parameter "
           "(resource https://api-b.example vs https://api-a.example)",
           cc(extra=[["resource", "https://api-b.example"]]),
           cc(extra=[["resource", "https://api-a.example"]]))
    differ("fleet-identity-partition", "the partition (tenant-2 vs none)",
           config(partition="tenant-2"), config())
    differ("fleet-identity-scope", "the scope (api.write vs api.read)",
           cc(scope="api.write"), cc(scope="api.read"))
    differ("fleet-identity-client-auth-method",
           "the client authentication method (client_secret_post vs client_secret_basic)",
           config(auth=POST), config(auth=BASIC))
    differ("fleet-identity-jwt-bearer-subject",
           "the JWT bearer grant's subject (bob@example.com vs alice@example.com)",
           config(grant=jwt_bearer("bob@example.com"), auth=ANONYMOUS),
           config(grant=jwt_bearer("alice@example.com"), auth=ANONYMOUS), flags=["sign"])
    share("fleet-identity-client-secret-only-shares", "the client secret",
          config(auth=dict(BASIC, client_secret="another-s3cret")), config())
    share("fleet-identity-normalised-scope-and-parameters-share",
          "how the scope and the extra parameters are written (scope tokens reordered and "
          "repeated; parameters reordered, one pair repeated)",
          cc(scope="api.write api.read api.write",
             extra=[["resource", "https://r1.example"], ["audience", "https://api.example"],
                    ["resource", "https://r1.example"]]),
          cc(scope="api.read api.write",
             extra=[["audience", "https://api.example"], ["resource", "https://r1.example"]]))


# ---------------------------------------------------------------------------------------------
# User-delegated grants: partitions, sealing, the fleet's refresh token
# ---------------------------------------------------------------------------------------------

RT_GRANT = {"type": "refresh_token", "refresh_token": "rt-1"}


def rt_config(**kw):
    return config(grant=RT_GRANT, auth=PUBLIC, partition="alice", **kw)


def user_delegated_cases():
    t = F("fleet-store-keys-refresh-token-partition-required",
          "A refresh-token session without a partition works on its own, but has no store "
          "keys: whose token it is is unknown (partition_required, sealed or not).",
          config(grant=RT_GRANT, auth=PUBLIC))
    t.store_keys(L(T0), True)
    t.store_keys(L(T0), False)
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial", request=rt_request("rt-1"))
    CASES.append(t.done(stats={"token_requests": 1}))

    t = F("fleet-store-keys-authorization-code-partition-required",
          "An authorization-code session without a partition has no store keys either "
          "(partition_required).",
          config(grant={"type": "authorization_code", "code": "code-123",
                        "redirect_uri": "https://app.example/cb",
                        "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
                 auth=PUBLIC))
    t.store_keys(L(T0), True)
    CASES.append(t.done())

    t = F("fleet-store-keys-refresh-token-encryption-required",
          "With a partition, a refresh-token session's records would carry its refresh token: "
          "a store that does not seal them is refused (encryption_required); a sealing store "
          "gets the keys of the identity (grant, URL, client, partition; never the refresh "
          "token).",
          rt_config())
    t.store_keys(L(T0), False)
    t.store_keys(L(T0), True)
    CASES.append(t.done())

    for cid, partition in (("fleet-invalid-partition-empty", ""),
                           ("fleet-invalid-partition-control-character", "alice\nbob")):
        t = F(cid, f"partition {partition!r}: the session is not created (invalid_partition).",
              config(partition=partition), flags=["config"])
        CASES.append(t.done(error="invalid_partition"))

    # --- a record's newer refresh token under the lease -----------------------------------------
    cfg = rt_config()
    alice = identity(cfg)
    t = F("fleet-refresh-token-adopted-under-lease",
          "A refresh-token session (partition alice, sealed store) holds k1 and rt-2 (rt-1 "
          "rotated at the first exchange). At its refresh time the store holds a peer's older "
          "token k0 with a newer refresh token rt-3 (a peer rotated it): not adopted, and "
          "outside the lease its refresh token is not taken. Under the lease the re-read finds "
          "it again: rt-3 replaces rt-2 (refresh_token_adopted) and the fetch carries the "
          "ticket's request rebuilt with rt-3. The token endpoint answers k2 and rt-4: the "
          "published record carries rt-4 and lives 30 days (refresh_record_ttl_ms); the next "
          "refresh presents rt-4.",
          cfg, flags=["encrypt"])
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss, refresh_token="rt-2",
                                           request=rt_request("rt-1"),
                                           next_request=rt_request("rt-2"))
    now = lt["refresh"]
    skey = t.begin(now, "t2", key=KEY_HEX)
    _, old = peer_record("k0", T0 - 10_000, deadline=own[0] - 10_000, ident=alice,
                         refresh_token="rt-3", fencing=6)
    value = seal(encode(old), KEY_HEX, skey, "0b" * 12)
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=value)
    t.on_lease(adv(now, 4), 11, READ)
    t.fleet(adv(now, 6), "fleet_on_record", fetch(11, rt_request("rt-3")),
            [N("refresh_token_adopted")], value=value)
    sent, recv = adv(now, 6), adv(now, 206)
    server = sent["wall_ms"] + 100
    i = floor_s(server)
    tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok2, 100, refresh_token="rt-4"), {"token": "k2"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
    after = adv(recv, 1)
    t.fleet(after, "fleet_on_fetched",
            t.publish(11, REFRESH_RECORD_TTL_MS, "tce1.",
                      record_fields(tok2, dl, slack, i + 100_000, i, i, 11, ident=alice,
                                    refresh_token="rt-4")),
            ok=True, nonce="0c" * 12)
    t.fleet(adv(after, 2), "fleet_on_published", A("done", outcome="published"), written=True)
    t.authorize(adv(after, 3), "ready", token="k2")
    lt2 = lifetime(sent, recv, 100_000, judge(iss, Est(), recv), exp=i + 100_000, nbf=i, iat=i)
    t.authorize(lt2["refresh"], "ready_and_refresh", token="k2", ticket="t3", reason="stale",
                request=rt_request("rt-4"))
    CASES.append(t.done(stats={"token_requests": 3, "refreshes": 2}))

    # --- our own refresh token under the lease: nothing to adopt ---------------------------------
    t = F("fleet-refresh-token-current-under-lease",
          "The same session finds its own record (k1, rt-2) under the lease: not newer, and its "
          "refresh token is ours - no note, the fetch sends the ticket's own request (no "
          "rebuilt one). The token endpoint does not rotate: the session keeps rt-2, and the "
          "published record carries it.",
          cfg, flags=["encrypt"])
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss, refresh_token="rt-2",
                                           request=rt_request("rt-1"),
                                           next_request=rt_request("rt-2"))
    now = lt["refresh"]
    skey = t.begin(now, "t2", key=KEY_HEX)
    t.fleet(adv(now, 2), "fleet_on_record", t.take_lease(), value=None)
    t.on_lease(adv(now, 4), 12, READ)
    mine = record_fields(tok1, own[0], own[1], lt["exp"], floor_s(T0 + 100), floor_s(T0 + 100),
                         10, ident=alice, refresh_token="rt-2")
    t.fleet(adv(now, 6), "fleet_on_record", fetch(12, None),
            value=seal(encode(mine), KEY_HEX, skey, "0e" * 12))
    sent, recv = adv(now, 6), adv(now, 206)
    server = sent["wall_ms"] + 100
    i = floor_s(server)
    tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
    after = adv(recv, 1)
    t.fleet(after, "fleet_on_fetched",
            t.publish(12, REFRESH_RECORD_TTL_MS, "tce1.",
                      record_fields(tok2, dl, slack, i + 100_000, i, i, 12, ident=alice,
                                    refresh_token="rt-2")),
            ok=True, nonce="0f" * 12)
    t.fleet(adv(after, 2), "fleet_on_published", A("done", outcome="published"), written=True)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- a newer record: adopted with its refresh token -----------------------------------------
    t = F("fleet-refresh-token-record-adopted",
          "A refresh-token session holding k1 and rt-2 reads a peer's newer sealed record (k2, "
          "rt-3): adopted at once, outside the lease, with its refresh token - the next refresh "
          "presents rt-3.",
          cfg, flags=["encrypt"])
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss, refresh_token="rt-2",
                                           request=rt_request("rt-1"),
                                           next_request=rt_request("rt-2"))
    now = lt["refresh"]
    skey = t.begin(now, "t2", key=KEY_HEX)
    _, rec2 = peer_record("k2", T0 + 70_000, ident=alice, refresh_token="rt-3", fencing=4)
    now = adv(now, 3)
    lt2 = adopted_lifetime(rec2, now, iss.at(now))
    t.fleet(now, "fleet_on_record", A("done", outcome="adopted", token="k2"),
            value=seal(encode(rec2), KEY_HEX, skey, "0d" * 12))
    t.authorize(adv(now, 1), "ready", token="k2")
    t.authorize(lt2["refresh"], "ready_and_refresh", token="k2", ticket="t3", reason="stale",
                request=rt_request("rt-3"))
    CASES.append(t.done(stats={"token_requests": 3, "refreshes": 1}))

    # --- store errors fail the refresh -----------------------------------------------------------
    t = F("fleet-refresh-token-store-error-fails-refresh",
          "A refresh-token session never presents its refresh token outside the lease (a peer "
          "may present the same one: reuse detection would revoke the family). The first read "
          "fails: store_unavailable, and the refresh fails as a transient transport failure "
          "(store_unavailable), no token request. Backoff base 60 s: the failure's backoff "
          "ends within [0, 60 s] (full jitter); with max_wait 0 a caller at that instant gets "
          "the failure itself (store_unavailable).",
          rt_config(policy=dict(POLICY, max_wait_ms=0), backoff={"base_ms": 60_000}),
          flags=["encrypt"])
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial", request=rt_request("rt-1"))
    t.begin(L(T0), "t1", key=KEY_HEX)
    t.fleet(L(T0 + 2), "fleet_on_store_error", A("done", outcome="fetch_failed"),
            [N("store_unavailable"), N("store_required")])
    t.authorize(L(T0 + 2), "failed", error="store_unavailable", failure="store_unavailable")
    t.next_timeout_range(L(T0 + 2), T0 + 2, T0 + 2 + 60_000)
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0, "failures": 1}))

    t = F("fleet-refresh-token-gave-up-waiting-fails-refresh",
          "max_wait_ms 0: the first busy answer gives up at once (waiting_for_peer, "
          "gave_up_waiting); a refresh-token session does not fetch without the lease: the "
          "refresh fails (store_unavailable), and a caller waits out the backoff (at most 1 s, "
          "within max_wait 2 s).",
          rt_config(), flags=["encrypt"])
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial", request=rt_request("rt-1"))
    t.begin(L(T0), "t1", key=KEY_HEX, fleet={"max_wait_ms": 0})
    t.fleet(L(T0 + 2), "fleet_on_record", t.take_lease(), value=None)
    t.on_lease(L(T0 + 4), None, A("done", outcome="fetch_failed"),
               [N("waiting_for_peer"), N("gave_up_waiting"), N("store_required")])
    t.authorize(L(T0 + 4), "wait", wait_reason="backoff")
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0, "failures": 1}))


# ---------------------------------------------------------------------------------------------
# Deadlines nothing bounds on the issuer's clock
# ---------------------------------------------------------------------------------------------

def withheld_cases():
    def fetch_under_lease(t, fencing):
        t.authorize(L(T0), "refresh", ticket="t1", reason="initial",
                    **({"request": rt_request("rt-1")} if user_delegated(t.cfg) else {}))
        t.begin(L(T0), "t1", key=KEY_HEX if user_delegated(t.cfg) else None)
        t.fleet(L(T0 + 2), "fleet_on_record", t.take_lease(), value=None)
        t.on_lease(L(T0 + 4), fencing, READ)
        t.fleet(L(T0 + 6), "fleet_on_record", fetch(fencing), value=None)
        return L(T0 + 6), L(T0 + 206)

    t = F("fleet-record-withheld-issuer-offset-unknown",
          "An opaque access token (no exp, no iat) from a token endpoint that sends no Date: "
          "nothing bounds the issuer's offset from below, so the token's deadline cannot be "
          "stated on the issuer's clock (a guess could outlive the token). It is not published "
          "(record_withheld): the lease is released, done fetched; the session uses the token.",
          config())
    sent, recv = fetch_under_lease(t, 1)
    t.complete(recv, "t1", sent, body("opaque-access-token-1", 100), {"token": "k1"})
    assert issuer_deadline(Est().at(recv), sent, recv, 100_000, None) is None
    t.fleet(L(T0 + 207), "fleet_on_fetched", t.release(1), [N("record_withheld")], ok=True,
            nonce="05" * 12)
    t.fleet(L(T0 + 209), "fleet_on_released", A("done", outcome="fetched"))
    t.authorize(L(T0 + 210), "ready", token="k1")
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 1}))

    t = F("fleet-exp-without-issuer-offset-published",
          "A JWT with exp but no iat, from a token endpoint that sends no Date: no lower bound "
          "on the issuer's offset, but exp is on the issuer's clock: the deadline is exp "
          "(slack 0) and the token is published; TTL from the best offset estimate (0 without "
          "samples).",
          config())
    sent, recv = fetch_under_lease(t, 2)
    exp = floor_s(T0) + 100_000
    tok = jwt("k1", exp=exp)
    t.complete(recv, "t1", sent, body(tok, 100), {"token": "k1"})
    iss = Est()
    assert issuer_deadline(iss.at(recv), sent, recv, 100_000, exp) == (exp, 0)
    now = L(T0 + 207)
    t.fleet(now, "fleet_on_fetched",
            t.publish(2, publish_ttl(exp, 0, now, iss.at(now)), "tcr2.",
                      record_fields(tok, exp, 0, exp, None, None, 2)),
            ok=True, nonce="06" * 12)
    t.fleet(L(T0 + 209), "fleet_on_published", A("done", outcome="published"), written=True)
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 1}))

    cfg = rt_config()
    t = F("fleet-refresh-token-record-without-deadline",
          "The same opaque token for a refresh-token session: its refresh token (rt-2, "
          "rotated) must reach the fleet all the same, so the record is published with deadline "
          "0 and slack 0 (every reader finds the access token expired and takes only the "
          "refresh token), sealed, for refresh_record_ttl_ms (30 days).",
          cfg, flags=["encrypt"])
    sent, recv = fetch_under_lease(t, 3)
    t.complete(recv, "t1", sent, body("opaque-access-token-1", 100, refresh_token="rt-2"),
               {"token": "k1"})
    t.fleet(L(T0 + 207), "fleet_on_fetched",
            t.publish(3, REFRESH_RECORD_TTL_MS, "tce1.",
                      record_fields("opaque-access-token-1", 0, 0, None, None, None, 3,
                                    ident=identity(cfg), refresh_token="rt-2")),
            ok=True, nonce="07" * 12)
    t.fleet(L(T0 + 209), "fleet_on_published", A("done", outcome="published"), written=True)
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 1}))


def main():
    cases()
    ids = set()
    for c in CASES:
        assert c["id"] not in ids, c["id"]
        ids.add(c["id"])
    doc = {"suite": "session",
           "description": "Fleet refresh transcripts (FleetRefresh driving a Session): adopt a "
                          "peer's record, probe the issuer's clock, lease / re-read / fetch / "
                          "publish with per-attempt lease values, wait for a peer, give up "
                          "waiting, store errors, failed fetches, damaged and foreign records, "
                          "sealed records and a lost lease, an abandoned ticket, unexpected "
                          "inputs; credential identities and store keys; user-delegated grants "
                          "(partition and sealing required, the fleet's refresh token adopted "
                          "under the lease, store errors failing the refresh); deadlines nothing "
                          "bounds on the issuer's clock (record withheld).",
           "cases": CASES}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"fleet.json: {len(CASES)} cases")


if __name__ == "__main__":
    main()
