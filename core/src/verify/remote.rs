//! A remote key set: the issuer's JWKS, fetched, cached and refetched — a sans-I/O machine.
//!
//! [`RemoteKeySet`] says what to fetch and when ([`FetchTicket`]); the host performs the `GET`
//! and feeds the response back ([`RemoteKeySet::on_response`] / [`RemoteKeySet::on_failure`]).
//! Every rule lives here, so the Python and JavaScript front-ends behave identically (the
//! transcript vectors of `tests/vectors/verify/keyset.json` run in all three languages):
//!
//! * **Discovery first** when built from an issuer ([`KeySetSource::Issuer`]): the metadata
//!   document's `issuer` must equal the configured issuer exactly; its `jwks_uri` is used
//!   (see [`super::discovery`]).
//! * **Cache lifetime** from the key set response's `Cache-Control: max-age` (less its `Age`),
//!   bounded to `min_cache_ms..=max_cache_ms`; [`KeySetConfig::default_cache_ms`] without one.
//!   A stale set keeps being used while one background fetch replaces it
//!   ([`KeyStep::ReadyAndFetch`]).
//! * **Single flight**: one fetch is in flight at a time, however many verifications need it;
//!   the others [`KeyStep::Wait`]. A fetch the host never reports back ends at its deadline
//!   (`fetch_timeout_ms`), so a hung or killed fetch cannot block the set.
//! * **Unknown `kid`**: a token naming a key the set lacks may trigger a refetch
//!   ([`RemoteKeySet::on_unknown_kid`]), at most once per `cooldown_ms` after the previous fetch
//!   ended — a stream of tokens with made-up `kid`s costs the issuer one request per cooldown.
//! * **Never drops the last good key set**: a failed, refused or malformed fetch keeps the
//!   current keys in use, and is retried with exponential backoff (`retry_min_ms` doubling to
//!   `retry_max_ms`); [`KeySetEvent::FetchFailed`] is emitted once per run of failures and
//!   [`KeySetEvent::Recovered`] when a fetch succeeds again.
//! * **Rotation grace**: a key that disappears from the set is still accepted for `grace_ms`
//!   (tokens signed just before a rotation stay valid until they expire naturally).
//! * **Limits**: a response body over [`MAX_FETCH_BYTES`] is refused (the ticket says so, so
//!   the host stops reading there), at most [`super::MAX_JWKS_KEYS`] keys; only keys usable for
//!   signatures with the pinned algorithms count (`use: sig`, `key_ops` with `verify`), and a set
//!   with none is refused like a malformed one.
//! * **The issuer's clock**: every response's `Date` (with no `Age`) is a sample of the issuer's
//!   clock ([`crate::skew`]); [`RemoteKeySet::estimate`] gives the offset interval, and
//!   [`KeySetEvent::ClockOffset`] fires once when this host's clock is off from the issuer's by
//!   more than the verifier's leeway (the leeway is never widened).
//!
//! All intervals run on the monotonic clock of the [`Reading`]s the host passes.

use core::fmt;
use std::collections::VecDeque;

use super::discovery::{check_url, discovery_url, parse_metadata, DiscoveryKind};
use super::keys::KeyEntry;
use super::{KeySource, Verifier, VerifyError, VerifyOptions};
use crate::httpdate::parse_http_date;
use crate::skew::{Estimate, Sample, SkewEstimator};
use crate::time::{MonoMillis, Reading};
use crate::ErrorCode;

/// Largest response body (discovery document or key set) accepted: 256 KiB. A JWKS of 100
/// RSA-4096 keys is about 80 KB.
pub const MAX_FETCH_BYTES: usize = 256 * 1024;

/// Default time a fetch may take before it counts as failed: 5 s (as jose's
/// `createRemoteJWKSet`).
pub const DEFAULT_FETCH_TIMEOUT_MS: i64 = 5_000;
/// Default time after a fetch ends before an unknown `kid` may trigger another: 30 s.
pub const DEFAULT_COOLDOWN_MS: i64 = 30_000;
/// Default cache lifetime of a key set whose response has no `max-age`: 10 min.
pub const DEFAULT_CACHE_MS: i64 = 600_000;
/// Default lower bound of a key set's cache lifetime: 1 min (also what `no-cache`, `no-store`
/// and `max-age=0` get: a key set is never refetched per request).
pub const DEFAULT_MIN_CACHE_MS: i64 = 60_000;
/// Default upper bound of a key set's cache lifetime: 1 h.
pub const DEFAULT_MAX_CACHE_MS: i64 = 3_600_000;
/// Default time a key that disappeared from the set is still accepted: 5 min.
pub const DEFAULT_GRACE_MS: i64 = 300_000;
/// Default first retry delay after a failed fetch: 1 s (doubling).
pub const DEFAULT_RETRY_MIN_MS: i64 = 1_000;
/// Default largest retry delay: 5 min.
pub const DEFAULT_RETRY_MAX_MS: i64 = 300_000;
/// Largest value any duration of [`KeySetConfig`] may take: 1 day.
pub const MAX_CONFIG_MS: i64 = 86_400_000;

/// How a [`RemoteKeySet`] fetches and caches. Build with `KeySetConfig::default()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySetConfig {
    /// How long a fetch may take ([`DEFAULT_FETCH_TIMEOUT_MS`]); the host uses it as its
    /// request timeout, and core ends a ticket that was not reported back by then.
    pub fetch_timeout_ms: i64,
    /// Time after a fetch ends before an unknown `kid` may trigger another
    /// ([`DEFAULT_COOLDOWN_MS`]).
    pub cooldown_ms: i64,
    /// Cache lifetime without `max-age` ([`DEFAULT_CACHE_MS`]).
    pub default_cache_ms: i64,
    /// Lower bound of the cache lifetime ([`DEFAULT_MIN_CACHE_MS`]).
    pub min_cache_ms: i64,
    /// Upper bound of the cache lifetime ([`DEFAULT_MAX_CACHE_MS`]).
    pub max_cache_ms: i64,
    /// How long a key that left the set is still accepted ([`DEFAULT_GRACE_MS`]; 0: not at
    /// all).
    pub grace_ms: i64,
    /// First retry delay after a failed fetch ([`DEFAULT_RETRY_MIN_MS`]).
    pub retry_min_ms: i64,
    /// Largest retry delay ([`DEFAULT_RETRY_MAX_MS`]).
    pub retry_max_ms: i64,
    /// Accept plain `http` URLs to hosts that are not loopback (in-cluster issuers). Off by
    /// default: keys fetched over plain http can be replaced by anyone on the path.
    pub allow_plain_http: bool,
    /// Which metadata document an [`KeySetSource::Issuer`] is discovered with.
    pub discovery: DiscoveryKind,
}

impl Default for KeySetConfig {
    fn default() -> Self {
        KeySetConfig {
            fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
            default_cache_ms: DEFAULT_CACHE_MS,
            min_cache_ms: DEFAULT_MIN_CACHE_MS,
            max_cache_ms: DEFAULT_MAX_CACHE_MS,
            grace_ms: DEFAULT_GRACE_MS,
            retry_min_ms: DEFAULT_RETRY_MIN_MS,
            retry_max_ms: DEFAULT_RETRY_MAX_MS,
            allow_plain_http: false,
            discovery: DiscoveryKind::OpenIdConnect,
        }
    }
}

impl KeySetConfig {
    fn validate(&self) -> Result<(), KeySetError> {
        let fields = [
            ("fetch_timeout_ms", self.fetch_timeout_ms, 1),
            ("cooldown_ms", self.cooldown_ms, 0),
            ("default_cache_ms", self.default_cache_ms, 0),
            ("min_cache_ms", self.min_cache_ms, 0),
            ("max_cache_ms", self.max_cache_ms, 0),
            ("grace_ms", self.grace_ms, 0),
            ("retry_min_ms", self.retry_min_ms, 1),
            ("retry_max_ms", self.retry_max_ms, 1),
        ];
        for (what, value, low) in fields {
            if !(low..=MAX_CONFIG_MS).contains(&value) {
                return Err(KeySetError::InvalidConfig { what });
            }
        }
        if self.min_cache_ms > self.max_cache_ms {
            return Err(KeySetError::InvalidConfig {
                what: "min_cache_ms (above max_cache_ms)",
            });
        }
        if self.retry_min_ms > self.retry_max_ms {
            return Err(KeySetError::InvalidConfig {
                what: "retry_min_ms (above retry_max_ms)",
            });
        }
        Ok(())
    }
}

/// Where the keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySetSource {
    /// An issuer identifier: discover its `jwks_uri` first. The verifier's options get this
    /// issuer as the required `iss` when they name none.
    Issuer(String),
    /// A JWKS URL, fetched directly.
    JwksUri(String),
}

/// Why a key-set operation failed. Codes are stable and shared with the bindings; nothing here
/// carries key or token text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySetError {
    /// `invalid_config`: a [`KeySetConfig`] field out of range, or invalid verifier options.
    InvalidConfig {
        /// The field at fault.
        what: &'static str,
    },
    /// `invalid_url`: not an absolute http(s) URL, has credentials or a fragment (or, for an
    /// issuer, a query).
    InvalidUrl {
        /// Which URL (`issuer`, `jwks_uri`).
        what: &'static str,
    },
    /// `insecure_url`: plain `http` to a host that is not loopback, without
    /// [`KeySetConfig::allow_plain_http`].
    InsecureUrl {
        /// Which URL.
        what: &'static str,
    },
    /// `issuer_mismatch`: the metadata document names another issuer than the configured one.
    IssuerMismatch,
    /// `invalid_metadata`: the metadata document is not usable.
    InvalidMetadata {
        /// Why.
        reason: &'static str,
    },
    /// `invalid_jwks`: the fetched key set is not usable (not JSON, no `keys`, too many keys,
    /// no key usable with the pinned algorithms).
    InvalidJwks {
        /// The verifier's code for it (`invalid_jwks`, `invalid_key`, `key_algorithm_mismatch`).
        code: &'static str,
    },
    /// `http_error`: the response status was not 200.
    HttpStatus {
        /// The status.
        status: u16,
    },
    /// `too_large`: the body exceeded [`MAX_FETCH_BYTES`].
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// `transport_error`: the host could not complete the request (connection refused, TLS,
    /// reset, its own timeout).
    Transport,
    /// `timeout`: the fetch was not reported back within `fetch_timeout_ms`.
    Timeout,
    /// `stale_ticket`: a response or failure for a fetch that is no longer in flight (it timed
    /// out, or belongs to another set); ignored.
    StaleTicket,
    /// `keys_unavailable`: no key set has been fetched yet and the last attempt failed; the
    /// next one is due in `retry_in_ms`.
    KeysUnavailable {
        /// The last failure's code.
        cause: &'static str,
        /// Time until the next fetch may be tried.
        retry_in_ms: i64,
    },
}

impl ErrorCode for KeySetError {
    fn code(&self) -> &'static str {
        match self {
            KeySetError::InvalidConfig { .. } => "invalid_config",
            KeySetError::InvalidUrl { .. } => "invalid_url",
            KeySetError::InsecureUrl { .. } => "insecure_url",
            KeySetError::IssuerMismatch => "issuer_mismatch",
            KeySetError::InvalidMetadata { .. } => "invalid_metadata",
            KeySetError::InvalidJwks { .. } => "invalid_jwks",
            KeySetError::HttpStatus { .. } => "http_error",
            KeySetError::TooLarge { .. } => "too_large",
            KeySetError::Transport => "transport_error",
            KeySetError::Timeout => "timeout",
            KeySetError::StaleTicket => "stale_ticket",
            KeySetError::KeysUnavailable { .. } => "keys_unavailable",
        }
    }
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySetError::InvalidConfig { what } => write!(f, "invalid key set option: {what}"),
            KeySetError::InvalidUrl { what } => write!(
                f,
                "{what} must be an absolute https URL without credentials, query or fragment"
            ),
            KeySetError::InsecureUrl { what } => write!(
                f,
                "{what} uses plain http to a host that is not loopback (use https, or opt in to \
                 plain http for in-cluster issuers)"
            ),
            KeySetError::IssuerMismatch => f.write_str(
                "the discovery document names a different issuer than the configured one",
            ),
            KeySetError::InvalidMetadata { reason } => {
                write!(f, "the discovery document is not usable: {reason}")
            }
            KeySetError::InvalidJwks { code } => {
                write!(f, "the fetched key set is not usable ({code})")
            }
            KeySetError::HttpStatus { status } => write!(f, "the key server answered {status}"),
            KeySetError::TooLarge { limit } => {
                write!(f, "the response body is larger than {limit} bytes")
            }
            KeySetError::Transport => f.write_str("the key server could not be reached"),
            KeySetError::Timeout => f.write_str("the key fetch timed out"),
            KeySetError::StaleTicket => f.write_str("this fetch is no longer in flight"),
            KeySetError::KeysUnavailable { cause, retry_in_ms } => write!(
                f,
                "no key set is available yet (last fetch: {cause}); next attempt in {retry_in_ms} ms"
            ),
        }
    }
}

impl std::error::Error for KeySetError {}

/// What a fetch is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchKind {
    /// The issuer's metadata document.
    Discovery,
    /// The key set.
    Jwks,
}

impl FetchKind {
    /// Stable name: `discovery` or `jwks`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FetchKind::Discovery => "discovery",
            FetchKind::Jwks => "jwks",
        }
    }
}

/// One fetch to perform: `GET url` (`Accept: application/json`), at most `timeout_ms`, reading
/// at most `max_body_bytes`; then [`RemoteKeySet::on_response`] or
/// [`RemoteKeySet::on_failure`] with its `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchTicket {
    /// Identifies the fetch when its result is reported.
    pub id: u64,
    /// What is fetched.
    pub kind: FetchKind,
    /// The URL (checked: https, or loopback / opted-in plain http).
    pub url: String,
    /// The request timeout.
    pub timeout_ms: i64,
    /// Stop reading (and report [`KeySetError::TooLarge`]'s case as a response with the
    /// truncated body, or a failure) beyond this many bytes.
    pub max_body_bytes: usize,
}

/// What a verification should do now ([`RemoteKeySet::step`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyStep {
    /// Verify with [`RemoteKeySet::verifier`].
    Ready,
    /// Verify with [`RemoteKeySet::verifier`], and perform this fetch in the background (the
    /// cache is stale, or a failed fetch's retry is due).
    ReadyAndFetch(FetchTicket),
    /// There is no key set yet: perform this fetch (this caller holds the only ticket), then
    /// ask again.
    Fetch(FetchTicket),
    /// Another caller's fetch is in flight and there is no key set yet: wait until it is
    /// reported (at most `wait_ms`), then ask again.
    Wait {
        /// Until the in-flight fetch's deadline.
        wait_ms: i64,
    },
    /// There is no key set and none can be fetched now: fail this verification
    /// ([`KeySetError::KeysUnavailable`]).
    Unavailable(KeySetError),
}

/// What to do about a token whose `kid` the set lacks ([`RemoteKeySet::on_unknown_kid`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refetch {
    /// Fetch the key set (this caller holds the only ticket), then verify again.
    Fetch(FetchTicket),
    /// A fetch is in flight: wait for it (at most `wait_ms`), then verify again.
    Wait {
        /// Until the in-flight fetch's deadline.
        wait_ms: i64,
    },
    /// No fetch now (cooldown or backoff): the token's `unknown_kid` stands.
    No {
        /// Time until an unknown `kid` may trigger a fetch again.
        retry_in_ms: i64,
    },
}

/// A response to a [`FetchTicket`], as the host received it.
#[derive(Clone, Copy, Debug)]
pub struct FetchResponse<'a> {
    /// HTTP status.
    pub status: u16,
    /// The body (at most the ticket's `max_body_bytes`; a longer one is refused).
    pub body: &'a [u8],
    /// The `Date` header, if any.
    pub date: Option<&'a str>,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<&'a str>,
    /// The `Age` header, if any (a cached response: its `Date` says nothing about the
    /// issuer's clock now, and its lifetime is shorter).
    pub age: Option<&'a str>,
}

/// The effect of an accepted response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Discovery succeeded; the key set is fetched next.
    Discovered,
    /// A new key set is in use.
    KeysUpdated {
        /// Usable keys (including keys kept for the rotation grace).
        keys: usize,
        /// How long until it is stale, ms.
        fresh_for_ms: i64,
    },
}

/// Something a host should log or count ([`RemoteKeySet::poll_event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySetEvent {
    /// The issuer's metadata named this key set URL.
    Discovered {
        /// The `jwks_uri`.
        jwks_uri: String,
    },
    /// A key set was fetched and is in use.
    KeysUpdated {
        /// Usable keys in the document.
        keys: usize,
        /// `kid`s that are new.
        added: Vec<String>,
        /// `kid`s that left the set (accepted for the grace period).
        removed: Vec<String>,
        /// Cache lifetime, ms.
        fresh_for_ms: i64,
    },
    /// The first failure of a run of failed fetches (once per run).
    FetchFailed {
        /// What was fetched.
        kind: FetchKind,
        /// The failure's code ([`KeySetError`]).
        code: &'static str,
        /// Next attempt in, ms.
        retry_in_ms: i64,
        /// Whether a previously fetched key set keeps being used.
        serving_last_good: bool,
    },
    /// A fetch succeeded after `failures` failed ones.
    Recovered {
        /// How many fetches had failed in a row.
        failures: u32,
    },
    /// Keys that left the set are no longer accepted (their grace period ended).
    GraceEnded {
        /// Their `kid`s.
        kids: Vec<String>,
    },
    /// This host's clock is off from the issuer's by more than the verifier's leeway (the
    /// whole offset interval is outside `±leeway`): tokens will be judged expired early or
    /// not yet valid late. Fired once until the clocks agree again.
    ClockOffset {
        /// Lowest possible `issuer − local` offset, ms.
        low_ms: Option<i64>,
        /// Highest possible offset, ms.
        high_ms: Option<i64>,
        /// The verifier's leeway, ms.
        leeway_ms: i64,
    },
    /// After a [`KeySetEvent::ClockOffset`]: the offset interval reaches within `±leeway`
    /// again.
    ClockAgrees {
        /// Best offset estimate, ms.
        offset_ms: i64,
    },
}

impl KeySetEvent {
    /// Stable name: `discovered`, `keys_updated`, `fetch_failed`, `recovered`, `grace_ended`,
    /// `clock_offset`, `clock_agrees`.
    pub const fn name(&self) -> &'static str {
        match self {
            KeySetEvent::Discovered { .. } => "discovered",
            KeySetEvent::KeysUpdated { .. } => "keys_updated",
            KeySetEvent::FetchFailed { .. } => "fetch_failed",
            KeySetEvent::Recovered { .. } => "recovered",
            KeySetEvent::GraceEnded { .. } => "grace_ended",
            KeySetEvent::ClockOffset { .. } => "clock_offset",
            KeySetEvent::ClockAgrees { .. } => "clock_agrees",
        }
    }
}

/// A key that left the set, accepted until `until`.
#[derive(Clone)]
struct Retired {
    kid: String,
    entry: KeyEntry,
    until: MonoMillis,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: u64,
    kind: FetchKind,
    deadline: MonoMillis,
}

/// Events kept before the oldest are dropped (a host that never polls loses old ones).
const MAX_EVENTS: usize = 64;

/// The issuer's key set, cached (see the module docs). Not thread-safe by itself: hosts keep
/// it behind their lock and perform fetches outside it.
#[derive(Clone)]
pub struct RemoteKeySet {
    config: KeySetConfig,
    options: VerifyOptions,
    source: KeySetSource,
    jwks_uri: Option<String>,
    /// The document's keys plus the retired ones still in grace.
    verifier: Option<Verifier>,
    /// The last document's keys (`kid`, entry), to find what a new document removes.
    document: Vec<(Option<String>, KeyEntry)>,
    retired: Vec<Retired>,
    fresh_until: Option<MonoMillis>,
    /// When the last key set fetch ended (success or failure): the unknown-`kid` cooldown.
    last_fetch_end: Option<MonoMillis>,
    in_flight: Option<InFlight>,
    next_id: u64,
    failures: u32,
    retry_at: Option<MonoMillis>,
    last_error: Option<&'static str>,
    skew: SkewEstimator,
    clock_warned: bool,
    events: VecDeque<KeySetEvent>,
    /// Counts changes of the keys in use.
    generation: u64,
}

impl fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeySet")
            .field("source", &self.source)
            .field("jwks_uri", &self.jwks_uri)
            .field("keys", &self.verifier.as_ref().map(Verifier::key_count))
            .field("in_flight", &self.in_flight.map(|f| f.kind))
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl RemoteKeySet {
    /// A key set from `source`, verifying with `options` (an issuer source sets
    /// `options.issuer` when it is `None`). Nothing is fetched until [`RemoteKeySet::step`].
    ///
    /// Errors: `invalid_config` (a config field, or options a [`Verifier`] refuses),
    /// `invalid_url` / `insecure_url` (the issuer or JWKS URL).
    pub fn new(
        source: KeySetSource,
        mut options: VerifyOptions,
        config: KeySetConfig,
    ) -> Result<RemoteKeySet, KeySetError> {
        config.validate()?;
        options.validate().map_err(|e| KeySetError::InvalidConfig {
            what: match e {
                VerifyError::InvalidConfig { what } => what,
                _ => "leeway_ms (too large)",
            },
        })?;
        let jwks_uri = match &source {
            KeySetSource::Issuer(issuer) => {
                discovery_url(issuer, config.discovery, config.allow_plain_http)?;
                if options.issuer.is_none() {
                    options.issuer = Some(issuer.clone());
                }
                None
            }
            KeySetSource::JwksUri(uri) => {
                check_url(uri, "jwks_uri", config.allow_plain_http)?;
                Some(uri.clone())
            }
        };
        Ok(RemoteKeySet {
            config,
            options,
            source,
            jwks_uri,
            verifier: None,
            document: Vec::new(),
            retired: Vec::new(),
            fresh_until: None,
            last_fetch_end: None,
            in_flight: None,
            next_id: 1,
            failures: 0,
            retry_at: None,
            last_error: None,
            skew: SkewEstimator::new(),
            clock_warned: false,
            events: VecDeque::new(),
            generation: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KeySetConfig {
        &self.config
    }

    /// The verifier options in force.
    pub fn options(&self) -> &VerifyOptions {
        &self.options
    }

    /// The key set URL: configured, or learned by discovery.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// The current keys (the document's plus those in their rotation grace), once a key set
    /// has been fetched. Ask [`RemoteKeySet::step`] first: it drops keys whose grace ended.
    pub fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_ref()
    }

    /// A number that changes whenever the keys in use change (a fetched set, a grace period's
    /// end): a host that shares [`RemoteKeySet::verifier`] with its verifications copies it
    /// again when this moved.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The estimate of the issuer's clock (`issuer − local`), from the responses' `Date`s.
    pub fn estimate(&self, now: Reading) -> Estimate {
        self.skew.estimate(now)
    }

    /// Whether this host's clock is off from the issuer's by more than the verifier's leeway:
    /// `Some(true)` when the whole offset interval is outside `±leeway`, `Some(false)` when it
    /// reaches inside, `None` before any bound on both sides is known. For a metric.
    pub fn clock_off(&self, now: Reading) -> Option<bool> {
        let e = self.skew.estimate(now);
        let (low, high) = (e.low_ms?, e.high_ms?);
        let leeway = self.options.leeway_ms;
        Some(low > leeway || high < -leeway)
    }

    /// The next event to log or count, oldest first.
    pub fn poll_event(&mut self) -> Option<KeySetEvent> {
        self.events.pop_front()
    }

    /// What a verification does now. Also ends a fetch that passed its deadline and drops
    /// keys whose rotation grace ended.
    pub fn step(&mut self, now: Reading) -> KeyStep {
        self.tick(now);
        if let Some(f) = self.in_flight {
            return if self.verifier.is_some() {
                KeyStep::Ready
            } else {
                KeyStep::Wait {
                    wait_ms: f.deadline.since(now.mono).max(0),
                }
            };
        }
        let retry_in = self.retry_at.map_or(0, |at| at.since(now.mono)).max(0);
        if self.verifier.is_none() {
            if retry_in > 0 {
                return KeyStep::Unavailable(KeySetError::KeysUnavailable {
                    cause: self.last_error.unwrap_or("transport_error"),
                    retry_in_ms: retry_in,
                });
            }
            return KeyStep::Fetch(self.ticket(now));
        }
        let stale = self.fresh_until.is_none_or(|t| now.mono >= t);
        if stale && retry_in == 0 {
            return KeyStep::ReadyAndFetch(self.ticket(now));
        }
        KeyStep::Ready
    }

    /// A verification found the token's `kid` missing from the set
    /// ([`VerifyError::UnknownKid`] with `kid_in_token`): fetch again if the cooldown since the
    /// last fetch has passed and no backoff holds, wait for a fetch in flight, or let the error
    /// stand.
    pub fn on_unknown_kid(&mut self, now: Reading) -> Refetch {
        self.tick(now);
        if let Some(f) = self.in_flight {
            return Refetch::Wait {
                wait_ms: f.deadline.since(now.mono).max(0),
            };
        }
        let backoff = self.retry_at.map_or(0, |at| at.since(now.mono)).max(0);
        let cooldown = self
            .last_fetch_end
            .map_or(0, |end| end.plus(self.config.cooldown_ms).since(now.mono))
            .max(0);
        let wait = backoff.max(cooldown);
        if wait > 0 {
            return Refetch::No { retry_in_ms: wait };
        }
        Refetch::Fetch(self.ticket(now))
    }

    /// The host received a response to ticket `id`, sent at `sent` and complete at `received`.
    ///
    /// A non-200 status, an oversized or malformed body, a metadata document for another
    /// issuer or a key set without a usable key is a failed fetch (the current keys stay in
    /// use, the next attempt is backed off) and returned as the error. `stale_ticket`: not the
    /// fetch in flight (nothing changes).
    pub fn on_response(
        &mut self,
        id: u64,
        response: FetchResponse<'_>,
        sent: Reading,
        received: Reading,
    ) -> Result<FetchOutcome, KeySetError> {
        self.tick(received);
        let Some(flight) = self.in_flight.filter(|f| f.id == id) else {
            return Err(KeySetError::StaleTicket);
        };
        self.in_flight = None;
        let result = self.accept(flight.kind, &response, received);
        self.sample_date(&response, sent, received);
        match &result {
            Ok(_) => {
                if self.failures > 0 {
                    self.events.push_back(KeySetEvent::Recovered {
                        failures: self.failures,
                    });
                }
                self.failures = 0;
                self.retry_at = None;
                self.last_error = None;
            }
            Err(e) => self.failed(flight.kind, e.code(), received),
        }
        if flight.kind == FetchKind::Jwks {
            self.last_fetch_end = Some(received.mono);
        }
        self.trim_events();
        result
    }

    /// The host could not complete fetch `id` (`error`: [`KeySetError::Transport`] or
    /// [`KeySetError::Timeout`], or any other code the host found). `stale_ticket` when it is
    /// not the fetch in flight.
    pub fn on_failure(
        &mut self,
        id: u64,
        error: &KeySetError,
        now: Reading,
    ) -> Result<(), KeySetError> {
        self.tick(now);
        let Some(flight) = self.in_flight.filter(|f| f.id == id) else {
            return Err(KeySetError::StaleTicket);
        };
        self.in_flight = None;
        self.failed(flight.kind, error.code(), now);
        if flight.kind == FetchKind::Jwks {
            self.last_fetch_end = Some(now.mono);
        }
        self.trim_events();
        Ok(())
    }

    fn ticket(&mut self, now: Reading) -> FetchTicket {
        let (kind, url) = match (&self.jwks_uri, &self.source) {
            (Some(uri), _) | (None, KeySetSource::JwksUri(uri)) => (FetchKind::Jwks, uri.clone()),
            // Checked in `new`.
            (None, KeySetSource::Issuer(issuer)) => (
                FetchKind::Discovery,
                discovery_url(issuer, self.config.discovery, true).unwrap_or_default(),
            ),
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.in_flight = Some(InFlight {
            id,
            kind,
            deadline: now.mono.plus(self.config.fetch_timeout_ms),
        });
        FetchTicket {
            id,
            kind,
            url,
            timeout_ms: self.config.fetch_timeout_ms,
            max_body_bytes: MAX_FETCH_BYTES,
        }
    }

    /// Ends an overdue fetch; drops retired keys whose grace ended.
    fn tick(&mut self, now: Reading) {
        if let Some(f) = self.in_flight {
            if now.mono >= f.deadline {
                self.in_flight = None;
                self.failed(f.kind, KeySetError::Timeout.code(), now);
                if f.kind == FetchKind::Jwks {
                    self.last_fetch_end = Some(now.mono);
                }
            }
        }
        if self.retired.iter().any(|r| now.mono >= r.until) {
            let (ended, kept): (Vec<Retired>, Vec<Retired>) =
                self.retired.drain(..).partition(|r| now.mono >= r.until);
            self.retired = kept;
            self.events.push_back(KeySetEvent::GraceEnded {
                kids: ended.into_iter().map(|r| r.kid).collect(),
            });
            self.rebuild();
        }
        self.trim_events();
    }

    fn failed(&mut self, kind: FetchKind, code: &'static str, now: Reading) {
        self.failures = self.failures.saturating_add(1);
        let shift = self.failures.saturating_sub(1).min(32);
        let delay = self
            .config
            .retry_min_ms
            .saturating_mul(1_i64 << shift)
            .min(self.config.retry_max_ms);
        self.retry_at = Some(now.mono.plus(delay));
        self.last_error = Some(code);
        if self.failures == 1 {
            self.events.push_back(KeySetEvent::FetchFailed {
                kind,
                code,
                retry_in_ms: delay,
                serving_last_good: self.verifier.is_some(),
            });
        }
    }

    fn accept(
        &mut self,
        kind: FetchKind,
        response: &FetchResponse<'_>,
        received: Reading,
    ) -> Result<FetchOutcome, KeySetError> {
        if response.status != 200 {
            return Err(KeySetError::HttpStatus {
                status: response.status,
            });
        }
        if response.body.len() > MAX_FETCH_BYTES {
            return Err(KeySetError::TooLarge {
                limit: MAX_FETCH_BYTES,
            });
        }
        match kind {
            FetchKind::Discovery => {
                let KeySetSource::Issuer(issuer) = &self.source else {
                    return Err(KeySetError::StaleTicket);
                };
                let expected = issuer.clone();
                let meta = parse_metadata(response.body, &expected, self.config.allow_plain_http)?;
                self.events.push_back(KeySetEvent::Discovered {
                    jwks_uri: meta.jwks_uri.clone(),
                });
                self.jwks_uri = Some(meta.jwks_uri);
                Ok(FetchOutcome::Discovered)
            }
            FetchKind::Jwks => {
                let text =
                    core::str::from_utf8(response.body).map_err(|_| KeySetError::InvalidJwks {
                        code: "invalid_jwks",
                    })?;
                let fresh = Verifier::new(KeySource::Jwks(text), self.options.clone())
                    .map_err(|e| KeySetError::InvalidJwks { code: e.code() })?;
                let fresh_for = self.lifetime(response);
                self.install(fresh, received, fresh_for);
                let keys = self.verifier.as_ref().map_or(0, Verifier::key_count);
                Ok(FetchOutcome::KeysUpdated {
                    keys,
                    fresh_for_ms: fresh_for,
                })
            }
        }
    }

    /// Puts a freshly fetched set in use: keys that left it are retired for the grace period,
    /// retired keys that came back are no longer retired.
    fn install(&mut self, fresh: Verifier, received: Reading, fresh_for: i64) {
        let new_kids: Vec<Option<String>> = fresh.keys.iter().map(|k| k.kid.clone()).collect();
        let old_kids: Vec<Option<String>> = self.document.iter().map(|(k, _)| k.clone()).collect();
        let added: Vec<String> = new_kids
            .iter()
            .flatten()
            .filter(|k| !old_kids.contains(&Some((*k).clone())))
            .cloned()
            .collect();
        self.retired
            .retain(|r| !new_kids.contains(&Some(r.kid.clone())));
        let mut removed = Vec::new();
        for (kid, entry) in self.document.drain(..) {
            let Some(kid) = kid.filter(|k| !new_kids.contains(&Some(k.clone()))) else {
                continue;
            };
            removed.push(kid.clone());
            if self.config.grace_ms > 0 {
                self.retired.push(Retired {
                    kid,
                    entry,
                    until: received.mono.plus(self.config.grace_ms),
                });
            }
        }
        self.document = fresh
            .keys
            .iter()
            .map(|k| (k.kid.clone(), k.clone()))
            .collect();
        self.events.push_back(KeySetEvent::KeysUpdated {
            keys: fresh.keys.len(),
            added,
            removed,
            fresh_for_ms: fresh_for,
        });
        self.verifier = Some(fresh);
        self.fresh_until = Some(received.mono.plus(fresh_for));
        self.rebuild();
    }

    /// The verifier = the document's keys + the retired keys still in grace.
    fn rebuild(&mut self) {
        let Some(v) = self.verifier.as_mut() else {
            return;
        };
        let mut keys: Vec<KeyEntry> = self.document.iter().map(|(_, e)| e.clone()).collect();
        keys.extend(self.retired.iter().map(|r| r.entry.clone()));
        v.keys = keys;
        self.generation = self.generation.wrapping_add(1);
    }

    /// The cache lifetime of a key set response: `max-age` less `Age`, bounded.
    fn lifetime(&self, response: &FetchResponse<'_>) -> i64 {
        let c = &self.config;
        let age_ms = response
            .age
            .and_then(|a| a.trim().parse::<i64>().ok())
            .filter(|a| *a >= 0)
            .map_or(0, |a| a.saturating_mul(1_000));
        let from_header = response.cache_control.and_then(max_age_ms);
        let lifetime = from_header.unwrap_or(c.default_cache_ms);
        lifetime
            .saturating_sub(age_ms)
            .clamp(c.min_cache_ms, c.max_cache_ms)
    }

    /// Feeds the response's `Date` to the issuer-clock estimate (not a cached response's) and
    /// fires or clears the clock warning.
    fn sample_date(&mut self, response: &FetchResponse<'_>, sent: Reading, received: Reading) {
        let cached = response
            .age
            .is_some_and(|a| a.trim().parse::<i64>() != Ok(0));
        let Some(date) = response.date.filter(|_| !cached) else {
            return;
        };
        let Ok(date) = parse_http_date(date, received.wall) else {
            return;
        };
        self.skew.observe(received);
        let Ok(sample) = Sample::from_date_header(date, sent, received) else {
            return;
        };
        self.skew.add(sample);
        let e = self.skew.estimate(received);
        match self.clock_off(received) {
            Some(true) if !self.clock_warned => {
                self.clock_warned = true;
                self.events.push_back(KeySetEvent::ClockOffset {
                    low_ms: e.low_ms,
                    high_ms: e.high_ms,
                    leeway_ms: self.options.leeway_ms,
                });
            }
            Some(false) if self.clock_warned => {
                self.clock_warned = false;
                self.events.push_back(KeySetEvent::ClockAgrees {
                    offset_ms: e.offset_ms,
                });
            }
            _ => {}
        }
    }

    fn trim_events(&mut self) {
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }
}

/// `max-age=N` (seconds, also quoted) from a `Cache-Control` value, in ms; `no-store` and
/// `no-cache` count as 0. `None` without any of them (or with a malformed `max-age`).
pub fn max_age_ms(cache_control: &str) -> Option<i64> {
    let mut found = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            let v = value?;
            if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            found = v.parse::<i64>().ok().map(|s| s.saturating_mul(1_000));
        }
    }
    found
}
