//! A pam-totpd (the binary cargo built) for the tests: started on a socket in a temporary directory with a
//! conninfo and a deadline, its log kept in a file there, killed when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pam_totp::pamd::{ask, Reply, Request};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running pam-totpd, killed when dropped.
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    deadline: Duration,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Two database connections, `deadline_ms` per request.
    pub fn start(conninfo: &str, deadline_ms: u64) -> Daemon {
        let dir = tempfile::Builder::new().prefix("pam-totpd.").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let socket = dir.path().join("socket");
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pam-totpd"))
            .args(["--socket", socket.to_str().unwrap(), "--pool", "2"])
            .args(["--deadline-ms", &deadline_ms.to_string()])
            .env("PAM_TOTPD_CONNINFO", conninfo)
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let start = Instant::now();
        // The socket file appears at bind(2), a moment before listen(2): wait until a connect succeeds.
        while UnixStream::connect(&socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pam-totpd did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            socket,
            deadline: Duration::from_millis(deadline_ms),
            dir,
        }
    }

    /// The daemon's reply, waiting up to its deadline plus two seconds.
    pub fn ask(&self, request: &Request) -> Reply {
        ask(&self.socket, request, self.deadline + Duration::from_secs(2))
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap()
    }

    /// SIGKILL, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
