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
            "--pam-dir",
            &debian_pam_dir("").path().display().to_string(),
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
    let pam = debian_pam_dir("");
    let dir = pam.path().display().to_string();
    let (out, _d) = pwpolicy(&["explain", "--pam-dir", &dir, "minlenn=3"], "");
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

/// A pam.d directory as Debian 12 has it after `pam-auth-update` enabled pam_pwpolicy: `passwd` includes
/// `common-password`, whose pam_pwpolicy line carries `args`.
fn debian_pam_dir(args: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("passwd"),
        "#\n# The PAM configuration file for the Shadow `passwd' service\n#\n\n@include common-password\n\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("common-password"),
        format!(
            "# here are the per-package modules (the \"Primary\" block)\n\
             password\trequisite\t\t\tpam_pwpolicy.so {args}\n\
             password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt\n\
             # here's the fallback if no module succeeds\n\
             password\trequisite\t\t\tpam_deny.so\n\
             password\trequired\t\t\tpam_permit.so\n"
        ),
    )
    .unwrap();
    d
}

fn explain_with(pam: &std::path::Path) -> (Output, String, String) {
    let dir = pam.display().to_string();
    let (out, _d) = pwpolicy(&["explain", "--pam-dir", &dir], "");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    (out, stdout, stderr)
}

#[test]
fn given_a_typo_on_the_pam_line_then_explain_names_file_and_line_and_exits_two() {
    let pam = debian_pam_dir("retry=3 minlenn=12");
    let (out, stdout, stderr) = explain_with(pam.path());
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let at = format!(
        "{}:2: unknown option `minlenn`",
        pam.path().join("common-password").display()
    );
    assert!(stderr.contains(&at), "{stderr}");
    assert!(stdout.contains("pam_pwpolicy.so retry=3 minlenn=12"), "{stdout}");
}

#[test]
fn given_a_clean_debian_stack_then_explain_shows_the_line_and_its_arguments_take_effect() {
    let pam = debian_pam_dir("retry=3 minlen=14");
    let (out, stdout, stderr) = explain_with(pam.path());
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let line = format!(
        "{}:2: password requisite pam_pwpolicy.so retry=3 minlen=14",
        pam.path().join("common-password").display()
    );
    assert!(stdout.contains(&line), "{stdout}");
    // The PAM line overrides pwpolicy.conf's minlen = 10.
    assert!(stdout.contains("minimum length: minlen=14"), "{stdout}");
    assert!(stdout.contains("prompting: retry=3"), "{stdout}");
}

#[test]
fn given_no_pam_pwpolicy_line_then_explain_says_the_policy_is_not_in_effect_and_exits_one() {
    let pam = debian_pam_dir("");
    std::fs::write(
        pam.path().join("common-password"),
        "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\tpam_deny.so\n",
    )
    .unwrap();
    let (out, stdout, _) = explain_with(pam.path());
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("no pam_pwpolicy line: this policy is NOT in effect"),
        "{stdout}"
    );
    // The policy of the configuration files is still shown.
    assert!(stdout.contains("minimum length: minlen=10"), "{stdout}");
}

#[test]
fn given_an_optional_control_then_explain_warns_that_refusals_do_not_stop_the_change() {
    let pam = debian_pam_dir("");
    let cp = pam.path().join("common-password");
    let text = std::fs::read_to_string(&cp)
        .unwrap()
        .replace("requisite\t\t\tpam_pwpolicy", "optional pam_pwpolicy");
    std::fs::write(&cp, text).unwrap();
    let (_, stdout, _) = explain_with(pam.path());
    assert!(
        stdout.contains("control `optional`: a refused password does not stop the change"),
        "{stdout}"
    );
}
