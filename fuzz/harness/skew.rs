//! Target `skew`: `SkewEstimator` driven by random sample sequences (structured input, decoded
//! with `arbitrary`).
//!
//! Input (`arbitrary` encoding, see `fuzz/README.md`): a [`SkewInput`] header, then
//! [`HonestOp`]s or [`FreeOp`]s until the bytes run out.
//!
//! * **Honest** worlds (after `core/tests/properties.rs`): a true timeline; our monotonic clock
//!   pauses while suspended, our wall clock moves by explicit steps; the server's clock has a
//!   fixed offset and a true drift below the estimator's bound. Every sample is honest (Date
//!   headers at random phases and RTTs, `iat` of possibly cached tokens, SNTP replies within
//!   their error bound, probes sent when `next_date_probe` says). Invariant: after every step,
//!   the estimate's interval contains the true offset (and later, after idle time).
//! * **Free** worlds: any readings and bounds, absurd values included (`i64::MIN`, `2^63 − 1`,
//!   readings going backwards). Invariants: no panic; `low ≤ offset ≤ high` when bounded,
//!   `agreeing ≤ samples = len()`; a probe waits `0..1000` ms.
//!
//! Binding call: Python `tokenclock.SkewEstimator().add_*(...)` / `.estimate(...)` /
//! `.apply_resolution(...)` / `.take_resolutions()`, JS `new SkewEstimator()` and the same
//! methods in camelCase (an SNTP reply from its fields: `new SntpReply({...})`).

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{json, Value};
use tokenclock::skew::{Estimate, Explanation, Sample, SkewConfig, SkewEstimator};
use tokenclock::sntp::{Leap, SntpReply};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::ErrorCode;

const T0: i64 = 1_700_000_000_000;
const M0: i64 = 5_000_000;

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct SkewInput {
    /// Honest or free.
    pub free: bool,
    /// Server offset at the start, ms (honest: reduced into ±1 day).
    pub theta0: i64,
    /// True drift, ppm (honest: reduced into ±199).
    pub rho: i16,
    /// Estimator drift bound, ppm (honest: at least 200).
    pub drift_ppm: u32,
    /// Samples kept (reduced into 1..=64).
    pub max_samples: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum HonestOp {
    /// A Date exchange after `gap` ms: RTT and the server's read instant (‰ of RTT).
    Date { gap: u32, rtt: u16, read: u16 },
    /// A token minted `age` ms before the response, `iat` in whole seconds.
    Iat { gap: u32, age: u32 },
    /// An SNTP reply: delay (µs) and an error of `err` ‰ of half the delay.
    Sntp { gap: u32, delay_us: u32, err: i16 },
    /// The wall clock steps by `by` ms (|by| > 1 s).
    Step { gap: u32, by: i32 },
    /// The host reports a reading.
    Observe { gap: u32 },
    /// The machine sleeps `dur` ms (> 1 s): the monotonic clock stands still.
    Suspend { gap: u32, dur: u32 },
    /// Wait until `next_date_probe` says (if it does), then a Date exchange.
    Probe { rtt: u16, read: u16, target: u16 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct AnyReading {
    pub wall: i64,
    pub mono: i64,
}

impl AnyReading {
    fn get(self) -> Reading {
        Reading {
            wall: UnixMillis(self.wall),
            mono: MonoMillis(self.mono),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FreeOp {
    Manual {
        low: i64,
        high: Option<i64>,
        at: AnyReading,
    },
    Date {
        date: i64,
        resolution: i64,
        sent: AnyReading,
        received: AnyReading,
    },
    Iat {
        iat: i64,
        at: AnyReading,
    },
    Sntp {
        offset_us: i64,
        delay_us: i64,
        at: AnyReading,
    },
    Observe {
        at: AnyReading,
    },
    Estimate {
        at: AnyReading,
    },
    Probe {
        at: AnyReading,
        rtt: i64,
        target: i64,
    },
    Resolve {
        to: AnyReading,
        paused: bool,
    },
    TakeResolutions,
    Clear,
}

fn check_shape(e: &Estimate, est: &SkewEstimator) {
    if let (Some(l), Some(h)) = (e.low_ms, e.high_ms) {
        assert!(l <= h, "low above high: {e:?}");
        assert!(
            l <= e.offset_ms && e.offset_ms <= h,
            "offset outside the interval: {e:?}"
        );
    }
    assert!(e.agreeing <= e.samples, "{e:?}");
    assert_eq!(e.samples as usize, est.len(), "{e:?}");
}

/// Records a sample op (op trace, see `super::trace`): its fields and whether core formed the
/// sample (`{}`) or refused it (`{"error": code}`).
fn trace_sample(mut op: Value, r: &Result<Sample, tokenclock::skew::SkewError>) {
    super::trace::op(|| {
        op["expect"] = match r {
            Ok(_) => json!({}),
            Err(e) => json!({"error": e.code()}),
        };
        op
    });
}

/// Records an estimate (and, in honest worlds, the true offset it must contain).
fn trace_estimate(at: Reading, e: &Estimate, truth: Option<i64>) {
    super::trace::op(|| {
        json!({
            "op": "estimate",
            "at": super::trace::reading(at),
            "truth_ms": truth,
            "expect": {
                "offset_ms": e.offset_ms,
                "low_ms": e.low_ms,
                "high_ms": e.high_ms,
                "agreeing": e.agreeing,
                "samples": e.samples,
            },
        })
    });
}

fn trace_observe(at: Reading, d: Option<tokenclock::time::Discontinuity>) {
    super::trace::op(|| {
        json!({
            "op": "observe",
            "at": super::trace::reading(at),
            "expect": {"excess_ms": d.map(|d| d.wall_excess_ms)},
        })
    });
}

fn trace_probe(at: Reading, rtt: i64, target: i64, p: Option<i64>) {
    super::trace::op(|| {
        json!({
            "op": "probe",
            "at": super::trace::reading(at),
            "rtt_ms": rtt,
            "target_ms": target,
            "expect": {"wait_ms": p},
        })
    });
}

fn trace_sntp(reply: &SntpReply, at: Reading, r: &Result<Sample, tokenclock::skew::SkewError>) {
    let bounds = r.as_ref().ok().map(|s| json!([s.low_ms, s.high_ms]));
    let op = || {
        json!({
            "op": "sntp",
            "offset_us": reply.offset_us,
            "delay_us": reply.delay_us,
            "stratum": reply.stratum,
            "leap": 0,
            "version": reply.version,
            "server_transmit_ms": reply.server_transmit.0,
            "at": super::trace::reading(at),
            "bounds": bounds,
        })
    };
    if super::trace::on() {
        trace_sample(op(), r);
    }
}

/// The binding's name of an explanation (`SkewEstimator.apply_resolution`).
fn explanation_name(e: Explanation) -> &'static str {
    match e {
        Explanation::WallStepped => "wall_stepped",
        Explanation::MonotonicPaused => "monotonic_paused",
    }
}

/// The `Date` header a binding passes for a server time of `date` ms at one-second
/// resolution, when there is one that parses back to exactly `date`.
fn date_header(date: i64) -> Option<String> {
    let h = tokenclock::httpdate::format_http_date(UnixMillis(date));
    let back = tokenclock::httpdate::parse_http_date(&h, UnixMillis(T0)).ok()?;
    (back.0 == date).then_some(h)
}

fn contains(e: &Estimate, theta: i64) -> bool {
    e.low_ms.is_none_or(|l| l <= theta) && e.high_ms.is_none_or(|h| theta <= h)
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = SkewInput::arbitrary(&mut u) else {
        return;
    };
    if input.free {
        free(input, u);
    } else {
        honest(input, u);
    }
}

fn free(input: SkewInput, mut u: Unstructured<'_>) {
    let mut est = SkewEstimator::with_config(SkewConfig {
        drift_ppm: input.drift_ppm,
        max_samples: usize::from(input.max_samples),
    });
    super::trace::op(|| {
        json!({"op": "setup", "world": "free", "drift_ppm": input.drift_ppm,
            "max_samples": input.max_samples})
    });
    while !u.is_empty() {
        let Ok(op) = FreeOp::arbitrary(&mut u) else {
            return;
        };
        let mut now = None;
        match op {
            FreeOp::Manual { low, high, at } => {
                let r = Sample::manual(low, high, at.get());
                trace_sample(
                    json!({"op": "manual", "low_ms": low, "high_ms": high,
                        "at": super::trace::reading(at.get())}),
                    &r,
                );
                if let Ok(s) = r {
                    est.add(s);
                }
                now = Some(at.get());
            }
            FreeOp::Date {
                date,
                resolution,
                sent,
                received,
            } => {
                let r = Sample::from_server_time(
                    UnixMillis(date),
                    resolution,
                    sent.get(),
                    received.get(),
                    tokenclock::skew::SampleSource::DateHeader,
                );
                if super::trace::on() {
                    // A binding takes the header text: one-second resolution only.
                    let header = (resolution == 1_000).then(|| date_header(date)).flatten();
                    let mut op = json!({"op": "date", "date_ms": date, "resolution_ms": resolution,
                        "sent": super::trace::reading(sent.get()),
                        "received": super::trace::reading(received.get()), "date": header});
                    if op["date"].is_null() {
                        op["core_only"] =
                            json!("no Date header text has this server time and resolution");
                    }
                    trace_sample(op, &r);
                }
                if let Ok(s) = r {
                    assert!(s.high_ms.is_some_and(|h| s.low_ms <= h), "{s:?}");
                    est.add(s);
                }
                now = Some(received.get());
            }
            FreeOp::Iat { iat, at } => {
                let r = Sample::from_iat(iat, at.get());
                trace_sample(
                    json!({"op": "iat", "iat_ms": iat, "at": super::trace::reading(at.get())}),
                    &r,
                );
                if let Ok(s) = r {
                    assert!(s.high_ms.is_none());
                    est.add(s);
                }
                now = Some(at.get());
            }
            FreeOp::Sntp {
                offset_us,
                delay_us,
                at,
            } => {
                let reply = SntpReply {
                    offset_us,
                    delay_us,
                    stratum: 2,
                    leap: Leap::NoWarning,
                    version: 4,
                    server_transmit: UnixMillis(at.wall),
                };
                let r = Sample::from_sntp(&reply, at.get());
                trace_sntp(&reply, at.get(), &r);
                if let Ok(s) = r {
                    est.add(s);
                }
                now = Some(at.get());
            }
            FreeOp::Observe { at } => {
                let d = est.observe(at.get());
                trace_observe(at.get(), d);
                now = Some(at.get());
            }
            FreeOp::Estimate { at } => now = Some(at.get()),
            FreeOp::Probe { at, rtt, target } => {
                let p = est.next_date_probe(at.get(), rtt, target);
                trace_probe(at.get(), rtt, target, p.as_ref().map(|p| p.wait_ms));
                if let Some(p) = p {
                    assert!((0..1_000).contains(&p.wait_ms), "probe {p:?}");
                }
            }
            FreeOp::Resolve { to, paused } => {
                let e = if paused {
                    Explanation::MonotonicPaused
                } else {
                    Explanation::WallStepped
                };
                est.apply_resolution(to.get(), e);
                super::trace::op(|| {
                    json!({"op": "resolve", "to": super::trace::reading(to.get()),
                        "explanation": explanation_name(e)})
                });
            }
            FreeOp::TakeResolutions => {
                let taken = est.take_resolutions();
                super::trace::op(|| {
                    let taken: Vec<Value> = taken
                        .iter()
                        .map(|r| {
                            json!({"at": super::trace::reading(r.at),
                                "wall_excess_ms": r.discontinuity.wall_excess_ms,
                                "explanation": explanation_name(r.explanation)})
                        })
                        .collect();
                    json!({"op": "take_resolutions", "expect": {"resolutions": taken}})
                });
            }
            FreeOp::Clear => {
                est.clear();
                super::trace::op(|| json!({"op": "clear"}));
            }
        }
        if let Some(now) = now {
            let e = est.estimate(now);
            trace_estimate(now, &e, None);
            check_shape(&e, &est);
            let _ = (
                e.width_ms(),
                e.to_server_time(now.wall),
                e.to_local_time(now.wall),
            );
            let _ = e.server_time_bounds(now.wall);
        }
    }
}

/// The simulated host and server (see the module docs).
struct World {
    tau: i64,
    shift: i64,
    paused: i64,
    unseen: bool,
    theta0: i64,
    rho: i64,
}

impl World {
    fn now(&self) -> Reading {
        Reading {
            wall: UnixMillis(T0 + self.tau + self.shift),
            mono: MonoMillis(M0 + self.tau - self.paused),
        }
    }
    fn server_at(&self, tau: i64) -> i64 {
        T0 + self.theta0 + tau + (self.rho * tau).div_euclid(1_000_000)
    }
    fn offset(&self) -> i64 {
        self.server_at(self.tau) - self.now().wall.0
    }
    fn date(&mut self, rtt: i64, read_permille: i64) -> Option<Sample> {
        let sent = self.now();
        let read = rtt * read_permille / 1_000;
        let date = self.server_at(self.tau + read).div_euclid(1_000) * 1_000;
        self.tau += rtt;
        let r = Sample::from_date_header(UnixMillis(date), sent, self.now());
        if super::trace::on() {
            let mut op = json!({"op": "date", "date_ms": date, "resolution_ms": 1_000,
                "sent": super::trace::reading(sent), "received": super::trace::reading(self.now()),
                "date": date_header(date)});
            if op["date"].is_null() {
                op["core_only"] = json!("no Date header text has this server time");
            }
            trace_sample(op, &r);
        }
        r.ok()
    }
}

/// Keeps the simulated time within ~100 years of T0 (inputs can be long).
const MAX_TAU: i64 = 3_000_000_000_000;

fn honest(input: SkewInput, mut u: Unstructured<'_>) {
    let drift_ppm = input.drift_ppm.clamp(200, 100_000);
    let mut est = SkewEstimator::with_config(SkewConfig {
        drift_ppm,
        max_samples: usize::from(input.max_samples % 64).max(1),
    });
    super::trace::op(|| {
        json!({"op": "setup", "world": "honest", "drift_ppm": drift_ppm,
            "max_samples": usize::from(input.max_samples % 64).max(1)})
    });
    let mut w = World {
        tau: 0,
        shift: 0,
        paused: 0,
        unseen: false,
        theta0: input.theta0 % 86_400_000,
        rho: i64::from(input.rho) % 200,
    };
    let mut steps = 0;
    while !u.is_empty() && w.tau < MAX_TAU && steps < 512 {
        steps += 1;
        let Ok(op) = HonestOp::arbitrary(&mut u) else {
            return;
        };
        if std::env::var_os("TC_FUZZ_DEBUG").is_some() {
            eprintln!(
                "op {op:?} at tau {} shift {} paused {}",
                w.tau, w.shift, w.paused
            );
        }
        let gap = |g: u32| i64::from(g % 900_000);
        // Two discontinuities with no reading between them are indistinguishable from their
        // sum, so the host reads its clocks between any two (properties.rs, `apply`).
        let jump = matches!(op, HonestOp::Step { .. } | HonestOp::Suspend { .. });
        if w.unseen && jump {
            let d = est.observe(w.now());
            trace_observe(w.now(), d);
        }
        w.unseen = jump;
        match op {
            HonestOp::Date { gap: g, rtt, read } => {
                w.tau += gap(g);
                let s = w.date(i64::from(rtt % 3_000), i64::from(read % 1_001));
                est.add(s.expect("honest Date sample"));
            }
            HonestOp::Iat { gap: g, age } => {
                w.tau += gap(g);
                let age = i64::from(age % 7_200_000);
                let iat = w.server_at(w.tau - age).div_euclid(1_000) * 1_000;
                let r = Sample::from_iat(iat, w.now());
                trace_sample(
                    json!({"op": "iat", "iat_ms": iat, "at": super::trace::reading(w.now())}),
                    &r,
                );
                if let Ok(s) = r {
                    est.add(s);
                }
            }
            HonestOp::Sntp {
                gap: g,
                delay_us,
                err,
            } => {
                w.tau += gap(g);
                let delay_us = i64::from(delay_us % 400_000);
                let err = i64::from(err % 1_001);
                let reply = SntpReply {
                    offset_us: w.offset() * 1_000 + delay_us / 2 * err / 1_000,
                    delay_us,
                    stratum: 2,
                    leap: Leap::NoWarning,
                    version: 4,
                    server_transmit: UnixMillis(w.server_at(w.tau)),
                };
                let r = Sample::from_sntp(&reply, w.now());
                trace_sntp(&reply, w.now(), &r);
                est.add(r.expect("honest SNTP sample"));
            }
            HonestOp::Step { gap: g, by } => {
                // SPEC's premise: the host reads its clocks between two jumps. Without a reading
                // in between, a step and a suspend can cancel out on the two clocks (a −1.0 s
                // step plus a 1.08 s suspend nets 80 ms) and no one can see it.
                let d = est.observe(w.now());
                trace_observe(w.now(), d);
                // Known finding fuzz-skew-601d17aaab16: a sample completed in the same
                // monotonic millisecond as the reading before a step counts as before it.
                w.tau += if super::avoid_known() {
                    gap(g).max(1)
                } else {
                    gap(g)
                };
                let by = i64::from(by) % 86_400_000;
                w.shift += if by < 0 {
                    by.min(-1_001)
                } else {
                    by.max(1_001)
                };
            }
            HonestOp::Observe { gap: g } => {
                w.tau += gap(g);
                let d = est.observe(w.now());
                trace_observe(w.now(), d);
            }
            HonestOp::Suspend { gap: g, dur } => {
                let d = est.observe(w.now());
                trace_observe(w.now(), d);
                let dur = i64::from(dur % 86_400_000).max(1_001);
                w.tau += gap(g) + dur;
                w.paused += dur;
            }
            HonestOp::Probe { rtt, read, target } => {
                let rtt = i64::from(rtt % 3_000);
                let p = est.next_date_probe(w.now(), rtt, i64::from(target));
                trace_probe(
                    w.now(),
                    rtt,
                    i64::from(target),
                    p.as_ref().map(|p| p.wait_ms),
                );
                if let Some(p) = p {
                    assert!((0..1_000).contains(&p.wait_ms), "probe {p:?}");
                    w.tau += p.wait_ms;
                }
                let s = w.date(rtt, i64::from(read % 1_001));
                est.add(s.expect("honest Date sample"));
            }
        }
        let e = est.estimate(w.now());
        trace_estimate(w.now(), &e, Some(w.offset()));
        check_shape(&e, &est);
        assert!(
            contains(&e, w.offset()),
            "{e:?} misses the true offset {} at {:?} ({steps} steps)",
            w.offset(),
            w.now()
        );
    }
    w.tau += 7_200_000;
    let e = est.estimate(w.now());
    trace_estimate(w.now(), &e, Some(w.offset()));
    assert!(
        contains(&e, w.offset()),
        "later: {e:?} misses the true offset {}",
        w.offset()
    );
}
