//! `Session::ready_window` answers exactly what `authorize` answers: over random token times,
//! issuer and resource-server offsets, samples, refresh policies and later readings (including
//! clock steps and readings before the window), whenever the window covers a reading, a session
//! that saw the same inputs answers `authorize(reading)` with `Ready` and the window's token.
//! The test also counts how often windows exist and cover readings, so it cannot pass vacuously.

use tokenclock::httpdate::format_http_date;
use tokenclock::lifetime::{LifetimePolicy, RefreshAt};
use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{Authorization, Session, SessionConfig, TokenId};
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

/// A host's hot path over a session: the window's answer when it has one, else (after handing
/// the window back) the session's, which sets the next window. What the bindings do.
struct Host {
    session: Session,
    window: Option<tokenclock::session::ReadyWindow>,
    from_window: u32,
}

impl Host {
    fn new(session: Session) -> Host {
        Host {
            session,
            window: None,
            from_window: 0,
        }
    }

    /// Before any call on the session.
    fn enter(&mut self) -> &mut Session {
        if let Some(w) = self.window.take() {
            self.session.resume(&w);
        }
        &mut self.session
    }

    fn authorize_token(&mut self, now: Reading) -> Result<TokenId, String> {
        if let Some(id) = self.window.as_mut().and_then(|w| w.answer(now)) {
            self.from_window += 1;
            return Ok(id);
        }
        let s = self.enter();
        let a = s.authorize(now);
        let w = s.ready_window(now);
        match a {
            Authorization::Ready { token_id, .. } => {
                self.window = w;
                Ok(token_id)
            }
            other => Err(format!("{other:?}")),
        }
    }
}

fn answer_name(a: &Authorization) -> String {
    match a {
        Authorization::Ready { token_id, .. } => format!("ready {}", token_id.0),
        Authorization::ReadyAndRefresh { token_id, .. } => {
            format!("ready_and_refresh {}", token_id.0)
        }
        Authorization::Refresh { .. } => "refresh".into(),
        Authorization::Wait { reason, .. } => format!("wait {}", reason.as_str()),
        Authorization::Failed { error } => format!("failed {error}"),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_ready_window_answers_what_authorize_answers() {
    let (mut windows, mut from_window, mut steps) = (0u64, 0u64, 0u64);
    for seed in 0..600u64 {
        let w = World::new(seed);
        let (Some(a), Some(mut twin)) = (w.session(), w.session()) else {
            continue;
        };
        let mut host = Host::new(a);
        let mut r = SplitMix64::new(seed ^ 0x9e37_79b9);
        let (mut wall, mut mono) = (w.ask.wall.0, w.ask.mono.0);
        for k in 0..300 {
            let dm = match r.next_u64() % 6 {
                0 => range(&mut r, 0, 5),
                1 | 2 => range(&mut r, 1, 400),
                3 => range(&mut r, 400, 1_500),
                4 => range(&mut r, 1_000, 60_000),
                _ => range(&mut r, 0, 50),
            };
            mono += dm;
            wall += dm;
            match r.next_u64() % 40 {
                0 => wall += range(&mut r, -3_000, 3_000), // a clock step
                // Steps under the discontinuity threshold, zigzagging: each continuous with the
                // one before, not all with the window's start.
                1..=8 => {
                    let step = range(&mut r, 550, 950);
                    wall += if k % 2 == 0 { step } else { -step };
                }
                _ => {}
            }
            let now = at(wall.max(0), mono);
            steps += 1;
            let fast = host.authorize_token(now);
            let full = twin.authorize(now);
            match (&fast, &full) {
                (Ok(id), Authorization::Ready { token_id, .. }) => {
                    assert_eq!(id, token_id, "seed {seed} step {k}")
                }
                (Err(f), full) => assert_eq!(f, &format!("{full:?}"), "seed {seed} step {k}"),
                (Ok(_), full) => {
                    panic!("seed {seed} step {k}: ready from the host, {full:?} from the twin")
                }
            }
            if host.window.is_some() {
                windows += 1;
            }
            // Now and then a response to the request (a 401 among them): it reaches both.
            if let (Ok(id), true) = (&fast, r.next_u64() % 25 == 0) {
                let status = if r.next_u64() % 3 == 0 { 401 } else { 200 };
                let d = format_http_date(UnixMillis(wall + range(&mut r, -60_000, 60_000)));
                let h = vec![("Date".to_owned(), d)];
                let recv = at(wall + 5, mono + 5);
                let va = host.enter().on_response(*id, status, &h, now, recv);
                let vb = twin.on_response(*id, status, &h, now, recv);
                assert_eq!(va, vb, "seed {seed} step {k}");
                // As the bindings do after an accepted response: a window from its reading.
                if va == tokenclock::session::Verdict::Accept {
                    host.window = host.session.ready_window(recv);
                }
                wall += 5;
                mono += 5;
            }
            // A refresh the answer asked for: both get the same token.
            if let Authorization::Refresh { ticket }
            | Authorization::ReadyAndRefresh { ticket, .. } = &full
            {
                let t = ticket.id;
                let body = format!(
                    r#"{{"access_token":"{}","token_type":"Bearer","expires_in":600}}"#,
                    jwt(
                        Some(wall / 1_000),
                        Some(wall / 1_000),
                        Some(wall / 1_000 + 600)
                    )
                );
                let recv = at(wall + 30, mono + 30);
                let ra = host
                    .enter()
                    .complete_refresh(t, 200, &[], body.as_bytes(), now, recv);
                let rb = twin.complete_refresh(t, 200, &[], body.as_bytes(), now, recv);
                assert_eq!(ra, rb, "seed {seed} step {k}");
                wall += 30;
                mono += 30;
            }
        }
        // And the sessions end in the same state.
        let end = at(wall + 1, mono + 1);
        let s = host.enter();
        assert_eq!(s.stats(), twin.stats(), "seed {seed}");
        assert_eq!(s.estimates(end), twin.estimates(end), "seed {seed}");
        assert_eq!(s.next_timeout(end), twin.next_timeout(end), "seed {seed}");
        assert_eq!(
            answer_name(&s.authorize(end)),
            answer_name(&twin.authorize(end)),
            "seed {seed}"
        );
        from_window += u64::from(host.from_window);
    }
    // Not vacuous: most answers came from windows.
    assert!(windows > 20_000, "windows {windows} of {steps}");
    assert!(
        from_window > steps / 3,
        "from the window {from_window} of {steps}"
    );
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
