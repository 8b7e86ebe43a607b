//! Everything `totp-enroll` asks of the operating system, in safe Rust only and without linking libpam: user
//! ids (from `/proc/self/status`), the account database (a passwd-format file, `/etc/passwd` unless
//! `--passwd-file`), random bytes (`/dev/urandom`), the host name, the atomic secret-file writer, and the
//! syslog audit datagram.
//!
//! The writer is the google-authenticator write path done safely: a temporary file created with `O_EXCL`
//! under a unique name in the target directory (so a stale `~/.google_authenticator~` or an attacker's
//! symlink cannot get in the way), written, chmod/chown on the open descriptor, fsynced, renamed over the
//! target, and the directory fsynced. A crash leaves the old file or the new one, never a torn one.
//!
//! The audit line is one RFC 3164 datagram to `/dev/log` written with std's `UnixDatagram`, not the `syslog`
//! crate: that crate brings `hostname`, `log` and `time` (with formatting macros) for what is one `send`, and
//! it hides whether the socket exists, which we must report (a missing audit line is a warning, not silence).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{fchown, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// One passwd entry (the fields we use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// Parses one `name:x:uid:gid:gecos:home:shell` line.
pub fn parse_passwd_line(line: &str) -> Option<Account> {
    let mut f = line.split(':');
    let name = f.next()?;
    let _password = f.next()?;
    let uid = f.next()?.parse().ok()?;
    let gid = f.next()?.parse().ok()?;
    let _gecos = f.next()?;
    let home = f.next()?;
    if name.is_empty() || home.is_empty() {
        return None;
    }
    Some(Account {
        name: name.to_owned(),
        uid,
        gid,
        home: PathBuf::from(home),
    })
}

/// Looks an account up by name or uid in a passwd-format file. The first match wins, as in getpwnam.
pub fn find_account(passwd: &Path, by: impl Fn(&Account) -> bool) -> io::Result<Option<Account>> {
    let reader = BufReader::new(File::open(passwd)?);
    for line in reader.lines() {
        if let Some(a) = parse_passwd_line(&line?) {
            if by(&a) {
                return Ok(Some(a));
            }
        }
    }
    Ok(None)
}

/// (real uid, effective uid) of this process, from `/proc/self/status`.
pub fn uids() -> io::Result<(u32, u32)> {
    let status = fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .ok_or_else(|| io::Error::other("no Uid line in /proc/self/status"))?;
    let mut ids = line.split_whitespace().map(str::parse::<u32>);
    match (ids.next(), ids.next()) {
        (Some(Ok(real)), Some(Ok(effective))) => Ok((real, effective)),
        _ => Err(io::Error::other("malformed Uid line in /proc/self/status")),
    }
}

/// The host name (as `hostname` prints it), for the default label and issuer.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `n` bytes from `/dev/urandom`.
pub fn random_bytes(n: usize) -> io::Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; n]);
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// A uniformly random scratch code in 10000000..=99999999 (rejection sampling, so no value is favoured).
pub fn random_scratch_code() -> io::Result<u32> {
    const SPAN: u32 = 90_000_000;
    let limit = u32::MAX - (u32::MAX % SPAN);
    loop {
        let b = random_bytes(4)?;
        let mut word = [0u8; 4];
        word.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
        let v = u32::from_le_bytes(word);
        if v < limit {
            return Ok(10_000_000 + v % SPAN);
        }
    }
}

/// Replaces `path` atomically with `bytes`, mode `mode`, owned by `owner` (uid, gid) when given.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?
        .to_string_lossy()
        .into_owned();
    let (file, tmp) = create_unique(&dir, &name)?;
    let result = fill(file, bytes, mode, owner).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(&dir)?.sync_all()
}

fn create_unique(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    let mut last = io::Error::other("no temporary name");
    for _ in 0..16 {
        let tag: String = random_bytes(6)?.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = dir.join(format!(".{name}.totp-enroll.{}.{tag}", std::process::id()));
        // create_new is O_CREAT|O_EXCL: never follows a symlink, never reuses an existing file.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn fill(mut file: File, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    file.write_all(bytes)?;
    if let Some((uid, gid)) = owner {
        fchown(&file, Some(uid), Some(gid))?;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

/// Sends one syslog line (facility authpriv, severity info) to `socket`. The caller reports a failure.
pub fn audit(socket: &Path, message: &str) -> io::Result<()> {
    const AUTHPRIV_INFO: u32 = (10 << 3) | 6;
    let line = format!("<{AUTHPRIV_INFO}>totp-enroll[{}]: {message}", std::process::id());
    let sock = UnixDatagram::unbound()?;
    sock.connect(socket)?;
    sock.send(line.as_bytes())?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_and_malformed_ones_are_skipped() {
        let a = parse_passwd_line("alice:x:1000:1001:Alice,,,:/home/alice:/bin/bash").unwrap();
        assert_eq!((a.uid, a.gid, a.home), (1000, 1001, PathBuf::from("/home/alice")));
        assert!(parse_passwd_line("broken:x:abc:1:g:/h:/s").is_none());
        assert!(parse_passwd_line("short:x:1").is_none());
    }

    #[test]
    fn scratch_codes_have_eight_digits_first_not_zero() {
        for _ in 0..200 {
            let c = random_scratch_code().unwrap();
            assert!((10_000_000..=99_999_999).contains(&c));
        }
    }

    #[test]
    fn a_stale_tilde_file_does_not_break_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(".google_authenticator");
        fs::write(dir.path().join(".google_authenticator~"), "stale").unwrap();
        write_atomic(&target, b"ABC\n", 0o400, None).unwrap();
        write_atomic(&target, b"DEF\n", 0o400, None).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"DEF\n");
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o400);
        assert_eq!(
            fs::read(dir.path().join(".google_authenticator~")).unwrap(),
            b"stale"
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left behind"
        );
    }
}
