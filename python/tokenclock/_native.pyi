# Type stub for the native module built from bindings-python/ (PyO3).
# Checked against the compiled module by `python -m mypy.stubtest tokenclock._native`
# (make py-test), so it cannot drift from the Rust signatures.
#
# Times are float seconds: wall times are Unix seconds (like time.time()), monotonic times
# are seconds on the monotonic clock (like time.monotonic()).

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, final

if TYPE_CHECKING:
    from tokenclock.remote import RemoteVerifier

__all__ = [
    "AfterResponse",
    "FleetAction",
    "FleetRefresh",
    "LUA_PUBLISH",
    "LUA_RELEASE",
    "LUA_TAKE_LEASE",
    "store_keys",
    "AlgorithmNotAllowed",
    "Authorization",
    "ClockSkewError",
    "ConfigError",
    "Estimate",
    "Grant",
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
    "Lifetime",
    "LifetimeError",
    "MalformedToken",
    "MissingClaim",
    "FetchTicket",
    "KeySet",
    "KeySetError",
    "KeyStep",
    "KeysUnavailable",
    "MonitorError",
    "Pkce",
    "Reading",
    "RedirectError",
    "RefreshError",
    "Session",
    "SkewEstimator",
    "SkewMonitor",
    "SkewSampleError",
    "SntpError",
    "SntpRequest",
    "StaleTicket",
    "State",
    "TemporarilyUnavailableError",
    "Ticket",
    "TokenClockError",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenRequest",
    "TokenResponse",
    "TokenState",
    "TokenTooOld",
    "UnknownKid",
    "Verdict",
    "Verifier",
    "assertion_times",
    "authorization_code_grant",
    "authorization_url",
    "build_token_request",
    "client_credentials",
    "format_http_date",
    "gauntlet_cells",
    "jwt_bearer_grant",
    "parse_http_date",
    "parse_redirect",
    "parse_retry_after",
    "parse_sntp_reply",
    "parse_token_response",
    "peek",
    "refresh_token_grant",
    "refresh_token_to_keep",
    "rules_is_expired",
    "s256_challenge",
    "run_cell",
    "version",
    # the command line as a machine (private: the executor's)
    "_CliAction",
    "_CliRun",
]

# Header pairs: a mapping (dict, httpx.Headers), or an iterable of (name, value) pairs.
_Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[list[str]] | None
_Body = bytes | bytearray | str
_Clock = Callable[[], Reading] | None

# ----- errors ---------------------------------------------------------------------------------

class TokenClockError(Exception):
    """Base class of every tokenclock error. `.code` is the stable core error code."""

    code: str

class InvalidArgument(TokenClockError, ValueError):
    """A bad argument or a bad input. `.what` names the field when known."""

    what: str | None

class HttpDateError(InvalidArgument): ...

class SntpError(InvalidArgument):
    kiss_code: str | None

class SkewSampleError(InvalidArgument): ...
class LifetimeError(InvalidArgument): ...
class GrantError(InvalidArgument): ...

class RedirectError(InvalidArgument):
    oauth_error: str | None
    description: str | None

class ConfigError(InvalidArgument): ...
class InvalidKey(ConfigError): ...
class MonitorError(InvalidArgument): ...
class StaleTicket(TokenClockError): ...

class ClockSkewError(TokenClockError):
    evidence: dict[str, Any] | None

class RefreshError(TokenClockError):
    retry_at: float | None
    retry_after: str | None
    status: int | None
    oauth_error: str | None
    description: str | None
    error_class: str | None
    kind: str | None
    failure: str | None

class InvalidClientError(RefreshError): ...
class InvalidGrantError(RefreshError): ...
class TemporarilyUnavailableError(RefreshError): ...

class InvalidToken(TokenClockError):
    likely_clock_skew: bool

class TokenExpired(InvalidToken):
    expired_by: float | None

class TokenNotYetValid(InvalidToken):
    valid_in: float | None

class TokenIssuedInFuture(InvalidToken):
    issued_in: float | None

class TokenTooOld(InvalidToken):
    too_old_by: float | None

class InvalidSignature(InvalidToken): ...

class MalformedToken(InvalidToken, InvalidArgument):
    reason: str | None

class UnknownKid(InvalidToken):
    kid_in_token: bool | None

class AlgorithmNotAllowed(InvalidToken):
    alg: str | None

class KeyAlgorithmMismatch(InvalidToken):
    alg: str | None

class InvalidIssuer(InvalidToken): ...
class InvalidAudience(InvalidToken): ...

class MissingClaim(InvalidToken):
    claim: str | None

class KeySetError(TokenClockError): ...

class KeysUnavailable(KeySetError):
    cause: str | None
    retry_in: float | None

# ----- functions ------------------------------------------------------------------------------

def version() -> str:
    """The package version (the Rust workspace version)."""

def rules_is_expired(now_s: float, exp_s: float, leeway_s: float) -> bool:
    """Is a token with expiry ``exp_s`` expired at ``now_s`` with ``leeway_s`` leeway?

    ``now - leeway >= exp`` (RFC 7519 §4.1.4). Raises ``ValueError`` for NaN,
    infinities, out-of-range values and a negative leeway.
    """

def peek(token: str) -> dict[str, Any]:
    """A JWT's header and claims, unverified: ``alg``, ``kid``, ``typ``, ``iss``, ``sub``,
    ``jti`` (str or None), ``aud`` (list), ``iat``/``nbf``/``exp`` (Unix seconds or None),
    ``header`` and ``claims`` (dicts). Raises ``MalformedToken``."""

def parse_http_date(s: str, reference: float | None = None) -> float:
    """An HTTP date as Unix seconds. Raises ``HttpDateError``."""

def format_http_date(t: float) -> str:
    """Unix seconds as an IMF-fixdate."""

def parse_retry_after(s: str, reference: float | None = None) -> dict[str, Any]:
    """``{"kind": "delay", "delay": s}`` or ``{"kind": "date", "date": t}``."""

def parse_token_response(status: int, headers: _Headers, body: _Body) -> TokenResponse:
    """A token endpoint response; raises a ``RefreshError`` subclass."""

def refresh_token_to_keep(previous: str | None, response: TokenResponse) -> str | None:
    """The refresh token to keep after ``response`` (rotation)."""

def parse_sntp_reply(reply: bytes, request: SntpRequest, received: float) -> dict[str, Any]:
    """Checks an SNTP reply: ``offset``, ``delay``, ``error_bound``, ``server_transmit``
    (seconds), ``stratum``, ``leap``, ``version``. Raises ``SntpError``."""

def client_credentials(
    token_url: str,
    client_id: str,
    client_secret: str | None = None,
    *,
    scope: str | None = None,
    auth_method: str = "client_secret_basic",
    extra: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    private_key: str | None = None,
    key_algorithm: str = "RS256",
    key_id: str | None = None,
    assertion_audience: str | None = None,
    allow_insecure_http: bool = False,
) -> Grant: ...
def refresh_token_grant(
    token_url: str,
    client_id: str,
    refresh_token: str,
    *,
    client_secret: str | None = None,
    scope: str | None = None,
    auth_method: str | None = None,
    private_key: str | None = None,
    key_algorithm: str = "RS256",
    key_id: str | None = None,
    assertion_audience: str | None = None,
    allow_insecure_http: bool = False,
) -> Grant: ...
def authorization_code_grant(
    token_url: str,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    *,
    client_secret: str | None = None,
    auth_method: str | None = None,
    private_key: str | None = None,
    key_algorithm: str = "RS256",
    key_id: str | None = None,
    assertion_audience: str | None = None,
    allow_insecure_http: bool = False,
) -> Grant: ...
def jwt_bearer_grant(
    token_url: str,
    issuer: str,
    private_key: str,
    *,
    algorithm: str = "RS256",
    key_id: str | None = None,
    subject: str | None = None,
    audience: str | None = None,
    scope: str | None = None,
    scope_in_assertion: bool = False,
    lifetime: int = 3600,
    client_id: str | None = None,
    client_secret: str | None = None,
    auth_method: str | None = None,
    allow_insecure_http: bool = False,
) -> Grant: ...
def build_token_request(
    grant: Grant,
    *,
    issuer_now: float | tuple[float, float] | None = None,
    seed: int | None = None,
) -> TokenRequest: ...
def assertion_times(issuer_now: float | tuple[float, float], lifetime: int) -> dict[str, float]: ...
def authorization_url(
    authorize_endpoint: str,
    client_id: str,
    redirect_uri: str,
    pkce: Pkce,
    state: State,
    *,
    scope: str | None = None,
    extra: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> str: ...
def parse_redirect(redirect: str, expected_state: State) -> str: ...
def s256_challenge(verifier: str) -> str: ...
def run_cell(
    *,
    client_offset: float = 0.0,
    rs_offset: float = 0.0,
    ttl: int = 300,
    rs_leeway: int = 0,
    cached_age: int = 0,
    step: int = 0,
    hours: float = 3.0,
    request_interval: float = 5.0,
    seed: int = 1,
    timeline: bool = False,
) -> list[dict[str, Any]]: ...
def gauntlet_cells(seed: int = 1, hours: float = 3.0) -> list[dict[str, Any]]: ...

# ----- clocks and skew ------------------------------------------------------------------------

@final
class Reading:
    """Both host clocks at one instant: ``wall`` (Unix seconds) and ``mono`` (seconds)."""

    def __new__(cls, wall: float, mono: float) -> Reading: ...
    @staticmethod
    def now() -> Reading: ...
    @property
    def wall(self) -> float: ...
    @property
    def mono(self) -> float: ...
    def advanced(self, seconds: float) -> Reading: ...
    def discontinuity_since(self, earlier: Reading) -> float | None: ...
    def __reduce__(self) -> tuple[Any, tuple[float, float]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Estimate:
    """Clock offset ``server − local`` (seconds): best ``offset``, bounds ``low``/``high``."""

    def __new__(
        cls,
        offset: float = 0.0,
        low: float | None = None,
        high: float | None = None,
        agreeing: int = 0,
        samples: int = 0,
    ) -> Estimate: ...
    @staticmethod
    def unknown() -> Estimate: ...
    @property
    def offset(self) -> float: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...
    @property
    def agreeing(self) -> int: ...
    @property
    def samples(self) -> int: ...
    @property
    def width(self) -> float | None: ...
    @property
    def is_bounded(self) -> bool: ...
    def to_server_time(self, t: float) -> float: ...
    def to_local_time(self, t: float) -> float: ...
    def server_time_bounds(self, t: float) -> tuple[float | None, float | None]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class SkewEstimator:
    """The clock-offset estimator for one origin. Thread-safe."""

    def __new__(cls, drift_ppm: int = 200, max_samples: int = 16, *, clock: _Clock = None) -> SkewEstimator: ...
    @property
    def drift_ppm(self) -> int: ...
    @property
    def max_samples(self) -> int: ...
    @property
    def discontinuities(self) -> int: ...
    def __len__(self) -> int: ...
    def add_date(self, date_header: str, sent: Reading, received: Reading) -> None: ...
    def add_iat(self, iat: float, received: Reading) -> None: ...
    def add_sntp(self, reply: dict[str, Any], received: Reading) -> None: ...
    def add_bounds(self, low: float, high: float | None, at: Reading) -> None: ...
    def observe(self, now: Reading | None = None) -> float | None: ...
    def estimate(self, now: Reading | None = None) -> Estimate: ...
    def next_date_probe(self, now: Reading | None, rtt: float, target_width: float) -> dict[str, Any] | None: ...
    def last_rtt(self, source: str = "date") -> float | None: ...
    def take_resolutions(self) -> list[dict[str, Any]]: ...
    def apply_resolution(self, to: Reading, explanation: Literal["wall_stepped", "monotonic_paused"]) -> None: ...
    def clear(self) -> None: ...

@final
class SntpRequest:
    """An SNTP request: send ``packet`` over UDP port 123."""

    def __new__(cls, transmit: float, entropy: int | None = None) -> SntpRequest: ...
    @property
    def packet(self) -> bytes: ...
    @property
    def transmit(self) -> float: ...
    @property
    def transmit_timestamp(self) -> int: ...

# ----- tokens and expiry ----------------------------------------------------------------------

@final
class TokenState:
    """A token's state: ``kind`` in fresh, stale, expired, not_yet_valid."""

    @property
    def kind(self) -> str: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def until(self) -> Reading | None: ...
    @property
    def is_usable(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Lifetime:
    """A token's timeline: deadline, hard expiry and refresh time on both clocks."""

    def __new__(
        cls,
        sent: Reading,
        received: Reading,
        issuer_estimate: Estimate | None = None,
        *,
        expires_in: float | None = None,
        exp: float | None = None,
        nbf: float | None = None,
        iat: float | None = None,
        margin: float | None = None,
        margin_cap: float | None = None,
        refresh_window: tuple[float, float] | None = None,
        refresh_before: float | None = None,
        assumed_lifetime: float | None = None,
        max_wait: float | None = None,
        not_before: str | None = None,
        seed: int | None = None,
        clock: _Clock = None,
    ) -> Lifetime: ...
    @property
    def sent(self) -> Reading: ...
    @property
    def received(self) -> Reading: ...
    @property
    def deadline(self) -> Reading: ...
    @property
    def hard_expiry(self) -> Reading: ...
    @property
    def refresh_at(self) -> Reading: ...
    @property
    def basis(self) -> str: ...
    @property
    def lifetime(self) -> float: ...
    @property
    def margin(self) -> float: ...
    @property
    def exp(self) -> float | None: ...
    @property
    def not_before(self) -> float | None: ...
    def state(self, now: Reading | None = None, server_estimate: Estimate | None = None) -> TokenState: ...
    def until_hard_expiry(self, now: Reading | None = None, server_estimate: Estimate | None = None) -> float: ...
    def until_valid(self, now: Reading | None = None, server_estimate: Estimate | None = None) -> float: ...
    def next_change(self, now: Reading | None = None, server_estimate: Estimate | None = None) -> float | None: ...
    def rebase(
        self, at: Reading, wall_excess: float, explanation: Literal["wall_stepped", "monotonic_paused"]
    ) -> Lifetime: ...

@final
class TokenResponse:
    """A successful token response. ``repr`` shows no token."""

    @property
    def access_token(self) -> str: ...
    @property
    def token_type(self) -> str: ...
    @property
    def expires_in(self) -> float | None: ...
    @property
    def refresh_token(self) -> str | None: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def id_token(self) -> str | None: ...

# ----- OAuth 2.0 ------------------------------------------------------------------------------

@final
class Grant:
    """Token endpoint, client authentication and grant. ``repr`` shows no secret."""

    @property
    def grant_type(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def auth_method(self) -> str: ...
    @property
    def allow_insecure_http(self) -> bool: ...

@final
class TokenRequest:
    """A token request as data: POST ``body`` to ``url`` with ``headers``."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def form(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> str: ...

@final
class Pkce:
    """A PKCE verifier and its S256 challenge. ``repr`` hides the verifier."""

    def __new__(cls, verifier: str) -> Pkce: ...
    @staticmethod
    def generate(seed: int | None = None) -> Pkce: ...
    @property
    def verifier(self) -> str: ...
    @property
    def challenge(self) -> str: ...
    @property
    def method(self) -> str: ...

@final
class State:
    """The OAuth ``state`` value. ``repr`` hides it."""

    def __new__(cls, value: str) -> State: ...
    @staticmethod
    def generate(seed: int | None = None) -> State: ...
    @property
    def value(self) -> str: ...
    def matches(self, received: str) -> bool: ...

# ----- the refresh machine --------------------------------------------------------------------

@final
class Ticket:
    """The single outstanding refresh: send the request, then close the ticket."""

    @property
    def id(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def form(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> str: ...

@final
class Authorization:
    """What the caller of an API request does now (``kind``)."""

    @property
    def kind(self) -> Literal["ready", "ready_and_refresh", "refresh", "wait", "failed"]: ...
    @property
    def header(self) -> str | None: ...
    @property
    def token_id(self) -> int | None: ...
    @property
    def ticket(self) -> Ticket | None: ...
    @property
    def until(self) -> Reading | None: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def wait_reason(self) -> str | None: ...
    @property
    def error(self) -> TokenClockError | None: ...

@final
class Verdict:
    """What to do with an API response: ``accept``, ``retry`` (after ``wait``) or ``fail``."""

    @property
    def kind(self) -> Literal["accept", "retry", "fail"]: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def diagnosis(self) -> str | None: ...
    @property
    def evidence(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> ClockSkewError | None: ...

@final
class AfterResponse:
    """What an adapter does with an API response: ``return``, ``return_refusal``, ``retry``
    (after ``wait``) or ``raise`` (``error``)."""

    @property
    def kind(self) -> Literal["return", "return_refusal", "retry", "raise"]: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def diagnosis(self) -> str | None: ...
    @property
    def error(self) -> ClockSkewError | None: ...

@final
class Session:
    """The refresh state machine for one credential and audience. Thread-safe."""

    def __new__(
        cls,
        grant: Grant,
        *,
        margin: float | None = None,
        margin_cap: float | None = None,
        refresh_window: tuple[float, float] | None = None,
        refresh_before: float | None = None,
        assumed_lifetime: float | None = None,
        max_wait: float | None = None,
        not_before: str | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        max_retry_after: float | None = None,
        config_retry: float | None = None,
        drift_ppm: int | None = None,
        max_samples: int | None = None,
        ticket_timeout: float | None = None,
        max_401_wait: float | None = None,
        token_timeout: float | None = None,
        refreshes_per_call: int | None = None,
        partition: str | None = None,
        clock: _Clock = None,
        seed: int | None = None,
    ) -> Session: ...
    def authorize(self, now: Reading | None = None) -> Authorization: ...
    def authorize_token(self, now: Reading | None = None) -> int | Authorization: ...
    def authorize_token_now(self) -> int | Authorization: ...
    def _credential_now(self) -> Any: ...
    def _set_credential(self, token_id: int, credential: Any) -> None: ...
    def token_header(self, token_id: int) -> str | None: ...
    def complete_refresh(
        self,
        ticket: Ticket | int,
        status: int,
        headers: _Headers,
        body: _Body,
        sent: Reading,
        received: Reading | None = None,
    ) -> int: ...
    def fail_refresh(self, ticket: Ticket | int, failure: str, now: Reading | None = None) -> TokenClockError: ...
    def add_issuer_date(self, date: str, sent: Reading, received: Reading | None = None) -> None: ...
    def on_response(
        self,
        token_id: int,
        status: int,
        headers: _Headers,
        sent: Reading,
        received: Reading | None = None,
    ) -> Verdict: ...
    def after_response(
        self,
        token_id: int,
        status: int,
        headers: _Headers,
        sent: Reading,
        received: Reading | None = None,
        *,
        attempt: int = 1,
        replayable: bool = True,
    ) -> AfterResponse: ...
    @property
    def token_timeout(self) -> float: ...
    def set_token_timeout(self, seconds: float) -> None: ...
    @property
    def max_token_response_len(self) -> int: ...
    @property
    def refreshes_per_call(self) -> int: ...
    def next_timeout(self, now: Reading | None = None) -> Reading | None: ...
    def stats(self) -> dict[str, int]: ...
    def estimates(self, now: Reading | None = None) -> tuple[Estimate, Estimate]: ...
    def token_state(self, now: Reading | None = None) -> TokenState | None: ...
    def current_token(self) -> tuple[int, Lifetime] | None: ...
    @property
    def refresh_in_flight(self) -> bool: ...
    def poll_event(self) -> dict[str, Any] | None: ...
    def events(self) -> list[dict[str, Any]]: ...

# ----- resource server ------------------------------------------------------------------------

@final
class Verifier:
    """Verifies JWTs: pinned algorithms, a key, ``iss``/``aud``, time claims with leeway."""

    def __new__(
        cls,
        key: bytes | bytearray | str | Mapping[str, Any],
        algorithms: list[str],
        *,
        leeway: float = 5.0,
        issuer: str | None = None,
        audience: str | Iterable[str] | None = None,
        max_age: float | None = None,
        allow_large_leeway: bool = False,
        require_exp: bool = True,
        clock: _Clock = None,
    ) -> Verifier: ...
    @staticmethod
    def from_jwk(
        jwk: str | bytes | bytearray | Mapping[str, Any],
        algorithms: list[str],
        *,
        leeway: float = 5.0,
        issuer: str | None = None,
        audience: str | Iterable[str] | None = None,
        max_age: float | None = None,
        allow_large_leeway: bool = False,
        require_exp: bool = True,
        clock: _Clock = None,
    ) -> Verifier: ...
    @staticmethod
    def from_jwks(
        jwks: str | bytes | bytearray | Mapping[str, Any],
        algorithms: list[str],
        *,
        leeway: float = 5.0,
        issuer: str | None = None,
        audience: str | Iterable[str] | None = None,
        max_age: float | None = None,
        allow_large_leeway: bool = False,
        require_exp: bool = True,
        clock: _Clock = None,
    ) -> Verifier: ...
    def verify(self, token: str | bytes | bytearray, now: float | None = None) -> dict[str, Any]: ...
    @staticmethod
    def from_issuer(issuer: str, **options: Any) -> RemoteVerifier: ...
    @staticmethod
    def from_jwks_uri(jwks_uri: str, **options: Any) -> RemoteVerifier: ...
    @property
    def algorithms(self) -> list[str]: ...
    @property
    def kids(self) -> list[str]: ...
    @property
    def key_count(self) -> int: ...
    @property
    def leeway(self) -> float: ...

@final
class FetchTicket:
    """One fetch to perform for a ``KeySet``."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> Literal["discovery", "jwks"]: ...
    @property
    def url(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_body_bytes(self) -> int: ...

@final
class KeyStep:
    """What a verification does now (``KeySet.step``, ``KeySet.on_unknown_kid``)."""

    @property
    def kind(self) -> Literal["ready", "ready_and_fetch", "fetch", "wait", "unavailable", "no"]: ...
    @property
    def ticket(self) -> FetchTicket | None: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def error(self) -> KeysUnavailable | None: ...

@final
class KeySet:
    """The issuer's key set: fetched by the host, cached and refetched by core's rules."""

    def __new__(
        cls,
        jwks_uri: str | None = None,
        *,
        issuer: str | None = None,
        algorithms: list[str],
        leeway: float = 5.0,
        audience: str | Iterable[str] | None = None,
        issuer_claim: str | None = None,
        max_age: float | None = None,
        require_exp: bool = True,
        fetch_timeout: float = 5.0,
        cooldown: float = 30.0,
        cache: float = 600.0,
        min_cache: float = 60.0,
        max_cache: float = 3600.0,
        grace: float = 300.0,
        retry_min: float = 1.0,
        retry_max: float = 300.0,
        allow_plain_http: bool = False,
        discovery: str = "openid",
        clock: _Clock = None,
    ) -> KeySet: ...
    def step(self, now: Reading | None = None) -> KeyStep: ...
    def on_unknown_kid(self, now: Reading | None = None) -> KeyStep: ...
    def on_response(
        self,
        ticket_id: int,
        status: int,
        body: bytes,
        *,
        date: str | None = None,
        cache_control: str | None = None,
        age: str | None = None,
        sent: Reading | None = None,
        received: Reading | None = None,
    ) -> dict[str, Any]: ...
    def on_failure(self, ticket_id: int, code: str = "transport_error", now: Reading | None = None) -> None: ...
    def verify(self, token: str | bytes | bytearray, now: Reading | None = None) -> dict[str, Any]: ...
    def estimate(self, now: Reading | None = None) -> Estimate: ...
    def clock_off(self, now: Reading | None = None) -> bool | None: ...
    def poll_event(self) -> dict[str, Any] | None: ...
    @property
    def jwks_uri(self) -> str | None: ...
    @property
    def kids(self) -> list[str]: ...
    @property
    def leeway(self) -> float: ...

@final
class SkewMonitor:
    """A mergeable histogram of accepted tokens' ages and a verdict on this clock."""

    def __new__(cls, *, clock: _Clock = None) -> SkewMonitor: ...
    def record(self, age: float) -> None: ...
    def record_token(self, iat: float, now: float | None = None) -> None: ...
    def merge(self, other: SkewMonitor) -> None: ...
    def quantile(self, q: float) -> float | None: ...
    def assessment(self) -> dict[str, Any]: ...
    @property
    def count(self) -> int: ...
    @property
    def sum(self) -> float: ...
    @property
    def bucket_counts(self) -> list[int]: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(text: str) -> SkewMonitor: ...
    def prometheus(self, name: str) -> str: ...
    def __len__(self) -> int: ...

# ----- the command line as a machine (core `cli::CliRun`; the executor is tokenclock.cli) ------

@final
class _CliAction:
    """What the executor must do next: ``kind`` and the fields of that kind."""

    @property
    def kind(self) -> Literal["read", "http", "sntp", "wait", "write_file", "write", "exit"]: ...
    @property
    def path(self) -> str | None: ...
    @property
    def max_bytes(self) -> int | None: ...
    @property
    def id(self) -> int | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def method(self) -> Literal["HEAD", "GET"] | None: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def stream(self) -> Literal["stdout", "stderr"] | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def data(self) -> bytes | None: ...
    @property
    def code(self) -> int | None: ...

@final
class _CliRun:
    """One ``tokenclock`` run: ``poll(Reading.now())`` and answer each action until ``exit``."""

    def __new__(cls, argv: list[str], env: Mapping[str, str], stdout_is_terminal: bool) -> _CliRun: ...
    @property
    def command(self) -> str | None: ...
    def poll(self, now: Reading) -> _CliAction: ...
    def on_read(self, data: bytes) -> None: ...
    def on_read_error(self, problem: str) -> None: ...
    def on_written(self) -> None: ...
    def on_write_error(self, problem: str) -> None: ...
    def on_http_response(
        self,
        id: int,
        status: int,
        date: str | None,
        age: str | None,
        sent: Reading,
        received: Reading,
    ) -> None: ...
    def sntp_packet(self, id: int, now: Reading, entropy: int) -> bytes | None: ...
    def on_sntp_reply(self, id: int, reply: bytes, received: Reading) -> None: ...
    def on_transport_error(self, id: int, code: str) -> None: ...
    def on_internal_error(self, code: str | None, class_name: str) -> None: ...

# ----- fleet ---------------------------------------------------------------------------------

LUA_TAKE_LEASE: str
LUA_PUBLISH: str
LUA_RELEASE: str

def store_keys(session: Session, prefix: str = "tokenclock", *, sealed: bool = False) -> tuple[str, str, str]:
    """``(record, lease, fence)`` keys of the session's credential identity. Raises
    ``ConfigError`` with code ``partition_required`` or ``encryption_required``."""

@final
class FleetAction:
    """What the host does next for a fleet refresh; ``kind`` names it."""

    @property
    def kind(self) -> Literal["read", "probe_issuer", "take_lease", "fetch", "publish", "release", "wait", "done"]: ...
    @property
    def fencing(self) -> int | None: ...
    @property
    def lease(self) -> str | None: ...
    @property
    def request(self) -> tuple[str, str, list[tuple[str, str]], str] | None: ...
    @property
    def lease_ms(self) -> int | None: ...
    @property
    def value(self) -> str | None: ...
    @property
    def ttl_ms(self) -> int | None: ...
    @property
    def until(self) -> Reading | None: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def token_id(self) -> int | None: ...
    @property
    def outcome(self) -> Literal["adopted", "published", "fetched", "fetch_failed", "abandoned"] | None: ...

@final
class FleetRefresh:
    """The fleet refresh protocol for one ticket (decisions in core; store I/O by the host)."""

    def __new__(
        cls,
        ticket: Ticket | int,
        store_key: str,
        *,
        lease: float | None = None,
        poll: float | None = None,
        max_wait: float | None = None,
        encryption_key: bytes | None = None,
    ) -> FleetRefresh: ...
    @property
    def action(self) -> FleetAction: ...
    def notes(self) -> list[str]: ...
    def on_record(self, session: Session, value: str | None, now: Reading | None = None) -> FleetAction: ...
    def token_timeout(self, session: Session) -> float: ...
    def on_probe(self, session: Session, now: Reading | None = None) -> FleetAction: ...
    def on_lease(self, session: Session, fencing: int | None, now: Reading | None = None) -> FleetAction: ...
    def on_wake(self, session: Session, now: Reading | None = None) -> FleetAction: ...
    def on_fetched(self, session: Session, ok: bool, now: Reading | None = None) -> FleetAction: ...
    def on_published(self, written: bool) -> FleetAction: ...
    def on_released(self) -> FleetAction: ...
    def on_store_error(self, session: Session, now: Reading | None = None) -> FleetAction: ...
