//! Unit-level `Session` behaviour that transcripts cannot state as plain data: the backoff
//! jitter's distribution over many seeds, redaction of every `Debug`/`Display`, argument
//! validation and the event log.

use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{
    Authorization, RefreshReason, Session, SessionConfig, SessionError, SessionEvent, Ticket,
    TransportFailure, Verdict,
};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::ErrorCode;

const T0: i64 = 1_700_000_000_000;
const M0: i64 = 7_000_000;
const SECRET: &str = "s3cret-value";
const ACCESS: &str = "opaque-access-token-4711";
const REFRESH: &str = "refresh-token-0815";

fn at(ms: i64) -> Reading {
    Reading {
        wall: UnixMillis(T0 + ms),
        mono: MonoMillis(M0 + ms),
    }
}

fn session(seed: u64) -> Session {
    let cfg = SessionConfig::new(
        "https://issuer.example/token",
        ClientAuth::SecretPost {
            client_id: "app".into(),
            client_secret: Secret::new(SECRET),
        },
        Grant::ClientCredentials {
            scope: Some("api.read".into()),
            extra: Vec::new(),
        },
    );
    Session::new(cfg, Box::new(SplitMix64::new(seed))).expect("valid config")
}

fn ticket(a: Authorization) -> Ticket {
    match a {
        Authorization::Refresh { ticket } | Authorization::ReadyAndRefresh { ticket, .. } => ticket,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

fn retry_at(e: &SessionError) -> i64 {
    match e {
        SessionError::TokenEndpoint {
            retry_at: Some(t), ..
        }
        | SessionError::Transport {
            retry_at: Some(t), ..
        } => t.0,
        other => panic!("no retry_at in {other:?}"),
    }
}

/// Fails the first `n - 1` attempts at once after each backoff, then returns the n-th delay.
fn nth_delay(seed: u64, n: u32) -> i64 {
    let mut s = session(seed);
    let mut now = 0;
    let mut delay = 0;
    for _ in 0..n {
        let t = ticket(s.authorize(at(now)));
        let e = s
            .fail_refresh(t.id, TransportFailure::Connect, at(now))
            .expect("open ticket");
        delay = retry_at(&e) - (T0 + now);
        now += delay;
    }
    delay
}

/// Full jitter (SPEC: base 1 s, cap 60 s): the n-th delay is uniform in [0, min(cap, base·2^(n-1))]
/// — not "equal jitter" (half fixed) and not a fixed delay.
#[test]
fn backoff_is_full_jitter_with_doubling_bound_and_cap() {
    for (n, bound) in [
        (1u32, 1_000i64),
        (2, 2_000),
        (3, 4_000),
        (6, 32_000),
        (7, 60_000),
        (12, 60_000),
    ] {
        let delays: Vec<i64> = (0..400).map(|seed| nth_delay(seed, n)).collect();
        let (min, max) = (*delays.iter().min().unwrap(), *delays.iter().max().unwrap());
        let mean = delays.iter().sum::<i64>() as f64 / delays.len() as f64;
        assert!(
            min >= 0 && max <= bound,
            "failure {n}: delays in [{min}, {max}], bound {bound}"
        );
        assert!(
            min < bound / 20,
            "failure {n}: smallest delay {min} (full jitter reaches 0)"
        );
        assert!(
            max > bound - bound / 20,
            "failure {n}: largest delay {max} (full jitter reaches the bound)"
        );
        assert!(
            (mean - bound as f64 / 2.0).abs() < bound as f64 * 0.08,
            "failure {n}: mean {mean}"
        );
    }
}

/// Retry-After is a floor on the jittered delay, never a replacement for it.
#[test]
fn retry_after_below_the_jitter_bound_is_a_floor() {
    let mut below_bound = 0;
    for seed in 0..200 {
        let mut s = session(seed);
        let t = ticket(s.authorize(at(0)));
        // Two failures first so the bound is 4 s; Retry-After says 1 s.
        let e = s
            .fail_refresh(t.id, TransportFailure::Connect, at(0))
            .unwrap();
        let now = retry_at(&e) - T0;
        let t = ticket(s.authorize(at(now)));
        let e = s
            .fail_refresh(t.id, TransportFailure::Timeout, at(now))
            .unwrap();
        let now = retry_at(&e) - T0;
        let t = ticket(s.authorize(at(now)));
        let e = s
            .complete_refresh(
                t.id,
                503,
                &[("Retry-After".into(), "1".into())],
                b"",
                at(now),
                at(now),
            )
            .unwrap_err();
        let d = retry_at(&e) - (T0 + now);
        assert!((1_000..=4_000).contains(&d), "seed {seed}: delay {d}");
        below_bound += i32::from(d > 1_000);
    }
    assert!(
        below_bound > 100,
        "the jitter above the floor is kept: {below_bound}/200"
    );
}

#[test]
fn nothing_prints_a_secret() {
    let mut s = session(1);
    let t = ticket(s.authorize(at(0)));
    let mut printed = vec![format!("{t:?}"), format!("{:?}", t.request)];
    let body =
        format!(r#"{{"access_token":"{ACCESS}","expires_in":100,"refresh_token":"{REFRESH}"}}"#);
    let id = s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(0), at(200))
        .unwrap();
    let a = s.authorize(at(300));
    match &a {
        Authorization::Ready { header, token_id } => {
            assert_eq!(
                (header.expose(), *token_id),
                (format!("Bearer {ACCESS}").as_str(), id)
            );
        }
        other => panic!("{other:?}"),
    }
    printed.push(format!("{a:?}"));
    // The next ticket carries the refresh token in its form: still redacted.
    let t2 = ticket(s.authorize(at(80_000)));
    assert_eq!(
        t2.request.form_value("refresh_token").map(|v| v.expose()),
        Some(REFRESH)
    );
    printed.push(format!("{t2:?}"));
    let e = s
        .complete_refresh(
            t2.id,
            401,
            &[],
            br#"{"error":"invalid_client"}"#,
            at(80_000),
            at(80_100),
        )
        .unwrap_err();
    printed.push(format!("{e:?}"));
    printed.push(e.to_string());
    printed.push(format!("{s:?}"));
    printed.push(format!("{:?}", s.stats()));
    while let Some(ev) = s.poll_event() {
        printed.push(format!("{ev:?}"));
    }
    for p in &printed {
        for secret in [SECRET, ACCESS, REFRESH] {
            assert!(!p.contains(secret), "{secret} printed in {p}");
        }
    }
}

/// `received` before `sent` is the host's bug: refused without closing the ticket.
#[test]
fn reading_order_is_checked_and_the_ticket_survives() {
    let mut s = session(1);
    let t = ticket(s.authorize(at(0)));
    let body = format!(r#"{{"access_token":"{ACCESS}","expires_in":100}}"#);
    let e = s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(500), at(400))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(s.refresh_in_flight());
    assert!(s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(0), at(200))
        .is_ok());
    assert!(!s.refresh_in_flight());
}

#[test]
fn events_tell_the_story() {
    let mut s = session(1);
    let t = ticket(s.authorize(at(0)));
    let body = format!(r#"{{"access_token":"{ACCESS}","expires_in":100}}"#);
    let id = s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(0), at(200))
        .unwrap();
    assert_eq!(
        s.on_response(id, 401, &[], at(1_000), at(1_100)),
        Verdict::Retry { wait_ms: 0 }
    );
    let events: Vec<SessionEvent> = std::iter::from_fn(|| s.poll_event()).collect();
    // Deadline sent + 100 s, margin 10 s: lifetime 100 s, usable 89.8 s from receipt.
    assert_eq!(
        events,
        vec![
            SessionEvent::TicketIssued {
                at: at(0),
                ticket: t.id,
                reason: RefreshReason::Initial
            },
            SessionEvent::TokenReceived {
                at: at(200),
                token: id,
                lifetime_ms: 100_000,
                usable_ms: 89_800
            },
            SessionEvent::Rejected {
                at: at(1_100),
                token: id,
                verdict: "retry"
            },
        ]
    );
}

/// `after_response`: the adapters' whole decision after an API response. A refusal is retried
/// only on a send that is not the last; the retry's refusal (after a fresh token) is handed
/// back; nothing here depends on the host comparing a status code.
#[test]
fn after_response_retries_once_and_only_when_the_request_can_be_sent_again() {
    use tokenclock::session::{AfterResponse, Attempt, Resend};
    let first = Attempt {
        number: 1,
        resend: Resend::Possible,
    };
    let body = format!(r#"{{"access_token":"{ACCESS}","expires_in":100}}"#);
    let mut s = session(1);
    let t = ticket(s.authorize(at(0)));
    let id = s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(0), at(200))
        .unwrap();
    assert_eq!(
        s.after_response(id, 200, &[], at(300), at(400), first),
        AfterResponse::Return
    );
    // A 401 on the first send: retry at once (the token is invalidated).
    let a = s.after_response(id, 401, &[], at(500), at(600), first);
    assert_eq!(a, AfterResponse::Retry { wait_ms: 0 });
    assert_eq!(a.as_str(), "retry");
    // The retry's 401 with a fresh token: handed back (nothing about time explains it).
    let t2 = ticket(s.authorize(at(700)));
    let body2 = format!(r#"{{"access_token":"{ACCESS}-2","expires_in":100}}"#);
    let id2 = s
        .complete_refresh(t2.id, 200, &[], body2.as_bytes(), at(700), at(800))
        .unwrap();
    let second = Attempt {
        number: 2,
        resend: Resend::Possible,
    };
    assert_eq!(
        s.after_response(id2, 401, &[], at(900), at(1_000), second),
        AfterResponse::ReturnRefusal
    );
    // A one-shot body: a first-send 401 that would be retried is handed back instead.
    let mut s = session(2);
    let t = ticket(s.authorize(at(0)));
    let id = s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(0), at(200))
        .unwrap();
    let only = Attempt {
        number: 1,
        resend: Resend::Impossible,
    };
    assert_eq!(
        s.after_response(id, 401, &[], at(300), at(400), only),
        AfterResponse::ReturnRefusal
    );
    assert_eq!(s.stats().unauthorized, 1);
}

/// Defaults every host reads from the session, and their validation.
#[test]
fn token_request_limits_are_session_config() {
    use tokenclock::oauth::MAX_RESPONSE_BODY_LEN;
    let mut s = session(1);
    assert_eq!(s.token_timeout_ms(), 10_000);
    assert_eq!(s.max_token_response_len(), MAX_RESPONSE_BODY_LEN);
    assert_eq!(s.refreshes_per_call(), 1);
    s.set_token_timeout_ms(2_500).unwrap();
    assert_eq!(s.token_timeout_ms(), 2_500);
    for bad in [0, -1, 600_001] {
        assert_eq!(
            s.set_token_timeout_ms(bad).unwrap_err().code(),
            "invalid_argument"
        );
    }
    assert_eq!(s.token_timeout_ms(), 2_500);
    // A lower body cap is enforced by the session: one byte over is `body_too_large`.
    let mut cfg = SessionConfig::new(
        "https://issuer.example/token",
        ClientAuth::SecretPost {
            client_id: "app".into(),
            client_secret: Secret::new(SECRET),
        },
        Grant::ClientCredentials {
            scope: None,
            extra: Vec::new(),
        },
    );
    cfg.max_token_response_len = 64;
    let mut s = Session::new(cfg, Box::new(SplitMix64::new(1))).unwrap();
    let t = ticket(s.authorize(at(0)));
    let body = format!(
        r#"{{"access_token":"{ACCESS}","expires_in":100,"x":"{}"}}"#,
        "a".repeat(40)
    );
    assert!(body.len() > 64);
    let e = s
        .complete_refresh(t.id, 200, &[], body.as_bytes(), at(0), at(200))
        .unwrap_err();
    assert_eq!(e.code(), "body_too_large");
}

/// Stable names round-trip through `FromStr`.
#[test]
fn stable_names_round_trip() {
    use tokenclock::session::{SkewFinding, WaitReason};
    for r in [
        WaitReason::RefreshInFlight,
        WaitReason::NotYetValid,
        WaitReason::Backoff,
    ] {
        assert_eq!(r.as_str().parse::<WaitReason>(), Ok(r));
    }
    for r in [
        RefreshReason::Initial,
        RefreshReason::Stale,
        RefreshReason::Expired,
        RefreshReason::Rejected,
        RefreshReason::Fallback,
        RefreshReason::Retry,
    ] {
        assert_eq!(r.as_str().parse::<RefreshReason>(), Ok(r));
    }
    for f in [
        SkewFinding::NotYetValid,
        SkewFinding::IssuedInFuture,
        SkewFinding::Expired,
    ] {
        assert_eq!(f.as_str().parse::<SkewFinding>(), Ok(f));
    }
    for t in [
        TransportFailure::Connect,
        TransportFailure::Timeout,
        TransportFailure::Aborted,
        TransportFailure::StoreUnavailable,
    ] {
        assert_eq!(t.as_str().parse::<TransportFailure>(), Ok(t));
    }
    assert!("nope".parse::<WaitReason>().is_err());
}
