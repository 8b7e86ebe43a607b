//! The few operating-system calls the modules need that `std` does not offer, as plain libc calls whose
//! errors go through one helper (`cerr`): the passwd entry of a user, a group's members, the real uid of the
//! caller, a guard
//! that switches the filesystem uid/gid and the supplementary groups so that file I/O happens with the
//! target user's rights and is restored on every path ([`FsIdGuard`]), and the CPU time of waited-for children
//! (for the benchmarks). It must not decide anything.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::marker::PhantomData;
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

/// A group's entry: its id and the users listed as its members (not those for whom it is the primary group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// Numeric group id.
    pub gid: u32,
    /// Member names (`gr_mem`).
    pub members: Vec<String>,
}

/// The group entry of `name`, if the group exists.
pub fn group_by_name(name: &str) -> Option<GroupRecord> {
    let c = CString::new(name).ok()?;
    let mut size = 1024usize;
    loop {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        // SAFETY: `group` is a plain C struct of pointers and integers, for which all-zero is valid.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `c` is NUL-terminated, `gr` and `result` point to locals and `buf` has `buf.len()` writable
        // bytes, all valid for the call.
        let rc = unsafe { libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && size < (1 << 20) {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        let mut members = Vec::new();
        let mut at = gr.gr_mem;
        // SAFETY: `gr_mem` is a NULL-terminated array of NUL-terminated strings in `buf`, which lives until
        // the end of this iteration; each step reads one pointer of it, up to and including the NULL.
        while !at.is_null() && !unsafe { *at }.is_null() {
            // SAFETY: as above: `*at` is a non-null member name.
            members.push(cstr_field(unsafe { *at }));
            // SAFETY: as above: the array goes on at least until its NULL, which has not been reached.
            at = unsafe { at.add(1) };
        }
        return Some(GroupRecord {
            gid: gr.gr_gid,
            members,
        });
    }
}

/// CPU time (user + system) of the calling process's children that have exited and been waited for
/// (`getrusage(RUSAGE_CHILDREN)`): the difference around one `wait` is that child's own CPU time.
pub fn children_cpu_time() -> io::Result<std::time::Duration> {
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    cerr(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) })?;
    let micros = |t: libc::timeval| {
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
    };
    Ok(std::time::Duration::from_micros(
        micros(usage.ru_utime) + micros(usage.ru_stime),
    ))
}

/// -1 from a libc call is its error, in `errno`; any other value is its result.
fn cerr<Int: Copy + TryInto<libc::c_long>>(res: Int) -> io::Result<Int> {
    match res.try_into() {
        Ok(-1) => Err(io::Error::last_os_error()),
        _ => Ok(res),
    }
}

/// Why the filesystem ids or the supplementary groups could not be switched.
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
    /// The supplementary groups could not be read or replaced (`getgroups`/`setgroups`).
    Groups(io::Error),
}

impl fmt::Display for FsIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsIdError::Id { which, wanted, got } => write!(
                f,
                "could not switch the filesystem {which} to {wanted} (still {got})"
            ),
            FsIdError::Groups(e) => write!(f, "could not switch the supplementary groups: {e}"),
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

/// The caller's supplementary groups.
fn groups() -> io::Result<Vec<libc::gid_t>> {
    // SAFETY: with a size of 0, getgroups only returns the number of groups and writes nothing.
    let n = cerr(unsafe { libc::getgroups(0, std::ptr::null_mut()) })?;
    let mut list: Vec<libc::gid_t> = vec![0; usize::try_from(n).unwrap_or(0)];
    // SAFETY: `list` has room for the `n` ids the call may write.
    let got = cerr(unsafe { libc::getgroups(n, list.as_mut_ptr()) })?;
    list.truncate(usize::try_from(got).unwrap_or(0));
    Ok(list)
}

/// Replaces the supplementary groups (of every thread: see [`FsIdGuard`]).
fn set_groups(list: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: setgroups reads `list.len()` ids from `list`, which lives for the call.
    cerr(unsafe { libc::setgroups(list.len(), list.as_ptr()) }).map(drop)
}

/// While alive, file access by this thread is the user's: filesystem uid `uid`, filesystem gid `gid` and,
/// when `uid` is not already the filesystem uid, the supplementary groups `[gid]`. Dropping it restores
/// the previous ids and groups.
///
/// **Supplementary groups.** The kernel checks a file's group bits against the filesystem gid *and* the
/// supplementary groups, so switching the ids alone would let "the user's" file access use the caller's
/// groups (in sshd, root's). The guard sets them to the user's primary group only, not to the user's full
/// list (`getgrouplist`): that never grants more than the user has, needs no group-database lookup (LDAP,
/// sssd) in the login path, and cannot half fail. A file or directory the user reaches only through a
/// supplementary group is therefore out of the module's reach: give access through the owner or the
/// primary group (the secret file must be the user's anyway). Root acting for root, and a caller acting
/// for itself, keep their groups (an unprivileged caller could not change them).
///
/// **Threads.** The filesystem ids belong to one thread, so the guard cannot be sent to another (it is not
/// `Send`). `setgroups` is per thread in the kernel, but glibc applies it to every thread of the process
/// (as it does `setuid`): while a guard lives, the process's other threads have the user's groups too, and
/// two guards alive at once in two threads would restore each other's lists. PAM hosts (sshd, sudo, su,
/// login, passwd) run a module in one thread; a multi-threaded application must not run logins in parallel
/// threads with this guard.
#[derive(Debug)]
pub struct FsIdGuard {
    old_uid: u32,
    old_gid: u32,
    uid: u32,
    gid: u32,
    /// The caller's supplementary groups, when the guard replaced them.
    old_groups: Option<Vec<libc::gid_t>>,
    _this_thread: PhantomData<*const ()>,
}

impl FsIdGuard {
    /// Switches the filesystem ids (gid first, while still privileged) and verifies the switch took effect
    /// (`setfsuid` reports no errors, so it is called a second time to read the current value back); then,
    /// when the uid changed, the supplementary groups. Any failure undoes what was done.
    ///
    /// An id that already had the wanted value needs neither the check nor the restore: whether or not the
    /// call succeeded, the id is the wanted one (like google-authenticator, which changes an id only when it
    /// differs).
    pub fn switch(uid: u32, gid: u32) -> Result<FsIdGuard, FsIdError> {
        let old_gid = switch_id(set_fsgid, gid, "gid")?;
        let old_uid =
            switch_id(set_fsuid, uid, "uid").inspect_err(|_| restore_id(set_fsgid, old_gid, gid))?;
        let mut guard = FsIdGuard {
            old_uid,
            old_gid,
            uid,
            gid,
            old_groups: None,
            _this_thread: PhantomData,
        };
        if old_uid != uid {
            // On an error, dropping the guard restores the ids.
            let old = groups().map_err(FsIdError::Groups)?;
            set_groups(&[gid]).map_err(FsIdError::Groups)?;
            guard.old_groups = Some(old);
        }
        Ok(guard)
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
        if let Some(old) = &self.old_groups {
            // Still privileged: CAP_SETGID is not one of the capabilities a non-zero fsuid masks. Nothing
            // more can be done if it fails.
            let _ = set_groups(old);
        }
        restore_id(set_fsuid, self.old_uid, self.uid);
        restore_id(set_fsgid, self.old_gid, self.gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_root_group_and_a_missing_one_then_group_lookup_finds_only_root() {
        assert_eq!(group_by_name("root").map(|g| g.gid), Some(0));
        assert!(group_by_name("no-such-group-xyzzy").is_none());
        assert!(group_by_name("bad\0name").is_none());
        // /etc/group lists members of some group on every Debian system; read one back through the call.
        let listed = std::fs::read_to_string("/etc/group").unwrap_or_default();
        if let Some((name, member)) = listed.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let first = f.get(3)?.split(',').next().filter(|m| !m.is_empty())?;
            Some((*f.first()?, first))
        }) {
            let g = group_by_name(name).expect("a group listed in /etc/group");
            assert!(g.members.iter().any(|m| m == member), "{name}: {g:?}");
        }
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
    fn a_waited_for_child_that_spins_adds_its_cpu_time() {
        let before = children_cpu_time().unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let spent = children_cpu_time().unwrap() - before;
        assert!(spent >= std::time::Duration::from_millis(5), "{spent:?}");
    }

    /// The guard tests change process-wide state (glibc's `setgroups` reaches every thread): one at a time.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn switching_to_the_current_ids_is_a_no_op_that_restores() {
        let _serial = serial();
        // Switching to the ids we already have works for any caller, root or not.
        let (uid, gid) = (effective_uid(), egid());
        let before = groups().unwrap();
        let g = FsIdGuard::switch(uid, gid).expect("switch to own ids");
        assert_eq!(groups().unwrap(), before);
        drop(g);
        assert_eq!(current_fs_ids(), (uid, gid));
        assert_eq!(groups().unwrap(), before);
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
        let _serial = serial();
        let (uid, gid) = (effective_uid(), egid());
        let high = (1u32 << 31) + 5;
        match FsIdGuard::switch(high, high) {
            Ok(g) => {
                assert_eq!(current_fs_ids(), (high, high));
                assert_eq!(groups().unwrap(), [high]);
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
        let _serial = serial();
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

    #[test]
    fn switching_to_a_user_drops_the_callers_supplementary_groups_until_drop() {
        let _serial = serial();
        if effective_uid() != 0 {
            // Needs root (setgroups, chown): `sudo tests/run-all` runs the unit tier as root.
            return;
        }
        const NOBODY: u32 = 65534;
        // A group the caller is in and the user (nobody) is not.
        const CALLER_ONLY: u32 = 4_242_424;
        let before = groups().unwrap();
        let with: Vec<u32> = before.iter().copied().chain([CALLER_ONLY]).collect();
        set_groups(&with).unwrap();
        let dir = std::env::temp_dir().join(format!("pam-ffi-groups-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let file_of = |name: &str, gid: u32| {
            let path = dir.join(name);
            std::fs::write(&path, b"x").unwrap();
            std::os::unix::fs::chown(&path, Some(0), Some(gid)).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
            path
        };
        let callers = file_of("callers-group", CALLER_ONLY);
        let users = file_of("users-group", NOBODY);

        let guard = FsIdGuard::switch(NOBODY, NOBODY).unwrap();
        let through_callers_group = std::fs::File::open(&callers).map(drop);
        let through_users_group = std::fs::File::open(&users).map(drop);
        let during = groups().unwrap();
        drop(guard);
        let after = groups().unwrap();
        set_groups(&before).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(
            through_callers_group.map_err(|e| e.raw_os_error()),
            Err(Some(libc::EACCES)),
            "the user read a file through a group of the caller's"
        );
        through_users_group.expect("the user's primary group still reads");
        assert_eq!(during, [NOBODY]);
        assert_eq!(after, with);
    }
}
