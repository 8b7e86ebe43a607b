//! pam_totp on broken systems (root; run by the `root` tier of tests/run-all with `--ignored`): the secret
//! file's directory on a full tmpfs (ENOSPC), on a read-only bind mount (EROFS), or not writable by the user
//! (EACCES). Each runs `pamh` inside its own private mount namespace (`unshare --mount`), so nothing is
//! mounted on the host. The rule checked everywhere: a code whose use cannot be recorded is never accepted
//! when accepting it would allow a replay — with `allow_readonly` too — and the file is never torn. The same
//! faults are injected with `state=` (the state file on the broken filesystem), and a read-only secret file
//! with a writable `state=` directory records everything (issue 22).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use pam_ffi::PamCode;
mod totp_common;
use pam_harness::{module_path, Harness, Outcome};
use pam_totp::secret_file::SecretFile;
use pam_totp::state_file::State;
use std::fs;
use std::path::Path;
use totp_common::{code_now, effective_body, hotp, Layout, SECRET};

#[track_caller]
fn require_root() {
    assert_eq!(
        pam_ffi::os::effective_uid(),
        0,
        "fault-injection tests need root (namespaces and mounts)"
    );
}

/// How the secret directory is broken inside the namespace.
#[derive(Clone, Copy)]
enum Fault {
    /// A 64 KiB tmpfs, filled up before the login.
    Full,
    /// A read-only bind mount.
    ReadOnly,
}

/// Runs one login for `user` with `reply`, the secret file holding `body`, the directory broken by `fault`.
/// Returns the outcome and the secret file as it was after the login (read inside the namespace). With
/// `state=` (`layout`), the state file (a fresh state, as the first login writes it) is in `<dir>/state/`, on
/// the same broken filesystem.
fn login_with_fault_in(
    layout: Layout,
    fault: Fault,
    user: &str,
    body: &str,
    args: &str,
    reply: &str,
) -> (Outcome, String) {
    require_root();
    let h = Harness::new();
    let dir = h.root().join("secrets");
    fs::create_dir(&dir).unwrap();
    let src = h.root().join("source.ga");
    fs::write(&src, body).unwrap();
    let state_src = h.root().join("source.state");
    let secret = SecretFile::parse(body.as_bytes()).unwrap();
    fs::write(
        &state_src,
        State::fresh(user, secret.secret()).unwrap().to_bytes(),
    )
    .unwrap();
    let after = h.root().join("after.ga");
    let state_arg = match layout {
        Layout::InSecretFile => String::new(),
        Layout::StateFile => format!("state={}/state/${{USER}}", dir.display()),
    };
    h.service(
        "totp",
        &format!(
            "auth required {} secret={}/${{USER}}.ga {state_arg} {args}\n",
            module_path("pam_totp").display(),
            dir.display()
        ),
    );
    let install = match layout {
        Layout::InSecretFile => "install -m 0400 \"$SRC\" \"$D/$U.ga\"",
        Layout::StateFile => {
            "install -m 0400 \"$SRC\" \"$D/$U.ga\" && install -d -m 0700 \"$D/state\" \
             && install -m 0600 \"$STATE_SRC\" \"$D/state/$U\""
        }
    };
    let setup = match fault {
        Fault::Full => format!(
            "mount -t tmpfs -o size=64k,mode=0755 tmpfs \"$D\" && {install} \
             && {{ dd if=/dev/zero of=\"$D/filler\" bs=4k 2>/dev/null || true; }}"
        ),
        Fault::ReadOnly => {
            format!("{install} && mount --bind \"$D\" \"$D\" && mount -o remount,bind,ro \"$D\"")
        }
    };
    let script =
        format!("set -e; {setup}; set +e; \"$0\" \"$@\"; rc=$?; cat \"$D/$U.ga\" > \"$AFTER\"; exit $rc");
    let o = h
        .run("totp")
        .user(user)
        .reply(reply)
        .env("D", dir.to_str().unwrap())
        .env("SRC", src.to_str().unwrap())
        .env("STATE_SRC", state_src.to_str().unwrap())
        .env("U", user)
        .env("AFTER", after.to_str().unwrap())
        .in_private_mounts(&script)
        .go();
    let after = fs::read_to_string(&after).unwrap_or_default();
    (o, after)
}

/// Every fault, with the state in the secret file and with `state=` (the state file on the broken
/// filesystem).
fn both_layouts_and_faults() -> Vec<(Layout, Fault)> {
    Layout::BOTH
        .into_iter()
        .flat_map(|l| [(l, Fault::Full), (l, Fault::ReadOnly)])
        .collect()
}

fn disallow_reuse_file() -> String {
    format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n45681685\n")
}

fn rate_limit_only_file() -> String {
    format!("{SECRET}\n\" RATE_LIMIT 10 30\n\" TOTP_AUTH\n")
}

#[track_caller]
fn assert_refused_unchanged(o: &Outcome, after: &str, before: &str) {
    o.assert_code(PamCode::AuthErr);
    assert!(o.logged("reason=state-not-saved"), "{:#?}", o.logs);
    assert_eq!(after, before, "the file changed although the write failed");
    assert!(SecretFile::parse(after.as_bytes()).is_ok());
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_a_full_filesystem_then_a_one_time_code_is_refused_not_replayable() {
    let body = disallow_reuse_file();
    for layout in Layout::BOTH {
        let (o, after) = login_with_fault_in(layout, Fault::Full, "root", &body, "", &code_now());
        assert_refused_unchanged(&o, &after, &body);
        // The scratch code, whose removal cannot be recorded, is refused too.
        let (o, after) = login_with_fault_in(layout, Fault::Full, "root", &body, "", "45681685");
        assert_refused_unchanged(&o, &after, &body);
    }
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_allow_readonly_then_a_one_time_code_is_still_refused_when_it_cannot_be_recorded() {
    let body = disallow_reuse_file();
    for (layout, fault) in both_layouts_and_faults() {
        let (o, after) = login_with_fault_in(layout, fault, "root", &body, "allow_readonly", &code_now());
        assert_refused_unchanged(&o, &after, &body);
        let (o, after) = login_with_fault_in(layout, fault, "root", &body, "allow_readonly", "45681685");
        assert_refused_unchanged(&o, &after, &body);
    }
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_a_read_only_filesystem_then_refused_with_a_clear_log_line() {
    let body = disallow_reuse_file();
    for layout in Layout::BOTH {
        let (o, after) = login_with_fault_in(layout, Fault::ReadOnly, "root", &body, "", &code_now());
        assert_refused_unchanged(&o, &after, &body);
        assert!(
            o.logs.iter().any(|l| l.text.contains("Read-only file system")),
            "{:#?}",
            o.logs
        );
    }
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_allow_readonly_and_rate_limit_then_an_attempt_that_cannot_be_recorded_is_refused() {
    // Issue 17, item 7: allow_readonly keeps its meaning for the success path only (a record whose loss
    // enables no replay and no brute force, such as a grace-period host: `module.rs` unit tests). With
    // RATE_LIMIT, an attempt that cannot be recorded is refused, right code or wrong, so the limit never
    // stops silently.
    let body = rate_limit_only_file();
    for (layout, fault) in both_layouts_and_faults() {
        let (o, after) = login_with_fault_in(layout, fault, "root", &body, "allow_readonly", &code_now());
        assert_refused_unchanged(&o, &after, &body);
        let (o, after) = login_with_fault_in(layout, fault, "root", &body, "allow_readonly", "000000");
        o.assert_code(PamCode::AuthErr);
        assert!(o.logged("reason=attempt-not-saved"), "{:#?}", o.logs);
        assert_eq!(after, body);
        let (o, after) = login_with_fault_in(layout, fault, "root", &body, "", &code_now());
        assert_refused_unchanged(&o, &after, &body);
    }
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_a_directory_the_user_cannot_write_then_refused_and_the_file_kept() {
    // The module writes with the user's filesystem ids: nobody cannot create the temporary file in a
    // root-owned directory, even though the module runs as root.
    require_root();
    let nobody = pam_ffi::os::user_by_name("nobody").expect("user nobody");
    let h = Harness::new();
    let dir = h.root().join("secrets");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(h.root(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = dir.join("nobody.ga");
    let body = disallow_reuse_file();
    fs::write(&path, &body).unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    std::os::unix::fs::chown(&path, Some(nobody.uid), Some(nobody.gid)).unwrap();
    h.service(
        "totp",
        &format!(
            "auth required {} secret={}/${{USER}}.ga\n",
            module_path("pam_totp").display(),
            dir.display()
        ),
    );
    let o = h.run("totp").user("nobody").reply(&code_now()).go();
    o.assert_code(PamCode::AuthErr);
    assert!(o.logged("reason=state-not-saved"), "{:#?}", o.logs);
    assert_eq!(fs::read_to_string(&path).unwrap(), body);
    assert!(
        fs::read_dir(&dir).unwrap().count() == 1,
        "a temporary file was left behind"
    );
    assert!(Path::new(&path).exists());
}

/// Issue 22: a secret file on a read-only bind mount (inside each login's own mount namespace) with
/// `state=` on a writable directory. Every login mounts the secret directory read-only again.
struct ReadOnlySecret {
    h: Harness,
    dir: std::path::PathBuf,
    src: std::path::PathBuf,
    body: String,
}

impl ReadOnlySecret {
    fn new(body: &str) -> Self {
        require_root();
        let h = Harness::new();
        let dir = h.root().join("secrets");
        fs::create_dir(&dir).unwrap();
        let src = h.root().join("source.ga");
        fs::write(&src, body).unwrap();
        h.service(
            "totp",
            &format!(
                "auth required {} secret={}/${{USER}}.ga {}\n",
                module_path("pam_totp").display(),
                dir.display(),
                Layout::StateFile.arg(h.root())
            ),
        );
        ReadOnlySecret {
            h,
            dir,
            src,
            body: body.to_owned(),
        }
    }

    /// One login as root; asserts that the secret file is as it was, then returns the outcome.
    fn login(&self, reply: &str) -> Outcome {
        let after = self.h.root().join("after.ga");
        let script = "set -e; install -m 0400 \"$SRC\" \"$D/$U.ga\" && mount --bind \"$D\" \"$D\" \
                      && mount -o remount,bind,ro \"$D\"; touch \"$D/probe\" 2>/dev/null && exit 99; \
                      set +e; \"$0\" \"$@\"; rc=$?; cat \"$D/$U.ga\" > \"$AFTER\"; exit $rc";
        let o = self
            .h
            .run("totp")
            .user("root")
            .reply(reply)
            .env("D", self.dir.to_str().unwrap())
            .env("SRC", self.src.to_str().unwrap())
            .env("U", "root")
            .env("AFTER", after.to_str().unwrap())
            .in_private_mounts(script)
            .go();
        assert_eq!(fs::read_to_string(&after).unwrap(), self.body, "{:#?}", o.logs);
        o
    }

    /// The state as the module sees it (the secret file with the state file laid over it).
    fn state(&self) -> String {
        effective_body(&self.body, &self.h.root().join("state").join("root"))
    }
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_a_read_only_secret_file_and_state_then_replay_refused_attempts_counted_scratch_codes_single_use() {
    let ro = ReadOnlySecret::new(&format!(
        "{SECRET}\n\" DISALLOW_REUSE\n\" RATE_LIMIT 5 30\n\" TOTP_AUTH\n45681685\n92711506\n"
    ));
    let code = code_now();
    ro.login(&code).assert_code(PamCode::Success);
    let replay = ro.login(&code);
    replay.assert_code(PamCode::AuthErr);
    assert!(replay.logged("reason=replayed"), "{:#?}", replay.logs);
    let scratch = ro.login("45681685");
    scratch.assert_code(PamCode::Success);
    assert!(scratch.logged("via=scratch"));
    let again = ro.login("45681685");
    again.assert_code(PamCode::AuthErr);
    let state = ro.state();
    assert!(
        !state.contains("45681685") && state.contains("92711506"),
        "{state}"
    );
    assert_eq!(totp_common::rate_limit_timestamps(&state).len(), 4, "{state}");
    ro.login("000000").assert_code(PamCode::AuthErr);
    let limited = ro.login("92711506");
    limited.assert_code(PamCode::AuthErr);
    assert!(limited.logged("reason=rate-limited"), "{:#?}", limited.logs);
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_a_read_only_secret_file_and_state_then_the_hotp_counter_advances() {
    let ro = ReadOnlySecret::new(&format!("{SECRET}\n\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n"));
    ro.login(&hotp(2)).assert_code(PamCode::Success);
    assert!(ro.state().contains("\" HOTP_COUNTER 3\n"), "{}", ro.state());
    ro.login(&hotp(2)).assert_code(PamCode::AuthErr);
    let o = ro.login(&hotp(5));
    o.assert_code(PamCode::Success);
    assert!(o.logged("via=hotp"));
    assert!(ro.state().contains("\" HOTP_COUNTER 6\n"), "{}", ro.state());
}
