//! HTTP dates (RFC 9110 §5.6.7) and the `Retry-After` field (RFC 9110 §10.2.3).
//!
//! This module owns reading the three HTTP-date forms a server may send, writing the preferred
//! one, and reading `Retry-After`. It is pure parsing: no clock is read; the only time input
//! is the `reference` used to place an rfc850 two-digit year.
//!
//! # Accepted forms
//!
//! ```text
//! IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
//! rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
//! asctime-date  Sun Nov  6 08:49:37 1994
//! ```
//!
//! # Decisions (strict where it matters, tolerant where servers are known to deviate)
//!
//! * **Whitespace:** leading and trailing ASCII whitespace is ignored; inside the date the
//!   grammar's single spaces are required exactly (`"Sun,  06 Nov ..."` is rejected; asctime's
//!   day is `SP DIGIT` or `2DIGIT`, so `"Nov  6"` and `"Nov 06"` are accepted, `"Nov 6"` is not).
//! * **Case:** RFC 9110 says HTTP-date is case-sensitive, and we follow it: `"gmt"`, `"nov"`,
//!   `"SUN"` are rejected. The zone must be the literal `GMT` (no `UTC`, no `+0000`).
//! * **Field widths:** exact, as in the grammar (`2DIGIT` day/hour/minute/second, `4DIGIT`
//!   year, `2DIGIT` rfc850 year).
//! * **Weekday:** must be a real weekday name in the form the format uses (short for
//!   IMF-fixdate and asctime, long for rfc850), but it is **not** checked against the date:
//!   some servers send a wrong weekday, and the date fields alone determine the instant.
//!   [`format_http_date`] always writes the correct weekday.
//! * **Calendar:** day-of-month must exist in that month and year (proleptic Gregorian leap
//!   years: 2000-02-29 exists, 2100-02-29 does not); hour `0..=23`, minute `0..=59`.
//! * **Leap second:** second `60` is accepted only as `23:59:60` (the only place UTC inserts
//!   one) and is read as `23:59:59`. Unix time does not count leap seconds; clamping keeps the
//!   result inside the day the server named and at most one second early.
//! * **Range:** years `1970..=9999` only; others (including a 5-digit year) are
//!   [`HttpDateError::OutOfRange`], so every result fits
//!   [`MAX_UNIX_MILLIS`].
//! * **Length:** input longer than [`MAX_INPUT_LEN`] bytes (before trimming) is
//!   [`HttpDateError::TooLong`], checked before anything else.
//! * **rfc850 years:** a two-digit year is placed per RFC 9110: the latest year with those
//!   digits whose timestamp is not more than 50 years after `reference` (compared field by
//!   field against the reference's UTC calendar time with 50 added to the year).
//!
//! Calendar arithmetic uses Howard Hinnant's public-domain `days_from_civil` /
//! `civil_from_days` algorithms ("chrono-Compatible Low-Level Date Algorithms",
//! <https://howardhinnant.github.io/date_algorithms.html>), written here from that description.

use core::fmt;

use crate::time::{UnixMillis, MAX_UNIX_MILLIS};
use crate::ErrorCode;

/// Longest input accepted by [`parse_http_date`] and [`parse_retry_after`], in bytes,
/// including surrounding whitespace. A valid date is at most 30 bytes.
pub const MAX_INPUT_LEN: usize = 128;

/// Largest `Retry-After` delay accepted, in seconds (2^31 − 1, about 68 years).
pub const MAX_RETRY_AFTER_SECONDS: i64 = 2_147_483_647;

const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 9999;

const SHORT_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Why an HTTP date or `Retry-After` value was rejected.
///
/// Messages say what was wrong, never echo the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpDateError {
    /// Not an HTTP-date in any of the three forms (code `invalid_http_date`). The reason
    /// names the part that was wrong.
    Invalid {
        /// Which part of the grammar failed, e.g. `"month name"`.
        reason: &'static str,
    },
    /// A well-formed date whose year is outside `1970..=9999` (code `http_date_out_of_range`).
    OutOfRange,
    /// The input is longer than [`MAX_INPUT_LEN`] bytes (code `input_too_long`).
    TooLong {
        /// The input's length in bytes.
        len: usize,
    },
    /// A `Retry-After` value that is neither delay-seconds nor an HTTP-date
    /// (code `invalid_retry_after`): empty, negative, fractional, signed, or garbage.
    InvalidRetryAfter,
    /// A `Retry-After` delay above [`MAX_RETRY_AFTER_SECONDS`]
    /// (code `retry_after_out_of_range`).
    RetryAfterOutOfRange,
}

impl ErrorCode for HttpDateError {
    fn code(&self) -> &'static str {
        match self {
            HttpDateError::Invalid { .. } => "invalid_http_date",
            HttpDateError::OutOfRange => "http_date_out_of_range",
            HttpDateError::TooLong { .. } => "input_too_long",
            HttpDateError::InvalidRetryAfter => "invalid_retry_after",
            HttpDateError::RetryAfterOutOfRange => "retry_after_out_of_range",
        }
    }
}

impl fmt::Display for HttpDateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpDateError::Invalid { reason } => write!(f, "invalid HTTP date: bad {reason}"),
            HttpDateError::OutOfRange => {
                write!(
                    f,
                    "HTTP date out of range: year must be {MIN_YEAR}..={MAX_YEAR}"
                )
            }
            HttpDateError::TooLong { len } => {
                write!(f, "input too long: {len} bytes (limit {MAX_INPUT_LEN})")
            }
            HttpDateError::InvalidRetryAfter => {
                write!(
                    f,
                    "invalid Retry-After: neither delay-seconds nor an HTTP date"
                )
            }
            HttpDateError::RetryAfterOutOfRange => write!(
                f,
                "Retry-After delay out of range: at most {MAX_RETRY_AFTER_SECONDS} seconds"
            ),
        }
    }
}

impl std::error::Error for HttpDateError {}

/// A parsed `Retry-After` value (RFC 9110 §10.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// delay-seconds: wait this long after the response was received.
    Delay {
        /// The delay in milliseconds (`0..=MAX_RETRY_AFTER_SECONDS * 1000`).
        ms: i64,
    },
    /// An HTTP-date on the **server's** clock: map it to local time through the server's
    /// skew estimate before using it as a deadline.
    Date(UnixMillis),
}

/// Parses an HTTP date in any of the three RFC 9110 forms (see the module docs for exactly
/// what is accepted).
///
/// `reference` is the local wall time, used only to resolve an rfc850 two-digit year; it is
/// clamped into `0..=MAX_UNIX_MILLIS` first. The result is whole seconds, in milliseconds.
pub fn parse_http_date(s: &str, reference: UnixMillis) -> Result<UnixMillis, HttpDateError> {
    if s.len() > MAX_INPUT_LEN {
        return Err(HttpDateError::TooLong { len: s.len() });
    }
    let fields = parse_fields(trim(s.as_bytes()))?;
    let year = match fields.year {
        Year::Full(y) => y,
        Year::TwoDigit(yy) => resolve_two_digit_year(yy, &fields, reference),
        Year::TooLong => return Err(HttpDateError::OutOfRange),
    };
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(HttpDateError::OutOfRange);
    }
    if fields.day < 1 || fields.day > days_in_month(year, fields.month) {
        return Err(invalid("day of month"));
    }
    // A leap second (only ever 23:59:60) is read as 23:59:59; see the module docs.
    let second = fields.second.min(59);
    let days = days_from_civil(year, fields.month, fields.day);
    let secs = days * 86_400 + fields.hour * 3_600 + fields.minute * 60 + second;
    Ok(UnixMillis(secs * 1_000))
}

/// Formats `t` as an IMF-fixdate, e.g. `"Sun, 06 Nov 1994 08:49:37 GMT"`.
///
/// Sub-second milliseconds are floored away. `t` is clamped into `0..=MAX_UNIX_MILLIS`
/// (1970 to 9999) so the output is always a valid IMF-fixdate.
pub fn format_http_date(t: UnixMillis) -> String {
    let secs = t.0.clamp(0, MAX_UNIX_MILLIS) / 1_000;
    let days = secs / 86_400;
    let in_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = weekday_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        SHORT_WEEKDAYS.get(weekday).copied().unwrap_or("Thu"),
        day,
        MONTHS
            .get(usize::try_from(month - 1).unwrap_or(0))
            .copied()
            .unwrap_or("Jan"),
        year,
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60,
    )
}

/// Parses a `Retry-After` value: delay-seconds (`1*DIGIT`, at most
/// [`MAX_RETRY_AFTER_SECONDS`]) or an HTTP-date.
///
/// Surrounding whitespace is ignored. A value that starts like a number (a digit, `-`, `+`
/// or `.`) must be delay-seconds; anything else is read as an HTTP-date, and a failure to
/// read it is [`HttpDateError::InvalidRetryAfter`] (a well-formed date outside 1970–9999
/// stays [`HttpDateError::OutOfRange`]). `reference` is as for [`parse_http_date`].
pub fn parse_retry_after(s: &str, reference: UnixMillis) -> Result<RetryAfter, HttpDateError> {
    if s.len() > MAX_INPUT_LEN {
        return Err(HttpDateError::TooLong { len: s.len() });
    }
    let b = trim(s.as_bytes());
    match b.first() {
        None | Some(b'-' | b'+' | b'.') => Err(HttpDateError::InvalidRetryAfter),
        Some(c) if c.is_ascii_digit() => {
            if !b.iter().all(u8::is_ascii_digit) {
                return Err(HttpDateError::InvalidRetryAfter);
            }
            let mut secs: i64 = 0;
            for &d in b {
                secs = secs
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(i64::from(d - b'0')))
                    .filter(|v| *v <= MAX_RETRY_AFTER_SECONDS)
                    .ok_or(HttpDateError::RetryAfterOutOfRange)?;
            }
            Ok(RetryAfter::Delay { ms: secs * 1_000 })
        }
        Some(_) => match parse_http_date(s, reference) {
            Ok(t) => Ok(RetryAfter::Date(t)),
            Err(HttpDateError::Invalid { .. }) => Err(HttpDateError::InvalidRetryAfter),
            Err(e) => Err(e),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Grammar

/// The year field as written.
#[derive(Clone, Copy, Debug)]
enum Year {
    /// A 4-digit year (IMF-fixdate, asctime).
    Full(i64),
    /// An rfc850 two-digit year, to be placed relative to the reference.
    TwoDigit(i64),
    /// More than four digits (not starting with 0): well-formed but beyond 9999.
    TooLong,
}

/// The fields of a structurally valid date, not yet checked against the calendar.
#[derive(Clone, Copy, Debug)]
struct Fields {
    year: Year,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

fn invalid(reason: &'static str) -> HttpDateError {
    HttpDateError::Invalid { reason }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if !first.is_ascii_whitespace() {
            break;
        }
        b = rest;
    }
    while let [rest @ .., last] = b {
        if !last.is_ascii_whitespace() {
            break;
        }
        b = rest;
    }
    b
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), HttpDateError> {
        match self.rest {
            [first, rest @ ..] if *first == byte => {
                self.rest = rest;
                Ok(())
            }
            _ => Err(invalid(reason)),
        }
    }

    fn take_while(&mut self, pred: impl Fn(&u8) -> bool) -> &'a [u8] {
        let n = self.rest.iter().take_while(|b| pred(b)).count();
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        taken
    }

    /// Exactly `n` ASCII digits (and no more) as a number.
    fn digits(&mut self, n: usize, reason: &'static str) -> Result<i64, HttpDateError> {
        let run = self.take_while(u8::is_ascii_digit);
        if run.len() != n {
            return Err(invalid(reason));
        }
        Ok(number(run))
    }

    /// `4DIGIT`, or a longer run of digits not starting with `0` (an out-of-range year).
    fn year(&mut self) -> Result<Year, HttpDateError> {
        let run = self.take_while(u8::is_ascii_digit);
        match run {
            [_, _, _, _] => Ok(Year::Full(number(run))),
            [b'1'..=b'9', _, _, _, _, ..] => Ok(Year::TooLong),
            _ => Err(invalid("year")),
        }
    }

    /// `3ALPHA` month name, case-sensitive; returns `1..=12`.
    fn month(&mut self) -> Result<i64, HttpDateError> {
        let name = self.take_while(u8::is_ascii_alphabetic);
        MONTHS
            .iter()
            .position(|m| m.as_bytes() == name)
            .map(|i| i as i64 + 1)
            .ok_or(invalid("month name"))
    }

    /// `time-of-day = hour ":" minute ":" second`, range-checked.
    fn time_of_day(&mut self) -> Result<(i64, i64, i64), HttpDateError> {
        let hour = self.digits(2, "hour")?;
        self.expect(b':', "time of day")?;
        let minute = self.digits(2, "minute")?;
        self.expect(b':', "time of day")?;
        let second = self.digits(2, "second")?;
        if hour > 23 {
            return Err(invalid("hour"));
        }
        if minute > 59 {
            return Err(invalid("minute"));
        }
        if second > 60 || (second == 60 && (hour, minute) != (23, 59)) {
            return Err(invalid("second"));
        }
        Ok((hour, minute, second))
    }

    fn literal(&mut self, lit: &[u8], reason: &'static str) -> Result<(), HttpDateError> {
        match self.rest.strip_prefix(lit) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(invalid(reason)),
        }
    }

    fn end(&self) -> Result<(), HttpDateError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(invalid("trailing characters"))
        }
    }
}

/// Decimal value of a run of ASCII digits (callers bound the length, so no overflow).
fn number(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    })
}

fn is_name(names: &[&str], word: &[u8]) -> bool {
    names.iter().any(|n| n.as_bytes() == word)
}

/// Reads the structure of one of the three forms; calendar checks come afterwards.
fn parse_fields(input: &[u8]) -> Result<Fields, HttpDateError> {
    let mut c = Cursor { rest: input };
    let weekday = c.take_while(u8::is_ascii_alphabetic);
    match (weekday.len(), c.peek()) {
        // IMF-fixdate: day-name "," SP date1 SP time-of-day SP GMT
        (3, Some(b',')) => {
            if !is_name(&SHORT_WEEKDAYS, weekday) {
                return Err(invalid("weekday name"));
            }
            c.expect(b',', "weekday")?;
            c.expect(b' ', "separator")?;
            let day = c.digits(2, "day of month")?;
            c.expect(b' ', "separator")?;
            let month = c.month()?;
            c.expect(b' ', "separator")?;
            let year = c.year()?;
            c.expect(b' ', "separator")?;
            let (hour, minute, second) = c.time_of_day()?;
            c.expect(b' ', "separator")?;
            c.literal(b"GMT", "zone (must be GMT)")?;
            c.end()?;
            Ok(Fields {
                year,
                month,
                day,
                hour,
                minute,
                second,
            })
        }
        // rfc850-date: day-name-l "," SP date2 SP time-of-day SP GMT
        (6.., Some(b',')) => {
            if !is_name(&LONG_WEEKDAYS, weekday) {
                return Err(invalid("weekday name"));
            }
            c.expect(b',', "weekday")?;
            c.expect(b' ', "separator")?;
            let day = c.digits(2, "day of month")?;
            c.expect(b'-', "separator")?;
            let month = c.month()?;
            c.expect(b'-', "separator")?;
            let yy = c.digits(2, "year")?;
            c.expect(b' ', "separator")?;
            let (hour, minute, second) = c.time_of_day()?;
            c.expect(b' ', "separator")?;
            c.literal(b"GMT", "zone (must be GMT)")?;
            c.end()?;
            Ok(Fields {
                year: Year::TwoDigit(yy),
                month,
                day,
                hour,
                minute,
                second,
            })
        }
        // asctime-date: day-name SP date3 SP time-of-day SP year
        (3, Some(b' ')) => {
            if !is_name(&SHORT_WEEKDAYS, weekday) {
                return Err(invalid("weekday name"));
            }
            c.expect(b' ', "separator")?;
            let month = c.month()?;
            c.expect(b' ', "separator")?;
            let day = if c.peek() == Some(b' ') {
                c.expect(b' ', "day of month")?;
                c.digits(1, "day of month")?
            } else {
                c.digits(2, "day of month")?
            };
            c.expect(b' ', "separator")?;
            let (hour, minute, second) = c.time_of_day()?;
            c.expect(b' ', "separator")?;
            let year = c.year()?;
            c.end()?;
            Ok(Fields {
                year,
                month,
                day,
                hour,
                minute,
                second,
            })
        }
        _ => Err(invalid("format (not IMF-fixdate, rfc850 or asctime)")),
    }
}

/// RFC 9110 §5.6.7: a two-digit year that "appears to be more than 50 years in the future"
/// is the most recent past year with those digits. We take the latest year `≡ yy (mod 100)`
/// whose date and time are not later than the reference's UTC calendar time plus 50 years.
fn resolve_two_digit_year(yy: i64, f: &Fields, reference: UnixMillis) -> i64 {
    let r = reference.0.clamp(0, MAX_UNIX_MILLIS);
    let r_secs = r / 1_000;
    let (ry, rm, rd) = civil_from_days(r_secs / 86_400);
    let r_day = r_secs % 86_400;
    let limit = (
        ry + 50,
        rm,
        rd,
        r_day / 3_600,
        r_day % 3_600 / 60,
        r_day % 60,
        r % 1_000,
    );
    let too_late = |y: i64| (y, f.month, f.day, f.hour, f.minute, f.second, 0) > limit;
    let century_base = ry - ry % 100 + yy;
    // century_base + 100 is after the reference year and century_base − 100 before it,
    // so one of the three is the answer.
    if !too_late(century_base + 100) {
        century_base + 100
    } else if !too_late(century_base) {
        century_base
    } else {
        century_base - 100
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar (proleptic Gregorian, after Howard Hinnant's public-domain algorithms)

fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` in `1..=12`, `d` in `1..=31`).
/// Callers keep `y` within a few thousand years, so nothing here can overflow.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Shift the year to start in March so the leap day is the last day of the year.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0 .. February = 11
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(y, m, d)` of a day count since 1970-01-01 (inverse of `days_from_civil`).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `0` = Sunday … `6` = Saturday (1970-01-01 was a Thursday).
fn weekday_from_days(days: i64) -> usize {
    usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REF_2026: UnixMillis = UnixMillis(1_778_803_200_000); // 2026-05-15T00:00:00Z

    fn p(s: &str) -> Result<i64, HttpDateError> {
        parse_http_date(s, REF_2026).map(|t| t.0)
    }

    #[test]
    fn rfc_example_in_all_three_forms() {
        let want = Ok(784_111_777_000);
        assert_eq!(p("Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(p("Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(p("Sun Nov  6 08:49:37 1994"), want);
        assert_eq!(
            format_http_date(UnixMillis(784_111_777_999)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn calendar_matches_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        assert_eq!(weekday_from_days(0), 4);
        assert_eq!(weekday_from_days(-1), 3);
    }

    #[test]
    fn calendar_round_trips_every_day_1970_to_9999() {
        let last = days_from_civil(9999, 12, 31);
        let mut expected = (1970, 1, 1);
        for z in 0..=last {
            assert_eq!(civil_from_days(z), expected, "day {z}");
            assert_eq!(days_from_civil(expected.0, expected.1, expected.2), z);
            let (y, m, d) = expected;
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn leap_second_only_at_end_of_day_and_clamped() {
        assert_eq!(
            p("Wed, 31 Dec 2008 23:59:60 GMT"),
            p("Wed, 31 Dec 2008 23:59:59 GMT")
        );
        assert_eq!(p("Wed, 31 Dec 2008 23:58:60 GMT"), Err(invalid("second")));
        assert_eq!(p("Wed, 31 Dec 2008 23:59:61 GMT"), Err(invalid("second")));
    }

    #[test]
    fn rfc850_window_is_fifty_years_to_the_second() {
        // Reference 2026-05-15T00:00:00Z: 2076-05-15T00:00:00 is exactly 50 years ahead.
        assert_eq!(p("Friday, 15-May-76 00:00:00 GMT"), Ok(3_356_726_400_000));
        assert_eq!(p("Friday, 15-May-76 00:00:01 GMT"), Ok(200_966_401_000));
        let just_after = UnixMillis(REF_2026.0 + 1);
        assert_eq!(
            parse_http_date("Friday, 15-May-76 00:00:00 GMT", just_after),
            Ok(UnixMillis(3_356_726_400_000))
        );
        // Reference in 2090: "30" is 2130 (40 years ahead), not 2030.
        let ref_2090 = UnixMillis(days_from_civil(2090, 1, 1) * 86_400_000);
        assert_eq!(
            parse_http_date("Monday, 01-Jan-30 00:00:00 GMT", ref_2090),
            Ok(UnixMillis(days_from_civil(2130, 1, 1) * 86_400_000))
        );
    }

    #[test]
    fn errors_have_stable_codes_and_do_not_echo_input() {
        let secret = "Sun, 06 Nov 1994 08:49:37 SECRETZONE";
        let e = parse_http_date(secret, REF_2026).unwrap_err();
        assert_eq!(e.code(), "invalid_http_date");
        assert!(!e.to_string().contains("SECRET"));
        assert_eq!(
            p("Sun, 06 Nov 1969 08:49:37 GMT").unwrap_err().code(),
            "http_date_out_of_range"
        );
        assert_eq!(p(&"x".repeat(129)).unwrap_err().code(), "input_too_long");
        assert_eq!(
            parse_retry_after("-1", REF_2026).unwrap_err().code(),
            "invalid_retry_after"
        );
        assert_eq!(
            parse_retry_after("2147483648", REF_2026)
                .unwrap_err()
                .code(),
            "retry_after_out_of_range"
        );
    }

    #[test]
    fn format_clamps_out_of_range_times() {
        assert_eq!(
            format_http_date(UnixMillis(-1)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            format_http_date(UnixMillis(i64::MAX)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    fn asctime(t: i64) -> String {
        let f = format_http_date(UnixMillis(t));
        // "Sun, 06 Nov 1994 08:49:37 GMT" -> "Sun Nov  6 08:49:37 1994"
        let day: u32 = f[5..7].parse().unwrap();
        format!(
            "{} {} {:>2} {} {}",
            &f[0..3],
            &f[8..11],
            day,
            &f[17..25],
            &f[12..16]
        )
    }

    fn rfc850(t: i64) -> String {
        let f = format_http_date(UnixMillis(t));
        let wd = SHORT_WEEKDAYS.iter().position(|w| *w == &f[0..3]).unwrap();
        format!(
            "{}, {}-{}-{} {} GMT",
            LONG_WEEKDAYS[wd],
            &f[5..7],
            &f[8..11],
            &f[14..16],
            &f[17..25]
        )
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(t in 0..=MAX_UNIX_MILLIS) {
            let floored = t - t % 1_000;
            let s = format_http_date(UnixMillis(t));
            prop_assert_eq!(s.len(), 29);
            prop_assert_eq!(parse_http_date(&s, REF_2026), Ok(UnixMillis(floored)));
            prop_assert_eq!(parse_http_date(&format!(" \t{s}\r\n"), REF_2026), Ok(UnixMillis(floored)));
            prop_assert_eq!(parse_http_date(&asctime(t), REF_2026), Ok(UnixMillis(floored)));
            prop_assert_eq!(
                parse_retry_after(&s, REF_2026),
                Ok(RetryAfter::Date(UnixMillis(floored)))
            );
        }

        #[test]
        fn rfc850_round_trips_within_the_window(t in 0..=MAX_UNIX_MILLIS) {
            // With the reference at t itself, the date is in the past half of the window.
            let floored = t - t % 1_000;
            prop_assert_eq!(parse_http_date(&rfc850(t), UnixMillis(t)), Ok(UnixMillis(floored)));
        }

        #[test]
        fn delay_seconds_round_trip(secs in 0..=MAX_RETRY_AFTER_SECONDS) {
            prop_assert_eq!(
                parse_retry_after(&secs.to_string(), REF_2026),
                Ok(RetryAfter::Delay { ms: secs * 1_000 })
            );
        }

        #[test]
        fn never_panics(s in "\\PC{0,140}", r in any::<i64>()) {
            let _ = parse_http_date(&s, UnixMillis(r));
            let _ = parse_retry_after(&s, UnixMillis(r));
        }

        #[test]
        fn never_panics_on_near_dates(s in "[A-Za-z]{3,9},? [0-9 ]{1,3}[ -][A-Za-z]{3}[ -][0-9]{1,6} [0-9:]{8} ?[A-Z0-9]{0,4}") {
            let _ = parse_http_date(&s, REF_2026);
        }
    }
}
