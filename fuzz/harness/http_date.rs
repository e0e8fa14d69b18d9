//! Target `http_date`: `parse_http_date(value, reference)` and `format_http_date`.
//!
//! Input: `reference_ms` (i64, 8 bytes little-endian), then the header value (UTF-8, lossy).
//! Binding call: the `Date`-header parser the bindings expose (Python
//! `tokenclock.parse_http_date(value, reference)`, JS `parseHttpDate(value, referenceMs)`),
//! with the reference in the binding's unit.
//!
//! Invariants: no panic; a parsed date is a whole second within `0..=MAX_UNIX_MILLIS` and
//! `format_http_date` of it parses back to itself; formatting any i64 (clamped into range)
//! parses back to the same second.

use tokenclock::httpdate::{format_http_date, parse_http_date};
use tokenclock::time::{UnixMillis, MAX_UNIX_MILLIS};

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let reference = UnixMillis(b.i64());
    let value = String::from_utf8_lossy(b.rest());
    match parse_http_date(&value, reference) {
        Ok(t) => {
            assert!(
                (0..=MAX_UNIX_MILLIS).contains(&t.0),
                "date {} out of range",
                t.0
            );
            assert_eq!(t.0 % 1_000, 0, "an HTTP date is whole seconds");
            let text = format_http_date(t);
            assert_eq!(
                parse_http_date(&text, reference),
                Ok(t),
                "round trip of {text}"
            );
        }
        Err(e) => super::check_error(&e, &value),
    }
    // Formatting never panics and always yields an IMF-fixdate of the clamped second.
    let text = format_http_date(reference);
    let want = reference.0.clamp(0, MAX_UNIX_MILLIS) / 1_000 * 1_000;
    assert_eq!(
        parse_http_date(&text, UnixMillis(0)),
        Ok(UnixMillis(want)),
        "format {text}"
    );
}
