//! Token requests per expiry for a simulated fleet, with and without the shared store.
//!
//! ```text
//! cargo run --release -p tokenclock --example fleet_sim [-- WORKERS HOURS SEED]
//! ```
//!
//! Deterministic (seeded) discrete-event simulation in virtual time: `WORKERS` processes (one
//! `Session` each, default refresh jitter 75-85 %, clock offsets uniform in ±120 s) call
//! `authorize` every 5-15 s. A 300 s token comes from a token endpoint 30-150 ms away (one
//! way) whose `Date` header and JWT `exp` are on its own clock (true time). With the store,
//! each refresh runs `FleetRefresh` against an in-memory store that implements the Redis
//! scripts' semantics (`GET`, lease `SET NX PX` + fencing counter, publish / release under the
//! lease, `PX` expiry), 0.5-3 ms away (one way), every operation executing atomically when it
//! arrives. Without it, every process refreshes on its own. Reported: token requests per
//! 300 s window (one token lifetime) after the first (cold start) window: mean, p99, max; and
//! the refresh waves (requests less than 30 s apart) with the largest one: with the store
//! every wave should be a single request.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use tokenclock::fleet::{FleetAction, FleetConfig, FleetRefresh, Sealing, StoreKeys};
use tokenclock::httpdate::format_http_date;
use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{Authorization, Session, SessionConfig, TicketId};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::RngCore;

const T0: i64 = 1_767_225_600_000;
const TTL_S: i64 = 300;
const TTL_MS: i64 = TTL_S * 1_000;
const TOKEN_URL: &str = "https://issuer.example/token";

/// Latencies in microseconds (one way).
const STORE_US: (i64, i64) = (500, 3_000);
const HTTP_US: (i64, i64) = (30_000, 150_000);
/// Between one worker's API requests (µs).
const REQUEST_US: (i64, i64) = (5_000_000, 15_000_000);

#[derive(Default)]
struct Store {
    data: HashMap<String, (String, Option<i64>)>,
}

impl Store {
    fn get(&mut self, k: &str, now: i64) -> Option<String> {
        if matches!(self.data.get(k), Some((_, Some(e))) if *e <= now) {
            self.data.remove(k);
        }
        self.data.get(k).map(|(v, _)| v.clone())
    }
    fn set_px(&mut self, k: &str, v: String, px_ms: u64, now: i64) {
        let px = i64::try_from(px_ms).unwrap_or(i64::MAX / 4) * 1_000;
        self.data.insert(k.to_owned(), (v, Some(now + px)));
    }
}

enum Reply {
    Value(Option<String>),
    Lease(u64),
    Written(bool),
    Date(String),
    Token(u16, Vec<(String, String)>, String),
    Wake,
}

struct Run {
    fleet: FleetRefresh,
    ticket: TicketId,
    sent: Reading,
    reply: Option<Reply>,
}

struct Worker {
    offset_ms: i64,
    mono0: i64,
    session: Session,
    run: Option<Run>,
    /// A refresh without the store: the ticket and when it was sent.
    local: Option<(TicketId, Reading, Option<Reply>)>,
}

impl Worker {
    /// The worker's clocks at true time `t_us`.
    fn at(&self, t_us: i64) -> Reading {
        let ms = t_us.div_euclid(1_000);
        Reading {
            wall: UnixMillis(T0 + ms + self.offset_ms),
            mono: MonoMillis(self.mono0 + ms),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Request,
    Exec,
    Reply,
}

struct Sim {
    t: i64,
    workers: Vec<Worker>,
    store: Option<Store>,
    keys: StoreKeys,
    config: FleetConfig,
    rng: SplitMix64,
    queue: BinaryHeap<Reverse<(i64, u64, usize, Ev)>>,
    seq: u64,
    /// True times (µs) of token requests reaching the endpoint.
    requests: Vec<i64>,
    minted: u64,
    failed_requests: u64,
    /// Refreshes started (for unique lease values).
    leases: u64,
}

fn between(rng: &mut SplitMix64, (lo, hi): (i64, i64)) -> i64 {
    lo + (rng.next_u64() % (hi - lo + 1) as u64) as i64
}

fn jwt(n: u64, iat_s: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let claims = format!(
        r#"{{"iat":{iat_s},"nbf":{iat_s},"exp":{},"jti":"{n}"}}"#,
        iat_s + TTL_S
    );
    format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
        URL_SAFE_NO_PAD.encode(claims)
    )
}

impl Sim {
    fn new(n: usize, seed: u64, shared: bool) -> Sim {
        let mut rng = SplitMix64::new(seed);
        let config = SessionConfig::new(
            TOKEN_URL,
            ClientAuth::SecretBasic {
                client_id: "fleet".into(),
                client_secret: Secret::new("s"),
            },
            Grant::ClientCredentials {
                scope: Some("api".into()),
                extra: Vec::new(),
            },
        );
        let workers: Vec<Worker> = (0..n)
            .map(|i| Worker {
                offset_ms: between(&mut rng, (-120_000, 120_000)),
                mono0: between(&mut rng, (1_000_000, 1_000_000_000)),
                session: Session::new(
                    config.clone(),
                    Box::new(SplitMix64::new(
                        seed.wrapping_mul(31).wrapping_add(i as u64),
                    )),
                )
                .expect("session"),
                run: None,
                local: None,
            })
            .collect();
        let keys = StoreKeys::for_session("tokenclock", &workers[0].session, Sealing::Clear)
            .expect("client credentials share without a partition");
        let mut s = Sim {
            t: 0,
            workers,
            store: shared.then(Store::default),
            keys,
            config: FleetConfig::default(),
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            requests: Vec::new(),
            minted: 0,
            failed_requests: 0,
            leases: 0,
        };
        for i in 0..n {
            // The fleet starts within one minute.
            let start = between(&mut s.rng, (0, 60_000_000));
            s.schedule(start, i, Ev::Request);
        }
        s
    }

    fn schedule(&mut self, t: i64, w: usize, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t.max(self.t), self.seq, w, ev)));
    }

    fn run(&mut self, end_us: i64) {
        while let Some(Reverse((t, _, w, ev))) = self.queue.pop() {
            if t > end_us {
                break;
            }
            self.t = t;
            match ev {
                Ev::Request => self.request(w),
                Ev::Exec => self.exec(w),
                Ev::Reply => self.reply(w),
            }
        }
    }

    fn token_response(&mut self) -> Reply {
        let t = self.t;
        self.requests.push(t);
        self.minted += 1;
        let iat = (T0 + t / 1_000).div_euclid(1_000);
        let body = format!(
            r#"{{"access_token":"{}","token_type":"Bearer","expires_in":{TTL_S}}}"#,
            jwt(self.minted, iat)
        );
        let date = format_http_date(UnixMillis(T0 + t / 1_000));
        Reply::Token(200, vec![("Date".into(), date)], body)
    }

    fn request(&mut self, w: usize) {
        let next = self.t + between(&mut self.rng, REQUEST_US);
        self.schedule(next, w, Ev::Request);
        let now = self.workers[w].at(self.t);
        let ticket = match self.workers[w].session.authorize(now) {
            Authorization::ReadyAndRefresh { ticket, .. } | Authorization::Refresh { ticket } => {
                ticket
            }
            Authorization::Failed { .. } => {
                self.failed_requests += 1;
                return;
            }
            _ => return,
        };
        if self.store.is_some() {
            // Lease values unique per worker and refresh (the host's CSPRNG in production).
            self.leases += 1;
            let mut entropy = [0u8; 16];
            entropy[..8].copy_from_slice(&(w as u64).to_le_bytes());
            entropy[8..].copy_from_slice(&self.leases.to_le_bytes());
            let fleet = FleetRefresh::new(ticket.id, self.config, &self.keys.record, None, entropy)
                .expect("fleet");
            self.workers[w].run = Some(Run {
                fleet,
                ticket: ticket.id,
                sent: now,
                reply: None,
            });
        } else {
            self.workers[w].local = Some((ticket.id, now, None));
        }
        self.dispatch(w);
    }

    fn dispatch(&mut self, w: usize) {
        let t = self.t;
        let worker = &mut self.workers[w];
        if worker.local.is_some() {
            let d = between(&mut self.rng, HTTP_US);
            self.schedule(t + d, w, Ev::Exec);
            return;
        }
        let now = worker.at(t);
        let Some(run) = worker.run.as_mut() else {
            return;
        };
        match run.fleet.action() {
            FleetAction::Done(_) => worker.run = None,
            FleetAction::Wait { until } => {
                run.reply = Some(Reply::Wake);
                let at = (until.mono.0 - worker.mono0) * 1_000;
                self.schedule(at, w, Ev::Reply);
            }
            FleetAction::ProbeIssuer | FleetAction::Fetch { .. } => {
                run.sent = now;
                let d = between(&mut self.rng, HTTP_US);
                self.schedule(t + d, w, Ev::Exec);
            }
            _ => {
                let d = between(&mut self.rng, STORE_US);
                self.schedule(t + d, w, Ev::Exec);
            }
        }
    }

    fn exec(&mut self, w: usize) {
        let t = self.t;
        if self.workers[w].local.is_some() {
            let r = self.token_response();
            if let Some(l) = self.workers[w].local.as_mut() {
                l.2 = Some(r);
            }
            let d = between(&mut self.rng, HTTP_US);
            self.schedule(t + d, w, Ev::Reply);
            return;
        }
        let Some(action) = self.workers[w]
            .run
            .as_ref()
            .map(|r| r.fleet.action().clone())
        else {
            return;
        };
        let now_ms = t / 1_000;
        let mut back = STORE_US;
        let reply = match action {
            FleetAction::ProbeIssuer => {
                back = HTTP_US;
                Reply::Date(format_http_date(UnixMillis(T0 + now_ms)))
            }
            FleetAction::Fetch { .. } => {
                back = HTTP_US;
                self.token_response()
            }
            other => self.store_op(other),
        };
        if let Some(run) = self.workers[w].run.as_mut() {
            run.reply = Some(reply);
        }
        let d = between(&mut self.rng, back);
        self.schedule(t + d, w, Ev::Reply);
    }

    /// The store executes one script (atomically, now).
    fn store_op(&mut self, action: FleetAction) -> Reply {
        let t = self.t;
        let keys = &self.keys;
        let s = self.store.as_mut().expect("a store");
        match action {
            FleetAction::Read => Reply::Value(s.get(&keys.record, t)),
            FleetAction::TakeLease { lease, lease_ms } => {
                if s.get(&keys.lease, t).is_some() {
                    Reply::Lease(0)
                } else {
                    let f = s
                        .get(&keys.fence, t)
                        .map_or(0, |v| v.parse::<u64>().unwrap_or(0))
                        + 1;
                    s.data.insert(keys.fence.clone(), (f.to_string(), None));
                    s.set_px(&keys.lease, lease, lease_ms, t);
                    Reply::Lease(f)
                }
            }
            FleetAction::Publish {
                lease,
                value,
                ttl_ms,
                ..
            } => {
                let ours = s.get(&keys.lease, t) == Some(lease);
                if ours {
                    s.set_px(&keys.record, value, ttl_ms, t);
                    s.data.remove(&keys.lease);
                }
                Reply::Written(ours)
            }
            FleetAction::Release { lease, .. } => {
                let ours = s.get(&keys.lease, t) == Some(lease);
                if ours {
                    s.data.remove(&keys.lease);
                }
                Reply::Written(ours)
            }
            other => panic!("not a store operation: {other:?}"),
        }
    }

    fn reply(&mut self, w: usize) {
        let t = self.t;
        let worker = &mut self.workers[w];
        let now = worker.at(t);
        if let Some((ticket, sent, reply)) = worker.local.take() {
            if let Some(Reply::Token(status, headers, body)) = reply {
                let _ = worker.session.complete_refresh(
                    ticket,
                    status,
                    &headers,
                    body.as_bytes(),
                    sent,
                    now,
                );
            }
            return;
        }
        let Some(run) = worker.run.as_mut() else {
            return;
        };
        let Some(reply) = run.reply.take() else {
            return;
        };
        let s = &mut worker.session;
        let publishing = run.fleet.action().kind() == "publish";
        let r = match reply {
            Reply::Value(v) => run.fleet.on_record(s, v.as_deref(), now).map(|_| ()),
            Reply::Lease(f) => run.fleet.on_lease(s, (f > 0).then_some(f), now).map(|_| ()),
            Reply::Written(x) if publishing => run.fleet.on_published(x).map(|_| ()),
            Reply::Written(_) => run.fleet.on_released().map(|_| ()),
            Reply::Date(d) => {
                let _ = s.add_issuer_date(&d, run.sent, now);
                run.fleet.on_probe(s, now).map(|_| ())
            }
            Reply::Token(status, headers, body) => {
                let ok = s
                    .complete_refresh(run.ticket, status, &headers, body.as_bytes(), run.sent, now)
                    .is_ok();
                run.fleet.on_fetched(s, ok, now, [0; 12]).map(|_| ())
            }
            Reply::Wake => run.fleet.on_wake(now).map(|_| ()),
        };
        while run.fleet.poll_note().is_some() {}
        if r.is_err() {
            worker.run = None;
            return;
        }
        self.dispatch(w);
    }
}

struct Summary {
    cold: usize,
    mean: f64,
    p99: usize,
    max: usize,
    total: usize,
    /// After the first window: the largest group of requests less than 30 s apart (one
    /// refresh wave), and how many waves.
    burst: usize,
    waves: usize,
}

fn summarise(requests: &[i64], end_us: i64) -> Summary {
    let windows = (end_us / (TTL_MS * 1_000)) as usize;
    let mut counts = vec![0usize; windows.max(1)];
    for &t in requests {
        let i = (t / (TTL_MS * 1_000)) as usize;
        if i < counts.len() {
            counts[i] += 1;
        }
    }
    let cold = counts[0];
    let mut steady: Vec<usize> = counts[1..].to_vec();
    steady.sort_unstable();
    let mean = steady.iter().sum::<usize>() as f64 / steady.len().max(1) as f64;
    let p99 = steady
        .get(((steady.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0);
    let (mut burst, mut waves, mut size, mut last) = (0, 0, 0, i64::MIN / 2);
    for &t in requests
        .iter()
        .filter(|&&t| t >= TTL_MS * 1_000 && t < end_us)
    {
        if t - last >= 30_000_000 {
            waves += 1;
            size = 0;
        }
        size += 1;
        burst = burst.max(size);
        last = t;
    }
    Summary {
        burst,
        waves,
        cold,
        mean,
        p99,
        max: steady.last().copied().unwrap_or(0),
        total: requests.len(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let hours: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(6.0);
    let seed: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);
    let end_us = (hours * 3_600.0 * 1e6) as i64;
    println!(
        "fleet of {n} workers, {hours} h virtual, token TTL {TTL_S} s, offsets uniform in ±120 s, seed {seed}"
    );
    println!(
        "store one-way 0.5-3 ms, token endpoint one-way 30-150 ms, API request every 5-15 s per worker"
    );
    println!();
    println!(
        "| store | token requests | cold start (first 300 s) | per 300 s after: mean | p99 | max | refresh waves | largest wave | failed API requests |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for shared in [false, true] {
        let started = std::time::Instant::now();
        let mut sim = Sim::new(n, seed, shared);
        sim.run(end_us);
        let s = summarise(&sim.requests, end_us);
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} |",
            if shared {
                "shared (fleet)"
            } else {
                "none (per process)"
            },
            s.total,
            s.cold,
            s.mean,
            s.p99,
            s.max,
            s.waves,
            s.burst,
            sim.failed_requests
        );
        eprintln!(
            "  ({} simulated in {:.1} s)",
            if shared { "shared" } else { "none" },
            started.elapsed().as_secs_f64()
        );
    }
}
