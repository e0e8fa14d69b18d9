//! Tests of the HTML report: cells per map, escaping, determinism, the colour scales.

use super::super::{gauntlet_cells, rows as cell_rows, run_cell, Cell};
use super::*;

fn row(strategy: &'static str, client: f64, rs: f64, failures: u64, p99: i64) -> Row {
    Row {
        strategy,
        client_offset_s: client,
        rs_offset_s: rs,
        ttl_s: 60,
        rs_leeway_s: 0,
        cached_issuer: false,
        cached_age_s: 0,
        step_s: 0,
        hours: 1.0,
        requests: 700,
        user_visible_failures: failures,
        rs_401: failures,
        token_requests: 70,
        min_token_requests: 60,
        p99_added_latency_ms: p99,
    }
}

const RUN: GauntletRun = GauntletRun {
    seed: 7,
    hours: 1.0,
    request_interval_s: 5.0,
};

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The `rect.cell` elements of each `g.map`, in document order.
fn cells_per_map(html: &str) -> Vec<usize> {
    html.split("<g class=\"map\"")
        .skip(1)
        .map(|m| count(&m[..m.find("</g>").unwrap()], "<rect class=\"cell "))
        .collect()
}

fn small() -> Vec<Row> {
    let mut rows = Vec::new();
    for s in ["tokenclock", "naive"] {
        for c in [-30.0, 0.0, 30.0] {
            for rs in [-5.0, 5.0] {
                let bad = s == "naive" && rs < 0.0;
                rows.push(row(s, c, rs, if bad { 12 } else { 0 }, 40));
            }
        }
    }
    rows
}

#[test]
fn one_cell_per_row_and_one_map_per_strategy_and_metric() {
    let rows = small();
    let html = render_gauntlet_html(&rows, &RUN);
    // 2 strategies × 2 metrics × 1 (ttl, leeway, cached), 3 × 2 cells each.
    assert_eq!(cells_per_map(&html), vec![6; 4]);
    // naive fails in its 3 RS −5 s cells (12 failures: bin 2); the rest is empty.
    assert_eq!(count(&html, "class=\"cell f2\""), 3);
    assert_eq!(count(&html, "class=\"cell f0\""), 9);
    assert_eq!(count(&html, "class=\"cell l1\""), 12);
    assert!(html.contains("<title>client −30 s, RS −5 s: 12 failures</title>"));
    assert!(
        html.contains("<b>tokenclock</b> 0 · <b>naive</b> 3."),
        "{html}"
    );
    assert!(html.contains("Failures in 3 cells, every one with RS −5 s."));
}

#[test]
fn the_real_gauntlet_has_12_maps_of_44_cells_per_strategy_and_metric() {
    let cells = gauntlet_cells(1, 0.02);
    let rows: Vec<Row> = cells
        .iter()
        .flat_map(|c| cell_rows(c, &run_cell(*c, false)))
        .collect();
    let html = render_gauntlet_html(&rows, &RUN);
    // 9 client offsets × 4 RS offsets, plus ±120 s steps at client 0 × 4 RS offsets.
    assert_eq!(cells_per_map(&html), vec![44; 4 * 2 * 12]);
    assert_eq!(count(&html, "<rect class=\"cell "), rows.len() * 2);
    assert!(html.len() < 500 * 1024, "{} bytes", html.len());
    for banned in ["<script", "http://", "https://", "url(", "@import", "<link"] {
        assert!(!html.contains(banned), "{banned}");
    }
}

#[test]
fn output_is_the_same_for_the_same_rows_in_any_order() {
    let rows = small();
    let mut shuffled = rows.clone();
    shuffled.reverse();
    shuffled.swap(1, 4);
    let a = render_gauntlet_html(&rows, &RUN);
    assert_eq!(a, render_gauntlet_html(&rows, &RUN));
    assert_eq!(a, render_gauntlet_html(&shuffled, &RUN));
    assert_ne!(
        a,
        render_gauntlet_html(&rows, &GauntletRun { seed: 8, ..RUN }),
        "the seed is shown"
    );
}

#[test]
fn text_from_the_rows_is_escaped() {
    let evil = "<script>alert('x')</script>&\"";
    let rows = vec![row(evil, 0.0, 0.0, 1, 0), row("naive", 0.0, 0.0, 0, 0)];
    let html = render_gauntlet_html(&rows, &RUN);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("alert('x')"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert_eq!(
        esc("a<b>&\"c'"),
        "a&lt;b&gt;&amp;&quot;c&#39;",
        "every special character"
    );
    // Its maps are drawn like any other strategy's.
    assert_eq!(cells_per_map(&html), vec![1; 4]);
}

#[test]
fn colour_bins_and_labels() {
    assert_eq!(Metric::Failures.bin(0), 0);
    assert_eq!(Metric::Failures.bin(1), 1);
    assert_eq!(Metric::Failures.bin(999), 3);
    assert_eq!(Metric::Failures.bin(1_000), 4);
    assert_eq!(Metric::Latency.bin(2_499), 5);
    assert_eq!(Metric::Latency.bin(4_561), 6);
    for m in Metric::ALL {
        assert_eq!(m.colours().len(), m.thresholds().len() + 1);
        assert_eq!(m.legend_labels().len(), m.colours().len());
    }
    assert_eq!(
        Metric::Failures.legend_labels(),
        ["0", "1–9", "10–99", "100–999", "≥ 1,000"]
    );
    assert_eq!(signed_s(-600_000), "−600");
    assert_eq!(signed_s(2_500), "+2.5");
    assert_eq!(signed_s(0), "0");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(plain_s(0.05), "0.05");
}

#[test]
fn no_rows_still_make_a_page() {
    let html = render_gauntlet_html(&[], &RUN);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(cells_per_map(&html).is_empty());
    let one = Cell::default();
    let rows = cell_rows(&one, &run_cell(one, false));
    assert_eq!(
        cells_per_map(&render_gauntlet_html(&rows, &RUN)),
        vec![1; 8]
    );
}
