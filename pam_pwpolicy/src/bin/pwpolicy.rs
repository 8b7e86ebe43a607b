//! `pwpolicy`: the admin CLI (check, explain, build-blocklist). Filled in by issues 4 and 7.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("pwpolicy: error: not implemented yet");
    }
    std::process::ExitCode::from(2)
}
