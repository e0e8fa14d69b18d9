//! The deterministic simulation (core `sim`): one gauntlet cell, and the gauntlet's grid.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokenclock::sim as core_sim;

use crate::convert::{Int, Secs};
use crate::errors::{guard, Error};

/// The core decides which cells are valid (`Cell::validate`).
fn check_cell(c: &core_sim::Cell) -> Result<(), Error> {
    c.validate().map_err(|e| Error::Arg(e.to_string()))
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
pub fn run_cell<'py>(
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

/// The gauntlet's grid of cells (as dicts of `run_cell` keyword arguments).
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
