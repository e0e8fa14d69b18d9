"""Replays the fuzz drivers' op traces through the Python binding.

``tests/vectors/fuzz-replay/<target>.json`` (written by ``core/tests/fuzz_replay.rs``,
``op_traces_are_current``; format in ``fuzz/README.md``) holds, for every committed seed of
``fuzz/seeds/<target>/`` and every regression case of the targets ``skew``, ``session``,
``verify`` and ``jwks``, the concrete calls the Rust driver made and core's outcome for each.
Here every call is made through the public binding and must give the same outcome; on top:

* only ``TokenClockError`` subclasses (or ``ValueError``) ever come out — a ``PanicException``
  (a ``BaseException``) fails the test — and the module still answers after every trace;
* session: at most one outstanding ticket (a new one only after the previous closed or timed
  out), a stale ticket is ``stale_ticket`` and changes nothing, a token is never handed out at
  or after its hard expiry (judged like the driver does);
* skew, honest worlds: every estimate's interval contains the true offset.

Where the binding cannot express a call exactly (a reading or a number it refuses, a core-only
call), what it does is checked instead: a refusal must be a
typed error, and a trace whose state has left core's stops comparing values (only the
invariants) from there; every such case is counted and printed by
``test_report_what_the_binding_could_not_express``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import tokenclock

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "tests" / "vectors" / "fuzz-replay"
TARGETS = ["skew", "session", "verify", "jwks"]
TYPED = (tokenclock.TokenClockError, ValueError)
NOT_EXPRESSED: List[str] = []


def load(target: str) -> Dict[str, Any]:
    doc: Dict[str, Any] = json.loads((TRACES / f"{target}.json").read_text(encoding="utf-8"))
    assert doc["suite"] == "fuzz-replay" and doc["target"] == target and doc["cases"]
    return doc


def clean(e: BaseException) -> Optional[str]:
    """A typed error's code (None for a plain ValueError); fails on anything else."""
    assert isinstance(e, TYPED), f"{type(e).__mro__}: {e}"
    if isinstance(e, tokenclock.TokenClockError):
        assert isinstance(e.code, str) and re.fullmatch(r"[a-z0-9_]+", e.code), e.code
        assert e.code != "internal_error", str(e)
        return e.code
    return None


def call(f: Callable[[], Any]) -> Tuple[Any, Optional[BaseException]]:
    try:
        return f(), None
    except TYPED as e:
        clean(e)
        return None, e


def ms(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else round(seconds * 1000)


def same_ms(want: Optional[int], got_s: Optional[float]) -> bool:
    """Core's i64 ms against the binding's float seconds (exact where a double is)."""
    if want is None or got_s is None:
        return want is None and got_s is None
    if abs(want) < 2**50:
        return ms(got_s) == want
    return abs(got_s * 1000 - want) <= abs(want) * 1e-12


def reading(v: Dict[str, int]) -> tokenclock.Reading:
    """The binding's reading for core's; raises a typed error when it cannot be made exactly."""
    r = tokenclock.Reading(v["wall_ms"] / 1000, v["mono_ms"] / 1000)
    if ms(r.wall) != v["wall_ms"] or ms(r.mono) != v["mono_ms"]:
        raise ValueError(f"reading {v} is not exact in float seconds")
    return r


def reading_json(r: Optional[tokenclock.Reading]) -> Optional[Dict[str, Optional[int]]]:
    return None if r is None else {"wall_ms": ms(r.wall), "mono_ms": ms(r.mono)}


def module_still_answers() -> None:
    assert tokenclock.parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777.0
    assert tokenclock.peek("eyJhbGciOiJub25lIn0.e30.")["alg"] == "none"


def cases(target: str) -> List[Any]:
    return [pytest.param(c, id=c["id"]) for c in load(target)["cases"]] if (TRACES / f"{target}.json").exists() else []


# ----- session ----------------------------------------------------------------------------------


def session_from(s: Dict[str, Any]) -> tokenclock.Session:
    g, a = s["grant"], s["auth"]
    url = s["token_url"]
    secret = dict(client_secret=a.get("client_secret"), auth_method=a["method"])
    if g["type"] == "client_credentials":
        grant = tokenclock.client_credentials(url, a["client_id"], scope=g["scope"], **secret)
    elif g["type"] == "refresh_token":
        grant = tokenclock.refresh_token_grant(url, a["client_id"], g["refresh_token"], **secret)
    elif g["type"] == "authorization_code":
        grant = tokenclock.authorization_code_grant(
            url, a["client_id"], g["code"], g["redirect_uri"], g["code_verifier"], **secret
        )
    else:
        assert g["type"] == "jwt_bearer" and a["method"] == "none"
        pem = (REPO / g["private_key_file"]).read_text()
        grant = tokenclock.jwt_bearer_grant(url, g["issuer"], pem, algorithm=g["alg"], key_id=g["kid"])
    kw: Dict[str, Any] = {"seed": int(s["seed"])}
    if s["refresh_window"] is not None:
        kw["refresh_window"] = tuple(s["refresh_window"])
    if s["margin_ms"] is not None:
        kw["margin"] = s["margin_ms"] / 1000
    return tokenclock.Session(grant, **kw)


TICKET_TIMEOUT_MS = 60_000  # the driver keeps SessionConfig's default


class SessionReplay:
    def __init__(self, cid: str, session: tokenclock.Session) -> None:
        self.cid = cid
        self.s = session
        self.live: Optional[Tuple[int, int]] = None  # ticket id, issuing monotonic ms

    def snapshot(self) -> Any:
        cur = self.s.current_token()
        return (self.s.stats(), cur[0] if cur else None, self.s.refresh_in_flight)

    def authorize(self, op: Dict[str, Any], exp: Dict[str, Any]) -> None:
        r, err = call(lambda: reading(op["at"]))
        if err is not None:
            # A reading the binding refuses: core must have refused it too (and changed nothing).
            assert exp["kind"] == "failed", f"binding refused {op['at']}, core answered {exp}"
            assert self.s.refresh_in_flight == exp["in_flight"]
            NOT_EXPRESSED.append(f"{self.cid}: authorize at {op['at']} refused ({clean(err)})")
            return
        before_in_flight = self.s.refresh_in_flight
        a = self.s.authorize(r)
        got: Dict[str, Any] = {"kind": a.kind, "in_flight": self.s.refresh_in_flight}
        if a.token_id is not None:
            got["token"] = a.token_id
        if a.ticket is not None:
            got["ticket"] = a.ticket.id
        if a.kind == "wait":
            got["until"] = reading_json(a.until)
        if a.kind == "failed":
            got["error"] = clean(a.error)
        assert got == exp, f"authorize at {op['at']}: {got} != core's {exp}"
        if a.ticket is not None:
            # Single flight: a second ticket only once the first timed out (by this reading).
            if before_in_flight:
                assert self.live is not None and op["at"]["mono_ms"] - self.live[1] >= TICKET_TIMEOUT_MS, (
                    f"second outstanding ticket {a.ticket.id} while {self.live} is live"
                )
            self.live = (a.ticket.id, op["at"]["mono_ms"])
        if a.token_id is not None:
            cur = self.s.current_token()
            if cur is not None and cur[0] == a.token_id:
                issuer, resource = self.s.estimates(r)
                judge = resource if resource.samples > 0 else issuer
                left = cur[1].until_hard_expiry(r, judge)
                assert left > 0, f"token {a.token_id} handed out {left} s into its hard expiry"

    def close(self, op: Dict[str, Any], exp: Dict[str, Any], f: Callable[[int], Any]) -> Any:
        ticket = int(op["ticket"])
        is_live = self.live is not None and self.live[0] == ticket and self.s.refresh_in_flight
        before = self.snapshot()
        got, err = call(lambda: f(ticket))
        if not is_live:
            assert err is not None and clean(err) == "stale_ticket", f"ticket {ticket} not rejected as stale"
            assert isinstance(err, tokenclock.StaleTicket)
            assert self.snapshot() == before, "a stale ticket changed the session"
        if err is not None:
            assert {"error": clean(err), "in_flight": self.s.refresh_in_flight} == exp, f"{op['op']}: {err!r} != {exp}"
            return None
        return got

    def step(self, op: Dict[str, Any]) -> None:
        kind, exp = op["op"], op.get("expect")
        if kind == "authorize":
            self.authorize(op, exp)
        elif kind == "complete":
            sent, received = reading(op["sent"]), reading(op["received"])
            body = op["body"].encode("utf-8")
            tid = self.close(
                op,
                exp,
                lambda t: self.s.complete_refresh(t, op["status"], [tuple(h) for h in op["headers"]], body, sent, received),
            )
            if tid is not None:
                assert {"token": tid, "in_flight": self.s.refresh_in_flight} == exp, f"complete: {tid} != {exp}"
                assert self.s.current_token()[0] == tid  # type: ignore[index]
        elif kind == "fail":
            now = reading(op["at"])
            e = self.close(op, exp, lambda t: self.s.fail_refresh(t, op["failure"], now))
            if e is not None:
                assert {"returned": clean(e), "in_flight": self.s.refresh_in_flight} == exp
        elif kind == "response":
            sent, received = reading(op["sent"]), reading(op["received"])
            v = self.s.on_response(int(op["token"]), op["status"], [tuple(h) for h in op["headers"]], sent, received)
            got: Dict[str, Any] = {"verdict": v.kind}
            if v.kind == "retry":
                got["wait_ms"] = ms(v.wait)
            if v.kind == "fail":
                got["diagnosis"] = v.diagnosis
            assert got == exp, f"on_response: {got} != {exp}"
        elif kind == "next_timeout":
            r, err = call(lambda: reading(op["at"]))
            if err is not None:
                NOT_EXPRESSED.append(f"{self.cid}: next_timeout at {op['at']} refused ({clean(err)})")
                assert exp["at"] is None, f"binding refused {op['at']}, core answered {exp}"
                return
            assert reading_json(self.s.next_timeout(r)) == exp["at"]
        elif kind == "events":
            assert len(self.s.events()) == exp["count"]
        else:
            raise AssertionError(f"unknown session op {kind}")


@pytest.mark.parametrize("case", cases("session"))
def test_session_trace(case: Dict[str, Any]) -> None:
    ops = case["input"]["ops"]
    if not ops:
        return
    assert ops[0]["op"] == "setup"
    replay = SessionReplay(case["id"], session_from(ops[0]))
    for i, op in enumerate(ops[1:], 1):
        try:
            replay.step(op)
        except AssertionError as e:
            raise AssertionError(f"op {i} ({op['op']}): {e}") from e
    module_still_answers()


# ----- skew -------------------------------------------------------------------------------------


class SkewReplay:
    def __init__(self, cid: str, setup: Dict[str, Any]) -> None:
        self.cid = cid
        self.honest = setup["world"] == "honest"
        self.diverged: Optional[str] = None
        self.est, err = call(lambda: tokenclock.SkewEstimator(setup["drift_ppm"], setup["max_samples"]))
        if err is not None:
            self.diverge(f"SkewEstimator({setup['drift_ppm']}, {setup['max_samples']}) refused ({clean(err)})")

    def diverge(self, why: str) -> None:
        assert not self.honest, f"an honest world must replay exactly: {why}"
        if self.diverged is None:
            self.diverged = why
            NOT_EXPRESSED.append(f"{self.cid}: {why}; invariants only from here")

    def sample(self, op: Dict[str, Any], f: Callable[[], Any]) -> None:
        _, err = call(f)
        want = op["expect"].get("error")
        if self.diverged:
            return
        if err is None and want is not None:
            raise AssertionError(f"{op['op']}: core refused the sample ({want}), the binding took it")
        if err is not None and want is None:
            self.diverge(f"{op['op']} {op} refused by the binding ({clean(err)}), taken by core")
        elif err is not None and clean(err) != want:
            NOT_EXPRESSED.append(f"{self.cid}: {op['op']} refused as {clean(err)}, by core as {want}")

    def step(self, op: Dict[str, Any]) -> None:
        kind = op["op"]
        if "core_only" in op:
            self.diverge(f"{kind}: {op['core_only']}")
            return
        if self.est is None:
            return
        est = self.est
        if kind == "date":
            self.sample(op, lambda: est.add_date(op["date"], reading(op["sent"]), reading(op["received"])))
        elif kind == "iat":
            self.sample(op, lambda: est.add_iat(op["iat_ms"] / 1000, reading(op["at"])))
        elif kind == "manual":
            hi = op["high_ms"]
            self.sample(op, lambda: est.add_bounds(op["low_ms"] / 1000, None if hi is None else hi / 1000, reading(op["at"])))
        elif kind == "sntp":
            reply = {
                "offset": op["offset_us"] / 1e6,
                "delay": op["delay_us"] / 1e6,
                "stratum": op["stratum"],
                "leap": op["leap"],
                "version": op["version"],
                "server_transmit": op["server_transmit_ms"] / 1000,
            }
            self.sample(op, lambda: est.add_sntp(reply, reading(op["at"])))
        elif kind == "observe":
            got, err = call(lambda: est.observe(reading(op["at"])))
            if err is not None:
                self.diverge(f"observe at {op['at']} refused ({clean(err)})")
            elif not self.diverged:
                assert same_ms(op["expect"]["excess_ms"], got), f"observe: {got} s != {op['expect']}"
        elif kind == "probe":
            got, err = call(lambda: est.next_date_probe(reading(op["at"]), op["rtt_ms"] / 1000, op["target_ms"] / 1000))
            want = op["expect"]["wait_ms"]
            if err is not None:
                # A query: nothing changes, so the replay stays exact.
                NOT_EXPRESSED.append(f"{self.cid}: probe {op['at']} rtt {op['rtt_ms']} refused ({clean(err)})")
            elif got is not None:
                assert 0 <= got["wait"] < 1
                assert self.diverged or ms(got["wait"]) == want, f"probe wait {got} != {want}"
            else:
                assert self.diverged or want is None, f"no probe, core waits {want}"
        elif kind == "estimate":
            e, err = call(lambda: est.estimate(reading(op["at"])))
            if err is not None:
                assert not self.honest
                NOT_EXPRESSED.append(f"{self.cid}: estimate at {op['at']} refused ({clean(err)})")
                return
            if e.low is not None and e.high is not None:
                assert e.low <= e.offset <= e.high
            assert e.agreeing <= e.samples == len(est)
            if op["truth_ms"] is not None:
                t = op["truth_ms"] / 1000
                assert (e.low is None or e.low <= t) and (e.high is None or t <= e.high), f"{e!r} misses the truth {t}"
            if not self.diverged:
                x = op["expect"]
                ok = (
                    same_ms(x["offset_ms"], e.offset)
                    and same_ms(x["low_ms"], e.low)
                    and same_ms(x["high_ms"], e.high)
                    and (e.agreeing, e.samples) == (x["agreeing"], x["samples"])
                )
                assert ok, f"estimate at {op['at']}: {e!r} != core's {x}"
        elif kind == "clear":
            est.clear()
        elif kind == "resolve":
            _, err = call(lambda: est.apply_resolution(reading(op["to"]), op["explanation"]))
            if err is not None:
                self.diverge(f"resolve to {op['to']} refused ({clean(err)})")
        elif kind == "take_resolutions":
            taken = est.take_resolutions()
            if not self.diverged:
                got = [
                    {"at": reading_json(r["at"]), "wall_excess_ms": ms(r["wall_excess"]), "explanation": r["explanation"]}
                    for r in taken
                ]
                assert got == op["expect"]["resolutions"], f"take_resolutions: {got} != core's {op['expect']}"
        else:
            raise AssertionError(f"unknown skew op {kind}")


@pytest.mark.parametrize("case", cases("skew"))
def test_skew_trace(case: Dict[str, Any]) -> None:
    ops = case["input"]["ops"]
    if not ops:
        return
    assert ops[0]["op"] == "setup"
    replay = SkewReplay(case["id"], ops[0])
    for i, op in enumerate(ops[1:], 1):
        try:
            replay.step(op)
        except AssertionError as e:
            raise AssertionError(f"op {i} ({op['op']}): {e}") from e
    module_still_answers()


# ----- verify / jwks ----------------------------------------------------------------------------


def key_of(k: Dict[str, str]) -> Any:
    text = (REPO / k["file"]).read_text()
    if k["form"] == "secret_hex":
        return bytes.fromhex(text.strip())
    return text  # PEM; JWK text (through Verifier.from_jwk); the JWKS goes through from_jwks


def verified(v: Dict[str, Any]) -> Dict[str, Any]:
    return {"alg": v["alg"], "iat_ms": ms(v["iat"]), "nbf_ms": ms(v["nbf"]), "exp_ms": ms(v["exp"])}


@pytest.mark.parametrize("case", cases("verify"))
def test_verify_trace(case: Dict[str, Any]) -> None:
    for op in case["input"]["ops"]:
        exp = op["expect"]
        kw: Dict[str, Any] = {
            "leeway": op["leeway_ms"] / 1000,
            "issuer": op["issuer"],
            "audience": op["audience"],
            "require_exp": op["require_exp"],
            "allow_large_leeway": op["allow_large_leeway"],
        }
        if op["max_age_ms"] is not None:
            kw["max_age"] = op["max_age_ms"] / 1000
        if op["key"]["form"] == "jwks":
            v, err = call(lambda: tokenclock.Verifier.from_jwks(key_of(op["key"]), op["algorithms"], **kw))
        elif op["key"]["form"] == "jwk":
            v, err = call(lambda: tokenclock.Verifier.from_jwk(key_of(op["key"]), op["algorithms"], **kw))
        else:
            v, err = call(lambda: tokenclock.Verifier(key_of(op["key"]), op["algorithms"], **kw))
        if err is not None:
            assert "config_error" in exp, f"binding refused the options ({clean(err)}), core took them: {exp}"
            assert clean(err) == exp["config_error"], f"{clean(err)} != {exp}"
            continue
        assert "config_error" not in exp, f"core refused the options: {exp}"
        got, err = call(lambda: v.verify(op["token"], op["now_ms"] / 1000))
        if err is not None:
            assert clean(err) == exp.get("error"), f"verify: {err!r} != core's {exp}"
        else:
            assert verified(got) == exp, f"verify: {got} != core's {exp}"
    module_still_answers()


@pytest.mark.parametrize("case", cases("jwks"))
def test_jwks_trace(case: Dict[str, Any]) -> None:
    doc = load("jwks")
    for op in case["input"]["ops"]:
        exp = op["expect"]
        if op["source"] == "jwks":
            v, err = call(lambda: tokenclock.Verifier.from_jwks(op["text"], op["algorithms"]))
        else:
            # The text as it is (core's JSON reader judges it: not an object, repeated members...).
            v, err = call(lambda: tokenclock.Verifier.from_jwk(op["text"], op["algorithms"]))
        if err is not None:
            assert clean(err) == exp.get("error"), f"Verifier: {err!r} != core's {exp}"
            continue
        assert "error" not in exp, f"core refused the keys ({exp}), the binding took them"
        assert v.key_count == exp["keys"]
        got = []
        for token in doc["tokens"]:
            r, err = call(lambda: v.verify(token, doc["now_ms"] / 1000))
            got.append({"error": clean(err)} if err is not None else {"alg": r["alg"]})
        assert got == exp["verify"], f"{got} != core's {exp['verify']}"
    module_still_answers()


def test_traces_cover_every_seed_and_regression() -> None:
    """Each traced target's file has a case for every seed and every regression case."""
    for target in TARGETS:
        froms = {c["input"]["from"] for c in load(target)["cases"]}
        seeds = {f"fuzz/seeds/{target}/{p.name}" for p in (REPO / "fuzz" / "seeds" / target).iterdir()}
        assert seeds <= froms, sorted(seeds - froms)
        reg = REPO / "tests" / "vectors" / "regressions" / f"{target}.json"
        if reg.exists():
            ids = {f"tests/vectors/regressions/{target}.json#{c['id']}" for c in json.loads(reg.read_text())["cases"]}
            assert ids <= froms, sorted(ids - froms)


def test_report_what_the_binding_could_not_express() -> None:
    # Runs last in this file: lists every op the replay could not make exactly (see the top).
    print(f"\n# fuzz-replay: {len(NOT_EXPRESSED)} ops not expressed exactly by the binding")
    for line in NOT_EXPRESSED:
        print(f"#   {line}")
