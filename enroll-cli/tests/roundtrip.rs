//! Round trip: files written by totp-enroll are accepted by pam_totp's verify core and by the real
//! pam_google_authenticator.so (driven through the project's hermetic harness on real libpam), with codes from
//! `oathtool`, an implementation independent of both; SHA-256/SHA-512 and 7/8-digit files are accepted by
//! pam_totp with the matching `oathtool --totp=sha256 -d 8` codes and refused with the SHA-1/6-digit code.
//!
//! The harness needs `pamh` built in the same target directory: `cargo build --workspace` first (or set
//! PAM_MODULE_DIR).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use common::*;
use pam_ffi::PamCode;
use pam_harness::Harness;
use pam_totp::args::Options;
use pam_totp::secret_file::SecretFile;
use pam_totp::verify::{verify, Outcome, Via};
use std::fs;
use std::path::Path;

const GA_MODULE: &str = "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so";

fn parse(path: &Path) -> SecretFile {
    SecretFile::parse(&fs::read(path).unwrap()).unwrap()
}

#[track_caller]
fn pam_totp_accepts(path: &Path, code: &str) -> Via {
    let file = parse(path);
    match verify(&file, now(), code, &Options::default(), None).outcome {
        Outcome::Accepted { via, .. } => via,
        other => panic!(
            "pam_totp refused {code}: {other:?}\n{}",
            fs::read_to_string(path).unwrap()
        ),
    }
}

#[track_caller]
fn pam_totp_refuses(path: &Path, code: &str) {
    let file = parse(path);
    let outcome = verify(&file, now(), code, &Options::default(), None).outcome;
    assert!(
        !matches!(outcome, Outcome::Accepted { .. }),
        "{code} accepted: {outcome:?}"
    );
}

#[test]
fn given_ga_compatible_options_then_pam_totp_accepts_the_oathtool_code() {
    for flags in [
        &["-t", "-d", "-r", "3", "-R", "30", "-w", "3"][..],
        &["-t", "-D", "-u", "-W"],
        &["-t", "-D", "-u", "-W", "-S", "60"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        run_in(
            dir.path(),
            &[flags, &["-f", "-C", "-q", "-s", f.to_str().unwrap()]].concat(),
            "",
        )
        .ok();
        let period = if flags.contains(&"60") { "60s" } else { "30s" };
        let code = oathtool(&secret_of(&f), &["--totp", "-s", period]);
        assert_eq!(pam_totp_accepts(&f, &code), Via::Totp, "flags {flags:?}");
        pam_totp_refuses(&f, "000000x");
        // A scratch code works as well.
        let scratch = scratch_lines(&f)[0].clone();
        assert_eq!(pam_totp_accepts(&f, &scratch), Via::Scratch);
    }
    // HOTP: the first code of the app (counter 1).
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    run_in(
        dir.path(),
        &["-c", "-u", "-W", "-f", "-C", "-q", "-s", f.to_str().unwrap()],
        "",
    )
    .ok();
    let code = oathtool(&secret_of(&f), &["-c", "1"]);
    assert_eq!(pam_totp_accepts(&f, &code), Via::Hotp);
}

#[test]
fn given_sha2_and_long_codes_then_pam_totp_accepts_the_matching_oathtool_code_only() {
    for (alg, digits, oath) in [
        ("SHA256", "8", "--totp=sha256"),
        ("SHA512", "8", "--totp=sha512"),
        ("SHA256", "6", "--totp=sha256"),
        ("SHA1", "7", "--totp=sha1"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let r = run_in(
            dir.path(),
            &[
                "-t",
                "-D",
                "-u",
                "-W",
                "-f",
                "-C",
                "-Q",
                "NONE",
                "--algorithm",
                alg,
                "--digits",
                digits,
                "-s",
                f.to_str().unwrap(),
            ],
            "",
        )
        .ok();
        // SHA1 and 6 digits are the defaults, left out of the URI; the others are in it.
        let mut expected = String::new();
        if alg != "SHA1" {
            expected.push_str(&format!("&algorithm={alg}"));
        }
        if digits != "6" {
            expected.push_str(&format!("&digits={digits}"));
        }
        assert!(
            r.uri().ends_with(&expected) && r.uri().matches("&algorithm=").count() <= 1,
            "{}",
            r.uri()
        );
        let secret = secret_of(&f);
        let code = oathtool(&secret, &[oath, "-d", digits]);
        assert_eq!(code.len(), digits.parse::<usize>().unwrap());
        assert_eq!(pam_totp_accepts(&f, &code), Via::Totp, "{alg}/{digits}");
        // The SHA-1/6-digit code an app that ignores the parameters would show is refused.
        let wrong = oathtool(&secret, &["--totp"]);
        pam_totp_refuses(&f, &wrong);
    }
}

#[test]
fn given_ga_compatible_options_then_the_real_pam_google_authenticator_accepts_the_file() {
    assert!(Path::new(GA_MODULE).exists(), "{GA_MODULE} not installed");
    if output(std::process::Command::new("id").arg("-u")) != "0" {
        eprintln!("skipped: user=root in the stack needs the file owned by root");
        return;
    }
    for flags in [
        &["-t", "-d", "-r", "3", "-R", "30", "-w", "3"][..],
        &["-t", "-D", "-u", "-W", "-S", "60"],
        &["-t", "-D", "-u", "-w", "17", "-e", "1"],
    ] {
        let h = Harness::new();
        let f = h.root().join("ga-secret");
        run_in(
            h.root(),
            &[flags, &["-f", "-C", "-q", "-s", f.to_str().unwrap()]].concat(),
            "",
        )
        .ok();
        h.service(
            "ga",
            &format!("auth required {GA_MODULE} secret={} user=root\n", f.display()),
        );
        let period = if flags.contains(&"60") { "60s" } else { "30s" };
        // A wrong code first (so the test cannot pass by accepting anything), then the oathtool code.
        let o = h.run("ga").user("root").reply("000000").go();
        assert_eq!(o.code(), PamCode::AuthErr, "wrong code: {:#?}", o.logs);
        let code = oathtool(&secret_of(&f), &["--totp", "-s", period]);
        let o = h.run("ga").user("root").reply(&code).go();
        assert_eq!(
            o.code(),
            PamCode::Success,
            "flags {flags:?}: pam_google_authenticator refused {code}\nlogs: {:#?}\nfile:\n{}",
            o.logs,
            fs::read_to_string(&f).unwrap()
        );
        // And a scratch code.
        let scratch = scratch_lines(&f)[0].clone();
        let o = h.run("ga").user("root").reply(&scratch).go();
        assert_eq!(o.code(), PamCode::Success, "scratch code: {:#?}", o.logs);
        // pam_totp still reads the file pam_google_authenticator rewrote.
        parse(&f);
    }
}
