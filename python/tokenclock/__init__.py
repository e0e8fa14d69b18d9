"""tokenclock: when is an access token safe to use, when to refresh it, and are a JWT's
time claims valid — across clock skew.

The logic lives in the Rust core (``tokenclock._native``); this package is its public,
typed Python face. Times are float seconds, as ``time.time()`` gives them (wall clock) and
``time.monotonic()`` (monotonic clock); a :class:`Reading` holds both.

Client side::

    grant = tokenclock.client_credentials(TOKEN_URL, "client-id", "secret", scope="api")
    session = tokenclock.Session(grant)
    auth = session.authorize()          # auth.kind: ready / ready_and_refresh / refresh / wait / failed

Resource-server side: :class:`Verifier`, :class:`SkewMonitor`. Parsers: :func:`peek`,
:func:`parse_http_date`, :func:`parse_retry_after`, :class:`SntpRequest`. Errors:
:mod:`tokenclock.errors`.
"""

from __future__ import annotations

from tokenclock import errors
from tokenclock._native import (
    AfterResponse,
    Authorization,
    Estimate,
    Grant,
    Lifetime,
    Pkce,
    Reading,
    Session,
    SkewEstimator,
    SkewMonitor,
    SntpRequest,
    State,
    Ticket,
    TokenRequest,
    TokenResponse,
    TokenState,
    Verdict,
    Verifier,
    KeySet,
    KeyStep,
    FetchTicket,
    assertion_times,
    authorization_code_grant,
    authorization_url,
    build_token_request,
    client_credentials,
    format_http_date,
    gauntlet_cells,
    jwt_bearer_grant,
    parse_http_date,
    parse_redirect,
    parse_retry_after,
    parse_sntp_reply,
    parse_token_response,
    peek,
    refresh_token_grant,
    refresh_token_to_keep,
    rules_is_expired,
    s256_challenge,
    run_cell,
    version,
)
from tokenclock.errors import (
    AlgorithmNotAllowed,
    ClockSkewError,
    ConfigError,
    GrantError,
    HttpDateError,
    InvalidArgument,
    InvalidAudience,
    InvalidClientError,
    InvalidGrantError,
    InvalidIssuer,
    InvalidKey,
    InvalidSignature,
    InvalidToken,
    KeyAlgorithmMismatch,
    KeySetError,
    KeysUnavailable,
    LifetimeError,
    MalformedToken,
    MissingClaim,
    MonitorError,
    RedirectError,
    RefreshError,
    SkewSampleError,
    SntpError,
    StaleTicket,
    TemporarilyUnavailableError,
    TokenClockError,
    TokenExpired,
    TokenIssuedInFuture,
    TokenNotYetValid,
    TokenTooOld,
    UnknownKid,
)

# `typing` and `logging` cost more to import than the native module: only for type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

__version__: str = version()


def log_events(
    source: Session | list[dict[str, Any]], logger_: logging.Logger | None = None
) -> list[dict[str, Any]]:
    """Drain ``source.events()`` (or take a list of event dicts) and log each event to the
    ``tokenclock`` logger (or ``logger_``): clock discontinuities, refresh failures and
    abandoned tickets at WARNING, rejections at INFO, the rest at DEBUG. Returns the events.

    (``logging`` is imported on first use: importing ``tokenclock`` stays cheap.)
    """
    from tokenclock._log import log_events as _log_events

    return _log_events(source, logger_)


__all__ = [
    "__version__",
    "errors",
    "log_events",
    # clocks and skew
    "Reading",
    "Estimate",
    "SkewEstimator",
    "SntpRequest",
    "parse_sntp_reply",
    # tokens and expiry
    "Lifetime",
    "TokenState",
    "peek",
    "rules_is_expired",
    # the refresh machine
    "Session",
    "Authorization",
    "Ticket",
    "Verdict",
    "AfterResponse",
    # OAuth 2.0
    "Grant",
    "client_credentials",
    "refresh_token_grant",
    "authorization_code_grant",
    "jwt_bearer_grant",
    "TokenRequest",
    "build_token_request",
    "TokenResponse",
    "parse_token_response",
    "refresh_token_to_keep",
    "assertion_times",
    "Pkce",
    "State",
    "authorization_url",
    "parse_redirect",
    "s256_challenge",
    # HTTP dates
    "parse_http_date",
    "format_http_date",
    "parse_retry_after",
    # resource server
    "Verifier",
    "SkewMonitor",
    "KeySet",
    "KeyStep",
    "FetchTicket",
    # simulation
    "run_cell",
    "gauntlet_cells",
    "version",
    # errors
    "TokenClockError",
    "InvalidArgument",
    "HttpDateError",
    "SntpError",
    "SkewSampleError",
    "LifetimeError",
    "GrantError",
    "RedirectError",
    "ConfigError",
    "InvalidKey",
    "MonitorError",
    "StaleTicket",
    "ClockSkewError",
    "RefreshError",
    "InvalidClientError",
    "InvalidGrantError",
    "TemporarilyUnavailableError",
    "InvalidToken",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenIssuedInFuture",
    "TokenTooOld",
    "InvalidSignature",
    "MalformedToken",
    "UnknownKid",
    "AlgorithmNotAllowed",
    "KeyAlgorithmMismatch",
    "InvalidIssuer",
    "InvalidAudience",
    "MissingClaim",
    "KeySetError",
    "KeysUnavailable",
]


# The command line's reports and its machine (core `cli`) are not public API: the `tokenclock`
# command (tokenclock.cli) reaches them in the private `tokenclock._native`.

# ----- the fleet (core `fleet`; the Redis store is tokenclock.store) ----------------------------
from tokenclock._native import FleetAction, FleetRefresh, store_keys  # noqa: E402

__all__ += ["FleetAction", "FleetRefresh", "store_keys"]
