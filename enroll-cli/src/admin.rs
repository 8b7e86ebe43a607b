//! `totp-enroll admin import|export|disable|reset|unlock|audit`: moves users from google-authenticator files to
//! the fleet database and back, and the day-to-day admin changes (docs/fleet.md).
//! It reads one user's files (one per host that had one) with pam_totp's own parser, merges them (the same
//! secret and settings required; the highest HOTP counter; a scratch code counts as used when any file has
//! used it), and adds the result through the admin SQL functions (`totp.admin_add_token`,
//! `totp.admin_set_scratch`) in one transaction, by running `psql` with the SQL on its standard input, so the
//! secret never appears in a process list or on the terminal and the CLI links no PostgreSQL client. `export`
//! reads one active token back (`totp.admin_export`, admins only) through psql's standard output and writes a
//! new google-authenticator file (mode 0400) so an admin can roll back to `store=file`; scratch codes cannot
//! come back (the database keeps hashes). `disable`, `reset` and `unlock` call totp.admin_disable,
//! totp.admin_reset and totp.admin_unlock; `audit` reads totp.event (as JSON from psql, so any text in a field is
//! safe). It owns the merge and the SQL text; it never prints a secret.

use pam_totp::otp::{Algorithm, Digits, SecretKey};
use pam_totp::secret_file::{Mode, SecretFile};
use pam_totp::store::{Policy, Store};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use zeroize::Zeroizing;

const USAGE: &str =
    "usage: totp-enroll admin COMMAND [--conninfo STRING] [--psql PATH] [options] USER [FILE...]
       totp-enroll admin import [--conninfo STRING] [--label LABEL] [--psql PATH] [--prefer FILE] USER FILE...
  Adds USER's google-authenticator file(s) (one per host; merged) to the fleet database as token LABEL
  (default \"imported\") with its unused scratch codes, through psql as an admin role (group totp_admin).
  Files holding different secrets are refused, unless --prefer names the one whose secret wins (the files
  with another secret are then left out, and named).
       totp-enroll admin export [--conninfo STRING] [--label LABEL] [--psql PATH] USER FILE
  Writes USER's active token LABEL back as a new google-authenticator FILE (mode 0400, without scratch codes).
       totp-enroll admin disable [--label LABEL] USER
  Disables USER's token LABEL, or without --label USER entirely; every host refuses at the next attempt.
       totp-enroll admin reset USER
  Removes USER's tokens and scratch codes (and a disabled mark or lock) so that USER enrolls again.
       totp-enroll admin unlock USER
  Clears USER's fleet-wide failure ceiling and throttling.
       totp-enroll admin audit [--limit N] [--json] USER
  Prints USER's last N (default 50) events: verifies, enrollments and admin changes, oldest first.
  --conninfo is passed to psql -d (default: psql's PG* environment).";

/// The admin commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Import,
    Export,
    Disable,
    Reset,
    Unlock,
    Audit,
}

/// What to import, parsed from the command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    action: Action,
    conninfo: Option<String>,
    /// `--label`: import/export default "imported"; disable: only that token.
    label: Option<String>,
    psql: String,
    user: String,
    files: Vec<PathBuf>,
    /// `--prefer FILE`: when the files hold different secrets, this one's wins.
    prefer: Option<PathBuf>,
    json: bool,
    limit: u32,
}

impl Args {
    fn label(&self) -> &str {
        self.label.as_deref().unwrap_or("imported")
    }
}

/// The merged state of one user's files, ready for the database.
#[derive(Debug)]
struct Merged {
    file: SecretFile,
    scratch: Vec<u32>,
}

/// `totp-enroll admin ...`: exit 0 on success, 1 when the import failed, 2 for a usage error.
pub fn run(argv: &[String]) -> ExitCode {
    let args = match parse(argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("totp-enroll: error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !matches!(args.action, Action::Import | Action::Export) {
        return match change(&args) {
            Ok(said) => {
                print!("{said}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("totp-enroll: error: {e}");
                ExitCode::from(1)
            }
        };
    }
    if args.action == Action::Export {
        return match export(&args) {
            Ok(()) => {
                println!(
                    "exported {} token {:?} to {}",
                    args.user,
                    args.label(),
                    args.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<String>()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("totp-enroll: error: {e}");
                ExitCode::from(1)
            }
        };
    }
    match import(&args) {
        Ok(n) => {
            println!(
                "imported {} as token {:?} with {n} unused scratch code{}",
                args.user,
                args.label(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("totp-enroll: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut it = argv.iter();
    let action = match it.next().map(String::as_str) {
        Some("import") => Action::Import,
        Some("export") => Action::Export,
        Some("disable") => Action::Disable,
        Some("reset") => Action::Reset,
        Some("unlock") => Action::Unlock,
        Some("audit") => Action::Audit,
        _ => return Err("`admin` commands: import, export, disable, reset, unlock, audit".into()),
    };
    let (mut conninfo, mut label, mut psql) = (None, None, "psql".to_owned());
    let (mut json, mut limit, mut prefer) = (false, 50, None);
    let mut words = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--conninfo" => conninfo = Some(value()?),
            "--label" if action != Action::Reset && action != Action::Unlock && action != Action::Audit => {
                label = Some(value()?)
            }
            "--psql" => psql = value()?,
            "--prefer" if action == Action::Import => prefer = Some(PathBuf::from(value()?)),
            "--json" if action == Action::Audit => json = true,
            "--limit" if action == Action::Audit => {
                limit = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or("--limit takes a number from 1 to 100000")?
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg} for this command")),
            _ => words.push(arg.clone()),
        }
    }
    let (user, files) = words.split_first().ok_or("no USER")?;
    let files_ok = match action {
        Action::Import => !files.is_empty(),
        Action::Export => files.len() == 1,
        _ => files.is_empty(),
    };
    if !files_ok {
        return Err("import takes one or more FILEs, export exactly one, the other commands none".into());
    }
    if let Some(p) = &prefer {
        if !files.iter().any(|f| Path::new(f) == p) {
            return Err("--prefer names one of the FILEs to import".into());
        }
    }
    for name in std::iter::once(user).chain(label.as_ref()) {
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(format!("{name:?} is not a usable user name or label"));
        }
    }
    Ok(Args {
        action,
        conninfo,
        label,
        psql,
        user: user.clone(),
        files: files.iter().map(PathBuf::from).collect(),
        prefer,
        json,
        limit,
    })
}

fn import(args: &Args) -> Result<usize, String> {
    let mut files = Vec::new();
    for path in &args.files {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?);
        let file = SecretFile::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push((path.clone(), file));
    }
    if let Some(prefer) = &args.prefer {
        for path in preferred_first(&mut files, prefer) {
            println!(
                "left out {}: it holds another secret than {}",
                path.display(),
                prefer.display()
            );
        }
    }
    let merged = merge(files.into_iter().map(|(_, f)| f).collect())?;
    let sql = sql(&args.user, args.label(), &merged)?;
    run_psql(args, &sql)?;
    Ok(merged.scratch.len())
}

/// Puts the `prefer` file first and removes the files whose secret differs from its; returns their paths.
fn preferred_first(files: &mut Vec<(PathBuf, SecretFile)>, prefer: &Path) -> Vec<PathBuf> {
    let Some(at) = files.iter().position(|(p, _)| p == prefer) else {
        return Vec::new();
    };
    let chosen = files.remove(at);
    let (kept, dropped): (Vec<_>, Vec<_>) = std::mem::take(files)
        .into_iter()
        .partition(|(_, f)| f.secret().as_bytes() == chosen.1.secret().as_bytes());
    files.push(chosen);
    files.extend(kept);
    dropped.into_iter().map(|(p, _)| p).collect()
}

/// One state from several hosts' copies of a user's file.
fn merge(files: Vec<SecretFile>) -> Result<Merged, String> {
    let mut files = files.into_iter();
    let mut first = files.next().ok_or("no file")?;
    let mut scratch: Vec<u32> = first.usable_scratch_codes().collect();
    for other in files {
        if other.secret().as_bytes() != first.secret().as_bytes() {
            return Err(
                "the files hold different secrets: name the one that wins with --prefer FILE, or import them \
                 as different labels"
                    .into(),
            );
        }
        let same = other.algorithm() == first.algorithm()
            && other.digits() == first.digits()
            && other.step_size() == first.step_size()
            && other.totp_auth() == first.totp_auth()
            && other.hotp_counter().is_some() == first.hotp_counter().is_some();
        if !same {
            return Err("the files differ in mode, algorithm, digits or step size".into());
        }
        if let (Some(mine), Some(theirs)) = (first.hotp_counter(), other.hotp_counter()) {
            first.set_hotp_counter(Some(mine.max(theirs)));
        }
        let left: Vec<u32> = other.usable_scratch_codes().collect();
        scratch.retain(|c| left.contains(c));
    }
    Ok(Merged { file: first, scratch })
}

/// A SQL string literal (standard_conforming_strings is set on by [`sql`]).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The whole import as one transaction.
fn sql(user: &str, label: &str, merged: &Merged) -> Result<Zeroizing<String>, String> {
    let file = &merged.file;
    let (kind, hotp_next) = match file.mode() {
        Mode::Totp => ("totp", 0),
        Mode::Hotp { .. } => ("hotp", file.hotp_counter().unwrap_or(0)),
        Mode::ScratchOnly => return Err("the file enables neither TOTP nor HOTP".into()),
    };
    let mut out = Zeroizing::new(String::from("SET standard_conforming_strings = on;\nBEGIN;\n"));
    let mut hex = Zeroizing::new(String::with_capacity(file.secret().as_bytes().len() * 2));
    for b in file.secret().as_bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    let _ = writeln!(
        out,
        "SELECT totp.admin_add_token({}, {}, decode('{}', 'hex'), '{kind}', '{}', {}, {}, {}, {hotp_next});",
        literal(user),
        literal(label),
        hex.as_str(),
        file.algorithm().name(),
        file.digits().get(),
        file.step_size(),
        file.window_size().clamp(1, 21),
    );
    let codes: Vec<String> = merged.scratch.iter().map(|c| format!("'{c:08}'")).collect();
    let _ = writeln!(
        out,
        "SELECT totp.admin_set_scratch({}, ARRAY[{}]::text[]);\nCOMMIT;",
        literal(user),
        codes.join(", ")
    );
    Ok(out)
}

fn run_psql(args: &Args, sql: &str) -> Result<(), String> {
    psql(args, sql).map(drop)
}

/// Runs psql with `sql` on its standard input; returns what it printed (unaligned, tuples only, fields
/// separated by a space), which may hold a secret.
fn psql(args: &Args, sql: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut cmd = Command::new(&args.psql);
    cmd.args(["-X", "-q", "-A", "-t", "-F", " ", "-v", "ON_ERROR_STOP=1"]);
    if let Some(conninfo) = &args.conninfo {
        cmd.args(["-d", conninfo]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.psql))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(sql.as_bytes())
            .map_err(|e| format!("cannot write to psql: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("psql: {e}"))?;
    let stdout = Zeroizing::new(out.stdout);
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("psql failed ({}); nothing was changed", out.status))
    }
}

fn export(args: &Args) -> Result<(), String> {
    let path = args.files.first().ok_or("no FILE")?;
    let sql = format!(
        "SELECT kind, algorithm, secret_hex, digits, period, window_size, hotp_next FROM totp.admin_export({}, {});",
        literal(&args.user),
        literal(args.label())
    );
    let out = psql(args, &sql)?;
    let text = std::str::from_utf8(&out).map_err(|_| "psql printed something that is not UTF-8")?;
    let file = exported_file(text.trim())
        .ok_or_else(|| format!("{} has no active token {:?}", args.user, args.label()))?;
    Store::create(path, &file.to_bytes(), 0o400, &Policy::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

/// A google-authenticator file from one row of totp.admin_export (`kind algorithm hex digits period window
/// next`), or None when there is no such row or it does not make sense.
fn exported_file(row: &str) -> Option<SecretFile> {
    let fields: Vec<&str> = row.split(' ').collect();
    let [kind, algorithm, hex, digits, period, window, next] = fields.as_slice() else {
        return None;
    };
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let mut file = SecretFile::new(SecretKey::new(bytes?)).ok()?;
    match *kind {
        "totp" => {
            file.set_totp_auth(true);
            file.set_disallow_reuse(Some(Vec::new()));
        }
        "hotp" => file.set_hotp_counter(Some(next.parse().ok()?)),
        _ => return None,
    }
    let algorithm = Algorithm::from_name(algorithm)?;
    file.set_algorithm((algorithm != Algorithm::Sha1).then_some(algorithm));
    let digits = Digits::new(digits.parse().ok()?)?;
    file.set_digits((digits != Digits::SIX).then_some(digits));
    let period: u32 = period.parse().ok()?;
    if period != 30 && !file.set_step_size(Some(period)) {
        return None;
    }
    file.set_window_size(Some(window.parse().ok()?)).then_some(file)
}

/// What psql printed, as text.
fn psql_text(args: &Args, sql: &str) -> Result<String, String> {
    let out = psql(args, sql)?;
    String::from_utf8(out.to_vec()).map_err(|_| "psql printed something that is not UTF-8".to_owned())
}

/// disable, reset, unlock or audit; returns what to print.
fn change(args: &Args) -> Result<String, String> {
    let user = literal(&args.user);
    let enrolled = || -> Result<(), String> {
        let label_clause = match &args.label {
            Some(label) => format!(" WHERE label = {}", literal(label)),
            None => String::new(),
        };
        let count = psql_text(
            args,
            &format!("SELECT count(*) FROM totp.status({user}){label_clause};"),
        )?;
        match (count.trim(), &args.label) {
            ("0", None) => Err(format!("{} is not enrolled in the fleet database", args.user)),
            ("0", Some(label)) => Err(format!("{} has no token {label:?}", args.user)),
            _ => Ok(()),
        }
    };
    match args.action {
        Action::Disable => {
            enrolled()?;
            let label = args.label.as_deref().map_or_else(|| "NULL".to_owned(), literal);
            psql_text(args, &format!("SELECT totp.admin_disable({user}, {label});"))?;
            Ok(match &args.label {
                Some(l) => format!(
                    "disabled {}'s token {l:?}; every host refuses it at the next attempt\n",
                    args.user
                ),
                None => format!(
                    "disabled {}; every host refuses them at the next attempt\n",
                    args.user
                ),
            })
        }
        Action::Reset => match psql_text(args, &format!("SELECT totp.admin_reset({user});"))?.trim() {
            "t" => Ok(format!(
                "reset {}: no token and no scratch code left; they enroll again (totp-enroll --store pamd)\n",
                args.user
            )),
            _ => Err(format!("{} is not enrolled in the fleet database", args.user)),
        },
        Action::Unlock => {
            enrolled()?;
            psql_text(args, &format!("SELECT totp.admin_unlock({user});"))?;
            Ok(format!(
                "unlocked {}: failure ceiling and throttling cleared\n",
                args.user
            ))
        }
        Action::Audit => audit(args),
        Action::Import | Action::Export => Err("not a change".into()),
    }
}

/// One row of totp.event as `audit` shows it.
#[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
struct Event {
    at: String,
    host_role: String,
    rhost: String,
    service: String,
    outcome: String,
    detail: Option<String>,
}

fn audit(args: &Args) -> Result<String, String> {
    let sql = format!(
        "SELECT coalesce(json_agg(e ORDER BY e.t), '[]') FROM (
           SELECT at AS t, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS\"Z\"') AS at, host_role, rhost,
                  service, outcome, detail
           FROM totp.event WHERE username = {} ORDER BY at DESC LIMIT {}) AS e;",
        literal(&args.user),
        args.limit
    );
    let events: Vec<Event> = serde_json::from_str(psql_text(args, &sql)?.trim())
        .map_err(|e| format!("cannot read the audit rows: {e}"))?;
    if args.json {
        #[derive(serde::Serialize)]
        struct AuditJson<'a> {
            user: &'a str,
            events: &'a [Event],
        }
        return serde_json::to_string(&AuditJson {
            user: &args.user,
            events: &events,
        })
        .map(|text| text + "\n")
        .map_err(|e| format!("cannot format the JSON output: {e}"));
    }
    Ok(audit_text(&events))
}

/// One line per event: time, host role, service, source, outcome and detail.
fn audit_text(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let rhost = if e.rhost.is_empty() { "-" } else { &e.rhost };
        let _ = writeln!(
            out,
            "{} {} {} {} {} {}",
            e.at,
            e.host_role,
            e.service,
            rhost,
            e.outcome,
            e.detail.as_deref().unwrap_or("-")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn file(body: &str) -> SecretFile {
        SecretFile::parse(format!("JBSWY3DPEHPK3PXP\n{body}").as_bytes()).unwrap()
    }

    #[test]
    fn merging_takes_the_highest_counter_and_drops_scratch_codes_used_anywhere() {
        let m = merge(vec![
            file("\" HOTP_COUNTER 5\n11111111\n22222222\n33333333\n"),
            file("\" HOTP_COUNTER 9\n11111111\n33333333\n"),
            file("\" HOTP_COUNTER 7\n22222222\n33333333\n11111111\n"),
        ])
        .unwrap();
        assert_eq!(m.file.hotp_counter(), Some(9));
        assert_eq!(m.scratch, [11111111, 33333333]);
    }

    #[test]
    fn different_secrets_or_modes_are_refused() {
        let other = SecretFile::parse(b"GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n").unwrap();
        assert!(merge(vec![file("\" TOTP_AUTH\n"), other]).is_err());
        assert!(merge(vec![file("\" TOTP_AUTH\n"), file("\" HOTP_COUNTER 1\n")]).is_err());
    }

    #[test]
    fn the_sql_quotes_names_and_never_holds_the_base32_secret() {
        let m = merge(vec![file("\" TOTP_AUTH\n\" WINDOW_SIZE 5\n12345678\n")]).unwrap();
        let sql = sql("o'brien", "phone", &m).unwrap();
        assert!(sql.contains("admin_add_token('o''brien', 'phone', decode('48656c6c6f21deadbeef', 'hex'), 'totp', 'SHA1', 6, 30, 5, 0)"), "{}", sql.as_str());
        assert!(sql.contains("admin_set_scratch('o''brien', ARRAY['12345678']::text[])"));
        assert!(!sql.contains("JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn audit_rows_read_from_psqls_json_and_print_one_line_each() {
        let rows: Vec<Event> = serde_json::from_str(
            r#"[{"t":"x","at":"2026-12-04 21:00:00.000Z","host_role":"host1","rhost":"192.0.2.7","service":"sshd","outcome":"accepted","detail":"totp"},
                {"t":"y","at":"2026-12-04 21:01:00.000Z","host_role":"admin1","rhost":"","service":"totp-enroll","outcome":"unlocked","detail":null}]"#,
        )
        .unwrap();
        assert_eq!(
            audit_text(&rows),
            "2026-12-04 21:00:00.000Z host1 sshd 192.0.2.7 accepted totp\n\
             2026-12-04 21:01:00.000Z admin1 totp-enroll - unlocked -\n"
        );
    }

    #[test]
    fn an_exported_row_becomes_a_file_the_parser_reads_back() {
        let file = exported_file("totp SHA1 48656c6c6f21deadbeef 6 30 3 0").unwrap();
        let back = SecretFile::parse(&file.to_bytes()).unwrap();
        assert_eq!(back.secret().as_bytes(), b"Hello!\xde\xad\xbe\xef");
        assert!(back.totp_auth() && back.disallow_reuse().is_some());
        let hotp = exported_file("hotp SHA256 48656c6c6f21deadbeef 8 30 5 42").unwrap();
        assert_eq!(hotp.hotp_counter(), Some(42));
        assert_eq!(hotp.digits().get(), 8);
        assert!(exported_file("").is_none());
        assert!(exported_file("totp MD5 4865 6 30 3 0").is_none());
    }

    #[test]
    fn the_command_line_needs_a_user_and_a_file() {
        let argv = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert!(parse(&argv("import alice")).is_err());
        assert!(parse(&argv("export alice f g")).is_err());
        assert!(parse(&argv("delete alice f")).is_err());
        assert!(parse(&argv("import --bogus alice f")).is_err());
        let a = parse(&argv("import --label fob alice a b")).unwrap();
        assert_eq!((a.label(), a.files.len()), ("fob", 2));
        assert!(parse(&argv("import --prefer c alice a b")).is_err());
        assert!(parse(&argv("export --prefer a alice a")).is_err());
        assert_eq!(
            parse(&argv("import --prefer b alice a b")).unwrap().prefer,
            Some(PathBuf::from("b"))
        );
        assert!(parse(&argv("disable alice f")).is_err(), "no FILE for disable");
        assert!(
            parse(&argv("reset --label fob alice")).is_err(),
            "reset is for the whole user"
        );
        assert!(parse(&argv("unlock --json alice")).is_err());
        let a = parse(&argv("audit --json --limit 5 alice")).unwrap();
        assert_eq!((a.action, a.json, a.limit), (Action::Audit, true, 5));
        assert!(parse(&argv("audit --limit 0 alice")).is_err());
        let a = parse(&argv("disable --label phone alice")).unwrap();
        assert_eq!((a.action, a.label.as_deref()), (Action::Disable, Some("phone")));
    }

    #[test]
    fn given_prefer_then_its_secret_wins_and_the_files_with_another_are_left_out() {
        let other = || SecretFile::parse(b"GEZDGNBVGY3TQOJQ\n\" HOTP_COUNTER 9\n").unwrap();
        let mut files = vec![
            (PathBuf::from("a"), other()),
            (PathBuf::from("b"), file("\" HOTP_COUNTER 3\n")),
            (PathBuf::from("c"), file("\" HOTP_COUNTER 5\n")),
        ];
        let dropped = preferred_first(&mut files, Path::new("b"));
        assert_eq!(dropped, vec![PathBuf::from("a")]);
        let names: Vec<_> = files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(names, vec![PathBuf::from("b"), PathBuf::from("c")]);
        let merged = merge(files.into_iter().map(|(_, f)| f).collect()).unwrap();
        assert_eq!(merged.file.hotp_counter(), Some(5));
        assert_eq!(merged.file.secret().as_bytes(), file("").secret().as_bytes());
    }
}
