//! The command line as a sans-I/O machine (core `cli::CliRun`, docs/cli.md): `_CliRun` and
//! the `_CliAction`s it asks for, what `tokenclock.cli` (the executor) needs and nothing
//! more. Core parses the arguments, renders every report and message and picks the exit code;
//! the executor reads files and stdin, performs the HTTP and SNTP exchanges and writes (to
//! standard output and error, and the file of `simulate --html`).
//!
//! In the binding's conventions: times are float seconds (core's `*_ms` integers become
//! seconds), readings are `Reading`s, names are snake_case. Both classes are private
//! (`_`-prefixed): the command line is the public interface, not these.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokenclock::cli as core_cli;

use crate::convert::{seconds, Int};
use crate::errors::{guard, Error, POISONED};
use crate::time::Reading;

/// What the `tokenclock` executor must do next (core `CliAction`): `kind` is `"read"` (`path`,
/// `None` for standard input; `max_bytes`), `"http"` (`id`, `url`, `method`, `headers`,
/// `timeout`), `"sntp"` (`id`, `host`, `port`, `timeout`), `"wait"` (`wait`: seconds, or
/// `None` until an exchange completes), `"write_file"` (`path`, `data`: create or replace the
/// file, never into a directory), `"write"` (`stream`, `text`) or `"exit"` (`code`).
#[pyclass(frozen, module = "tokenclock._native", name = "_CliAction")]
pub struct CliAction {
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    path: Option<String>,
    #[pyo3(get)]
    max_bytes: Option<usize>,
    #[pyo3(get)]
    id: Option<usize>,
    #[pyo3(get)]
    url: Option<String>,
    #[pyo3(get)]
    method: Option<&'static str>,
    #[pyo3(get)]
    headers: Vec<(&'static str, String)>,
    #[pyo3(get)]
    host: Option<String>,
    #[pyo3(get)]
    port: Option<u16>,
    #[pyo3(get)]
    timeout: Option<f64>,
    #[pyo3(get)]
    wait: Option<f64>,
    #[pyo3(get)]
    stream: Option<&'static str>,
    #[pyo3(get)]
    text: Option<String>,
    data: Option<Vec<u8>>,
    #[pyo3(get)]
    code: Option<i32>,
}

impl CliAction {
    fn empty(kind: &'static str) -> CliAction {
        CliAction {
            kind,
            path: None,
            max_bytes: None,
            id: None,
            url: None,
            method: None,
            headers: Vec::new(),
            host: None,
            port: None,
            timeout: None,
            wait: None,
            stream: None,
            text: None,
            data: None,
            code: None,
        }
    }

    fn wrap(a: core_cli::CliAction) -> CliAction {
        use core_cli::CliAction as A;
        let secs = |ms: i64| seconds(ms);
        match a {
            A::Read { input, max_bytes } => CliAction {
                path: match input {
                    core_cli::Input::File(p) => Some(p),
                    _ => None,
                },
                max_bytes: Some(max_bytes),
                ..CliAction::empty("read")
            },
            A::Http {
                id,
                url,
                method,
                headers,
                timeout_ms,
            } => CliAction {
                id: Some(id),
                url: Some(url),
                method: Some(method.as_str()),
                headers,
                timeout: Some(secs(timeout_ms)),
                ..CliAction::empty("http")
            },
            A::Sntp {
                id,
                host,
                port,
                timeout_ms,
            } => CliAction {
                id: Some(id),
                host: Some(host),
                port: Some(port),
                timeout: Some(secs(timeout_ms)),
                ..CliAction::empty("sntp")
            },
            A::Wait { wait_ms } => CliAction {
                wait: wait_ms.map(secs),
                ..CliAction::empty("wait")
            },
            A::WriteFile { path, bytes } => CliAction {
                path: Some(path),
                data: Some(bytes),
                ..CliAction::empty("write_file")
            },
            A::Write { stream, text } => CliAction {
                stream: Some(match stream {
                    core_cli::Stream::Stdout => "stdout",
                    core_cli::Stream::Stderr => "stderr",
                }),
                text: Some(text),
                ..CliAction::empty("write")
            },
            A::Exit { code } => CliAction {
                code: Some(code),
                ..CliAction::empty("exit")
            },
            _ => CliAction {
                code: Some(core_cli::EXIT_USAGE),
                ..CliAction::empty("exit")
            },
        }
    }
}

#[pymethods]
impl CliAction {
    /// The bytes of a `write_file`.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.data.as_deref().map(|d| PyBytes::new(py, d))
    }

    fn __repr__(&self) -> String {
        format!("_CliAction(kind='{}')", self.kind)
    }
}

/// One `tokenclock` run (core `CliRun`): `_CliRun(argv, env, stdout_is_terminal)`, then loop
/// `poll(Reading.now())` and answer each action. Thread-safe (exchanges may be answered from
/// worker threads).
#[pyclass(frozen, module = "tokenclock._native", name = "_CliRun")]
pub struct CliRun(Mutex<core_cli::CliRun>);

impl CliRun {
    fn with<T>(&self, f: impl FnOnce(&mut core_cli::CliRun) -> T) -> Result<T, Error> {
        let mut g = self.0.lock().map_err(|_| Error::Internal(POISONED))?;
        Ok(f(&mut g))
    }
}

#[pymethods]
impl CliRun {
    #[new]
    fn new(argv: Vec<String>, env: &Bound<'_, PyAny>, stdout_is_terminal: bool) -> PyResult<Self> {
        let mut vars = Vec::new();
        for name in core_cli::ENV_VARS {
            let value = env.call_method1("get", (name,))?;
            if let Ok(s) = value.cast::<pyo3::types::PyString>() {
                vars.push((name.to_owned(), s.to_string_lossy().into_owned()));
            }
        }
        guard(|| {
            Ok(CliRun(Mutex::new(core_cli::CliRun::new(
                &argv,
                &vars,
                stdout_is_terminal,
            ))))
        })
    }

    /// The command, once known.
    #[getter]
    fn command(&self) -> PyResult<Option<&'static str>> {
        guard(|| Ok(self.with(|r| r.command())?))
    }

    /// What to do next; `now` is both clocks read just now.
    fn poll(&self, py: Python<'_>, now: Reading) -> PyResult<CliAction> {
        let action = py.detach(|| self.with(|r| r.poll(now.0)));
        guard(|| Ok(CliAction::wrap(action?)))
    }

    /// The bytes of a `read` (empty: end of input).
    fn on_read(&self, data: &[u8]) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_read(data))?))
    }

    /// A `read` failed: `not_found`, `permission_denied`, `is_a_directory`, `too_large` or
    /// `io_error` (anything else is `io_error`).
    fn on_read_error(&self, problem: &str) -> PyResult<()> {
        let problem =
            core_cli::InputProblem::from_code(problem).unwrap_or(core_cli::InputProblem::Io);
        guard(|| Ok(self.with(|r| r.on_read_error(problem))?))
    }

    /// A `write_file` succeeded.
    fn on_written(&self) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_written())?))
    }

    /// A `write_file` failed: `not_found` (a missing directory), `permission_denied`,
    /// `is_a_directory` or `io_error` (anything else is `io_error`).
    fn on_write_error(&self, problem: &str) -> PyResult<()> {
        let problem =
            core_cli::InputProblem::from_code(problem).unwrap_or(core_cli::InputProblem::Io);
        guard(|| Ok(self.with(|r| r.on_write_error(problem))?))
    }

    /// An `http` exchange's response.
    fn on_http_response(
        &self,
        id: usize,
        status: u16,
        date: Option<&str>,
        age: Option<&str>,
        sent: Reading,
        received: Reading,
    ) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_http_response(id, status, date, age, sent.0, received.0))?))
    }

    /// The 48 bytes to send for an `sntp` exchange now (`None`: no such exchange).
    fn sntp_packet<'py>(
        &self,
        py: Python<'py>,
        id: usize,
        now: Reading,
        entropy: Int<u32>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        guard(|| {
            let packet = self.with(|r| r.sntp_packet(id, now.0, entropy.0))?;
            Ok(packet.map(|p| PyBytes::new(py, &p)))
        })
    }

    /// An `sntp` exchange's reply and the reading on receipt.
    fn on_sntp_reply(&self, id: usize, reply: &[u8], received: Reading) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_sntp_reply(id, reply, received.0))?))
    }

    /// An exchange failed: a transport code.
    fn on_transport_error(&self, id: usize, code: &str) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_transport_error(id, code))?))
    }

    /// The executor failed unexpectedly: its error's `code` attribute (when a string) and
    /// class name; the run ends with `internal error (…)`.
    fn on_internal_error(&self, code: Option<&str>, class_name: &str) -> PyResult<()> {
        let what = core_cli::describe_failure(code, class_name);
        guard(|| Ok(self.with(|r| r.on_internal_error(&what))?))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "_CliRun(command={:?})",
                self.with(|r| r.command())?
            ))
        })
    }
}

/// Adds this module's classes to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CliAction>()?;
    m.add_class::<CliRun>()?;
    Ok(())
}
