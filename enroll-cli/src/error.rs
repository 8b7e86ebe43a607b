//! The one error type of `totp-enroll` and its printer: every failure prints a `totp-enroll: error:` line
//! saying what went wrong and a `totp-enroll: hint:` line saying what to do, and exits 2 for a usage error
//! (and when `doctor` cannot run), 1 for anything else. It owns the wording of messages and hints; it must
//! not decide anything (the callers choose the variant) and never carries the secret.

use crate::flags::UsageError;
use pam_ffi::os::FsIdError;
use pam_totp::store::StoreError;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Why `totp-enroll` stops.
#[derive(Debug)]
pub enum Error {
    /// The command line is wrong (exit 2).
    Usage(UsageError),
    /// The secret file was refused, or could not be read or written: the store's reason, which is the one
    /// pam_totp logs for the same file.
    Store(StoreError),
    /// The secret file's content does not parse.
    NotASecretFile {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// Root could not take the target user's filesystem ids.
    ActAs {
        /// The user's uid.
        uid: u32,
        /// What failed.
        source: FsIdError,
    },
    /// The account database could not be read.
    Accounts {
        /// The passwd file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `--user NAME` names no account.
    NoSuchUser {
        /// The name asked for.
        name: String,
        /// The passwd file searched.
        passwd: PathBuf,
    },
    /// A caller other than root asked to act for another user.
    NotRoot {
        /// The other user.
        name: String,
    },
    /// Neither `HOME` nor the account database gives a home directory, and no `-s`.
    NoHome,
    /// This process's own user ids could not be read.
    Ids(io::Error),
    /// `/dev/urandom` could not be read.
    Random(io::Error),
    /// Standard input could not be read.
    Stdin(io::Error),
    /// Standard input ended while a question was asked.
    NoAnswer,
    /// Standard input ended while a code from the app was expected; nothing was written.
    NoCode,
    /// The otpauth URI does not fit in a QR code.
    QrTooLong(String),
    /// Something the flags cannot cause (a bug).
    Bug(String),
    /// pam-totpd or the fleet database refused or could not answer (`--store pamd`).
    Fleet {
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
    },
    /// `doctor` could not run (a configuration it must read is missing or unreadable); exit 2, as a
    /// usage error, so that 1 keeps meaning "something is wrong with the configuration".
    Doctor(String),
}

impl Error {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Error::Usage(u) => u.hint.clone(),
            Error::Store(e) => store_hint(e),
            Error::NotASecretFile { .. } => {
                "see docs/secret-file-format.md, or enroll again with -f".to_owned()
            }
            Error::ActAs { .. } => "run it as root, or as the user".to_owned(),
            Error::Accounts { .. } => "check the path, its directory and their permissions".to_owned(),
            Error::NoSuchUser { .. } => "check the spelling; --user takes a login name".to_owned(),
            Error::NotRoot { name } => {
                format!("run it as root (sudo totp-enroll --user {name}), or let {name} run totp-enroll")
            }
            Error::NoHome => "set HOME, or give the file with -s FILE".to_owned(),
            Error::Ids(_) => "is /proc mounted?".to_owned(),
            Error::Random(_) => "is /dev mounted?".to_owned(),
            Error::Stdin(_) => "run it in a terminal".to_owned(),
            Error::NoAnswer => {
                "answer the questions with options: -t/-c, -d/-D, -w/-W, -r/-R or -u, and -f".to_owned()
            }
            Error::NoCode => "type the code your app shows, -1 to skip, or use -C".to_owned(),
            Error::QrTooLong(_) => "use a shorter --label or --issuer".to_owned(),
            Error::Bug(_) => "this is a bug; please report it".to_owned(),
            Error::Doctor(_) => "see totp-enroll doctor --help for where it reads from".to_owned(),
            Error::Fleet { hint, .. } => hint.clone(),
        }
    }

    /// Prints the `error:` and `hint:` lines to standard error and returns the exit status.
    pub fn report(&self) -> ExitCode {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "totp-enroll: error: {self}");
        let _ = writeln!(err, "totp-enroll: hint: {}", self.hint());
        match self {
            Error::Usage(_) | Error::Doctor(_) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(u) => write!(f, "{}", u.message),
            Error::Store(StoreError::NotFound { path }) => {
                write!(f, "no secret file at {}", path.display())
            }
            Error::Store(e) => write!(f, "{e}"),
            Error::NotASecretFile { path, reason } => {
                write!(f, "{} is not a valid secret file: {reason}", path.display())
            }
            Error::ActAs { uid, source } => write!(f, "cannot act as uid {uid}: {source}"),
            Error::Accounts { path, source } => {
                write!(f, "cannot read the account database {}: {source}", path.display())
            }
            Error::NoSuchUser { name, passwd } => {
                write!(f, "no user {name:?} in {}", passwd.display())
            }
            Error::NotRoot { name } => write!(f, "only root can enroll another user (--user {name})"),
            Error::NoHome => write!(f, "cannot find your home directory"),
            Error::Ids(e) => write!(f, "cannot read this process's user ids: {e}"),
            Error::Random(e) => write!(f, "cannot read /dev/urandom: {e}"),
            Error::Stdin(e) => write!(f, "cannot read standard input: {e}"),
            Error::NoAnswer => write!(f, "no answer on standard input"),
            Error::NoCode => write!(f, "no code on standard input; nothing was written"),
            Error::QrTooLong(m) | Error::Bug(m) | Error::Doctor(m) => write!(f, "{m}"),
            Error::Fleet { message, .. } => write!(f, "{message}"),
        }
    }
}

impl From<UsageError> for Error {
    fn from(u: UsageError) -> Self {
        Error::Usage(u)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// The store's refusals are pam_totp's: the hint says how to make the module accept the file.
fn store_hint(e: &StoreError) -> String {
    let path = e.path().display();
    match e {
        StoreError::NotFound { .. } => "run totp-enroll (without a command) to create one".to_owned(),
        StoreError::Symlink { .. } | StoreError::NotRegular { .. } => {
            "pam_totp refuses it too: remove it and enroll again".to_owned()
        }
        StoreError::BadMode { allowed, .. } => format!("pam_totp refuses it too: chmod {allowed:o} {path}"),
        StoreError::BadOwner { expected, .. } => {
            format!("pam_totp refuses it too: chown {expected} {path}, or enroll again")
        }
        StoreError::LockTimeout { .. } => "a login or another totp-enroll holds it; try again".to_owned(),
        _ => "check the path, its directory and their permissions".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_secret_file_gives_the_modules_reason_and_the_fix() {
        let e = Error::Store(StoreError::BadMode {
            path: PathBuf::from("/h/.google_authenticator"),
            mode: 0o644,
            allowed: 0o600,
        });
        assert!(
            e.to_string()
                .contains("permissions 0644 are more permissive than 0600"),
            "{e}"
        );
        assert_eq!(
            e.hint(),
            "pam_totp refuses it too: chmod 600 /h/.google_authenticator"
        );
        let missing = Error::Store(StoreError::NotFound {
            path: PathBuf::from("/h/f"),
        });
        assert_eq!(missing.to_string(), "no secret file at /h/f");
    }
}
