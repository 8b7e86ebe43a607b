//! The `totp-enroll` binary: everything is in the library (`totp_enroll::main`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    totp_enroll::main(&argv)
}
