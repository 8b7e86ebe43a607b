//! The pam-totpd binary against a throwaway PostgreSQL cluster (or none, or one that never answers): probe,
//! verify and replay through the socket, the peer-uid rule, and `unavailable` within the deadline when the
//! database is down or hangs. Ignored by default; the `fleet` tier runs them (as root, for the peer-uid test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{current_code, enroll, Cluster, SECRET};
use pam_totp::pamd::{ask, Reply, Request};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const DEADLINE_MS: u64 = 1000;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

/// A running pam-totpd, killed when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(conninfo: &str) -> Daemon {
        let dir = tempfile::Builder::new().prefix("pam-totpd.").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let socket = dir.path().join("socket");
        let child = Command::new(env!("CARGO_BIN_EXE_pam-totpd"))
            .args([
                "--socket",
                socket.to_str().unwrap(),
                "--pool",
                "2",
                "--deadline-ms",
                &DEADLINE_MS.to_string(),
            ])
            .env("PAM_TOTPD_CONNINFO", conninfo)
            .spawn()
            .unwrap();
        let daemon = Daemon {
            child,
            socket,
            _dir: dir,
        };
        let start = Instant::now();
        // The socket file appears at bind(2), a moment before listen(2): wait until a connect succeeds.
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pam-totpd did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    fn ask(&self, request: &Request) -> Reply {
        ask(&self.socket, request, CLIENT_TIMEOUT)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe(user: &str) -> Request {
    Request::Probe { user: user.into() }
}

fn verify(user: &str, code: &str) -> Request {
    Request::Verify {
        user: user.into(),
        code: code.into(),
        rhost: "192.0.2.10".into(),
        service: "sshd".into(),
    }
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn probe_verify_and_replay_through_the_socket() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    assert_eq!(daemon.ask(&probe("alice")), Reply::Enrolled);
    assert_eq!(daemon.ask(&probe("zed")), Reply::NotEnrolled);
    assert_eq!(daemon.ask(&verify("zed", "123456")), Reply::NotEnrolled);
    let code = current_code(&mut su, "alice", "phone", 0);
    assert_eq!(
        daemon.ask(&verify("alice", &code)),
        Reply::Accepted {
            via: "totp".into(),
            scratch_left: 0
        }
    );
    assert_eq!(
        daemon.ask(&verify("alice", &code)),
        Reply::Refused {
            reason: "replayed".into(),
            retry_after: 0
        }
    );
    assert_eq!(
        daemon.ask(&verify("alice", "000000")),
        Reply::Refused {
            reason: "wrong-code".into(),
            retry_after: 0
        }
    );
    let Reply::Refused { reason, retry_after } = daemon.ask(&verify("alice", "000000")) else {
        panic!("not refused")
    };
    assert_eq!(reason, "rate-limited");
    assert!(retry_after > 0);
    let logged: i64 = su
        .query_one("SELECT count(*) FROM totp.event WHERE host_role = 'host1'", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        logged, 5,
        "every verify is in the audit log under the host's role"
    );
}

/// Runs `pam-totpd ask` as uid/gid 65534 (nobody), so the daemon sees a non-root peer.
fn ask_as_nobody(socket: &Path, words: &[&str]) -> String {
    assert_eq!(
        pam_ffi::os::effective_uid(),
        0,
        "this test needs root to act as another uid"
    );
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_pam-totpd"),
            "ask",
        ])
        .args(["--socket", socket.to_str().unwrap()])
        .args(words)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root and a PostgreSQL cluster: run by the fleet tier"]
fn a_non_root_peer_may_ask_only_about_itself() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "root", "phone", SECRET);
    let nobody = pam_ffi::os::user_by_uid(65534).expect("uid 65534").name;
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    assert_eq!(
        daemon.ask(&probe("root")),
        Reply::Enrolled,
        "uid 0 may ask about anyone"
    );
    assert!(ask_as_nobody(&daemon.socket, &["probe", "root"]).contains("not-allowed"));
    assert!(ask_as_nobody(&daemon.socket, &["probe", &nobody]).contains("NotEnrolled"));
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn a_stopped_database_is_unavailable_within_the_deadline() {
    let mut cluster = Cluster::start();
    let daemon = Daemon::start(&cluster.conninfo("host1"));
    assert_eq!(daemon.ask(&probe("alice")), Reply::NotEnrolled);
    cluster.stop_server();
    for request in [probe("alice"), verify("alice", "123456")] {
        let start = Instant::now();
        let reply = daemon.ask(&request);
        assert!(matches!(reply, Reply::Unavailable { .. }), "{reply:?}");
        assert!(
            start.elapsed() < Duration::from_millis(DEADLINE_MS + 500),
            "{:?}",
            start.elapsed()
        );
    }
    cluster.start_server();
    // Every worker (pool 2) reconnects, also one whose kept connection died while the server was down.
    for _ in 0..4 {
        assert_eq!(
            daemon.ask(&probe("alice")),
            Reply::NotEnrolled,
            "reconnects when the database is back"
        );
    }
}

#[test]
#[ignore = "part of the fleet tier"]
fn a_database_that_never_answers_is_unavailable_within_the_deadline() {
    // A "server" that accepts connections and then says nothing: the daemon's own deadline must end the wait.
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join(".s.PGSQL.5432")).unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    let daemon = Daemon::start(&format!(
        "host={} user=host1 dbname=postgres",
        dir.path().display()
    ));
    for request in [
        verify("alice", "123456"),
        probe("alice"),
        verify("alice", "123456"),
    ] {
        let start = Instant::now();
        let reply = daemon.ask(&request);
        assert!(matches!(reply, Reply::Unavailable { .. }), "{reply:?}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(DEADLINE_MS - 100),
            "{took:?}: answered before trying?"
        );
        assert!(took < Duration::from_millis(DEADLINE_MS + 500), "{took:?}");
    }
}

#[test]
#[ignore = "part of the fleet tier"]
fn no_database_at_all_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&format!(
        "host={} user=host1 dbname=postgres",
        dir.path().display()
    ));
    let reply = daemon.ask(&verify("alice", "123456"));
    assert!(
        matches!(reply, Reply::Unavailable { ref reason } if reason.contains("connect")),
        "{reply:?}"
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn two_daemons_sixteen_logins_one_code_exactly_one_accepted() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    let hosts = [
        Daemon::start(&cluster.conninfo("host1")),
        Daemon::start(&cluster.conninfo("host2")),
    ];
    let code = current_code(&mut su, "alice", "phone", 0);
    let barrier = std::sync::Barrier::new(16);
    let replies: Vec<Reply> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..16)
            .map(|i| {
                let (socket, barrier, code) = (&hosts[i % 2].socket, &barrier, &code);
                s.spawn(move || {
                    let request = Request::Verify {
                        user: "alice".into(),
                        code: code.clone(),
                        rhost: format!("198.51.100.{i}"),
                        service: "sshd".into(),
                    };
                    barrier.wait();
                    ask(socket, &request, CLIENT_TIMEOUT)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let accepted = replies
        .iter()
        .filter(|r| matches!(r, Reply::Accepted { .. }))
        .count();
    assert_eq!(accepted, 1, "{replies:?}");
    let refused_as_replay = replies
        .iter()
        .filter(|r| matches!(r, Reply::Refused { reason, .. } if reason == "replayed"))
        .count();
    assert_eq!(refused_as_replay, 15, "{replies:?}");
}
