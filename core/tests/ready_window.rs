//! `Session::ready_window` answers exactly what `authorize` answers: over random token times,
//! issuer and resource-server offsets, samples, refresh policies and later readings (including
//! clock steps and readings before the window), whenever the window covers a reading, a session
//! that saw the same inputs answers `authorize(reading)` with `Ready` and the window's token.
//! The test also counts how often windows exist and cover readings, so it cannot pass vacuously.

use tokenclock::httpdate::format_http_date;
use tokenclock::lifetime::{LifetimePolicy, RefreshAt};
use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{Authorization, Session, SessionConfig, MAX_READY_WINDOW_MS};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::RngCore;

const T0: i64 = 1_767_225_600_000;
const M0: i64 = 50_000_000;

fn jwt(iat_s: Option<i64>, nbf_s: Option<i64>, exp_s: Option<i64>) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut claims = vec![r#""sub":"c""#.to_owned()];
    for (k, v) in [("iat", iat_s), ("nbf", nbf_s), ("exp", exp_s)] {
        if let Some(v) = v {
            claims.push(format!(r#""{k}":{v}"#));
        }
    }
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!("{{{}}}", claims.join(",")))
    )
}

fn at(wall: i64, mono: i64) -> Reading {
    Reading {
        wall: UnixMillis(wall),
        mono: MonoMillis(mono),
    }
}

fn range(rng: &mut SplitMix64, lo: i64, hi: i64) -> i64 {
    lo + (rng.next_u64() % (hi - lo + 1) as u64) as i64
}

/// One random world: the inputs a session sees, replayable onto fresh sessions.
struct World {
    seed: u64,
    policy: LifetimePolicy,
    token_body: String,
    issuer_date: Option<i64>,
    rtt: i64,
    /// Resource-server responses: (sent, received, its Date).
    responses: Vec<(Reading, Reading, i64)>,
    /// The reading `authorize` and `ready_window` are asked at.
    ask: Reading,
}

impl World {
    fn new(seed: u64) -> World {
        let mut r = SplitMix64::new(seed);
        let lifetime_s = range(&mut r, 5, 7_200);
        let issuer_offset = range(&mut r, -300_000, 300_000);
        let issued = T0 + issuer_offset;
        let iat = (r.next_u64() % 4 != 0).then_some(issued / 1_000);
        let nbf = match r.next_u64() % 4 {
            0 => None,
            1 => Some(issued / 1_000 + range(&mut r, 0, 3)),
            _ => Some(issued / 1_000),
        };
        let exp = (r.next_u64() % 5 != 0).then_some(issued / 1_000 + lifetime_s);
        let expires_in = (r.next_u64() % 3 != 0).then_some(lifetime_s);
        let mut body = format!(
            r#"{{"access_token":"{}","token_type":"Bearer""#,
            jwt(iat, nbf, exp)
        );
        if let Some(e) = expires_in {
            body.push_str(&format!(r#","expires_in":{e}"#));
        }
        body.push('}');
        let mut policy = LifetimePolicy::default();
        if r.next_u64() % 2 == 0 {
            policy.refresh_at = RefreshAt::Fraction {
                low: 0.5,
                high: 0.95,
            };
        }
        let rtt = range(&mut r, 1, 400);
        let issuer_date = (r.next_u64() % 2 == 0).then_some(T0 + issuer_offset);
        let rs_offset = match r.next_u64() % 3 {
            0 => issuer_offset,
            1 => range(&mut r, -120_000, 120_000),
            _ => range(&mut r, -5_000, 5_000),
        };
        let mut responses = Vec::new();
        let mut t = T0 + rtt + 10;
        for _ in 0..(r.next_u64() % 4) {
            t += range(&mut r, 1, 60_000);
            let d = range(&mut r, 1, 300);
            responses.push((
                at(t, M0 + (t - T0)),
                at(t + d, M0 + (t + d - T0)),
                t + d / 2 + rs_offset,
            ));
            t += d;
        }
        let span = (lifetime_s * 1_000).max(1);
        let ask_t = t + range(&mut r, 0, span);
        World {
            seed,
            policy,
            token_body: body,
            issuer_date,
            rtt,
            responses,
            ask: at(ask_t, M0 + (ask_t - T0)),
        }
    }

    /// A session that saw every input up to the ask (not the ask itself).
    fn session(&self) -> Option<Session> {
        let mut config = SessionConfig::new(
            "https://issuer.example/token",
            ClientAuth::SecretBasic {
                client_id: "c".into(),
                client_secret: Secret::new("s"),
            },
            Grant::ClientCredentials {
                scope: None,
                extra: Vec::new(),
            },
        );
        config.policy = self.policy;
        let mut s = Session::new(config, Box::new(SplitMix64::new(self.seed))).ok()?;
        let sent = at(T0, M0);
        let Authorization::Refresh { ticket } = s.authorize(sent) else {
            return None;
        };
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if let Some(d) = self.issuer_date {
            headers.push(("Date".to_owned(), format_http_date(UnixMillis(d))));
        }
        let received = at(T0 + self.rtt, M0 + self.rtt);
        let token = s
            .complete_refresh(
                ticket.id,
                200,
                &headers,
                self.token_body.as_bytes(),
                sent,
                received,
            )
            .ok()?;
        for &(sent, received, date) in &self.responses {
            let h = vec![("Date".to_owned(), format_http_date(UnixMillis(date)))];
            let _ = s.on_response(token, 200, &h, sent, received);
        }
        Some(s)
    }
}

#[test]
fn a_ready_window_answers_what_authorize_answers() {
    let (mut windows, mut covered, mut checked) = (0u32, 0u32, 0u32);
    for seed in 0..3_000u64 {
        let w = World::new(seed);
        let Some(mut s) = w.session() else { continue };
        let answer = s.authorize(w.ask);
        let Some(win) = s.ready_window(w.ask) else {
            continue;
        };
        windows += 1;
        match answer {
            Authorization::Ready { token_id, .. } => assert_eq!(token_id, win.token, "seed {seed}"),
            other => panic!("seed {seed}: a window after {other:?}"),
        }
        assert!(win.covers(w.ask), "seed {seed}: the window covers its start");
        let mut r = SplitMix64::new(seed ^ 0x9e37_79b9);
        for k in 0..12 {
            let dm = range(&mut r, -50, MAX_READY_WINDOW_MS + 200);
            let dw = match k % 4 {
                0 => dm + range(&mut r, -3_000, 3_000), // a clock step, mostly
                1 => dm + range(&mut r, -900, 900),     // within the discontinuity threshold
                _ => dm,
            };
            let now = at(w.ask.wall.0 + dw, w.ask.mono.0 + dm);
            if !win.covers(now) {
                continue;
            }
            covered += 1;
            let mut fresh = w.session().expect("replays");
            let _ = fresh.authorize(w.ask);
            match fresh.authorize(now) {
                Authorization::Ready { token_id, .. } => {
                    assert_eq!(token_id, win.token, "seed {seed} k {k}");
                    checked += 1;
                }
                other => panic!("seed {seed} k {k}: covered, but authorize answered {other:?}"),
            }
        }
    }
    // Not vacuous: windows are common and cover most readings inside them.
    assert!(windows > 1_000, "windows {windows}");
    assert!(covered > 5_000 && checked == covered, "covered {covered}, checked {checked}");
}

#[test]
fn no_window_when_the_answer_is_not_plainly_ready() {
    // No token: no window.
    let w = World::new(1);
    let config = SessionConfig::new(
        "https://issuer.example/token",
        ClientAuth::SecretBasic {
            client_id: "c".into(),
            client_secret: Secret::new("s"),
        },
        Grant::ClientCredentials {
            scope: None,
            extra: Vec::new(),
        },
    );
    let mut s = Session::new(config, Box::new(SplitMix64::new(1))).unwrap();
    let now = at(T0, M0);
    let _ = s.authorize(now);
    assert_eq!(s.ready_window(now), None);
    // A reading other than the latest the session saw: no window.
    let mut s = w.session().unwrap();
    let _ = s.authorize(w.ask);
    assert_eq!(s.ready_window(at(w.ask.wall.0 + 1, w.ask.mono.0 + 1)), None);
    // Past the refresh time (stale): no window.
    let mut s = w.session().unwrap();
    let late = at(w.ask.wall.0 + 86_400_000, w.ask.mono.0 + 86_400_000);
    let _ = s.authorize(late);
    assert_eq!(s.ready_window(late), None);
}
