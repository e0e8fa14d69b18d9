"""The Python and JavaScript bindings mirror core under the same names: every public method of
``tokenclock.Session`` exists in the npm package's ``Session`` (``index.d.ts``) as its camelCase
name, and the other way round, except for a short list of host idioms, each with its reason.
And the names that mirror core's ``poll_event``/``run_cell`` work: events drained one by one
or at once, a cell run by ``run_cell``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Set

import tokenclock

DTS = Path(__file__).resolve().parents[2] / "npm" / "index.d.ts"

# Host idioms, not decisions: units in names (Python seconds, JS milliseconds), wasm-bindgen's
# memory management and object protocol, and the one-call hot path of each host.
PY_ONLY = {
    "token_timeout": "seconds; JS tokenTimeoutMs",
    "set_token_timeout": "seconds; JS setTokenTimeoutMs",
    "authorize_token_now": "Python's argument-free hot path; JS authorizeTokenAt(wallMs, monoMs)",
}
JS_ONLY = {
    "tokenTimeoutMs": "milliseconds; Python token_timeout",
    "setTokenTimeoutMs": "milliseconds; Python set_token_timeout",
    "authorizeTokenAt": "JS's hot path with numbers; Python authorize_token_now",
    "afterResponseAt": "JS's hot path with numbers; Python after_response",
    "takeAuthorization": "authorizeToken's held-back answer (Python returns it directly)",
    "free": "wasm-bindgen memory",
    "toString": "JS object protocol (Python __repr__)",
    "toJSON": "JS object protocol (JSON.stringify)",
    "now": "the session's clock (Python: the clock= callable or Reading.now)",
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def js_session_members() -> Set[str]:
    text = DTS.read_text()
    body = re.search(r"export declare class Session\b[^{]*\{(.*?)\n\}", text, re.S)
    assert body is not None
    # Members start a line at two spaces of indentation (parameters are indented further).
    return set(re.findall(r"^  (?:readonly |get )?(\w+)\s*[(:<?]", body.group(1), re.M)) - {"constructor"}


def test_session_names_mirror_each_other() -> None:
    py = {n for n in dir(tokenclock.Session) if not n.startswith("_")}
    js = js_session_members()
    missing_in_js = sorted(n for n in py if camel(n) not in js and n not in PY_ONLY)
    missing_in_py = sorted(n for n in js if n not in {camel(p) for p in py} and n not in JS_ONLY)
    assert missing_in_js == [], missing_in_js
    assert missing_in_py == [], missing_in_py
    # The exception lists hold only names that exist.
    assert set(PY_ONLY) <= py and set(JS_ONLY) <= js


def test_poll_event_and_events() -> None:
    s = tokenclock.Session(tokenclock.client_credentials("https://issuer.example/token", "c", "s"), seed=1)
    now = tokenclock.Reading(1_767_225_600.0, 1_000.0)
    a = s.authorize(now)
    body = json.dumps({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300}).encode()
    s.complete_refresh(a.ticket, 200, [], body, now, now.advanced(0.1))
    first = s.poll_event()
    assert first is not None and first["kind"] == "ticket_issued"
    rest = s.events()
    assert [e["kind"] for e in rest] == ["token_received"]
    assert s.poll_event() is None and s.events() == []


def test_run_cell() -> None:
    outcomes = tokenclock.run_cell(client_offset=0.0, rs_offset=0.0, ttl=300, hours=0.05, seed=1)
    assert {o["strategy"] for o in outcomes} >= {"tokenclock"}
    assert not hasattr(tokenclock, "simulate_cell")
