//! `tokenclock skew`: the report over measured origins.

use super::*;
use core::fmt::Write as _;

/// How an origin's clock is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OriginSource {
    /// HTTP `Date` headers (`HEAD` requests to a URL).
    Date,
    /// SNTP (UDP, `--ntp HOST[:PORT]`).
    Sntp,
}

impl OriginSource {
    /// `"date"` or `"sntp"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OriginSource::Date => "date",
            OriginSource::Sntp => "sntp",
        }
    }

    /// Reads `"date"`/`"sntp"` back.
    pub fn from_name(name: &str) -> Option<OriginSource> {
        match name {
            "date" => Some(OriginSource::Date),
            "sntp" => Some(OriginSource::Sntp),
            _ => None,
        }
    }
}

/// Why an origin could not be (fully) measured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginError {
    /// A stable code: a transport code ([`transport_error_message`]), or a core parser's
    /// code (`invalid_http_date`, `sntp_kiss_of_death`, …), or `no_date_header`,
    /// `all_samples_discarded`, `no_samples`.
    pub code: String,
    /// A sentence.
    pub message: String,
}

/// One measured origin: plain data for [`skew`] (from [`SkewProbe::origin`], or built by a
/// binding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkewOrigin {
    /// As given on the command line (`https://api.example`, `ntp:pool.ntp.org:123`).
    pub name: String,
    /// How it was sampled.
    pub source: OriginSource,
    /// The estimate at the end of the measurement.
    pub estimate: Estimate,
    /// The last round trip, ms.
    pub rtt_ms: Option<i64>,
    /// Exchanges whose sample was thrown away (a cached response, a local clock jump).
    pub discarded: u32,
    /// What stopped the measurement, if something did.
    pub error: Option<OriginError>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OriginStatus {
    Ok,
    MayExceed,
    Beyond,
    Unreachable,
}

pub(super) fn origin_status(o: &SkewOrigin, max: i64) -> OriginStatus {
    let e = &o.estimate;
    if e.samples == 0 {
        return OriginStatus::Unreachable;
    }
    let beyond =
        e.low_ms.is_some_and(|l| l > max) || e.high_ms.is_some_and(|h| h < max.saturating_neg());
    if beyond {
        return OriginStatus::Beyond;
    }
    match (e.low_ms, e.high_ms) {
        (Some(l), Some(h)) if l >= max.saturating_neg() && h <= max => OriginStatus::Ok,
        _ => OriginStatus::MayExceed,
    }
}

/// `skew URL... [--ntp HOST]`: each origin's offset (`server − local`) with its interval,
/// round trip and agreeing samples; pairs of origins whose intervals do not overlap are
/// called out. `max_offset_ms` is `--max-offset` (default 1 000).
///
/// Exit 2 when an origin could not be measured at all (no sample) or the input is invalid;
/// else 1 when an offset is, or may be, beyond `±max_offset_ms` (an unbounded side counts as
/// "may be"); else 0.
pub fn skew(origins: &[SkewOrigin], max_offset_ms: i64, color: bool) -> Rendered {
    const CMD: Option<&str> = Some("skew");
    if origins.is_empty() {
        return usage_error(CMD, "give at least one URL or --ntp HOST");
    }
    if !(0..=MAX_ABS_OFFSET_MS).contains(&max_offset_ms) {
        return argument_error(
            CMD,
            &invalid("--max-offset", "a non-negative number of seconds"),
        );
    }
    if origins.iter().any(|o| !estimate_is_sane(&o.estimate)) {
        return usage_error(CMD, "an origin's clock estimate is invalid");
    }
    let p = Paint(color);
    let max = max_offset_ms;
    let statuses: Vec<OriginStatus> = origins.iter().map(|o| origin_status(o, max)).collect();

    let mut findings: Vec<Note> = Vec::new();
    for (o, st) in origins.iter().zip(&statuses) {
        let name = sanitize(&o.name);
        match st {
            OriginStatus::Ok => {}
            OriginStatus::Beyond => findings.push(Note {
                code: "skew_beyond_limit",
                message: format!("{name} is off by more than {}", plain_seconds(max)),
            }),
            OriginStatus::MayExceed => findings.push(Note {
                code: "skew_may_exceed_limit",
                message: format!("{name} may be off by more than {}", plain_seconds(max)),
            }),
            OriginStatus::Unreachable => findings.push(Note {
                code: "origin_unmeasured",
                message: format!(
                    "{name} could not be measured: {}",
                    o.error
                        .as_ref()
                        .map_or("no samples", |e| e.message.as_str())
                ),
            }),
        }
    }

    // Pairs whose intervals do not overlap.
    let mut disagreements: Vec<(&SkewOrigin, &SkewOrigin, i64)> = Vec::new();
    for (i, a) in origins.iter().enumerate() {
        for b in origins.iter().skip(i + 1) {
            if a.estimate.samples == 0 || b.estimate.samples == 0 {
                continue;
            }
            let gap = |x: &Estimate, y: &Estimate| match (x.high_ms, y.low_ms) {
                (Some(h), Some(l)) if h < l => Some(l.saturating_sub(h)),
                _ => None,
            };
            if let Some(g) = gap(&a.estimate, &b.estimate).or_else(|| gap(&b.estimate, &a.estimate))
            {
                disagreements.push((a, b, g));
            }
        }
    }

    // ---- text table
    let dash = || "-".to_owned();
    let header = [
        "origin",
        "source",
        "offset",
        "interval (server − local)",
        "rtt",
        "samples",
        "status",
    ];
    let cells: Vec<[String; 7]> = origins
        .iter()
        .zip(&statuses)
        .map(|(o, st)| {
            let e = &o.estimate;
            let measured = e.samples > 0;
            let status = match st {
                OriginStatus::Ok => "ok".to_owned(),
                OriginStatus::MayExceed => "may exceed limit".to_owned(),
                OriginStatus::Beyond => "beyond limit".to_owned(),
                OriginStatus::Unreachable => {
                    format!(
                        "error: {}",
                        o.error.as_ref().map_or("no_samples", |e| e.code.as_str())
                    )
                }
            };
            [
                cap_chars(&sanitize(&o.name), 60),
                o.source.as_str().to_owned(),
                if measured {
                    signed_seconds(e.offset_ms)
                } else {
                    dash()
                },
                if measured {
                    format!(
                        "{} .. {}",
                        e.low_ms.map_or_else(|| "-inf".to_owned(), signed_seconds),
                        e.high_ms.map_or_else(|| "+inf".to_owned(), signed_seconds)
                    )
                } else {
                    dash()
                },
                o.rtt_ms.map_or_else(dash, |r| format!("{r} ms")),
                format!("{}/{}", e.agreeing, e.samples),
                status,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut t = String::new();
    let head: Vec<String> = header.iter().zip(widths).map(|(h, w)| pad(h, w)).collect();
    let _ = writeln!(t, "{}", p.bold(head.join("  ").trim_end()));
    for (row, st) in cells.iter().zip(&statuses) {
        let mut parts: Vec<String> = row.iter().zip(widths).map(|(c, w)| pad(c, w)).collect();
        if let Some(last) = parts.last_mut() {
            let plain = last.trim_end().to_owned();
            *last = match st {
                OriginStatus::Ok => p.green(&plain),
                OriginStatus::MayExceed => p.yellow(&plain),
                OriginStatus::Beyond | OriginStatus::Unreachable => p.red(&plain),
            };
        }
        let _ = writeln!(t, "{}", parts.join("  "));
    }
    if !disagreements.is_empty() {
        let _ = writeln!(t, "{}", p.bold("disagreements"));
        for (a, b, g) in &disagreements {
            let _ = writeln!(
                t,
                "  {} {} and {} disagree: their intervals are {} apart",
                p.yellow("!"),
                sanitize(&a.name),
                sanitize(&b.name),
                plain_seconds(*g)
            );
        }
    }
    let partial: Vec<&SkewOrigin> = origins
        .iter()
        .filter(|o| o.estimate.samples > 0 && (o.error.is_some() || o.discarded > 0))
        .collect();
    if !partial.is_empty() {
        let _ = writeln!(t, "{}", p.bold("notes"));
        for o in partial {
            let name = sanitize(&o.name);
            if let Some(e) = &o.error {
                let _ = writeln!(t, "  - {name}: stopped early: {} ({})", e.message, e.code);
            }
            if o.discarded > 0 {
                let _ = writeln!(
                    t,
                    "  - {name}: {} response(s) discarded (cached, or the local clock jumped)",
                    o.discarded
                );
            }
        }
    }
    let unmeasured = statuses.contains(&OriginStatus::Unreachable);
    let exit_code = if unmeasured {
        EXIT_USAGE
    } else {
        exit_for(&findings)
    };
    let limit = format!("limit ±{}", plain_seconds(max));
    if findings.is_empty() {
        let _ = writeln!(t, "{}  {} ({limit})", p.bold("result"), p.green("ok"));
    } else {
        let _ = writeln!(t, "{}", p.bold("findings"));
        for f in &findings {
            let _ = writeln!(t, "  {} {}", p.red("!"), f.message);
        }
        let mut codes: Vec<&str> = Vec::new();
        for f in &findings {
            if !codes.contains(&f.code) {
                codes.push(f.code);
            }
        }
        let _ = writeln!(
            t,
            "{}  {} ({limit})",
            p.bold("result"),
            p.red(&codes.join(", "))
        );
    }

    let json = json!({
        "command": "skew",
        "schema_version": SCHEMA_VERSION,
        "max_offset_ms": max,
        "origins": origins.iter().zip(&statuses).map(|(o, st)| {
            let e = &o.estimate;
            let measured = e.samples > 0;
            json!({
                "name": o.name,
                "source": o.source.as_str(),
                "offset_ms": if measured { Some(e.offset_ms) } else { None },
                "low_ms": e.low_ms,
                "high_ms": e.high_ms,
                "width_ms": e.width_ms(),
                "rtt_ms": o.rtt_ms,
                "agreeing": e.agreeing,
                "samples": e.samples,
                "discarded": o.discarded,
                "status": match st {
                    OriginStatus::Ok => "ok",
                    OriginStatus::MayExceed => "may_exceed_limit",
                    OriginStatus::Beyond => "beyond_limit",
                    OriginStatus::Unreachable => "unmeasured",
                },
                "error": o.error.as_ref().map(|e| json!({"code": e.code, "message": e.message})),
            })
        }).collect::<Vec<Value>>(),
        "disagreements": disagreements.iter().map(|(a, b, g)| json!({
            "a": a.name,
            "b": b.name,
            "gap_ms": g,
        })).collect::<Vec<Value>>(),
        "findings": notes_json(&findings),
        "exit_code": exit_code,
    });
    Rendered {
        text: t,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}
