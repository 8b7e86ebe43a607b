//! pam-ffi's buffer and conversation code, and both modules, under valgrind's memcheck in the real process:
//! no invalid read or write, no use of uninitialised memory, no definite leak, whatever the replies look like.
//! (Miri cannot run code that calls into libpam; memcheck watches the C and the Rust side together.)

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use pam_ffi::PamCode;
use pam_harness::{module_path, Harness, Op, Outcome, Run};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const VALGRIND: &[&str] = &[
    "valgrind",
    "--quiet",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--error-exitcode=99",
    "--track-origins=yes",
];

#[track_caller]
fn memcheck(run: Run<'_>) -> Outcome {
    assert!(
        std::process::Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "valgrind is required for this test (Debian package valgrind; .ci/run installs it)"
    );
    let o = run.via(VALGRIND).go();
    assert_eq!(
        o.status.code(),
        Some(0),
        "memcheck found errors (exit 99) or pamh failed:\n{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains("Invalid") && !o.stderr.contains("uninitialised"),
        "{}",
        o.stderr
    );
    o
}

#[test]
fn given_replies_of_every_shape_then_memcheck_finds_no_error() {
    let h = Harness::new();
    let f = module_path("pam_fixture").display().to_string();
    h.service(
        "svc",
        &format!("auth required {f} prompt=Code: info=hello error=oops prompt_echo=Name:\n"),
    );
    let big = "x".repeat(64 * 1024);
    let o = memcheck(h.run("svc").user("alice").reply(&big).reply("name").repeat(20));
    assert!(o.results.iter().all(|r| r.1 == PamCode::Success));
    memcheck(
        h.run("svc")
            .user("alice")
            .reply_null()
            .reply_bytes(&[0xff, 0xfe, 0, 1])
            .repeat(5),
    );
    let o = memcheck(h.run("svc").user("alice").reply("a").reply_fail().repeat(5));
    assert!(o.results.iter().all(|r| r.1 == PamCode::ConvErr));
}

#[test]
fn given_a_panicking_hook_then_memcheck_finds_no_error() {
    let h = Harness::new();
    let f = module_path("pam_fixture").display().to_string();
    h.service("svc", &format!("auth required {f} panic\n"));
    let o = memcheck(h.run("svc").user("alice").repeat(3));
    assert!(o.results.iter().all(|r| r.1 == PamCode::ServiceErr));
}

#[test]
fn given_pam_totp_logins_then_memcheck_finds_no_error() {
    let h = Harness::new();
    let me = pam_ffi::os::user_by_uid(pam_ffi::os::effective_uid())
        .unwrap()
        .name;
    let path = h.root().join(format!("{me}.ga"));
    fs::write(
        &path,
        "QGPSWMNUD3U2N7TS42X6HYOWI4\n\" RATE_LIMIT 50 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n45681685\n",
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    h.service(
        "totp",
        &format!(
            "auth required {} secret={}/${{USER}}.ga\n",
            module_path("pam_totp").display(),
            h.root().display()
        ),
    );
    // A scratch code (file rewritten), then wrong and malformed codes (skew scan), then an unknown user.
    memcheck(h.run("totp").user(&me).reply("45681685")).assert_code(PamCode::Success);
    memcheck(h.run("totp").user(&me).reply("000000")).assert_code(PamCode::AuthErr);
    memcheck(h.run("totp").user(&me).reply("\u{e9}\u{e9}")).assert_code(PamCode::AuthErr);
    memcheck(h.run("totp").user("no-such-user-zz9").reply("123456")).assert_code(PamCode::AuthErr);
}

#[test]
fn given_pam_pwpolicy_password_changes_then_memcheck_finds_no_error() {
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    fs::write(&conf, "").unwrap();
    h.service(
        "pw",
        &format!(
            "password requisite {} retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1 enforce_for_root conf={}\n",
            module_path("pam_pwpolicy").display(),
            conf.display()
        ),
    );
    let o = memcheck(
        h.run("pw")
            .user("alice")
            .op(Op::Chauthtok)
            .reply("password")
            .reply("Password123!")
            .reply("tK7#vq-Lm2zR!xe9")
            .reply("tK7#vq-Lm2zR!xe9"),
    );
    o.assert_code(PamCode::Success);
}
