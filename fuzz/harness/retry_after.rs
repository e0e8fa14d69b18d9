//! Target `retry_after`: `parse_retry_after(value, reference)`.
//!
//! Input: `reference_ms` (i64, 8 bytes little-endian), then the header value (UTF-8, lossy).
//! Binding call: Python `tokenclock.parse_retry_after(value, reference)`, JS
//! `parseRetryAfter(value, referenceMs)` (or the session's use of it).
//!
//! Invariants: no panic; a delay is whole seconds in `0..=MAX_RETRY_AFTER_SECONDS` s; a date is
//! in range; a value of digits only is always a delay or `retry_after_out_of_range`.

use tokenclock::httpdate::{parse_retry_after, RetryAfter, MAX_INPUT_LEN, MAX_RETRY_AFTER_SECONDS};
use tokenclock::time::{UnixMillis, MAX_UNIX_MILLIS};
use tokenclock::ErrorCode;

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let reference = UnixMillis(b.i64());
    let value = String::from_utf8_lossy(b.rest());
    let result = parse_retry_after(&value, reference);
    match &result {
        Ok(RetryAfter::Delay { ms }) => {
            assert!(
                (0..=MAX_RETRY_AFTER_SECONDS * 1_000).contains(ms),
                "delay {ms}"
            );
            assert_eq!(ms % 1_000, 0);
        }
        Ok(RetryAfter::Date(t)) => assert!((0..=MAX_UNIX_MILLIS).contains(&t.0), "date {}", t.0),
        Err(e) => super::check_error(e, &value),
    }
    let digits = value.trim_ascii();
    if value.len() <= MAX_INPUT_LEN
        && !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
    {
        match &result {
            Ok(RetryAfter::Delay { .. }) => {}
            Err(e) => assert_eq!(e.code(), "retry_after_out_of_range"),
            other => panic!("digits read as {other:?}"),
        }
    }
}
