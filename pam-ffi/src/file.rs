//! The file operations of pam_totp's secret-file store besides open, read and write: locking, syncing,
//! owner and mode, rename, unlink, `lstat`, and the pause between two lock attempts. Each is std's own call
//! (`flock`, `fsync`, `fchmod`, `fchown`, `rename`, `unlink`, `lstat`, `nanosleep` underneath), named for the
//! system call and shaped for the store's protocol: a held lock is `Ok(false)`, not an error, and a
//! missing path is `None`. No `unsafe` here; this module must not decide anything about the files.

use std::fs::{File, Metadata, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// What `lstat` tells about a path: the fields the store compares to know whether the path still names the
/// inode it locked, unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStat {
    /// Device.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// Status-change time: seconds and nanoseconds.
    pub ctime: (i64, i64),
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file description holds a lock on the file.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// `flock(LOCK_UN)`.
pub fn unlock(file: &File) -> io::Result<()> {
    file.unlock()
}

/// `fsync`: the file's data and metadata (or a directory's entries) reach the disk.
pub fn fsync(file: &File) -> io::Result<()> {
    file.sync_all()
}

/// `fchmod`.
pub fn fchmod(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// `fchown` (both ids).
pub fn fchown(file: &File, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(uid), Some(gid))
}

/// `rename`: atomically replaces `to` by `from`.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)
}

/// `unlink`.
pub fn unlink(path: &Path) -> io::Result<()> {
    std::fs::remove_file(path)
}

/// `lstat`: what the path itself names (a final symbolic link is not followed); `None` when nothing does.
pub fn lstat(path: &Path) -> io::Result<Option<PathStat>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(path_stat_of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sleeps for `d` (resumed after a signal).
pub fn sleep(d: Duration) {
    std::thread::sleep(d)
}

/// The same `PathStat` from std's metadata (of a descriptor or a path).
pub fn path_stat_of(meta: &Metadata) -> PathStat {
    PathStat {
        dev: meta.dev(),
        ino: meta.ino(),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn lstat_does_not_follow_links_and_a_missing_path_is_none() {
        let dir = tempfile_dir("lstat");
        let file = dir.join("f");
        fs::write(&file, b"12345").unwrap();
        std::os::unix::fs::symlink(&file, dir.join("link")).unwrap();
        let st = lstat(&dir.join("link")).unwrap().unwrap();
        assert_eq!(st.mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(lstat(&file).unwrap().unwrap().size, 5);
        assert_eq!(lstat(&dir.join("missing")).unwrap(), None);
        // A path through a regular file is an error (ENOTDIR), not "missing".
        assert!(lstat(&file.join("x")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_is_exclusive_between_open_file_descriptions_and_unlock_releases_it() {
        let dir = tempfile_dir("lock");
        let path = dir.join("f");
        fs::write(&path, b"x").unwrap();
        let a = File::open(&path).unwrap();
        let b = File::open(&path).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        unlock(&a).unwrap();
        assert!(try_lock_exclusive(&b).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pam-ffi-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }
}
