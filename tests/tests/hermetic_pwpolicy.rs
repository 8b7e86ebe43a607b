//! Hermetic tests of the shipped `libpam_pwpolicy.so` through real libpam (`pam_start_confdir`): the
//! pam_cracklib guide's line, each rule's message, the breach-shaped passwords, retry behaviour, root
//! handling, PAM_AUTHTOK left for the next module, and fail-closed option parsing.
//!
//! Every stack passes `conf=` pointing to a file in the harness's temporary directory, so the host's
//! `/etc/security` is never read. CI runs these as root: stacks that must refuse carry `enforce_for_root`,
//! and the root warn-only path is tested on its own.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use pam_ffi::PamCode;
use pam_harness::{module_path, Harness, Op, Outcome};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

const GUIDE: &str = "retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1";
const USER: &str = "alice";

/// Writes a configuration file with mode 0644 whatever the umask (the module refuses group-writable ones).
fn write_conf(path: impl AsRef<std::path::Path>, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path.as_ref(), text)?;
    std::fs::set_permissions(path.as_ref(), std::fs::Permissions::from_mode(0o644))
}

/// A harness with an empty pwpolicy.conf, and the module line for `options`.
fn setup(options: &str, extra: &str) -> (Harness, String) {
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    write_conf(&conf, "# hermetic test: no host configuration\n").unwrap();
    let line = format!(
        "password requisite {} {options} conf={}\n{extra}",
        module_path("pam_pwpolicy").display(),
        conf.display()
    );
    (h, line)
}

fn fixture_show_authtok() -> String {
    format!(
        "password required {} show_authtok\n",
        module_path("pam_fixture").display()
    )
}

fn chauthtok(h: &Harness, stack: &str, replies: &[&str]) -> Outcome {
    h.service("chpw", stack);
    let mut run = h.run("chpw").user(USER).op(Op::Chauthtok);
    for r in replies {
        run = run.reply(r);
    }
    run.go()
}

/// A fresh random password with every class the guide's line requires.
fn random_strong() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const OTHER: &[u8] = b"#%+-=@^_~";
    let mut out = String::new();
    let sets = [UPPER, LOWER, LOWER, DIGIT, OTHER];
    for i in 0..16 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(i);
        let r = hasher.finish() as usize;
        let set = if i < sets.len() {
            sets[i]
        } else {
            sets[r % sets.len()]
        };
        out.push(set[(r >> 8) % set.len()] as char);
    }
    out
}

#[track_caller]
fn assert_refused_with(o: &Outcome, expected: &[&str]) {
    let msgs: Vec<&str> = o
        .events
        .iter()
        .filter(|e| e.style == "error" && e.text.starts_with("BAD PASSWORD: "))
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        msgs.len(),
        expected.len(),
        "messages: {msgs:#?}\nevents: {:#?}",
        o.events
    );
    for (m, want) in msgs.iter().zip(expected) {
        let first_line = m.lines().next().unwrap_or_default();
        assert_eq!(first_line, format!("BAD PASSWORD: {want}"), "{m}");
        assert!(m.lines().count() >= 2, "no guidance line in {m:?}");
    }
    assert!(o.stderr.is_empty(), "module wrote to stderr: {}", o.stderr);
}

#[test]
fn given_guide_line_then_each_rule_violation_refused_with_its_message() {
    let (h, line) = setup(&format!("{GUIDE} enforce_for_root"), "");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["Ab1!xyzw", "vq8#mt2!rzw9xlp", "VQ8#MT2!RZW9XLp"],
            &["is too short", "is too simple", "is too simple"],
        ),
        (
            &["Vq#mT!rZw%xLpKj", "Vq8mT2rZw9xLpKj", "Ab1!xyzzyx!1bA"],
            &["is too simple", "is too simple", "is a palindrome"],
        ),
        (
            &["Xalice#42Zq", "Xecila#42Zqw", "Elephant#42"],
            &[
                "contains the user name in some form",
                "contains the user name in some form",
                "is a common password with digits and a symbol added",
            ],
        ),
    ];
    for (passwords, messages) in cases {
        let o = chauthtok(&h, &line, passwords);
        o.assert_code(PamCode::MaxTries);
        assert_refused_with(&o, messages);
        assert_eq!(o.prompts(), vec!["New password: "; 3]);
    }
}

#[test]
fn given_guide_line_then_extra_rules_refused_with_cracklib_messages() {
    let (h, line) = setup(
        &format!("{GUIDE} maxrepeat=2 maxsequence=3 maxclassrepeat=4 enforce_for_root"),
        "",
    );
    let o = chauthtok(&h, &line, &["Vq8#mmmT2!rZw9", "Vq#1234Tz!rwK", "Vq8#mtzkbT2!rZw"]);
    o.assert_code(PamCode::MaxTries);
    assert_refused_with(
        &o,
        &[
            "contains too many same characters consecutively",
            "contains too long of a monotonic character sequence",
            "contains too many characters of the same class consecutively",
        ],
    );
}

#[test]
fn given_guide_line_then_breach_shaped_passwords_refused() {
    let (h, line) = setup(&format!("{GUIDE} enforce_for_root"), "");
    for pw in ["Password123!", "P@ssw0rd2024", "Summer2024!", "1qaz2wsx3edc"] {
        let o = chauthtok(&h, &line, &[pw, pw, pw]);
        o.assert_code(PamCode::MaxTries);
        let bad = o
            .messages()
            .iter()
            .filter(|m| m.starts_with("BAD PASSWORD: "))
            .count();
        assert_eq!(bad, 3, "{pw}: {:#?}", o.events);
    }
}

#[test]
fn given_guide_line_then_human_patterns_unicode_tricks_and_long_repeats_refused_with_why() {
    // Issue 18: each passed the guide's line before (or was refused for a reason that hid the trick).
    let (h, line) = setup(&format!("{GUIDE} enforce_for_root"), "");
    let cases: &[(&str, &str)] = &[
        (
            "!Monkey2025",
            "is a common password with a year and a symbol added",
        ),
        (
            "Monkey2025!",
            "is a common password with a year and a symbol added",
        ),
        (
            "@Tigger2020",
            "is a common password with a year and a symbol added",
        ),
        ("!Autumn2015", "is a name with a year and a symbol added"),
        ("!1QAZ@2wsx", "is a keyboard pattern"),
        ("!QAZ@WSX3edc", "is a keyboard pattern"),
        ("Password123!Password123!", "is a short string repeated"),
        ("Password1Password2Password3!", "is a short string repeated"),
        ("Ab1c\u{FDFA}", "is too short"),
        ("Pass\u{200B}word123!", "contains invisible characters"),
        (
            "P\u{0430}ssw\u{043E}rd123!",
            "is a common password with digits and a symbol added",
        ),
    ];
    for (pw, want) in cases {
        let o = chauthtok(&h, &line, &[pw, pw, pw]);
        assert_eq!(o.code(), PamCode::MaxTries, "{pw:?}: {:#?}", o.events);
        let first = o
            .messages()
            .iter()
            .find(|m| m.starts_with("BAD PASSWORD: "))
            .map(|m| m.lines().next().unwrap_or_default().to_owned());
        assert_eq!(
            first.as_deref(),
            Some(format!("BAD PASSWORD: {want}").as_str()),
            "{pw:?}: {:#?}",
            o.events
        );
    }
}

#[test]
fn given_random_strong_password_then_accepted_and_left_in_pam_authtok() {
    let pw = random_strong();
    let (h, line) = setup(&format!("{GUIDE} enforce_for_root"), &fixture_show_authtok());
    let o = chauthtok(&h, &line, &[&pw, &pw]);
    o.assert_code(PamCode::Success);
    assert_eq!(o.prompts(), vec!["New password: ", "Retype new password: "]);
    assert!(
        o.messages().contains(&format!("authtok={pw}").as_str()),
        "{pw}: {:#?}",
        o.events
    );
    assert!(!o.messages().iter().any(|m| m.starts_with("BAD PASSWORD")));
}

#[test]
fn given_bad_then_good_password_then_retry_succeeds() {
    let pw = random_strong();
    let (h, line) = setup(&format!("{GUIDE} enforce_for_root"), "");
    let o = chauthtok(&h, &line, &["Summer2024!", &pw, "typo", &pw, &pw]);
    o.assert_code(PamCode::Success);
    assert!(o.messages().contains(&"Sorry, passwords do not match."));
    assert_eq!(o.prompts().len(), 5);
}

#[test]
fn given_retry_one_then_first_failure_is_authtok_err() {
    let (h, line) = setup("minlen=10 enforce_for_root", "");
    let o = chauthtok(&h, &line, &["short"]);
    o.assert_code(PamCode::AuthtokErr);
    assert_eq!(o.prompts(), vec!["New password: "]);
}

#[test]
fn given_unknown_or_malformed_option_then_service_err_and_each_logged() {
    let (h, line) = setup("retry=3 minlen=ten frobnicate", "");
    let o = chauthtok(&h, &line, &["whatever", "whatever"]);
    o.assert_code(PamCode::ServiceErr);
    assert!(o.logged("minlen") && o.logged("frobnicate"), "{:#?}", o.logs);
    assert!(o.prompts().is_empty());
}

#[test]
fn given_authtok_type_and_show_policy_then_prompts_and_policy_shown() {
    let pw = random_strong();
    let (h, line) = setup(&format!("{GUIDE} authtok_type=UNIX show_policy"), "");
    let o = chauthtok(&h, &line, &[&pw, &pw]);
    o.assert_code(PamCode::Success);
    assert_eq!(
        o.prompts(),
        vec!["New UNIX password: ", "Retype new UNIX password: "]
    );
    let first = &o.events[0];
    assert!(
        first.style == "info" && first.text.starts_with("Password policy:"),
        "{first:?}"
    );
}

#[test]
fn given_use_authtok_then_earlier_modules_password_is_checked() {
    let fixture = module_path("pam_fixture");
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    write_conf(&conf, "").unwrap();
    let stack = format!(
        "password required {} set_authtok=Summer2024!\npassword requisite {} use_authtok enforce_for_root conf={}\n",
        fixture.display(),
        module_path("pam_pwpolicy").display(),
        conf.display()
    );
    let o = chauthtok(&h, &stack, &[]);
    o.assert_code(PamCode::AuthtokErr);
    assert!(o.prompts().is_empty());
}

#[test]
fn given_caller_is_root_then_weak_password_is_only_a_warning_without_enforce_for_root() {
    let (h, line) = setup(GUIDE, "");
    let o = chauthtok(&h, &line, &["Summer2024!", "Summer2024!"]);
    if pam_ffi::os::real_uid() == 0 {
        o.assert_code(PamCode::Success);
        assert!(
            o.messages()
                .iter()
                .any(|m| m.starts_with("Warning only:") && m.contains("root")),
            "{:#?}",
            o.events
        );
    } else {
        o.assert_code(PamCode::MaxTries);
    }
}

#[test]
fn given_root_and_expired_password_then_policy_is_enforced() {
    let (h, line) = setup(GUIDE, "");
    h.service("chpw", &line);
    let o = h
        .run("chpw")
        .user(USER)
        .op(Op::Chauthtok)
        .flag("change_expired_authtok")
        .reply("Summer2024!")
        .reply("Summer2024!")
        .reply("Summer2024!")
        .go();
    o.assert_code(PamCode::MaxTries);
}

#[test]
fn given_nist_preset_in_the_toml_file_then_length_replaces_composition() {
    let (h, line) = setup("enforce_for_root retry=2", "");
    write_conf(h.root().join("pwpolicy.conf"), "preset = \"nist\"\n").unwrap();
    let o = chauthtok(
        &h,
        &line,
        &[
            "Vq8#mT2!rZw9",
            "quiet otter juggles purple anvils",
            "quiet otter juggles purple anvils",
        ],
    );
    o.assert_code(PamCode::Success);
    assert_refused_with(&o, &["is too short"]);
}

#[test]
fn given_pwquality_conf_named_by_argument_then_its_keys_apply() {
    let pw = random_strong();
    let h = Harness::new();
    let pwq = h.root().join("pwquality.conf");
    write_conf(&pwq, "# STIG-style\nminlen = 20\nenforce_for_root\n").unwrap();
    let conf = h.root().join("pwpolicy.conf");
    write_conf(&conf, "").unwrap();
    let line = format!(
        "password requisite {} conf={} pwquality_conf={}\n",
        module_path("pam_pwpolicy").display(),
        conf.display(),
        pwq.display()
    );
    let o = chauthtok(&h, &line, &[&pw]);
    o.assert_code(PamCode::AuthtokErr);
    assert_refused_with(&o, &["is too short"]);
}

#[test]
fn given_the_built_module_then_only_pam_sm_chauthtok_is_exported() {
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module_path("pam_pwpolicy"))
        .output()
        .expect("nm (binutils) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    let hooks: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| s.starts_with("pam_sm_"))
        .collect();
    assert_eq!(hooks, vec!["pam_sm_chauthtok"]);
}

/// Runs the stack and fails if pamh has not finished within 20 s (a FIFO used to block the module forever).
fn chauthtok_promptly(h: &Harness, stack: &str, replies: &[&str]) -> Outcome {
    h.service("chpw", stack);
    let mut run = h.run("chpw").user(USER).op(Op::Chauthtok);
    for r in replies {
        run = run.reply(r);
    }
    let mut running = run.spawn();
    let start = std::time::Instant::now();
    while !running.has_exited() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            running.kill();
            panic!("pam_pwpolicy blocked before any prompt: {stack}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    running.wait()
}

/// The module line with `options` (no `conf=` added).
fn bare_line(options: &str) -> String {
    format!(
        "password requisite {} {options}\n",
        module_path("pam_pwpolicy").display()
    )
}

#[track_caller]
fn assert_refused_at_load(o: &Outcome, file: &str, rule: &str) {
    o.assert_code(PamCode::ServiceErr);
    assert!(o.prompts().is_empty(), "prompted: {:#?}", o.events);
    assert!(
        o.logs
            .iter()
            .any(|l| l.text.contains(file) && l.text.contains(rule)),
        "no log line naming {file} and `{rule}`: {:#?}",
        o.logs
    );
}

#[test]
fn given_a_fifo_at_each_configuration_path_then_the_module_returns_promptly_and_logs_it() {
    let pw = random_strong();
    for which in ["conf", "pwquality_conf", "pwquality.conf.d"] {
        let h = Harness::new();
        let conf = h.root().join("pwpolicy.conf");
        write_conf(&conf, "").unwrap();
        let pwq = h.root().join("pwquality.conf");
        write_conf(&pwq, "").unwrap();
        std::fs::create_dir(h.root().join("pwquality.conf.d")).unwrap();
        let fifo = match which {
            "conf" => h.root().join("fifo.toml"),
            "pwquality_conf" => h.root().join("fifo-pwquality.conf"),
            _ => h.root().join("pwquality.conf.d/50-fifo.conf"),
        };
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let options = match which {
            "conf" => format!("conf={}", fifo.display()),
            "pwquality_conf" => format!("conf={} pwquality_conf={}", conf.display(), fifo.display()),
            _ => format!("conf={} pwquality_conf={}", conf.display(), pwq.display()),
        };
        let o = chauthtok_promptly(&h, &bare_line(&options), &[&pw, &pw]);
        assert_refused_at_load(&o, &fifo.display().to_string(), "not a regular file");
    }
}

#[test]
fn given_relative_conf_or_pwquality_conf_then_refused_at_load() {
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    write_conf(&conf, "").unwrap();
    let o = chauthtok(&h, &bare_line("conf=pwpolicy.conf"), &["x", "x"]);
    assert_refused_at_load(&o, "pwpolicy.conf", "absolute path");
    let o = chauthtok(
        &h,
        &bare_line(&format!("conf={} pwquality_conf=pwquality.conf", conf.display())),
        &["x", "x"],
    );
    assert_refused_at_load(&o, "pwquality.conf", "absolute path");
}

#[test]
fn given_group_writable_or_symlinked_pwpolicy_conf_then_refused_at_load() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    write_conf(&conf, "minscore = 0\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o664)).unwrap();
    let line = bare_line(&format!("conf={}", conf.display()));
    let o = chauthtok(&h, &line, &["x", "x"]);
    assert_refused_at_load(&o, &conf.display().to_string(), "writable by group or others");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = h.root().join("link.conf");
    std::os::unix::fs::symlink(&conf, &link).unwrap();
    let o = chauthtok(&h, &bare_line(&format!("conf={}", link.display())), &["x", "x"]);
    assert_refused_at_load(&o, &link.display().to_string(), "symbolic link");
}

/// Root tier (`cargo test -p pam-harness --test hermetic_pwpolicy -- --ignored`): needs chown.
#[test]
#[ignore = "needs root (chown to another user)"]
fn given_pwpolicy_conf_owned_by_a_user_then_refused_at_load() {
    let h = Harness::new();
    let conf = h.root().join("pwpolicy.conf");
    write_conf(&conf, "minscore = 0\nminlen = 1\n").unwrap();
    std::os::unix::fs::chown(&conf, Some(12345), Some(12345)).unwrap();
    let o = chauthtok(&h, &bare_line(&format!("conf={}", conf.display())), &["x", "x"]);
    assert_refused_at_load(&o, &conf.display().to_string(), "owned by uid 12345");
    // The same file back to root is read.
    std::os::unix::fs::chown(&conf, Some(0), Some(0)).unwrap();
    let o = chauthtok(&h, &bare_line(&format!("conf={}", conf.display())), &["x", "x"]);
    assert_ne!(o.code(), PamCode::ServiceErr, "{:#?}", o.logs);
}

#[test]
fn given_a_sequence_without_a_digit_then_one_refusal_names_both_and_x_is_too_short() {
    let (h, line) = setup("retry=2 dcredit=-1 enforce_for_root", "");
    let o = chauthtok(&h, &line, &["abcdefghijkl", "x"]);
    o.assert_code(PamCode::MaxTries);
    assert_refused_with(
        &o,
        &[
            "is too simple; is a sequence or a repeat",
            "is too short; is too simple",
        ],
    );
    let msgs = o.messages();
    let first = msgs.iter().find(|m| m.starts_with("BAD PASSWORD: ")).unwrap();
    assert!(
        first.contains("Add at least 1 digit") && first.contains("Sequences like abc"),
        "{first}"
    );
    assert!(!msgs.iter().any(|m| m.contains("palindrome")), "{msgs:#?}");
}

#[test]
fn given_compat_pwquality_then_passwords_pwquality_accepts_are_accepted() {
    let (h, line) = setup("retry=3 compat=pwquality enforce_for_root", "");
    for pw in ["Summer2024!", "P@ssw0rd2024"] {
        let o = chauthtok(&h, &line, &[pw, pw]);
        o.assert_code(PamCode::Success);
        assert!(
            !o.messages().iter().any(|m| m.starts_with("BAD PASSWORD")),
            "{pw}"
        );
    }
}
