//! Target `peek`: `tokenclock::peek::peek(token)`.
//!
//! Input: the raw token text (UTF-8; invalid sequences are replaced by U+FFFD first, so every
//! input reaches the parser). Binding call: Python `tokenclock.peek(token)`, JS `peek(token)`.
//!
//! Invariants: no panic; error codes are snake_case and messages never echo the token; read
//! NumericDates lie in `0..=MAX_UNIX_MILLIS`; `alg` is a non-empty string; wrapping the token
//! in `" Bearer …\t"` changes nothing (same claims or the same error).

use tokenclock::peek::{peek, MAX_TOKEN_BYTES};
use tokenclock::time::MAX_UNIX_MILLIS;

pub fn run(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let result = peek(&token);
    match &result {
        Ok(p) => {
            for t in [p.times.exp_ms, p.times.nbf_ms, p.times.iat_ms]
                .into_iter()
                .flatten()
            {
                assert!((0..=MAX_UNIX_MILLIS).contains(&t), "claim {t} out of range");
            }
            assert!(
                p.alg.as_deref().is_some_and(|a| !a.is_empty()),
                "alg missing"
            );
        }
        Err(e) => super::check_error(e, &token),
    }
    // Framing: an explicit `Bearer ` prefix and surrounding whitespace are stripped.
    let trimmed = token.trim_ascii();
    let has_prefix = trimmed
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("bearer"));
    let wrapped = format!(" Bearer {token}\t");
    if !has_prefix && wrapped.len() <= MAX_TOKEN_BYTES {
        let again = peek(&wrapped);
        match (&result, &again) {
            (Ok(a), Ok(b)) => assert!(a == b, "Bearer prefix changed what was read"),
            (Err(a), Err(b)) => assert_eq!(a, b, "Bearer prefix changed the error"),
            _ => panic!("Bearer prefix changed the outcome: {result:?} vs {again:?}"),
        }
    }
}
