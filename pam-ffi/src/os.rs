//! The few operating-system calls the modules need that `std` does not offer, as plain libc calls whose
//! errors go through one helper (`cerr`): the passwd entry of a user, the real uid of the caller, a guard
//! that switches the filesystem uid/gid so that file I/O happens with the
//! target user's rights and is restored on every path ([`FsIdGuard`]), and a read-only memory mapping of a
//! file ([`Mapping`]), for pam_pwpolicy's breached-password blocklist. It must not decide anything.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A user's passwd entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
    /// GECOS field (full name and so on), possibly empty.
    pub gecos: String,
    /// Login shell.
    pub shell: String,
}

fn cstr_field(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: `p` is a non-null field of a `passwd` filled by getpwnam_r/getpwuid_r, pointing into the
    // buffer we own for the duration of the call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn lookup(
    by: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> i32,
) -> Option<UserRecord> {
    let mut size = 1024usize;
    loop {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        // SAFETY: `passwd` is a plain C struct of pointers and integers, for which all-zero is valid.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = by(&mut pw, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE && size < (1 << 20) {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(UserRecord {
            name: cstr_field(pw.pw_name),
            uid: pw.pw_uid,
            gid: pw.pw_gid,
            home: PathBuf::from(cstr_field(pw.pw_dir)),
            gecos: cstr_field(pw.pw_gecos),
            shell: cstr_field(pw.pw_shell),
        });
    }
}

/// The passwd entry of `name`, if the user exists.
pub fn user_by_name(name: &str) -> Option<UserRecord> {
    let c = CString::new(name).ok()?;
    lookup(|pw, buf, len, out| {
        // SAFETY: all pointers are valid for the call: `c` is NUL-terminated, `pw`/`out` point to locals and
        // `buf` has `len` writable bytes (see `lookup`).
        unsafe { libc::getpwnam_r(c.as_ptr(), pw, buf, len, out) }
    })
}

/// The passwd entry of `uid`, if any.
pub fn user_by_uid(uid: u32) -> Option<UserRecord> {
    lookup(|pw, buf, len, out| {
        // SAFETY: as in `user_by_name`.
        unsafe { libc::getpwuid_r(uid, pw, buf, len, out) }
    })
}

/// The real user id of the calling process (who ran `passwd`, `sudo`, ...).
pub fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id of the calling process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// -1 from a libc call is its error, in `errno`; any other value is its result.
fn cerr<Int: Copy + TryInto<libc::c_long>>(res: Int) -> io::Result<Int> {
    match res.try_into() {
        Ok(-1) => Err(io::Error::last_os_error()),
        _ => Ok(res),
    }
}

/// Why the filesystem ids could not be switched.
#[derive(Debug)]
pub enum FsIdError {
    /// `setfsuid`/`setfsgid` left another id in place.
    Id {
        /// `"uid"` or `"gid"`.
        which: &'static str,
        /// The id asked for.
        wanted: u32,
        /// What the call left in place.
        got: u32,
    },
}

impl fmt::Display for FsIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsIdError::Id { which, wanted, got } => write!(
                f,
                "could not switch the filesystem {which} to {wanted} (still {got})"
            ),
        }
    }
}

impl std::error::Error for FsIdError {}

/// The kernel returns the previous id as an `int`: ids from 2^31 up (valid, and used in user namespaces)
/// come back negative, and are the same 32 bits read as unsigned.
fn id_from_raw(raw: libc::c_int) -> u32 {
    u32::from_ne_bytes(raw.to_ne_bytes())
}

fn set_fsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid only changes this thread's filesystem uid; it returns the previous value.
    id_from_raw(unsafe { libc::setfsuid(uid) })
}

fn set_fsgid(gid: u32) -> u32 {
    // SAFETY: setfsgid only changes this thread's filesystem gid; it returns the previous value.
    id_from_raw(unsafe { libc::setfsgid(gid) })
}

/// While alive, file access by this thread uses `uid`/`gid`. Dropping it restores the previous ids.
///
/// The filesystem ids belong to one thread, so the guard cannot be sent to another (it is not `Send`).
#[derive(Debug)]
pub struct FsIdGuard {
    old_uid: u32,
    old_gid: u32,
    uid: u32,
    gid: u32,
    _this_thread: PhantomData<*const ()>,
}

impl FsIdGuard {
    /// Switches the filesystem ids (gid first, while still privileged) and verifies the switch took effect
    /// (`setfsuid` reports no errors, so it is called a second time to read the current value back).
    ///
    /// An id that already had the wanted value needs neither the check nor the restore: whether or not the
    /// call succeeded, the id is the wanted one (like google-authenticator, which changes an id only when it
    /// differs).
    pub fn switch(uid: u32, gid: u32) -> Result<FsIdGuard, FsIdError> {
        let old_gid = switch_id(set_fsgid, gid, "gid")?;
        let old_uid =
            switch_id(set_fsuid, uid, "uid").inspect_err(|_| restore_id(set_fsgid, old_gid, gid))?;
        Ok(FsIdGuard {
            old_uid,
            old_gid,
            uid,
            gid,
            _this_thread: PhantomData,
        })
    }
}

/// Sets one filesystem id to `wanted` and returns the previous one. When it was not already `wanted`, the
/// change is read back, and undone if the kernel refused it.
fn switch_id(set: fn(u32) -> u32, wanted: u32, which: &'static str) -> Result<u32, FsIdError> {
    let old = set(wanted);
    if old != wanted {
        let now = set(wanted);
        if now != wanted {
            set(old);
            return Err(FsIdError::Id {
                which,
                wanted,
                got: now,
            });
        }
    }
    Ok(old)
}

/// Puts back the id `old` that [`switch_id`] replaced by `wanted` (nothing to do if they are the same).
fn restore_id(set: fn(u32) -> u32, old: u32, wanted: u32) {
    if old != wanted {
        set(old);
    }
}

impl Drop for FsIdGuard {
    fn drop(&mut self) {
        restore_id(set_fsuid, self.old_uid, self.uid);
        restore_id(set_fsgid, self.old_gid, self.gid);
    }
}

/// A whole file mapped read-only (`PROT_READ`, `MAP_PRIVATE`), unmapped on drop.
///
/// The file is opened with `O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK` (a symbolic link is refused, a FIFO
/// cannot block), checked on the
/// open descriptor to be a regular file, mapped, and the descriptor closed (the mapping keeps the inode).
/// The kernel is told access is random (`MADV_RANDOM`): a lookup touches a few pages, and read-ahead around
/// each would only slow the first lookup down.
///
/// **Caveat, SIGBUS:** if the file is truncated (or rewritten in place, shorter) while mapped, reading a
/// page past the new end kills the process with `SIGBUS`, and nothing in-process can check for that
/// beforehand. Replace such files by writing a new file and renaming it over the old one, never in place:
/// the mapping then keeps reading the old inode. A file of length 0 gives an empty slice (no mapping).
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
    mode: u32,
    uid: u32,
}

impl Mapping {
    /// Opens and maps `path`.
    pub fn open(path: &Path) -> std::io::Result<Mapping> {
        use std::io::{Error, ErrorKind};
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::new(ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        // O_NONBLOCK: a FIFO put at the path must not block the login waiting for a writer (no effect on files).
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: `c` is a valid NUL-terminated string; open has no other preconditions.
        let fd = Fd(cerr(unsafe { libc::open(c.as_ptr(), flags) })?);
        // SAFETY: `stat` is a plain C struct of integers, for which all-zero is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd.0` is an open descriptor and `st` a writable stat buffer.
        cerr(unsafe { libc::fstat(fd.0, &mut st) })?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
        }
        let len = usize::try_from(st.st_size)
            .map_err(|_| Error::new(ErrorKind::InvalidData, "file too large to map"))?;
        let (mode, uid) = (st.st_mode, st.st_uid);
        if len == 0 {
            return Ok(Mapping {
                ptr: std::ptr::null_mut(),
                len: 0,
                mode,
                uid,
            });
        }
        // SAFETY: a fresh read-only private mapping of `len` bytes of an open regular file at an address the
        // kernel chooses; it aliases no Rust object. The result is checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                fd.0,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os_error());
        }
        // SAFETY: `ptr`/`len` is the mapping just made; madvise only changes paging hints (failure is harmless
        // and ignored).
        unsafe { libc::madvise(ptr, len, libc::MADV_RANDOM) };
        Ok(Mapping { ptr, len, mode, uid })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` is a live PROT_READ mapping of exactly `len` bytes, unmapped only in `drop`, so it
        // outlives the returned borrow of `self`; nothing writes through it (MAP_PRIVATE, read-only). The one
        // hazard is outside the type system: a file truncated while mapped raises SIGBUS (see the type docs).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// The file's mode bits (type and permissions), from `fstat` on the opened descriptor.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The file's owner, from `fstat` on the opened descriptor.
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if !self.ptr.is_null() && self.len > 0 {
            // SAFETY: `ptr`/`len` is the mapping made in `open`, unmapped exactly once, here; no borrow of it
            // can outlive `self`.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

/// Closes a descriptor on every path.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor was opened by `Mapping::open`, is owned by this guard and closed only here.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_file_then_mapping_shows_its_bytes_and_refuses_links_and_directories() {
        let dir = std::env::temp_dir().join(format!("pam-ffi-map-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"hello mapping").unwrap();
        let m = Mapping::open(&f).unwrap();
        assert_eq!(m.bytes(), b"hello mapping");
        assert_eq!(m.mode() & libc::S_IFMT, libc::S_IFREG);
        assert_eq!(m.uid(), effective_uid());
        std::fs::write(dir.join("empty"), b"").unwrap();
        assert!(Mapping::open(&dir.join("empty")).unwrap().bytes().is_empty());
        std::os::unix::fs::symlink(&f, dir.join("link")).unwrap();
        let e = Mapping::open(&dir.join("link")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        assert!(Mapping::open(&dir).is_err());
        // A FIFO is refused at once rather than blocking the caller until a writer appears.
        assert!(std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status()
            .unwrap()
            .success());
        assert!(Mapping::open(&dir.join("fifo")).is_err());
        assert!(Mapping::open(&dir.join("missing")).is_err());
        drop(m);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn given_root_and_a_missing_user_then_lookup_finds_only_root() {
        let root = user_by_name("root").expect("root in passwd");
        assert_eq!(root.uid, 0);
        assert_eq!(user_by_uid(0).map(|u| u.name), Some("root".to_owned()));
        assert!(user_by_name("no-such-user-xyzzy").is_none());
        assert!(user_by_name("bad\0name").is_none());
    }

    #[test]
    fn switching_to_the_current_ids_is_a_no_op_that_restores() {
        // Switching to the ids we already have works for any caller, root or not.
        let (uid, gid) = (effective_uid(), egid());
        let g = FsIdGuard::switch(uid, gid).expect("switch to own ids");
        drop(g);
        assert_eq!(current_fs_ids(), (uid, gid));
    }

    #[test]
    fn ids_from_two_to_the_31_up_survive_the_kernels_int() {
        assert_eq!(id_from_raw(0), 0);
        assert_eq!(id_from_raw(1000), 1000);
        assert_eq!(id_from_raw(i32::MIN), 1 << 31);
        assert_eq!(id_from_raw(-2), 4_294_967_294);
    }

    #[test]
    fn an_id_from_two_to_the_31_up_is_switched_to_and_read_back_whole() {
        let (uid, gid) = (effective_uid(), egid());
        let high = (1u32 << 31) + 5;
        match FsIdGuard::switch(high, high) {
            Ok(g) => {
                assert_eq!(current_fs_ids(), (high, high));
                drop(g);
            }
            Err(e) => assert_ne!(uid, 0, "root could not switch: {e}"),
        }
        assert_eq!(current_fs_ids(), (uid, gid));
    }

    fn egid() -> u32 {
        // SAFETY: getegid has no preconditions.
        unsafe { libc::getegid() }
    }

    /// The current filesystem ids: an invalid id (-1) changes nothing and returns the current value.
    fn current_fs_ids() -> (u32, u32) {
        (set_fsuid(u32::MAX), set_fsgid(u32::MAX))
    }

    #[test]
    fn switching_to_other_ids_takes_effect_and_drop_restores_each_changed_id() {
        let (uid, gid) = (effective_uid(), egid());
        let other = |id: u32| if id == 65534 { 65533 } else { 65534 };
        // Both ids differ, only the gid, only the uid (refused for a non-root caller after nothing changed).
        for (want_uid, want_gid) in [(other(uid), other(gid)), (uid, other(gid)), (other(uid), gid)] {
            match FsIdGuard::switch(want_uid, want_gid) {
                Ok(g) => {
                    assert_eq!(current_fs_ids(), (want_uid, want_gid));
                    drop(g);
                }
                // Only root (CAP_SETUID/CAP_SETGID) may take ids it does not have; a refused switch leaves
                // nothing changed.
                Err(e) => assert_ne!(uid, 0, "root could not switch: {e}"),
            }
            assert_eq!(current_fs_ids(), (uid, gid));
        }
    }
}
