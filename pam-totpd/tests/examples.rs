//! The examples the package ships in /usr/share/doc/pam-totpd/examples (docs/fleet-examples/ and the schema
//! script) against a throwaway PostgreSQL 15 cluster: the setup an admin follows must give a working database.
//! Ignored by default (they need the PostgreSQL binaries); the `fleet` tier of tests/run-all runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Cluster;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/fleet-examples");

/// `psql -f setup.sql` as the superuser, from a copy of the examples directory as the package lays it out.
fn run_setup(cluster: &Cluster) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (from, to) in [
        (format!("{EXAMPLES}/setup.sql"), "setup.sql"),
        (
            format!("{}/sql/schema.sql", env!("CARGO_MANIFEST_DIR")),
            "schema.sql",
        ),
    ] {
        let to = dir.path().join(to);
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let psql = std::path::PathBuf::from(
        std::env::var("PG_BINDIR").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
    )
    .join("psql");
    let mut cmd = if pam_ffi::os::effective_uid() == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(psql);
        c
    } else {
        Command::new(psql)
    };
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(cluster.socket_dir())
        .args(["-U", "postgres", "-d", "postgres", "-f"])
        .arg(dir.path().join("setup.sql"))
        .output()
        .unwrap()
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn the_packaged_setup_example_gives_a_database_hosts_can_use_but_not_read() {
    let cluster = Cluster::start();
    let out = run_setup(&cluster);
    assert!(
        out.status.success(),
        "setup.sql failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let conninfo = cluster
        .conninfo("host_web1")
        .replace("dbname=postgres", "dbname=totp");
    let mut host = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
    let probe: Option<String> = host.query_one("SELECT totp.probe('alice')", &[]).unwrap().get(0);
    assert_eq!(probe.as_deref(), Some("not-enrolled"));
    let denied = host.query("SELECT secret FROM totp.token", &[]).unwrap_err();
    assert_eq!(
        denied.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{denied}"
    );
}
