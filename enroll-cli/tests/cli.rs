//! The command line as a specification: every google-authenticator flag (short and long) means what it means
//! there and writes the same file layout as the real `google-authenticator`; every range and combination the C
//! tool refuses is a usage error here (exit 2, `error:` + `hint:`); the man page and bash completion committed
//! in the repository are exactly what the flag table generates; overwrite refusal, JSON, the audit line,
//! `status`, `new-scratch-codes` and admin enrollment for another user.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;

const QUIET: &[&str] = &["-f", "-C", "-q", "-Q", "NONE"];

/// Runs totp-enroll non-interactively, writing `dir/f`.
fn enroll(dir: &Path, flags: &[&str]) -> Run {
    let path = dir.join("f");
    let mut args: Vec<&str> = flags.to_vec();
    args.extend_from_slice(&["-s", path.to_str().unwrap()]);
    run_in(dir, &args, "")
}

#[test]
fn given_google_authenticator_flags_then_the_file_has_the_same_options_as_the_c_tool_writes() {
    let sets: &[&[&str]] = &[
        &["-t", "-d", "-r", "3", "-R", "30", "-w", "3"],
        &["-t", "-D", "-u", "-W", "-S", "60"],
        &["-t", "-d", "-u", "-w", "17", "-e", "1"],
        &["-c", "-u", "-W", "-e", "0"],
        &["-c", "-r", "10", "-R", "600", "-w", "21", "-e", "10"],
        &["-t", "-D", "-r", "1", "-R", "15", "-w", "1", "-S", "1"],
        &[
            "--time-based",
            "--disallow-reuse",
            "--rate-limit=3",
            "--rate-time",
            "30",
            "--window-size=5",
            "--step-size=45",
            "--emergency-codes=7",
        ],
        &["--counter-based", "--no-rate-limit", "--minimal-window"],
    ];
    for flags in sets {
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
        let mut args = flags.to_vec();
        args.extend_from_slice(QUIET);
        run_in(
            dir.path(),
            &[&args[..], &["-s", ours.to_str().unwrap()]].concat(),
            "",
        )
        .ok();
        output(
            Command::new("google-authenticator")
                .args(&args)
                .arg("-s")
                .arg(&theirs),
        );
        assert_eq!(option_lines(&ours), option_lines(&theirs), "flags {flags:?}");
        assert_eq!(
            scratch_lines(&ours).len(),
            scratch_lines(&theirs).len(),
            "flags {flags:?}"
        );
        assert_eq!(secret_of(&ours).len(), 32, "160-bit secret, 32 base32 characters");
        assert_eq!(fs::metadata(&ours).unwrap().permissions().mode() & 0o777, 0o400);
        for code in scratch_lines(&ours) {
            assert!(code.as_bytes()[0] != b'0', "scratch code {code}");
        }
    }
}

#[test]
fn given_out_of_range_values_then_usage_errors_as_in_the_c_tool() {
    let cases: &[(&[&str], &str)] = &[
        (&["-t", "-r", "0", "-R", "30"], "between 1 and 10"),
        (&["-t", "-r", "11", "-R", "30"], "between 1 and 10"),
        (&["-t", "-r", "x", "-R", "30"], "between 1 and 10"),
        (&["-t", "-r", "3", "-R", "14"], "between 15 and 600"),
        (&["-t", "-r", "3", "-R", "601"], "between 15 and 600"),
        (&["-t", "-S", "0"], "between 1 and 60"),
        (&["-t", "-S", "61"], "between 1 and 60"),
        (&["-t", "-w", "0"], "between 1 and 21"),
        (&["-t", "-w", "22"], "between 1 and 21"),
        (&["-t", "-e", "11"], "between 0 and 10"),
        (&["-t", "-e", "-1"], "between 0 and 10"),
        (&["--step-size=99"], "between 1 and 60"),
        (&["-t", "-d", "-D"], "-d and -D"),
        (&["-t", "-u", "-r", "3", "-R", "30"], "-r and -u"),
        (&["-t", "-u", "-R", "30"], "-R and -u"),
        (&["-t", "-r", "3"], "must be given together"),
        (&["-t", "-R", "30"], "must be given together"),
        (&["-t", "-c"], "-t and -c"),
        (&["-t", "-t"], "duplicate option -t"),
        (&["-t", "-w", "3", "-W"], "-w and -W"),
        (&["-c", "-d"], "counter-based"),
        (&["-c", "-D"], "counter-based"),
        (&["-Q", "FOO"], "invalid value \"FOO\""),
        (&["--algorithm", "MD5"], "invalid value \"MD5\""),
        (&["--digits", "9"], "invalid value \"9\""),
        (&["--digits", "5"], "invalid value \"5\""),
        (&["--mode", "0644"], "invalid value \"0644\""),
        (&["-x"], "unknown option -x"),
        (&["--bogus"], "unknown option --bogus"),
        (&["-s"], "needs a value"),
        (&["--label"], "needs a value"),
        (&["--label="], "non-empty"),
        (&["--force=yes"], "takes no value"),
        (&["frobnicate"], "unexpected argument"),
        (&["status", "-t"], "applies only when enrolling"),
        (&["status", "-e", "3"], "-e applies only"),
    ];
    for (args, needle) in cases {
        let r = run(args);
        assert!(r.stdout.is_empty(), "{args:?} printed {}", r.stdout);
        r.usage_error(needle);
    }
}

#[test]
fn given_boundary_values_then_they_are_accepted() {
    for flags in [
        &["-t", "-D", "-r", "1", "-R", "15", "-S", "1", "-w", "1", "-e", "0"][..],
        &[
            "-t", "-D", "-r", "10", "-R", "600", "-S", "60", "-w", "21", "-e", "10",
        ],
        &["-tDu", "-w21", "-S60"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        enroll(dir.path(), &[flags, QUIET].concat()).ok();
    }
}

#[test]
fn given_each_flag_then_it_has_its_google_authenticator_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let base = ["-f", "-C", "-u", "-W", "-Q", "NONE"];
    // -t / -c
    let r = enroll(dir.path(), &[&base[..], &["-t", "-D"]].concat()).ok();
    assert!(r.uri().starts_with("otpauth://totp/"));
    // SHA1, 6 digits and 30 s are the defaults: left out of the URI.
    assert!(
        r.uri().ends_with(&format!("&issuer={}", hostname())),
        "{}",
        r.uri()
    );
    assert_eq!(option_lines(&f), ["\" WINDOW_SIZE 3", "\" TOTP_AUTH"]);
    let r = enroll(dir.path(), &[&base[..], &["-c"]].concat()).ok();
    assert!(
        r.uri().starts_with("otpauth://hotp/") && r.uri().ends_with("&counter=1"),
        "{}",
        r.uri()
    );
    assert_eq!(option_lines(&f), ["\" WINDOW_SIZE 1", "\" HOTP_COUNTER 1"]);
    // -d
    enroll(dir.path(), &[&base[..], &["-t", "-d"]].concat()).ok();
    assert!(option_lines(&f).contains(&"\" DISALLOW_REUSE".to_owned()));
    // -S, -l, -i: the period (not the default) and the label as given, percent-encoded
    let r = enroll(
        dir.path(),
        &[
            &base[..],
            &[
                "-t",
                "-D",
                "-S",
                "60",
                "-l",
                "alice@Application Server",
                "-i",
                "Ex Co",
            ],
        ]
        .concat(),
    )
    .ok();
    assert_eq!(
        r.uri(),
        format!(
            "otpauth://totp/alice@Application%20Server?secret={}&issuer=Ex%20Co&period=60",
            secret_of(&f)
        )
    );
    assert!(option_lines(&f).contains(&"\" STEP_SIZE 60".to_owned()));
    // the secret is printed (for typing it in), the scratch codes too
    assert!(r
        .stdout
        .contains(&format!("Your new secret key is: {}", secret_of(&f))));
    for c in scratch_lines(&f) {
        assert!(r.stdout.contains(&format!("  {c}\n")));
    }
    // --algorithm / --digits reach the URI and the file
    let r = enroll(
        dir.path(),
        &[&base[..], &["-t", "-D", "--algorithm", "sha256", "--digits=8"]].concat(),
    )
    .ok();
    assert!(r.uri().ends_with("&algorithm=SHA256&digits=8"), "{}", r.uri());
    let opts = option_lines(&f);
    assert!(opts.contains(&"\" ALGORITHM SHA256".to_owned()) && opts.contains(&"\" DIGITS 8".to_owned()));
    // -q: nothing on stdout
    let r = enroll(dir.path(), &[&base[..], &["-t", "-D", "-q"]].concat()).ok();
    assert_eq!(r.stdout, "");
    // -Q NONE: URI but no QR; ANSI: colour cells; UTF8: half blocks
    let r = enroll(dir.path(), &[&base[..], &["-t", "-D"]].concat()).ok();
    assert!(!r.stdout.contains('\x1b'));
    let r = enroll(dir.path(), &["-f", "-C", "-u", "-W", "-t", "-D", "-Q", "ANSI"]).ok();
    assert!(r.stdout.contains("\x1b[40m  ") && !r.stdout.contains('▀'));
    let r = enroll(
        dir.path(),
        &["-f", "-C", "-u", "-W", "-t", "-D", "--qr-mode=utf8"],
    )
    .ok();
    assert!(r.stdout.contains('▀') || r.stdout.contains('▄'));
    // -e
    enroll(dir.path(), &[&base[..], &["-t", "-D", "-e", "10"]].concat()).ok();
    assert_eq!(scratch_lines(&f).len(), 10);
    // --mode 0600
    enroll(dir.path(), &[&base[..], &["-t", "-D", "--mode", "0600"]].concat()).ok();
    assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
    // -s default: $HOME/.google_authenticator
    run_in(dir.path(), &[&base[..], &["-t", "-D"]].concat(), "").ok();
    assert!(dir.path().join(".google_authenticator").exists());
}

#[test]
fn help_version_man_page_and_completion_come_from_one_table() {
    let help = run(&["--help"]).ok().stdout;
    assert_eq!(run(&["-h"]).ok().stdout, help);
    assert_eq!(
        run(&["--version"]).ok().stdout,
        format!("totp-enroll {}\n", env!("CARGO_PKG_VERSION"))
    );
    let man = run(&["--print-man"]).ok().stdout;
    let completion = run(&["--print-completion", "bash"]).ok().stdout;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        fs::read_to_string(root.join("../docs/man/totp-enroll.1")).unwrap(),
        man,
        "docs/man/totp-enroll.1 is stale: run `totp-enroll --print-man > docs/man/totp-enroll.1`"
    );
    assert_eq!(
        fs::read_to_string(root.join("completions/totp-enroll.bash")).unwrap(),
        completion,
        "completions/totp-enroll.bash is stale: run `totp-enroll --print-completion bash > ...`"
    );
    // Every flag google-authenticator has, and ours, in all three.
    let flags = [
        ("-t", "time-based"),
        ("-c", "counter-based"),
        ("-d", "disallow-reuse"),
        ("-D", "allow-reuse"),
        ("-f", "force"),
        ("-C", "no-confirm"),
        ("-l", "label"),
        ("-i", "issuer"),
        ("-q", "quiet"),
        ("-Q", "qr-mode"),
        ("-r", "rate-limit"),
        ("-R", "rate-time"),
        ("-u", "no-rate-limit"),
        ("-s", "secret"),
        ("-S", "step-size"),
        ("-w", "window-size"),
        ("-W", "minimal-window"),
        ("-e", "emergency-codes"),
        ("-h", "help"),
        ("", "version"),
        ("", "algorithm"),
        ("", "digits"),
        ("", "user"),
        ("", "json"),
        ("", "qr-svg"),
        ("", "mode"),
    ];
    // The words the completion offers: the last `compgen -W "..."` list.
    let words: Vec<&str> = completion
        .rsplit("compgen -W \"")
        .next()
        .and_then(|w| w.split('"').next())
        .unwrap()
        .split_whitespace()
        .collect();
    for (short, long) in flags {
        assert!(help.contains(&format!("--{long}")), "--{long} not in --help");
        assert!(
            man.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))),
            "--{long} not in the man page"
        );
        assert!(
            words.contains(&format!("--{long}").as_str()),
            "--{long} not in the completion"
        );
        if !short.is_empty() {
            assert!(
                help.contains(&format!("{short}, --{long}")),
                "{short} not in --help"
            );
            assert!(
                man.contains(&format!("\\fB\\{short}\\fR")),
                "{short} not in the man page"
            );
            assert!(words.contains(&short), "{short} not in the completion");
        }
    }
    assert!(
        !help.contains("passwd-file") && !man.contains("print\\-man"),
        "hidden flags stay hidden"
    );
    // The completion script is valid bash.
    let status = Command::new("bash")
        .arg("-n")
        .arg(root.join("completions/totp-enroll.bash"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_man_page_has_a_date_and_version_names_doctor_and_points_at_installed_files_only() {
    let man = run(&["--print-man"]).ok().stdout;
    let th = man.lines().find(|l| l.starts_with(".TH ")).unwrap();
    let version = format!("\"pam-login-security {}\"", env!("CARGO_PKG_VERSION"));
    assert!(th.contains(&version), "{th}");
    let date = th.split('"').nth(1).unwrap();
    assert!(
        date.len() == 10 && date.chars().filter(|&c| c == '-').count() == 2,
        "date YYYY-MM-DD in {th}"
    );
    assert!(
        man.contains(".B totp\\-enroll doctor\n"),
        "doctor in the synopsis"
    );
    assert!(
        !man.contains("docs/") && !man.contains("docs\\/"),
        "a source-tree path"
    );
    // dh_compress compresses documents over 4 KiB: the installed name ends in .gz.
    assert!(man.contains("/usr/share/doc/libpam\\-totp/secret\\-file\\-format.md.gz"));
}

#[test]
fn doctors_flags_come_from_the_one_table_into_its_help_the_man_page_and_the_completion() {
    use totp_enroll::doctor::{parse_args, Parsed};
    use totp_enroll::flags::DOCTOR_FLAGS;
    let help = run(&["doctor", "--help"]).ok().stdout;
    let man = run(&["--print-man"]).ok().stdout;
    let completion = run(&["--print-completion", "bash"]).ok().stdout;
    let doctor_words = completion
        .split("= doctor ]")
        .nth(1)
        .and_then(|rest| rest.split("return\n    fi").next())
        .unwrap();
    let man_section = man.split(".SH DOCTOR OPTIONS").nth(1).unwrap();
    for f in DOCTOR_FLAGS {
        let long = format!("--{}", f.long);
        assert!(help.contains(&long), "{long} not in doctor --help");
        assert_eq!(
            man_section.contains(&format!("\\-\\-{}\\fR", f.long.replace('-', "\\-"))),
            !f.hidden,
            "{long} in the man page"
        );
        assert_eq!(
            doctor_words.contains(&format!("{long} ")),
            !f.hidden,
            "{long} in the completion"
        );
        // The parser knows every row, and takes a value exactly when the row says so.
        let mut argv = vec![long.clone()];
        if f.value.is_some() {
            argv.push("x".to_owned());
        }
        assert!(parse_args(&argv).is_ok(), "{argv:?} refused");
        if f.value.is_some() {
            assert!(
                parse_args(std::slice::from_ref(&long)).is_err(),
                "{long} without its value"
            );
        } else {
            assert!(parse_args(&[format!("{long}=x")]).is_err(), "{long}=x accepted");
        }
    }
    assert!(matches!(parse_args(&["-h".to_owned()]), Ok(Parsed::Help)));
    assert!(parse_args(&["--bogus".to_owned()]).is_err());
}

#[test]
fn doctors_own_failures_have_the_error_and_hint_shape_and_exit_2() {
    run(&["doctor", "--bogus"]).usage_error("unknown option \"--bogus\"");
    run(&["doctor", "--user"]).usage_error("--user needs a value");
    let r = run(&[
        "doctor",
        "--pam-dir",
        "/nonexistent",
        "--no-clock",
        "--sshd",
        "none",
    ]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    r.error_shape("/nonexistent is not a directory");
}

#[test]
fn status_and_new_scratch_codes_print_their_own_help() {
    for (cmd, takes_e) in [("status", false), ("new-scratch-codes", true)] {
        for help in ["--help", "-h"] {
            let out = run(&[cmd, help]).ok().stdout;
            assert!(
                out.starts_with(&format!("Usage: totp-enroll {cmd} [OPTIONS]\n")),
                "{out}"
            );
            assert!(
                out.contains("--secret FILE") && out.contains("--user NAME"),
                "{out}"
            );
            assert_eq!(out.contains("--emergency-codes"), takes_e, "{out}");
            assert!(
                !out.contains("--time-based") && !out.contains("Commands:"),
                "{out}"
            );
        }
    }
}

#[test]
fn given_an_existing_file_then_it_is_replaced_only_with_force_or_a_yes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, "OLDSECRET\n").unwrap();
    let flags = [
        "-t",
        "-D",
        "-u",
        "-W",
        "-C",
        "-Q",
        "NONE",
        "-s",
        f.to_str().unwrap(),
    ];
    // No answer: refused, unchanged.
    run_in(dir.path(), &flags, "").error_shape("no answer");
    assert_eq!(fs::read_to_string(&f).unwrap(), "OLDSECRET\n");
    // "n": not written.
    let r = run_in(dir.path(), &flags, "n\n").ok();
    assert!(r.stdout.contains(&format!(
        "Do you want me to update your \"{}\" file? (y/n) ",
        f.display()
    )));
    assert_eq!(fs::read_to_string(&f).unwrap(), "OLDSECRET\n");
    // An unclear answer is asked again; "y" writes.
    run_in(dir.path(), &flags, "maybe\ny\n").ok();
    assert_ne!(secret_of(&f), "OLDSECRET");
    // -f: written without asking.
    let before = secret_of(&f);
    let r = run_in(dir.path(), &[&flags[..], &["-f"]].concat(), "").ok();
    assert!(!r.stdout.contains("Do you want me to update"));
    assert_ne!(secret_of(&f), before);
}

#[test]
fn given_a_stale_tilde_file_then_enrollment_still_works_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".google_authenticator~");
    fs::write(&stale, "stale").unwrap();
    run_in(dir.path(), &["-t", "-D", "-u", "-W", "-f", "-C", "-q"], "").ok();
    assert!(dir.path().join(".google_authenticator").exists());
    assert_eq!(fs::read_to_string(&stale).unwrap(), "stale");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

#[test]
fn given_piped_codes_then_a_wrong_code_is_refused_and_minus_one_skips() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let flags = [
        "-t",
        "-D",
        "-u",
        "-W",
        "-f",
        "-Q",
        "NONE",
        "-s",
        f.to_str().unwrap(),
    ];
    // End of input while a code is expected: nothing written.
    run_in(dir.path(), &flags, "123\n").error_shape("no code");
    assert!(!f.exists());
    let r = run_in(dir.path(), &flags, "000000\nabc\n-1\n").ok();
    assert_eq!(r.stdout.matches("Code incorrect").count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains("Code confirmation skipped"));
    assert!(f.exists());
}

#[test]
fn json_output_carries_the_uri_and_the_scratch_codes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let r = enroll(
        dir.path(),
        &["-t", "-d", "-r", "3", "-R", "30", "-w", "3", "-f", "-C", "--json"],
    )
    .ok();
    let line = r.stdout.trim();
    assert_eq!(r.stdout.lines().count(), 1, "only JSON on stdout: {}", r.stdout);
    assert!(line.starts_with('{') && line.ends_with('}'));
    let uri = format!(
        "\"uri\":\"otpauth://totp/root@{host}?secret={}&issuer={host}\"",
        secret_of(&f),
        host = hostname()
    );
    let me = output(Command::new("id").arg("-un"));
    if me == "root" {
        assert!(line.contains(&uri), "{line}\n{uri}");
    }
    let codes: Vec<String> = scratch_lines(&f).iter().map(|c| format!("\"{c}\"")).collect();
    assert!(
        line.contains(&format!("\"scratch_codes\":[{}]", codes.join(","))),
        "{line}"
    );
    assert!(line.contains("\"rate_limit\":{\"attempts\":3,\"interval\":30}"));
    assert!(line.contains("\"disallow_reuse\":true"));
}

#[test]
fn every_enrollment_sends_an_authpriv_audit_line_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("log");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let f = dir.path().join("f");
    let r = enroll(
        dir.path(),
        &[
            "-t",
            "-d",
            "-u",
            "-W",
            "-f",
            "-C",
            "-q",
            "--log-socket",
            sock_path.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let mut buf = [0u8; 2048];
    let n = sock.recv(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        line.starts_with("<86>totp-enroll["),
        "facility authpriv (10), severity info (6): {line}"
    );
    assert!(
        line.contains("enrolled user=") && line.contains(&format!("file={}", f.display())),
        "{line}"
    );
    let secret = secret_of(&f);
    assert!(
        !line.contains(&secret) && !line.contains(&secret[..8]),
        "secret in the audit line: {line}"
    );
    for c in scratch_lines(&f) {
        assert!(!line.contains(&c), "scratch code in the audit line");
    }
    // new-scratch-codes is audited too.
    run_in(
        dir.path(),
        &[
            "new-scratch-codes",
            "-q",
            "-s",
            f.to_str().unwrap(),
            "--log-socket",
            sock_path.to_str().unwrap(),
        ],
        "",
    )
    .ok();
    let n = sock.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("new scratch codes user="));
    // No syslog socket: the file is written, and the missing audit line is a warning, not silence.
    let r = enroll(
        dir.path(),
        &[
            "-t",
            "-d",
            "-u",
            "-W",
            "-f",
            "-C",
            "-q",
            "--log-socket",
            dir.path().join("none").to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        r.stderr
            .contains("totp-enroll: warning: the audit line was not logged"),
        "{}",
        r.stderr
    );
}

#[test]
fn status_shows_the_setup_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    enroll(
        dir.path(),
        &[
            "-t", "-d", "-r", "3", "-R", "30", "-w", "5", "-S", "60", "-e", "4", "-f", "-C", "-q",
        ],
    )
    .ok();
    let s = run_in(dir.path(), &["status", "-s", f.to_str().unwrap()], "")
        .ok()
        .stdout;
    for want in [
        "type: totp (period 60 s)",
        "algorithm: SHA1, digits: 6",
        "window: 5 codes",
        "reuse: disallowed",
        "rate limit: 3 attempts per 60 s",
        "scratch codes left: 4",
        "mode 0400",
    ] {
        if want.starts_with("rate") {
            assert!(s.contains("rate limit: 3 attempts per 30 s"), "{s}");
        } else {
            assert!(s.contains(want), "{want:?} not in {s}");
        }
    }
    let secret = secret_of(&f);
    assert!(!s.contains(&secret[..8]));
    let j = run_in(dir.path(), &["status", "--json", "-s", f.to_str().unwrap()], "")
        .ok()
        .stdout;
    assert!(
        j.contains("\"scratch_codes_left\":4") && j.contains("\"period\":60"),
        "{j}"
    );
    assert!(!j.contains(&secret[..8]));
    // A symbolic link is not followed (root must not read another user's file through a user's link).
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&f, &link).unwrap();
    for cmd in ["status", "new-scratch-codes"] {
        let r = run_in(dir.path(), &[cmd, "-s", link.to_str().unwrap()], "");
        assert_eq!(r.status, 1);
        r.error_shape("is a symbolic link");
    }
    assert_eq!(scratch_lines(&f).len(), 4);
    // No file: an error with a hint, exit 1.
    let r = run_in(
        dir.path(),
        &["status", "-s", dir.path().join("none").to_str().unwrap()],
        "",
    );
    assert_eq!(r.status, 1);
    r.error_shape("no secret file");
}

#[test]
fn status_fails_with_the_modules_reason_when_the_module_would_refuse_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    enroll(dir.path(), &["-t", "-D", "-u", "-W", "-f", "-C", "-q"]).ok();
    let file = f.to_str().unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    for cmd in [&["status"][..], &["status", "--json"], &["new-scratch-codes"]] {
        let r = run_in(dir.path(), &[cmd, &["-s", file]].concat(), "");
        assert_eq!(r.status, 1, "{cmd:?}: {}", r.stdout);
        r.error_shape("permissions 0644 are more permissive than 0600");
    }
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    run_in(dir.path(), &["status", "-s", file], "").ok();
}

#[test]
fn new_scratch_codes_replaces_only_the_codes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    enroll(
        dir.path(),
        &[
            "-t", "-d", "-r", "3", "-R", "30", "-w", "3", "-f", "-C", "-q", "--mode", "0600",
        ],
    )
    .ok();
    let (secret, options, codes) = (secret_of(&f), option_lines(&f), scratch_lines(&f));
    let r = run_in(
        dir.path(),
        &["new-scratch-codes", "-e", "3", "-s", f.to_str().unwrap()],
        "",
    )
    .ok();
    assert_eq!(secret_of(&f), secret);
    assert_eq!(option_lines(&f), options);
    let new = scratch_lines(&f);
    assert_eq!(new.len(), 3);
    assert!(new.iter().all(|c| !codes.contains(c)));
    for c in &new {
        assert!(r.stdout.contains(c.as_str()));
    }
    assert_eq!(
        fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600,
        "mode kept"
    );
    let j = run_in(
        dir.path(),
        &["new-scratch-codes", "--json", "-s", f.to_str().unwrap()],
        "",
    )
    .ok()
    .stdout;
    assert!(
        j.contains(&format!("\"scratch_codes\":[\"{}\"", scratch_lines(&f)[0])),
        "{j}"
    );
    // -e 0 revokes every code and says so, rather than a heading over nothing.
    let r = run_in(
        dir.path(),
        &["new-scratch-codes", "-e", "0", "-s", f.to_str().unwrap()],
        "",
    )
    .ok();
    assert!(scratch_lines(&f).is_empty());
    assert_eq!(secret_of(&f), secret);
    assert!(
        !r.stdout.contains("Your new emergency scratch codes are"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .starts_with("All emergency scratch codes removed: none is left"),
        "{}",
        r.stdout
    );
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")) == "0"
}

#[test]
fn root_enrolls_another_user_with_the_file_in_their_home_owned_by_them() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    // Root acts with the user's filesystem ids (as pam_totp does): their home is theirs, the way there open.
    std::os::unix::fs::chown(&home, Some(65534), Some(65533)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let passwd = dir.path().join("passwd");
    fs::write(
        &passwd,
        format!(
            "root:x:0:0:root:/root:/bin/bash\nbroken line\nenrolltest:x:65534:65533:Throwaway:{}:/bin/sh\n",
            home.display()
        ),
    )
    .unwrap();
    // Runs totp-enroll with the throwaway account database and `args` (split on spaces).
    let admin = |args: &str| {
        let line = format!("--passwd-file {} {args}", passwd.display());
        run_in(dir.path(), &line.split_whitespace().collect::<Vec<_>>(), "")
    };
    let r = admin("--user enrolltest -t -d -u -W -f -C -Q NONE").ok();
    assert!(
        r.uri().contains("/enrolltest@"),
        "label names the target user: {}",
        r.uri()
    );
    let f = home.join(".google_authenticator");
    let meta = fs::metadata(&f).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65533));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o400);
    assert!(
        !dir.path().join(".google_authenticator").exists(),
        "not in the caller's home"
    );
    // --mode 0600 and -s with --user: still the user's.
    let g = home.join("elsewhere");
    admin(&format!(
        "--user enrolltest -t -D -u -W -f -C -q --mode 0600 -s {}",
        g.display()
    ))
    .ok();
    let meta = fs::metadata(&g).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o7777), (65534, 0o600));
    // status and new-scratch-codes for that user keep the owner.
    let s = admin("status --user enrolltest").ok().stdout;
    assert!(s.contains("owner: enrolltest, mode 0400"), "{s}");
    admin("new-scratch-codes -q --user enrolltest").ok();
    assert_eq!(fs::metadata(&f).unwrap().uid(), 65534);
    // A directory the user cannot write is not written, although root could.
    admin(&format!(
        "--user enrolltest -t -D -u -W -f -C -q -s {}",
        dir.path().join("roots").display()
    ))
    .error_shape("Permission denied");
    assert!(!dir.path().join("roots").exists());
    // An unknown user is an error.
    admin("--user nosuchuser -t").error_shape("no user");
}

#[test]
fn a_non_root_caller_cannot_enroll_another_user_but_can_enroll_themselves() {
    if !is_root() {
        eprintln!("skipped: needs root to drop to uid 65534");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own");
    fs::create_dir(&own).unwrap();
    std::os::unix::fs::chown(&own, Some(65534), Some(65534)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |args: &[&str]| {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin())
            .args(args)
            .current_dir("/")
            .env("HOME", &own)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let target = dir.path().join("victim");
    let (code, err) = as_nobody(&[
        "--user",
        "root",
        "-t",
        "-D",
        "-u",
        "-W",
        "-f",
        "-C",
        "-q",
        "-s",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("totp-enroll: error: only root can enroll another user"),
        "{err}"
    );
    assert!(err.contains("totp-enroll: hint: "), "{err}");
    assert!(!target.exists());
    let (code, err) = as_nobody(&["-t", "-D", "-u", "-W", "-f", "-C", "-q"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        fs::metadata(own.join(".google_authenticator")).unwrap().uid(),
        65534
    );
}

/// Issue 22: with pam_totp's `state=`, `status --state` counts the scratch codes the state file records as
/// used, and `new-scratch-codes --state` forgets them under the state file's lock. (State files are root's.)
#[test]
fn status_and_new_scratch_codes_understand_the_state_file() {
    use pam_totp::secret_file::SecretFile;
    use pam_totp::state_file::{scratch_hash, State};
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    enroll(dir.path(), &["-t", "-d", "-u", "-w", "3", "-f", "-C", "-q"]).ok();
    let secret = SecretFile::parse(&fs::read(&f).unwrap()).unwrap();
    let first: u32 = scratch_lines(&f)[0].parse().unwrap();
    let state_path = dir.path().join("state");
    let mut state = State::fresh("root", secret.secret()).unwrap();
    state.used_scratch = vec![scratch_hash(secret.secret(), first)];
    state.hotp_counter = Some(7);
    fs::write(&state_path, state.to_bytes()).unwrap();
    fs::set_permissions(&state_path, fs::Permissions::from_mode(0o600)).unwrap();
    let (fs_, ss) = (f.to_str().unwrap(), state_path.to_str().unwrap());

    let s = run_in(dir.path(), &["status", "-s", fs_, "--state", ss], "")
        .ok()
        .stdout;
    assert!(s.contains("scratch codes left: 4\n"), "{s}");
    assert!(s.contains(&format!("state: {ss} (scratch codes used: 1)")), "{s}");
    let j = run_in(dir.path(), &["status", "--json", "-s", fs_, "--state", ss], "")
        .ok()
        .stdout;
    assert!(
        j.contains("\"scratch_codes_left\":4") && j.contains("\"scratch_codes_used\":1"),
        "{j}"
    );
    // Without --state, the secret file alone.
    let s = run_in(dir.path(), &["status", "-s", fs_], "").ok().stdout;
    assert!(s.contains("scratch codes left: 5\n"), "{s}");

    run_in(dir.path(), &["new-scratch-codes", "-s", fs_, "--state", ss], "").ok();
    let after = State::parse(&fs::read(&state_path).unwrap()).unwrap();
    assert!(after.used_scratch.is_empty(), "{after:?}");
    assert_eq!(after.hotp_counter, Some(7), "the rest of the state is kept");
    let s = run_in(dir.path(), &["status", "-s", fs_, "--state", ss], "")
        .ok()
        .stdout;
    assert!(
        s.contains("scratch codes left: 5\n") && s.contains("(scratch codes used: 0)"),
        "{s}"
    );

    // A state file pam_totp would refuse is refused here too.
    fs::set_permissions(&state_path, fs::Permissions::from_mode(0o644)).unwrap();
    let r = run_in(dir.path(), &["status", "-s", fs_, "--state", ss], "");
    assert_eq!(r.status, 1, "{}", r.stdout);
    r.error_shape("permissions 0644 are more permissive than 0600");
    // Enrolling takes no --state.
    run_in(
        dir.path(),
        &["-t", "-f", "-C", "-q", "-s", fs_, "--state", ss],
        "",
    )
    .usage_error("--state applies only to status, new-scratch-codes and state-to-file");
}

/// Moving out of `state=`: `state-to-file` writes the HOTP counter, the attempts and the used scratch codes
/// recorded in the state file back into the secret file, which pam_totp without `state=` (and
/// pam_google_authenticator) then reads.
#[test]
fn state_to_file_writes_the_state_back_into_the_secret_file() {
    use pam_totp::secret_file::SecretFile;
    use pam_totp::state_file::{scratch_hash, State};
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    enroll(
        dir.path(),
        &["-c", "-r", "3", "-R", "30", "-w", "3", "-f", "-C", "-q"],
    )
    .ok();
    let before = SecretFile::parse(&fs::read(&f).unwrap()).unwrap();
    let codes = scratch_lines(&f);
    let state_path = dir.path().join("state");
    let mut state = State::fresh("root", before.secret()).unwrap();
    state.hotp_counter = Some(42);
    state.attempts = vec![1_800_000_000, 1_800_000_001];
    state.used_scratch = vec![scratch_hash(before.secret(), codes[1].parse().unwrap())];
    fs::write(&state_path, state.to_bytes()).unwrap();
    fs::set_permissions(&state_path, fs::Permissions::from_mode(0o600)).unwrap();
    let (fs_, ss) = (f.to_str().unwrap(), state_path.to_str().unwrap());

    run_in(dir.path(), &["state-to-file", "-s", fs_], "").usage_error("state-to-file needs --state FILE");
    let r = run_in(dir.path(), &["state-to-file", "-s", fs_, "--state", ss], "").ok();
    assert!(r.stdout.contains("is now in the secret file"), "{}", r.stdout);
    let after = SecretFile::parse(&fs::read(&f).unwrap()).unwrap();
    assert_eq!(after.secret(), before.secret());
    assert_eq!(after.hotp_counter(), Some(42));
    assert_eq!(
        after.rate_limit().unwrap().timestamps,
        vec![1_800_000_000, 1_800_000_001]
    );
    let left: Vec<String> = scratch_lines(&f);
    assert_eq!(left.len(), 4);
    assert!(!left.contains(&codes[1]));
    // A state recorded with another secret is not written back.
    let other = State::fresh(
        "root",
        &pam_totp::secret_file::decode_secret("GEZDGNBVGY3TQOJQ").unwrap(),
    )
    .unwrap();
    fs::write(&state_path, other.to_bytes()).unwrap();
    let body = fs::read(&f).unwrap();
    let r = run_in(dir.path(), &["state-to-file", "-s", fs_, "--state", ss], "").ok();
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
    assert_eq!(fs::read(&f).unwrap(), body);
}
