//! The deterministic simulation (core `sim`): one gauntlet cell, and the gauntlet's grid.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokenclock::sim as core_sim;

use crate::convert::{Int, Secs};
use crate::errors::{guard, Error};

/// Core's `Cell` has no range check of its own and its loops run for `hours` of simulated
/// time, so the binding refuses cells a caller cannot mean (and that could take hours of CPU
/// or overflow core's unchecked cell arithmetic). TODO(core): a `Cell::validate` would own this.
fn check_cell(c: &core_sim::Cell) -> Result<(), Error> {
    let finite_within = |v: f64, limit: f64| v.is_finite() && v.abs() <= limit;
    let checks: [(bool, &str); 8] = [
        (
            finite_within(c.client_offset_s, 1.0e6),
            "client_offset must be finite, |x| <= 1e6 s",
        ),
        (
            finite_within(c.rs_offset_s, 1.0e6),
            "rs_offset must be finite, |x| <= 1e6 s",
        ),
        (
            (1..=31_622_400).contains(&c.ttl_s),
            "ttl must be 1..=31622400 s",
        ),
        (
            (0..=86_400).contains(&c.rs_leeway_s),
            "rs_leeway must be 0..=86400 s",
        ),
        (
            (0..=c.ttl_s).contains(&c.cached_age_s),
            "cached_age must be 0..=ttl",
        ),
        (
            (-1_000_000..=1_000_000).contains(&c.step_s),
            "step must be within +-1e6 s",
        ),
        (
            c.hours.is_finite() && c.hours > 0.0 && c.hours <= 1_000.0,
            "hours must be in (0, 1000]",
        ),
        (
            c.request_interval_s.is_finite() && (0.001..=86_400.0).contains(&c.request_interval_s),
            "request_interval must be in [0.001, 86400] s",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, msg)) => Err(Error::Arg((*msg).to_owned())),
        None => Ok(()),
    }
}

fn outcome_dict<'py>(py: Python<'py>, o: &core_sim::Outcome) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("strategy", o.strategy)?;
    d.set_item("requests", o.requests)?;
    d.set_item("user_visible_failures", o.user_visible_failures)?;
    d.set_item("rs_401", o.rs_401)?;
    d.set_item("token_requests", o.token_requests)?;
    d.set_item("p99_added_latency", o.p99_added_latency_ms as f64 / 1000.0)?;
    d.set_item("max_added_latency", o.max_added_latency_ms as f64 / 1000.0)?;
    d.set_item("timeline", o.timeline.clone())?;
    Ok(d)
}

fn cell_dict<'py>(py: Python<'py>, c: &core_sim::Cell) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("client_offset", c.client_offset_s)?;
    d.set_item("rs_offset", c.rs_offset_s)?;
    d.set_item("ttl", c.ttl_s)?;
    d.set_item("rs_leeway", c.rs_leeway_s)?;
    d.set_item("cached_age", c.cached_age_s)?;
    d.set_item("step", c.step_s)?;
    d.set_item("hours", c.hours)?;
    d.set_item("request_interval", c.request_interval_s)?;
    d.set_item("seed", c.seed)?;
    Ok(d)
}

/// Runs every strategy (`tokenclock`, `tutorial`, `stackit`, `naive`, then `oracle`) on one
/// cell of the skew gauntlet. Offsets, lifetimes and intervals in seconds; `timeline=True`
/// adds tokenclock's event log. Returns one dict per strategy.
#[pyfunction]
#[pyo3(signature = (*, client_offset=Secs(0.0), rs_offset=Secs(0.0), ttl=Int(300), rs_leeway=Int(0), cached_age=Int(0),
    step=Int(0), hours=Secs(3.0), request_interval=Secs(5.0), seed=Int(1), timeline=false),
    text_signature = "(*, client_offset=0.0, rs_offset=0.0, ttl=300, rs_leeway=0, cached_age=0, step=0, hours=3.0, request_interval=5.0, seed=1, timeline=False)")]
#[allow(clippy::too_many_arguments)]
pub fn simulate_cell<'py>(
    py: Python<'py>,
    client_offset: Secs,
    rs_offset: Secs,
    ttl: Int<i64>,
    rs_leeway: Int<i64>,
    cached_age: Int<i64>,
    step: Int<i64>,
    hours: Secs,
    request_interval: Secs,
    seed: Int<u64>,
    timeline: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    guard(|| {
        let cell = core_sim::Cell {
            client_offset_s: client_offset.0,
            rs_offset_s: rs_offset.0,
            ttl_s: ttl.0,
            rs_leeway_s: rs_leeway.0,
            cached_age_s: cached_age.0,
            step_s: step.0,
            hours: hours.0,
            request_interval_s: request_interval.0,
            seed: seed.0,
        };
        check_cell(&cell)?;
        let outcomes = py.detach(|| core_sim::run_cell(cell, timeline));
        outcomes.iter().map(|o| outcome_dict(py, o)).collect()
    })
}

/// The gauntlet's grid of cells (as dicts of `simulate_cell` keyword arguments).
#[pyfunction]
#[pyo3(signature = (seed=Int(1), hours=Secs(3.0)), text_signature = "(seed=1, hours=3.0)")]
pub fn gauntlet_cells<'py>(
    py: Python<'py>,
    seed: Int<u64>,
    hours: Secs,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    guard(|| {
        let cells = core_sim::gauntlet_cells(seed.0, hours.0);
        if let Some(c) = cells.first() {
            check_cell(c)?;
        }
        cells.iter().map(|c| cell_dict(py, c)).collect()
    })
}
