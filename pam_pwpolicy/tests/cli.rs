//! The `pwpolicy` binary as an admin runs it: one verdict per stdin line, JSON shape, exit codes, the
//! effective minimum under credits, and `error:`/`hint:` lines. `--config` points at a temporary file so
//! the host's /etc is not read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn pwpolicy(args: &[&str], stdin: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pwpolicy.conf");
    std::fs::write(&conf, "minlen = 10\nucredit = -1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pwpolicy"))
        .args(args)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    (child.wait_with_output().unwrap(), dir)
}

#[test]
fn given_passwords_on_stdin_then_one_json_verdict_per_line() {
    let (out, _d) = pwpolicy(
        &["check", "--json", "--user", "nobody-here"],
        "Password123!\nVq8#mT2!rZw9xLp\nshort\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("{\"ok\":false,\"score\":"));
    assert!(lines[1].starts_with("{\"ok\":true,\"score\":4"));
    assert!(lines[2].contains("\"rule\":\"minlen\"") && lines[2].contains("\"rule\":\"ucredit\""));
    assert!(!text.contains("Password123!"), "passwords must not be echoed");
}

#[test]
fn given_all_good_passwords_then_exit_zero_and_text_verdicts() {
    let (out, _d) = pwpolicy(&["check"], "Vq8#mT2!rZw9xLp\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "ok\tscore=4\n");
}

#[test]
fn given_positive_credits_then_explain_prints_the_real_minimum() {
    let (out, _d) = pwpolicy(
        &[
            "explain",
            "minlen=12",
            "ucredit=1",
            "dcredit=1",
            "lcredit=1",
            "ocredit=1",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("real minimum under credits: 8 code points"),
        "{text}"
    );
}

#[test]
fn given_bad_option_then_error_and_hint_lines_and_exit_two() {
    let (out, _d) = pwpolicy(&["explain", "minlenn=3"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("pwpolicy: error: bad configuration"), "{err}");
    assert!(
        err.contains("minlenn") && err.contains("\npwpolicy: hint: "),
        "{err}"
    );
}

#[test]
fn given_a_password_typed_as_an_argument_then_it_is_refused_without_being_echoed() {
    let (out, _d) = pwpolicy(&["check", "hunter2"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("hunter2"), "the argument was echoed: {err}");
    assert!(
        err.starts_with("pwpolicy: error: argument 2 is neither KEY=VALUE nor a known option"),
        "{err}"
    );
    assert!(
        err.contains("pwpolicy: hint: passwords are read from stdin"),
        "{err}"
    );
}

#[test]
fn given_json_output_then_each_line_parses_as_json_with_the_verdict_fields() {
    let (out, _d) = pwpolicy(&["check", "--json"], "short\n\u{1}\"\\x\n");
    let text = String::from_utf8(out.stdout).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["ok", "score", "guesses_log10", "length", "reasons"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
        assert_eq!(v["ok"], false);
    }
}
