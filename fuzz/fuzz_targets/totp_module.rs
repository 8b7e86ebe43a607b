//! The whole of pam_totp's `pam_sm_authenticate` (`module::authenticate`) through pam-ffi's `FakeHandle`:
//! arbitrary module arguments, conversation replies (text bytes, NULL, failure codes), PAM_AUTHTOK, PAM_RHOST,
//! the user (the current one, an unknown one, or none), and a secret file written from arbitrary bytes (or a
//! committed fixture with option lines; or no file) to a scratch directory as `<dir>/${USER}.ga`, mode 0400,
//! owned by the current user, which the module reads, locks and rewrites with the real store.
//!
//! The arguments always end with `secret=<dir>/...` (the last `secret=` wins), so whatever else the fuzzer
//! writes, the module only touches files in the scratch directory (it runs as the current user, often root).
//!
//! Must never panic, and:
//! - the return code is one the module's table allows: SUCCESS, AUTH_ERR, SERVICE_ERR, IGNORE, or a failure
//!   code from the conversation or from `pam_get_user` passed on (never turned into SUCCESS or IGNORE);
//! - IGNORE only when the secret file does not exist and `nullok` was given;
//! - SUCCESS only with an `accepted ...` log line, never for an unknown user or a missing/unparsable file;
//! - the file on disk parses after the call whenever it parsed before (no torn or corrupt rewrite).
#![no_main]
#![forbid(unsafe_code)]

#[path = "common/totp.rs"]
mod common;

use common::{Arg, CodeSpec, FileSpec};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use pam_ffi::{FakeHandle, FakeReply};
use pam_ffi::os::{effective_uid, user_by_name, user_by_uid, UserRecord};
use pam_ffi::{Flags, PamCode, Secret};
use pam_totp::args::Options;
use pam_totp::module::{authenticate, World};
use pam_totp::secret_file::SecretFile;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The input's time, for the module's clock (a `fn`, read when it decides).
static NOW: AtomicU64 = AtomicU64::new(0);

fn fuzz_now() -> u64 {
    NOW.load(Ordering::Relaxed)
}

/// Conversation failures the fake application returns (including the two a module must never pass on as is).
const FAILS: &[PamCode] = &[
    PamCode::ConvErr,
    PamCode::BufErr,
    PamCode::Abort,
    PamCode::SystemErr,
    PamCode::AuthErr,
    PamCode::Success,
    PamCode::Ignore,
];

#[derive(Arbitrary, Debug)]
enum Reply {
    Code(CodeSpec),
    /// A password, then a code (`forward_pass`).
    PasswordAndCode(String, CodeSpec),
    Bytes(Vec<u8>),
    Null,
    Fail(u8),
}

#[derive(Arbitrary, Debug)]
enum Who {
    Me,
    Unknown,
    NoUser(u8),
}

#[derive(Arbitrary, Debug)]
enum Path {
    /// `<dir>/${USER}.ga`
    User,
    /// Through `~` (the user's home, then back up to the root).
    Tilde,
    /// `${HOME}`, likewise.
    Home,
    /// A directory that does not exist.
    Missing,
    /// Not absolute after expansion.
    Relative,
}

#[derive(Arbitrary, Debug)]
struct Input {
    now: u64,
    args: Vec<Arg>,
    path: Path,
    who: Who,
    rhost: Option<String>,
    authtok: Option<Reply>,
    replies: Vec<Reply>,
    silent: bool,
    /// `None`: no secret file.
    file: Option<FileSpec>,
}

struct Env {
    dir: PathBuf,
    me: UserRecord,
}

fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| {
        let me = user_by_uid(effective_uid()).expect("the current user has no passwd entry");
        // tmpfs when there is one: the store fsyncs every rewrite.
        let root = ["/dev/shm", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        // One directory per process (two instances may run side by side); libFuzzer exits without running
        // destructors, so directories of processes that are gone are removed here.
        if let Ok(entries) = fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name();
                let pid = name.to_str().and_then(|n| n.strip_prefix("pam_totp-fuzz-"));
                if pid.is_some_and(|p| !PathBuf::from(format!("/proc/{p}")).exists()) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = root.join(format!("pam_totp-fuzz-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("cannot create the scratch directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod scratch directory");
        Env { dir, me }
    })
}

fn reply_bytes(r: &Reply, file: Option<&SecretFile>, now: u64) -> Option<Result<Vec<u8>, PamCode>> {
    match r {
        Reply::Code(c) => Some(Ok(c.text(file, now).into_bytes())),
        Reply::PasswordAndCode(p, c) => Some(Ok(format!("{p}{}", c.text(file, now)).into_bytes())),
        Reply::Bytes(b) => Some(Ok(b.clone())),
        Reply::Null => None,
        Reply::Fail(i) => Some(Err(FAILS[usize::from(*i) % FAILS.len()])),
    }
}

fn to_fake(r: &Reply, file: Option<&SecretFile>, now: u64) -> FakeReply {
    match reply_bytes(r, file, now) {
        Some(Ok(b)) => FakeReply::Text(b),
        Some(Err(code)) => FakeReply::Fail(code),
        None => FakeReply::Null,
    }
}

fn lookup_name(name: &str) -> Option<UserRecord> {
    user_by_name(name)
}

fn lookup_uid(uid: u32) -> Option<UserRecord> {
    user_by_uid(uid)
}

fuzz_target!(|input: Input| {
    let env = env();
    let me = env.me.name.as_str();
    let dir = env.dir.to_str().expect("scratch directory is not UTF-8");
    let file_path = env.dir.join(format!("{me}.ga"));

    // The secret file.
    let _ = fs::remove_file(&file_path);
    let bytes = input.file.as_ref().map(|f| f.bytes(input.now));
    if let Some(b) = &bytes {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&file_path)
            .expect("cannot create the secret file");
        f.write_all(b).expect("cannot write the secret file");
    }
    let parsed = bytes.as_deref().and_then(|b| SecretFile::parse(b).ok());

    // Arguments: the fuzzer's, then the secret path (last wins), kept inside the scratch directory.
    let mut args: Vec<String> = input.args.iter().map(Arg::text).collect();
    let home = env.me.home.to_str().unwrap_or("/");
    let ups = "/..".repeat(home.split('/').filter(|c| !c.is_empty()).count());
    let secret = match input.path {
        Path::User => format!("{dir}/${{USER}}.ga"),
        Path::Tilde => format!("~{ups}{dir}/${{USER}}.ga"),
        Path::Home => format!("${{HOME}}{ups}{dir}/${{USER}}.ga"),
        Path::Missing => format!("{dir}/missing/${{USER}}.ga"),
        Path::Relative => "${USER}.ga".to_owned(),
    };
    args.push(format!("secret={secret}"));
    let opts = Options::parse(&args).ok();

    // The handle.
    let replies: Vec<FakeReply> = input
        .replies
        .iter()
        .take(4)
        .map(|r| to_fake(r, parsed.as_ref(), input.now))
        .collect();
    let mut h = FakeHandle::new(me, "fuzz", replies);
    match input.who {
        Who::Me => {}
        Who::Unknown => h.user = Some("pam-totp-fuzz-no-such-user".to_owned()),
        Who::NoUser(i) => {
            h.user = None;
            h.user_error = Some(FAILS[usize::from(i) % FAILS.len()]);
        }
    }
    h.rhost = input.rhost.clone();
    h.authtok = match input.authtok.as_ref().map(|r| reply_bytes(r, parsed.as_ref(), input.now)) {
        Some(Some(Ok(b))) => Some(Secret::new(b)),
        _ => None,
    };
    if input.silent {
        h.flags = Flags(pam_ffi::sys::PAM_SILENT);
    }
    NOW.store(input.now, Ordering::Relaxed);
    let world = World {
        clock: fuzz_now,
        user_by_name: lookup_name,
        user_by_uid: lookup_uid,
        group_by_name: |_| None,
        decoy_dir: None,
    };

    let flags = Flags(h.flags.0);
    let rc = authenticate(&mut h, flags, &args, &world);

    let logged = h.log_lines();
    let accepted = logged.iter().any(|l| l.text.starts_with("accepted "));
    let is_me = matches!(input.who, Who::Me);
    let path_ok = matches!(input.path, Path::User | Path::Tilde | Path::Home);
    match rc {
        PamCode::Success => {
            assert!(accepted, "PAM_SUCCESS without an accepted log line: {logged:?}");
            assert!(is_me && path_ok && parsed.is_some(), "PAM_SUCCESS without a usable secret file");
            assert!(opts.is_some(), "PAM_SUCCESS with bad arguments");
        }
        PamCode::Ignore => {
            let nullok = opts.as_ref().is_some_and(|o| o.nullok);
            let missing = bytes.is_none() || matches!(input.path, Path::Missing);
            assert!(nullok && missing && is_me, "PAM_IGNORE without nullok and a missing file");
        }
        PamCode::AuthErr | PamCode::ServiceErr => {}
        PamCode::ConvErr | PamCode::BufErr | PamCode::Abort | PamCode::SystemErr => {}
        other => panic!("unexpected return code {other:?}"),
    }
    if opts.is_none() {
        assert_eq!(rc, PamCode::ServiceErr, "bad arguments must give PAM_SERVICE_ERR");
    }
    if !accepted {
        assert_ne!(rc, PamCode::Success);
    }
    // Never a torn or corrupt rewrite.
    if parsed.is_some() {
        let after = fs::read(&file_path).expect("the secret file disappeared");
        if let Err(e) = SecretFile::parse(&after) {
            panic!("the secret file no longer parses after the module ran: {e}");
        }
    }
});
