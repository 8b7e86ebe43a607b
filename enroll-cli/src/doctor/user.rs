//! Per-user checks (`--user NAME`): the secret file the module would open for that user, checked with
//! pam_totp's own code (`store::Store::open_locked` for symlink/owner/mode/size, `secret_file::SecretFile`
//! for the content), the directory the module rewrites it in, and the scratch codes left.
//!
//! The path, the owner and the mode limit are worked out as the module does (`secret=`, `user=`,
//! `no_strict_owner`, `allowed_perm=` from the sshd stack's pam_totp line). The module opens and rewrites the
//! file with the owner's filesystem ids; the doctor (usually root) cannot switch ids (that needs the FFI crate), so it
//! checks the permission bits for that uid/gid instead. Nothing from the file is ever printed.
//!
//! With `state=` the secret file is only read: its directory need not be writable; instead the state
//! directory must exist as root's, mode 0700, and a state file there must pass the module's checks, parse,
//! and belong to the user (its used scratch codes are subtracted from those left).

use super::report::Finding;
use pam_totp::args::{expand_secret_path, FixedUser, Options};
use pam_totp::backend::StateTarget;
use pam_totp::secret_file::SecretFile;
use pam_totp::state_file::{effective, State};
use pam_totp::store::{Policy, Store, StoreError};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// How long the doctor waits for a login that holds the file's lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);
/// This many scratch codes or fewer is worth a warning.
const FEW_SCRATCH_CODES: usize = 2;

/// One /etc/passwd entry (the fields the checks need).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Numeric uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// Parses passwd(5) text.
pub fn parse_passwd(text: &str) -> Vec<Account> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            match f.as_slice() {
                [name, _, uid, gid, _, home, ..] if !name.starts_with('#') => Some(Account {
                    name: (*name).to_owned(),
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                    home: (*home).to_owned(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// Can `uid`/`gid` do `want` (a 3-bit rwx mask) on a file with this mode and owner? Root can do anything.
pub fn permits(mode: u32, owner: u32, group: u32, uid: u32, gid: u32, want: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let bits = if owner == uid {
        (mode >> 6) & 7
    } else if group == gid {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

/// The per-user findings for `account`, with the module options `opts` and the accounts of `passwd`.
/// `in_stack`: pam_totp is in the sshd stack (else a missing file only means "not enrolled yet").
pub fn check(account: &Account, opts: &Options, accounts: &[Account], in_stack: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let owner = match &opts.user {
        None => account.clone(),
        Some(fixed) => {
            let found = accounts.iter().find(|a| match fixed {
                FixedUser::Name(n) => &a.name == n,
                FixedUser::Uid(u) => a.uid == *u,
            });
            match found {
                Some(a) => a.clone(),
                None => {
                    out.push(Finding::error(
                        "user-fixed-user-unknown",
                        format!("pam_totp's user={fixed:?} does not exist: the module refuses every login"),
                        "create that account or correct user= on the pam_totp line",
                    ));
                    return out;
                }
            }
        }
    };
    let home = Some(account.home.as_str()).filter(|h| !h.is_empty() && opts.user.is_none());
    let path = match expand_secret_path(&opts.secret, &account.name, home) {
        Ok(p) => p,
        Err(e) => {
            out.push(Finding::error(
                "user-secret-path",
                format!(
                    "secret={} cannot be expanded for {}: {e}: the module refuses the login",
                    opts.secret, account.name
                ),
                "correct secret= on the pam_totp line",
            ));
            return out;
        }
    };
    let policy = Policy {
        expected_owner: (!opts.no_strict_owner).then_some(owner.uid),
        allowed_perm: opts.allowed_perm,
        lock_timeout: LOCK_WAIT,
        ..Policy::default()
    };
    let who = &account.name;
    let state = opts.state.as_deref().map(|t| expand_secret_path(t, who, None));
    let state = match state {
        Some(Err(e)) => {
            out.push(Finding::error(
                "user-state-path",
                format!("state= cannot be expanded for {who}: {e}: the module refuses the login"),
                "correct state= on the pam_totp line",
            ));
            return out;
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let locked = match Store::open_locked(&path, &policy) {
        Ok(l) => l,
        Err(e) => {
            out.push(store_finding(&e, &path, who, &owner, opts, in_stack));
            return out;
        }
    };
    let (uid, gid) = locked.owner();
    let mode = locked.mode();
    if !permits(mode, uid, gid, owner.uid, owner.gid, 4) {
        out.push(
            Finding::error(
                "user-secret-mode",
                format!("mode {mode:04o} does not let {} (uid {}) read the secret file, and the module reads it as that user", owner.name, owner.uid),
                format!("chmod 600 {path}"),
            )
            .at(path.clone(), None),
        );
    }
    match SecretFile::parse(locked.bytes()) {
        Err(e) => out.push(
            Finding::error(
                "user-secret-unparsable",
                format!("not a valid secret file ({e}): the module refuses {who}'s logins"),
                format!("re-enroll: `totp-enroll --user {who} -s {path}` (the old file is replaced)"),
            )
            .at(path.clone(), None),
        ),
        Ok(file) => {
            let file = match &state {
                Some(state_path) => {
                    let (found, findings) = state_check(state_path, who, &file);
                    out.extend(findings);
                    effective(&file, found.as_ref())
                }
                None => file,
            };
            let n = file.scratch_codes().count();
            if n <= FEW_SCRATCH_CODES {
                out.push(
                    Finding::warning(
                        "user-scratch-codes-low",
                        format!(
                            "{who} has {n} scratch code{} left: a lost phone then means a lockout",
                            if n == 1 { "" } else { "s" }
                        ),
                        format!("totp-enroll new-scratch-codes --user {who} -s {path}"),
                    )
                    .at(path.clone(), None),
                );
            }
            for w in file.warnings() {
                out.push(
                    Finding::warning(
                        "user-secret-stray-line",
                        format!("secret file: {w}"),
                        "remove that line",
                    )
                    .at(path.clone(), None),
                );
            }
        }
    }
    drop(locked);
    if state.is_none() {
        if let Some(f) = dir_finding(&path, &owner, opts) {
            out.push(f);
        }
    }
    out
}

/// With `state=`: the state directory (root's, 0700) and the user's state file, if there is one yet; returns
/// the state when it is usable and belongs to this secret.
fn state_check(path: &str, who: &str, secret: &SecretFile) -> (Option<State>, Vec<Finding>) {
    let mut out = Vec::new();
    if let Some(dir) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        let shown = dir.display().to_string();
        match fs::metadata(dir) {
            Err(e) => out.push(
                Finding::error(
                    "user-state-dir",
                    format!("the state directory cannot be used ({e}): the module refuses every code it would have to record"),
                    format!("install -d -m 0700 -o root -g root {shown}"),
                )
                .at(shown.clone(), None),
            ),
            Ok(m) if m.uid() != 0 || m.mode() & 0o077 != 0 || !m.is_dir() => out.push(
                Finding::error(
                    "user-state-dir",
                    format!(
                        "the state directory is mode {:04o}, uid {}: it must be root's and mode 0700, or others could read or plant state files",
                        m.mode() & 0o7777,
                        m.uid()
                    ),
                    format!("chown root:root {shown} && chmod 0700 {shown}"),
                )
                .at(shown.clone(), None),
            ),
            Ok(_) => {}
        }
    }
    let policy = Policy {
        lock_timeout: LOCK_WAIT,
        ..StateTarget::new(path.to_owned()).policy
    };
    let at = |f: Finding| f.at(path.to_owned(), None);
    let found = match Store::open_locked(path, &policy) {
        Err(StoreError::NotFound { .. }) => return (None, out),
        Err(e) => {
            out.push(at(Finding::error(
                "user-state-file",
                format!("{}: {who} cannot log in", e.about("state file")),
                format!("remove it (the next login starts afresh from the secret file): rm {path}"),
            )));
            return (None, out);
        }
        Ok(locked) => State::parse(locked.bytes()),
    };
    match found {
        Err(e) => out.push(at(Finding::error(
            "user-state-file",
            format!("{e}: {who} cannot log in"),
            format!("remove it (the next login starts afresh from the secret file): rm {path}"),
        ))),
        Ok(state) if state.user != who => out.push(at(Finding::error(
            "user-state-file",
            format!(
                "the state file belongs to another user: {who} cannot log in (does state= use ${{USER}}?)"
            ),
            "use ${USER} in state= on the pam_totp line",
        ))),
        Ok(state) if state.belongs_to(who, secret.secret()) => return (Some(state), out),
        Ok(_) => {}
    }
    (None, out)
}

/// The module rewrites the file next to itself: the directory must be readable, writable and searchable by
/// the file's owner (the module's filesystem uid).
fn dir_finding(path: &str, owner: &Account, opts: &Options) -> Option<Finding> {
    let dir = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty())?;
    let meta = fs::metadata(dir).ok()?;
    if permits(meta.mode(), meta.uid(), meta.gid(), owner.uid, owner.gid, 7) {
        return None;
    }
    let shown = dir.display();
    let msg = format!(
        "the directory (mode {:04o}, uid {}) is not writable by {} (uid {}): the module cannot record a used code, a counter or a rate-limit entry{}",
        meta.mode() & 0o7777,
        meta.uid(),
        owner.name,
        owner.uid,
        if opts.allow_readonly {
            " (allow_readonly is set: codes are still accepted when no replay is possible)"
        } else {
            ", so it refuses the login (state-not-saved)"
        }
    );
    let fix = format!(
        "chown {}: {shown} && chmod u+rwx {shown}, or point secret= at a directory the owner can write",
        owner.name
    );
    let f = if opts.allow_readonly {
        Finding::warning("user-secret-dir-not-writable", msg, fix)
    } else {
        Finding::error("user-secret-dir-not-writable", msg, fix)
    };
    Some(f.at(shown.to_string(), None))
}

fn store_finding(
    e: &StoreError,
    path: &str,
    who: &str,
    owner: &Account,
    opts: &Options,
    in_stack: bool,
) -> Finding {
    let at = |f: Finding| f.at(path.to_owned(), None);
    match e {
        StoreError::NotFound { .. } if !in_stack => at(Finding::warning(
            "user-secret-missing",
            format!("{who} is not enrolled (no secret file); enroll before pam_totp goes into the stack"),
            format!("totp-enroll --user {who} -s {path}"),
        )),
        StoreError::NotFound { .. } if opts.nullok => at(Finding::warning(
            "user-secret-missing",
            format!("{who} is not enrolled (no secret file); with nullok the stack decides what happens to them"),
            format!("totp-enroll --user {who} -s {path}"),
        )),
        StoreError::NotFound { .. } => at(Finding::error(
            "user-secret-missing",
            format!("the secret file does not exist: {who} cannot log in (pam_totp has no nullok)"),
            format!("totp-enroll --user {who} -s {path}"),
        )),
        StoreError::Symlink { .. } => at(Finding::error(
            "user-secret-symlink",
            format!("the secret file is a symbolic link: the module refuses it (O_NOFOLLOW) and {who} cannot log in"),
            format!("replace the link by the file itself: cp --remove-destination \"$(readlink -f {path})\" {path}"),
        )),
        StoreError::NotRegular { kind, .. } => at(Finding::error(
            "user-secret-not-regular",
            format!("the secret file is a {kind}, not a file: {who} cannot log in"),
            format!("remove it and run `totp-enroll --user {who} -s {path}`"),
        )),
        StoreError::BadOwner { found, expected, .. } => at(Finding::error(
            "user-secret-owner",
            format!("the secret file is owned by uid {found}, the module requires uid {expected} ({}): {who} cannot log in", owner.name),
            format!("chown {}: {path}", owner.name),
        )),
        StoreError::BadMode { mode, allowed, .. } => at(Finding::error(
            "user-secret-mode",
            format!("the secret file has mode {mode:04o}, more than allowed_perm {allowed:04o}: the module refuses it and {who} cannot log in"),
            format!("chmod 600 {path}"),
        )),
        StoreError::Empty { .. } | StoreError::TooLarge { .. } | StoreError::ContainsNul { .. } => at(Finding::error(
            "user-secret-unparsable",
            format!("{e}: the module refuses {who}'s logins"),
            format!("re-enroll: `totp-enroll --user {who} -s {path}`"),
        )),
        StoreError::LockTimeout { .. } => at(Finding::warning(
            "user-secret-locked",
            format!("{e}: a login holds it; run the doctor again"),
            "",
        )),
        _ => at(Finding::error(
            "user-secret-unreadable",
            format!("{e}: the module cannot read it either unless the owner's rights differ from the doctor's"),
            format!("check {path} and its directories (run the doctor as root)"),
        )),
    }
}
