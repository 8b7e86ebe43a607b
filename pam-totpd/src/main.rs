//! pam-totpd: the fleet backend of pam_totp. It listens on a Unix socket (default /run/pam-totpd/socket), checks
//! who is asking with SO_PEERCRED, and passes each probe, verify, enroll or status request to PostgreSQL
//! (totp.probe / totp.verify / totp.enroll_self / totp.status, see sql/schema.sql), where the verdict is decided
//! and recorded. It is the only part of the project that links a
//! PostgreSQL client; it holds no secret and caches nothing that could change a decision. Every error or unknown
//! outcome is `unavailable` or a refusal, never `accepted`. docs/fleet.md and docs/pamd-protocol.md describe it.
#![forbid(unsafe_code)]

mod config;
mod db;
mod server;

use config::Command;
use pam_totp::pamd::{self, Reply, Request};
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

/// One log line on stderr (journald under systemd). Never called with a code or a secret.
#[allow(clippy::print_stderr)]
pub(crate) fn log(message: std::fmt::Arguments<'_>) {
    eprintln!("pam-totpd: {message}");
}

fn main() -> ExitCode {
    let command = match config::parse(std::env::args().skip(1), std::env::var("PAM_TOTPD_CONNINFO").ok()) {
        Ok(command) => command,
        Err(e) => {
            log(format_args!("{e}\n{}", config::USAGE));
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve(config) => serve(&config),
        Command::Ask {
            socket,
            deadline,
            request,
        } => ask(&socket, deadline, request),
        Command::Help => print(config::USAGE),
        Command::Version => print(concat!("pam-totpd ", env!("CARGO_PKG_VERSION"))),
    }
}

fn serve(config: &config::Config) -> ExitCode {
    let pool = match db::Pool::start(config) {
        Ok(pool) => Arc::new(pool),
        Err(e) => {
            log(format_args!("{e}"));
            return ExitCode::from(1);
        }
    };
    let listener = match server::bind(&config.socket) {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!("cannot listen on {}: {e}", config.socket.display()));
            return ExitCode::from(1);
        }
    };
    log(format_args!(
        "listening on {} ({} database connections)",
        config.socket.display(),
        config.pool
    ));
    server::serve(&listener, &pool, config.max_clients);
    ExitCode::from(1)
}

#[allow(clippy::print_stdout)]
fn print(text: &str) -> ExitCode {
    println!("{text}");
    ExitCode::SUCCESS
}

/// `pam-totpd ask ...`: prints the reply; exit 0 for accepted/enrolled, 1 for refused/not-enrolled,
/// 2 for unavailable. A verify's code is read from stdin so that it never appears in `ps`.
#[allow(clippy::print_stdout)]
fn ask(socket: &std::path::Path, deadline: std::time::Duration, mut request: Request) -> ExitCode {
    if let Request::Verify { code, .. } = &mut request {
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return ExitCode::from(2);
        }
        *code = line.trim().to_owned();
    }
    let reply = pamd::ask(socket, &request, deadline);
    println!("{reply:?}");
    ExitCode::from(match reply {
        Reply::Accepted { .. } | Reply::Enrolled | Reply::Added { .. } | Reply::Tokens { .. } => 0,
        Reply::Refused { .. } | Reply::NotEnrolled => 1,
        Reply::Unavailable { .. } => 2,
    })
}
