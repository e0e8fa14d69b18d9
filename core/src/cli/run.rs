//! [`CliRun`]: the whole `tokenclock` run as a sans-I/O machine, so a front-end is a loop
//! over actions plus its language's I/O idioms (after `FleetRefresh` and [`SkewProbe`]).
//!
//! `CliRun::new(argv, env, stdout_is_terminal)` scans the arguments ([`parse_args`]) and
//! reads the environment ([`ENV_VARS`]); then the host loops:
//!
//! 1. `poll(now)` with both clocks read now → a [`CliAction`];
//! 2. performs it, and feeds the result back: [`on_read`](CliRun::on_read) /
//!    [`on_read_error`](CliRun::on_read_error) after `Read`;
//!    [`on_written`](CliRun::on_written) / [`on_write_error`](CliRun::on_write_error) after
//!    `WriteFile`;
//!    [`on_http_response`](CliRun::on_http_response) or
//!    [`on_transport_error`](CliRun::on_transport_error) after `Http` (whenever it
//!    completes: exchanges run concurrently), [`sntp_packet`](CliRun::sntp_packet) just
//!    before sending and [`on_sntp_reply`](CliRun::on_sntp_reply) after `Sntp`;
//! 3. until `Exit`.
//!
//! Every decision is made here: which command, every usage message, which files to read and
//! how much, which file to write and its bytes, which requests to send and when (one [`SkewProbe`] per origin, `GET` after a
//! `HEAD` refused with 405/501), what to print on which stream, and the exit code. The host
//! decides only what is about its machine: how to open a file, map an OS error to an
//! [`InputProblem`] and a network error to a transport code ([`transport_error_message`]),
//! whether standard output is a terminal, and where the entropy of an SNTP request comes from.

use std::collections::VecDeque;

use super::*;

/// `inspect -` reads at most this much: one byte over the core's 64 KiB token limit, so an
/// oversized token is reported as `token_too_large`.
pub const TOKEN_READ_LIMIT: usize = 64 * 1024 + 1;
/// Largest `--key`/`--jwks` file read; a bigger one is `too_large`.
pub const KEY_FILE_LIMIT: usize = 1024 * 1024;
/// Size of each read of `ages` input (and of a key file).
pub const READ_CHUNK: usize = 64 * 1024;
/// The injected wall clock for `inspect` and `ages` (Unix ms, digits; a test hook).
pub const FAKE_NOW_ENV: &str = "TOKENCLOCK_FAKE_NOW_MS";
/// Set and non-empty: no colour (<https://no-color.org>).
pub const NO_COLOR_ENV: &str = "NO_COLOR";
/// The environment variables a run reads; hosts pass these (or all of them).
pub const ENV_VARS: [&str; 2] = [NO_COLOR_ENV, FAKE_NOW_ENV];
/// How messages call standard input.
pub const STDIN_NAME: &str = "standard input";
/// `User-Agent` of the `skew` requests.
pub const USER_AGENT: &str = concat!("tokenclock/", env!("CARGO_PKG_VERSION"));
/// `--max-offset` by default (1 s).
pub const DEFAULT_MAX_OFFSET_MS: i64 = 1_000;
/// Default port of `--ntp HOST`.
pub const SNTP_PORT: u16 = 123;

/// Colour exactly when standard output is a terminal and `NO_COLOR` is unset or empty.
pub fn color_wanted(stdout_is_terminal: bool, no_color: Option<&str>) -> bool {
    stdout_is_terminal && no_color.is_none_or(str::is_empty)
}

/// An unexpected host failure in one word for `internal error (…)`: its error code when it
/// looks like one (`[a-z][a-z0-9_]{0,40}`), else its class name (`[A-Za-z]{1,40}`), else
/// `error`: never its message.
pub fn describe_failure(code: Option<&str>, class_name: &str) -> String {
    let is_code = |c: &str| {
        (1..=41).contains(&c.len())
            && c.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let is_name =
        |n: &str| (1..=40).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphabetic());
    match code {
        Some(c) if is_code(c) => c.to_owned(),
        _ if is_name(class_name) => class_name.to_owned(),
        _ => "error".to_owned(),
    }
}

/// Where a `Read` reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file, by the path given on the command line.
    File(String),
}

/// The method of an `Http` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    /// `HEAD` (first).
    Head,
    /// `GET` (after the server refused `HEAD` with 405 or 501; discard the body).
    Get,
}

impl HttpMethod {
    /// `"HEAD"` or `"GET"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Head => "HEAD",
            HttpMethod::Get => "GET",
        }
    }
}

/// What the host must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum CliAction {
    /// Read at most `max_bytes` from `input` (keep a file open between reads), then
    /// [`CliRun::on_read`] with the bytes (empty: end of input), or
    /// [`CliRun::on_read_error`] with the OS error mapped to an [`InputProblem`].
    Read {
        /// Standard input or a file.
        input: Input,
        /// The most bytes wanted now.
        max_bytes: usize,
    },
    /// Start an HTTP request and do not wait for it (poll again at once): `method` to `url`
    /// with `headers`, redirects not followed, any status accepted, the body discarded. Read
    /// the clocks just before sending (`sent`) and on the response's headers (`received`),
    /// then [`CliRun::on_http_response`]; on failure or after `timeout_ms`,
    /// [`CliRun::on_transport_error`]. A connection may be kept alive for the same `id`.
    Http {
        /// The exchange's origin (one request in flight per id).
        id: usize,
        /// The URL as given.
        url: String,
        /// `HEAD`, or `GET`.
        method: HttpMethod,
        /// Request headers.
        headers: Vec<(&'static str, String)>,
        /// Give up after this long (`timeout`).
        timeout_ms: i64,
    },
    /// Start an SNTP exchange and do not wait for it: resolve `host`, connect a UDP socket
    /// to `port`, read the clocks, send [`CliRun::sntp_packet`], and feed the first reply to
    /// [`CliRun::on_sntp_reply`] with the reading on receipt; on failure or after
    /// `timeout_ms`, [`CliRun::on_transport_error`].
    Sntp {
        /// The exchange's origin.
        id: usize,
        /// The server's host name or address.
        host: String,
        /// Its UDP port.
        port: u16,
        /// Give up after this long (`timeout`).
        timeout_ms: i64,
    },
    /// Nothing to do until an exchange completes or `wait_ms` has passed (`None`: until an
    /// exchange completes); then poll again.
    Wait {
        /// How long at most.
        wait_ms: Option<i64>,
    },
    /// Write `bytes` to the file `path` (as given on the command line): create it, or replace
    /// what it holds (as `-o` does elsewhere); never create a directory, and a directory at
    /// `path` is an error, not a place to write into. Then [`CliRun::on_written`], or
    /// [`CliRun::on_write_error`] with the OS error mapped to an [`InputProblem`] as for reads
    /// (`not_found` for a missing directory).
    WriteFile {
        /// The file.
        path: String,
        /// Its new contents.
        bytes: Vec<u8>,
    },
    /// Write `text` to `stream` (UTF-8). A reader that went away is not an error.
    Write {
        /// Standard output or standard error.
        stream: Stream,
        /// The bytes to write, as text.
        text: String,
    },
    /// Exit with `code` (every later poll says the same).
    Exit {
        /// The process exit code.
        code: i32,
    },
}

enum Target {
    Url { url: String, method: HttpMethod },
    Sntp { host: String, port: u16 },
}

struct Slot {
    probe: SkewProbe,
    target: Target,
    in_flight: Option<Option<Reading>>,
    timeout_ms: i64,
    done: bool,
    /// When the probe's next exchange is due, as first decided: a host wakes a little after
    /// it (timers, whole milliseconds), and deciding again then would aim at the next second.
    send_at: Option<Reading>,
}

enum MeasureStep {
    Act(CliAction),
    Wait(Option<i64>),
    Done(Vec<SkewOrigin>),
}

/// The origins being measured, each with its [`SkewProbe`], concurrently.
struct Measure {
    slots: Vec<Slot>,
}

impl Measure {
    fn poll(&mut self, now: Reading) -> MeasureStep {
        let mut wait: Option<i64> = None;
        for (id, slot) in self.slots.iter_mut().enumerate() {
            if slot.done || slot.in_flight.is_some() {
                continue;
            }
            let mut action = slot.probe.poll(now);
            if let ProbeAction::Send {
                wait_ms, send_at, ..
            } = &mut action
            {
                // Keep the instant first decided: once it has come, send.
                let due = *slot.send_at.get_or_insert(*send_at);
                *wait_ms = due.mono.since(now.mono).max(0);
            }
            match action {
                ProbeAction::Send {
                    wait_ms,
                    timeout_ms,
                    ..
                } if wait_ms <= 0 => {
                    slot.in_flight = Some(None);
                    slot.send_at = None;
                    slot.timeout_ms = timeout_ms;
                    return MeasureStep::Act(match &slot.target {
                        Target::Url { url, method } => CliAction::Http {
                            id,
                            url: url.clone(),
                            method: *method,
                            headers: vec![
                                ("Cache-Control", "no-cache".to_owned()),
                                ("User-Agent", USER_AGENT.to_owned()),
                            ],
                            timeout_ms,
                        },
                        Target::Sntp { host, port } => CliAction::Sntp {
                            id,
                            host: host.clone(),
                            port: *port,
                            timeout_ms,
                        },
                    });
                }
                ProbeAction::Send { wait_ms, .. } => {
                    wait = Some(wait.map_or(wait_ms, |w| w.min(wait_ms)));
                }
                _ => slot.done = true,
            }
        }
        if self.slots.iter().all(|s| s.done) {
            MeasureStep::Done(self.slots.iter().map(|s| s.probe.origin(now)).collect())
        } else {
            MeasureStep::Wait(wait)
        }
    }

    /// The slot of an exchange in flight.
    fn in_flight(&mut self, id: usize) -> Option<&mut Slot> {
        self.slots.get_mut(id).filter(|s| s.in_flight.is_some())
    }
}

/// Where a run is.
enum Phase {
    Start,
    ReadToken {
        buf: Vec<u8>,
    },
    ReadKey {
        token: String,
        buf: Vec<u8>,
    },
    Inspect {
        token: String,
        key: Vec<u8>,
    },
    InspectServer {
        token: String,
        key: Vec<u8>,
        measure: Measure,
    },
    Skew {
        measure: Measure,
        max_offset_ms: i64,
    },
    Ages {
        collector: Box<AgesCollector>,
        prometheus: bool,
    },
    /// `simulate --html`: the chart to write (taken when asked for), then the report.
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    WriteFile {
        path: String,
        bytes: Option<Vec<u8>>,
        report: Box<Rendered>,
    },
    Finished {
        code: i32,
    },
}

/// What `inspect`'s options asked for.
#[derive(Default)]
struct InspectPlan {
    key: Option<(&'static str, String)>,
    leeway_ms: Option<i64>,
    server: Option<String>,
}

/// One `tokenclock` run (see the module docs for the loop).
pub struct CliRun {
    args: ParsedArgs,
    color: bool,
    fake_now: Result<Option<i64>, ReportError>,
    plan: InspectPlan,
    phase: Phase,
    queue: VecDeque<CliAction>,
    now: Option<Reading>,
}

impl core::fmt::Debug for CliRun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the arguments: a token may be among them.
        f.debug_struct("CliRun")
            .field("command", &self.command())
            .finish_non_exhaustive()
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("expected an http:// or https:// URL, got '{url}'"))
    }
}

const KEY_OPTIONS: [&str; 4] = ["--alg", "--leeway", "--iss", "--aud"];

impl CliRun {
    /// A run of `tokenclock ARGV...`: `argv` without the program name (text; a host turns
    /// bytes that are not UTF-8 into U+FFFD), `env` at least the [`ENV_VARS`], and whether
    /// standard output is a terminal (colour).
    pub fn new<S: AsRef<str>>(
        argv: &[S],
        env: &[(String, String)],
        stdout_is_terminal: bool,
    ) -> CliRun {
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let fake_now = match var(FAKE_NOW_ENV) {
            None | Some("") => Ok(None),
            Some(text) => parse_count_arg(FAKE_NOW_ENV, text, MAX_UNIX_MILLIS.unsigned_abs())
                .map(|ms| Some(ms as i64)),
        };
        CliRun {
            args: parse_args(argv),
            color: color_wanted(stdout_is_terminal, var(NO_COLOR_ENV)),
            fake_now,
            plan: InspectPlan::default(),
            phase: Phase::Start,
            queue: VecDeque::new(),
            now: None,
        }
    }

    /// The command, once known (`"inspect"`, …).
    pub fn command(&self) -> Option<&'static str> {
        self.args.command.map(Command::as_str)
    }

    /// The scanned arguments.
    pub fn args(&self) -> &ParsedArgs {
        &self.args
    }

    /// Whether the report is coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    fn wall(&self, now: Reading) -> UnixMillis {
        match self.fake_now {
            Ok(Some(ms)) => UnixMillis(ms),
            _ => now.wall,
        }
    }

    fn finish(&mut self, rendered: Rendered) {
        let (stream, text) = if self.args.json {
            (Stream::Stdout, rendered.json_text())
        } else {
            (rendered.stream, rendered.text)
        };
        self.queue.clear();
        self.queue.push_back(CliAction::Write { stream, text });
        self.phase = Phase::Finished {
            code: rendered.exit_code,
        };
    }

    fn usage(&mut self, message: &str) {
        self.finish(usage_error(self.command(), message));
    }

    fn argument(&mut self, e: &ReportError) {
        self.finish(argument_error(self.command(), e));
    }

    /// The host failed unexpectedly (an exception it did not expect): prints
    /// `internal error (WHAT)` as a usage error, exit 2. `what` comes from
    /// [`describe_failure`].
    pub fn on_internal_error(&mut self, what: &str) {
        self.usage(&format!("internal error ({what})"));
    }

    /// What to do next; `now` is both clocks read just now.
    pub fn poll(&mut self, now: Reading) -> CliAction {
        self.now = Some(now);
        loop {
            if let Some(action) = self.queue.pop_front() {
                return action;
            }
            if let Some(action) = self.step(now) {
                return action;
            }
        }
    }

    /// One step of the current phase: an action, or `None` when the phase changed.
    fn step(&mut self, now: Reading) -> Option<CliAction> {
        match &mut self.phase {
            Phase::Finished { code } => Some(CliAction::Exit { code: *code }),
            Phase::Start => {
                self.start();
                None
            }
            Phase::ReadToken { buf } => Some(CliAction::Read {
                input: Input::Stdin,
                max_bytes: TOKEN_READ_LIMIT.saturating_sub(buf.len()),
            }),
            Phase::ReadKey { .. } => Some(CliAction::Read {
                input: Input::File(
                    self.plan
                        .key
                        .as_ref()
                        .map(|k| k.1.clone())
                        .unwrap_or_default(),
                ),
                max_bytes: READ_CHUNK,
            }),
            Phase::Ages { .. } => Some(CliAction::Read {
                input: self.ages_input(),
                max_bytes: READ_CHUNK,
            }),
            // Asked once; until it is answered there is nothing else to do.
            Phase::WriteFile { path, bytes, .. } => Some(match bytes.take() {
                Some(bytes) => CliAction::WriteFile {
                    path: path.clone(),
                    bytes,
                },
                None => CliAction::Wait { wait_ms: None },
            }),
            Phase::Inspect { token, key } => {
                let (token, key) = (core::mem::take(token), core::mem::take(key));
                let first = self.inspect_with(&token, &key, self.wall(now), None);
                // A token, key or option the core refuses is refused whatever the server's
                // clock says: report it before measuring anything.
                match self.plan.server.clone() {
                    Some(url) if first.stream == Stream::Stdout => {
                        let slot = Slot {
                            probe: SkewProbe::new(&url, OriginSource::Date, None).ok()?,
                            target: Target::Url {
                                url,
                                method: HttpMethod::Head,
                            },
                            in_flight: None,
                            timeout_ms: PROBE_TIMEOUT_MS,
                            done: false,
                            send_at: None,
                        };
                        self.phase = Phase::InspectServer {
                            token,
                            key,
                            measure: Measure { slots: vec![slot] },
                        };
                    }
                    _ => self.finish(first),
                }
                None
            }
            Phase::InspectServer { measure, .. } => match measure.poll(now) {
                MeasureStep::Act(a) => Some(a),
                MeasureStep::Wait(w) => Some(CliAction::Wait { wait_ms: w }),
                MeasureStep::Done(origins) => {
                    let Phase::InspectServer { token, key, .. } =
                        core::mem::replace(&mut self.phase, Phase::Start)
                    else {
                        return None;
                    };
                    let origin = origins.into_iter().next()?;
                    let rendered = if origin.estimate.samples == 0 {
                        skew(&[origin], DEFAULT_MAX_OFFSET_MS, self.color)
                    } else {
                        let server = ServerClock {
                            origin: origin.name,
                            estimate: origin.estimate,
                        };
                        self.inspect_with(&token, &key, self.wall(now), Some(server))
                    };
                    self.finish(rendered);
                    None
                }
            },
            Phase::Skew {
                measure,
                max_offset_ms,
            } => match measure.poll(now) {
                MeasureStep::Act(a) => Some(a),
                MeasureStep::Wait(w) => Some(CliAction::Wait { wait_ms: w }),
                MeasureStep::Done(origins) => {
                    let rendered = skew(&origins, *max_offset_ms, self.color);
                    self.finish(rendered);
                    None
                }
            },
        }
    }

    fn ages_input(&self) -> Input {
        match self.args.positionals().next() {
            None | Some("-") => Input::Stdin,
            Some(path) => Input::File(path.to_owned()),
        }
    }

    fn start(&mut self) {
        if self.args.help {
            return self.finish(help(self.command()));
        }
        if let Some(message) = self.args.error.clone() {
            return self.usage(&message);
        }
        if let Err(e) = self.fake_now.clone() {
            return self.argument(&e);
        }
        match self.args.command {
            Some(Command::Inspect) => self.start_inspect(),
            Some(Command::Skew) => self.start_skew(),
            Some(Command::Ages) => self.start_ages(),
            Some(Command::Simulate) => self.start_simulate(),
            None => self.usage("missing command"),
        }
    }

    fn start_inspect(&mut self) {
        let mut plan = InspectPlan::default();
        for item in &self.args.items {
            match item {
                ArgItem::Option {
                    name: "--leeway",
                    value: Some(v),
                } => match parse_seconds_arg("--leeway", v) {
                    Ok(ms) => plan.leeway_ms = Some(ms),
                    Err(e) => return self.argument(&e),
                },
                ArgItem::Option {
                    name: "--server",
                    value: Some(v),
                } => {
                    if let Err(m) = check_url(v) {
                        return self.usage(&m);
                    }
                }
                _ => {}
            }
        }
        let Some(token_arg) = self.args.positionals().next().map(str::to_owned) else {
            return self
                .usage("missing TOKEN (give the token, or - to read it from standard input)");
        };
        let key = self.args.option("--key").map(str::to_owned);
        let jwks = self.args.option("--jwks").map(str::to_owned);
        plan.key = match (key, jwks) {
            (Some(_), Some(_)) => return self.usage("give --key or --jwks, not both"),
            (Some(path), None) => Some(("key", path)),
            (None, Some(path)) => Some(("jwks", path)),
            (None, None) => {
                let stray = self.args.items.iter().find_map(|i| match i {
                    ArgItem::Option { name, .. } if KEY_OPTIONS.contains(name) => Some(*name),
                    _ => None,
                });
                if let Some(stray) = stray {
                    return self.usage(&format!("{stray} needs --key or --jwks"));
                }
                None
            }
        };
        plan.server = self.args.option("--server").map(str::to_owned);
        self.plan = plan;
        if token_arg == "-" {
            self.phase = Phase::ReadToken { buf: Vec::new() };
        } else {
            self.token_read(token_arg);
        }
    }

    fn token_read(&mut self, token: String) {
        self.phase = if self.plan.key.is_some() {
            Phase::ReadKey {
                token,
                buf: Vec::new(),
            }
        } else {
            Phase::Inspect {
                token,
                key: Vec::new(),
            }
        };
    }

    #[cfg(feature = "verify")]
    fn inspect_with(
        &self,
        token: &str,
        key: &[u8],
        now: UnixMillis,
        server: Option<ServerClock>,
    ) -> Rendered {
        let key = self.plan.key.as_ref().map(|(kind, _)| KeyInput {
            kind: if *kind == "key" {
                KeyFileKind::Key
            } else {
                KeyFileKind::Jwks
            },
            contents: key.to_vec(),
            algorithms: self
                .args
                .option("--alg")
                .map(|a| a.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            leeway_ms: self.plan.leeway_ms,
            issuer: self.args.option("--iss").map(str::to_owned),
            audience: self.args.options("--aud").map(str::to_owned).collect(),
        });
        inspect(
            token,
            now,
            &InspectOptions {
                server,
                key,
                color: self.color,
            },
        )
    }

    #[cfg(not(feature = "verify"))]
    fn inspect_with(
        &self,
        token: &str,
        _key: &[u8],
        now: UnixMillis,
        server: Option<ServerClock>,
    ) -> Rendered {
        if self.plan.key.is_some() {
            return usage_error(self.command(), "this build cannot verify (--key, --jwks)");
        }
        inspect(
            token,
            now,
            &InspectOptions {
                server,
                color: self.color,
            },
        )
    }

    fn start_skew(&mut self) {
        let mut samples: Option<u32> = None;
        let mut max_offset_ms = DEFAULT_MAX_OFFSET_MS;
        let mut wanted: Vec<(String, OriginSource, Target)> = Vec::new();
        for item in &self.args.items {
            let problem = match item {
                ArgItem::Positional(url) => match check_url(url) {
                    Ok(()) => {
                        let target = Target::Url {
                            url: url.clone(),
                            method: HttpMethod::Head,
                        };
                        wanted.push((url.clone(), OriginSource::Date, target));
                        None
                    }
                    Err(m) => return self.usage(&m),
                },
                ArgItem::Option {
                    name,
                    value: Some(v),
                } => match *name {
                    "--ntp" => parse_host_port(v, SNTP_PORT)
                        .map(|(host, port)| {
                            let target = Target::Sntp { host, port };
                            wanted.push((format!("ntp:{v}"), OriginSource::Sntp, target));
                        })
                        .err(),
                    // Digits first, then the probe's own range (1 to 64).
                    "--samples" => parse_count_arg("--samples", v, u64::from(u32::MAX))
                        .and_then(|n| {
                            let n = u32::try_from(n).unwrap_or(u32::MAX);
                            SkewProbe::new("-", OriginSource::Date, Some(n)).map(|_| n)
                        })
                        .map(|n| samples = Some(n))
                        .err(),
                    "--max-offset" => parse_seconds_arg("--max-offset", v)
                        .map(|ms| max_offset_ms = ms)
                        .err(),
                    _ => None,
                },
                ArgItem::Option { .. } => None,
            };
            if let Some(e) = problem {
                return self.argument(&e);
            }
        }
        if wanted.is_empty() {
            return self.finish(skew(&[], max_offset_ms, self.color));
        }
        // The report checks --max-offset; ask it now, before minutes of measuring.
        let unmeasured = SkewOrigin {
            name: "-".to_owned(),
            source: OriginSource::Date,
            estimate: Estimate::UNKNOWN,
            rtt_ms: None,
            discarded: 0,
            error: None,
        };
        let check = skew(&[unmeasured], max_offset_ms, false);
        if check.stream == Stream::Stderr {
            return self.finish(check);
        }
        let mut slots = Vec::with_capacity(wanted.len());
        for (name, source, target) in wanted {
            match SkewProbe::new(&name, source, samples) {
                Ok(probe) => slots.push(Slot {
                    probe,
                    target,
                    in_flight: None,
                    timeout_ms: PROBE_TIMEOUT_MS,
                    done: false,
                    send_at: None,
                }),
                Err(e) => return self.argument(&e),
            }
        }
        self.phase = Phase::Skew {
            measure: Measure { slots },
            max_offset_ms,
        };
    }

    fn start_ages(&mut self) {
        match AgesCollector::new(self.args.option("--time-field")) {
            Ok(collector) => {
                self.phase = Phase::Ages {
                    collector: Box::new(collector),
                    prometheus: self.args.flag("--prometheus"),
                }
            }
            Err(e) => self.argument(&e),
        }
    }

    #[cfg(feature = "sim")]
    fn start_simulate(&mut self) {
        let mut cell = crate::sim::Cell::default();
        for item in &self.args.items {
            if let ArgItem::Option {
                name,
                value: Some(v),
            } = item
            {
                let checked = match *name {
                    "--html" => check_html_path(v),
                    _ => parse_cell_arg(&mut cell, name, v),
                };
                if let Err(e) = checked {
                    return self.argument(&e);
                }
            }
        }
        let timeline = self.args.flag("--timeline");
        let Some(path) = self.args.option("--html").map(str::to_owned) else {
            return self.finish(simulate(&cell, timeline, self.color));
        };
        match simulate_with_html(&cell, timeline, self.color, &path) {
            (report, Some(html)) => {
                self.phase = Phase::WriteFile {
                    path,
                    bytes: Some(html.into_bytes()),
                    report: Box::new(report),
                };
            }
            (report, None) => self.finish(report),
        }
    }

    #[cfg(not(feature = "sim"))]
    fn start_simulate(&mut self) {
        self.usage("this build cannot simulate");
    }

    /// The bytes of a `Read` (empty: end of input).
    pub fn on_read(&mut self, bytes: &[u8]) {
        let wall = self.now.map_or(UnixMillis(0), |now| self.wall(now));
        match &mut self.phase {
            Phase::ReadToken { buf } => {
                buf.extend_from_slice(bytes);
                if bytes.is_empty() || buf.len() >= TOKEN_READ_LIMIT {
                    let token = String::from_utf8_lossy(buf).into_owned();
                    self.token_read(token);
                }
            }
            Phase::ReadKey { token, buf } => {
                buf.extend_from_slice(bytes);
                if buf.len() > KEY_FILE_LIMIT {
                    return self.input_failed(InputProblem::TooLarge);
                }
                if bytes.is_empty() {
                    let (token, key) = (core::mem::take(token), core::mem::take(buf));
                    self.phase = Phase::Inspect { token, key };
                }
            }
            Phase::Ages {
                collector,
                prometheus,
            } => {
                if !bytes.is_empty() {
                    return collector.feed_bytes(bytes, wall);
                }
                collector.finish(wall);
                let rendered = if *prometheus {
                    collector.render_prometheus()
                } else {
                    collector.render(self.color)
                };
                self.finish(rendered);
            }
            _ => {}
        }
    }

    /// A `WriteFile` succeeded: the report follows.
    pub fn on_written(&mut self) {
        if !matches!(self.phase, Phase::WriteFile { .. }) {
            return;
        }
        if let Phase::WriteFile { report, .. } = core::mem::replace(&mut self.phase, Phase::Start) {
            self.finish(*report);
        }
    }

    /// A `WriteFile` failed: the OS error as an [`InputProblem`] (`not_found`: a directory
    /// on the path is missing). The run ends with `cannot write PATH: …`, exit 2.
    pub fn on_write_error(&mut self, problem: InputProblem) {
        if let Phase::WriteFile { path, .. } = &self.phase {
            let rendered = output_error(self.command(), &path.clone(), problem);
            self.finish(rendered);
        }
    }

    /// A `Read` failed: the OS error as an [`InputProblem`].
    pub fn on_read_error(&mut self, problem: InputProblem) {
        if matches!(
            self.phase,
            Phase::ReadToken { .. } | Phase::ReadKey { .. } | Phase::Ages { .. }
        ) {
            self.input_failed(problem);
        }
    }

    fn input_failed(&mut self, problem: InputProblem) {
        let what = match (&self.phase, &self.plan.key) {
            (Phase::ReadKey { .. }, Some((_, path))) => path.clone(),
            (Phase::Ages { .. }, _) => match self.ages_input() {
                Input::File(path) => path,
                Input::Stdin => STDIN_NAME.to_owned(),
            },
            _ => STDIN_NAME.to_owned(),
        };
        self.finish(input_error(self.command(), &what, problem));
    }

    fn measure(&mut self) -> Option<&mut Measure> {
        match &mut self.phase {
            Phase::Skew { measure, .. } | Phase::InspectServer { measure, .. } => Some(measure),
            _ => None,
        }
    }

    /// An `Http` exchange's response: its status, `Date` and `Age` header values (`None`
    /// when absent), and the readings just before sending and on receipt.
    pub fn on_http_response(
        &mut self,
        id: usize,
        status: u16,
        date: Option<&str>,
        age: Option<&str>,
        sent: Reading,
        received: Reading,
    ) {
        let Some(slot) = self.measure().and_then(|m| m.in_flight(id)) else {
            return;
        };
        slot.in_flight = None;
        if let Target::Url { method, .. } = &mut slot.target {
            if *method == HttpMethod::Head && (status == 405 || status == 501) {
                // HEAD not allowed here: GET from now on (not counted as an exchange).
                *method = HttpMethod::Get;
                return;
            }
        }
        if received.mono.since(sent.mono) > slot.timeout_ms {
            slot.probe.on_error("timeout");
        } else {
            slot.probe.on_date_response(date, age, sent, received);
        }
    }

    /// The 48 bytes to send for an `Sntp` exchange, built at `now` (read just before
    /// sending) with 32 bits of `entropy` from the host's secure generator. `None` when no
    /// such exchange is in flight.
    pub fn sntp_packet(
        &mut self,
        id: usize,
        now: Reading,
        entropy: u32,
    ) -> Option<[u8; PACKET_LEN]> {
        let slot = self.measure().and_then(|m| m.in_flight(id))?;
        slot.in_flight = Some(Some(now));
        Some(slot.probe.sntp_request(now, entropy))
    }

    /// An `Sntp` exchange's reply and the reading on receipt.
    pub fn on_sntp_reply(&mut self, id: usize, reply: &[u8], received: Reading) {
        let Some(slot) = self.measure().and_then(|m| m.in_flight(id)) else {
            return;
        };
        let sent = slot.in_flight.take().flatten();
        if sent.is_some_and(|s| received.mono.since(s.mono) > slot.timeout_ms) {
            slot.probe.on_error("timeout");
        } else {
            slot.probe.on_sntp_reply(reply, received);
        }
    }

    /// An exchange failed: a transport code ([`transport_error_message`]).
    pub fn on_transport_error(&mut self, id: usize, code: &str) {
        if let Some(slot) = self.measure().and_then(|m| m.in_flight(id)) {
            slot.in_flight = None;
            slot.probe.on_error(code);
        }
    }
}

#[cfg(test)]
mod tests;
