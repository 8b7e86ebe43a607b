//! The few operating-system calls the modules need that `std` does not offer: the passwd entry of a user,
//! the real uid of the caller, and a guard that switches the filesystem uid/gid (`setfsuid`/`setfsgid`) so
//! that file I/O happens with the target user's rights and is restored on every path.

use std::ffi::{CStr, CString};
use std::fmt;
use std::path::PathBuf;

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

/// Why the filesystem ids could not be switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsIdError {
    /// The id asked for.
    pub wanted: u32,
    /// What `setfsuid`/`setfsgid` left in place.
    pub got: u32,
    /// `"uid"` or `"gid"`.
    pub which: &'static str,
}

impl fmt::Display for FsIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not switch the filesystem {} to {} (still {})",
            self.which, self.wanted, self.got
        )
    }
}

impl std::error::Error for FsIdError {}

fn set_fsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid only changes this thread's filesystem uid; it returns the previous value.
    let prev = unsafe { libc::setfsuid(uid) };
    u32::try_from(prev).unwrap_or(u32::MAX)
}

fn set_fsgid(gid: u32) -> u32 {
    // SAFETY: setfsgid only changes this thread's filesystem gid; it returns the previous value.
    let prev = unsafe { libc::setfsgid(gid) };
    u32::try_from(prev).unwrap_or(u32::MAX)
}

/// While alive, file access by this thread uses `uid`/`gid`. Dropping it restores the previous ids.
#[derive(Debug)]
pub struct FsIdGuard {
    old_uid: u32,
    old_gid: u32,
}

impl FsIdGuard {
    /// Switches the filesystem ids (gid first, while still privileged) and verifies the switch took effect
    /// (`setfsuid` reports no errors, so it is called a second time to read the current value back).
    pub fn switch(uid: u32, gid: u32) -> Result<FsIdGuard, FsIdError> {
        let old_gid = set_fsgid(gid);
        let now_gid = set_fsgid(gid);
        if now_gid != gid {
            set_fsgid(old_gid);
            return Err(FsIdError {
                wanted: gid,
                got: now_gid,
                which: "gid",
            });
        }
        let old_uid = set_fsuid(uid);
        let now_uid = set_fsuid(uid);
        if now_uid != uid {
            set_fsuid(old_uid);
            set_fsgid(old_gid);
            return Err(FsIdError {
                wanted: uid,
                got: now_uid,
                which: "uid",
            });
        }
        Ok(FsIdGuard { old_uid, old_gid })
    }
}

impl Drop for FsIdGuard {
    fn drop(&mut self) {
        set_fsuid(self.old_uid);
        set_fsgid(self.old_gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let uid = effective_uid();
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        let g = FsIdGuard::switch(uid, gid).expect("switch to own ids");
        drop(g);
        assert_eq!(set_fsuid(uid), uid);
    }
}
