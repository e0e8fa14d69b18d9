"""tokenclock: when is an access token safe to use, when to refresh it, and are a JWT's
time claims valid — across clock skew.

The logic lives in the Rust core (``tokenclock._native``); this package is its public,
typed Python face. Times are float seconds, as ``time.time()`` gives them.
"""

from tokenclock._native import rules_is_expired, version

__version__: str = version()

__all__ = ["__version__", "rules_is_expired", "version"]
