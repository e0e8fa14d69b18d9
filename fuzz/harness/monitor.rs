//! Target `monitor`: `SkewMonitor::from_json`, `record`, `merge`, `quantile`, `assessment`,
//! `prometheus`, `to_json`.
//!
//! Input: `name_len` (1 byte), a metric name of that many bytes, `ages_len` (1 byte), that many
//! i64 LE ages (8 bytes each), then the JSON text (UTF-8, lossy). Binding call: Python
//! `tokenclock.SkewMonitor.from_json(text)` and the same methods; JS `SkewMonitor.fromJson`.
//!
//! Invariants: no panic; a parsed monitor's `to_json` parses back equal; quantiles are
//! monotone in `q` and `None` outside `[0, 1]`; recording ages never panics, whatever they are.

use tokenclock::monitor::SkewMonitor;

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let name_len = usize::from(b.u8() % 64);
    let name = String::from_utf8_lossy(b.take(name_len)).into_owned();
    let ages: Vec<i64> = (0..b.u8()).map(|_| b.i64()).collect();
    let text = String::from_utf8_lossy(b.rest()).into_owned();

    let mut m = match SkewMonitor::from_json(&text) {
        Ok(m) => {
            let again = SkewMonitor::from_json(&m.to_json()).expect("to_json parses back");
            assert_eq!(again.bucket_counts(), m.bucket_counts());
            assert_eq!((again.count(), again.sum_ms()), (m.count(), m.sum_ms()));
            m
        }
        Err(e) => {
            super::check_error(&e, &text);
            SkewMonitor::new()
        }
    };
    let mut other = SkewMonitor::new();
    for &a in &ages {
        other.record(a);
        other.record_token(tokenclock::time::UnixMillis(a), a.wrapping_mul(3));
    }
    m.merge(&other);
    let mut last = None;
    for q in [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0] {
        let v = m.quantile(q);
        assert_eq!(v.is_some(), m.count() > 0);
        if let (Some(a), Some(b)) = (last, v) {
            assert!(a <= b, "quantiles not monotone: {a} > {b} at q={q}");
        }
        last = v;
    }
    for q in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
        assert_eq!(m.quantile(q), None);
    }
    let _ = m.assessment();
    match m.prometheus(&name) {
        Ok(text) => assert!(text.contains(&name)),
        Err(e) => super::assert_code(tokenclock::ErrorCode::code(&e)),
    }
    let back = SkewMonitor::from_json(&m.to_json()).expect("to_json parses back");
    assert_eq!(back.bucket_counts(), m.bucket_counts());
}
