//! pam-totpd's command line: what to serve and where the database is, or a one-off question to a running daemon
//! (`pam-totpd ask ...`, for admins checking a host). Parsing only: nothing here opens a socket or a connection.

use pam_totp::pamd::{Request, DEFAULT_SOCKET};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const USAGE: &str = "usage:
  pam-totpd --help | --version
  pam-totpd [--socket PATH] --conninfo STRING [--pool N] [--deadline-ms N] [--max-clients N]
            [--tls-ca FILE] [--tls-cert FILE] [--tls-key FILE]
  pam-totpd ask [--socket PATH] [--deadline-ms N] probe USER
  pam-totpd ask [--socket PATH] [--deadline-ms N] verify USER [RHOST [SERVICE]]   (the code is read from stdin)
--conninfo may also come from the environment variable PAM_TOTPD_CONNINFO (keeps it out of `ps`).
TLS files default to ca.crt, client.crt and client.key in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).";

/// Client certificate, key and CA for TLS to PostgreSQL (PEM files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Everything the daemon needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub socket: PathBuf,
    /// A libpq-style connection string; several hosts with `target_session_attrs=read-write` for HA.
    pub conninfo: String,
    /// Persistent PostgreSQL connections (each used by one request at a time).
    pub pool: usize,
    /// The most a request may take from arrival to reply; after it, the client is told `unavailable`.
    pub deadline: Duration,
    /// Clients served at once; more are told `unavailable` at once.
    pub max_clients: usize,
    pub tls: TlsFiles,
}

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve(Config),
    /// Ask a running daemon (the code of a verify comes from stdin, filled in by main).
    Ask {
        socket: PathBuf,
        deadline: Duration,
        request: Request,
    },
    /// Print the usage on stdout.
    Help,
    /// Print the name and version on stdout.
    Version,
}

fn number(flag: &str, value: Option<String>) -> Result<u64, String> {
    value
        .as_deref()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{flag} needs a positive number"))
}

fn credential(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os("CREDENTIALS_DIRECTORY")?).join(name);
    path.exists().then_some(path)
}

/// Parses the arguments after the program name. `env_conninfo` is PAM_TOTPD_CONNINFO, if set.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_conninfo: Option<String>,
) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    match args.peek().map(String::as_str) {
        Some("--help" | "-h") => return Ok(Command::Help),
        Some("--version" | "-V") => return Ok(Command::Version),
        _ => {}
    }
    let ask = args.next_if(|a| a == "ask").is_some();
    let mut socket = PathBuf::from(DEFAULT_SOCKET);
    let mut conninfo = env_conninfo;
    let mut pool = 4;
    let mut deadline = Duration::from_millis(2000);
    let mut max_clients = 256;
    let mut tls = TlsFiles {
        ca: credential("ca.crt"),
        cert: credential("client.crt"),
        key: credential("client.key"),
    };
    let mut words = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--socket" => socket = args.next().ok_or("--socket needs a path")?.into(),
            "--conninfo" => conninfo = Some(args.next().ok_or("--conninfo needs a string")?),
            "--pool" => pool = number(&arg, args.next())? as usize,
            "--deadline-ms" => deadline = Duration::from_millis(number(&arg, args.next())?),
            "--max-clients" => max_clients = number(&arg, args.next())? as usize,
            "--tls-ca" => tls.ca = Some(args.next().ok_or("--tls-ca needs a file")?.into()),
            "--tls-cert" => tls.cert = Some(args.next().ok_or("--tls-cert needs a file")?.into()),
            "--tls-key" => tls.key = Some(args.next().ok_or("--tls-key needs a file")?.into()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => words.push(arg),
        }
    }
    if ask {
        let request = match words.as_slice() {
            [kind, user] if kind == "probe" => Request::Probe { user: user.clone() },
            [kind, user, rest @ ..] if kind == "verify" && rest.len() <= 2 => Request::Verify {
                user: user.clone(),
                code: String::new(),
                rhost: rest.first().cloned().unwrap_or_default(),
                service: rest.get(1).cloned().unwrap_or_else(|| "pam-totpd-ask".into()),
            },
            _ => return Err("ask needs `probe USER` or `verify USER [RHOST [SERVICE]]`".into()),
        };
        return Ok(Command::Ask {
            socket,
            deadline,
            request,
        });
    }
    if !words.is_empty() {
        return Err(format!("unexpected argument {}", words.join(" ")));
    }
    let conninfo = conninfo.ok_or("no --conninfo (or PAM_TOTPD_CONNINFO)")?;
    if tls.cert.is_some() != tls.key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    Ok(Command::Serve(Config {
        socket,
        conninfo,
        pool,
        deadline,
        max_clients,
        tls,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn serving_needs_a_conninfo_and_takes_it_from_the_environment() {
        assert!(parse(args(""), None).is_err());
        let Ok(Command::Serve(c)) = parse(args("--pool 2 --deadline-ms 500"), Some("host=db".into())) else {
            panic!("not a serve command");
        };
        assert_eq!(
            (c.conninfo.as_str(), c.pool, c.deadline),
            ("host=db", 2, Duration::from_millis(500))
        );
        assert_eq!(c.socket, PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn help_and_version_need_nothing_else() {
        assert_eq!(parse(args("--help"), None), Ok(Command::Help));
        assert_eq!(parse(args("-h"), None), Ok(Command::Help));
        assert_eq!(parse(args("--version"), None), Ok(Command::Version));
        assert!(parse(args("--pool 2 --help"), None).is_err());
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            "--pool 0 --conninfo x",
            "--pool",
            "--frobnicate",
            "stray --conninfo x",
            "--tls-cert c --conninfo x",
        ] {
            assert!(parse(args(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn ask_builds_a_probe_or_a_verify() {
        let Ok(Command::Ask { request, .. }) = parse(args("ask --socket /s probe alice"), None) else {
            panic!("not an ask command");
        };
        assert_eq!(request, Request::Probe { user: "alice".into() });
        let Ok(Command::Ask {
            request: Request::Verify { user, rhost, .. },
            ..
        }) = parse(args("ask verify bob 192.0.2.1"), None)
        else {
            panic!("not a verify");
        };
        assert_eq!((user.as_str(), rhost.as_str()), ("bob", "192.0.2.1"));
        assert!(parse(args("ask verify"), None).is_err());
    }
}
