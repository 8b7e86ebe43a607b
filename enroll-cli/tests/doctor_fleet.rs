//! `totp-enroll doctor --fleet` against a real primary with a streaming standby (the throwaway clusters of
//! pam-totpd/tests/common/cluster.rs) and a listening socket: clean with a synchronous standby, exit 1 with the
//! line to change for an asynchronous one, a host role that can read secrets and a unit whose conninfo would
//! not follow a failover. The rest of the doctor
//! runs on the clean committed fixtures. Ignored by default: the `fleet` tier of tests/run-all runs them (as
//! root: PostgreSQL runs as `postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../pam-totpd/tests/common/cluster.rs"]
mod cluster;

use cluster::Cluster;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
}

fn psql() -> String {
    let dir = std::env::var("PG_BINDIR").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    format!("{dir}/psql")
}

/// A clean host (the committed fixtures) whose pam-totpd socket listens; kept alive by the returned guard.
struct Host {
    dir: tempfile::TempDir,
    _socket: UnixListener,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pam = dir.path().join("pam.d");
        std::fs::create_dir(&pam).unwrap();
        for f in [
            "common-auth",
            "common-account",
            "common-session",
            "common-session-noninteractive",
        ] {
            std::fs::copy(fixture(&format!("pam.d/{f}")), pam.join(f)).unwrap();
        }
        std::fs::copy(
            fixture("pam.d/common-password.pwpolicy"),
            pam.join("common-password"),
        )
        .unwrap();
        std::fs::copy(fixture("pam.d/sshd.key-code"), pam.join("sshd")).unwrap();
        std::fs::create_dir(dir.path().join("sudoers.d")).unwrap();
        let socket = UnixListener::bind(dir.path().join("socket")).unwrap();
        std::fs::write(
            dir.path().join("pam-totpd.service"),
            format!(
                "[Service]\nEnvironment=\"PAM_TOTPD_CONNINFO=host=pg1,pg2 dbname=totp target_session_attrs=read-write\"\n\
                 ExecStart=/usr/sbin/pam-totpd --socket {} --deadline-ms 2000\n",
                dir.path().join("socket").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(dir.path().join("socket"), std::fs::Permissions::from_mode(0o666)).unwrap();
        Host { dir, _socket: socket }
    }

    /// `totp-enroll doctor --fleet --json ...` as `role`: its exit code and the finding ids it printed.
    fn doctor(&self, cluster: &Cluster, role: &str) -> (i32, String) {
        let d = self.dir.path();
        let out = Command::new(env!("CARGO_BIN_EXE_totp-enroll"))
            .arg("doctor")
            .args(["--sshd-config", fixture("sshd_config.debian12").to_str().unwrap()])
            .args(["--root", fixture("root-clean").to_str().unwrap()])
            .args(["--pam-dir", d.join("pam.d").to_str().unwrap()])
            .args(["--shadow", fixture("shadow.clean").to_str().unwrap()])
            .args(["--sudoers", fixture("sudoers.clean").to_str().unwrap()])
            .args(["--sudoers-dir", d.join("sudoers.d").to_str().unwrap()])
            .args([
                "--sshd=none",
                "--no-clock",
                "--module-dir",
                "none",
                "--json",
                "--fleet",
            ])
            .args(["--conninfo", &cluster.conninfo(role), "--psql", &psql()])
            .args(["--socket", d.join("socket").to_str().unwrap()])
            .args(["--unit", d.join("pam-totpd.service").to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

#[test]
#[ignore = "starts two PostgreSQL clusters: run by the fleet tier"]
fn given_a_synchronous_standby_the_fleet_is_clean_until_a_host_role_can_read_secrets() {
    let primary = Cluster::start();
    let _standby = Cluster::standby_of(&primary);
    primary.set_synchronous(true);
    primary.psql("GRANT pg_monitor TO admin1");
    let host = Host::new();
    let (code, json) = host.doctor(&primary, "admin1");
    assert_eq!((code, json.as_str()), (0, "[]\n"));
    primary.psql("GRANT SELECT ON totp.token TO host1; ALTER ROLE host2 SET statement_timeout = '5s'");
    let unit = host.dir.path().join("pam-totpd.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, text.replace(" target_session_attrs=read-write", "")).unwrap();
    let (code, json) = host.doctor(&primary, "admin1");
    assert_eq!(code, 1, "{json}");
    assert!(
        json.contains("fleet-host-reads-secrets") && json.contains("REVOKE ALL ON totp.token FROM host1")
    );
    assert!(
        json.contains("fleet-role-statement-timeout")
            && json.contains("ALTER ROLE host2 RESET statement_timeout")
    );
}

#[test]
#[ignore = "starts two PostgreSQL clusters: run by the fleet tier"]
fn given_an_asynchronous_standby_the_doctor_names_the_line_and_exits_1() {
    let primary = Cluster::start();
    let _standby = Cluster::standby_of(&primary);
    primary.psql("GRANT pg_monitor TO admin1");
    let host = Host::new();
    let (code, json) = host.doctor(&primary, "admin1");
    assert_eq!(code, 1, "{json}");
    assert!(
        json.contains("fleet-async-standby") && json.contains("synchronous_standby_names = 'ANY 1 ("),
        "{json}"
    );
    // Without pg_monitor the state is hidden: said, not guessed.
    primary.psql("REVOKE pg_monitor FROM admin1");
    let (_, json) = host.doctor(&primary, "admin1");
    assert!(json.contains("fleet-replication-hidden"), "{json}");
}
