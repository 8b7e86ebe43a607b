//! `doctor --fleet`: the settings that keep the fleet's guarantee (a code used once stays used, also across a
//! failover; hosts never read a secret), read from the database through `psql` as the admin's own role and
//! from this host's pam-totpd socket. It reports asynchronous or missing synchronous standbys, settings that
//! let a COMMIT return before a standby has it (`synchronous_commit`, a host role's `statement_timeout`), host
//! roles that can read `totp.token`, a clock that differs from the database's, a missing, dead or closed
//! socket, and a unit whose socket, deadline or conninfo does not fit the PAM line or a failover, each with
//! the line to change. It reads only; the checks are functions of the facts so the unit tests
//! need no database.

use super::report::Finding;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

/// More clock difference than this between the host and the database is an error.
pub const MAX_SKEW_SECONDS: f64 = 5.0;

/// Field separator of the query's output (a control character no role name or setting contains).
const SEP: char = '\u{1f}';

/// One row per fact, `key SEP a SEP b`. Host roles are the members of totp_host, directly or through other
/// roles.
pub const QUERY: &str = "WITH RECURSIVE hosts AS (
    SELECT oid, rolname FROM pg_roles WHERE rolname = 'totp_host'
    UNION SELECT r.oid, r.rolname FROM pg_auth_members a JOIN hosts h ON a.roleid = h.oid
                                  JOIN pg_roles r ON r.oid = a.member)
SELECT 'recovery', pg_is_in_recovery()::text, ''
UNION ALL SELECT 'names', current_setting('synchronous_standby_names'), ''
UNION ALL SELECT 'commit', current_setting('synchronous_commit'), ''
UNION ALL SELECT 'epoch', extract(epoch FROM clock_timestamp())::text, ''
UNION ALL SELECT 'standby', coalesce(application_name, ''), coalesce(sync_state, '?') FROM pg_stat_replication
UNION ALL SELECT 'reader', rolname, '' FROM hosts
          WHERE rolname <> 'totp_host' AND has_table_privilege(oid, 'totp.token', 'SELECT')
UNION ALL SELECT 'setting', h.rolname, s.cfg FROM hosts h JOIN pg_db_role_setting d ON d.setrole = h.oid
          CROSS JOIN unnest(d.setconfig) AS s(cfg);
";

/// A standby as the primary's pg_stat_replication shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standby {
    /// Its application_name.
    pub name: String,
    /// `sync`, `quorum`, `async`, `potential`, or `?` when the admin's role may not see it.
    pub sync_state: String,
}

/// What the database says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Connected to a standby instead of the primary.
    pub in_recovery: bool,
    /// `synchronous_standby_names`.
    pub sync_names: String,
    /// `synchronous_commit`.
    pub sync_commit: String,
    /// The database's clock, seconds since the epoch.
    pub epoch: Option<f64>,
    /// The standbys streaming from it.
    pub standbys: Vec<Standby>,
    /// Host roles (members of totp_host) that may SELECT totp.token.
    pub readers: Vec<String>,
    /// Per-role settings of host roles: (role, `name=value`).
    pub role_settings: Vec<(String, String)>,
}

/// Parses the output of [`QUERY`] (psql unaligned, tuples only, fields separated by [`SEP`]).
pub fn parse(text: &str) -> Facts {
    let mut f = Facts::default();
    for line in text.lines() {
        let mut fields = line.split(SEP);
        let (key, a, b) = (
            fields.next().unwrap_or(""),
            fields.next().unwrap_or("").to_owned(),
            fields.next().unwrap_or("").to_owned(),
        );
        match key {
            "recovery" => f.in_recovery = a == "true",
            "names" => f.sync_names = a,
            "commit" => f.sync_commit = a,
            "epoch" => f.epoch = a.parse().ok(),
            "standby" => f.standbys.push(Standby {
                name: a,
                sync_state: b,
            }),
            "reader" => f.readers.push(a),
            "setting" => f.role_settings.push((a, b)),
            _ => {}
        }
    }
    f
}

/// Runs [`QUERY`] with `psql` (`-d conninfo` when given, else psql's PG* environment); psql's own errors go
/// to standard error.
pub fn query(psql: &str, conninfo: Option<&str>) -> Result<Facts, String> {
    let mut cmd = Command::new(psql);
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F"])
        .arg(SEP.to_string())
        .args(["-c", QUERY]);
    if let Some(conninfo) = conninfo {
        cmd.args(["-d", conninfo]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {psql}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "psql could not read the fleet database ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

const PRIMARY_CONF: &str = "postgresql.conf of the primary";

/// The findings on replication, host roles and the clock; `host_epoch` is this host's clock.
pub fn check(f: &Facts, host_epoch: f64) -> Vec<Finding> {
    let mut out = Vec::new();
    if f.in_recovery {
        out.push(Finding::error(
            "fleet-not-primary",
            "connected to a standby: the replication checks need the primary",
            "give --conninfo \"host=... target_session_attrs=read-write\" (the hosts of pam-totpd's conninfo)",
        ));
    } else {
        out.extend(replication(f));
    }
    for role in &f.readers {
        out.push(Finding::error(
            "fleet-host-reads-secrets",
            format!(
                "host role {role} can SELECT totp.token: a host that is broken into gives away every secret"
            ),
            format!(
                "REVOKE ALL ON totp.token FROM {role};  (and ALTER ROLE {role} NOSUPERUSER if it is one)"
            ),
        ));
    }
    for (role, setting) in &f.role_settings {
        out.extend(role_setting(role, setting));
    }
    if let Some(db) = f.epoch {
        let skew = host_epoch - db;
        if skew.abs() > MAX_SKEW_SECONDS {
            out.push(Finding::error(
                "fleet-clock-skew",
                format!(
                    "this host's clock is {skew:+.0} s off the database's: the database's clock decides which \
                     code is current, so one of the two is wrong"
                ),
                "synchronise both with NTP (chrony or systemd-timesyncd), then check with `timedatectl`",
            ));
        }
    }
    out
}

fn replication(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let waits = !f.sync_names.trim().is_empty();
    let synchronous = |s: &Standby| matches!(s.sync_state.as_str(), "sync" | "quorum");
    let any_sync = f.standbys.iter().any(synchronous);
    if f.standbys.is_empty() {
        if waits {
            out.push(
                Finding::error(
                    "fleet-sync-standby-missing",
                    format!(
                        "synchronous_standby_names = '{}' but no standby is streaming: every COMMIT waits, so \
                         every login is unavailable",
                        f.sync_names
                    ),
                    "start the standby (or list the ones that run: synchronous_standby_names = 'ANY 1 (s1, s2)')",
                )
                .at(PRIMARY_CONF, None),
            );
        } else {
            out.push(Finding::warning(
                "fleet-no-standby",
                "no standby streams from the primary: a failover is a restore from backup, and it loses the \
                 uses since the backup",
                "add a streaming standby (pg_basebackup -R) and make it synchronous (docs/fleet.md, HA)",
            ));
        }
    }
    for s in &f.standbys {
        if s.sync_state == "?" {
            out.push(Finding::warning(
                "fleet-replication-hidden",
                format!("cannot see the replication state of standby {:?}", s.name),
                "GRANT pg_monitor TO <the role of --conninfo>",
            ));
        } else if !synchronous(s) {
            let fix = format!(
                "synchronous_standby_names = 'ANY 1 ({})'  (then SELECT pg_reload_conf()), and promote only a \
                 synchronous standby",
                if s.name.is_empty() { "*" } else { &s.name }
            );
            let finding = if any_sync {
                let m = format!(
                    "standby {:?} is {}: promoting it loses the last uses of codes",
                    s.name, s.sync_state
                );
                Finding::warning("fleet-async-standby", m, fix)
            } else {
                let m = format!(
                    "standby {:?} is {}: a code used just before a failover can be used again after it",
                    s.name, s.sync_state
                );
                Finding::error("fleet-async-standby", m, fix)
            };
            out.push(finding.at(PRIMARY_CONF, None));
        }
    }
    if waits && !matches!(f.sync_commit.as_str(), "on" | "remote_apply") {
        let m = format!(
            "synchronous_commit = {}: a COMMIT returns before a standby has it on disk",
            f.sync_commit
        );
        let fix = "synchronous_commit = on";
        let finding = if f.sync_commit == "remote_write" {
            Finding::warning("fleet-sync-commit", m, fix)
        } else {
            Finding::error("fleet-sync-commit", m, fix)
        };
        out.push(finding.at(PRIMARY_CONF, None));
    }
    out
}

/// A host role's own setting that defeats the synchronous COMMIT.
fn role_setting(role: &str, setting: &str) -> Option<Finding> {
    let (name, value) = setting.split_once('=')?;
    match name {
        "synchronous_commit" if !matches!(value, "on" | "remote_apply") => Some(Finding::error(
            "fleet-role-sync-commit",
            format!("host role {role} has synchronous_commit = {value}: its COMMITs do not wait for a standby"),
            format!("ALTER ROLE {role} RESET synchronous_commit;"),
        )),
        "statement_timeout" if value != "0" => Some(Finding::warning(
            "fleet-role-statement-timeout",
            format!(
                "host role {role} has statement_timeout = {value}: a COMMIT that waits for the standby is cancelled \
                 and pam-totpd refuses the login (state-not-saved)"
            ),
            format!("ALTER ROLE {role} RESET statement_timeout;  (pam-totpd keeps its own deadline)"),
        )),
        _ => None,
    }
}

/// The findings on this host's pam-totpd socket at `path`.
pub fn check_socket(path: &Path) -> Vec<Finding> {
    let shown = path.display().to_string();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            return vec![Finding::error(
                "fleet-socket-missing",
                format!("{shown}: {e}: pam-totpd is not running, or listens elsewhere; logins fail as store-unavailable"),
                "systemctl enable --now pam-totpd; its --socket and the PAM line's store=pamd:PATH must name the same path",
            )
            .at(shown, None)]
        }
    };
    if !meta.file_type().is_socket() {
        return vec![Finding::error(
            "fleet-socket-not-a-socket",
            "is not a socket: pam-totpd cannot listen there",
            "remove it and restart pam-totpd (systemctl restart pam-totpd)",
        )
        .at(shown, None)];
    }
    let mut out = Vec::new();
    if let Err(e) = UnixStream::connect(path) {
        out.push(
            Finding::error(
                "fleet-socket-dead",
                format!("nobody answers on it ({e}): logins fail as store-unavailable"),
                "systemctl restart pam-totpd; journalctl -u pam-totpd says why it stopped",
            )
            .at(shown.clone(), None),
        );
    }
    let open = |mode: u32, bits: u32| mode & bits == bits;
    if !open(meta.permissions().mode(), 0o006) {
        out.push(
            Finding::warning(
                "fleet-socket-mode",
                format!(
                    "mode {:o}: only root can ask, so screen lockers running as the user fail (pam-totpd decides \
                     per caller uid)",
                    meta.permissions().mode() & 0o7777
                ),
                "let pam-totpd create it (mode 0666) and keep UMask= out of the unit",
            )
            .at(shown.clone(), None),
        );
    }
    if let Some(dir) = path.parent() {
        let searchable = std::fs::metadata(dir).is_ok_and(|m| open(m.permissions().mode(), 0o001));
        if !searchable {
            out.push(
                Finding::warning(
                    "fleet-socket-dir-mode",
                    "only root can reach the socket: screen lockers running as the user fail",
                    "RuntimeDirectoryMode=0755 in pam-totpd.service",
                )
                .at(dir.display().to_string(), None),
            );
        }
    }
    out
}

/// Where pam-totpd.service is looked for; the first found is read (drop-ins are not merged).
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The value after `flag` among the words of `line`.
fn option<'a>(line: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

/// The findings on pam-totpd's unit `text` (read from `file`): its `--socket` against `socket` (the one the
/// PAM line asks), its `--deadline-ms` against the module's `timeout=`, and a conninfo in `Environment=`
/// that names several hosts without `target_session_attrs=read-write` (after a failover it may land on a
/// standby, and every verify fails there).
pub fn check_unit(text: &str, file: &str, socket: &Path, module_timeout_secs: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    let lines = || text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    if let Some((n, exec)) = lines().filter(|(_, l)| l.starts_with("ExecStart=")).last() {
        let served = option(exec, "--socket").unwrap_or(pam_totp::pamd::DEFAULT_SOCKET);
        if Path::new(served) != socket {
            out.push(
                Finding::error(
                    "fleet-unit-socket",
                    format!(
                        "pam-totpd listens on {served} but the PAM line asks {}: every login is store-unavailable",
                        socket.display()
                    ),
                    format!("ExecStart=... --socket {}  (or store=pamd:{served} on the PAM line)", socket.display()),
                )
                .at(file, Some(n)),
            );
        }
        let deadline_ms: u64 = option(exec, "--deadline-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        if deadline_ms >= module_timeout_secs.saturating_mul(1000) {
            out.push(
                Finding::warning(
                    "fleet-unit-deadline",
                    format!(
                        "--deadline-ms {deadline_ms} is not below the module's timeout={module_timeout_secs}: the \
                         module gives up first and logs a timeout instead of the database's state"
                    ),
                    format!(
                        "ExecStart=... --deadline-ms {}",
                        module_timeout_secs.saturating_mul(1000).saturating_sub(1000).max(500)
                    ),
                )
                .at(file, Some(n)),
            );
        }
    }
    for (n, line) in
        lines().filter(|(_, l)| l.starts_with("Environment=") && l.contains("PAM_TOTPD_CONNINFO="))
    {
        let several = line.split_whitespace().any(|w| {
            w.split_once("host=")
                .is_some_and(|(_, hosts)| hosts.contains(','))
        });
        if several && !line.contains("target_session_attrs=read-write") {
            out.push(
                Finding::error(
                    "fleet-unit-conninfo",
                    "the conninfo names several hosts without target_session_attrs=read-write: after a failover \
                     pam-totpd may connect to a standby, where every login fails",
                    "add target_session_attrs=read-write to PAM_TOTPD_CONNINFO",
                )
                .at(file, Some(n)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(rows: &[&str]) -> Facts {
        parse(&rows.join("\n").replace('|', &SEP.to_string()))
    }

    fn ids(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.id).collect()
    }

    const SYNC: &[&str] = &[
        "recovery|false|",
        "names|ANY 1 (s1)|",
        "commit|on|",
        "epoch|1000.5|",
        "standby|s1|quorum",
    ];

    #[test]
    fn a_synchronous_standby_with_commit_on_and_the_same_clock_is_clean() {
        assert_eq!(check(&facts(SYNC), 1002.0), Vec::new());
    }

    #[test]
    fn an_asynchronous_standby_is_an_error_unless_another_is_synchronous() {
        let f = facts(&["recovery|false|", "names||", "commit|on|", "standby|s1|async"]);
        let found = check(&f, 0.0);
        assert_eq!(ids(&found), ["fleet-async-standby"]);
        assert_eq!(found[0].severity, super::super::report::Severity::Error);
        assert!(found[0].fix.contains("ANY 1 (s1)"), "{}", found[0].fix);
        let mut rows = SYNC.to_vec();
        rows.push("standby|s2|potential");
        let found = check(&facts(&rows), 1000.0);
        assert_eq!(ids(&found), ["fleet-async-standby"]);
        assert_eq!(found[0].severity, super::super::report::Severity::Warning);
    }

    #[test]
    fn waiting_for_a_standby_that_is_not_there_or_not_waiting_at_all_is_reported() {
        let f = facts(&["recovery|false|", "names|*|", "commit|local|"]);
        assert_eq!(
            ids(&check(&f, 0.0)),
            ["fleet-sync-standby-missing", "fleet-sync-commit"]
        );
        let f = facts(&["recovery|false|", "names||", "commit|on|"]);
        assert_eq!(ids(&check(&f, 0.0)), ["fleet-no-standby"]);
    }

    #[test]
    fn host_roles_that_read_secrets_or_undo_the_wait_are_named() {
        let mut rows = SYNC.to_vec();
        rows.extend([
            "reader|web1|",
            "setting|web2|synchronous_commit=local",
            "setting|web3|statement_timeout=5s",
            "setting|web4|work_mem=1MB",
        ]);
        let found = check(&facts(&rows), 1000.0);
        assert_eq!(
            ids(&found),
            [
                "fleet-host-reads-secrets",
                "fleet-role-sync-commit",
                "fleet-role-statement-timeout"
            ]
        );
        assert!(found[0].fix.contains("REVOKE ALL ON totp.token FROM web1"));
    }

    #[test]
    fn more_than_five_seconds_between_the_clocks_is_an_error() {
        assert_eq!(ids(&check(&facts(SYNC), 1006.0)), ["fleet-clock-skew"]);
        assert_eq!(ids(&check(&facts(SYNC), 994.0)), ["fleet-clock-skew"]);
        assert_eq!(ids(&check(&facts(SYNC), 1005.0)), Vec::<&str>::new());
    }

    #[test]
    fn a_standby_is_not_checked_as_a_primary() {
        let f = facts(&["recovery|true|", "names||", "commit|on|"]);
        assert_eq!(ids(&check(&f, 0.0)), ["fleet-not-primary"]);
    }

    const UNIT: &str = "[Service]
Environment=\"PAM_TOTPD_CONNINFO=host=pg1,pg2 dbname=totp user=host_%l target_session_attrs=read-write\"
ExecStart=/usr/sbin/pam-totpd --socket /run/pam-totpd/socket --pool 4 --deadline-ms 2000
";

    #[test]
    fn the_shipped_unit_fits_the_default_pam_line() {
        let socket = Path::new("/run/pam-totpd/socket");
        assert_eq!(ids(&check_unit(UNIT, "u", socket, 3)), Vec::<&str>::new());
    }

    #[test]
    fn a_unit_with_another_socket_a_long_deadline_or_no_read_write_is_reported_at_its_line() {
        let socket = Path::new("/run/pam-totpd/socket");
        let found = check_unit(&UNIT.replace("/run/pam-totpd/socket", "/run/x"), "u", socket, 3);
        assert_eq!(ids(&found), ["fleet-unit-socket"]);
        assert_eq!((found[0].file.as_deref(), found[0].line), (Some("u"), Some(3)));
        assert_eq!(ids(&check_unit(UNIT, "u", socket, 2)), ["fleet-unit-deadline"]);
        let found = check_unit(
            &UNIT.replace(" target_session_attrs=read-write", ""),
            "u",
            socket,
            3,
        );
        assert_eq!(ids(&found), ["fleet-unit-conninfo"]);
        assert_eq!(found[0].line, Some(2));
        let one_host = UNIT
            .replace("pg1,pg2", "pg1")
            .replace(" target_session_attrs=read-write", "");
        assert_eq!(ids(&check_unit(&one_host, "u", socket, 3)), Vec::<&str>::new());
    }

    #[test]
    fn the_socket_must_exist_be_a_socket_answer_and_be_open_to_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        assert_eq!(ids(&check_socket(&path)), ["fleet-socket-missing"]);
        std::fs::write(&path, "").unwrap();
        assert_eq!(ids(&check_socket(&path)), ["fleet-socket-not-a-socket"]);
        std::fs::remove_file(&path).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(ids(&check_socket(&path)), Vec::<&str>::new());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(ids(&check_socket(&path)), ["fleet-socket-mode"]);
        drop(listener);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(ids(&check_socket(&path)), ["fleet-socket-dead"]);
    }
}
