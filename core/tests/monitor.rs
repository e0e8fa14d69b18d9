//! `SkewMonitor`: merging, quantile error bound, JSON round trip, Prometheus exposition and the
//! assessment rules.

use proptest::prelude::*;
use tokenclock::monitor::{
    AssessmentRules, MonitorError, SkewMonitor, Verdict, BUCKET_COUNT, EDGES, EDGE_COUNT,
};
use tokenclock::time::UnixMillis;
use tokenclock::ErrorCode;

fn monitor_of(ages: &[i64]) -> SkewMonitor {
    let mut m = SkewMonitor::new();
    for &a in ages {
        m.record(a);
    }
    m
}

/// The nearest-rank quantile: the k-th smallest with k = max(1, ceil(q·N)).
fn exact_quantile(ages: &[i64], q: f64) -> i64 {
    let mut sorted = ages.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let k = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[k - 1]
}

/// The documented bound: 16 ms for |v| <= 8 ms, |v|/4 otherwise (within the covered range).
fn bound(v: i64) -> i64 {
    if v.abs() <= 8 {
        16
    } else {
        v.abs() / 4
    }
}

const TOP: i64 = 671_088_640;

fn age() -> impl Strategy<Value = i64> {
    prop_oneof![-TOP..=TOP, -10_000i64..=10_000, -20i64..=20, any::<i64>(),]
}

proptest! {
    #[test]
    fn merge_is_associative_and_commutative(
        a in prop::collection::vec(age(), 0..40),
        b in prop::collection::vec(age(), 0..40),
        c in prop::collection::vec(age(), 0..40),
    ) {
        let (ma, mb, mc) = (monitor_of(&a), monitor_of(&b), monitor_of(&c));
        let mut left = ma.clone();
        left.merge(&mb);
        left.merge(&mc);
        let mut bc = mb.clone();
        bc.merge(&mc);
        let mut right = ma.clone();
        right.merge(&bc);
        prop_assert_eq!(&left, &right);
        let mut swapped = mc.clone();
        swapped.merge(&mb);
        swapped.merge(&ma);
        prop_assert_eq!(&left, &swapped);
        // Merging equals recording everything into one monitor.
        let all: Vec<i64> = a.iter().chain(&b).chain(&c).copied().collect();
        prop_assert_eq!(&left, &monitor_of(&all));
        prop_assert_eq!(left.count(), all.len() as u64);
    }

    #[test]
    fn quantiles_are_within_the_documented_bound(
        ages in prop::collection::vec(prop_oneof![-TOP..=TOP, -5_000i64..=5_000], 1..300),
        q in 0.0f64..=1.0,
    ) {
        let m = monitor_of(&ages);
        let est = m.quantile(q).expect("non-empty");
        let exact = exact_quantile(&ages, q);
        prop_assert!((est - exact).abs() <= bound(exact), "q={} exact={} est={}", q, exact, est);
    }

    #[test]
    fn json_round_trips(ages in prop::collection::vec(age(), 0..100)) {
        let m = monitor_of(&ages);
        let text = m.to_json();
        let back = SkewMonitor::from_json(&text).expect("round trip");
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_json(), text);
    }
}

#[test]
fn quantile_interpolates_inside_a_bucket() {
    // Four ages in (1792, 2048]: the nearest-rank ranks 1..4 map to 1856, 1920, 1984, 2048.
    let m = monitor_of(&[1800, 1900, 2000, 2040]);
    assert_eq!(m.quantile(0.0), Some(1856));
    assert_eq!(m.quantile(0.25), Some(1856));
    assert_eq!(m.quantile(0.5), Some(1920));
    assert_eq!(m.quantile(0.75), Some(1984));
    assert_eq!(m.quantile(1.0), Some(2048));
    assert_eq!(SkewMonitor::new().quantile(0.5), None);
    assert_eq!(m.quantile(-0.01), None);
    assert_eq!(m.quantile(1.01), None);
    assert_eq!(m.quantile(f64::NAN), None);
}

#[test]
fn out_of_range_quantiles_clamp_to_the_outer_edges() {
    let m = monitor_of(&[i64::MIN, -TOP - 1, TOP + 1, i64::MAX]);
    assert_eq!(m.quantile(0.0), Some(-TOP));
    assert_eq!(m.quantile(1.0), Some(TOP));
    assert_eq!(m.bucket_counts()[0], 2);
    assert_eq!(m.bucket_counts()[BUCKET_COUNT - 1], 2);
    // The sum is exact (i128), not saturated.
    assert_eq!(m.sum_ms(), -1);
    let mut s = SkewMonitor::new();
    s.record(i64::MAX);
    s.record(1);
    assert_eq!(s.sum_ms(), i128::from(i64::MAX) + 1);
    let back = SkewMonitor::from_json(&s.to_json()).unwrap();
    assert_eq!(back.sum_ms(), i128::from(i64::MAX) + 1);
}

#[test]
fn record_token_is_now_minus_iat() {
    let mut m = SkewMonitor::new();
    m.record_token(UnixMillis(1_700_000_060_000), 1_700_000_000_000);
    m.record_token(UnixMillis(1_700_000_000_000), 1_700_000_003_000);
    assert_eq!(m.count(), 2);
    assert_eq!(m.sum_ms(), 60_000 - 3_000);
    assert_eq!(m.quantile(0.0), Some(-2_560)); // bucket (-3072, -2560], rank 1 of 1 -> upper edge
    assert_eq!(m.quantile(1.0), Some(65_536)); // bucket (57344, 65536]
}

#[test]
fn json_shape_and_rejections() {
    let m = monitor_of(&[5, 5, 100]);
    let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["sum_ms"], 110);
    let buckets = v["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), BUCKET_COUNT);
    assert_eq!(buckets.iter().map(|b| b.as_u64().unwrap()).sum::<u64>(), 3);

    let err = |t: &str| SkewMonitor::from_json(t).unwrap_err();
    let zeros = vec![0u64; BUCKET_COUNT];
    let doc = |version: &str, buckets: &[u64], extra: &str| {
        format!(
            r#"{{"version":{version},"buckets":{},"sum_ms":0{extra}}}"#,
            serde_json::to_string(buckets).unwrap()
        )
    };
    assert_eq!(err(&doc("2", &zeros, "")), MonitorError::UnsupportedVersion);
    assert_eq!(
        err(&doc("0", &zeros, "")).code(),
        "unsupported_monitor_version"
    );
    assert_eq!(
        err(&doc("\"1\"", &zeros, "")).code(),
        "invalid_monitor_json"
    );
    assert_eq!(
        err(&doc("1", &zeros[1..], "")).code(),
        "invalid_monitor_json"
    );
    assert_eq!(
        err(&doc("1", &zeros, r#","extra":1"#)).code(),
        "invalid_monitor_json"
    );
    assert_eq!(err(r#"{"buckets":[]}"#).code(), "invalid_monitor_json");
    assert_eq!(err("[]").code(), "invalid_monitor_json");
    assert_eq!(err("not json").code(), "invalid_monitor_json");
    let negative = doc("1", &zeros, "").replacen("[0,", "[-1,", 1);
    assert_eq!(err(&negative).code(), "invalid_monitor_json");
    let mut huge = zeros.clone();
    huge[0] = u64::MAX;
    huge[1] = 1;
    assert_eq!(err(&doc("1", &huge, "")).code(), "invalid_monitor_json");
    assert!(
        SkewMonitor::from_json(&doc("1", &zeros, ""))
            .unwrap()
            .count()
            == 0
    );
    // Messages never quote the input.
    assert!(!err("secret-token-text").to_string().contains("secret"));
}

#[test]
fn prometheus_exposition() {
    let m = monitor_of(&[-3_000, 5, 1_500, 1_500, 700_000_000]);
    let text = m.prometheus("tokenclock_token_age_seconds").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# HELP tokenclock_token_age_seconds Age of verified tokens (verifier clock minus iat), in seconds.");
    assert_eq!(lines[1], "# TYPE tokenclock_token_age_seconds histogram");
    assert_eq!(lines.len(), 2 + EDGE_COUNT + 1 + 2);
    assert_eq!(
        lines[2],
        r#"tokenclock_token_age_seconds_bucket{le="-671088.64"} 0"#
    );
    assert!(lines.contains(&r#"tokenclock_token_age_seconds_bucket{le="-3.072"} 0"#));
    assert!(lines.contains(&r#"tokenclock_token_age_seconds_bucket{le="-2.56"} 1"#));
    assert!(lines.contains(&r#"tokenclock_token_age_seconds_bucket{le="-2.048"} 1"#));
    assert!(lines.contains(&r#"tokenclock_token_age_seconds_bucket{le="0.008"} 2"#));
    assert!(lines.contains(&r#"tokenclock_token_age_seconds_bucket{le="1.536"} 4"#));
    assert!(lines.contains(&r#"tokenclock_token_age_seconds_bucket{le="671088.64"} 4"#));
    assert_eq!(
        lines[2 + EDGE_COUNT],
        r#"tokenclock_token_age_seconds_bucket{le="+Inf"} 5"#
    );
    assert_eq!(
        lines[3 + EDGE_COUNT],
        "tokenclock_token_age_seconds_sum 700000.005"
    );
    assert_eq!(
        lines[4 + EDGE_COUNT],
        "tokenclock_token_age_seconds_count 5"
    );
    assert!(text.ends_with('\n'));
    // Cumulative and non-decreasing, `le` ascending.
    let mut last = 0u64;
    let mut last_le = f64::NEG_INFINITY;
    for line in &lines[2..2 + EDGE_COUNT] {
        let (le, count) = line.split_once("\"} ").unwrap();
        let le: f64 = le.rsplit('"').next().unwrap().parse().unwrap();
        let count: u64 = count.parse().unwrap();
        assert!(count >= last && le > last_le);
        last = count;
        last_le = le;
    }
    assert_eq!(EDGES.len(), EDGE_COUNT);
    for bad in ["", "1x", "a-b", "a b", "a{b}", "ä"] {
        assert_eq!(
            m.prometheus(bad).unwrap_err(),
            MonitorError::InvalidMetricName,
            "{bad:?}"
        );
    }
}

#[test]
fn assessment_rules() {
    // Too few samples.
    let few = monitor_of(&[-10_000; 49]);
    assert_eq!(few.assessment().verdict, Verdict::Insufficient);
    assert_eq!(
        SkewMonitor::new().assessment().verdict,
        Verdict::Insufficient
    );

    // Healthy: fresh tokens, some cached ones.
    let mut ages: Vec<i64> = (0..100).map(|i| 50 + i * 300).collect();
    let healthy = monitor_of(&ages);
    let a = healthy.assessment();
    assert_eq!(a.verdict, Verdict::Consistent);
    assert_eq!(a.count, 100);

    // Behind: 6 % of tokens arrive 3 s "from the future".
    ages.truncate(94);
    ages.extend([-3_000; 6]);
    let behind = monitor_of(&ages).assessment();
    assert_eq!(behind.verdict, Verdict::Behind);
    assert!(behind.p05_ms.unwrap() < -2_000 && behind.p01_ms.unwrap() < -2_000);

    // Only 4 % in the future: p05 is not below -2 s.
    let mut ages4: Vec<i64> = (0..96).map(|i| 50 + i * 300).collect();
    ages4.extend([-3_000; 4]);
    assert_eq!(monitor_of(&ages4).assessment().verdict, Verdict::Consistent);

    // Ahead: even the freshest tokens look 2 minutes old.
    let ahead: Vec<i64> = (0..100).map(|i| 120_000 + i * 1_000).collect();
    assert_eq!(monitor_of(&ahead).assessment().verdict, Verdict::Ahead);
    let relaxed = AssessmentRules {
        expected_max_age_ms: 300_000,
        ..AssessmentRules::default()
    };
    assert_eq!(
        monitor_of(&ahead).assessment_with(&relaxed).verdict,
        Verdict::Consistent
    );

    // Boundary on the estimate: p05 exactly -2000 is not "behind"; -2001 is.
    let at = |v: i64| {
        let mut m = SkewMonitor::new();
        for _ in 0..50 {
            m.record(v);
        }
        m
    };
    // 50 equal ages in bucket (-2048, -1792]: rank ceil(2.5) = 3 of 50 interpolates to
    // -2048 + 256*3/50 = -2032.64 -> -2033.
    assert_eq!(at(-2_000).quantile(0.05), Some(-2_033));
    let rules = AssessmentRules {
        behind_threshold_ms: 2_033,
        ..AssessmentRules::default()
    };
    assert_eq!(
        at(-2_000).assessment_with(&rules).verdict,
        Verdict::Consistent
    );
    let rules = AssessmentRules {
        behind_threshold_ms: 2_032,
        ..AssessmentRules::default()
    };
    assert_eq!(at(-2_000).assessment_with(&rules).verdict, Verdict::Behind);
    assert_eq!(Verdict::Behind.as_str(), "behind");
}
