//! The pam-ffi boundary, exercised through real libpam loading real `.so` files that cargo built: panics are
//! contained, conversation replies of every shape are handled and freed, messages honour PAM_SILENT, logs go
//! through pam_syslog with LOG_AUTHPRIV, and only the intended hooks are exported.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use pam_ffi::PamCode;
use pam_harness::{module_path, Harness, Op, LOG_AUTHPRIV};
use std::process::Command;

fn fixture() -> String {
    module_path("pam_fixture").display().to_string()
}

fn stack(h: &Harness, args: &str) {
    h.service("svc", &format!("auth required {} {args}\n", fixture()));
}

#[test]
fn given_a_panicking_hook_then_service_err_and_the_host_process_lives() {
    let h = Harness::new();
    h.service(
        "svc",
        &format!(
            "auth required {f} panic\nauth required {f} info=after-the-panic\n",
            f = fixture()
        ),
    );
    let o = h.run("svc").user("alice").go();
    o.assert_code(PamCode::ServiceErr);
    // The process went on: the next module in the stack ran and pamh exited normally.
    assert!(o.status.success());
    assert_eq!(o.messages(), vec!["after-the-panic"]);
    // Nothing on stderr (the default panic hook would print "thread panicked at ...").
    assert!(o.stderr.is_empty(), "stderr: {}", o.stderr);
    let crit: Vec<_> = o.logs.iter().filter(|l| l.severity == 2).collect();
    assert_eq!(crit.len(), 1, "{:#?}", o.logs);
    assert_eq!(crit[0].facility, LOG_AUTHPRIV);
    assert!(
        crit[0]
            .text
            .contains("internal error (panic) in pam_sm_authenticate"),
        "{}",
        crit[0].text
    );
}

#[test]
fn given_panics_in_every_hook_then_each_fails_closed() {
    let h = Harness::new();
    let f = fixture();
    h.service(
        "svc",
        &format!(
            "auth required {f} panic\naccount required {f} panic\npassword required {f} panic\nsession required {f} panic\n"
        ),
    );
    let o = h
        .run("svc")
        .user("alice")
        .op(Op::Authenticate)
        .op(Op::AcctMgmt)
        .op(Op::OpenSession)
        .op(Op::Chauthtok)
        .go();
    assert!(o.status.success(), "{}", o.stderr);
    for (op, code) in &o.results {
        assert_ne!(*code, PamCode::Success, "{op} succeeded after a panic");
        assert_ne!(*code, PamCode::Ignore, "{op} ignored a panic");
    }
    assert!(o.stderr.is_empty(), "stderr: {}", o.stderr);
}

#[test]
fn given_replies_of_every_size_then_the_module_sees_exactly_their_bytes() {
    let h = Harness::new();
    stack(&h, "prompt=Code: expect=123456");
    h.run("svc")
        .user("alice")
        .reply("123456")
        .go()
        .assert_code(PamCode::Success);
    h.run("svc")
        .user("alice")
        .reply("12345")
        .go()
        .assert_code(PamCode::AuthErr);
    for len in [0usize, 1, 4096, 1 << 20] {
        let reply = "x".repeat(len);
        let o = h.run("svc").user("alice").reply(&reply).go();
        o.assert_code(PamCode::AuthErr);
        assert!(o.logged(&format!("reply_len={len}")), "len {len}: {:#?}", o.logs);
    }
}

#[test]
fn given_null_non_utf8_and_nul_replies_then_no_crash() {
    let h = Harness::new();
    stack(&h, "prompt=Code:");
    let o = h.run("svc").user("alice").reply_null().go();
    o.assert_code(PamCode::Success);
    assert!(o.logged("reply=NULL"));
    let o = h
        .run("svc")
        .user("alice")
        .reply_bytes(&[0xff, 0xfe, 0x80, b'a'])
        .go();
    o.assert_code(PamCode::Success);
    assert!(o.logged("reply_len=4"));
    // A C string ends at its first NUL.
    let o = h.run("svc").user("alice").reply_bytes(b"ab\0cd").go();
    o.assert_code(PamCode::Success);
    assert!(o.logged("reply_len=2"));
    assert!(o.stderr.is_empty());
}

#[test]
fn given_a_failing_conversation_then_its_error_is_returned() {
    let h = Harness::new();
    stack(&h, "prompt=Code:");
    h.run("svc")
        .user("alice")
        .reply_fail()
        .go()
        .assert_code(PamCode::ConvErr);
    // No scripted reply left behaves the same.
    h.run("svc").user("alice").go().assert_code(PamCode::ConvErr);
}

#[test]
fn given_pam_silent_then_messages_are_suppressed_but_prompts_are_not() {
    let h = Harness::new();
    stack(&h, "info=hello error=oops prompt=Code:");
    let loud = h.run("svc").user("alice").reply("1").go();
    assert_eq!(loud.messages(), vec!["hello", "oops"]);
    let quiet = h.run("svc").user("alice").reply("1").flag("silent").go();
    quiet.assert_code(PamCode::Success);
    assert!(quiet.messages().is_empty(), "{:?}", quiet.events);
    assert_eq!(quiet.prompts(), vec!["Code:"]);
}

#[test]
fn given_items_set_by_the_application_then_the_module_reads_them() {
    let h = Harness::new();
    stack(&h, "show_user show_items");
    let o = h
        .run("svc")
        .user("alice")
        .item("rhost", "192.0.2.7")
        .item("tty", "ssh")
        .go();
    o.assert_code(PamCode::Success);
    assert_eq!(
        o.messages(),
        vec!["user=alice", "service=svc rhost=192.0.2.7 tty=ssh ruser="]
    );
}

#[test]
fn given_authtok_set_by_one_module_then_the_next_module_sees_it() {
    let h = Harness::new();
    let f = fixture();
    h.service(
        "svc",
        &format!("auth required {f} set_authtok=s3cret\nauth required {f} show_authtok\n"),
    );
    let o = h.run("svc").user("alice").go();
    o.assert_code(PamCode::Success);
    assert_eq!(o.messages(), vec!["authtok=s3cret"]);
}

#[test]
fn given_logs_then_they_carry_authpriv_and_the_pam_prefix() {
    let h = Harness::new();
    stack(&h, "log=hello%s%n");
    let o = h.run("svc").user("alice").go();
    o.assert_code(PamCode::Success);
    // "%s%n" arrives literally: the format is always the constant "%s".
    let l = o.logs.iter().find(|l| l.text.contains("hello")).expect("logged");
    assert_eq!(l.facility, LOG_AUTHPRIV);
    assert_eq!(l.severity, 5);
    assert!(
        l.text.ends_with("libpam_fixture(svc:auth): hello%s%n"),
        "{}",
        l.text
    );
}

#[test]
fn given_a_non_utf8_module_argument_then_service_err() {
    let h = Harness::new();
    let mut line = format!("auth required {} log=", fixture()).into_bytes();
    line.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(h.confdir().join("svc"), line).unwrap();
    let o = h.run("svc").user("alice").go();
    o.assert_code(PamCode::ServiceErr);
    assert!(o.logged("module argument 1 is not valid UTF-8"), "{:#?}", o.logs);
}

fn rss_growth_kib(h: &Harness, n: u64) -> (u64, Vec<(u64, u64)>) {
    let reply = "r".repeat(4096);
    let o = h
        .run("svc")
        .user("alice")
        .reply(&reply)
        .repeat(n)
        .rss_every(n / 20)
        .go();
    assert!(o.status.success(), "{}", o.stderr);
    assert_eq!(o.results.len() as u64, n);
    assert!(o.results.iter().all(|r| r.1 == PamCode::Success));
    // Growth measured from the sample after warm-up (the first 10%) to the end.
    let start = o.rss.get(1).map(|s| s.1).expect("rss samples");
    let end = o.rss.last().map(|s| s.1).expect("rss samples");
    (end.saturating_sub(start), o.rss)
}

#[test]
fn given_10000_authentications_with_4k_replies_then_rss_stays_flat() {
    let h = Harness::new();
    stack(&h, "prompt=Code:");
    let (growth, samples) = rss_growth_kib(&h, 10_000);
    eprintln!("RSS growth over 10,000 logins: {growth} KiB");
    assert!(
        growth <= 2048,
        "RSS grew by {growth} KiB over 10,000 logins: {samples:?}"
    );
}

#[test]
fn given_a_module_that_leaks_replies_then_the_rss_check_catches_it() {
    // Control for the test above: the same measurement must see a leak of 4 KiB per login.
    let h = Harness::new();
    stack(&h, "prompt=Code: leak");
    let (growth, samples) = rss_growth_kib(&h, 10_000);
    assert!(
        growth > 20 * 1024,
        "a 4 KiB-per-login leak went unnoticed: {growth} KiB, {samples:?}"
    );
}

#[test]
fn given_the_built_modules_then_only_pam_sm_hooks_are_exported() {
    let expected: &[(&str, &[&str])] = &[
        ("pam_totp", &["pam_sm_authenticate", "pam_sm_setcred"]),
        ("pam_pwpolicy", &["pam_sm_chauthtok"]),
    ];
    for (name, hooks) in expected {
        let path = module_path(name);
        let text = binutils("nm", &["-D", "--defined-only"], &path);
        let mut symbols: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
        symbols.sort_unstable();
        let mut want: Vec<&str> = hooks.to_vec();
        want.sort_unstable();
        assert_eq!(
            symbols,
            want,
            "{} exports more (or less) than its hooks",
            path.display()
        );
    }
}

#[test]
fn given_the_built_modules_then_they_do_not_depend_on_libgcc_s() {
    // sshd does not load libgcc_s; a module that needs it makes every login load one more library. The
    // unwinder is linked in statically (build/pam_module.rs).
    for name in ["pam_totp", "pam_pwpolicy", "pam_fixture"] {
        let path = module_path(name);
        let text = binutils("readelf", &["-d", "-W"], &path);
        let needed: Vec<&str> = text.lines().filter(|l| l.contains("(NEEDED)")).collect();
        assert!(
            !needed.is_empty(),
            "no NEEDED entries read from {}",
            path.display()
        );
        assert!(
            !needed.iter().any(|l| l.contains("libgcc_s")),
            "{} needs libgcc_s: {needed:#?}",
            path.display()
        );
    }
}

#[test]
fn given_a_panic_in_a_c_host_without_libgcc_s_then_service_err_and_the_host_lives() {
    // pamc is a C PAM client: no Rust runtime and no libgcc_s in the process, as in sshd. The module's own
    // (static) unwinder must catch the panic at the hook boundary.
    let h = Harness::new();
    stack(&h, "panic");
    let log = h.root().join("pamc-syslog.txt");
    let out = Command::new(pam_harness::PAMC)
        .arg(h.confdir())
        .args(["svc", "alice", "x"])
        .env("LD_PRELOAD", pam_harness::SYSLOG_SHIM)
        .env("PAMH_SYSLOG_FILE", &log)
        .env("LD_DEBUG", "libs")
        .output()
        .expect("run pamc");
    assert!(out.status.success(), "pamc died: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), format!("result {}", PamCode::ServiceErr.as_raw()));
    // LD_DEBUG=libs lists every library the loader looked up: libgcc_s is not one of them.
    let loader = String::from_utf8_lossy(&out.stderr);
    assert!(
        loader.contains("pam_fixture"),
        "LD_DEBUG output missing: {loader}"
    );
    assert!(!loader.contains("libgcc_s"), "libgcc_s was loaded:\n{loader}");
    let logged = std::fs::read_to_string(&log).expect("syslog shim file");
    assert!(
        logged.contains("internal error (panic) in pam_sm_authenticate"),
        "{logged}"
    );
}

#[test]
fn given_old_authtok_set_by_one_module_then_chauthtok_runs_with_it() {
    // PAM_OLDAUTHTOK can only be set by modules; the fixture sets it so password-policy tests can check the
    // old-password rules (difok, rotation) through real libpam.
    let h = Harness::new();
    let f = fixture();
    h.service(
        "svc",
        &format!("password required {f} set_old_authtok=old-Pass1 set_authtok=x show_authtok\n"),
    );
    let o = h.run("svc").user("alice").op(Op::Chauthtok).go();
    o.assert_code(PamCode::Success);
    assert!(o.messages().contains(&"authtok=x"), "{:?}", o.events);
}

/// RSS growth (KiB) from the sample after the first tenth to the end.
fn growth(o: &pam_harness::Outcome) -> u64 {
    let start = o.rss.get(1).map(|s| s.1).expect("rss samples");
    let end = o.rss.last().map(|s| s.1).expect("rss samples");
    end.saturating_sub(start)
}

#[test]
fn given_many_password_changes_in_one_process_then_pwpolicy_rss_stays_flat() {
    // Regression: libpam unloads and reloads a module at every transaction; without `-z nodelete` each
    // reload rebuilt zxcvbn's statics and stranded the old ones (~90 KiB per transaction).
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    std::fs::write(&conf, "").unwrap();
    h.service(
        "pw",
        &format!(
            "password requisite {} minlen=10 enforce_for_root conf={}\n",
            module_path("pam_pwpolicy").display(),
            conf.display()
        ),
    );
    let o = h
        .run("pw")
        .user("alice")
        .op(Op::Chauthtok)
        .reply("tK7#vq-Lm2zR!xe9")
        .reply("tK7#vq-Lm2zR!xe9")
        .repeat(400)
        .rss_every(20)
        .go();
    assert!(
        o.results.iter().all(|r| r.1 == PamCode::Success),
        "{:?}",
        o.results.first()
    );
    let g = growth(&o);
    assert!(
        g <= 1024,
        "RSS grew by {g} KiB over 400 password changes: {:?}",
        o.rss
    );
}

#[test]
fn given_many_logins_in_one_process_then_totp_rss_stays_flat() {
    let h = Harness::new();
    let me = pam_ffi::os::user_by_uid(pam_ffi::os::effective_uid())
        .unwrap()
        .name;
    let path = h.root().join(format!("{me}.ga"));
    std::fs::write(&path, "QGPSWMNUD3U2N7TS42X6HYOWI4\n\" TOTP_AUTH\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    h.service(
        "totp",
        &format!(
            "auth required {} secret={}/${{USER}}.ga noskewadj\n",
            module_path("pam_totp").display(),
            h.root().display()
        ),
    );
    let o = h
        .run("totp")
        .user(&me)
        .reply("000000")
        .repeat(2000)
        .rss_every(100)
        .go();
    assert!(o.results.iter().all(|r| r.1 == PamCode::AuthErr));
    let g = growth(&o);
    assert!(g <= 1024, "RSS grew by {g} KiB over 2000 logins: {:?}", o.rss);
}

#[test]
fn given_the_built_modules_then_they_are_never_unloaded() {
    for name in ["pam_totp", "pam_pwpolicy"] {
        let path = module_path(name);
        let text = binutils("readelf", &["-d"], &path);
        assert!(
            text.lines()
                .any(|l| l.contains("FLAGS_1") && l.contains("NODELETE")),
            "{} lacks DF_1_NODELETE:\n{text}",
            path.display()
        );
    }
}

/// The standard output of a binutils tool run on a built module; the tool must succeed.
fn binutils(tool: &str, args: &[&str], path: &std::path::Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("run {tool} (binutils): {e}"));
    assert!(out.status.success(), "{tool} failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}
