//! The gauntlet as one self-contained HTML page (`make demo` writes it to
//! `target/demo/gauntlet.html`): for each strategy, heatmaps of user-visible failures and of
//! p99 added latency over client offset × resource-server offset, one small multiple per
//! lifetime × leeway × cached issuer, one colour scale per metric shared by every strategy,
//! with its legend; then the summary and breakdown tables of the text report, and the seed and
//! grid that ran.
//!
//! Inline CSS and SVG only: no script, no external resource, nothing fetched. Every text taken
//! from the rows is HTML-escaped. Pure and deterministic: the same set of rows (in any order)
//! and [`GauntletRun`] give the same bytes, so a screenshot of the page can be checked against
//! a fresh `make demo`.
//!
//! Reading a map: columns are the client's clock offset from the issuer's, then (after a gap)
//! the cells with a wall-clock step on the client; rows are the resource server's offset from
//! the issuer, ahead at the top. Each map is one SVG `g.map` with one `rect.cell` per row of
//! the gauntlet, so a test can count them.

use super::{breakdown_failures, summarize, Row, BREAKDOWN, STRATEGIES};
use core::fmt::Write as _;
use std::collections::{BTreeMap, BTreeSet};

mod cell;
pub use cell::render_cell_html;

/// What a gauntlet ran, for the report's header (the rows do not carry it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GauntletRun {
    /// The seed the grid was drawn from ([`super::gauntlet_cells`]).
    pub seed: u64,
    /// Simulated hours per cell.
    pub hours: f64,
    /// Mean time between user requests, seconds.
    pub request_interval_s: f64,
}

/// Pitch of a map's cells (px); a cell is one pixel smaller, so the map's background shows
/// between cells as a grid.
const CELL: i64 = 10;
/// Gap between a map's offset columns and its wall-step columns (px).
const STEP_GAP: i64 = 5;
/// Room for the small multiples' row labels, left of the first map (px).
const LABEL_W: i64 = 54;
/// Room for the small multiples' column labels, above the first row of maps (px).
const LABEL_H: i64 = 14;
/// Space between small multiples (px).
const MAP_SPACE_X: i64 = 12;
const MAP_SPACE_Y: i64 = 8;
/// p99 added latency from which a strategy's note says where it pays (ms).
const SLOW_MS: i64 = 1_000;

/// A metric drawn as heatmaps, with its colour scale.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Metric {
    Failures,
    Latency,
}

impl Metric {
    const ALL: [Metric; 2] = [Metric::Failures, Metric::Latency];

    fn value(self, r: &Row) -> i64 {
        match self {
            Metric::Failures => i64::try_from(r.user_visible_failures).unwrap_or(i64::MAX),
            Metric::Latency => r.p99_added_latency_ms,
        }
    }

    /// Lower bounds of the colour bins after the first (which holds 0 and below).
    fn thresholds(self) -> &'static [i64] {
        match self {
            Metric::Failures => &[1, 10, 100, 1_000],
            Metric::Latency => &[1, 100, 250, 500, 1_000, 2_500],
        }
    }

    /// One colour per bin: white for nothing, then a single-hue ramp that darkens (readable
    /// without telling hues apart; ColorBrewer's Reds and Blues).
    fn colours(self) -> &'static [&'static str] {
        match self {
            Metric::Failures => &["#ffffff", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"],
            Metric::Latency => &[
                "#ffffff", "#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b",
            ],
        }
    }

    fn bin(self, v: i64) -> usize {
        self.thresholds().iter().filter(|t| v >= **t).count()
    }

    /// CSS class prefix of the bins.
    fn class(self) -> &'static str {
        match self {
            Metric::Failures => "f",
            Metric::Latency => "l",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::Failures => "failures",
            Metric::Latency => "latency",
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Metric::Failures => "user-visible failures per cell",
            Metric::Latency => "p99 added latency per cell",
        }
    }

    fn describe(self, v: i64) -> String {
        match self {
            Metric::Failures => match v {
                1 => "1 failure".to_owned(),
                _ => format!("{} failures", thousands(v)),
            },
            Metric::Latency => format!("p99 +{} ms", thousands(v)),
        }
    }

    fn legend_labels(self) -> Vec<String> {
        let t = self.thresholds();
        let mut out = vec!["0".to_owned()];
        for (i, lo) in t.iter().enumerate() {
            out.push(match t.get(i + 1) {
                Some(next) if *next == lo + 1 => thousands(*lo),
                Some(next) => format!("{}–{}", thousands(*lo), thousands(next - 1)),
                None => format!("≥ {}", thousands(*lo)),
            });
        }
        out
    }
}

/// Where a row goes in a map: its column (wall-stepped cells after the others) and row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    stepped: bool,
    step_s: i64,
    client_ms: i64,
}

/// Which small multiple a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MapKey {
    ttl_s: i64,
    leeway_s: i64,
    cached: bool,
}

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn column(r: &Row) -> Column {
    Column {
        stepped: r.step_s != 0,
        step_s: r.step_s,
        client_ms: ms(r.client_offset_s),
    }
}

fn map_key(r: &Row) -> MapKey {
    MapKey {
        ttl_s: r.ttl_s,
        leeway_s: r.rs_leeway_s,
        cached: r.cached_issuer,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` → `1,234,567`.
fn thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    if v < 0 {
        out.push('−');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Milliseconds as signed seconds: `−600`, `0`, `+2`, `+0.25`.
fn signed_s(ms: i64) -> String {
    let sign = match ms.signum() {
        -1 => "−",
        1 => "+",
        _ => "",
    };
    let abs = ms.unsigned_abs();
    let whole = abs / 1000;
    let frac = abs % 1000;
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:03}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

/// Seconds as text without a sign for whole numbers (`5`, `0.5`).
fn plain_s(seconds: f64) -> String {
    signed_s(ms(seconds)).trim_start_matches('+').to_owned()
}

fn column_label(c: Column) -> String {
    if c.stepped {
        format!("step {}", signed_s(c.step_s * 1000))
    } else {
        signed_s(c.client_ms)
    }
}

fn map_label(k: MapKey) -> String {
    format!(
        "leeway {} s · {}",
        k.leeway_s,
        if k.cached { "cached" } else { "no cache" }
    )
}

/// Everything the maps are laid out on: the distinct values of each axis over all rows.
struct Grid {
    columns: Vec<Column>,
    /// Resource-server offsets, top row first (ahead of the issuer at the top).
    rs_ms: Vec<i64>,
    ttls: Vec<i64>,
    /// (leeway, cached) pairs: the columns of small multiples.
    variants: Vec<(i64, bool)>,
}

impl Grid {
    fn of(rows: &[Row]) -> Grid {
        let columns: BTreeSet<Column> = rows.iter().map(column).collect();
        let rs: BTreeSet<i64> = rows.iter().map(|r| ms(r.rs_offset_s)).collect();
        let ttls: BTreeSet<i64> = rows.iter().map(|r| r.ttl_s).collect();
        let variants: BTreeSet<(i64, bool)> = rows
            .iter()
            .map(|r| (r.rs_leeway_s, r.cached_issuer))
            .collect();
        Grid {
            columns: columns.into_iter().collect(),
            rs_ms: rs.into_iter().rev().collect(),
            ttls: ttls.into_iter().collect(),
            variants: variants.into_iter().collect(),
        }
    }

    fn has_steps(&self) -> bool {
        self.columns.iter().any(|c| c.stepped)
    }

    /// x of a column inside a map.
    fn column_x(&self, i: usize) -> i64 {
        let gap = match self.columns.get(i) {
            Some(c) if c.stepped => STEP_GAP,
            _ => 0,
        };
        i as i64 * CELL + gap
    }

    fn map_w(&self) -> i64 {
        self.columns.len() as i64 * CELL + if self.has_steps() { STEP_GAP } else { 0 }
    }

    fn map_h(&self) -> i64 {
        self.rs_ms.len() as i64 * CELL
    }

    fn panel_w(&self) -> i64 {
        LABEL_W + self.variants.len() as i64 * (self.map_w() + MAP_SPACE_X)
    }

    fn panel_h(&self) -> i64 {
        LABEL_H + self.ttls.len() as i64 * (self.map_h() + MAP_SPACE_Y)
    }
}

/// The strategies present: the text report's order, then any others by name.
fn strategies(rows: &[Row]) -> Vec<&str> {
    let present: BTreeSet<&str> = rows.iter().map(|r| r.strategy).collect();
    let mut out: Vec<&str> = STRATEGIES
        .iter()
        .copied()
        .filter(|s| present.contains(s))
        .collect();
    out.extend(present.iter().filter(|s| !STRATEGIES.contains(s)));
    out
}

type Index<'a> = BTreeMap<(&'a str, MapKey, Column, i64), &'a Row>;

/// Every row by where it is drawn (the first of duplicates wins).
fn index(rows: &[Row]) -> Index<'_> {
    let mut idx = Index::new();
    for r in rows {
        idx.entry((r.strategy, map_key(r), column(r), ms(r.rs_offset_s)))
            .or_insert(r);
    }
    idx
}

/// What every one of `subset` has in common that not all of `all` have: "ttl 60 s, cached
/// issuer". Empty when nothing.
fn common(subset: &[&Row], all: &[&Row]) -> Vec<String> {
    type Dim = (fn(&Row) -> i64, fn(i64) -> String);
    let dims: [Dim; 6] = [
        (
            |r| ms(r.client_offset_s),
            |v| format!("client {} s", signed_s(v)),
        ),
        (|r| ms(r.rs_offset_s), |v| format!("RS {} s", signed_s(v))),
        (|r| r.ttl_s, |v| format!("ttl {v} s")),
        (|r| r.rs_leeway_s, |v| format!("leeway {v} s")),
        (
            |r| i64::from(r.cached_issuer),
            |v| {
                if v == 1 {
                    "cached issuer".to_owned()
                } else {
                    "no issuer cache".to_owned()
                }
            },
        ),
        (
            |r| r.step_s,
            |v| {
                if v == 0 {
                    "no wall step".to_owned()
                } else {
                    format!("wall step {} s", signed_s(v * 1000))
                }
            },
        ),
    ];
    let mut out = Vec::new();
    for (get, label) in dims {
        let values: BTreeSet<i64> = subset.iter().map(|r| get(r)).collect();
        let everywhere: BTreeSet<i64> = all.iter().map(|r| get(r)).collect();
        if values.len() == 1 && everywhere.len() > 1 {
            out.extend(values.into_iter().map(label));
        }
    }
    out
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;\
color:#222;background:#fff;margin:20px 24px;max-width:1180px}\
h1{font-size:22px;margin:0 0 4px}\
h2{font-size:16px;margin:14px 0 2px}\
h2 small{font-weight:normal;color:#555;font-size:13px}\
p{margin:4px 0}\
.lede{max-width:900px}\
.overview{padding:12px 16px 8px;margin:-12px -16px 0}\
.legend{display:flex;flex-wrap:wrap;gap:10px 36px;align-items:flex-start;margin:10px 0 4px}\
.scales{display:flex;flex-direction:column;gap:8px}\
.panels{display:flex;flex-wrap:wrap;gap:0 16px}\
figure{margin:0}\
figcaption{font-size:12px;color:#444}\
.note{font-size:12px;color:#555;margin:0 0 4px}\
svg text{font:9px system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;fill:#444}\
svg .axis{font-size:10px;fill:#222}\
.bg{fill:#d4d4d4}\
.swatch{stroke:#d4d4d4}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0 14px}\
th,td{padding:2px 10px;text-align:right;border-bottom:1px solid #e4e4e4}\
th:first-child,td:first-child{text-align:left}\
th{font-weight:600;background:#f6f6f6}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}\
dt{color:#555}dd{margin:0}\
code{font-size:13px}";

/// Renders the gauntlet's rows ([`super::rows`] of every cell of [`super::gauntlet_cells`])
/// as one self-contained HTML page (see the module docs).
pub fn render_gauntlet_html(rows: &[Row], run: &GauntletRun) -> String {
    let grid = Grid::of(rows);
    let idx = index(rows);
    let names = strategies(rows);
    let cells_per_strategy = names
        .first()
        .map_or(0, |s| rows.iter().filter(|r| r.strategy == *s).count());
    let mean_requests = if rows.is_empty() {
        0
    } else {
        (rows.iter().map(|r| r.requests).sum::<u64>() / rows.len() as u64) as i64
    };

    let mut h = String::with_capacity(256 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        h,
        "<title>tokenclock skew gauntlet (seed {})</title>",
        run.seed
    );
    let _ = writeln!(h, "<style>{STYLE}\n{}</style>\n</head>\n<body>", bin_css());

    // --- overview: the maps ------------------------------------------------------------
    h.push_str("<section class=\"overview\" id=\"overview\">\n<h1>The skew gauntlet</h1>\n");
    let _ = write!(
        h,
        "<p class=\"lede\">{} cells × {} h simulated, a request every ~{} s, seed {}. \
         Each square is one cell: the client's clock offset from the issuer's (across), the \
         resource server's (down). <b>Red</b>: requests the user saw fail. <b>Blue</b>: p99 \
         latency the strategy added. Cells with user-visible failures:",
        thousands(cells_per_strategy as i64),
        esc(&plain_s(run.hours)),
        esc(&plain_s(run.request_interval_s)),
        run.seed
    );
    for (i, name) in names.iter().enumerate() {
        let failed = rows
            .iter()
            .filter(|r| r.strategy == *name && r.user_visible_failures > 0)
            .count();
        let _ = write!(
            h,
            "{} <b>{}</b> {}",
            if i == 0 { "" } else { " ·" },
            esc(name),
            thousands(failed as i64)
        );
    }
    h.push_str(".</p>\n");
    legend(&mut h, &grid, mean_requests);

    for name in &names {
        strategy_section(&mut h, &grid, &idx, rows, name);
    }
    h.push_str("</section>\n");

    // --- tables and the grid ---------------------------------------------------------------
    tables(&mut h, rows);
    grid_section(&mut h, &grid, rows, run);
    h.push_str(
        "<p class=\"note\">Written by <code>make demo</code> \
         (<code>core/src/sim/html.rs</code>) from the rows of <code>gauntlet.json</code>.</p>\n",
    );
    h.push_str("</body>\n</html>\n");
    h
}

/// One CSS rule per colour bin of each metric.
fn bin_css() -> String {
    let mut css = String::new();
    for m in Metric::ALL {
        for (i, c) in m.colours().iter().enumerate() {
            let _ = write!(css, ".{}{i}{{fill:{c}}}", m.class());
        }
    }
    css.push('\n');
    css
}

/// The key map (which square is which cell) and each metric's colour scale.
fn legend(h: &mut String, grid: &Grid, mean_requests: i64) {
    const KEY: i64 = 28;
    const GAP: i64 = 10;
    let left = 40;
    let top = 22;
    let offsets = grid.columns.iter().filter(|c| !c.stepped).count();
    let key_x = |i: usize| {
        let stepped = grid.columns.get(i).is_some_and(|c| c.stepped);
        left + i as i64 * KEY + if stepped { GAP } else { 0 }
    };
    let map_h = grid.rs_ms.len() as i64 * KEY;
    let below = top + map_h;
    let w = key_x(grid.columns.len()) + 24;
    let hgt = below + 34;
    h.push_str("<div class=\"legend\">\n");
    let _ = write!(
        h,
        "<figure><figcaption>which square is which cell (in every map)</figcaption>\n\
         <svg class=\"key\" width=\"{w}\" height=\"{hgt}\" viewBox=\"0 0 {w} {hgt}\" role=\"img\" \
         aria-label=\"Key: columns are client clock offsets and wall steps, rows resource-server \
         offsets\">\n"
    );
    let _ = writeln!(
        h,
        "<text class=\"axis\" x=\"2\" y=\"{}\">resource server − issuer (s)</text>",
        top - 8
    );
    let blocks = [(0, offsets), (offsets, grid.columns.len())];
    for (from, to) in blocks.into_iter().filter(|(a, b)| a < b) {
        let _ = writeln!(
            h,
            "<rect class=\"bg\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            key_x(from) - 1,
            top - 1,
            (to - from) as i64 * KEY + 1,
            map_h + 1
        );
    }
    for (ri, rs) in grid.rs_ms.iter().enumerate() {
        let y = top + ri as i64 * KEY;
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 5,
            y + KEY / 2 + 3,
            esc(&signed_s(*rs))
        );
        for ci in 0..grid.columns.len() {
            let _ = writeln!(
                h,
                "<rect class=\"f0\" x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\"/>",
                key_x(ci),
                KEY - 1,
                KEY - 1
            );
        }
    }
    for (ci, c) in grid.columns.iter().enumerate() {
        let label = if c.stepped {
            signed_s(c.step_s * 1000)
        } else {
            signed_s(c.client_ms)
        };
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            key_x(ci) + KEY / 2,
            below + 12,
            esc(&label)
        );
    }
    let _ = writeln!(
        h,
        "<text class=\"axis\" x=\"{left}\" y=\"{}\">client clock − issuer (s)</text>",
        below + 27
    );
    if offsets < grid.columns.len() {
        let at: BTreeSet<i64> = grid.columns[offsets..]
            .iter()
            .map(|c| c.client_ms)
            .collect();
        let at = at
            .iter()
            .map(|v| signed_s(*v))
            .collect::<Vec<_>>()
            .join(", ");
        let x = key_x(offsets);
        let _ = writeln!(
            h,
            "<text class=\"axis\" x=\"{x}\" y=\"{}\">wall step (s)</text>\
             <text class=\"axis\" x=\"{x}\" y=\"{}\">at client {} s</text>",
            below + 27,
            top - 8,
            esc(&at)
        );
    }
    h.push_str("</svg></figure>\n<div class=\"scales\">\n");
    for m in Metric::ALL {
        let labels = m.legend_labels();
        let sw = 64;
        let w = labels.len() as i64 * sw + 4;
        let caption = match m {
            Metric::Failures => format!(
                "{} (of ~{} requests per cell)",
                m.caption(),
                thousands(mean_requests)
            ),
            Metric::Latency => format!("{}, ms", m.caption()),
        };
        let _ = write!(
            h,
            "<figure><figcaption>{}</figcaption>\n\
             <svg class=\"scale\" id=\"scale-{}\" width=\"{w}\" height=\"34\" viewBox=\"0 0 {w} 34\" \
             role=\"img\" aria-label=\"{}\">\n",
            esc(&caption),
            m.name(),
            esc(&format!("Colour scale of {}", m.caption()))
        );
        for (i, label) in labels.iter().enumerate() {
            let x = 2 + i as i64 * sw;
            let _ = writeln!(
                h,
                "<rect class=\"swatch {}{i}\" x=\"{x}\" y=\"2\" width=\"{}\" height=\"14\"/>\
                 <text x=\"{}\" y=\"29\" text-anchor=\"middle\">{}</text>",
                m.class(),
                sw - 2,
                x + sw / 2 - 1,
                esc(label)
            );
        }
        h.push_str("</svg></figure>\n");
    }
    h.push_str("</div>\n</div>\n");
}

/// One strategy: its headline, a panel of maps per metric, and where it fails or pays.
fn strategy_section(h: &mut String, grid: &Grid, idx: &Index<'_>, rows: &[Row], name: &str) {
    let mine: Vec<&Row> = rows.iter().filter(|r| r.strategy == name).collect();
    let failing: Vec<&Row> = mine
        .iter()
        .copied()
        .filter(|r| r.user_visible_failures > 0)
        .collect();
    let slow: Vec<&Row> = mine
        .iter()
        .copied()
        .filter(|r| r.p99_added_latency_ms >= SLOW_MS)
        .collect();
    let failures: u64 = mine.iter().map(|r| r.user_visible_failures).sum();
    let worst = mine
        .iter()
        .map(|r| r.p99_added_latency_ms)
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        h,
        "<section class=\"strategy\" id=\"strategy-{}\" data-strategy=\"{}\">\n\
         <h2>{} <small>— cells with failures: {} of {} ({} failed requests) · worst p99 +{} ms</small></h2>",
        esc(&slug(name)),
        esc(name),
        esc(name),
        thousands(failing.len() as i64),
        thousands(mine.len() as i64),
        thousands(i64::try_from(failures).unwrap_or(i64::MAX)),
        thousands(worst)
    );
    h.push_str("<div class=\"panels\">\n");
    for m in Metric::ALL {
        panel(h, grid, idx, name, m);
    }
    h.push_str("</div>\n");
    let mut notes = Vec::new();
    if failing.is_empty() {
        notes.push("No user-visible failure in any cell.".to_owned());
    } else {
        let shared = common(&failing, &mine);
        notes.push(if shared.is_empty() {
            format!(
                "Failures in {} cells, under varied conditions.",
                failing.len()
            )
        } else {
            format!(
                "Failures in {} cells, every one with {}.",
                failing.len(),
                shared.join(", ")
            )
        });
    }
    if slow.is_empty() {
        notes.push(format!(
            "p99 added latency below {} ms everywhere.",
            thousands(SLOW_MS)
        ));
    } else {
        let shared = common(&slow, &mine);
        notes.push(format!(
            "p99 added latency ≥ {} ms in {} cells{}.",
            thousands(SLOW_MS),
            slow.len(),
            if shared.is_empty() {
                String::new()
            } else {
                format!(", every one with {}", shared.join(", "))
            }
        ));
    }
    let _ = writeln!(
        h,
        "<p class=\"note\">{}</p>\n</section>",
        esc(&notes.join(" "))
    );
}

/// `tokenclock` → `tokenclock`; anything else in an id is `-`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// One metric's small multiples for one strategy: a row per lifetime, a column per (leeway,
/// cached issuer).
fn panel(h: &mut String, grid: &Grid, idx: &Index<'_>, name: &str, m: Metric) {
    let (w, ht) = (grid.panel_w(), grid.panel_h());
    let _ = write!(
        h,
        "<figure class=\"panel\"><figcaption>{}</figcaption>\n\
         <svg class=\"maps {}\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" \
         aria-label=\"{}\">\n",
        esc(m.caption()),
        m.name(),
        esc(&format!("{name}: {}", m.caption()))
    );
    for (vi, (leeway, cached)) in grid.variants.iter().enumerate() {
        let key = MapKey {
            ttl_s: 0,
            leeway_s: *leeway,
            cached: *cached,
        };
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"10\">{}</text>",
            LABEL_W + vi as i64 * (grid.map_w() + MAP_SPACE_X),
            esc(&map_label(key))
        );
    }
    for (ti, ttl) in grid.ttls.iter().enumerate() {
        let y0 = LABEL_H + ti as i64 * (grid.map_h() + MAP_SPACE_Y);
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">ttl {} s</text>",
            LABEL_W - 6,
            y0 + grid.map_h() / 2 + 3,
            ttl
        );
        for (vi, (leeway, cached)) in grid.variants.iter().enumerate() {
            let key = MapKey {
                ttl_s: *ttl,
                leeway_s: *leeway,
                cached: *cached,
            };
            let x0 = LABEL_W + vi as i64 * (grid.map_w() + MAP_SPACE_X);
            map(h, grid, idx, name, m, key, x0, y0);
        }
    }
    h.push_str("</svg></figure>\n");
}

/// One small multiple: a background (the grid lines), then one `rect.cell` per row.
#[allow(clippy::too_many_arguments)]
fn map(
    h: &mut String,
    grid: &Grid,
    idx: &Index<'_>,
    name: &str,
    m: Metric,
    key: MapKey,
    x0: i64,
    y0: i64,
) {
    let _ = writeln!(
        h,
        "<g class=\"map\" data-ttl=\"{}\" data-leeway=\"{}\" data-cached=\"{}\" \
         transform=\"translate({x0},{y0})\"><title>{}: ttl {} s, leeway {} s{} (white: none)</title>",
        key.ttl_s,
        key.leeway_s,
        key.cached,
        esc(name),
        key.ttl_s,
        key.leeway_s,
        if key.cached { ", cached issuer" } else { "" }
    );
    let offsets = grid.columns.iter().filter(|c| !c.stepped).count() as i64;
    let rows_h = grid.map_h() + 1;
    let _ = writeln!(
        h,
        "<rect class=\"bg\" x=\"-1\" y=\"-1\" width=\"{}\" height=\"{rows_h}\"/>",
        offsets * CELL + 1
    );
    if grid.has_steps() {
        let _ = writeln!(
            h,
            "<rect class=\"bg\" x=\"{}\" y=\"-1\" width=\"{}\" height=\"{rows_h}\"/>",
            offsets * CELL + STEP_GAP - 1,
            (grid.columns.len() as i64 - offsets) * CELL + 1
        );
    }
    for (ci, col) in grid.columns.iter().enumerate() {
        for (ri, rs) in grid.rs_ms.iter().enumerate() {
            let Some(row) = idx.get(&(name, key, *col, *rs)) else {
                continue;
            };
            let v = m.value(row);
            let _ = write!(
                h,
                "<rect class=\"cell {}{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
                m.class(),
                m.bin(v),
                grid.column_x(ci),
                ri as i64 * CELL,
                CELL - 1,
                CELL - 1,
            );
            // Empty cells show the map's title (a tooltip per cell would double the file).
            if v == 0 {
                h.push_str("/>\n");
            } else {
                let where_ = if col.stepped {
                    format!(
                        "client {} s, {}",
                        signed_s(col.client_ms),
                        column_label(*col)
                    )
                } else {
                    format!("client {} s", signed_s(col.client_ms))
                };
                let _ = writeln!(
                    h,
                    "><title>{}, RS {} s: {}</title></rect>",
                    esc(&where_),
                    esc(&signed_s(*rs)),
                    esc(&m.describe(v))
                );
            }
        }
    }
    h.push_str("</g>\n");
}

/// The text report's two tables, as HTML.
fn tables(h: &mut String, rows: &[Row]) {
    h.push_str("<section id=\"tables\">\n<h2>Summary</h2>\n<table id=\"summary\">\n<thead><tr>");
    for head in [
        "strategy",
        "cells",
        "failed cells",
        "failures",
        "RS 401s",
        "token req",
        "vs min",
        "p99 +ms",
    ] {
        let _ = write!(h, "<th>{head}</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for s in summarize(rows) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.2}×</td><td>{}</td></tr>",
            esc(s.strategy),
            thousands(s.cells as i64),
            thousands(s.failed_cells as i64),
            thousands(i64::try_from(s.failures).unwrap_or(i64::MAX)),
            thousands(i64::try_from(s.rs_401).unwrap_or(i64::MAX)),
            thousands(i64::try_from(s.token_requests).unwrap_or(i64::MAX)),
            s.worst_token_ratio,
            thousands(s.worst_p99_ms)
        );
    }
    h.push_str("</tbody>\n</table>\n");
    h.push_str(
        "<p class=\"note\"><b>failures</b>: requests that still failed after the one allowed \
         retry, or raised; <b>failed cells</b>: cells with at least one. <b>RS 401s</b>: every \
         401 the resource server sent. <b>token req</b>: token requests the issuer received; \
         <b>vs min</b>: the worst cell's ratio to an oracle that knows every true clock. \
         <b>p99 +ms</b>: the worst cell's 99th percentile of latency added over the bare API \
         round trip.</p>\n",
    );
    h.push_str("<h2>User-visible failures by condition</h2>\n<table id=\"breakdown\">\n<thead><tr><th>condition</th>");
    for name in STRATEGIES {
        let _ = write!(h, "<th>{}</th>", esc(name));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (label, covers) in BREAKDOWN {
        let _ = write!(h, "<tr><td>{}</td>", esc(label));
        for name in STRATEGIES {
            let n = breakdown_failures(rows, name, covers);
            let _ = write!(
                h,
                "<td>{}</td>",
                thousands(i64::try_from(n).unwrap_or(i64::MAX))
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// The seed and the grid that ran.
fn grid_section(h: &mut String, grid: &Grid, rows: &[Row], run: &GauntletRun) {
    let list = |values: &mut dyn Iterator<Item = String>| values.collect::<Vec<_>>().join(", ");
    let clients: BTreeSet<i64> = grid
        .columns
        .iter()
        .filter(|c| !c.stepped)
        .map(|c| c.client_ms)
        .collect();
    let steps: BTreeSet<(i64, i64)> = grid
        .columns
        .iter()
        .filter(|c| c.stepped)
        .map(|c| (c.step_s, c.client_ms))
        .collect();
    let mut rs = grid.rs_ms.clone();
    rs.reverse();
    let leeways: BTreeSet<i64> = grid.variants.iter().map(|v| v.0).collect();
    let cached: Vec<&Row> = rows.iter().filter(|r| r.cached_issuer).collect();
    let cached_text = if cached.is_empty() {
        "off".to_owned()
    } else if cached.iter().all(|r| r.cached_age_s * 2 == r.ttl_s) {
        "off, on (the first token is half its lifetime old; re-minted with a quarter left)"
            .to_owned()
    } else {
        let ages: BTreeSet<i64> = cached.iter().map(|r| r.cached_age_s).collect();
        format!(
            "off, on (the first token {} s old)",
            list(&mut ages.iter().map(|a| thousands(*a)))
        )
    };
    let strategy_count = strategies(rows).len();
    h.push_str("<section id=\"grid\">\n<h2>What ran</h2>\n<dl>\n");
    let mut item = |term: &str, value: String| {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(&value));
    };
    item("seed", run.seed.to_string());
    item(
        "each cell",
        format!(
            "{} h simulated, a request every ~{} s",
            plain_s(run.hours),
            plain_s(run.request_interval_s)
        ),
    );
    item(
        "cells",
        format!(
            "{} per strategy, {} strategies, {} rows",
            thousands(rows.len().checked_div(strategy_count).unwrap_or(0) as i64),
            strategy_count,
            thousands(rows.len() as i64)
        ),
    );
    item(
        "client − issuer",
        format!("{} s", list(&mut clients.iter().map(|v| signed_s(*v)))),
    );
    item(
        "resource server − issuer",
        format!("{} s", list(&mut rs.iter().map(|v| signed_s(*v)))),
    );
    item(
        "token lifetime",
        format!("{} s", list(&mut grid.ttls.iter().map(|v| thousands(*v)))),
    );
    item(
        "resource-server leeway",
        format!("{} s", list(&mut leeways.iter().map(|v| thousands(*v)))),
    );
    item("cached issuer", cached_text);
    if !steps.is_empty() {
        item(
            "client wall step",
            list(
                &mut steps
                    .iter()
                    .map(|(s, c)| format!("{} s at client {} s", signed_s(s * 1000), signed_s(*c))),
            ) + " (half-way through the first token's life)",
        );
    }
    h.push_str("</dl>\n</section>\n");
}

#[cfg(test)]
mod tests;
