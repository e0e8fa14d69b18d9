//! `tokenclock inspect`: a token's header, claims and time claims, optionally verified and
//! judged on a measured server's clock.

use super::*;
use core::fmt::Write as _;

/// The clock of a server measured with `--server URL` before inspecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerClock {
    /// How to call it in the report (the URL as given).
    pub origin: String,
    /// Its offset estimate (`server − local`) at the inspection's `now`.
    pub estimate: Estimate,
}

/// Which flag a verification key came from.
#[cfg(feature = "verify")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyFileKind {
    /// `--key FILE`: a PEM public key or certificate (the file contains `-----BEGIN`), a JWK
    /// (its first non-space byte is `{`), otherwise an HMAC secret (the file's exact bytes).
    Key,
    /// `--jwks FILE`: a JWKS document.
    Jwks,
}

/// A verification key and the verifier's options, as read by the front-end.
#[cfg(feature = "verify")]
#[derive(Clone, PartialEq, Eq)]
pub struct KeyInput {
    /// Which flag.
    pub kind: KeyFileKind,
    /// The file's bytes.
    pub contents: Vec<u8>,
    /// `--alg`: JOSE names, at least one (`HS256`, `RS256`, …; never `none`).
    pub algorithms: Vec<String>,
    /// `--leeway` in ms (`None`: the verifier's default, 5 s).
    pub leeway_ms: Option<i64>,
    /// `--iss` (`None`: not checked).
    pub issuer: Option<String>,
    /// `--aud` (empty: not checked, i.e. the token's own `aud` is accepted).
    pub audience: Vec<String>,
}

#[cfg(feature = "verify")]
impl fmt::Debug for KeyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInput")
            .field("kind", &self.kind)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("algorithms", &self.algorithms)
            .field("leeway_ms", &self.leeway_ms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Options of [`inspect`]. `Default`: no server, no key, no colour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InspectOptions {
    /// `--server URL`: the measured server clock, when asked for.
    pub server: Option<ServerClock>,
    /// `--key`/`--jwks`: verify the token (feature `verify`).
    #[cfg(feature = "verify")]
    pub key: Option<KeyInput>,
    /// Colour the text.
    pub color: bool,
}

/// Largest absolute offset accepted in an estimate handed in (~100 years).
pub(super) const MAX_ABS_OFFSET_MS: i64 = 100 * 366 * 86_400_000;

pub(super) fn estimate_is_sane(e: &Estimate) -> bool {
    let ok = |v: i64| (-MAX_ABS_OFFSET_MS..=MAX_ABS_OFFSET_MS).contains(&v);
    ok(e.offset_ms)
        && e.low_ms.is_none_or(ok)
        && e.high_ms.is_none_or(ok)
        && !matches!((e.low_ms, e.high_ms), (Some(l), Some(h)) if l > h)
        && e.agreeing <= e.samples
}

/// Half the width of an estimate, rounded up (`None` when unbounded).
pub(super) fn half_width(e: &Estimate) -> Option<i64> {
    e.width_ms().map(|w| w / 2 + w % 2)
}

/// `inspect TOKEN|-`: the token's header and claims (unverified), every time claim in UTC and
/// relative to now, the expiry state a tokenclock client would give it if it arrived now,
/// warnings, and with a key the verifier's verdict.
///
/// * `now` is this machine's wall clock.
/// * With `options.server`, relative times are also given on that server's clock (best
///   estimate, ± half the interval), the expiry state uses the worst case of its offset, and
///   the warnings about `iat`/`nbf` judge by its clock.
/// * Exit 1 when the state is `expired` or verification fails; 2 when the token cannot be
///   read, the key or options are unusable, or `now`/the estimate are out of range.
pub fn inspect(token: &str, now: UnixMillis, options: &InspectOptions) -> Rendered {
    const CMD: Option<&str> = Some("inspect");
    if !(0..=MAX_UNIX_MILLIS).contains(&now.0) {
        return usage_error(CMD, "the clock reading is out of range");
    }
    if options
        .server
        .as_ref()
        .is_some_and(|s| !estimate_is_sane(&s.estimate))
    {
        return usage_error(CMD, "the server clock estimate is invalid");
    }
    let peeked = match peek(token) {
        Ok(p) => p,
        Err(e) => return error_rendered(CMD, e.code(), &format!("cannot read the token: {e}")),
    };
    #[cfg(feature = "verify")]
    let verification = match options.key.as_ref().map(|k| verification(token, now, k)) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(rendered)) => return *rendered,
    };
    #[cfg(not(feature = "verify"))]
    let verification: Option<Verification> = None;
    render_inspect(&peeked, now, options, verification.as_ref())
}

/// The verifier's verdict on the token, for the report.
#[cfg_attr(not(feature = "verify"), allow(dead_code))]
pub(super) struct Verification {
    valid: bool,
    code: Option<&'static str>,
    message: String,
    detail: String,
    alg: Option<String>,
    kid: Option<String>,
    algorithms: Vec<String>,
    leeway_ms: i64,
    likely_clock_skew: bool,
    miss_ms: Option<i64>,
}

impl Verification {
    fn json(&self) -> Value {
        json!({
            "valid": self.valid,
            "code": self.code,
            "message": self.message,
            "alg": self.alg,
            "kid": self.kid.as_deref().map(|k| cap_chars(k, MAX_VALUE_CHARS)),
            "algorithms": self.algorithms,
            "leeway_ms": self.leeway_ms,
            "likely_clock_skew": self.likely_clock_skew,
            "miss_ms": self.miss_ms,
        })
    }
}

/// The token as the verifier wants it: trimmed, without a `Bearer` prefix.
#[cfg(feature = "verify")]
pub(super) fn bare_token(token: &str) -> &str {
    let t = token.trim_ascii();
    match (t.get(..6), t.get(6..)) {
        (Some(word), Some(rest))
            if word.eq_ignore_ascii_case("bearer") && rest.starts_with([' ', '\t']) =>
        {
            rest.trim_ascii()
        }
        _ => t,
    }
}

#[cfg(feature = "verify")]
pub(super) fn verification(
    token: &str,
    now: UnixMillis,
    key: &KeyInput,
) -> Result<Verification, Box<Rendered>> {
    use crate::verify::{Algorithm, KeySource, Verifier, VerifyError, VerifyOptions};
    const CMD: Option<&str> = Some("inspect");
    let fail = |r: Rendered| Err(Box::new(r));
    if key.algorithms.is_empty() {
        return fail(usage_error(
            CMD,
            "--key and --jwks need --alg (the algorithms to accept)",
        ));
    }
    let mut algorithms = Vec::with_capacity(key.algorithms.len());
    for name in &key.algorithms {
        match Algorithm::from_name(name) {
            Some(a) => algorithms.push(a),
            None => {
                return fail(argument_error(
                    CMD,
                    &invalid("--alg", "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA"),
                ))
            }
        }
    }
    let mut opts = VerifyOptions::new(&algorithms);
    if let Some(leeway) = key.leeway_ms {
        opts.leeway_ms = leeway;
    }
    opts.issuer = key.issuer.clone();
    let peeked_aud = peek(token).map(|p| p.aud).unwrap_or_default();
    opts.audience = if key.audience.is_empty() {
        peeked_aud
    } else {
        key.audience.clone()
    };
    let source = match key.kind {
        KeyFileKind::Jwks => match core::str::from_utf8(&key.contents) {
            Ok(text) => KeySource::Jwks(text),
            Err(_) => {
                return fail(error_rendered(
                    CMD,
                    "invalid_jwks",
                    "the JWKS file is not UTF-8",
                ))
            }
        },
        KeyFileKind::Key => {
            let contents = key.contents.as_slice();
            let is_pem = contents.windows(10).any(|w| w == b"-----BEGIN");
            let first = contents.iter().find(|b| !b.is_ascii_whitespace());
            if is_pem {
                KeySource::Pem(contents)
            } else if first == Some(&b'{') {
                match core::str::from_utf8(contents) {
                    Ok(text) => KeySource::Jwk(text),
                    Err(_) => {
                        return fail(error_rendered(
                            CMD,
                            "invalid_key",
                            "the JWK file is not UTF-8",
                        ))
                    }
                }
            } else {
                KeySource::Secret(contents)
            }
        }
    };
    let leeway_ms = opts.leeway_ms;
    let verifier = match Verifier::new(source, opts) {
        Ok(v) => v,
        Err(e) => {
            return fail(error_rendered(
                CMD,
                e.code(),
                &format!("cannot use the key: {e}"),
            ))
        }
    };
    let names: Vec<String> = verifier
        .algorithms()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    let leeway_text = human_duration(leeway_ms);
    Ok(match verifier.verify(bare_token(token), now) {
        Ok(v) => Verification {
            valid: true,
            code: None,
            message: "signature and claims verified".to_owned(),
            detail: match &v.kid {
                Some(kid) => format!(
                    "valid: {} signature verified with key {}; time claims pass with {leeway_text} leeway",
                    v.alg,
                    cap_chars(&sanitize(kid), 60)
                ),
                None => format!("valid: {} signature verified; time claims pass with {leeway_text} leeway", v.alg),
            },
            alg: Some(v.alg.as_str().to_owned()),
            kid: v.kid.clone(),
            algorithms: names,
            leeway_ms,
            likely_clock_skew: false,
            miss_ms: None,
        },
        Err(e) => {
            let skew_note = if e.likely_clock_skew() { " (likely clock skew)" } else { "" };
            let (detail, miss) = match e {
                VerifyError::Expired { by_ms, .. } => (
                    format!("exp passed {} ago on this clock, beyond the {leeway_text} leeway{skew_note}", human_duration(by_ms)),
                    Some(by_ms),
                ),
                VerifyError::NotYetValid { valid_in_ms, .. } => (
                    format!("nbf is {} ahead on this clock, beyond the {leeway_text} leeway{skew_note}", human_duration(valid_in_ms)),
                    Some(valid_in_ms),
                ),
                VerifyError::IssuedInFuture { by_ms, .. } => (
                    format!("iat is {} in the future on this clock, beyond the {leeway_text} leeway{skew_note}", human_duration(by_ms)),
                    Some(by_ms),
                ),
                VerifyError::TooOld { by_ms } => (e.to_string(), Some(by_ms)),
                _ => (e.to_string(), None),
            };
            Verification {
                valid: false,
                code: Some(e.code()),
                message: e.to_string(),
                detail: format!("{}: {detail}", e.code()),
                alg: None,
                kid: None,
                algorithms: names,
                leeway_ms,
                likely_clock_skew: e.likely_clock_skew(),
                miss_ms: miss,
            }
        }
    })
}

/// One time claim's place on the two clocks.
pub(super) struct TimeRow {
    name: &'static str,
    ms: i64,
    /// `claim − now` on this clock.
    delta: i64,
    /// `claim − server now` (best, earliest, latest server now).
    server: Option<(i64, Option<i64>, Option<i64>)>,
}

pub(super) fn time_phrase(name: &str, delta: i64) -> String {
    let d = human_duration(delta);
    match (name, delta.signum()) {
        ("iat", 1) => format!("issued {d} in the future"),
        ("iat", -1) => format!("issued {d} ago"),
        ("iat", _) => "issued now".to_owned(),
        ("nbf", 1) => format!("not valid for another {d}"),
        ("nbf", -1) => format!("valid since {d} ago"),
        ("nbf", _) => "valid from now".to_owned(),
        (_, 1) => format!("expires in {d}"),
        (_, -1) => format!("expired {d} ago"),
        _ => "expired just now".to_owned(),
    }
}

pub(super) fn render_inspect(
    peeked: &Peeked,
    now: UnixMillis,
    options: &InspectOptions,
    verification: Option<&Verification>,
) -> Rendered {
    let p = Paint(options.color);
    let now_ms = now.0;
    let server = options.server.as_ref();
    let times = peeked.times;

    // Where "now" is on the reference clock (the server's best estimate, else ours).
    let ref_now = now_ms.saturating_add(server.map_or(0, |s| s.estimate.offset_ms));
    let ref_clock = match server {
        Some(s) => format!("on {}'s clock", sanitize(&s.origin)),
        None => "on this clock".to_owned(),
    };

    let rows: Vec<TimeRow> = [
        ("iat", times.iat_ms),
        ("nbf", times.nbf_ms),
        ("exp", times.exp_ms),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|ms| (name, ms)))
    .map(|(name, ms)| TimeRow {
        name,
        ms,
        delta: ms.saturating_sub(now_ms),
        server: server.map(|s| {
            let e = &s.estimate;
            (
                ms.saturating_sub(now_ms.saturating_add(e.offset_ms)),
                e.high_ms
                    .map(|h| ms.saturating_sub(now_ms.saturating_add(h))),
                e.low_ms
                    .map(|l| ms.saturating_sub(now_ms.saturating_add(l))),
            )
        }),
    })
    .collect();

    // Lifetime: exp − iat (else exp − nbf).
    let lifetime = times.exp_ms.and_then(|exp| {
        let (start, from) = match (times.iat_ms, times.nbf_ms) {
            (Some(iat), _) => (iat, "iat"),
            (None, Some(nbf)) => (nbf, "nbf"),
            (None, None) => return None,
        };
        Some((exp.saturating_sub(start), from))
    });

    // The core's expiry state, as if a client received the token now.
    let estimate = server.map_or(Estimate::UNKNOWN, |s| s.estimate);
    let policy = LifetimePolicy::default();
    let reading = Reading {
        wall: now,
        mono: crate::time::MonoMillis(0),
    };
    let token_times = TokenTimes {
        expires_in_ms: None,
        exp_ms: times.exp_ms,
        nbf_ms: times.nbf_ms,
        iat_ms: times.iat_ms,
    };
    let lifetime_calc = Lifetime::new(
        &token_times,
        reading,
        reading,
        &estimate,
        &policy,
        &mut SplitMix64::new(0),
    );
    let state = match &lifetime_calc {
        Ok(lt) => Some((lt, lt.state(reading, &estimate, &policy))),
        Err(_) => None,
    };

    // Warnings.
    let mut warnings: Vec<Note> = Vec::new();
    let alg = peeked.alg.as_deref().unwrap_or("");
    if alg.eq_ignore_ascii_case("none") {
        warnings.push(Note {
            code: "alg_none",
            message: "alg is \"none\": the token is unsigned and must never be accepted".to_owned(),
        });
    }
    if times.exp_ms.is_none() {
        warnings.push(Note {
            code: "exp_missing",
            message: "no exp: the token never expires by its claims".to_owned(),
        });
    }
    if let Some(iat) = times.iat_ms {
        let ahead = iat.saturating_sub(ref_now);
        if ahead > IAT_FUTURE_TOLERANCE_MS {
            warnings.push(Note {
                code: "iat_in_future",
                message: format!(
                    "issued {} in the future {ref_clock}: the issuer's clock is ahead of it",
                    human_duration(ahead)
                ),
            });
        }
    }
    if let Some(nbf) = times.nbf_ms {
        let ahead = nbf.saturating_sub(ref_now);
        if ahead > 0 {
            warnings.push(Note {
                code: "nbf_ahead",
                message: format!(
                    "nbf is {} ahead {ref_clock}: not valid yet",
                    human_duration(ahead)
                ),
            });
        }
    }
    if let Some((l, from)) = lifetime {
        if l <= 0 {
            warnings.push(Note {
                code: "lifetime_not_positive",
                message: format!("exp is not after {from}: the token is never valid"),
            });
        } else if l < SHORT_LIFETIME_MS {
            warnings.push(Note {
                code: "lifetime_short",
                message: format!(
                    "lifetime {} is unusually short (under a minute)",
                    human_duration(l)
                ),
            });
        } else if l > LONG_LIFETIME_MS {
            warnings.push(Note {
                code: "lifetime_long",
                message: format!(
                    "lifetime {} is unusually long (over a day)",
                    human_duration(l)
                ),
            });
        }
    }

    // Findings.
    let mut findings: Vec<Note> = Vec::new();
    let (state_json, state_text) = match state {
        Some((lt, st)) => {
            let usable = lt.until_hard_expiry_ms(reading, &estimate).max(0);
            let basis = lt.basis.as_str();
            let wait = match st {
                TokenState::NotYetValid { wait_ms, .. } => Some(wait_ms),
                _ => None,
            };
            let explain = match st {
                TokenState::Expired => {
                    let msg = match times.exp_ms {
                        Some(exp) if exp <= ref_now => {
                            format!(
                                "exp passed {} ago {ref_clock}",
                                human_duration(ref_now.saturating_sub(exp))
                            )
                        }
                        Some(_) => format!(
                            "exp may already have passed {ref_clock} (worst case of the offset)"
                        ),
                        None => "the assumed lifetime is over".to_owned(),
                    };
                    let text = p.red(&format!("expired: {msg}"));
                    findings.push(Note {
                        code: "expired",
                        message: msg,
                    });
                    text
                }
                TokenState::NotYetValid { wait_ms, .. } => p.yellow(&format!(
                    "not_yet_valid: usable in {} (nbf/iat not yet passed {ref_clock})",
                    human_duration(wait_ms)
                )),
                TokenState::Fresh | TokenState::Stale => {
                    let name = st.as_str();
                    let colored = if st == TokenState::Fresh {
                        p.green(name)
                    } else {
                        p.yellow(name)
                    };
                    if lt.basis == DeadlineBasis::Assumed {
                        format!(
                            "{colored}: no exp, a client would assume a {} lifetime and use it for {} more",
                            human_duration(policy.assumed_lifetime_ms),
                            human_duration(usable)
                        )
                    } else {
                        format!(
                            "{colored}: usable for {} more (a client stops {} before exp)",
                            human_duration(usable),
                            human_duration(lt.margin_ms)
                        )
                    }
                }
            };
            (
                json!({
                    "name": st.as_str(),
                    "basis": basis,
                    "usable_ms": usable,
                    "margin_ms": lt.margin_ms,
                    "wait_ms": wait,
                }),
                explain,
            )
        }
        None => (Value::Null, "unknown".to_owned()),
    };
    if let Some(v) = verification.filter(|v| !v.valid) {
        let code = v.code.unwrap_or("invalid_token");
        if !findings.iter().any(|f| f.code == code) {
            findings.push(Note {
                code,
                message: v.message.clone(),
            });
        }
    }

    // ---- text
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}",
        p.bold("tokenclock inspect (claims as decoded; the signature is never shown)")
    );
    let _ = writeln!(t, "{}", p.bold("header"));
    push_members(&mut t, &peeked.header, &["alg", "typ", "kid"], &[]);
    let _ = writeln!(t, "{}", p.bold("claims"));
    push_members(
        &mut t,
        &peeked.claims,
        &["iss", "sub", "aud", "jti"],
        &["iat", "nbf", "exp"],
    );
    let _ = writeln!(t, "{}  {} bytes", p.bold("signature"), peeked.signature_len);
    let _ = writeln!(t, "{}  {} (this clock)", p.bold("now"), iso8601_utc(now_ms));
    if let Some(s) = server {
        let e = &s.estimate;
        let bound = |v: Option<i64>, inf: &str| v.map_or_else(|| inf.to_owned(), signed_seconds);
        let _ = writeln!(
            t,
            "{}  {}: offset {} (server − local), between {} and {}, {}/{} samples agree",
            p.bold("server"),
            sanitize(&s.origin),
            signed_seconds(e.offset_ms),
            bound(e.low_ms, "-inf"),
            bound(e.high_ms, "+inf"),
            e.agreeing,
            e.samples
        );
    }
    if rows.is_empty() {
        let _ = writeln!(t, "{}  (no iat, nbf or exp)", p.bold("times"));
    } else {
        let utc: Vec<String> = rows.iter().map(|r| iso8601_utc(r.ms)).collect();
        let local: Vec<String> = rows.iter().map(|r| time_phrase(r.name, r.delta)).collect();
        let utc_w = utc.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        match server {
            None => {
                let _ = writeln!(t, "{}  (relative to this clock)", p.bold("times"));
                for ((r, u), l) in rows.iter().zip(&utc).zip(&local) {
                    let _ = writeln!(t, "  {}  {}  {l}", r.name, pad(u, utc_w));
                }
            }
            Some(s) => {
                let local_w = local
                    .iter()
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max("this clock".len());
                let unc = match half_width(&s.estimate) {
                    Some(h) => format!("±{}", human_duration(h)),
                    None => "offset unbounded".to_owned(),
                };
                let _ = writeln!(
                    t,
                    "{}{}  {}  {}'s clock ({unc})",
                    p.bold("times"),
                    " ".repeat((utc_w + 5).saturating_sub(3)),
                    pad("this clock", local_w),
                    sanitize(&s.origin)
                );
                for ((r, u), l) in rows.iter().zip(&utc).zip(&local) {
                    let sv = r
                        .server
                        .map_or_else(String::new, |(best, _, _)| time_phrase(r.name, best));
                    let _ = writeln!(
                        t,
                        "  {}  {}  {}  {sv}",
                        r.name,
                        pad(u, utc_w),
                        pad(l, local_w)
                    );
                }
            }
        }
    }
    if let Some((l, from)) = lifetime {
        let sign = if l < 0 { "-" } else { "" };
        let _ = writeln!(
            t,
            "{}  {sign}{} (exp − {from})",
            p.bold("lifetime"),
            human_duration(l)
        );
    }
    let _ = writeln!(t, "{}  {state_text}", p.bold("state"));
    if let Some(v) = verification {
        let detail = if v.valid {
            p.green(&v.detail)
        } else {
            p.red(&v.detail)
        };
        let _ = writeln!(t, "{}  {detail}", p.bold("verification"));
    }
    if !warnings.is_empty() {
        let _ = writeln!(t, "{}", p.bold("warnings"));
        for w in &warnings {
            let _ = writeln!(t, "  {} {}", p.yellow("!"), w.message);
        }
    }
    t.push_str(&result_line(p, &findings));

    // ---- JSON
    let time_json = |name: &str| -> Value {
        match rows.iter().find(|r| r.name == name) {
            None => Value::Null,
            Some(r) => {
                let (best, min, max) = match r.server {
                    Some((b, mn, mx)) => (Some(b), mn, mx),
                    None => (None, None, None),
                };
                json!({
                    "ms": r.ms,
                    "utc": iso8601_utc(r.ms),
                    "delta_ms": r.delta,
                    "server_delta_ms": best,
                    "server_delta_min_ms": min,
                    "server_delta_max_ms": max,
                })
            }
        }
    };
    let exit_code = exit_for(&findings);
    let json = json!({
        "command": "inspect",
        "schema_version": SCHEMA_VERSION,
        "now_ms": now_ms,
        "now_utc": iso8601_utc(now_ms),
        "header": Value::Object(cap_map(&peeked.header)),
        "claims": Value::Object(cap_map(&peeked.claims)),
        "signature_bytes": peeked.signature_len,
        "times": {"iat": time_json("iat"), "nbf": time_json("nbf"), "exp": time_json("exp")},
        "lifetime_ms": lifetime.map(|(l, _)| l),
        "server": server.map(|s| json!({
            "origin": s.origin,
            "offset_ms": s.estimate.offset_ms,
            "low_ms": s.estimate.low_ms,
            "high_ms": s.estimate.high_ms,
            "agreeing": s.estimate.agreeing,
            "samples": s.estimate.samples,
        })),
        "state": state_json,
        "verification": verification.map(Verification::json),
        "warnings": notes_json(&warnings),
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

/// Lines `  name  value` for a header or claims map: `first` in that order, then the rest
/// sorted, leaving out `skip`.
pub(super) fn push_members(
    t: &mut String,
    map: &Map<String, Value>,
    first: &[&str],
    skip: &[&str],
) {
    let mut names: Vec<&String> = map
        .keys()
        .filter(|k| !first.contains(&k.as_str()) && !skip.contains(&k.as_str()))
        .collect();
    names.sort();
    let ordered: Vec<(String, &Value)> = first
        .iter()
        .filter_map(|k| map.get(*k).map(|v| ((*k).to_owned(), v)))
        .chain(
            names
                .into_iter()
                .filter_map(|k| map.get(k).map(|v| (k.clone(), v))),
        )
        .collect();
    if ordered.is_empty() {
        t.push_str(if skip.is_empty() {
            "  (none)\n"
        } else {
            "  (none besides time claims)\n"
        });
        return;
    }
    let shown: Vec<(String, String)> = ordered
        .iter()
        .take(MAX_VALUE_ITEMS)
        .map(|(k, v)| (cap_chars(&sanitize(k), 40), value_text(v)))
        .collect();
    let width = shown
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &shown {
        let _ = writeln!(t, "  {}  {v}", pad(k, width));
    }
    if ordered.len() > MAX_VALUE_ITEMS {
        let _ = writeln!(t, "  … {} more", ordered.len() - MAX_VALUE_ITEMS);
    }
}
