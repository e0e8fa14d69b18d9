# Type stub for the native module built from bindings-python/ (PyO3).
# Checked against the compiled module by `python -m mypy.stubtest tokenclock._native`
# (make py-test), so it cannot drift from the Rust signatures.

# PyO3 lists every function added to the module in __all__.
__all__ = ["rules_is_expired", "version"]

def version() -> str:
    """The package version (the Rust workspace version)."""

def rules_is_expired(now_s: float, exp_s: float, leeway_s: float) -> bool:
    """Is a token with expiry ``exp_s`` expired at ``now_s`` with ``leeway_s`` leeway?

    ``now - leeway >= exp`` (RFC 7519 §4.1.4). Raises ``ValueError`` for NaN,
    infinities, out-of-range values and a negative leeway.
    """
