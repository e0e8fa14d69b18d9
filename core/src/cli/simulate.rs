//! `tokenclock simulate`: one gauntlet cell, every strategy side by side (and with
//! `--html FILE`, its timeline as a chart: `sim::render_cell_html`).

#[cfg(feature = "sim")]
use super::*;
#[cfg(feature = "sim")]
use core::fmt::Write as _;

/// Largest `--seed` (2⁵³ − 1, so it survives a JavaScript number).
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Most timeline lines printed.
#[cfg(feature = "sim")]
pub(super) const MAX_TIMELINE_LINES: usize = 10_000;

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
pub(super) fn check_cell(cell: &crate::sim::Cell) -> Result<(), ReportError> {
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

/// Checks `simulate --html`'s value: a file path (not empty, not `-`: standard output is the
/// report's).
#[cfg(feature = "sim")]
pub fn check_html_path(path: &str) -> Result<(), ReportError> {
    if path.is_empty() || path == "-" {
        return Err(invalid("--html", "a file path (not -)"));
    }
    Ok(())
}

/// `simulate`: runs one gauntlet cell ([`crate::sim::run_cell`]) and shows every strategy
/// side by side with the columns of `make demo` ([`crate::sim::render_summary`]), the
/// oracle's minimum number of token requests, and with `timeline` tokenclock's event log.
/// Exit 0, or 2 when a cell parameter is out of range.
#[cfg(feature = "sim")]
pub fn simulate(cell: &crate::sim::Cell, timeline: bool, color: bool) -> Rendered {
    simulate_report(cell, timeline, color, None).0
}

/// `simulate --html FILE`: the report of [`simulate`], which then also says where the chart
/// went (a line before the result; `html_file` in JSON), and the chart to write to `path`
/// ([`crate::sim::render_cell_html`]): `None` when a cell parameter is out of range (the
/// report is then the error).
#[cfg(feature = "sim")]
pub fn simulate_with_html(
    cell: &crate::sim::Cell,
    timeline: bool,
    color: bool,
    path: &str,
) -> (Rendered, Option<String>) {
    simulate_report(cell, timeline, color, Some(path))
}

#[cfg(feature = "sim")]
fn simulate_report(
    cell: &crate::sim::Cell,
    timeline: bool,
    color: bool,
    html_path: Option<&str>,
) -> (Rendered, Option<String>) {
    use crate::sim::{render_cell_html, render_summary, rows, run_cell};
    if let Err(e) = check_cell(cell) {
        return (argument_error(Some("simulate"), &e), None);
    }
    let p = Paint(color);
    // The chart needs every strategy's requests and events: the timeline's recording.
    let outcomes = run_cell(*cell, timeline || html_path.is_some());
    let html = html_path.map(|_| render_cell_html(cell, &outcomes));
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
    if let Some(path) = html_path {
        let _ = writeln!(t, "chart written to {}", sanitize(path));
    }
    t.push_str(&result_line(p, &[]));

    let mut json = json!({
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
    if let (Some(path), Some(object)) = (html_path, json.as_object_mut()) {
        object.insert("html_file".to_owned(), Value::String(path.to_owned()));
    }
    let rendered = Rendered {
        text: t,
        json,
        exit_code: EXIT_OK,
        stream: Stream::Stdout,
    };
    (rendered, html)
}
