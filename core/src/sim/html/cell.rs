//! One gauntlet cell as a self-contained HTML page (`tokenclock simulate --html FILE`): per
//! strategy, a time axis with every user request as a mark (its height the latency the
//! strategy added, on a log scale; its colour how it ended: ok, retried, failed) and, below it,
//! the strategy's events as markers (token requests, tokens received, failed refreshes with
//! their backoff, 401s, clock steps noticed); the client's wall-clock step, if any, as a line
//! across; then the cell's summary table and its parameters.
//!
//! Inline CSS and SVG only: no script, no external resource. Every text is HTML-escaped. Pure
//! and deterministic (integer arithmetic for every coordinate): the same cell and outcomes give
//! the same bytes on every platform, so the Python and the npm command line write the same
//! file. Each strategy is one `section.strategy` whose `g.req` groups (one per outcome) hold
//! one `rect` per user request, and whose `g.ev` groups (one per event kind) one `rect` per
//! event (and `rect.span` per backoff), so a test can count them.

use super::super::{step_at_ms, Cell, EventKind, Outcome, RequestResult, TimelineEvent};
use super::{esc, ms, plain_s, signed_s, thousands};
use core::fmt::Write as _;

/// Left of the plot: room for the latency axis's labels (px).
const LEFT: i64 = 78;
/// Width of the time axis (px).
const PLOT_W: i64 = 840;
/// Right of the plot (px).
const RIGHT: i64 = 18;
/// Above the plot: room for the wall step's label (px).
const TOP: i64 = 14;
/// Height of the latency plot (px).
const PLOT_H: i64 = 110;
/// Gap between the plot and the event rows (px).
const GAP: i64 = 8;
/// Height of one event row (px); one row per [`EventKind`].
const ROW_H: i64 = 10;
/// Below the event rows: the time axis's labels (px).
const BOTTOM: i64 = 30;
/// Side of a request's mark (px).
const MARK: i64 = 3;
/// Top of the latency axis: 200 s (a request gives up after 120 s).
const LATENCY_TOP_MS: u64 = 200_000;
/// Per strategy, the first this many retried or failed requests, and the first this many
/// events, have a tooltip (a day of failures would otherwise make the page tens of MB).
const TOOLTIPS: usize = 1_000;

fn outcome_colour(r: RequestResult) -> &'static str {
    match r {
        RequestResult::Ok => "#a3a3a3",
        RequestResult::Retried => "#fd8d3c",
        RequestResult::Failed => "#cb181d",
    }
}

fn event_colour(k: EventKind) -> &'static str {
    match k {
        EventKind::Refresh => "#3182bd",
        EventKind::TokenReceived => "#31a354",
        EventKind::RefreshFailed => "#e6550d",
        EventKind::Rejected => "#cb181d",
        EventKind::ClockStep => "#756bb1",
        EventKind::Other => "#636363",
    }
}

fn event_label(k: EventKind) -> &'static str {
    match k {
        EventKind::Refresh => "token request",
        EventKind::TokenReceived => "token received",
        EventKind::RefreshFailed => "refresh failed",
        EventKind::Rejected => "401",
        EventKind::ClockStep => "clock step seen",
        EventKind::Other => "other",
    }
}

/// CSS class of an event kind.
fn event_class(k: EventKind) -> &'static str {
    match k {
        EventKind::Refresh => "refresh",
        EventKind::TokenReceived => "token",
        EventKind::RefreshFailed => "backoff",
        EventKind::Rejected => "r401",
        EventKind::ClockStep => "clock",
        EventKind::Other => "other",
    }
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;\
color:#222;background:#fff;margin:20px 24px;max-width:1000px}\
h1{font-size:22px;margin:0 0 4px}\
h2{font-size:16px;margin:16px 0 2px}\
h2 small{font-weight:normal;color:#555;font-size:13px}\
p{margin:4px 0}\
.note{font-size:12px;color:#555;margin:0 0 4px}\
svg text{font:9px system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;fill:#444}\
svg .axis{font-size:10px;fill:#222}\
.grid{stroke:#e4e4e4;stroke-width:1}\
.frame{fill:none;stroke:#bdbdbd}\
.step{stroke:#756bb1;stroke-width:1.5;stroke-dasharray:4 3}\
.span{opacity:.35}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0 14px}\
th,td{padding:2px 10px;text-align:right;border-bottom:1px solid #e4e4e4}\
th:first-child,td:first-child{text-align:left}\
th{font-weight:600;background:#f6f6f6}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}\
dt{color:#555}dd{margin:0}\
code{font-size:13px}";

/// The colour rules of outcomes and event kinds.
fn colour_css() -> String {
    let mut css = String::new();
    for r in RequestResult::ALL {
        let _ = write!(css, ".{}{{fill:{}}}", r.as_str(), outcome_colour(r));
    }
    for k in EventKind::ALL {
        let _ = write!(css, ".{}{{fill:{}}}", event_class(k), event_colour(k));
    }
    css.push('\n');
    css
}

/// `log10(x)` in thousandths, for `x ≥ 1`, by integers only (the same bytes everywhere):
/// exact at whole mantissas, linear between them (within 1.5 % of a decade).
fn millidecades(x: u64) -> i64 {
    const LOG: [i64; 11] = [0, 0, 301, 477, 602, 699, 778, 845, 903, 954, 1000];
    let x = x.max(1);
    let (mut p, mut k) = (1u64, 0i64);
    while p <= x / 10 {
        p *= 10;
        k += 1;
    }
    let whole = (x / p) as usize; // 1..=9
    let frac = (x - whole as u64 * p) as i64;
    let (lo, hi) = (LOG[whole], LOG[whole + 1]);
    k * 1000 + lo + (hi - lo) * frac / p as i64
}

/// Tenths of a pixel as an SVG number: `123.4`, `12`.
fn px(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    let a = tenths.unsigned_abs();
    if a % 10 == 0 {
        format!("{sign}{}", a / 10)
    } else {
        format!("{sign}{}.{}", a / 10, a % 10)
    }
}

/// The chart's scales: true ms → x, added ms → y (both in tenths of a pixel).
struct Scale {
    duration_ms: i64,
}

impl Scale {
    fn x(&self, at_ms: i64) -> i64 {
        let at = at_ms.clamp(0, self.duration_ms);
        LEFT * 10 + at * PLOT_W * 10 / self.duration_ms.max(1)
    }

    fn y(&self, added_ms: i64) -> i64 {
        let top = millidecades(LATENCY_TOP_MS + 1);
        let v = millidecades(added_ms.clamp(0, LATENCY_TOP_MS as i64) as u64 + 1);
        (TOP + PLOT_H) * 10 - v * PLOT_H * 10 / top
    }
}

/// A time from the start as a clock: `0:00:33.053`, `2:59:58`.
fn clock(ms: i64) -> String {
    let sign = if ms < 0 { "−" } else { "" };
    let a = ms.unsigned_abs();
    let (h, m, s, milli) = (a / 3_600_000, a / 60_000 % 60, a / 1_000 % 60, a % 1_000);
    if milli == 0 {
        format!("{sign}{h}:{m:02}:{s:02}")
    } else {
        format!("{sign}{h}:{m:02}:{s:02}.{milli:03}")
    }
}

/// A tick of the time axis: `0`, `45s`, `2m30s`, `1h`, `1h30m`.
fn tick_label(ms: i64) -> String {
    let s = ms / 1_000;
    let (h, m, s) = (s / 3_600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || out.is_empty() {
        let _ = write!(out, "{s}{}", if ms == 0 { "" } else { "s" });
    }
    out
}

/// The time axis's step: the smallest round interval giving at most 8 intervals.
fn tick_step(duration_ms: i64) -> i64 {
    const STEPS_S: [i64; 17] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200,
    ];
    STEPS_S
        .iter()
        .map(|s| s * 1_000)
        .find(|s| duration_ms / s <= 8)
        .unwrap_or(86_400_000)
}

/// The cell's parameters in a sentence.
fn describe_cell(cell: &Cell) -> String {
    format!(
        "client clock {} s and resource server {} s vs the issuer; ttl {} s, leeway {} s, \
         cached issuer {}, {}; {} h simulated, a request every ~{} s, seed {}",
        signed_s(ms(cell.client_offset_s)),
        signed_s(ms(cell.rs_offset_s)),
        thousands(cell.ttl_s),
        thousands(cell.rs_leeway_s),
        if cell.cached_age_s > 0 {
            format!("on (first token {} s old)", thousands(cell.cached_age_s))
        } else {
            "off".to_owned()
        },
        if cell.step_s != 0 {
            format!("wall step {} s", signed_s(cell.step_s * 1000))
        } else {
            "no wall step".to_owned()
        },
        plain_s(cell.hours),
        plain_s(cell.request_interval_s),
        cell.seed
    )
}

/// Milliseconds as the command line takes seconds: `30`, `-0.25`.
fn arg_s(ms: i64) -> String {
    signed_s(ms)
        .replace('−', "-")
        .trim_start_matches('+')
        .to_owned()
}

/// The command that runs this cell again.
fn command_line(cell: &Cell) -> String {
    format!(
        "tokenclock simulate --client-offset {} --rs-offset {} --ttl {} --leeway {} \
         --cached-age {} --step {} --hours {} --seed {}",
        arg_s(ms(cell.client_offset_s)),
        arg_s(ms(cell.rs_offset_s)),
        cell.ttl_s,
        cell.rs_leeway_s,
        cell.cached_age_s,
        cell.step_s,
        arg_s(ms(cell.hours)),
        cell.seed
    )
}

/// Renders one cell's outcomes ([`super::super::run_cell`] with `timeline` on, so they carry
/// their request logs and events) as one self-contained HTML page (see the module docs). The
/// oracle is not drawn; its token requests are the table's minimum.
pub fn render_cell_html(cell: &Cell, outcomes: &[Outcome]) -> String {
    let scale = Scale {
        duration_ms: ((cell.hours * 3_600_000.0) as i64).max(1),
    };
    let min = outcomes
        .iter()
        .find(|o| o.strategy == "oracle")
        .map_or(0, |o| o.token_requests);
    let drawn: Vec<&Outcome> = outcomes.iter().filter(|o| o.strategy != "oracle").collect();
    let requests: usize = drawn.iter().map(|o| o.request_log.len()).sum();

    let mut h = String::with_capacity(4096 + requests * 48);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        h,
        "<title>tokenclock simulate: client {} s, RS {} s, ttl {} s (seed {})</title>",
        esc(&signed_s(ms(cell.client_offset_s))),
        esc(&signed_s(ms(cell.rs_offset_s))),
        cell.ttl_s,
        cell.seed
    );
    let _ = writeln!(
        h,
        "<style>{STYLE}\n{}</style>\n</head>\n<body>",
        colour_css()
    );
    h.push_str("<h1>One gauntlet cell, request by request</h1>\n");
    let _ = writeln!(h, "<p>{}.</p>", esc(&describe_cell(cell)));
    h.push_str(
        "<p class=\"note\">Each mark is one user request: across, when the user made it; up, \
         the latency the strategy added to the bare API round trip (log scale); its colour, how \
         it ended. Below each chart, the strategy's events, one row per kind.</p>\n",
    );
    legend(&mut h);
    for o in &drawn {
        strategy_section(&mut h, cell, &scale, o);
    }
    table(&mut h, &drawn, min);
    h.push_str("<h2>What ran</h2>\n<dl>\n");
    let mut item = |term: &str, value: String| {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(&value));
    };
    item("cell", describe_cell(cell));
    item("command line", command_line(cell));
    item(
        "minimum token requests (oracle)",
        thousands(i64::try_from(min).unwrap_or(i64::MAX)),
    );
    h.push_str("</dl>\n");
    h.push_str(
        "<p class=\"note\">Written by <code>tokenclock simulate --html</code> \
         (<code>core/src/sim/html/cell.rs</code>).</p>\n</body>\n</html>\n",
    );
    h
}

/// What the colours and rows mean.
fn legend(h: &mut String) {
    let w = 900;
    let _ = writeln!(
        h,
        "<svg class=\"legend\" width=\"{w}\" height=\"20\" viewBox=\"0 0 {w} 20\" role=\"img\" \
         aria-label=\"Legend: request outcomes and event kinds\">"
    );
    let mut x = 2;
    for r in RequestResult::ALL {
        let _ = writeln!(
            h,
            "<rect class=\"{}\" x=\"{x}\" y=\"6\" width=\"8\" height=\"8\"/>\
             <text class=\"axis\" x=\"{}\" y=\"14\">{}</text>",
            r.as_str(),
            x + 12,
            r.as_str()
        );
        x += 70;
    }
    x += 20;
    for k in EventKind::ALL {
        let _ = writeln!(
            h,
            "<rect class=\"{}\" x=\"{x}\" y=\"4\" width=\"2\" height=\"12\"/>\
             <text class=\"axis\" x=\"{}\" y=\"14\">{}</text>",
            event_class(k),
            x + 6,
            esc(event_label(k))
        );
        x += 100;
    }
    h.push_str("</svg>\n");
}

/// One strategy: its headline and its chart.
fn strategy_section(h: &mut String, cell: &Cell, scale: &Scale, o: &Outcome) {
    let count = |r: RequestResult| o.request_log.iter().filter(|q| q.result == r).count();
    let name = esc(o.strategy);
    let _ = writeln!(
        h,
        "<section class=\"strategy\" data-strategy=\"{name}\" data-requests=\"{}\">\n\
         <h2>{name} <small>— {} requests: {} failed, {} retried · {} RS 401s · {} token \
         requests · p99 +{} ms, max +{} ms</small></h2>",
        o.requests,
        thousands(i64::try_from(o.requests).unwrap_or(i64::MAX)),
        thousands(count(RequestResult::Failed) as i64),
        thousands(count(RequestResult::Retried) as i64),
        thousands(i64::try_from(o.rs_401).unwrap_or(i64::MAX)),
        thousands(i64::try_from(o.token_requests).unwrap_or(i64::MAX)),
        thousands(o.p99_added_latency_ms),
        thousands(o.max_added_latency_ms)
    );
    let rows_top = TOP + PLOT_H + GAP;
    let rows_h = EventKind::ALL.len() as i64 * ROW_H;
    let w = LEFT + PLOT_W + RIGHT;
    let ht = rows_top + rows_h + BOTTOM;
    let _ = writeln!(
        h,
        "<svg class=\"timeline\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" \
         role=\"img\" aria-label=\"{name}: every request over time, by added latency and \
         outcome, and its events\">"
    );
    // Latency axis: a line per decade.
    for (v, label) in [
        (0, "0"),
        (10, "10 ms"),
        (100, "100 ms"),
        (1_000, "1 s"),
        (10_000, "10 s"),
        (100_000, "100 s"),
    ] {
        let y = px(scale.y(v));
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>",
            LEFT + PLOT_W,
            LEFT - 6,
            px(scale.y(v) + 30)
        );
    }
    let _ = writeln!(
        h,
        "<text class=\"axis\" x=\"2\" y=\"{}\">added</text>",
        TOP + 8
    );
    // Time axis: a line per tick, across the plot and the event rows.
    let step = tick_step(scale.duration_ms);
    let mut t = 0;
    while t <= scale.duration_ms {
        let x = px(scale.x(t));
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{x}\" x2=\"{x}\" y1=\"{TOP}\" y2=\"{}\"/>\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            rows_top + rows_h,
            rows_top + rows_h + 12,
            esc(&tick_label(t))
        );
        t += step;
    }
    let _ = writeln!(
        h,
        "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">time since the start</text>",
        LEFT + PLOT_W,
        rows_top + rows_h + 26
    );
    let _ = writeln!(
        h,
        "<rect class=\"frame\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_W}\" height=\"{PLOT_H}\"/>"
    );
    // Event rows.
    for (i, k) in EventKind::ALL.into_iter().enumerate() {
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LEFT - 6,
            rows_top + i as i64 * ROW_H + ROW_H - 1,
            esc(event_label(k))
        );
    }
    if let Some(at) = step_at_ms(cell).filter(|at| *at <= scale.duration_ms) {
        let x = px(scale.x(at));
        let _ = writeln!(
            h,
            "<line class=\"step\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"><title>{}: the \
             client's wall clock steps {} s</title></line>\
             <text class=\"axis\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">wall step {} s</text>",
            TOP - 2,
            rows_top + rows_h,
            esc(&clock(at)),
            esc(&signed_s(cell.step_s * 1000)),
            TOP - 4,
            esc(&signed_s(cell.step_s * 1000))
        );
    }
    // Requests: ok first, failures last (on top).
    let half = MARK * 5;
    let mut tooltips = TOOLTIPS;
    for r in RequestResult::ALL {
        let _ = writeln!(h, "<g class=\"req {}\">", r.as_str());
        for q in o.request_log.iter().filter(|q| q.result == r) {
            let _ = write!(
                h,
                "<rect x=\"{}\" y=\"{}\" width=\"{MARK}\" height=\"{MARK}\"",
                px(scale.x(q.at_ms) - half),
                px(scale.y(q.added_ms) - half)
            );
            // Ok requests need no tooltip (there are thousands).
            if r == RequestResult::Ok || tooltips == 0 {
                h.push_str("/>\n");
            } else {
                tooltips -= 1;
                let _ = writeln!(
                    h,
                    "><title>{}: {}, +{} ms</title></rect>",
                    esc(&clock(q.at_ms)),
                    r.as_str(),
                    thousands(q.added_ms)
                );
            }
        }
        h.push_str("</g>\n");
    }
    // Events: a row per kind.
    let mut events_tooltips = TOOLTIPS;
    for (row, kind) in EventKind::ALL.into_iter().enumerate() {
        let _ = writeln!(
            h,
            "<g class=\"ev {}\" transform=\"translate(0,{})\">",
            event_class(kind),
            rows_top + row as i64 * ROW_H + 1
        );
        for e in o.events.iter().filter(|e| e.kind == kind) {
            let tooltip = events_tooltips > 0;
            events_tooltips = events_tooltips.saturating_sub(1);
            event_mark(h, scale, e, tooltip);
        }
        h.push_str("</g>\n");
    }
    h.push_str("</svg>\n");
    let noted = o
        .request_log
        .iter()
        .filter(|q| q.result != RequestResult::Ok)
        .count();
    if noted > TOOLTIPS || o.events.len() > TOOLTIPS {
        let _ = writeln!(
            h,
            "<p class=\"note\">Tooltips on the first {} retried or failed requests and the \
             first {} events only.</p>",
            thousands(TOOLTIPS as i64),
            thousands(TOOLTIPS as i64)
        );
    }
    h.push_str("</section>\n");
}

/// One event: a tick (and its backoff as a band).
fn event_mark(h: &mut String, scale: &Scale, e: &TimelineEvent, tooltip: bool) {
    let x = scale.x(e.at_ms);
    if e.span_ms > 0 {
        let w = (scale.x(e.at_ms.saturating_add(e.span_ms)) - x).max(10);
        let _ = write!(
            h,
            "<rect class=\"span\" x=\"{}\" width=\"{}\" height=\"{}\"/>",
            px(x),
            px(w),
            ROW_H - 2
        );
    }
    let _ = write!(
        h,
        "<rect x=\"{}\" width=\"1.5\" height=\"{}\"",
        px(x - 7),
        ROW_H - 2
    );
    if tooltip {
        let _ = writeln!(
            h,
            "><title>{} {}</title></rect>",
            esc(&clock(e.at_ms)),
            esc(&e.text)
        );
    } else {
        h.push_str("/>\n");
    }
}

/// The cell's summary, one row per strategy drawn.
fn table(h: &mut String, drawn: &[&Outcome], min: u64) {
    h.push_str("<h2>Summary</h2>\n<table id=\"summary\">\n<thead><tr>");
    for head in [
        "strategy",
        "requests",
        "failed",
        "retried",
        "RS 401s",
        "token req",
        "vs min",
        "p99 +ms",
        "max +ms",
    ] {
        let _ = write!(h, "<th>{head}</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let n = |v: u64| thousands(i64::try_from(v).unwrap_or(i64::MAX));
    for o in drawn {
        let count = |r: RequestResult| o.request_log.iter().filter(|q| q.result == r).count();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.2}×</td><td>{}</td><td>{}</td></tr>",
            esc(o.strategy),
            n(o.requests),
            n(o.user_visible_failures),
            thousands(count(RequestResult::Retried) as i64),
            n(o.rs_401),
            n(o.token_requests),
            o.token_requests as f64 / min.max(1) as f64,
            thousands(o.p99_added_latency_ms),
            thousands(o.max_added_latency_ms)
        );
    }
    h.push_str("</tbody>\n</table>\n");
    h.push_str(
        "<p class=\"note\"><b>failed</b>: requests that still failed after the one allowed \
         retry, or raised; <b>retried</b>: requests that succeeded on a retry. <b>RS 401s</b>: \
         every 401 the resource server sent. <b>token req</b>: token requests the issuer \
         received; <b>vs min</b>: their ratio to an oracle that knows every true clock. \
         <b>p99 +ms</b>, <b>max +ms</b>: latency added over the bare API round trip.</p>\n",
    );
}

#[cfg(test)]
mod tests;
