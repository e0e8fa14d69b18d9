//! Fleet single flight in virtual time: N `Session`s, each on its own skewed clock, share one
//! token through an in-memory store that implements exactly the semantics of the three Lua
//! scripts of `tokenclock::fleet` (`LUA_TAKE_LEASE`, `LUA_PUBLISH`, `LUA_RELEASE`, `PX`
//! expiry on the virtual clock) plus `GET`. A simulated token endpoint counts token requests
//! and answers with JWTs (`exp`, `expires_in`) and a `Date` header on the issuer's clock, which
//! is true time. Everything is driven by a seed: the processes' steps interleave through
//! seeded latencies and request jitter, so every run is the same.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use tokenclock::fleet::{
    FleetAction, FleetConfig, FleetError, FleetNote, FleetOutcome, FleetRefresh, Sealing, StoreKeys,
};
use tokenclock::httpdate::format_http_date;
use tokenclock::identity::CredentialIdentity;
use tokenclock::oauth::{ClientAuth, Grant, Secret, TokenRequest};
use tokenclock::record::{token_id, RecordKey, TokenRecord};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{Authorization, Session, SessionConfig, TicketId, Verdict};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::{ErrorCode, RngCore};

const TOKEN_URL: &str = "https://issuer.example/token";
/// True time zero on the issuer's clock (the issuer is the reference: true time = its time).
const T0: i64 = 1_767_225_600_000;
const TTL_S: i64 = 300;
const TTL_MS: i64 = TTL_S * 1_000;

fn session_config(scope: Option<&str>) -> SessionConfig {
    SessionConfig::new(
        TOKEN_URL,
        ClientAuth::SecretBasic {
            client_id: "fleet-client".into(),
            client_secret: Secret::new("s3cret"),
        },
        Grant::ClientCredentials {
            scope: scope.map(str::to_owned),
            extra: Vec::new(),
        },
    )
}

/// A lease entropy unique per process and refresh (the host's CSPRNG in production).
fn lease_entropy(pid: usize, n: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[..8].copy_from_slice(&(pid as u64).to_le_bytes());
    e[8..].copy_from_slice(&n.to_le_bytes());
    e
}

fn jwt(jti: usize, iat_s: i64, exp_s: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let claims =
        format!(r#"{{"iat":{iat_s},"nbf":{iat_s},"exp":{exp_s},"sub":"c","jti":"j{jti}"}}"#);
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

// ----- the store ------------------------------------------------------------------------------

/// An in-memory Redis holding exactly what the scripts touch. Values expire (`PX`) on the
/// virtual clock (true time). `down`: every operation fails (unreachable).
#[derive(Default)]
struct Store {
    data: HashMap<String, (String, Option<i64>)>,
    down: bool,
    ops: u64,
}

struct StoreDown;

impl Store {
    fn purge(&mut self, key: &str, now: i64) {
        if matches!(self.data.get(key), Some((_, Some(exp))) if *exp <= now) {
            self.data.remove(key);
        }
    }

    fn value(&mut self, key: &str, now: i64) -> Option<String> {
        self.purge(key, now);
        self.data.get(key).map(|(v, _)| v.clone())
    }

    fn set_px(&mut self, key: &str, value: String, px: u64, now: i64) {
        let px = i64::try_from(px).expect("px");
        self.data.insert(key.to_owned(), (value, Some(now + px)));
    }

    fn op(&mut self) -> Result<(), StoreDown> {
        self.ops += 1;
        if self.down {
            Err(StoreDown)
        } else {
            Ok(())
        }
    }

    /// `GET`.
    fn get(&mut self, key: &str, now: i64) -> Result<Option<String>, StoreDown> {
        self.op()?;
        Ok(self.value(key, now))
    }

    /// `LUA_TAKE_LEASE`: `EXISTS lease` → 0; else `INCR fence`, `SET lease <value> PX`.
    fn take_lease(
        &mut self,
        keys: &StoreKeys,
        lease_value: &str,
        lease_ms: u64,
        now: i64,
    ) -> Result<u64, StoreDown> {
        self.op()?;
        if self.value(&keys.lease, now).is_some() {
            return Ok(0);
        }
        let f = self
            .value(&keys.fence, now)
            .map_or(0, |v| v.parse::<u64>().expect("fence is an integer"))
            + 1;
        // INCR keeps the key's (absent) expiry.
        self.data.insert(keys.fence.clone(), (f.to_string(), None));
        self.set_px(&keys.lease, lease_value.to_owned(), lease_ms, now);
        Ok(f)
    }

    /// `LUA_PUBLISH`: only while `GET lease == ARGV[1]`: `SET record PX ttl`, `DEL lease`.
    fn publish(
        &mut self,
        keys: &StoreKeys,
        lease_value: &str,
        value: &str,
        ttl_ms: u64,
        now: i64,
    ) -> Result<bool, StoreDown> {
        self.op()?;
        if self.value(&keys.lease, now).as_deref() != Some(lease_value) {
            return Ok(false);
        }
        self.set_px(&keys.record, value.to_owned(), ttl_ms, now);
        self.data.remove(&keys.lease);
        Ok(true)
    }

    /// `LUA_RELEASE`: `DEL lease` only while it is ours.
    fn release(
        &mut self,
        keys: &StoreKeys,
        lease_value: &str,
        now: i64,
    ) -> Result<bool, StoreDown> {
        self.op()?;
        if self.value(&keys.lease, now).as_deref() != Some(lease_value) {
            return Ok(false);
        }
        self.data.remove(&keys.lease);
        Ok(true)
    }
}

// ----- the token endpoint ---------------------------------------------------------------------

struct Mint {
    /// True time the token was minted.
    at: i64,
    /// Which process asked.
    by: usize,
    exp_ms: i64,
}

/// Refresh-token rotation with reuse detection (as identity providers with refresh-token
/// families do): a refresh token presented twice revokes the whole family.
#[derive(Default)]
struct Rotation {
    /// The family's live refresh token (`None` once revoked).
    current: Option<String>,
    issued: u64,
    /// Refresh tokens presented again after their rotation.
    reuses: Vec<String>,
}

#[derive(Default)]
struct Issuer {
    rotation: Option<Rotation>,
    mints: Vec<Mint>,
    by_token: HashMap<String, usize>,
    probes: u64,
    down: bool,
    /// The next token response is delayed this much (a slow issuer).
    slow_next_ms: Option<i64>,
}

type Response = (u16, Vec<(String, String)>, String);

impl Issuer {
    fn date(t: i64) -> (String, String) {
        ("Date".into(), format_http_date(UnixMillis(T0 + t)))
    }

    /// A token request arriving at true time `t` from process `by`, presenting `refresh_token`.
    fn token(&mut self, t: i64, by: usize, refresh_token: Option<&str>) -> Response {
        if self.down {
            return (
                503,
                vec![Issuer::date(t)],
                r#"{"error":"temporarily_unavailable"}"#.into(),
            );
        }
        let mut new_rt = None;
        if let Some(rot) = self.rotation.as_mut() {
            let presented = refresh_token.expect("a rotating session presents its refresh token");
            if rot.current.as_deref() != Some(presented) {
                if rot.current.is_some() {
                    rot.reuses.push(presented.to_owned());
                }
                rot.current = None;
                return (
                    400,
                    vec![Issuer::date(t)],
                    r#"{"error":"invalid_grant"}"#.into(),
                );
            }
            rot.issued += 1;
            let rt = format!("rt-{}", rot.issued);
            rot.current = Some(rt.clone());
            new_rt = Some(rt);
        }
        let n = self.mints.len();
        let iat = (T0 + t).div_euclid(1_000);
        let exp = iat + TTL_S;
        let token = jwt(n, iat, exp);
        self.mints.push(Mint {
            at: t,
            by,
            exp_ms: exp * 1_000,
        });
        self.by_token.insert(token.clone(), n);
        let body = match new_rt {
            Some(rt) => format!(
                r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{TTL_S},"refresh_token":"{rt}"}}"#
            ),
            None => format!(
                r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{TTL_S}}}"#
            ),
        };
        (200, vec![Issuer::date(t)], body)
    }
}

// ----- processes ------------------------------------------------------------------------------

enum Reply {
    Store(Result<StoreValue, StoreDown>),
    Probe(String),
    Token(Response),
    Wake,
}

enum StoreValue {
    Value(Option<String>),
    Lease(u64),
    Written(bool),
}

struct Run {
    fleet: FleetRefresh,
    ticket: TicketId,
    /// The ticket's token request (the fleet may send a rebuilt one instead).
    request: TokenRequest,
    /// When the current HTTP exchange (probe, token request) was sent.
    sent: Reading,
    reply: Option<Reply>,
}

/// What a process saw of one token.
#[derive(Clone, Copy, Debug)]
struct Use {
    last: i64,
    /// The token's margin in this session, and the widest issuer estimate (high − low)
    /// while it was used.
    margin_ms: i64,
    width_ms: i64,
}

struct Proc {
    offset_ms: i64,
    mono0: i64,
    session: Session,
    key: Option<RecordKey>,
    run: Option<Run>,
    dead: bool,
    /// Vanish (never answer) at the next token request made under a lease.
    vanish_on_fetch: bool,
    notes: Vec<(i64, FleetNote)>,
    outcomes: Vec<(i64, FleetOutcome)>,
    uses: HashMap<usize, Use>,
    failures: Vec<(i64, String)>,
    nonces: u64,
    requests: u64,
}

impl Proc {
    fn at(&self, t: i64) -> Reading {
        Reading {
            wall: UnixMillis(T0 + t + self.offset_ms),
            mono: MonoMillis(self.mono0 + t),
        }
    }

    fn note_count(&self, f: impl Fn(&FleetNote) -> bool) -> usize {
        self.notes.iter().filter(|(_, n)| f(n)).count()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Request,
    Exec,
    Reply,
}

struct World {
    t: i64,
    procs: Vec<Proc>,
    store: Store,
    issuer: Issuer,
    keys: StoreKeys,
    config: FleetConfig,
    rng: SplitMix64,
    queue: BinaryHeap<Reverse<(i64, u64, usize, Ev)>>,
    seq: u64,
    /// Mean time between a process's API requests (ms).
    interval_ms: i64,
    /// One-way latencies (ms): store, token endpoint.
    store_lat: (i64, i64),
    http_lat: (i64, i64),
    /// Fleet calls that returned an error (none expected in a correct run).
    errors: Vec<String>,
    /// Uses of a token at or after its real expiry (issuer clock).
    late_uses: Vec<String>,
}

struct Opts {
    offsets: Vec<i64>,
    seed: u64,
    interval_ms: i64,
    key: Option<RecordKey>,
}

impl World {
    fn new(o: Opts) -> World {
        World::with_config(o, || session_config(Some("api")))
    }

    /// A fleet of one user's refresh-token sessions (partition `user-1`) sharing the refresh
    /// token `rt-0` at the start, against an issuer that rotates it and revokes the family on
    /// reuse.
    fn rotating(o: Opts) -> World {
        let mut w = World::with_config(o, || {
            let mut c = SessionConfig::new(
                TOKEN_URL,
                ClientAuth::SecretBasic {
                    client_id: "fleet-client".into(),
                    client_secret: Secret::new("s3cret"),
                },
                Grant::RefreshToken {
                    refresh_token: Secret::new("rt-0"),
                    scope: None,
                },
            );
            c.partition = Some("user-1".into());
            c
        });
        w.issuer.rotation = Some(Rotation {
            current: Some("rt-0".into()),
            ..Rotation::default()
        });
        w
    }

    fn with_config(o: Opts, config: impl Fn() -> SessionConfig) -> World {
        let mut rng = SplitMix64::new(o.seed);
        let procs: Vec<Proc> = o
            .offsets
            .iter()
            .enumerate()
            .map(|(i, &offset_ms)| Proc {
                offset_ms,
                mono0: 1_000_000 + (rng.next_u64() % 1_000_000_000) as i64,
                session: Session::new(
                    config(),
                    Box::new(SplitMix64::new(o.seed ^ ((i as u64 + 1) * 7919))),
                )
                .expect("session"),
                key: o.key.clone(),
                run: None,
                dead: false,
                vanish_on_fetch: false,
                notes: Vec::new(),
                outcomes: Vec::new(),
                uses: HashMap::new(),
                failures: Vec::new(),
                nonces: 0,
                requests: 0,
            })
            .collect();
        let keys = StoreKeys::for_session(
            "tokenclock",
            &procs[0].session,
            if o.key.is_some() {
                Sealing::Sealed
            } else {
                Sealing::Clear
            },
        )
        .expect("store keys");
        let mut w = World {
            t: 0,
            procs,
            store: Store::default(),
            issuer: Issuer::default(),
            keys,
            config: FleetConfig::default(),
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            interval_ms: o.interval_ms,
            store_lat: (1, 3),
            http_lat: (20, 60),
            errors: Vec::new(),
            late_uses: Vec::new(),
        };
        for i in 0..w.procs.len() {
            let first = (w.rng.next_u64() % 50) as i64;
            w.schedule(first, i, Ev::Request);
        }
        w
    }

    fn schedule(&mut self, t: i64, pid: usize, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t.max(self.t), self.seq, pid, ev)));
    }

    fn between(&mut self, (lo, hi): (i64, i64)) -> i64 {
        lo + (self.rng.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn run_until(&mut self, end: i64) {
        while let Some(Reverse((t, _, pid, ev))) = self.queue.peek().copied() {
            if t > end {
                break;
            }
            self.queue.pop();
            self.t = t;
            if self.procs[pid].dead {
                continue;
            }
            match ev {
                Ev::Request => self.request(pid),
                Ev::Exec => self.exec(pid),
                Ev::Reply => self.reply(pid),
            }
        }
        self.t = end;
    }

    fn issuer_width(p: &Proc, now: Reading) -> i64 {
        let (e, _) = p.session.estimates(now);
        match (e.low_ms, e.high_ms) {
            (Some(l), Some(h)) => h - l,
            _ => i64::MAX,
        }
    }

    /// One API request of process `pid`.
    fn request(&mut self, pid: usize) {
        let t = self.t;
        let jitter = self.between((0, self.interval_ms / 2));
        self.schedule(t + self.interval_ms * 3 / 4 + jitter, pid, Ev::Request);
        let p = &mut self.procs[pid];
        let now = p.at(t);
        p.requests += 1;
        let a = p.session.authorize(now);
        let (used, ticket) = match a {
            Authorization::Ready { header, token_id } => (Some((header, token_id)), None),
            Authorization::ReadyAndRefresh {
                header,
                token_id,
                ticket,
            } => (Some((header, token_id)), Some(ticket)),
            Authorization::Refresh { ticket } => (None, Some(ticket)),
            Authorization::Wait { .. } => (None, None),
            Authorization::Failed { error } => {
                p.failures.push((t, error.code().to_owned()));
                (None, None)
            }
            _ => (None, None),
        };
        if let Some((header, id)) = used {
            let token = header.expose().strip_prefix("Bearer ").expect("bearer");
            let n = *self
                .issuer
                .by_token
                .get(token)
                .expect("a token the issuer minted");
            let exp = self.issuer.mints[n].exp_ms;
            if T0 + t >= exp {
                self.late_uses.push(format!(
                    "p{pid} used token {n} at {t}, {} ms past its expiry",
                    T0 + t - exp
                ));
            }
            let margin = p
                .session
                .current_token()
                .filter(|(cur, _)| *cur == id)
                .map_or(0, |(_, l)| l.margin_ms);
            let width = World::issuer_width(p, now);
            let u = p.uses.entry(n).or_insert(Use {
                last: t,
                margin_ms: margin,
                width_ms: width,
            });
            u.last = t;
            u.margin_ms = u.margin_ms.max(margin);
            u.width_ms = u.width_ms.max(width);
        }
        if let Some(ticket) = ticket {
            assert!(
                p.run.is_none(),
                "p{pid}: a second ticket while a fleet refresh runs"
            );
            p.nonces += 1;
            let entropy = lease_entropy(pid, p.nonces);
            let fleet = FleetRefresh::new(
                ticket.id,
                self.config,
                &self.keys.record,
                p.key.clone(),
                entropy,
            )
            .expect("fleet config");
            p.run = Some(Run {
                fleet,
                ticket: ticket.id,
                request: ticket.request.clone(),
                sent: now,
                reply: None,
            });
            self.dispatch(pid);
        }
    }

    /// Performs the current action of `pid`'s refresh (schedules its execution).
    fn dispatch(&mut self, pid: usize) {
        let t = self.t;
        let now = self.procs[pid].at(t);
        let Some(run) = self.procs[pid].run.as_mut() else {
            return;
        };
        match run.fleet.action().clone() {
            FleetAction::Done(o) => {
                let p = &mut self.procs[pid];
                p.outcomes.push((t, o));
                p.run = None;
            }
            FleetAction::Wait { until } => {
                run.reply = Some(Reply::Wake);
                let mono0 = self.procs[pid].mono0;
                self.schedule(until.mono.0 - mono0, pid, Ev::Reply);
            }
            FleetAction::ProbeIssuer | FleetAction::Fetch { .. } => {
                run.sent = now;
                let d = self.between(self.http_lat);
                self.schedule(t + d, pid, Ev::Exec);
            }
            _ => {
                let d = self.between(self.store_lat);
                self.schedule(t + d, pid, Ev::Exec);
            }
        }
    }

    /// The store or the token endpoint executes `pid`'s operation (atomically, now).
    fn exec(&mut self, pid: usize) {
        let t = self.t;
        let keys = self.keys.clone();
        let action = match self.procs[pid].run.as_ref() {
            Some(r) => r.fleet.action().clone(),
            None => return,
        };
        let mut back = self.between(self.store_lat);
        let reply = match action {
            FleetAction::Read => {
                Reply::Store(self.store.get(&keys.record, t).map(StoreValue::Value))
            }
            FleetAction::TakeLease { lease, lease_ms } => Reply::Store(
                self.store
                    .take_lease(&keys, &lease, lease_ms, t)
                    .map(StoreValue::Lease),
            ),
            FleetAction::Publish {
                lease,
                value,
                ttl_ms,
                ..
            } => Reply::Store(
                self.store
                    .publish(&keys, &lease, &value, ttl_ms, t)
                    .map(StoreValue::Written),
            ),
            FleetAction::Release { lease, .. } => Reply::Store(
                self.store
                    .release(&keys, &lease, t)
                    .map(StoreValue::Written),
            ),
            FleetAction::ProbeIssuer => {
                self.issuer.probes += 1;
                back = self.between(self.http_lat);
                Reply::Probe(Issuer::date(t).1)
            }
            FleetAction::Fetch { fencing, request } => {
                let sent = match (&request, self.procs[pid].run.as_ref()) {
                    (Some(r), _) => Some(r.clone()),
                    (None, Some(run)) => Some(run.request.clone()),
                    (None, None) => None,
                };
                let rt = sent
                    .as_ref()
                    .and_then(|r| r.form_value("refresh_token"))
                    .map(|v| v.expose().to_owned());
                let r = self.issuer.token(t, pid, rt.as_deref());
                if fencing.is_some() && self.procs[pid].vanish_on_fetch {
                    // Killed mid-refresh: the request reached the issuer, no answer ever comes.
                    self.procs[pid].dead = true;
                    return;
                }
                back = self.between(self.http_lat) + self.issuer.slow_next_ms.take().unwrap_or(0);
                Reply::Token(r)
            }
            other => panic!("exec of {other:?}"),
        };
        if let Some(run) = self.procs[pid].run.as_mut() {
            run.reply = Some(reply);
        }
        self.schedule(t + back, pid, Ev::Reply);
    }

    /// The answer reaches `pid`: feed it to the fleet machine.
    fn reply(&mut self, pid: usize) {
        let t = self.t;
        let p = &mut self.procs[pid];
        let now = p.at(t);
        let Some(run) = p.run.as_mut() else { return };
        let Some(reply) = run.reply.take() else {
            return;
        };
        let kind = run.fleet.action().kind();
        let s = &mut p.session;
        let result = match reply {
            Reply::Store(Err(StoreDown)) => run.fleet.on_store_error(s, now).map(|_| ()),
            Reply::Store(Ok(StoreValue::Value(v))) => {
                run.fleet.on_record(s, v.as_deref(), now).map(|_| ())
            }
            Reply::Store(Ok(StoreValue::Lease(f))) => run
                .fleet
                .on_lease(s, if f == 0 { None } else { Some(f) }, now)
                .map(|_| ()),
            Reply::Store(Ok(StoreValue::Written(w))) if kind == "publish" => {
                run.fleet.on_published(w).map(|_| ())
            }
            Reply::Store(Ok(StoreValue::Written(_))) => run.fleet.on_released().map(|_| ()),
            Reply::Probe(date) => {
                let _ = s.add_issuer_date(&date, run.sent, now);
                run.fleet.on_probe(s, now).map(|_| ())
            }
            Reply::Token((status, headers, body)) => {
                let ok = s
                    .complete_refresh(run.ticket, status, &headers, body.as_bytes(), run.sent, now)
                    .is_ok();
                p.nonces += 1;
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&p.nonces.to_le_bytes());
                nonce[8..].copy_from_slice(&(pid as u32).to_le_bytes());
                run.fleet.on_fetched(s, ok, now, nonce).map(|_| ())
            }
            Reply::Wake => run.fleet.on_wake(now).map(|_| ()),
        };
        if let Err(e) = result {
            self.errors.push(format!("p{pid} at {t} ({kind}): {e}"));
            p.run = None;
            return;
        }
        while let Some(n) = run.fleet.poll_note() {
            p.notes.push((t, n));
        }
        self.dispatch(pid);
    }

    // ----- observations ---------------------------------------------------------------------

    fn assert_clean(&self) {
        assert!(self.errors.is_empty(), "fleet errors: {:?}", self.errors);
        assert!(self.late_uses.is_empty(), "late uses: {:?}", self.late_uses);
        for (i, p) in self.procs.iter().enumerate() {
            let first: Vec<_> = p.failures.iter().take(5).collect();
            assert!(
                p.failures.is_empty(),
                "p{i} failed {} times: {first:?}",
                p.failures.len()
            );
        }
    }

    fn mints_between(&self, from: i64, to: i64) -> Vec<usize> {
        (0..self.issuer.mints.len())
            .filter(|&n| (from..to).contains(&self.issuer.mints[n].at))
            .collect()
    }

    fn outcomes(&self, f: impl Fn(&FleetOutcome) -> bool) -> usize {
        self.procs
            .iter()
            .map(|p| p.outcomes.iter().filter(|(_, o)| f(o)).count())
            .sum()
    }

    fn notes(&self, f: impl Fn(&FleetNote) -> bool + Copy) -> usize {
        self.procs.iter().map(|p| p.note_count(f)).sum()
    }

    /// Consecutive mints are at least `gap` apart: one token request per expiry.
    fn assert_single_flight(&self, mints: &[usize], gap: i64) {
        for w in mints.windows(2) {
            let (a, b) = (&self.issuer.mints[w[0]], &self.issuer.mints[w[1]]);
            assert!(
                b.at - a.at >= gap,
                "two token requests within one expiry: token {} at {} (p{}) and {} at {} (p{})",
                w[0],
                a.at,
                a.by,
                w[1],
                b.at,
                b.by
            );
        }
    }

    /// Every live process used token `n`.
    fn assert_all_used(&self, n: usize) {
        for (i, p) in self.procs.iter().enumerate().filter(|(_, p)| !p.dead) {
            assert!(p.uses.contains_key(&n), "p{i} never used token {n}");
        }
    }
}

fn offsets(n: usize, seed: u64) -> Vec<i64> {
    let mut r = SplitMix64::new(seed);
    (0..n)
        .map(|_| (r.next_u64() % 240_001) as i64 - 120_000)
        .collect()
}

// ----- (a) single flight ----------------------------------------------------------------------

#[test]
fn one_token_request_per_expiry_for_the_whole_fleet() {
    for (n, seed) in [(8, 1), (24, 2), (64, 3)] {
        let mut w = World::new(Opts {
            offsets: offsets(n, seed),
            seed,
            interval_ms: 1_000,
            key: None,
        });
        // Five expiries of a 300 s token (refreshed at 75-85 % of its life).
        let end = 5 * TTL_MS + 20_000;
        w.run_until(end);
        w.assert_clean();
        let all = w.mints_between(0, end);
        assert!(
            all.len() >= 5,
            "n={n}: only {} token requests in {end} ms",
            all.len()
        );
        assert!(all.len() <= 7, "n={n}: {} token requests", all.len());
        w.assert_single_flight(&all, TTL_MS / 2);
        // Each token but the last was used by every process: one fetched, the others adopted.
        for &k in &all[..all.len() - 1] {
            w.assert_all_used(k);
        }
        let published = w.outcomes(|o| *o == FleetOutcome::Fetched { published: true });
        assert_eq!(published, all.len(), "n={n}: every token request published");
        let adopted = w.outcomes(|o| matches!(o, FleetOutcome::Adopted(_)));
        assert!(
            adopted >= (n - 1) * (all.len() - 1),
            "n={n}: {adopted} adoptions for {} tokens",
            all.len()
        );
        assert_eq!(
            w.outcomes(|o| !matches!(
                o,
                FleetOutcome::Adopted(_) | FleetOutcome::Fetched { published: true }
            )),
            0,
            "n={n}: no local fetch, failure or abandoned refresh"
        );
        assert_eq!(w.notes(|x| matches!(x, FleetNote::StoreUnavailable)), 0);
        assert_eq!(w.notes(|x| matches!(x, FleetNote::GaveUpWaiting)), 0);
        assert_eq!(w.notes(|x| matches!(x, FleetNote::LeaseLost)), 0);
        // Readers started without an estimate of the issuer's clock: they probed it once.
        assert_eq!(
            w.issuer.probes,
            (n - 1) as u64,
            "n={n}: one probe per reader"
        );
        // Token requests counted by the sessions agree with the issuer's count.
        let by_sessions: u64 = w.procs.iter().map(|p| p.session.stats().refreshes).sum();
        assert_eq!(by_sessions, all.len() as u64);
    }
}

// ----- (b) skewed clocks ----------------------------------------------------------------------

#[test]
fn skewed_readers_neither_use_a_token_late_nor_drop_it_early() {
    // Two processes per offset; whoever fetches, the others adopt through their own estimate.
    let offs = vec![-120_000, 0, 45_000, 45_000, 0, -120_000];
    let mut w = World::new(Opts {
        offsets: offs.clone(),
        seed: 11,
        interval_ms: 100,
        key: None,
    });
    w.run_until(30_000);
    w.assert_clean();
    assert_eq!(w.issuer.mints.len(), 1);
    assert_eq!(w.issuer.probes, 5, "every reader probed the issuer's clock");
    assert_eq!(w.outcomes(|o| matches!(o, FleetOutcome::Adopted(_))), 5);
    let rec = TokenRecord::decode(&w.store.value(&w.keys.record, w.t).expect("published"))
        .expect("record");
    // The issuer goes down: every process keeps the shared token until its own hard expiry.
    w.issuer.down = true;
    w.run_until(TTL_MS + 30_000);
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    assert!(w.late_uses.is_empty(), "late uses: {:?}", w.late_uses);
    let exp = w.issuer.mints[0].exp_ms - T0;
    for (i, p) in w.procs.iter().enumerate() {
        let u = p.uses[&0];
        assert!(u.last < exp, "p{i}: used until {}, expiry {exp}", u.last);
        // Stopped no earlier than expiry − margin − its uncertainty about the issuer's clock
        // (high − low) − the writer's (the record's deadline slack); requests come every
        // 75-125 ms.
        let earliest = exp - u.margin_ms - u.width_ms - rec.deadline_slack_ms - 125;
        assert!(
            u.last >= earliest,
            "p{i} (offset {}): dropped at {}, expiry {exp}, margin {}, width {}, slack {}",
            offs[i],
            u.last,
            u.margin_ms,
            u.width_ms,
            rec.deadline_slack_ms
        );
        assert!(u.margin_ms <= 10_000 && u.width_ms < 2_500, "{u:?}");
    }
}

#[test]
fn skewed_clocks_over_several_expiries() {
    let offs = [-120_000, 0, 45_000]
        .iter()
        .cycle()
        .take(12)
        .copied()
        .collect();
    let mut w = World::new(Opts {
        offsets: offs,
        seed: 12,
        interval_ms: 250,
        key: None,
    });
    w.run_until(4 * TTL_MS);
    w.assert_clean();
    let all = w.mints_between(0, 4 * TTL_MS);
    assert!(all.len() >= 4);
    w.assert_single_flight(&all, TTL_MS / 2);
}

// ----- a rotating refresh token, presented once fleet-wide -------------------------------------

#[test]
fn a_rotating_refresh_token_is_presented_once_fleet_wide() {
    for seed in [5, 6, 7] {
        let mut w = World::rotating(Opts {
            offsets: vec![-120_000, 0, 45_000, 3_000, -7_000, 0, 0, 90_000],
            seed,
            interval_ms: 200,
            key: RecordKey::new(&[9; 32]),
        });
        w.run_until(6 * TTL_MS);
        w.assert_clean();
        let rot = w.issuer.rotation.as_ref().unwrap();
        assert!(
            rot.reuses.is_empty(),
            "seed {seed}: reused {:?}",
            rot.reuses
        );
        assert!(rot.current.is_some(), "seed {seed}: the family was revoked");
        // One rotation per refresh wave: the first token, then one each 0.75-0.85 of a
        // lifetime (about 8 in 6 lifetimes), never one per process.
        assert!(
            (6..=10).contains(&rot.issued),
            "seed {seed}: {} rotations",
            rot.issued
        );
        let all = w.mints_between(0, 6 * TTL_MS);
        w.assert_single_flight(&all, TTL_MS / 2);
        // Processes that adopted a token also took its refresh token: whoever refreshed next
        // presented the fleet's latest.
        assert!(w.outcomes(|o| matches!(o, FleetOutcome::Adopted(_))) > 0);
    }
}

#[test]
fn a_rotating_refresh_token_is_not_presented_while_the_store_is_down() {
    // Without the lease nobody may present the shared refresh token: a process on its own
    // could present one a peer already used.
    let mut w = World::rotating(Opts {
        offsets: vec![0, 0, 0],
        seed: 5,
        interval_ms: 200,
        key: RecordKey::new(&[9; 32]),
    });
    w.store.down = true;
    w.run_until(3 * TTL_MS);
    let rot = w.issuer.rotation.as_ref().unwrap();
    // With the store down, a rotating session does not refresh outside the lease: no token
    // request at all, rather than a reuse (the refresh fails as `store_unavailable`).
    assert!(rot.reuses.is_empty(), "{:?}", rot.reuses);
    assert_eq!(rot.issued, 0);
    assert!(w
        .procs
        .iter()
        .any(|p| p.failures.iter().any(|(_, c)| c == "store_unavailable")));
}

#[test]
fn a_refresh_token_session_needs_a_partition_and_a_sealed_store() {
    let rt = |partition: Option<&str>| {
        let mut c = SessionConfig::new(
            TOKEN_URL,
            ClientAuth::None {
                client_id: "app".into(),
            },
            Grant::RefreshToken {
                refresh_token: Secret::new("rt-alice"),
                scope: None,
            },
        );
        c.partition = partition.map(str::to_owned);
        Session::new(c, Box::new(SplitMix64::new(1))).unwrap()
    };
    assert_eq!(
        StoreKeys::for_session("p", &rt(None), Sealing::Sealed)
            .unwrap_err()
            .code(),
        "partition_required"
    );
    assert_eq!(
        StoreKeys::for_session("p", &rt(Some("alice")), Sealing::Clear)
            .unwrap_err()
            .code(),
        "encryption_required"
    );
    let alice = StoreKeys::for_session("p", &rt(Some("alice")), Sealing::Sealed).unwrap();
    let bob = StoreKeys::for_session("p", &rt(Some("bob")), Sealing::Sealed).unwrap();
    assert_ne!(alice.record, bob.record);
}

// ----- (c) the lease holder vanishes ----------------------------------------------------------

#[test]
fn a_vanished_lease_holder_is_taken_over_after_the_lease() {
    let mut w = World::new(Opts {
        offsets: offsets(8, 21),
        seed: 21,
        interval_ms: 500,
        key: None,
    });
    w.run_until(60_000);
    w.assert_clean();
    assert_eq!(w.issuer.mints.len(), 1);
    // Whoever takes the next lease is killed during its token request.
    for p in &mut w.procs {
        p.vanish_on_fetch = true;
    }
    let start = w.issuer.mints.len();
    // Run until the vanished request, then let the others go on normally.
    while w.issuer.mints.len() == start {
        let next = w.t + 100;
        w.run_until(next);
    }
    let dead = w.procs.iter().position(|p| p.dead).expect("one vanished");
    let vanished_at = w.issuer.mints[start].at;
    for p in &mut w.procs {
        p.vanish_on_fetch = false;
    }
    w.run_until(vanished_at + 100_000);
    w.assert_clean();
    let gen = w.mints_between(vanished_at, vanished_at + 100_000);
    assert_eq!(gen.len(), 2, "the vanished request and one takeover");
    let takeover = &w.issuer.mints[gen[1]];
    assert_ne!(takeover.by, dead);
    let lease_ms = i64::try_from(w.config.lease_ms).unwrap();
    assert!(
        takeover.at - vanished_at >= lease_ms - 200,
        "taken over {} ms after the lease was taken",
        takeover.at - vanished_at
    );
    assert!(takeover.at - vanished_at <= lease_ms + 1_000);
    w.assert_all_used(gen[1]);
    assert!(w.notes(|n| matches!(n, FleetNote::WaitingForPeer)) > 0);
    assert_eq!(w.notes(|n| matches!(n, FleetNote::GaveUpWaiting)), 0);
    // Then single flight goes on.
    w.run_until(vanished_at + 3 * TTL_MS);
    w.assert_clean();
    let later = w.mints_between(vanished_at + 1_000, vanished_at + 3 * TTL_MS);
    w.assert_single_flight(&later, TTL_MS / 2);
}

// ----- (d) the store is down ------------------------------------------------------------------

#[test]
fn a_failing_store_falls_back_to_local_single_flight_then_recovers() {
    let n = 8;
    let mut w = World::new(Opts {
        offsets: offsets(n, 31),
        seed: 31,
        interval_ms: 500,
        key: None,
    });
    w.run_until(100_000);
    w.assert_clean();
    assert_eq!(w.issuer.mints.len(), 1);
    w.store.down = true;
    let back = 100_000 + 2 * TTL_MS;
    w.run_until(back);
    w.assert_clean();
    let during = w.mints_between(100_000, back);
    // Each process refreshed on its own (about twice in two token lifetimes).
    assert!(during.len() >= n, "{} token requests", during.len());
    for (i, p) in w.procs.iter().enumerate() {
        assert!(
            p.note_count(|x| matches!(x, FleetNote::StoreUnavailable)) >= 1,
            "p{i} never noticed"
        );
        let mine = during
            .iter()
            .filter(|&&k| w.issuer.mints[k].by == i)
            .count();
        assert!(mine >= 1, "p{i} fetched nothing itself");
    }
    assert_eq!(
        w.outcomes(|o| *o == FleetOutcome::Fetched { published: false }),
        during.len()
    );
    // The store is back: single flight again from the first refresh on.
    w.store.down = false;
    w.run_until(back + 3 * TTL_MS);
    w.assert_clean();
    let after = w.mints_between(back, back + 3 * TTL_MS);
    assert!(after.len() >= 3);
    w.assert_single_flight(&after, TTL_MS / 2);
    // A process that fetched its own token just before the store came back may skip the
    // first shared one (its own is about as new); every later token reaches everyone.
    for &k in &after[1..after.len() - 1] {
        w.assert_all_used(k);
    }
}

// ----- (e) damaged and foreign records --------------------------------------------------------

/// A well-formed record of a token the issuer never minted, for the credential of `config`.
fn foreign_record(config: &SessionConfig) -> TokenRecord {
    let token = jwt(999, T0 / 1000, T0 / 1000 + 3_600);
    TokenRecord {
        token_id: token_id(&token),
        access_token: Secret::new(token),
        identity: CredentialIdentity::of(config).unwrap().to_string(),
        refresh_token: None,
        deadline_ms: T0 + 3_600_000,
        deadline_slack_ms: 0,
        exp_ms: Some(T0 + 3_600_000),
        nbf_ms: Some(T0),
        iat_ms: Some(T0),
        fencing: 99,
    }
}

/// `tcr2.` + base64url(JSON) + `.` + checksum, for hand-made JSON.
fn raw_record(json: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let sum: String = Sha256::digest(json.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("tcr2.{}.{sum}", URL_SAFE_NO_PAD.encode(json.as_bytes()))
}

#[test]
fn damaged_foreign_and_wrong_credential_records_are_ignored() {
    let good = foreign_record(&session_config(Some("api"))).encode();
    // A payload character flipped: still base64, the checksum no longer matches.
    let mut tampered = good.clone().into_bytes();
    let i = 5 + 40;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let v3 = raw_record(r#"{"v":3,"token_id":"00","access_token":"x"}"#);
    let with_extra = |k: &str, v: &str| {
        let mut c = session_config(Some("api"));
        if let Grant::ClientCredentials { extra, .. } = &mut c.grant {
            extra.push((k.into(), v.into()));
        }
        c
    };
    let mut other_url = session_config(Some("api"));
    other_url.token_url = "https://other.example/token".into();
    let mut other_partition = session_config(Some("api"));
    other_partition.partition = Some("tenant-b".into());
    let mut bad_chars = foreign_record(&session_config(Some("api")));
    bad_chars.access_token = Secret::new("evil token\r\nX: 1");
    bad_chars.token_id = token_id(bad_chars.access_token.expose());
    let cases: Vec<(&str, String, &str)> = vec![
        ("tampered", tampered, "record_checksum"),
        (
            "truncated",
            good[..good.len() - 5].to_owned(),
            "record_checksum",
        ),
        (
            "future prefix",
            good.replacen("tcr2.", "tcr3.", 1),
            "record_version",
        ),
        ("future version field", v3, "record_version"),
        ("garbage", "hello".into(), "record_malformed"),
        (
            "another token endpoint",
            foreign_record(&other_url).encode(),
            "record_identity_mismatch",
        ),
        (
            "another scope",
            foreign_record(&session_config(Some("admin"))).encode(),
            "record_identity_mismatch",
        ),
        (
            "another organization",
            foreign_record(&with_extra("organization", "org_B")).encode(),
            "record_identity_mismatch",
        ),
        (
            "another partition",
            foreign_record(&other_partition).encode(),
            "record_identity_mismatch",
        ),
        (
            "a token with characters no token response may carry",
            bad_chars.encode(),
            "record_malformed",
        ),
        (
            "sealed, no key here",
            "tce1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            "record_encrypted",
        ),
    ];
    for (what, value, code) in cases {
        let mut w = World::new(Opts {
            offsets: vec![-120_000, 0, 45_000],
            seed: 41,
            interval_ms: 500,
            key: None,
        });
        let record_key = w.keys.record.clone();
        w.store.set_px(&record_key, value.clone(), 3_600_000, 0);
        w.run_until(2_000);
        w.assert_clean();
        // The first refresh ignored the value, took the lease and fetched; its record replaced
        // the bad one, which the others adopted.
        assert_eq!(w.issuer.mints.len(), 1, "{what}");
        let ignored: Vec<&'static str> = w
            .procs
            .iter()
            .flat_map(|p| p.notes.iter())
            .filter_map(|(_, n)| match n {
                FleetNote::RecordIgnored { code } => Some(*code),
                _ => None,
            })
            .collect();
        assert!(!ignored.is_empty(), "{what}: no note");
        assert!(ignored.iter().all(|c| *c == code), "{what}: {ignored:?}");
        // The bad token (never minted) was never handed out: `request` would have panicked.
        assert_ne!(w.store.value(&record_key, w.t), Some(value), "{what}");
        assert_eq!(
            w.outcomes(|o| matches!(o, FleetOutcome::Adopted(_))),
            2,
            "{what}"
        );
    }
}

// ----- a token the resource server rejected is not adopted back --------------------------------

#[test]
fn a_rejected_token_in_the_store_is_not_adopted_again() {
    let mut w = World::new(Opts {
        offsets: vec![0, 30_000],
        seed: 51,
        interval_ms: 1_000,
        key: None,
    });
    w.run_until(5_000);
    w.assert_clean();
    assert_eq!(w.issuer.mints.len(), 1);
    // The resource server rejects the shared token at process 0 (revoked): the session
    // invalidates it and its next caller gets a refresh ticket.
    let t = w.t;
    let p = &mut w.procs[0];
    let (id, _) = p.session.current_token().expect("token");
    let v = p.session.on_response(id, 401, &[], p.at(t - 10), p.at(t));
    assert!(matches!(v, Verdict::Retry { .. }), "{v:?}");
    w.run_until(10_000);
    w.assert_clean();
    // The store still holds the rejected token: process 0 must fetch a new one, not adopt
    // the one that was just refused.
    assert_eq!(w.issuer.mints.len(), 2, "a new token was fetched");
    assert_eq!(w.issuer.mints[1].by, 0);
    let after: Vec<_> = w.procs[0]
        .uses
        .iter()
        .filter(|(&k, u)| k == 0 && u.last > t)
        .collect();
    assert!(after.is_empty(), "the rejected token was handed out again");
}

// ----- (f) sealed records and fencing ---------------------------------------------------------

#[cfg(feature = "encrypt")]
#[test]
fn sealed_records_hold_no_token_and_a_late_writer_is_fenced_off() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    use tokenclock::record;
    let key = RecordKey::new(&[7; 32]).unwrap();
    let mut w = World::new(Opts {
        offsets: offsets(6, 61),
        seed: 61,
        interval_ms: 500,
        key: Some(key.clone()),
    });
    // The first token request takes 20 s, longer than the 15 s lease.
    w.issuer.slow_next_ms = Some(20_000);
    w.run_until(40_000);
    w.assert_clean();
    assert_eq!(w.issuer.mints.len(), 2, "the slow request and the takeover");
    let (slow, fast) = (&w.issuer.mints[0], &w.issuer.mints[1]);
    assert!(
        fast.at - slow.at >= 14_800,
        "taken over only after the lease"
    );
    let late = slow.by;
    let p = &w.procs[late];
    assert_eq!(p.note_count(|n| matches!(n, FleetNote::LeaseLost)), 1);
    assert!(p
        .outcomes
        .iter()
        .any(|(_, o)| *o == FleetOutcome::Fetched { published: false }));
    assert_eq!(w.notes(|n| matches!(n, FleetNote::LeaseLost)), 1);
    // The store holds the takeover's token under fencing token 2, sealed.
    let stored = w.store.value(&w.keys.record, w.t).expect("record");
    assert!(stored.starts_with(record::SEALED_PREFIX), "{stored}");
    let opened = record::open(&stored, Some(&key), &w.keys.record).expect("opens with the key");
    let rec = TokenRecord::decode(&opened).unwrap();
    assert_eq!(rec.fencing, 2);
    let token = rec.access_token.expose().to_owned();
    assert_eq!(w.issuer.by_token[&token], 1);
    // No token bytes in the stored value, in any encoding.
    let payload = token.split('.').nth(1).unwrap();
    for needle in [
        token.clone(),
        payload.to_owned(),
        payload[..16].to_owned(),
        URL_SAFE_NO_PAD.encode(&token)[..24].to_owned(),
        STANDARD.encode(&token)[..24].to_owned(),
        rec.token_id.clone(),
    ] {
        assert!(!stored.contains(&needle), "stored value contains {needle}");
    }
    // Only the key opens it; under another credential's key it does not open either.
    let other = RecordKey::new(&[8; 32]).unwrap();
    assert_eq!(
        record::open(&stored, Some(&other), &w.keys.record)
            .unwrap_err()
            .code(),
        "record_decrypt"
    );
    assert_eq!(
        record::open(&stored, Some(&key), "tokenclock:token:v1:{other}")
            .unwrap_err()
            .code(),
        "record_decrypt"
    );
    assert_eq!(
        record::open(&stored, None, &w.keys.record)
            .unwrap_err()
            .code(),
        "record_encrypted"
    );
    // A process with another key ignores the record and fetches its own token.
    w.procs[0].key = Some(other);
    w.procs[0].session =
        Session::new(session_config(Some("api")), Box::new(SplitMix64::new(99))).unwrap();
    let before = w.issuer.mints.len();
    w.run_until(w.t + 5_000);
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    assert_eq!(w.issuer.mints.len(), before + 1);
    assert!(w.procs[0].notes.iter().any(|(_, n)| *n
        == FleetNote::RecordIgnored {
            code: "record_decrypt"
        }));
}

// ----- unexpected inputs ----------------------------------------------------------------------

#[test]
fn unexpected_inputs_are_errors_not_panics() {
    let mut s = Session::new(session_config(Some("api")), Box::new(SplitMix64::new(1))).unwrap();
    let host = Proc {
        offset_ms: 0,
        mono0: 5_000,
        session: Session::new(session_config(None), Box::new(SplitMix64::new(2))).unwrap(),
        key: None,
        run: None,
        dead: false,
        vanish_on_fetch: false,
        notes: Vec::new(),
        outcomes: Vec::new(),
        uses: HashMap::new(),
        failures: Vec::new(),
        nonces: 0,
        requests: 0,
    };
    let now = host.at(0);
    let ticket = match s.authorize(now) {
        Authorization::Refresh { ticket } => ticket.id,
        other => panic!("{other:?}"),
    };
    let keys = StoreKeys::for_session("tokenclock", &s, Sealing::Clear).unwrap();
    let mut f =
        FleetRefresh::new(ticket, FleetConfig::default(), &keys.record, None, [1; 16]).unwrap();
    let unexpected = |r: Result<&FleetAction, FleetError>, current: &str| match r {
        Err(e) => {
            assert_eq!(e.code(), "fleet_unexpected_input");
            assert_eq!(
                e,
                FleetError::UnexpectedInput(match current {
                    "read" => "read",
                    "take_lease" => "take_lease",
                    "wait" => "wait",
                    "fetch" => "fetch",
                    _ => "done",
                })
            );
        }
        Ok(a) => panic!("accepted: {a:?}"),
    };
    // At Read: every other answer is refused, and the machine stays at Read.
    unexpected(f.on_lease(&mut s, Some(1), now), "read");
    unexpected(f.on_probe(&mut s, now), "read");
    unexpected(f.on_wake(now), "read");
    unexpected(f.on_fetched(&mut s, true, now, [0; 12]), "read");
    unexpected(f.on_published(true), "read");
    unexpected(f.on_released(), "read");
    assert_eq!(f.action().kind(), "read");
    // An out-of-range reading is refused without moving.
    assert_eq!(
        f.on_record(
            &mut s,
            None,
            Reading {
                wall: UnixMillis(-5),
                mono: MonoMillis(0)
            }
        )
        .unwrap_err()
        .code(),
        "invalid_argument"
    );
    assert_eq!(f.action().kind(), "read");
    assert_eq!(f.on_record(&mut s, None, now).unwrap().kind(), "take_lease");
    let FleetAction::TakeLease { lease: first, .. } = f.action().clone() else {
        panic!("take_lease");
    };
    assert_eq!(first, format!("{}.1", "01".repeat(16)));
    unexpected(f.on_record(&mut s, None, now), "take_lease");
    assert_eq!(f.on_lease(&mut s, None, now).unwrap().kind(), "wait");
    unexpected(f.on_store_error(&mut s, now), "wait");
    unexpected(f.on_lease(&mut s, Some(3), now), "wait");
    assert_eq!(f.on_wake(host.at(50)).unwrap().kind(), "read");
    // Every lease attempt has its own value.
    assert_eq!(
        f.on_record(&mut s, None, host.at(51)).unwrap().kind(),
        "take_lease"
    );
    let FleetAction::TakeLease { lease: second, .. } = f.action().clone() else {
        panic!("take_lease");
    };
    assert_ne!(first, second);
    assert_eq!(f.on_store_error(&mut s, now).unwrap().kind(), "fetch");
    unexpected(f.on_store_error(&mut s, now), "fetch");
    assert_eq!(f.poll_note(), Some(FleetNote::WaitingForPeer));
    assert_eq!(f.poll_note(), Some(FleetNote::StoreUnavailable));
    assert_eq!(
        *f.on_fetched(&mut s, false, host.at(60), [0; 12]).unwrap(),
        FleetAction::Done(FleetOutcome::FetchFailed)
    );
    unexpected(f.on_store_error(&mut s, now), "done");
    unexpected(f.on_record(&mut s, None, now), "done");
    // Bad configurations and a key without the feature.
    let bad = FleetConfig {
        poll_ms: 1,
        ..FleetConfig::default()
    };
    assert_eq!(
        FleetRefresh::new(ticket, bad, &keys.record, None, [0; 16])
            .unwrap_err()
            .code(),
        "invalid_config"
    );
    let with_key = FleetRefresh::new(
        ticket,
        FleetConfig::default(),
        &keys.record,
        RecordKey::new(&[1; 32]),
        [0; 16],
    );
    assert_eq!(with_key.is_ok(), cfg!(feature = "encrypt"));
}

// ----- a token not yet valid on the resource server's clock is still published ---------------

#[test]
fn a_fresh_token_not_yet_valid_on_a_slow_resource_server_is_published() {
    let host = Proc {
        offset_ms: 0,
        mono0: 9_000,
        session: Session::new(session_config(Some("api")), Box::new(SplitMix64::new(3))).unwrap(),
        key: None,
        run: None,
        dead: false,
        vanish_on_fetch: false,
        notes: Vec::new(),
        outcomes: Vec::new(),
        uses: HashMap::new(),
        failures: Vec::new(),
        nonces: 0,
        requests: 0,
    };
    let mut s = host.session;
    let at = |t: i64| Reading {
        wall: UnixMillis(T0 + t),
        mono: MonoMillis(9_000 + t),
    };
    // The resource server's clock is 1.5 s behind the issuer's (and ours).
    let rs_date = vec![("Date".to_owned(), format_http_date(UnixMillis(T0 - 1_500)))];
    let _ = s.on_response(
        tokenclock::session::TokenId(77),
        200,
        &rs_date,
        at(-50),
        at(0),
    );
    let ticket = match s.authorize(at(10)) {
        Authorization::Refresh { ticket } => ticket.id,
        other => panic!("{other:?}"),
    };
    let keys = StoreKeys::for_session("tokenclock", &s, Sealing::Clear).unwrap();
    let mut f =
        FleetRefresh::new(ticket, FleetConfig::default(), &keys.record, None, [2; 16]).unwrap();
    f.on_record(&mut s, None, at(12)).unwrap();
    f.on_lease(&mut s, Some(1), at(14)).unwrap();
    assert_eq!(f.on_record(&mut s, None, at(16)).unwrap().kind(), "fetch");
    let token = jwt(0, (T0 + 1_000) / 1_000, (T0 + 1_000) / 1_000 + TTL_S);
    let body = format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":300}}"#);
    let headers = vec![Issuer::date(1_050)];
    s.complete_refresh(ticket, 200, &headers, body.as_bytes(), at(1_000), at(1_100))
        .expect("token");
    // Not yet valid for the resource server for a few seconds (the session waits for it), but
    // a peer judges that itself: the token is published for the fleet, not kept back.
    let a = f.on_fetched(&mut s, true, at(1_101), [0; 12]).unwrap();
    assert_eq!(a.kind(), "publish", "{a:?}");
}
