//! Log timestamps for `ages --time-field`: RFC 3339 or Unix time. The calendar is
//! [`crate::httpdate`]'s.

use super::*;
use crate::httpdate::{days_from_civil, days_in_month};

/// A log timestamp in milliseconds: RFC 3339 (`2024-05-01T12:00:00Z`, `T` or a space,
/// optional fraction, `Z` or `±HH:MM`/`±HHMM` required), or Unix time as a decimal number:
/// seconds when below 10¹¹, else milliseconds. Only 1970–9999 is accepted.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let ms = if text.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        epoch_to_ms(text)?
    } else {
        rfc3339_to_ms(text)?
    };
    (0..=MAX_UNIX_MILLIS).contains(&ms).then_some(ms)
}

pub(super) fn epoch_to_ms(text: &str) -> Option<i64> {
    let (int_part, frac) = text.split_once('.').unwrap_or((text, ""));
    if int_part.is_empty() || int_part.len() > 15 || frac.contains('.') {
        return None;
    }
    let whole: i64 = int_part.parse().ok()?;
    if whole < 100_000_000_000 {
        // Seconds: keep three fraction digits (truncated).
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        let milli: i64 = digits.parse().ok()?;
        whole.checked_mul(1_000)?.checked_add(milli)
    } else {
        Some(whole)
    }
}

pub(super) fn rfc3339_to_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut milli = 0;
    if matches!(b.get(i), Some(b'.' | b',')) {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let digits: String = text
            .get(start..end)?
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        milli = digits.parse().ok()?;
        i = end;
    }
    let offset_min = match text.get(i..)? {
        "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits = zone.get(1..)?.replace(':', "");
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits.get(..2)?.parse().ok()?;
            let m: i64 = digits.get(2..)?.parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second.min(59) - offset_min * 60;
    Some(secs * 1_000 + milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn iso_matches_days_from_civil(ms in 0i64..=MAX_UNIX_MILLIS) {
            let text = iso8601_utc(ms);
            let back = rfc3339_to_ms(&text).unwrap();
            proptest::prop_assert_eq!(back, ms);
        }
    }
}
