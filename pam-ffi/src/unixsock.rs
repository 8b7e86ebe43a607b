//! Connecting to a Unix stream socket within a deadline, which std cannot do: `UnixStream::connect` blocks
//! for as long as the listener's backlog stays full, and inside sshd that is a login held without limit by a
//! hung daemon. The socket is made non-blocking, `connect(2)` is retried until the deadline, and the
//! connected stream is handed back blocking. This module only connects; what is said on the stream, and
//! what a timeout means, belong to the caller.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The pause between two attempts while the listener's backlog is full.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

/// Connects to the Unix stream socket at `path`, or fails with `TimedOut` once `timeout` has passed.
pub fn connect_within(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let deadline = Instant::now() + timeout;
    let addr = socket_address(path)?;
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket just created here and owned by nothing else; OwnedFd closes it on every path.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    loop {
        // SAFETY: `addr` is a valid, initialised sockaddr_un that outlives the call, and the length passed
        // is its size; the descriptor is the open socket owned by `socket`.
        let rc = unsafe {
            libc::connect(
                socket.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        // A full backlog is EAGAIN on a non-blocking Unix socket: nothing happened, try again.
        if e.raw_os_error() != Some(libc::EAGAIN) && e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connect: the listener's backlog stayed full until the deadline",
            ));
        }
        std::thread::sleep(left.min(RETRY_PAUSE));
    }
    let stream = UnixStream::from(socket);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// `path` as a `sockaddr_un`; a path that does not fit (107 bytes and a NUL) is refused.
fn socket_address(path: &Path) -> io::Result<libc::sockaddr_un> {
    // SAFETY: sockaddr_un is a plain C struct of integers and a byte array, for which all-zero is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a usable Unix socket path (empty, too long or with a NUL byte)",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (to, from) in addr.sun_path.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    fn temp_socket(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pam-ffi-sock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir.join("s")
    }

    #[test]
    fn a_listening_socket_is_connected_and_the_stream_blocks() {
        let path = temp_socket("ok");
        let listener = UnixListener::bind(&path).unwrap();
        let mut client = connect_within(&path, Duration::from_secs(1)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        // Blocking again: a read waits (here, for its timeout) rather than failing with WouldBlock.
        client.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let e = client.read(&mut buf).unwrap_err();
        assert!(
            matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_missing_socket_and_a_bad_path_fail_at_once() {
        let path = temp_socket("missing");
        let e = connect_within(&path, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let long = std::path::PathBuf::from(format!("/{}", "x".repeat(200)));
        assert_eq!(
            connect_within(&long, Duration::from_secs(5)).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_listener_that_never_accepts_cannot_hold_the_caller_past_the_deadline() {
        let path = temp_socket("full");
        let _listener = UnixListener::bind(&path).unwrap();
        // Fill the backlog (std listens with a backlog of 128; the kernel takes one more): then a connect
        // would block for good, and connect_within must give up at its deadline instead.
        let mut held = Vec::new();
        let timeout = Duration::from_millis(100);
        let outcome = loop {
            assert!(held.len() < 10_000, "the backlog never filled");
            let start = Instant::now();
            match connect_within(&path, timeout) {
                Ok(s) => held.push(s),
                Err(e) => break (e, start.elapsed()),
            }
        };
        assert_eq!(outcome.0.kind(), io::ErrorKind::TimedOut, "{:?}", outcome.0);
        assert!(
            outcome.1 >= timeout && outcome.1 < timeout * 20,
            "gave up after {:?}",
            outcome.1
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
