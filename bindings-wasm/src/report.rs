//! The command line as a sans-I/O machine (core `cli::CliRun`, full build only; docs/cli.md):
//! `CliRun` and the plain-object actions it asks for, what `npm/cli/` (the executor of
//! `npx tokenclock`) needs and nothing more. Core parses the arguments, renders every report
//! and message and picks the exit code; the executor reads files and stdin, performs the HTTP
//! and SNTP exchanges and writes (to stdout and stderr, and the file of `simulate --html`). Not part of the package's public API (`npm/cli/core.js`
//! imports it from the glue; `api-full.js` does not export it).
//!
//! Times are `number`s of milliseconds; readings are `{ wallMs, monoMs }` (see `edge`).

use std::cell::RefCell;

use js_sys::Uint8Array;
use tokenclock::cli::{self, InputProblem, Stream};
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::type_error;

/// One `tokenclock` run: `new CliRun(argv, env, stdoutIsTerminal)`, then loop `poll(now)`
/// (a reading) and answer each action (`read`, `http`, `sntp`, `wait`, `writeFile`, `write`,
/// `exit`).
#[wasm_bindgen]
pub struct CliRun {
    inner: RefCell<cli::CliRun>,
}

impl CliRun {
    fn with<T>(&self, f: impl FnOnce(&mut cli::CliRun) -> T) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("CliRun is already in use (re-entrant call)"))?;
        Ok(f(&mut inner))
    }
}

fn cli_action_js(a: cli::CliAction) -> JsValue {
    use cli::CliAction as A;
    match a {
        A::Read { input, max_bytes } => Out::new()
            .str("action", "read")
            .opt_str(
                "path",
                match &input {
                    cli::Input::File(p) => Some(p.as_str()),
                    _ => None,
                },
            )
            .num("maxBytes", i64::try_from(max_bytes).unwrap_or(i64::MAX))
            .build(),
        A::Http {
            id,
            url,
            method,
            headers,
            timeout_ms,
        } => Out::new()
            .str("action", "http")
            .num("id", i64::try_from(id).unwrap_or(-1))
            .str("url", &url)
            .str("method", method.as_str())
            .set(
                "headers",
                edge::pairs_js(headers.iter().map(|(k, v)| (*k, v.as_str()))),
            )
            .num("timeoutMs", timeout_ms)
            .build(),
        A::Sntp {
            id,
            host,
            port,
            timeout_ms,
        } => Out::new()
            .str("action", "sntp")
            .num("id", i64::try_from(id).unwrap_or(-1))
            .str("host", &host)
            .num("port", i64::from(port))
            .num("timeoutMs", timeout_ms)
            .build(),
        A::Wait { wait_ms } => Out::new()
            .str("action", "wait")
            .opt_num("waitMs", wait_ms)
            .build(),
        A::WriteFile { path, bytes } => Out::new()
            .str("action", "writeFile")
            .str("path", &path)
            .set("data", Uint8Array::from(bytes.as_slice()))
            .build(),
        A::Write { stream, text } => Out::new()
            .str("action", "write")
            .str(
                "stream",
                match stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                },
            )
            .str("text", &text)
            .build(),
        A::Exit { code } => Out::new()
            .str("action", "exit")
            .num("code", i64::from(code))
            .build(),
        _ => Out::new().str("action", "exit").num("code", 2).build(),
    }
}

#[wasm_bindgen]
impl CliRun {
    /// `argv` (the arguments after `tokenclock`), `env` (an object such as `process.env`; only
    /// `NO_COLOR` and `TOKENCLOCK_FAKE_NOW_MS` are read) and whether stdout is a terminal.
    #[wasm_bindgen(constructor)]
    pub fn new(argv: JsValue, env: JsValue, stdout_is_terminal: bool) -> Result<CliRun, JsValue> {
        let argv = edge::opt_string_list("argv", &argv)?;
        let mut vars = Vec::new();
        if env.is_object() {
            for name in cli::ENV_VARS {
                if let Some(v) = edge::get(&env, name)?.as_string() {
                    vars.push((name.to_owned(), v));
                }
            }
        }
        Ok(CliRun {
            inner: RefCell::new(cli::CliRun::new(&argv, &vars, stdout_is_terminal)),
        })
    }

    /// The command, once known (`null` before).
    #[wasm_bindgen(getter)]
    pub fn command(&self) -> Result<JsValue, JsValue> {
        Ok(edge::opt_str(self.with(|r| r.command())?))
    }

    /// What to do next at `now` (a reading).
    pub fn poll(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = edge::reading("now", &now)?;
        Ok(cli_action_js(self.with(|r| r.poll(now))?))
    }

    /// The bytes of a `read` (empty: end of input).
    #[wasm_bindgen(js_name = onRead)]
    pub fn on_read(&self, data: JsValue) -> Result<(), JsValue> {
        let data = edge::bytes("data", &data)?;
        self.with(|r| r.on_read(&data))
    }

    /// A `read` failed: `not_found`, `permission_denied`, `is_a_directory`, `too_large`,
    /// `io_error` (anything else is `io_error`).
    #[wasm_bindgen(js_name = onReadError)]
    pub fn on_read_error(&self, problem: JsValue) -> Result<(), JsValue> {
        let problem = edge::string("problem", &problem)?;
        let problem = InputProblem::from_code(&problem).unwrap_or(InputProblem::Io);
        self.with(|r| r.on_read_error(problem))
    }

    /// A `writeFile` succeeded.
    #[wasm_bindgen(js_name = onWritten)]
    pub fn on_written(&self) -> Result<(), JsValue> {
        self.with(|r| r.on_written())
    }

    /// A `writeFile` failed: `not_found` (a missing directory), `permission_denied`,
    /// `is_a_directory`, `io_error` (anything else is `io_error`).
    #[wasm_bindgen(js_name = onWriteError)]
    pub fn on_write_error(&self, problem: JsValue) -> Result<(), JsValue> {
        let problem = edge::string("problem", &problem)?;
        let problem = InputProblem::from_code(&problem).unwrap_or(InputProblem::Io);
        self.with(|r| r.on_write_error(problem))
    }

    /// An `http` exchange's response: status, `Date` and `Age` (null when absent), readings.
    #[wasm_bindgen(js_name = onHttpResponse)]
    pub fn on_http_response(
        &self,
        id: JsValue,
        status: JsValue,
        date: JsValue,
        age: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let status = edge::uint_as::<u16>("status", &status)?;
        let date = edge::opt_string("date", &date)?;
        let age = edge::opt_string("age", &age)?;
        let sent = edge::reading("sent", &sent)?;
        let received = edge::reading("received", &received)?;
        self.with(|r| {
            r.on_http_response(id, status, date.as_deref(), age.as_deref(), sent, received)
        })
    }

    /// The 48 bytes to send for an `sntp` exchange now (`null`: no such exchange).
    #[wasm_bindgen(js_name = sntpPacket)]
    pub fn sntp_packet(
        &self,
        id: JsValue,
        now: JsValue,
        entropy: JsValue,
    ) -> Result<JsValue, JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let now = edge::reading("now", &now)?;
        let entropy = edge::uint_as::<u32>("entropy", &entropy)?;
        Ok(match self.with(|r| r.sntp_packet(id, now, entropy))? {
            Some(p) => Uint8Array::from(p.as_slice()).into(),
            None => JsValue::NULL,
        })
    }

    /// An `sntp` exchange's reply and the reading on receipt.
    #[wasm_bindgen(js_name = onSntpReply)]
    pub fn on_sntp_reply(
        &self,
        id: JsValue,
        reply: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let reply = edge::bytes("reply", &reply)?;
        let received = edge::reading("received", &received)?;
        self.with(|r| r.on_sntp_reply(id, &reply, received))
    }

    /// An exchange failed: a transport code.
    #[wasm_bindgen(js_name = onTransportError)]
    pub fn on_transport_error(&self, id: JsValue, code: JsValue) -> Result<(), JsValue> {
        let id = edge::uint_as::<usize>("id", &id)?;
        let code = edge::string("code", &code)?;
        self.with(|r| r.on_transport_error(id, &code))
    }

    /// The executor failed unexpectedly: the error's `code` (when a string) and `name`.
    #[wasm_bindgen(js_name = onInternalError)]
    pub fn on_internal_error(&self, code: JsValue, name: JsValue) -> Result<(), JsValue> {
        let what = cli::describe_failure(
            code.as_string().as_deref(),
            &name.as_string().unwrap_or_default(),
        );
        self.with(|r| r.on_internal_error(&what))
    }
}
