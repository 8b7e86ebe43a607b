//! Whose secret file `totp-enroll` works on, where it is, and who asks: from the flags (`--user`, `-s`,
//! `--passwd-file`), the process's user ids and the account database. It owns the rule that only root acts
//! for another user; it must not touch the secret file.

use crate::error::Error;
use crate::flags::Args;
use crate::secret::Owner;
use crate::system::{self, Account};
use std::path::PathBuf;

/// Whose file, where, and who the caller is.
#[derive(Debug)]
pub struct Target {
    /// The target account's name.
    pub name: String,
    /// The secret file.
    pub path: PathBuf,
    /// Who must own the file, and whose filesystem ids to act with (root acting for another user).
    pub owner: Owner,
    /// Caller's real uid.
    pub caller_uid: u32,
    /// Caller's name, for the audit line.
    pub caller: String,
    /// The account database.
    pub passwd: PathBuf,
}

/// The target of this run.
pub fn resolve(args: &Args) -> Result<Target, Error> {
    let passwd = PathBuf::from(args.passwd.as_deref().unwrap_or("/etc/passwd"));
    let (real, effective) = system::uids().map_err(Error::Ids)?;
    let lookup = |pred: &dyn Fn(&Account) -> bool| {
        system::find_account(&passwd, pred).map_err(|source| Error::Accounts {
            path: passwd.clone(),
            source,
        })
    };
    let me = lookup(&|a| a.uid == real)?;
    let caller = me
        .as_ref()
        .map(|a| a.name.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| format!("uid{real}"));
    if let Some(name) = &args.user {
        let account = lookup(&|a| &a.name == name)?.ok_or_else(|| Error::NoSuchUser {
            name: name.clone(),
            passwd: passwd.clone(),
        })?;
        if account.uid != real && (effective != 0 || real != 0) {
            return Err(Error::NotRoot { name: name.clone() });
        }
        let path = args
            .secret
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| account.home.join(".google_authenticator"));
        let owner = Owner {
            uid: account.uid,
            act_as: (account.uid != real).then_some((account.uid, account.gid)),
        };
        return Ok(Target {
            name: account.name,
            path,
            owner,
            caller_uid: real,
            caller,
            passwd,
        });
    }
    let path = match &args.secret {
        Some(s) => PathBuf::from(s),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .or_else(|| me.as_ref().map(|a| a.home.clone()))
                .ok_or(Error::NoHome)?;
            home.join(".google_authenticator")
        }
    };
    Ok(Target {
        name: caller.clone(),
        path,
        owner: Owner {
            uid: real,
            act_as: None,
        },
        caller_uid: real,
        caller,
        passwd,
    })
}
