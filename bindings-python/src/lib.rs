//! Python bindings for tokenclock (PyO3), imported as `tokenclock._native`.
//!
//! Thin by design (after nucypher-core): one newtype per core type, conversions and error
//! mapping only — every decision is made in `core/`. The public API is the plain-Python
//! package `tokenclock` beside it (python/tokenclock/); the `.pyi` stub there is checked
//! against this module by `mypy.stubtest`.
//!
//! * Times cross as float seconds (as `time.time()` gives them) and become whole
//!   milliseconds by `round(s * 1000)` (docs/bindings.md); see [`convert`].
//! * Every core error type maps to its own exception class in one function; see [`errors`].
//! * Every entry point runs inside [`errors::guard`], so a panic surfaces as
//!   `TokenClockError(code="internal_error")`, never as PyO3's `PanicException`.
//! * No `repr` shows a token or secret.
//!
//! Modules: [`time`] (`Reading`), [`skew`] (`Estimate`, `SkewEstimator`, SNTP),
//! [`lifetime`] (`Lifetime`, `TokenState`), [`parse`] (`peek`, HTTP dates, token responses),
//! [`oauth`] (grants, PKCE, token requests), [`session`] (`Session`, `Authorization`,
//! `Ticket`, `Verdict`), [`verify`] (`Verifier`, `SkewMonitor`), [`sim`] (the gauntlet),
//! [`report`] (`_CliRun`, the command line's machine, for `tokenclock.cli`), [`fleet`].
#![forbid(unsafe_code)]

use pyo3::prelude::*;

pub mod convert;
pub mod errors;
pub mod fleet;
pub mod keyset;
pub mod lifetime;
pub mod oauth;
pub mod parse;
pub mod report;
pub mod session;
pub mod sim;
pub mod skew;
pub mod time;
pub mod verify;

/// The native module `tokenclock._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    convert::init_clock(m.py())?;
    errors::register(m)?;

    m.add_function(wrap_pyfunction!(parse::version, m)?)?;
    m.add_function(wrap_pyfunction!(parse::rules_is_expired, m)?)?;
    m.add_function(wrap_pyfunction!(parse::peek, m)?)?;
    m.add_function(wrap_pyfunction!(parse::parse_http_date, m)?)?;
    m.add_function(wrap_pyfunction!(parse::format_http_date, m)?)?;
    m.add_function(wrap_pyfunction!(parse::parse_retry_after, m)?)?;
    m.add_function(wrap_pyfunction!(parse::parse_token_response, m)?)?;
    m.add_function(wrap_pyfunction!(parse::refresh_token_to_keep, m)?)?;
    m.add_class::<parse::TokenResponse>()?;

    m.add_class::<time::Reading>()?;
    m.add_class::<skew::Estimate>()?;
    m.add_class::<skew::SkewEstimator>()?;
    m.add_class::<skew::SntpRequest>()?;
    m.add_function(wrap_pyfunction!(skew::parse_sntp_reply, m)?)?;

    m.add_class::<lifetime::Lifetime>()?;
    m.add_class::<lifetime::TokenState>()?;

    oauth::register(m)?;

    m.add_class::<session::Session>()?;
    m.add_class::<session::Authorization>()?;
    m.add_class::<session::Ticket>()?;
    m.add_class::<session::Verdict>()?;
    m.add_class::<session::AfterResponse>()?;

    m.add_class::<verify::Verifier>()?;
    m.add_class::<verify::SkewMonitor>()?;
    m.add_class::<keyset::KeySet>()?;
    m.add_class::<keyset::KeyStep>()?;
    m.add_class::<keyset::FetchTicket>()?;

    m.add_function(wrap_pyfunction!(sim::run_cell, m)?)?;
    m.add_function(wrap_pyfunction!(sim::gauntlet_cells, m)?)?;

    report::register(m)?;
    fleet::register(m)?;
    Ok(())
}
