//! Target `token_response`: `parse_token_response(status, headers, body)` (RFC 6749 §5.1
//! success and §5.2 error responses), then what the session does with an error's
//! `Retry-After`.
//!
//! Input: `status` (u16 LE, 2 bytes), `headers_len` (u16 LE, 2), `headers_len` bytes of
//! header lines (`Name: value`, separated by `\n`; a line without `:` is a name with an empty
//! value), then the body bytes. Binding call: Python
//! `tokenclock.parse_token_response(status, headers, body)`, JS `parseTokenResponse(...)`.
//!
//! Invariants: no panic; a success has a visible-ASCII access token, `expires_in` in
//! `(0, MAX_EXPIRES_IN_S]` seconds and a `Debug` that redacts the tokens; an error has a
//! snake_case code, a status equal to the input's, and a `Retry-After` that is printable
//! ASCII of at most `MAX_RETRY_AFTER_LEN` bytes (and parses or fails cleanly).

use tokenclock::httpdate::parse_retry_after;
use tokenclock::oauth::{parse_token_response, Secret, MAX_EXPIRES_IN_S, MAX_RETRY_AFTER_LEN};
use tokenclock::time::UnixMillis;
use tokenclock::ErrorCode;

/// Splits the header block into pairs.
pub fn headers(block: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(block)
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((k, v)) => (k.to_owned(), v.trim_start_matches(' ').to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let status = b.u16();
    let hlen = usize::from(b.u16());
    let headers = headers(b.take(hlen));
    let body = b.rest();
    match parse_token_response(status, &headers, body) {
        Ok(resp) => {
            let tok = resp.access_token.expose();
            assert!(!tok.is_empty() && tok.bytes().all(|c| (0x21..=0x7E).contains(&c)));
            if let Some(ms) = resp.expires_in_ms {
                assert!(
                    ms > 0 && ms <= MAX_EXPIRES_IN_S * 1_000,
                    "expires_in_ms {ms}"
                );
            }
            let mut redacted = resp.clone();
            redacted.scope = None;
            let dbg = format!("{redacted:?}");
            // The same response with other secrets: Debug must not differ in where a secret's
            // text occurs (a token may well be a substring of a field name, e.g.
            // "efresh_token": that is not a leak).
            let mut other = redacted.clone();
            other.access_token = Secret::new("~");
            other.refresh_token = other.refresh_token.map(|_| Secret::new("~"));
            other.id_token = other.id_token.map(|_| Secret::new("~"));
            let baseline = format!("{other:?}");
            for secret in [
                Some(&resp.access_token),
                resp.refresh_token.as_ref(),
                resp.id_token.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                let s = secret.expose();
                if s.len() >= 12 && !s.bytes().all(|c| c.is_ascii_digit()) {
                    assert!(
                        dbg.matches(s).count() <= baseline.matches(s).count(),
                        "Debug shows a token"
                    );
                }
            }
            assert!(resp.authorization_header().expose().starts_with("Bearer "));
        }
        Err(e) => {
            super::assert_code(e.code());
            let _ = e.to_string();
            let _ = e.class();
            assert_eq!(e.status(), status);
            if let Some(ra) = e.retry_after() {
                assert!(ra.len() <= MAX_RETRY_AFTER_LEN);
                assert!(
                    ra.bytes().all(|c| (0x20..=0x7E).contains(&c)),
                    "retry-after {ra:?}"
                );
                let _ = parse_retry_after(ra, UnixMillis(1_700_000_000_000));
            }
        }
    }
}
