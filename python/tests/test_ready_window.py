"""The per-request fast path (``Session.authorize_token``/``authorize_token_now`` answering from
core's ready window without entering the session) answers exactly what the full decision
answers: over random token lifetimes, clock readings (small steps, long gaps, wall-clock
steps) and API responses (accepted, refused, with ``Date`` headers of a skewed resource
server), a session asked through the fast path and a twin asked through ``authorize`` give the
same answers. And every other call drops the window: a refusal is never answered from it."""

from __future__ import annotations

import base64
import json
import random
from email.utils import formatdate
from typing import Any, List, Tuple

import tokenclock

T0 = 1_767_225_600.0
M0 = 50_000.0


def _jwt(iat: int, exp: int) -> str:
    def enc(o: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'HS256'})}.{enc({'iat': iat, 'nbf': iat, 'exp': exp, 'sub': 'c'})}.c2ln"


def _twins(seed: int, lifetime: int) -> Tuple[tokenclock.Session, tokenclock.Session, int]:
    out: List[tokenclock.Session] = []
    token = 0
    for _ in range(2):
        s = tokenclock.Session(
            tokenclock.client_credentials("https://issuer.example/token", "c", "s"), seed=seed
        )
        sent = tokenclock.Reading(T0, M0)
        a = s.authorize(sent)
        assert a.kind == "refresh"
        body = json.dumps({"access_token": _jwt(int(T0), int(T0) + lifetime), "token_type": "Bearer",
                           "expires_in": lifetime}).encode()
        token = s.complete_refresh(a.ticket, 200, [("Content-Type", "application/json")], body, sent,
                                   tokenclock.Reading(T0 + 0.1, M0 + 0.1))
        out.append(s)
    return out[0], out[1], token


def _same(fast: Any, full: Any) -> None:
    if isinstance(fast, int):
        assert full.kind == "ready" and full.token_id == fast, (fast, full)
    else:
        assert fast.kind == full.kind, (fast, full)
        assert fast.kind != "ready"


def test_the_fast_path_answers_what_authorize_answers() -> None:
    ready = 0
    for seed in range(60):
        rng = random.Random(seed)
        lifetime = rng.choice([30, 300, 3600])
        a, b, token = _twins(seed, lifetime)
        wall, mono = T0 + 0.2, M0 + 0.2
        rs_offset = rng.choice([0.0, 0.0, 40.0, -40.0, 2.5])
        for i in range(400):
            step = rng.choice([0.001, 0.01, 0.2, 0.9, 3.0, lifetime / 7])
            wall += step
            mono += step
            if rng.random() < 0.03:
                wall += rng.choice([-5.0, 5.0, -0.5, 0.5])  # a wall-clock step
            elif rng.random() < 0.1:
                # Under the discontinuity threshold, zigzagging: each step continuous with the
                # one before, not all with the window's start.
                wall += rng.uniform(0.55, 0.95) * (1 if i % 2 else -1)
            now = tokenclock.Reading(wall, mono)
            fast, full = a.authorize_token(now), b.authorize(now)
            _same(fast, full)
            ready += isinstance(fast, int)
            if rng.random() < 0.05 and isinstance(fast, int):
                status = rng.choice([200, 200, 401])
                date = formatdate(wall + rs_offset, usegmt=True)
                sent, received = now, tokenclock.Reading(wall + 0.01, mono + 0.01)
                va = a.on_response(fast, status, [("Date", date)], sent, received)
                vb = b.on_response(fast, status, [("Date", date)], sent, received)
                assert va.kind == vb.kind
                wall, mono = wall + 0.01, mono + 0.01
            if not isinstance(fast, int) and fast.kind in ("refresh", "ready_and_refresh"):
                # Close both tickets the same way: a new token.
                body = json.dumps({"access_token": _jwt(int(wall), int(wall) + lifetime),
                                   "token_type": "Bearer", "expires_in": lifetime}).encode()
                sent, received = now, tokenclock.Reading(wall + 0.05, mono + 0.05)
                outcomes = []
                for s, t in ((a, fast.ticket), (b, full.ticket)):
                    try:
                        outcomes.append(s.complete_refresh(t, 200, [], body, sent, received))
                    except tokenclock.TokenClockError as e:  # expired on arrival: the same for both
                        outcomes.append(e.code)
                assert outcomes[0] == outcomes[1], outcomes
                wall, mono = wall + 0.05, mono + 0.05
        # The sessions end in the same state.
        end = tokenclock.Reading(wall + 0.001, mono + 0.001)
        assert a.stats() == b.stats(), seed
        assert a.next_timeout(end) == b.next_timeout(end), seed
    assert ready > 10_000, ready  # the fast path was on the line most of the time


def test_a_refusal_is_never_answered_from_the_window() -> None:
    a, _, token = _twins(7, 3600)
    now = tokenclock.Reading(T0 + 1, M0 + 1)
    assert a.authorize_token(now) == token  # sets the window
    later = tokenclock.Reading(T0 + 1.001, M0 + 1.001)
    assert a.authorize_token(later) == token  # answered from it
    v = a.on_response(token, 401, [], later, later)
    assert v.kind == "retry"
    again = tokenclock.Reading(T0 + 1.002, M0 + 1.002)
    answer = a.authorize_token(again)
    assert not isinstance(answer, int) and answer.kind == "refresh", answer
    assert not isinstance(a.authorize_token_now(), int)  # the session's own clock: same


def test_the_cached_credential_is_answered_only_while_the_window_answers_its_token() -> None:
    """``_credential_now`` (the adapters' per-request call) returns the driver's credential
    object only for the token id it was set for, and only from the ready window: after a
    refusal it is the full decision again."""
    clock = [T0, M0]
    s = tokenclock.Session(
        tokenclock.client_credentials("https://issuer.example/token", "c", "s"), seed=3,
        clock=lambda: tokenclock.Reading(clock[0], clock[1]),
    )
    a = s.authorize()
    body = json.dumps({"access_token": _jwt(int(T0), int(T0) + 3600), "token_type": "Bearer",
                       "expires_in": 3600}).encode()
    token = s.complete_refresh(a.ticket, 200, [], body, tokenclock.Reading(T0, M0),
                               tokenclock.Reading(T0 + 0.1, M0 + 0.1))
    clock[:] = [T0 + 1, M0 + 1]
    cred, other = object(), object()
    s._set_credential(token, cred)
    assert s._credential_now() == token  # the full decision (sets the window): the id
    clock[:] = [T0 + 1.002, M0 + 1.002]
    assert s._credential_now() is cred  # from the window: the object itself
    s._set_credential(token + 1, other)
    assert s._credential_now() == token  # set for another id: never answered for this one
    s._set_credential(token, cred)
    assert s._credential_now() is cred
    v = s.on_response(token, 401, [], tokenclock.Reading(clock[0], clock[1]),
                      tokenclock.Reading(clock[0] + 0.01, clock[1] + 0.01))
    assert v.kind != "accepted"
    clock[:] = [T0 + 1.02, M0 + 1.02]
    after = s._credential_now()
    assert after is not cred and not isinstance(after, int)  # the refusal: full decision
