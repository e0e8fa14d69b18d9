//! The `tokenclock` command line's reports: `inspect`, `skew`, `ages` and `simulate`, rendered
//! here so that the Python console script and the npm `npx tokenclock` print byte-identical
//! output.
//!
//! The front-ends parse arguments, read files and stdin, send the HTTP and UDP requests, read
//! the clocks, and call into this module with plain data. Everything they print comes from
//! here as a [`Rendered`]: the human text, the `--json` object, the exit code and the stream
//! to print on. Nothing here reads a clock, touches a file or a socket, or draws randomness.
//!
//! # Conventions (the contract with the front-ends; prose in `docs/cli.md`)
//!
//! * **Exit codes**: [`EXIT_OK`] (0) nothing notable; [`EXIT_FINDING`] (1) a finding: a token
//!   expired, failed verification, an offset that is or may be beyond the limit, a verifier
//!   clock behind or ahead of the issuer's; [`EXIT_USAGE`] (2) bad usage or unreadable input
//!   (including an origin that could not be measured at all).
//! * **JSON**: every object has `command`, `schema_version` ([`SCHEMA_VERSION`]), `findings`
//!   and `exit_code`; failures before a report could be made have an `error` object instead
//!   of the report's fields. Only integers, strings, booleans and `null` appear: times are
//!   integer milliseconds (`*_ms`), never floats, so every JSON library reads them exactly.
//!   [`Rendered::json_text`] is the one serialisation the front-ends print: keys sorted,
//!   two-space indent, UTF-8, a final newline, and DEL, C1 and bidirectional control
//!   characters escaped as `\uXXXX` (otherwise the bytes of Python's
//!   `json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)`).
//! * **Text**: deterministic. Durations are humanised by [`human_duration`] (truncated, never
//!   rounded up: "expires in 4m12s" when 4 min 12.9 s remain), instants by [`iso8601_utc`].
//!   Colour (ANSI SGR) only when the caller passes `color = true`; the front-end decides (a
//!   TTY and `NO_COLOR` unset). Text taken from the input (claim values, origin names) has
//!   control and bidirectional-override characters escaped, so a token cannot drive the
//!   terminal.
//! * **Secrets**: no raw token and no signature ever appears in text or JSON (only the
//!   signature's length). Claims are shown (they are not secrets) with long values capped.
//!   Usage messages have JWT-shaped substrings replaced by `<token>`.

use core::fmt;
use core::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::httpdate::parse_http_date;
use crate::lifetime::{DeadlineBasis, Lifetime, LifetimePolicy, TokenState, TokenTimes};
use crate::monitor::{AssessmentRules, SkewMonitor, Verdict, EDGES};
use crate::peek::{peek, Peeked};
use crate::rng::SplitMix64;
use crate::skew::{Estimate, Sample, SampleSource, SkewError, SkewEstimator};
use crate::sntp::{build_request, parse_reply, SntpRequest, PACKET_LEN};
use crate::time::{Reading, UnixMillis, MAX_UNIX_MILLIS};
use crate::ErrorCode;

/// Exit code: nothing notable.
pub const EXIT_OK: i32 = 0;
/// Exit code: a finding (expired or invalid token, offset beyond the limit, clock behind or
/// ahead of the issuer's).
pub const EXIT_FINDING: i32 = 1;
/// Exit code: bad usage or unreadable input.
pub const EXIT_USAGE: i32 = 2;

/// Version of the JSON objects' shape (`schema_version`); bumped only on incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest claim or header string shown (characters); longer ones are cut with a note.
pub const MAX_VALUE_CHARS: usize = 200;
/// Most array elements or object members shown per claim value.
pub const MAX_VALUE_ITEMS: usize = 50;
/// Longest line of a claim value in the text report (characters).
const MAX_TEXT_VALUE_CHARS: usize = 120;
/// Longest usage or input-error message kept (characters).
const MAX_MESSAGE_CHARS: usize = 300;
/// A warning about `iat` fires when it is more than this far in the future.
pub const IAT_FUTURE_TOLERANCE_MS: i64 = 1_000;
/// A lifetime shorter than this is "unusually short".
pub const SHORT_LIFETIME_MS: i64 = 60_000;
/// A lifetime longer than this is "unusually long".
pub const LONG_LIFETIME_MS: i64 = 86_400_000;
/// Metric name of `ages --prometheus`.
pub const AGES_METRIC_NAME: &str = "tokenclock_token_age_seconds";

/// Where a [`Rendered`] text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// A report: standard output.
    Stdout,
    /// A usage or input error (the JSON has an `error` object): standard error. With
    /// `--json`, the JSON still goes to standard output.
    Stderr,
}

/// One command's output, ready to print.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Rendered {
    /// The human report, ending with a newline.
    pub text: String,
    /// The `--json` object (see `docs/cli.md` for each command's shape).
    pub json: Value,
    /// The process exit code: [`EXIT_OK`], [`EXIT_FINDING`] or [`EXIT_USAGE`].
    pub exit_code: i32,
    /// Where `text` goes.
    pub stream: Stream,
}

impl Rendered {
    /// The JSON object as the front-ends print it: keys sorted, two-space indent, UTF-8,
    /// a final newline.
    pub fn json_text(&self) -> String {
        let mut out = String::new();
        write_json(&mut out, &self.json, 0);
        out.push('\n');
        out
    }

    /// What to print: the JSON text when `json` is asked for, else the human text.
    pub fn output(&self, json: bool) -> String {
        if json {
            self.json_text()
        } else {
            self.text.clone()
        }
    }
}

/// Pretty JSON with sorted keys, independent of `serde_json`'s map order feature.
fn write_json(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_json_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_indent(out, indent + 2);
                write_json(out, item, indent + 2);
            }
            out.push('\n');
            push_indent(out, indent);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_indent(out, indent + 2);
                push_json_string(out, key);
                out.push_str(": ");
                if let Some(value) = map.get(key) {
                    write_json(out, value, indent + 2);
                }
            }
            out.push('\n');
            push_indent(out, indent);
            out.push('}');
        }
    }
}

/// A JSON string literal: `serde_json`'s escaping (`"`, `\\`, C0 controls), plus `\uXXXX` for
/// DEL, C1 controls and bidirectional controls, so printing the JSON to a terminal is safe too.
fn push_json_string(out: &mut String, s: &str) {
    // Serialising a string cannot fail.
    let quoted = serde_json::to_string(s).unwrap_or_default();
    for c in quoted.chars() {
        if is_unsafe_char(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(core::iter::repeat_n(' ', n));
}

// ---------------------------------------------------------------------------------------------
// Errors and argument helpers
// ---------------------------------------------------------------------------------------------

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

fn invalid(what: &str, expected: &'static str) -> ReportError {
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
fn parse_thousandths(what: &str, text: &str, expected: &'static str) -> Result<i64, ReportError> {
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

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 in the proleptic
/// Gregorian calendar.
///
/// Howard Hinnant's `civil_from_days` ("chrono-Compatible Low-Level Date Algorithms",
/// <https://howardhinnant.github.io/date_algorithms.html>, placed in the public domain by its
/// author): shift the epoch to 0000-03-01 so the leap day ends the year, split into 400-year
/// eras of 146 097 days, then into years and a March-based day of the year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = era.saturating_mul(400).saturating_add(yoe) + i64::from(month <= 2);
    (year, month, day)
}

/// An instant (Unix milliseconds) as ISO 8601 / RFC 3339 UTC: `2023-11-14T22:13:20Z`, with
/// `.mmm` only when the milliseconds are not zero (`2023-11-14T22:13:20.500Z`). Years outside
/// 0000–9999 use ISO 8601's expanded form with a sign.
pub fn iso8601_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let milli = ms.rem_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = if (0..=9_999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{year:+05}")
    };
    let _ = write!(
        out,
        "-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60
    );
    if milli != 0 {
        let _ = write!(out, ".{milli:03}");
    }
    out.push('Z');
    out
}

/// A duration's magnitude in the largest fitting unit pair, truncated (never rounded up):
/// `250 ms`, `3.2 s`, `4m12s`, `2h05m`, `3d04h`. The sign is ignored.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.unsigned_abs();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1_000, ms % 1_000 / 100)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1_000)
    } else if ms < 86_400_000 {
        format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000)
    } else {
        format!("{}d{:02}h", ms / 86_400_000, ms % 86_400_000 / 3_600_000)
    }
}

/// A signed duration: `+3.2 s`, `-250 ms`, `0 ms`.
pub fn human_signed(ms: i64) -> String {
    match ms.signum() {
        1 => format!("+{}", human_duration(ms)),
        -1 => format!("-{}", human_duration(ms)),
        _ => "0 ms".to_owned(),
    }
}

/// An instant relative to now, given `instant − now`: `in 4m12s`, `4m12s ago`, `now`.
pub fn human_relative(delta_ms: i64) -> String {
    match delta_ms.signum() {
        1 => format!("in {}", human_duration(delta_ms)),
        -1 => format!("{} ago", human_duration(delta_ms)),
        _ => "now".to_owned(),
    }
}

/// Milliseconds as signed seconds with three decimals: `+1.250 s`, `-0.040 s`, `0.000 s`.
pub fn signed_seconds(ms: i64) -> String {
    let sign = match ms.signum() {
        1 => "+",
        -1 => "-",
        _ => "",
    };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", abs / 1_000, abs % 1_000)
}

/// Milliseconds as seconds with three decimals and a `-` only: `-65.536 s`, `0.008 s`.
fn plain_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", abs / 1_000, abs % 1_000)
}

/// True for characters that must not reach a terminal raw: C0/C1 controls, DEL, and the
/// bidirectional overrides and isolates ("Trojan Source", CVE-2021-42574).
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Input text made safe for a terminal: unsafe characters become `\uXXXX`.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe_char(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` characters: longer text keeps `max − 1` and ends with `…`.
fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A JSON value with long strings cut and long arrays/objects shortened, recursively.
fn cap_value(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let n = s.chars().count();
            if n > MAX_VALUE_CHARS {
                let head: String = s.chars().take(MAX_VALUE_CHARS).collect();
                Value::String(format!("{head}… ({n} characters)"))
            } else {
                v.clone()
            }
        }
        Value::Array(items) => {
            let mut out: Vec<Value> = items.iter().take(MAX_VALUE_ITEMS).map(cap_value).collect();
            if items.len() > MAX_VALUE_ITEMS {
                out.push(Value::String(format!(
                    "… ({} more)",
                    items.len() - MAX_VALUE_ITEMS
                )));
            }
            Value::Array(out)
        }
        Value::Object(map) => Value::Object(cap_map(map)),
        _ => v.clone(),
    }
}

fn cap_map(map: &Map<String, Value>) -> Map<String, Value> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for key in keys.iter().take(MAX_VALUE_ITEMS) {
        if let Some(value) = map.get(*key) {
            out.insert(cap_key(key), cap_value(value));
        }
    }
    if keys.len() > MAX_VALUE_ITEMS {
        out.insert(
            "…".to_owned(),
            Value::String(format!("{} more members", keys.len() - MAX_VALUE_ITEMS)),
        );
    }
    out
}

fn cap_key(key: &str) -> String {
    cap_chars(key, MAX_VALUE_CHARS)
}

/// A claim or header value for one line of text: strings bare, anything else as compact
/// JSON; capped and sanitised.
fn value_text(v: &Value) -> String {
    let raw = match cap_value(v) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    cap_chars(&sanitize(&raw), MAX_TEXT_VALUE_CHARS)
}

/// `s` padded with spaces to `width` characters (never cut).
fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

/// ANSI SGR colouring, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn sgr(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{s}\u{1b}[0m")
        } else {
            s.to_owned()
        }
    }
    fn bold(self, s: &str) -> String {
        self.sgr("1", s)
    }
    fn red(self, s: &str) -> String {
        self.sgr("31", s)
    }
    fn green(self, s: &str) -> String {
        self.sgr("32", s)
    }
    fn yellow(self, s: &str) -> String {
        self.sgr("33", s)
    }
}

/// A finding or warning: a stable code and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Note {
    code: &'static str,
    message: String,
}

fn notes_json(notes: &[Note]) -> Value {
    Value::Array(
        notes
            .iter()
            .map(|n| json!({"code": n.code, "message": n.message}))
            .collect(),
    )
}

fn result_line(p: Paint, findings: &[Note]) -> String {
    if findings.is_empty() {
        format!("{}  {}\n", p.bold("result"), p.green("ok"))
    } else {
        let mut codes: Vec<&str> = Vec::new();
        for f in findings {
            if !codes.contains(&f.code) {
                codes.push(f.code);
            }
        }
        format!("{}  {}\n", p.bold("result"), p.red(&codes.join(", ")))
    }
}

fn exit_for(findings: &[Note]) -> i32 {
    if findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDING
    }
}

// ---------------------------------------------------------------------------------------------
// Errors as output
// ---------------------------------------------------------------------------------------------

/// The commands, for error messages and `help`.
pub const COMMANDS: [&str; 4] = ["inspect", "skew", "ages", "simulate"];

fn command_label(command: Option<&str>) -> String {
    match command {
        Some(c) if COMMANDS.contains(&c) => format!("tokenclock {c}"),
        _ => "tokenclock".to_owned(),
    }
}

fn command_json(command: Option<&str>) -> Value {
    match command {
        Some(c) if COMMANDS.contains(&c) => Value::String(c.to_owned()),
        _ => Value::Null,
    }
}

/// An error output: one line of text on stderr, exit 2, JSON with an `error` object.
fn error_rendered(command: Option<&str>, code: &str, message: &str) -> Rendered {
    let message = cap_chars(&sanitize(&redact_tokens(message)), MAX_MESSAGE_CHARS);
    Rendered {
        text: format!("{}: error: {message}\n", command_label(command)),
        json: json!({
            "command": command_json(command),
            "schema_version": SCHEMA_VERSION,
            "error": {"code": code, "message": message},
            "findings": [],
            "exit_code": EXIT_USAGE,
        }),
        exit_code: EXIT_USAGE,
        stream: Stream::Stderr,
    }
}

/// Bad usage (unknown flag, missing argument, a value out of range): one line on stderr,
/// exit 2, JSON `{"error": {"code": "usage", "message": …}}`. `command` is one of
/// [`COMMANDS`] or `None`. JWT-shaped text in `message` is replaced by `<token>`, control
/// characters are escaped and the message is capped at 300 characters.
pub fn usage_error(command: Option<&str>, message: &str) -> Rendered {
    error_rendered(command, "usage", message)
}

/// A [`ReportError`] (a flag's value rejected by one of this module's parsers) as a usage
/// error, with its code.
pub fn argument_error(command: Option<&str>, error: &ReportError) -> Rendered {
    error_rendered(command, error.code(), &error.to_string())
}

/// Why an input could not be read, as the front-ends classify their I/O errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputProblem {
    /// `not_found`: no such file (ENOENT).
    NotFound,
    /// `permission_denied`: EACCES / EPERM.
    PermissionDenied,
    /// `is_a_directory`: EISDIR.
    IsADirectory,
    /// `too_large`: more than the command reads (e.g. a token file over 64 KiB).
    TooLarge,
    /// `io_error`: anything else.
    Io,
}

impl InputProblem {
    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            InputProblem::NotFound => "not_found",
            InputProblem::PermissionDenied => "permission_denied",
            InputProblem::IsADirectory => "is_a_directory",
            InputProblem::TooLarge => "too_large",
            InputProblem::Io => "io_error",
        }
    }

    /// Reads a code back (`None` for an unknown one).
    pub fn from_code(code: &str) -> Option<InputProblem> {
        [
            InputProblem::NotFound,
            InputProblem::PermissionDenied,
            InputProblem::IsADirectory,
            InputProblem::TooLarge,
            InputProblem::Io,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }

    const fn phrase(self) -> &'static str {
        match self {
            InputProblem::NotFound => "no such file",
            InputProblem::PermissionDenied => "permission denied",
            InputProblem::IsADirectory => "is a directory",
            InputProblem::TooLarge => "too large",
            InputProblem::Io => "read error",
        }
    }
}

/// An input that could not be read: `tokenclock ages: error: cannot read logs.txt: no such
/// file`, exit 2. `what` is the path as given (or `"standard input"`); the front-end maps
/// its OS error to an [`InputProblem`] so both print the same words.
pub fn input_error(command: Option<&str>, what: &str, problem: InputProblem) -> Rendered {
    error_rendered(
        command,
        problem.code(),
        &format!("cannot read {what}: {}", problem.phrase()),
    )
}

/// The usage summary (`tokenclock --help`, `tokenclock CMD --help`); exit 0, stdout.
pub fn help(command: Option<&str>) -> Rendered {
    let text = match command {
        Some("inspect") => HELP_INSPECT,
        Some("skew") => HELP_SKEW,
        Some("ages") => HELP_AGES,
        Some("simulate") => HELP_SIMULATE,
        _ => HELP_MAIN,
    };
    Rendered {
        text: text.to_owned(),
        json: json!({
            "command": command_json(command),
            "schema_version": SCHEMA_VERSION,
            "help": text,
            "findings": [],
            "exit_code": EXIT_OK,
        }),
        exit_code: EXIT_OK,
        stream: Stream::Stdout,
    }
}

const HELP_MAIN: &str = "\
usage: tokenclock COMMAND [OPTIONS]

commands:
  inspect   show a JWT's header, claims and time claims (unverified unless a key is given)
  skew      measure this machine's clock offset to HTTP servers (Date header) or SNTP
  ages      token ages (now - iat) found in logs: quantiles, histogram, clock verdict
  simulate  run one skew-gauntlet cell: every token strategy side by side

Every command takes --json. Exit codes: 0 fine, 1 a finding, 2 bad usage or unreadable input.
Run 'tokenclock COMMAND --help' for a command's options.
";

const HELP_INSPECT: &str = "\
usage: tokenclock inspect TOKEN|- [--server URL] [--key FILE | --jwks FILE --alg ALG[,ALG...]]
                          [--leeway S] [--iss ISS] [--aud AUD] [--json]

  TOKEN|-       the token, or - to read it from standard input (a 'Bearer ' prefix is fine)
  --server URL  measure this machine's offset to URL first; show times on its clock
  --key FILE    verify with a PEM public key, a JWK, or an HMAC secret (the file's bytes)
  --jwks FILE   verify with a JWKS document
  --alg ALG     algorithms to accept (required with --key/--jwks), e.g. RS256,ES256
  --leeway S    verifier leeway in seconds (default 5)
  --iss ISS     expected issuer (default: not checked)
  --aud AUD     expected audience (default: not checked)
";

const HELP_SKEW: &str = "\
usage: tokenclock skew [URL...] [--ntp HOST[:PORT]]... [--samples N] [--max-offset S] [--json]

  URL               an HTTP(S) origin; its Date header is sampled with HEAD requests
  --ntp HOST[:PORT] an SNTP server (port 123 by default)
  --samples N       requests per origin (default 8 for URLs, 1 for SNTP)
  --max-offset S    exit 1 when an offset may exceed S seconds (default 1)
";

const HELP_AGES: &str = "\
usage: tokenclock ages [FILE|-] [--time-field FIELD] [--prometheus] [--json]

  FILE|-             input (default standard input); JWTs are found anywhere in a line
  --time-field FIELD where a line's own timestamp is: a JSON key (dotted path), a logfmt
                     key, or a 1-based whitespace-separated column number
  --prometheus       print the histogram in Prometheus text format instead
";

const HELP_SIMULATE: &str = "\
usage: tokenclock simulate [--client-offset S] [--rs-offset S] [--ttl S] [--leeway S]
                           [--cached-age S] [--step S] [--hours H] [--seed N] [--timeline] [--json]

  --client-offset S  client clock minus issuer clock (default 0)
  --rs-offset S      resource-server clock minus issuer clock (default 0)
  --ttl S            token lifetime (default 300)
  --leeway S         resource-server leeway (default 0)
  --cached-age S     issuer hands out cached tokens, the first this old (default 0: off)
  --step S           client wall-clock step half-way through the first token (default 0)
  --hours H          simulated duration (default 3)
  --seed N           seed (default 1)
  --timeline         print tokenclock's event log
";

// ---------------------------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------------------------

/// The clock of a server measured with `--server URL` before inspecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerClock {
    /// How to call it in the report (the URL as given).
    pub origin: String,
    /// Its offset estimate (`server − local`) at the inspection's `now`.
    pub estimate: Estimate,
}

/// Which flag a verification key came from.
#[cfg(feature = "verify")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyFileKind {
    /// `--key FILE`: a PEM public key or certificate (the file contains `-----BEGIN`), a JWK
    /// (its first non-space byte is `{`), otherwise an HMAC secret (the file's exact bytes).
    Key,
    /// `--jwks FILE`: a JWKS document.
    Jwks,
}

/// A verification key and the verifier's options, as read by the front-end.
#[cfg(feature = "verify")]
#[derive(Clone, PartialEq, Eq)]
pub struct KeyInput {
    /// Which flag.
    pub kind: KeyFileKind,
    /// The file's bytes.
    pub contents: Vec<u8>,
    /// `--alg`: JOSE names, at least one (`HS256`, `RS256`, …; never `none`).
    pub algorithms: Vec<String>,
    /// `--leeway` in ms (`None`: the verifier's default, 5 s).
    pub leeway_ms: Option<i64>,
    /// `--iss` (`None`: not checked).
    pub issuer: Option<String>,
    /// `--aud` (empty: not checked, i.e. the token's own `aud` is accepted).
    pub audience: Vec<String>,
}

#[cfg(feature = "verify")]
impl fmt::Debug for KeyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInput")
            .field("kind", &self.kind)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("algorithms", &self.algorithms)
            .field("leeway_ms", &self.leeway_ms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Options of [`inspect`]. `Default`: no server, no key, no colour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InspectOptions {
    /// `--server URL`: the measured server clock, when asked for.
    pub server: Option<ServerClock>,
    /// `--key`/`--jwks`: verify the token (feature `verify`).
    #[cfg(feature = "verify")]
    pub key: Option<KeyInput>,
    /// Colour the text.
    pub color: bool,
}

/// Largest absolute offset accepted in an estimate handed in (~100 years).
const MAX_ABS_OFFSET_MS: i64 = 100 * 366 * 86_400_000;

fn estimate_is_sane(e: &Estimate) -> bool {
    let ok = |v: i64| (-MAX_ABS_OFFSET_MS..=MAX_ABS_OFFSET_MS).contains(&v);
    ok(e.offset_ms)
        && e.low_ms.is_none_or(ok)
        && e.high_ms.is_none_or(ok)
        && !matches!((e.low_ms, e.high_ms), (Some(l), Some(h)) if l > h)
        && e.agreeing <= e.samples
}

/// Half the width of an estimate, rounded up (`None` when unbounded).
fn half_width(e: &Estimate) -> Option<i64> {
    e.width_ms().map(|w| w / 2 + w % 2)
}

/// `inspect TOKEN|-`: the token's header and claims (unverified), every time claim in UTC and
/// relative to now, the expiry state a tokenclock client would give it if it arrived now,
/// warnings, and with a key the verifier's verdict.
///
/// * `now` is this machine's wall clock.
/// * With `options.server`, relative times are also given on that server's clock (best
///   estimate, ± half the interval), the expiry state uses the worst case of its offset, and
///   the warnings about `iat`/`nbf` judge by its clock.
/// * Exit 1 when the state is `expired` or verification fails; 2 when the token cannot be
///   read, the key or options are unusable, or `now`/the estimate are out of range.
pub fn inspect(token: &str, now: UnixMillis, options: &InspectOptions) -> Rendered {
    const CMD: Option<&str> = Some("inspect");
    if !(0..=MAX_UNIX_MILLIS).contains(&now.0) {
        return usage_error(CMD, "the clock reading is out of range");
    }
    if options
        .server
        .as_ref()
        .is_some_and(|s| !estimate_is_sane(&s.estimate))
    {
        return usage_error(CMD, "the server clock estimate is invalid");
    }
    let peeked = match peek(token) {
        Ok(p) => p,
        Err(e) => return error_rendered(CMD, e.code(), &format!("cannot read the token: {e}")),
    };
    #[cfg(feature = "verify")]
    let verification = match options.key.as_ref().map(|k| verification(token, now, k)) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(rendered)) => return *rendered,
    };
    #[cfg(not(feature = "verify"))]
    let verification: Option<Verification> = None;
    render_inspect(&peeked, now, options, verification.as_ref())
}

/// The verifier's verdict on the token, for the report.
#[cfg_attr(not(feature = "verify"), allow(dead_code))]
struct Verification {
    valid: bool,
    code: Option<&'static str>,
    message: String,
    detail: String,
    alg: Option<String>,
    kid: Option<String>,
    algorithms: Vec<String>,
    leeway_ms: i64,
    likely_clock_skew: bool,
    miss_ms: Option<i64>,
}

impl Verification {
    fn json(&self) -> Value {
        json!({
            "valid": self.valid,
            "code": self.code,
            "message": self.message,
            "alg": self.alg,
            "kid": self.kid.as_deref().map(|k| cap_chars(k, MAX_VALUE_CHARS)),
            "algorithms": self.algorithms,
            "leeway_ms": self.leeway_ms,
            "likely_clock_skew": self.likely_clock_skew,
            "miss_ms": self.miss_ms,
        })
    }
}

/// The token as the verifier wants it: trimmed, without a `Bearer` prefix.
#[cfg(feature = "verify")]
fn bare_token(token: &str) -> &str {
    let t = token.trim_ascii();
    match (t.get(..6), t.get(6..)) {
        (Some(word), Some(rest))
            if word.eq_ignore_ascii_case("bearer") && rest.starts_with([' ', '\t']) =>
        {
            rest.trim_ascii()
        }
        _ => t,
    }
}

#[cfg(feature = "verify")]
fn verification(
    token: &str,
    now: UnixMillis,
    key: &KeyInput,
) -> Result<Verification, Box<Rendered>> {
    use crate::verify::{Algorithm, KeySource, Verifier, VerifyError, VerifyOptions};
    const CMD: Option<&str> = Some("inspect");
    let fail = |r: Rendered| Err(Box::new(r));
    if key.algorithms.is_empty() {
        return fail(usage_error(
            CMD,
            "--key and --jwks need --alg (the algorithms to accept)",
        ));
    }
    let mut algorithms = Vec::with_capacity(key.algorithms.len());
    for name in &key.algorithms {
        match Algorithm::from_name(name) {
            Some(a) => algorithms.push(a),
            None => {
                return fail(argument_error(
                    CMD,
                    &invalid("--alg", "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA"),
                ))
            }
        }
    }
    let mut opts = VerifyOptions::new(&algorithms);
    if let Some(leeway) = key.leeway_ms {
        opts.leeway_ms = leeway;
    }
    opts.issuer = key.issuer.clone();
    let peeked_aud = peek(token).map(|p| p.aud).unwrap_or_default();
    opts.audience = if key.audience.is_empty() {
        peeked_aud
    } else {
        key.audience.clone()
    };
    let source = match key.kind {
        KeyFileKind::Jwks => match core::str::from_utf8(&key.contents) {
            Ok(text) => KeySource::Jwks(text),
            Err(_) => {
                return fail(error_rendered(
                    CMD,
                    "invalid_jwks",
                    "the JWKS file is not UTF-8",
                ))
            }
        },
        KeyFileKind::Key => {
            let contents = key.contents.as_slice();
            let is_pem = contents.windows(10).any(|w| w == b"-----BEGIN");
            let first = contents.iter().find(|b| !b.is_ascii_whitespace());
            if is_pem {
                KeySource::Pem(contents)
            } else if first == Some(&b'{') {
                match core::str::from_utf8(contents) {
                    Ok(text) => KeySource::Jwk(text),
                    Err(_) => {
                        return fail(error_rendered(
                            CMD,
                            "invalid_key",
                            "the JWK file is not UTF-8",
                        ))
                    }
                }
            } else {
                KeySource::Secret(contents)
            }
        }
    };
    let leeway_ms = opts.leeway_ms;
    let verifier = match Verifier::new(source, opts) {
        Ok(v) => v,
        Err(e) => {
            return fail(error_rendered(
                CMD,
                e.code(),
                &format!("cannot use the key: {e}"),
            ))
        }
    };
    let names: Vec<String> = verifier
        .algorithms()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    let leeway_text = human_duration(leeway_ms);
    Ok(match verifier.verify(bare_token(token), now) {
        Ok(v) => Verification {
            valid: true,
            code: None,
            message: "signature and claims verified".to_owned(),
            detail: match &v.kid {
                Some(kid) => format!(
                    "valid: {} signature verified with key {}; time claims pass with {leeway_text} leeway",
                    v.alg,
                    cap_chars(&sanitize(kid), 60)
                ),
                None => format!("valid: {} signature verified; time claims pass with {leeway_text} leeway", v.alg),
            },
            alg: Some(v.alg.as_str().to_owned()),
            kid: v.kid.clone(),
            algorithms: names,
            leeway_ms,
            likely_clock_skew: false,
            miss_ms: None,
        },
        Err(e) => {
            let skew_note = if e.likely_clock_skew() { " (likely clock skew)" } else { "" };
            let (detail, miss) = match e {
                VerifyError::Expired { by_ms, .. } => (
                    format!("exp passed {} ago on this clock, beyond the {leeway_text} leeway{skew_note}", human_duration(by_ms)),
                    Some(by_ms),
                ),
                VerifyError::NotYetValid { valid_in_ms, .. } => (
                    format!("nbf is {} ahead on this clock, beyond the {leeway_text} leeway{skew_note}", human_duration(valid_in_ms)),
                    Some(valid_in_ms),
                ),
                VerifyError::IssuedInFuture { by_ms, .. } => (
                    format!("iat is {} in the future on this clock, beyond the {leeway_text} leeway{skew_note}", human_duration(by_ms)),
                    Some(by_ms),
                ),
                VerifyError::TooOld { by_ms } => (e.to_string(), Some(by_ms)),
                _ => (e.to_string(), None),
            };
            Verification {
                valid: false,
                code: Some(e.code()),
                message: e.to_string(),
                detail: format!("{}: {detail}", e.code()),
                alg: None,
                kid: None,
                algorithms: names,
                leeway_ms,
                likely_clock_skew: e.likely_clock_skew(),
                miss_ms: miss,
            }
        }
    })
}

/// One time claim's place on the two clocks.
struct TimeRow {
    name: &'static str,
    ms: i64,
    /// `claim − now` on this clock.
    delta: i64,
    /// `claim − server now` (best, earliest, latest server now).
    server: Option<(i64, Option<i64>, Option<i64>)>,
}

fn time_phrase(name: &str, delta: i64) -> String {
    let d = human_duration(delta);
    match (name, delta.signum()) {
        ("iat", 1) => format!("issued {d} in the future"),
        ("iat", -1) => format!("issued {d} ago"),
        ("iat", _) => "issued now".to_owned(),
        ("nbf", 1) => format!("not valid for another {d}"),
        ("nbf", -1) => format!("valid since {d} ago"),
        ("nbf", _) => "valid from now".to_owned(),
        (_, 1) => format!("expires in {d}"),
        (_, -1) => format!("expired {d} ago"),
        _ => "expired just now".to_owned(),
    }
}

fn render_inspect(
    peeked: &Peeked,
    now: UnixMillis,
    options: &InspectOptions,
    verification: Option<&Verification>,
) -> Rendered {
    let p = Paint(options.color);
    let now_ms = now.0;
    let server = options.server.as_ref();
    let times = peeked.times;

    // Where "now" is on the reference clock (the server's best estimate, else ours).
    let ref_now = now_ms.saturating_add(server.map_or(0, |s| s.estimate.offset_ms));
    let ref_clock = match server {
        Some(s) => format!("on {}'s clock", sanitize(&s.origin)),
        None => "on this clock".to_owned(),
    };

    let rows: Vec<TimeRow> = [
        ("iat", times.iat_ms),
        ("nbf", times.nbf_ms),
        ("exp", times.exp_ms),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|ms| (name, ms)))
    .map(|(name, ms)| TimeRow {
        name,
        ms,
        delta: ms.saturating_sub(now_ms),
        server: server.map(|s| {
            let e = &s.estimate;
            (
                ms.saturating_sub(now_ms.saturating_add(e.offset_ms)),
                e.high_ms
                    .map(|h| ms.saturating_sub(now_ms.saturating_add(h))),
                e.low_ms
                    .map(|l| ms.saturating_sub(now_ms.saturating_add(l))),
            )
        }),
    })
    .collect();

    // Lifetime: exp − iat (else exp − nbf).
    let lifetime = times.exp_ms.and_then(|exp| {
        let (start, from) = match (times.iat_ms, times.nbf_ms) {
            (Some(iat), _) => (iat, "iat"),
            (None, Some(nbf)) => (nbf, "nbf"),
            (None, None) => return None,
        };
        Some((exp.saturating_sub(start), from))
    });

    // The core's expiry state, as if a client received the token now.
    let estimate = server.map_or(Estimate::UNKNOWN, |s| s.estimate);
    let policy = LifetimePolicy::default();
    let reading = Reading {
        wall: now,
        mono: crate::time::MonoMillis(0),
    };
    let token_times = TokenTimes {
        expires_in_ms: None,
        exp_ms: times.exp_ms,
        nbf_ms: times.nbf_ms,
        iat_ms: times.iat_ms,
    };
    let lifetime_calc = Lifetime::new(
        &token_times,
        reading,
        reading,
        &estimate,
        &policy,
        &mut SplitMix64::new(0),
    );
    let state = match &lifetime_calc {
        Ok(lt) => Some((lt, lt.state(reading, &estimate, &policy))),
        Err(_) => None,
    };

    // Warnings.
    let mut warnings: Vec<Note> = Vec::new();
    let alg = peeked.alg.as_deref().unwrap_or("");
    if alg.eq_ignore_ascii_case("none") {
        warnings.push(Note {
            code: "alg_none",
            message: "alg is \"none\": the token is unsigned and must never be accepted".to_owned(),
        });
    }
    if times.exp_ms.is_none() {
        warnings.push(Note {
            code: "exp_missing",
            message: "no exp: the token never expires by its claims".to_owned(),
        });
    }
    if let Some(iat) = times.iat_ms {
        let ahead = iat.saturating_sub(ref_now);
        if ahead > IAT_FUTURE_TOLERANCE_MS {
            warnings.push(Note {
                code: "iat_in_future",
                message: format!(
                    "issued {} in the future {ref_clock}: the issuer's clock is ahead of it",
                    human_duration(ahead)
                ),
            });
        }
    }
    if let Some(nbf) = times.nbf_ms {
        let ahead = nbf.saturating_sub(ref_now);
        if ahead > 0 {
            warnings.push(Note {
                code: "nbf_ahead",
                message: format!(
                    "nbf is {} ahead {ref_clock}: not valid yet",
                    human_duration(ahead)
                ),
            });
        }
    }
    if let Some((l, from)) = lifetime {
        if l <= 0 {
            warnings.push(Note {
                code: "lifetime_not_positive",
                message: format!("exp is not after {from}: the token is never valid"),
            });
        } else if l < SHORT_LIFETIME_MS {
            warnings.push(Note {
                code: "lifetime_short",
                message: format!(
                    "lifetime {} is unusually short (under a minute)",
                    human_duration(l)
                ),
            });
        } else if l > LONG_LIFETIME_MS {
            warnings.push(Note {
                code: "lifetime_long",
                message: format!(
                    "lifetime {} is unusually long (over a day)",
                    human_duration(l)
                ),
            });
        }
    }

    // Findings.
    let mut findings: Vec<Note> = Vec::new();
    let (state_json, state_text) = match state {
        Some((lt, st)) => {
            let usable = lt.until_hard_expiry_ms(reading, &estimate).max(0);
            let basis = lt.basis.as_str();
            let wait = match st {
                TokenState::NotYetValid { wait_ms, .. } => Some(wait_ms),
                _ => None,
            };
            let explain = match st {
                TokenState::Expired => {
                    let msg = match times.exp_ms {
                        Some(exp) if exp <= ref_now => {
                            format!(
                                "exp passed {} ago {ref_clock}",
                                human_duration(ref_now.saturating_sub(exp))
                            )
                        }
                        Some(_) => format!(
                            "exp may already have passed {ref_clock} (worst case of the offset)"
                        ),
                        None => "the assumed lifetime is over".to_owned(),
                    };
                    let text = p.red(&format!("expired: {msg}"));
                    findings.push(Note {
                        code: "expired",
                        message: msg,
                    });
                    text
                }
                TokenState::NotYetValid { wait_ms, .. } => p.yellow(&format!(
                    "not_yet_valid: usable in {} (nbf/iat not yet passed {ref_clock})",
                    human_duration(wait_ms)
                )),
                TokenState::Fresh | TokenState::Stale => {
                    let name = st.as_str();
                    let colored = if st == TokenState::Fresh {
                        p.green(name)
                    } else {
                        p.yellow(name)
                    };
                    if lt.basis == DeadlineBasis::Assumed {
                        format!(
                            "{colored}: no exp, a client would assume a {} lifetime and use it for {} more",
                            human_duration(policy.assumed_lifetime_ms),
                            human_duration(usable)
                        )
                    } else {
                        format!(
                            "{colored}: usable for {} more (a client stops {} before exp)",
                            human_duration(usable),
                            human_duration(lt.margin_ms)
                        )
                    }
                }
            };
            (
                json!({
                    "name": st.as_str(),
                    "basis": basis,
                    "usable_ms": usable,
                    "margin_ms": lt.margin_ms,
                    "wait_ms": wait,
                }),
                explain,
            )
        }
        None => (Value::Null, "unknown".to_owned()),
    };
    if let Some(v) = verification.filter(|v| !v.valid) {
        let code = v.code.unwrap_or("invalid_token");
        if !findings.iter().any(|f| f.code == code) {
            findings.push(Note {
                code,
                message: v.message.clone(),
            });
        }
    }

    // ---- text
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}",
        p.bold("tokenclock inspect (claims as decoded; the signature is never shown)")
    );
    let _ = writeln!(t, "{}", p.bold("header"));
    push_members(&mut t, &peeked.header, &["alg", "typ", "kid"], &[]);
    let _ = writeln!(t, "{}", p.bold("claims"));
    push_members(
        &mut t,
        &peeked.claims,
        &["iss", "sub", "aud", "jti"],
        &["iat", "nbf", "exp"],
    );
    let _ = writeln!(t, "{}  {} bytes", p.bold("signature"), peeked.signature_len);
    let _ = writeln!(t, "{}  {} (this clock)", p.bold("now"), iso8601_utc(now_ms));
    if let Some(s) = server {
        let e = &s.estimate;
        let bound = |v: Option<i64>, inf: &str| v.map_or_else(|| inf.to_owned(), signed_seconds);
        let _ = writeln!(
            t,
            "{}  {}: offset {} (server − local), between {} and {}, {}/{} samples agree",
            p.bold("server"),
            sanitize(&s.origin),
            signed_seconds(e.offset_ms),
            bound(e.low_ms, "-inf"),
            bound(e.high_ms, "+inf"),
            e.agreeing,
            e.samples
        );
    }
    if rows.is_empty() {
        let _ = writeln!(t, "{}  (no iat, nbf or exp)", p.bold("times"));
    } else {
        let utc: Vec<String> = rows.iter().map(|r| iso8601_utc(r.ms)).collect();
        let local: Vec<String> = rows.iter().map(|r| time_phrase(r.name, r.delta)).collect();
        let utc_w = utc.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        match server {
            None => {
                let _ = writeln!(t, "{}  (relative to this clock)", p.bold("times"));
                for ((r, u), l) in rows.iter().zip(&utc).zip(&local) {
                    let _ = writeln!(t, "  {}  {}  {l}", r.name, pad(u, utc_w));
                }
            }
            Some(s) => {
                let local_w = local
                    .iter()
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max("this clock".len());
                let unc = match half_width(&s.estimate) {
                    Some(h) => format!("±{}", human_duration(h)),
                    None => "offset unbounded".to_owned(),
                };
                let _ = writeln!(
                    t,
                    "{}{}  {}  {}'s clock ({unc})",
                    p.bold("times"),
                    " ".repeat((utc_w + 5).saturating_sub(3)),
                    pad("this clock", local_w),
                    sanitize(&s.origin)
                );
                for ((r, u), l) in rows.iter().zip(&utc).zip(&local) {
                    let sv = r
                        .server
                        .map_or_else(String::new, |(best, _, _)| time_phrase(r.name, best));
                    let _ = writeln!(
                        t,
                        "  {}  {}  {}  {sv}",
                        r.name,
                        pad(u, utc_w),
                        pad(l, local_w)
                    );
                }
            }
        }
    }
    if let Some((l, from)) = lifetime {
        let sign = if l < 0 { "-" } else { "" };
        let _ = writeln!(
            t,
            "{}  {sign}{} (exp − {from})",
            p.bold("lifetime"),
            human_duration(l)
        );
    }
    let _ = writeln!(t, "{}  {state_text}", p.bold("state"));
    if let Some(v) = verification {
        let detail = if v.valid {
            p.green(&v.detail)
        } else {
            p.red(&v.detail)
        };
        let _ = writeln!(t, "{}  {detail}", p.bold("verification"));
    }
    if !warnings.is_empty() {
        let _ = writeln!(t, "{}", p.bold("warnings"));
        for w in &warnings {
            let _ = writeln!(t, "  {} {}", p.yellow("!"), w.message);
        }
    }
    t.push_str(&result_line(p, &findings));

    // ---- JSON
    let time_json = |name: &str| -> Value {
        match rows.iter().find(|r| r.name == name) {
            None => Value::Null,
            Some(r) => {
                let (best, min, max) = match r.server {
                    Some((b, mn, mx)) => (Some(b), mn, mx),
                    None => (None, None, None),
                };
                json!({
                    "ms": r.ms,
                    "utc": iso8601_utc(r.ms),
                    "delta_ms": r.delta,
                    "server_delta_ms": best,
                    "server_delta_min_ms": min,
                    "server_delta_max_ms": max,
                })
            }
        }
    };
    let exit_code = exit_for(&findings);
    let json = json!({
        "command": "inspect",
        "schema_version": SCHEMA_VERSION,
        "now_ms": now_ms,
        "now_utc": iso8601_utc(now_ms),
        "header": Value::Object(cap_map(&peeked.header)),
        "claims": Value::Object(cap_map(&peeked.claims)),
        "signature_bytes": peeked.signature_len,
        "times": {"iat": time_json("iat"), "nbf": time_json("nbf"), "exp": time_json("exp")},
        "lifetime_ms": lifetime.map(|(l, _)| l),
        "server": server.map(|s| json!({
            "origin": s.origin,
            "offset_ms": s.estimate.offset_ms,
            "low_ms": s.estimate.low_ms,
            "high_ms": s.estimate.high_ms,
            "agreeing": s.estimate.agreeing,
            "samples": s.estimate.samples,
        })),
        "state": state_json,
        "verification": verification.map(Verification::json),
        "warnings": notes_json(&warnings),
        "findings": notes_json(&findings),
        "exit_code": exit_code,
    });
    Rendered {
        text: t,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}

/// Lines `  name  value` for a header or claims map: `first` in that order, then the rest
/// sorted, leaving out `skip`.
fn push_members(t: &mut String, map: &Map<String, Value>, first: &[&str], skip: &[&str]) {
    let mut names: Vec<&String> = map
        .keys()
        .filter(|k| !first.contains(&k.as_str()) && !skip.contains(&k.as_str()))
        .collect();
    names.sort();
    let ordered: Vec<(String, &Value)> = first
        .iter()
        .filter_map(|k| map.get(*k).map(|v| ((*k).to_owned(), v)))
        .chain(
            names
                .into_iter()
                .filter_map(|k| map.get(k).map(|v| (k.clone(), v))),
        )
        .collect();
    if ordered.is_empty() {
        t.push_str(if skip.is_empty() {
            "  (none)\n"
        } else {
            "  (none besides time claims)\n"
        });
        return;
    }
    let shown: Vec<(String, String)> = ordered
        .iter()
        .take(MAX_VALUE_ITEMS)
        .map(|(k, v)| (cap_chars(&sanitize(k), 40), value_text(v)))
        .collect();
    let width = shown
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &shown {
        let _ = writeln!(t, "  {}  {v}", pad(k, width));
    }
    if ordered.len() > MAX_VALUE_ITEMS {
        let _ = writeln!(t, "  … {} more", ordered.len() - MAX_VALUE_ITEMS);
    }
}

// ---------------------------------------------------------------------------------------------
// skew
// ---------------------------------------------------------------------------------------------

/// How an origin's clock is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OriginSource {
    /// HTTP `Date` headers (`HEAD` requests to a URL).
    Date,
    /// SNTP (UDP, `--ntp HOST[:PORT]`).
    Sntp,
}

impl OriginSource {
    /// `"date"` or `"sntp"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OriginSource::Date => "date",
            OriginSource::Sntp => "sntp",
        }
    }

    /// Reads `"date"`/`"sntp"` back.
    pub fn from_name(name: &str) -> Option<OriginSource> {
        match name {
            "date" => Some(OriginSource::Date),
            "sntp" => Some(OriginSource::Sntp),
            _ => None,
        }
    }
}

/// Why an origin could not be (fully) measured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginError {
    /// A stable code: a transport code ([`transport_error_message`]), or a core parser's
    /// code (`invalid_http_date`, `sntp_kiss_of_death`, …), or `no_date_header`,
    /// `all_samples_discarded`, `no_samples`.
    pub code: String,
    /// A sentence.
    pub message: String,
}

/// One measured origin: plain data for [`skew`] (from [`SkewProbe::origin`], or built by a
/// binding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkewOrigin {
    /// As given on the command line (`https://api.example`, `ntp:pool.ntp.org:123`).
    pub name: String,
    /// How it was sampled.
    pub source: OriginSource,
    /// The estimate at the end of the measurement.
    pub estimate: Estimate,
    /// The last round trip, ms.
    pub rtt_ms: Option<i64>,
    /// Exchanges whose sample was thrown away (a cached response, a local clock jump).
    pub discarded: u32,
    /// What stopped the measurement, if something did.
    pub error: Option<OriginError>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OriginStatus {
    Ok,
    MayExceed,
    Beyond,
    Unreachable,
}

fn origin_status(o: &SkewOrigin, max: i64) -> OriginStatus {
    let e = &o.estimate;
    if e.samples == 0 {
        return OriginStatus::Unreachable;
    }
    let beyond =
        e.low_ms.is_some_and(|l| l > max) || e.high_ms.is_some_and(|h| h < max.saturating_neg());
    if beyond {
        return OriginStatus::Beyond;
    }
    match (e.low_ms, e.high_ms) {
        (Some(l), Some(h)) if l >= max.saturating_neg() && h <= max => OriginStatus::Ok,
        _ => OriginStatus::MayExceed,
    }
}

/// `skew URL... [--ntp HOST]`: each origin's offset (`server − local`) with its interval,
/// round trip and agreeing samples; pairs of origins whose intervals do not overlap are
/// called out. `max_offset_ms` is `--max-offset` (default 1 000).
///
/// Exit 2 when an origin could not be measured at all (no sample) or the input is invalid;
/// else 1 when an offset is, or may be, beyond `±max_offset_ms` (an unbounded side counts as
/// "may be"); else 0.
pub fn skew(origins: &[SkewOrigin], max_offset_ms: i64, color: bool) -> Rendered {
    const CMD: Option<&str> = Some("skew");
    if origins.is_empty() {
        return usage_error(CMD, "give at least one URL or --ntp HOST");
    }
    if !(0..=MAX_ABS_OFFSET_MS).contains(&max_offset_ms) {
        return argument_error(
            CMD,
            &invalid("--max-offset", "a non-negative number of seconds"),
        );
    }
    if origins.iter().any(|o| !estimate_is_sane(&o.estimate)) {
        return usage_error(CMD, "an origin's clock estimate is invalid");
    }
    let p = Paint(color);
    let max = max_offset_ms;
    let statuses: Vec<OriginStatus> = origins.iter().map(|o| origin_status(o, max)).collect();

    let mut findings: Vec<Note> = Vec::new();
    for (o, st) in origins.iter().zip(&statuses) {
        let name = sanitize(&o.name);
        match st {
            OriginStatus::Ok => {}
            OriginStatus::Beyond => findings.push(Note {
                code: "skew_beyond_limit",
                message: format!("{name} is off by more than {}", plain_seconds(max)),
            }),
            OriginStatus::MayExceed => findings.push(Note {
                code: "skew_may_exceed_limit",
                message: format!("{name} may be off by more than {}", plain_seconds(max)),
            }),
            OriginStatus::Unreachable => findings.push(Note {
                code: "origin_unmeasured",
                message: format!(
                    "{name} could not be measured: {}",
                    o.error
                        .as_ref()
                        .map_or("no samples", |e| e.message.as_str())
                ),
            }),
        }
    }

    // Pairs whose intervals do not overlap.
    let mut disagreements: Vec<(&SkewOrigin, &SkewOrigin, i64)> = Vec::new();
    for (i, a) in origins.iter().enumerate() {
        for b in origins.iter().skip(i + 1) {
            if a.estimate.samples == 0 || b.estimate.samples == 0 {
                continue;
            }
            let gap = |x: &Estimate, y: &Estimate| match (x.high_ms, y.low_ms) {
                (Some(h), Some(l)) if h < l => Some(l.saturating_sub(h)),
                _ => None,
            };
            if let Some(g) = gap(&a.estimate, &b.estimate).or_else(|| gap(&b.estimate, &a.estimate))
            {
                disagreements.push((a, b, g));
            }
        }
    }

    // ---- text table
    let dash = || "-".to_owned();
    let header = [
        "origin",
        "source",
        "offset",
        "interval (server − local)",
        "rtt",
        "samples",
        "status",
    ];
    let cells: Vec<[String; 7]> = origins
        .iter()
        .zip(&statuses)
        .map(|(o, st)| {
            let e = &o.estimate;
            let measured = e.samples > 0;
            let status = match st {
                OriginStatus::Ok => "ok".to_owned(),
                OriginStatus::MayExceed => "may exceed limit".to_owned(),
                OriginStatus::Beyond => "beyond limit".to_owned(),
                OriginStatus::Unreachable => {
                    format!(
                        "error: {}",
                        o.error.as_ref().map_or("no_samples", |e| e.code.as_str())
                    )
                }
            };
            [
                cap_chars(&sanitize(&o.name), 60),
                o.source.as_str().to_owned(),
                if measured {
                    signed_seconds(e.offset_ms)
                } else {
                    dash()
                },
                if measured {
                    format!(
                        "{} .. {}",
                        e.low_ms.map_or_else(|| "-inf".to_owned(), signed_seconds),
                        e.high_ms.map_or_else(|| "+inf".to_owned(), signed_seconds)
                    )
                } else {
                    dash()
                },
                o.rtt_ms.map_or_else(dash, |r| format!("{r} ms")),
                format!("{}/{}", e.agreeing, e.samples),
                status,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut t = String::new();
    let head: Vec<String> = header.iter().zip(widths).map(|(h, w)| pad(h, w)).collect();
    let _ = writeln!(t, "{}", p.bold(head.join("  ").trim_end()));
    for (row, st) in cells.iter().zip(&statuses) {
        let mut parts: Vec<String> = row.iter().zip(widths).map(|(c, w)| pad(c, w)).collect();
        if let Some(last) = parts.last_mut() {
            let plain = last.trim_end().to_owned();
            *last = match st {
                OriginStatus::Ok => p.green(&plain),
                OriginStatus::MayExceed => p.yellow(&plain),
                OriginStatus::Beyond | OriginStatus::Unreachable => p.red(&plain),
            };
        }
        let _ = writeln!(t, "{}", parts.join("  "));
    }
    if !disagreements.is_empty() {
        let _ = writeln!(t, "{}", p.bold("disagreements"));
        for (a, b, g) in &disagreements {
            let _ = writeln!(
                t,
                "  {} {} and {} disagree: their intervals are {} apart",
                p.yellow("!"),
                sanitize(&a.name),
                sanitize(&b.name),
                plain_seconds(*g)
            );
        }
    }
    let partial: Vec<&SkewOrigin> = origins
        .iter()
        .filter(|o| o.estimate.samples > 0 && (o.error.is_some() || o.discarded > 0))
        .collect();
    if !partial.is_empty() {
        let _ = writeln!(t, "{}", p.bold("notes"));
        for o in partial {
            let name = sanitize(&o.name);
            if let Some(e) = &o.error {
                let _ = writeln!(t, "  - {name}: stopped early: {} ({})", e.message, e.code);
            }
            if o.discarded > 0 {
                let _ = writeln!(
                    t,
                    "  - {name}: {} response(s) discarded (cached, or the local clock jumped)",
                    o.discarded
                );
            }
        }
    }
    let unmeasured = statuses.contains(&OriginStatus::Unreachable);
    let exit_code = if unmeasured {
        EXIT_USAGE
    } else {
        exit_for(&findings)
    };
    let limit = format!("limit ±{}", plain_seconds(max));
    if findings.is_empty() {
        let _ = writeln!(t, "{}  {} ({limit})", p.bold("result"), p.green("ok"));
    } else {
        let _ = writeln!(t, "{}", p.bold("findings"));
        for f in &findings {
            let _ = writeln!(t, "  {} {}", p.red("!"), f.message);
        }
        let mut codes: Vec<&str> = Vec::new();
        for f in &findings {
            if !codes.contains(&f.code) {
                codes.push(f.code);
            }
        }
        let _ = writeln!(
            t,
            "{}  {} ({limit})",
            p.bold("result"),
            p.red(&codes.join(", "))
        );
    }

    let json = json!({
        "command": "skew",
        "schema_version": SCHEMA_VERSION,
        "max_offset_ms": max,
        "origins": origins.iter().zip(&statuses).map(|(o, st)| {
            let e = &o.estimate;
            let measured = e.samples > 0;
            json!({
                "name": o.name,
                "source": o.source.as_str(),
                "offset_ms": if measured { Some(e.offset_ms) } else { None },
                "low_ms": e.low_ms,
                "high_ms": e.high_ms,
                "width_ms": e.width_ms(),
                "rtt_ms": o.rtt_ms,
                "agreeing": e.agreeing,
                "samples": e.samples,
                "discarded": o.discarded,
                "status": match st {
                    OriginStatus::Ok => "ok",
                    OriginStatus::MayExceed => "may_exceed_limit",
                    OriginStatus::Beyond => "beyond_limit",
                    OriginStatus::Unreachable => "unmeasured",
                },
                "error": o.error.as_ref().map(|e| json!({"code": e.code, "message": e.message})),
            })
        }).collect::<Vec<Value>>(),
        "disagreements": disagreements.iter().map(|(a, b, g)| json!({
            "a": a.name,
            "b": b.name,
            "gap_ms": g,
        })).collect::<Vec<Value>>(),
        "findings": notes_json(&findings),
        "exit_code": exit_code,
    });
    Rendered {
        text: t,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}

/// Default `--samples` for a URL (`Date` header) origin.
pub const DEFAULT_DATE_SAMPLES: u32 = 8;
/// Default `--samples` for an SNTP origin.
pub const DEFAULT_SNTP_SAMPLES: u32 = 1;
/// Most `--samples` accepted.
pub const MAX_PROBE_SAMPLES: u32 = 64;
/// A `Date` origin stops early once its interval is at most this wide.
pub const DATE_TARGET_WIDTH_MS: i64 = 20;
/// Time allowed for one exchange before the front-end gives up (`timeout`).
pub const PROBE_TIMEOUT_MS: i64 = 5_000;
/// Spacing of SNTP requests to one server: RFC 4330 §10 ("A client MUST NOT under any
/// conditions use a poll interval less than 15 seconds").
pub const SNTP_INTERVAL_MS: i64 = 15_000;

/// What a [`SkewProbe`] wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum ProbeAction {
    /// Sleep `wait_ms` (until `send_at`), then perform one exchange, giving up after
    /// `timeout_ms` ([`SkewProbe::on_error`] with `"timeout"`):
    /// * a `Date` origin: an HTTP `HEAD` to the URL with `Cache-Control: no-cache`, redirects
    ///   not followed (any status is fine); read both clocks just before sending (`sent`) and
    ///   on receipt (`received`), then [`SkewProbe::on_date_response`];
    /// * an SNTP origin: read the clocks, [`SkewProbe::sntp_request`], send the 48 bytes by
    ///   UDP, read the clocks on receipt, then [`SkewProbe::on_sntp_reply`].
    Send {
        /// Milliseconds to wait first.
        wait_ms: i64,
        /// The same instant as a reading.
        send_at: Reading,
        /// Give up on the exchange after this long.
        timeout_ms: i64,
    },
    /// Measurement over: report [`SkewProbe::origin`].
    Done,
}

/// A sans-I/O driver that measures one origin for `skew`, so both front-ends send the same
/// requests at the same moments.
///
/// Loop: `poll(now)` → `Send` (sleep, exchange, feed the result) or `Done` → `origin(now)`.
/// A `Date` origin sends the first request at once, then times each next one with
/// [`SkewEstimator::next_date_probe`] so that the server's next second boundary is expected
/// in the middle of the current interval (each sample about halves it), and stops after
/// `samples` exchanges or once the interval is at most [`DATE_TARGET_WIDTH_MS`] wide. An SNTP
/// origin sends `samples` requests [`SNTP_INTERVAL_MS`] apart. Any error ends the
/// measurement; a response with `Age > 0` (served from a cache, its `Date` is old) or one
/// during which the local clocks jumped is discarded but counts as an exchange.
#[derive(Clone, Debug)]
pub struct SkewProbe {
    name: String,
    source: OriginSource,
    samples: u32,
    estimator: SkewEstimator,
    exchanges: u32,
    discarded: u32,
    error: Option<OriginError>,
    last_sent: Option<Reading>,
    in_flight: Option<(SntpRequest, Reading)>,
}

impl SkewProbe {
    /// A probe for `name` (as given on the command line). `samples` is `--samples`
    /// (`None`: [`DEFAULT_DATE_SAMPLES`] or [`DEFAULT_SNTP_SAMPLES`]); it must be
    /// `1..=MAX_PROBE_SAMPLES`.
    pub fn new(
        name: &str,
        source: OriginSource,
        samples: Option<u32>,
    ) -> Result<SkewProbe, ReportError> {
        let samples = match (samples, source) {
            (Some(n), _) if (1..=MAX_PROBE_SAMPLES).contains(&n) => n,
            (Some(_), _) => return Err(invalid("--samples", "an integer from 1 to 64")),
            (None, OriginSource::Date) => DEFAULT_DATE_SAMPLES,
            (None, OriginSource::Sntp) => DEFAULT_SNTP_SAMPLES,
        };
        Ok(SkewProbe {
            name: name.to_owned(),
            source,
            samples,
            estimator: SkewEstimator::new(),
            exchanges: 0,
            discarded: 0,
            error: None,
            last_sent: None,
            in_flight: None,
        })
    }

    /// What to do next at `now`.
    pub fn poll(&mut self, now: Reading) -> ProbeAction {
        self.estimator.observe(now);
        if self.error.is_some() || self.exchanges >= self.samples {
            return ProbeAction::Done;
        }
        let send = |wait_ms: i64| ProbeAction::Send {
            wait_ms,
            send_at: now.advanced(wait_ms),
            timeout_ms: PROBE_TIMEOUT_MS,
        };
        match self.source {
            OriginSource::Date => {
                if self.estimator.is_empty() {
                    return send(0);
                }
                let rtt = self
                    .estimator
                    .last_rtt_ms(SampleSource::DateHeader)
                    .unwrap_or(0);
                match self
                    .estimator
                    .next_date_probe(now, rtt, DATE_TARGET_WIDTH_MS)
                {
                    Some(probe) => send(probe.wait_ms.max(0)),
                    None => ProbeAction::Done,
                }
            }
            OriginSource::Sntp => match self.last_sent {
                None => send(0),
                Some(last) => {
                    let due = last.mono.plus(SNTP_INTERVAL_MS);
                    send(due.since(now.mono).max(0))
                }
            },
        }
    }

    /// For an SNTP origin: the 48-byte request to send now (`now` read just before sending,
    /// `entropy` 32 random bits from the OS). Remembered to check the reply against.
    pub fn sntp_request(&mut self, now: Reading, entropy: u32) -> [u8; PACKET_LEN] {
        let request = build_request(now.wall, entropy);
        self.last_sent = Some(now);
        self.in_flight = Some((request, now));
        request.packet()
    }

    fn fail(&mut self, code: &str, message: String) {
        if self.error.is_none() {
            self.error = Some(OriginError {
                code: code.to_owned(),
                message,
            });
        }
    }

    fn take_sample(&mut self, sample: Result<Sample, SkewError>) {
        match sample {
            Ok(s) => self.estimator.add(s),
            Err(SkewError::ClockDiscontinuity) => self.discarded = self.discarded.saturating_add(1),
            Err(e) => self.fail(e.code(), e.to_string()),
        }
    }

    /// A `Date` origin's response: its `Date` and `Age` header values (`None` when absent)
    /// and the readings just before sending and on receipt.
    pub fn on_date_response(
        &mut self,
        date: Option<&str>,
        age: Option<&str>,
        sent: Reading,
        received: Reading,
    ) {
        self.exchanges = self.exchanges.saturating_add(1);
        self.last_sent = Some(sent);
        let Some(date) = date else {
            self.fail(
                "no_date_header",
                "the response has no Date header".to_owned(),
            );
            return;
        };
        if age
            .and_then(|a| a.trim().parse::<u64>().ok())
            .is_some_and(|a| a > 0)
        {
            self.discarded = self.discarded.saturating_add(1);
            return;
        }
        match parse_http_date(date, received.wall) {
            Ok(server) => self.take_sample(Sample::from_date_header(server, sent, received)),
            Err(e) => self.fail(e.code(), format!("the Date header is unusable: {e}")),
        }
    }

    /// An SNTP origin's reply bytes and the reading on receipt.
    pub fn on_sntp_reply(&mut self, reply: &[u8], received: Reading) {
        self.exchanges = self.exchanges.saturating_add(1);
        let Some((request, sent)) = self.in_flight.take() else {
            self.fail(
                "unexpected_reply",
                "an SNTP reply arrived with no request outstanding".to_owned(),
            );
            return;
        };
        if received.discontinuity_since(&sent).is_some() {
            self.discarded = self.discarded.saturating_add(1);
            return;
        }
        match parse_reply(reply, &request, received.wall) {
            Ok(r) => self.take_sample(Sample::from_sntp(&r, received)),
            Err(e) => self.fail(e.code(), e.to_string()),
        }
    }

    /// The exchange failed in transport: `code` is one of the codes of
    /// [`transport_error_message`] (others are reported as `io_error`).
    pub fn on_error(&mut self, code: &str) {
        self.exchanges = self.exchanges.saturating_add(1);
        self.in_flight = None;
        let (code, message) = transport_error_message(code);
        self.fail(code, message.to_owned());
    }

    /// True once [`poll`](Self::poll) would say `Done` (an error, or every exchange made).
    pub fn is_done(&self) -> bool {
        self.error.is_some() || self.exchanges >= self.samples
    }

    /// The estimator (for a host that wants to keep it).
    pub fn estimator(&self) -> &SkewEstimator {
        &self.estimator
    }

    /// The result at `now`, for [`skew`].
    pub fn origin(&self, now: Reading) -> SkewOrigin {
        let estimate = self.estimator.estimate(now);
        let sample_source = match self.source {
            OriginSource::Date => SampleSource::DateHeader,
            OriginSource::Sntp => SampleSource::Sntp,
        };
        let error = match (&self.error, estimate.samples, self.discarded) {
            (Some(e), _, _) => Some(e.clone()),
            (None, 0, d) if d > 0 => Some(OriginError {
                code: "all_samples_discarded".to_owned(),
                message:
                    "every response was discarded (served from a cache, or the local clock jumped)"
                        .to_owned(),
            }),
            (None, 0, _) => Some(OriginError {
                code: "no_samples".to_owned(),
                message: "no sample was taken".to_owned(),
            }),
            _ => None,
        };
        SkewOrigin {
            name: self.name.clone(),
            source: self.source,
            estimate,
            rtt_ms: self.estimator.last_rtt_ms(sample_source),
            discarded: self.discarded,
            error,
        }
    }
}

/// The transport error codes the front-ends report, and the message for each: `timeout`,
/// `dns_error`, `connect_error`, `tls_error`, `http_error`, `io_error`. Any other code becomes
/// `io_error`.
pub fn transport_error_message(code: &str) -> (&'static str, &'static str) {
    match code {
        "timeout" => ("timeout", "no response within the timeout"),
        "dns_error" => ("dns_error", "the host name could not be resolved"),
        "connect_error" => ("connect_error", "the connection could not be made"),
        "tls_error" => ("tls_error", "the TLS handshake failed"),
        "http_error" => ("http_error", "the HTTP exchange failed"),
        _ => ("io_error", "a network error occurred"),
    }
}

// ---------------------------------------------------------------------------------------------
// ages
// ---------------------------------------------------------------------------------------------

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The JWT-shaped substrings of a line: three base64url segments joined by `.`, the first
/// starting with `eyJ` (the encoding of `{"`), the last possibly empty (an unsecured JWT).
/// A candidate must not be glued to more base64url text or dots on either side (so JWEs
/// and longer dotted strings are not matched).
pub fn find_tokens(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let run_end = |from: usize| {
        let mut i = from;
        while bytes.get(i).is_some_and(|b| is_b64url(*b)) {
            i += 1;
        }
        i
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0
            || bytes
                .get(i - 1)
                .is_some_and(|b| !is_b64url(*b) && *b != b'.');
        if !(boundary && bytes.get(i..).is_some_and(|rest| rest.starts_with(b"eyJ"))) {
            i += 1;
            continue;
        }
        let e1 = run_end(i);
        let mut end = None;
        if bytes.get(e1) == Some(&b'.') {
            let e2 = run_end(e1 + 1);
            if e2 > e1 + 1 && bytes.get(e2) == Some(&b'.') {
                let e3 = run_end(e2 + 1);
                if bytes.get(e3) != Some(&b'.') {
                    end = Some(e3);
                }
            }
        }
        match end.and_then(|e| line.get(i..e).map(|s| (s, e))) {
            Some((token, e)) => {
                found.push(token);
                i = e;
            }
            None => i = e1.max(i + 1),
        }
    }
    found
}

/// `message` with anything that looks like a JWT or JWE replaced by `<token>`: liberal on
/// purpose (unlike [`find_tokens`]), any run of base64url characters and dots that starts with
/// `eyJ` and contains a dot.
fn redact_tokens(message: &str) -> String {
    let bytes = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes.get(i..).is_some_and(|rest| rest.starts_with(b"eyJ")) {
            i += 1;
            continue;
        }
        let mut end = i;
        while bytes.get(end).is_some_and(|b| is_b64url(*b) || *b == b'.') {
            end += 1;
        }
        if bytes.get(i..end).is_some_and(|run| run.contains(&b'.')) {
            // `i` and `end` sit next to ASCII bytes, so both are character boundaries.
            out.push_str(message.get(copied..i).unwrap_or_default());
            out.push_str("<token>");
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(message.get(copied..).unwrap_or_default());
    out
}

/// Where `ages --time-field FIELD` finds a line's own timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeField {
    /// A 1-based whitespace-separated column (FIELD is all digits).
    Column(usize),
    /// A key: a dotted path into a JSON-object line, or a `key=value` (logfmt) field of any
    /// other line.
    Key(String),
}

impl TimeField {
    /// Parses `--time-field`: digits are a column (from 1), anything else a key (non-empty,
    /// no whitespace, at most 200 bytes).
    pub fn parse(spec: &str) -> Result<TimeField, ReportError> {
        if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
            return match spec.parse::<usize>() {
                Ok(n) if (1..=1_000).contains(&n) => Ok(TimeField::Column(n)),
                _ => Err(invalid("--time-field", "a column from 1 to 1000, or a key")),
            };
        }
        if spec.is_empty()
            || spec.len() > 200
            || spec.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "--time-field",
                "a column number or a key without spaces",
            ));
        }
        Ok(TimeField::Key(spec.to_owned()))
    }

    fn describe(&self) -> String {
        match self {
            TimeField::Column(n) => format!("column {n}"),
            TimeField::Key(k) => sanitize(k),
        }
    }

    /// The timestamp of `line` (milliseconds), if the field is there and parses.
    pub fn timestamp(&self, line: &str) -> Option<i64> {
        let trimmed = line.trim();
        match self {
            TimeField::Column(n) => {
                parse_timestamp(trimmed.split_whitespace().nth(n.saturating_sub(1))?)
            }
            TimeField::Key(key) => {
                if trimmed.starts_with('{') {
                    let value: Value = serde_json::from_str(trimmed).ok()?;
                    let mut cur = &value;
                    for part in key.split('.') {
                        cur = cur.as_object()?.get(part)?;
                    }
                    match cur {
                        Value::String(s) => parse_timestamp(s),
                        Value::Number(n) => parse_timestamp(&n.to_string()),
                        _ => None,
                    }
                } else {
                    let prefix = format!("{key}=");
                    let field = trimmed
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix(prefix.as_str()))?;
                    parse_timestamp(field.trim_matches('"'))
                }
            }
        }
    }
}

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

fn epoch_to_ms(text: &str) -> Option<i64> {
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

fn rfc3339_to_ms(text: &str) -> Option<i64> {
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

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date: Howard Hinnant's `days_from_civil` (same public-
/// domain source as [`civil_from_days`]). Years here are 0–9999.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What `ages` saw besides the recorded ages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgesStats {
    /// Lines read.
    pub lines: u64,
    /// JWT-shaped strings found.
    pub tokens: u64,
    /// Ages recorded into the monitor.
    pub recorded: u64,
    /// Tokens that did not parse ([`peek`] failed).
    pub unreadable: u64,
    /// Tokens without `iat`.
    pub no_iat: u64,
    /// Tokens on lines without a usable timestamp (with `--time-field`).
    pub no_timestamp: u64,
    /// `--time-field` as given (`None`: ages are `now − iat`).
    pub time_field: Option<String>,
}

impl AgesStats {
    /// Tokens found but not recorded.
    pub const fn skipped(&self) -> u64 {
        self.unreadable
            .saturating_add(self.no_iat)
            .saturating_add(self.no_timestamp)
    }
}

/// Longest line [`AgesCollector::feed_bytes`] buffers before processing it anyway.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads `ages` input: finds tokens in each line and records `now − iat` (or `line time −
/// iat` with `--time-field`) into a [`SkewMonitor`]. Feed it lines, or raw bytes (it splits
/// on `\n`, drops a `\r` before it, and decodes UTF-8 with U+FFFD replacement), then call
/// [`finish`](Self::finish) and [`render`](Self::render).
#[derive(Clone, Debug, Default)]
pub struct AgesCollector {
    monitor: SkewMonitor,
    stats: AgesStats,
    time_field: Option<TimeField>,
    pending: Vec<u8>,
}

impl AgesCollector {
    /// A collector; `time_field` is `--time-field` (see [`TimeField::parse`]).
    pub fn new(time_field: Option<&str>) -> Result<AgesCollector, ReportError> {
        let parsed = time_field.map(TimeField::parse).transpose()?;
        Ok(AgesCollector {
            monitor: SkewMonitor::new(),
            stats: AgesStats {
                time_field: time_field.map(str::to_owned),
                ..AgesStats::default()
            },
            time_field: parsed,
            pending: Vec::new(),
        })
    }

    /// One line (without its newline; a trailing `\r` is ignored), read at `now`.
    pub fn feed_line(&mut self, line: &str, now: UnixMillis) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        self.stats.lines = self.stats.lines.saturating_add(1);
        let tokens = find_tokens(line);
        if tokens.is_empty() {
            return;
        }
        let stamp = self.time_field.as_ref().map(|f| f.timestamp(line));
        for token in tokens {
            self.stats.tokens = self.stats.tokens.saturating_add(1);
            let iat = match peek(token) {
                Err(_) => {
                    self.stats.unreadable = self.stats.unreadable.saturating_add(1);
                    continue;
                }
                Ok(p) => p.times.iat_ms,
            };
            let Some(iat) = iat else {
                self.stats.no_iat = self.stats.no_iat.saturating_add(1);
                continue;
            };
            let at = match stamp {
                None => now.0,
                Some(Some(t)) => t,
                Some(None) => {
                    self.stats.no_timestamp = self.stats.no_timestamp.saturating_add(1);
                    continue;
                }
            };
            self.monitor.record(at.saturating_sub(iat));
            self.stats.recorded = self.stats.recorded.saturating_add(1);
        }
    }

    /// A chunk of raw input read at `now`; complete lines are processed, the rest is kept.
    pub fn feed_bytes(&mut self, chunk: &[u8], now: UnixMillis) {
        self.pending.extend_from_slice(chunk);
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            let text = String::from_utf8_lossy(line.get(..nl).unwrap_or_default()).into_owned();
            self.feed_line(&text, now);
        }
        if self.pending.len() > MAX_LINE_BYTES {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.feed_line(&text, now);
        }
    }

    /// End of input at `now`: processes a last line without a newline.
    pub fn finish(&mut self, now: UnixMillis) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.feed_line(&text, now);
        }
    }

    /// The ages recorded so far.
    pub fn monitor(&self) -> &SkewMonitor {
        &self.monitor
    }

    /// The counts so far.
    pub fn stats(&self) -> &AgesStats {
        &self.stats
    }

    /// The `ages` report ([`ages`]).
    pub fn render(&self, color: bool) -> Rendered {
        ages(&self.monitor, &self.stats, color)
    }

    /// The `ages --prometheus` output ([`ages_prometheus`]).
    pub fn render_prometheus(&self) -> Rendered {
        ages_prometheus(&self.monitor, &self.stats)
    }
}

/// Display edges of the `ages` histogram (ms). Every one is a [`SkewMonitor`] bucket edge,
/// so each monitor bucket falls in exactly one display bin.
pub const HISTOGRAM_EDGES_MS: [i64; 12] = [
    -65_536, -16_384, -4_096, -1_024, -8, 8, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576,
];

/// Counts per display bin: `(−∞, E0], (E0, E1], …, (E11, +∞)`.
fn histogram_bins(monitor: &SkewMonitor) -> [u64; HISTOGRAM_EDGES_MS.len() + 1] {
    let mut bins = [0u64; HISTOGRAM_EDGES_MS.len() + 1];
    for (i, &count) in monitor.bucket_counts().iter().enumerate() {
        // Bucket i is (EDGES[i−1], EDGES[i]]; the last one is unbounded above.
        let bin = match EDGES.get(i) {
            Some(&hi) => HISTOGRAM_EDGES_MS.partition_point(|&d| d < hi),
            None => HISTOGRAM_EDGES_MS.len(),
        };
        if let Some(b) = bins.get_mut(bin) {
            *b = b.saturating_add(count);
        }
    }
    bins
}

fn bin_bounds(i: usize) -> (Option<i64>, Option<i64>) {
    (
        i.checked_sub(1)
            .and_then(|j| HISTOGRAM_EDGES_MS.get(j).copied()),
        HISTOGRAM_EDGES_MS.get(i).copied(),
    )
}

fn ages_parts(monitor: &SkewMonitor, stats: &AgesStats, color: bool) -> (String, Value, i32) {
    let p = Paint(color);
    let rules = AssessmentRules::default();
    let a = monitor.assessment_with(&rules);
    let mut findings: Vec<Note> = Vec::new();
    let verdict_text = match (a.verdict, a.p05_ms) {
        (Verdict::Behind, Some(p05)) => {
            let msg = format!(
                "this clock looks behind the issuer's: 5% of tokens were stamped more than {} in its future (p05 {})",
                human_duration(rules.behind_threshold_ms),
                human_signed(p05)
            );
            findings.push(Note {
                code: "clock_behind_issuer",
                message: msg.clone(),
            });
            format!("{}: {msg}", p.red("behind"))
        }
        (Verdict::Ahead, Some(p05)) => {
            let msg = format!(
                "this clock may be ahead of the issuer's: even the freshest 5% of tokens look older than {} (p05 {})",
                human_duration(rules.expected_max_age_ms),
                human_signed(p05)
            );
            findings.push(Note {
                code: "clock_ahead_of_issuer",
                message: msg.clone(),
            });
            format!("{}: {msg}", p.red("ahead"))
        }
        (Verdict::Consistent, Some(p05)) => format!(
            "{}: p05 {} is within -{} .. +{}",
            p.green("consistent"),
            human_signed(p05),
            human_duration(rules.behind_threshold_ms),
            human_duration(rules.expected_max_age_ms)
        ),
        _ => format!(
            "{}: {} age(s) recorded, {} needed for a verdict",
            p.yellow("insufficient"),
            a.count,
            rules.min_samples
        ),
    };
    let bins = histogram_bins(monitor);

    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}  {} found in {} line(s); {} recorded, {} skipped ({} unreadable, {} without iat, {} without a timestamp)",
        p.bold("tokens"),
        stats.tokens,
        stats.lines,
        stats.recorded,
        stats.skipped(),
        stats.unreadable,
        stats.no_iat,
        stats.no_timestamp
    );
    let basis = match &stats.time_field {
        Some(f) => format!(
            "age = line time − iat (--time-field {})",
            TimeField::parse(f).map_or_else(|_| sanitize(f), |tf| tf.describe())
        ),
        None => "age = now − iat (this clock)".to_owned(),
    };
    let _ = writeln!(t, "{}", p.bold(&basis));
    let quantiles = [
        ("p01", a.p01_ms),
        ("p05", a.p05_ms),
        ("p50", a.p50_ms),
        ("p95", a.p95_ms),
        ("p99", a.p99_ms),
    ];
    for (name, q) in quantiles {
        let _ = writeln!(
            t,
            "  {name}  {}",
            q.map_or_else(|| "-".to_owned(), human_signed)
        );
    }
    let _ = writeln!(t, "{}", p.bold("histogram"));
    let first = bins.iter().position(|&c| c > 0);
    let last = bins.iter().rposition(|&c| c > 0);
    match (first, last) {
        (Some(first), Some(last)) => {
            let labels: Vec<String> = (first..=last)
                .map(|i| match bin_bounds(i) {
                    (None, Some(hi)) => format!("(-inf, {}]", plain_seconds(hi)),
                    (Some(lo), Some(hi)) => {
                        format!("({}, {}]", plain_seconds(lo), plain_seconds(hi))
                    }
                    (Some(lo), None) => format!("({}, +inf)", plain_seconds(lo)),
                    (None, None) => String::new(),
                })
                .collect();
            let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            let max_count = bins.iter().copied().max().unwrap_or(1).max(1);
            let count_w = max_count.to_string().len();
            for (label, i) in labels.iter().zip(first..=last) {
                let c = bins.get(i).copied().unwrap_or(0);
                let bar = if c == 0 {
                    0
                } else {
                    (u128::from(c) * 40 / u128::from(max_count)).max(1) as usize
                };
                let line = format!(
                    "  {}  {c:>count_w$}  {}",
                    pad(label, label_w),
                    "#".repeat(bar)
                );
                let _ = writeln!(t, "{}", line.trim_end());
            }
        }
        _ => t.push_str("  (no ages recorded)\n"),
    }
    let _ = writeln!(t, "{}  {verdict_text}", p.bold("assessment"));
    t.push_str(&result_line(p, &findings));

    let exit_code = exit_for(&findings);
    let sum = i64::try_from(monitor.sum_ms()).unwrap_or(if monitor.sum_ms() < 0 {
        i64::MIN
    } else {
        i64::MAX
    });
    let json = json!({
        "command": "ages",
        "schema_version": SCHEMA_VERSION,
        "lines": stats.lines,
        "tokens": stats.tokens,
        "recorded": stats.recorded,
        "skipped": {
            "unreadable": stats.unreadable,
            "no_iat": stats.no_iat,
            "no_timestamp": stats.no_timestamp,
        },
        "age_basis": if stats.time_field.is_some() { "line_time" } else { "now" },
        "time_field": stats.time_field,
        "quantiles_ms": {
            "p01": a.p01_ms, "p05": a.p05_ms, "p50": a.p50_ms, "p95": a.p95_ms, "p99": a.p99_ms,
        },
        "histogram": (0..bins.len()).map(|i| {
            let (lo, hi) = bin_bounds(i);
            json!({"low_ms": lo, "high_ms": hi, "count": bins.get(i).copied().unwrap_or(0)})
        }).collect::<Vec<Value>>(),
        "assessment": {
            "verdict": a.verdict.as_str(),
            "count": a.count,
            "p05_ms": a.p05_ms,
            "min_samples": rules.min_samples,
            "behind_threshold_ms": rules.behind_threshold_ms,
            "expected_max_age_ms": rules.expected_max_age_ms,
        },
        "monitor": {
            "version": crate::monitor::JSON_VERSION,
            "buckets": monitor.bucket_counts().to_vec(),
            "sum_ms": sum,
        },
        "findings": notes_json(&findings),
        "exit_code": exit_code,
    });
    (t, json, exit_code)
}

/// `ages`: how many tokens were found and recorded, quantiles of their ages, a histogram and
/// the [`SkewMonitor`] assessment (default rules). Exit 1 when the verifier's clock looks
/// behind or ahead of the issuer's; else 0 (also when too few ages were recorded).
pub fn ages(monitor: &SkewMonitor, stats: &AgesStats, color: bool) -> Rendered {
    let (text, json, exit_code) = ages_parts(monitor, stats, color);
    Rendered {
        text,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}

/// `ages --prometheus`: the histogram as Prometheus text exposition (metric
/// [`AGES_METRIC_NAME`], seconds); the JSON and exit code are those of [`ages`].
pub fn ages_prometheus(monitor: &SkewMonitor, stats: &AgesStats) -> Rendered {
    let (_, json, exit_code) = ages_parts(monitor, stats, false);
    let text = monitor.prometheus(AGES_METRIC_NAME).unwrap_or_default();
    Rendered {
        text,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}

// ---------------------------------------------------------------------------------------------
// simulate
// ---------------------------------------------------------------------------------------------

/// Largest `--seed` (2⁵³ − 1, so it survives a JavaScript number).
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Most timeline lines printed.
#[cfg(feature = "sim")]
const MAX_TIMELINE_LINES: usize = 10_000;

/// Sets one `simulate` flag's field of `cell` from its command-line text, so both front-ends
/// read values the same way: `--client-offset`, `--rs-offset` (seconds, up to 3 decimals),
/// `--ttl`, `--leeway`, `--cached-age`, `--step` (whole seconds, `--step` may be negative),
/// `--hours` (up to 3 decimals), `--seed` (0 to [`MAX_SEED`]). Ranges are checked by
/// [`simulate`].
#[cfg(feature = "sim")]
pub fn parse_cell_arg(
    cell: &mut crate::sim::Cell,
    flag: &str,
    value: &str,
) -> Result<(), ReportError> {
    let whole = |what: &str| -> Result<i64, ReportError> {
        let ms = parse_seconds_arg(what, value)?;
        if ms % 1_000 != 0 {
            return Err(invalid(what, "a whole number of seconds"));
        }
        Ok(ms / 1_000)
    };
    // thousandths / 1000 in f64 is the double nearest the decimal, as a float parser gives.
    let decimal = |what: &str, expected: &'static str| -> Result<f64, ReportError> {
        Ok(parse_thousandths(what, value, expected)? as f64 / 1_000.0)
    };
    const SECONDS: &str = "a number of seconds with at most 3 decimals";
    match flag {
        "--client-offset" => cell.client_offset_s = decimal(flag, SECONDS)?,
        "--rs-offset" => cell.rs_offset_s = decimal(flag, SECONDS)?,
        "--hours" => cell.hours = decimal(flag, "a number of hours with at most 3 decimals")?,
        "--ttl" => cell.ttl_s = whole(flag)?,
        "--leeway" => cell.rs_leeway_s = whole(flag)?,
        "--cached-age" => cell.cached_age_s = whole(flag)?,
        "--step" => cell.step_s = whole(flag)?,
        "--seed" => cell.seed = parse_count_arg(flag, value, MAX_SEED)?,
        _ => return Err(invalid(flag, "a simulate option")),
    }
    Ok(())
}

#[cfg(feature = "sim")]
fn check_cell(cell: &crate::sim::Cell) -> Result<(), ReportError> {
    let within = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
    if !within(cell.client_offset_s, -86_400.0, 86_400.0) {
        return Err(invalid("--client-offset", "seconds within ±86400"));
    }
    if !within(cell.rs_offset_s, -86_400.0, 86_400.0) {
        return Err(invalid("--rs-offset", "seconds within ±86400"));
    }
    if !(5..=86_400).contains(&cell.ttl_s) {
        return Err(invalid("--ttl", "seconds from 5 to 86400"));
    }
    if !(0..=3_600).contains(&cell.rs_leeway_s) {
        return Err(invalid("--leeway", "seconds from 0 to 3600"));
    }
    if cell.cached_age_s < 0 || cell.cached_age_s >= cell.ttl_s {
        return Err(invalid("--cached-age", "seconds from 0 to less than --ttl"));
    }
    if !(-86_400..=86_400).contains(&cell.step_s) {
        return Err(invalid("--step", "seconds within ±86400"));
    }
    if !(within(cell.hours, 0.0, 24.0) && cell.hours > 0.0) {
        return Err(invalid("--hours", "hours above 0, at most 24"));
    }
    if !within(cell.request_interval_s, 0.1, 3_600.0) {
        return Err(invalid("request interval", "seconds from 0.1 to 3600"));
    }
    if cell.seed > MAX_SEED {
        return Err(invalid("--seed", "an integer from 0 to 9007199254740991"));
    }
    Ok(())
}

/// `simulate`: runs one gauntlet cell ([`crate::sim::run_cell`]) and shows every strategy
/// side by side with the columns of `make demo` ([`crate::sim::render_summary`]), the
/// oracle's minimum number of token requests, and with `timeline` tokenclock's event log.
/// Exit 0, or 2 when a cell parameter is out of range.
#[cfg(feature = "sim")]
pub fn simulate(cell: &crate::sim::Cell, timeline: bool, color: bool) -> Rendered {
    use crate::sim::{render_summary, rows, run_cell};
    if let Err(e) = check_cell(cell) {
        return argument_error(Some("simulate"), &e);
    }
    let p = Paint(color);
    let outcomes = run_cell(*cell, timeline);
    let table_rows = rows(cell, &outcomes);
    let min = outcomes
        .iter()
        .find(|o| o.strategy == "oracle")
        .map_or(0, |o| o.token_requests);
    let ms = |s: f64| (s * 1000.0).round() as i64;
    let duration_ms = (cell.hours * 3_600_000.0) as i64;

    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}",
        p.bold(&format!(
            "simulate: client clock {} and resource server {} vs the issuer; ttl {} s, leeway {} s, cached issuer {}, wall step {}; {} simulated, a request every ~{}, seed {}",
            signed_seconds(ms(cell.client_offset_s)),
            signed_seconds(ms(cell.rs_offset_s)),
            cell.ttl_s,
            cell.rs_leeway_s,
            if cell.cached_age_s > 0 { format!("on (first token {} s old)", cell.cached_age_s) } else { "off".to_owned() },
            if cell.step_s != 0 { format!("{:+} s", cell.step_s) } else { "none".to_owned() },
            human_duration(duration_ms),
            human_duration(ms(cell.request_interval_s)),
            cell.seed
        ))
    );
    for line in render_summary(&table_rows).lines() {
        let failed = table_rows.iter().any(|r| {
            r.user_visible_failures > 0 && line.split_whitespace().next() == Some(r.strategy)
        });
        let _ = writeln!(t, "{}", if failed { p.red(line) } else { line.to_owned() });
    }
    let _ = writeln!(t, "minimum token requests (oracle): {min}");
    let timeline_lines = outcomes
        .first()
        .map(|o| o.timeline.as_slice())
        .unwrap_or_default();
    if timeline {
        let _ = writeln!(t, "{}", p.bold("timeline (tokenclock)"));
        for line in timeline_lines.iter().take(MAX_TIMELINE_LINES) {
            let _ = writeln!(t, "{line}");
        }
        if timeline_lines.len() > MAX_TIMELINE_LINES {
            let _ = writeln!(t, "… {} more", timeline_lines.len() - MAX_TIMELINE_LINES);
        }
        if timeline_lines.is_empty() {
            t.push_str("(no events)\n");
        }
    }
    t.push_str(&result_line(p, &[]));

    let json = json!({
        "command": "simulate",
        "schema_version": SCHEMA_VERSION,
        "cell": {
            "client_offset_ms": ms(cell.client_offset_s),
            "rs_offset_ms": ms(cell.rs_offset_s),
            "ttl_s": cell.ttl_s,
            "leeway_s": cell.rs_leeway_s,
            "cached_age_s": cell.cached_age_s,
            "step_s": cell.step_s,
            "duration_ms": duration_ms,
            "request_interval_ms": ms(cell.request_interval_s),
            "seed": cell.seed,
        },
        "strategies": outcomes.iter().map(|o| json!({
            "strategy": o.strategy,
            "requests": o.requests,
            "user_visible_failures": o.user_visible_failures,
            "rs_401": o.rs_401,
            "token_requests": o.token_requests,
            "p99_added_latency_ms": o.p99_added_latency_ms,
            "max_added_latency_ms": o.max_added_latency_ms,
        })).collect::<Vec<Value>>(),
        "min_token_requests": min,
        "timeline": if timeline {
            Value::Array(timeline_lines.iter().take(MAX_TIMELINE_LINES).map(|l| Value::String(l.clone())).collect())
        } else {
            Value::Null
        },
        "findings": [],
        "exit_code": EXIT_OK,
    });
    Rendered {
        text: t,
        json,
        exit_code: EXIT_OK,
        stream: Stream::Stdout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [
            -719_468, -1, 0, 1, 59, 60, 365, 10_957, 11_016, 19_675, 2_932_896,
        ] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{days}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn histogram_edges_are_monitor_edges() {
        for e in HISTOGRAM_EDGES_MS {
            assert!(EDGES.contains(&e), "{e}");
        }
    }

    #[test]
    fn json_text_sorts_keys_and_indents() {
        let r = Rendered {
            text: String::new(),
            json: json!({"b": [1, {"z": null, "a": "x\u{1b}"}], "a": {}, "c": []}),
            exit_code: 0,
            stream: Stream::Stdout,
        };
        assert_eq!(
            r.json_text(),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"x\\u001b\",\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn find_tokens_never_panics(s in "\\PC{0,200}") {
            for t in find_tokens(&s) {
                proptest::prop_assert!(t.starts_with("eyJ"));
                proptest::prop_assert_eq!(t.matches('.').count(), 2);
            }
            let _ = redact_tokens(&s);
            let _ = parse_timestamp(&s);
            let _ = parse_seconds_arg("--x", &s);
            let _ = parse_host_port(&s, 123);
        }

        #[test]
        fn iso_matches_days_from_civil(ms in 0i64..=MAX_UNIX_MILLIS) {
            let text = iso8601_utc(ms);
            let back = rfc3339_to_ms(&text).unwrap();
            proptest::prop_assert_eq!(back, ms);
        }
    }
}
