//! `totp-enroll doctor` (issue 8) on committed fixtures: Debian 12's stock sshd_config (with the old guide's
//! lines appended), Debian 12's stock /etc/pam.d files, the guide's sshd stack, broken stacks, clean
//! configurations with no findings, and the parser fallback compared with the real `sshd -T`.
//!
//! The checks are called through the totp-enroll library. Every test works in a temporary directory;
//! nothing on the host is read except the fixtures and, for the `sshd -T` comparison, the sshd binary (run
//! in a private mount namespace so that /run/sshd can exist).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use totp_enroll::doctor;

use doctor::clock::{self, ClockState};
use doctor::report::{self, Finding, Severity};
use doctor::{diagnose, hardening, pamstack, sshd, user, ClockMode, Diagnosis, Settings, SshdCommand};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
}

fn read_fixture(name: &str) -> String {
    fs::read_to_string(fixture(name)).unwrap()
}

/// A sandbox: pam.d with the stock common-* files and the chosen sshd stack, no sudoers.d, a clean shadow,
/// no sshd -T, no clock probe, no module-directory check.
struct Sandbox {
    dir: TempDir,
    settings: Settings,
}

impl Sandbox {
    fn new(sshd_config: &str, pam_sshd: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let pam = dir.path().join("pam.d");
        fs::create_dir(&pam).unwrap();
        for f in [
            "common-auth",
            "common-account",
            "common-session",
            "common-session-noninteractive",
        ] {
            fs::copy(fixture(&format!("pam.d/{f}")), pam.join(f)).unwrap();
        }
        fs::copy(
            fixture("pam.d/common-password.pwpolicy"),
            pam.join("common-password"),
        )
        .unwrap();
        fs::write(pam.join("sshd"), read_fixture(&format!("pam.d/{pam_sshd}"))).unwrap();
        fs::create_dir(dir.path().join("sudoers.d")).unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        let settings = Settings {
            sshd_config: fixture(sshd_config),
            sshd_config_given: true,
            include_root: dir.path().join("root"),
            pam_dir: pam,
            user: None,
            json: false,
            passwd: dir.path().join("passwd"),
            shadow: fixture("shadow.clean"),
            sudoers: fixture("sudoers.clean"),
            sudoers_dir: dir.path().join("sudoers.d"),
            sshd: None,
            clock: ClockMode::Skip,
            module_dirs: Vec::new(),
            fleet: None,
        };
        Sandbox { dir, settings }
    }

    /// Include paths read from the committed drop-in tree with the clean key-plus-code drop-in.
    fn clean_dropin(mut self) -> Sandbox {
        self.settings.include_root = fixture("root-clean");
        self
    }

    fn pam(&self, name: &str, text: &str) {
        fs::write(self.settings.pam_dir.join(name), text).unwrap();
    }

    fn sshd_text(&mut self, text: &str) {
        let p = self.dir.path().join("sshd_config");
        fs::write(&p, text).unwrap();
        self.settings.sshd_config = p;
    }

    fn run(&self) -> Diagnosis {
        diagnose(&self.settings).unwrap()
    }
}

fn ids(d: &Diagnosis) -> Vec<(Severity, &'static str)> {
    d.findings.iter().map(|f| (f.severity, f.id)).collect()
}

#[track_caller]
fn find<'a>(d: &'a Diagnosis, id: &str) -> &'a Finding {
    d.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id} in {:#?}", d.findings))
}

#[track_caller]
fn assert_only(d: &Diagnosis, expected: &[(Severity, &str)]) {
    let mut got: Vec<(Severity, &str)> = ids(d);
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want, "{}", report::human(&d.findings, &d.notes));
}

use Severity::{Error as E, Warning as W};

// ----- clean configurations -----

#[test]
fn given_the_clean_key_plus_code_configuration_then_there_are_no_findings() {
    let d = Sandbox::new("sshd_config.debian12", "sshd.key-code")
        .clean_dropin()
        .run();
    assert_only(&d, &[]);
    assert_eq!(report::exit_status(&d.findings), 0);
    assert!(report::human(&d.findings, &[]).contains("doctor: no problems found"));
    assert_eq!(report::json(&d.findings), "[]\n");
}

#[test]
fn given_the_guide_line_with_ignore_ignore_and_common_auth_then_there_are_no_findings() {
    let d = Sandbox::new("sshd_config.debian12", "sshd.guide-ignore")
        .clean_dropin()
        .run();
    assert_only(&d, &[]);
}

#[test]
fn given_the_clean_configuration_then_run_exits_0() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    let st = &s.settings;
    let args: Vec<String> = [
        "--sshd-config",
        st.sshd_config.to_str().unwrap(),
        "--root",
        st.include_root.to_str().unwrap(),
        "--pam-dir",
        st.pam_dir.to_str().unwrap(),
        "--shadow",
        st.shadow.to_str().unwrap(),
        "--sudoers",
        st.sudoers.to_str().unwrap(),
        "--sudoers-dir",
        st.sudoers_dir.to_str().unwrap(),
        "--sshd=none",
        "--no-clock",
        "--module-dir",
        "none",
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(doctor::run(&args), ExitCode::SUCCESS);
    // The same with the stock sshd stack: pam_totp missing is an error.
    fs::copy(fixture("pam.d/sshd.debian12"), st.pam_dir.join("sshd")).unwrap();
    assert_eq!(doctor::run(&args), ExitCode::from(1));
}

// ----- sshd -----

#[test]
fn given_stock_debian12_with_the_old_guide_lines_then_keyboard_interactive_is_off_at_line_62() {
    let d = Sandbox::new("sshd_config.old-guide", "sshd.key-code").run();
    let f = find(&d, "sshd-kbdinteractive-off");
    assert_eq!(f.severity, E);
    assert!(f.file.as_deref().unwrap().ends_with("sshd_config.old-guide"));
    assert_eq!(f.line, Some(62));
    assert!(
        f.message.contains("ChallengeResponseAuthentication yes"),
        "{}",
        f.message
    );
    assert!(f.message.contains("deprecated alias"), "{}", f.message);
    assert!(f.message.contains("nobody can log in"), "{}", f.message);
    assert!(
        f.fix.contains("replace line 62 of") && f.fix.contains("`KbdInteractiveAuthentication yes`"),
        "{}",
        f.fix
    );
    assert!(f.fix.contains("delete line 126"), "{}", f.fix);
    // AuthenticationMethods has keyboard-interactive: no finding there; the hardening warnings remain.
    assert_only(
        &d,
        &[
            (E, "sshd-kbdinteractive-off"),
            (E, "sshd-authmethods-unsatisfiable"),
            (W, "sshd-password-authentication"),
            (W, "sshd-permit-root-login"),
        ],
    );
    // sshd 9.2 refuses to start with it: the only list names the disabled keyboard-interactive.
    let u = find(&d, "sshd-authmethods-unsatisfiable");
    assert_eq!(u.line, Some(127));
    assert!(u.message.contains("refuses to start"), "{}", u.message);
    let pw = find(&d, "sshd-password-authentication");
    assert!(pw.message.contains("beside key plus code"), "{}", pw.message);
    assert!(pw.fix.contains("/etc/ssh/sshd_config.d/"), "{}", pw.fix);
    assert_eq!(report::exit_status(&d.findings), 1);
}

#[test]
fn given_debian12_stock_files_then_pam_totp_is_missing_and_kbd_is_off() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.debian12");
    fs::copy(
        fixture("pam.d/common-password"),
        s.settings.pam_dir.join("common-password"),
    )
    .unwrap();
    s.settings.shadow = fixture("shadow.root-password");
    let d = s.run();
    assert_only(
        &d,
        &[
            (E, "sshd-kbdinteractive-off"),
            (E, "pam-totp-missing"),
            (W, "sshd-password-authentication"),
            (W, "sshd-permit-root-login"),
            (W, "pwpolicy-missing"),
            (W, "root-password"),
        ],
    );
    let m = find(&d, "pam-totp-missing");
    assert!(m.file.as_deref().unwrap().ends_with("/sshd"));
    assert_eq!(m.line, Some(4));
    assert!(
        m.fix.contains("add `auth required pam_totp.so` after line 4"),
        "{}",
        m.fix
    );
    let k = find(&d, "sshd-kbdinteractive-off");
    assert_eq!(k.line, Some(62));
    assert!(!k.message.contains("nobody can log in"));
    assert!(
        k.fix
            .contains("put `KbdInteractiveAuthentication yes` in /etc/ssh/sshd_config.d/pam_totp.conf"),
        "{}",
        k.fix
    );
    // Errors are listed first.
    assert_eq!(d.findings[0].severity, E);
    assert_eq!(d.findings[1].severity, E);
}

#[test]
fn given_key_plus_code_without_kbd_then_the_fix_replaces_the_stock_include() {
    let d = Sandbox::new("sshd_config.old-guide", "sshd.debian12").run();
    let m = find(&d, "pam-totp-missing");
    assert!(
        m.fix.contains("replace line 4 of") && m.fix.contains("auth required pam_totp.so"),
        "{}",
        m.fix
    );
}

#[test]
fn given_sshd_settings_that_break_totp_then_each_is_reported_with_its_line() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code");
    s.sshd_text(
        "# test\nUsePAM no\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey password\nPermitRootLogin yes\nPasswordAuthentication yes\n",
    );
    let d = s.run();
    assert_only(
        &d,
        &[
            (E, "sshd-usepam-off"),
            (E, "sshd-authmethods-no-kbd"),
            (W, "sshd-password-authentication"),
            (W, "sshd-permit-root-login"),
        ],
    );
    let u = find(&d, "sshd-usepam-off");
    assert_eq!(u.line, Some(2));
    assert!(
        u.fix.contains("replace line 2") && u.fix.contains("`UsePAM yes`"),
        "{}",
        u.fix
    );
    let a = find(&d, "sshd-authmethods-no-kbd");
    assert_eq!(a.line, Some(4));
    assert!(
        a.message.contains("never includes keyboard-interactive"),
        "{}",
        a.message
    );
    assert!(
        a.fix
            .contains("`AuthenticationMethods publickey,keyboard-interactive`"),
        "{}",
        a.fix
    );
    assert_eq!(find(&d, "sshd-permit-root-login").line, Some(5));
    assert_eq!(find(&d, "sshd-password-authentication").line, Some(6));

    // One list with the code, one without: that list skips the code.
    s.sshd_text("UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive publickey\nPasswordAuthentication no\nPermitRootLogin no\n");
    let d = s.run();
    assert_only(&d, &[(E, "sshd-authmethods-no-kbd")]);
    assert!(find(&d, "sshd-authmethods-no-kbd")
        .message
        .contains("list `publickey` has no keyboard-interactive"));

    // No AuthenticationMethods: a key alone logs in (a warning: it may be meant).
    s.sshd_text("UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nPermitRootLogin no\nMatch User bob\n  X11Forwarding no\n");
    let d = s.run();
    assert_only(&d, &[(W, "sshd-authmethods-any")]);
    let f = find(&d, "sshd-authmethods-any");
    assert_eq!(f.line, None);
    assert!(
        f.fix.contains("before line 5 (the first Match block)"),
        "{}",
        f.fix
    );
}

#[test]
fn given_includes_match_blocks_and_aliases_then_the_parser_follows_sshd() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc/ssh/sshd_config.d")).unwrap();
    fs::write(
        root.join("etc/ssh/sshd_config.d/10-a.conf"),
        "kbdinteractiveauthentication=YES\nMatch User nobody\nUsePAM no\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/ssh/sshd_config.d/20-b.conf"),
        "KbdInteractiveAuthentication no\nPermitRootLogin no\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/ssh/sshd_config.d/.hidden.conf"),
        "PasswordAuthentication no\n",
    )
    .unwrap();
    fs::write(root.join("etc/ssh/extra.conf"), "PubkeyAuthentication no\n").unwrap();
    let main = root.join("main");
    fs::write(
        &main,
        "Include /etc/ssh/sshd_config.d/*.conf\nInclude extra.conf missing.conf\nUsePAM yes\nChallengeResponseAuthentication no\nMatch User alice\n  PermitRootLogin yes\n  PasswordAuthentication no\nMatch all\n  AuthenticationMethods \"publickey,keyboard-interactive\"  # trailing comment\n",
    )
    .unwrap();
    let parsed = sshd::parse_config(&main, root).unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.first_match, Some(5));
    let eff = sshd::effective_from_parser(&parsed, None);
    assert_eq!(eff.get("kbdinteractiveauthentication"), "yes");
    let origin = eff.values["kbdinteractiveauthentication"].origin.clone().unwrap();
    assert_eq!(
        (origin.file.as_str(), origin.line),
        ("/etc/ssh/sshd_config.d/10-a.conf", 1)
    );
    // The included file's Match ended with that file.
    assert_eq!(eff.get("usepam"), "yes");
    assert_eq!(eff.get("permitrootlogin"), "no");
    // Hidden files are not matched by *; relative includes are under /etc/ssh; a missing one is skipped.
    assert_eq!(eff.get("passwordauthentication"), "yes");
    assert_eq!(eff.get("pubkeyauthentication"), "no");
    // Match all applies to everybody.
    assert_eq!(eff.get("authenticationmethods"), "publickey,keyboard-interactive");
    assert!(eff.key_and_code());
    // For alice, her Match block comes first.
    let alice = sshd::effective_from_parser(&parsed, Some("alice"));
    assert_eq!(alice.get("permitrootlogin"), "yes");
    assert_eq!(alice.get("passwordauthentication"), "no");
    assert_eq!(alice.get("usepam"), "yes");
}

#[test]
fn given_the_alias_first_then_it_wins() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code");
    s.sshd_text("ChallengeResponseAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nAuthenticationMethods publickey,keyboard-interactive\nPasswordAuthentication no\nPermitRootLogin no\n");
    assert_only(&s.run(), &[]);
}

#[test]
fn given_sshd_t_errors_then_config_errors_are_told_from_environment_problems() {
    assert_eq!(
        sshd::classify_failure("/etc/ssh/sshd_config: line 3: Bad configuration option: Foo\n/etc/ssh/sshd_config: terminating, 1 bad configuration options\n"),
        sshd::SshdTError::Rejected {
            message: "Bad configuration option: Foo".into(),
            file: Some("/etc/ssh/sshd_config".into()),
            line: Some(3)
        }
    );
    assert_eq!(
        sshd::classify_failure("/tmp/x/inc.conf line 1: unsupported option \"maybe\".\n"),
        sshd::SshdTError::Rejected {
            message: "unsupported option \"maybe\".".into(),
            file: Some("/tmp/x/inc.conf".into()),
            line: Some(1)
        }
    );
    assert!(matches!(
        sshd::classify_failure("Missing privilege separation directory: /run/sshd\n"),
        sshd::SshdTError::Unavailable(m) if m.contains("privilege separation")
    ));
    let printed = sshd::parse_sshd_t(
        "port 22\npermitrootlogin without-password\nkbdinteractiveauthentication no\nhostkey a\nhostkey b\n",
    );
    assert_eq!(printed["hostkey"], "a");
    assert_eq!(printed["permitrootlogin"], "without-password");
}

/// Runs the real sshd in a private mount namespace with its own /run/sshd (sshd -T wants the
/// privilege-separation directory), with a temporary host key.
fn real_sshd(dir: &Path) -> Option<SshdCommand> {
    let sshd = Path::new("/usr/sbin/sshd");
    let keygen = Path::new("/usr/bin/ssh-keygen");
    if !sshd.exists() || !keygen.exists() {
        eprintln!("skipped: no sshd or ssh-keygen");
        return None;
    }
    let key = dir.join("host_key");
    let ok = std::process::Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: ssh-keygen failed");
        return None;
    }
    let probe = dir.join("probe");
    fs::write(&probe, "UsePAM yes\n").unwrap();
    let extra = vec!["-o".to_owned(), format!("HostKey={}", key.display())];
    // Where sshd runs (/run/sshd exists), ask it directly.
    let direct = SshdCommand {
        program: sshd.to_path_buf(),
        prefix: Vec::new(),
        extra: extra.clone(),
    };
    if sshd::run_sshd_t(&direct.program, &direct.prefix, &probe, &direct.extra, None).is_ok() {
        return Some(direct);
    }
    let cmd = SshdCommand {
        program: PathBuf::from("/usr/bin/unshare"),
        prefix: vec![
            "-m".into(),
            "sh".into(),
            "-c".into(),
            "mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec \"$0\" \"$@\"".into(),
            sshd.display().to_string(),
        ],
        extra,
    };
    match sshd::run_sshd_t(&cmd.program, &cmd.prefix, &probe, &cmd.extra, None) {
        Ok(_) => Some(cmd),
        Err(e) => {
            eprintln!("skipped: sshd -T does not run here (needs root and unshare): {e:?}");
            None
        }
    }
}

#[test]
fn given_several_configs_then_the_parser_agrees_with_the_real_sshd_t() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cmd) = real_sshd(dir.path()) else { return };
    let d = dir.path().display().to_string();
    fs::create_dir(dir.path().join("conf.d")).unwrap();
    fs::write(
        dir.path().join("conf.d/10-totp.conf"),
        "KbdInteractiveAuthentication yes\nMatch User bob\n  PermitRootLogin yes\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("conf.d/20-other.conf"),
        "kbdinteractiveauthentication no\nPasswordAuthentication=no\n",
    )
    .unwrap();
    let configs: Vec<(String, String, Option<&str>)> = vec![
        ("stock".into(), read_fixture("sshd_config.debian12"), None),
        ("alias first".into(), "ChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n".into(), None),
        (
            "drop-ins win".into(),
            format!("Include {d}/conf.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nPermitRootLogin no\nAuthenticationMethods publickey,keyboard-interactive\n"),
            None,
        ),
        (
            "match blocks".into(),
            format!("Include {d}/conf.d/*.conf\nUSEPAM yes\nMatch User bob\n  KbdInteractiveAuthentication no\n  PasswordAuthentication yes\nMatch all\n  PermitRootLogin prohibit-password\n  AuthenticationMethods publickey,keyboard-interactive:pam password\n"),
            None,
        ),
        (
            "match blocks for bob".into(),
            format!("Include {d}/conf.d/*.conf\nUsePAM yes\nMatch User alice,bob\n  KbdInteractiveAuthentication no\n  PasswordAuthentication yes\nMatch all\n  PermitRootLogin prohibit-password\n"),
            Some("bob"),
        ),
        (
            "quotes, equals, comments, missing relative include".into(),
            "Include does-not-exist-here.conf\nPermitRootLogin = \"no\"  # comment\nkbdInteractiveAuthentication=yes\nAuthenticationMethods \"keyboard-interactive\"\nPubkeyAuthentication No\n".into(),
            None,
        ),
        ("defaults".into(), "# nothing set\n".into(), None),
    ];
    for (name, text, user) in configs {
        let path = dir.path().join("sshd_config");
        fs::write(&path, &text).unwrap();
        let printed = sshd::run_sshd_t(&cmd.program, &cmd.prefix, &path, &cmd.extra, user)
            .unwrap_or_else(|e| panic!("{name}: sshd -T failed: {e:?}"));
        let parsed = sshd::parse_config(&path, Path::new("/")).unwrap();
        let ours = sshd::effective_from_parser(&parsed, user);
        let theirs = sshd::with_sshd_t(ours.clone(), &printed);
        for keyword in [
            "kbdinteractiveauthentication",
            "usepam",
            "authenticationmethods",
            "passwordauthentication",
            "permitrootlogin",
            "pubkeyauthentication",
        ] {
            assert_eq!(
                ours.get(keyword),
                theirs.get(keyword),
                "{name}: {keyword}\n{text}"
            );
            assert_eq!(
                ours.values[keyword].origin, theirs.values[keyword].origin,
                "{name}: {keyword}: the parser's line is kept when the values agree"
            );
        }
    }

    // Debian 12's file with the old guide's lines: sshd refuses it; the parser names the line.
    let path = dir.path().join("sshd_config");
    fs::copy(fixture("sshd_config.old-guide"), &path).unwrap();
    match sshd::run_sshd_t(&cmd.program, &cmd.prefix, &path, &cmd.extra, None) {
        Err(sshd::SshdTError::Rejected {
            message, line: None, ..
        }) => {
            assert!(
                message.contains("AuthenticationMethods cannot be satisfied"),
                "{message}"
            )
        }
        other => panic!("old guide: {other:?}"),
    }

    // diagnose() uses sshd -T when it runs, and says so.
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code");
    s.settings.sshd = Some(cmd.clone());
    let diag = s.run();
    assert!(
        diag.notes
            .iter()
            .any(|n| n.contains("from `/usr/bin/unshare -T`")),
        "{:?}",
        diag.notes
    );
    assert_eq!(find(&diag, "sshd-kbdinteractive-off").line, Some(62));
    s.settings.sshd_config = fixture("sshd_config.old-guide");
    let diag = s.run();
    assert!(
        diag.notes.iter().any(|n| n.contains("sshd -T rejected")),
        "{:?}",
        diag.notes
    );
    assert_eq!(find(&diag, "sshd-authmethods-unsatisfiable").line, Some(127));
    assert!(
        !ids(&diag).contains(&(E, "sshd-config-invalid")),
        "reported once, with the parser's line"
    );
    // A file sshd rejects is an error with sshd's own line.
    s.sshd_text("UsePAM yes\nNoSuchOption yes\n");
    let diag = s.run();
    let f = find(&diag, "sshd-config-invalid");
    assert_eq!(f.line, Some(2));
    assert!(f.message.contains("Bad configuration option"), "{}", f.message);
}

// ----- the sshd PAM stack -----

#[test]
fn given_the_guides_nullok_under_default_die_then_unenrolled_users_are_locked_out() {
    let d = Sandbox::new("sshd_config.debian12", "sshd.guide")
        .clean_dropin()
        .run();
    assert_only(&d, &[(E, "pam-nullok-refuses")]);
    let f = find(&d, "pam-nullok-refuses");
    assert_eq!(f.line, Some(3));
    assert!(
        f.message.contains("default=die") && f.message.contains("locked out"),
        "{}",
        f.message
    );
    assert!(
        f.fix.contains(
            "auth [success=done new_authtok_reqd=done ignore=ignore default=die] pam_totp.so nullok"
        ),
        "{}",
        f.fix
    );
}

#[test]
fn given_nullok_with_nothing_after_it_then_unenrolled_users_are_refused() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam(
        "sshd",
        "auth required pam_totp.so nullok\n@include common-account\n",
    );
    let d = s.run();
    assert_only(&d, &[(E, "pam-nullok-refuses")]);
    assert!(find(&d, "pam-nullok-refuses")
        .message
        .contains("no module after pam_totp that can succeed"));
    // With a module after it that lets them in, nullok works.
    s.pam(
        "sshd",
        "auth [success=done ignore=ignore default=die] pam_totp.so nullok\nauth required pam_permit.so\n",
    );
    assert_only(&s.run(), &[]);
    // A password before it decides for unenrolled users: fine too.
    s.pam(
        "sshd",
        "auth required pam_unix.so\nauth required pam_totp.so nullok\n",
    );
    let d = s.run();
    assert!(!ids(&d).contains(&(E, "pam-nullok-refuses")), "{:?}", ids(&d));
}

#[test]
fn given_pam_deny_before_pam_totp_then_it_is_unreachable() {
    let d = Sandbox::new("sshd_config.debian12", "sshd.deny-before")
        .clean_dropin()
        .run();
    assert_only(&d, &[(E, "pam-totp-unreachable")]);
    let f = find(&d, "pam-totp-unreachable");
    assert_eq!(f.line, Some(5));
    assert!(
        f.message.contains("pam_deny.so") && f.message.contains("never reached"),
        "{}",
        f.message
    );
}

#[test]
fn given_a_required_pam_deny_before_pam_totp_then_every_login_fails() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam("sshd", "auth required pam_deny.so\nauth required pam_totp.so\n");
    let d = s.run();
    assert_only(&d, &[(E, "pam-totp-always-fails")]);
    assert_eq!(find(&d, "pam-totp-always-fails").line, Some(1));
}

#[test]
fn given_success_done_before_pam_totp_then_it_is_unreachable_or_bypassed() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam(
        "sshd",
        "auth [success=done default=die] pam_unix.so\nauth required pam_totp.so\n",
    );
    let d = s.run();
    assert_only(&d, &[(E, "pam-totp-unreachable")]);
    assert_eq!(find(&d, "pam-totp-unreachable").line, Some(1));
    // A jump over pam_totp is a bypass too.
    s.pam("sshd", "auth [success=1 default=ignore] pam_unix.so\nauth required pam_totp.so\nauth required pam_permit.so\n");
    let d = s.run();
    assert!(ids(&d).contains(&(E, "pam-totp-bypass")), "{:?}", ids(&d));
    assert_eq!(find(&d, "pam-totp-bypass").line, Some(1));
    // An unknown module's success=done is reported as a warning (it may be a deliberate exemption).
    s.pam(
        "sshd",
        "auth sufficient pam_succeed_if.so user ingroup nototp\nauth required pam_totp.so\n",
    );
    assert_only(&s.run(), &[(W, "pam-totp-bypass")]);
}

#[test]
fn given_sufficient_pam_unix_before_pam_totp_then_a_password_alone_logs_in() {
    let d = Sandbox::new("sshd_config.debian12", "sshd.sufficient-unix")
        .clean_dropin()
        .run();
    assert!(ids(&d).contains(&(E, "pam-totp-bypass")), "{:?}", ids(&d));
    let f = find(&d, "pam-totp-bypass");
    assert_eq!(f.line, Some(5));
    assert!(
        f.message.contains("pam_unix.so") && f.message.contains("never gets the code prompt"),
        "{}",
        f.message
    );
    // Key plus code was meant, and pam_unix is asked: reported too.
    assert!(ids(&d).contains(&(W, "pam-unix-with-key-code")), "{:?}", ids(&d));
    assert_eq!(report::exit_status(&d.findings), 1);
}

#[test]
fn given_requisite_pam_totp_before_the_password_then_it_is_an_oracle() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.requisite");
    s.sshd_text("UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nPermitRootLogin no\nAuthenticationMethods keyboard-interactive\n");
    let d = s.run();
    assert_only(&d, &[(W, "pam-oracle")]);
    let f = find(&d, "pam-oracle");
    assert_eq!(f.line, Some(5));
    assert!(
        f.message.contains("pam_unix is asked for only when") && f.message.contains("the code was right"),
        "{}",
        f.message
    );
    assert!(f.fix.contains("`required`"), "{}", f.fix);
    assert_eq!(report::exit_status(&d.findings), 0);
    // With key plus code meant, the Unix password is one prompt too many.
    let d = Sandbox::new("sshd_config.debian12", "sshd.requisite")
        .clean_dropin()
        .run();
    assert_only(&d, &[(W, "pam-oracle"), (W, "pam-unix-with-key-code")]);
    let u = find(&d, "pam-unix-with-key-code");
    assert_eq!(u.line, Some(6));
    assert!(
        u.fix.contains("comment out line 6") && u.fix.contains("# @include common-auth"),
        "{}",
        u.fix
    );
}

#[test]
fn given_password_plus_code_after_common_auth_then_the_code_prompt_is_a_password_oracle() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.password-code");
    s.sshd_text("UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nPermitRootLogin no\nAuthenticationMethods keyboard-interactive\n");
    let d = s.run();
    assert_only(&d, &[(W, "pam-oracle")]);
    let f = find(&d, "pam-oracle");
    assert_eq!(f.line, Some(4));
    assert!(f.message.contains("the password was right"), "{}", f.message);
    // Code first, then the password: no oracle.
    s.pam("sshd", "auth required pam_totp.so\n@include common-auth\n");
    assert_only(&s.run(), &[]);
}

/// The stock common-auth after `pam-auth-update --enable totp`: the profile's line in the Additional block.
fn common_auth_with_totp_profile() -> String {
    read_fixture("pam.d/common-auth").replace(
        "auth\toptional\t\t\tpam_cap.so \n",
        "auth\toptional\t\t\tpam_cap.so \nauth\trequired\t\t\tpam_totp.so nullok\n",
    )
}

#[test]
fn given_the_totp_profile_and_the_password_and_code_example_then_the_double_code_prompt_is_an_error() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.password-code");
    s.sshd_text("UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nPermitRootLogin no\nAuthenticationMethods keyboard-interactive\n");
    let profile = common_auth_with_totp_profile();
    assert!(profile.contains("pam_totp.so nullok"), "the profile line went in");
    s.pam("common-auth", &profile);
    // The example shipped in the package, as README.Debian tells admins to install it.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../debian/examples/sshd-password-and-code.pam");
    let example = fs::read_to_string(example).unwrap();
    s.pam("sshd", &example);
    let line = example.lines().position(|l| l.contains("pam_totp.so")).unwrap() + 1;
    let d = s.run();
    let f = find(&d, "pam-totp-twice");
    assert_eq!(f.severity, E);
    assert_eq!(f.line, Some(line), "the example's own pam_totp line");
    assert!(f.message.contains("the code is asked twice"), "{}", f.message);
    assert!(f.fix.starts_with(&format!("remove line {line} of")), "{}", f.fix);
    assert!(f.fix.contains("pam-auth-update --disable totp"), "{}", f.fix);
    assert_eq!(report::exit_status(&d.findings), 1);
    // The profile alone (the example's line removed) asks once.
    s.pam("sshd", "@include common-auth\n");
    assert!(!ids(&s.run()).iter().any(|(_, id)| *id == "pam-totp-twice"));
}

#[test]
fn given_a_google_authenticator_stack_then_the_fix_replaces_it() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam(
        "sshd",
        "auth required pam_google_authenticator.so nullok\n@include common-account\n",
    );
    let d = s.run();
    let f = find(&d, "pam-totp-missing");
    assert!(
        f.fix
            .starts_with("replace `pam_google_authenticator.so` with `pam_totp.so` on line 1"),
        "{}",
        f.fix
    );
    assert!(
        !f.fix.contains("add "),
        "adding pam_totp next to it asks twice: {}",
        f.fix
    );
}

#[test]
fn given_a_typo_in_a_pam_totp_option_then_it_is_reported_with_a_suggestion() {
    let d = Sandbox::new("sshd_config.debian12", "sshd.typo")
        .clean_dropin()
        .run();
    assert_only(&d, &[(E, "pam-totp-bad-option")]);
    let f = find(&d, "pam-totp-bad-option");
    assert_eq!(f.line, Some(6));
    assert!(
        f.message.contains("\"nulok\": unknown option") && f.message.contains("did you mean `nullok`"),
        "{}",
        f.message
    );
    assert!(f.fix.contains("replace \"nulok\" with `nullok`"), "{}", f.fix);
    // Every bad argument is reported, with pam_totp's own reasons.
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam(
        "sshd",
        "auth required pam_totp.so allowed_perm=0800 bogus user=root\n",
    );
    let d = s.run();
    let bad: Vec<&str> = d
        .findings
        .iter()
        .filter(|f| f.id == "pam-totp-bad-option")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[2].contains("user= needs a secret= path"), "{bad:?}");
}

#[test]
fn given_missing_includes_and_modules_then_they_are_reported() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam("sshd", "@include common-auth-gone\nauth required pam_totp.so\n");
    let mods = s.dir.path().join("security");
    fs::create_dir(&mods).unwrap();
    s.settings.module_dirs = vec![mods.clone()];
    let d = s.run();
    assert_only(&d, &[(E, "pam-include-missing"), (E, "pam-totp-not-installed")]);
    assert_eq!(find(&d, "pam-include-missing").line, Some(1));
    fs::write(mods.join("pam_totp.so"), "").unwrap();
    s.pam("sshd", "auth required pam_totp.so\n");
    assert_only(&s.run(), &[]);
    // No /etc/pam.d/sshd at all.
    fs::remove_file(s.settings.pam_dir.join("sshd")).unwrap();
    assert!(ids(&s.run()).contains(&(E, "pam-sshd-missing")));
}

#[test]
fn given_pam_syntax_then_controls_includes_and_continuations_are_understood() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("svc"),
        "# comment\n-auth  [success=2 default=ignore  ]  pam_a.so [x=a b] # trailing\nauth include inc\nauth substack sub\naccount required \\\n  pam_b.so y\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("inc"),
        "auth optional pam_c.so\naccount required pam_d.so\n",
    )
    .unwrap();
    fs::write(dir.path().join("sub"), "auth requisite pam_e.so\n").unwrap();
    let st = pamstack::load(dir.path(), "svc").unwrap();
    assert!(st.problems.is_empty(), "{:?}", st.problems);
    let names: Vec<(&str, &str, usize)> = st
        .lines
        .iter()
        .map(|l| (l.kind.as_str(), l.name.as_str(), l.line))
        .collect();
    assert_eq!(
        names,
        [
            ("auth", "pam_a", 2),
            ("auth", "pam_c", 1),
            ("auth", "pam_e", 1),
            ("account", "pam_b", 5)
        ]
    );
    assert_eq!(st.lines[0].args, ["[x=a b]"]);
    assert_eq!(st.lines[1].top.1, 3);
    assert_eq!(st.of_type("auth").len(), 3);
    let c = pamstack::Control::parse("[success=2 default=ignore]").unwrap();
    assert_eq!(c.action(pamstack::Ret::Success), pamstack::Action::Jump(2));
    assert_eq!(c.action(pamstack::Ret::Fail), pamstack::Action::Ignore);
    let c = pamstack::Control::parse("[success=ok]").unwrap();
    assert_eq!(c.action(pamstack::Ret::Ignore), pamstack::Action::Bad);
    assert!(pamstack::Control::parse("[success=nope]").is_none());
    assert!(pamstack::Control::parse("mandatory").is_none());
}

// ----- common-password -----

#[test]
fn given_common_password_variants_then_pwpolicy_presence_order_and_use_authtok_are_checked() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam("common-password", &read_fixture("pam.d/common-password"));
    let d = s.run();
    assert_only(&d, &[(W, "pwpolicy-missing")]);
    assert!(
        find(&d, "pwpolicy-missing").fix.contains("above line 25"),
        "{}",
        find(&d, "pwpolicy-missing").fix
    );
    s.pam(
        "common-password",
        "password [success=1 default=ignore] pam_unix.so obscure use_authtok yescrypt\npassword requisite pam_pwpolicy.so retry=3\n",
    );
    let d = s.run();
    assert_only(&d, &[(W, "pwpolicy-after-unix")]);
    assert_eq!(find(&d, "pwpolicy-after-unix").line, Some(2));
    s.pam(
        "common-password",
        "password requisite pam_pwpolicy.so retry=3\npassword [success=1 default=ignore] pam_unix.so obscure yescrypt\n",
    );
    let d = s.run();
    assert_only(&d, &[(W, "pwpolicy-unix-no-use-authtok")]);
    let f = find(&d, "pwpolicy-unix-no-use-authtok");
    assert_eq!(f.line, Some(2));
    assert!(
        f.fix.contains("pam_unix.so obscure yescrypt use_authtok`"),
        "{}",
        f.fix
    );
}

#[test]
fn given_a_typo_on_the_pam_pwpolicy_line_then_doctor_names_the_line_and_fails() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    let stock = read_fixture("pam.d/common-password.pwpolicy");
    let typo = stock.replace("pam_pwpolicy.so retry=3", "pam_pwpolicy.so retry=3 minlenn=12");
    assert_ne!(typo, stock);
    s.pam("common-password", &typo);
    let d = s.run();
    assert_only(&d, &[(E, "pwpolicy-bad-option")]);
    let f = find(&d, "pwpolicy-bad-option");
    let line = typo.lines().position(|l| l.contains("minlenn")).unwrap() + 1;
    assert_eq!(f.line, Some(line));
    assert!(f.message.contains("did you mean `minlen`"), "{}", f.message);
    assert!(
        f.fix
            .contains(&format!("replace \"minlenn=12\" with `minlen=12` on line {line}")),
        "{}",
        f.fix
    );
    assert_eq!(report::exit_status(&d.findings), 1);
    // Reached through an include too: reported on the including line.
    s.pam("common-password", "@include common-password-pwp\n");
    s.pam("common-password-pwp", &typo);
    let f = find(&s.run(), "pwpolicy-bad-option").clone();
    assert_eq!(f.line, Some(1));
}

#[test]
fn given_two_quality_modules_or_none_installed_then_doctor_fails() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    let stock = read_fixture("pam.d/common-password.pwpolicy");
    let both = stock.replace(
        "password\trequisite\t\t\tpam_pwpolicy.so retry=3\n",
        "password\trequisite\t\t\tpam_pwquality.so retry=3\npassword\trequisite\t\t\tpam_pwpolicy.so retry=3\n",
    );
    assert_ne!(both, stock);
    s.pam("common-password", &both);
    let d = s.run();
    assert_only(&d, &[(E, "password-quality-twice")]);
    let line = both.lines().position(|l| l.contains("pam_pwquality")).unwrap() + 1;
    assert_eq!(find(&d, "password-quality-twice").line, Some(line));
    // No quality module while pam_pwquality.so is installed (a profile removed): any password goes.
    let mods = s.dir.path().join("security");
    fs::create_dir(&mods).unwrap();
    for m in ["pam_totp.so", "pam_pwquality.so"] {
        fs::write(mods.join(m), "").unwrap();
    }
    s.settings.module_dirs = vec![mods];
    s.pam("common-password", &read_fixture("pam.d/common-password"));
    let d = s.run();
    assert_only(&d, &[(E, "password-quality-missing")]);
    assert!(find(&d, "password-quality-missing").fix.contains("above line 25"));
    assert_eq!(report::exit_status(&d.findings), 1);
}

// ----- one user -----

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n";

struct UserBox {
    sandbox: Sandbox,
    home: PathBuf,
    uid: u32,
    gid: u32,
    root: bool,
}

impl UserBox {
    /// alice, whose home is in the sandbox: uid 4242 when the tests run as root (so that ownership can be
    /// tested), else the current user.
    fn new(pam_sshd_text: &str) -> UserBox {
        let mut sandbox = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
        sandbox.pam("sshd", pam_sshd_text);
        let home = sandbox.dir.path().join("home/alice");
        fs::create_dir_all(&home).unwrap();
        let me = fs::metadata(&home).unwrap();
        let root = me.uid() == 0;
        let (uid, gid) = if root { (4242, 4242) } else { (me.uid(), me.gid()) };
        std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(
            &sandbox.settings.passwd,
            format!(
                "root:x:0:0:root:/root:/bin/bash\nalice:x:{uid}:{gid}::{}:/bin/bash\n",
                home.display()
            ),
        )
        .unwrap();
        sandbox.settings.user = Some("alice".into());
        UserBox {
            sandbox,
            home,
            uid,
            gid,
            root,
        }
    }

    fn secret(&self, text: &str, mode: u32) -> PathBuf {
        let p = self.home.join(".google_authenticator");
        fs::write(&p, text).unwrap();
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn run(&self) -> Diagnosis {
        self.sandbox.run()
    }
}

fn with_codes(n: usize) -> String {
    let mut s = SECRET.to_owned();
    for i in 0..n {
        s.push_str(&format!("{}\n", 11_111_111 + i));
    }
    s
}

#[test]
fn given_an_enrolled_user_with_a_good_file_then_there_are_no_findings() {
    let u = UserBox::new("auth required pam_totp.so\n");
    u.secret(&with_codes(5), 0o600);
    assert_only(&u.run(), &[]);
}

#[test]
fn given_a_missing_secret_file_then_it_is_an_error_or_with_nullok_a_warning() {
    let u = UserBox::new("auth required pam_totp.so\n");
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-missing")]);
    assert!(find(&d, "user-secret-missing")
        .fix
        .contains("totp-enroll --user alice"));
    u.sandbox.pam(
        "sshd",
        "auth [success=done ignore=ignore default=die] pam_totp.so nullok\nauth required pam_permit.so\n",
    );
    assert_only(&u.run(), &[(W, "user-secret-missing")]);
    // Without pam_totp in the stack, a missing file only means "not enrolled yet".
    u.sandbox.pam("sshd", &read_fixture("pam.d/sshd.debian12"));
    let d = u.run();
    assert_only(&d, &[(E, "pam-totp-missing"), (W, "user-secret-missing")]);
}

#[test]
fn given_a_bad_mode_symlink_or_garbage_then_the_secret_file_is_reported() {
    let u = UserBox::new("auth required pam_totp.so\n");
    let p = u.secret(&with_codes(5), 0o644);
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-mode")]);
    let f = find(&d, "user-secret-mode");
    assert_eq!(f.file.as_deref(), Some(p.to_str().unwrap()));
    assert!(f.message.contains("0644") && f.fix.contains("chmod 600"), "{f:?}");
    // allowed_perm= from the stack is honoured.
    u.sandbox
        .pam("sshd", "auth required pam_totp.so allowed_perm=0644\n");
    assert_only(&u.run(), &[]);
    u.sandbox.pam("sshd", "auth required pam_totp.so\n");

    u.secret("not base32 at all!\n", 0o600);
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-unparsable")]);
    assert!(
        !find(&d, "user-secret-unparsable")
            .message
            .contains("not base32 at all"),
        "file content must not be shown"
    );

    let real = u.home.join("real");
    fs::rename(&p, &real).unwrap();
    std::os::unix::fs::symlink(&real, &p).unwrap();
    assert_only(&u.run(), &[(E, "user-secret-symlink")]);
}

#[test]
fn given_a_file_owned_by_someone_else_then_it_is_reported() {
    let u = UserBox::new("auth required pam_totp.so\n");
    if !u.root {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let p = u.secret(&with_codes(5), 0o600);
    std::os::unix::fs::chown(&p, Some(4343), None).unwrap();
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-owner")]);
    assert!(find(&d, "user-secret-owner").fix.starts_with("chown alice:"));
    // no_strict_owner turns the check off, but the module still reads the file as alice.
    u.sandbox
        .pam("sshd", "auth required pam_totp.so no_strict_owner\n");
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-mode")]);
    assert!(find(&d, "user-secret-mode")
        .message
        .contains("does not let alice (uid 4242) read"));
    u.sandbox.pam(
        "sshd",
        "auth required pam_totp.so no_strict_owner allowed_perm=0644\n",
    );
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    assert_only(&u.run(), &[]);
}

#[test]
fn given_a_directory_the_owner_cannot_write_then_state_updates_fail() {
    let u = UserBox::new("auth required pam_totp.so\n");
    u.secret(&with_codes(5), 0o600);
    fs::set_permissions(&u.home, fs::Permissions::from_mode(0o555)).unwrap();
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-dir-not-writable")]);
    assert!(find(&d, "user-secret-dir-not-writable")
        .message
        .contains("state-not-saved"));
    u.sandbox
        .pam("sshd", "auth required pam_totp.so allow_readonly\n");
    assert_only(&u.run(), &[(W, "user-secret-dir-not-writable")]);
    fs::set_permissions(&u.home, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn given_few_scratch_codes_then_it_is_a_warning() {
    let u = UserBox::new("auth required pam_totp.so\n");
    for n in [0, 1, 2] {
        u.secret(&with_codes(n), 0o600);
        let d = u.run();
        assert_only(&d, &[(W, "user-scratch-codes-low")]);
        assert!(find(&d, "user-scratch-codes-low")
            .message
            .contains(&format!("{n} scratch code")));
    }
    u.secret(&with_codes(3), 0o600);
    assert_only(&u.run(), &[]);
}

#[test]
fn given_a_secret_template_then_the_path_follows_the_module() {
    let u = UserBox::new("auth required pam_totp.so\n");
    let state = u.sandbox.dir.path().join("state");
    fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(u.uid), Some(u.gid)).unwrap();
    let p = state.join("alice");
    fs::write(&p, with_codes(5)).unwrap();
    std::os::unix::fs::chown(&p, Some(u.uid), Some(u.gid)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    u.sandbox.pam(
        "sshd",
        &format!("auth required pam_totp.so secret={}/${{USER}}\n", state.display()),
    );
    assert_only(&u.run(), &[]);
    // An unknown user for --user is the doctor's own error.
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    fs::write(&s.settings.passwd, "root:x:0:0::/root:/bin/sh\n").unwrap();
    s.settings.user = Some("nobody-here".into());
    assert!(diagnose(&s.settings).unwrap_err().contains("no user"));
}

#[test]
fn given_passwd_text_then_accounts_and_permissions_are_read() {
    let a = user::parse_passwd(
        "# c\nroot:x:0:0:root:/root:/bin/bash\nbad line\nbob:x:1001:1002:Bob:/home/bob:/bin/sh\n",
    );
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[1].uid, a[1].gid, a[1].home.as_str()),
        (1001, 1002, "/home/bob")
    );
    assert!(user::permits(0o700, 5, 5, 5, 9, 7));
    assert!(!user::permits(0o755, 0, 0, 5, 5, 2));
    assert!(user::permits(0o775, 0, 5, 7, 5, 7));
    assert!(user::permits(0o000, 1, 1, 0, 0, 7));
}

// ----- clock -----

#[test]
fn given_time_tool_outputs_then_the_sync_state_is_parsed() {
    assert_eq!(clock::parse_timedatectl("NTPSynchronized=yes\n"), Some(true));
    assert_eq!(clock::parse_timedatectl("NTPSynchronized=no\n"), Some(false));
    assert_eq!(clock::parse_timedatectl("yes\n"), Some(true));
    assert_eq!(
        clock::parse_timedatectl("System has not been booted with systemd\n"),
        None
    );
    let chrony =
        "Reference ID    : A9FEA9FE (169.254.169.254)\nStratum         : 3\nLeap status     : Normal\n";
    assert_eq!(clock::parse_chronyc(chrony), Some(true));
    assert_eq!(
        clock::parse_chronyc("Reference ID    : 00000000 ()\nLeap status     : Not synchronised\n"),
        Some(false)
    );
    assert_eq!(clock::parse_chronyc("506 Cannot talk to daemon\n"), None);
    let ntpq = "     remote           refid      st t when poll reach   delay   offset  jitter\n==============================================================================\n*192.0.2.1       .GPS.            1 u   33   64  377    0.345   -0.012   0.021\n+192.0.2.2       192.0.2.1        2 u   12   64  377    0.512    0.101   0.040\n";
    assert_eq!(clock::parse_ntpq(ntpq), Some(true));
    assert_eq!(clock::parse_ntpq(&ntpq.replace('*', " ")), Some(false));
    assert_eq!(clock::parse_ntpq("ntpq: read: Connection refused\n"), None);

    assert!(clock::check(&ClockState::Synced("chronyc".into())).is_empty());
    let e = clock::check(&ClockState::NotSynced("timedatectl".into()));
    assert_eq!((e[0].severity, e[0].id), (E, "clock-not-synchronized"));
    let w = clock::check(&ClockState::Unknown("no tool".into()));
    assert_eq!((w[0].severity, w[0].id), (W, "clock-sync-unknown"));
    assert_eq!(report::exit_status(&w), 0, "unknown is a warning, not an error");
    // The probe never fails, whatever is installed here.
    let _ = clock::probe();
}

// ----- the rest of the hardening guide -----

#[test]
fn given_nopasswd_in_sudoers_d_and_a_root_password_then_they_are_warnings_without_the_hash() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    fs::copy(
        fixture("sudoers.d-nopasswd"),
        s.settings.sudoers_dir.join("cloud-init"),
    )
    .unwrap();
    fs::write(
        s.settings.sudoers_dir.join("skipped.dpkg-old"),
        "x ALL=(ALL) NOPASSWD: ALL\n",
    )
    .unwrap();
    s.settings.shadow = fixture("shadow.root-password");
    let d = s.run();
    assert_only(
        &d,
        &[
            (W, "sudoers-nopasswd"),
            (W, "sudoers-nopasswd"),
            (W, "root-password"),
        ],
    );
    let lines: Vec<Option<usize>> = d
        .findings
        .iter()
        .filter(|f| f.id == "sudoers-nopasswd")
        .map(|f| f.line)
        .collect();
    assert_eq!(lines, [Some(2), Some(3)]);
    let r = find(&d, "root-password");
    assert_eq!(r.line, Some(1));
    let all = format!(
        "{}{}",
        report::json(&d.findings),
        report::human(&d.findings, &d.notes)
    );
    assert!(
        !all.contains("FIXTURE") && !all.contains("$y$"),
        "the hash must never be printed: {all}"
    );
    assert_eq!(report::exit_status(&d.findings), 0, "warnings alone exit 0");
    assert!(report::human(&d.findings, &[]).contains("warnings do not change the exit status"));

    assert!(hardening::check_shadow("root::1:0:99999:7:::\n", "s")[0]
        .message
        .contains("empty password"));
    assert!(hardening::check_shadow("root:!$y$x:1:0:99999:7:::\n", "s").is_empty());
    assert!(hardening::check_sudoers(&[("f".into(), "# NOPASSWD: in a comment\n".into())]).is_empty());
}

// ----- output -----

#[test]
fn given_findings_then_json_and_human_output_are_well_formed() {
    let f = vec![
        Finding::error(
            "x-one",
            "quote \" backslash \\ newline \n tab \t bell \u{7} ok é",
            "fix it",
        )
        .at("/etc/a b", Some(3)),
        Finding::warning("x-two", "plain", ""),
    ];
    let j = report::json(&f);
    assert_eq!(
        j,
        "[\n  {\"severity\":\"error\",\"id\":\"x-one\",\"file\":\"/etc/a b\",\"line\":3,\"message\":\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 ok é\",\"fix\":\"fix it\"},\n  {\"severity\":\"warning\",\"id\":\"x-two\",\"file\":null,\"line\":null,\"message\":\"plain\",\"fix\":\"\"}\n]\n"
    );
    let h = report::human(&f, &["read by the parser".into()]);
    assert_eq!(
        h,
        "doctor: note: read by the parser\ndoctor: error: /etc/a b:3: quote \" backslash \\ newline \n tab \t bell \u{7} ok é\n  fix: fix it\ndoctor: warning: plain\ndoctor: 1 error, 1 warning: fix the errors before you log out\n"
    );
    assert_eq!(report::exit_status(&f), 1);
    // A JSON parser agrees (python3, when installed).
    if let Ok(out) = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys; d=json.load(sys.stdin); print(len(d), d[0]['message'])",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(j.as_bytes())?;
            c.wait_with_output()
        })
    {
        if out.status.success() {
            assert!(
                String::from_utf8_lossy(&out.stdout).starts_with("2 quote \" backslash \\ newline \n tab")
            );
        }
    }
}

#[test]
fn given_bad_flags_or_missing_files_then_the_doctor_exits_2() {
    let a = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    assert_eq!(doctor::run(&a(&["--bogus"])), ExitCode::from(2));
    assert_eq!(doctor::run(&a(&["--user"])), ExitCode::from(2));
    assert_eq!(doctor::run(&a(&["--json=yes"])), ExitCode::from(2));
    assert_eq!(doctor::run(&a(&["--help"])), ExitCode::SUCCESS);
    assert_eq!(
        doctor::run(&a(&[
            "--pam-dir",
            "/nonexistent/pam.d",
            "--no-clock",
            "--sshd",
            "none"
        ])),
        ExitCode::from(2)
    );
    assert_eq!(
        doctor::run(&a(&[
            "--sshd-config",
            "/nonexistent/sshd_config",
            "--no-clock",
            "--sshd",
            "none"
        ])),
        ExitCode::from(2)
    );
    match doctor::parse_args(&a(&[
        "--user=bob",
        "--json",
        "--module-dir",
        "/x",
        "--module-dir",
        "/y",
    ]))
    .unwrap()
    {
        doctor::Parsed::Run(s) => {
            assert_eq!(s.user.as_deref(), Some("bob"));
            assert!(s.json);
            assert_eq!(s.module_dirs, [PathBuf::from("/x"), PathBuf::from("/y")]);
        }
        doctor::Parsed::Help => panic!("not help"),
    }
}

// ----- the remaining findings -----

#[test]
fn given_an_include_sshd_cannot_read_then_the_config_is_invalid() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    let root = s.dir.path().join("root");
    fs::create_dir_all(root.join("etc/ssh/sshd_config.d/broken.conf")).unwrap();
    fs::copy(
        fixture("root-clean/etc/ssh/sshd_config.d/pam_totp.conf"),
        root.join("etc/ssh/sshd_config.d/a.conf"),
    )
    .unwrap();
    s.settings.include_root = root;
    let d = s.run();
    assert_only(&d, &[(E, "sshd-config-invalid")]);
    let f = find(&d, "sshd-config-invalid");
    assert_eq!(f.line, Some(12));
    assert!(
        f.message.contains("/etc/ssh/sshd_config.d/broken.conf"),
        "{}",
        f.message
    );
}

#[test]
fn given_an_include_loop_or_a_bad_line_then_the_pam_stack_is_reported() {
    let s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.pam("sshd", "auth required pam_totp.so\n@include loop\n");
    s.pam("loop", "@include loop\n");
    let d = s.run();
    assert_only(&d, &[(E, "pam-include-loop")]);
    s.pam("sshd", "auth required pam_totp.so\nauht required pam_permit.so\nauth mandatory pam_permit.so\nauth required\n");
    let d = s.run();
    assert_only(
        &d,
        &[
            (W, "pam-line-invalid"),
            (E, "pam-line-invalid"),
            (W, "pam-line-invalid"),
        ],
    );
    let lines: Vec<Option<usize>> = d.findings.iter().map(|f| f.line).collect();
    assert_eq!(lines, [Some(3), Some(2), Some(4)]);
}

#[test]
fn given_odd_secret_files_and_templates_then_the_user_checks_say_why() {
    let u = UserBox::new("auth required pam_totp.so\n");
    // A directory where the file should be.
    fs::create_dir(u.home.join(".google_authenticator")).unwrap();
    let d = u.run();
    assert_only(&d, &[(E, "user-secret-not-regular")]);
    assert!(find(&d, "user-secret-not-regular").message.contains("directory"));
    fs::remove_dir(u.home.join(".google_authenticator")).unwrap();
    // A stray line is kept by pam_totp; worth a warning.
    u.secret(&format!("{}what is this\n", with_codes(5)), 0o600);
    assert_only(&u.run(), &[(W, "user-secret-stray-line")]);
    // A relative secret= path cannot be expanded.
    u.sandbox
        .pam("sshd", "auth required pam_totp.so secret=relative/${USER}\n");
    assert_only(&u.run(), &[(E, "user-secret-path")]);
    // user= naming an account that does not exist.
    u.sandbox.pam(
        "sshd",
        "auth required pam_totp.so user=ghost secret=/var/lib/x/${USER}\n",
    );
    assert_only(&u.run(), &[(E, "user-fixed-user-unknown")]);
}

#[test]
fn given_a_login_holding_the_lock_then_the_doctor_waits_and_warns() {
    let u = UserBox::new("auth required pam_totp.so\n");
    let p = u.secret(&with_codes(5), 0o600);
    let held = fs::File::open(&p).unwrap();
    held.lock().unwrap();
    let d = u.run();
    assert_only(&d, &[(W, "user-secret-locked")]);
    drop(held);
    assert_only(&u.run(), &[]);
}

#[test]
fn given_unreadable_sudoers_or_shadow_then_the_checks_say_they_were_skipped() {
    let mut s = Sandbox::new("sshd_config.debian12", "sshd.key-code").clean_dropin();
    s.settings.sudoers = s.dir.path().to_path_buf();
    s.settings.shadow = s.dir.path().to_path_buf();
    let d = s.run();
    assert_only(&d, &[(W, "sudoers-unreadable"), (W, "shadow-unreadable")]);
    // Missing ones are simply not there (no sudo installed).
    s.settings.sudoers = s.dir.path().join("no-sudoers");
    s.settings.shadow = s.dir.path().join("no-shadow");
    assert_only(&s.run(), &[]);
}

#[test]
fn given_the_cli_then_doctor_is_dispatched_with_its_own_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_totp-enroll");
    let help = std::process::Command::new(bin)
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: totp-enroll doctor"));
    let bad = std::process::Command::new(bin)
        .args(["doctor", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let top = std::process::Command::new(bin).arg("--help").output().unwrap();
    assert!(
        String::from_utf8_lossy(&top.stdout).contains("doctor"),
        "doctor missing from --help"
    );
}

/// Issue 22: with `state=` the secret file's directory need not be writable, but the state directory must
/// be root's and 0700, a state file must pass the module's checks, and its used scratch codes count.
#[test]
fn given_state_then_the_state_directory_and_file_are_checked_and_the_secret_directory_is_not() {
    use pam_totp::secret_file::SecretFile;
    use pam_totp::state_file::{scratch_hash, State};
    let u = UserBox::new("auth required pam_totp.so\n");
    if !u.root {
        eprintln!("skipped: needs root (state files are root's)");
        return;
    }
    let p = u.secret(&with_codes(3), 0o400);
    fs::set_permissions(&u.home, fs::Permissions::from_mode(0o555)).unwrap();
    let state_dir = u.sandbox.dir.path().join("state");
    let line = format!(
        "auth required pam_totp.so state={}/${{USER}}\n",
        state_dir.display()
    );
    u.sandbox.pam("sshd", &line);
    let d = u.run();
    assert_only(&d, &[(E, "user-state-dir")]);
    assert!(find(&d, "user-state-dir").fix.contains("install -d -m 0700"));
    fs::create_dir(&state_dir).unwrap();
    fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert_only(&u.run(), &[(E, "user-state-dir")]);
    fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o700)).unwrap();
    assert_only(&u.run(), &[]);

    // One used scratch code of three leaves two: a warning.
    let secret = SecretFile::parse(&fs::read(&p).unwrap()).unwrap();
    let mut state = State::fresh("alice", secret.secret()).unwrap();
    state.used_scratch = vec![scratch_hash(secret.secret(), 11_111_111)];
    let state_file = state_dir.join("alice");
    fs::write(&state_file, state.to_bytes()).unwrap();
    fs::set_permissions(&state_file, fs::Permissions::from_mode(0o600)).unwrap();
    assert_only(&u.run(), &[(W, "user-scratch-codes-low")]);
    fs::set_permissions(&state_file, fs::Permissions::from_mode(0o644)).unwrap();
    assert_only(&u.run(), &[(E, "user-state-file")]);
    fs::write(&state_file, "garbage\n").unwrap();
    fs::set_permissions(&state_file, fs::Permissions::from_mode(0o600)).unwrap();
    assert_only(&u.run(), &[(E, "user-state-file")]);
    fs::set_permissions(&u.home, fs::Permissions::from_mode(0o755)).unwrap();
}
