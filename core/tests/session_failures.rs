//! Token-endpoint failure policy of `Session` (SPEC "Failure classes and who decides"): one odd
//! answer never ends a session for good. Transient failures (any HTTP error without an OAuth
//! `error`, any malformed response) back off with full jitter; configuration errors fail
//! callers fast and are retried after `config_retry_ms`; only a refused refresh token (or
//! authorization code) with nothing to fall back to needs a new authorization.

use proptest::prelude::*;
use tokenclock::oauth::{ClientAuth, ErrorClass, Grant, Secret};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{
    Authorization, BackoffPolicy, RefreshReason, Session, SessionConfig, SessionError,
    SessionEvent, Ticket, WaitReason,
};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};
use tokenclock::ErrorCode;

const T0: i64 = 1_700_000_000_000;
const M0: i64 = 7_000_000;
const TOKEN: &[u8] = br#"{"access_token":"opaque-1","token_type":"Bearer","expires_in":100}"#;
const TOKEN_2: &[u8] = br#"{"access_token":"opaque-2","token_type":"Bearer","expires_in":100}"#;

fn at(ms: i64) -> Reading {
    Reading {
        wall: UnixMillis(T0 + ms),
        mono: MonoMillis(M0 + ms),
    }
}

fn config(grant: Grant) -> SessionConfig {
    SessionConfig::new(
        "https://issuer.example/token",
        ClientAuth::SecretPost {
            client_id: "app".into(),
            client_secret: Secret::new("s3cret"),
        },
        grant,
    )
}

fn cc() -> Grant {
    Grant::ClientCredentials {
        scope: Some("api.read".into()),
        extra: Vec::new(),
    }
}

fn session_with(cfg: SessionConfig) -> Session {
    Session::new(cfg, Box::new(SplitMix64::new(7))).expect("valid config")
}

fn session() -> Session {
    session_with(config(cc()))
}

fn ticket(a: Authorization) -> Ticket {
    match a {
        Authorization::Refresh { ticket } | Authorization::ReadyAndRefresh { ticket, .. } => ticket,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

fn retry_in(e: &SessionError, now: i64) -> i64 {
    e.retry_at().expect("a retry time").0 - (T0 + now)
}

fn respond(
    s: &mut Session,
    t: &Ticket,
    now: i64,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), SessionError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s.complete_refresh(t.id, status, &headers, body, at(now - 100), at(now))
        .map(|_| ())
}

/// The HTML 403 a WAF puts in front of a token endpoint, once: a transient failure with full
/// jitter (first bound: base 1 s), then the next ticket gets the token.
#[test]
fn html_403_backs_off_and_recovers() {
    let mut s = session();
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(
        &mut s,
        &t1,
        200,
        403,
        &[("Content-Type", "text/html")],
        b"<html>Forbidden</html>",
    )
    .unwrap_err();
    assert_eq!(e.code(), "http_error");
    assert_eq!(e.class(), Some(ErrorClass::Transient));
    let delay = retry_in(&e, 200);
    assert!((0..=1_000).contains(&delay), "{delay}");
    // Callers within max_wait of the end wait for it, never fail for good.
    match s.authorize(at(200)) {
        Authorization::Wait {
            reason: WaitReason::Backoff,
            ..
        } => {}
        Authorization::Refresh { .. } if delay == 0 => {}
        other => panic!("{other:?}"),
    }
    let t2 = ticket(s.authorize(at(200 + delay)));
    assert_eq!(t2.reason, RefreshReason::Retry);
    respond(&mut s, &t2, 400 + delay, 200, &[], TOKEN).expect("token");
    assert!(matches!(
        s.authorize(at(500 + delay)),
        Authorization::Ready { .. }
    ));
}

/// Redirects, 404s and malformed successes (no access_token, a DPoP-bound token) are
/// transient too: every one of them is followed by a backoff within the first jitter bound.
#[test]
fn redirects_404s_and_malformed_successes_are_transient() {
    let cases: [(u16, &[u8], &str); 5] = [
        (301, b"", "http_error"),
        (404, b"<html>Not Found</html>", "http_error"),
        (
            200,
            br#"{"token_type":"Bearer","expires_in":60}"#,
            "missing_access_token",
        ),
        (
            200,
            br#"{"access_token":"a","token_type":"DPoP"}"#,
            "unsupported_token_type",
        ),
        (
            200,
            br#"{"access_token":"a","expires_in":-1}"#,
            "invalid_expires_in",
        ),
    ];
    for (status, body, code) in cases {
        let mut s = session();
        let t1 = ticket(s.authorize(at(0)));
        let e = respond(&mut s, &t1, 200, status, &[], body).unwrap_err();
        assert_eq!(e.code(), code);
        let delay = retry_in(&e, 200);
        assert!((0..=1_000).contains(&delay), "{code}: {delay}");
        let t2 = ticket(s.authorize(at(200 + delay)));
        respond(&mut s, &t2, 400 + delay, 200, &[], TOKEN).expect("token");
    }
}

/// invalid_client with no token: every caller fails at once (no wait, even when the retry is
/// within max_wait), with the retry time; once config_retry_ms has passed, one new ticket, and
/// a fixed server is picked up.
#[test]
fn invalid_client_fails_fast_then_retries_after_config_retry() {
    let mut cfg = config(cc());
    cfg.backoff.config_retry_ms = 1_500; // below max_wait (2 s): a transient backoff would wait
    let mut s = session_with(cfg);
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(&mut s, &t1, 200, 401, &[], br#"{"error":"invalid_client"}"#).unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("invalid_client", Some(ErrorClass::Permanent))
    );
    assert_eq!(retry_in(&e, 200), 1_500);
    for now in [201, 1_000, 1_699] {
        match s.authorize(at(now)) {
            Authorization::Failed { error } => {
                assert_eq!(error.code(), "invalid_client");
                assert_eq!(error.retry_at(), Some(UnixMillis(T0 + 1_700)));
            }
            other => panic!("{now}: {other:?}"),
        }
    }
    assert_eq!(s.next_timeout(at(1_000)), Some(at(1_700)));
    let t2 = ticket(s.authorize(at(1_700)));
    assert_eq!(t2.reason, RefreshReason::Retry);
    respond(&mut s, &t2, 1_900, 200, &[], TOKEN).expect("the fixed server answers");
    assert!(matches!(
        s.authorize(at(2_000)),
        Authorization::Ready { .. }
    ));
    let backoffs: Vec<i64> = std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            SessionEvent::RefreshFailed { backoff_ms, .. } => Some(backoff_ms),
            _ => None,
        })
        .collect();
    assert_eq!(backoffs, [1_500]);
}

/// A configuration error while a token is still valid: the token keeps being served (stale,
/// with no ticket) until config_retry_ms has passed; then a ticket again.
#[test]
fn configuration_error_serves_the_valid_token_then_retries() {
    let mut s = session();
    let t1 = ticket(s.authorize(at(0)));
    respond(&mut s, &t1, 200, 200, &[], TOKEN).expect("token");
    // Stale at the latest 85 % of the usable 90 s; hard expiry at 90 s.
    let t2 = ticket(s.authorize(at(80_000)));
    let e = respond(
        &mut s,
        &t2,
        80_200,
        400,
        &[],
        br#"{"error":"invalid_scope"}"#,
    )
    .unwrap_err();
    assert_eq!(retry_in(&e, 80_200), 300_000);
    assert!(matches!(
        s.authorize(at(80_300)),
        Authorization::Ready { .. }
    ));
    assert!(matches!(
        s.authorize(at(89_000)),
        Authorization::Ready { .. }
    ));
    match s.authorize(at(95_000)) {
        Authorization::Failed { error } => assert_eq!(error.code(), "invalid_scope"),
        other => panic!("{other:?}"),
    }
    let t3 = ticket(s.authorize(at(380_200)));
    respond(&mut s, &t3, 380_400, 200, &[], TOKEN_2).expect("token");
}

/// A Retry-After longer than config_retry_ms is honoured, up to max_retry_after_ms.
#[test]
fn retry_after_longer_than_config_retry_is_honoured_and_capped() {
    let mut s = session();
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(
        &mut s,
        &t1,
        200,
        400,
        &[("Retry-After", "450")],
        br#"{"error":"unauthorized_client"}"#,
    )
    .unwrap_err();
    assert_eq!(retry_in(&e, 200), 450_000);
    // A shorter one does not shorten the configuration wait.
    let mut s = session();
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(
        &mut s,
        &t1,
        200,
        400,
        &[("Retry-After", "5")],
        br#"{"error":"invalid_client"}"#,
    )
    .unwrap_err();
    assert_eq!(retry_in(&e, 200), 300_000);
    // Capped at max_retry_after_ms (10 min by default).
    let mut s = session();
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(
        &mut s,
        &t1,
        200,
        401,
        &[("Retry-After", "86400")],
        br#"{"error":"invalid_client"}"#,
    )
    .unwrap_err();
    assert_eq!(retry_in(&e, 200), 600_000);
}

/// invalid_grant on a client-credentials grant is a configuration error (retried later);
/// on an authorization code the code is spent: reauthorization_required, for good.
#[test]
fn invalid_grant_on_a_primary_grant() {
    let mut s = session();
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(&mut s, &t1, 200, 400, &[], br#"{"error":"invalid_grant"}"#).unwrap_err();
    assert_eq!(e.code(), "invalid_grant");
    assert_eq!(retry_in(&e, 200), 300_000);
    assert!(matches!(
        s.authorize(at(1_000)),
        Authorization::Failed { .. }
    ));
    ticket(s.authorize(at(300_200)));

    let code = Grant::AuthorizationCode {
        code: Secret::new("code-123"),
        redirect_uri: "https://app.example/cb".into(),
        code_verifier: Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
    };
    let mut s = session_with(config(code));
    let t1 = ticket(s.authorize(at(0)));
    let e = respond(&mut s, &t1, 200, 400, &[], br#"{"error":"invalid_grant"}"#).unwrap_err();
    assert_eq!(e.code(), "reauthorization_required");
    for now in [1_000, 10_000_000] {
        match s.authorize(at(now)) {
            Authorization::Failed { error } => assert_eq!(error.code(), "reauthorization_required"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn config_retry_is_validated() {
    assert_eq!(BackoffPolicy::default().config_retry_ms, 300_000);
    for (base_ms, config_retry_ms, ok) in [
        (1_000, 1_000, true),
        (1_000, 86_400_000, true),
        (1_000, 999, false),
        (1_000, 86_400_001, false),
        (5_000, 4_000, false),
        (500, 0, false),
    ] {
        let mut cfg = config(cc());
        cfg.backoff.base_ms = base_ms;
        cfg.backoff.config_retry_ms = config_retry_ms;
        let r = Session::new(cfg, Box::new(SplitMix64::new(1)));
        match (r, ok) {
            (Ok(_), true) => {}
            (Err(SessionError::InvalidConfig(what)), false) => assert_eq!(what, "backoff"),
            (r, _) => panic!("{base_ms} {config_retry_ms}: {r:?}"),
        }
    }
}

proptest! {
    /// Never dead until restart: whatever a client-credentials session's token endpoint answers,
    /// a new ticket is issued once the longest wait (backoff cap, config retry, Retry-After cap)
    /// has passed.
    #[test]
    fn any_answer_is_retried_later(
        answers in prop::collection::vec(
            (prop::sample::select(vec![200u16, 301, 400, 401, 403, 404, 429, 500, 503]),
             prop::sample::select(vec![
                 &b"<html>"[..], b"", br#"{"error":"invalid_client"}"#, br#"{"error":"invalid_grant"}"#,
                 br#"{"error":"slow_down"}"#, br#"{"error":"server_error"}"#, br#"{"token_type":"DPoP"}"#,
                 br#"{"access_token":"a","token_type":"DPoP"}"#,
             ]),
             prop::option::of(prop::sample::select(vec!["5", "100000", "soon"]))),
            1..12),
    ) {
        let mut s = session();
        let b = s.config().backoff;
        let longest = b.cap_ms.max(b.config_retry_ms).max(b.max_retry_after_ms);
        let mut now = 0;
        for (status, body, retry_after) in answers {
            let t = match s.authorize(at(now)) {
                Authorization::Refresh { ticket } => ticket,
                other => return Err(TestCaseError::fail(format!("at {now}: {other:?}"))),
            };
            let headers: Vec<(&str, &str)> = retry_after.iter().map(|v| ("Retry-After", *v)).collect();
            prop_assert!(respond(&mut s, &t, now + 100, status, &headers, body).is_err());
            now += 100 + longest;
        }
    }
}
