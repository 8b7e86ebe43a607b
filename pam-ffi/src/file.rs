//! The file operations of pam_totp's secret-file store besides open, read and write: locking, syncing,
//! owner and mode, rename, unlink, `lstat`, and the pause between two lock attempts; and [`publish`], the
//! durable atomic replace that every whole-file writer ends with (the store, `pwpolicy build-blocklist`). Each is std's own call
//! (`flock`, `fsync`, `fchmod`, `fchown`, `rename`, `unlink`, `lstat`, `nanosleep` underneath), named for the
//! system call and shaped for the store's protocol: a held lock is `Ok(false)`, not an error, and a
//! missing path is `None`. No `unsafe` here; this module must not decide anything about the files.

use std::fs::{File, Metadata, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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

/// Opens the directory a file is about to be replaced in, for [`sync_dir`] after the rename. Callers open it
/// before writing anything, so that a directory that cannot be opened fails before any work is done.
/// `O_NONBLOCK`: a FIFO at the path cannot block; `O_DIRECTORY`: anything but a directory is refused.
pub fn open_dir(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(dir)
}

/// `fsync` of a directory, so that a rename in it is durable. Filesystems that cannot sync a directory say
/// `EINVAL` (or `EOPNOTSUPP`); there is nothing more to do on those. Any other error is returned: the new
/// file may then not survive a crash.
pub fn sync_dir(dir: &File) -> io::Result<()> {
    match dir.sync_all() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)) => Ok(()),
        other => other,
    }
}

/// The end of every atomic replace: the complete temporary file `temp` (at `temp_path`, in the directory
/// `dir` opened with [`open_dir`]) is synced, renamed over `to`, and the directory synced, so that after a
/// crash at any instant `to` is the old file or the new one, whole.
pub fn publish(temp: &File, temp_path: &Path, to: &Path, dir: &File) -> Result<(), PublishError> {
    let failed = |step, renamed, error| PublishError { step, renamed, error };
    fsync(temp).map_err(|e| failed("syncing the temporary file", false, e))?;
    rename(temp_path, to).map_err(|e| failed("renaming over the file", false, e))?;
    sync_dir(dir).map_err(|e| failed("syncing the directory", true, e))
}

/// Why [`publish`] failed, and whether the temporary file is already at `to` (then it must not be removed).
#[derive(Debug)]
pub struct PublishError {
    /// The step that failed, for messages ("syncing the directory").
    pub step: &'static str,
    /// The rename happened: the temporary name no longer exists.
    pub renamed: bool,
    /// The system's error.
    pub error: io::Error,
}

/// `link`: gives the file at `from` the new name `to`, failing with `AlreadyExists` when `to` exists (an
/// atomic create-if-absent, where [`rename`] would replace).
pub fn link(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::hard_link(from, to)
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
    fn publish_renames_a_synced_temporary_file_over_the_target_and_says_which_step_failed() {
        let dir_path = tempfile_dir("publish");
        let dir = open_dir(&dir_path).unwrap();
        let (temp_path, to) = (dir_path.join("new~"), dir_path.join("file"));
        std::fs::write(&to, b"old").unwrap();
        std::fs::write(&temp_path, b"new").unwrap();
        let temp = File::open(&temp_path).unwrap();
        publish(&temp, &temp_path, &to, &dir).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"new");
        assert!(lstat(&temp_path).unwrap().is_none());
        // A rename that cannot happen leaves the temporary file, and says so.
        let e = publish(&temp, &dir_path.join("gone~"), &to, &dir).unwrap_err();
        assert_eq!((e.step, e.renamed), ("renaming over the file", false));
        assert!(open_dir(&to).is_err(), "a regular file is not a directory");
        let _ = std::fs::remove_dir_all(&dir_path);
    }

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
