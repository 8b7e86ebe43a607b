//! The file operations of pam_totp's secret-file store that are not open, read, write or `fstat`: locking,
//! syncing, owner and mode, rename, unlink, `lstat`, plus the pause between two lock attempts.
//!
//! Why they are here rather than std's: libpam loads a module with `dlopen(RTLD_NOW)` at every login (sshd:
//! for every connection), and the dynamic loader then looks up each libc function the module imports, by
//! name, in every library the process has loaded. Measured with two C modules, with and without 21 more
//! imports: about 0.4 us per import and load, more in sshd, which has more libraries to search. std's
//! wrappers for these calls would import ten functions that nothing else in the module needs. On x86_64
//! and aarch64 each function below is instead the system call that libc's wrapper makes, with the same
//! arguments and errors, through `syscall(2)`, which std imports anyway. Elsewhere (where some of these
//! calls have other numbers or layouts, such as 16-bit ids or another `struct stat`) they are std's and
//! libc's own wrappers.
//!
//! On x86_64 and aarch64 the tests compile both implementations and check that they agree.

use std::io;
use std::os::fd::AsFd;
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

#[cfg(all(
    target_pointer_width = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
use raw as imp;
#[cfg(not(all(
    target_pointer_width = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
use wrapped as imp;

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file description holds a lock on the file.
pub fn try_lock_exclusive(fd: impl AsFd) -> io::Result<bool> {
    match imp::flock(fd.as_fd(), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `flock(LOCK_UN)`.
pub fn unlock(fd: impl AsFd) -> io::Result<()> {
    imp::flock(fd.as_fd(), libc::LOCK_UN)
}

/// `fsync`: the file's data and metadata (or a directory's entries) reach the disk.
pub fn fsync(fd: impl AsFd) -> io::Result<()> {
    imp::fsync(fd.as_fd())
}

/// `fchmod`.
pub fn fchmod(fd: impl AsFd, mode: u32) -> io::Result<()> {
    imp::fchmod(fd.as_fd(), mode)
}

/// `fchown` (both ids).
pub fn fchown(fd: impl AsFd, uid: u32, gid: u32) -> io::Result<()> {
    imp::fchown(fd.as_fd(), uid, gid)
}

/// `rename`: atomically replaces `to` by `from`.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    imp::rename(from, to)
}

/// `unlink`.
pub fn unlink(path: &Path) -> io::Result<()> {
    imp::unlink(path)
}

/// `lstat`: what the path itself names (a final symbolic link is not followed); `None` when nothing does.
pub fn lstat(path: &Path) -> io::Result<Option<PathStat>> {
    match imp::lstat(path) {
        Ok(st) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sleeps for `d` (resumed after a signal, as `std::thread::sleep` does).
pub fn sleep(d: Duration) {
    imp::sleep(d)
}

/// The result of a system call (through `syscall` or a libc wrapper): -1 and `errno` on failure.
fn check(rc: impl Into<i64>) -> io::Result<()> {
    if rc.into() == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs `call` again while it fails with `EINTR` (a signal during a sync on NFS or FUSE, say), as std's
/// wrappers do.
fn retry(mut call: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// The same `PathStat` from std's metadata (of a descriptor or a path).
pub fn path_stat_of(meta: &std::fs::Metadata) -> PathStat {
    use std::os::unix::fs::MetadataExt;
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

/// Through `syscall(2)`, for the targets whose numbers and `struct stat` are known to match libc's.
#[cfg(all(
    target_pointer_width = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod raw {
    use super::{check, retry, PathStat};
    use std::ffi::{CStr, CString};
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::time::Duration;

    /// Runs `f` with `path` as a C string: on the stack when it is short (most are), so no allocation.
    fn with_c_path<T>(path: &Path, f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
        const ON_STACK: usize = 256;
        let bytes = path.as_os_str().as_bytes();
        let nul = || io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte");
        let mut buf = [0u8; ON_STACK];
        if let Some(head) = buf.get_mut(..bytes.len()).filter(|_| bytes.len() < ON_STACK) {
            head.copy_from_slice(bytes);
            // The byte after the path is still 0: the terminator. (An inner NUL is refused by from_bytes.)
            let with_nul = buf.get(..=bytes.len()).unwrap_or_default();
            return f(CStr::from_bytes_with_nul(with_nul).map_err(|_| nul())?);
        }
        f(&CString::new(bytes).map_err(|_| nul())?)
    }

    fn fd_arg(fd: BorrowedFd<'_>) -> libc::c_long {
        libc::c_long::from(fd.as_raw_fd())
    }

    pub fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
        // SAFETY: flock(2) takes a descriptor, open for the call (borrowed), and an operation; no memory.
        check(unsafe { libc::syscall(libc::SYS_flock, fd_arg(fd), libc::c_long::from(op)) })
    }

    pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: fsync(2) takes a descriptor, open for the call (borrowed); no memory.
        retry(|| check(unsafe { libc::syscall(libc::SYS_fsync, fd_arg(fd)) }))
    }

    pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
        // SAFETY: fchmod(2) takes a descriptor, open for the call (borrowed), and a mode; no memory.
        retry(|| check(unsafe { libc::syscall(libc::SYS_fchmod, fd_arg(fd), libc::c_long::from(mode)) }))
    }

    pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
        let (uid, gid) = (libc::c_long::from(uid), libc::c_long::from(gid));
        // SAFETY: fchown(2) takes a descriptor, open for the call (borrowed), and two 32-bit ids (the only
        // fchown of these targets); no memory.
        retry(|| check(unsafe { libc::syscall(libc::SYS_fchown, fd_arg(fd), uid, gid) }))
    }

    pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
        let cwd = libc::c_long::from(libc::AT_FDCWD);
        with_c_path(from, |from| {
            with_c_path(to, |to| {
                // SAFETY: renameat(2) from and to the working directory is rename(2) (which these targets
                // have as renameat, and every kernel has, unlike renameat2); both paths are NUL-terminated
                // strings that live for the call.
                check(unsafe { libc::syscall(libc::SYS_renameat, cwd, from.as_ptr(), cwd, to.as_ptr()) })
            })
        })
    }

    pub fn unlink(path: &Path) -> io::Result<()> {
        let cwd = libc::c_long::from(libc::AT_FDCWD);
        with_c_path(path, |path| {
            // SAFETY: unlinkat(2) with flags 0 is unlink(2); the path is a NUL-terminated string that lives
            // for the call.
            check(unsafe { libc::syscall(libc::SYS_unlinkat, cwd, path.as_ptr(), 0 as libc::c_long) })
        })
    }

    pub fn lstat(path: &Path) -> io::Result<PathStat> {
        let cwd = libc::c_long::from(libc::AT_FDCWD);
        let flags = libc::c_long::from(libc::AT_SYMLINK_NOFOLLOW);
        with_c_path(path, |path| {
            // SAFETY: `stat` is a plain C struct of integers, for which all-zero is valid.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: newfstatat(2) fills one `struct stat`, which on these targets is libc's `stat`; the
            // path is a NUL-terminated string that lives for the call.
            check(unsafe {
                libc::syscall(
                    libc::SYS_newfstatat,
                    cwd,
                    path.as_ptr(),
                    &mut st as *mut libc::stat,
                    flags,
                )
            })?;
            Ok(PathStat {
                dev: st.st_dev,
                ino: st.st_ino,
                mode: st.st_mode,
                uid: st.st_uid,
                gid: st.st_gid,
                size: u64::try_from(st.st_size).unwrap_or(0),
                mtime: (st.st_mtime, st.st_mtime_nsec),
                ctime: (st.st_ctime, st.st_ctime_nsec),
            })
        })
    }

    pub fn sleep(d: Duration) {
        let mut ts = libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(d.subsec_nanos()),
        };
        loop {
            let mut rest = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: nanosleep(2) reads one timespec and, when interrupted, writes the time left to another;
            // both live for the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_nanosleep,
                    &ts as *const libc::timespec,
                    &mut rest as *mut libc::timespec,
                )
            };
            if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return;
            }
            ts = rest;
        }
    }
}

/// std's and libc's wrappers: the other targets, and the reference the tests compare `raw` with.
#[cfg_attr(
    all(
        target_pointer_width = "64",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ),
    cfg(test),
    allow(dead_code)
)]
mod wrapped {
    use super::{check, path_stat_of, retry, PathStat};
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::path::Path;
    use std::time::Duration;

    pub fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
        // SAFETY: flock(3) takes a descriptor, open for the call (borrowed), and an operation; no memory.
        check(unsafe { libc::flock(fd.as_raw_fd(), op) })
    }

    pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: fsync(3) takes a descriptor, open for the call (borrowed); no memory.
        retry(|| check(unsafe { libc::fsync(fd.as_raw_fd()) }))
    }

    pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
        // SAFETY: fchmod(3) takes a descriptor, open for the call (borrowed), and a mode; no memory.
        retry(|| check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }))
    }

    pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::fchown(fd, Some(uid), Some(gid))
    }

    pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    pub fn unlink(path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    pub fn lstat(path: &Path) -> io::Result<PathStat> {
        std::fs::symlink_metadata(path).map(|m| path_stat_of(&m))
    }

    pub fn sleep(d: Duration) {
        std::thread::sleep(d)
    }
}

#[cfg(test)]
#[cfg(all(
    target_pointer_width = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests {
    use super::*;
    use std::fs::{self, File, OpenOptions};
    use std::os::fd::AsFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::time::Instant;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pam-ffi-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn raw_and_wrapped_lstat_agree_and_do_not_follow_links() {
        let dir = temp_dir("lstat");
        let file = dir.join("f");
        fs::write(&file, b"12345").unwrap();
        std::os::unix::fs::symlink(&file, dir.join("link")).unwrap();
        for name in ["f", "link", "."] {
            let p = dir.join(name);
            assert_eq!(raw::lstat(&p).unwrap(), wrapped::lstat(&p).unwrap(), "{name}");
        }
        let st = lstat(&dir.join("link")).unwrap().unwrap();
        assert_eq!(st.mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(lstat(&file).unwrap().unwrap().size, 5);
        assert_eq!(lstat(&dir.join("missing")).unwrap(), None);
        let not_dir = raw::lstat(&file.join("x")).unwrap_err();
        assert_eq!(
            not_dir.raw_os_error(),
            wrapped::lstat(&file.join("x")).unwrap_err().raw_os_error()
        );
        let long = dir.join("d".repeat(200)).join("e".repeat(100));
        assert_eq!(lstat(&long).unwrap(), None);
        let nul = std::path::Path::new("a\0b");
        assert_eq!(raw::lstat(nul).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_is_exclusive_between_open_file_descriptions_and_unlock_releases_it() {
        let dir = temp_dir("lock");
        let path = dir.join("f");
        fs::write(&path, b"x").unwrap();
        let a = File::open(&path).unwrap();
        let b = File::open(&path).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        assert!(wrapped::flock(b.as_fd(), libc::LOCK_EX | libc::LOCK_NB).is_err());
        unlock(&a).unwrap();
        assert!(try_lock_exclusive(&b).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mode_rename_unlink_and_sync_do_what_libc_would() {
        let dir = temp_dir("ops");
        let from = dir.join("from");
        let to = dir.join("to");
        fs::write(&from, b"new").unwrap();
        fs::write(&to, b"old").unwrap();
        let f = OpenOptions::new().write(true).open(&from).unwrap();
        fchmod(&f, 0o640).unwrap();
        assert_eq!(fs::metadata(&from).unwrap().permissions().mode() & 0o7777, 0o640);
        let meta = fs::metadata(&from).unwrap();
        fchown(&f, meta.uid(), meta.gid()).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Different uid and gid, so that swapped arguments show; then back through libc's wrapper.
            fchown(&f, 1234, 5678).unwrap();
            let now = fs::metadata(&from).unwrap();
            assert_eq!((now.uid(), now.gid()), (1234, 5678));
            wrapped::fchown(f.as_fd(), meta.uid(), meta.gid()).unwrap();
            let back = fs::metadata(&from).unwrap();
            assert_eq!((back.uid(), back.gid()), (meta.uid(), meta.gid()));
        }
        fsync(&f).unwrap();
        fsync(File::open(&dir).unwrap()).unwrap();
        rename(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"new");
        assert_eq!(
            rename(&from, &to).unwrap_err().raw_os_error(),
            wrapped::rename(&from, &to).unwrap_err().raw_os_error()
        );
        unlink(&to).unwrap();
        assert_eq!(unlink(&to).unwrap_err().raw_os_error(), Some(libc::ENOENT));
        assert_eq!(
            unlink(&dir).unwrap_err().raw_os_error(),
            wrapped::unlink(&dir).unwrap_err().raw_os_error()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sleep_lasts_at_least_the_time_asked() {
        let start = Instant::now();
        sleep(Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
