//! The command line's reports (core `report`, full build only): the renderers of `inspect`,
//! `skew`, `ages` and `simulate`, the sans-I/O `SkewProbe` and `AgesCollector`, the error and
//! help outputs, and the argument parsers both front-ends share (so `npx tokenclock` and the
//! Python console script parse every value identically and print byte-identical output).
//!
//! * Every renderer returns a `Rendered` as a plain object `{ text, json, exitCode, stream }`:
//!   `json` is the string of core's `Rendered::json_text` (print it as is; never re-serialise
//!   it), `stream` is `"stdout"` or `"stderr"`.
//! * A value refused by one of core's parsers (`parseSecondsArg`, `parseCountArg`,
//!   `parseHostPort`, `parseCellArg`, `new SkewProbe`, `new AgesCollector`, `TimeField.parse`)
//!   is thrown as a `TokenClockError` with `.code = "invalid_argument"`, `.what` (the flag),
//!   `.expected`, and `.reportError`: the core error as a `ReportError` object, which
//!   `argumentError(command, err.reportError)` renders for the command line.
//! * Times are `number`s of milliseconds; readings are `{ wallMs, monoMs }` (see `edge`).

use std::cell::RefCell;

use js_sys::{Array, Reflect, Uint8Array};
use tokenclock::report::{self, InputProblem, KeyFileKind, OriginSource, ProbeAction, Stream};
use tokenclock::sim::Cell;
use tokenclock::time::UnixMillis;
use tokenclock::ErrorCode;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{core_error, range_error, tc_error, type_error, Details};
use crate::monitor::SkewMonitor;
use crate::skew::{estimate_arg, estimate_js, Estimate};

// ----- Rendered and errors ---------------------------------------------------------------------

/// A core `Rendered` as `{ text, json, exitCode, stream }` (`json` is `json_text()`).
fn rendered_js(r: &report::Rendered) -> JsValue {
    Out::new()
        .str("text", &r.text)
        .str("json", &r.json_text())
        .num("exitCode", i64::from(r.exit_code))
        .str(
            "stream",
            match r.stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            },
        )
        .build()
}

/// A value refused by one of core's report parsers (core `report::ReportError`). Thrown inside
/// a `TokenClockError` as its `.reportError`; `argumentError(command, reportError)` renders it.
#[wasm_bindgen]
#[derive(Clone)]
pub struct ReportError {
    inner: report::ReportError,
}

#[wasm_bindgen]
impl ReportError {
    /// The stable code (`"invalid_argument"`).
    #[wasm_bindgen(getter)]
    pub fn code(&self) -> String {
        self.inner.code().to_owned()
    }

    /// The sentence (`"--samples: expected an integer from 1 to 64"`); never the value given.
    #[wasm_bindgen(getter)]
    pub fn message(&self) -> String {
        self.inner.to_string()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!("ReportError({}: {})", self.inner.code(), self.inner)
    }
}

/// The `TokenClockError` thrown for a core `ReportError`, carrying it as `.reportError`.
fn report_error(e: report::ReportError) -> JsValue {
    let details = match &e {
        report::ReportError::InvalidArgument { what, expected } => {
            Details::new().str("what", what).str("expected", expected)
        }
        _ => Details::new(),
    };
    let err = tc_error(e.code(), &e.to_string(), details);
    let handle: JsValue = ReportError { inner: e }.into();
    let _ = Reflect::set(&err, &JsValue::from_str("reportError"), &handle);
    err
}

/// `command`: one of `"inspect"`, `"skew"`, `"ages"`, `"simulate"`, or `null` (core labels
/// anything else as no command).
fn command_arg(v: &JsValue) -> Result<Option<String>, JsValue> {
    edge::opt_string("command", v)
}

/// Bad usage (unknown flag, missing argument): one line on stderr, exit 2, JSON
/// `{"error": {"code": "usage", ...}}`. JWT-shaped text in `message` is shown as `<token>`.
#[wasm_bindgen(js_name = usageError)]
pub fn usage_error(command: JsValue, message: JsValue) -> Result<JsValue, JsValue> {
    let command = command_arg(&command)?;
    let message = edge::string("message", &message)?;
    Ok(rendered_js(&report::usage_error(
        command.as_deref(),
        &message,
    )))
}

/// A value a parser refused (`err.reportError` of the thrown `TokenClockError`), as a usage
/// error with its code (`invalid_argument`), exit 2.
#[wasm_bindgen(js_name = argumentError)]
pub fn argument_error(command: JsValue, error: &ReportError) -> Result<JsValue, JsValue> {
    let command = command_arg(&command)?;
    Ok(rendered_js(&report::argument_error(
        command.as_deref(),
        &error.inner,
    )))
}

/// An input that could not be read: `what` is the path as given (or `"standard input"`),
/// `problem` one of `"not_found"`, `"permission_denied"`, `"is_a_directory"`, `"too_large"`,
/// `"io_error"`. Exit 2, stderr.
#[wasm_bindgen(js_name = inputError)]
pub fn input_error(command: JsValue, what: JsValue, problem: JsValue) -> Result<JsValue, JsValue> {
    let command = command_arg(&command)?;
    let what = edge::string("what", &what)?;
    let problem = edge::string("problem", &problem)?;
    let problem = InputProblem::from_code(&problem).ok_or_else(|| {
        type_error(
            "problem must be \"not_found\", \"permission_denied\", \"is_a_directory\", \"too_large\" or \"io_error\"",
        )
    })?;
    Ok(rendered_js(&report::input_error(
        command.as_deref(),
        &what,
        problem,
    )))
}

/// The usage text of `command` (or of the whole tool for `null`): exit 0, stdout.
#[wasm_bindgen]
pub fn help(command: JsValue) -> Result<JsValue, JsValue> {
    let command = command_arg(&command)?;
    Ok(rendered_js(&report::help(command.as_deref())))
}

// ----- argument parsers ------------------------------------------------------------------------

/// A flag's decimal seconds (`"1"`, `"-0.25"`, `"+30"`; no exponent, no spaces, at most three
/// decimals) as integer milliseconds. `what` names the flag in the error.
#[wasm_bindgen(js_name = parseSecondsArg)]
pub fn parse_seconds_arg(what: JsValue, text: JsValue) -> Result<f64, JsValue> {
    let what = edge::string("what", &what)?;
    let text = edge::string("text", &text)?;
    report::parse_seconds_arg(&what, &text)
        .map(|ms| ms as f64)
        .map_err(report_error)
}

/// A flag's non-negative decimal integer, at most `max` (itself at most 2^53 − 1).
#[wasm_bindgen(js_name = parseCountArg)]
pub fn parse_count_arg(what: JsValue, text: JsValue, max: JsValue) -> Result<f64, JsValue> {
    let what = edge::string("what", &what)?;
    let text = edge::string("text", &text)?;
    let max = edge::uint("max", &max)?.unsigned_abs();
    report::parse_count_arg(&what, &text, max)
        .map(|n| n as f64)
        .map_err(report_error)
}

/// `--ntp HOST[:PORT]` as `{ host, port }` (`defaultPort` when none is given; IPv6 with a port
/// in brackets).
#[wasm_bindgen(js_name = parseHostPort)]
pub fn parse_host_port(text: JsValue, default_port: JsValue) -> Result<JsValue, JsValue> {
    let text = edge::string("text", &text)?;
    let default_port = edge::uint_as::<u16>("defaultPort", &default_port)?;
    let (host, port) = report::parse_host_port(&text, default_port).map_err(report_error)?;
    Ok(Out::new()
        .str("host", &host)
        .num("port", i64::from(port))
        .build())
}

/// Where `ages --time-field FIELD` finds a line's own timestamp (core `report::TimeField`).
#[wasm_bindgen]
pub struct TimeField {
    inner: report::TimeField,
}

#[wasm_bindgen]
impl TimeField {
    /// Parses `--time-field`: digits are a 1-based column, anything else a key.
    pub fn parse(spec: JsValue) -> Result<TimeField, JsValue> {
        let spec = edge::string("spec", &spec)?;
        report::TimeField::parse(&spec)
            .map(|inner| TimeField { inner })
            .map_err(report_error)
    }

    /// The column (from 1), or `null` for a key.
    #[wasm_bindgen(getter)]
    pub fn column(&self) -> JsValue {
        match &self.inner {
            report::TimeField::Column(n) => edge::num(i64::try_from(*n).unwrap_or(i64::MAX)),
            _ => JsValue::NULL,
        }
    }

    /// The key, or `null` for a column.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> JsValue {
        match &self.inner {
            report::TimeField::Key(k) => JsValue::from_str(k),
            _ => JsValue::NULL,
        }
    }

    /// The timestamp of `line` in ms, or `null` when the field is absent or unreadable.
    pub fn timestamp(&self, line: JsValue) -> Result<JsValue, JsValue> {
        let line = edge::string("line", &line)?;
        Ok(edge::opt_num(self.inner.timestamp(&line)))
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!("TimeField({:?})", self.inner)
    }
}

/// A log timestamp (RFC 3339 with a zone, or Unix seconds/milliseconds) in ms, or `null`.
#[wasm_bindgen(js_name = parseTimestamp)]
pub fn parse_timestamp(text: JsValue) -> Result<JsValue, JsValue> {
    let text = edge::string("text", &text)?;
    Ok(edge::opt_num(report::parse_timestamp(&text)))
}

/// The JWT-shaped substrings of a line (what `ages` looks at).
#[wasm_bindgen(js_name = findTokens)]
pub fn find_tokens(line: JsValue) -> Result<Vec<String>, JsValue> {
    let line = edge::string("line", &line)?;
    Ok(report::find_tokens(&line)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// A transport error code (`timeout`, `dns_error`, `connect_error`, `tls_error`,
/// `http_error`; anything else is `io_error`) and its message: `{ code, message }`.
#[wasm_bindgen(js_name = transportErrorMessage)]
pub fn transport_error_message(code: JsValue) -> Result<JsValue, JsValue> {
    let code = edge::string("code", &code)?;
    let (code, message) = report::transport_error_message(&code);
    Ok(Out::new().str("code", code).str("message", message).build())
}

// ----- formatting ------------------------------------------------------------------------------

/// An instant as ISO 8601 UTC (`2023-11-14T22:13:20Z`, `.mmm` only when not zero).
#[wasm_bindgen(js_name = iso8601Utc)]
pub fn iso8601_utc(ms: JsValue) -> Result<String, JsValue> {
    Ok(report::iso8601_utc(edge::int("ms", &ms)?))
}

/// A duration's magnitude, truncated: `250 ms`, `3.2 s`, `4m12s`, `2h05m`, `3d04h`.
#[wasm_bindgen(js_name = humanDuration)]
pub fn human_duration(ms: JsValue) -> Result<String, JsValue> {
    Ok(report::human_duration(edge::int("ms", &ms)?))
}

/// A signed duration: `+3.2 s`, `-250 ms`, `0 ms`.
#[wasm_bindgen(js_name = humanSigned)]
pub fn human_signed(ms: JsValue) -> Result<String, JsValue> {
    Ok(report::human_signed(edge::int("ms", &ms)?))
}

/// An instant relative to now, given `instant − now`: `in 4m12s`, `4m12s ago`, `now`.
#[wasm_bindgen(js_name = humanRelative)]
pub fn human_relative(delta_ms: JsValue) -> Result<String, JsValue> {
    Ok(report::human_relative(edge::int("deltaMs", &delta_ms)?))
}

/// Milliseconds as signed seconds with three decimals: `+1.250 s`.
#[wasm_bindgen(js_name = signedSeconds)]
pub fn signed_seconds(ms: JsValue) -> Result<String, JsValue> {
    Ok(report::signed_seconds(edge::int("ms", &ms)?))
}

// ----- inspect ---------------------------------------------------------------------------------

fn key_input(v: &JsValue) -> Result<report::KeyInput, JsValue> {
    if !v.is_object() {
        return Err(type_error(
            "options.key must be { kind, contents, algorithms, leewayMs, issuer, audience }",
        ));
    }
    let kind = match edge::string("key.kind", &edge::get(v, "kind")?)?.as_str() {
        "key" => KeyFileKind::Key,
        "jwks" => KeyFileKind::Jwks,
        _ => return Err(type_error("key.kind must be \"key\" or \"jwks\"")),
    };
    let contents = edge::get(v, "contents")?;
    Ok(report::KeyInput {
        kind,
        contents: edge::body("key.contents", &contents)?,
        algorithms: edge::opt_string_list("key.algorithms", &edge::get(v, "algorithms")?)?,
        leeway_ms: edge::opt_int("key.leewayMs", &edge::get(v, "leewayMs")?)?,
        issuer: edge::opt_string("key.issuer", &edge::get(v, "issuer")?)?,
        audience: edge::opt_string_list("key.audience", &edge::get(v, "audience")?)?,
    })
}

fn server_clock(v: &JsValue) -> Result<report::ServerClock, JsValue> {
    if !v.is_object() {
        return Err(type_error("options.server must be { origin, estimate }"));
    }
    Ok(report::ServerClock {
        origin: edge::string("server.origin", &edge::get(v, "origin")?)?,
        estimate: estimate_arg("server.estimate", &edge::get(v, "estimate")?)?,
    })
}

/// `inspect TOKEN`: the report on `token` at this machine's wall time `nowMs`. `options`:
/// `{ server?: { origin, estimate }, key?: { kind: "key" | "jwks", contents: Uint8Array |
/// string, algorithms: string[], leewayMs?: number | null, issuer?: string | null, audience?:
/// string[] }, color?: boolean }`.
#[wasm_bindgen]
pub fn inspect(token: JsValue, now_ms: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let token = edge::string("token", &token)?;
    let now = edge::int("nowMs", &now_ms)?;
    edge::options("options", &options)?;
    let server = edge::get(&options, "server")?;
    let key = edge::get(&options, "key")?;
    let opts = report::InspectOptions {
        server: if edge::is_absent(&server) {
            None
        } else {
            Some(server_clock(&server)?)
        },
        key: if edge::is_absent(&key) {
            None
        } else {
            Some(key_input(&key)?)
        },
        color: edge::opt_bool("options.color", &edge::get(&options, "color")?)?.unwrap_or(false),
    };
    Ok(rendered_js(&report::inspect(
        &token,
        UnixMillis(now),
        &opts,
    )))
}

// ----- skew ------------------------------------------------------------------------------------

fn source_arg(param: &str, v: &JsValue) -> Result<OriginSource, JsValue> {
    let name = edge::string(param, v)?;
    OriginSource::from_name(&name)
        .ok_or_else(|| type_error(&format!("{param} must be \"date\" or \"sntp\"")))
}

/// A `SkewOrigin` as `{ name, source, estimate: { offsetMs, lowMs, highMs, agreeing, samples },
/// rttMs, discarded, error: { code, message } | null }`.
fn origin_js(o: &report::SkewOrigin) -> JsValue {
    let error = o.error.as_ref().map_or(JsValue::NULL, |e| {
        Out::new()
            .str("code", &e.code)
            .str("message", &e.message)
            .build()
    });
    Out::new()
        .str("name", &o.name)
        .str("source", o.source.as_str())
        .set("estimate", estimate_js(&o.estimate))
        .opt_num("rttMs", o.rtt_ms)
        .num("discarded", i64::from(o.discarded))
        .set("error", error)
        .build()
}

fn origin_arg(param: &str, v: &JsValue) -> Result<report::SkewOrigin, JsValue> {
    if !v.is_object() {
        return Err(type_error(&format!("{param} must be an origin object")));
    }
    let p = |key: &str| format!("{param}.{key}");
    let error = edge::get(v, "error")?;
    let error = if edge::is_absent(&error) {
        None
    } else {
        Some(report::OriginError {
            code: edge::string(&p("error.code"), &edge::get(&error, "code")?)?,
            message: edge::string(&p("error.message"), &edge::get(&error, "message")?)?,
        })
    };
    Ok(report::SkewOrigin {
        name: edge::string(&p("name"), &edge::get(v, "name")?)?,
        source: source_arg(&p("source"), &edge::get(v, "source")?)?,
        estimate: estimate_arg(&p("estimate"), &edge::get(v, "estimate")?)?,
        rtt_ms: edge::opt_int(&p("rttMs"), &edge::get(v, "rttMs")?)?,
        discarded: edge::opt_uint_as::<u32>(&p("discarded"), &edge::get(v, "discarded")?)?
            .unwrap_or(0),
        error,
    })
}

/// `skew`: the report on measured origins (`SkewProbe.origin()` objects, in order), with the
/// limit `maxOffsetMs` (`--max-offset`, default 1000).
#[wasm_bindgen]
pub fn skew(origins: JsValue, max_offset_ms: JsValue, color: JsValue) -> Result<JsValue, JsValue> {
    if !edge::is_array(&origins)? {
        return Err(type_error("origins must be an array of origin objects"));
    }
    let len = edge::uint("origins.length", &edge::get(&origins, "length")?)?;
    if len > i64::from(edge::MAX_PAIRS) {
        return Err(range_error(&format!(
            "origins has more than {} items",
            edge::MAX_PAIRS
        )));
    }
    let mut list = Vec::new();
    for i in 0..u32::try_from(len).unwrap_or(0) {
        list.push(origin_arg(
            &format!("origins[{i}]"),
            &Reflect::get_u32(&origins, i)?,
        )?);
    }
    let max = edge::int("maxOffsetMs", &max_offset_ms)?;
    let color = edge::opt_bool("color", &color)?.unwrap_or(false);
    Ok(rendered_js(&report::skew(&list, max, color)))
}

/// Measures one origin for `skew` (core `report::SkewProbe`), sans I/O: the host sleeps, sends
/// and reads the clocks; the probe decides when and how often.
///
/// Loop: `poll(now)` → `{ action: "send", waitMs, sendAt, timeoutMs }` (sleep `waitMs`, then one
/// exchange, giving up after `timeoutMs` with `onError("timeout")`) or `{ action: "done" }` →
/// `origin(now)`. A `date` origin: `HEAD` the URL, then `onDateResponse(date, age, sent,
/// received)`. An `sntp` origin: `sntpRequest(now, entropy)` gives the 48 bytes to send by UDP,
/// then `onSntpReply(bytes, received)`.
#[wasm_bindgen]
pub struct SkewProbe {
    inner: RefCell<report::SkewProbe>,
}

impl SkewProbe {
    fn with<T>(&self, f: impl FnOnce(&mut report::SkewProbe) -> T) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("SkewProbe is already in use (re-entrant call)"))?;
        Ok(f(&mut inner))
    }
}

#[wasm_bindgen]
impl SkewProbe {
    /// `new SkewProbe(name, source, samples)`: `name` as given on the command line (the URL,
    /// or `"ntp:" + HOST[:PORT]`), `source` `"date"` or `"sntp"`, `samples` `--samples` (or
    /// `null`: 8 for `date`, 1 for `sntp`; else 1 to 64).
    #[wasm_bindgen(constructor)]
    pub fn new(name: JsValue, source: JsValue, samples: JsValue) -> Result<SkewProbe, JsValue> {
        let name = edge::string("name", &name)?;
        let source = source_arg("source", &source)?;
        let samples = edge::opt_uint_as::<u32>("samples", &samples)?;
        report::SkewProbe::new(&name, source, samples)
            .map(|p| SkewProbe {
                inner: RefCell::new(p),
            })
            .map_err(report_error)
    }

    /// What to do next at `now` (a reading).
    pub fn poll(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = edge::reading("now", &now)?;
        Ok(match self.with(|p| p.poll(now))? {
            ProbeAction::Send {
                wait_ms,
                send_at,
                timeout_ms,
            } => Out::new()
                .str("action", "send")
                .num("waitMs", wait_ms)
                .set("sendAt", edge::reading_js(send_at))
                .num("timeoutMs", timeout_ms)
                .build(),
            _ => Out::new().str("action", "done").build(),
        })
    }

    /// For an `sntp` origin: the 48-byte request to send now (`now` read just before sending,
    /// `entropy` 32 random bits from the OS).
    #[wasm_bindgen(js_name = sntpRequest)]
    pub fn sntp_request(&self, now: JsValue, entropy: JsValue) -> Result<Uint8Array, JsValue> {
        let now = edge::reading("now", &now)?;
        let entropy = edge::uint_as::<u32>("entropy", &entropy)?;
        let packet = self.with(|p| p.sntp_request(now, entropy))?;
        Ok(Uint8Array::from(packet.as_slice()))
    }

    /// A `date` origin's response: its `Date` and `Age` header values (`null` when absent) and
    /// the readings just before sending and on receipt.
    #[wasm_bindgen(js_name = onDateResponse)]
    pub fn on_date_response(
        &self,
        date: JsValue,
        age: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let date = edge::opt_string("date", &date)?;
        let age = edge::opt_string("age", &age)?;
        let sent = edge::reading("sent", &sent)?;
        let received = edge::reading("received", &received)?;
        self.with(|p| p.on_date_response(date.as_deref(), age.as_deref(), sent, received))
    }

    /// An `sntp` origin's reply bytes and the reading on receipt.
    #[wasm_bindgen(js_name = onSntpReply)]
    pub fn on_sntp_reply(&self, reply: JsValue, received: JsValue) -> Result<(), JsValue> {
        let reply = edge::bytes("reply", &reply)?;
        let received = edge::reading("received", &received)?;
        self.with(|p| p.on_sntp_reply(&reply, received))
    }

    /// The exchange failed in transport: `timeout`, `dns_error`, `connect_error`, `tls_error`,
    /// `http_error` (anything else is reported as `io_error`).
    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, code: JsValue) -> Result<(), JsValue> {
        let code = edge::string("code", &code)?;
        self.with(|p| p.on_error(&code))
    }

    /// True once `poll` would say `done`.
    #[wasm_bindgen(js_name = isDone)]
    pub fn is_done(&self) -> Result<bool, JsValue> {
        self.with(|p| p.is_done())
    }

    /// The estimate so far at `now` (core `probe.estimator().estimate(now)`).
    pub fn estimate(&self, now: JsValue) -> Result<Estimate, JsValue> {
        let now = edge::reading("now", &now)?;
        self.with(|p| Estimate::wrap(p.estimator().estimate(now)))
    }

    /// The result at `now`, for `skew`: `{ name, source, estimate, rttMs, discarded, error }`.
    pub fn origin(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = edge::reading("now", &now)?;
        Ok(origin_js(&self.with(|p| p.origin(now))?))
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.try_borrow() {
            Ok(p) => format!(
                "SkewProbe({} samples, {})",
                p.estimator().len(),
                if p.is_done() { "done" } else { "measuring" }
            ),
            Err(_) => "SkewProbe(in use)".to_owned(),
        }
    }
}

// ----- ages ------------------------------------------------------------------------------------

fn stats_js(s: &report::AgesStats) -> JsValue {
    let n = |v: u64| JsValue::from_f64(v as f64);
    Out::new()
        .set("lines", n(s.lines))
        .set("tokens", n(s.tokens))
        .set("recorded", n(s.recorded))
        .set("unreadable", n(s.unreadable))
        .set("noIat", n(s.no_iat))
        .set("noTimestamp", n(s.no_timestamp))
        .set("skipped", n(s.skipped()))
        .opt_str("timeField", s.time_field.as_deref())
        .build()
}

fn stats_arg(v: &JsValue) -> Result<report::AgesStats, JsValue> {
    if !v.is_object() {
        return Err(type_error(
            "stats must be { lines, tokens, recorded, unreadable, noIat, noTimestamp, timeField }",
        ));
    }
    let count = |key: &str| -> Result<u64, JsValue> {
        Ok(
            edge::opt_uint(&format!("stats.{key}"), &edge::get(v, key)?)?
                .unwrap_or(0)
                .unsigned_abs(),
        )
    };
    Ok(report::AgesStats {
        lines: count("lines")?,
        tokens: count("tokens")?,
        recorded: count("recorded")?,
        unreadable: count("unreadable")?,
        no_iat: count("noIat")?,
        no_timestamp: count("noTimestamp")?,
        time_field: edge::opt_string("stats.timeField", &edge::get(v, "timeField")?)?,
    })
}

/// The core monitor behind a JS `SkewMonitor`, through its versioned JSON (a copy).
fn monitor_arg(m: &SkewMonitor) -> Result<tokenclock::monitor::SkewMonitor, JsValue> {
    let text = m.to_json_text()?;
    tokenclock::monitor::SkewMonitor::from_json(&text).map_err(|e| core_error(&e))
}

/// `ages`: the report on the ages in `monitor` with the counts in `stats`.
#[wasm_bindgen]
pub fn ages(monitor: &SkewMonitor, stats: JsValue, color: JsValue) -> Result<JsValue, JsValue> {
    let stats = stats_arg(&stats)?;
    let color = edge::opt_bool("color", &color)?.unwrap_or(false);
    let monitor = monitor_arg(monitor)?;
    Ok(rendered_js(&report::ages(&monitor, &stats, color)))
}

/// `ages --prometheus`: the monitor's Prometheus exposition as `text` (the JSON is `ages`').
#[wasm_bindgen(js_name = agesPrometheus)]
pub fn ages_prometheus(monitor: &SkewMonitor, stats: JsValue) -> Result<JsValue, JsValue> {
    let stats = stats_arg(&stats)?;
    let monitor = monitor_arg(monitor)?;
    Ok(rendered_js(&report::ages_prometheus(&monitor, &stats)))
}

/// Reads `ages` input (core `report::AgesCollector`): feed raw bytes as they are read (the core
/// splits lines on `\n`, drops a `\r` before it and decodes UTF-8 with replacement), then
/// `finish(nowMs)` and `render(color)` / `renderPrometheus()`.
#[wasm_bindgen]
pub struct AgesCollector {
    inner: RefCell<report::AgesCollector>,
}

impl AgesCollector {
    fn with<T>(&self, f: impl FnOnce(&mut report::AgesCollector) -> T) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("AgesCollector is already in use (re-entrant call)"))?;
        Ok(f(&mut inner))
    }
}

#[wasm_bindgen]
impl AgesCollector {
    /// `new AgesCollector(timeField)`: `--time-field` (or `null`: ages are `now − iat`).
    #[wasm_bindgen(constructor)]
    pub fn new(time_field: JsValue) -> Result<AgesCollector, JsValue> {
        let time_field = edge::opt_string("timeField", &time_field)?;
        report::AgesCollector::new(time_field.as_deref())
            .map(|c| AgesCollector {
                inner: RefCell::new(c),
            })
            .map_err(report_error)
    }

    /// One line (without its newline), read at `nowMs`.
    #[wasm_bindgen(js_name = feedLine)]
    pub fn feed_line(&self, line: JsValue, now_ms: JsValue) -> Result<(), JsValue> {
        let line = edge::string("line", &line)?;
        let now = edge::int("nowMs", &now_ms)?;
        self.with(|c| c.feed_line(&line, UnixMillis(now)))
    }

    /// A chunk of raw input (`Uint8Array`) read at `nowMs`.
    #[wasm_bindgen(js_name = feedBytes)]
    pub fn feed_bytes(&self, chunk: JsValue, now_ms: JsValue) -> Result<(), JsValue> {
        let chunk = edge::bytes("chunk", &chunk)?;
        let now = edge::int("nowMs", &now_ms)?;
        self.with(|c| c.feed_bytes(&chunk, UnixMillis(now)))
    }

    /// End of input at `nowMs` (processes a last line without a newline).
    pub fn finish(&self, now_ms: JsValue) -> Result<(), JsValue> {
        let now = edge::int("nowMs", &now_ms)?;
        self.with(|c| c.finish(UnixMillis(now)))
    }

    /// A copy of the ages recorded so far, as a `SkewMonitor`.
    pub fn monitor(&self) -> Result<SkewMonitor, JsValue> {
        let text = self.with(|c| c.monitor().to_json())?;
        SkewMonitor::from_json_text(JsValue::from_str(&text))
    }

    /// The counts so far: `{ lines, tokens, recorded, unreadable, noIat, noTimestamp, skipped,
    /// timeField }`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        self.with(|c| stats_js(c.stats()))
    }

    /// The `ages` report.
    pub fn render(&self, color: JsValue) -> Result<JsValue, JsValue> {
        let color = edge::opt_bool("color", &color)?.unwrap_or(false);
        self.with(|c| rendered_js(&c.render(color)))
    }

    /// The `ages --prometheus` output.
    #[wasm_bindgen(js_name = renderPrometheus)]
    pub fn render_prometheus(&self) -> Result<JsValue, JsValue> {
        self.with(|c| rendered_js(&c.render_prometheus()))
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.try_borrow() {
            Ok(c) => format!(
                "AgesCollector({} lines, {} recorded)",
                c.stats().lines,
                c.stats().recorded
            ),
            Err(_) => "AgesCollector(in use)".to_owned(),
        }
    }
}

// ----- simulate --------------------------------------------------------------------------------

/// A cell as the plain object `runCell` uses: `{ clientOffsetS, rsOffsetS, ttlS, rsLeewayS,
/// cachedAgeS, stepS, hours, requestIntervalS, seed (bigint) }`.
fn cell_js(c: &Cell) -> JsValue {
    Out::new()
        .set("clientOffsetS", c.client_offset_s)
        .set("rsOffsetS", c.rs_offset_s)
        .num("ttlS", c.ttl_s)
        .num("rsLeewayS", c.rs_leeway_s)
        .num("cachedAgeS", c.cached_age_s)
        .num("stepS", c.step_s)
        .set("hours", c.hours)
        .set("requestIntervalS", c.request_interval_s)
        .set("seed", JsValue::from(c.seed))
        .build()
}

/// A cell object (absent: `Cell::default()`); absent fields keep their defaults. Only types
/// are checked here: `simulate` range-checks the cell itself (core `check_cell`).
fn cell_arg(v: &JsValue) -> Result<Cell, JsValue> {
    edge::options("cell", v)?;
    let mut c = Cell::default();
    let float = |key: &str, default: f64| -> Result<f64, JsValue> {
        let x = edge::get(v, key)?;
        if edge::is_absent(&x) {
            Ok(default)
        } else {
            edge::float(&format!("cell.{key}"), &x)
        }
    };
    let int = |key: &str, default: i64| -> Result<i64, JsValue> {
        Ok(edge::opt_int(&format!("cell.{key}"), &edge::get(v, key)?)?.unwrap_or(default))
    };
    c.client_offset_s = float("clientOffsetS", c.client_offset_s)?;
    c.rs_offset_s = float("rsOffsetS", c.rs_offset_s)?;
    c.ttl_s = int("ttlS", c.ttl_s)?;
    c.rs_leeway_s = int("rsLeewayS", c.rs_leeway_s)?;
    c.cached_age_s = int("cachedAgeS", c.cached_age_s)?;
    c.step_s = int("stepS", c.step_s)?;
    c.hours = float("hours", c.hours)?;
    c.request_interval_s = float("requestIntervalS", c.request_interval_s)?;
    let seed = edge::get(v, "seed")?;
    if !edge::is_absent(&seed) {
        c.seed = edge::seed("cell.seed", &seed)?;
    }
    Ok(c)
}

/// Applies one `simulate` flag (`"--client-offset"`, `"--rs-offset"`, `"--ttl"`, `"--leeway"`,
/// `"--cached-age"`, `"--step"`, `"--hours"`, `"--seed"`) with its text value to `cell`
/// (absent: the default cell) and returns the new cell object.
#[wasm_bindgen(js_name = parseCellArg)]
pub fn parse_cell_arg(cell: JsValue, flag: JsValue, value: JsValue) -> Result<JsValue, JsValue> {
    let mut cell = cell_arg(&cell)?;
    let flag = edge::string("flag", &flag)?;
    let value = edge::string("value", &value)?;
    report::parse_cell_arg(&mut cell, &flag, &value).map_err(report_error)?;
    Ok(cell_js(&cell))
}

/// `simulate`: runs the cell and renders every strategy side by side (with `timeline`,
/// tokenclock's event log). Exit 2 for an out-of-range cell.
#[wasm_bindgen]
pub fn simulate(cell: JsValue, timeline: JsValue, color: JsValue) -> Result<JsValue, JsValue> {
    let cell = cell_arg(&cell)?;
    let timeline = edge::opt_bool("timeline", &timeline)?.unwrap_or(false);
    let color = edge::opt_bool("color", &color)?.unwrap_or(false);
    Ok(rendered_js(&report::simulate(&cell, timeline, color)))
}

/// The report limits the front-ends need: `{ exitOk, exitFinding, exitUsage, schemaVersion,
/// defaultDateSamples, defaultSntpSamples, maxProbeSamples, probeTimeoutMs, sntpIntervalMs,
/// maxSeed, commands }`.
#[wasm_bindgen(js_name = reportConstants)]
pub fn report_constants() -> JsValue {
    let commands = Array::new();
    for c in report::COMMANDS {
        commands.push(&JsValue::from_str(c));
    }
    Out::new()
        .num("exitOk", i64::from(report::EXIT_OK))
        .num("exitFinding", i64::from(report::EXIT_FINDING))
        .num("exitUsage", i64::from(report::EXIT_USAGE))
        .num("schemaVersion", i64::from(report::SCHEMA_VERSION))
        .num(
            "defaultDateSamples",
            i64::from(report::DEFAULT_DATE_SAMPLES),
        )
        .num(
            "defaultSntpSamples",
            i64::from(report::DEFAULT_SNTP_SAMPLES),
        )
        .num("maxProbeSamples", i64::from(report::MAX_PROBE_SAMPLES))
        .num("probeTimeoutMs", report::PROBE_TIMEOUT_MS)
        .num("sntpIntervalMs", report::SNTP_INTERVAL_MS)
        .num(
            "maxSeed",
            i64::try_from(report::MAX_SEED).unwrap_or(i64::MAX),
        )
        .set("commands", commands)
        .build()
}

// ----- the command line as a machine (core `cli::CliRun`) ---------------------------------------

/// The argument grammar's scan of `argv` (core `parse_args`): `{ command, json, help, error,
/// items }`, `items` in argument order as `{ kind: "positional", value }` or `{ kind:
/// "option", name, value }` (`value` null for a flag).
#[wasm_bindgen(js_name = cliScan)]
pub fn cli_scan(argv: JsValue) -> Result<JsValue, JsValue> {
    let argv = edge::opt_string_list("argv", &argv)?;
    let args = report::parse_args(&argv);
    let items = Array::new();
    for item in &args.items {
        items.push(&match item {
            report::ArgItem::Positional(v) => {
                Out::new().str("kind", "positional").str("value", v).build()
            }
            report::ArgItem::Option { name, value } => Out::new()
                .str("kind", "option")
                .str("name", name)
                .opt_str("value", value.as_deref())
                .build(),
        });
    }
    Ok(Out::new()
        .opt_str("command", args.command.map(report::Command::as_str))
        .set("json", args.json)
        .set("help", args.help)
        .opt_str("error", args.error.as_deref())
        .set("items", items)
        .build())
}

/// Colour exactly when standard output is a terminal and `NO_COLOR` is unset or empty.
#[wasm_bindgen(js_name = cliColorWanted)]
pub fn cli_color_wanted(stdout_is_terminal: bool, no_color: JsValue) -> bool {
    report::color_wanted(stdout_is_terminal, no_color.as_string().as_deref())
}

/// One `tokenclock` run: `new CliRun(argv, env, stdoutIsTerminal)`, then loop `poll(now)`
/// (a reading) and answer each action (`read`, `http`, `sntp`, `wait`, `write`, `exit`).
#[wasm_bindgen]
pub struct CliRun {
    inner: RefCell<report::CliRun>,
}

impl CliRun {
    fn with<T>(&self, f: impl FnOnce(&mut report::CliRun) -> T) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("CliRun is already in use (re-entrant call)"))?;
        Ok(f(&mut inner))
    }
}

fn cli_action_js(a: report::CliAction) -> JsValue {
    use report::CliAction as A;
    match a {
        A::Read { input, max_bytes } => Out::new()
            .str("action", "read")
            .opt_str(
                "path",
                match &input {
                    report::Input::File(p) => Some(p.as_str()),
                    _ => None,
                },
            )
            .num("maxBytes", i64::try_from(max_bytes).unwrap_or(i64::MAX))
            .build(),
        A::Http {
            id,
            url,
            method,
            headers,
            timeout_ms,
        } => Out::new()
            .str("action", "http")
            .num("id", i64::try_from(id).unwrap_or(-1))
            .str("url", &url)
            .str("method", method.as_str())
            .set(
                "headers",
                edge::pairs_js(headers.iter().map(|(k, v)| (*k, v.as_str()))),
            )
            .num("timeoutMs", timeout_ms)
            .build(),
        A::Sntp {
            id,
            host,
            port,
            timeout_ms,
        } => Out::new()
            .str("action", "sntp")
            .num("id", i64::try_from(id).unwrap_or(-1))
            .str("host", &host)
            .num("port", i64::from(port))
            .num("timeoutMs", timeout_ms)
            .build(),
        A::Wait { wait_ms } => Out::new()
            .str("action", "wait")
            .opt_num("waitMs", wait_ms)
            .build(),
        A::Write { stream, text } => Out::new()
            .str("action", "write")
            .str(
                "stream",
                match stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                },
            )
            .str("text", &text)
            .build(),
        A::Exit { code } => Out::new()
            .str("action", "exit")
            .num("code", i64::from(code))
            .build(),
        _ => Out::new().str("action", "exit").num("code", 2).build(),
    }
}

#[wasm_bindgen]
impl CliRun {
    /// `argv` (the arguments after `tokenclock`), `env` (an object such as `process.env`; only
    /// `NO_COLOR` and `TOKENCLOCK_FAKE_NOW_MS` are read) and whether stdout is a terminal.
    #[wasm_bindgen(constructor)]
    pub fn new(argv: JsValue, env: JsValue, stdout_is_terminal: bool) -> Result<CliRun, JsValue> {
        let argv = edge::opt_string_list("argv", &argv)?;
        let mut vars = Vec::new();
        if env.is_object() {
            for name in report::ENV_VARS {
                if let Some(v) = edge::get(&env, name)?.as_string() {
                    vars.push((name.to_owned(), v));
                }
            }
        }
        Ok(CliRun {
            inner: RefCell::new(report::CliRun::new(&argv, &vars, stdout_is_terminal)),
        })
    }

    /// The command, once known (`null` before).
    #[wasm_bindgen(getter)]
    pub fn command(&self) -> Result<JsValue, JsValue> {
        Ok(edge::opt_str(self.with(|r| r.command())?))
    }

    /// What to do next at `now` (a reading).
    pub fn poll(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = edge::reading("now", &now)?;
        Ok(cli_action_js(self.with(|r| r.poll(now))?))
    }

    /// The bytes of a `read` (empty: end of input).
    #[wasm_bindgen(js_name = onRead)]
    pub fn on_read(&self, data: JsValue) -> Result<(), JsValue> {
        let data = edge::bytes("data", &data)?;
        self.with(|r| r.on_read(&data))
    }

    /// A `read` failed: `not_found`, `permission_denied`, `is_a_directory`, `too_large`,
    /// `io_error` (anything else is `io_error`).
    #[wasm_bindgen(js_name = onReadError)]
    pub fn on_read_error(&self, problem: JsValue) -> Result<(), JsValue> {
        let problem = edge::string("problem", &problem)?;
        let problem = InputProblem::from_code(&problem).unwrap_or(InputProblem::Io);
        self.with(|r| r.on_read_error(problem))
    }

    /// An `http` exchange's response: status, `Date` and `Age` (null when absent), readings.
    #[wasm_bindgen(js_name = onHttpResponse)]
    pub fn on_http_response(
        &self,
        id: JsValue,
        status: JsValue,
        date: JsValue,
        age: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let status = edge::uint_as::<u16>("status", &status)?;
        let date = edge::opt_string("date", &date)?;
        let age = edge::opt_string("age", &age)?;
        let sent = edge::reading("sent", &sent)?;
        let received = edge::reading("received", &received)?;
        self.with(|r| {
            r.on_http_response(id, status, date.as_deref(), age.as_deref(), sent, received)
        })
    }

    /// The 48 bytes to send for an `sntp` exchange now (`null`: no such exchange).
    #[wasm_bindgen(js_name = sntpPacket)]
    pub fn sntp_packet(
        &self,
        id: JsValue,
        now: JsValue,
        entropy: JsValue,
    ) -> Result<JsValue, JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let now = edge::reading("now", &now)?;
        let entropy = edge::uint_as::<u32>("entropy", &entropy)?;
        Ok(match self.with(|r| r.sntp_packet(id, now, entropy))? {
            Some(p) => Uint8Array::from(p.as_slice()).into(),
            None => JsValue::NULL,
        })
    }

    /// An `sntp` exchange's reply and the reading on receipt.
    #[wasm_bindgen(js_name = onSntpReply)]
    pub fn on_sntp_reply(
        &self,
        id: JsValue,
        reply: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let reply = edge::bytes("reply", &reply)?;
        let received = edge::reading("received", &received)?;
        self.with(|r| r.on_sntp_reply(id, &reply, received))
    }

    /// An exchange failed: a transport code.
    #[wasm_bindgen(js_name = onTransportError)]
    pub fn on_transport_error(&self, id: JsValue, code: JsValue) -> Result<(), JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let code = edge::string("code", &code)?;
        self.with(|r| r.on_transport_error(id, &code))
    }

    /// The executor failed unexpectedly: the error's `code` (when a string) and `name`.
    #[wasm_bindgen(js_name = onInternalError)]
    pub fn on_internal_error(&self, code: JsValue, name: JsValue) -> Result<(), JsValue> {
        let what = report::describe_failure(
            code.as_string().as_deref(),
            &name.as_string().unwrap_or_default(),
        );
        self.with(|r| r.on_internal_error(&what))
    }
}
