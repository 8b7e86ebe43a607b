//! pam_totp options that need root to set up (files owned by another account): `user=` and
//! `no_strict_owner`. Run by the `root` tier of tests/run-all with `--ignored`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use pam_ffi::PamCode;
mod totp_common;
use pam_harness::{module_path, Harness};
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use totp_common::{code_now, SECRET};

/// A harness whose root is traversable by other users, with `<root>/store/<name>.ga` owned by `owner`.
fn store_with_file(name: &str, owner: u32, group: u32) -> Harness {
    assert_eq!(pam_ffi::os::effective_uid(), 0, "these tests need root (chown)");
    let h = Harness::new();
    fs::set_permissions(h.root(), fs::Permissions::from_mode(0o755)).unwrap();
    let store = h.root().join("store");
    fs::create_dir(&store).unwrap();
    chown(&store, Some(owner), Some(group)).unwrap();
    let path = store.join(format!("{name}.ga"));
    fs::write(&path, format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    chown(&path, Some(owner), Some(group)).unwrap();
    h
}

/// The pam_totp line reading `<root>/store/${USER}.ga`, with `extra` arguments.
fn store_line(h: &Harness, extra: &str) -> String {
    format!(
        "auth required {} secret={}/store/${{USER}}.ga {extra}\n",
        module_path("pam_totp").display(),
        h.root().display()
    )
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_user_option_then_files_are_read_and_written_as_that_account_and_must_be_owned_by_it() {
    // A root-owned secret store is the classic use; here the store belongs to `nobody` and root logs in.
    let nobody = pam_ffi::os::user_by_name("nobody").expect("user nobody");
    let h = store_with_file("root", nobody.uid, nobody.gid);
    // Without user=, the file must belong to the logging-in user (root): refused.
    h.service("totp", &store_line(&h, ""));
    let o = h.run("totp").user("root").reply(&code_now()).go();
    o.assert_code(PamCode::AuthErr);
    assert!(
        o.logs
            .iter()
            .any(|l| l.severity == 3 && l.text.contains("must be owned by uid 0")),
        "{:#?}",
        o.logs
    );
    // With user=nobody (by name or uid) it is accepted, and the state update is written as nobody.
    h.service("totp", &store_line(&h, "user=nobody"));
    h.run("totp")
        .user("root")
        .reply(&code_now())
        .go()
        .assert_code(PamCode::Success);
    let path = h.root().join("store/root.ga");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        nobody.uid,
        "owner not preserved"
    );
    assert!(
        fs::read_to_string(&path).unwrap().contains("\" DISALLOW_REUSE "),
        "state not recorded"
    );
    h.service("totp", &store_line(&h, &format!("user={}", nobody.uid)));
    let o = h.run("totp").user("root").reply(&code_now()).go();
    o.assert_code(PamCode::AuthErr);
    assert!(o.logged("reason=replayed"), "{:#?}", o.logs);
    // user= with ~ in the path is a configuration error.
    h.service(
        "totp",
        &format!(
            "auth required {} user=nobody secret=~/.google_authenticator\n",
            module_path("pam_totp").display()
        ),
    );
    h.run("totp")
        .user("root")
        .reply(&code_now())
        .go()
        .assert_code(PamCode::ServiceErr);
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_no_strict_owner_then_a_foreign_owned_file_is_accepted() {
    let nobody = pam_ffi::os::user_by_name("nobody").expect("user nobody");
    let h = store_with_file("root", nobody.uid, nobody.gid);
    h.service("totp", &store_line(&h, ""));
    h.run("totp")
        .user("root")
        .reply(&code_now())
        .go()
        .assert_code(PamCode::AuthErr);
    h.service("totp", &store_line(&h, "no_strict_owner"));
    h.run("totp")
        .user("root")
        .reply(&code_now())
        .go()
        .assert_code(PamCode::Success);
}

/// One login of `user` answering `reply`, in a private mount namespace whose `/var/lib` is a fresh tmpfs
/// holding `pam_totp/` with `mode` (the package's decoy directory); secret files are `<root>/store/${USER}.ga`.
/// Returns the outcome and whether the decoy file was written.
fn login_with_decoy_dir(h: &Harness, user: &str, reply: &str, mode: &str) -> (pam_harness::Outcome, bool) {
    let marker = h.root().join("decoy-written");
    let _ = fs::remove_file(&marker);
    let script = "set -e; mount -t tmpfs -o size=1m,mode=0755 tmpfs /var/lib; install -d -m \"$MODE\" \
                  /var/lib/pam_totp; set +e; \"$0\" \"$@\"; rc=$?; \
                  if [ -f /var/lib/pam_totp/:refusal ]; then : > \"$MARKER\"; fi; exit $rc";
    let o = h
        .run("totp")
        .user(user)
        .reply(reply)
        .env("MODE", mode)
        .env("MARKER", marker.to_str().unwrap())
        .in_private_mounts(script)
        .go();
    (o, marker.exists())
}

#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_refusals_that_record_nothing_then_each_rewrites_the_decoy_so_all_refusals_cost_a_write() {
    let h = store_with_file("root", 0, 0);
    let plain = h.root().join("store/plain.ga");
    h.service("totp", &store_line(&h, ""));
    let wrong = "000000";
    // Unknown user: prompted, refused, and the decoy rewritten.
    let (o, written) = login_with_decoy_dir(&h, "no-such-user-7f3a", wrong, "0700");
    o.assert_code(PamCode::AuthErr);
    assert!(written, "unknown user: no decoy write\n{:#?}", o.logs);
    // Not enrolled (no file, no nullok): the same.
    let (o, written) = login_with_decoy_dir(&h, "daemon", wrong, "0700");
    o.assert_code(PamCode::AuthErr);
    assert!(written, "unenrolled user: no decoy write\n{:#?}", o.logs);
    // Enrolled, a file with no state to record: a wrong code writes nothing there, so the decoy is written.
    let (o, written) = login_with_decoy_dir(&h, "root", wrong, "0700");
    o.assert_code(PamCode::AuthErr);
    assert!(
        written,
        "enrolled, nothing recorded: no decoy write\n{:#?}",
        o.logs
    );
    // Enrolled with RATE_LIMIT: the refusal is recorded in the user's file, no decoy.
    fs::write(
        h.root().join("store/root.ga"),
        format!("{SECRET}\n\" RATE_LIMIT 10 30\n\" TOTP_AUTH\n"),
    )
    .unwrap();
    let (o, written) = login_with_decoy_dir(&h, "root", wrong, "0700");
    o.assert_code(PamCode::AuthErr);
    assert!(!written, "a recorded refusal also wrote the decoy");
    // An accepted code writes no decoy.
    let (o, written) = login_with_decoy_dir(&h, "root", &code_now(), "0700");
    o.assert_code(PamCode::Success);
    assert!(!written, "an accepted code wrote the decoy");
    // A directory others can write is refused, with a line for the admin; the login is refused as before.
    let (o, written) = login_with_decoy_dir(&h, "no-such-user-7f3a", wrong, "0777");
    o.assert_code(PamCode::AuthErr);
    assert!(!written);
    assert!(o.logged("reason=decoy-not-written"), "{:#?}", o.logs);
    assert!(!plain.exists());
}

/// Issue 22: the secret file belongs to the user (`nobody`), read-only, in a directory only root can write
/// (as on a root-squashed NFS home): without `state=` a code whose use cannot be saved is refused; with
/// `state=` the state goes to a root-owned file and the secret file is only read.
#[test]
#[ignore = "root: run by the root tier (tests/run-all)"]
fn given_state_then_a_user_owned_secret_in_a_directory_the_user_cannot_write_still_records_state() {
    assert_eq!(pam_ffi::os::effective_uid(), 0, "these tests need root (chown)");
    let nobody = pam_ffi::os::user_by_name("nobody").expect("user nobody");
    let h = Harness::new();
    fs::set_permissions(h.root(), fs::Permissions::from_mode(0o755)).unwrap();
    let store = h.root().join("store");
    fs::create_dir(&store).unwrap();
    fs::set_permissions(&store, fs::Permissions::from_mode(0o755)).unwrap();
    let path = store.join("nobody.ga");
    let body = format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    fs::write(&path, &body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    chown(&path, Some(nobody.uid), Some(nobody.gid)).unwrap();
    let state_dir = h.root().join("state");
    fs::create_dir(&state_dir).unwrap();
    fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o700)).unwrap();

    h.service("totp", &store_line(&h, ""));
    let o = h.run("totp").user("nobody").reply(&code_now()).go();
    o.assert_code(PamCode::AuthErr);
    assert!(o.logged("reason=state-not-saved"), "{:#?}", o.logs);

    let state = format!("state={}/${{USER}}", state_dir.display());
    h.service("totp", &store_line(&h, &state));
    let code = code_now();
    h.run("totp")
        .user("nobody")
        .reply(&code)
        .go()
        .assert_code(PamCode::Success);
    let replay = h.run("totp").user("nobody").reply(&code).go();
    replay.assert_code(PamCode::AuthErr);
    assert!(replay.logged("reason=replayed"), "{:#?}", replay.logs);
    assert_eq!(fs::read_to_string(&path).unwrap(), body);
    let meta = fs::metadata(state_dir.join("nobody")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            meta.permissions().mode() & 0o777
        ),
        (0, 0o600)
    );
}
