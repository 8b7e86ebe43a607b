//! Interop with the real google-authenticator tools (issue 3, "Show: interop"): files written by the real
//! `google-authenticator` CLI and the committed fixtures are accepted by pam_totp with codes from `oathtool`
//! (an independent implementation); after pam_totp updates a file (scratch code used, DISALLOW_REUSE step
//! recorded, HOTP counter advanced, RATE_LIMIT timestamps, learned skew, grace-period host) the real
//! pam_google_authenticator.so reads it, accepts the next valid code and refuses the used ones; and the other
//! way round. Both modules run through the same driver (pamh on real libpam) with the same stack shape,
//! `auth required <module> secret=<dir>/${USER}.ga`, as the current user (root in CI), at a faked time.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

mod totp_common;

use pam_ffi::PamCode;
use pam_harness::{utc_date_time, Harness, Outcome};
use pam_totp::secret_file::SecretFile;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use totp_common::{
    me, oath_hotp, oath_totp, output, rate_limit_timestamps, scratch_codes, secret_of, two_modules, value_of,
    write_secret, T0,
};

/// Runs `google-authenticator <flags> -f -C -q -Q NONE -s <path>` (non-interactive).
fn cli(path: &Path, flags: &[&str]) -> String {
    output(
        Command::new("google-authenticator")
            .args(flags)
            .args(["-f", "-C", "-q", "-Q", "NONE", "-s"])
            .arg(path),
    );
    read(path)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

/// One login through service `svc` (`totp` or `ga`) at time `t`, answering `code`.
fn login(h: &Harness, svc: &str, t: u64, code: &str) -> Outcome {
    h.run(svc).user(&me()).fake_time(t).reply(code).go()
}

/// Asserts the result of a login, showing everything on failure, and that the file is still one both modules
/// accept: parsable, mode 0400, owned by the user.
#[track_caller]
fn expect(h: &Harness, path: &Path, svc: &str, t: u64, code: &str, want: PamCode) -> Outcome {
    let o = login(h, svc, t, code);
    assert_eq!(
        o.code(),
        want,
        "{svc} answered {:?} for {code} at {t}\nlogs: {:#?}\nfile:\n{}",
        o.code(),
        o.logs,
        read(path)
    );
    assert!(o.stderr.is_empty(), "{svc} wrote to stderr: {}", o.stderr);
    let bytes = fs::read(path).unwrap();
    SecretFile::parse(&bytes)
        .unwrap_or_else(|e| panic!("after {svc}: {e}\n{}", String::from_utf8_lossy(&bytes)));
    let meta = fs::metadata(path).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o400,
        "after {svc}: mode changed"
    );
    assert_eq!(
        meta.uid(),
        pam_ffi::os::effective_uid(),
        "after {svc}: owner changed"
    );
    o
}

fn ga_logged(o: &Outcome, needle: &str) -> bool {
    o.logs.iter().any(|l| l.text.contains(needle))
}

/// A file must never be reported by pam_google_authenticator as unreadable or malformed.
#[track_caller]
fn assert_ga_read_it(o: &Outcome) {
    for bad in [
        "Failed to",
        "Invalid",
        "must be",
        "too large",
        "corrupt",
        "Could not",
    ] {
        assert!(
            !o.logs
                .iter()
                .any(|l| l.text.contains(bad) && !l.text.contains("Invalid verification code")),
            "pam_google_authenticator complained ({bad}): {:#?}",
            o.logs
        );
    }
}

#[test]
fn faked_time_is_the_time_oathtool_and_date_see() {
    let t = T0 + 12_345;
    let date = output(Command::new("date").args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%d %H:%M:%S"]));
    assert_eq!(utc_date_time(t), date);
    assert_eq!(utc_date_time(0), "1970-01-01 00:00:00");
    assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00:00");
    // The module sees the faked time: a code for T0 is accepted at T0, and nowhere near the real time.
    let (h, path) = two_modules("noskewadj", "noskewadj");
    write_secret(&path, b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
    let code = oath_totp("JBSWY3DPEHPK3PXP", T0, 30);
    expect(&h, &path, "totp", T0, &code, PamCode::Success);
    expect(&h, &path, "ga", T0, &code, PamCode::Success);
    expect(&h, &path, "totp", T0 + 3600, &code, PamCode::AuthErr);
}

/// Every way the CLI is used non-interactively: pam_totp accepts the `oathtool` code and the first scratch
/// code (and refuses a wrong code); then pam_google_authenticator accepts the file pam_totp rewrote, with
/// the next valid code and the second scratch code.
#[test]
fn files_written_by_the_google_authenticator_cli_are_accepted_with_oathtool_codes() {
    let variants: &[&[&str]] = &[
        &["-t", "-D", "-u", "-w", "3", "-e", "5"],
        &["-t", "-d", "-r", "10", "-R", "30", "-w", "3", "-e", "5"],
        &["-t", "-d", "-u", "-w", "17", "-e", "5"],
        &["-t", "-D", "-u", "-S", "60", "-w", "3", "-e", "10"],
        &["-t", "-D", "-u", "-W", "-e", "0"],
        &["-c", "-u", "-w", "5", "-e", "3"],
        &["-c", "-r", "5", "-R", "60", "-w", "3", "-e", "3"],
    ];
    for flags in variants {
        let (h, path) = two_modules("", "");
        let body = cli(&path, flags);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o400,
            "{flags:?}"
        );
        let secret = secret_of(&body);
        let scratch = scratch_codes(&body);
        let hotp = value_of(&body, "HOTP_COUNTER").map(|c| c.parse::<u64>().unwrap());
        let step: u64 = value_of(&body, "STEP_SIZE").map_or(30, |s| s.parse().unwrap());
        let window: u64 = value_of(&body, "WINDOW_SIZE").map_or(3, |s| s.parse().unwrap());
        let reuse = value_of(&body, "DISALLOW_REUSE").is_none();
        let ctx = format!("{flags:?}\n{body}");

        let first = match hotp {
            Some(c) => oath_hotp(&secret, c),
            None => oath_totp(&secret, T0, step),
        };
        let o = expect(&h, &path, "totp", T0, &first, PamCode::Success);
        assert!(
            o.logged(if hotp.is_some() { "via=hotp" } else { "via=totp" }),
            "{ctx}"
        );
        let wrong = if first == "000000" { "000001" } else { "000000" };
        let o = expect(&h, &path, "totp", T0, wrong, PamCode::AuthErr);
        assert!(o.logged("reason=wrong-code"), "{ctx}");
        if hotp.is_none() && window > 3 {
            // The edges of the window (17: -8..+8 steps), also from oathtool.
            let half = (window - 1) / 2;
            expect(
                &h,
                &path,
                "totp",
                T0,
                &oath_totp(&secret, T0 + half * step, step),
                PamCode::Success,
            );
            expect(
                &h,
                &path,
                "totp",
                T0,
                &oath_totp(&secret, T0 - half * step, step),
                PamCode::Success,
            );
        }
        if let Some(code) = scratch.first() {
            let o = expect(&h, &path, "totp", T0, code, PamCode::Success);
            assert!(o.logged("via=scratch"), "{ctx}");
        }
        // pam_google_authenticator on the file pam_totp rewrote: the next valid code is the next step (the
        // same one when reuse is allowed), or the counter pam_totp left (advanced by the miss, as in C).
        let next = match hotp {
            Some(_) => oath_hotp(
                &secret,
                value_of(&read(&path), "HOTP_COUNTER").unwrap().parse().unwrap(),
            ),
            None => oath_totp(&secret, if reuse { T0 } else { T0 + step }, step),
        };
        let o = expect(&h, &path, "ga", T0, &next, PamCode::Success);
        assert_ga_read_it(&o);
        if let Some(code) = scratch.get(1) {
            expect(&h, &path, "ga", T0, code, PamCode::Success);
        }
        let after = read(&path);
        assert_eq!(
            scratch_codes(&after),
            scratch.iter().skip(2).cloned().collect::<Vec<_>>(),
            "{ctx}"
        );
    }
}

/// The committed fixtures (made by the Debian 12 CLI): copied into a temporary directory as the CLI leaves
/// them (0400, owned by the user), accepted by pam_totp with oathtool codes, and still accepted by
/// pam_google_authenticator afterwards.
#[test]
fn committed_fixtures_are_accepted_with_oathtool_codes_by_both_modules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/google-authenticator");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let fixture = entry.unwrap().path();
        if fixture.extension().and_then(|e| e.to_str()) != Some("ga") {
            continue;
        }
        seen += 1;
        let (h, path) = two_modules("", "");
        let body = fs::read_to_string(&fixture).unwrap();
        write_secret(&path, body.as_bytes());
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let secret = secret_of(&body);
        let scratch = scratch_codes(&body);
        let step: u64 = value_of(&body, "STEP_SIZE").map_or(30, |s| s.parse().unwrap());
        let hotp = value_of(&body, "HOTP_COUNTER").map(|c| c.parse::<u64>().unwrap());
        let first = match hotp {
            Some(c) => oath_hotp(&secret, c),
            None => oath_totp(&secret, T0, step),
        };
        expect(&h, &path, "totp", T0, &first, PamCode::Success);
        if let Some(code) = scratch.first() {
            expect(&h, &path, "totp", T0, code, PamCode::Success);
        }
        // Untouched lines stay byte for byte: only the changed keys and the used scratch line differ.
        let after = read(&path);
        for line in body
            .lines()
            .filter(|l| !l.starts_with("\" HOTP_COUNTER") && !l.starts_with("\" DISALLOW_REUSE"))
        {
            if line.starts_with("\" RATE_LIMIT") || Some(&line.to_owned()) == scratch.first() {
                continue;
            }
            assert!(
                after.lines().any(|l| l == line),
                "{name}: line {line:?} lost:\n{after}"
            );
        }
        // A minute later (past the fixtures' RATE_LIMIT intervals), pam_google_authenticator takes the next
        // code and the second scratch code from the file pam_totp rewrote.
        let later = T0 + 60;
        let next = match hotp {
            Some(c) => oath_hotp(&secret, c + 1),
            None => oath_totp(&secret, later, step),
        };
        let o = expect(&h, &path, "ga", later, &next, PamCode::Success);
        assert_ga_read_it(&o);
        if let Some(code) = scratch.get(1) {
            expect(&h, &path, "ga", later, code, PamCode::Success);
        }
    }
    assert!(seen >= 5, "fixtures missing from {}", dir.display());
}

/// DISALLOW_REUSE: the step each module records is honoured by the other; RATE_LIMIT timestamps written by
/// both are kept (every attempt, by either module).
#[test]
fn used_totp_steps_are_refused_by_the_other_module_and_the_next_code_accepted() {
    let (h, path) = two_modules("", "");
    let body = cli(&path, &["-t", "-d", "-r", "10", "-R", "30", "-w", "3", "-e", "5"]);
    let secret = secret_of(&body);
    let s = T0 / 30;
    let code = |step: u64| oath_totp(&secret, step * 30, 30);

    expect(&h, &path, "totp", T0, &code(s), PamCode::Success);
    assert_eq!(
        value_of(&read(&path), "DISALLOW_REUSE"),
        Some(s.to_string().as_str())
    );
    let o = expect(&h, &path, "ga", T0, &code(s), PamCode::AuthErr);
    assert!(
        ga_logged(&o, "Trying to reuse a previously used time-based code"),
        "{:#?}",
        o.logs
    );
    let o = expect(&h, &path, "ga", T0, &code(s + 1), PamCode::Success);
    assert_ga_read_it(&o);
    for used in [s + 1, s] {
        let o = expect(&h, &path, "totp", T0, &code(used), PamCode::AuthErr);
        assert!(o.logged("reason=replayed"), "{:#?}", o.logs);
    }
    expect(&h, &path, "totp", T0, &code(s - 1), PamCode::Success);
    let o = expect(&h, &path, "ga", T0, &code(s - 1), PamCode::AuthErr);
    assert!(ga_logged(&o, "Trying to reuse"), "{:#?}", o.logs);

    let after = read(&path);
    let used: BTreeSet<u64> = value_of(&after, "DISALLOW_REUSE")
        .unwrap()
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(used, BTreeSet::from([s - 1, s, s + 1]), "{after}");
    let stamps = rate_limit_timestamps(&after);
    assert_eq!(
        stamps.len(),
        7,
        "every attempt of both modules is recorded: {after}"
    );
    assert!(stamps.iter().all(|&t| (T0..T0 + 10).contains(&t)), "{after}");
    // The scratch codes and the other lines are untouched.
    assert_eq!(scratch_codes(&after), scratch_codes(&body));
}

/// Scratch codes: a code used by one module is refused by the other, and the rest still work.
#[test]
fn scratch_codes_used_by_one_module_are_refused_by_the_other() {
    let (h, path) = two_modules("", "");
    let body = cli(&path, &["-t", "-D", "-u", "-w", "3", "-e", "5"]);
    let sc = scratch_codes(&body);
    assert_eq!(sc.len(), 5);
    expect(&h, &path, "totp", T0, &sc[0], PamCode::Success);
    expect(&h, &path, "ga", T0, &sc[0], PamCode::AuthErr);
    expect(&h, &path, "ga", T0, &sc[1], PamCode::Success);
    expect(&h, &path, "totp", T0, &sc[1], PamCode::AuthErr);
    let o = expect(&h, &path, "totp", T0, &sc[2], PamCode::Success);
    assert_eq!(
        o.messages(),
        vec!["2 scratch codes left. Run `totp-enroll new-scratch-codes` to get new ones."]
    );
    expect(&h, &path, "ga", T0, &sc[2], PamCode::AuthErr);
    assert_eq!(scratch_codes(&read(&path)), sc[3..].to_vec());
}

/// HOTP: each module continues from the counter the other one left, including the advance on a miss.
#[test]
fn hotp_counters_advanced_by_one_module_are_honoured_by_the_other() {
    let (h, path) = two_modules("", "");
    let body = cli(&path, &["-c", "-u", "-w", "3", "-e", "0"]);
    let secret = secret_of(&body);
    let counter = || {
        value_of(&read(&path), "HOTP_COUNTER")
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(counter(), 1);
    let hotp = |c: u64| oath_hotp(&secret, c);

    expect(&h, &path, "totp", T0, &hotp(1), PamCode::Success);
    assert_eq!(counter(), 2);
    expect(&h, &path, "ga", T0, &hotp(1), PamCode::AuthErr);
    assert_eq!(
        counter(),
        3,
        "pam_google_authenticator advances the counter on a miss"
    );
    expect(&h, &path, "ga", T0, &hotp(3), PamCode::Success);
    assert_eq!(counter(), 4);
    expect(&h, &path, "totp", T0, &hotp(3), PamCode::AuthErr);
    assert_eq!(counter(), 5, "pam_totp advances the counter on a miss, as C does");
    // The far edge of the window (counter .. counter + 2).
    expect(&h, &path, "totp", T0, &hotp(7), PamCode::Success);
    assert_eq!(counter(), 8);
    expect(&h, &path, "ga", T0, &hotp(7), PamCode::AuthErr);
    assert_eq!(counter(), 9);
    expect(&h, &path, "ga", T0, &hotp(11), PamCode::Success);
    assert_eq!(counter(), 12);
    expect(&h, &path, "totp", T0, &hotp(12), PamCode::Success);
    assert_eq!(counter(), 13);
}

/// RATE_LIMIT: attempts recorded by either module count for both, and both refuse once the limit is reached.
#[test]
fn rate_limit_attempts_recorded_by_one_module_count_for_the_other() {
    let (h, path) = two_modules("noskewadj", "noskewadj");
    let body = cli(&path, &["-t", "-D", "-r", "3", "-R", "30", "-w", "3", "-e", "2"]);
    let secret = secret_of(&body);
    let good = oath_totp(&secret, T0, 30);
    let wrong = if good == "000000" { "000001" } else { "000000" };

    expect(&h, &path, "totp", T0, wrong, PamCode::AuthErr);
    expect(&h, &path, "ga", T0, wrong, PamCode::AuthErr);
    assert_eq!(rate_limit_timestamps(&read(&path)).len(), 2);
    expect(&h, &path, "totp", T0, &good, PamCode::Success);
    assert_eq!(rate_limit_timestamps(&read(&path)).len(), 3);
    // Both refuse the fourth attempt within 30 s, even with the right code.
    let o = expect(&h, &path, "ga", T0 + 1, &good, PamCode::AuthErr);
    assert!(
        ga_logged(&o, "Too many concurrent login attempts"),
        "{:#?}",
        o.logs
    );
    let o = expect(&h, &path, "totp", T0 + 2, &good, PamCode::AuthErr);
    assert!(o.logged("reason=rate-limited"), "{:#?}", o.logs);
    // Unlike pam_google_authenticator, pam_totp prompts a rate-limited user as it prompts everyone, so that
    // the refusal does not tell an attacker the account is enrolled (docs/threat-model.md).
    assert_eq!(o.prompts(), vec!["Verification code: "]);
    assert!(o.messages().is_empty(), "{:?}", o.events);
    let stamps = rate_limit_timestamps(&read(&path));
    assert_eq!(stamps.len(), 3, "only the newest n are kept: {stamps:?}");
    // Half a minute after the newest attempts, both let the user in again.
    let later = T0 + 40;
    expect(
        &h,
        &path,
        "ga",
        later,
        &oath_totp(&secret, later, 30),
        PamCode::Success,
    );
    expect(
        &h,
        &path,
        "totp",
        later,
        &oath_totp(&secret, later, 30),
        PamCode::Success,
    );
    let stamps = rate_limit_timestamps(&read(&path));
    assert!(stamps.iter().filter(|&&t| t >= later).count() == 2, "{stamps:?}");
}

/// Skew learning: the `RESETTING_TIME_SKEW` / `TIME_SKEW` state one module learns is used by the other, for a
/// phone 10 steps ahead and one 10 steps behind (negative values in the file).
#[test]
fn clock_skew_learned_by_one_module_is_used_by_the_other() {
    for skew in [10i64, -10] {
        for (learner, user) in [("totp", "ga"), ("ga", "totp")] {
            let (h, path) = two_modules("", "");
            let body = cli(&path, &["-t", "-D", "-u", "-w", "3", "-e", "0"]);
            let secret = secret_of(&body);
            let phone = |t: u64| oath_totp(&secret, t.checked_add_signed(30 * skew).unwrap(), 30);
            // Three attempts a step apart teach the skew; the first two are refused and recorded.
            for k in 0..3u64 {
                let t = T0 + 30 * k;
                let want = if k < 2 { PamCode::AuthErr } else { PamCode::Success };
                expect(&h, &path, learner, t, &phone(t), want);
                if k == 0 {
                    let state = read(&path);
                    let entry = format!("{}{skew:+}", t / 30);
                    assert_eq!(
                        value_of(&state, "RESETTING_TIME_SKEW"),
                        Some(entry.as_str()),
                        "{learner}:\n{state}"
                    );
                }
            }
            let after = read(&path);
            assert_eq!(
                value_of(&after, "TIME_SKEW"),
                Some(skew.to_string().as_str()),
                "{learner} learned:\n{after}"
            );
            let t = T0 + 120;
            let o = expect(&h, &path, user, t, &phone(t), PamCode::Success);
            assert_ga_read_it(&o);
            // And the real time is now outside the window for both.
            expect(&h, &path, user, t, &oath_totp(&secret, t, 30), PamCode::AuthErr);
        }
    }
}

/// grace_period: a host recorded by one module (`LASTn`) is let in by the other without a code. (With reuse
/// allowed and no rate limit, pam_google_authenticator 1.08 does not write the file at all, so its `LASTn`
/// entry is lost: the file here has DISALLOW_REUSE so that it writes. pam_totp always records it.)
#[test]
fn grace_period_hosts_recorded_by_one_module_are_honoured_by_the_other() {
    for (first, second) in [("totp", "ga"), ("ga", "totp")] {
        let (h, path) = two_modules("grace_period=3600", "grace_period=3600");
        let body = cli(&path, &["-t", "-d", "-u", "-w", "3", "-e", "0"]);
        let code = oath_totp(&secret_of(&body), T0, 30);
        let o = h
            .run(first)
            .user(&me())
            .item("rhost", "198.51.100.9")
            .fake_time(T0)
            .reply(&code)
            .go();
        o.assert_code(PamCode::Success);
        assert!(
            read(&path).contains("\" LAST0 198.51.100.9 "),
            "{first} did not record the host:\n{}",
            read(&path)
        );
        let again = h
            .run(second)
            .user(&me())
            .item("rhost", "198.51.100.9")
            .fake_time(T0 + 60)
            .go();
        again.assert_code(PamCode::Success);
        assert!(
            again.prompts().is_empty(),
            "{second} prompted: {:?}",
            again.events
        );
        let other = h
            .run(second)
            .user(&me())
            .item("rhost", "203.0.113.5")
            .fake_time(T0 + 60)
            .reply("000000")
            .go();
        other.assert_code(PamCode::AuthErr);
    }
}
