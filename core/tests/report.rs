//! Tests of `tokenclock::report` (the command line's renderers) and the golden files under
//! `tests/golden/` that the Python and Node front-ends replay through their own CLI.
//!
//! Run everything with `cargo test -p tokenclock --all-features --test report`. After a
//! deliberate change of output, regenerate the golden files with
//! `TOKENCLOCK_BLESS=1 cargo test -p tokenclock --all-features --test report golden` and review
//! the diff: the files are the contract.
//!
//! # Golden files: `tests/golden/{inspect,skew,ages,simulate,errors}.json`
//!
//! `{"suite", "description", "cases": [...]}`; each case:
//!
//! * `id` (unique, prefixed `cli-`), `comment`, `command`, `features` (cargo features the case
//!   needs: `verify`, `sim`; a front-end built without them skips the case);
//! * `argv` (when the case can be replayed through the CLI with only stdin, a key file and an
//!   injected clock): the arguments after `tokenclock`, without `--json`. `{key_file}` stands
//!   for a file holding `input.key.contents`; `-` means standard input;
//! * `input` (below), `expected_text`, `expected_json` (what `--json` prints, parsed),
//!   `exit_code`, `stream` (`"stdout"`/`"stderr"`: where the text goes).
//!
//! The JSON a front-end prints must be byte-identical to `Rendered::json_text` of
//! `expected_json`: keys sorted, two-space indent, UTF-8, one final newline.
//!
//! ## `input` per `command`
//!
//! * `inspect`: `token` (string, passed as the TOKEN argument or on stdin), `now_ms` (the
//!   injected wall clock), `server` (`null` or `{origin, offset_ms, low_ms, high_ms, agreeing,
//!   samples}`: the `--server` measurement, `low_ms`/`high_ms` may be `null`), `key` (`null` or
//!   `{kind: "key"|"jwks", contents: string, alg: [names], leeway_ms: int|null, iss:
//!   string|null, aud: [strings]}`), `color` (bool).
//! * `skew`: `origins` (list of `{name, source: "date"|"sntp", offset_ms, low_ms, high_ms,
//!   agreeing, samples, rtt_ms, discarded, error: null|{code, message}}`), `max_offset_ms`,
//!   `color`.
//! * `ages`: `lines` (stdin, one string per line), `now_ms`, `time_field` (string or `null`),
//!   `prometheus` (bool), `color`.
//! * `simulate`: `args` (list of `[flag, value]` pairs applied in order with
//!   `report::parse_cell_arg` to `sim::Cell::default()`), `timeline`, `color`.
//! * `error`: `kind` (`usage` → `usage_error(command, message)`; `input` →
//!   `input_error(command, what, problem)`; `help` → `help(command)`), `command` (string or
//!   `null`), and `message` / `what` + `problem` as the kind needs.
//!
//! # Probe transcripts: `tests/golden/skew-probe.json`
//!
//! `SkewProbe` must make the same requests at the same moments in both front-ends. Each case's
//! `input` is `{name, source, samples (int|null), events: [...]}` and the events are replayed in
//! order against one probe:
//!
//! * `{"poll": R, "expect": {"action": "send", "wait_ms": n, "send_at": R, "timeout_ms": n}}`
//!   or `{"poll": R, "expect": {"action": "done"}}` — `probe.poll(R)` must return that;
//! * `{"date_response": {"date": s|null, "age": s|null, "sent": R, "received": R}}`;
//! * `{"sntp_request": {"now": R, "entropy": n}, "expect_packet_hex": hex}`;
//! * `{"sntp_reply": {"hex": hex, "received": R}}`;
//! * `{"error": code}` — `probe.on_error(code)`;
//! * `{"origin_at": R, "expect": {name, source, offset_ms, low_ms, high_ms, agreeing, samples,
//!   rtt_ms, discarded, error}}` — `probe.origin(R)` must equal it;
//!
//! where `R` is a reading `{"wall_ms": n, "mono_ms": n}`.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokenclock::httpdate::format_http_date;
use tokenclock::monitor::SkewMonitor;
use tokenclock::report::*;
use tokenclock::skew::Estimate;
use tokenclock::time::{MonoMillis, Reading, UnixMillis};

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with the given header and claims and a fake 9-byte signature ("signature").
fn fake(header: &str, claims: &str) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(header.as_bytes()),
        b64(claims.as_bytes())
    )
}

/// HMAC-SHA256 (RFC 2104) on the crate's own SHA-256.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn hs256(secret: &[u8], claims: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.as_bytes())
    );
    format!(
        "{signing_input}.{}",
        b64(&hmac_sha256(secret, signing_input.as_bytes()))
    )
}

const SECRET: &str = "tokenclock-golden-secret-0123456789abcdef";
const T0: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

fn reading(wall: i64, mono: i64) -> Reading {
    Reading {
        wall: UnixMillis(wall),
        mono: MonoMillis(mono),
    }
}

fn reading_json(r: Reading) -> Value {
    json!({"wall_ms": r.wall.as_millis(), "mono_ms": r.mono.as_millis()})
}

fn reading_from(v: &Value) -> Reading {
    reading(
        v["wall_ms"].as_i64().expect("wall_ms"),
        v["mono_ms"].as_i64().expect("mono_ms"),
    )
}

fn estimate_from(v: &Value) -> Estimate {
    Estimate {
        offset_ms: v["offset_ms"].as_i64().unwrap_or(0),
        low_ms: v["low_ms"].as_i64(),
        high_ms: v["high_ms"].as_i64(),
        agreeing: v["agreeing"].as_u64().expect("agreeing") as u32,
        samples: v["samples"].as_u64().expect("samples") as u32,
    }
}

fn est(offset: i64, low: Option<i64>, high: Option<i64>, agreeing: u32, samples: u32) -> Estimate {
    Estimate {
        offset_ms: offset,
        low_ms: low,
        high_ms: high,
        agreeing,
        samples,
    }
}

fn origin_from(v: &Value) -> SkewOrigin {
    SkewOrigin {
        name: v["name"].as_str().expect("name").to_owned(),
        source: OriginSource::from_name(v["source"].as_str().expect("source"))
            .expect("source name"),
        estimate: estimate_from(v),
        rtt_ms: v["rtt_ms"].as_i64(),
        discarded: v["discarded"].as_u64().unwrap_or(0) as u32,
        error: v["error"].as_object().map(|e| OriginError {
            code: e["code"].as_str().expect("code").to_owned(),
            message: e["message"].as_str().expect("message").to_owned(),
        }),
    }
}

fn origin_json(o: &SkewOrigin) -> Value {
    json!({
        "name": o.name,
        "source": o.source.as_str(),
        "offset_ms": o.estimate.offset_ms,
        "low_ms": o.estimate.low_ms,
        "high_ms": o.estimate.high_ms,
        "agreeing": o.estimate.agreeing,
        "samples": o.estimate.samples,
        "rtt_ms": o.rtt_ms,
        "discarded": o.discarded,
        "error": o.error.as_ref().map(|e| json!({"code": e.code, "message": e.message})),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn features_enabled(case: &Value) -> bool {
    let enabled = |f: &Value| {
        let name = f.as_str().unwrap_or_default();
        (name == "verify" && cfg!(feature = "verify")) || (name == "sim" && cfg!(feature = "sim"))
    };
    case["features"]
        .as_array()
        .into_iter()
        .flatten()
        .all(enabled)
}

/// Renders a golden case's input through the public API, as a front-end would.
fn render(command: &str, input: &Value) -> Rendered {
    let color = input["color"].as_bool().unwrap_or(false);
    match command {
        "inspect" => {
            let mut options = InspectOptions {
                color,
                ..InspectOptions::default()
            };
            if let Some(s) = input["server"].as_object() {
                options.server = Some(ServerClock {
                    origin: s["origin"].as_str().expect("origin").to_owned(),
                    estimate: estimate_from(&input["server"]),
                });
            }
            #[cfg(feature = "verify")]
            if let Some(k) = input["key"].as_object() {
                options.key = Some(KeyInput {
                    kind: if k["kind"] == "jwks" {
                        KeyFileKind::Jwks
                    } else {
                        KeyFileKind::Key
                    },
                    contents: k["contents"]
                        .as_str()
                        .expect("contents")
                        .as_bytes()
                        .to_vec(),
                    algorithms: k["alg"]
                        .as_array()
                        .expect("alg")
                        .iter()
                        .map(|a| a.as_str().expect("alg name").to_owned())
                        .collect(),
                    leeway_ms: k["leeway_ms"].as_i64(),
                    issuer: k["iss"].as_str().map(str::to_owned),
                    audience: k["aud"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| a.as_str().expect("aud").to_owned())
                        .collect(),
                });
            }
            inspect(
                input["token"].as_str().expect("token"),
                UnixMillis(input["now_ms"].as_i64().expect("now_ms")),
                &options,
            )
        }
        "skew" => {
            let origins: Vec<SkewOrigin> = input["origins"]
                .as_array()
                .expect("origins")
                .iter()
                .map(origin_from)
                .collect();
            skew(
                &origins,
                input["max_offset_ms"].as_i64().expect("max_offset_ms"),
                color,
            )
        }
        "ages" => {
            let collector = AgesCollector::new(input["time_field"].as_str());
            let mut collector = match collector {
                Ok(c) => c,
                Err(e) => return argument_error(Some("ages"), &e),
            };
            let now = UnixMillis(input["now_ms"].as_i64().expect("now_ms"));
            for line in input["lines"].as_array().expect("lines") {
                collector.feed_line(line.as_str().expect("line"), now);
            }
            if input["prometheus"].as_bool().unwrap_or(false) {
                collector.render_prometheus()
            } else {
                collector.render(color)
            }
        }
        #[cfg(feature = "sim")]
        "simulate" => {
            let mut cell = tokenclock::sim::Cell::default();
            for pair in input["args"].as_array().expect("args") {
                let flag = pair[0].as_str().expect("flag");
                let value = pair[1].as_str().expect("value");
                if let Err(e) = parse_cell_arg(&mut cell, flag, value) {
                    return argument_error(Some("simulate"), &e);
                }
            }
            simulate(&cell, input["timeline"].as_bool().unwrap_or(false), color)
        }
        "error" => {
            let cmd = input["command"].as_str();
            match input["kind"].as_str() {
                Some("usage") => usage_error(cmd, input["message"].as_str().expect("message")),
                Some("input") => input_error(
                    cmd,
                    input["what"].as_str().expect("what"),
                    InputProblem::from_code(input["problem"].as_str().expect("problem"))
                        .expect("problem code"),
                ),
                Some("help") => help(cmd),
                other => panic!("unknown error kind {other:?}"),
            }
        }
        other => panic!("unknown command {other}"),
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("golden")
}

fn blessing() -> bool {
    std::env::var_os("TOKENCLOCK_BLESS").is_some()
}

// ------------------------------------------------------------------------------------------
// Golden case definitions (inputs; the expected outputs live in the files)
// ------------------------------------------------------------------------------------------

struct Def {
    id: &'static str,
    comment: &'static str,
    command: &'static str,
    features: &'static [&'static str],
    argv: Option<Vec<String>>,
    input: Value,
}

fn argv(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| (*s).to_owned()).collect())
}

fn basic_token() -> String {
    fake(
        r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
        r#"{"iss":"https://issuer.example","sub":"client-42","aud":"api","iat":1700000000,"nbf":1700000000,"exp":1700000300,"scope":"read write","jti":"abc-123"}"#,
    )
}

fn inspect_input(token: &str, now_ms: i64, server: Value, key: Value, color: bool) -> Value {
    json!({"token": token, "now_ms": now_ms, "server": server, "key": key, "color": color})
}

fn server_json(
    offset: i64,
    low: Option<i64>,
    high: Option<i64>,
    agreeing: u32,
    samples: u32,
) -> Value {
    json!({"origin": "https://api.example", "offset_ms": offset, "low_ms": low, "high_ms": high, "agreeing": agreeing, "samples": samples})
}

fn inspect_defs() -> Vec<Def> {
    let basic = basic_token();
    let none_token = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(br#"{"sub":"nobody","iat":1700000050,"nbf":1700000049}"#)
    );
    let short = fake(
        r#"{"alg":"ES256"}"#,
        r#"{"iat":1700000000,"exp":1700000030.5}"#,
    );
    let long = fake(
        r#"{"alg":"RS256"}"#,
        r#"{"aud":["api","admin"],"nbf":1700000000,"exp":1700172800}"#,
    );
    let evil_claims = json!({
        "sub": "\u{1b}[31mred\u{1b}[0m",
        "name": "abc\u{202e}cba",
        "blob": "x".repeat(250),
        "list": (0..60).collect::<Vec<i32>>(),
        "iat": 1_700_000_000,
        "exp": 1_700_000_300,
    })
    .to_string();
    let evil = fake(
        r#"{"alg":"HS256","kid":"k\u001b]0;pwned\u0007"}"#,
        &evil_claims,
    );
    let hs_claims =
        r#"{"iss":"https://issuer.example","sub":"svc","iat":1700000000,"exp":1700000600}"#;
    let hs = hs256(SECRET.as_bytes(), hs_claims);
    let mut hs_bad = hs.clone();
    hs_bad.pop();
    hs_bad.push(if hs.ends_with('A') { 'B' } else { 'A' });
    let hs_old = hs256(
        SECRET.as_bytes(),
        r#"{"sub":"svc","iat":1699990000,"exp":1699990600}"#,
    );
    let key = |alg: &[&str]| json!({"kind": "key", "contents": SECRET, "alg": alg, "leeway_ms": null, "iss": null, "aud": []});
    vec![
        Def {
            id: "cli-inspect-basic",
            comment: "a fresh RS256 token, unverified, on this machine's clock",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", &basic]),
            input: inspect_input(&basic, T0 + 48_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-stdin-bearer",
            comment: "the token on stdin with a Bearer prefix and a newline: same report",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", "-"]),
            input: inspect_input(&format!("Bearer {basic}\n"), T0 + 48_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-server",
            comment: "--server measured the resource server 1.25 s ahead (±40 ms): times on both clocks",
            command: "inspect",
            features: &[],
            argv: None,
            input: inspect_input(&basic, T0 + 48_000, server_json(1_250, Some(1_210), Some(1_290), 5, 5), Value::Null, false),
        },
        Def {
            id: "cli-inspect-expired",
            comment: "48 s past exp: state expired, exit 1",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", &basic]),
            input: inspect_input(&basic, T0 + 348_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-worst-case-expired",
            comment: "exp is 300 ms away on the server's best-estimate clock but may already have passed in the worst case",
            command: "inspect",
            features: &[],
            argv: None,
            input: inspect_input(&basic, T0 + 299_700 - 1_000, server_json(1_000, Some(400), Some(1_600), 3, 4), Value::Null, false),
        },
        Def {
            id: "cli-inspect-warnings",
            comment: "alg none, no exp, iat 2 s and nbf 1 s in the future: warnings, state not_yet_valid (exit 0)",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", &none_token]),
            input: inspect_input(&none_token, T0 + 48_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-short-lifetime",
            comment: "a 30.5 s lifetime and a fractional exp (shown with milliseconds)",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", &short]),
            input: inspect_input(&short, T0 + 10_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-long-lifetime",
            comment: "a two-day lifetime from nbf (no iat), aud as an array",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", &long]),
            input: inspect_input(&long, T0 + 3_600_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-untrusted-text",
            comment: "escape sequences and a bidi override in claims and kid are escaped; long values are capped",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", &evil]),
            input: inspect_input(&evil, T0 + 1_000, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-color",
            comment: "the basic token with colour (a TTY, NO_COLOR unset); JSON is never coloured",
            command: "inspect",
            features: &[],
            argv: None,
            input: inspect_input(&basic, T0 + 348_000, Value::Null, Value::Null, true),
        },
        Def {
            id: "cli-inspect-malformed",
            comment: "not a JWT: exit 2, the message never echoes the input",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", "hunter2"]),
            input: inspect_input("hunter2", T0, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-encrypted",
            comment: "a five-segment JWE cannot be read",
            command: "inspect",
            features: &[],
            argv: argv(&["inspect", "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn"]),
            input: inspect_input("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn", T0, Value::Null, Value::Null, false),
        },
        Def {
            id: "cli-inspect-verify-valid",
            comment: "--key with an HMAC secret, --alg HS256: verified",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs, "--key", "{key_file}", "--alg", "HS256"]),
            input: inspect_input(&hs, T0 + 60_000, Value::Null, key(&["HS256"]), false),
        },
        Def {
            id: "cli-inspect-verify-bad-signature",
            comment: "one signature character changed: invalid_signature, exit 1 (the state alone is fresh)",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs_bad, "--key", "{key_file}", "--alg", "HS256"]),
            input: inspect_input(&hs_bad, T0 + 60_000, Value::Null, key(&["HS256"]), false),
        },
        Def {
            id: "cli-inspect-verify-expired",
            comment: "a validly signed token 2h46m past exp: both the state and the verifier say expired",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs_old, "--key", "{key_file}", "--alg", "HS256,RS256"]),
            input: inspect_input(&hs_old, T0, Value::Null, key(&["HS256", "RS256"]), false),
        },
        Def {
            id: "cli-inspect-verify-skew",
            comment: "iat 8 s in the future with a 5 s leeway: issued_in_future, likely clock skew",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs, "--key", "{key_file}", "--alg", "HS256"]),
            input: inspect_input(&hs, T0 - 8_000, Value::Null, key(&["HS256"]), false),
        },
        Def {
            id: "cli-inspect-verify-no-alg",
            comment: "--key without --alg: usage error, exit 2",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs, "--key", "{key_file}"]),
            input: inspect_input(&hs, T0, Value::Null, key(&[]), false),
        },
        Def {
            id: "cli-inspect-verify-alg-none",
            comment: "--alg none is refused: exit 2",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs, "--key", "{key_file}", "--alg", "none"]),
            input: inspect_input(&hs, T0, Value::Null, key(&["none"]), false),
        },
        Def {
            id: "cli-inspect-verify-short-secret",
            comment: "an HMAC secret under 32 bytes is refused by the verifier: invalid_key, exit 2",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs, "--key", "{key_file}", "--alg", "HS256"]),
            input: inspect_input(
                &hs,
                T0,
                Value::Null,
                json!({"kind": "key", "contents": "short", "alg": ["HS256"], "leeway_ms": null, "iss": null, "aud": []}),
                false,
            ),
        },
        Def {
            id: "cli-inspect-verify-wrong-issuer",
            comment: "--iss that does not match: invalid_issuer, exit 1",
            command: "inspect",
            features: &["verify"],
            argv: argv(&["inspect", &hs, "--key", "{key_file}", "--alg", "HS256", "--iss", "https://other.example", "--leeway", "2"]),
            input: inspect_input(
                &hs,
                T0 + 60_000,
                Value::Null,
                json!({"kind": "key", "contents": SECRET, "alg": ["HS256"], "leeway_ms": 2000, "iss": "https://other.example", "aud": []}),
                false,
            ),
        },
    ]
}

fn skew_origin(
    name: &str,
    source: &str,
    e: Estimate,
    rtt: Option<i64>,
    discarded: u32,
    error: Option<(&str, &str)>,
) -> Value {
    json!({
        "name": name, "source": source, "offset_ms": e.offset_ms, "low_ms": e.low_ms, "high_ms": e.high_ms,
        "agreeing": e.agreeing, "samples": e.samples, "rtt_ms": rtt, "discarded": discarded,
        "error": error.map(|(c, m)| json!({"code": c, "message": m})),
    })
}

fn skew_defs() -> Vec<Def> {
    let a = skew_origin(
        "https://a.example",
        "date",
        est(120, Some(80), Some(160), 6, 6),
        Some(42),
        0,
        None,
    );
    let ntp = skew_origin(
        "ntp:pool.ntp.org:123",
        "sntp",
        est(-3, Some(-10), Some(4), 1, 1),
        Some(14),
        0,
        None,
    );
    let b = skew_origin(
        "https://b.example",
        "date",
        est(95, Some(60), Some(130), 5, 5),
        Some(38),
        0,
        None,
    );
    let slow = skew_origin(
        "https://slow.example",
        "date",
        est(900, Some(400), Some(1_400), 1, 1),
        Some(300),
        1,
        Some(("timeout", "no response within the timeout")),
    );
    let far = skew_origin(
        "https://far.example",
        "date",
        est(5_000, Some(4_550), Some(5_450), 3, 3),
        Some(90),
        0,
        None,
    );
    let half = skew_origin(
        "https://half.example",
        "date",
        est(200, Some(-300), None, 1, 1),
        None,
        0,
        None,
    );
    let down = skew_origin(
        "https://down.example",
        "date",
        Estimate::UNKNOWN,
        None,
        0,
        Some(("dns_error", "the host name could not be resolved")),
    );
    let input = |origins: Vec<Value>, max: i64, color: bool| json!({"origins": origins, "max_offset_ms": max, "color": color});
    vec![
        Def {
            id: "cli-skew-ok",
            comment: "two HTTP origins that agree, both well within 1 s",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![a.clone(), b.clone()], 1_000, false),
        },
        Def {
            id: "cli-skew-may-exceed",
            comment: "one origin's interval reaches past +1 s after a timeout; SNTP and HTTP origins disagree",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![a.clone(), ntp.clone(), slow.clone()], 1_000, false),
        },
        Def {
            id: "cli-skew-beyond",
            comment: "a server 5 s ahead: beyond the limit, exit 1",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![a.clone(), far.clone()], 1_000, false),
        },
        Def {
            id: "cli-skew-custom-limit",
            comment: "the same with --max-offset 10: fine, but the two still disagree",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![a.clone(), far.clone()], 10_000, false),
        },
        Def {
            id: "cli-skew-unbounded",
            comment: "an estimate with no upper bound may exceed any limit",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![half], 1_000, false),
        },
        Def {
            id: "cli-skew-unmeasured",
            comment: "an origin that could not be measured at all: exit 2, the others still reported",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![a.clone(), down], 1_000, false),
        },
        Def {
            id: "cli-skew-color",
            comment: "colour on a TTY",
            command: "skew",
            features: &[],
            argv: None,
            input: input(vec![a, ntp, slow, far], 1_000, true),
        },
        Def {
            id: "cli-skew-no-origins",
            comment: "no URL and no --ntp: usage error",
            command: "skew",
            features: &[],
            argv: argv(&["skew"]),
            input: input(vec![], 1_000, false),
        },
    ]
}

/// Log lines with tokens whose ages (seconds) are given.
fn age_lines(now_ms: i64, ages_s: &[i64]) -> Vec<String> {
    ages_s
        .iter()
        .enumerate()
        .map(|(i, age)| {
            let iat = now_ms / 1000 - age;
            let t = fake(
                r#"{"alg":"HS256"}"#,
                &format!(r#"{{"sub":"u{i}","iat":{iat},"exp":{}}}"#, iat + 300),
            );
            format!(
                "2023-11-14 22:13:{:02} INFO GET /api/items auth=\"Bearer {t}\" status=200",
                i % 60
            )
        })
        .collect()
}

fn ages_defs() -> Vec<Def> {
    let now = T0;
    let consistent: Vec<i64> = (0..60)
        .map(|i| (i * 37) % 290 + if i % 9 == 0 { 1 } else { 0 })
        .collect();
    let mut lines = age_lines(now, &consistent);
    lines.push("a line without a token".to_owned());
    lines.push(format!(
        "broken {}",
        fake(r#"{"alg":"HS256"}"#, r#"{"sub":"no-iat"}"#)
    ));
    lines.push(format!("garbled eyJhbGciOi.{}.sig", b64(b"{\"iat\":1}")));
    let behind: Vec<i64> = (0..55)
        .map(|i| if i < 6 { -5 - i } else { i * 3 })
        .collect();
    let few: Vec<i64> = vec![12, 30, -1];
    let json_lines: Vec<String> = vec![
        (1_699_999_990, "2023-11-14T22:13:30Z"),
        (1_699_999_999, "2023-11-14T23:13:21.250+01:00"),
        (1_700_000_000, "2023-11-14T22:13:19.500Z"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (iat, ts))| {
        let t = fake(r#"{"alg":"HS256"}"#, &format!(r#"{{"jti":"{i}","iat":{iat}}}"#));
        json!({"level": "info", "req": {"time": ts}, "msg": format!("auth Bearer {t}")}).to_string()
    })
    .chain([json!({"level": "info", "msg": format!("no time here {}", fake(r#"{"alg":"HS256"}"#, r#"{"iat":1700000000}"#))}).to_string()])
    .collect();
    let logfmt: Vec<String> = [
        (1_699_999_995, "ts=1700000000.250"),
        (1_699_999_990, "ts=\"2023-11-14T22:13:21Z\""),
        (1_699_999_990, "ts=yesterday"),
    ]
    .into_iter()
    .map(|(iat, ts)| {
        format!(
            "{ts} level=info token={}",
            fake(r#"{"alg":"HS256"}"#, &format!(r#"{{"iat":{iat}}}"#))
        )
    })
    .collect();
    let columns: Vec<String> = [
        (1_699_999_990, "1700000000123"),
        (1_699_999_999, "1700000001"),
    ]
    .into_iter()
    .map(|(iat, ts)| {
        format!(
            "host-1 {ts} {}",
            fake(r#"{"alg":"HS256"}"#, &format!(r#"{{"iat":{iat}}}"#))
        )
    })
    .collect();
    let input = |lines: &[String], field: Option<&str>, prometheus: bool, color: bool| json!({"lines": lines, "now_ms": now, "time_field": field, "prometheus": prometheus, "color": color});
    vec![
        Def {
            id: "cli-ages-consistent",
            comment: "60 tokens 0 to 290 s old, plus a line without a token, one without iat and one unreadable",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-"]),
            input: input(&lines, None, false, false),
        },
        Def {
            id: "cli-ages-behind",
            comment: "6 of 55 tokens stamped 5 to 10 s in this clock's future: behind, exit 1",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-"]),
            input: input(&age_lines(now, &behind), None, false, false),
        },
        Def {
            id: "cli-ages-color",
            comment: "the same in colour",
            command: "ages",
            features: &[],
            argv: None,
            input: input(&age_lines(now, &behind), None, false, true),
        },
        Def {
            id: "cli-ages-insufficient",
            comment: "three tokens: no verdict, exit 0",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-"]),
            input: input(&age_lines(now, &few), None, false, false),
        },
        Def {
            id: "cli-ages-empty",
            comment: "empty input",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-"]),
            input: input(&[], None, false, false),
        },
        Def {
            id: "cli-ages-time-field-json",
            comment: "JSON lines with --time-field req.time: received − iat; RFC 3339 with offsets and fractions; a line without the field is skipped",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-", "--time-field", "req.time"]),
            input: input(&json_lines, Some("req.time"), false, false),
        },
        Def {
            id: "cli-ages-time-field-logfmt",
            comment: "logfmt key ts: Unix seconds with a fraction, a quoted RFC 3339 time, and an unparseable one",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-", "--time-field", "ts"]),
            input: input(&logfmt, Some("ts"), false, false),
        },
        Def {
            id: "cli-ages-time-field-column",
            comment: "column 2: Unix milliseconds and Unix seconds",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-", "--time-field", "2"]),
            input: input(&columns, Some("2"), false, false),
        },
        Def {
            id: "cli-ages-prometheus",
            comment: "--prometheus: the exposition text (seconds, cumulative buckets)",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-", "--prometheus"]),
            input: input(&age_lines(now, &few), None, true, false),
        },
        Def {
            id: "cli-ages-bad-time-field",
            comment: "--time-field 0 is not a column: usage error",
            command: "ages",
            features: &[],
            argv: argv(&["ages", "-", "--time-field", "0"]),
            input: input(&[], Some("0"), false, false),
        },
    ]
}

fn sim_def(
    id: &'static str,
    comment: &'static str,
    args: &[(&str, &str)],
    timeline: bool,
    color: bool,
    replay: bool,
) -> Def {
    let mut av = vec!["simulate".to_owned()];
    for (f, v) in args {
        av.push((*f).to_owned());
        av.push((*v).to_owned());
    }
    if timeline {
        av.push("--timeline".to_owned());
    }
    Def {
        id,
        comment,
        command: "simulate",
        features: &["sim"],
        argv: replay.then_some(av),
        input: json!({"args": args.iter().map(|(f, v)| json!([f, v])).collect::<Vec<Value>>(), "timeline": timeline, "color": color}),
    }
}

fn simulate_defs() -> Vec<Def> {
    vec![
        sim_def(
            "cli-simulate-skewed-client",
            "client 30 s behind, resource server 2 s ahead, 60 s tokens, 6 minutes",
            &[("--client-offset", "-30"), ("--rs-offset", "2"), ("--ttl", "60"), ("--hours", "0.1")],
            false,
            false,
            true,
        ),
        sim_def(
            "cli-simulate-timeline",
            "a +120 s wall step half-way through the first token, with tokenclock's event log",
            &[("--ttl", "60"), ("--step", "120"), ("--hours", "0.05"), ("--seed", "7")],
            true,
            false,
            true,
        ),
        sim_def(
            "cli-simulate-cached-issuer",
            "an issuer that hands out cached tokens (first one 30 s old), resource server 5 s behind with no leeway",
            &[("--ttl", "60"), ("--cached-age", "30"), ("--rs-offset", "-5"), ("--hours", "0.1"), ("--seed", "3")],
            false,
            true,
            false,
        ),
        sim_def("cli-simulate-bad-ttl", "--ttl 1 is out of range: exit 2", &[("--ttl", "1")], false, false, true),
        sim_def("cli-simulate-bad-number", "--hours 1e3 is not a plain decimal: exit 2", &[("--hours", "1e3")], false, false, true),
    ]
}

fn error_defs() -> Vec<Def> {
    let t = basic_token();
    vec![
        Def {
            id: "cli-error-usage-redacts-token",
            comment: "a usage message that would echo a token shows <token> instead",
            command: "error",
            features: &[],
            argv: None,
            input: json!({"kind": "usage", "command": "inspect", "message": format!("unexpected extra argument '{t}'")}),
        },
        Def {
            id: "cli-error-usage-no-command",
            comment: "an unknown command",
            command: "error",
            features: &[],
            argv: argv(&["frobnicate"]),
            input: json!({"kind": "usage", "command": null, "message": "unknown command 'frobnicate' (commands: inspect, skew, ages, simulate)"}),
        },
        Def {
            id: "cli-error-input-not-found",
            comment: "ages FILE where FILE does not exist",
            command: "error",
            features: &[],
            argv: argv(&["ages", "/nonexistent/tokenclock.log"]),
            input: json!({"kind": "input", "command": "ages", "what": "/nonexistent/tokenclock.log", "problem": "not_found"}),
        },
        Def {
            id: "cli-error-help",
            comment: "tokenclock --help",
            command: "error",
            features: &[],
            argv: argv(&["--help"]),
            input: json!({"kind": "help", "command": null}),
        },
        Def {
            id: "cli-error-help-skew",
            comment: "tokenclock skew --help",
            command: "error",
            features: &[],
            argv: argv(&["skew", "--help"]),
            input: json!({"kind": "help", "command": "skew"}),
        },
    ]
}

fn golden_files() -> Vec<(&'static str, &'static str, &'static str, Vec<Def>)> {
    vec![
        (
            "inspect.json",
            "cli-inspect",
            "tokenclock inspect: rendered text and JSON for fixed tokens and clocks",
            inspect_defs(),
        ),
        (
            "skew.json",
            "cli-skew",
            "tokenclock skew: rendered reports for fixed origin estimates",
            skew_defs(),
        ),
        (
            "ages.json",
            "cli-ages",
            "tokenclock ages: rendered reports for fixed log lines and clock",
            ages_defs(),
        ),
        (
            "simulate.json",
            "cli-simulate",
            "tokenclock simulate: one gauntlet cell per case",
            simulate_defs(),
        ),
        (
            "errors.json",
            "cli-errors",
            "usage errors, unreadable input, help",
            error_defs(),
        ),
    ]
}

fn rendered_fields(r: &Rendered) -> (String, Value, i64, &'static str) {
    let stream = match r.stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    (
        r.text.clone(),
        r.json.clone(),
        i64::from(r.exit_code),
        stream,
    )
}

#[test]
fn golden_files_match() {
    let mut total = 0;
    let mut checked = 0;
    let mut ids = std::collections::BTreeSet::new();
    for (file, suite, description, defs) in golden_files() {
        let path = golden_dir().join(file);
        if blessing() {
            let all_features = cfg!(feature = "verify") && cfg!(feature = "sim");
            assert!(all_features, "bless with --all-features");
            let cases: Vec<Value> = defs
                .iter()
                .map(|d| {
                    let r = render(d.command, &d.input);
                    let (text, json_value, exit_code, stream) = rendered_fields(&r);
                    let mut case = json!({
                        "id": d.id, "comment": d.comment, "command": d.command, "features": d.features,
                        "input": d.input, "expected_text": text, "expected_json": json_value,
                        "exit_code": exit_code, "stream": stream,
                    });
                    if let Some(a) = &d.argv {
                        case["argv"] = json!(a);
                    }
                    case
                })
                .collect();
            let doc = json!({"suite": suite, "description": description, "cases": cases});
            std::fs::create_dir_all(golden_dir()).expect("mkdir");
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&doc).expect("json") + "\n",
            )
            .expect("write");
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text).expect("golden JSON");
        let cases = doc["cases"].as_array().expect("cases");
        assert_eq!(
            cases.len(),
            defs.len(),
            "{file}: case count differs from the definitions (bless?)"
        );
        for (case, def) in cases.iter().zip(&defs) {
            let id = case["id"].as_str().expect("id");
            assert!(ids.insert(id.to_owned()), "duplicate id {id}");
            assert_eq!(id, def.id, "{file}: case order");
            assert_eq!(
                case["input"], def.input,
                "{id}: input differs from the definition (bless?)"
            );
            total += 1;
            if !features_enabled(case) {
                continue;
            }
            checked += 1;
            let r = render(case["command"].as_str().expect("command"), &case["input"]);
            let (text, json_value, exit_code, stream) = rendered_fields(&r);
            assert_eq!(
                text,
                case["expected_text"].as_str().expect("expected_text"),
                "{id}: text"
            );
            assert_eq!(json_value, case["expected_json"], "{id}: json");
            assert_eq!(
                exit_code,
                case["exit_code"].as_i64().expect("exit_code"),
                "{id}: exit code"
            );
            assert_eq!(
                stream,
                case["stream"].as_str().expect("stream"),
                "{id}: stream"
            );
            assert_eq!(
                json_value["exit_code"], case["exit_code"],
                "{id}: exit code in the JSON"
            );
            // What a front-end prints for --json.
            let mut printed = String::new();
            printed.push_str(&r.json_text());
            assert!(printed.ends_with("}\n"), "{id}");
            let reparsed: Value = serde_json::from_str(&printed).expect("json_text parses");
            assert_eq!(reparsed, case["expected_json"], "{id}: json_text");
            // Never the token, never its signature.
            if let Some(token) = case["input"]["token"].as_str() {
                let bare = token.trim().trim_start_matches("Bearer ").trim();
                if bare.matches('.').count() == 2 && bare.len() > 20 {
                    let sig = bare.rsplit('.').next().unwrap_or_default();
                    assert!(
                        !text.contains(bare) && !printed.contains(bare),
                        "{id}: token echoed"
                    );
                    if sig.len() > 4 {
                        assert!(
                            !text.contains(sig) && !printed.contains(sig),
                            "{id}: signature echoed"
                        );
                    }
                }
            }
        }
    }
    assert!(total >= 45, "too few golden cases: {total}");
    if cfg!(all(feature = "verify", feature = "sim")) {
        assert_eq!(checked, total);
    }
}

// ------------------------------------------------------------------------------------------
// Probe transcripts
// ------------------------------------------------------------------------------------------

fn action_json(a: ProbeAction) -> Value {
    match a {
        ProbeAction::Send {
            wait_ms,
            send_at,
            timeout_ms,
        } => {
            json!({"action": "send", "wait_ms": wait_ms, "send_at": reading_json(send_at), "timeout_ms": timeout_ms})
        }
        ProbeAction::Done => json!({"action": "done"}),
        _ => json!({"action": "unknown"}),
    }
}

/// NTP 32.32 timestamp of Unix milliseconds.
fn ntp_timestamp(ms: i64) -> u64 {
    let secs = (ms.div_euclid(1000) + 2_208_988_800) as u64;
    let frac = ((ms.rem_euclid(1000) as u128) << 32) / 1000;
    (secs << 32) | frac as u64
}

fn sntp_reply(request: &[u8; 48], t2_ms: i64, t3_ms: i64, stratum: u8) -> [u8; 48] {
    let mut r = [0u8; 48];
    r[0] = (4 << 3) | 4;
    r[1] = stratum;
    r[24..32].copy_from_slice(&request[40..48]);
    r[32..40].copy_from_slice(&ntp_timestamp(t2_ms).to_be_bytes());
    r[40..48].copy_from_slice(&ntp_timestamp(t3_ms).to_be_bytes());
    if stratum == 0 {
        r[12..16].copy_from_slice(b"RATE");
    }
    r
}

/// A simulated HTTP server `offset_ms` ahead, with one-way latencies from `legs`.
fn date_transcript(
    samples: Option<u32>,
    offset_ms: i64,
    legs: &[(i64, i64)],
    extra: &dyn Fn(usize) -> Option<Value>,
) -> Value {
    let mut probe =
        SkewProbe::new("https://api.example", OriginSource::Date, samples).expect("probe");
    let mut now = reading(T0 + 123, 5_000_000);
    let mut events = Vec::new();
    let mut n = 0usize;
    loop {
        let action = probe.poll(now);
        events.push(json!({"poll": reading_json(now), "expect": action_json(action)}));
        let ProbeAction::Send { wait_ms, .. } = action else {
            break;
        };
        now = now.advanced(wait_ms);
        let sent = now;
        let (up, down) = legs[n % legs.len()];
        if let Some(ev) = extra(n) {
            if ev["error"].is_string() {
                probe.on_error(ev["error"].as_str().expect("code"));
                now = now.advanced(up + down);
                events.push(ev);
                n += 1;
                continue;
            }
        }
        let server_ms = sent.wall.as_millis() + up + offset_ms;
        let received = now.advanced(up + down);
        let age = extra(n).and_then(|e| e["age"].as_str().map(str::to_owned));
        let date = format_http_date(UnixMillis(server_ms));
        probe.on_date_response(Some(&date), age.as_deref(), sent, received);
        events.push(json!({"date_response": {"date": date, "age": age, "sent": reading_json(sent), "received": reading_json(received)}}));
        now = received.advanced(1);
        n += 1;
    }
    events.push(json!({"origin_at": reading_json(now), "expect": origin_json(&probe.origin(now))}));
    json!({"name": "https://api.example", "source": "date", "samples": samples, "events": events})
}

fn sntp_transcript(samples: Option<u32>, offset_ms: i64, stratum: u8) -> Value {
    let name = "ntp:time.example:123";
    let mut probe = SkewProbe::new(name, OriginSource::Sntp, samples).expect("probe");
    let mut now = reading(T0 + 777, 9_000_000);
    let mut events = Vec::new();
    let mut entropy = 0x1234_5678u32;
    loop {
        let action = probe.poll(now);
        events.push(json!({"poll": reading_json(now), "expect": action_json(action)}));
        let ProbeAction::Send { wait_ms, .. } = action else {
            break;
        };
        now = now.advanced(wait_ms);
        let packet = probe.sntp_request(now, entropy);
        events.push(json!({"sntp_request": {"now": reading_json(now), "entropy": entropy}, "expect_packet_hex": hex(&packet)}));
        let t2 = now.wall.as_millis() + 11 + offset_ms;
        let reply = sntp_reply(&packet, t2, t2 + 1, stratum);
        let received = now.advanced(23);
        probe.on_sntp_reply(&reply, received);
        events
            .push(json!({"sntp_reply": {"hex": hex(&reply), "received": reading_json(received)}}));
        now = received;
        entropy = entropy.wrapping_mul(2_654_435_761);
    }
    events.push(json!({"origin_at": reading_json(now), "expect": origin_json(&probe.origin(now))}));
    json!({"name": name, "source": "sntp", "samples": samples, "events": events})
}

fn probe_defs() -> Vec<(&'static str, &'static str, Value)> {
    let none = |_: usize| None;
    vec![
        (
            "cli-probe-date-default",
            "8 Date samples against a server 347 ms ahead, 20-35 ms legs: each probe aimed at the server's second boundary",
            date_transcript(None, 347, &[(20, 20), (35, 25), (22, 30)], &none),
        ),
        (
            "cli-probe-date-target-width",
            "a fast, symmetric path: the interval reaches 20 ms before 16 samples are used",
            date_transcript(Some(16), -1_234, &[(2, 2), (3, 2)], &none),
        ),
        (
            "cli-probe-date-cached",
            "the second response has Age: 12 (from a cache): discarded, the probe carries on",
            date_transcript(Some(4), 500, &[(10, 10)], &|n| (n == 1).then(|| json!({"age": "12"}))),
        ),
        (
            "cli-probe-date-timeout",
            "the third exchange times out: the measurement stops with what it has",
            date_transcript(None, 0, &[(15, 15)], &|n| (n == 2).then(|| json!({"error": "timeout"}))),
        ),
        (
            "cli-probe-date-first-fails",
            "the first exchange fails (an unknown code becomes io_error): unmeasured",
            date_transcript(None, 0, &[(15, 15)], &|n| (n == 0).then(|| json!({"error": "ECONNRESET"}))),
        ),
        ("cli-probe-sntp-default", "one SNTP exchange, server 2.5 s behind", sntp_transcript(None, -2_500, 2)),
        ("cli-probe-sntp-three", "--samples 3: 15 s apart (RFC 4330 §10)", sntp_transcript(Some(3), 40, 1)),
        ("cli-probe-sntp-kiss", "a RATE kiss-o'-death ends the measurement", sntp_transcript(Some(2), 0, 0)),
        ("cli-probe-date-missing-header", "a response without a Date header", {
            let mut probe = SkewProbe::new("https://nodate.example", OriginSource::Date, None).expect("probe");
            let now = reading(T0, 1_000);
            let a = probe.poll(now);
            let received = now.advanced(30);
            probe.on_date_response(None, None, now, received);
            let b = probe.poll(received);
            json!({"name": "https://nodate.example", "source": "date", "samples": null, "events": [
                {"poll": reading_json(now), "expect": action_json(a)},
                {"date_response": {"date": null, "age": null, "sent": reading_json(now), "received": reading_json(received)}},
                {"poll": reading_json(received), "expect": action_json(b)},
                {"origin_at": reading_json(received), "expect": origin_json(&probe.origin(received))},
            ]})
        }),
    ]
}

fn replay_probe(input: &Value) -> Result<usize, String> {
    let samples = input["samples"].as_u64().map(|n| n as u32);
    let source =
        OriginSource::from_name(input["source"].as_str().ok_or("source")?).ok_or("source name")?;
    let mut probe = SkewProbe::new(input["name"].as_str().ok_or("name")?, source, samples)
        .map_err(|e| e.to_string())?;
    let mut sends = 0;
    for (i, ev) in input["events"]
        .as_array()
        .ok_or("events")?
        .iter()
        .enumerate()
    {
        if let Some(r) = ev.get("poll") {
            let got = action_json(probe.poll(reading_from(r)));
            if got["action"] == "send" {
                sends += 1;
            }
            if got != ev["expect"] {
                return Err(format!(
                    "event {i}: poll gave {got}, expected {}",
                    ev["expect"]
                ));
            }
        } else if let Some(d) = ev.get("date_response") {
            probe.on_date_response(
                d["date"].as_str(),
                d["age"].as_str(),
                reading_from(&d["sent"]),
                reading_from(&d["received"]),
            );
        } else if let Some(s) = ev.get("sntp_request") {
            let packet = probe.sntp_request(
                reading_from(&s["now"]),
                s["entropy"].as_u64().ok_or("entropy")? as u32,
            );
            if hex(&packet) != ev["expect_packet_hex"].as_str().ok_or("packet")? {
                return Err(format!("event {i}: packet {}", hex(&packet)));
            }
        } else if let Some(s) = ev.get("sntp_reply") {
            probe.on_sntp_reply(
                &unhex(s["hex"].as_str().ok_or("hex")?),
                reading_from(&s["received"]),
            );
        } else if let Some(code) = ev.get("error") {
            probe.on_error(code.as_str().ok_or("code")?);
        } else if let Some(r) = ev.get("origin_at") {
            let got = origin_json(&probe.origin(reading_from(r)));
            if got != ev["expect"] {
                return Err(format!(
                    "event {i}: origin {got}, expected {}",
                    ev["expect"]
                ));
            }
        } else {
            return Err(format!("event {i}: unknown event {ev}"));
        }
    }
    Ok(sends)
}

#[test]
fn probe_transcripts_match() {
    let path = golden_dir().join("skew-probe.json");
    let defs = probe_defs();
    if blessing() {
        let cases: Vec<Value> = defs
            .iter()
            .map(|(id, comment, input)| json!({"id": id, "comment": comment, "input": input}))
            .collect();
        let doc = json!({"suite": "cli-skew-probe", "description": "SkewProbe transcripts: when each request is sent, and the result", "cases": cases});
        std::fs::create_dir_all(golden_dir()).expect("mkdir");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&doc).expect("json") + "\n",
        )
        .expect("write");
    }
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("skew-probe.json"))
            .expect("json");
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), defs.len());
    for (case, (id, _, input)) in cases.iter().zip(&defs) {
        assert_eq!(case["id"], *id);
        assert_eq!(
            &case["input"], input,
            "{id}: transcript differs from a fresh run (bless?)"
        );
        replay_probe(&case["input"]).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
}

// ------------------------------------------------------------------------------------------
// Hand-checked goldens and behaviour
// ------------------------------------------------------------------------------------------

#[test]
fn durations_and_instants() {
    let cases = [
        (0, "0 ms"),
        (999, "999 ms"),
        (1_000, "1.0 s"),
        (3_299, "3.2 s"),
        (59_999, "59.9 s"),
        (60_000, "1m00s"),
        (252_900, "4m12s"),
        (3_599_999, "59m59s"),
        (3_600_000, "1h00m"),
        (7_500_000, "2h05m"),
        (86_399_999, "23h59m"),
        (86_400_000, "1d00h"),
        (187_200_000, "2d04h"),
        (-252_900, "4m12s"),
        (i64::MIN, "106751991167d07h"),
    ];
    for (ms, want) in cases {
        assert_eq!(human_duration(ms), want, "{ms}");
    }
    assert_eq!(human_relative(252_900), "in 4m12s");
    assert_eq!(human_relative(-252_900), "4m12s ago");
    assert_eq!(human_relative(0), "now");
    assert_eq!(human_signed(3_200), "+3.2 s");
    assert_eq!(human_signed(-250), "-250 ms");
    assert_eq!(human_signed(0), "0 ms");
    assert_eq!(signed_seconds(1_250), "+1.250 s");
    assert_eq!(signed_seconds(-40), "-0.040 s");
    assert_eq!(signed_seconds(0), "0.000 s");
    assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(iso8601_utc(T0), "2023-11-14T22:13:20Z");
    assert_eq!(iso8601_utc(T0 + 500), "2023-11-14T22:13:20.500Z");
    assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00Z");
    assert_eq!(iso8601_utc(4_107_542_400_000), "2100-03-01T00:00:00Z");
    assert_eq!(iso8601_utc(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    assert_eq!(iso8601_utc(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(iso8601_utc(253_402_300_800_000), "+10000-01-01T00:00:00Z");
}

#[test]
fn argument_parsers() {
    assert_eq!(parse_seconds_arg("--x", "1"), Ok(1_000));
    assert_eq!(parse_seconds_arg("--x", "-0.25"), Ok(-250));
    assert_eq!(parse_seconds_arg("--x", "+30"), Ok(30_000));
    assert_eq!(parse_seconds_arg("--x", "0.1"), Ok(100));
    assert_eq!(parse_seconds_arg("--x", "2.125"), Ok(2_125));
    assert_eq!(
        parse_seconds_arg("--x", "1000000000"),
        Ok(1_000_000_000_000)
    );
    for bad in [
        "",
        "-",
        "+",
        ".5",
        "5.",
        "1e3",
        "1.2345",
        " 1",
        "1 ",
        "0x10",
        "1_000",
        "NaN",
        "inf",
        "1000000000.001",
        "99999999999",
    ] {
        let e = parse_seconds_arg("--max-offset", bad).unwrap_err();
        assert_eq!(tokenclock::ErrorCode::code(&e), "invalid_argument");
        assert_eq!(
            e.to_string(),
            "--max-offset: expected a number of seconds with at most 3 decimals",
            "{bad:?}"
        );
    }
    assert_eq!(parse_count_arg("--samples", "8", 64), Ok(8));
    assert!(parse_count_arg("--samples", "65", 64).is_err());
    assert!(parse_count_arg("--samples", "-1", 64).is_err());
    assert!(parse_count_arg("--samples", "", 64).is_err());
    assert_eq!(
        parse_count_arg("--seed", "9007199254740991", (1 << 53) - 1),
        Ok((1 << 53) - 1)
    );
    assert_eq!(
        parse_host_port("pool.ntp.org", 123),
        Ok(("pool.ntp.org".to_owned(), 123))
    );
    assert_eq!(
        parse_host_port("pool.ntp.org:1123", 123),
        Ok(("pool.ntp.org".to_owned(), 1123))
    );
    assert_eq!(
        parse_host_port("[2001:db8::1]:124", 123),
        Ok(("2001:db8::1".to_owned(), 124))
    );
    assert_eq!(parse_host_port("[::1]", 123), Ok(("::1".to_owned(), 123)));
    assert_eq!(
        parse_host_port("2001:db8::1", 123),
        Ok(("2001:db8::1".to_owned(), 123))
    );
    for bad in [
        "",
        ":123",
        "host:",
        "host:0",
        "host:65536",
        "host:12a",
        "[::1]x",
        "a b",
        "[::1",
    ] {
        assert!(parse_host_port(bad, 123).is_err(), "{bad:?}");
    }
}

#[test]
fn finds_jwt_shaped_strings_only() {
    let t = basic_token();
    let unsecured = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
    let line = format!("a {t} b \"Bearer {unsecured}\" token={t}&x=1");
    assert_eq!(find_tokens(&line), vec![t.as_str(), unsecured, t.as_str()]);
    assert_eq!(find_tokens(&t), vec![t.as_str()]);
    // Glued to more base64url text or dots: not a JWT (a JWE, a longer dotted name).
    assert!(find_tokens(&format!("x{t}")).is_empty());
    assert!(find_tokens(&format!(".{t}")).is_empty());
    assert!(find_tokens(&format!("{t}.more")).is_empty());
    assert!(find_tokens("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn").is_empty());
    // Header not starting with eyJ, empty payload, two segments.
    assert!(find_tokens("abc.def.ghi").is_empty());
    assert!(find_tokens("eyJhbGciOiJub25lIn0..sig").is_empty());
    assert!(find_tokens("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0").is_empty());
    assert!(find_tokens("").is_empty());
    // Multibyte neighbours are boundaries.
    assert_eq!(find_tokens(&format!("é{t}ü")), vec![t.as_str()]);
}

#[test]
fn log_timestamps() {
    assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(T0));
    assert_eq!(parse_timestamp("2023-11-14 22:13:20.5Z"), Some(T0 + 500));
    assert_eq!(
        parse_timestamp("2023-11-14t22:13:20,123456z"),
        Some(T0 + 123)
    );
    assert_eq!(parse_timestamp("2023-11-14T23:13:20+01:00"), Some(T0));
    assert_eq!(parse_timestamp("2023-11-14T21:43:20-0030"), Some(T0));
    assert_eq!(
        parse_timestamp("2023-11-14T23:59:60Z"),
        Some(T0 + (3_600 + 46 * 60 + 39) * 1_000)
    );
    assert_eq!(parse_timestamp("1700000000"), Some(T0));
    assert_eq!(parse_timestamp("1700000000.25"), Some(T0 + 250));
    assert_eq!(parse_timestamp("1700000000123"), Some(T0 + 123));
    assert_eq!(parse_timestamp("0"), Some(0));
    for bad in [
        "",
        "yesterday",
        "2023-11-14T22:13:20",
        "2023-11-14",
        "2023-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:13:20+24:00",
        "1.2.3",
        "-5",
        "1969-12-31T23:59:59Z",
        "99999999999999999999",
        "2023-11-14T22:13:20.Z",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad:?}");
    }
    assert_eq!(TimeField::parse("3"), Ok(TimeField::Column(3)));
    assert_eq!(
        TimeField::parse("req.time"),
        Ok(TimeField::Key("req.time".to_owned()))
    );
    assert!(TimeField::parse("0").is_err());
    assert!(TimeField::parse("").is_err());
    assert!(TimeField::parse("a b").is_err());
    let f = TimeField::Key("req.time".to_owned());
    assert_eq!(
        f.timestamp(r#"{"req":{"time":"2023-11-14T22:13:20Z"}}"#),
        Some(T0)
    );
    assert_eq!(f.timestamp(r#"{"req":{"time":1700000000}}"#), Some(T0));
    assert_eq!(f.timestamp(r#"{"req":"2023-11-14T22:13:20Z"}"#), None);
    assert_eq!(f.timestamp("req.time=1700000000 x=1"), Some(T0));
    assert_eq!(
        TimeField::Column(2).timestamp("  host  1700000000  rest"),
        Some(T0)
    );
    assert_eq!(TimeField::Column(9).timestamp("host 1700000000"), None);
}

const BASIC_TEXT: &str = "\
tokenclock inspect (claims as decoded; the signature is never shown)
header
  alg  RS256
  typ  JWT
  kid  k1
claims
  iss    https://issuer.example
  sub    client-42
  aud    api
  jti    abc-123
  scope  read write
signature  9 bytes
now  2023-11-14T22:14:08Z (this clock)
times  (relative to this clock)
  iat  2023-11-14T22:13:20Z  issued 48.0 s ago
  nbf  2023-11-14T22:13:20Z  valid since 48.0 s ago
  exp  2023-11-14T22:18:20Z  expires in 4m12s
lifetime  5m00s (exp − iat)
state  fresh: usable for 4m02s more (a client stops 10.0 s before exp)
result  ok
";

#[test]
fn inspect_basic_text_and_json() {
    let r = inspect(
        &basic_token(),
        UnixMillis(T0 + 48_000),
        &InspectOptions::default(),
    );
    assert_eq!(r.text, BASIC_TEXT);
    assert_eq!((r.exit_code, r.stream), (EXIT_OK, Stream::Stdout));
    let time = |ms: i64, utc: &str, delta: i64| json!({"ms": ms, "utc": utc, "delta_ms": delta, "server_delta_ms": null, "server_delta_min_ms": null, "server_delta_max_ms": null});
    let want = json!({
        "command": "inspect",
        "schema_version": 1,
        "now_ms": T0 + 48_000,
        "now_utc": "2023-11-14T22:14:08Z",
        "header": {"alg": "RS256", "kid": "k1", "typ": "JWT"},
        "claims": {
            "iss": "https://issuer.example", "sub": "client-42", "aud": "api", "iat": 1_700_000_000,
            "nbf": 1_700_000_000, "exp": 1_700_000_300, "scope": "read write", "jti": "abc-123",
        },
        "signature_bytes": 9,
        "times": {
            "iat": time(T0, "2023-11-14T22:13:20Z", -48_000),
            "nbf": time(T0, "2023-11-14T22:13:20Z", -48_000),
            "exp": time(T0 + 300_000, "2023-11-14T22:18:20Z", 252_000),
        },
        "lifetime_ms": 300_000,
        "server": null,
        "state": {"name": "fresh", "basis": "exp", "usable_ms": 242_000, "margin_ms": 10_000, "wait_ms": null},
        "verification": null,
        "warnings": [],
        "findings": [],
        "exit_code": 0,
    });
    assert_eq!(r.json, want);
    // Same token with a Bearer prefix and surrounding whitespace (stdin): same output.
    let r2 = inspect(
        &format!("  Bearer {}\r\n", basic_token()),
        UnixMillis(T0 + 48_000),
        &InspectOptions::default(),
    );
    assert_eq!(r2, r);
}

#[test]
fn inspect_on_a_server_clock() {
    let options = InspectOptions {
        server: Some(ServerClock {
            origin: "https://api.example".to_owned(),
            estimate: est(1_250, Some(1_210), Some(1_290), 5, 5),
        }),
        ..InspectOptions::default()
    };
    let r = inspect(&basic_token(), UnixMillis(T0 + 48_000), &options);
    let tail = "\
now  2023-11-14T22:14:08Z (this clock)
server  https://api.example: offset +1.250 s (server − local), between +1.210 s and +1.290 s, 5/5 samples agree
times                        this clock              https://api.example's clock (±40 ms)
  iat  2023-11-14T22:13:20Z  issued 48.0 s ago       issued 49.2 s ago
  nbf  2023-11-14T22:13:20Z  valid since 48.0 s ago  valid since 49.2 s ago
  exp  2023-11-14T22:18:20Z  expires in 4m12s        expires in 4m10s
lifetime  5m00s (exp − iat)
state  fresh: usable for 4m00s more (a client stops 10.0 s before exp)
result  ok
";
    assert!(r.text.ends_with(tail), "{}", r.text);
    // exp − (now + offset) = 250 750; worst case (high) 250 710, best case (low) 250 790.
    assert_eq!(
        r.json["times"]["exp"],
        json!({"ms": T0 + 300_000, "utc": "2023-11-14T22:18:20Z", "delta_ms": 252_000, "server_delta_ms": 250_750, "server_delta_min_ms": 250_710, "server_delta_max_ms": 250_790})
    );
    // Worst case of the interval decides: usable until exp − high − margin.
    assert_eq!(r.json["state"]["usable_ms"], 240_710);

    // An unbounded estimate is said so.
    let options = InspectOptions {
        server: Some(ServerClock {
            origin: "s".to_owned(),
            estimate: est(0, Some(-5), None, 1, 1),
        }),
        ..InspectOptions::default()
    };
    let r = inspect(&basic_token(), UnixMillis(T0 + 48_000), &options);
    assert!(
        r.text.contains("s's clock (offset unbounded)"),
        "{}",
        r.text
    );
    assert!(r.text.contains("between -0.005 s and +inf"), "{}", r.text);

    // An estimate that cannot be: usage error.
    let options = InspectOptions {
        server: Some(ServerClock {
            origin: "s".to_owned(),
            estimate: est(0, Some(5), Some(-5), 1, 1),
        }),
        ..InspectOptions::default()
    };
    let r = inspect(&basic_token(), UnixMillis(T0), &options);
    assert_eq!((r.exit_code, r.stream), (EXIT_USAGE, Stream::Stderr));
    assert_eq!(
        r.text,
        "tokenclock inspect: error: the server clock estimate is invalid\n"
    );
}

#[test]
fn inspect_state_and_exit_codes() {
    let t = basic_token();
    let at = |now: i64| inspect(&t, UnixMillis(now), &InspectOptions::default());
    // One millisecond before exp: the margin (a tenth of what is left) rounds to 0, 1 ms is
    // usable, and the refresh is already due (stale).
    let r = at(T0 + 299_999);
    assert_eq!(
        (
            r.json["state"]["name"].as_str(),
            r.json["state"]["usable_ms"].as_i64(),
            r.exit_code
        ),
        (Some("stale"), Some(1), 0)
    );
    assert!(
        r.text
            .contains("state  stale: usable for 1 ms more (a client stops 0 ms before exp)\n"),
        "{}",
        r.text
    );
    // At exp: expired (RFC 7519: invalid at exp).
    let r = at(T0 + 300_000);
    assert_eq!(
        (r.json["state"]["name"].as_str(), r.exit_code),
        (Some("expired"), EXIT_FINDING)
    );
    assert!(
        r.text
            .contains("  exp  2023-11-14T22:18:20Z  expired just now\n"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .ends_with("state  expired: exp passed 0 ms ago on this clock\nresult  expired\n"),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["findings"],
        json!([{"code": "expired", "message": "exp passed 0 ms ago on this clock"}])
    );
    // Before nbf by more than max_wait: used as is, with a warning.
    let r = at(T0 - 10_000);
    assert_eq!(
        (r.json["state"]["name"].as_str(), r.exit_code),
        (Some("fresh"), 0)
    );
    let codes: Vec<&str> = r.json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["iat_in_future", "nbf_ahead"]);
    // iat exactly 1 s in the future is tolerated; 1.001 s is not.
    let iat_warn = |now: i64| {
        at(now).json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "iat_in_future")
    };
    assert!(!iat_warn(T0 - 1_000));
    assert!(iat_warn(T0 - 1_001));
    // No exp: the assumed lifetime.
    let no_exp = fake(r#"{"alg":"HS256"}"#, r#"{"iat":1700000000}"#);
    let r = inspect(&no_exp, UnixMillis(T0), &InspectOptions::default());
    assert!(r.text.contains("state  fresh: no exp, a client would assume a 5m00s lifetime and use it for 4m50s more\n"), "{}", r.text);
    assert_eq!(r.json["state"]["basis"], "assumed");
    assert_eq!(r.json["lifetime_ms"], Value::Null);
    // exp before iat.
    let backwards = fake(
        r#"{"alg":"HS256"}"#,
        r#"{"iat":1700000000,"exp":1699999990}"#,
    );
    let r = inspect(
        &backwards,
        UnixMillis(T0 - 20_000),
        &InspectOptions::default(),
    );
    assert!(
        r.text.contains("lifetime  -10.0 s (exp − iat)\n"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("  ! exp is not after iat: the token is never valid\n"),
        "{}",
        r.text
    );
    // Clock out of range.
    let r = inspect(&t, UnixMillis(-1), &InspectOptions::default());
    assert_eq!(
        (r.exit_code, r.text.as_str()),
        (
            EXIT_USAGE,
            "tokenclock inspect: error: the clock reading is out of range\n"
        )
    );
}

#[test]
fn inspect_never_echoes_the_token() {
    let secret_claims = r#"{"iat":1700000000,"exp":1700000300,"note":"fine"}"#;
    let t = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"HS256"}"#),
        b64(secret_claims.as_bytes()),
        b64(b"SIGNATURE-BYTES-THAT-MUST-NOT-LEAK")
    );
    let r = inspect(&t, UnixMillis(T0), &InspectOptions::default());
    let sig = t.rsplit('.').next().unwrap();
    for out in [r.text.clone(), r.json_text()] {
        assert!(!out.contains(&t) && !out.contains(sig) && !out.contains("SIGNATURE-BYTES"));
        assert!(!out.contains(&b64(secret_claims.as_bytes())));
    }
    // A malformed token is never quoted in the error either.
    let r = inspect(
        "eyJhbGciOiJIUzI1NiJ9.not_json_SECRET.c2ln",
        UnixMillis(T0),
        &InspectOptions::default(),
    );
    assert_eq!(r.text, "tokenclock inspect: error: cannot read the token: token's payload segment is not unpadded base64url\n");
    assert!(!r.json_text().contains("SECRET"));
}

#[test]
fn inspect_colour_is_only_on_request() {
    let plain = inspect(
        &basic_token(),
        UnixMillis(T0 + 348_000),
        &InspectOptions::default(),
    );
    let colour = inspect(
        &basic_token(),
        UnixMillis(T0 + 348_000),
        &InspectOptions {
            color: true,
            ..InspectOptions::default()
        },
    );
    assert!(!plain.text.contains('\u{1b}'));
    assert!(colour.text.contains("\u{1b}[1mstate\u{1b}[0m  \u{1b}[31mexpired: exp passed 48.0 s ago on this clock\u{1b}[0m\n"));
    assert!(colour
        .text
        .ends_with("\u{1b}[1mresult\u{1b}[0m  \u{1b}[31mexpired\u{1b}[0m\n"));
    assert_eq!(colour.json, plain.json);
    // Stripping the SGR sequences gives the plain text back.
    let mut stripped = String::new();
    let mut rest = colour.text.as_str();
    while let Some(i) = rest.find('\u{1b}') {
        stripped.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find('m').unwrap() + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain.text);
}

#[cfg(feature = "verify")]
#[test]
fn inspect_verifies_with_a_key() {
    let claims =
        r#"{"iss":"https://issuer.example","sub":"svc","iat":1700000000,"exp":1700000600}"#;
    let t = hs256(SECRET.as_bytes(), claims);
    let key = |alg: &[&str], contents: &str| KeyInput {
        kind: KeyFileKind::Key,
        contents: contents.as_bytes().to_vec(),
        algorithms: alg.iter().map(|a| (*a).to_owned()).collect(),
        leeway_ms: None,
        issuer: None,
        audience: Vec::new(),
    };
    let with = |k: KeyInput, now: i64| {
        inspect(
            &t,
            UnixMillis(now),
            &InspectOptions {
                key: Some(k),
                ..InspectOptions::default()
            },
        )
    };
    let r = with(key(&["HS256"], SECRET), T0 + 60_000);
    assert!(r.text.contains("\nverification  valid: HS256 signature verified; time claims pass with 5.0 s leeway\nresult  ok\n"), "{}", r.text);
    assert_eq!(
        r.json["verification"],
        json!({"valid": true, "code": null, "message": "signature and claims verified", "alg": "HS256", "kid": null,
               "algorithms": ["HS256"], "leeway_ms": 5000, "likely_clock_skew": false, "miss_ms": null})
    );
    assert_eq!(r.exit_code, EXIT_OK);
    // Wrong secret.
    let r = with(
        key(&["HS256"], "another-secret-of-at-least-32-bytes!!"),
        T0 + 60_000,
    );
    assert!(r.text.contains("\nverification  invalid_signature: token signature is invalid\nresult  invalid_signature\n"), "{}", r.text);
    assert_eq!(r.exit_code, EXIT_FINDING);
    // 8 s before iat with 5 s leeway: issued in the future, likely skew; 3 s before is fine.
    let r = with(key(&["HS256"], SECRET), T0 - 8_000);
    assert_eq!(r.json["verification"]["code"], "issued_in_future");
    assert_eq!(r.json["verification"]["miss_ms"], 8_000);
    assert_eq!(r.json["verification"]["likely_clock_skew"], true);
    assert_eq!(with(key(&["HS256"], SECRET), T0 - 3_000).exit_code, EXIT_OK);
    // Audience: not checked unless given.
    let t_aud = hs256(
        SECRET.as_bytes(),
        r#"{"aud":["api"],"iat":1700000000,"exp":1700000600}"#,
    );
    let r = inspect(
        &t_aud,
        UnixMillis(T0),
        &InspectOptions {
            key: Some(key(&["HS256"], SECRET)),
            ..InspectOptions::default()
        },
    );
    assert_eq!(r.exit_code, EXIT_OK, "{}", r.text);
    let mut k = key(&["HS256"], SECRET);
    k.audience = vec!["other".to_owned()];
    let r = inspect(
        &t_aud,
        UnixMillis(T0),
        &InspectOptions {
            key: Some(k),
            ..InspectOptions::default()
        },
    );
    assert_eq!(
        (r.json["verification"]["code"].as_str(), r.exit_code),
        (Some("invalid_audience"), EXIT_FINDING)
    );
    // Configuration problems are usage errors.
    assert_eq!(with(key(&[], SECRET), T0).exit_code, EXIT_USAGE);
    assert_eq!(
        with(key(&["none"], SECRET), T0).json["error"]["code"],
        "invalid_argument"
    );
    assert_eq!(
        with(key(&["HS256"], "short"), T0).json["error"]["code"],
        "invalid_key"
    );
    let mut k = key(&["HS256"], SECRET);
    k.leeway_ms = Some(31_000);
    assert_eq!(with(k, T0).json["error"]["code"], "leeway_too_large");
    // A PEM key is recognised as such (and an RSA key cannot verify HS256).
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/rsa-public.pem"
    ))
    .unwrap();
    let r = with(key(&["HS256", "RS256"], &pem), T0 + 60_000);
    assert_eq!(
        (r.json["verification"]["code"].as_str(), r.exit_code),
        (Some("key_algorithm_mismatch"), EXIT_FINDING)
    );
    let jwks = KeyInput {
        kind: KeyFileKind::Jwks,
        ..key(&["HS256"], r#"{"keys":[]}"#)
    };
    assert_eq!(with(jwks, T0).json["error"]["code"], "invalid_jwks");
    // Debug never shows key bytes.
    assert!(!format!("{:?}", key(&["HS256"], SECRET)).contains(SECRET));
}

const SKEW_OK_TEXT: &str = "\
origin             source  offset    interval (server − local)  rtt    samples  status
https://a.example  date    +0.120 s  +0.080 s .. +0.160 s       42 ms  6/6      ok
https://b.example  date    +0.095 s  +0.060 s .. +0.130 s       38 ms  5/5      ok
result  ok (limit ±1.000 s)
";

fn origin(name: &str, e: Estimate, rtt: Option<i64>) -> SkewOrigin {
    SkewOrigin {
        name: name.to_owned(),
        source: OriginSource::Date,
        estimate: e,
        rtt_ms: rtt,
        discarded: 0,
        error: None,
    }
}

#[test]
fn skew_report() {
    let a = origin(
        "https://a.example",
        est(120, Some(80), Some(160), 6, 6),
        Some(42),
    );
    let b = origin(
        "https://b.example",
        est(95, Some(60), Some(130), 5, 5),
        Some(38),
    );
    let r = skew(&[a.clone(), b], 1_000, false);
    assert_eq!(r.text, SKEW_OK_TEXT);
    assert_eq!(r.exit_code, EXIT_OK);
    assert_eq!(
        r.json["origins"][0],
        json!({"name": "https://a.example", "source": "date", "offset_ms": 120, "low_ms": 80, "high_ms": 160, "width_ms": 80,
               "rtt_ms": 42, "agreeing": 6, "samples": 6, "discarded": 0, "status": "ok", "error": null})
    );
    assert_eq!(r.json["disagreements"], json!([]));

    // The limit is inclusive: an interval touching ±limit is fine, one past it may exceed.
    let status = |low: i64, high: i64| {
        let r = skew(
            &[origin(
                "o",
                est((low + high) / 2, Some(low), Some(high), 1, 1),
                None,
            )],
            1_000,
            false,
        );
        (
            r.json["origins"][0]["status"].as_str().unwrap().to_owned(),
            r.exit_code,
        )
    };
    assert_eq!(status(-1_000, 1_000), ("ok".to_owned(), EXIT_OK));
    assert_eq!(
        status(-1_001, 0),
        ("may_exceed_limit".to_owned(), EXIT_FINDING)
    );
    assert_eq!(
        status(500, 1_001),
        ("may_exceed_limit".to_owned(), EXIT_FINDING)
    );
    assert_eq!(
        status(1_001, 2_000),
        ("beyond_limit".to_owned(), EXIT_FINDING)
    );
    assert_eq!(
        status(-3_000, -1_001),
        ("beyond_limit".to_owned(), EXIT_FINDING)
    );
    assert_eq!(
        status(1_000, 2_000),
        ("may_exceed_limit".to_owned(), EXIT_FINDING)
    );

    // Disagreement: non-overlapping intervals; touching ones agree.
    let c = origin("c", est(200, Some(160), Some(240), 1, 1), None);
    let d = origin("d", est(300, Some(241), Some(360), 1, 1), None);
    let r = skew(&[a.clone(), c.clone(), d], 1_000, false);
    assert_eq!(
        r.json["disagreements"],
        json!([{"a": "https://a.example", "b": "d", "gap_ms": 81}, {"a": "c", "b": "d", "gap_ms": 1}])
    );
    assert!(
        r.text
            .contains("  ! c and d disagree: their intervals are 0.001 s apart\n"),
        "{}",
        r.text
    );
    assert_eq!(r.exit_code, EXIT_OK);

    // Unmeasured: exit 2 even with a finding elsewhere.
    let down = SkewOrigin {
        error: Some(OriginError {
            code: "timeout".into(),
            message: "no response within the timeout".into(),
        }),
        ..origin("down", Estimate::UNKNOWN, None)
    };
    let far = origin("far", est(5_000, Some(4_900), Some(5_100), 2, 2), None);
    let r = skew(&[far, down], 1_000, false);
    assert_eq!((r.exit_code, r.stream), (EXIT_USAGE, Stream::Stdout));
    assert!(
        r.text
            .ends_with("result  skew_beyond_limit, origin_unmeasured (limit ±1.000 s)\n"),
        "{}",
        r.text
    );

    // Input problems.
    assert_eq!(
        skew(&[], 1_000, false).text,
        "tokenclock skew: error: give at least one URL or --ntp HOST\n"
    );
    assert_eq!(
        skew(std::slice::from_ref(&a), -1, false).json["error"]["code"],
        "invalid_argument"
    );
    assert_eq!(
        skew(
            &[origin("x", est(0, Some(1), Some(-1), 1, 1), None)],
            1_000,
            false
        )
        .exit_code,
        EXIT_USAGE
    );
    // Origin names are made safe for the terminal.
    let r = skew(
        &[origin(
            "evil\u{1b}[2J",
            est(0, Some(-1), Some(1), 1, 1),
            None,
        )],
        1_000,
        false,
    );
    assert!(r.text.contains("evil\\u001b[2J  date"), "{}", r.text);
}

#[test]
fn probe_rules() {
    assert!(SkewProbe::new("x", OriginSource::Date, Some(0)).is_err());
    assert!(SkewProbe::new("x", OriginSource::Date, Some(65)).is_err());
    assert!(SkewProbe::new("x", OriginSource::Sntp, Some(64)).is_ok());
    // A reply with no request outstanding is an error, not a panic.
    let mut p = SkewProbe::new("ntp:x", OriginSource::Sntp, None).unwrap();
    p.on_sntp_reply(&[0u8; 48], reading(T0, 0));
    assert!(p.is_done());
    assert_eq!(
        p.origin(reading(T0, 0)).error.unwrap().code,
        "unexpected_reply"
    );
    // A Date that is not a date.
    let mut p = SkewProbe::new("https://x", OriginSource::Date, None).unwrap();
    let now = reading(T0, 0);
    assert!(matches!(
        p.poll(now),
        ProbeAction::Send {
            wait_ms: 0,
            timeout_ms: 5_000,
            ..
        }
    ));
    p.on_date_response(Some("yesterday"), None, now, now.advanced(10));
    assert_eq!(p.poll(now.advanced(10)), ProbeAction::Done);
    assert_eq!(
        p.origin(now.advanced(10)).error.unwrap().code,
        "invalid_http_date"
    );
    // The wall clock stepped during the exchange: the sample is discarded, probing goes on.
    let mut p = SkewProbe::new("https://x", OriginSource::Date, Some(2)).unwrap();
    let _ = p.poll(now);
    p.on_date_response(
        Some(&format_http_date(UnixMillis(T0))),
        None,
        now,
        reading(T0 + 5_000, 20),
    );
    assert!(!p.is_done());
    let o = p.origin(reading(T0 + 5_000, 20));
    assert_eq!((o.discarded, o.estimate.samples), (1, 0));
    assert_eq!(
        transport_error_message("timeout"),
        ("timeout", "no response within the timeout")
    );
    assert_eq!(
        transport_error_message("weird\u{1b}"),
        ("io_error", "a network error occurred")
    );
}

const AGES_FEW_TEXT: &str = "\
tokens  3 found in 3 line(s); 3 recorded, 0 skipped (0 unreadable, 0 without iat, 0 without a timestamp)
age = now − iat (this clock)
  p01  -896 ms
  p05  -896 ms
  p50  +12.2 s
  p95  +32.7 s
  p99  +32.7 s
histogram
  (-1.024 s, -0.008 s]  1  ########################################
  (-0.008 s, 0.008 s]   0
  (0.008 s, 1.024 s]    0
  (1.024 s, 4.096 s]    0
  (4.096 s, 16.384 s]   1  ########################################
  (16.384 s, 65.536 s]  1  ########################################
assessment  insufficient: 3 age(s) recorded, 50 needed for a verdict
result  ok
";

#[test]
fn ages_report() {
    let mut c = AgesCollector::new(None).unwrap();
    for line in age_lines(T0, &[12, 30, -1]) {
        c.feed_line(&line, UnixMillis(T0));
    }
    let r = c.render(false);
    assert_eq!(r.text, AGES_FEW_TEXT);
    assert_eq!(r.exit_code, EXIT_OK);
    assert_eq!(
        r.json["quantiles_ms"],
        json!({"p01": -896, "p05": -896, "p50": 12_288, "p95": 32_768, "p99": 32_768})
    );
    assert_eq!(r.json["monitor"]["sum_ms"], 41_000);
    assert_eq!(
        r.json["monitor"]["buckets"].as_array().unwrap().len(),
        tokenclock::monitor::BUCKET_COUNT
    );
    assert_eq!(r.json["histogram"].as_array().unwrap().len(), 13);
    assert_eq!(
        r.json["histogram"][0],
        json!({"low_ms": null, "high_ms": -65_536, "count": 0})
    );
    assert_eq!(
        r.json["histogram"][12],
        json!({"low_ms": 1_048_576, "high_ms": null, "count": 0})
    );
    // The monitor in the JSON reads back into an equal monitor.
    let back = SkewMonitor::from_json(&r.json["monitor"].to_string()).unwrap();
    assert_eq!(&back, c.monitor());

    // Behind: 6 of 55 tokens 5-10 s in the future.
    let mut c = AgesCollector::new(None).unwrap();
    for line in age_lines(
        T0,
        &(0..55)
            .map(|i| if i < 6 { -5 - i } else { i * 3 })
            .collect::<Vec<_>>(),
    ) {
        c.feed_line(&line, UnixMillis(T0));
    }
    let r = c.render(false);
    assert_eq!(r.exit_code, EXIT_FINDING);
    assert_eq!(r.json["assessment"]["verdict"], "behind");
    assert_eq!(r.json["findings"][0]["code"], "clock_behind_issuer");

    // Ahead: every token over a minute old.
    let mut c = AgesCollector::new(None).unwrap();
    for line in age_lines(T0, &[90; 50]) {
        c.feed_line(&line, UnixMillis(T0));
    }
    let r = c.render(false);
    assert_eq!(
        (r.json["assessment"]["verdict"].as_str(), r.exit_code),
        (Some("ahead"), EXIT_FINDING)
    );

    // Prometheus: the monitor's exposition; JSON and exit code as the report.
    let p = c.render_prometheus();
    assert!(p.text.starts_with("# HELP tokenclock_token_age_seconds Age of verified tokens (verifier clock minus iat), in seconds.\n# TYPE tokenclock_token_age_seconds histogram\n"));
    assert!(
        p.text.ends_with(
            "tokenclock_token_age_seconds_sum 4500\ntokenclock_token_age_seconds_count 50\n"
        ),
        "{}",
        p.text
    );
    assert_eq!((p.json.clone(), p.exit_code), (r.json, r.exit_code));
}

#[test]
fn ages_reads_bytes_like_lines() {
    let lines = age_lines(T0, &[1, 2, 3, 4]);
    let mut by_line = AgesCollector::new(Some("1")).unwrap();
    for l in &lines {
        by_line.feed_line(l, UnixMillis(T0));
    }
    let joined = lines.join("\r\n");
    let bytes = joined.as_bytes();
    let mut by_bytes = AgesCollector::new(Some("1")).unwrap();
    for chunk in bytes.chunks(7) {
        by_bytes.feed_bytes(chunk, UnixMillis(T0));
    }
    assert_eq!(by_bytes.stats().lines, 3); // the last line has no newline yet
    by_bytes.finish(UnixMillis(T0));
    assert_eq!(by_bytes.stats(), by_line.stats());
    assert_eq!(by_bytes.monitor(), by_line.monitor());
    assert_eq!(by_bytes.render(false), by_line.render(false));
    // Column 1 is a date without a time zone in these lines: no timestamp.
    assert_eq!(by_line.stats().no_timestamp, 4);
    // Invalid UTF-8 becomes U+FFFD and does not hide a token.
    let mut c = AgesCollector::new(None).unwrap();
    let mut raw = b"\xff\xfe ".to_vec();
    raw.extend_from_slice(lines[0].as_bytes());
    raw.push(b'\n');
    c.feed_bytes(&raw, UnixMillis(T0));
    assert_eq!((c.stats().lines, c.stats().recorded), (1, 1));
    assert!(AgesCollector::new(Some("a b")).is_err());
}

#[cfg(feature = "sim")]
#[test]
fn simulate_report() {
    use tokenclock::sim::Cell;
    let mut cell = Cell::default();
    for (f, v) in [
        ("--client-offset", "-30"),
        ("--rs-offset", "2"),
        ("--ttl", "60"),
        ("--hours", "0.1"),
    ] {
        parse_cell_arg(&mut cell, f, v).unwrap();
    }
    assert_eq!(
        (
            cell.client_offset_s,
            cell.rs_offset_s,
            cell.ttl_s,
            cell.hours
        ),
        (-30.0, 2.0, 60, 0.1)
    );
    let r = simulate(&cell, false, false);
    let want = "\
simulate: client clock -30.000 s and resource server +2.000 s vs the issuer; ttl 60 s, leeway 0 s, cached issuer off, wall step none; 6m00s simulated, a request every ~5.0 s, seed 1
strategy      cells  failed cells  failures   RS 401s  token req     vs min   p99 +ms
tokenclock        1             0         0         0          8      1.33x        58
tutorial          1             0         0         0         74     12.33x       105
stackit           1             1        63        63          1      0.17x        58
naive             1             0         0         2          6      1.00x       156
minimum token requests (oracle): 6
result  ok
";
    assert_eq!(r.text, want);
    assert_eq!(
        r.json["cell"],
        json!({"client_offset_ms": -30_000, "rs_offset_ms": 2_000, "ttl_s": 60, "leeway_s": 0, "cached_age_s": 0, "step_s": 0,
               "duration_ms": 360_000, "request_interval_ms": 5_000, "seed": 1})
    );
    assert_eq!(r.json["strategies"].as_array().unwrap().len(), 5);
    assert_eq!(r.json["strategies"][4]["strategy"], "oracle");
    assert_eq!(r.json["timeline"], Value::Null);
    assert_eq!(r.exit_code, EXIT_OK);
    // The timeline is tokenclock's event log.
    let r = simulate(&cell, true, false);
    assert!(
        r.text
            .contains("\ntimeline (tokenclock)\n     0.000s  refresh #1 (initial)\n"),
        "{}",
        r.text
    );
    assert_eq!(r.json["timeline"][0], "     0.000s  refresh #1 (initial)");
    // Range checks and value parsing.
    for (flag, value, message) in [
        ("--ttl", "1", "tokenclock simulate: error: --ttl: expected seconds from 5 to 86400\n"),
        ("--hours", "25", "tokenclock simulate: error: --hours: expected hours above 0, at most 24\n"),
        ("--hours", "0", "tokenclock simulate: error: --hours: expected hours above 0, at most 24\n"),
        ("--cached-age", "60", "tokenclock simulate: error: --cached-age: expected seconds from 0 to less than --ttl\n"),
    ] {
        let mut c = Cell { ttl_s: 60, ..Cell::default() };
        parse_cell_arg(&mut c, flag, value).unwrap();
        let r = simulate(&c, false, false);
        assert_eq!((r.text.as_str(), r.exit_code), (message, EXIT_USAGE), "{flag}");
    }
    let mut c = Cell::default();
    assert!(parse_cell_arg(&mut c, "--ttl", "60.5").is_err());
    assert!(parse_cell_arg(&mut c, "--seed", "9007199254740992").is_err());
    assert!(parse_cell_arg(&mut c, "--bogus", "1").is_err());
    assert_eq!(
        parse_cell_arg(&mut c, "--hours", "1e3")
            .unwrap_err()
            .to_string(),
        "--hours: expected a number of hours with at most 3 decimals"
    );
    let nan = Cell {
        client_offset_s: f64::NAN,
        ..Cell::default()
    };
    assert_eq!(simulate(&nan, false, false).exit_code, EXIT_USAGE);
}

#[test]
fn errors_and_help() {
    let t = basic_token();
    let r = usage_error(Some("inspect"), &format!("unexpected argument {t} here"));
    assert_eq!(
        r.text,
        "tokenclock inspect: error: unexpected argument <token> here\n"
    );
    assert_eq!((r.exit_code, r.stream), (EXIT_USAGE, Stream::Stderr));
    assert_eq!(
        r.json_text(),
        "{\n  \"command\": \"inspect\",\n  \"error\": {\n    \"code\": \"usage\",\n    \"message\": \"unexpected argument <token> here\"\n  },\n  \"exit_code\": 2,\n  \"findings\": [],\n  \"schema_version\": 1\n}\n"
    );
    let r = usage_error(
        None,
        &format!(
            "glued x{t} and JWE eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn, eyJnotatoken"
        ),
    );
    assert_eq!(
        r.text,
        "tokenclock: error: glued x<token> and JWE <token>, eyJnotatoken\n"
    );
    let r = usage_error(Some("bogus"), "x\u{1b}[1m\ny");
    assert_eq!(r.text, "tokenclock: error: x\\u001b[1m\\u000ay\n");
    assert_eq!(r.json["command"], Value::Null);
    assert_eq!(
        usage_error(None, &"a".repeat(1_000)).text.chars().count(),
        "tokenclock: error: ".len() + 300 + 1
    );
    let r = input_error(Some("ages"), "logs.txt", InputProblem::PermissionDenied);
    assert_eq!(
        r.text,
        "tokenclock ages: error: cannot read logs.txt: permission denied\n"
    );
    assert_eq!(r.json["error"]["code"], "permission_denied");
    assert_eq!(
        InputProblem::from_code("is_a_directory"),
        Some(InputProblem::IsADirectory)
    );
    assert_eq!(InputProblem::from_code("nope"), None);
    let r = help(Some("ages"));
    assert!(r.text.starts_with("usage: tokenclock ages [FILE|-]"));
    assert_eq!((r.exit_code, r.stream), (EXIT_OK, Stream::Stdout));
    for c in COMMANDS {
        assert!(help(Some(c))
            .text
            .contains(&format!("usage: tokenclock {c}")));
    }
    assert!(help(None).text.starts_with("usage: tokenclock COMMAND"));
    // json_text escapes terminal-unsafe characters that JSON itself would allow raw.
    let t = fake(
        r#"{"alg":"HS256"}"#,
        &json!({"note": "bidi \u{202e} del \u{7f} c1 \u{9b} esc \u{1b}"}).to_string(),
    );
    let r = inspect(&t, UnixMillis(T0), &InspectOptions::default());
    assert!(
        r.json_text()
            .contains(r#""note": "bidi \u202e del \u007f c1 \u009b esc \u001b""#),
        "{}",
        r.json_text()
    );
    assert!(
        r.text
            .contains(r#"  note  bidi \u202e del \u007f c1 \u009b esc \u001b"#),
        "{}",
        r.text
    );
    assert_eq!(r.output(false), r.text);
    assert_eq!(r.output(true), r.json_text());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    #[test]
    fn renderers_never_panic(token in "\\PC{0,120}", now in proptest::num::i64::ANY, line in "\\PC{0,200}",
                             off in -1_000_000i64..1_000_000, w in 0i64..100_000, max in proptest::num::i64::ANY) {
        let _ = inspect(&token, UnixMillis(now), &InspectOptions::default());
        let server = ServerClock { origin: line.clone(), estimate: est(off, Some(off - w), Some(off + w), 1, 1) };
        let _ = inspect(&basic_token(), UnixMillis(now), &InspectOptions { server: Some(server), ..InspectOptions::default() });
        let _ = skew(&[origin(&line, est(off, Some(off - w), Some(off + w), 1, 2), Some(w))], max, true);
        let mut c = AgesCollector::new(Some(&line)).unwrap_or_default();
        c.feed_line(&line, UnixMillis(now));
        c.feed_bytes(line.as_bytes(), UnixMillis(now));
        c.finish(UnixMillis(now));
        let _ = c.render(true);
        let _ = usage_error(Some(&line), &line);
    }

    #[test]
    fn claims_of_any_shape_render_without_leaking(claims in proptest::collection::btree_map("[a-z]{1,8}", "\\PC{0,40}", 0..8),
                                                  exp in 0i64..4_000_000_000, now in 0i64..4_000_000_000_000) {
        let mut map = serde_json::Map::new();
        for (k, v) in claims {
            map.insert(k, Value::String(v));
        }
        map.insert("exp".to_owned(), json!(exp));
        let token = fake(r#"{"alg":"HS256"}"#, &Value::Object(map).to_string());
        let r = inspect(&token, UnixMillis(now), &InspectOptions::default());
        proptest::prop_assert!(r.exit_code == EXIT_OK || r.exit_code == EXIT_FINDING);
        proptest::prop_assert_eq!(r.exit_code == EXIT_FINDING, now >= exp * 1000);
        proptest::prop_assert!(!r.text.contains(&token) && !r.json_text().contains(&token));
        proptest::prop_assert!(!r.text.contains("c2lnbmF0dXJl"));
        proptest::prop_assert!(!r.text.chars().any(|c| c.is_control() && c != '\n'));
    }
}
