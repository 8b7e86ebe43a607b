//! Everything `totp-enroll` asks of the operating system, in safe Rust only and without linking libpam: user
//! ids (from `/proc/self/status`), the account database (a passwd-format file, `/etc/passwd` unless
//! `--passwd-file`), random bytes (`/dev/urandom`), the host name and the syslog audit datagram. Secret
//! files are not its business: they are read and written only through `pam_totp::store` (see `secret`).
//!
//! The audit line is one RFC 3164 datagram to `/dev/log` written with std's `UnixDatagram`, not the `syslog`
//! crate: that crate brings `hostname`, `log` and `time` (with formatting macros) for what is one `send`, and
//! it hides whether the socket exists, which we must report (a missing audit line is a warning, not silence).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
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
}
