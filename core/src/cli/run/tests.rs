//! Tests of [`CliRun`]: the order of its actions, its answers, and its messages.

use super::*;

fn reading(ms: i64) -> Reading {
    Reading::new(1_700_000_000_000 + ms, ms).unwrap()
}

fn run(argv: &[&str]) -> CliRun {
    CliRun::new(argv, &[], false)
}

fn written(run: &mut CliRun) -> (Stream, String, i32) {
    let CliAction::Write { stream, text } = run.poll(reading(0)) else {
        panic!("expected a write");
    };
    let CliAction::Exit { code } = run.poll(reading(0)) else {
        panic!("expected an exit");
    };
    (stream, text, code)
}

#[test]
fn a_host_that_wakes_late_still_sends_the_next_date_probe() {
    // Timers fire a little after the instant asked for: waking 1-3 ms late must send the
    // probe, not aim at the next second (which a late wake-up would do forever).
    let mut r = run(&["skew", "http://127.0.0.1:9/", "--samples", "4", "--json"]);
    let mut t = 0;
    let mut sent = 0;
    for _ in 0..200 {
        match r.poll(reading(t)) {
            CliAction::Http { id, .. } => {
                sent += 1;
                let date = crate::httpdate::format_http_date(crate::time::UnixMillis(
                    1_700_000_000_000 + t + 250,
                ));
                r.on_http_response(id, 200, Some(&date), None, reading(t), reading(t + 2));
                t += 2;
            }
            CliAction::Wait { wait_ms: Some(w) } => {
                assert!(w < 1_500, "a wait of {w} ms after {sent} probes");
                t += w + 1 + t % 3;
            }
            CliAction::Wait { wait_ms: None } => panic!("nothing in flight to wait for"),
            CliAction::Write { .. } => {}
            CliAction::Exit { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(sent >= 2, "only {sent} probes sent");
    assert!(t < 10_000, "probing took {t} ms of virtual time");
}

#[test]
fn usage_and_help() {
    let (s, t, c) = written(&mut run(&["simulate", "--ttl", "1"]));
    assert_eq!((s, c), (Stream::Stderr, 2));
    // Without the `sim` feature the command itself is refused first.
    let want = if cfg!(feature = "sim") {
        "tokenclock simulate: error: --ttl: expected seconds from 5 to 86400\n"
    } else {
        "tokenclock simulate: error: this build cannot simulate\n"
    };
    assert_eq!(t, want);
    let (s, _, c) = written(&mut run(&["skew", "--help", "--bogus"]));
    assert_eq!((s, c), (Stream::Stdout, 0));
    let (s, t, _) = written(&mut run(&["--json", "nope"]));
    assert_eq!(s, Stream::Stdout);
    assert!(t.contains("\"code\": \"usage\""));
}

#[test]
fn inspect_reads_stdin_then_the_key_file() {
    let mut r = run(&["inspect", "-", "--key", "k.pem", "--alg", "RS256"]);
    assert_eq!(
        r.poll(reading(0)),
        CliAction::Read {
            input: Input::Stdin,
            max_bytes: TOKEN_READ_LIMIT
        }
    );
    r.on_read(b"abc");
    r.on_read(b"");
    assert_eq!(
        r.poll(reading(0)),
        CliAction::Read {
            input: Input::File("k.pem".to_owned()),
            max_bytes: READ_CHUNK
        }
    );
    r.on_read_error(InputProblem::NotFound);
    let (s, t, c) = written(&mut r);
    assert_eq!((s, c), (Stream::Stderr, 2));
    assert_eq!(
        t,
        "tokenclock inspect: error: cannot read k.pem: no such file\n"
    );
}

#[test]
fn skew_measures_origins_concurrently_and_falls_back_to_get() {
    let mut r = run(&[
        "skew",
        "http://a.example",
        "http://b.example",
        "--samples",
        "1",
    ]);
    let CliAction::Http {
        id: 0,
        method: HttpMethod::Head,
        ..
    } = r.poll(reading(0))
    else {
        panic!("first request");
    };
    let CliAction::Http { id: 1, .. } = r.poll(reading(0)) else {
        panic!("second request, concurrently");
    };
    assert_eq!(r.poll(reading(1)), CliAction::Wait { wait_ms: None });
    r.on_http_response(0, 405, None, None, reading(1), reading(2));
    let CliAction::Http {
        id: 0,
        method: HttpMethod::Get,
        ..
    } = r.poll(reading(2))
    else {
        panic!("GET after 405");
    };
    r.on_transport_error(1, "dns_error");
    r.on_http_response(
        0,
        200,
        Some("Tue, 14 Nov 2023 22:13:20 GMT"),
        None,
        reading(3),
        reading(5),
    );
    let (s, t, c) = written(&mut r);
    assert_eq!((s, c), (Stream::Stdout, 2));
    assert!(t.contains("the host name could not be resolved"), "{t}");
}

#[test]
fn fake_clock_and_color_come_from_the_environment() {
    let env = [(FAKE_NOW_ENV.to_owned(), "soon".to_owned())];
    let (_, t, c) = written(&mut CliRun::new(&["ages"], &env, false));
    assert_eq!(c, 2);
    assert_eq!(t, "tokenclock ages: error: TOKENCLOCK_FAKE_NOW_MS: expected a non-negative integer in range\n");
    assert!(CliRun::new(&["ages"], &[], true).color());
    let no = [(NO_COLOR_ENV.to_owned(), "1".to_owned())];
    assert!(!CliRun::new(&["ages"], &no, true).color());
    assert_eq!(
        describe_failure(Some("Bad Code"), "RuntimeError"),
        "RuntimeError"
    );
    assert_eq!(describe_failure(None, "a b"), "error");
}

#[cfg(feature = "sim")]
#[test]
fn simulate_html_writes_the_chart_then_the_report() {
    let argv = ["simulate", "--hours", "0.01", "--html", "out/cell.html"];
    let mut r = run(&argv);
    let CliAction::WriteFile { path, bytes } = r.poll(reading(0)) else {
        panic!("expected a file write first");
    };
    assert_eq!(path, "out/cell.html");
    assert!(bytes.starts_with(b"<!DOCTYPE html>"));
    // Nothing else until the write is answered; answers out of turn are ignored.
    assert_eq!(r.poll(reading(1)), CliAction::Wait { wait_ms: None });
    r.on_read(b"x");
    r.on_written();
    let (s, t, c) = written(&mut r);
    assert_eq!((s, c), (Stream::Stdout, 0));
    assert!(
        t.ends_with("chart written to out/cell.html\nresult  ok\n"),
        "{t}"
    );
    r.on_written();
    r.on_write_error(InputProblem::Io);
    assert_eq!(r.poll(reading(2)), CliAction::Exit { code: 0 });

    // Without --html the report has no such line and nothing is written.
    let (_, plain, _) = written(&mut run(&argv[..3]));
    assert_eq!(t.replace("chart written to out/cell.html\n", ""), plain);

    let mut r = run(&[argv.as_slice(), &["--json"]].concat());
    let CliAction::WriteFile { .. } = r.poll(reading(0)) else {
        panic!("expected a file write");
    };
    r.on_written();
    let (_, t, _) = written(&mut r);
    assert!(t.contains("\"html_file\": \"out/cell.html\""), "{t}");
}

#[cfg(feature = "sim")]
#[test]
fn simulate_html_errors() {
    let mut r = run(&["simulate", "--hours", "0.01", "--html", "nowhere/x.html"]);
    let CliAction::WriteFile { .. } = r.poll(reading(0)) else {
        panic!("expected a file write");
    };
    r.on_write_error(InputProblem::NotFound);
    let (s, t, c) = written(&mut r);
    assert_eq!((s, c), (Stream::Stderr, 2));
    assert_eq!(
        t,
        "tokenclock simulate: error: cannot write nowhere/x.html: no such directory\n"
    );
    for (problem, phrase) in [
        (InputProblem::IsADirectory, "is a directory"),
        (InputProblem::PermissionDenied, "permission denied"),
        (InputProblem::Io, "write error"),
    ] {
        let mut r = run(&["simulate", "--hours", "0.01", "--html", "d", "--json"]);
        let CliAction::WriteFile { .. } = r.poll(reading(0)) else {
            panic!("expected a file write");
        };
        r.on_write_error(problem);
        let (s, t, c) = written(&mut r);
        assert_eq!((s, c), (Stream::Stdout, 2));
        assert!(
            t.contains(&format!("\"code\": \"{}\"", problem.code())),
            "{t}"
        );
        assert!(t.contains(&format!("cannot write d: {phrase}")), "{t}");
    }
    // A bad value or cell is reported before anything is written.
    for (argv, want) in [
        (
            &["simulate", "--html", "-"][..],
            "tokenclock simulate: error: --html: expected a file path (not -)\n",
        ),
        (
            &["simulate", "--html="],
            "tokenclock simulate: error: --html: expected a file path (not -)\n",
        ),
        (
            &["simulate", "--html", "x.html", "--ttl", "1"],
            "tokenclock simulate: error: --ttl: expected seconds from 5 to 86400\n",
        ),
        (
            &["simulate", "--html", "a", "--html", "b"],
            "tokenclock simulate: error: option --html given more than once\n",
        ),
        (
            &["simulate", "--html"],
            "tokenclock simulate: error: option --html needs a value\n",
        ),
    ] {
        let (s, t, c) = written(&mut run(argv));
        assert_eq!((s, t.as_str(), c), (Stream::Stderr, want, 2), "{argv:?}");
    }
}
