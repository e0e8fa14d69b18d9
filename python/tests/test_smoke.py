"""Smoke tests: the installed wheel imports, its native module is the compiled one, and the
first binding behaves exactly as core's `rules::is_expired` at its boundaries."""

from __future__ import annotations

import math
import re
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

import tokenclock
from tokenclock import _native

REPO = Path(__file__).resolve().parents[2]


def workspace_version() -> str:
    """The `[workspace.package] version` from the top-level Cargo.toml."""
    text = (REPO / "Cargo.toml").read_text(encoding="utf-8")
    section = text.split("[workspace.package]", 1)[1]
    match = re.search(r'^version\s*=\s*"([^"]+)"', section, re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_versions_agree_with_the_rust_workspace() -> None:
    expected = workspace_version()
    assert tokenclock.version() == expected
    assert tokenclock.__version__ == expected
    assert dist_version("tokenclock") == expected


def test_native_module_is_the_compiled_abi3_extension() -> None:
    # The installed wheel, not a source checkout without the .so.
    assert Path(_native.__file__).name == "_native.abi3.so"
    assert (Path(tokenclock.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize(
    ("now_s", "exp_s", "leeway_s", "expired"),
    [
        (999.999, 1000.0, 0.0, False),
        (1000.0, 1000.0, 0.0, True),  # RFC 7519: invalid *at* exp
        (1004.999, 1000.0, 5.0, False),  # leeway makes it more lenient...
        (1005.0, 1000.0, 5.0, True),  # ...by exactly the leeway
        (-5.0, -4.0, 0.0, False),  # instants before 1970 are allowed
        (1_700_000_000.0, 1_700_000_060.0, 30.0, False),
    ],
)
def test_rules_is_expired_boundaries(
    now_s: float, exp_s: float, leeway_s: float, expired: bool
) -> None:
    assert tokenclock.rules_is_expired(now_s, exp_s, leeway_s) is expired


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((math.nan, 1000.0, 0.0), "now_s is NaN"),
        ((0.0, math.inf, 0.0), "exp_s is not finite"),
        ((0.0, 1000.0, -math.inf), "leeway_s is not finite"),
        ((0.0, 1000.0, -0.5), "leeway_s is negative"),
        ((1e300, 1000.0, 0.0), "now_s is out of range"),
    ],
)
def test_rules_is_expired_rejects_bad_numbers(
    args: tuple[float, float, float], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}: "):
        tokenclock.rules_is_expired(*args)


def test_rules_is_expired_rejects_non_numbers_with_type_error() -> None:
    with pytest.raises(TypeError):
        tokenclock.rules_is_expired("1000", 1000.0, 0.0)  # type: ignore[arg-type]
