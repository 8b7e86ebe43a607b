//! `totp-enroll` and pam_totp share one store (issue 25): the CLI's rewrites take the module's lock, so a
//! login's record of a used code is never undone, and when root acts for a user the CLI reads and writes
//! with that user's filesystem ids, so the user's symlinks cannot send root's writes elsewhere.
//!
//! The race test runs the built `totp-enroll` (from `cargo build --workspace`) against real libpam and the
//! built pam_totp.so; the symlink test needs root and is run by the root tier (`--ignored`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

mod totp_common;

use pam_ffi::PamCode;
use pam_harness::{build_dir, module_path, Harness, Running};
use std::fs;
use std::os::unix::fs::{chown, lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use totp_common::{me, oath_totp, scratch_codes, write_secret, T0};

const SECRET: &str = "QGPSWMNUD3U2N7TS42X6HYOWI4";

/// The built `totp-enroll`.
#[track_caller]
fn enroll_bin() -> PathBuf {
    let p = build_dir().join("totp-enroll");
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace`",
        p.display()
    );
    p
}

fn totp_enroll(args: &[&str]) -> std::process::Output {
    Command::new(enroll_bin())
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn given_new_scratch_codes_racing_32_logins_then_every_accepted_code_is_refused_afterwards() {
    const RUNS: usize = 50;
    const LOGINS: usize = 32;
    let h = Harness::new();
    h.service(
        "totp",
        &format!(
            "auth required {} secret={}/${{USER}}.ga\n",
            module_path("pam_totp").display(),
            h.root().display()
        ),
    );
    let path = h.root().join(format!("{}.ga", me()));
    // 17 codes valid at T0: steps -8..=8 around it; 16 logins use one each, 16 use scratch codes.
    write_secret(
        &path,
        format!(
            "{SECRET}\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11111111\n22222222\n33333333\n"
        ),
    );
    let t = T0;
    let rewriter = {
        let path = path.clone();
        std::thread::spawn(move || {
            for run in 0..RUNS {
                let out = totp_enroll(&["new-scratch-codes", "-q", "-e", "5", "-s", path.to_str().unwrap()]);
                assert!(
                    out.status.success(),
                    "run {run}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        })
    };
    let mut running: Vec<(String, Running)> = Vec::new();
    for i in 0..LOGINS {
        let code = if i % 2 == 0 {
            let step_offset = (i / 2) as i64 - 8;
            oath_totp(SECRET, (t as i64 + 30 * step_offset) as u64, 30)
        } else {
            // Whichever scratch code the file holds now (new-scratch-codes may replace it before the login).
            let codes = scratch_codes(&fs::read_to_string(&path).unwrap());
            codes[i % codes.len()].clone()
        };
        let login = h.run("totp").user(&me()).fake_time(t).reply(&code).spawn();
        running.push((code, login));
        std::thread::sleep(Duration::from_millis(3));
    }
    let accepted: Vec<String> = running
        .into_iter()
        .filter_map(|(code, login)| {
            let o = login.wait();
            (o.code() == PamCode::Success).then_some(code)
        })
        .collect();
    rewriter.join().unwrap();
    let totp_accepted = accepted.iter().filter(|c| c.len() == 6).count();
    eprintln!(
        "accepted: {totp_accepted} TOTP codes, {} scratch codes",
        accepted.len() - totp_accepted
    );
    for code in &accepted {
        let o = h.run("totp").user(&me()).fake_time(t).reply(code).go();
        assert_eq!(
            o.code(),
            PamCode::AuthErr,
            "code {code} accepted again: its recorded use was lost\n{:#?}",
            o.logs
        );
    }
    assert_eq!(
        totp_accepted,
        LOGINS / 2,
        "every distinct TOTP code in the window is accepted once"
    );
}

/// Bob's uid and gid (no passwd entry needed: totp-enroll reads `--passwd-file`).
const BOB: u32 = 64_123;

/// Every entry under `dir` (not following links), with its owner.
fn owners_under(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        out.push((entry.path(), meta.uid()));
        if meta.is_dir() {
            out.extend(owners_under(&entry.path()));
        }
    }
    out
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_root_acting_for_bob_whose_home_turns_into_symlinks_then_nothing_is_written_outside_it_or_owned_by_root(
) {
    assert_eq!(pam_ffi::os::effective_uid(), 0, "this test needs root");
    let base = tempfile::tempdir().unwrap();
    let base = base.path();
    fs::set_permissions(base, fs::Permissions::from_mode(0o755)).unwrap();
    // Root's directory, with a secret file of root's, where bob's links point.
    let rootdir = base.join("rootdir");
    fs::create_dir(&rootdir).unwrap();
    fs::set_permissions(&rootdir, fs::Permissions::from_mode(0o755)).unwrap();
    let roots_file = rootdir.join(".google_authenticator");
    fs::write(&roots_file, "ROOTSECRET\n").unwrap();
    fs::write(rootdir.join("victim"), "VICTIM\n").unwrap();
    // Bob's directory: `home` is a link he flips between his `real` directory and root's.
    let bobs = base.join("bobs");
    let real = bobs.join("real");
    fs::create_dir_all(&real).unwrap();
    for d in [&bobs, &real] {
        chown(d, Some(BOB), Some(BOB)).unwrap();
    }
    let home = bobs.join("home");
    std::os::unix::fs::symlink("real", &home).unwrap();
    lchown(&home, Some(BOB), Some(BOB)).unwrap();
    let passwd = base.join("passwd");
    fs::write(
        &passwd,
        format!(
            "root:x:0:0:root:/root:/bin/bash\nbob:x:{BOB}:{BOB}:Bob:{}:/bin/sh\n",
            home.display()
        ),
    )
    .unwrap();
    let admin = |cmd: &[&str]| {
        let mut args = vec!["--passwd-file", passwd.to_str().unwrap(), "--user", "bob"];
        args.extend_from_slice(cmd);
        totp_enroll(&args)
    };
    let enroll: &[&str] = &["-t", "-D", "-u", "-W", "-f", "-C", "-q"];
    let nsc: &[&str] = &["new-scratch-codes", "-q"];
    let first = admin(enroll);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        fs::metadata(real.join(".google_authenticator")).unwrap().uid(),
        BOB
    );

    // Bob, while root works: home flips to root's directory and back; his secret file and the store's
    // temporary name become links into root's directory.
    let script = "while :; do \
        ln -sfn real h1 && mv -Tf h1 home; \
        ln -sfn ../rootdir h2 && mv -Tf h2 home; \
        ln -sfn ../../rootdir/.google_authenticator real/l && mv -Tf real/l real/.google_authenticator; \
        ln -sfn ../../rootdir/victim real/.google_authenticator~totp 2>/dev/null; \
        done";
    let mut bob = Command::new("setpriv")
        .args([
            &format!("--reuid={BOB}"),
            &format!("--regid={BOB}"),
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .current_dir(&bobs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut outcomes = (0, 0);
    for i in 0..60 {
        let out = admin(if i % 2 == 0 { enroll } else { nsc });
        if out.status.success() {
            outcomes.0 += 1;
        } else {
            outcomes.1 += 1;
        }
    }
    bob.kill().unwrap();
    bob.wait().unwrap();
    eprintln!("{} runs succeeded, {} failed", outcomes.0, outcomes.1);

    assert_eq!(fs::read_to_string(&roots_file).unwrap(), "ROOTSECRET\n");
    assert_eq!(fs::read_to_string(rootdir.join("victim")).unwrap(), "VICTIM\n");
    let in_rootdir = owners_under(&rootdir);
    assert_eq!(
        in_rootdir.len(),
        2,
        "written into root's directory: {in_rootdir:?}"
    );
    assert!(in_rootdir.iter().all(|(_, uid)| *uid == 0), "{in_rootdir:?}");
    let in_bobs = owners_under(&bobs);
    let roots: Vec<_> = in_bobs.iter().filter(|(_, uid)| *uid != BOB).collect();
    assert!(roots.is_empty(), "not bob's: {roots:?}");
    let mut names: Vec<_> = fs::read_dir(base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["bobs", "passwd", "rootdir"],
        "written beside bob's directory"
    );
}
