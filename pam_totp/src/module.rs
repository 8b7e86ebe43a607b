//! PAM glue for pam_totp: `pam_sm_authenticate` and `pam_sm_setcred`, generic over [`PamHandle`] so that the
//! whole flow is unit-tested with `FakeHandle`; the exported hooks only add the real clock and passwd.
//!
//! The flow, and the one table from outcome to PAM return code (`shared/design/architecture.md`):
//! 1. Module arguments are parsed first; any bad one is logged (all of them) -> PAM_SERVICE_ERR.
//! 2. The secret file is found (`secret=`, `user=`) and read without the lock (the descriptor is kept):
//!    a missing file with `nullok` -> PAM_IGNORE without a prompt (the only PAM_IGNORE);
//!    the grace period and `RATE_LIMIT` are checked before prompting.
//! 3. The code is obtained (prompt, `try_first_pass`, `use_first_pass`, `forward_pass`). The file lock is
//!    never held while the user types.
//! 4. The exclusive lock is taken and the state made fresh (read and parsed again, unless the store
//!    shows the inode unchanged since step 2), the code verified against it, and the new state written
//!    atomically before the lock is released. A code whose use cannot be recorded is
//!    refused (with `allow_readonly` too, unless reuse was allowed anyway), so no code is ever replayable.
//! 5. Unknown users, users without a file (no `nullok`), insecure or unparsable files: the user is prompted
//!    like everyone else, the same HMAC work is done, and the answer is PAM_AUTH_ERR; only the log says why.
//!
//! Log lines (LOG_AUTHPRIV, through pam_syslog, prefixed `SERVICE(pam_totp:auth):`) are `key=value`
//! records that never hold a code or a secret, for example
//! `accepted user=alice rhost=192.0.2.7 via=totp` or `refused user=alice rhost=192.0.2.7 reason=wrong-code`.

use crate::args::{expand_secret_path, uses_home, FixedUser, Options, PassMode};
use crate::secret_file::SecretFile;
use crate::store::{Locked, Policy, Store, StoreError, Unlocked};
use crate::verify::{self, code_candidates, Outcome, RejectReason, Verdict, Via};
use pam_ffi::os::{FsIdError, FsIdGuard, UserRecord};
use pam_ffi::{Flags, LibPam, PamCode, PamHandle, Priority, Secret};
use std::time::{SystemTime, UNIX_EPOCH};

pam_ffi::export_pam_hooks! {
    pam_sm_authenticate => authenticate_hook,
    pam_sm_setcred => setcred_hook,
}

/// Scratch codes left at or below which the user is told how many remain.
const FEW_SCRATCH_CODES: usize = 2;

/// What the module takes from the system, as parameters.
#[derive(Debug, Clone, Copy)]
pub struct World {
    /// Unix time now.
    pub now: u64,
    /// passwd lookup by name.
    pub user_by_name: fn(&str) -> Option<UserRecord>,
    /// passwd lookup by uid.
    pub user_by_uid: fn(u32) -> Option<UserRecord>,
}

impl World {
    /// The real system.
    pub fn system() -> Self {
        World {
            now: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            user_by_name: pam_ffi::os::user_by_name,
            user_by_uid: pam_ffi::os::user_by_uid,
        }
    }
}

fn authenticate_hook(pamh: &mut LibPam, flags: Flags, args: &[String]) -> PamCode {
    authenticate(pamh, flags, args, &World::system())
}

fn setcred_hook(_pamh: &mut LibPam, _flags: Flags, _args: &[String]) -> PamCode {
    PamCode::Success
}

/// Who and where, for log lines.
struct Ctx {
    user: String,
    rhost: String,
}

impl Ctx {
    fn who(&self) -> String {
        format!("user={} rhost={}", self.user, self.rhost)
    }
}

/// Where the secret file is and whose rights are used to touch it.
struct Target {
    path: String,
    fs_uid: u32,
    fs_gid: u32,
    policy: Policy,
}

enum Resolved {
    Target(Target),
    /// The user does not exist (prompted and refused like everyone else).
    UnknownUser,
    /// Misconfiguration (a `user=` account that does not exist, a path that cannot be expanded).
    Broken(String),
}

fn resolve(opts: &Options, user: &str, world: &World) -> Resolved {
    let Some(record) = (world.user_by_name)(user) else {
        return Resolved::UnknownUser;
    };
    // Whose filesystem ids the file is read and written with, and who must own it.
    let (owner_uid, owner_gid) = match &opts.user {
        None => (record.uid, record.gid),
        Some(fixed) => {
            let found = match fixed {
                FixedUser::Name(n) => (world.user_by_name)(n),
                FixedUser::Uid(u) => (world.user_by_uid)(*u),
            };
            match found {
                Some(r) => (r.uid, r.gid),
                None => return Resolved::Broken(format!("user={fixed:?} does not exist")),
            }
        }
    };
    let home = record.home.to_str().filter(|h| !h.is_empty());
    let path = match expand_secret_path(&opts.secret, user, if opts.user.is_some() { None } else { home }) {
        Ok(p) => p,
        Err(e) => return Resolved::Broken(format!("cannot expand secret={}: {e}", opts.secret)),
    };
    Resolved::Target(Target {
        path,
        fs_uid: owner_uid,
        fs_gid: owner_gid,
        policy: Policy {
            expected_owner: if opts.no_strict_owner {
                None
            } else {
                Some(owner_uid)
            },
            allowed_perm: opts.allowed_perm,
            ..Policy::default()
        },
    })
}

/// The first look, before the user types: opens, checks and parses the secret file with the owner's
/// filesystem ids, without taking the lock.
fn first_look(target: &Target) -> Result<(Unlocked, SecretFile), LoadError> {
    let guard = FsIdGuard::switch(target.fs_uid, target.fs_gid)?;
    let unlocked = Store::open_unlocked(&target.path, &target.policy).map_err(LoadError::from)?;
    drop(guard);
    let file = parse(target, unlocked.bytes())?;
    Ok((unlocked, file))
}

/// Takes the lock for the file of the first look (with the owner's filesystem ids). When the file has not
/// changed since, the snapshot parsed then is the file's content and is returned as it is; otherwise the file
/// is opened, checked, read and parsed again under the lock.
fn reload(target: &Target, first: Unlocked, snapshot: SecretFile) -> Result<(Locked, SecretFile), LoadError> {
    let guard = FsIdGuard::switch(target.fs_uid, target.fs_gid)?;
    let (locked, unchanged) = first.relock().map_err(LoadError::from)?;
    drop(guard);
    if unchanged {
        return Ok((locked, snapshot));
    }
    let file = parse(target, locked.bytes())?;
    Ok((locked, file))
}

fn parse(target: &Target, bytes: &[u8]) -> Result<SecretFile, LoadError> {
    SecretFile::parse(bytes).map_err(|e| LoadError::Other(format!("{}: cannot parse: {e}", target.path)))
}

enum LoadError {
    NotFound,
    Other(String),
}

impl From<FsIdError> for LoadError {
    fn from(e: FsIdError) -> Self {
        LoadError::Other(e.to_string())
    }
}

impl From<StoreError> for LoadError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => LoadError::NotFound,
            other => LoadError::Other(other.to_string()),
        }
    }
}

/// A secret file within this many bytes of the size limit gets a warning at every login: one state update
/// (a `DISALLOW_REUSE` step, a `RATE_LIMIT` time, a grace-period host) may no longer fit, and a code whose use
/// cannot be saved is refused.
const NEAR_SIZE_LIMIT: u64 = 1024;

/// The whole of `pam_sm_authenticate`.
pub fn authenticate<H: PamHandle>(h: &mut H, _flags: Flags, args: &[String], world: &World) -> PamCode {
    let opts = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            h.log(
                Priority::Err,
                &format!("{e}; every login through this stack fails until it is fixed"),
            );
            return PamCode::ServiceErr;
        }
    };
    if opts.user.is_some() && uses_home(&opts.secret) {
        h.log(
            Priority::Err,
            "secret= uses ~ or ${HOME} together with user=; use ${USER} in the path instead",
        );
        return PamCode::ServiceErr;
    }
    let user = match h.user() {
        Ok(u) => u,
        Err(e) => {
            h.log(Priority::Notice, &format!("refused reason=no-user-name ({e})"));
            return fail_closed(e);
        }
    };
    let ctx = Ctx {
        user,
        rhost: h
            .rhost()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "-".to_owned()),
    };
    let target = match resolve(&opts, &ctx.user, world) {
        Resolved::Target(t) => t,
        Resolved::UnknownUser => return refuse_after_prompt(h, &opts, world, &ctx, "unknown-user"),
        Resolved::Broken(why) => {
            h.log(
                Priority::Err,
                &format!("error {} reason=configuration: {why}", ctx.who()),
            );
            return PamCode::ServiceErr;
        }
    };

    // First look: no lock is taken or kept while the user types (the descriptor is kept, so that an
    // unchanged file need not be read again).
    let (first, snapshot) = match first_look(&target) {
        Ok(x) => x,
        Err(LoadError::NotFound) if opts.nullok => {
            h.log(
                Priority::Info,
                &format!("ignored {} reason=no-secret-file nullok", ctx.who()),
            );
            return PamCode::Ignore;
        }
        Err(LoadError::NotFound) => return refuse_after_prompt(h, &opts, world, &ctx, "not-enrolled"),
        Err(LoadError::Other(why)) => {
            h.log(
                Priority::Err,
                &format!("error {} reason=secret-file: {why}", ctx.who()),
            );
            return refuse_after_prompt(h, &opts, world, &ctx, "secret-file-unusable");
        }
    };
    if opts.debug {
        let mode = match snapshot.mode() {
            crate::secret_file::Mode::Hotp { .. } => "hotp",
            crate::secret_file::Mode::Totp => "totp",
            crate::secret_file::Mode::ScratchOnly => "scratch-only",
        };
        h.log(
            Priority::Debug,
            &format!(
                "debug {} secret={} mode={mode} algorithm={} digits={} step={} window={} scratch_codes={} \
                 disallow_reuse={} rate_limit={}",
                ctx.who(),
                target.path,
                snapshot.algorithm().name(),
                snapshot.digits().get(),
                snapshot.step_size(),
                snapshot.window_size(),
                snapshot.scratch_codes().count(),
                snapshot.disallow_reuse().is_some(),
                snapshot.rate_limit().is_some(),
            ),
        );
    }
    let size = u64::try_from(first.bytes().len()).unwrap_or(u64::MAX);
    if size.saturating_add(NEAR_SIZE_LIMIT) > target.policy.max_size {
        h.log(
            Priority::Warning,
            &format!(
                "warning {} file={}: the secret file is {size} bytes, close to its {}-byte limit; remove \
                 comments or lines it does not need, or logins that must save state will be refused",
                ctx.who(),
                target.path,
                target.policy.max_size
            ),
        );
    }
    for w in snapshot.warnings() {
        h.log(
            Priority::Warning,
            &format!("warning {} file={}: {w}", ctx.who(), target.path),
        );
    }
    if opts.grace_period > 0
        && verify::grace_applies(
            &snapshot,
            world.now,
            Some(ctx.rhost.as_str()).filter(|r| *r != "-"),
            opts.grace_period,
        )
    {
        h.log(
            Priority::Info,
            &format!("accepted {} via=grace-period", ctx.who()),
        );
        return PamCode::Success;
    }
    if let Some(retry) = verify::rate_limited(&snapshot, world.now) {
        return rate_limited(h, &ctx, retry);
    }

    let typed = match obtain_code(h, &opts, &snapshot, world) {
        Ok(t) => t,
        Err(code) => {
            h.log(
                Priority::Notice,
                &format!("refused {} reason=no-code ({code})", ctx.who()),
            );
            return fail_closed(code);
        }
    };
    let Some(typed_str) = typed.text.as_str().map(str::to_owned) else {
        h.log(
            Priority::Notice,
            &format!("refused {} reason=malformed", ctx.who()),
        );
        return PamCode::AuthErr;
    };
    let typed_str = zeroize::Zeroizing::new(typed_str);

    // Decide against fresh state, under the lock, and record before answering.
    let (mut locked, file) = match reload(&target, first, snapshot) {
        Ok(x) => x,
        Err(LoadError::NotFound) => {
            h.log(
                Priority::Err,
                &format!(
                    "error {} reason=secret-file-vanished path={}",
                    ctx.who(),
                    target.path
                ),
            );
            return PamCode::AuthErr;
        }
        Err(LoadError::Other(why)) => {
            h.log(
                Priority::Err,
                &format!("error {} reason=secret-file: {why}", ctx.who()),
            );
            return PamCode::AuthErr;
        }
    };
    let candidates = code_candidates(&typed_str, file.digits(), typed.allow_password);
    let codes = codes_to_try(&candidates, &typed_str);
    let rhost = Some(ctx.rhost.as_str()).filter(|r| *r != "-");
    let (verdict, which): (Verdict, Option<usize>) =
        verify::verify_any(&file, world.now, &codes, &opts, rhost);
    if opts.debug {
        h.log(
            Priority::Debug,
            &format!(
                "debug {} candidates={} hmac_evaluations={} state_changed={}",
                ctx.who(),
                codes.len(),
                verdict.stats.hmac_evaluations,
                verdict.updated.is_some()
            ),
        );
    }
    if let Some(updated) = &verdict.updated {
        let guard = FsIdGuard::switch(target.fs_uid, target.fs_gid);
        let written = match guard {
            Ok(_g) => locked.replace(&updated.to_bytes()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = written {
            let accepted = matches!(verdict.outcome, Outcome::Accepted { .. });
            let replay_safe = matches!(verdict.outcome, Outcome::Accepted { via: Via::Totp, .. })
                && file.disallow_reuse().is_none();
            if accepted && !(opts.allow_readonly && replay_safe) {
                h.log(
                    Priority::Err,
                    &format!(
                        "refused {} reason=state-not-saved: {why}; the code is refused so that it cannot be replayed",
                        ctx.who()
                    ),
                );
                return PamCode::AuthErr;
            }
            h.log(
                Priority::Warning,
                &format!("warning {} reason=state-not-saved: {why}", ctx.who()),
            );
        }
    }
    drop(locked);

    match verdict.outcome {
        Outcome::Accepted { via, scratch_left } => {
            if typed.forward_password {
                if let Some(c) = which.and_then(|i| candidates.get(i)) {
                    if h.set_authtok(&Secret::from(c.password)).is_err() {
                        h.log(
                            Priority::Err,
                            &format!("error {} reason=cannot-forward-password", ctx.who()),
                        );
                        return PamCode::AuthErr;
                    }
                }
            }
            let via = match via {
                Via::Totp => "totp",
                Via::Hotp => "hotp",
                Via::Scratch => "scratch",
            };
            h.log(Priority::Info, &format!("accepted {} via={via}", ctx.who()));
            if via == "scratch" && scratch_left <= FEW_SCRATCH_CODES {
                let _ = h.info(&format!(
                    "{scratch_left} scratch code{} left. Run `totp-enroll new-scratch-codes` to get new ones.",
                    if scratch_left == 1 { "" } else { "s" }
                ));
            }
            PamCode::Success
        }
        Outcome::Rejected(reason) => {
            let reason = match reason {
                RejectReason::Malformed => "malformed",
                RejectReason::WrongCode => "wrong-code",
                RejectReason::SkewLearning => "wrong-code-clock-skew",
            };
            h.log(
                Priority::Notice,
                &format!("refused {} reason={reason}", ctx.who()),
            );
            PamCode::AuthErr
        }
        Outcome::Replayed => {
            h.log(
                Priority::Warning,
                &format!("refused {} reason=replayed", ctx.who()),
            );
            PamCode::AuthErr
        }
        Outcome::RateLimited { retry_after_secs } => rate_limited(h, &ctx, retry_after_secs),
        Outcome::NotConfigured => {
            h.log(
                Priority::Notice,
                &format!("refused {} reason=no-totp-or-hotp-in-secret-file", ctx.who()),
            );
            PamCode::AuthErr
        }
    }
}

fn rate_limited<H: PamHandle>(h: &mut H, ctx: &Ctx, retry: u64) -> PamCode {
    h.log(
        Priority::Warning,
        &format!("refused {} reason=rate-limited retry_after={retry}", ctx.who()),
    );
    let _ = h.error(&format!(
        "Too many verification attempts. Try again in {retry} seconds."
    ));
    PamCode::AuthErr
}

/// A libpam error is passed on, but never as success.
fn fail_closed(code: PamCode) -> PamCode {
    match code {
        PamCode::Success | PamCode::Ignore => PamCode::AuthErr,
        other => other,
    }
}

/// What the user typed (or what PAM_AUTHTOK held) and how to read it.
struct Typed {
    text: Secret,
    /// Text before the code is a password (forward_pass, or a code taken from PAM_AUTHTOK).
    allow_password: bool,
    /// Put that password into PAM_AUTHTOK on success (`forward_pass`).
    forward_password: bool,
}

fn prompt<H: PamHandle>(h: &mut H, opts: &Options) -> Result<Secret, PamCode> {
    let text = opts.prompt().to_owned();
    let reply = if opts.echo_verification_code {
        h.prompt_echo(&text)
    } else {
        h.prompt_hidden(&text)
    }?;
    Ok(reply.unwrap_or_default())
}

fn obtain_code<H: PamHandle>(
    h: &mut H,
    opts: &Options,
    snapshot: &SecretFile,
    world: &World,
) -> Result<Typed, PamCode> {
    let from_stack = |h: &H| h.authtok().filter(|t| !t.is_empty());
    match opts.pass_mode {
        PassMode::UseFirstPass => {
            let text = from_stack(h).ok_or(PamCode::AuthErr)?;
            Ok(Typed {
                text,
                allow_password: true,
                forward_password: opts.forward_pass,
            })
        }
        PassMode::TryFirstPass => {
            if let Some(text) = from_stack(h) {
                // Use the stacked token if it verifies against the snapshot; the real decision is made
                // again under the lock.
                if let Some(s) = text.as_str() {
                    let cands = code_candidates(s, snapshot.digits(), true);
                    let codes: Vec<&str> = cands.iter().map(|c| c.code).collect();
                    let (v, _) = verify::verify_any(snapshot, world.now, &codes, opts, None);
                    if matches!(v.outcome, Outcome::Accepted { .. }) {
                        return Ok(Typed {
                            text,
                            allow_password: true,
                            forward_password: opts.forward_pass,
                        });
                    }
                }
            }
            let text = prompt(h, opts)?;
            Ok(Typed {
                text,
                allow_password: opts.forward_pass,
                forward_password: opts.forward_pass,
            })
        }
        PassMode::Prompt => {
            let text = prompt(h, opts)?;
            Ok(Typed {
                text,
                allow_password: opts.forward_pass,
                forward_password: opts.forward_pass,
            })
        }
    }
}

/// The codes to verify for what was typed: each code-shaped reading of it (see [`code_candidates`]), or the
/// whole text when there is none, so that it is still recorded and refused as malformed.
fn codes_to_try<'a>(candidates: &[verify::Candidate<'a>], typed: &'a str) -> Vec<&'a str> {
    if candidates.is_empty() {
        vec![typed]
    } else {
        candidates.iter().map(|c| c.code).collect()
    }
}

/// Unknown user, no file, or an unusable file: the same prompt and the same work as a wrong code, then
/// PAM_AUTH_ERR. The reason goes only to the log.
fn refuse_after_prompt<H: PamHandle>(
    h: &mut H,
    opts: &Options,
    world: &World,
    ctx: &Ctx,
    reason: &str,
) -> PamCode {
    let typed = match opts.pass_mode {
        PassMode::UseFirstPass => h.authtok().unwrap_or_default(),
        _ => match prompt(h, opts) {
            Ok(t) => t,
            Err(e) => {
                h.log(
                    Priority::Notice,
                    &format!("refused {} reason={reason}", ctx.who()),
                );
                return fail_closed(e);
            }
        },
    };
    let s = typed.as_str().unwrap_or("");
    let cands = code_candidates(s, crate::otp::Digits::default(), opts.forward_pass);
    let codes = codes_to_try(&cands, s);
    let _ = verify::verify_unenrolled(world.now, &codes, opts);
    h.log(
        Priority::Notice,
        &format!("refused {} reason={reason}", ctx.who()),
    );
    PamCode::AuthErr
}
