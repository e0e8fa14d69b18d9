//! The one set of time comparisons, used by the client side, the verifier and the
//! simulation's resource server alike.
//!
//! All values are milliseconds on the same clock (the checker's). RFC 7519 §4.1.4: a token
//! must not be accepted *on or after* `exp`; so with leeway `L` it is expired when
//! `now − L >= exp`. Leeway always makes a check more lenient — it is subtracted from `now`
//! for `exp` and added to `now` for `nbf`/`iat` — never the other way round.

/// Expired: `now − leeway ≥ exp`.
pub const fn is_expired(now_ms: i64, exp_ms: i64, leeway_ms: i64) -> bool {
    now_ms.saturating_sub(leeway_ms) >= exp_ms
}

/// Not yet valid: `now + leeway < nbf`.
pub const fn is_not_yet_valid(now_ms: i64, nbf_ms: i64, leeway_ms: i64) -> bool {
    now_ms.saturating_add(leeway_ms) < nbf_ms
}

/// Issued in the future: `now + leeway < iat`.
pub const fn is_issued_in_future(now_ms: i64, iat_ms: i64, leeway_ms: i64) -> bool {
    now_ms.saturating_add(leeway_ms) < iat_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_boundary_is_invalid_at_exp() {
        assert!(!is_expired(999, 1000, 0));
        assert!(is_expired(1000, 1000, 0));
        assert!(!is_expired(1004, 1000, 5));
        assert!(is_expired(1005, 1000, 5));
    }

    #[test]
    fn nbf_and_iat_boundaries() {
        assert!(is_not_yet_valid(999, 1000, 0));
        assert!(!is_not_yet_valid(1000, 1000, 0));
        assert!(!is_not_yet_valid(995, 1000, 5));
        assert!(is_not_yet_valid(994, 1000, 5));
        assert!(is_issued_in_future(994, 1000, 5));
        assert!(!is_issued_in_future(995, 1000, 5));
    }
}
