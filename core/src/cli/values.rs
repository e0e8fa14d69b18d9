//! Command-line values: [`ReportError`] and the parsers both front-ends share, so `0.1` is
//! 100 ms everywhere (`parse_seconds_arg`, `parse_count_arg`, `parse_host_port`).

use super::*;

/// A command-line value or a report input was not acceptable. Messages name the flag or
/// field, never the value given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportError {
    /// `invalid_argument`: a flag's value is malformed or out of range.
    InvalidArgument {
        /// The flag or field (e.g. `"--max-offset"`).
        what: String,
        /// What was expected.
        expected: &'static str,
    },
}

impl ErrorCode for ReportError {
    fn code(&self) -> &'static str {
        match self {
            ReportError::InvalidArgument { .. } => "invalid_argument",
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::InvalidArgument { what, expected } => {
                write!(f, "{}: expected {expected}", sanitize(what))
            }
        }
    }
}

impl std::error::Error for ReportError {}

pub(super) fn invalid(what: &str, expected: &'static str) -> ReportError {
    ReportError::InvalidArgument {
        what: what.to_owned(),
        expected,
    }
}

/// Parses a flag's decimal number of seconds (`"1"`, `"-0.25"`, `"+30"`, `"1.5e3"` is not
/// accepted) into milliseconds, exactly: an optional sign, digits, an optional `.` and at
/// most three fraction digits. At most ±10⁹ s. `what` names the flag in the error.
///
/// Both front-ends use this rather than their language's float parser, so `0.1` is 100 ms
/// everywhere.
pub fn parse_seconds_arg(what: &str, text: &str) -> Result<i64, ReportError> {
    parse_thousandths(what, text, "a number of seconds with at most 3 decimals")
}

/// A decimal with at most three fraction digits, in thousandths.
pub(super) fn parse_thousandths(
    what: &str,
    text: &str,
    expected: &'static str,
) -> Result<i64, ReportError> {
    let bad = || invalid(what, expected);
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).ok_or_else(bad)?),
        Some(b'+') => (false, text.get(1..).ok_or_else(bad)?),
        _ => (false, text),
    };
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || frac_part.is_some_and(|f| !digits(f) || f.len() > 3) {
        return Err(bad());
    }
    if int_part.len() > 10 {
        return Err(bad());
    }
    let whole: i64 = int_part.parse().map_err(|_| bad())?;
    let frac: i64 = match frac_part {
        Some(f) => format!("{f:0<3}").parse().map_err(|_| bad())?,
        None => 0,
    };
    let ms = whole
        .checked_mul(1_000)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)?;
    if ms > 1_000_000_000_000 {
        return Err(bad());
    }
    Ok(if negative { -ms } else { ms })
}

/// Parses a flag's non-negative decimal integer (`--samples`, `--seed`, `--ttl`), at most
/// `max`. Digits only: no sign, no spaces, no underscores, no exponent.
pub fn parse_count_arg(what: &str, text: &str, max: u64) -> Result<u64, ReportError> {
    const EXPECTED: &str = "a non-negative integer in range";
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(what, EXPECTED));
    }
    let n: u64 = text.parse().map_err(|_| invalid(what, EXPECTED))?;
    if n > max {
        return Err(invalid(what, EXPECTED));
    }
    Ok(n)
}

/// Splits `--ntp HOST[:PORT]` into host and port (default `default_port`). An IPv6 address
/// with a port is written in brackets (`[2001:db8::1]:123`); a bare IPv6 address (more than
/// one `:`) is a host without port. The host must be non-empty and free of spaces and
/// control characters.
pub fn parse_host_port(text: &str, default_port: u16) -> Result<(String, u16), ReportError> {
    const EXPECTED: &str = "HOST or HOST:PORT (IPv6 as [ADDR]:PORT)";
    let bad = || invalid("--ntp", EXPECTED);
    let port_of = |p: &str| -> Result<u16, ReportError> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(n) => Ok(n),
        }
    };
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, default_port),
            _ => (host, port_of(after.strip_prefix(':').ok_or_else(bad)?)?),
        }
    } else if text.matches(':').count() == 1 {
        let (host, port) = text.split_once(':').ok_or_else(bad)?;
        (host, port_of(port)?)
    } else {
        (text, default_port)
    };
    if host.is_empty()
        || host.len() > 253
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}
