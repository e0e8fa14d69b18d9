//! The refresh state machine (core `session::Session`) and what it answers: `Authorization`,
//! `Ticket`, verdicts, events.
//!
//! The JS `Session` owns a clock (default: the host's) so every method that needs "now" can be
//! called without one; ids of tokens and tickets cross the edge as plain integers.

use std::cell::RefCell;

use tokenclock::oauth::Secret;
use tokenclock::rng::RngHealth;
use tokenclock::session::{
    self as core_session, AfterResponse, Attempt, Authorization as CoreAuthorization,
    BackoffPolicy, Diagnosis, Resend, SessionConfig, SessionError, SessionEvent, TicketId, TokenId,
    TransportFailure, Verdict, WaitReason,
};
use tokenclock::time::Reading;
use tokenclock::ErrorCode as _;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{session_error, type_error};
use crate::host::{self, Clock};
use crate::lifetime::{policy_arg, state_js, Lifetime};
use crate::oauth::{Grant, TokenRequest};
use crate::skew::{skew_config, Estimate};

/// An id as a JS number (ids count up from 1; far below 2^53).
fn id_js(id: u64) -> f64 {
    id as f64
}

/// A reading from two numbers (`wallMs`, `monoMs`): whole milliseconds in range.
fn reading_parts(param: &str, wall_ms: f64, mono_ms: f64) -> Result<Reading, JsValue> {
    let part = |name: &str, v: f64| {
        edge::uint_from_f64(v).map_err(|_| {
            crate::errors::range_error(&format!(
                "{param}.{name} must be a whole number of milliseconds"
            ))
        })
    };
    Reading::new(part("wallMs", wall_ms)?, part("monoMs", mono_ms)?)
        .map_err(|e| crate::errors::range_error(&format!("{param}: {e}")))
}

fn id_arg(param: &str, v: &JsValue) -> Result<u64, JsValue> {
    Ok(edge::uint(param, v)?.unsigned_abs())
}

/// The `backoff` option `{ baseMs?, capMs?, maxRetryAfterMs?, configRetryMs? }` over the
/// defaults.
fn backoff_arg(v: &JsValue) -> Result<BackoffPolicy, JsValue> {
    edge::options("backoff", v)?;
    let d = BackoffPolicy::default();
    Ok(BackoffPolicy {
        base_ms: edge::opt_uint("backoff.baseMs", &edge::get(v, "baseMs")?)?.unwrap_or(d.base_ms),
        cap_ms: edge::opt_uint("backoff.capMs", &edge::get(v, "capMs")?)?.unwrap_or(d.cap_ms),
        max_retry_after_ms: edge::opt_uint(
            "backoff.maxRetryAfterMs",
            &edge::get(v, "maxRetryAfterMs")?,
        )?
        .unwrap_or(d.max_retry_after_ms),
        config_retry_ms: edge::opt_uint("backoff.configRetryMs", &edge::get(v, "configRetryMs")?)?
            .unwrap_or(d.config_retry_ms),
    })
}

// ----- Ticket ------------------------------------------------------------------------------------

/// The single outstanding refresh (core `session::Ticket`): send `request`, then call
/// `session.completeRefresh(ticket.id, ...)` or `session.failRefresh(ticket.id, ...)`.
#[wasm_bindgen]
pub struct Ticket {
    inner: core_session::Ticket,
}

#[wasm_bindgen]
impl Ticket {
    /// The ticket's id (pass it back to `completeRefresh` / `failRefresh`).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> f64 {
        id_js(self.inner.id.0)
    }

    /// Why the refresh happens: `initial`, `stale`, `expired`, `rejected`, `fallback`, `retry`.
    #[wasm_bindgen(getter)]
    pub fn reason(&self) -> String {
        self.inner.reason.as_str().to_owned()
    }

    /// The token request to send.
    #[wasm_bindgen(getter)]
    pub fn request(&self) -> TokenRequest {
        TokenRequest {
            inner: self.inner.request.clone(),
        }
    }

    /// `"POST"`.
    #[wasm_bindgen(getter)]
    pub fn method(&self) -> String {
        self.inner.request.method.to_owned()
    }

    /// The token endpoint.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.inner.request.url.clone()
    }

    /// The request headers `[[name, value], ...]`.
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> JsValue {
        self.request().headers()
    }

    /// The form fields `[[name, value], ...]` (credentials included).
    #[wasm_bindgen(getter)]
    pub fn form(&self) -> JsValue {
        self.request().form()
    }

    /// The form body (contains credentials: don't log it).
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> String {
        self.inner.request.body()
    }

    /// `{ id, reason, request }` with credentials redacted.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        Out::new()
            .num("id", i64::try_from(self.inner.id.0).unwrap_or(i64::MAX))
            .str("reason", self.inner.reason.as_str())
            .set("request", TokenRequest::redacted(&self.inner.request))
            .build()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!(
            "Ticket(#{}, {}, POST {})",
            self.inner.id.0,
            self.inner.reason.as_str(),
            self.inner.request.url
        )
    }
}

// ----- Authorization -----------------------------------------------------------------------------

/// The answer to `session.authorize()` (core `session::Authorization`). `kind` says what to do:
///
/// * `ready` — send the request with `header`; report the response with `tokenId`;
/// * `ready_and_refresh` — the same, and this caller performs `ticket`;
/// * `refresh` — perform `ticket`, then call `authorize` again;
/// * `wait` — call `authorize` again at `until` (`waitReason` says why);
/// * `failed` — give up this request with `error`.
///
/// `toString()`/`toJSON()` show the kind and token id, never the header.
#[wasm_bindgen]
pub struct Authorization {
    kind: &'static str,
    header: Option<Secret>,
    token_id: Option<TokenId>,
    ticket: Option<core_session::Ticket>,
    until: Option<Reading>,
    wait_ms: Option<i64>,
    wait_reason: Option<WaitReason>,
    error: Option<SessionError>,
}

impl Authorization {
    fn from_core(a: CoreAuthorization) -> Authorization {
        let p = a.into_parts();
        Authorization {
            kind: p.kind,
            header: p.header,
            token_id: p.token_id,
            ticket: p.ticket,
            until: p.until,
            wait_ms: p.wait_ms,
            wait_reason: p.wait_reason,
            error: p.error,
        }
    }
}

#[wasm_bindgen]
impl Authorization {
    /// `ready`, `ready_and_refresh`, `refresh`, `wait` or `failed`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.kind.to_owned()
    }

    /// The `Authorization` header value (`Bearer ...`) for `ready`/`ready_and_refresh`, else
    /// `null`.
    #[wasm_bindgen(getter)]
    pub fn header(&self) -> JsValue {
        edge::opt_str(self.header.as_ref().map(Secret::expose))
    }

    /// The token used (`ready`/`ready_and_refresh`), else `null`.
    #[wasm_bindgen(getter = tokenId)]
    pub fn token_id(&self) -> JsValue {
        self.token_id
            .map_or(JsValue::NULL, |t| JsValue::from_f64(id_js(t.0)))
    }

    /// The refresh to perform (`ready_and_refresh`/`refresh`), else `null`.
    #[wasm_bindgen(getter)]
    pub fn ticket(&self) -> JsValue {
        self.ticket
            .clone()
            .map_or(JsValue::NULL, |inner| Ticket { inner }.into())
    }

    /// When to call `authorize` again (`wait`), else `null`.
    #[wasm_bindgen(getter)]
    pub fn until(&self) -> JsValue {
        edge::opt_reading_js(self.until)
    }

    /// Milliseconds from the reading passed to `authorize` until `until` (`wait`), else
    /// `null`.
    #[wasm_bindgen(getter = waitMs)]
    pub fn wait_ms(&self) -> JsValue {
        self.wait_ms
            .map_or(JsValue::NULL, |ms| JsValue::from_f64(ms as f64))
    }

    /// `refresh_in_flight`, `not_yet_valid` or `backoff` (`wait`), else `null`.
    #[wasm_bindgen(getter = waitReason)]
    pub fn wait_reason(&self) -> JsValue {
        edge::opt_str(self.wait_reason.map(WaitReason::as_str))
    }

    /// The error (`failed`): a `TokenClockError` with `.code`, `.retryAtMs`, ...; else `null`.
    #[wasm_bindgen(getter)]
    pub fn error(&self) -> JsValue {
        self.error.as_ref().map_or(JsValue::NULL, session_error)
    }

    /// `{ kind, tokenId, ticketId, until, waitMs, waitReason, error }` without the header.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        Out::new()
            .str("kind", self.kind)
            .opt_num(
                "tokenId",
                self.token_id.and_then(|t| i64::try_from(t.0).ok()),
            )
            .opt_num(
                "ticketId",
                self.ticket
                    .as_ref()
                    .and_then(|t| i64::try_from(t.id.0).ok()),
            )
            .set("until", edge::opt_reading_js(self.until))
            .opt_num("waitMs", self.wait_ms)
            .opt_str("waitReason", self.wait_reason.map(WaitReason::as_str))
            .opt_str(
                "error",
                self.error.as_ref().map(tokenclock::ErrorCode::code),
            )
            .build()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        use tokenclock::ErrorCode as _;
        let mut s = format!("Authorization({}", self.kind);
        if let Some(t) = self.token_id {
            s.push_str(&format!(", token {}", t.0));
        }
        if let Some(t) = &self.ticket {
            s.push_str(&format!(", ticket {} ({})", t.id.0, t.reason.as_str()));
        }
        if let Some(r) = self.wait_reason {
            s.push_str(&format!(", {}", r.as_str()));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(", {}", e.code()));
        }
        s.push(')');
        s
    }
}

// ----- verdicts and events -----------------------------------------------------------------------

/// A diagnosis' evidence (`null` for `unauthorized`) and, for clock skew, the error to throw
/// (code `clock_skew`, message from core, `.diagnosis` and `.evidence`).
fn diagnosis_js(diagnosis: &Diagnosis) -> (JsValue, JsValue) {
    match diagnosis {
        Diagnosis::ClockSkew(e) => {
            let evidence: JsValue = Out::new()
                .str("finding", e.finding.as_str())
                .set("resource", Estimate::wrap(e.resource))
                .set("issuer", Estimate::wrap(e.issuer))
                .opt_num("resourceNowLowMs", e.resource_now_ms.0)
                .opt_num("resourceNowHighMs", e.resource_now_ms.1)
                .opt_num("expMs", e.exp_ms)
                .opt_num("nbfMs", e.nbf_ms)
                .opt_num("iatMs", e.iat_ms)
                .build();
            let error = crate::errors::tc_error(
                diagnosis.as_str(),
                &diagnosis.to_string(),
                crate::errors::Details::new()
                    .str("diagnosis", diagnosis.as_str())
                    .set("evidence", evidence.clone()),
            );
            (evidence, error)
        }
        _ => (JsValue::NULL, JsValue::NULL),
    }
}

/// `{ kind: "return" | "return_refusal" | "retry" | "raise", waitMs, diagnosis, evidence,
/// error }`.
fn after_response_js(a: &AfterResponse) -> JsValue {
    let (wait_ms, diagnosis) = match a {
        AfterResponse::Retry { wait_ms } => (Some(*wait_ms), None),
        AfterResponse::Raise { diagnosis } => (None, Some(diagnosis)),
        _ => (None, None),
    };
    let (evidence, error) = diagnosis.map_or((JsValue::NULL, JsValue::NULL), diagnosis_js);
    Out::new()
        .str("kind", a.as_str())
        .opt_num("waitMs", wait_ms)
        .opt_str("diagnosis", diagnosis.map(Diagnosis::as_str))
        .set("evidence", evidence)
        .set("error", error)
        .build()
}

fn verdict_js(v: &Verdict) -> JsValue {
    match v {
        Verdict::Accept => Out::new()
            .str("kind", v.as_str())
            .set("waitMs", JsValue::NULL)
            .set("diagnosis", JsValue::NULL)
            .set("evidence", JsValue::NULL)
            .build(),
        Verdict::Retry { wait_ms } => Out::new()
            .str("kind", v.as_str())
            .num("waitMs", *wait_ms)
            .set("diagnosis", JsValue::NULL)
            .set("evidence", JsValue::NULL)
            .build(),
        Verdict::Fail { diagnosis } => {
            let (evidence, error) = diagnosis_js(diagnosis);
            Out::new()
                .str("kind", v.as_str())
                .set("waitMs", JsValue::NULL)
                .str("diagnosis", diagnosis.as_str())
                .set("evidence", evidence)
                .set("error", error)
                .build()
        }
        // A variant added to core later: hand the response to the caller.
        _ => Out::new().str("kind", "accept").build(),
    }
}

fn event_js(e: &SessionEvent) -> JsValue {
    let at = |r: &Reading| edge::reading_js(*r);
    let id = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    match e {
        SessionEvent::TicketIssued {
            at: r,
            ticket,
            reason,
        } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .num("ticket", id(ticket.0))
            .str("reason", reason.as_str()),
        SessionEvent::TokenReceived {
            at: r,
            token,
            lifetime_ms,
            usable_ms,
        } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .num("token", id(token.0))
            .num("lifetimeMs", *lifetime_ms)
            .num("usableMs", *usable_ms),
        SessionEvent::RefreshFailed {
            at: r,
            code,
            backoff_ms,
        } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .str("code", code)
            .num("backoffMs", *backoff_ms),
        SessionEvent::TokenReused { at: r, token }
        | SessionEvent::TokenAdopted { at: r, token }
        | SessionEvent::ResourceEstimateReset { at: r, token } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .num("token", id(token.0)),
        SessionEvent::TicketAbandoned { at: r, ticket } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .num("ticket", id(ticket.0)),
        SessionEvent::Rejected {
            at: r,
            token,
            verdict,
        } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .num("token", id(token.0))
            .str("verdict", verdict),
        SessionEvent::ClockDiscontinuity {
            at: r,
            wall_excess_ms,
        } => Out::new()
            .str("kind", e.name())
            .set("at", at(r))
            .num("wallExcessMs", *wall_excess_ms),
        _ => Out::new().str("kind", "other"),
    }
    .build()
}

// ----- Session -----------------------------------------------------------------------------------

/// The refresh state machine for one credential and audience (core `session::Session`).
///
/// Call `authorize()` before every API request and follow its `kind`; close each ticket with
/// `completeRefresh` or `failRefresh`; report every API response with `onResponse`.
#[wasm_bindgen]
pub struct Session {
    inner: RefCell<core_session::Session>,
    /// Reports a failure of the host's random source (checked after every call).
    rng_health: RngHealth,
    pub(crate) clock: Clock,
    /// `authorizeToken`'s non-ready answer, for `takeAuthorization`.
    pending: RefCell<Option<CoreAuthorization>>,
    /// The header of the token `authorizeToken` last returned.
    last_header: RefCell<Option<(u64, tokenclock::oauth::Secret)>>,
    /// The hot path's answer (core `ReadyWindow`), set by `authorizeToken`, dropped by every
    /// other call before it enters the session.
    window: std::cell::Cell<Option<core_session::ReadyWindow>>,
}

impl Session {
    /// Runs `f` on the core session. Every argument (and the clock) is read before this is
    /// called, so no JS code runs while the session is borrowed; a re-entrant call from such
    /// code is refused instead of aliasing.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut core_session::Session) -> T,
    ) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("Session is already in use (re-entrant call)"))?;
        // The ready window is taken back: the session is brought to where the answers it gave
        // would have left it.
        if let Some(w) = self.window.take() {
            inner.resume(&w);
        }
        let out = f(&mut inner);
        // Fail closed: an answer built while the host's random source failed (a `jti`, PKCE
        // or jitter from zeros) is never handed out.
        self.rng_health.check().map_err(|e| {
            crate::errors::tc_error(e.code(), &e.to_string(), crate::errors::Details::new())
        })?;
        Ok(out)
    }

    /// `authorizeToken`: the ready window's answer when it covers `now` (the session is not
    /// entered), else the session's, which sets the next window.
    fn authorize_token_reading(&self, now: Reading) -> Result<f64, JsValue> {
        if let Some(mut w) = self.window.get() {
            if let Some(token) = w.answer(now) {
                self.window.set(Some(w));
                return Ok(id_js(token.0));
            }
        }
        let (a, window) = self.with(|s| {
            let a = s.authorize(now);
            (a, s.ready_window(now))
        })?;
        match a {
            CoreAuthorization::Ready { header, token_id } => {
                *self.last_header.borrow_mut() = Some((token_id.0, header));
                self.window.set(window);
                Ok(id_js(token_id.0))
            }
            other => {
                *self.pending.borrow_mut() = Some(other);
                Ok(0.0)
            }
        }
    }
}

#[wasm_bindgen]
impl Session {
    /// `new Session(grant, { policy?, backoff?, skew?, ticketTimeoutMs?, max401WaitMs?,
    /// tokenTimeoutMs?, refreshesPerCall?, partition?, clock?, seed? })`. `tokenTimeoutMs`
    /// (10 000): the bound on one token request, connect to last byte; `refreshesPerCall` (1):
    /// token requests one API call performs at most (1 to 5). `policy` as for `Lifetime`; `backoff = { baseMs, capMs,
    /// maxRetryAfterMs, configRetryMs }` (`configRetryMs`: the wait after a configuration error
    /// such as `invalid_client`, default 300 000); `skew = { driftPpm, maxSamples }`;
    /// `partition`: whose token this is for a shared store (a user or tenant id; required to
    /// share authorization-code and refresh-token sessions); `seed` replaces the host RNG
    /// (tests only).
    #[wasm_bindgen(constructor)]
    pub fn new(grant: &Grant, options: JsValue) -> Result<Session, JsValue> {
        edge::options("options", &options)?;
        let spec = grant.spec.clone();
        let allow_insecure_http = spec.allow_insecure_http;
        let mut config = SessionConfig::new(spec.token_url, spec.auth, spec.grant);
        config.allow_insecure_http = allow_insecure_http;
        config.policy = policy_arg(&edge::get(&options, "policy")?)?;
        config.backoff = backoff_arg(&edge::get(&options, "backoff")?)?;
        config.skew = skew_config("skew", &edge::get(&options, "skew")?)?;
        if let Some(ms) =
            edge::opt_uint("ticketTimeoutMs", &edge::get(&options, "ticketTimeoutMs")?)?
        {
            config.ticket_timeout_ms = ms;
        }
        if let Some(ms) = edge::opt_uint("max401WaitMs", &edge::get(&options, "max401WaitMs")?)? {
            config.max_401_wait_ms = ms;
        }
        if let Some(ms) = edge::opt_uint("tokenTimeoutMs", &edge::get(&options, "tokenTimeoutMs")?)?
        {
            config.token_timeout_ms = ms;
        }
        if let Some(n) = edge::opt_uint(
            "refreshesPerCall",
            &edge::get(&options, "refreshesPerCall")?,
        )? {
            // Out of range (core accepts 1 to 5) is refused by `Session::new`.
            config.refreshes_per_call = u32::try_from(n).unwrap_or(u32::MAX);
        }
        config.partition = edge::opt_string("partition", &edge::get(&options, "partition")?)?;
        let clock = Clock::from_option(&edge::get(&options, "clock")?)?;
        let rng = host::rng(edge::opt_seed(&edge::get(&options, "seed")?)?)?;
        let rng_health = rng.health();
        let inner = core_session::Session::new(config, rng.rng).map_err(|e| session_error(&e))?;
        Ok(Session {
            rng_health,
            pending: RefCell::new(None),
            last_header: RefCell::new(None),
            window: std::cell::Cell::new(None),
            inner: RefCell::new(inner),
            clock,
        })
    }

    /// What the caller of an API request does now (see `Authorization`).
    pub fn authorize(&self, now: JsValue) -> Result<Authorization, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        self.with(|s| Authorization::from_core(s.authorize(now)))
    }

    /// The hot path of `authorize`, for per-request use: the same decision, but a `ready`
    /// answer comes back as just the token id (a number > 0), without building an object;
    /// fetch the header once per token with `tokenHeader(id)` and cache it. Any other answer
    /// returns 0, and `takeAuthorization()` then hands over the full answer (a ticket to
    /// perform, a wait, a failure) exactly once — take it before the next call.
    #[wasm_bindgen(js_name = authorizeToken)]
    pub fn authorize_token(&self, now: JsValue) -> Result<f64, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        self.authorize_token_reading(now)
    }

    /// `authorizeToken` at a reading given as two numbers (`wallMs`, `monoMs`): the same
    /// answer, without reading an object across the edge (what `createFetch` calls on every
    /// request).
    #[wasm_bindgen(js_name = authorizeTokenAt)]
    pub fn authorize_token_at(&self, wall_ms: f64, mono_ms: f64) -> Result<f64, JsValue> {
        let now = reading_parts("now", wall_ms, mono_ms)?;
        self.authorize_token_reading(now)
    }

    /// The `Authorization` header of a token `authorizeToken` returned (`undefined` for any
    /// other id).
    #[wasm_bindgen(js_name = tokenHeader)]
    pub fn token_header(&self, token_id: JsValue) -> Result<Option<String>, JsValue> {
        let id = id_arg("tokenId", &token_id)?;
        if let Some((_, h)) = self.last_header.borrow().as_ref().filter(|(t, _)| *t == id) {
            return Ok(Some(h.expose().to_owned()));
        }
        // A token answered from a window set after a response: the session holds its header.
        self.with(|s| s.header_of(TokenId(id)).map(|h| h.expose().to_owned()))
    }

    /// The full answer held back by the last `authorizeToken` that returned 0.
    #[wasm_bindgen(js_name = takeAuthorization)]
    pub fn take_authorization(&self) -> Option<Authorization> {
        self.pending
            .borrow_mut()
            .take()
            .map(Authorization::from_core)
    }

    /// Closes ticket `ticketId` with the token endpoint's answer (`status`, `headers`, `body`
    /// as a string or `Uint8Array`); `sent`/`received` (default: now) bracket the token
    /// request. Returns the id of the token now in use; throws `TokenClockError`
    /// (`stale_ticket`, the endpoint's code with `.errorClass`/`.retryAtMs`, ...).
    #[wasm_bindgen(js_name = completeRefresh)]
    pub fn complete_refresh(
        &self,
        ticket_id: JsValue,
        status: JsValue,
        headers: JsValue,
        body: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<f64, JsValue> {
        let ticket = TicketId(id_arg("ticketId", &ticket_id)?);
        let status = edge::uint_as::<u16>("status", &status)?;
        let headers = edge::pairs("headers", &headers)?;
        let body = edge::body("body", &body)?;
        let sent = edge::reading("sent", &sent)?;
        let received = self.clock.or_now("received", &received)?;
        self.with(|s| s.complete_refresh(ticket, status, &headers, &body, sent, received))?
            .map(|id| id_js(id.0))
            .map_err(|e| session_error(&e))
    }

    /// Feeds the token endpoint's `Date` header from a request that was not a token request
    /// (a `HEAD` probe before adopting a shared token: fleet action `probe_issuer`).
    /// `sent`/`received` (default: now) bracket that request.
    #[wasm_bindgen(js_name = addIssuerDate)]
    pub fn add_issuer_date(
        &self,
        date: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let date = edge::string("date", &date)?;
        let sent = edge::reading("sent", &sent)?;
        let received = self.clock.or_now("received", &received)?;
        self.with(|s| s.add_issuer_date(&date, sent, received))?
            .map_err(|e| session_error(&e))
    }

    /// Closes ticket `ticketId` after a transport failure: `"connect"`, `"timeout"` or
    /// `"aborted"` (no backoff). Returns the `TokenClockError` callers will now see (it is not
    /// thrown); throws `stale_ticket` if the ticket is not the outstanding one.
    #[wasm_bindgen(js_name = failRefresh)]
    pub fn fail_refresh(
        &self,
        ticket_id: JsValue,
        failure: JsValue,
        now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let ticket = TicketId(id_arg("ticketId", &ticket_id)?);
        let failure: TransportFailure = edge::string("failure", &failure)?
            .parse()
            .map_err(|_| type_error("failure must be \"connect\", \"timeout\" or \"aborted\""))?;
        let now = self.clock.or_now("now", &now)?;
        match self.with(|s| s.fail_refresh(ticket, failure, now))? {
            Ok(error) => Ok(session_error(&error)),
            Err(error) => Err(session_error(&error)),
        }
    }

    /// Reports an API response made with token `tokenId` (`sent`/`received` bracket it;
    /// `received` defaults to now). Returns the verdict `{ kind: "accept" | "retry" | "fail",
    /// waitMs, diagnosis, evidence }`.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(
        &self,
        token_id: JsValue,
        status: JsValue,
        headers: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<JsValue, JsValue> {
        let token = TokenId(id_arg("tokenId", &token_id)?);
        let status = edge::uint_as::<u16>("status", &status)?;
        let headers = edge::pairs("headers", &headers)?;
        let sent = edge::reading("sent", &sent)?;
        let received = self.clock.or_now("received", &received)?;
        let verdict = self.with(|s| s.on_response(token, status, &headers, sent, received))?;
        Ok(verdict_js(&verdict))
    }

    /// The decision after an API response, for adapters: `onResponse` (same arguments, same
    /// effect), then what to do with the response given which send of the call it answers
    /// (`attempt`: 1 for the first, 2 for the retry; `replayable`: the request can be sent
    /// again). Returns `{ kind: "return" | "return_refusal" | "retry" | "raise", waitMs,
    /// diagnosis, evidence, error }` (`raise`: throw `error`).
    #[wasm_bindgen(js_name = afterResponse)]
    #[allow(clippy::too_many_arguments)]
    pub fn after_response(
        &self,
        token_id: JsValue,
        status: JsValue,
        headers: JsValue,
        sent: JsValue,
        received: JsValue,
        attempt: JsValue,
        replayable: JsValue,
    ) -> Result<JsValue, JsValue> {
        let token = TokenId(id_arg("tokenId", &token_id)?);
        let status = edge::uint_as::<u16>("status", &status)?;
        let headers = edge::pairs("headers", &headers)?;
        let sent = edge::reading("sent", &sent)?;
        let received = self.clock.or_now("received", &received)?;
        let attempt = Attempt {
            number: edge::uint_as::<u32>("attempt", &attempt)?,
            resend: match replayable.as_bool() {
                Some(true) => Resend::Possible,
                Some(false) => Resend::Impossible,
                None => return Err(type_error("replayable must be a boolean")),
            },
        };
        let a =
            self.with(|s| s.after_response(token, status, &headers, sent, received, attempt))?;
        Ok(after_response_js(&a))
    }

    /// `afterResponse` with the parts `createFetch` has as plain values: the response's `Date`
    /// and `Age` headers (or `null`; the session reads no other) and the two readings as
    /// numbers. Returns `0` for `return` (the
    /// common answer, no object built), otherwise the object `afterResponse` returns.
    #[wasm_bindgen(js_name = afterResponseAt)]
    #[allow(clippy::too_many_arguments)]
    pub fn after_response_at(
        &self,
        token_id: f64,
        status: f64,
        date: JsValue,
        age: JsValue,
        sent_wall_ms: f64,
        sent_mono_ms: f64,
        received_wall_ms: f64,
        received_mono_ms: f64,
        attempt: f64,
        replayable: JsValue,
    ) -> Result<JsValue, JsValue> {
        let token = TokenId(id_arg("tokenId", &JsValue::from_f64(token_id))?);
        let status = edge::uint_as::<u16>("status", &JsValue::from_f64(status))?;
        // `JsValue`, not `Option<String>`: a non-string must be a typed error, never reach
        // wasm-bindgen's string copy.
        let date = edge::opt_string("date", &date)?;
        let age = edge::opt_string("age", &age)?;
        let sent = reading_parts("sent", sent_wall_ms, sent_mono_ms)?;
        let received = reading_parts("received", received_wall_ms, received_mono_ms)?;
        let attempt = Attempt {
            number: edge::uint_as::<u32>("attempt", &JsValue::from_f64(attempt))?,
            resend: match replayable.as_bool() {
                Some(true) => Resend::Possible,
                Some(false) => Resend::Impossible,
                None => return Err(type_error("replayable must be a boolean")),
            },
        };
        let headers: Vec<(String, String)> = date
            .map(|d| ("date".to_owned(), d))
            .into_iter()
            .chain(age.map(|a| ("age".to_owned(), a)))
            .collect();
        let (a, window) = self.with(|s| {
            let a = s.after_response(token, status, &headers, sent, received, attempt);
            // Accepted: the next requests may be answered from a window again.
            let w = (a == AfterResponse::Return).then(|| s.ready_window(received));
            (a, w.flatten())
        })?;
        self.window.set(window);
        Ok(match a {
            AfterResponse::Return => JsValue::from_f64(0.0),
            other => after_response_js(&other),
        })
    }

    /// The bound on one token request, ms (`tokenTimeoutMs`, default 10 000).
    #[wasm_bindgen(getter = tokenTimeoutMs)]
    pub fn token_timeout_ms(&self) -> Result<f64, JsValue> {
        Ok(self.with(|s| s.token_timeout_ms())? as f64)
    }

    /// Sets `tokenTimeoutMs` (1 to 600 000): `createFetch`'s `tokenTimeoutMs` option.
    #[wasm_bindgen(js_name = setTokenTimeoutMs)]
    pub fn set_token_timeout_ms(&self, ms: JsValue) -> Result<(), JsValue> {
        let ms = edge::uint("tokenTimeoutMs", &ms)?;
        self.with(|s| s.set_token_timeout_ms(ms))?
            .map_err(|e| session_error(&e))
    }

    /// The largest token response body read, bytes after decoding (1 MiB): read at most one
    /// byte more and hand it over (the session answers `body_too_large`).
    #[wasm_bindgen(getter = maxTokenResponseLen)]
    pub fn max_token_response_len(&self) -> Result<f64, JsValue> {
        Ok(self.with(|s| s.max_token_response_len())? as f64)
    }

    /// Token requests one API call performs at most (1): after that many, a failed refresh is
    /// thrown to the caller.
    #[wasm_bindgen(getter = refreshesPerCall)]
    pub fn refreshes_per_call(&self) -> Result<f64, JsValue> {
        Ok(f64::from(self.with(|s| s.refreshes_per_call())?))
    }

    /// When the session next wants attention on its own (`{ wallMs, monoMs }`), or `null`.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        Ok(edge::opt_reading_js(self.with(|s| s.next_timeout(now))?))
    }

    /// Counters: `{ tokenRequests, refreshes, failures, unauthorized, retries,
    /// abandonedTickets, discontinuities }`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        let st = self.with(|s| s.stats().clone())?;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok(Out::new()
            .num("tokenRequests", n(st.token_requests))
            .num("refreshes", n(st.refreshes))
            .num("failures", n(st.failures))
            .num("unauthorized", n(st.unauthorized))
            .num("retries", n(st.retries))
            .num("abandonedTickets", n(st.abandoned_tickets))
            .num("discontinuities", n(st.discontinuities))
            .build())
    }

    /// The offset estimates of the issuer and of the resource server at `now`:
    /// `{ issuer: Estimate, resource: Estimate }`.
    pub fn estimates(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        let (issuer, resource) = self.with(|s| s.estimates(now))?;
        Ok(Out::new()
            .set("issuer", Estimate::wrap(issuer))
            .set("resource", Estimate::wrap(resource))
            .build())
    }

    /// The current token's state at `now` (`{ state, waitMs?, until? }`), or `null` without a
    /// token.
    #[wasm_bindgen(js_name = tokenState)]
    pub fn token_state(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        Ok(self
            .with(|s| s.token_state(now))?
            .map_or(JsValue::NULL, state_js))
    }

    /// The current token: `{ tokenId, lifetime: Lifetime }`, or `null`.
    #[wasm_bindgen(js_name = currentToken)]
    pub fn current_token(&self) -> Result<JsValue, JsValue> {
        let current = self.with(|s| {
            let policy = s.config().policy;
            s.current_token().map(|(id, l)| (id, *l, policy))
        })?;
        Ok(match current {
            Some((id, lifetime, policy)) => Out::new()
                .set("tokenId", id_js(id.0))
                .set(
                    "lifetime",
                    Lifetime::from_parts(lifetime, policy, self.clock.clone()),
                )
                .build(),
            None => JsValue::NULL,
        })
    }

    /// True while a ticket is outstanding.
    #[wasm_bindgen(getter = refreshInFlight)]
    pub fn refresh_in_flight(&self) -> Result<bool, JsValue> {
        self.with(|s| s.refresh_in_flight())
    }

    /// The next event (oldest first; at most 256 are kept), or `null`:
    /// `{ kind: "ticket_issued" | "token_received" | "refresh_failed" | "token_reused" |
    /// "token_adopted" | "ticket_abandoned" | "rejected" | "clock_discontinuity" |
    /// "resource_estimate_reset", at, ... }`; `null` when there is none. Python `poll_event()`.
    /// Never contains a token or secret.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&self) -> Result<JsValue, JsValue> {
        Ok(self
            .with(|s| s.poll_event())?
            .as_ref()
            .map_or(JsValue::NULL, event_js))
    }

    /// Drains every pending event (`pollEvent` until `null`), oldest first, as an array.
    /// Python `events()`.
    pub fn events(&self) -> Result<js_sys::Array, JsValue> {
        let evs = self.with(|s| std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>())?;
        Ok(evs.iter().map(event_js).collect())
    }

    /// The current time on this session's clock, `{ wallMs, monoMs }` (read it before sending
    /// a request to have `sent`).
    pub fn now(&self) -> Result<JsValue, JsValue> {
        Ok(edge::reading_js(self.clock.read()?))
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.try_borrow() {
            Ok(s) => {
                let current = s
                    .current_token()
                    .map_or("none".to_owned(), |(id, _)| id.0.to_string());
                format!(
                    "Session({}, token {current}, refresh in flight: {})",
                    s.config().token_url,
                    s.refresh_in_flight()
                )
            }
            Err(_) => "Session(in use)".to_owned(),
        }
    }

    /// `{ tokenUrl, grantType, tokenId, refreshInFlight }`: never a token or secret (`null`
    /// while in use).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        match self.inner.try_borrow() {
            Ok(s) => Out::new()
                .str("tokenUrl", &s.config().token_url)
                .str("grantType", s.config().grant.grant_type())
                .set(
                    "tokenId",
                    s.current_token()
                        .map_or(JsValue::NULL, |(id, _)| JsValue::from_f64(id_js(id.0))),
                )
                .set("refreshInFlight", JsValue::from_bool(s.refresh_in_flight()))
                .build(),
            Err(_) => JsValue::NULL,
        }
    }
}
