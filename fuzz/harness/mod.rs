//! The per-target "drive one input" functions of the fuzzing campaign.
//!
//! Compiled twice, from the same files, through `#[path]`:
//! * by the cargo-fuzz targets in `fuzz/fuzz_targets/` (nightly, libFuzzer), each of which
//!   is one line: `fuzz_target!(|data: &[u8]| harness::<target>::run(data));`
//! * by the stable replay test `core/tests/fuzz_replay.rs`, which feeds every file of
//!   `fuzz/seeds/<target>/` and every case of `tests/vectors/regressions/*.json` to the same
//!   function.
//!
//! Every `run` function takes raw bytes, never panics on its own account, and **asserts** the
//! target's invariants: a panic (from core or from an assertion) is a finding. Byte layouts
//! are documented on each module and in `fuzz/README.md`, so the Python and wasm bindings can
//! replay the same files through their own calls.
//!
//! `verify` and `jwks` need tokenclock's `verify` feature (and jsonwebtoken, for re-signing);
//! the JWT-bearer grant in `session` needs `sign`. The including crate provides those cfgs.
#![allow(dead_code)]

pub mod http_date;
#[cfg(feature = "verify")]
pub mod jwks;
#[cfg(feature = "verify")]
pub mod keys;
pub mod lifetime;
pub mod monitor;
pub mod peek;
pub mod retry_after;
pub mod session;
pub mod skew;
pub mod sntp;
pub mod token_response;
#[cfg(feature = "verify")]
pub mod verify;

/// A target's "drive one input" function.
pub type Driver = fn(&[u8]);

/// Every target, by name, with its driver (the replay test walks this list).
pub fn targets() -> Vec<(&'static str, Driver)> {
    #[cfg_attr(not(feature = "verify"), allow(unused_mut))]
    let mut t: Vec<(&'static str, Driver)> = vec![
        ("peek", peek::run),
        ("http_date", http_date::run),
        ("retry_after", retry_after::run),
        ("sntp", sntp::run),
        ("token_response", token_response::run),
        ("skew", skew::run),
        ("session", session::run),
        ("lifetime", lifetime::run),
        ("monitor", monitor::run),
    ];
    #[cfg(feature = "verify")]
    t.extend([("jwks", jwks::run as Driver), ("verify", verify::run)]);
    t
}

/// Reads fixed-width little-endian fields off the front of a byte string; missing bytes read
/// as zero (like `arbitrary`), so every input decodes.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// The next `N` bytes, zero-padded.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    pub fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.array())
    }
    /// The next `n` bytes (fewer if the input ends).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    /// Everything left.
    pub fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// `FUZZ_AVOID_KNOWN=1` in the environment: steer clear of the findings that core has not
/// fixed yet (listed in `docs/fuzzing.md`; each driver says where it looks away), so that a
/// campaign can look past them. The replay test never sets it: the regressions keep failing
/// until the fixes land. Remove the knob and its uses once they have.
pub fn avoid_known() -> bool {
    static AVOID: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVOID.get_or_init(|| std::env::var_os("FUZZ_AVOID_KNOWN").is_some_and(|v| v == "1"))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of an even-length lower- or upper-case hex string.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// An error code must be a stable `snake_case` identifier (`ErrorCode`'s contract).
pub fn assert_code(code: &str) {
    assert!(
        !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !code.starts_with('_')
            && !code.ends_with('_'),
        "error code {code:?} is not snake_case"
    );
}

/// Error messages never echo the input. Checked on every run of at least 24 bytes of
/// base64url characters (`A–Z a–z 0–9 - _`) in the input — what a token, a key or a secret is
/// made of: the message must not contain it. (Checking the whole input instead lets the
/// fuzzer, which sees the comparison, spell an input equal to a piece of the message.)
pub fn assert_no_echo(message: &str, input: &str) {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    for run in input
        .as_bytes()
        .split(|b| !word(b))
        .filter(|r| r.len() >= 24)
    {
        let run = core::str::from_utf8(run).unwrap_or_default();
        assert!(
            !message.contains(run),
            "error message echoes the input: {message:?}"
        );
    }
}

/// Checks an error's code and message.
pub fn check_error<E: tokenclock::ErrorCode + std::fmt::Display>(e: &E, input: &str) {
    assert_code(e.code());
    assert_no_echo(&e.to_string(), input);
}

/// Op traces: what a driver did, op by op, and the outcome each op had in core, so
/// that the Python and wasm bindings can replay the same calls and compare
/// (`core/tests/fuzz_trace.rs` writes them to `tests/vectors/fuzz-replay/<target>.json`).
///
/// Off unless [`trace::collect`] runs the driver: a fuzz run pays one thread-local check per
/// op and never builds the JSON.
pub mod trace {
    use serde_json::{json, Value};
    use std::cell::RefCell;

    /// At most this many ops are recorded per input (the rest still run and are checked in
    /// Rust; the bindings replay the recorded prefix).
    pub const MAX_OPS: usize = 120;

    thread_local! {
        static OPS: RefCell<Option<(Vec<Value>, bool)>> = const { RefCell::new(None) };
    }

    /// Whether a trace is being recorded.
    pub fn on() -> bool {
        OPS.with(|o| o.borrow().is_some())
    }

    /// Records one op (built only while recording).
    pub fn op(f: impl FnOnce() -> Value) {
        OPS.with(|o| {
            if let Some((ops, truncated)) = o.borrow_mut().as_mut() {
                if ops.len() < MAX_OPS {
                    ops.push(f());
                } else {
                    *truncated = true;
                }
            }
        });
    }

    /// Runs `run` while recording; returns the ops and whether the list was cut at
    /// [`MAX_OPS`].
    pub fn collect(run: impl FnOnce()) -> (Vec<Value>, bool) {
        OPS.with(|o| *o.borrow_mut() = Some((Vec::new(), false)));
        run();
        OPS.with(|o| o.borrow_mut().take()).unwrap_or_default()
    }

    /// A reading as the vectors write it.
    pub fn reading(r: tokenclock::time::Reading) -> Value {
        json!({"wall_ms": r.wall.0, "mono_ms": r.mono.0})
    }

    /// Header pairs as `[[name, value]]`.
    pub fn headers(h: &[(String, String)]) -> Value {
        Value::Array(h.iter().map(|(k, v)| json!([k, v])).collect())
    }
}
