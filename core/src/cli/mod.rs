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
//!
//! # Layout
//!
//! * `args` — the argument grammar, once: `argv` → [`ParsedArgs`] or a usage message;
//! * `run` — [`CliRun`], the whole run as a sans-I/O machine: `argv, env` → [`CliAction`]s
//!   (read, HTTP, SNTP, wait, write a file, write, exit) that a front-end performs and
//!   answers;
//! * `values` — the value parsers ([`parse_seconds_arg`], [`parse_count_arg`],
//!   [`parse_host_port`]) and their [`ReportError`];
//! * `text`, `json` — the text helpers every report shares and the one JSON serialisation;
//! * `usage` — usage, argument and input errors, and the help texts;
//! * one module per command: `inspect`, `skew` (and `probe`, the [`SkewProbe`] machine),
//!   `ages` (and `timestamp`, log timestamps), `simulate` (and with `--html FILE` the cell's
//!   chart, `sim::render_cell_html`).

use core::fmt;

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

mod ages;
mod args;
mod inspect;
mod json;
use json::write_json;
mod probe;
mod run;
mod simulate;
mod skew;
mod text;
mod timestamp;
mod usage;
mod values;

pub use ages::*;
pub use args::*;
pub use inspect::*;
pub use probe::*;
pub use run::*;
pub use simulate::*;
pub use skew::*;
pub use text::*;
pub use timestamp::*;
pub use usage::*;
pub use values::*;

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
