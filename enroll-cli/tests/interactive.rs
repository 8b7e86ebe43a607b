//! The interactive flow, driven through a pseudo-terminal by `expect`: the questions come in
//! google-authenticator's order (time-based? -> URI, QR and secret -> code from the app -> scratch codes ->
//! update the file? -> disallow reuse? -> bigger window? -> rate limiting?); the file is written only after
//! the app's code (computed here with `oathtool` from the secret shown on the terminal) verifies; a wrong
//! code is refused and asked again; `-1` skips. The confirmed TOTP step is recorded in DISALLOW_REUSE, so
//! the code typed at enrollment cannot be replayed at login.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use common::*;
use pam_totp::args::Options;
use pam_totp::secret_file::SecretFile;
use pam_totp::verify::{verify, Outcome};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Runs an expect script body after spawning totp-enroll with `args` (the secret file is `dir/f`, also in
/// `$env(TARGET)`). In the body, `answer PATTERN REPLY` waits for a prompt and types a line, and `[secret]`
/// waits for the secret line and returns the secret. Returns expect's transcript.
fn expect(dir: &Path, args: &[&str], body: &str) -> String {
    let script = dir.join("script.exp");
    let quoted: Vec<String> = args.iter().map(|a| format!("{{{a}}}")).collect();
    fs::write(
        &script,
        format!(
            "set timeout 20\n\
             proc answer {{pattern reply}} {{\n  expect {{\n    $pattern {{ send -- \"$reply\\r\" }}\n    \
             timeout {{ puts \"\\nTIMEOUT waiting for $pattern\"; exit 3 }}\n    \
             eof {{ puts \"\\nEOF waiting for $pattern\"; exit 4 }}\n  }}\n}}\n\
             proc secret {{}} {{\n  expect {{\n    -re {{Your new secret key is: ([A-Z2-7]+)}} {{ return $expect_out(1,string) }}\n    \
             timeout {{ puts \"\\nTIMEOUT waiting for the secret\"; exit 3 }}\n  }}\n}}\n\
             spawn -noecho {} {}\n{body}\n\
             expect {{\n  eof {{}}\n  timeout {{ puts \"\\nTIMEOUT waiting for exit\"; exit 3 }}\n}}\n\
             lassign [wait] pid spawnid oserr status\nexit $status\n",
            bin().display(),
            quoted.join(" ")
        ),
    )
    .unwrap();
    let out = Command::new("expect")
        .arg(&script)
        .current_dir(dir)
        .env("HOME", dir)
        .env("TARGET", dir.join("f"))
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "expect exited {:?}\n{transcript}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    transcript
}

/// Positions of `needles` in `text`, asserting they appear in this order.
#[track_caller]
fn assert_in_order(text: &str, needles: &[&str]) {
    let mut from = 0;
    for n in needles {
        let at = text[from..]
            .find(n)
            .unwrap_or_else(|| panic!("{n:?} missing or out of order in:\n{text}"));
        from += at + n.len();
    }
}

const TOTP_CODE: &str = "set code [exec oathtool --totp -b [secret]]\n";

#[test]
fn given_every_question_unanswered_then_they_are_asked_in_the_c_tools_order_and_the_right_code_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let body = format!(
        "answer {{time-based (y/n) }} y\n{TOTP_CODE}answer {{Enter code from app (-1 to skip): }} $code\n\
         answer {{file? (y/n) }} y\nanswer {{man-in-the-middle attacks (y/n) }} y\n\
         answer {{Do you want to do so? (y/n) }} n\nanswer {{rate-limiting? (y/n) }} y\n"
    );
    let t = expect(dir.path(), &["-s", f.to_str().unwrap(), "-Q", "UTF8"], &body);
    assert_in_order(
        &t,
        &[
            "Do you want authentication tokens to be time-based (y/n) ",
            "otpauth://totp/",
            "▀",
            "Your new secret key is: ",
            "Enter code from app (-1 to skip): ",
            "Code confirmed",
            "Your emergency scratch codes are:",
            &format!("Do you want me to update your \"{}\" file? (y/n) ", f.display()),
            "Do you want to disallow multiple uses",
            "Do you want to do so? (y/n) ",
            "Do you want to enable rate-limiting? (y/n) ",
        ],
    );
    assert!(!t.contains("Code incorrect"));
    let opts = option_lines(&f);
    assert_eq!(opts[0], "\" RATE_LIMIT 3 30");
    assert_eq!(opts[1], "\" WINDOW_SIZE 3");
    assert!(
        opts[2].starts_with("\" DISALLOW_REUSE ") && opts[2].len() > "\" DISALLOW_REUSE ".len(),
        "{opts:?}"
    );
    assert_eq!(opts[3], "\" TOTP_AUTH");
    assert_eq!(scratch_lines(&f).len(), 5);
    // The code typed at enrollment is recorded as used: replaying it at login is refused.
    let secret = secret_of(&f);
    let code = oathtool(&secret, &["--totp"]);
    let file = SecretFile::parse(&fs::read(&f).unwrap()).unwrap();
    let outcome = verify(&file, now(), &code, &Options::default(), None).outcome;
    let recorded: u64 = opts[2].rsplit(' ').next().unwrap().parse().unwrap();
    if recorded == now() / 30 {
        assert_eq!(outcome, Outcome::Replayed);
    }
}

#[test]
fn given_a_wrong_code_then_it_is_refused_and_asked_again_and_nothing_is_written_until_it_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    // SHA-256 / 8 digits / 60 s: an app that ignored the parameters would show the SHA-1/6/30 code.
    let body = "set secret [secret]\n\
                set wrong [exec oathtool --totp -b $secret]\n\
                answer {Enter code from app (-1 to skip): } $wrong\n\
                expect {Code incorrect}\n\
                if {[file exists $env(TARGET)]} { puts \"\\nWRITTEN TOO EARLY\"; exit 5 }\n\
                set code [exec oathtool --totp=sha256 -d 8 -s 60s -b $secret]\n\
                answer {Enter code from app (-1 to skip): } $code\n\
                expect {Code confirmed}\n";
    let args = [
        "-t",
        "-d",
        "-u",
        "-W",
        "-f",
        "-S",
        "60",
        "--algorithm",
        "SHA256",
        "--digits",
        "8",
        "-Q",
        "NONE",
        "-s",
        f.to_str().unwrap(),
    ];
    let t = expect(dir.path(), &args, body);
    assert_eq!(t.matches("Code incorrect").count(), 1, "{t}");
    assert!(
        t.contains("The app must show 8-digit SHA256 codes every 60 seconds"),
        "{t}"
    );
    assert!(t.contains("&algorithm=SHA256&digits=8&period=60"));
    let opts = option_lines(&f);
    assert!(opts.contains(&"\" ALGORITHM SHA256".to_owned()) && opts.contains(&"\" DIGITS 8".to_owned()));
    assert!(opts.contains(&"\" STEP_SIZE 60".to_owned()));
}

#[test]
fn given_minus_one_then_confirmation_is_skipped_and_the_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let body = "secret\nanswer {Enter code from app (-1 to skip): } -1\nexpect {Code confirmation skipped}\n";
    let t = expect(
        dir.path(),
        &[
            "-t",
            "-D",
            "-u",
            "-W",
            "-f",
            "-Q",
            "NONE",
            "-s",
            f.to_str().unwrap(),
        ],
        body,
    );
    assert_in_order(
        &t,
        &["Code confirmation skipped", "Your emergency scratch codes are:"],
    );
    assert_eq!(option_lines(&f), ["\" WINDOW_SIZE 3", "\" TOTP_AUTH"]);
}

#[test]
fn given_hotp_then_the_first_app_code_confirms_and_the_counter_moves_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let body = "answer {time-based (y/n) } n\n\
                set code [exec oathtool -c 1 -b [secret]]\n\
                answer {Enter code from app (-1 to skip): } $code\n\
                expect {Code confirmed}\n\
                answer {file? (y/n) } y\n\
                answer {increased from its default size of 3 to 17. Do you want to do so? (y/n) } y\n\
                answer {rate-limiting? (y/n) } n\n";
    let t = expect(dir.path(), &["-Q", "NONE", "-s", f.to_str().unwrap()], body);
    assert!(
        t.contains("otpauth://hotp/") && !t.contains("disallow multiple uses"),
        "{t}"
    );
    assert_eq!(option_lines(&f), ["\" WINDOW_SIZE 17", "\" HOTP_COUNTER 2"]);
}
