//! Outputs that are not reports: usage, argument and input errors, and the help texts.

use super::*;

/// The commands, for error messages and `help`.
pub const COMMANDS: [&str; 4] = ["inspect", "skew", "ages", "simulate"];

pub(super) fn command_label(command: Option<&str>) -> String {
    match command {
        Some(c) if COMMANDS.contains(&c) => format!("tokenclock {c}"),
        _ => "tokenclock".to_owned(),
    }
}

pub(super) fn command_json(command: Option<&str>) -> Value {
    match command {
        Some(c) if COMMANDS.contains(&c) => Value::String(c.to_owned()),
        _ => Value::Null,
    }
}

/// An error output: one line of text on stderr, exit 2, JSON with an `error` object.
pub(super) fn error_rendered(command: Option<&str>, code: &str, message: &str) -> Rendered {
    let message = cap_chars(&sanitize(&redact_tokens(message)), MAX_MESSAGE_CHARS);
    Rendered {
        text: format!("{}: error: {message}\n", command_label(command)),
        json: json!({
            "command": command_json(command),
            "schema_version": SCHEMA_VERSION,
            "error": {"code": code, "message": message},
            "findings": [],
            "exit_code": EXIT_USAGE,
        }),
        exit_code: EXIT_USAGE,
        stream: Stream::Stderr,
    }
}

/// Bad usage (unknown flag, missing argument, a value out of range): one line on stderr,
/// exit 2, JSON `{"error": {"code": "usage", "message": …}}`. `command` is one of
/// [`COMMANDS`] or `None`. JWT-shaped text in `message` is replaced by `<token>`, control
/// characters are escaped and the message is capped at 300 characters.
pub fn usage_error(command: Option<&str>, message: &str) -> Rendered {
    error_rendered(command, "usage", message)
}

/// A [`ReportError`] (a flag's value rejected by one of this module's parsers) as a usage
/// error, with its code.
pub fn argument_error(command: Option<&str>, error: &ReportError) -> Rendered {
    error_rendered(command, error.code(), &error.to_string())
}

/// Why an input could not be read, as the front-ends classify their I/O errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputProblem {
    /// `not_found`: no such file (ENOENT).
    NotFound,
    /// `permission_denied`: EACCES / EPERM.
    PermissionDenied,
    /// `is_a_directory`: EISDIR.
    IsADirectory,
    /// `too_large`: more than the command reads (e.g. a token file over 64 KiB).
    TooLarge,
    /// `io_error`: anything else.
    Io,
}

impl InputProblem {
    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            InputProblem::NotFound => "not_found",
            InputProblem::PermissionDenied => "permission_denied",
            InputProblem::IsADirectory => "is_a_directory",
            InputProblem::TooLarge => "too_large",
            InputProblem::Io => "io_error",
        }
    }

    /// Reads a code back (`None` for an unknown one).
    pub fn from_code(code: &str) -> Option<InputProblem> {
        [
            InputProblem::NotFound,
            InputProblem::PermissionDenied,
            InputProblem::IsADirectory,
            InputProblem::TooLarge,
            InputProblem::Io,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }

    const fn phrase(self) -> &'static str {
        match self {
            InputProblem::NotFound => "no such file",
            InputProblem::PermissionDenied => "permission denied",
            InputProblem::IsADirectory => "is a directory",
            InputProblem::TooLarge => "too large",
            InputProblem::Io => "read error",
        }
    }
}

/// A file that could not be written (`simulate --html FILE`): `tokenclock simulate: error:
/// cannot write out/cell.html: no such directory`, exit 2, JSON `error.code` the problem's
/// code. The front-end maps its OS error to an [`InputProblem`] as for reads.
pub fn output_error(command: Option<&str>, what: &str, problem: InputProblem) -> Rendered {
    let phrase = match problem {
        InputProblem::NotFound => "no such directory",
        InputProblem::Io => "write error",
        other => other.phrase(),
    };
    error_rendered(
        command,
        problem.code(),
        &format!("cannot write {what}: {phrase}"),
    )
}

/// An input that could not be read: `tokenclock ages: error: cannot read logs.txt: no such
/// file`, exit 2. `what` is the path as given (or `"standard input"`); the front-end maps
/// its OS error to an [`InputProblem`] so both print the same words.
pub fn input_error(command: Option<&str>, what: &str, problem: InputProblem) -> Rendered {
    error_rendered(
        command,
        problem.code(),
        &format!("cannot read {what}: {}", problem.phrase()),
    )
}

/// The usage summary (`tokenclock --help`, `tokenclock CMD --help`); exit 0, stdout.
pub fn help(command: Option<&str>) -> Rendered {
    let text = match command {
        Some("inspect") => HELP_INSPECT,
        Some("skew") => HELP_SKEW,
        Some("ages") => HELP_AGES,
        Some("simulate") => HELP_SIMULATE,
        _ => HELP_MAIN,
    };
    Rendered {
        text: text.to_owned(),
        json: json!({
            "command": command_json(command),
            "schema_version": SCHEMA_VERSION,
            "help": text,
            "findings": [],
            "exit_code": EXIT_OK,
        }),
        exit_code: EXIT_OK,
        stream: Stream::Stdout,
    }
}

pub(super) const HELP_MAIN: &str = "\
usage: tokenclock COMMAND [OPTIONS]

commands:
  inspect   show a JWT's header, claims and time claims (unverified unless a key is given)
  skew      measure this machine's clock offset to HTTP servers (Date header) or SNTP
  ages      token ages (now - iat) found in logs: quantiles, histogram, clock verdict
  simulate  run one skew-gauntlet cell: every token strategy side by side

Every command takes --json. Exit codes: 0 fine, 1 a finding, 2 bad usage or unreadable input.
Run 'tokenclock COMMAND --help' for a command's options.
";

pub(super) const HELP_INSPECT: &str = "\
usage: tokenclock inspect TOKEN|- [--server URL] [--key FILE | --jwks FILE --alg ALG[,ALG...]]
                          [--leeway S] [--iss ISS] [--aud AUD] [--json]

  TOKEN|-       the token, or - to read it from standard input (a 'Bearer ' prefix is fine)
  --server URL  measure this machine's offset to URL first; show times on its clock
  --key FILE    verify with a PEM public key, a JWK, or an HMAC secret (the file's bytes)
  --jwks FILE   verify with a JWKS document
  --alg ALG     algorithms to accept (required with --key/--jwks), e.g. RS256,ES256
  --leeway S    verifier leeway in seconds (default 5)
  --iss ISS     expected issuer (default: not checked)
  --aud AUD     expected audience (default: not checked)
";

pub(super) const HELP_SKEW: &str = "\
usage: tokenclock skew [URL...] [--ntp HOST[:PORT]]... [--samples N] [--max-offset S] [--json]

  URL               an HTTP(S) origin; its Date header is sampled with HEAD requests
  --ntp HOST[:PORT] an SNTP server (port 123 by default)
  --samples N       requests per origin (default 8 for URLs, 1 for SNTP)
  --max-offset S    exit 1 when an offset may exceed S seconds (default 1)
";

pub(super) const HELP_AGES: &str = "\
usage: tokenclock ages [FILE|-] [--time-field FIELD] [--prometheus] [--json]

  FILE|-             input (default standard input); JWTs are found anywhere in a line
  --time-field FIELD where a line's own timestamp is: a JSON key (dotted path), a logfmt
                     key, or a 1-based whitespace-separated column number
  --prometheus       print the histogram in Prometheus text format instead
";

pub(super) const HELP_SIMULATE: &str = "\
usage: tokenclock simulate [--client-offset S] [--rs-offset S] [--ttl S] [--leeway S]
                           [--cached-age S] [--step S] [--hours H] [--seed N] [--timeline]
                           [--html FILE] [--json]

  --client-offset S  client clock minus issuer clock (default 0)
  --rs-offset S      resource-server clock minus issuer clock (default 0)
  --ttl S            token lifetime (default 300)
  --leeway S         resource-server leeway (default 0)
  --cached-age S     issuer hands out cached tokens, the first this old (default 0: off)
  --step S           client wall-clock step half-way through the first token (default 0)
  --hours H          simulated duration (default 3)
  --seed N           seed (default 1)
  --timeline         print tokenclock's event log
  --html FILE        also write the cell's timeline as a chart to FILE: one self-contained
                     HTML page, every strategy's requests and events (FILE is replaced)
";
