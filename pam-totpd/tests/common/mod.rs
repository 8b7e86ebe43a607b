//! A throwaway PostgreSQL 15 cluster per test: `initdb`/`pg_ctl` in a temporary directory (as the `postgres`
//! user when the tests run as root, since PostgreSQL refuses to run as root), listening only on a Unix socket
//! in that directory, with the schema script loaded. Dropping the guard stops the server (also when the test
//! panicked) and removes the directory. Nothing is installed or started on the host.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/schema.sql");

fn bindir() -> PathBuf {
    PathBuf::from(std::env::var("PG_BINDIR").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()))
}

fn is_root() -> bool {
    pam_ffi::os::effective_uid() == 0
}

/// Runs a PostgreSQL tool, as `postgres` when we are root.
fn pg(tool: &str, args: &[&str]) -> Output {
    let exe = bindir().join(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

fn check(what: &str, out: Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Cluster {
    dir: tempfile::TempDir,
    running: bool,
}

impl Cluster {
    /// initdb, start, load the schema, create the login roles `host1`, `host2` (group totp_host).
    pub fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("pam-totpd-pg.")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if is_root() {
            let pw = pam_ffi::os::user_by_name("postgres").expect("no postgres user");
            std::os::unix::fs::chown(dir.path(), Some(pw.uid), Some(pw.gid)).unwrap();
        }
        let mut cluster = Cluster { dir, running: false };
        let data = cluster.data();
        check(
            "initdb",
            pg(
                "initdb",
                &[
                    "-N",
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "-D",
                    data.to_str().unwrap(),
                ],
            ),
        );
        cluster.start_server();
        cluster.sql_as_superuser(&std::fs::read_to_string(SCHEMA).unwrap());
        cluster.sql_as_superuser(
            "CREATE ROLE host1 LOGIN IN ROLE totp_host; CREATE ROLE host2 LOGIN IN ROLE totp_host;
             CREATE ROLE admin1 LOGIN IN ROLE totp_admin;",
        );
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn start_server(&mut self) {
        let opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off -c max_connections=60",
            self.socket_dir().display()
        );
        let log = self.dir.path().join("server.log");
        check(
            "pg_ctl start",
            pg(
                "pg_ctl",
                &[
                    "-D",
                    self.data().to_str().unwrap(),
                    "-o",
                    &opts,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-s",
                    "start",
                ],
            ),
        );
        self.running = true;
    }

    pub fn stop_server(&mut self) {
        if self.running {
            let _ = pg(
                "pg_ctl",
                &[
                    "-D",
                    self.data().to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-s",
                    "-w",
                    "stop",
                ],
            );
            self.running = false;
        }
    }

    /// A libpq/rust-postgres connection string for `role` over the cluster's socket.
    pub fn conninfo(&self, role: &str) -> String {
        format!("host={} user={role} dbname=postgres", self.socket_dir().display())
    }

    pub fn connect(&self, role: &str) -> postgres::Client {
        postgres::Client::connect(&self.conninfo(role), postgres::NoTls).unwrap()
    }

    pub fn superuser(&self) -> postgres::Client {
        self.connect("postgres")
    }

    pub fn sql_as_superuser(&self, sql: &str) {
        self.connect("postgres").batch_execute(sql).unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// A row of totp.verify / totp.decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: String,
    pub via: Option<String>,
    pub scratch_left: Option<i32>,
    pub reason: Option<String>,
    pub retry_after: Option<i32>,
}

impl Verdict {
    pub fn from_row(row: &postgres::Row) -> Verdict {
        Verdict {
            outcome: row.get(0),
            via: row.get(1),
            scratch_left: row.get(2),
            reason: row.get(3),
            retry_after: row.get(4),
        }
    }

    pub fn accepted_via(&self) -> Option<&str> {
        (self.outcome == "accepted").then_some(self.via.as_deref().unwrap_or(""))
    }

    pub fn refused_for(&self) -> Option<&str> {
        (self.outcome == "refused").then_some(self.reason.as_deref().unwrap_or(""))
    }
}

/// totp.verify as a host calls it (the database's clock).
pub fn verify(client: &mut impl postgres::GenericClient, user: &str, code: &str, rhost: &str) -> Verdict {
    let row = client
        .query_one(
            "SELECT outcome, via, scratch_left, reason, retry_after FROM totp.verify($1, $2, $3, 'sshd')",
            &[&user, &code, &rhost],
        )
        .unwrap();
    Verdict::from_row(&row)
}

/// The current code of `user`'s token `label`, `steps_ahead` time steps from now (computed by the superuser).
pub fn current_code(su: &mut postgres::Client, user: &str, label: &str, steps_ahead: i64) -> String {
    su.query_one(
        "SELECT totp.hotp(secret, floor(extract(epoch FROM now()))::bigint / period + $3, algorithm, digits)
         FROM totp.token WHERE username = $1 AND label = $2",
        &[&user, &label, &steps_ahead],
    )
    .unwrap()
    .get(0)
}

/// Enrolls `user` with a default TOTP token `label` (SHA1, 6 digits, 30 s, window 3).
pub fn enroll(su: &mut postgres::Client, user: &str, label: &str, secret_base32: &str) {
    su.execute(
        "SELECT totp.admin_add_token($1, $2, totp.base32_decode($3))",
        &[&user, &label, &secret_base32],
    )
    .unwrap();
}
