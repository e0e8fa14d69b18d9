//! The command line's grammar, once for both front-ends: `argv` → [`ParsedArgs`] (the
//! command, `--json`, `--help`, the first usage problem, and the items in argument order).
//! Values are not parsed here: each command hands them to the value parsers (`values`), in
//! argument order, so `"0.1"` is 100 ms everywhere.
//!
//! * `tokenclock [--json] [--help|-h] COMMAND [ARGS...]`. Before COMMAND only `--json`,
//!   `--help` and `-h` are accepted. No COMMAND: `missing command (commands: inspect, skew,
//!   ages, simulate)`; an unknown one: `unknown command 'X' (commands: …)`; any other option
//!   there: `unknown option '-x'`.
//! * After COMMAND: `--NAME VALUE` or `--NAME=VALUE` for a value option (the next argument is
//!   the value whatever it looks like, so `--client-offset -30` works); `--NAME` for a flag;
//!   `-` is a positional (standard input); `--` ends the options; any other argument starting
//!   with `-` is an option.
//! * `--help`/`-h` anywhere before `--` asks for the help (exit 0), whatever else is wrong.
//!   `--json` anywhere before `--` selects JSON output, for errors too.
//! * The first problem in argument order is kept, as a `usage` message:
//!   `unknown option '--NAME'` (for `--NAME=VALUE` only the name is shown: the value may be a
//!   secret), `option --NAME needs a value`, `option --NAME takes no value`, `option --NAME
//!   given more than once` (all but `--aud` and `--ntp`), `unexpected extra argument 'ARG'`.

/// A `tokenclock` subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `inspect TOKEN|-`.
    Inspect,
    /// `skew [URL...] [--ntp HOST]...`.
    Skew,
    /// `ages [FILE|-]`.
    Ages,
    /// `simulate [--html FILE]`.
    Simulate,
}

/// What a command accepts.
struct Spec {
    values: &'static [&'static str],
    repeat: &'static [&'static str],
    flags: &'static [&'static str],
    max_positionals: Option<usize>,
}

impl Command {
    /// Every command, in help order.
    pub const ALL: [Command; 4] = [
        Command::Inspect,
        Command::Skew,
        Command::Ages,
        Command::Simulate,
    ];

    /// The command's name on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Inspect => "inspect",
            Command::Skew => "skew",
            Command::Ages => "ages",
            Command::Simulate => "simulate",
        }
    }

    /// Reads a command name back.
    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == name)
    }

    const fn spec(self) -> Spec {
        match self {
            Command::Inspect => Spec {
                values: &[
                    "--server", "--key", "--jwks", "--alg", "--leeway", "--iss", "--aud",
                ],
                repeat: &["--aud"],
                flags: &[],
                max_positionals: Some(1),
            },
            Command::Skew => Spec {
                values: &["--ntp", "--samples", "--max-offset"],
                repeat: &["--ntp"],
                flags: &[],
                max_positionals: None,
            },
            Command::Ages => Spec {
                values: &["--time-field"],
                repeat: &[],
                flags: &["--prometheus"],
                max_positionals: Some(1),
            },
            Command::Simulate => Spec {
                values: &[
                    "--client-offset",
                    "--rs-offset",
                    "--ttl",
                    "--leeway",
                    "--cached-age",
                    "--step",
                    "--hours",
                    "--seed",
                    "--html",
                ],
                repeat: &[],
                flags: &["--timeline"],
                max_positionals: Some(0),
            },
        }
    }
}

/// One scanned argument after the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgItem {
    /// A positional argument (`-` is standard input).
    Positional(String),
    /// An option: its name (`--ntp`) and value (`None` for a flag).
    Option {
        /// The option's name.
        name: &'static str,
        /// Its value (`None` for a flag such as `--timeline`).
        value: Option<String>,
    },
}

/// The scanned command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedArgs {
    /// The command, when a known one was given.
    pub command: Option<Command>,
    /// `--json` was given (before `--`).
    pub json: bool,
    /// `--help` or `-h` was given (before `--`).
    pub help: bool,
    /// The first usage problem, in argument order.
    pub error: Option<String>,
    /// Positionals and options after the command, in argument order.
    pub items: Vec<ArgItem>,
}

impl ParsedArgs {
    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// The positionals, in order.
    pub fn positionals(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|i| match i {
            ArgItem::Positional(v) => Some(v.as_str()),
            ArgItem::Option { .. } => None,
        })
    }

    /// The value of the first `name` option (`None` when absent or a flag).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.items.iter().find_map(|i| match i {
            ArgItem::Option { name: n, value } if *n == name => value.as_deref(),
            _ => None,
        })
    }

    /// Every value of a repeatable option, in order.
    pub fn options<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.items.iter().filter_map(move |i| match i {
            ArgItem::Option { name: n, value } if *n == name => value.as_deref(),
            _ => None,
        })
    }

    /// Whether the option or flag `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i, ArgItem::Option { name: n, .. } if *n == name))
    }
}

const COMMAND_LIST: &str = "inspect, skew, ages, simulate";
const COMMON_FLAGS: [&str; 3] = ["--json", "--help", "-h"];

/// The option name of `--name=value` (never the value: it may be a secret).
fn option_name(arg: &str) -> &str {
    match arg.strip_prefix("--") {
        Some(_) => arg.split_once('=').map_or(arg, |(n, _)| n),
        None => arg,
    }
}

/// Scans `argv` (the arguments after `tokenclock`) by the grammar of this module.
pub fn parse_args<S: AsRef<str>>(argv: &[S]) -> ParsedArgs {
    let argv: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
    let mut args = ParsedArgs::default();
    let mut i = 0;
    while let Some(&a) = argv.get(i) {
        if a == "--json" {
            args.json = true;
        } else if a == "--help" || a == "-h" {
            args.help = true;
        } else if a.starts_with('-') && a != "-" {
            if a.starts_with("--json=") || a.starts_with("--help=") {
                args.fail(format!("option {} takes no value", option_name(a)));
            } else {
                args.fail(format!("unknown option '{}'", option_name(a)));
            }
        } else {
            break;
        }
        i += 1;
    }
    let Some(&name) = argv.get(i) else {
        if !args.help {
            args.fail(format!("missing command (commands: {COMMAND_LIST})"));
        }
        return args;
    };
    i += 1;
    let Some(command) = Command::from_name(name) else {
        args.fail(format!(
            "unknown command '{name}' (commands: {COMMAND_LIST})"
        ));
        // Keep looking for --json/--help so the error is printed the way the user asked.
        for &a in argv.iter().skip(i).take_while(|a| **a != "--") {
            args.json |= a == "--json";
            args.help |= a == "--help" || a == "-h";
        }
        return args;
    };
    args.command = Some(command);
    let spec = command.spec();
    let mut seen: Vec<&str> = Vec::new();
    let mut positionals = 0usize;
    let mut ended = false;
    while let Some(&a) = argv.get(i) {
        i += 1;
        if ended || a == "-" || !a.starts_with('-') {
            positionals += 1;
            if spec.max_positionals.is_some_and(|max| positionals > max) {
                args.fail(format!("unexpected extra argument '{a}'"));
            } else {
                args.items.push(ArgItem::Positional(a.to_owned()));
            }
            continue;
        }
        if a == "--" {
            ended = true;
            continue;
        }
        let (opt, inline) = match a.strip_prefix("--").and_then(|_| a.split_once('=')) {
            Some((o, v)) => (o, Some(v)),
            None => (a, None),
        };
        if COMMON_FLAGS.contains(&opt) {
            match inline {
                Some(_) => args.fail(format!("option {opt} takes no value")),
                None if opt == "--json" => args.json = true,
                None => args.help = true,
            }
        } else if let Some(&flag) = spec.flags.iter().find(|f| **f == opt) {
            if inline.is_some() {
                args.fail(format!("option {opt} takes no value"));
            } else if seen.contains(&flag) {
                args.fail(format!("option {opt} given more than once"));
            } else {
                seen.push(flag);
                args.items.push(ArgItem::Option {
                    name: flag,
                    value: None,
                });
            }
        } else if let Some(&option) = spec.values.iter().find(|f| **f == opt) {
            let value = match inline {
                Some(v) => v,
                None => match argv.get(i) {
                    Some(&v) => {
                        i += 1;
                        v
                    }
                    None => {
                        args.fail(format!("option {opt} needs a value"));
                        continue;
                    }
                },
            };
            if seen.contains(&option) && !spec.repeat.contains(&option) {
                args.fail(format!("option {opt} given more than once"));
            } else {
                seen.push(option);
                args.items.push(ArgItem::Option {
                    name: option,
                    value: Some(value.to_owned()),
                });
            }
        } else {
            args.fail(format!("unknown option '{opt}'"));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(argv: &[&str]) -> ParsedArgs {
        parse_args(argv)
    }

    #[test]
    fn grammar_messages() {
        let e = |argv: &[&str]| scan(argv).error.unwrap_or_default();
        assert_eq!(
            e(&[]),
            "missing command (commands: inspect, skew, ages, simulate)"
        );
        assert_eq!(
            e(&["nope", "--json"]),
            "unknown command 'nope' (commands: inspect, skew, ages, simulate)"
        );
        assert_eq!(e(&["-x", "skew"]), "unknown option '-x'");
        assert_eq!(e(&["--json=1"]), "option --json takes no value");
        assert_eq!(e(&["skew", "--bad=secret"]), "unknown option '--bad'");
        assert_eq!(e(&["skew", "--samples"]), "option --samples needs a value");
        assert_eq!(
            e(&["simulate", "--ttl", "5", "--ttl=6"]),
            "option --ttl given more than once"
        );
        assert_eq!(e(&["ages", "a", "b"]), "unexpected extra argument 'b'");
        assert_eq!(
            e(&["simulate", "--timeline=1"]),
            "option --timeline takes no value"
        );
        let s = scan(&["skew", "http://a", "--ntp", "n1", "--ntp=n2", "--json"]);
        assert!(s.error.is_none() && s.json);
        assert_eq!(s.options("--ntp").collect::<Vec<_>>(), ["n1", "n2"]);
        let s = scan(&["simulate", "--client-offset", "-30", "--", "--json"]);
        assert_eq!(s.option("--client-offset"), Some("-30"));
        assert!(!s.json);
        assert_eq!(
            s.error.as_deref(),
            Some("unexpected extra argument '--json'")
        );
        assert!(scan(&["--help"]).help && scan(&["--help"]).error.is_none());
    }
}
