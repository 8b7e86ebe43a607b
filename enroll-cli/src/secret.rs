//! `totp-enroll`'s access to secret files: every open, lock, read, create and replace goes through
//! `pam_totp::store`, with the module's checks (owner, permission bits, size, no symlink, no FIFO) and, when
//! root acts for another user, with that user's filesystem ids (`pam_ffi::os::FsIdGuard`), as the module
//! does: a path the user controls can then only lead where the user may write, and whatever is created is
//! the user's. It must not open files itself or know the file format beyond parsing it with `SecretFile`.
//! pam_totp's `state=` files (root's) are opened the same way, as the caller, with the module's state checks.

use crate::Error;
use pam_ffi::os::FsIdGuard;
use pam_totp::backend::StateTarget;
use pam_totp::secret_file::SecretFile;
use pam_totp::state_file::State;
use pam_totp::store::{Locked, Policy, Store, StoreError};
use std::path::Path;

/// Whose file: the account that must own it, and the ids to act with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The uid the file must belong to (the module's default strict-owner check).
    pub uid: u32,
    /// The filesystem ids to switch to, when root acts for another user.
    pub act_as: Option<(u32, u32)>,
}

impl Owner {
    /// The checks pam_totp makes with its default options (`allowed_perm=0600`, strict owner).
    pub fn policy(&self) -> Policy {
        Policy {
            expected_owner: Some(self.uid),
            ..Policy::default()
        }
    }

    /// Runs `f` with the owner's filesystem ids when root acts for them, else as the caller.
    fn with_ids<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, Error> {
        let _guard = match self.act_as {
            Some((uid, gid)) => {
                Some(FsIdGuard::switch(uid, gid).map_err(|source| Error::ActAs { uid, source })?)
            }
            None => None,
        };
        Ok(f()?)
    }
}

/// Writes a new secret file at `path` with permission bits `mode`, owned by the owner.
pub fn create(owner: &Owner, path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    owner
        .with_ids(|| Store::create(path, bytes, mode, &owner.policy()))
        .map(drop)
}

/// Opens, checks, locks and parses the existing secret file at `path`; the lock lasts as long as the
/// returned [`Locked`].
pub fn open_locked(owner: &Owner, path: &Path) -> Result<(Locked, SecretFile), Error> {
    let locked = owner.with_ids(|| Store::open_locked(path, &owner.policy()))?;
    let parsed = SecretFile::parse(locked.bytes()).map_err(|e| Error::NotASecretFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok((locked, parsed))
}

/// Replaces the locked file's content (owner and mode kept), still under its lock.
pub fn replace(owner: &Owner, locked: &mut Locked, bytes: &[u8]) -> Result<(), Error> {
    owner.with_ids(|| locked.replace(bytes))
}

/// Writes a file that is not a secret file but holds the secret (the QR code SVG): created the same
/// crash-safe way, as the caller, mode 0600.
pub fn create_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let policy = Policy {
        max_size: u64::MAX,
        ..Policy::default()
    };
    Store::create(path, bytes, 0o600, &policy)?;
    Ok(())
}

/// Opens, checks (root's, mode 0600 at most, as pam_totp's `state=` requires), locks and parses a state
/// file; `None` when there is none.
pub fn open_state(path: &Path) -> Result<Option<(Locked, State)>, Error> {
    let policy = StateTarget::new(path.to_string_lossy().into_owned()).policy;
    let locked = match Store::open_locked(path, &policy) {
        Ok(l) => l,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let state = State::parse(locked.bytes()).map_err(|e| Error::NotASecretFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Some((locked, state)))
}
