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
//! 2. **Take the lease**: `INCR` the fencing counter and `SET lease NX PX lease_ms` with the
//!    owner and that fencing token, in one script ([`LUA_TAKE_LEASE`]).
//!    * Taken: **read again** (a peer may have published between 1 and 2; adopt it and release
//!      the lease), else **fetch** (the ticket's token request), then **publish** the record
//!      ([`LUA_PUBLISH`]: written only while our lease still holds, then the lease is dropped).
//!      A failed fetch releases the lease ([`LUA_RELEASE`]).
//!    * Held by a peer: **wait** `poll_ms`, read again (adopt when the peer has published), try
//!      the lease again (it lapses `lease_ms` after a holder vanished, e.g. was killed); after
//!      `max_wait_ms` of waiting, fetch without the lease and without publishing (the holder is
//!      alive but stuck; [`FleetNote::GaveUpWaiting`]).
//! 3. Any **store failure** (unreachable, timeout, a script error) makes this refresh local:
//!    fetch without the lease, publish nothing ([`FleetNote::StoreUnavailable`]). No request
//!    fails because of the store.
//!
//! Readers never see half a record: a record is one value written by one `SET`, checksummed
//! ([`TokenRecord`]), and optionally sealed with AES-256-GCM (feature `encrypt`).

use crate::record::{self, RecordError, RecordKey, TokenRecord};
use crate::session::{Session, SessionError, TicketId, TokenId};
use crate::time::Reading;
use crate::ErrorCode;
use core::fmt;
use std::collections::VecDeque;

/// Takes the lease. `KEYS[1]` the lease, `KEYS[2]` the fencing counter; `ARGV[1]` the owner
/// id, `ARGV[2]` the lease time (ms). Returns the new fencing token, or 0 when a peer holds
/// the lease. The lease's value is `<owner>:<fencing>`.
pub const LUA_TAKE_LEASE: &str = "\
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local f = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. f, 'PX', ARGV[2])
return f";

/// Publishes a record under the lease. `KEYS[1]` the lease, `KEYS[2]` the record; `ARGV[1]`
/// the lease value (`<owner>:<fencing>`), `ARGV[2]` the record, `ARGV[3]` its time to live
/// (ms). Writes and drops the lease only while the lease is still ours: returns 1, else 0 (the
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
    /// The keys for (token URL, client id, scope, audience) under `prefix`. None of them
    /// contains a secret: the credential is hashed.
    pub fn new(
        prefix: &str,
        token_url: &str,
        client_id: &str,
        scope: Option<&str>,
        audience: Option<&str>,
    ) -> StoreKeys {
        let record = record::store_key(prefix, token_url, client_id, scope, audience);
        StoreKeys {
            lease: format!("{record}:lease"),
            fence: format!("{record}:fence"),
            record,
        }
    }
}

impl StoreKeys {
    /// The keys of a session's credential: its token URL, client id, scope and audience.
    pub fn for_session(prefix: &str, session: &Session) -> StoreKeys {
        let config = session.config();
        let (scope, audience) = config.scope_and_audience();
        StoreKeys::new(
            prefix,
            &config.token_url,
            config.auth.client_id().unwrap_or_default(),
            scope.as_deref(),
            audience.as_deref(),
        )
    }
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
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            lease_ms: 15_000,
            poll_ms: 50,
            max_wait_ms: 20_000,
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
        Ok(())
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
    /// Run [`LUA_TAKE_LEASE`] with this lease time; then [`FleetRefresh::on_lease`].
    TakeLease {
        /// `ARGV[2]`.
        lease_ms: u64,
    },
    /// Perform the ticket's token request and close the ticket (`complete_refresh` /
    /// `fail_refresh`) as without a store; then [`FleetRefresh::on_fetched`].
    Fetch {
        /// The lease's fencing token, when this process holds the lease.
        fencing: Option<u64>,
    },
    /// Run [`LUA_PUBLISH`]; then [`FleetRefresh::on_published`].
    Publish {
        /// The lease's fencing token (the lease value is `<owner>:<fencing>`).
        fencing: u64,
        /// The value to write: an encoded record, sealed when a key is set.
        value: String,
        /// Its time to live in the store (ms): until the token's deadline, at least 1 s.
        ttl_ms: u64,
    },
    /// Run [`LUA_RELEASE`]; then [`FleetRefresh::on_released`].
    Release {
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
            FleetAction::TakeLease { lease_ms } => f
                .debug_struct("TakeLease")
                .field("lease_ms", lease_ms)
                .finish(),
            FleetAction::Fetch { fencing } => {
                f.debug_struct("Fetch").field("fencing", fencing).finish()
            }
            FleetAction::Release { fencing } => {
                f.debug_struct("Release").field("fencing", fencing).finish()
            }
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
}

impl ErrorCode for FleetError {
    fn code(&self) -> &'static str {
        match self {
            FleetError::UnexpectedInput(_) => "fleet_unexpected_input",
            FleetError::InvalidConfig(_) => "invalid_config",
            FleetError::InvalidArgument(_) => "invalid_argument",
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
    /// The lease we hold.
    fencing: Option<u64>,
    /// A record waiting for the issuer probe.
    pending: Option<TokenRecord>,
    probed: bool,
    /// When waiting for a peer started (monotonic ms).
    waiting_since: Option<i64>,
    /// How the refresh ends after releasing the lease.
    adopted: Option<TokenId>,
    failed: bool,
    abandoned: bool,
    notes: VecDeque<FleetNote>,
}

impl fmt::Debug for FleetRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetRefresh")
            .field("ticket", &self.ticket)
            .field("action", &self.action)
            .field("fencing", &self.fencing)
            .finish_non_exhaustive()
    }
}

impl FleetRefresh {
    /// Starts the protocol for `ticket` (from `Session::authorize`). `store_key` is the
    /// record's key ([`StoreKeys::record`]; the associated data of sealed records); `key`
    /// seals and opens records (feature `encrypt`; without it a key is refused). The first
    /// action is [`FleetAction::Read`].
    pub fn new(
        ticket: TicketId,
        config: FleetConfig,
        store_key: &str,
        key: Option<RecordKey>,
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
            fencing: None,
            pending: None,
            probed: false,
            waiting_since: None,
            adopted: None,
            failed: false,
            abandoned: false,
            notes: VecDeque::new(),
        })
    }

    /// The action to perform now.
    pub fn action(&self) -> &FleetAction {
        &self.action
    }

    /// The ticket this refresh is for.
    pub fn ticket(&self) -> TicketId {
        self.ticket
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
            _ => self.after_nothing_new(now),
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
            None => self.after_nothing_new(now),
        }
        Ok(&self.action)
    }

    /// The answer to [`FleetAction::TakeLease`]: the fencing token, or `None` when a peer
    /// holds the lease.
    pub fn on_lease(
        &mut self,
        fencing: Option<u64>,
        now: Reading,
    ) -> Result<&FleetAction, FleetError> {
        self.expect("take_lease")?;
        check(now)?;
        match fencing.filter(|&f| f > 0) {
            Some(f) => {
                self.fencing = Some(f);
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
                    self.action = FleetAction::Fetch { fencing: None };
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
        let Some(fencing) = self.fencing else {
            self.action = FleetAction::Done(if ok {
                FleetOutcome::Fetched { published: false }
            } else {
                FleetOutcome::FetchFailed
            });
            return Ok(&self.action);
        };
        let record = if ok {
            session.export_record(now, fencing)
        } else {
            None
        };
        self.action = match record {
            Some(r) => {
                let (issuer, _) = session.estimates(now);
                let local_now_on_issuer = now.wall.0.saturating_add(issuer.offset_ms);
                let ttl = r
                    .deadline_ms
                    .saturating_add(r.deadline_slack_ms)
                    .saturating_sub(local_now_on_issuer)
                    .clamp(1_000, 86_400_000);
                FleetAction::Publish {
                    fencing,
                    value: self.encode(&r, nonce),
                    ttl_ms: u64::try_from(ttl).unwrap_or(1_000),
                }
            }
            None => FleetAction::Release { fencing },
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
        self.fencing = None;
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
    /// goes on without the store: fetch without the lease, or finish.
    pub fn on_store_error(&mut self) -> Result<&FleetAction, FleetError> {
        match self.action {
            FleetAction::Read | FleetAction::TakeLease { .. } => {
                self.notes.push_back(FleetNote::StoreUnavailable);
                // A lease we may still hold lapses by itself.
                self.fencing = None;
                self.action = FleetAction::Fetch { fencing: None };
            }
            FleetAction::Publish { .. } => {
                self.notes.push_back(FleetNote::StoreUnavailable);
                self.fencing = None;
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

    fn finish_release(&mut self) {
        self.fencing = None;
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

    /// Nothing newer in the store: take the lease, or fetch when we hold it.
    fn after_nothing_new(&mut self, _now: Reading) {
        self.action = match self.fencing {
            Some(f) => FleetAction::Fetch { fencing: Some(f) },
            None => FleetAction::TakeLease {
                lease_ms: self.config.lease_ms,
            },
        };
    }

    fn adopt(&mut self, session: &mut Session, r: TokenRecord, now: Reading) {
        match session.adopt_record(&r, Some(self.ticket), now) {
            Ok(id) => {
                self.action = match self.fencing {
                    Some(f) => {
                        self.adopted = Some(id);
                        FleetAction::Release { fencing: f }
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
                self.action = match self.fencing {
                    Some(f) => FleetAction::Release { fencing: f },
                    None => FleetAction::Done(FleetOutcome::Abandoned),
                };
                self.abandoned = true;
            }
            Err(e) => {
                self.notes
                    .push_back(FleetNote::RecordIgnored { code: e.code() });
                self.after_nothing_new(now);
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
    if crate::session::reading_in_range(now) {
        Ok(())
    } else {
        Err(FleetError::InvalidArgument("reading out of range"))
    }
}
