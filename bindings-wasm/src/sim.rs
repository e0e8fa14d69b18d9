//! The deterministic simulation and the skew gauntlet (core `sim`, full build only).
//!
//! Cells, outcomes and rows are plain objects in camelCase; a cell's `seed` is a `bigint`
//! (gauntlet seeds use all 64 bits), and a `number` is accepted too.

use tokenclock::sim::{self, Cell, Outcome, Row};
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{range_error, type_error};

/// Longest simulated span accepted: one year, in hours.
const MAX_HOURS: f64 = 366.0 * 24.0;
/// Largest clock offset, step, lifetime or age accepted: one year, in seconds.
const MAX_SECONDS: f64 = 366.0 * 86_400.0;

fn bounded_float(param: &str, v: &JsValue, low: f64, high: f64) -> Result<f64, JsValue> {
    let f = edge::float(param, v)?;
    if (low..=high).contains(&f) {
        Ok(f)
    } else {
        Err(range_error(&format!(
            "{param} must be within {low}..={high}"
        )))
    }
}

fn bounded_int(param: &str, v: &JsValue, low: i64, high: i64) -> Result<i64, JsValue> {
    let n = edge::int(param, v)?;
    if (low..=high).contains(&n) {
        Ok(n)
    } else {
        Err(range_error(&format!(
            "{param} must be within {low}..={high}"
        )))
    }
}

fn field(obj: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    edge::get(obj, key)
}

/// A cell: `{ clientOffsetS?, rsOffsetS?, ttlS?, rsLeewayS?, cachedAgeS?, stepS?, hours?,
/// requestIntervalS?, seed? }` over core's defaults. Bounds keep the run finite and the
/// arithmetic far from overflow.
fn cell_arg(v: &JsValue) -> Result<Cell, JsValue> {
    edge::options("cell", v)?;
    let d = Cell::default();
    let secs = MAX_SECONDS as i64;
    let opt_f = |key: &str, low: f64, high: f64, default: f64| -> Result<f64, JsValue> {
        let x = field(v, key)?;
        if edge::is_absent(&x) {
            Ok(default)
        } else {
            bounded_float(&format!("cell.{key}"), &x, low, high)
        }
    };
    let opt_i = |key: &str, low: i64, high: i64, default: i64| -> Result<i64, JsValue> {
        let x = field(v, key)?;
        if edge::is_absent(&x) {
            Ok(default)
        } else {
            bounded_int(&format!("cell.{key}"), &x, low, high)
        }
    };
    let seed = field(v, "seed")?;
    let cell = Cell {
        client_offset_s: opt_f(
            "clientOffsetS",
            -MAX_SECONDS,
            MAX_SECONDS,
            d.client_offset_s,
        )?,
        rs_offset_s: opt_f("rsOffsetS", -MAX_SECONDS, MAX_SECONDS, d.rs_offset_s)?,
        ttl_s: opt_i("ttlS", 1, secs, d.ttl_s)?,
        rs_leeway_s: opt_i("rsLeewayS", 0, 86_400, d.rs_leeway_s)?,
        cached_age_s: opt_i("cachedAgeS", 0, secs, d.cached_age_s)?,
        step_s: opt_i("stepS", -secs, secs, d.step_s)?,
        hours: opt_f("hours", 0.0, MAX_HOURS, d.hours)?,
        request_interval_s: opt_f("requestIntervalS", 0.001, 86_400.0, d.request_interval_s)?,
        seed: if edge::is_absent(&seed) {
            d.seed
        } else {
            edge::seed("cell.seed", &seed)?
        },
    };
    // The core has the last word on which cells are valid.
    cell.validate()
        .map_err(|e| range_error(&format!("cell: {e}")))?;
    Ok(cell)
}

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

fn count(v: u64) -> f64 {
    v as f64
}

fn outcome_js(o: &Outcome) -> JsValue {
    let timeline = js_sys::Array::new();
    for line in &o.timeline {
        timeline.push(&JsValue::from_str(line));
    }
    Out::new()
        .str("strategy", o.strategy)
        .set("requests", count(o.requests))
        .set("userVisibleFailures", count(o.user_visible_failures))
        .set("rs401", count(o.rs_401))
        .set("tokenRequests", count(o.token_requests))
        .num("p99AddedLatencyMs", o.p99_added_latency_ms)
        .num("maxAddedLatencyMs", o.max_added_latency_ms)
        .set("timeline", timeline)
        .build()
}

/// Core names strategies with `&'static str`: map a name back to core's constant.
fn strategy_arg(param: &str, v: &JsValue) -> Result<&'static str, JsValue> {
    let name = edge::string(param, v)?;
    sim::STRATEGIES
        .iter()
        .chain(["oracle"].iter())
        .find(|s| **s == name)
        .copied()
        .ok_or_else(|| type_error(&format!("{param} is not a known strategy")))
}

fn counter(param: &str, obj: &JsValue, key: &str) -> Result<u64, JsValue> {
    Ok(edge::uint(&format!("{param}.{key}"), &field(obj, key)?)?.unsigned_abs())
}

fn outcome_arg(param: &str, v: &JsValue) -> Result<Outcome, JsValue> {
    if !v.is_object() {
        return Err(type_error(&format!("{param} must be an outcome object")));
    }
    Ok(Outcome {
        strategy: strategy_arg(&format!("{param}.strategy"), &field(v, "strategy")?)?,
        requests: counter(param, v, "requests")?,
        user_visible_failures: counter(param, v, "userVisibleFailures")?,
        rs_401: counter(param, v, "rs401")?,
        token_requests: counter(param, v, "tokenRequests")?,
        p99_added_latency_ms: edge::uint(
            &format!("{param}.p99AddedLatencyMs"),
            &field(v, "p99AddedLatencyMs")?,
        )?,
        max_added_latency_ms: edge::opt_uint(
            &format!("{param}.maxAddedLatencyMs"),
            &field(v, "maxAddedLatencyMs")?,
        )?
        .unwrap_or(0),
        ..Outcome::default()
    })
}

fn row_js(r: &Row) -> JsValue {
    Out::new()
        .str("strategy", r.strategy)
        .set("clientOffsetS", r.client_offset_s)
        .set("rsOffsetS", r.rs_offset_s)
        .num("ttlS", r.ttl_s)
        .num("rsLeewayS", r.rs_leeway_s)
        .set("cachedIssuer", r.cached_issuer)
        .num("cachedAgeS", r.cached_age_s)
        .num("stepS", r.step_s)
        .set("hours", r.hours)
        .set("requests", count(r.requests))
        .set("userVisibleFailures", count(r.user_visible_failures))
        .set("rs401", count(r.rs_401))
        .set("tokenRequests", count(r.token_requests))
        .set("minTokenRequests", count(r.min_token_requests))
        .num("p99AddedLatencyMs", r.p99_added_latency_ms)
        .build()
}

fn row_arg(param: &str, v: &JsValue) -> Result<Row, JsValue> {
    if !v.is_object() {
        return Err(type_error(&format!("{param} must be a row object")));
    }
    let f = |key: &str| field(v, key);
    let p = |key: &str| format!("{param}.{key}");
    Ok(Row {
        strategy: strategy_arg(&p("strategy"), &f("strategy")?)?,
        client_offset_s: edge::float(&p("clientOffsetS"), &f("clientOffsetS")?)?,
        rs_offset_s: edge::float(&p("rsOffsetS"), &f("rsOffsetS")?)?,
        ttl_s: edge::int(&p("ttlS"), &f("ttlS")?)?,
        rs_leeway_s: edge::int(&p("rsLeewayS"), &f("rsLeewayS")?)?,
        cached_issuer: edge::opt_bool(&p("cachedIssuer"), &f("cachedIssuer")?)?.unwrap_or(false),
        cached_age_s: edge::int(&p("cachedAgeS"), &f("cachedAgeS")?)?,
        step_s: edge::int(&p("stepS"), &f("stepS")?)?,
        hours: edge::float(&p("hours"), &f("hours")?)?,
        requests: counter(param, v, "requests")?,
        user_visible_failures: counter(param, v, "userVisibleFailures")?,
        rs_401: counter(param, v, "rs401")?,
        token_requests: counter(param, v, "tokenRequests")?,
        min_token_requests: counter(param, v, "minTokenRequests")?,
        p99_added_latency_ms: edge::uint(&p("p99AddedLatencyMs"), &f("p99AddedLatencyMs")?)?,
    })
}

fn list<T>(
    param: &str,
    v: &JsValue,
    item: impl Fn(&str, &JsValue) -> Result<T, JsValue>,
) -> Result<Vec<T>, JsValue> {
    if !edge::is_array(v)? {
        return Err(type_error(&format!("{param} must be an array")));
    }
    let len = edge::uint(&format!("{param}.length"), &field(v, "length")?)?;
    if len > 100_000 {
        return Err(range_error(&format!("{param} has more than 100000 items")));
    }
    let len = u32::try_from(len).unwrap_or(0);
    (0..len)
        .map(|i| item(&format!("{param}[{i}]"), &js_sys::Reflect::get_u32(v, i)?))
        .collect()
}

fn array(items: impl IntoIterator<Item = JsValue>) -> JsValue {
    let out = js_sys::Array::new();
    for item in items {
        out.push(&item);
    }
    out.into()
}

/// `runCell(cell, { timeline? })`: runs every strategy (`tokenclock`, `tutorial`, `stackit`,
/// `naive`, then `oracle`) on one cell; returns their outcomes `{ strategy, requests,
/// userVisibleFailures, rs401, tokenRequests, p99AddedLatencyMs, maxAddedLatencyMs, timeline }`.
#[wasm_bindgen(js_name = runCell)]
pub fn run_cell(cell: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let cell = cell_arg(&cell)?;
    edge::options("options", &options)?;
    let timeline = edge::opt_bool("timeline", &edge::get(&options, "timeline")?)?.unwrap_or(false);
    Ok(array(sim::run_cell(cell, timeline).iter().map(outcome_js)))
}

/// `gauntletCells(seed, hours)`: the gauntlet's grid of cells.
#[wasm_bindgen(js_name = gauntletCells)]
pub fn gauntlet_cells(seed: JsValue, hours: JsValue) -> Result<JsValue, JsValue> {
    let seed = edge::seed("seed", &seed)?;
    let hours = bounded_float("hours", &hours, 0.0, MAX_HOURS)?;
    Ok(array(sim::gauntlet_cells(seed, hours).iter().map(cell_js)))
}

/// `gauntletRows(cell, outcomes)`: one row per strategy (the oracle's token count becomes
/// `minTokenRequests`).
#[wasm_bindgen(js_name = gauntletRows)]
pub fn gauntlet_rows(cell: JsValue, outcomes: JsValue) -> Result<JsValue, JsValue> {
    let cell = cell_arg(&cell)?;
    let outcomes = list("outcomes", &outcomes, outcome_arg)?;
    Ok(array(sim::rows(&cell, &outcomes).iter().map(row_js)))
}

/// `renderSummary(rows)`: the per-strategy summary table (text).
#[wasm_bindgen(js_name = renderSummary)]
pub fn render_summary(rows: JsValue) -> Result<String, JsValue> {
    Ok(sim::render_summary(&list("rows", &rows, row_arg)?))
}

/// `renderBreakdown(rows)`: user-visible failures by condition (text).
#[wasm_bindgen(js_name = renderBreakdown)]
pub fn render_breakdown(rows: JsValue) -> Result<String, JsValue> {
    Ok(sim::render_breakdown(&list("rows", &rows, row_arg)?))
}
