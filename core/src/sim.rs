//! Deterministic simulation of a client, a token issuer and a resource server with
//! disagreeing clocks, and the "skew gauntlet" that runs token-handling strategies side by
//! side on identical event streams.
//!
//! Everything is driven by a seed: true time is an integer millisecond counter; each party
//! reads its own clock from it (offset, drift, an optional wall step on the client); network
//! latency and request times come from a hash of `(seed, request number, leg)`, so every
//! strategy sees exactly the same requests at the same true times with the same latencies.
//!
//! Strategies:
//! * `tokenclock` — the real [`Session`];
//! * `tutorial` — skew = local − `iat`, refresh when skew-corrected now ≥ `exp` − 60 s, on 401
//!   refresh and retry once, then raise;
//! * `stackit` — expired only when now > `exp` + 300 s (leeway added instead of subtracted),
//!   the refresh runs in the background while the stale token is used; no retry;
//! * `naive` — local `expires_in`, no margin, refresh on expiry, on 401 refresh and retry once;
//! * `oracle` — knows true time: refreshes only when the token is truly about to expire on
//!   the resource server. It gives the minimum number of token requests a cell needs.
//!
//! Reports: [`render_summary`] and [`render_breakdown`] (text), [`render_gauntlet_html`] (the
//! gauntlet as heatmaps in one self-contained HTML file, `make demo`'s `gauntlet.html`),
//! [`render_cell_html`] (one cell's timeline as a chart, `tokenclock simulate --html FILE`).

use crate::httpdate::format_http_date;
use crate::oauth::{ClientAuth, Grant, Secret};
use crate::rng::SplitMix64;
use crate::rules;
use crate::session::{Authorization, Session, SessionConfig, Verdict};
use crate::time::{MonoMillis, Reading, UnixMillis};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use core::fmt::Write as _;

mod html;
mod trace;
pub use html::{render_cell_html, render_gauntlet_html, GauntletRun};
use trace::{session_event, Recorder};
pub use trace::{EventKind, RequestRecord, RequestResult, TimelineEvent};

/// One cell of the gauntlet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// Client clock minus issuer clock, seconds.
    pub client_offset_s: f64,
    /// Resource-server clock minus issuer clock, seconds.
    pub rs_offset_s: f64,
    /// Token lifetime (`exp − iat` and a fresh token's `expires_in`), seconds.
    pub ttl_s: i64,
    /// Resource-server leeway, seconds.
    pub rs_leeway_s: i64,
    /// The issuer hands out cached tokens: it re-mints only when the cached one has less than
    /// a quarter of its lifetime left, and the first one is this old (seconds; 0 = off).
    pub cached_age_s: i64,
    /// A wall-clock step on the client half-way through the first token's life, seconds
    /// (0 = none).
    pub step_s: i64,
    /// Simulated duration, hours.
    pub hours: f64,
    /// Mean time between user requests, seconds.
    pub request_interval_s: f64,
    /// Seed.
    pub seed: u64,
}

/// A cell a caller cannot mean: names the field and its bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidCell(pub &'static str);

impl crate::ErrorCode for InvalidCell {
    fn code(&self) -> &'static str {
        "invalid_argument"
    }
}

impl core::fmt::Display for InvalidCell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidCell {}

impl Cell {
    /// Checks every field's range: the simulation runs for `hours` of simulated time, so a
    /// cell must be finite, and its arithmetic must stay far from overflow. Hosts check a cell
    /// from user input with this before running it.
    pub fn validate(&self) -> Result<(), InvalidCell> {
        let finite_within = |v: f64, limit: f64| v.is_finite() && v.abs() <= limit;
        let checks: [(bool, &'static str); 8] = [
            (
                finite_within(self.client_offset_s, 1.0e6),
                "client offset must be finite, |x| <= 1e6 s",
            ),
            (
                finite_within(self.rs_offset_s, 1.0e6),
                "resource-server offset must be finite, |x| <= 1e6 s",
            ),
            (
                (1..=31_622_400).contains(&self.ttl_s),
                "ttl must be 1..=31622400 s",
            ),
            (
                (0..=86_400).contains(&self.rs_leeway_s),
                "leeway must be 0..=86400 s",
            ),
            (
                (0..=self.ttl_s).contains(&self.cached_age_s),
                "cached age must be 0..=ttl",
            ),
            (
                (-1_000_000..=1_000_000).contains(&self.step_s),
                "step must be within +-1e6 s",
            ),
            (
                self.hours.is_finite() && self.hours > 0.0 && self.hours <= 1_000.0,
                "hours must be in (0, 1000]",
            ),
            (
                self.request_interval_s.is_finite()
                    && (0.001..=86_400.0).contains(&self.request_interval_s),
                "request interval must be in [0.001, 86400] s",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(InvalidCell(what)),
            None => Ok(()),
        }
    }
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            client_offset_s: 0.0,
            rs_offset_s: 0.0,
            ttl_s: 300,
            rs_leeway_s: 0,
            cached_age_s: 0,
            step_s: 0,
            hours: 3.0,
            request_interval_s: 5.0,
            seed: 1,
        }
    }
}

/// What one strategy did in one cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Strategy name.
    pub strategy: &'static str,
    /// User requests made.
    pub requests: u64,
    /// Requests that still failed after the allowed retry, or raised.
    pub user_visible_failures: u64,
    /// 401s the resource server sent.
    pub rs_401: u64,
    /// Token requests the issuer received.
    pub token_requests: u64,
    /// 99th percentile of added latency (ms) over the bare API round trip.
    pub p99_added_latency_ms: i64,
    /// Largest added latency (ms).
    pub max_added_latency_ms: i64,
    /// Timeline lines (only when asked for; `tokenclock` only).
    pub timeline: Vec<String>,
    /// Every user request, in order (only when a timeline is asked for).
    pub request_log: Vec<RequestRecord>,
    /// What happened besides requests, in order (only when a timeline is asked for):
    /// tokenclock's session events (the same as `timeline`), the token requests and 401s of
    /// the others.
    pub events: Vec<TimelineEvent>,
}

/// When the client's wall clock steps (true ms from the start), if the cell has a step: half-way
/// through the first token's life.
pub fn step_at_ms(cell: &Cell) -> Option<i64> {
    (cell.step_s != 0).then_some(cell.ttl_s * 1000 / 2)
}

/// True-time instants are milliseconds from the simulation's start; this is the Unix time
/// of that start on the issuer's clock.
const EPOCH_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// splitmix-style hash of a few integers: the deterministic source of every random choice.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The world: clocks and servers. Strategies talk to it only through `token_request` and
/// `api_request`, and read the client's clocks.
struct World {
    cell: Cell,
    issuer_cache: Option<SimToken>,
    minted: u64,
    token_requests: u64,
    rs_401: u64,
    step_at: i64,
}

/// A token as the simulated issuer hands it out.
#[derive(Clone, Debug)]
struct SimToken {
    jwt: String,
    iat_s: i64,
    exp_s: i64,
    expires_in_s: i64,
}

impl World {
    fn new(cell: Cell) -> World {
        World {
            cell,
            issuer_cache: None,
            minted: 0,
            token_requests: 0,
            rs_401: 0,
            step_at: cell.ttl_s * 1000 / 2,
        }
    }

    fn issuer_clock(&self, t: i64) -> i64 {
        EPOCH_MS + t
    }

    fn rs_clock(&self, t: i64) -> i64 {
        EPOCH_MS + t + (self.cell.rs_offset_s * 1000.0).round() as i64
    }

    /// The client's two clocks at true time `t`.
    fn client(&self, t: i64) -> Reading {
        let step = if self.cell.step_s != 0 && t >= self.step_at {
            self.cell.step_s * 1000
        } else {
            0
        };
        Reading {
            wall: UnixMillis(
                EPOCH_MS + t + (self.cell.client_offset_s * 1000.0).round() as i64 + step,
            ),
            mono: MonoMillis(1_000_000 + t),
        }
    }

    /// One-way latency for leg `leg` of request `n` (5–60 ms).
    fn latency(&self, n: u64, leg: u64) -> i64 {
        5 + (mix(self.cell.seed, n, leg) % 56) as i64
    }

    /// The issuer answers a token request arriving at true time `t`. A caching issuer hands
    /// out the very same token (same bytes) while it has at least a quarter of its life left.
    fn token_request(&mut self, t: i64) -> SimToken {
        self.token_requests += 1;
        let now = self.issuer_clock(t);
        let ttl = self.cell.ttl_s * 1000;
        if let Some(cached) = self
            .issuer_cache
            .as_mut()
            .filter(|c| c.exp_s * 1000 - now >= ttl / 4)
        {
            cached.expires_in_s = (cached.exp_s * 1000 - now) / 1000;
            return cached.clone();
        }
        let iat = match self.cell.cached_age_s {
            // The first cached token was minted before the simulation started.
            age if age > 0 && self.minted == 0 => (now - age * 1000) / 1000 * 1000,
            _ => now / 1000 * 1000,
        };
        let exp = iat + ttl;
        self.minted += 1;
        let claims = format!(
            "{{\"iss\":\"sim\",\"sub\":\"client\",\"iat\":{},\"nbf\":{},\"exp\":{},\"jti\":\"{}\"}}",
            iat / 1000,
            iat / 1000,
            exp / 1000,
            self.minted
        );
        let jwt = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.as_bytes())
        );
        let tok = SimToken {
            jwt,
            iat_s: iat / 1000,
            exp_s: exp / 1000,
            expires_in_s: (exp - now) / 1000,
        };
        if self.cell.cached_age_s > 0 {
            self.issuer_cache = Some(tok.clone());
        }
        tok
    }

    /// The resource server checks a token at true time `t`: 200 or 401.
    fn api_request(&mut self, t: i64, token: &SimToken) -> u16 {
        let now = self.rs_clock(t);
        let leeway = self.cell.rs_leeway_s * 1000;
        let ok = !rules::is_expired(now, token.exp_s * 1000, leeway)
            && !rules::is_not_yet_valid(now, token.iat_s * 1000, leeway)
            && !rules::is_issued_in_future(now, token.iat_s * 1000, leeway);
        if ok {
            200
        } else {
            self.rs_401 += 1;
            401
        }
    }
}

fn date_header(ms: i64) -> Vec<(String, String)> {
    vec![("Date".to_owned(), format_http_date(UnixMillis(ms)))]
}

fn token_body(tok: &SimToken) -> String {
    format!(
        "{{\"access_token\":\"{}\",\"token_type\":\"Bearer\",\"expires_in\":{}}}",
        tok.jwt, tok.expires_in_s
    )
}

/// Per-request accounting.
struct Tally {
    requests: u64,
    failures: u64,
    added: Vec<i64>,
    rec: Recorder,
}

impl Tally {
    fn new(record: bool) -> Tally {
        Tally {
            requests: 0,
            failures: 0,
            added: Vec::new(),
            rec: Recorder::new(record),
        }
    }

    /// One user request that started at `start` and ended at `end` after a bare API round
    /// trip of `bare` ms.
    fn request(&mut self, start: i64, end: i64, bare: i64, retried: bool, failed: bool) {
        if failed {
            self.failures += 1;
        }
        let added = (end - start - bare).max(0);
        self.added.push(added);
        self.rec.request(start, added, retried, failed);
    }

    fn finish(mut self, strategy: &'static str, world: &World) -> Outcome {
        self.added.sort_unstable();
        let p99 = if self.added.is_empty() {
            0
        } else {
            self.added[((self.added.len() as f64 * 0.99).ceil() as usize)
                .saturating_sub(1)
                .min(self.added.len() - 1)]
        };
        Outcome {
            strategy,
            requests: self.requests,
            user_visible_failures: self.failures,
            rs_401: world.rs_401,
            token_requests: world.token_requests,
            p99_added_latency_ms: p99,
            max_added_latency_ms: self.added.last().copied().unwrap_or(0),
            timeline: Vec::new(),
            request_log: self.rec.requests,
            events: self.rec.events,
        }
    }
}

/// Request start times in true ms: jittered around the mean interval.
fn request_times(cell: &Cell) -> impl Iterator<Item = (u64, i64)> {
    let end = (cell.hours * 3_600_000.0) as i64;
    let mean = (cell.request_interval_s * 1000.0).max(1.0) as i64;
    let seed = cell.seed;
    let mut t = 0i64;
    let mut n = 0u64;
    core::iter::from_fn(move || {
        if t > end {
            return None;
        }
        let item = (n, t);
        t += mean / 2 + (mix(seed, n, 99) % (mean as u64 + 1)) as i64;
        n += 1;
        Some(item)
    })
}

/// Runs the real `Session`.
fn run_tokenclock(cell: Cell, timeline: bool) -> Outcome {
    let mut world = World::new(cell);
    let config = SessionConfig::new(
        "https://issuer.sim/token",
        ClientAuth::SecretBasic {
            client_id: "client".into(),
            client_secret: Secret::new("secret"),
        },
        Grant::ClientCredentials {
            scope: None,
            extra: Vec::new(),
        },
    );
    let mut session = match Session::new(config, Box::new(SplitMix64::new(cell.seed ^ 0x5eed))) {
        Ok(s) => s,
        Err(_) => {
            return Outcome {
                strategy: "tokenclock",
                ..Outcome::default()
            }
        }
    };
    let mut tally = Tally::new(timeline);
    let mut tokens: std::collections::BTreeMap<u64, SimToken> = std::collections::BTreeMap::new();
    let mut lines = Vec::new();
    let origin = world.client(0);
    for (n, start) in request_times(&cell) {
        tally.requests += 1;
        let mut t = start;
        let mut attempts = 0;
        let mut leg = 0u64;
        let mut bare = 0i64;
        let failed = loop {
            if t - start > 120_000 {
                break true;
            }
            let now = world.client(t);
            let token_id = match session.authorize(now) {
                Authorization::Ready { token_id, .. } => token_id,
                Authorization::ReadyAndRefresh {
                    token_id, ticket, ..
                } => {
                    // The refresh runs beside the request; it lands before the next one.
                    let d1 = world.latency(n, 100 + leg);
                    let d2 = world.latency(n, 200 + leg);
                    let tok = world.token_request(t + d1);
                    let hdr = date_header(world.issuer_clock(t + d1));
                    let recv = world.client(t + d1 + d2);
                    if let Ok(id) = session.complete_refresh(
                        ticket.id,
                        200,
                        &hdr,
                        token_body(&tok).as_bytes(),
                        now,
                        recv,
                    ) {
                        tokens.insert(id.0, tok);
                    }
                    token_id
                }
                Authorization::Refresh { ticket } => {
                    let d1 = world.latency(n, 100 + leg);
                    let d2 = world.latency(n, 200 + leg);
                    let tok = world.token_request(t + d1);
                    let hdr = date_header(world.issuer_clock(t + d1));
                    let recv_t = t + d1 + d2;
                    let body = token_body(&tok);
                    if let Ok(id) = session.complete_refresh(
                        ticket.id,
                        200,
                        &hdr,
                        body.as_bytes(),
                        now,
                        world.client(recv_t),
                    ) {
                        tokens.insert(id.0, tok);
                    }
                    t = recv_t;
                    leg += 1;
                    continue;
                }
                Authorization::Wait { until, .. } => {
                    t += until.mono.since(now.mono).max(1);
                    continue;
                }
                _ => break true,
            };
            let Some(tok) = tokens.get(&token_id.0).cloned() else {
                break true;
            };
            let d1 = world.latency(n, leg);
            let d2 = world.latency(n, 50 + leg);
            let status = world.api_request(t + d1, &tok);
            bare = d1 + d2;
            let recv_t = t + d1 + d2;
            let hdr = date_header(world.rs_clock(t + d1));
            match session.on_response(token_id, status, &hdr, now, world.client(recv_t)) {
                Verdict::Accept => {
                    t = recv_t;
                    break status == 401;
                }
                Verdict::Retry { wait_ms } if attempts == 0 => {
                    attempts += 1;
                    leg += 1;
                    t = recv_t + wait_ms;
                }
                _ => {
                    t = recv_t;
                    break true;
                }
            }
        };
        tally.request(start, t, bare, attempts > 0, failed);
        if timeline {
            while let Some(e) = session.poll_event() {
                let event = session_event(&e, origin);
                lines.push(event.line());
                tally.rec.events.push(event);
            }
        }
    }
    let mut out = tally.finish("tokenclock", &world);
    out.timeline = lines;
    out
}

/// The hand-written strategies share one loop: `valid(now, token)` says whether to use the
/// held token; `retry_on_401` whether to refresh and retry once; `background` whether an
/// invalid token is still sent while a refresh runs beside it.
struct Legacy {
    name: &'static str,
    retry_on_401: bool,
    background: bool,
}

/// What a legacy strategy remembers about its token.
struct Held {
    tok: SimToken,
    received_local_ms: i64,
    skew_ms: i64,
}

fn legacy_valid(name: &str, now_local: i64, h: &Held) -> bool {
    match name {
        // Tutorial: skew-corrected now compared with exp − 60 s.
        "tutorial" => now_local - h.skew_ms < h.tok.exp_s * 1000 - 60_000,
        // Stackit: leeway added instead of subtracted.
        "stackit" => now_local <= h.tok.exp_s * 1000 + 300_000,
        // Naive: local expires_in, no margin.
        _ => now_local < h.received_local_ms + h.tok.expires_in_s * 1000,
    }
}

fn run_legacy(cell: Cell, s: &Legacy, record: bool) -> Outcome {
    let mut world = World::new(cell);
    let mut tally = Tally::new(record);
    let mut held: Option<Held> = None;
    for (n, start) in request_times(&cell) {
        tally.requests += 1;
        let mut t = start;
        let mut leg = 0u64;
        let fetch = |world: &mut World, t: &mut i64, leg: u64, wait: bool| -> Held {
            let d1 = world.latency(n, 100 + leg);
            let d2 = world.latency(n, 200 + leg);
            let tok = world.token_request(*t + d1);
            let recv = world.client(*t + d1 + d2).wall.0;
            if wait {
                *t += d1 + d2;
            }
            Held {
                skew_ms: recv - tok.iat_s * 1000,
                received_local_ms: recv,
                tok,
            }
        };
        let now = world.client(t).wall.0;
        let use_now = match held.take() {
            Some(h) if legacy_valid(s.name, now, &h) => h,
            Some(h) if s.background => {
                // Use the stale token for this request; the refresh lands after it.
                tally.rec.event(t, EventKind::Refresh, || {
                    "token request (in the background: the stale token is used meanwhile)"
                        .to_owned()
                });
                let fresh = fetch(&mut world, &mut t, leg, false);
                leg += 1;
                held = Some(fresh);
                h
            }
            _ => {
                tally
                    .rec
                    .event(t, EventKind::Refresh, || "token request".to_owned());
                let h = fetch(&mut world, &mut t, leg, true);
                leg += 1;
                h
            }
        };
        let mut tok = use_now.tok.clone();
        if held.is_none() {
            held = Some(use_now);
        }
        let mut bare;
        let mut tries = 0;
        let failed = loop {
            let d1 = world.latency(n, leg);
            let d2 = world.latency(n, 50 + leg);
            bare = d1 + d2;
            let status = world.api_request(t + d1, &tok);
            t += d1 + d2;
            if status != 401 {
                break false;
            }
            if !s.retry_on_401 || tries > 0 {
                tally
                    .rec
                    .event(t, EventKind::Rejected, || "401 -> failed".to_owned());
                break true;
            }
            tally.rec.event(t, EventKind::Rejected, || {
                "401 -> refresh and retry".to_owned()
            });
            tries += 1;
            tally
                .rec
                .event(t, EventKind::Refresh, || "token request (retry)".to_owned());
            let h = fetch(&mut world, &mut t, 300 + leg, true);
            tok = h.tok.clone();
            held = Some(h);
            leg += 1;
        };
        tally.request(start, t, bare, tries > 0, failed);
    }
    tally.finish(s.name, &world)
}

/// The oracle: knows every true clock; refreshes when the token has less than 200 ms of
/// validity left. Its token count is the minimum a *correct* client needs: one that never
/// relies on the resource server's leeway and never uses a token past its `expires_in`.
fn run_oracle(cell: Cell, record: bool) -> Outcome {
    let mut world = World::new(cell);
    let mut tally = Tally::new(record);
    let mut held: Option<SimToken> = None;
    for (n, start) in request_times(&cell) {
        tally.requests += 1;
        let mut t = start;
        let rs_now = world.rs_clock(t);
        let issuer_now = world.issuer_clock(t);
        let leeway = cell.rs_leeway_s * 1000;
        let usable = |tok: &SimToken| {
            !rules::is_expired(rs_now + 200, tok.exp_s * 1000, 0)
                && !rules::is_expired(issuer_now + 200, tok.exp_s * 1000, 0)
                && !rules::is_not_yet_valid(rs_now, tok.iat_s * 1000, leeway)
        };
        let tok = match held.take() {
            Some(tk) if usable(&tk) => tk,
            _ => {
                tally
                    .rec
                    .event(t, EventKind::Refresh, || "token request".to_owned());
                let d1 = world.latency(n, 100);
                let d2 = world.latency(n, 200);
                let tk = world.token_request(t + d1);
                t += d1 + d2;
                tk
            }
        };
        let d1 = world.latency(n, 0);
        let d2 = world.latency(n, 50);
        let status = world.api_request(t + d1, &tok);
        t += d1 + d2;
        if status == 401 {
            tally
                .rec
                .event(t, EventKind::Rejected, || "401 -> failed".to_owned());
        }
        tally.request(start, t, d1 + d2, false, status == 401);
        held = Some(tok);
    }
    tally.finish("oracle", &world)
}

/// Runs every strategy on one cell (oracle last).
pub fn run_cell(cell: Cell, timeline: bool) -> Vec<Outcome> {
    vec![
        run_tokenclock(cell, timeline),
        run_legacy(
            cell,
            &Legacy {
                name: "tutorial",
                retry_on_401: true,
                background: false,
            },
            timeline,
        ),
        run_legacy(
            cell,
            &Legacy {
                name: "stackit",
                retry_on_401: false,
                background: true,
            },
            timeline,
        ),
        run_legacy(
            cell,
            &Legacy {
                name: "naive",
                retry_on_401: true,
                background: false,
            },
            timeline,
        ),
        run_oracle(cell, timeline),
    ]
}

/// The gauntlet grid of the issue: client-vs-issuer offsets × resource-server offsets ×
/// lifetimes × leeways × cached issuer, plus ±120 s wall steps.
pub fn gauntlet_cells(seed: u64, hours: f64) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut n = 0u64;
    for &client in &[-600.0, -300.0, -30.0, -5.0, 0.0, 5.0, 30.0, 300.0, 600.0] {
        for &rs in &[-5.0, 0.0, 2.0, 5.0] {
            for &ttl in &[60, 300, 3600] {
                for &leeway in &[0, 5] {
                    for &cached in &[false, true] {
                        for &step in &[0, -120, 120] {
                            // Steps run on the unskewed-client rows only, to keep the grid small.
                            if step != 0 && client != 0.0 {
                                continue;
                            }
                            n += 1;
                            cells.push(Cell {
                                client_offset_s: client,
                                rs_offset_s: rs,
                                ttl_s: ttl,
                                rs_leeway_s: leeway,
                                cached_age_s: if cached { ttl / 2 } else { 0 },
                                step_s: step,
                                hours,
                                request_interval_s: 5.0,
                                seed: mix(seed, n, 7),
                            });
                        }
                    }
                }
            }
        }
    }
    cells
}

/// One row of `gauntlet.json`: a strategy's outcome in a cell.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// Strategy name.
    pub strategy: &'static str,
    /// Client clock minus issuer clock, seconds.
    pub client_offset_s: f64,
    /// Resource-server clock minus issuer clock, seconds.
    pub rs_offset_s: f64,
    /// Token lifetime, seconds.
    pub ttl_s: i64,
    /// Resource-server leeway, seconds.
    pub rs_leeway_s: i64,
    /// Whether the issuer hands out cached tokens.
    pub cached_issuer: bool,
    /// Age of the first cached token, seconds.
    pub cached_age_s: i64,
    /// Client wall-clock step, seconds.
    pub step_s: i64,
    /// Simulated hours.
    pub hours: f64,
    /// User requests.
    pub requests: u64,
    /// Requests that failed after the allowed retry, or raised.
    pub user_visible_failures: u64,
    /// 401s sent by the resource server.
    pub rs_401: u64,
    /// Token requests received by the issuer.
    pub token_requests: u64,
    /// The oracle's token requests in the same cell (the minimum needed).
    pub min_token_requests: u64,
    /// 99th percentile added latency, ms.
    pub p99_added_latency_ms: i64,
}

/// Rows for one cell's outcomes (the oracle's count becomes `min_token_requests`; the oracle
/// itself is not a row).
pub fn rows(cell: &Cell, outcomes: &[Outcome]) -> Vec<Row> {
    let min = outcomes
        .iter()
        .find(|o| o.strategy == "oracle")
        .map_or(0, |o| o.token_requests);
    outcomes
        .iter()
        .filter(|o| o.strategy != "oracle")
        .map(|o| Row {
            strategy: o.strategy,
            client_offset_s: cell.client_offset_s,
            rs_offset_s: cell.rs_offset_s,
            ttl_s: cell.ttl_s,
            rs_leeway_s: cell.rs_leeway_s,
            cached_issuer: cell.cached_age_s > 0,
            cached_age_s: cell.cached_age_s,
            step_s: cell.step_s,
            hours: cell.hours,
            requests: o.requests,
            user_visible_failures: o.user_visible_failures,
            rs_401: o.rs_401,
            token_requests: o.token_requests,
            min_token_requests: min,
            p99_added_latency_ms: o.p99_added_latency_ms,
        })
        .collect()
}

/// The strategies in table order.
pub const STRATEGIES: [&str; 4] = ["tokenclock", "tutorial", "stackit", "naive"];

/// One strategy's totals over a set of rows: the columns of [`render_summary`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Summary {
    pub(crate) strategy: &'static str,
    pub(crate) cells: usize,
    pub(crate) failed_cells: usize,
    pub(crate) failures: u64,
    pub(crate) rs_401: u64,
    pub(crate) token_requests: u64,
    /// The worst cell's token requests over the oracle's.
    pub(crate) worst_token_ratio: f64,
    /// The worst cell's p99 added latency, ms.
    pub(crate) worst_p99_ms: i64,
}

/// The totals of each strategy of [`STRATEGIES`] that has rows, in table order.
pub(crate) fn summarize(rows: &[Row]) -> Vec<Summary> {
    let mut out = Vec::new();
    for name in STRATEGIES {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.strategy == name).collect();
        if mine.is_empty() {
            continue;
        }
        out.push(Summary {
            strategy: name,
            cells: mine.len(),
            failed_cells: mine.iter().filter(|r| r.user_visible_failures > 0).count(),
            failures: mine.iter().map(|r| r.user_visible_failures).sum(),
            rs_401: mine.iter().map(|r| r.rs_401).sum(),
            token_requests: mine.iter().map(|r| r.token_requests).sum(),
            worst_token_ratio: mine
                .iter()
                .map(|r| r.token_requests as f64 / r.min_token_requests.max(1) as f64)
                .fold(0.0_f64, f64::max),
            worst_p99_ms: mine
                .iter()
                .map(|r| r.p99_added_latency_ms)
                .max()
                .unwrap_or(0),
        });
    }
    out
}

/// Renders the per-strategy summary of a gauntlet (or of one cell) as a text table.
pub fn render_summary(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<11} {:>7} {:>13} {:>9} {:>9} {:>10} {:>10} {:>9}",
        "strategy",
        "cells",
        "failed cells",
        "failures",
        "RS 401s",
        "token req",
        "vs min",
        "p99 +ms"
    );
    for s in summarize(rows) {
        let _ = writeln!(
            out,
            "{:<11} {:>7} {:>13} {:>9} {:>9} {:>10} {:>9.2}x {:>9}",
            s.strategy,
            s.cells,
            s.failed_cells,
            s.failures,
            s.rs_401,
            s.token_requests,
            s.worst_token_ratio,
            s.worst_p99_ms
        );
    }
    out
}

/// A condition of [`render_breakdown`]: its label and which rows it covers.
pub(crate) type BreakdownGroup = (&'static str, fn(&Row) -> bool);

/// The conditions of [`render_breakdown`], in table order.
pub(crate) const BREAKDOWN: [BreakdownGroup; 8] = [
    ("all cells", |_| true),
    ("cached issuer (old iat)", |r| r.cached_issuer),
    ("client clock off >= 300 s", |r| {
        r.client_offset_s.abs() >= 300.0 && r.step_s == 0
    }),
    ("RS behind issuer, leeway 0", |r| {
        r.rs_offset_s < 0.0 && r.rs_leeway_s == 0
    }),
    ("RS ahead of issuer, leeway 0", |r| {
        r.rs_offset_s > 0.0 && r.rs_leeway_s == 0
    }),
    ("60 s tokens", |r| r.ttl_s == 60),
    ("wall step -120 s", |r| r.step_s < 0),
    ("wall step +120 s", |r| r.step_s > 0),
];

/// User-visible failures of `strategy` in the rows a condition covers.
pub(crate) fn breakdown_failures(rows: &[Row], strategy: &str, covers: fn(&Row) -> bool) -> u64 {
    rows.iter()
        .filter(|r| r.strategy == strategy && covers(r))
        .map(|r| r.user_visible_failures)
        .sum()
}

/// Renders where each strategy fails: user-visible failures by condition.
pub fn render_breakdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<30}", "user-visible failures in");
    for name in STRATEGIES {
        let _ = write!(out, " {name:>11}");
    }
    out.push('\n');
    for (label, covers) in BREAKDOWN {
        let _ = write!(out, "{label:<30}");
        for name in STRATEGIES {
            let n = breakdown_failures(rows, name, covers);
            let _ = write!(out, " {n:>11}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_validated() {
        assert_eq!(Cell::default().validate(), Ok(()));
        for (cell, what) in [
            (
                Cell {
                    hours: f64::NAN,
                    ..Cell::default()
                },
                "hours",
            ),
            (
                Cell {
                    hours: 0.0,
                    ..Cell::default()
                },
                "hours",
            ),
            (
                Cell {
                    ttl_s: 0,
                    ..Cell::default()
                },
                "ttl",
            ),
            (
                Cell {
                    cached_age_s: 301,
                    ..Cell::default()
                },
                "cached age",
            ),
            (
                Cell {
                    client_offset_s: f64::INFINITY,
                    ..Cell::default()
                },
                "client offset",
            ),
            (
                Cell {
                    request_interval_s: 0.0,
                    ..Cell::default()
                },
                "request interval",
            ),
        ] {
            let e = cell.validate().unwrap_err();
            assert!(e.to_string().starts_with(what), "{e}");
            assert_eq!(crate::ErrorCode::code(&e), "invalid_argument");
        }
    }
}
