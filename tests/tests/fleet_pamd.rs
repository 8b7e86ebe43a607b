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

/// What one run of `totp-enroll --store pamd` printed, and the secret it showed.
struct Enrolled {
    ok: bool,
    stdout: String,
    stderr: String,
    secret: String,
}

/// `totp-enroll --store pamd -t -l LABEL` answering its prompts like a user with the app: the code of the secret
/// it shows, then (when given) `current()` for the existing token. The audit line goes to a socket nobody
/// reads, never to the host's syslog.
fn enroll_with_cli(socket: &Path, label: &str, current: Option<&dyn Fn() -> String>) -> Enrolled {
    use std::io::{BufRead, BufReader, Read, Write};
    let log = tempfile::tempdir().unwrap();
    let mut child = Command::new(build_dir().join("totp-enroll"))
        .args(["--store", "pamd", "--socket", socket.to_str().unwrap()])
        .args(["-t", "-Q", "NONE", "-l", label, "--log-socket"])
        .arg(log.path().join("log"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    let secret = loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break String::new(); // refused before showing a secret
        }
        shown.push_str(&line);
        if let Some(s) = line.strip_prefix("Your new secret key is: ") {
            break s.trim().to_owned();
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    if !secret.is_empty() {
        let confirm = totp_common::current_code(&format!("{secret}\n\" TOTP_AUTH\n"));
        let _ = writeln!(stdin, "{confirm}");
        if let Some(current) = current {
            let _ = writeln!(stdin, "{}", current());
        }
    }
    drop(stdin);
    out.read_to_string(&mut shown).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let ok = child.wait().unwrap().success();
    Enrolled {
        ok,
        stdout: shown,
        stderr,
        secret,
    }
}

/// The TOTP code of `secret` `steps` steps from now (a code not used yet when the current one was).
fn code_ahead(secret: &str, steps: u64) -> String {
    totp_common::oath_totp(secret, totp_common::now() + 30 * steps, 30)
}

/// `totp-enroll ARGS` (status or admin); its exit status, standard output and standard error.
fn totp_enroll(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(build_dir().join("totp-enroll"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `totp-enroll admin COMMAND [WORDS] USER` as the admin role `admin1` through psql.
fn admin(cluster: &Cluster, command: &str, words: &[&str]) -> (bool, String, String) {
    let conninfo = cluster.conninfo("admin1");
    let mut args = vec![
        "admin",
        command,
        "--conninfo",
        &conninfo,
        "--psql",
        "/usr/lib/postgresql/15/bin/psql",
    ];
    args.extend(words);
    totp_enroll(&args)
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_totp_enroll_store_pamd_then_the_user_logs_in_with_store_pamd_and_has_scratch_codes() {
    let cluster = Cluster::start();
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    let e = enroll_with_cli(&daemon.socket, "phone", None);
    assert!(e.ok, "{}\n{}", e.stdout, e.stderr);
    assert!(e.stdout.contains("Token \"phone\" added"), "{}", e.stdout);
    let scratch: Vec<&str> = e
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|c| c.len() == 8)
        .collect();
    assert_eq!(scratch.len(), 5, "{}", e.stdout);
    let stored = cluster.psql(&format!(
        "SELECT count(*) FROM totp.scratch WHERE username = '{}' AND code_hash <> convert_to('{}', 'UTF8')",
        me(),
        scratch[0]
    ));
    assert_eq!(stored, "5", "the database keeps hashes of the scratch codes");

    let h = pamd_service(&daemon.socket, "");
    // The confirmation code counts as used; the next one logs in.
    let (o, _) = login(
        &h,
        &totp_common::current_code(&format!("{}\n\" TOTP_AUTH\n", e.secret)),
    );
    o.assert_code(PamCode::AuthErr);
    assert!(logged(&o, "reason=replayed"), "{:?}", o.logs);
    let (o, _) = login(&h, &code_ahead(&e.secret, 1));
    o.assert_code(PamCode::Success);
    assert!(logged(&o, "via=totp"), "{:?}", o.logs);
    let (o, _) = login(&h, scratch[0]);
    o.assert_code(PamCode::Success);
    assert!(logged(&o, "via=scratch"), "{:?}", o.logs);
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_an_active_token_then_a_second_one_needs_a_current_code_of_it_and_status_lists_both_without_secrets()
{
    let cluster = Cluster::start();
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    let phone = enroll_with_cli(&daemon.socket, "phone", None);
    assert!(phone.ok, "{}", phone.stderr);

    let wrong = enroll_with_cli(&daemon.socket, "laptop", Some(&|| "000000".to_owned()));
    assert!(!wrong.ok, "a second token without a code of the first was added");
    assert!(
        wrong.stderr.contains("refused by the fleet database: wrong-code"),
        "{}",
        wrong.stderr
    );
    let none = enroll_with_cli(&daemon.socket, "laptop", Some(&String::new));
    assert!(!none.ok, "a second token without any code was added");

    let laptop = enroll_with_cli(&daemon.socket, "laptop", Some(&|| code_ahead(&phone.secret, 1)));
    assert!(laptop.ok, "{}", laptop.stderr);
    assert!(
        !laptop.stdout.contains("scratch codes"),
        "a second token keeps the scratch codes: {}",
        laptop.stdout
    );
    let socket = daemon.socket.to_str().unwrap();
    let (ok, text, err) = totp_enroll(&["status", "--store", "pamd", "--socket", socket]);
    assert!(ok, "{err}");
    let (ok, json, err) = totp_enroll(&["status", "--store", "pamd", "--socket", socket, "--json"]);
    assert!(ok, "{err}");
    for out in [&text, &json] {
        assert!(out.contains("phone") && out.contains("laptop"), "{out}");
        for secret in [&phone.secret, &laptop.secret] {
            assert!(!out.contains(secret.as_str()), "a secret in {out}");
        }
    }
    assert!(text.contains("scratch codes left: 5"), "{text}");
    assert!(json.contains("\"scratch_codes_left\":5"), "{json}");
    // Either token logs in.
    let h = pamd_service(&daemon.socket, "");
    let (o, _) = login(&h, &code_ahead(&laptop.secret, 1));
    o.assert_code(PamCode::Success);
}

#[test]
#[ignore = "starts PostgreSQL and pam-totpd: run by the fleet tier"]
fn given_admin_commands_then_disable_refuses_unlock_clears_the_ceiling_reset_allows_reenrolling_and_audit_shows_it(
) {
    let cluster = Cluster::start();
    cluster.psql("UPDATE totp.setting SET max_failures = 3, rate_attempts = 10");
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    let e = enroll_with_cli(&daemon.socket, "phone", None);
    assert!(e.ok, "{}", e.stderr);
    let h = pamd_service(&daemon.socket, "");
    let user = me();

    // The fleet-wide ceiling: three failures lock; a right code is refused until `admin unlock`.
    for _ in 0..3 {
        login(&h, "000000").0.assert_code(PamCode::AuthErr);
    }
    let code = code_ahead(&e.secret, 1);
    let (o, _) = login(&h, &code);
    o.assert_code(PamCode::AuthErr);
    assert!(logged(&o, "reason=locked"), "{:?}", o.logs);
    let (ok, said, err) = admin(&cluster, "unlock", &[&user]);
    assert!(ok && said.contains("unlocked"), "{said}{err}");
    login(&h, &code).0.assert_code(PamCode::Success);

    // disable: the next attempt is refused, whatever the code.
    let (ok, said, err) = admin(&cluster, "disable", &[&user]);
    assert!(ok && said.contains("disabled"), "{said}{err}");
    let (o, _) = login(&h, &code_ahead(&e.secret, 0));
    o.assert_code(PamCode::AuthErr);
    assert!(logged(&o, "reason=disabled"), "{:?}", o.logs);
    let (ok, _, err) = admin(&cluster, "disable", &["--label", "tablet", &user]);
    assert!(!ok && err.contains("no token \"tablet\""), "{err}");

    // reset: the user is forgotten and enrolls again as new, without a code of the old token.
    let (ok, said, err) = admin(&cluster, "reset", &[&user]);
    assert!(ok && said.contains("reset"), "{said}{err}");
    let socket = daemon.socket.to_str().unwrap();
    let (ok, _, err) = totp_enroll(&["status", "--store", "pamd", "--socket", socket]);
    assert!(!ok && err.contains("not enrolled"), "{err}");
    let again = enroll_with_cli(&daemon.socket, "phone", None);
    assert!(again.ok, "{}", again.stderr);
    assert_ne!(again.secret, e.secret);
    login(&h, &code_ahead(&again.secret, 1))
        .0
        .assert_code(PamCode::Success);

    // audit: every step above, as text and as JSON.
    let (ok, text, err) = admin(&cluster, "audit", &[&user]);
    assert!(ok, "{err}");
    for needle in [
        "totp-enroll - enrolled phone",
        "refused wrong-code",
        "refused locked",
        "unlocked",
        "refused disabled",
        "reset",
        "accepted totp",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    let (ok, json, err) = admin(&cluster, "audit", &["--json", "--limit", "2", &user]);
    assert!(ok, "{err}");
    assert!(
        json.starts_with(&format!("{{\"user\":\"{user}\",\"events\":[")),
        "{json}"
    );
    assert_eq!(json.matches("\"outcome\"").count(), 2, "{json}");
    assert!(
        json.contains("\"outcome\":\"accepted\""),
        "the newest last: {json}"
    );
}
