//! Tests of the cell chart: one mark per request, events, escaping, determinism.

use super::super::super::{run_cell, Outcome, RequestRecord};
use super::*;

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The part of the page that is `strategy`'s section.
fn section<'a>(html: &'a str, strategy: &str) -> &'a str {
    let start = html
        .find(&format!(
            "<section class=\"strategy\" data-strategy=\"{strategy}\""
        ))
        .unwrap_or_else(|| panic!("no section for {strategy}"));
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

/// The text of the first group of a section that starts with `open`.
fn group<'a>(section: &'a str, open: &str) -> &'a str {
    let start = section.find(open).unwrap() + open.len();
    let end = start + section[start..].find("</g>").unwrap();
    &section[start..end]
}

/// The `rect`s of the `g.req.RESULT` group of a section.
fn marks(section: &str, result: RequestResult) -> usize {
    count(
        group(section, &format!("<g class=\"req {}\">", result.as_str())),
        "<rect ",
    )
}

/// The event ticks of the `g.ev.CLASS` group of a section (not the backoff bands).
fn ticks(section: &str, kind: EventKind) -> usize {
    count(
        group(section, &format!("<g class=\"ev {}\"", event_class(kind))),
        "<rect x=",
    )
}

/// The docs' example: a +120 s wall step under 60 s tokens, where stackit fails.
fn stepped() -> Cell {
    Cell {
        ttl_s: 60,
        step_s: 120,
        hours: 0.05,
        seed: 7,
        ..Cell::default()
    }
}

#[test]
fn one_mark_per_request_coloured_by_how_it_ended() {
    for cell in [
        stepped(),
        Cell {
            hours: 0.2,
            ..Cell::default()
        },
        Cell {
            client_offset_s: -300.0,
            rs_offset_s: -5.0,
            ttl_s: 60,
            hours: 0.1,
            ..Cell::default()
        },
    ] {
        let outcomes = run_cell(cell, true);
        let html = render_cell_html(&cell, &outcomes);
        assert_eq!(count(&html, "<section class=\"strategy\""), 4);
        assert!(!html.contains("data-strategy=\"oracle\""));
        for o in outcomes.iter().filter(|o| o.strategy != "oracle") {
            let s = section(&html, o.strategy);
            let per = |r| o.request_log.iter().filter(|q| q.result == r).count();
            let total: usize = RequestResult::ALL.iter().map(|r| marks(s, *r)).sum();
            assert_eq!(
                total as u64, o.requests,
                "{}: one mark per request",
                o.strategy
            );
            for r in RequestResult::ALL {
                assert_eq!(marks(s, r), per(r), "{} {}", o.strategy, r.as_str());
            }
            assert_eq!(
                marks(s, RequestResult::Failed) as u64,
                o.user_visible_failures,
                "{}",
                o.strategy
            );
            for k in EventKind::ALL {
                let n = o.events.iter().filter(|e| e.kind == k).count();
                assert_eq!(ticks(s, k), n, "{} {}", o.strategy, k.as_str());
            }
            assert!(s.contains(&format!("data-requests=\"{}\"", o.requests)));
        }
    }
    // The step cell: stackit fails, and the step is drawn once per chart.
    let cell = stepped();
    let outcomes = run_cell(cell, true);
    let stackit = outcomes.iter().find(|o| o.strategy == "stackit").unwrap();
    assert!(stackit.user_visible_failures > 0);
    let html = render_cell_html(&cell, &outcomes);
    assert_eq!(count(&html, "<line class=\"step\""), 4);
    assert!(html.contains("wall step +120 s"));
}

#[test]
fn the_request_log_and_events_agree_with_the_counters_and_the_text_timeline() {
    for cell in [stepped(), Cell::default()] {
        for o in run_cell(cell, true) {
            assert_eq!(o.request_log.len() as u64, o.requests, "{}", o.strategy);
            let failed = o
                .request_log
                .iter()
                .filter(|q| q.result == RequestResult::Failed)
                .count();
            assert_eq!(failed as u64, o.user_visible_failures, "{}", o.strategy);
            assert!(o.request_log.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
            let mut added: Vec<i64> = o.request_log.iter().map(|q| q.added_ms).collect();
            added.sort_unstable();
            assert_eq!(added.last().copied().unwrap_or(0), o.max_added_latency_ms);
            let kind = |k| o.events.iter().filter(|e| e.kind == k).count() as u64;
            if o.strategy == "tokenclock" {
                let lines: Vec<String> = o.events.iter().map(TimelineEvent::line).collect();
                assert_eq!(lines, o.timeline, "the text timeline is the events");
                assert_eq!(kind(EventKind::Rejected), o.rs_401);
            } else {
                assert!(o.timeline.is_empty());
                assert_eq!(kind(EventKind::Refresh), o.token_requests, "{}", o.strategy);
                assert_eq!(kind(EventKind::Rejected), o.rs_401, "{}", o.strategy);
            }
        }
        // Without a timeline nothing is recorded, and the counters are the same.
        let plain = run_cell(cell, false);
        let traced = run_cell(cell, true);
        for (p, t) in plain.iter().zip(&traced) {
            assert!(p.request_log.is_empty() && p.events.is_empty());
            assert_eq!(
                (
                    p.requests,
                    p.user_visible_failures,
                    p.rs_401,
                    p.token_requests
                ),
                (
                    t.requests,
                    t.user_visible_failures,
                    t.rs_401,
                    t.token_requests
                )
            );
            assert_eq!(p.p99_added_latency_ms, t.p99_added_latency_ms);
        }
    }
    let tokenclock = &run_cell(stepped(), true)[0];
    assert!(tokenclock
        .events
        .iter()
        .any(|e| e.kind == EventKind::ClockStep && e.text.contains("+120.0s")));
}

#[test]
fn same_cell_same_bytes() {
    let cell = stepped();
    let a = render_cell_html(&cell, &run_cell(cell, true));
    assert_eq!(a, render_cell_html(&cell, &run_cell(cell, true)));
    let other = Cell { seed: 8, ..cell };
    assert_ne!(a, render_cell_html(&other, &run_cell(other, true)));
    assert!(a.starts_with("<!DOCTYPE html>") && a.ends_with("</html>\n"));
    for banned in [
        "<script", "http://", "https://", "url(", "@import", "<link", "<img", "href",
    ] {
        assert!(!a.contains(banned), "{banned}");
    }
    assert!(a.contains(
        "tokenclock simulate --client-offset 0 --rs-offset 0 --ttl 60 --leeway 0 --cached-age 0 \
         --step 120 --hours 0.05 --seed 7"
    ));
    assert!(a.contains("<title>tokenclock simulate: client 0 s, RS 0 s, ttl 60 s (seed 7)</title>"));
}

#[test]
fn text_is_escaped() {
    let evil = "<script>alert('x')</script>&\"";
    let cell = Cell::default();
    let outcomes = vec![Outcome {
        strategy: evil,
        requests: 2,
        user_visible_failures: 1,
        request_log: vec![
            RequestRecord {
                at_ms: 0,
                added_ms: 0,
                result: RequestResult::Ok,
            },
            RequestRecord {
                at_ms: 5_000,
                added_ms: 1_500,
                result: RequestResult::Failed,
            },
        ],
        events: vec![TimelineEvent {
            at_ms: 4_000,
            kind: EventKind::RefreshFailed,
            span_ms: 2_000,
            text: evil.to_owned(),
        }],
        ..Outcome::default()
    }];
    let html = render_cell_html(&cell, &outcomes);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("alert('x')"));
    assert_eq!(
        count(
            &html,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        ),
        5,
        "the name in the section's attribute, its heading, the chart's label, the table; the \
         event's text"
    );
    let s = section(&html, &esc(evil));
    assert_eq!(marks(s, RequestResult::Ok), 1);
    assert_eq!(marks(s, RequestResult::Failed), 1);
    assert!(s.contains("<title>0:00:05: failed, +1,500 ms</title>"));
    assert!(
        group(s, "<g class=\"ev backoff\"").contains("<rect class=\"span\""),
        "the backoff's band"
    );
    assert_eq!(ticks(s, EventKind::RefreshFailed), 1);
    assert_eq!(ticks(s, EventKind::Refresh), 0);
}

#[test]
fn scales_and_labels() {
    assert_eq!(millidecades(1), 0);
    assert_eq!(millidecades(10), 1_000);
    assert_eq!(millidecades(100_000), 5_000);
    assert_eq!(millidecades(2), 301);
    assert_eq!(millidecades(15), 1_000 + 301 * 5 / 10);
    assert_eq!(millidecades(0), 0, "below 1 is 1");
    assert!(
        (1..20_000u64).all(|x| millidecades(x) <= millidecades(x + 1)),
        "never decreasing"
    );
    let scale = Scale {
        duration_ms: 10_800_000,
    };
    assert_eq!(scale.x(0), LEFT * 10);
    assert_eq!(scale.x(10_800_000), (LEFT + PLOT_W) * 10);
    assert_eq!(scale.x(20_000_000), (LEFT + PLOT_W) * 10, "clamped");
    assert_eq!(scale.y(0), (TOP + PLOT_H) * 10);
    assert_eq!(scale.y(LATENCY_TOP_MS as i64), TOP * 10);
    assert_eq!(scale.y(i64::MAX), TOP * 10, "clamped");
    assert_eq!(px(1234), "123.4");
    assert_eq!(px(120), "12");
    assert_eq!(px(-5), "-0.5");
    assert_eq!(clock(33_053), "0:00:33.053");
    assert_eq!(clock(10_798_000), "2:59:58");
    assert_eq!(tick_label(0), "0");
    assert_eq!(tick_label(45_000), "45s");
    assert_eq!(tick_label(5_400_000), "1h30m");
    assert_eq!(tick_step(10_800_000), 1_800_000);
    assert_eq!(tick_step(180_000), 30_000);
    assert_eq!(tick_step(86_400_000), 10_800_000);
    assert_eq!(arg_s(-250), "-0.25");
}

#[test]
fn tooltips_are_capped_per_strategy() {
    let outcome = |n: usize| Outcome {
        strategy: "naive",
        requests: n as u64,
        user_visible_failures: n as u64,
        request_log: (0..n)
            .map(|i| RequestRecord {
                at_ms: i as i64 * 1_000,
                added_ms: 0,
                result: RequestResult::Failed,
            })
            .collect(),
        events: (0..n)
            .map(|i| TimelineEvent::new(i as i64 * 1_000, EventKind::Rejected, "401".to_owned()))
            .collect(),
        ..Outcome::default()
    };
    let note = "Tooltips on the first 1,000";
    for (n, titles, noted) in [(1_000, 2_000, false), (1_500, 2_000, true), (10, 20, false)] {
        let html = render_cell_html(&Cell::default(), &[outcome(n)]);
        let s = section(&html, "naive");
        assert_eq!(marks(s, RequestResult::Failed), n, "every request is drawn");
        assert_eq!(ticks(s, EventKind::Rejected), n, "every event is drawn");
        assert_eq!(count(s, "<title>"), titles, "{n}");
        assert_eq!(s.contains(note), noted, "{n}");
    }
}
