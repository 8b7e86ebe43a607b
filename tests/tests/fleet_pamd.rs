//! pam_totp `store=pamd` through real libpam: the built `.so`, loaded by `pamh`, asking a real pam-totpd (the
//! binary cargo built) that asks a throwaway PostgreSQL 15 cluster (pam-totpd/tests/common/cluster.rs). A code
//! accepted once and its replay refused; no daemon, a daemon that never answers and a database that is down all
//! end in PAM_AUTHINFO_UNAVAIL within `timeout=`. Ignored by default: the `fleet` tier of tests/run-all runs
//! them (it builds pam-totpd, pamh and the module first).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../../pam-totpd/tests/common/cluster.rs"]
mod cluster;
mod totp_common;

use cluster::Cluster;
use pam_ffi::PamCode;
use pam_harness::{build_dir, module_path, Harness, Outcome};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use totp_common::me;

const SECRET: &str = "JBSWY3DPEHPK3PXP";
/// pam-totpd's own deadline for a database answer; below the module's `timeout=`.
const DAEMON_DEADLINE_MS: u64 = 1000;

/// A running pam-totpd (the binary cargo built), killed when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(conninfo: &str) -> Daemon {
        let exe = build_dir().join("pam-totpd");
        assert!(
            exe.exists(),
            "{} not built: cargo build -p pam-totpd",
            exe.display()
        );
        let dir = tempfile::Builder::new().prefix("pam-totpd.").tempdir().unwrap();
        let socket = dir.path().join("socket");
        let child = Command::new(exe)
            .args(["--socket", socket.to_str().unwrap(), "--pool", "2"])
            .args(["--deadline-ms", &DAEMON_DEADLINE_MS.to_string()])
            .env("PAM_TOTPD_CONNINFO", conninfo)
            .spawn()
            .unwrap();
        let start = Instant::now();
        while UnixStream::connect(&socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pam-totpd did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A harness whose service `totp` is `pam_totp.so store=pamd:<socket> <args>`.
fn pamd_service(socket: &Path, args: &str) -> Harness {
    let h = Harness::new();
    h.service(
        "totp",
        &format!(
            "auth required {} store=pamd:{} {args}\n",
            module_path("pam_totp").display(),
            socket.display()
        ),
    );
    h
}

fn login(h: &Harness, code: &str) -> (Outcome, Duration) {
    let start = Instant::now();
    let o = h
        .run("totp")
        .user(&me())
        .item("rhost", "192.0.2.7")
        .reply(code)
        .go();
    (o, start.elapsed())
}

fn logged(o: &Outcome, needle: &str) -> bool {
    o.logs.iter().any(|l| l.text.contains(needle))
}

/// The user's current code, computed by the database from the stored secret.
fn current_code(cluster: &Cluster, user: &str) -> String {
    cluster.psql(&format!(
        "SELECT totp.hotp(secret, floor(extract(epoch FROM now()))::bigint / period, algorithm, digits)
         FROM totp.token WHERE username = '{user}' AND label = 'phone'"
    ))
}

fn enroll(cluster: &Cluster, user: &str) {
    cluster.psql(&format!(
        "SELECT totp.admin_add_token('{user}', 'phone', totp.base32_decode('{SECRET}'))"
    ));
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_store_pamd_then_a_code_is_accepted_once_and_its_replay_refused_fleet_wide() {
    let cluster = Cluster::start();
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    let h = pamd_service(&daemon.socket, "");
    let (o, _) = login(&h, "123456");
    o.assert_code(PamCode::AuthErr);
    assert_eq!(o.prompts(), vec!["Verification code: "]);
    assert!(logged(&o, "reason=not-enrolled"), "{:?}", o.logs);

    enroll(&cluster, &me());
    let code = current_code(&cluster, &me());
    let (o, _) = login(&h, &code);
    o.assert_code(PamCode::Success);
    assert!(
        logged(&o, &format!("accepted user={} rhost=192.0.2.7 via=totp", me())),
        "{:?}",
        o.logs
    );
    assert!(
        !o.logs.iter().any(|l| l.text.contains(&code)),
        "a code was logged"
    );

    let (o, _) = login(&h, &code);
    o.assert_code(PamCode::AuthErr);
    assert!(logged(&o, "reason=replayed"), "{:?}", o.logs);
    let events = cluster.psql(&format!(
        "SELECT string_agg(outcome || ':' || detail, ',' ORDER BY at) FROM totp.event WHERE username = '{}'",
        me()
    ));
    assert!(events.ends_with("accepted:totp,refused:replayed"), "{events}");
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_store_pamd_and_nullok_then_a_user_not_in_the_database_is_ignored_without_a_prompt() {
    let cluster = Cluster::start();
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    // PAM_IGNORE is only visible through the stack: the next module decides.
    let h = Harness::new();
    h.service(
        "totp",
        &format!(
            "auth [success=ok ignore=ignore default=die] {} store=pamd:{} nullok\nauth required {} info=next-module-ran\n",
            module_path("pam_totp").display(),
            daemon.socket.display(),
            module_path("pam_fixture").display()
        ),
    );
    let (o, _) = login(&h, "123456");
    o.assert_code(PamCode::Success);
    assert!(o.prompts().is_empty(), "{:?}", o.events);
    assert_eq!(o.messages(), vec!["next-module-ran"]);
    assert!(logged(&o, "reason=no-secret-file nullok"), "{:?}", o.logs);
}

#[test]
#[ignore = "part of the fleet tier"]
fn given_store_pamd_and_no_daemon_or_a_silent_one_then_authinfo_unavail_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let h = pamd_service(&dir.path().join("missing"), "timeout=1");
    let (o, took) = login(&h, "123456");
    o.assert_code(PamCode::AuthinfoUnavail);
    assert!(o.prompts().is_empty(), "{:?}", o.events);
    assert!(
        logged(&o, "reason=store-unavailable: pam-totpd at"),
        "{:?}",
        o.logs
    );
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A socket whose owner never accepts: the connection is queued, the reply never comes.
    let silent = dir.path().join("silent");
    let _listener = UnixListener::bind(&silent).unwrap();
    let h = pamd_service(&silent, "timeout=1");
    let (o, took) = login(&h, "123456");
    o.assert_code(PamCode::AuthinfoUnavail);
    assert!(logged(&o, "reason=store-unavailable"), "{:?}", o.logs);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_store_pamd_and_the_database_down_then_authinfo_unavail_within_the_timeout() {
    let mut cluster = Cluster::start();
    enroll(&cluster, &me());
    let code = current_code(&cluster, &me());
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    let h = pamd_service(&daemon.socket, "timeout=3");
    cluster.stop_server();
    let (o, took) = login(&h, &code);
    o.assert_code(PamCode::AuthinfoUnavail);
    assert!(logged(&o, "reason=store-unavailable"), "{:?}", o.logs);
    assert!(took < Duration::from_secs(3), "{took:?}");
    cluster.start_server();
    let (o, _) = login(&h, &code);
    o.assert_code(PamCode::Success);
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_a_google_authenticator_file_when_imported_then_it_works_through_store_pamd_and_exports_back() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let ga = dir.path().join("ga");
    let status = Command::new("google-authenticator")
        .args([
            "-t", "-d", "-r", "3", "-R", "30", "-w", "3", "-e", "5", "-f", "-C", "-q", "-Q", "NONE", "-s",
        ])
        .arg(&ga)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the google-authenticator CLI (libpam-google-authenticator)");
    assert!(status.success());
    let body = std::fs::read_to_string(&ga).unwrap();
    let import = Command::new(build_dir().join("totp-enroll"))
        .args(["admin", "import", "--conninfo", &cluster.conninfo("admin1")])
        .args(["--psql", "/usr/lib/postgresql/15/bin/psql", "--label", "phone"])
        .arg(me())
        .arg(&ga)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let said = String::from_utf8_lossy(&import.stdout);
    assert!(said.contains("with 5 unused scratch codes"), "{said}");
    assert!(
        !said.contains(&totp_common::secret_of(&body)),
        "the secret was printed"
    );

    let daemon = Daemon::start(&cluster.conninfo("host1"));
    let h = pamd_service(&daemon.socket, "");
    let (o, _) = login(&h, &totp_common::current_code(&body));
    o.assert_code(PamCode::Success);
    assert!(logged(&o, "via=totp"), "{:?}", o.logs);
    let scratch = totp_common::scratch_codes(&body)[0].clone();
    let (o, _) = login(&h, &scratch);
    o.assert_code(PamCode::Success);
    assert!(logged(&o, "via=scratch"), "{:?}", o.logs);
    let (o, _) = login(&h, &scratch);
    o.assert_code(PamCode::AuthErr);

    // And back: `admin export` writes a file the real pam_google_authenticator accepts (rollback to files).
    let exported = dir.path().join(format!("{}.ga", me()));
    let export = Command::new(build_dir().join("totp-enroll"))
        .args(["admin", "export", "--conninfo", &cluster.conninfo("admin1")])
        .args(["--psql", "/usr/lib/postgresql/15/bin/psql", "--label", "phone"])
        .arg(me())
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let back = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(totp_common::secret_of(&back), totp_common::secret_of(&body));
    let h = Harness::new();
    h.service(
        "ga",
        &format!(
            "auth required {} secret={}/${{USER}}.ga\n",
            totp_common::ga_module(),
            dir.path().display()
        ),
    );
    let o = h
        .run("ga")
        .user(&me())
        .reply(&totp_common::current_code(&back))
        .go();
    o.assert_code(PamCode::Success);
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_the_fleet_store_down_then_only_break_glass_users_log_in_from_their_local_file() {
    let mut cluster = Cluster::start();
    enroll(&cluster, &me());
    let mut daemon = Daemon::start(&cluster.conninfo("host1"));
    let local = tempfile::tempdir().unwrap();
    totp_common::write_secret(
        &local.path().join(format!("{}.ga", me())),
        format!("{}\n\" TOTP_AUTH\n", totp_common::SECRET),
    );
    let secret = format!("secret={}/${{USER}}.ga timeout=3", local.path().display());
    let named = pamd_service(&daemon.socket, &format!("{secret} fallback_users={}", me()));
    let others = pamd_service(
        &daemon.socket,
        &format!("{secret} fallback_users=nobody,@no-such-group"),
    );
    // While the store answers, it decides: the local file's code is the wrong one there.
    let (o, _) = login(&named, &totp_common::code_now());
    o.assert_code(PamCode::AuthErr);
    // Database down, then the daemon killed: the named user gets in with the local file, loudly logged;
    // anyone else is refused as unavailable.
    cluster.stop_server();
    for round in ["database down", "daemon killed"] {
        let (o, took) = login(&named, &totp_common::code_now());
        o.assert_code(PamCode::Success);
        assert!(
            o.logs.iter().any(|l| l.severity == 4
                && l.text
                    .contains("reason=store-unavailable break-glass=local-secret-file")),
            "{round}: {:?}",
            o.logs
        );
        assert!(took < Duration::from_secs(3), "{round}: {took:?}");
        let (o, _) = login(&others, &totp_common::code_now());
        o.assert_code(PamCode::AuthinfoUnavail);
        let _ = daemon.child.kill();
        let _ = daemon.child.wait();
    }
}
