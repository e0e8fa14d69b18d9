//! A token record crosses machines whose clocks disagree: every reader maps the issuer-clock
//! deadline through its own estimate, so none uses the token past its real expiry and none
//! discards it early by much more than the margin.

use tokenclock::httpdate::format_http_date;
use tokenclock::oauth::{ClientAuth, Grant, Secret};
use tokenclock::record::{token_id, TokenRecord};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{Authorization, Session, SessionConfig, SessionError, TokenId};
use tokenclock::time::{MonoMillis, Reading, UnixMillis};

const TOKEN_URL: &str = "https://issuer.example/token";
/// True time zero = the issuer's clock at this instant (the issuer is the reference).
const T0: i64 = 1_767_225_600_000;
const TTL_MS: i64 = 300_000;

fn session(seed: u64) -> Session {
    let config = SessionConfig::new(
        TOKEN_URL,
        ClientAuth::SecretBasic {
            client_id: "c".into(),
            client_secret: Secret::new("s"),
        },
        Grant::ClientCredentials {
            scope: None,
            extra: Vec::new(),
        },
    );
    Session::new(config, Box::new(SplitMix64::new(seed))).expect("session")
}

/// A host whose wall clock is `offset_ms` off the issuer's (its monotonic origin arbitrary).
struct Host {
    offset_ms: i64,
    mono0: i64,
}

impl Host {
    fn at(&self, t: i64) -> Reading {
        Reading {
            wall: UnixMillis(T0 + t + self.offset_ms),
            mono: MonoMillis(self.mono0 + t),
        }
    }
}

fn jwt(iat_s: i64, exp_s: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let claims = format!(r#"{{"iat":{iat_s},"nbf":{iat_s},"exp":{exp_s},"sub":"c"}}"#);
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

fn date(t: i64) -> Vec<(String, String)> {
    vec![("Date".into(), format_http_date(UnixMillis(T0 + t)))]
}

/// The writer fetches a token at true time 0 (sent at −40 ms, received at +40 ms) and exports it.
fn written_record(writer: &Host) -> (TokenRecord, String) {
    let mut s = session(1);
    let ticket = match s.authorize(writer.at(-40)) {
        Authorization::Refresh { ticket } => ticket,
        other => panic!("{other:?}"),
    };
    let token = jwt(T0 / 1000, (T0 + TTL_MS) / 1000);
    let body = format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":300}}"#);
    s.complete_refresh(
        ticket.id,
        200,
        &date(0),
        body.as_bytes(),
        writer.at(-40),
        writer.at(40),
    )
    .expect("token");
    let rec = s
        .export_record(writer.at(50), 3)
        .expect("usable token exports");
    assert_eq!(rec.token_id, token_id(&token));
    assert!(
        rec.deadline_ms <= T0 + TTL_MS,
        "deadline {} past exp",
        rec.deadline_ms
    );
    (rec, token)
}

/// The reader learns the issuer's clock from one Date probe at true time `t`, then adopts.
fn adopt(reader: &Host, rec: &TokenRecord, t: i64) -> (Session, TokenId) {
    let mut s = session(2);
    assert_eq!(
        s.adopt_record(rec, None, reader.at(t)).unwrap_err(),
        SessionError::IssuerClockUnknown
    );
    let d = format_http_date(UnixMillis(T0 + t - 30));
    s.add_issuer_date(&d, reader.at(t - 60), reader.at(t))
        .expect("probe");
    // A second probe at another phase narrows the 1 s Date resolution.
    let d2 = format_http_date(UnixMillis(T0 + t + 470));
    s.add_issuer_date(&d2, reader.at(t + 450), reader.at(t + 500))
        .expect("probe");
    let id = s
        .adopt_record(rec, None, reader.at(t + 500))
        .expect("adopt");
    (s, id)
}

/// The first true instant (10 ms steps) at which the reader no longer hands the token out.
fn stops_using_at(s: &mut Session, reader: &Host, id: TokenId, from: i64) -> i64 {
    let mut t = from;
    loop {
        match s.authorize(reader.at(t)) {
            Authorization::Ready { token_id, .. }
            | Authorization::ReadyAndRefresh { token_id, .. }
                if token_id == id => {}
            _ => return t,
        }
        t += 10;
        assert!(t < TTL_MS * 2, "token used forever");
    }
}

#[test]
fn readers_with_skewed_clocks_respect_the_real_expiry() {
    for writer_offset in [-120_000, 0, 45_000] {
        let writer = Host {
            offset_ms: writer_offset,
            mono0: 5_000_000,
        };
        let (rec, _) = written_record(&writer);
        let wire = rec.encode();
        let rec = TokenRecord::decode(&wire).expect("decodes");
        for reader_offset in [-120_000, 0, 45_000] {
            let reader = Host {
                offset_ms: reader_offset,
                mono0: 9_000_000,
            };
            let (mut s, id) = adopt(&reader, &rec, 1_000);
            let stop = stops_using_at(&mut s, &reader, id, 2_000);
            // Never past the real expiry (true time TTL on the issuer's clock)...
            assert!(
                stop <= TTL_MS,
                "writer {writer_offset} reader {reader_offset}: used until {stop}"
            );
            // ...and not discarded early by more than the margin (10 s) plus the clock
            // uncertainty of two 1 s Date readings and the exchange.
            assert!(
                stop >= TTL_MS - 10_000 - 2_500,
                "writer {writer_offset} reader {reader_offset}: dropped at {stop}"
            );
        }
    }
}

#[test]
fn adoption_rules() {
    let writer = Host {
        offset_ms: 0,
        mono0: 100_000,
    };
    let (rec, _) = written_record(&writer);
    let reader = Host {
        offset_ms: 7_000,
        mono0: 101_000,
    };
    let (mut s, id) = adopt(&reader, &rec, 1_000);
    // The same token again keeps its id.
    assert_eq!(s.adopt_record(&rec, None, reader.at(2_000)), Ok(id));
    // A record of another credential identity is refused.
    let mut other = rec.clone();
    other.identity = "0".repeat(64);
    assert_eq!(
        s.adopt_record(&other, None, reader.at(2_000)),
        Err(SessionError::ForeignRecord)
    );
    // A record already expired for us is refused.
    let (mut late, _) = adopt(&reader, &rec, 1_000);
    let mut expired = rec.clone();
    expired.deadline_ms = T0 + 5_000;
    expired.exp_ms = Some(T0 + 5_000);
    expired.access_token = Secret::new("other-token");
    expired.token_id = token_id("other-token");
    assert!(matches!(
        late.adopt_record(&expired, None, reader.at(20_000)),
        Err(SessionError::ExpiredOnArrival { .. })
    ));
}

#[test]
fn a_peer_refresh_closes_our_ticket() {
    let writer = Host {
        offset_ms: 0,
        mono0: 100_000,
    };
    let (rec, _) = written_record(&writer);
    let reader = Host {
        offset_ms: -3_000,
        mono0: 100_000,
    };
    let mut s = session(3);
    s.add_issuer_date(
        &format_http_date(UnixMillis(T0 + 100)),
        reader.at(80),
        reader.at(140),
    )
    .unwrap();
    s.add_issuer_date(
        &format_http_date(UnixMillis(T0 + 1_000)),
        reader.at(700),
        reader.at(760),
    )
    .unwrap();
    let ticket = match s.authorize(reader.at(800)) {
        Authorization::Refresh { ticket } => ticket,
        other => panic!("{other:?}"),
    };
    let id = s
        .adopt_record(&rec, Some(ticket.id), reader.at(900))
        .expect("adopted");
    assert!(!s.refresh_in_flight());
    // The ticket is closed: completing it now is refused.
    assert_eq!(
        s.complete_refresh(ticket.id, 200, &[], b"{}", reader.at(800), reader.at(950))
            .unwrap_err(),
        SessionError::StaleTicket
    );
    assert!(
        matches!(s.authorize(reader.at(1_000)), Authorization::Ready { token_id, .. } if token_id == id)
    );
}
