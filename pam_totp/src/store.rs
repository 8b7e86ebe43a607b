//! The secret file on disk (and, with `state=`, the state file, under the same rules): the only file I/O of
//! pam_totp, with the decoy file a refusal that wrote nothing rewrites ([`write_decoy`]). It owns opening the
//! file defensively (no symlink followed, no hang on a FIFO, checks on the open descriptor), an exclusive lock
//! held across the caller's read-verify-write, the atomic, crash-safe replacement of the file, and the
//! creation of a first file that never replaces one ([`Store::create_new`]). It works on raw bytes and must not
//! know the file format (that is `secret_file`), decide anything about codes, or switch user ids (the caller
//! wraps these calls in `pam_ffi::os::FsIdGuard`). The constraint that shaped it: pam_google_authenticator
//! has no lock, so parallel logins accept one code several times; a lock is useless if it sits on an inode
//! that a writer has already renamed away, so every waiter re-checks, once it holds the lock, that the path
//! still names the inode it locked, and starts again on the new file if not.
//!
//! # Protocol
//!
//! - [`Store::open_locked`] opens the path with `O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC`, checks
//!   the descriptor (regular file, owner, mode within `allowed_perm`, size), takes an exclusive `flock` (polled
//!   until [`Policy::lock_timeout`]), then compares the path's current device and inode with the descriptor's:
//!   if the file was replaced meanwhile it drops everything and starts again on the new file. Only then it
//!   reads the bytes (bounded) and checks them (not empty, not too large, no NUL byte).
//! - [`Store::open_unlocked`] opens, checks and reads the same way without locking (the module's first look,
//!   before the user types), and [`Locked::unlock`] releases a lock but keeps the descriptor and the bytes.
//!   [`Unlocked::relock`] takes the lock on that descriptor; if the path still names the inode and its size,
//!   `mtime` and `ctime` are unchanged, the bytes read before are current and are not read again; otherwise
//!   it starts over as `open_locked` does.
//! - [`Locked::replace`] writes a new file next to the old one, at the temporary name `<name>~totp`
//!   (`O_EXCL|O_NOFOLLOW`), locks it, checks that the name still is that inode, restores the original owner
//!   and permission bits, writes, `fsync`s, renames it over the path and `fsync`s the directory. The new
//!   inode is locked *before* it appears at the path, so a process that opens the new file waits for us, and
//!   one that waited on the old inode sees, after the re-check, that it must start again. The [`Locked`]
//!   then stands for the new file and can be replaced again.
//! - A crash at any instant leaves the old or the new file, never a torn or empty one. A writer killed
//!   between creating and renaming leaves its temporary file (a whole or partial copy of the secret, with
//!   the secret file's owner and mode). Something found at the temporary name is deleted only when it is not
//!   a regular file, or is one that nobody holds locked (a live writer holds the lock on its temporary file
//!   from just after creating it until the rename, and checks, once locked, that the name is still its
//!   inode); a locked one fails the replacement. So two writers never share the name, even when a writer that
//!   ignores the lock (google-authenticator) replaced the file between their locks. (No directory scan, no
//!   random name.) google-authenticator's own `<name>~` is never touched and does not get in the way.
//!
//! # Decisions
//!
//! - Mode: `replace` keeps the original permission bits (`mode & 0o777`, which passed the `allowed_perm`
//!   check), rather than forcing 0400 as google-authenticator does; special bits are dropped. Owner and group
//!   are restored with `fchown` when the new file did not get them already; if that is not permitted the
//!   replacement fails ([`StoreError::OwnerNotPreserved`]) rather than leave a file the next login refuses.
//! - Mode check: `mode & 0o7777 & !allowed_perm` must be 0, so setuid/setgid/sticky bits are refused unless
//!   allowed (google-authenticator checks `03777`).
//! - Only the last path component is protected against symlinks (`O_NOFOLLOW`); the directories above are
//!   resolved with the rights of the caller's filesystem uid, so a user can only redirect to places they can
//!   write anyway.
//! - The directory must be readable to be `fsync`ed; if it cannot be opened, `replace` fails before writing
//!   anything (the caller must not accept a code whose use may not have been recorded). A filesystem that
//!   answers `EINVAL`/`EOPNOTSUPP` to a directory `fsync` (it has nothing to sync) is accepted.
//! - The directory should be writable only by the file's owner (and root). In a directory with the sticky
//!   bit that others can write to, another user could put a file at `<name>~totp` that the owner cannot
//!   delete, and every rewrite would then fail (closed: the code is refused). The module also refuses user
//!   names with `~` in `${USER}` (see `args::ExpandError::UnsafeUserName`), so that with
//!   `secret=/dir/${USER}` one user's temporary name cannot be another user's secret file.
//! - Waiting for the lock is bounded ([`StoreError::LockTimeout`]): a user holding a lock on their own file
//!   must not pin an sshd process.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pam_ffi::file::{self, path_stat_of, PathStat};

/// Size limit of the C module (64 KiB); also our default.
pub const DEFAULT_MAX_SIZE: u64 = 64 * 1024;
/// Default `allowed_perm` of the C module.
pub const DEFAULT_ALLOWED_PERM: u32 = 0o600;
/// Default bound on waiting for the lock (including restarts after concurrent replacements).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Appended to the file name to name our temporary file: `<name>~totp`.
const TEMP_SUFFIX: &str = "~totp";
/// Attempts at creating the temporary file, each after deleting what was in the way.
const TEMP_ATTEMPTS: u32 = 3;
/// Longest pause between two attempts at taking the lock.
const MAX_LOCK_PAUSE: Duration = Duration::from_millis(5);

/// What a secret file must satisfy before its bytes are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Required owner uid; `None` skips the check (`no_strict_owner`).
    pub expected_owner: Option<u32>,
    /// Most permissive mode accepted (`allowed_perm=`); any other bit set in `mode & 0o7777` is refused.
    pub allowed_perm: u32,
    /// Largest accepted size in bytes (the file must also hold at least one byte).
    pub max_size: u64,
    /// How long [`Store::open_locked`] may wait for the lock, restarts included.
    pub lock_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            expected_owner: None,
            allowed_perm: DEFAULT_ALLOWED_PERM,
            max_size: DEFAULT_MAX_SIZE,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

/// Every way opening or replacing a secret file can fail. `Display` names the path and the reason, for the
/// admin's log; none of them ever contains file content.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The file does not exist (a path component is missing): the module maps this, and only this, to
    /// `nullok`.
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The last component is a symbolic link (`ELOOP` from `O_NOFOLLOW`); it was not followed.
    Symlink {
        /// The path asked for.
        path: PathBuf,
    },
    /// Not a regular file (directory, FIFO, socket, device).
    NotRegular {
        /// The path asked for.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// Owned by someone else than the expected user.
    BadOwner {
        /// The path asked for.
        path: PathBuf,
        /// The file's uid.
        found: u32,
        /// The uid required by the policy.
        expected: u32,
    },
    /// Permission bits beyond `allowed_perm`.
    BadMode {
        /// The path asked for.
        path: PathBuf,
        /// The file's `mode & 0o7777`.
        mode: u32,
        /// The policy's `allowed_perm`.
        allowed: u32,
    },
    /// Zero bytes long.
    Empty {
        /// The path asked for.
        path: PathBuf,
    },
    /// Longer than the policy's `max_size`.
    TooLarge {
        /// The path asked for.
        path: PathBuf,
        /// The size seen (from `fstat`, or `max + 1` if the file grew while being read).
        size: u64,
        /// The policy's `max_size`.
        max: u64,
    },
    /// Contains a NUL byte (the format is text; the C module refuses this too).
    ContainsNul {
        /// The path asked for.
        path: PathBuf,
        /// Offset of the first NUL byte.
        offset: usize,
    },
    /// The lock could not be taken before [`Policy::lock_timeout`].
    LockTimeout {
        /// The path asked for.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// `replace` was given content that `open_locked` would refuse (empty, too large, NUL byte); nothing
    /// was written.
    RefusedContent {
        /// The path asked for.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// While we held the lock, the path stopped naming the file we locked: a writer that does not take the
    /// lock replaced it. Nothing was written.
    ReplacedUnderLock {
        /// The path asked for.
        path: PathBuf,
    },
    /// The new file could not be given the original owner and group; nothing was renamed.
    OwnerNotPreserved {
        /// The path asked for.
        path: PathBuf,
        /// The owner to restore.
        uid: u32,
        /// The group to restore.
        gid: u32,
        /// What `fchown` said.
        source: io::Error,
    },
    /// Any other system call failed; `op` says which step. Write errors (`ENOSPC`, `EROFS`, `EACCES`, ...)
    /// arrive here unchanged in `source`.
    Io {
        /// The path asked for.
        path: PathBuf,
        /// The step that failed, e.g. `"opening"`, `"writing the temporary file"`.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl StoreError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            StoreError::NotFound { path }
            | StoreError::Symlink { path }
            | StoreError::NotRegular { path, .. }
            | StoreError::BadOwner { path, .. }
            | StoreError::BadMode { path, .. }
            | StoreError::Empty { path }
            | StoreError::TooLarge { path, .. }
            | StoreError::ContainsNul { path, .. }
            | StoreError::LockTimeout { path, .. }
            | StoreError::RefusedContent { path, .. }
            | StoreError::ReplacedUnderLock { path }
            | StoreError::OwnerNotPreserved { path, .. }
            | StoreError::Io { path, .. } => path,
        }
    }

    /// The underlying system error, if there is one (to tell `ENOSPC` or `EROFS` apart, say).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            StoreError::OwnerNotPreserved { source, .. } | StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    fn io(path: &Path, op: &'static str, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

impl StoreError {
    /// The message naming the file as `what` (`"state file"`) instead of `"secret file"`.
    pub fn about<'a>(&'a self, what: &'a str) -> impl fmt::Display + 'a {
        Named { error: self, what }
    }
}

/// [`StoreError::about`].
struct Named<'a> {
    error: &'a StoreError,
    what: &'a str,
}

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\": ", self.what, self.error.path().display())?;
        self.error.fmt_reason(f)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.about("secret file").fmt(f)
    }
}

impl StoreError {
    fn fmt_reason(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound { .. } => write!(f, "does not exist"),
            StoreError::Symlink { .. } => write!(f, "is a symbolic link (refused, not followed)"),
            StoreError::NotRegular { kind, .. } => write!(f, "is not a regular file but a {kind}"),
            StoreError::BadOwner { found, expected, .. } => {
                write!(f, "is owned by uid {found}, must be owned by uid {expected}")
            }
            StoreError::BadMode { mode, allowed, .. } => {
                write!(f, "permissions {mode:04o} are more permissive than {allowed:04o}")
            }
            StoreError::Empty { .. } => write!(f, "is empty"),
            StoreError::TooLarge { size, max, .. } => {
                write!(f, "is {size} bytes long, more than the limit of {max}")
            }
            StoreError::ContainsNul { offset, .. } => write!(f, "contains a NUL byte at offset {offset}"),
            StoreError::LockTimeout { waited, .. } => {
                write!(f, "could not be locked within {} ms", waited.as_millis())
            }
            StoreError::RefusedContent { reason, .. } if *reason == TOO_LARGE => write!(
                f,
                "not rewritten: the new content {reason}; the file is too close to that limit for its \
                 state to be saved: remove comments or lines it does not need"
            ),
            StoreError::RefusedContent { reason, .. } => {
                write!(f, "not rewritten: the new content {reason}")
            }
            StoreError::ReplacedUnderLock { .. } => {
                write!(
                    f,
                    "not rewritten: replaced by a process that does not take the lock"
                )
            }
            StoreError::OwnerNotPreserved { uid, gid, source, .. } => {
                write!(
                    f,
                    "not rewritten: cannot give the new file owner {uid}:{gid}: {source}"
                )
            }
            StoreError::Io { op, source, .. } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::OwnerNotPreserved { source, .. } | StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Entry point for the file operations (a namespace; it holds no state).
#[derive(Debug, Clone, Copy, Default)]
pub struct Store;

impl Store {
    /// Opens `path`, checks it against `policy`, takes the exclusive lock on the inode the path names and
    /// reads the bytes. The lock is held until the [`Locked`] is dropped (or, after [`Locked::replace`], moves
    /// to the new file). See the module documentation for the protocol.
    pub fn open_locked(path: impl AsRef<Path>, policy: &Policy) -> Result<Locked, StoreError> {
        let path = path.as_ref();
        let (start, deadline) = lock_deadline(policy);
        loop {
            let (file, meta) = open_checked(path, policy)?;
            if !lock_until(&file, deadline).map_err(|e| StoreError::io(path, "locking", e))? {
                return Err(StoreError::LockTimeout {
                    path: path.to_path_buf(),
                    waited: start.elapsed(),
                });
            }
            if names_inode(path, &meta).map_err(|e| StoreError::io(path, "re-checking after locking", e))? {
                let bytes = read_checked(&file, &meta, path, policy)?;
                return Ok(Locked::read(path, policy, file, &meta, bytes));
            }
            // Replaced (or removed) between our open and our lock: this lock protects nothing.
            drop(file);
            if Instant::now() >= deadline {
                return Err(StoreError::LockTimeout {
                    path: path.to_path_buf(),
                    waited: start.elapsed(),
                });
            }
        }
    }

    /// Opens, checks and reads `path` like [`Store::open_locked`] but without taking the lock: a first look
    /// for a caller that will wait (for the user to type) before it decides. Cooperating writers never change
    /// an inode in place (they replace it), so the bytes are one complete version of the file;
    /// [`Unlocked::relock`] tells whether that version is still the current one.
    pub fn open_unlocked(path: impl AsRef<Path>, policy: &Policy) -> Result<Unlocked, StoreError> {
        let path = path.as_ref();
        let (file, meta) = open_checked(path, policy)?;
        let bytes = read_checked(&file, &meta, path, policy)?;
        Ok(Unlocked {
            inner: Locked::read(path, policy, file, &meta, bytes),
        })
    }

    /// Writes a whole new file at `path` (an enrollment): the temporary file of [`Locked::replace`],
    /// created, locked, given the permission bits `perm & 0o777` and owned by the caller's filesystem ids,
    /// written, synced and renamed over whatever the last component names (a file, or a symbolic link, which
    /// is replaced, never followed); then the directory is synced. Returns the new file, locked. The file
    /// that was there is not opened or checked: a login holding its lock fails closed (its own replacement
    /// finds our temporary file locked, or the path renamed under its lock). `policy.max_size` bounds the
    /// content as for [`Locked::replace`].
    pub fn create(
        path: impl AsRef<Path>,
        bytes: &[u8],
        perm: u32,
        policy: &Policy,
    ) -> Result<Locked, StoreError> {
        let path = path.as_ref();
        let (name, dir_path, dir) = new_file_place(path, bytes, policy)?;
        let (guard, temp) = write_temp(path, dir_path, name, bytes, perm)?;
        let meta = temp
            .metadata()
            .map_err(|e| StoreError::io(path, "inspecting the temporary file", e))?;
        match file::publish(&temp, &guard.path, path, &dir) {
            Ok(()) => guard.disarm(),
            Err(e) => {
                if e.renamed {
                    guard.disarm();
                }
                return Err(StoreError::io(path, e.step, e.error));
            }
        }
        Ok(Locked::read(path, policy, temp, &meta, bytes.to_vec()))
    }
}

/// For a new file at `path` holding `bytes`: the content checked against `policy`, and the file's name, its
/// directory's path and the directory, opened.
fn new_file_place<'p>(
    path: &'p Path,
    bytes: &[u8],
    policy: &Policy,
) -> Result<(&'p OsStr, &'p Path, File), StoreError> {
    check_content(bytes, policy.max_size).map_err(|reason| StoreError::RefusedContent {
        path: path.to_path_buf(),
        reason,
    })?;
    let name = path
        .file_name()
        .ok_or_else(|| StoreError::io(path, "naming the file", io::ErrorKind::InvalidInput.into()))?;
    let dir_path = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = file::open_dir(dir_path).map_err(|e| StoreError::io(path, "opening the directory", e))?;
    Ok((name, dir_path, dir))
}

impl Store {
    /// Writes a whole new file at `path` only when nothing is there yet (a first state file): the temporary
    /// file of [`Store::create`], written and synced, then linked to `path` with `link(2)`, which never
    /// replaces; the temporary name is removed and the directory synced. `Ok(false)` when something is
    /// already at `path` (another login was first): nothing was written there, and the caller opens it with
    /// [`Store::open_locked`] as usual. The new file is not kept open or locked. Creators wait for each other
    /// on a `flock` of the directory (bounded by the policy's lock timeout).
    pub fn create_new(
        path: impl AsRef<Path>,
        bytes: &[u8],
        perm: u32,
        policy: &Policy,
    ) -> Result<bool, StoreError> {
        let path = path.as_ref();
        let (name, dir_path, dir) = new_file_place(path, bytes, policy)?;
        // Creators take turns on the directory's lock, so that they do not meet at the temporary name (a
        // replacing writer never is there: it holds an existing file's lock).
        let (start, deadline) = lock_deadline(policy);
        if !lock_until(&dir, deadline).map_err(|e| StoreError::io(path, "locking the directory", e))? {
            return Err(StoreError::LockTimeout {
                path: path.to_path_buf(),
                waited: start.elapsed(),
            });
        }
        if file::lstat(path)
            .map_err(|e| StoreError::io(path, "looking for the file", e))?
            .is_some()
        {
            return Ok(false);
        }
        // The guard removes the temporary name on every path: after the link, `path` is the file's only name.
        let (guard, temp) = write_temp(path, dir_path, name, bytes, perm)?;
        file::fsync(&temp).map_err(|e| StoreError::io(path, "syncing the temporary file", e))?;
        match file::link(&guard.path, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(StoreError::io(path, "linking the new file", e)),
        }
        drop(guard);
        file::sync_dir(&dir).map_err(|e| StoreError::io(path, "syncing the directory", e))?;
        Ok(true)
    }
}

/// When waiting for the lock started, and until when it may last. Clamped so that the deadline cannot
/// overflow; an hour is far beyond any login timeout.
fn lock_deadline(policy: &Policy) -> (Instant, Instant) {
    let start = Instant::now();
    let deadline = start
        .checked_add(policy.lock_timeout.min(Duration::from_secs(3600)))
        .unwrap_or(start);
    (start, deadline)
}

/// What we remember of the locked inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ident {
    dev: u64,
    ino: u64,
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Ident {
    fn of(st: &PathStat) -> Ident {
        Ident {
            dev: st.dev,
            ino: st.ino,
            uid: st.uid,
            gid: st.gid,
            mode: st.mode,
        }
    }
}

/// What must not have changed for content read earlier to still be the inode's content: size, modification
/// and status-change times (nanoseconds). Every write through the file's data moves `mtime` and `ctime`, and
/// `ctime` cannot be set back by anybody; `chmod`/`chown` move `ctime` too. (The timestamps come from the
/// kernel's coarse clock, so two in-place writes within one clock tick, the second after our read and with the
/// same size, would go unseen. Only a writer that ignores the lock writes in place; cooperating writers,
/// google-authenticator's included, replace the inode, and that is caught by the inode check.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(st: &PathStat) -> Stamp {
        Stamp {
            size: st.size,
            mtime: st.mtime,
            ctime: st.ctime,
        }
    }
}

/// A secret file's content, read under an exclusive lock that is held as long as this value lives.
pub struct Locked {
    path: PathBuf,
    policy: Policy,
    /// The descriptor holding the `flock`; always the inode the path names (while writers cooperate).
    file: File,
    ident: Ident,
    /// Size and times of the inode when `bytes` were read (or written): what [`Unlocked::relock`] compares.
    stamp: Stamp,
    bytes: Wiped,
}

/// Bytes that held the secret: wiped when dropped.
struct Wiped(Vec<u8>);

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl fmt::Debug for Locked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the content: it holds the shared secret.
        f.debug_struct("Locked")
            .field("path", &self.path)
            .field("dev", &self.ident.dev)
            .field("ino", &self.ident.ino)
            .field("len", &self.bytes.0.len())
            .finish_non_exhaustive()
    }
}

impl Locked {
    /// The value for `bytes` just read from `file`, whose `fstat` was `meta`.
    fn read(path: &Path, policy: &Policy, file: File, meta: &Metadata, bytes: Vec<u8>) -> Locked {
        let st = path_stat_of(meta);
        Locked {
            path: path.to_path_buf(),
            policy: *policy,
            file,
            ident: Ident::of(&st),
            stamp: Stamp::of(&st),
            bytes: Wiped(bytes),
        }
    }

    /// The file's content as read under the lock (or as last written by [`Locked::replace`]).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes.0
    }

    /// The path this file was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Owner uid and gid of the file.
    pub fn owner(&self) -> (u32, u32) {
        (self.ident.uid, self.ident.gid)
    }

    /// Permission bits of the file (`mode & 0o7777`).
    pub fn mode(&self) -> u32 {
        self.ident.mode & 0o7777
    }

    /// Atomically replaces the file with `new_bytes` while the lock is held, then holds the lock on the new
    /// file. On `Err` before the rename nothing changed (old file in place, still locked, temporary file
    /// removed). The one `Err` after the rename is a failed `fsync` of the directory: the new content is in
    /// place and this value stands for it, but it may not survive a crash, so the caller must treat the
    /// update as not recorded.
    pub fn replace(&mut self, new_bytes: &[u8]) -> Result<(), StoreError> {
        check_content(new_bytes, self.policy.max_size).map_err(|reason| StoreError::RefusedContent {
            path: self.path.clone(),
            reason,
        })?;
        let path = self.path.clone();
        let path = path.as_path();
        let name = path.file_name().ok_or_else(|| {
            StoreError::io(
                path,
                "naming the temporary file",
                io::ErrorKind::InvalidInput.into(),
            )
        })?;
        let dir_path = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Opened first: if the directory cannot be synced, fail before writing anything.
        let dir = file::open_dir(dir_path).map_err(|e| StoreError::io(path, "opening the directory", e))?;

        let (temp_path, temp, meta) = create_temp(dir_path, name)
            .map_err(|e| StoreError::io(path, "creating the temporary file", e))?;
        let guard = TempGuard::new(temp_path);
        let (new_ident, new_stamp) = self.fill_temp(&temp, &meta, new_bytes)?;

        // We hold the lock, so only a writer that ignores it can have moved the path meanwhile.
        if !names_ident(path, &self.ident)
            .map_err(|e| StoreError::io(path, "re-checking before renaming", e))?
        {
            return Err(StoreError::ReplacedUnderLock {
                path: path.to_path_buf(),
            });
        }
        file::rename(&guard.path, path).map_err(|e| StoreError::io(path, "renaming over the file", e))?;
        guard.disarm();

        // From here the path names the new inode, which we already hold locked.
        let old_file = std::mem::replace(&mut self.file, temp);
        // The old content is wiped as it is dropped.
        self.bytes = Wiped(new_bytes.to_vec());
        self.ident = new_ident;
        self.stamp = new_stamp;
        let synced = file::sync_dir(&dir);
        // Waiters on the old inode may go now: after their re-check they will queue on the new file.
        drop(old_file);
        synced.map_err(|e| StoreError::io(path, "syncing the directory", e))
    }

    /// Gives the fresh, locked temporary file (`meta`: its metadata) the original owner and permission bits,
    /// writes and syncs it.
    fn fill_temp(
        &self,
        temp: &File,
        meta: &Metadata,
        new_bytes: &[u8],
    ) -> Result<(Ident, Stamp), StoreError> {
        let path = self.path.as_path();
        let (uid, gid) = (self.ident.uid, self.ident.gid);
        if meta.uid() != uid || meta.gid() != gid {
            file::fchown(temp, uid, gid).map_err(|source| StoreError::OwnerNotPreserved {
                path: path.to_path_buf(),
                uid,
                gid,
                source,
            })?;
        }
        let perm = self.ident.mode & 0o777;
        file::fchmod(temp, perm)
            .map_err(|e| StoreError::io(path, "setting the mode of the temporary file", e))?;
        let mut writer = temp;
        writer
            .write_all(new_bytes)
            .map_err(|e| StoreError::io(path, "writing the temporary file", e))?;
        file::fsync(temp).map_err(|e| StoreError::io(path, "syncing the temporary file", e))?;
        let meta = temp
            .metadata()
            .map_err(|e| StoreError::io(path, "inspecting the temporary file", e))?;
        let st = path_stat_of(&meta);
        Ok((Ident::of(&st), Stamp::of(&st)))
    }

    /// Releases the lock but keeps the descriptor and the content, for a caller that must wait (for the
    /// user to type a code) before it decides and writes. [`Unlocked::relock`] takes the lock again and tells
    /// whether the content is still the file's.
    pub fn unlock(self) -> Unlocked {
        // An error here leaves the lock held until the descriptor is closed, which only delays other logins.
        let _ = file::unlock(&self.file);
        Unlocked { inner: self }
    }
}

/// Content read under the lock, with the lock released and the descriptor kept (see [`Locked::unlock`]).
#[derive(Debug)]
pub struct Unlocked {
    inner: Locked,
}

impl Unlocked {
    /// The content as it was read.
    pub fn bytes(&self) -> &[u8] {
        self.inner.bytes()
    }

    /// Takes the lock again, polling until the policy's lock timeout. When the path still names the same
    /// inode and the inode has not changed since it was read (same size, `mtime` and `ctime`), the content
    /// read before is still the file's: `Ok((locked, true))`, without reading or checking again. Otherwise
    /// the descriptor is dropped and the file is opened, checked, locked and read from the start exactly as
    /// [`Store::open_locked`] does: `Ok((locked, false))`.
    pub fn relock(self) -> Result<(Locked, bool), StoreError> {
        let locked = self.inner;
        let (start, deadline) = lock_deadline(&locked.policy);
        let path = locked.path.clone();
        if !lock_until(&locked.file, deadline).map_err(|e| StoreError::io(&path, "locking", e))? {
            return Err(StoreError::LockTimeout {
                path,
                waited: start.elapsed(),
            });
        }
        // One `lstat` of the path answers both questions: when it names the locked inode (same device and
        // inode number), its size, times, owner and mode are that inode's, now.
        let now = file::lstat(&path).map_err(|e| StoreError::io(&path, "re-checking after locking", e))?;
        if now.is_some_and(|now| Ident::of(&now) == locked.ident && Stamp::of(&now) == locked.stamp) {
            return Ok((locked, true));
        }
        let policy = locked.policy;
        drop(locked);
        Store::open_locked(&path, &policy).map(|l| (l, false))
    }
}

/// Best-effort wipe of a buffer that held the secret (the parsed secret lives in zeroizing types).
fn wipe(buf: &mut Vec<u8>) {
    buf.fill(0);
    std::hint::black_box(&mut *buf);
}

/// Opens without following a final symlink and without blocking on a FIFO, then checks the descriptor.
fn open_checked(path: &Path, policy: &Policy) -> Result<(File, Metadata), StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => StoreError::NotFound {
                path: path.to_path_buf(),
            },
            Some(libc::ELOOP) => StoreError::Symlink {
                path: path.to_path_buf(),
            },
            _ => StoreError::io(path, "opening", e),
        })?;
    let meta = file.metadata().map_err(|e| StoreError::io(path, "fstat", e))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_fifo() {
            "FIFO"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_block_device() {
            "block device"
        } else {
            "special file"
        };
        return Err(StoreError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if let Some(expected) = policy.expected_owner {
        if meta.uid() != expected {
            return Err(StoreError::BadOwner {
                path: path.to_path_buf(),
                found: meta.uid(),
                expected,
            });
        }
    }
    let mode = meta.mode() & 0o7777;
    if mode & !policy.allowed_perm != 0 {
        return Err(StoreError::BadMode {
            path: path.to_path_buf(),
            mode,
            allowed: policy.allowed_perm,
        });
    }
    if meta.len() == 0 {
        return Err(StoreError::Empty {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > policy.max_size {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            max: policy.max_size,
        });
    }
    Ok((file, meta))
}

/// Reads at most `max_size + 1` bytes and checks what was actually read (the file may differ from `fstat`
/// if a writer that ignores the lock is at work).
fn read_checked(file: &File, meta: &Metadata, path: &Path, policy: &Policy) -> Result<Vec<u8>, StoreError> {
    let limit = policy.max_size.saturating_add(1);
    // Sized once from fstat so that the secret is not copied around by reallocation in the usual case.
    let cap = usize::try_from(meta.len().min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(cap.saturating_add(1));
    let mut reader = file.take(limit);
    if let Err(e) = reader.read_to_end(&mut bytes) {
        wipe(&mut bytes);
        return Err(StoreError::io(path, "reading", e));
    }
    match check_content(&bytes, policy.max_size) {
        Ok(()) => Ok(bytes),
        Err(_) => {
            let err = if bytes.is_empty() {
                StoreError::Empty {
                    path: path.to_path_buf(),
                }
            } else if let Some(offset) = bytes.iter().position(|&b| b == 0) {
                StoreError::ContainsNul {
                    path: path.to_path_buf(),
                    offset,
                }
            } else {
                StoreError::TooLarge {
                    path: path.to_path_buf(),
                    size: limit,
                    max: policy.max_size,
                }
            };
            wipe(&mut bytes);
            Err(err)
        }
    }
}

const TOO_LARGE: &str = "is larger than the size limit";

/// The content rules shared by reading and writing.
fn check_content(bytes: &[u8], max_size: u64) -> Result<(), &'static str> {
    if bytes.is_empty() {
        return Err("is empty");
    }
    if u64::try_from(bytes.len()).map_or(true, |n| n > max_size) {
        return Err(TOO_LARGE);
    }
    if bytes.contains(&0) {
        return Err("contains a NUL byte");
    }
    Ok(())
}

/// The decoy file's name in its directory, which may also hold `state=/var/lib/pam_totp/${USER}` files: no
/// user name can be `:refusal` (`:` separates the fields of `/etc/passwd`, and `${USER}` never expands to a
/// name with one), so the decoy never replaces a user's state file.
pub const DECOY_NAME: &str = ":refusal";
/// The decoy's content: about the size of a secret file with state lines, so that the write costs the same.
const DECOY_BODY: &[u8] = &[b'\n'; 256];

/// Writes the decoy file `<dir>/:refusal` as a state replacement is written (temporary file, `fsync`, rename,
/// directory `fsync`), for a refusal that wrote nothing: every refusal then costs one durable write, so its
/// time does not tell an enrolled user from an unknown one. No lock: each writer has its own temporary name
/// (`:refusal-<pid>`), and concurrent renames over the same name are atomic. `dir` must be a directory owned
/// by root and writable by nobody else; nothing else is read or written there.
pub fn write_decoy(dir: &Path) -> io::Result<()> {
    let dir_file = file::open_dir(dir)?;
    let meta = dir_file.metadata()?;
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the directory must be owned by root and writable by nobody else",
        ));
    }
    let temp_path = dir.join(format!("{DECOY_NAME}-{}", std::process::id()));
    let mut temp = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&temp_path)?;
    let mut renamed = false;
    let result = temp.write_all(DECOY_BODY).and_then(|()| {
        file::publish(&temp, &temp_path, &dir.join(DECOY_NAME), &dir_file).map_err(|e| {
            renamed = e.renamed;
            e.error
        })
    });
    if result.is_err() && !renamed {
        // Nothing more can be done if this fails; the next refusal of this pid truncates it.
        let _ = file::unlink(&temp_path);
    }
    result
}

/// Takes the exclusive lock, polling until `deadline` (`Ok(false)` then). Polling rather than a blocking
/// `flock` keeps the wait bounded without signals or threads.
fn lock_until(target: &File, deadline: Instant) -> io::Result<bool> {
    let mut pause = Duration::from_micros(100);
    loop {
        if file::try_lock_exclusive(target)? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        file::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_LOCK_PAUSE);
    }
}

/// Whether `path` (not following a final symlink) still names the inode of `meta`. A missing path is
/// `Ok(false)`: the caller starts again and gets `NotFound` from the open.
fn names_inode(path: &Path, meta: &Metadata) -> io::Result<bool> {
    names_ident(path, &Ident::of(&path_stat_of(meta)))
}

fn names_ident(path: &Path, ident: &Ident) -> io::Result<bool> {
    Ok(file::lstat(path)?.is_some_and(|now| now.dev == ident.dev && now.ino == ident.ino))
}

/// Removes the temporary file on every path that does not end in a successful rename.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl TempGuard {
    fn new(path: PathBuf) -> Self {
        TempGuard { path, armed: true }
    }

    /// The rename succeeded: keep the file. (Not `mem::forget`, which would leak the path's buffer on every
    /// rewrite — found by the memcheck test.)
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            // Nothing more can be done if this fails; the next replace deletes it.
            let _ = file::unlink(&self.path);
        }
    }
}

/// A new temporary file beside `path` (in `dir_path`, named after `name`), locked, given the permission bits
/// `perm & 0o777` and holding `bytes`, not yet synced; its guard removes it unless disarmed.
fn write_temp(
    path: &Path,
    dir_path: &Path,
    name: &OsStr,
    bytes: &[u8],
    perm: u32,
) -> Result<(TempGuard, File), StoreError> {
    let (temp_path, temp, _) =
        create_temp(dir_path, name).map_err(|e| StoreError::io(path, "creating the temporary file", e))?;
    let guard = TempGuard::new(temp_path);
    file::fchmod(&temp, perm & 0o777)
        .map_err(|e| StoreError::io(path, "setting the mode of the temporary file", e))?;
    let mut writer = &temp;
    writer
        .write_all(bytes)
        .map_err(|e| StoreError::io(path, "writing the temporary file", e))?;
    Ok((guard, temp))
}

/// Creates `<dir>/<name>~totp` with `O_CREAT|O_EXCL|O_NOFOLLOW`, locks it and checks that the name still is
/// that inode; returns its path, descriptor and metadata. Called only under the lock of the secret file.
/// What is already at the name is dealt with by [`remove_leftover`] and the creation tried again.
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<(PathBuf, File, Metadata)> {
    let mut file_name = name.to_os_string();
    file_name.push(TEMP_SUFFIX);
    let temp_path = dir.join(file_name);
    for _ in 0..TEMP_ATTEMPTS {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&temp_path)
        {
            Ok(temp) => {
                // Between our create and our lock, a writer that found the name taken may have locked and
                // deleted this inode as a leftover: then the name is no longer ours, and we start again.
                if file::try_lock_exclusive(&temp)? {
                    let meta = temp.metadata()?;
                    if names_inode(&temp_path, &meta)? {
                        return Ok((temp_path, temp, meta));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => remove_leftover(&temp_path)?,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        "the temporary name kept being taken by another writer",
    ))
}

/// Deletes what is at the temporary name: anything but a regular file (ours always are), or a regular file
/// that nobody holds locked, the leftover of a killed writer. A locked one is the temporary file of a live
/// writer, which only a writer that ignores the lock can have let in beside us: that fails the replacement
/// (and the login with it) rather than take the file away from under the other writer.
fn remove_leftover(path: &Path) -> io::Result<()> {
    let Some(st) = file::lstat(path)? else {
        return Ok(());
    };
    if st.mode & libc::S_IFMT == libc::S_IFREG {
        let found = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if !file::try_lock_exclusive(&found)? {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another writer's temporary file is in use (is google-authenticator writing the file too?)",
            ));
        }
        if !names_inode(path, &found.metadata()?)? {
            // Replaced since we opened it: look again.
            return Ok(());
        }
    }
    match file::unlink(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules_are_the_same_for_reading_and_writing() {
        assert_eq!(check_content(b"", 10), Err("is empty"));
        assert_eq!(check_content(b"a\0b", 10), Err("contains a NUL byte"));
        assert_eq!(
            check_content(&[b'a'; 11], 10),
            Err("is larger than the size limit")
        );
        assert_eq!(check_content(&[0xff, 0xfe, b'\n'], 10), Ok(()));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn create_new_never_replaces_what_is_there_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        assert!(Store::create_new(&path, b"FIRST\n", 0o600, &Policy::default()).unwrap());
        assert!(!Store::create_new(&path, b"SECOND\n", 0o600, &Policy::default()).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"FIRST\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        let names = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names, 1, "no temporary file left");
        let victim = dir.path().join("victim");
        std::os::unix::fs::symlink(&victim, dir.path().join("link")).unwrap();
        assert!(!Store::create_new(dir.path().join("link"), b"X\n", 0o600, &Policy::default()).unwrap());
        assert!(!victim.exists(), "a symlink is not followed");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn create_replaces_a_symlink_without_following_it_and_leaves_the_new_file_locked() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        let path = dir.path().join("secret");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let locked = Store::create(&path, b"NEW\n", 0o400, &Policy::default()).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.mode() & 0o7777, 0o400);
        assert_eq!((locked.bytes(), locked.mode()), (&b"NEW\n"[..], 0o400));
        let other = File::open(&path).unwrap();
        assert!(!file::try_lock_exclusive(&other).unwrap(), "held locked");
        drop(locked);
        assert!(file::try_lock_exclusive(&other).unwrap());
        let names = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names, 2, "no temporary file left");
        assert!(matches!(
            Store::create(&path, b"", 0o400, &Policy::default()),
            Err(StoreError::RefusedContent { .. })
        ));
    }
}
