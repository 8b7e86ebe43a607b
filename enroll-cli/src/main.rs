//! `totp-enroll`: what a user runs once to set up pam_totp. Filled in by issue 5.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("totp-enroll: error: not implemented yet");
    }
    std::process::ExitCode::from(2)
}
