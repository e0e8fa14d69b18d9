"""A shared store never hands one principal's token to another: every pair of credentials that
an identity provider would issue different tokens to gets a different store key (or a refused
store), and credentials that differ only in a secret share one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

import tokenclock
from tokenclock._native import store_keys

URL = "https://idp.example/token"
PEM = (Path(__file__).resolve().parents[2] / "core" / "tests" / "keys" / "rsa-private.pem").read_text()


def key_of(grant: Any, partition: Any = None, sealed: bool = True) -> str:
    return store_keys(tokenclock.Session(grant, partition=partition), "tc", sealed=sealed)[0]


def jwt(subject: str, kid: str = "k1") -> Any:
    return tokenclock.jwt_bearer_grant(URL, "sa@x", PEM, key_id=kid, subject=subject)


def cc(extra: Any = None, secret: str = "s") -> Any:
    return tokenclock.client_credentials(URL, "app", secret, extra=extra)


def rt(token: str) -> Any:
    return tokenclock.refresh_token_grant(URL, "app", token, client_secret="s")


def code(c: str) -> Any:
    return tokenclock.authorization_code_grant(
        URL, "app", c, "https://app.example/cb", "v" * 43, client_secret="s"
    )


@pytest.mark.parametrize(
    "a, b",
    [
        (lambda: key_of(jwt("alice@x")), lambda: key_of(jwt("bob@x"))),
        (lambda: key_of(rt("rt-alice"), "alice"), lambda: key_of(rt("rt-bob"), "bob")),
        (lambda: key_of(code("c-alice"), "alice"), lambda: key_of(code("c-bob"), "bob")),
        (lambda: key_of(cc({"organization": "org_A"})), lambda: key_of(cc({"organization": "org_B"}))),
        (
            lambda: key_of(cc([("audience", "a"), ("resource", "r1")])),
            lambda: key_of(cc([("audience", "a"), ("resource", "r2")])),
        ),
        (lambda: key_of(cc(), "tenant-1"), lambda: key_of(cc(), "tenant-2")),
    ],
    ids=["jwt-bearer subject", "refresh token users", "authorization code users", "organization",
         "resource", "partition"],
)
def test_credentials_of_different_principals_never_share_a_key(
    a: Callable[[], str], b: Callable[[], str]
) -> None:
    assert a() != b()


def test_user_delegated_grants_need_a_partition_and_a_sealed_store() -> None:
    for grant in (rt("rt-alice"), code("c-alice")):
        with pytest.raises(tokenclock.ConfigError) as e:
            key_of(grant)
        assert e.value.code == "partition_required"
        with pytest.raises(tokenclock.ConfigError) as e:
            key_of(grant, "alice", sealed=False)
        assert e.value.code == "encryption_required"
    for bad in ("", "a\nb", "x" * 1025):
        with pytest.raises(tokenclock.ConfigError) as e:
            tokenclock.Session(cc(), partition=bad)
        assert e.value.code == "invalid_partition"


def test_secrets_are_not_part_of_the_identity() -> None:
    assert key_of(jwt("alice@x", "k1")) == key_of(jwt("alice@x", "k2"))
    assert key_of(rt("rt-alice-1"), "alice") == key_of(rt("rt-alice-2"), "alice")
    assert key_of(cc(secret="old")) == key_of(cc(secret="new"))
    # Pinned (the same value in the Node suite): a change of the canonical encoding must come
    # with a new identity version, or stored records of every deployment would be orphaned.
    assert key_of(cc({"organization": "org_A"}), "tenant-1") == "tc:token:v2:{fd36bb1a77ef5f38347f68b65b161b25f587a58056389ca3155682e78b416815}"
    # Scope order and repetition do not change the token either.
    a = tokenclock.client_credentials(URL, "app", "s", scope="read write")
    b = tokenclock.client_credentials(URL, "app", "s", scope="write read read")
    assert key_of(a) == key_of(b)


def test_a_store_refuses_a_refresh_token_session_without_partition_at_construction() -> None:
    from tokenclock.httpx import OAuth2Auth
    from tokenclock.store import RedisStore

    store = RedisStore("redis://127.0.0.1:1/0", encryption_key=b"k" * 32)
    with pytest.raises(tokenclock.ConfigError) as e:
        OAuth2Auth(session=tokenclock.Session(rt("rt-alice")), store=store)
    assert e.value.code == "partition_required"
    plain = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(tokenclock.ConfigError) as e:
        OAuth2Auth(session=tokenclock.Session(rt("rt-alice"), partition="alice"), store=plain)
    assert e.value.code == "encryption_required"
    # The key names no secret and no user.
    k = key_of(rt("rt-alice"), "alice")
    assert "alice" not in k and "rt-" not in k
