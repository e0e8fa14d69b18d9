//! Property tests of the skew estimator and the expiry decision (SPEC "Skew estimation",
//! "Token lifetime and the expiry decision").
//!
//! The simulated world: a true timeline `tau` (ms); our monotonic clock reads
//! `M0 + tau − paused` (it stands still while the machine is suspended); our
//! wall clock reads `T0 + tau + shift`, where `shift` changes only by explicit wall steps; the
//! server's clock reads `T0 + theta0 + tau + floor(rho·tau / 1e6)` with a true drift `rho`
//! strictly below the estimator's 200 ppm bound. The true offset at `tau` is therefore
//! `server(tau) − wall(tau)`, and every sample below is honest about it.
//!
//! * (a) `usable_token_is_valid_on_server_for_margin`: whenever `state()` says fresh or stale,
//!   `exp − (now.wall + θ) ≥ margin` for every θ in the estimate's interval and for the true
//!   offset.
//! * (b) `honest_samples_contain_true_offset`: Date headers (random phases and RTTs), iat lower
//!   bounds from possibly cached tokens, SNTP-like two-sided samples, drift, detected wall
//!   steps: the interval always contains the true offset;
//!   `honest_samples_contain_true_offset_across_suspends`: the same with suspends too (so
//!   discontinuities resolve both ways), without drift.
//! * (c) `probed_date_headers_converge`: ten Date headers sent when `next_date_probe` says
//!   narrow the interval to at most RTT + 50 ms.
//!
//! After them, regression tests for behaviour of skew.rs that contradicts SPEC or the ground
//! rules (each fails until skew.rs is fixed; see each test's comment), and no-panic properties
//! over arbitrary inputs.

use proptest::prelude::*;
use tokenclock::lifetime::{Lifetime, LifetimePolicy, Margin, NotBefore, RefreshAt, TokenTimes};
use tokenclock::rng::SplitMix64;
use tokenclock::skew::{Estimate, Sample, SkewConfig, SkewEstimator};
use tokenclock::sntp::{Leap, SntpReply};
use tokenclock::time::{MonoMillis, Reading, UnixMillis, MAX_MONO_MILLIS, MAX_UNIX_MILLIS};

const T0: i64 = 1_700_000_000_000;
const M0: i64 = 5_000_000;

fn r(wall: i64, mono: i64) -> Reading {
    Reading {
        wall: UnixMillis(wall),
        mono: MonoMillis(mono),
    }
}

fn contains(e: &Estimate, theta: i64) -> bool {
    e.low_ms.is_none_or(|l| l <= theta) && e.high_ms.is_none_or(|h| theta <= h)
}

/// The simulated host and server (see the module doc).
#[derive(Debug, Clone)]
struct World {
    tau: i64,
    shift: i64,
    paused: i64,
    /// A step or suspend happened that the estimator has not seen a reading after.
    unseen: bool,
    theta0: i64,
    rho_ppm: i64,
}

impl World {
    fn new(theta0: i64, rho_ppm: i64) -> Self {
        World {
            tau: 0,
            shift: 0,
            paused: 0,
            unseen: false,
            theta0,
            rho_ppm,
        }
    }
    fn now(&self) -> Reading {
        r(T0 + self.tau + self.shift, M0 + self.tau - self.paused)
    }
    fn server_at(&self, tau: i64) -> i64 {
        T0 + self.theta0 + tau + (self.rho_ppm * tau).div_euclid(1_000_000)
    }
    fn offset(&self) -> i64 {
        self.server_at(self.tau) - self.now().wall.0
    }
    /// One Date-header exchange: sent now, the server reads its clock `read` ms later, the
    /// response arrives `rtt` ms after sending. Returns the sample and the readings.
    fn date(&mut self, rtt: i64, read: i64) -> (Sample, Reading, Reading) {
        let sent = self.now();
        let date = self.server_at(self.tau + read).div_euclid(1_000) * 1_000;
        self.tau += rtt;
        let received = self.now();
        let s =
            Sample::from_date_header(UnixMillis(date), sent, received).expect("honest Date sample");
        (s, sent, received)
    }
}

/// Case count; failures are not persisted to a file (the seed is in the failure message).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Scales `frac` ‰ of `of`.
fn part(of: i64, frac: u16) -> i64 {
    of * i64::from(frac) / 1_000
}

// ---------------------------------------------------------------------------------------------
// (a) a usable token is valid on the server's clock for at least the margin
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn usable_token_is_valid_on_server_for_margin(
        theta0 in -3_600_000i64..3_600_000,
        rho in -199i64..=199,
        dates in prop::collection::vec((0i64..120_000, 0i64..3_000, 0u16..=1_000), 1..8),
        token_rtt in 0i64..3_000,
        token_read in 0u16..=1_000,
        expires_in_s in 1i64..7_200,
        with_expires_in in any::<bool>(),
        checks in prop::collection::vec((0u16..=1_300, prop::option::of((1_001i64..600_000, any::<bool>()))), 1..12),
        seed in any::<u64>(),
    ) {
        let mut w = World::new(theta0, rho);
        let mut est = SkewEstimator::new();
        for (gap, rtt, read) in dates {
            w.tau += gap;
            let (s, _, _) = w.date(rtt, part(rtt, read));
            est.add(s);
        }
        // The token: the server stamps iat/exp with its own clock when it answers.
        w.tau += 1_000;
        let sent = w.now();
        let issued = w.server_at(w.tau + part(token_rtt, token_read));
        w.tau += token_rtt;
        let received = w.now();
        est.observe(received);
        let iat = issued.div_euclid(1_000) * 1_000;
        let lifetime_ms = expires_in_s * 1_000;
        let times = TokenTimes {
            expires_in_ms: with_expires_in.then_some(lifetime_ms),
            exp_ms: Some(iat + lifetime_ms),
            nbf_ms: None,
            iat_ms: Some(iat),
        };
        let policy = LifetimePolicy::default();
        let lt = Lifetime::new(&times, sent, received, &est.estimate(received), &policy, &mut SplitMix64::new(seed))
            .expect("valid token");
        let exp = iat + lifetime_ms;
        let start = w.tau;
        let mut last = start;
        for (frac, step) in checks {
            // Random later readings (monotonically increasing true time), sometimes after a
            // wall step that the estimator then observes.
            let target = start + part(lifetime_ms, frac);
            w.tau = target.max(last);
            last = w.tau;
            if let Some((s, back)) = step {
                w.shift += if back { -s } else { s };
                est.observe(w.now());
            }
            let now = w.now();
            let server = est.estimate(now);
            prop_assert!(contains(&server, w.offset()), "estimate {server:?} misses the true offset {}", w.offset());
            let st = lt.state(now, &server, &policy);
            if st.is_usable() {
                let (Some(low), Some(high)) = (server.low_ms, server.high_ms) else {
                    return Err(TestCaseError::fail(format!("usable with an unbounded estimate {server:?}")));
                };
                for theta in [low, high, server.offset_ms, w.offset()] {
                    let left = exp - (now.wall.0 + theta);
                    prop_assert!(
                        left >= lt.margin_ms,
                        "{st:?} at {now:?} but with offset {theta} the server has only {left} ms (< margin {}) before exp",
                        lt.margin_ms
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) honest samples: the interval always contains the true offset
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Ev {
    /// A Date exchange after `gap`: RTT and the server's read instant (‰ of RTT).
    Date { gap: i64, rtt: i64, read: u16 },
    /// A token minted `age` ms before the response (cached by the issuer), iat in whole seconds.
    Iat { gap: i64, age: i64 },
    /// An SNTP reply: delay δ (µs) and an error of `err` ‰ of δ/2.
    Sntp { gap: i64, delay_us: i64, err: i16 },
    /// The local wall clock steps by `by` (|by| > 1 s, so it is a discontinuity per SPEC).
    Step { gap: i64, by: i64 },
    /// The host reports a reading.
    Observe { gap: i64 },
    /// The machine sleeps `dur` ms: real time and the wall clock move on, the monotonic clock
    /// stands still.
    Suspend { gap: i64, dur: i64 },
}

fn ev() -> impl Strategy<Value = Ev> {
    let gap = 0i64..900_000;
    prop_oneof![
        5 => (gap.clone(), 0i64..3_000, 0u16..=1_000).prop_map(|(gap, rtt, read)| Ev::Date { gap, rtt, read }),
        2 => (gap.clone(), 0i64..7_200_000).prop_map(|(gap, age)| Ev::Iat { gap, age }),
        2 => (gap.clone(), 0i64..400_000, -1_000i16..=1_000).prop_map(|(gap, delay_us, err)| Ev::Sntp { gap, delay_us, err }),
        1 => (gap.clone(), 1_001i64..86_400_000, any::<bool>())
            .prop_map(|(gap, by, back)| Ev::Step { gap, by: if back { -by } else { by } }),
        1 => gap.prop_map(|gap| Ev::Observe { gap }),
    ]
}

/// Applies one simulated event to the world and the estimator.
///
/// Two discontinuities with no reading between them are indistinguishable from their sum (a
/// 1080 ms suspend followed by a 1001 ms step back nets 79 ms, below the threshold, while the
/// offset moved 1001 ms), so the host is assumed to read its clocks between any two of them;
/// a discontinuity may still be first seen by `estimate` (pending) or by the next sample.
fn apply(w: &mut World, est: &mut SkewEstimator, e: Ev) {
    if w.unseen && matches!(e, Ev::Step { .. } | Ev::Suspend { .. }) {
        est.observe(w.now());
    }
    w.unseen = matches!(e, Ev::Step { .. } | Ev::Suspend { .. });
    match e {
        Ev::Date { gap, rtt, read } => {
            w.tau += gap;
            let (s, _, _) = w.date(rtt, part(rtt, read));
            est.add(s);
        }
        Ev::Iat { gap, age } => {
            w.tau += gap;
            let iat = w.server_at(w.tau - age).div_euclid(1_000) * 1_000;
            est.add(Sample::from_iat(iat, w.now()).expect("iat sample"));
        }
        Ev::Sntp { gap, delay_us, err } => {
            w.tau += gap;
            let reply = SntpReply {
                offset_us: w.offset() * 1_000 + delay_us / 2 * i64::from(err) / 1_000,
                delay_us,
                stratum: 2,
                leap: Leap::NoWarning,
                version: 4,
                server_transmit: UnixMillis(w.server_at(w.tau)),
            };
            est.add(Sample::from_sntp(&reply, w.now()).expect("sntp sample"));
        }
        Ev::Step { gap, by } => {
            w.tau += gap;
            w.shift += by;
        }
        Ev::Observe { gap } => {
            w.tau += gap;
            est.observe(w.now());
        }
        Ev::Suspend { gap, dur } => {
            w.tau += gap + dur;
            w.paused += dur;
        }
    }
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn honest_samples_contain_true_offset(
        theta0 in -86_400_000i64..86_400_000,
        rho in -199i64..=199,
        events in prop::collection::vec(ev(), 1..30),
        later in 0i64..7_200_000,
    ) {
        let mut w = World::new(theta0, rho);
        let mut est = SkewEstimator::new();
        for e in events {
            apply(&mut w, &mut est, e);
            let e = est.estimate(w.now());
            prop_assert!(contains(&e, w.offset()), "{e:?} misses the true offset {} at {:?}", w.offset(), w.now());
        }
        w.tau += later;
        let e = est.estimate(w.now());
        prop_assert!(contains(&e, w.offset()), "later: {e:?} misses the true offset {}", w.offset());
    }

    /// The same with suspends as well as wall steps, so that discontinuities are resolved both
    /// ways. True drift is 0 here: drift across a suspend is not covered by skew.rs yet (see
    /// `suspend_keeps_drift_covered`).
    #[test]
    fn honest_samples_contain_true_offset_across_suspends(
        theta0 in -86_400_000i64..86_400_000,
        events in prop::collection::vec(prop_oneof![
            4 => ev(),
            1 => (0i64..900_000, 1_001i64..86_400_000).prop_map(|(gap, dur)| Ev::Suspend { gap, dur }),
        ], 1..30),
        later in 0i64..7_200_000,
    ) {
        let mut w = World::new(theta0, 0);
        let mut est = SkewEstimator::new();
        for e in events {
            apply(&mut w, &mut est, e);
            let e = est.estimate(w.now());
            prop_assert!(contains(&e, w.offset()), "{e:?} misses the true offset {} at {:?}", w.offset(), w.now());
        }
        w.tau += later;
        let e = est.estimate(w.now());
        prop_assert!(contains(&e, w.offset()), "later: {e:?} misses the true offset {}", w.offset());
    }
}

// ---------------------------------------------------------------------------------------------
// (c) probed Date headers converge to about one round trip
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// The issue says "at random phases"; with truly random send times, 10 one-second Date
    /// samples leave ~180 ms + RTT on average, so the design is that the core chooses the send
    /// instant (`next_date_probe`) and the host waits for it. Random here: the server's true
    /// offset, our starting sub-second phase, each exchange's RTT (≤ r) and the instant within
    /// it at which the server reads its clock, and the host's delay before asking again. The
    /// host passes the RTT bound `r` as the expected round trip.
    #[test]
    fn probed_date_headers_converge(
        theta0 in -3_600_000i64..3_600_000,
        rho in -199i64..=199,
        start_phase in 0i64..1_000,
        r_bound in 0i64..800,
        exchanges in prop::collection::vec((0u16..=1_000, 0u16..=1_000, 0i64..2_000), 10),
    ) {
        let mut w = World::new(theta0, rho);
        w.tau = start_phase;
        let mut est = SkewEstimator::new();
        let mut taken = 0;
        for (rtt_frac, read_frac, pause) in exchanges {
            let Some(probe) = est.next_date_probe(w.now(), r_bound, 0) else { break };
            prop_assert!((0..1_000).contains(&probe.wait_ms), "wait {}", probe.wait_ms);
            w.tau += probe.wait_ms;
            prop_assert_eq!(w.now(), probe.send_at);
            let rtt = part(r_bound, rtt_frac);
            let (s, _, _) = w.date(rtt, part(rtt, read_frac));
            est.add(s);
            taken += 1;
            w.tau += pause;
        }
        let e = est.estimate(w.now());
        prop_assert!(contains(&e, w.offset()), "{e:?} misses the true offset {}", w.offset());
        let width = e.width_ms().expect("bounded after Date samples");
        prop_assert!(width <= r_bound + 50, "after {taken} probes the width is {width} ms > r + 50 = {}", r_bound + 50);
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: behaviour that contradicts SPEC (each fails until the lead fixes skew.rs)
// ---------------------------------------------------------------------------------------------

/// SPEC: the estimate "widens old samples by a drift bound". Across a suspend the monotonic
/// clock stands still while real time (and the server's clock, and our RTC-backed wall clock)
/// moves on, so under the "monotonic paused" explanation a sample is as old as the *wall* time
/// elapsed. skew.rs measures the age on the monotonic clock only, so after a day asleep the
/// interval ignores up to 17.28 s of drift (200 ppm × 24 h) on the high side (and on both sides
/// once the jump resolves as a pause), and a token's exp check trusts a too-low `high`.
#[test]
fn suspend_keeps_drift_covered() {
    let mut e = SkewEstimator::new();
    e.add(Sample::manual(0, Some(0), r(T0, M0)).unwrap());
    let resumed = r(T0 + 86_400_000, M0 + 1_000);
    e.observe(resumed);
    let est = e.estimate(resumed);
    // A server running 200 ppm fast relative to our RTC is now 17.28 s ahead.
    assert!(
        est.high_ms.is_some_and(|h| h >= 17_280),
        "after a 24 h suspend: {est:?}"
    );

    // With more samples from before the suspend than after it, the unresolved jump leaves
    // the old samples in the majority, and their high side (no drift for the day) out-votes
    // an honest new sample showing the server 16 s ahead.
    let mut e = SkewEstimator::new();
    for k in 0..3 {
        e.add(Sample::manual(-5, Some(5), r(T0 + k, M0 + k)).unwrap());
    }
    e.observe(resumed);
    let now = resumed.advanced(1_000);
    e.add(Sample::manual(15_500, Some(16_500), now).unwrap());
    let est = e.estimate(now);
    assert!(
        contains(&est, 16_000),
        "drift during the suspend was ignored: {est:?}"
    );
}

/// SPEC: a Date sample bounds the offset *at the instant the server read its clock*, which may
/// be up to one RTT before `received`; skew.rs starts drift widening at `received`. With a slow
/// exchange (60 s, e.g. a large response whose headers were read late) and a server running
/// 199 ppm fast, the true offset at `received` is ~11 ms above the sample's `high`.
#[test]
fn date_sample_covers_drift_during_a_long_exchange() {
    let mut w = World::new(0, 199);
    // Our clock at a second boundary of the server's, so the server reads D + 999 at once.
    w.tau = 1_000 - (w.server_at(0) % 1_000) - 1;
    assert_eq!(w.server_at(w.tau) % 1_000, 999);
    let (s, _, received) = w.date(60_000, 0);
    let mut e = SkewEstimator::new();
    e.add(s);
    let est = e.estimate(received);
    assert!(
        contains(&est, w.offset()),
        "true offset {} outside {est:?}",
        w.offset()
    );
}

/// SPEC: the estimate tolerates a minority of false samples. skew.rs resolves a discontinuity
/// from whatever samples follow it, even a single one: one false sample right after a suspend
/// (a cache's stale Date header, here 120 s old, the length of the suspend) "proves" that the
/// wall clock stepped, every older sample is shifted by −120 s, and the honest samples that
/// follow are out-voted, 6 to 3, by the shifted ones.
#[test]
fn one_false_sample_cannot_resolve_a_discontinuity() {
    let mut e = SkewEstimator::with_config(SkewConfig {
        drift_ppm: 0,
        max_samples: 16,
    });
    for k in 0..5 {
        e.add(Sample::manual(-50, Some(50), r(T0 + k * 10_000, M0 + k * 10_000)).unwrap());
    }
    // Suspended for 120 s: wall +121 s, monotonic +1 s. The offset is unchanged (true: 0).
    let resumed = r(T0 + 40_000 + 121_000, M0 + 40_000 + 1_000);
    e.observe(resumed);
    e.add(Sample::manual(-120_300, Some(-119_700), resumed.advanced(100)).unwrap()); // false
    for k in 1..=3 {
        e.add(Sample::manual(-50, Some(50), resumed.advanced(100 + k * 1_000)).unwrap());
    }
    let est = e.estimate(resumed.advanced(5_000));
    assert!(
        contains(&est, 0),
        "1 false sample of 9 moved the estimate off the truth: {est:?}"
    );
}

/// A sample completed before a wall step but added after the step was observed (while the
/// estimator held no samples) must still cover both explanations (also a vector:
/// `skew-late-sample-widened`).
#[test]
fn late_sample_is_carried_across_an_earlier_jump() {
    let mut e = SkewEstimator::with_config(SkewConfig {
        drift_ppm: 0,
        max_samples: 16,
    });
    e.observe(r(T0, M0));
    e.observe(r(T0 + 60_000, M0 + 2_000)); // wall stepped 58 s forward (or a pause)
    e.add(Sample::manual(10, Some(20), r(T0 + 1_000, M0 + 1_000)).unwrap());
    let est = e.estimate(r(T0 + 60_000, M0 + 2_000));
    assert_eq!((est.low_ms, est.high_ms), (Some(10 - 58_000), Some(20)));
}

/// Never panic on any input (preamble): a large drift bound over a long age saturates the
/// bounds to ±i64::MAX, and the midpoint `l + (h - l) / 2` then overflows.
#[test]
fn huge_drift_bound_does_not_overflow() {
    let mut e = SkewEstimator::with_config(SkewConfig {
        drift_ppm: u32::MAX,
        max_samples: 16,
    });
    e.add(Sample::manual(0, Some(0), r(0, 0)).unwrap());
    let now = r(0, MAX_MONO_MILLIS);
    let est = e.estimate(now);
    assert!(est.low_ms.is_some() && est.high_ms.is_some());
    let _ = e.next_date_probe(now, 100, 50);
}

// ---------------------------------------------------------------------------------------------
// No panics on arbitrary inputs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Manual(i64, Option<i64>, i64, i64),
    Iat(i64, i64, i64),
    Date(i64, i64, i64, i64, i64),
    Observe(i64, i64),
    Estimate(i64, i64),
    Probe(i64, i64, i64, i64),
}

fn wall() -> impl Strategy<Value = i64> {
    prop_oneof![
        0..=MAX_UNIX_MILLIS,
        Just(0),
        Just(MAX_UNIX_MILLIS),
        T0 - 10_000_000..T0 + 10_000_000
    ]
}

fn mono() -> impl Strategy<Value = i64> {
    prop_oneof![
        0..=MAX_MONO_MILLIS,
        Just(0),
        Just(MAX_MONO_MILLIS),
        0i64..100_000_000
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let off = prop_oneof![any::<i64>(), -10_000_000_000_000i64..10_000_000_000_000];
    prop_oneof![
        (off.clone(), prop::option::of(off), wall(), mono())
            .prop_map(|(l, h, w, m)| Op::Manual(l, h, w, m)),
        (any::<i64>(), wall(), mono()).prop_map(|(i, w, m)| Op::Iat(i, w, m)),
        (wall(), wall(), mono(), wall(), mono())
            .prop_map(|(d, sw, sm, rw, rm)| Op::Date(d, sw, sm, rw, rm)),
        (wall(), mono()).prop_map(|(w, m)| Op::Observe(w, m)),
        (wall(), mono()).prop_map(|(w, m)| Op::Estimate(w, m)),
        (wall(), mono(), any::<i64>(), any::<i64>())
            .prop_map(|(w, m, rtt, t)| Op::Probe(w, m, rtt, t)),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn estimator_never_panics(
        drift_ppm in prop_oneof![any::<u32>(), 0u32..1_000],
        max_samples in 0usize..20,
        ops in prop::collection::vec(op(), 0..40),
    ) {
        let mut e = SkewEstimator::with_config(SkewConfig { drift_ppm, max_samples });
        for o in ops {
            match o {
                Op::Manual(l, h, w, m) => {
                    if let Ok(s) = Sample::manual(l, h, r(w, m)) {
                        e.add(s);
                    }
                }
                Op::Iat(i, w, m) => {
                    if let Ok(s) = Sample::from_iat(i, r(w, m)) {
                        e.add(s);
                    }
                }
                Op::Date(d, sw, sm, rw, rm) => {
                    if let Ok(s) = Sample::from_date_header(UnixMillis(d), r(sw, sm), r(rw, rm)) {
                        e.add(s);
                    }
                }
                Op::Observe(w, m) => {
                    let _ = e.observe(r(w, m));
                }
                Op::Estimate(w, m) => {
                    let est = e.estimate(r(w, m));
                    if let (Some(l), Some(h)) = (est.low_ms, est.high_ms) {
                        prop_assert!(l <= h && (l..=h).contains(&est.offset_ms), "{est:?}");
                    }
                }
                Op::Probe(w, m, rtt, t) => {
                    if let Some(p) = e.next_date_probe(r(w, m), rtt, t) {
                        prop_assert!((0..1_000).contains(&p.wait_ms));
                    }
                }
            }
        }
    }

    #[test]
    fn lifetime_never_panics(
        times in (prop::option::of(any::<i64>()), prop::option::of(any::<i64>()),
                  prop::option::of(any::<i64>()), prop::option::of(any::<i64>())),
        readings in (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        issuer in (any::<i64>(), prop::option::of(any::<i64>()), prop::option::of(any::<i64>())),
        margin in (any::<bool>(), any::<i64>()),
        refresh in (any::<bool>(), any::<f64>(), any::<f64>(), any::<i64>()),
        knobs in (any::<i64>(), any::<i64>(), any::<bool>()),
        checks in prop::collection::vec((any::<i64>(), any::<i64>(), any::<i64>(),
                                         prop::option::of(any::<i64>()), prop::option::of(any::<i64>())), 0..6),
        seed in any::<u64>(),
    ) {
        let times = TokenTimes { expires_in_ms: times.0, exp_ms: times.1, nbf_ms: times.2, iat_ms: times.3 };
        let policy = LifetimePolicy {
            margin: if margin.0 { Margin::TenthOfLifetime { cap_ms: margin.1 } } else { Margin::Fixed { ms: margin.1 } },
            refresh_at: if refresh.0 {
                RefreshAt::Fraction { low: refresh.1, high: refresh.2 }
            } else {
                RefreshAt::Before { ms: refresh.3 }
            },
            assumed_lifetime_ms: knobs.0,
            max_wait_ms: knobs.1,
            not_before: if knobs.2 { NotBefore::Nbf } else { NotBefore::NbfAndIat },
        };
        let issuer = Estimate { offset_ms: issuer.0, low_ms: issuer.1, high_ms: issuer.2, agreeing: 0, samples: 0 };
        let sent = r(readings.0, readings.1);
        let received = r(readings.2, readings.3);
        for pol in [policy, LifetimePolicy::default()] {
            if let Ok(lt) = Lifetime::new(&times, sent, received, &issuer, &pol, &mut SplitMix64::new(seed)) {
                prop_assert!(lt.margin_ms >= 0 && lt.lifetime_ms >= 0);
                for &(w, m, off, lo, hi) in &checks {
                    let server = Estimate { offset_ms: off, low_ms: lo, high_ms: hi, agreeing: 0, samples: 0 };
                    let _ = lt.state(r(w, m), &server, &pol);
                    let _ = lt.next_change_ms(r(w, m), &server, &pol);
                }
            }
        }
    }
}
