//! The Unix socket side: who is asking (SO_PEERCRED), whether they may ask about that user, and one thread per
//! client reading length-prefixed requests and writing replies (pam_totp::pamd owns the format). It decides
//! nothing about codes: every verdict comes from the database through [`Pool`].

use crate::db::Pool;
use crate::log;
use pam_totp::pamd::{read_frame, write_frame, Reply, Request};
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a client may take to send its next request before the connection is closed.
const CLIENT_IDLE: Duration = Duration::from_secs(10);

/// Binds `path` (replacing a stale socket left by a previous run, never another kind of file), mode 0666:
/// access is decided per request from the peer's uid, so screen lockers running as the user can ask.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// uid 0 may ask about any user; any other uid only about the user it is.
pub fn may_ask(peer_uid: u32, user: &str, uid_of: impl FnOnce(&str) -> Option<u32>) -> bool {
    peer_uid == 0 || uid_of(user) == Some(peer_uid)
}

/// Accepts clients for ever, at most `max_clients` at a time.
pub fn serve(listener: &UnixListener, pool: &Arc<Pool>, max_clients: usize) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                log(format_args!("accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= max_clients {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = answer(
                &mut stream,
                &Reply::unavailable("pam-totpd is serving too many clients"),
            );
            continue;
        }
        let (pool, done) = (pool.clone(), active.clone());
        let spawned = std::thread::Builder::new().spawn(move || {
            client(stream, &pool);
            done.fetch_sub(1, Ordering::AcqRel);
        });
        if let Err(e) = spawned {
            log(format_args!("cannot start a client thread: {e}"));
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn answer(stream: &mut UnixStream, reply: &Reply) -> io::Result<()> {
    let body = reply
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    write_frame(stream, &body)
}

/// One client: requests in order until it closes, goes idle, or sends something malformed.
fn client(mut stream: UnixStream, pool: &Pool) {
    let peer = match pam_ffi::peercred::peer_cred(&stream) {
        Ok(cred) => cred,
        Err(e) => {
            log(format_args!("cannot read the peer's credentials, closing: {e}"));
            return;
        }
    };
    if stream.set_read_timeout(Some(CLIENT_IDLE)).is_err()
        || stream.set_write_timeout(Some(CLIENT_IDLE)).is_err()
    {
        return;
    }
    while let Ok(Some(body)) = read_frame(&mut stream) {
        let (reply, keep_going) = match Request::decode(&body) {
            Ok(request) => (authorized(peer.uid, request, pool), true),
            Err(e) => {
                log(format_args!("uid {}: {e}", peer.uid));
                (Reply::unavailable(e.to_string()), false)
            }
        };
        if answer(&mut stream, &reply).is_err() || !keep_going {
            return;
        }
    }
}

fn authorized(peer_uid: u32, request: Request, pool: &Pool) -> Reply {
    let user = request.user();
    if !may_ask(peer_uid, user, |name| {
        pam_ffi::os::user_by_name(name).map(|u| u.uid)
    }) {
        log(format_args!("uid {peer_uid} may not ask about user {user:?}"));
        return Reply::Refused {
            reason: "not-allowed".into(),
            retry_after: 0,
        };
    }
    pool.ask(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_may_ask_about_anyone_and_others_only_about_themselves() {
        let uid_of = |name: &str| match name {
            "alice" => Some(1000),
            "bob" => Some(1001),
            _ => None,
        };
        assert!(may_ask(0, "alice", uid_of));
        assert!(may_ask(0, "nobody-known", uid_of));
        assert!(may_ask(1000, "alice", uid_of));
        assert!(!may_ask(1000, "bob", uid_of));
        assert!(!may_ask(1000, "nobody-known", uid_of));
    }

    #[test]
    fn binding_replaces_a_stale_socket_but_never_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        drop(bind(&path).unwrap());
        bind(&path).unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "keep").unwrap();
        assert!(bind(&file).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    }
}
