//! Text helpers shared by every report: instants, durations, offsets, escaping of input
//! text, capping of claim values, colour, findings, and the JWT finder/redactor.

use super::*;
use crate::httpdate::civil_from_days;
use core::fmt::Write as _;

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
pub(super) fn plain_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", abs / 1_000, abs % 1_000)
}

/// True for characters that must not reach a terminal raw: C0/C1 controls, DEL, and the
/// bidirectional overrides and isolates ("Trojan Source", CVE-2021-42574).
pub(super) fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Input text made safe for a terminal: unsafe characters become `\uXXXX`.
pub(super) fn sanitize(s: &str) -> String {
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
pub(super) fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A JSON value with long strings cut and long arrays/objects shortened, recursively.
pub(super) fn cap_value(v: &Value) -> Value {
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

pub(super) fn cap_map(map: &Map<String, Value>) -> Map<String, Value> {
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

pub(super) fn cap_key(key: &str) -> String {
    cap_chars(key, MAX_VALUE_CHARS)
}

/// A claim or header value for one line of text: strings bare, anything else as compact
/// JSON; capped and sanitised.
pub(super) fn value_text(v: &Value) -> String {
    let raw = match cap_value(v) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    cap_chars(&sanitize(&raw), MAX_TEXT_VALUE_CHARS)
}

/// `s` padded with spaces to `width` characters (never cut).
pub(super) fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

/// ANSI SGR colouring, or none.
#[derive(Clone, Copy)]
pub(super) struct Paint(pub(super) bool);

impl Paint {
    pub(super) fn sgr(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{s}\u{1b}[0m")
        } else {
            s.to_owned()
        }
    }
    pub(super) fn bold(self, s: &str) -> String {
        self.sgr("1", s)
    }
    pub(super) fn red(self, s: &str) -> String {
        self.sgr("31", s)
    }
    pub(super) fn green(self, s: &str) -> String {
        self.sgr("32", s)
    }
    pub(super) fn yellow(self, s: &str) -> String {
        self.sgr("33", s)
    }
}

/// A finding or warning: a stable code and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Note {
    pub(super) code: &'static str,
    pub(super) message: String,
}

pub(super) fn notes_json(notes: &[Note]) -> Value {
    Value::Array(
        notes
            .iter()
            .map(|n| json!({"code": n.code, "message": n.message}))
            .collect(),
    )
}

pub(super) fn result_line(p: Paint, findings: &[Note]) -> String {
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

pub(super) fn exit_for(findings: &[Note]) -> i32 {
    if findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDING
    }
}

pub(super) fn is_b64url(b: u8) -> bool {
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
pub(super) fn redact_tokens(message: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
