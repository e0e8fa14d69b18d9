"""The tokenclock exception hierarchy.

Every class is created in the native module (``tokenclock._native``) and mapped from the core's
error types in one place; this module re-exports them. Every instance has ``.code``, the core's
stable ``snake_case`` error code; detail attributes are float seconds. Messages name what was
wrong and never contain a token, secret or raw input::

    TokenClockError                      .code
    ├── InvalidArgument (ValueError)     .what       bad arguments and bad inputs
    │   ├── HttpDateError                            HTTP dates, Retry-After
    │   ├── SntpError                    .kiss_code  SNTP replies
    │   ├── SkewSampleError                          clock-offset samples
    │   ├── LifetimeError                            token times, expiry policy
    │   ├── GrantError                               token requests, PKCE, URLs
    │   ├── RedirectError                .oauth_error, .description
    │   ├── ConfigError                              Session / Verifier options
    │   │   └── InvalidKey                           verification keys, JWKS
    │   └── MonitorError                             SkewMonitor documents
    ├── StaleTicket                                  a refresh ticket that is not outstanding
    ├── ClockSkewError                   .evidence   repeated 401 explained by clock skew
    ├── RefreshError                     .retry_at, .retry_after, .status, .oauth_error,
    │   │                                .description, .error_class, .kind, .failure
    │   ├── InvalidClientError
    │   ├── InvalidGrantError
    │   └── TemporarilyUnavailableError
    ├── KeySetError                                  fetching the issuer's keys failed
    │   └── KeysUnavailable              .cause, .retry_in   no key set fetched yet
    └── InvalidToken                     .likely_clock_skew   (Verifier.verify)
        ├── TokenExpired                 .expired_by
        ├── TokenNotYetValid             .valid_in
        ├── TokenIssuedInFuture          .issued_in
        ├── TokenTooOld                  .too_old_by
        ├── InvalidSignature
        ├── MalformedToken (InvalidArgument)  .reason, .what   (also raised by peek)
        ├── UnknownKid                   .kid_in_token
        ├── AlgorithmNotAllowed          .alg
        ├── KeyAlgorithmMismatch         .alg
        ├── InvalidIssuer
        ├── InvalidAudience
        └── MissingClaim                 .claim

A bug inside the library surfaces as ``TokenClockError`` with ``code == "internal_error"``.
"""

from tokenclock._native import (
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

__all__ = [
    "AlgorithmNotAllowed",
    "ClockSkewError",
    "ConfigError",
    "GrantError",
    "HttpDateError",
    "InvalidArgument",
    "InvalidAudience",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidIssuer",
    "InvalidKey",
    "InvalidSignature",
    "InvalidToken",
    "KeyAlgorithmMismatch",
    "KeySetError",
    "KeysUnavailable",
    "LifetimeError",
    "MalformedToken",
    "MissingClaim",
    "MonitorError",
    "RedirectError",
    "RefreshError",
    "SkewSampleError",
    "SntpError",
    "StaleTicket",
    "TemporarilyUnavailableError",
    "TokenClockError",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenTooOld",
    "UnknownKid",
]
