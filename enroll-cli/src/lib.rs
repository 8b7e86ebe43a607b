//! `totp-enroll`: what a user runs once to set up pam_totp (the replacement for the `google-authenticator`
//! command), and what root runs to enroll someone else; `src/main.rs` only calls [`main`].
//!
//! It owns the user-facing flow: parse the flags ([`flags`], one table), then enroll ([`enroll`](mod@enroll):
//! google-authenticator's questions, the otpauth URI and QR code ([`qr`]), a confirmed code), show or renew
//! an existing file ([`manage`]), enroll or show tokens through pam-totpd (`--store pamd`, `fleet`), or check
//! a configuration ([`doctor`]). Secret files are opened and written
//! only through [`secret`] (pam_totp's store, with the module's checks and lock); failures are one
//! [`Error`] type printed as `error:`/`hint:`. It must not link libpam (pam_totp is used with its `module`
//! feature off), must not print the secret anywhere but the terminal (or `--json` on request), and never
//! logs it.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod admin;
pub mod doctor;
mod enroll;
pub mod error;
pub mod flags;
mod fleet;
mod manage;
pub mod qr;
mod secret;
pub mod system;
mod target;
mod term;

pub use error::Error;

use flags::Command;
use std::path::Path;
use std::process::ExitCode;
use term::stdout;

/// Default number of scratch codes.
pub const DEFAULT_SCRATCH_CODES: u32 = 5;

/// The whole program: `argv` without the program name.
pub fn main(argv: &[String]) -> ExitCode {
    // `doctor` has its own options (see doctor/mod.rs); everything else goes through the flag table.
    if argv.first().map(String::as_str) == Some("doctor") {
        return doctor::run(argv.get(1..).unwrap_or_default());
    }
    // `admin` (fleet database import, docs/fleet.md) likewise parses its own arguments (admin.rs).
    if argv.first().map(String::as_str) == Some("admin") {
        return admin::run(argv.get(1..).unwrap_or_default());
    }
    match run(argv) {
        Ok(code) => code,
        Err(e) => e.report(),
    }
}

fn run(argv: &[String]) -> Result<ExitCode, Error> {
    let args = flags::parse(argv)?;
    if args.help {
        stdout(&flags::help_for(args.command));
        return Ok(ExitCode::SUCCESS);
    }
    if args.version {
        stdout(&format!("totp-enroll {}\n", env!("CARGO_PKG_VERSION")));
        return Ok(ExitCode::SUCCESS);
    }
    if args.print_man {
        stdout(&flags::man_page());
        return Ok(ExitCode::SUCCESS);
    }
    if args.print_completion.is_some() {
        stdout(&flags::bash_completion());
        return Ok(ExitCode::SUCCESS);
    }
    let target = target::resolve(&args)?;
    match args.command {
        Command::Enroll if args.pamd => fleet::enroll(&args, &target),
        Command::Status if args.pamd => fleet::status(&args, &target),
        Command::Enroll => enroll::enroll(&args, &target),
        Command::Status => manage::status(&args, &target),
        Command::NewScratchCodes => manage::new_scratch_codes(&args, &target),
        Command::StateToFile => manage::state_to_file(&args, &target),
    }
}

/// `n` distinct random scratch codes.
pub(crate) fn scratch_codes(n: u32) -> Result<Vec<u32>, Error> {
    let mut codes: Vec<u32> = Vec::new();
    while codes.len() < n as usize {
        let c = system::random_scratch_code().map_err(Error::Random)?;
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    Ok(codes)
}

/// Sends the audit line; a failure is a warning (nothing else is affected).
pub(crate) fn audit(args: &flags::Args, message: &str) {
    let socket = Path::new(args.log_socket.as_deref().unwrap_or("/dev/log"));
    if let Err(e) = system::audit(socket, message) {
        eprintln!(
            "totp-enroll: warning: the audit line was not logged ({}: {e}); nothing else is affected",
            socket.display()
        );
    }
}
