//! Target `session`: a `Session` driven by random event sequences (structured input, decoded
//! with `arbitrary`), with its invariants checked after every step.
//!
//! Input (`arbitrary` encoding, see `fuzz/README.md`): a [`SessionInput`] header, then [`Op`]s
//! until the bytes run out (at most [`MAX_OPS`]).
//!
//! The harness simulates the world: true time `tau`; our monotonic clock reads `M0 + tau −
//! paused` (it stands still while suspended), our wall clock `T0 + tau + shift` (explicit steps);
//! the issuer's and the resource server's clocks run at `T0 + tau + θ`. It plays the token
//! endpoint (token responses with `expires_in`, JWT claims — sane and absurd —, cached tokens,
//! rotated refresh tokens, §5.2 errors, `Retry-After`, broken bodies) and the resource server
//! (`Date` headers, 401s).
//!
//! Invariants, after every step:
//! * no panic;
//! * **single flight**: a ticket is issued only when none is outstanding (the previous one
//!   closed, or abandoned after `ticket_timeout_ms` by the same reading); ids only grow;
//! * **stale tickets**: closing a ticket that is not the outstanding one (closed, abandoned or
//!   made up) is `stale_ticket` and changes nothing (stats, current token, ticket);
//! * **hard expiry**: the current token is handed out only while `until_hard_expiry_ms > 0`
//!   against the estimate that judges it; and, while our monotonic clock is honest (no suspend,
//!   no absurd reading so far), a token with `expires_in` is never handed out later (true time)
//!   than `sent + expires_in − margin`;
//! * `Wait` and `next_timeout` never point into the past; a non-401 is accepted; a 401 on a
//!   token that is not current is retried at once;
//! * nothing the session shows (`Debug` of it, of its answers, events, errors, stats) contains a
//!   token, refresh token or client secret.
//!
//! Binding call: Python `tokenclock.Session(...)` with `authorize`, `complete_refresh`,
//! `fail_refresh`, `on_response`, `next_timeout`; JS `new Session(...)` with the same methods.

use arbitrary::{Arbitrary, Unstructured};
use serde_json::json;
use std::collections::HashMap;
use tokenclock::httpdate::format_http_date;
use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{
    Authorization, Session, SessionConfig, SessionError, TicketId, TokenId, TransportFailure,
    Verdict,
};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::ErrorCode;

const T0: i64 = 1_700_000_000_000;
const M0: i64 = 7_000_000;
/// Longest op sequence driven per input.
pub const MAX_OPS: usize = 400;
const CLIENT_SECRET: &str = "client-SeCrEt-7f3a9c1e5b2d4f60";

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum GrantKind {
    ClientCredentials,
    RefreshToken,
    AuthorizationCode,
    JwtBearer,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct SessionInput {
    pub seed: u64,
    pub grant: GrantKind,
    pub post_auth: bool,
    /// Issuer and resource-server offsets (server − true local), ms, reduced into ±1 day.
    pub issuer_offset: i32,
    pub resource_offset: i32,
    /// Refresh window in percent (reduced into a valid window), or the default.
    pub window: Option<(u8, u8)>,
    /// Fixed margin (ms, reduced), or the default tenth of the lifetime.
    pub margin: Option<u16>,
}

/// A JWT time claim: relative to the issuer's clock at minting (seconds), or an absurd literal.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ClaimVal {
    Rel(i32),
    Absurd(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Claims {
    pub exp: Option<ClaimVal>,
    pub nbf: Option<ClaimVal>,
    pub iat: Option<ClaimVal>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ExpiresIn {
    Absent,
    Secs(u32),
    Absurd(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum RetryAfterIn {
    Seconds(u16),
    /// An HTTP date this many seconds after the issuer's clock now.
    Date(i32),
    Garbage(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Resp {
    Token {
        expires_in: ExpiresIn,
        jwt: Option<Claims>,
        /// Re-serve the token the session holds (a caching issuer).
        same: bool,
        refresh_token: bool,
    },
    /// An RFC 6749 §5.2 error: which code (`% 10`), status (`% 600`), `Retry-After`.
    OAuthError {
        code: u8,
        status: u16,
        retry_after: Option<RetryAfterIn>,
    },
    /// A bare HTTP failure.
    Http {
        status: u16,
        retry_after: Option<RetryAfterIn>,
    },
    /// One of a list of broken or absurd bodies, with a status.
    Raw { body: u8, status: u16 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TicketPick {
    /// The ticket the harness believes is outstanding (or the last one seen).
    Live,
    /// A ticket seen earlier.
    Old(u8),
    /// A made-up id.
    Random(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TokenPick {
    Last,
    Old(u8),
    Random(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Op {
    Authorize,
    Complete {
        resp: Resp,
        rtt: u16,
        date: bool,
        read: u8,
        ticket: TicketPick,
    },
    Fail {
        failure: u8,
        ticket: TicketPick,
    },
    /// An API response: `status` (`401` when `unauthorized`, else 200), optional `Date`.
    Response {
        unauthorized: bool,
        token: TokenPick,
        date: bool,
        rtt: u16,
        read: u8,
    },
    Advance {
        ms: u32,
    },
    WallStep {
        by: i32,
    },
    Suspend {
        ms: u32,
    },
    /// One `authorize` (or `next_timeout`) at an absurd reading.
    Absurd {
        wall: i64,
        mono: i64,
        authorize: bool,
    },
    NextTimeout {
        jump: bool,
    },
    PollEvents,
}

const ABSURD_NUMBERS: &[&str] = &[
    "1e300",
    "-1e300",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "253402300800",
    "253402300799.9999",
    "-0",
    "0.0000001",
    "1.7976931348623157e308",
    "\"NaN\"",
    "\"Infinity\"",
    "null",
    "\"1700000000\"",
    "true",
    "[]",
];

const EXPIRES_IN_ABSURD: &[&str] = &[
    "1e300",
    "-1e300",
    "9223372036854775808",
    "0",
    "-1",
    "\"3600\"",
    "\"NaN\"",
    "3599.9999",
    "0.0001",
    "31536001",
    "\"\"",
    "null",
    "\" 60\"",
    "\"1e3\"",
];

const OAUTH_CODES: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "temporarily_unavailable",
    "server_error",
    "slow_down",
    "",
];

const RAW_BODIES: &[&str] = &[
    "",
    "<html><body>502 Bad Gateway</body></html>",
    "{\"access_token\":\"\"}",
    "{\"access_token\":null}",
    "{\"access_token\":\"a b\"}",
    "{\"access_token\":\"tok-SeCrEt-raw-000000\",\"token_type\":\"mac\"}",
    "{\"access_token\":\"tok-SeCrEt-raw-000001\",\"expires_in\":1e300}",
    "{\"access_token\":\"tok-SeCrEt-raw-000002\",\"access_token\":\"x\"}",
    "[1,2,3]",
    "{\"error\":\"invalid_grant\",\"error\":\"x\"}",
    "{\"error\":7}",
    "{\"access_token\":\"tok-SeCrEt-raw-000003\",\"refresh_token\":\"rt\\u0000\"}",
    "{\"access_token\":\"tok-SeCrEt-raw-000004\",\"expires_in\":\"3600\",\"token_type\":\"BEARER\"}",
];

struct World {
    tau: i64,
    shift: i64,
    paused: i64,
    issuer: i64,
    resource: i64,
}

impl World {
    fn now(&self) -> Reading {
        Reading {
            wall: UnixMillis(T0 + self.tau + self.shift),
            mono: MonoMillis(M0 + self.tau - self.paused),
        }
    }
    fn issuer_at(&self, tau: i64) -> i64 {
        T0 + tau + self.issuer
    }
    fn resource_at(&self, tau: i64) -> i64 {
        T0 + tau + self.resource
    }
}

/// What the harness knows about a token it minted.
#[derive(Clone, Debug)]
struct Minted {
    /// True time the request was sent.
    tau_sent: i64,
    /// `expires_in`, ms, when the response had a valid one.
    expires_in_ms: Option<i64>,
}

struct Harness {
    session: Session,
    world: World,
    /// Strings that must never appear in anything the session shows.
    secrets: Vec<String>,
    /// The outstanding ticket as the harness sees it: id, issuing reading.
    live: Option<(TicketId, Reading)>,
    seen_tickets: Vec<TicketId>,
    max_ticket: u64,
    max_token: u64,
    handed: Vec<TokenId>,
    /// Token id → the token string.
    token_string: HashMap<TokenId, String>,
    /// Token id → what the response that made it said (a string can be re-served later with
    /// other terms: the session then holds it under a new id).
    minted: HashMap<TokenId, Minted>,
    /// What the token response being completed says.
    pending: Option<Minted>,
    minted_count: u64,
    /// Our monotonic clock has been honest so far (no suspend, no absurd reading).
    honest_mono: bool,
}

impl Harness {
    fn check_redacted(&self, what: &str, text: &str) {
        for s in &self.secrets {
            assert!(!text.contains(s.as_str()), "{what} shows a secret: {text}");
        }
    }

    fn judge(&self, now: Reading) -> tokenclock::skew::Estimate {
        let (issuer, resource) = self.session.estimates(now);
        if resource.samples > 0 {
            resource
        } else {
            issuer
        }
    }

    fn authorize(&mut self, now: Reading, honest_reading: bool) {
        // Mirror rule 1: a ticket older than the timeout is abandoned by this call — unless the
        // reading is out of range, which the session refuses without touching its state.
        let in_range = Reading::new(now.wall.0, now.mono.0).is_ok();
        if let Some((_, issued)) = self.live.filter(|_| in_range) {
            if now.mono.since(issued.mono) >= self.session.config().ticket_timeout_ms {
                self.live = None;
            }
        }
        let answer = self.session.authorize(now);
        self.check_redacted("Authorization", &format!("{answer:?}"));
        super::trace::op(|| {
            let mut e = match &answer {
                Authorization::Ready { token_id, .. } => {
                    json!({"kind": "ready", "token": token_id.0})
                }
                Authorization::ReadyAndRefresh {
                    token_id, ticket, ..
                } => {
                    json!({"kind": "ready_and_refresh", "token": token_id.0, "ticket": ticket.id.0})
                }
                Authorization::Refresh { ticket } => {
                    json!({"kind": "refresh", "ticket": ticket.id.0})
                }
                Authorization::Wait { until, .. } => {
                    json!({"kind": "wait", "until": super::trace::reading(*until)})
                }
                Authorization::Failed { error } => json!({"kind": "failed", "error": error.code()}),
                _ => json!({"kind": "other"}),
            };
            e["in_flight"] = json!(self.session.refresh_in_flight());
            json!({"op": "authorize", "at": super::trace::reading(now), "expect": e})
        });
        let (token, ticket) = match &answer {
            Authorization::Ready { token_id, .. } => (Some(*token_id), None),
            Authorization::ReadyAndRefresh {
                token_id, ticket, ..
            } => (Some(*token_id), Some(ticket.id)),
            Authorization::Refresh { ticket } => (None, Some(ticket.id)),
            Authorization::Wait { until, .. } => {
                assert!(
                    until.wall >= now.wall && until.mono >= now.mono,
                    "wait into the past: {until:?} at {now:?}"
                );
                (None, None)
            }
            Authorization::Failed { error } => {
                super::assert_code(error.code());
                self.check_redacted("SessionError", &error.to_string());
                (None, None)
            }
            _ => (None, None),
        };
        if let Some(id) = ticket {
            assert!(
                self.live.is_none(),
                "second outstanding ticket {id:?} while {:?} is live",
                self.live
            );
            assert!(id.0 > self.max_ticket, "ticket id reused: {id:?}");
            self.max_ticket = id.0;
            self.live = Some((id, now));
            self.seen_tickets.push(id);
            assert!(self.session.refresh_in_flight());
        }
        if let Some(id) = token {
            self.handed.push(id);
            self.check_handed_out(id, now, honest_reading);
        }
    }

    fn check_handed_out(&self, id: TokenId, now: Reading, honest_reading: bool) {
        if let Some((cur, lifetime)) = self.session.current_token() {
            if cur == id {
                let judge = self.judge(now);
                let left = lifetime.until_hard_expiry_ms(now, &judge);
                assert!(left > 0, "token {id:?} handed out {left} ms into its hard expiry at {now:?}: {lifetime:?}");
                if self.honest_mono && honest_reading {
                    let minted = self.minted.get(&id);
                    if let Some(Minted {
                        tau_sent,
                        expires_in_ms: Some(e),
                    }) = minted
                    {
                        let true_left = tau_sent + e - self.world.tau;
                        assert!(
                            true_left > lifetime.margin_ms,
                            "token {id:?} handed out {true_left} ms (true time) before sent + expires_in, margin {}",
                            lifetime.margin_ms
                        );
                    }
                }
            }
        }
    }

    fn pick_ticket(&self, pick: TicketPick) -> TicketId {
        match pick {
            TicketPick::Live => self
                .live
                .map(|t| t.0)
                .or(self.seen_tickets.last().copied())
                .unwrap_or(TicketId(1)),
            TicketPick::Old(i) if !self.seen_tickets.is_empty() => {
                self.seen_tickets[usize::from(i) % self.seen_tickets.len()]
            }
            TicketPick::Old(i) => TicketId(u64::from(i)),
            TicketPick::Random(x) => TicketId(x),
        }
    }

    fn pick_token(&self, pick: TokenPick) -> TokenId {
        match pick {
            TokenPick::Last => self.handed.last().copied().unwrap_or(TokenId(1)),
            TokenPick::Old(i) if !self.handed.is_empty() => {
                self.handed[usize::from(i) % self.handed.len()]
            }
            TokenPick::Old(i) => TokenId(u64::from(i)),
            TokenPick::Random(x) => TokenId(x),
        }
    }

    /// The observable state a stale ticket must leave untouched.
    fn snapshot(&self) -> String {
        format!(
            "{:?} {:?} {:?}",
            self.session.stats(),
            self.session.current_token().map(|t| t.0),
            self.session.refresh_in_flight()
        )
    }

    /// Runs a ticket-closing call; checks the stale-ticket rule around it.
    fn close<T: std::fmt::Debug>(
        &mut self,
        id: TicketId,
        call: impl FnOnce(&mut Session) -> Result<T, SessionError>,
    ) -> Option<Result<T, SessionError>> {
        let is_live = self.live.is_some_and(|t| t.0 == id) && self.session.refresh_in_flight();
        let before = self.snapshot();
        let result = call(&mut self.session);
        match &result {
            Err(e) => {
                self.check_redacted("SessionError", &format!("{e:?} {e}"));
                super::assert_code(e.code());
            }
            Ok(v) => self.check_redacted("result", &format!("{v:?}")),
        }
        if !is_live {
            assert!(
                matches!(result, Err(SessionError::StaleTicket)),
                "ticket {id:?} (live: {:?}) not rejected as stale: {result:?}",
                self.live
            );
            assert_eq!(
                before,
                self.snapshot(),
                "a stale ticket changed the session"
            );
            return None;
        }
        assert!(
            !matches!(result, Err(SessionError::StaleTicket)),
            "the live ticket {id:?} was refused"
        );
        if matches!(result, Err(SessionError::InvalidArgument(_))) {
            assert!(
                self.session.refresh_in_flight(),
                "invalid arguments closed the ticket"
            );
        } else {
            self.live = None;
            assert!(
                !self.session.refresh_in_flight(),
                "ticket still outstanding after closing"
            );
        }
        Some(result)
    }

    fn new_secret(&mut self, prefix: &str) -> String {
        self.minted_count += 1;
        let s = format!(
            "{prefix}-SeCrEt-{:08}-{:016x}",
            self.minted_count,
            self.minted_count.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        );
        self.secrets.push(s.clone());
        s
    }

    fn claim(&self, v: ClaimVal, issuer_now_ms: i64) -> String {
        match v {
            ClaimVal::Rel(s) => (issuer_now_ms.div_euclid(1_000) + i64::from(s)).to_string(),
            ClaimVal::Absurd(i) => ABSURD_NUMBERS[usize::from(i) % ABSURD_NUMBERS.len()].to_owned(),
        }
    }

    /// Status, headers and body of a token-endpoint response minted at true time `tau_read`.
    fn respond(
        &mut self,
        resp: Resp,
        tau_sent: i64,
        tau_read: i64,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let issuer_now = self.world.issuer_at(tau_read);
        let retry = |ra: Option<RetryAfterIn>| -> Vec<(String, String)> {
            let v = match ra {
                None => return Vec::new(),
                Some(RetryAfterIn::Seconds(s)) => s.to_string(),
                Some(RetryAfterIn::Date(d)) => {
                    format_http_date(UnixMillis(issuer_now.saturating_add(i64::from(d) * 1_000)))
                }
                Some(RetryAfterIn::Garbage(g)) => {
                    ["-1", "1e9", "Sun, 06 Nov 1994", "99999999999", "", " 5 "][usize::from(g) % 6]
                        .to_owned()
                }
            };
            vec![("Retry-After".to_owned(), v)]
        };
        match resp {
            Resp::Token {
                expires_in,
                jwt,
                same,
                refresh_token,
            } => {
                let current = self
                    .session
                    .current_token()
                    .and_then(|(id, _)| self.token_string.get(&id).cloned());
                let token = match (same, current) {
                    (true, Some(t)) => t,
                    _ => {
                        let marker = self.new_secret("tok");
                        match jwt {
                            None => marker,
                            Some(c) => {
                                let mut claims = vec![format!("\"jti\":\"{marker}\"")];
                                for (name, v) in [("exp", c.exp), ("nbf", c.nbf), ("iat", c.iat)] {
                                    if let Some(v) = v {
                                        claims.push(format!(
                                            "\"{name}\":{}",
                                            self.claim(v, issuer_now)
                                        ));
                                    }
                                }
                                let b64 = |s: &str| {
                                    use base64::Engine as _;
                                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
                                };
                                let t = format!(
                                    "{}.{}.",
                                    b64("{\"alg\":\"none\"}"),
                                    b64(&format!("{{{}}}", claims.join(",")))
                                );
                                self.secrets.push(t.clone());
                                t
                            }
                        }
                    }
                };
                let (ei_text, ei_ms) = match expires_in {
                    ExpiresIn::Absent => (None, None),
                    ExpiresIn::Secs(s) => {
                        let s = i64::from(s % 200_000);
                        (Some(s.to_string()), (s > 0).then_some(s * 1_000))
                    }
                    ExpiresIn::Absurd(i) => (
                        Some(
                            EXPIRES_IN_ABSURD[usize::from(i) % EXPIRES_IN_ABSURD.len()].to_owned(),
                        ),
                        None,
                    ),
                };
                let mut body = format!("{{\"access_token\":\"{token}\",\"token_type\":\"Bearer\"");
                if let Some(t) = ei_text {
                    body.push_str(&format!(",\"expires_in\":{t}"));
                }
                if refresh_token {
                    let rt = self.new_secret("rt");
                    body.push_str(&format!(",\"refresh_token\":\"{rt}\""));
                }
                body.push('}');
                self.pending = Some(Minted {
                    tau_sent,
                    expires_in_ms: ei_ms,
                });
                (
                    200,
                    vec![("Content-Type".to_owned(), "application/json".to_owned())],
                    body.into_bytes(),
                )
            }
            Resp::OAuthError {
                code,
                status,
                retry_after,
            } => {
                let code = OAUTH_CODES[usize::from(code) % OAUTH_CODES.len()];
                let body = format!("{{\"error\":\"{code}\",\"error_description\":\"fuzz\"}}");
                (status % 600, retry(retry_after), body.into_bytes())
            }
            Resp::Http {
                status,
                retry_after,
            } => (status % 600, retry(retry_after), b"upstream error".to_vec()),
            Resp::Raw { body, status } => {
                let b = RAW_BODIES[usize::from(body) % RAW_BODIES.len()];
                (status % 600, Vec::new(), b.as_bytes().to_vec())
            }
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Authorize => {
                let now = self.world.now();
                self.authorize(now, true);
            }
            Op::Complete {
                resp,
                rtt,
                date,
                read,
                ticket,
            } => {
                let id = self.pick_ticket(ticket);
                let rtt = i64::from(rtt % 5_000);
                let tau_sent = self.world.tau;
                let sent = self.world.now();
                let tau_read = tau_sent + rtt * i64::from(read) / 255;
                self.world.tau += rtt;
                let received = self.world.now();
                self.pending = None;
                let (status, mut headers, body) = self.respond(resp, tau_sent, tau_read);
                if date {
                    headers.push((
                        "Date".to_owned(),
                        format_http_date(UnixMillis(self.world.issuer_at(tau_read))),
                    ));
                }
                let result = self.close(id, |s| {
                    s.complete_refresh(id, status, &headers, &body, sent, received)
                });
                super::trace::op(|| {
                    let mut e = match &result {
                        Some(Ok(t)) => json!({"token": t.0}),
                        Some(Err(e)) => json!({"error": e.code()}),
                        None => json!({"error": SessionError::StaleTicket.code()}),
                    };
                    e["in_flight"] = json!(self.session.refresh_in_flight());
                    json!({
                        "op": "complete",
                        "ticket": id.0.to_string(),
                        "status": status,
                        "headers": super::trace::headers(&headers),
                        "body": String::from_utf8_lossy(&body),
                        "sent": super::trace::reading(sent),
                        "received": super::trace::reading(received),
                        "expect": e,
                    })
                });
                if let Some(Ok(token_id)) = result {
                    let current = self.session.current_token().map(|t| t.0);
                    assert_eq!(current, Some(token_id), "the new token is not current");
                    if token_id.0 > self.max_token {
                        self.max_token = token_id.0;
                        let body = String::from_utf8_lossy(&body);
                        let tok = body
                            .split("\"access_token\":\"")
                            .nth(1)
                            .and_then(|r| r.split('"').next())
                            .unwrap_or_default()
                            .to_owned();
                        self.token_string.insert(token_id, tok);
                        if let Some(m) = self.pending.take() {
                            self.minted.insert(token_id, m);
                        }
                    }
                }
            }
            Op::Fail { failure, ticket } => {
                let id = self.pick_ticket(ticket);
                let failure = match failure % 3 {
                    0 => TransportFailure::Connect,
                    1 => TransportFailure::Timeout,
                    _ => TransportFailure::Aborted,
                };
                let now = self.world.now();
                let result = self.close(id, |s| s.fail_refresh(id, failure, now));
                if let Some(Ok(e)) = &result {
                    super::assert_code(e.code());
                }
                super::trace::op(|| {
                    let mut e = match &result {
                        Some(Ok(e)) => json!({"returned": e.code()}),
                        Some(Err(e)) => json!({"error": e.code()}),
                        None => json!({"error": SessionError::StaleTicket.code()}),
                    };
                    e["in_flight"] = json!(self.session.refresh_in_flight());
                    let failure = match failure {
                        TransportFailure::Connect => "connect",
                        TransportFailure::Timeout => "timeout",
                        _ => "aborted",
                    };
                    json!({
                        "op": "fail",
                        "ticket": id.0.to_string(),
                        "failure": failure,
                        "at": super::trace::reading(now),
                        "expect": e,
                    })
                });
            }
            Op::Response {
                unauthorized,
                token,
                date,
                rtt,
                read,
            } => {
                let id = self.pick_token(token);
                let rtt = i64::from(rtt % 5_000);
                let sent = self.world.now();
                let tau_read = self.world.tau + rtt * i64::from(read) / 255;
                self.world.tau += rtt;
                let received = self.world.now();
                let mut headers = Vec::new();
                if date {
                    headers.push((
                        "Date".to_owned(),
                        format_http_date(UnixMillis(self.world.resource_at(tau_read))),
                    ));
                }
                let was_current = self.session.current_token().is_some_and(|t| t.0 == id);
                let status = if unauthorized { 401 } else { 200 };
                let verdict = self
                    .session
                    .on_response(id, status, &headers, sent, received);
                self.check_redacted("Verdict", &format!("{verdict:?}"));
                super::trace::op(|| {
                    let e = match &verdict {
                        Verdict::Accept => json!({"verdict": "accept"}),
                        Verdict::Retry { wait_ms } => {
                            json!({"verdict": "retry", "wait_ms": wait_ms})
                        }
                        Verdict::Fail { diagnosis } => json!({
                            "verdict": "fail",
                            "diagnosis": match diagnosis {
                                tokenclock::session::Diagnosis::ClockSkew(_) => "clock_skew",
                                _ => "unauthorized",
                            },
                        }),
                        _ => json!({"verdict": "other"}),
                    };
                    json!({
                        "op": "response",
                        "token": id.0.to_string(),
                        "status": status,
                        "headers": super::trace::headers(&headers),
                        "sent": super::trace::reading(sent),
                        "received": super::trace::reading(received),
                        "expect": e,
                    })
                });
                if !unauthorized {
                    assert_eq!(verdict, Verdict::Accept);
                } else if !was_current {
                    assert_eq!(
                        verdict,
                        Verdict::Retry { wait_ms: 0 },
                        "401 on a replaced token"
                    );
                } else if let Verdict::Retry { wait_ms } = verdict {
                    assert!(wait_ms >= 0);
                }
            }
            Op::Advance { ms } => self.world.tau += i64::from(ms % 14_400_000),
            Op::WallStep { by } => self.world.shift += i64::from(by),
            Op::Suspend { ms } => {
                let ms = i64::from(ms % 86_400_000);
                self.world.tau += ms;
                self.world.paused += ms;
                self.honest_mono = false;
            }
            Op::Absurd {
                wall,
                mono,
                authorize,
            } => {
                self.honest_mono = false;
                let mut now = Reading {
                    wall: UnixMillis(wall),
                    mono: MonoMillis(mono),
                };
                if super::avoid_known() {
                    // Known finding fuzz-session-f1cf2e6656af: readings whose wall excess
                    // saturates at i64::MIN overflow `Lifetime::rebase`.
                    now.wall.0 = wall.clamp(0, tokenclock::time::MAX_UNIX_MILLIS);
                    now.mono.0 = mono.clamp(0, tokenclock::time::MAX_MONO_MILLIS);
                }
                if authorize {
                    self.authorize(now, false);
                } else {
                    let t = self.session.next_timeout(now);
                    trace_next_timeout(now, t);
                    if let Some(t) = t {
                        assert!(t.mono >= now.mono, "next_timeout in the past");
                    }
                }
            }
            Op::NextTimeout { jump } => {
                let now = self.world.now();
                let t = self.session.next_timeout(now);
                trace_next_timeout(now, t);
                if let Some(t) = t {
                    assert!(
                        t.mono >= now.mono && t.wall >= now.wall,
                        "next_timeout {t:?} before {now:?}"
                    );
                    if jump {
                        self.world.tau += t.mono.since(now.mono).min(14_400_000);
                    }
                }
            }
            Op::PollEvents => {
                let mut n = 0;
                while let Some(e) = self.session.poll_event() {
                    self.check_redacted("SessionEvent", &format!("{e:?}"));
                    n += 1;
                }
                super::trace::op(|| json!({"op": "events", "expect": {"count": n}}));
            }
        }
        self.check_redacted(
            "Session",
            &format!("{:?} {:?}", self.session, self.session.stats()),
        );
    }
}

fn trace_next_timeout(now: Reading, t: Option<Reading>) {
    super::trace::op(|| {
        json!({
            "op": "next_timeout",
            "at": super::trace::reading(now),
            "expect": {"at": t.map(super::trace::reading)},
        })
    });
}

/// The session's configuration as the bindings spell it (recorded at the head of a trace).
fn trace_setup(input: &SessionInput) -> serde_json::Value {
    let grant = match input.grant {
        GrantKind::ClientCredentials => json!({"type": "client_credentials", "scope": "api.read"}),
        GrantKind::RefreshToken => {
            json!({"type": "refresh_token", "refresh_token": "rt-SeCrEt-initial-0123456789abcdef"})
        }
        GrantKind::AuthorizationCode => json!({
            "type": "authorization_code",
            "code": "code-SeCrEt-0123456789abcdef",
            "redirect_uri": "https://app.example/cb",
            "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        }),
        GrantKind::JwtBearer => json!({
            "type": "jwt_bearer",
            "issuer": "svc@issuer.example",
            "private_key_file": "fuzz/harness/keys/p256-private.pem",
            "alg": "ES256",
            "kid": "p256-1",
        }),
    };
    let auth = match (input.grant, input.post_auth) {
        (GrantKind::JwtBearer, _) => json!({"method": "none"}),
        (_, post) => json!({
            "method": if post { "client_secret_post" } else { "client_secret_basic" },
            "client_id": "app",
            "client_secret": CLIENT_SECRET,
        }),
    };
    let window = input.window.map(|(a, b)| {
        let lo = f64::from(a % 100 + 1) / 100.0;
        [lo, (lo + f64::from(b % 100) / 100.0).min(1.0)]
    });
    json!({
        "op": "setup",
        "token_url": "https://issuer.example/token",
        "grant": grant,
        "auth": auth,
        "refresh_window": window,
        "margin_ms": input.margin.map(|m| i64::from(m) * 10),
        "seed": input.seed.to_string(),
    })
}

fn config(input: &SessionInput, secrets: &mut Vec<String>) -> Option<SessionConfig> {
    secrets.push(CLIENT_SECRET.to_owned());
    secrets.extend((0..5).map(|i| format!("tok-SeCrEt-raw-00000{i}")));
    let auth = if input.post_auth {
        ClientAuth::SecretPost {
            client_id: "app".to_owned(),
            client_secret: Secret::new(CLIENT_SECRET),
        }
    } else {
        ClientAuth::SecretBasic {
            client_id: "app".to_owned(),
            client_secret: Secret::new(CLIENT_SECRET),
        }
    };
    let grant = match input.grant {
        GrantKind::ClientCredentials => Grant::ClientCredentials {
            scope: Some("api.read".to_owned()),
            extra: Vec::new(),
        },
        GrantKind::RefreshToken => {
            let rt = "rt-SeCrEt-initial-0123456789abcdef";
            secrets.push(rt.to_owned());
            Grant::RefreshToken {
                refresh_token: Secret::new(rt),
                scope: None,
            }
        }
        GrantKind::AuthorizationCode => {
            let code = "code-SeCrEt-0123456789abcdef";
            secrets.push(code.to_owned());
            Grant::AuthorizationCode {
                code: Secret::new(code),
                redirect_uri: "https://app.example/cb".to_owned(),
                code_verifier: Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            }
        }
        #[cfg(feature = "sign")]
        GrantKind::JwtBearer => {
            use tokenclock::oauth::{JwtBearerGrant, SigningAlg, SigningKey};
            let pem = Secret::new(include_str!("keys/p256-private.pem"));
            let key =
                SigningKey::from_pem(&pem, SigningAlg::Es256, Some("p256-1".to_owned())).ok()?;
            return Some(SessionConfig::new(
                "https://issuer.example/token",
                ClientAuth::Anonymous,
                Grant::JwtBearer(JwtBearerGrant::new("svc@issuer.example", key)),
            ))
            .map(|c| policy(c, input));
        }
        #[cfg(not(feature = "sign"))]
        GrantKind::JwtBearer => Grant::ClientCredentials {
            scope: None,
            extra: Vec::new(),
        },
    };
    Some(policy(
        SessionConfig::new("https://issuer.example/token", auth, grant),
        input,
    ))
}

fn policy(mut c: SessionConfig, input: &SessionInput) -> SessionConfig {
    if let Some((a, b)) = input.window {
        let lo = f64::from(a % 100 + 1) / 100.0;
        let hi = (lo + f64::from(b % 100) / 100.0).min(1.0);
        c.policy.refresh_at = tokenclock::lifetime::RefreshAt::Fraction { low: lo, high: hi };
    }
    if let Some(m) = input.margin {
        c.policy.margin = tokenclock::lifetime::Margin::Fixed {
            ms: i64::from(m) * 10,
        };
    }
    c
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = SessionInput::arbitrary(&mut u) else {
        return;
    };
    let mut secrets = Vec::new();
    let Some(cfg) = config(&input, &mut secrets) else {
        return;
    };
    let session =
        Session::new(cfg, Box::new(SplitMix64::new(input.seed))).expect("a valid configuration");
    super::trace::op(|| trace_setup(&input));
    let mut h = Harness {
        session,
        world: World {
            tau: 0,
            shift: 0,
            paused: 0,
            issuer: i64::from(input.issuer_offset) % 86_400_000,
            resource: i64::from(input.resource_offset) % 86_400_000,
        },
        secrets,
        live: None,
        seen_tickets: Vec::new(),
        max_ticket: 0,
        max_token: 0,
        handed: Vec::new(),
        token_string: HashMap::new(),
        minted: HashMap::new(),
        pending: None,
        minted_count: 0,
        honest_mono: true,
    };
    let mut ops = 0;
    while !u.is_empty() && ops < MAX_OPS {
        let Ok(op) = Op::arbitrary(&mut u) else {
            return;
        };
        h.step(op);
        ops += 1;
    }
}
