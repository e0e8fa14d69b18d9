//! Fleet-wide single flight: many processes share one token through a store (Redis).
//!
//! [`Session`] gives one process single flight: one caller holds the ticket, the others wait.
//! [`FleetRefresh`] extends that one ticket across a fleet. It is a sans-I/O machine: it says
//! which store operation to perform next ([`FleetAction`]); the host performs it (the Redis
//! commands are the scripts of this module, identical for every front-end) and feeds the
//! result back. Every decision — adopt a peer's token, take the lease, how long to wait for a
//! peer, when to take over, what to do when the store fails — is made here, so the Python and
//! JavaScript front-ends behave identically (the transcript vectors of
//! `tests/vectors/session/fleet.json` run in all three languages).
//!
//! One refresh, for the process that holds the session's ticket:
//!
//! 1. **Read** the shared record. A readable record holding a *newer* token (not the one we
//!    hold, a later issuer-clock deadline) is adopted ([`Session::adopt_record`], which closes
//!    the ticket): done, no token request. If the issuer's clock is still unknown to this
//!    process, **probe** the token endpoint's `Date` once first. An absent, older, foreign or
//!    damaged record (ignored, with a [`FleetNote::RecordIgnored`]) leads to 2.
//! 2. **Take the lease**: `INCR` the fencing counter and `SET lease NX PX lease_ms` with a
//!    lease value unique to this attempt (128 random bits from the host's CSPRNG, given to
//!    [`FleetRefresh::new`], and the attempt number), in one script ([`LUA_TAKE_LEASE`]). Only
//!    the value says who holds the lease: a fencing counter that a failover reset cannot make
//!    another process's publish succeed.
//!    * Taken: **read again** (a peer may have published between 1 and 2; adopt it and release
//!      the lease). A record whose token is not newer may still carry a newer refresh token
//!      (user-delegated grants): it replaces ours before we present one, so each refresh
//!      token reaches the identity provider once per fleet. Then **fetch** (the ticket's
//!      token request, or the one rebuilt with the record's refresh token), then **publish**
//!      the record ([`LUA_PUBLISH`]: written only while our lease still holds, then the lease
//!      is dropped). A failed fetch, or a token whose deadline cannot be stated safely on the
//!      issuer's clock ([`FleetNote::RecordWithheld`]), releases the lease ([`LUA_RELEASE`]).
//!    * Held by a peer: **wait** `poll_ms`, read again (adopt when the peer has published), try
//!      the lease again (it lapses `lease_ms` after a holder vanished, e.g. was killed); after
//!      `max_wait_ms` of waiting, fetch without the lease and without publishing (the holder is
//!      alive but stuck; [`FleetNote::GaveUpWaiting`]).
//! 3. Any **store failure** (unreachable, timeout, a script error) makes this refresh local:
//!    fetch without the lease, publish nothing ([`FleetNote::StoreUnavailable`]). No request
//!    fails because of the store — except for sessions whose records carry a rotating refresh
//!    token ([`Session::shares_refresh_token`]): presenting it outside the lease could present
//!    a refresh token a peer already used, and identity providers with reuse detection then
//!    revoke the whole token family (every process is signed out). Their refresh fails as a
//!    transient `store_unavailable` (the session backs off, a still-valid token keeps being
//!    served); the same after `max_wait_ms` of waiting for a stuck peer.
//!
//! Readers never see half a record: a record is one value written by one `SET`, checksummed
//! ([`TokenRecord`]), and optionally sealed with AES-256-GCM (feature `encrypt`).

use crate::identity::{CredentialIdentity, IdentityError};
use crate::oauth::TokenRequest;
use crate::record::{self, RecordError, RecordKey, TokenRecord};
use crate::session::{Session, SessionError, TicketId, TokenId, TransportFailure};
use crate::time::Reading;
use crate::ErrorCode;
use core::fmt;
use std::collections::VecDeque;

/// Takes the lease. `KEYS[1]` the lease, `KEYS[2]` the fencing counter; `ARGV[1]` the lease
/// value ([`FleetAction::TakeLease`]), `ARGV[2]` the lease time (ms). Returns the new fencing
/// token, or 0 when a peer holds the lease.
pub const LUA_TAKE_LEASE: &str = "\
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local f = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return f";

/// Publishes a record under the lease. `KEYS[1]` the lease, `KEYS[2]` the record; `ARGV[1]`
/// the lease value, `ARGV[2]` the record, `ARGV[3]` its time to live (ms). Writes and drops the lease only while the lease is still ours: returns 1, else 0 (the
/// lease lapsed and a peer may have taken it: only the owner's write is accepted).
pub const LUA_PUBLISH: &str = "\
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1";

/// Releases the lease if it is still ours. `KEYS[1]` the lease; `ARGV[1]` the lease value.
/// Returns 1 when released.
pub const LUA_RELEASE: &str = "\
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1";

/// The store keys of one credential, derived from [`record::store_key`] (same hash slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreKeys {
    /// The record.
    pub record: String,
    /// The lease.
    pub lease: String,
    /// The fencing counter.
    pub fence: String,
}

impl StoreKeys {
    /// The keys of a credential identity under `prefix`. None of them contains a secret.
    pub fn new(prefix: &str, identity: &CredentialIdentity) -> StoreKeys {
        let record = record::store_key(prefix, identity);
        StoreKeys {
            lease: format!("{record}:lease"),
            fence: format!("{record}:fence"),
            record,
        }
    }

    /// The keys of a session's credential ([`Session::identity`]), for a store whose records
    /// are `sealed` or not. Refused for a user-delegated grant without a partition
    /// (`partition_required`), and for one whose records would carry its refresh token
    /// unsealed (`encryption_required`).
    pub fn for_session(
        prefix: &str,
        session: &Session,
        sealing: Sealing,
    ) -> Result<StoreKeys, FleetError> {
        let identity =
            CredentialIdentity::for_store(session.config()).map_err(FleetError::Identity)?;
        if session.shares_refresh_token() && sealing == Sealing::Clear {
            return Err(FleetError::EncryptionRequired);
        }
        Ok(StoreKeys::new(prefix, &identity))
    }
}

/// Whether a store seals its records ([`record::seal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealing {
    /// Records are stored in clear (checksummed only).
    Clear,
    /// Records are sealed with AES-256-GCM.
    Sealed,
}

/// Timing of the fleet protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetConfig {
    /// How long a lease lives (ms): the longest a refresh may take (the token request's timeout
    /// and some). A holder that vanishes blocks its peers this long at most. Default 15 s.
    pub lease_ms: u64,
    /// How often a waiting process reads the store again (ms). Default 50.
    pub poll_ms: u64,
    /// How long a process waits for a peer's refresh before fetching itself (ms). Default
    /// 20 s: longer than a lease, so a vanished holder's lease lapses and a peer takes it over
    /// first.
    pub max_wait_ms: u64,
    /// How long a record that carries a refresh token stays in the store (ms), past its access
    /// token's expiry: the fleet's latest refresh token must outlive any access token. Default
    /// 30 days.
    pub refresh_record_ttl_ms: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            lease_ms: 15_000,
            poll_ms: 50,
            max_wait_ms: 20_000,
            refresh_record_ttl_ms: 30 * 86_400_000,
        }
    }
}

impl FleetConfig {
    /// Checks the ranges: `lease_ms` 100 ms ..= 10 min, `poll_ms` 5 ms ..= 1 min and at most
    /// `lease_ms`, `max_wait_ms` ..= 1 h.
    pub fn validate(&self) -> Result<(), FleetError> {
        if !(100..=600_000).contains(&self.lease_ms) {
            return Err(FleetError::InvalidConfig("lease_ms"));
        }
        if !(5..=60_000).contains(&self.poll_ms) || self.poll_ms > self.lease_ms {
            return Err(FleetError::InvalidConfig("poll_ms"));
        }
        if self.max_wait_ms > 3_600_000 {
            return Err(FleetError::InvalidConfig("max_wait_ms"));
        }
        if !(60_000..=400 * 86_400_000).contains(&self.refresh_record_ttl_ms) {
            return Err(FleetError::InvalidConfig("refresh_record_ttl_ms"));
        }
        Ok(())
    }

    /// The bound on one token request (and the issuer probe) of a session that shares its
    /// tokens through this fleet, ms: the session's own bound, cut to two thirds of the lease.
    /// A request still running when the lease lapses lets a peer take the lease over and present
    /// the same (rotating) refresh token again; the third left over covers the store commands
    /// around the request.
    pub fn token_timeout_ms(&self, session_timeout_ms: i64) -> i64 {
        let two_thirds = i64::try_from(self.lease_ms.saturating_mul(2) / 3).unwrap_or(i64::MAX);
        session_timeout_ms.min(two_thirds).max(1)
    }
}

/// What the host does next for this refresh.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetAction {
    /// `GET` the record key; then [`FleetRefresh::on_record`] (`None` when absent).
    Read,
    /// The issuer's clock is unknown here: send a request to the token endpoint that is not a
    /// token request (`HEAD`), feed its `Date` to [`Session::add_issuer_date`], then
    /// [`FleetRefresh::on_probe`] (also when it failed).
    ProbeIssuer,
    /// Run [`LUA_TAKE_LEASE`] with this lease value and time; then [`FleetRefresh::on_lease`].
    TakeLease {
        /// `ARGV[1]`: unique to this attempt (hex of the host's random bytes, `.`, attempt).
        lease: String,
        /// `ARGV[2]`.
        lease_ms: u64,
    },
    /// Perform the token request — `request` when given (rebuilt with the fleet's latest
    /// refresh token), else the ticket's — and close the ticket (`complete_refresh` /
    /// `fail_refresh`) as without a store; then [`FleetRefresh::on_fetched`].
    Fetch {
        /// The lease's fencing token, when this process holds the lease.
        fencing: Option<u64>,
        /// The request to send instead of the ticket's (its `Debug` redacts secrets).
        request: Option<TokenRequest>,
    },
    /// Run [`LUA_PUBLISH`]; then [`FleetRefresh::on_published`].
    Publish {
        /// The lease value (`ARGV[1]`).
        lease: String,
        /// The lease's fencing token (written into the record).
        fencing: u64,
        /// The value to write: an encoded record, sealed when a key is set.
        value: String,
        /// Its time to live in the store (ms): until the token's deadline, at least 1 s.
        ttl_ms: u64,
    },
    /// Run [`LUA_RELEASE`]; then [`FleetRefresh::on_released`].
    Release {
        /// The lease value (`ARGV[1]`).
        lease: String,
        /// The lease's fencing token.
        fencing: u64,
    },
    /// Sleep until `until` (local time); then [`FleetRefresh::on_wake`].
    Wait {
        /// When to wake.
        until: Reading,
    },
    /// The refresh is over.
    Done(FleetOutcome),
}

impl fmt::Debug for FleetAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetAction::Publish {
                fencing, ttl_ms, ..
            } => f
                .debug_struct("Publish")
                .field("fencing", fencing)
                .field("ttl_ms", ttl_ms)
                .finish_non_exhaustive(),
            FleetAction::Read => f.write_str("Read"),
            FleetAction::ProbeIssuer => f.write_str("ProbeIssuer"),
            FleetAction::TakeLease { lease_ms, .. } => f
                .debug_struct("TakeLease")
                .field("lease_ms", lease_ms)
                .finish_non_exhaustive(),
            FleetAction::Fetch { fencing, request } => f
                .debug_struct("Fetch")
                .field("fencing", fencing)
                .field("rebuilt", &request.is_some())
                .finish(),
            FleetAction::Release { fencing, .. } => f
                .debug_struct("Release")
                .field("fencing", fencing)
                .finish_non_exhaustive(),
            FleetAction::Wait { until } => f.debug_struct("Wait").field("until", until).finish(),
            FleetAction::Done(o) => f.debug_tuple("Done").field(o).finish(),
        }
    }
}

impl FleetAction {
    /// Stable lower-case name.
    pub const fn kind(&self) -> &'static str {
        match self {
            FleetAction::Read => "read",
            FleetAction::ProbeIssuer => "probe_issuer",
            FleetAction::TakeLease { .. } => "take_lease",
            FleetAction::Fetch { .. } => "fetch",
            FleetAction::Publish { .. } => "publish",
            FleetAction::Release { .. } => "release",
            FleetAction::Wait { .. } => "wait",
            FleetAction::Done(_) => "done",
        }
    }
}

/// How a fleet refresh ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetOutcome {
    /// A peer's token was adopted: no token request from this process.
    Adopted(TokenId),
    /// This process performed the token request; `published` when the fleet got the token.
    Fetched {
        /// The record was written under our lease.
        published: bool,
    },
    /// This process performed the token request and it failed (the session has the error).
    FetchFailed,
    /// The session no longer has this ticket (it timed out): nothing was done.
    Abandoned,
}

impl FleetOutcome {
    /// Stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FleetOutcome::Adopted(_) => "adopted",
            FleetOutcome::Fetched { published: true } => "published",
            FleetOutcome::Fetched { published: false } => "fetched",
            FleetOutcome::FetchFailed => "fetch_failed",
            FleetOutcome::Abandoned => "abandoned",
        }
    }
}

/// Something worth a log line (none carries a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetNote {
    /// The record in the store was not used: damaged, of another version or credential, not
    /// decryptable, or not adoptable here (`code` says why).
    RecordIgnored {
        /// A [`RecordError`] or [`SessionError`] code.
        code: &'static str,
    },
    /// A store operation failed; this refresh goes on without the store.
    StoreUnavailable,
    /// A peer holds the lease; waiting for its record.
    WaitingForPeer,
    /// Waited `max_wait_ms` for a peer: fetching without the lease.
    GaveUpWaiting,
    /// Our lease lapsed before we published (the refresh took longer than `lease_ms`): the
    /// token is ours alone.
    LeaseLost,
    /// The token was not published: its deadline cannot be stated safely on the issuer's
    /// clock (no `exp`, and nothing bounds the issuer's offset — e.g. an opaque token from an
    /// endpoint that sends no `Date`). Peers fetch their own.
    RecordWithheld,
    /// A peer's record carried a newer refresh token, which replaced ours before the fetch.
    RefreshTokenAdopted,
    /// The session's refresh token may be presented only under the lease, and the lease
    /// cannot be had (store failing, or a peer stuck): the refresh failed, nothing was sent.
    StoreRequired,
}

impl FleetNote {
    /// Stable lower-case name.
    pub const fn kind(&self) -> &'static str {
        match self {
            FleetNote::RecordIgnored { .. } => "record_ignored",
            FleetNote::StoreUnavailable => "store_unavailable",
            FleetNote::WaitingForPeer => "waiting_for_peer",
            FleetNote::GaveUpWaiting => "gave_up_waiting",
            FleetNote::LeaseLost => "lease_lost",
            FleetNote::RecordWithheld => "record_withheld",
            FleetNote::RefreshTokenAdopted => "refresh_token_adopted",
            FleetNote::StoreRequired => "store_required",
        }
    }
}

/// A call that does not fit the machine's state, or a bad configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetError {
    /// The input answers another action than the current one (names the current action).
    UnexpectedInput(&'static str),
    /// A configuration value is out of range (names it).
    InvalidConfig(&'static str),
    /// A reading is out of range.
    InvalidArgument(&'static str),
    /// The session's credential may not use a store as configured (`partition_required`,
    /// `invalid_partition`).
    Identity(IdentityError),
    /// The session's records would carry its refresh token: the store needs an encryption key
    /// (`encryption_required`).
    EncryptionRequired,
}

impl ErrorCode for FleetError {
    fn code(&self) -> &'static str {
        match self {
            FleetError::UnexpectedInput(_) => "fleet_unexpected_input",
            FleetError::InvalidConfig(_) => "invalid_config",
            FleetError::InvalidArgument(_) => "invalid_argument",
            FleetError::Identity(e) => e.code(),
            FleetError::EncryptionRequired => "encryption_required",
        }
    }
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::UnexpectedInput(a) => {
                write!(
                    f,
                    "fleet refresh: this input does not answer the current action ({a})"
                )
            }
            FleetError::InvalidConfig(k) => write!(f, "invalid fleet configuration: {k}"),
            FleetError::InvalidArgument(k) => write!(f, "invalid argument: {k}"),
            FleetError::Identity(e) => e.fmt(f),
            FleetError::EncryptionRequired => f.write_str(
                "records of this grant carry its refresh token: the store needs an encryption key",
            ),
        }
    }
}

impl std::error::Error for FleetError {}

/// The fleet protocol for one ticket of a [`Session`]. See the module docs.
pub struct FleetRefresh {
    ticket: TicketId,
    config: FleetConfig,
    key: Option<RecordKey>,
    store_key: String,
    action: FleetAction,
    /// Hex of the host's 16 random bytes: every lease value of this refresh starts with it.
    lease_id: String,
    /// Lease attempts so far (the suffix of the next lease value).
    attempts: u32,
    /// The lease we hold: its value and fencing token.
    lease: Option<(String, u64)>,
    /// The token request rebuilt with the fleet's latest refresh token.
    request: Option<TokenRequest>,
    /// A record waiting for the issuer probe.
    pending: Option<TokenRecord>,
    probed: bool,
    /// When waiting for a peer started (monotonic ms).
    waiting_since: Option<i64>,
    /// How the refresh ends after releasing the lease.
    adopted: Option<TokenId>,
    failed: bool,
    abandoned: bool,
    /// The error this refresh ended the ticket with, when it failed it without a fetch.
    failure: Option<SessionError>,
    notes: VecDeque<FleetNote>,
}

impl fmt::Debug for FleetRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetRefresh")
            .field("ticket", &self.ticket)
            .field("action", &self.action)
            .field("fencing", &self.lease.as_ref().map(|l| l.1))
            .finish_non_exhaustive()
    }
}

impl FleetRefresh {
    /// Starts the protocol for `ticket` (from `Session::authorize`). `store_key` is the
    /// record's key ([`StoreKeys::record`]; the associated data of sealed records); `key`
    /// seals and opens records (feature `encrypt`; without it a key is refused);
    /// `lease_entropy`: 16 fresh bytes from the host's CSPRNG, which make every lease value of
    /// this refresh unique. The first action is [`FleetAction::Read`].
    pub fn new(
        ticket: TicketId,
        config: FleetConfig,
        store_key: &str,
        key: Option<RecordKey>,
        lease_entropy: [u8; 16],
    ) -> Result<FleetRefresh, FleetError> {
        config.validate()?;
        if key.is_some() && cfg!(not(feature = "encrypt")) {
            return Err(FleetError::InvalidConfig(
                "encryption_key (built without encrypt)",
            ));
        }
        Ok(FleetRefresh {
            ticket,
            config,
            key,
            store_key: store_key.to_owned(),
            action: FleetAction::Read,
            lease_id: record::hex(&lease_entropy),
            attempts: 0,
            lease: None,
            request: None,
            pending: None,
            probed: false,
            waiting_since: None,
            adopted: None,
            failed: false,
            abandoned: false,
            failure: None,
            notes: VecDeque::new(),
        })
    }

    /// The action to perform now.
    pub fn action(&self) -> &FleetAction {
        &self.action
    }

    /// The bound on this refresh's token request and issuer probe, ms
    /// ([`FleetConfig::token_timeout_ms`] of `session`'s own bound).
    pub fn token_timeout_ms(&self, session: &Session) -> i64 {
        self.config.token_timeout_ms(session.token_timeout_ms())
    }

    /// The ticket this refresh is for.
    pub fn ticket(&self) -> TicketId {
        self.ticket
    }

    /// The error callers see when this refresh failed the ticket itself, without a fetch (a
    /// session that shares a rotating refresh token and a store that failed): what the caller
    /// that held the ticket reports. `None` otherwise (a failed fetch reports its own error).
    pub fn failure(&self) -> Option<&SessionError> {
        self.failure.as_ref()
    }

    /// The next note to log, if any.
    pub fn poll_note(&mut self) -> Option<FleetNote> {
        self.notes.pop_front()
    }

    fn expect(&self, kind: &'static str) -> Result<(), FleetError> {
        if self.action.kind() == kind {
            Ok(())
        } else {
            Err(FleetError::UnexpectedInput(self.action.kind()))
        }
    }

    /// The answer to [`FleetAction::Read`]: the value at the record key (`None` when absent).
    pub fn on_record(
        &mut self,
        session: &mut Session,
        value: Option<&str>,
        now: Reading,
    ) -> Result<&FleetAction, FleetError> {
        self.expect("read")?;
        check(now)?;
        let record = value.and_then(|v| match self.decode(v) {
            Ok(r) => Some(r),
            Err(e) => {
                self.notes
                    .push_back(FleetNote::RecordIgnored { code: e.code() });
                None
            }
        });
        match record {
            Some(r) if is_newer(session, &r) => self.adopt(session, r, now),
            Some(r) => {
                self.take_refresh_token(session, &r, now);
                self.after_nothing_new();
            }
            None => self.after_nothing_new(),
        }
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::ProbeIssuer`] (after feeding any `Date` to the session).
    pub fn on_probe(
        &mut self,
        session: &mut Session,
        now: Reading,
    ) -> Result<&FleetAction, FleetError> {
        self.expect("probe_issuer")?;
        check(now)?;
        match self.pending.take() {
            Some(r) => self.adopt(session, r, now),
            None => self.after_nothing_new(),
        }
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::TakeLease`]: the fencing token, or `None` when a peer
    /// holds the lease.
    pub fn on_lease(
        &mut self,
        session: &mut Session,
        fencing: Option<u64>,
        now: Reading,
    ) -> Result<&FleetAction, FleetError> {
        let FleetAction::TakeLease { lease, .. } = &self.action else {
            return Err(FleetError::UnexpectedInput(self.action.kind()));
        };
        check(now)?;
        match fencing.filter(|&f| f > 0) {
            Some(f) => {
                self.lease = Some((lease.clone(), f));
                // Read again: a peer may have published between our read and our lease.
                self.action = FleetAction::Read;
            }
            None => {
                let since = *self.waiting_since.get_or_insert_with(|| {
                    self.notes.push_back(FleetNote::WaitingForPeer);
                    now.mono.0
                });
                let waited = now.mono.0.saturating_sub(since);
                let max = i64::try_from(self.config.max_wait_ms).unwrap_or(i64::MAX);
                if waited >= max {
                    self.notes.push_back(FleetNote::GaveUpWaiting);
                    self.fetch_outside_lease(session, now);
                } else {
                    let poll = i64::try_from(self.config.poll_ms).unwrap_or(50);
                    self.action = FleetAction::Wait {
                        until: now.advanced(poll.min(max - waited)),
                    };
                }
            }
        }
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::Wait`].
    pub fn on_wake(&mut self, now: Reading) -> Result<&FleetAction, FleetError> {
        self.expect("wait")?;
        check(now)?;
        self.action = FleetAction::Read;
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::Fetch`]: `ok` when the session accepted the token
    /// (`complete_refresh` returned a token). `nonce`: 12 fresh random bytes from the host's
    /// CSPRNG, used only to seal the record when a key is set.
    pub fn on_fetched(
        &mut self,
        session: &mut Session,
        ok: bool,
        now: Reading,
        nonce: [u8; 12],
    ) -> Result<&FleetAction, FleetError> {
        self.expect("fetch")?;
        check(now)?;
        self.request = None;
        let Some((lease, fencing)) = self.lease.clone() else {
            self.action = FleetAction::Done(if ok {
                FleetOutcome::Fetched { published: false }
            } else {
                FleetOutcome::FetchFailed
            });
            return Ok(&self.action);
        };
        let record = if ok {
            let r = session.export_record(now, fencing);
            if r.is_none() {
                self.notes.push_back(FleetNote::RecordWithheld);
            }
            r
        } else {
            None
        };
        self.action = match record {
            Some(r) => {
                let ttl = if r.refresh_token.is_some() {
                    // The fleet's latest refresh token must outlive the access token.
                    i64::try_from(self.config.refresh_record_ttl_ms).unwrap_or(i64::MAX)
                } else {
                    let issuer = session.estimates(now).0;
                    let local_now_on_issuer = now.wall.0.saturating_add(issuer.offset_ms);
                    r.deadline_ms
                        .saturating_add(r.deadline_slack_ms)
                        .saturating_sub(local_now_on_issuer)
                        .clamp(1_000, 86_400_000)
                };
                FleetAction::Publish {
                    lease,
                    fencing,
                    value: self.encode(&r, nonce),
                    ttl_ms: u64::try_from(ttl).unwrap_or(1_000),
                }
            }
            None => FleetAction::Release { lease, fencing },
        };
        self.failed = !ok;
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::Publish`]: whether the script wrote the record.
    pub fn on_published(&mut self, written: bool) -> Result<&FleetAction, FleetError> {
        self.expect("publish")?;
        if !written {
            self.notes.push_back(FleetNote::LeaseLost);
        }
        self.lease = None;
        self.action = FleetAction::Done(FleetOutcome::Fetched { published: written });
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::Release`].
    pub fn on_released(&mut self) -> Result<&FleetAction, FleetError> {
        self.expect("release")?;
        self.finish_release();
        Ok(&self.action)
    }

    /// A store operation (read, lease, publish, release) failed or timed out. The refresh
    /// goes on without the store: fetch without the lease (a session that shares a rotating
    /// refresh token fails this refresh instead, see the module docs), or finish.
    pub fn on_store_error(
        &mut self,
        session: &mut Session,
        now: Reading,
    ) -> Result<&FleetAction, FleetError> {
        check(now)?;
        match self.action {
            FleetAction::Read | FleetAction::TakeLease { .. } => {
                self.notes.push_back(FleetNote::StoreUnavailable);
                // A lease we may still hold lapses by itself.
                self.lease = None;
                self.fetch_outside_lease(session, now);
            }
            FleetAction::Publish { .. } => {
                self.notes.push_back(FleetNote::StoreUnavailable);
                self.lease = None;
                self.action = FleetAction::Done(FleetOutcome::Fetched { published: false });
            }
            FleetAction::Release { .. } => {
                self.notes.push_back(FleetNote::StoreUnavailable);
                self.finish_release();
            }
            _ => return Err(FleetError::UnexpectedInput(self.action.kind())),
        }
        Ok(&self.action)
    }

    // ----- internals -----------------------------------------------------------------------

    /// Fetch without the lease — or, for a session whose refresh token the fleet shares, fail
    /// this refresh (transient): outside the lease it could present a used refresh token.
    fn fetch_outside_lease(&mut self, session: &mut Session, now: Reading) {
        self.request = None;
        if session.shares_refresh_token() {
            self.notes.push_back(FleetNote::StoreRequired);
            self.action =
                match session.fail_refresh(self.ticket, TransportFailure::StoreUnavailable, now) {
                    Err(SessionError::StaleTicket) => FleetAction::Done(FleetOutcome::Abandoned),
                    Ok(e) | Err(e) => {
                        self.failure = Some(e);
                        FleetAction::Done(FleetOutcome::FetchFailed)
                    }
                };
        } else {
            self.action = FleetAction::Fetch {
                fencing: None,
                request: None,
            };
        }
    }

    fn finish_release(&mut self) {
        self.lease = None;
        self.action = FleetAction::Done(if self.failed {
            FleetOutcome::FetchFailed
        } else if self.abandoned {
            FleetOutcome::Abandoned
        } else if let Some(id) = self.adopted {
            FleetOutcome::Adopted(id)
        } else {
            FleetOutcome::Fetched { published: false }
        });
    }

    fn decode(&self, value: &str) -> Result<TokenRecord, RecordError> {
        let encoded = record::open(value, self.key.as_ref(), &self.store_key)?;
        TokenRecord::decode(&encoded)
    }

    #[cfg_attr(not(feature = "encrypt"), allow(unused_variables))]
    fn encode(&self, r: &TokenRecord, nonce: [u8; 12]) -> String {
        let encoded = r.encode();
        match &self.key {
            #[cfg(feature = "encrypt")]
            Some(k) => record::seal(&encoded, k, &self.store_key, nonce),
            _ => encoded,
        }
    }

    /// Nothing newer in the store: take the lease, or fetch when we hold it (or finish, when
    /// the session dropped our ticket meanwhile).
    fn after_nothing_new(&mut self) {
        if self.abandoned {
            self.action = match self.lease.clone() {
                Some((lease, fencing)) => FleetAction::Release { lease, fencing },
                None => FleetAction::Done(FleetOutcome::Abandoned),
            };
            return;
        }
        self.action = match &self.lease {
            Some((_, f)) => FleetAction::Fetch {
                fencing: Some(*f),
                request: self.request.clone(),
            },
            None => {
                self.attempts += 1;
                FleetAction::TakeLease {
                    lease: format!("{}.{}", self.lease_id, self.attempts),
                    lease_ms: self.config.lease_ms,
                }
            }
        };
    }

    /// Under the lease, a record's refresh token is the fleet's latest: it replaces ours
    /// before we present one (user-delegated grants; a no-op otherwise).
    fn take_refresh_token(&mut self, session: &mut Session, r: &TokenRecord, now: Reading) {
        if self.lease.is_none() || r.refresh_token.is_none() {
            return;
        }
        match session.adopt_refresh_token(r, self.ticket, now) {
            Ok(Some(request)) => {
                self.notes.push_back(FleetNote::RefreshTokenAdopted);
                self.request = Some(request);
            }
            Ok(None) => {}
            Err(SessionError::StaleTicket) => self.abandoned = true,
            Err(e) => self
                .notes
                .push_back(FleetNote::RecordIgnored { code: e.code() }),
        }
    }

    fn adopt(&mut self, session: &mut Session, r: TokenRecord, now: Reading) {
        match session.adopt_record(&r, Some(self.ticket), now) {
            Ok(id) => {
                self.action = match self.lease.clone() {
                    Some((lease, fencing)) => {
                        self.adopted = Some(id);
                        FleetAction::Release { lease, fencing }
                    }
                    None => FleetAction::Done(FleetOutcome::Adopted(id)),
                };
            }
            Err(SessionError::IssuerClockUnknown) if !self.probed => {
                self.probed = true;
                self.pending = Some(r);
                self.action = FleetAction::ProbeIssuer;
            }
            Err(SessionError::StaleTicket) => {
                self.action = match self.lease.clone() {
                    Some((lease, fencing)) => FleetAction::Release { lease, fencing },
                    None => FleetAction::Done(FleetOutcome::Abandoned),
                };
                self.abandoned = true;
            }
            Err(e) => {
                self.notes
                    .push_back(FleetNote::RecordIgnored { code: e.code() });
                // The access token is of no use here, but its refresh token may be the
                // fleet's latest.
                self.take_refresh_token(session, &r, now);
                self.after_nothing_new();
            }
        }
    }
}

/// A record is worth adopting when it holds another token than ours with a later deadline
/// (or we hold no usable token).
fn is_newer(session: &Session, r: &TokenRecord) -> bool {
    match session.held_token_deadline() {
        Some((id, deadline)) => id != r.token_id && r.deadline_ms > deadline,
        None => true,
    }
}

fn check(now: Reading) -> Result<(), FleetError> {
    if now.is_valid() {
        Ok(())
    } else {
        Err(FleetError::InvalidArgument("reading out of range"))
    }
}
