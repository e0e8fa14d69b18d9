//! The single-flight property of `Session`, by simulation.
//!
//! `Session` is `&mut`: hosts serialise calls behind a lock, so "concurrency" is the order in
//! which many callers' calls reach it. Each proptest case runs N callers (1..=1000) that call
//! `authorize` in a random order with small random time steps, starting at a random point
//! between shortly before the first token's refresh time and shortly after its hard expiry.
//! Whoever gets a ticket performs the refresh and closes it at a random later time with a
//! random outcome: a new token, the same token again (a caching issuer), a 503, a transport
//! failure, an abort, or never (the ticket times out).
//!
//! Checked after every call:
//! * at most one ticket is outstanding: a new ticket appears only when none is open or the
//!   open one was abandoned in that very call (and the abandoned one is then refused);
//! * tickets issued == closed by `complete_refresh` + closed by `fail_refresh` + abandoned
//!   (+ the open one), and `stats().token_requests` counts the same;
//! * a `Ready`/`ReadyAndRefresh` header is `Bearer <the token with that id>`, and that token is
//!   before its hard expiry at that reading (by its `Lifetime`, both clocks) and, when it is the
//!   current token, `token_state` says fresh or stale;
//! * `Wait(RefreshInFlight)` only while a ticket is open; `Failed` only with no usable token;
//! * after a successful refresh, every caller that was waiting gets `Ready` on its next call
//!   (while the new token is usable), and at the end every caller that waited is served.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use tokenclock::lifetime::{Lifetime, TokenState};
use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::rng::{below, SplitMix64};
use tokenclock::session::{
    Authorization, Session, SessionConfig, SessionError, TicketId, TokenId, TransportFailure,
    WaitReason,
};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};

const T0: i64 = 1_700_000_000_000;
const M0: i64 = 7_000_000;
const LIFETIME_S: i64 = 60;
const TICKET_TIMEOUT_MS: i64 = 3_000;

fn jwt(serial: u64, iat_ms: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let iat = iat_ms.div_euclid(1_000);
    let claims = format!(
        r#"{{"iat":{iat},"exp":{},"jti":"k{serial}"}}"#,
        iat + LIFETIME_S
    );
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims))
}

fn body(token: &str) -> String {
    format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{LIFETIME_S}}}"#)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    NewToken,
    SameToken,
    ServerError,
    Connect,
    Aborted,
    Abandoned,
}

struct Open {
    id: TicketId,
    issued: Reading,
    close_at: i64,
    outcome: Outcome,
}

struct Sim {
    session: Session,
    rng: SplitMix64,
    now: Reading,
    open: Option<Open>,
    tokens: HashMap<TokenId, (String, Lifetime)>,
    last_access_token: Option<String>,
    serial: u64,
    issued: u64,
    closed_complete: u64,
    closed_fail: u64,
    waiting: HashSet<usize>,
    must_be_ready: HashSet<usize>,
    served: HashSet<usize>,
    /// Outcomes to draw from (weights by repetition).
    outcomes: Vec<Outcome>,
    seen: Seen,
}

/// What a run exercised, so the fixed-seed tests can check the property was really tested.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    ready: u64,
    ready_and_refresh: u64,
    refresh: u64,
    waits_in_flight: u64,
    waits_backoff: u64,
    failed: u64,
    served_after_wait: u64,
    abandoned: u64,
    reused: u64,
}

type R = Result<(), String>;

impl Sim {
    fn new(seed: u64, outcomes: Vec<Outcome>) -> Sim {
        let mut cfg = SessionConfig::new(
            "https://issuer.example/token",
            ClientAuth::SecretBasic {
                client_id: "app".into(),
                client_secret: Secret::new("s3cret"),
            },
            Grant::ClientCredentials {
                scope: None,
                extra: Vec::new(),
            },
        );
        cfg.ticket_timeout_ms = TICKET_TIMEOUT_MS;
        let session = Session::new(cfg, Box::new(SplitMix64::new(seed))).expect("valid config");
        Sim {
            session,
            rng: SplitMix64::new(seed ^ 0xA5A5_5A5A),
            now: Reading {
                wall: UnixMillis(T0),
                mono: MonoMillis(M0),
            },
            open: None,
            tokens: HashMap::new(),
            last_access_token: None,
            serial: 0,
            issued: 0,
            closed_complete: 0,
            closed_fail: 0,
            waiting: HashSet::new(),
            must_be_ready: HashSet::new(),
            served: HashSet::new(),
            outcomes,
            seen: Seen::default(),
        }
    }

    fn pick(&mut self, bound: i64) -> i64 {
        below(&mut self.rng, bound)
    }

    fn usable_now(&self) -> bool {
        matches!(
            self.session.token_state(self.now),
            Some(TokenState::Fresh | TokenState::Stale)
        )
    }

    fn check_counts(&self) -> R {
        let st = self.session.stats();
        let open = u64::from(self.open.is_some());
        if st.token_requests != self.issued {
            return Err(format!(
                "stats.token_requests {} != tickets seen {}",
                st.token_requests, self.issued
            ));
        }
        let closed = self.closed_complete + self.closed_fail + st.abandoned_tickets + open;
        if closed != self.issued {
            return Err(format!(
                "tickets {} != completed {} + failed {} + abandoned {} + open {open}",
                self.issued, self.closed_complete, self.closed_fail, st.abandoned_tickets
            ));
        }
        if self.session.refresh_in_flight() != self.open.is_some() {
            return Err("refresh_in_flight disagrees with the open ticket".into());
        }
        Ok(())
    }

    fn record_current(&mut self, id: TokenId, access_token: &str) -> R {
        let (cur, lt) = self
            .session
            .current_token()
            .ok_or("no current token after a refresh")?;
        if cur != id {
            return Err(format!(
                "complete_refresh returned {id:?} but the current token is {cur:?}"
            ));
        }
        self.tokens
            .insert(id, (format!("Bearer {access_token}"), *lt));
        Ok(())
    }

    /// Closes the open ticket if its time has come.
    fn maybe_close(&mut self, force_success: bool) -> R {
        let Some(open) = self.open.as_ref() else {
            return Ok(());
        };
        let due = self.now.mono.0 >= open.close_at;
        if !(force_success || (due && open.outcome != Outcome::Abandoned)) {
            return Ok(());
        }
        let (id, sent) = (open.id, open.issued);
        let outcome = if force_success {
            Outcome::NewToken
        } else {
            open.outcome
        };
        self.open = None;
        match outcome {
            Outcome::NewToken | Outcome::SameToken => {
                let token = match (&self.last_access_token, outcome) {
                    (Some(t), Outcome::SameToken) => t.clone(),
                    _ => {
                        self.serial += 1;
                        jwt(self.serial, self.now.wall.0 - 50)
                    }
                };
                self.closed_complete += 1;
                let r = self.session.complete_refresh(
                    id,
                    200,
                    &[],
                    body(&token).as_bytes(),
                    sent,
                    self.now,
                );
                match r {
                    Ok(tid) => {
                        if self.tokens.contains_key(&tid) {
                            self.seen.reused += 1;
                        }
                        self.record_current(tid, &token)?;
                        self.last_access_token = Some(token);
                        // Everyone who waited for this refresh must now be served.
                        self.must_be_ready.extend(self.waiting.drain());
                    }
                    Err(SessionError::ExpiredOnArrival { .. }) if outcome == Outcome::SameToken => {
                    }
                    Err(e) => return Err(format!("complete_refresh failed: {e}")),
                }
            }
            Outcome::ServerError => {
                self.closed_complete += 1;
                match self
                    .session
                    .complete_refresh(id, 503, &[], b"", sent, self.now)
                {
                    Err(SessionError::TokenEndpoint { .. }) => {}
                    other => return Err(format!("503 gave {other:?}")),
                }
            }
            Outcome::Connect | Outcome::Aborted => {
                self.closed_fail += 1;
                let f = if outcome == Outcome::Connect {
                    TransportFailure::Connect
                } else {
                    TransportFailure::Aborted
                };
                if let Err(e) = self.session.fail_refresh(id, f, self.now) {
                    return Err(format!("fail_refresh refused the open ticket: {e}"));
                }
            }
            Outcome::Abandoned => unreachable!("never closed"),
        }
        // Closing twice is refused and changes nothing.
        if self
            .session
            .fail_refresh(id, TransportFailure::Connect, self.now)
            != Err(SessionError::StaleTicket)
        {
            return Err("a closed ticket was accepted again".into());
        }
        Ok(())
    }

    fn take_ticket(&mut self, id: TicketId, abandoned_before: u64) -> R {
        let abandoned_now = self.session.stats().abandoned_tickets;
        if let Some(old) = self.open.take() {
            if abandoned_now != abandoned_before + 1 {
                return Err(format!("a second ticket {id:?} while {:?} is open", old.id));
            }
            self.seen.abandoned += 1;
            if self.now.mono.since(old.issued.mono) < TICKET_TIMEOUT_MS {
                return Err("a ticket was abandoned before its timeout".into());
            }
            // The abandoned holder comes back late: refused, never applied.
            let late = jwt(9_999_999, self.now.wall.0);
            if self.session.complete_refresh(
                old.id,
                200,
                &[],
                body(&late).as_bytes(),
                old.issued,
                self.now,
            ) != Err(SessionError::StaleTicket)
            {
                return Err("an abandoned ticket was accepted".into());
            }
        } else if abandoned_now != abandoned_before {
            return Err("a ticket we never saw was abandoned".into());
        }
        self.issued += 1;
        let i = self.pick(self.outcomes.len() as i64) as usize;
        let outcome = self.outcomes[i];
        let delay = self.pick(1_500);
        self.open = Some(Open {
            id,
            issued: self.now,
            close_at: self.now.mono.0 + delay,
            outcome,
        });
        Ok(())
    }

    fn check_ready(&self, caller: usize, header: &Secret, id: TokenId) -> R {
        let (want, lt) = self
            .tokens
            .get(&id)
            .ok_or_else(|| format!("{id:?} was never received"))?;
        if header.expose() != want {
            return Err(format!("header for {id:?} is not its token"));
        }
        if lt.hard_expiry.has_passed(self.now) {
            return Err(format!(
                "{id:?} handed to caller {caller} at or after its hard expiry"
            ));
        }
        if self.session.current_token().map(|(c, _)| c) == Some(id) && !self.usable_now() {
            return Err(format!(
                "{id:?} handed out in state {:?}",
                self.session.token_state(self.now)
            ));
        }
        Ok(())
    }

    fn call(&mut self, caller: usize) -> R {
        let abandoned_before = self.session.stats().abandoned_tickets;
        let must = self.must_be_ready.remove(&caller) && self.usable_now();
        let a = self.session.authorize(self.now);
        match a {
            Authorization::Ready { header, token_id } => {
                self.check_ready(caller, &header, token_id)?;
                self.seen.ready += 1;
                self.seen.served_after_wait += u64::from(must);
                self.served.insert(caller);
                self.waiting.remove(&caller);
            }
            Authorization::ReadyAndRefresh {
                header,
                token_id,
                ticket,
            } => {
                self.check_ready(caller, &header, token_id)?;
                self.seen.ready_and_refresh += 1;
                self.seen.served_after_wait += u64::from(must);
                self.served.insert(caller);
                self.waiting.remove(&caller);
                self.take_ticket(ticket.id, abandoned_before)?;
            }
            Authorization::Refresh { ticket } => {
                if must {
                    return Err(format!("caller {caller} got a ticket, not the new token"));
                }
                if self.usable_now() {
                    return Err("Refresh while the current token is usable".into());
                }
                self.seen.refresh += 1;
                self.take_ticket(ticket.id, abandoned_before)?;
            }
            Authorization::Wait { reason, until, .. } => {
                if must {
                    return Err(format!(
                        "caller {caller} still waits ({reason:?}) after the refresh"
                    ));
                }
                if until.mono < self.now.mono {
                    return Err("wait until a past reading".into());
                }
                match reason {
                    WaitReason::RefreshInFlight => {
                        if self.open.is_none() {
                            return Err("wait for a refresh in flight with no ticket open".into());
                        }
                        self.seen.waits_in_flight += 1;
                        self.waiting.insert(caller);
                    }
                    WaitReason::Backoff | WaitReason::NotYetValid => {
                        self.seen.waits_backoff += 1;
                        if self.open.is_some() {
                            return Err(format!("wait {reason:?} while a ticket is open"));
                        }
                    }
                }
            }
            Authorization::Failed { error } => {
                if must || self.usable_now() {
                    return Err(format!(
                        "caller {caller} failed ({error}) though a token is usable"
                    ));
                }
                self.seen.failed += 1;
            }
            _ => return Err("unknown authorization".into()),
        }
        self.check_counts()
    }
}

fn run(
    seed: u64,
    callers: usize,
    max_step_ms: i64,
    outcomes: Vec<Outcome>,
) -> Result<Seen, String> {
    let mut sim = Sim::new(seed, outcomes);
    // The first token.
    match sim.session.authorize(sim.now) {
        Authorization::Refresh { ticket } => sim.take_ticket(ticket.id, 0)?,
        other => return Err(format!("first authorize gave {other:?}")),
    }
    sim.now = sim.now.advanced(100);
    sim.maybe_close(true)?;
    let (_, lt) = sim.session.current_token().ok_or("no first token")?;
    // Start somewhere from 3 s before the refresh time to 3 s after hard expiry.
    let from = lt.refresh_at.mono.0 - 3_000;
    let to = lt.hard_expiry.mono.0 + 3_000;
    let start = from + sim.pick(to - from + 1);
    sim.now = sim.now.advanced(start - sim.now.mono.0);

    let steps = callers * 3 + 200;
    for _ in 0..steps {
        let dt = sim.pick(max_step_ms + 1);
        sim.now = sim.now.advanced(dt);
        sim.maybe_close(false)?;
        let caller = sim.pick(callers as i64) as usize;
        sim.call(caller)?;
    }
    // Drain: the open ticket (if any) succeeds; everyone who waited is then served.
    sim.now = sim.now.advanced(1);
    if sim.open.is_some() {
        sim.maybe_close(true)?;
    }
    let waited: Vec<usize> = sim
        .waiting
        .iter()
        .chain(sim.must_be_ready.iter())
        .copied()
        .collect();
    if !waited.is_empty() && sim.usable_now() {
        for c in waited {
            match sim.session.authorize(sim.now) {
                Authorization::Ready { header, token_id }
                | Authorization::ReadyAndRefresh {
                    header, token_id, ..
                } => {
                    sim.check_ready(c, &header, token_id)?;
                }
                other => return Err(format!("waiter {c} not served at the end: {other:?}")),
            }
            sim.seen.served_after_wait += 1;
        }
    }
    Ok(sim.seen)
}

fn outcome_mix() -> impl Strategy<Value = Vec<Outcome>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(Outcome::NewToken),
            1 => Just(Outcome::SameToken),
            1 => Just(Outcome::ServerError),
            1 => Just(Outcome::Connect),
            1 => Just(Outcome::Aborted),
            1 => Just(Outcome::Abandoned),
        ],
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn single_flight_around_expiry(
        seed in any::<u64>(),
        callers in 1usize..=1000,
        max_step_ms in 0i64..=120,
        outcomes in outcome_mix(),
    ) {
        if let Err(e) = run(seed, callers, max_step_ms, outcomes.clone()) {
            prop_assert!(false, "seed {seed}, {callers} callers, step {max_step_ms} ms, {outcomes:?}: {e}");
        }
    }
}

/// The largest crowd, every refresh succeeding: the waiters of each refresh are all served.
#[test]
fn thousand_callers_at_hard_expiry() {
    let mut total = Seen::default();
    for seed in 0..6 {
        let seen = run(seed, 1_000, 5, vec![Outcome::NewToken])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        total.ready += seen.ready;
        total.refresh += seen.refresh;
        total.ready_and_refresh += seen.ready_and_refresh;
        total.waits_in_flight += seen.waits_in_flight;
        total.served_after_wait += seen.served_after_wait;
    }
    eprintln!("thousand_callers_at_hard_expiry: {total:?}");
    // The runs really went through both kinds of refresh and served waiters.
    assert!(
        total.refresh > 0 && total.ready_and_refresh > 0,
        "{total:?}"
    );
    assert!(
        total.waits_in_flight > 100 && total.served_after_wait > 100,
        "{total:?}"
    );
}

/// A harsh mix: mostly failures and abandoned tickets.
#[test]
fn failures_and_abandoned_tickets() {
    let mix = vec![
        Outcome::Abandoned,
        Outcome::Connect,
        Outcome::ServerError,
        Outcome::Aborted,
        Outcome::NewToken,
        Outcome::SameToken,
    ];
    let mut total = Seen::default();
    for seed in 0..12 {
        let seen = run(seed, 300, 60, mix.clone()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        total.abandoned += seen.abandoned;
        total.failed += seen.failed;
        total.waits_backoff += seen.waits_backoff;
        total.reused += seen.reused;
        total.waits_in_flight += seen.waits_in_flight;
    }
    eprintln!("failures_and_abandoned_tickets: {total:?}");
    assert!(
        total.abandoned > 0 && total.waits_in_flight > 0,
        "{total:?}"
    );
    assert!(total.failed + total.waits_backoff > 0, "{total:?}");
    assert!(total.reused > 0, "{total:?}");
}
