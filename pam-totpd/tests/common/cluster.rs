//! A throwaway PostgreSQL 15 cluster per test: `initdb`/`pg_ctl` in a temporary directory (as the `postgres`
//! user when the tests run as root, since PostgreSQL refuses to run as root), listening only on a Unix socket
//! in that directory, with the schema script loaded (by `psql`, so that this file needs no PostgreSQL client
//! crate and the pamh tests in tests/tests/ can include it too). Dropping the guard stops the server (also when
//! the test panicked) and removes the directory. Nothing is installed or started on the host. A cluster can
//! also be a streaming standby of another ([`Cluster::standby_of`], `pg_basebackup -R` over the Unix socket),
//! made synchronous, stopped and promoted, for the failover tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../pam-totpd/sql/schema.sql");

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
        let mut cluster = Cluster::empty();
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
        cluster.psql_file(SCHEMA);
        cluster.psql(
            "CREATE ROLE host1 LOGIN IN ROLE totp_host; CREATE ROLE host2 LOGIN IN ROLE totp_host;
             CREATE ROLE admin1 LOGIN IN ROLE totp_admin;",
        );
        cluster
    }

    /// A temporary directory the server may own, with nothing running yet.
    fn empty() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("pam-totpd-pg.")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if is_root() {
            let pw = pam_ffi::os::user_by_name("postgres").expect("no postgres user");
            std::os::unix::fs::chown(dir.path(), Some(pw.uid), Some(pw.gid)).unwrap();
        }
        Cluster { dir, running: false }
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`: a copy plus `primary_conninfo` and
    /// `standby.signal`), started, on a socket of its own; returns once the primary sees it streaming.
    /// It is asynchronous until [`Cluster::set_synchronous`] on the primary.
    pub fn standby_of(primary: &Cluster) -> Cluster {
        let mut standby = Cluster::empty();
        let host = primary.socket_dir().display().to_string();
        check(
            "pg_basebackup",
            pg(
                "pg_basebackup",
                &[
                    "-h",
                    &host,
                    "-U",
                    "postgres",
                    "-D",
                    standby.data().to_str().unwrap(),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "-N",
                ],
            ),
        );
        standby.start_server();
        primary.wait_for("SELECT count(*) > 0 FROM pg_stat_replication WHERE state = 'streaming'");
        standby
    }

    /// Makes every commit on this primary wait for a standby (`synchronous_standby_names = '*'`,
    /// `synchronous_commit = on`), or for none; returns once pg_stat_replication agrees.
    pub fn set_synchronous(&self, on: bool) {
        let names = if on { "*" } else { "" };
        self.psql(&format!("ALTER SYSTEM SET synchronous_standby_names = '{names}'"));
        self.psql("ALTER SYSTEM SET synchronous_commit = 'on'");
        self.psql("SELECT pg_reload_conf()");
        let state = if on { "sync" } else { "async" };
        self.wait_for(&format!(
            "SELECT count(*) > 0 FROM pg_stat_replication WHERE sync_state = '{state}'"
        ));
    }

    /// Polls `query` (one boolean) until it is true, for at most 20 s.
    pub fn wait_for(&self, query: &str) {
        let start = std::time::Instant::now();
        while self.psql(query) != "t" {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "still false after 20 s: {query}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `pg_ctl promote`: this standby becomes a primary (returns once it accepts writes).
    pub fn promote(&self) {
        check(
            "pg_ctl promote",
            pg(
                "pg_ctl",
                &["-D", self.data().to_str().unwrap(), "-w", "-s", "promote"],
            ),
        );
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

    fn psql_args(&self) -> Vec<String> {
        let host = self.socket_dir().display().to_string();
        [
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &host,
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Runs `sql` as the superuser with `psql` and returns what it printed (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let mut args = self.psql_args();
        args.extend(["-c".to_owned(), sql.to_owned()]);
        let out = pg("psql", &args.iter().map(String::as_str).collect::<Vec<_>>());
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        check("psql", out);
        stdout
    }

    /// Runs the SQL file at `path` as the superuser (one simple query, so one transaction; read here, so the
    /// `postgres` user need not be able to read the source tree).
    pub fn psql_file(&self, path: &str) {
        self.psql(&std::fs::read_to_string(path).unwrap());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_server();
    }
}
