//! PAM glue for pam_totp: `pam_sm_authenticate` and `pam_sm_setcred`, generic over [`PamHandle`] so that the
//! whole flow is unit-tested with `FakeHandle` (the tests at the end of this file); the exported hooks only
//! add the real clock and passwd. It owns the order of the steps and the one table from outcome to PAM
//! code, log priority and log line ([`Decision`]); where state lives and how a code is judged belong to the
//! state backend (`backend`), which reads the clock under its lock when it decides.
//!
//! The steps (`shared/design/architecture.md`):
//! 1. Module arguments are parsed first; any bad one is logged (all of them) -> PAM_SERVICE_ERR.
//! 2. The user is resolved through passwd; `${USER}` and `~` come from the canonical `pw_name` and home,
//!    and the name the client typed is logged beside it (`typed=`) when it differs.
//! 3. Probe: the backend (the secret file, or pam-totpd with `store=pamd`) looks at the state without a lock.
//!    No state and `nullok` -> PAM_IGNORE without a prompt (the only PAM_IGNORE); `grace_period` may accept
//!    without a prompt. A store that gives no verdict (pam-totpd down, late or garbled), here or at any later
//!    step, ends the login with PAM_AUTHINFO_UNAVAIL, logged at err: never a success.
//! 4. Unknown users, empty or non-UTF-8 user names, users without a file (no `nullok`), unusable files:
//!    they get the decoy backend, so the prompt, the messages and the HMAC work are those of a wrong code.
//!    `RATE_LIMIT` is not checked before the prompt: a rate-limited user is prompted too, and refused
//!    without a message, as everyone else is.
//! 5. First pass (`try_first_pass`, `use_first_pass`): a PAM_AUTHTOK holding a code-shaped reading is a
//!    submitted code like any other: decided and recorded under the lock, and logged, before the prompt.
//! 6. The code is prompted for (the lock is never held while the user types), decided and recorded under
//!    the lock, and only then answered. A code whose use cannot be recorded is refused (with `allow_readonly`
//!    too, unless it leaves nothing replayable and `RATE_LIMIT` is off).
//!
//! Log lines (LOG_AUTHPRIV, through pam_syslog, prefixed `SERVICE(pam_totp:auth):`) are `key=value`
//! records that never hold a code or a secret, for example
//! `accepted user=alice rhost=192.0.2.7 via=totp` or `refused user=alice rhost=192.0.2.7 reason=wrong-code`.
//! Every value the client controls is escaped by [`field`], so a field never holds a space or `=`.

use crate::args::{expand_secret_path, uses_home, Fallback, FixedUser, Options, PassMode, StateStore};
use crate::backend::{
    codes_to_try, holds_a_code, FileBackend, FileTarget, NoState, NoVerdict, Probe, Recorded, Request,
    StateBackend, StateTarget, StoreReason,
};
use crate::otp::Digits;
use crate::pamd_backend::PamdBackend;
use crate::store::{self, Policy};
use crate::verify::{code_candidates, Outcome, RejectReason, Via};
use pam_ffi::os::{GroupRecord, UserRecord};
use pam_ffi::{Flags, LibPam, PamCode, PamHandle, Priority, Secret};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

pam_ffi::export_pam_hooks! {
    pam_sm_authenticate => authenticate_hook,
    pam_sm_setcred => setcred_hook,
}

/// Scratch codes left at or below which the user is told how many remain.
const FEW_SCRATCH_CODES: usize = 2;

/// What the module takes from the system, as parameters.
#[derive(Debug, Clone, Copy)]
pub struct World {
    /// Unix time now; read when a decision is made (under the backend's lock), not when the hook starts.
    pub clock: fn() -> u64,
    /// passwd lookup by name.
    pub user_by_name: fn(&str) -> Option<UserRecord>,
    /// passwd lookup by uid.
    pub user_by_uid: fn(u32) -> Option<UserRecord>,
    /// group lookup by name (`fallback_users=@group`).
    pub group_by_name: fn(&str) -> Option<GroupRecord>,
    /// Where a refusal that wrote nothing rewrites the decoy file ([`DECOY_DIR`]; `None`: nowhere).
    pub decoy_dir: Option<&'static str>,
}

/// The directory of the decoy file (created by the package, 0700 root): a refusal that recorded nothing
/// rewrites `refusal` there, so that every refusal costs one durable write (threat model T7).
pub const DECOY_DIR: &str = "/var/lib/pam_totp";

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl World {
    /// The real system.
    pub fn system() -> Self {
        World {
            clock: system_now,
            user_by_name: pam_ffi::os::user_by_name,
            user_by_uid: pam_ffi::os::user_by_uid,
            group_by_name: pam_ffi::os::group_by_name,
            decoy_dir: Some(DECOY_DIR),
        }
    }
}

fn authenticate_hook(pamh: &mut LibPam, flags: Flags, args: &[String]) -> PamCode {
    authenticate(pamh, flags, args, &World::system())
}

fn setcred_hook(_pamh: &mut LibPam, _flags: Flags, _args: &[String]) -> PamCode {
    PamCode::Success
}

/// A log-line value the client may control, escaped so that it stays one field (pam-ffi's one escaper).
pub use pam_ffi::log_field as field;

/// Who and where, for log lines and the backend.
struct Ctx {
    /// The canonical name (passwd `pw_name`), or what was typed when there is no such user.
    user: String,
    /// The name as typed, when it differs from `user`.
    typed: Option<String>,
    rhost: Option<String>,
    service: String,
    /// [`World::decoy_dir`].
    decoy_dir: Option<&'static str>,
}

impl Ctx {
    fn who(&self) -> String {
        let typed = self
            .typed
            .as_deref()
            .map(|t| format!(" typed={}", field(t)))
            .unwrap_or_default();
        let rhost = field(self.rhost.as_deref().unwrap_or(""));
        format!("user={}{typed} rhost={rhost}", field(&self.user))
    }

    fn request(&self) -> Request<'_> {
        Request {
            user: &self.user,
            rhost: self.rhost.as_deref(),
            service: &self.service,
        }
    }
}

/// What the user name resolved to.
enum Resolved {
    /// The secret file, and the state file with `state=`.
    File(FileTarget, Option<StateTarget>),
    /// Prompted and refused like everyone else; the reason goes to the log.
    Nobody(Reason),
    /// Misconfiguration (a `user=` account that does not exist, a path that cannot be expanded).
    Broken(String),
}

fn resolve(opts: &Options, record: &UserRecord, world: &World) -> Resolved {
    // Whose filesystem ids the file is read and written with, and who must own it.
    let (fs_uid, fs_gid) = match &opts.user {
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
    let home = if opts.user.is_some() { None } else { home };
    let path = match expand_secret_path(&opts.secret, &record.name, home) {
        Ok(p) => p,
        Err(e) => return Resolved::Broken(format!("cannot expand secret={}: {e}", opts.secret)),
    };
    let state = match opts
        .state
        .as_deref()
        .map(|t| expand_secret_path(t, &record.name, None))
    {
        None => None,
        Some(Ok(p)) => Some(StateTarget::new(p)),
        Some(Err(e)) => {
            return Resolved::Broken(format!(
                "cannot expand state={}: {e}",
                opts.state.as_deref().unwrap_or("")
            ))
        }
    };
    Resolved::File(
        FileTarget {
            path,
            fs_uid,
            fs_gid,
            policy: Policy {
                expected_owner: (!opts.no_strict_owner).then_some(fs_uid),
                allowed_perm: opts.allowed_perm,
                ..Policy::default()
            },
        },
        state,
    )
}

/// Reads PAM_USER and PAM_RHOST and resolves the user; `Err` when libpam itself failed.
fn identify<H: PamHandle>(h: &mut H, opts: &Options, world: &World) -> Result<(Ctx, Resolved), PamCode> {
    let rhost = h.rhost().filter(|r| !r.is_empty());
    let service = h.service().unwrap_or_default();
    let typed = match h.user() {
        Ok(u) => u,
        // An empty or non-UTF-8 name: prompted like any other unknown user.
        Err(PamCode::UserUnknown) => {
            let ctx = Ctx {
                user: String::new(),
                typed: None,
                rhost,
                service,
                decoy_dir: world.decoy_dir,
            };
            return Ok((ctx, Resolved::Nobody(Reason::NoUserName)));
        }
        Err(e) => return Err(e),
    };
    let Some(record) = (world.user_by_name)(&typed) else {
        let ctx = Ctx {
            user: typed,
            typed: None,
            rhost,
            service,
            decoy_dir: world.decoy_dir,
        };
        return Ok((ctx, Resolved::Nobody(Reason::UnknownUser)));
    };
    let resolved = resolve(opts, &record, world);
    let ctx = Ctx {
        typed: (record.name != typed).then_some(typed),
        user: record.name,
        rhost,
        service,
        decoy_dir: world.decoy_dir,
    };
    Ok((ctx, resolved))
}

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
    let (ctx, resolved) = match identify(h, &opts, world) {
        Ok(x) => x,
        Err(e) => {
            h.log(Priority::Notice, &format!("refused reason=no-user-name ({e})"));
            return fail_closed(e);
        }
    };
    let mut decoy = NoState::new(&opts, world.clock);
    let decision = match (&opts.store, resolved) {
        (_, Resolved::Nobody(reason)) => attempts(h, &Login::nobody(&opts, &ctx, reason), &mut decoy),
        // The secret path and its owner do not matter when pam-totpd decides, except for break-glass users.
        (StateStore::Pamd { socket }, resolved) => {
            let local = match resolved {
                Resolved::File(target, _) if !opts.fallback_users.is_empty() => {
                    Some(FileBackend::new(target, &opts, world.clock))
                }
                _ => None,
            };
            let mut pamd = BreakGlass {
                pamd: PamdBackend::new(socket, Duration::from_secs(opts.timeout_secs)),
                local,
                allowed: || may_break_glass(&opts, &ctx.user, world),
                fell_back: false,
            };
            run(h, &opts, &ctx, &mut pamd, &mut decoy)
        }
        (StateStore::File, Resolved::File(target, state)) => {
            let file = FileBackend::new(target, &opts, world.clock);
            let mut file = match state {
                Some(state) => file.with_state(state),
                None => file,
            };
            run(h, &opts, &ctx, &mut file, &mut decoy)
        }
        (StateStore::File, Resolved::Broken(why)) => Decision::Config(why),
    };
    answer(h, &ctx, decision)
}

/// pam-totpd, or, for a `fallback_users=` user when pam-totpd cannot be asked before the prompt, the user's
/// local secret file. The switch is reported as a warning of the probe (logged at warning level); a
/// break-glass user without a usable local file is refused as unavailable, never let through by `nullok`.
/// pam-totpd failing after the prompt is `unavailable` for everyone: a code is never judged twice.
struct BreakGlass<'a, F: Fn() -> bool> {
    pamd: PamdBackend,
    local: Option<FileBackend<'a>>,
    allowed: F,
    fell_back: bool,
}

impl<F: Fn() -> bool> StateBackend for BreakGlass<'_, F> {
    fn probe(&mut self, req: &Request<'_>) -> Probe {
        let why = match self.pamd.probe(req) {
            Probe::Unavailable(why) => why,
            other => return other,
        };
        let Some(local) = self.local.as_mut().filter(|_| (self.allowed)()) else {
            return Probe::Unavailable(why);
        };
        match local.probe(req) {
            Probe::Ready {
                digits,
                grace,
                mut warnings,
                debug,
            } => {
                self.fell_back = true;
                warnings.insert(
                    0,
                    format!("reason=store-unavailable break-glass=local-secret-file: {why}"),
                );
                Probe::Ready {
                    digits,
                    grace,
                    warnings,
                    debug,
                }
            }
            Probe::Absent | Probe::Unusable(_) | Probe::Unavailable(_) => Probe::Unavailable(format!(
                "{why}; break-glass: no usable local secret file for this fallback user"
            )),
        }
    }

    fn verify_and_record(&mut self, req: &Request<'_>, codes: &[&str]) -> Result<Recorded, NoVerdict> {
        match (self.fell_back, self.local.as_mut()) {
            (true, Some(local)) => local.verify_and_record(req, codes),
            _ => self.pamd.verify_and_record(req, codes),
        }
    }
}

/// Whether `user` is named by `fallback_users=`, by name or through a group (member or primary group).
fn may_break_glass(opts: &Options, user: &str, world: &World) -> bool {
    let primary = (world.user_by_name)(user).map(|r| r.gid);
    opts.fallback_users.iter().any(|f| match f {
        Fallback::User(name) => name == user,
        Fallback::Group(group) => (world.group_by_name)(group)
            .is_some_and(|g| Some(g.gid) == primary || g.members.iter().any(|m| m == user)),
    })
}

/// Probe, then the attempts against the user's backend, or against the decoy when the probe finds nothing
/// usable.
fn run<H: PamHandle>(
    h: &mut H,
    opts: &Options,
    ctx: &Ctx,
    backend: &mut dyn StateBackend,
    decoy: &mut NoState<'_>,
) -> Decision {
    match backend.probe(&ctx.request()) {
        Probe::Ready {
            digits,
            grace,
            warnings,
            debug,
        } => {
            if opts.debug {
                h.log(Priority::Debug, &format!("debug {} {debug}", ctx.who()));
            }
            for w in warnings {
                h.log(Priority::Warning, &format!("warning {} {w}", ctx.who()));
            }
            if grace {
                return Decision::Grace;
            }
            let login = Login {
                opts,
                ctx,
                digits,
                refuse_as: None,
            };
            attempts(h, &login, backend)
        }
        Probe::Absent if opts.nullok => Decision::Ignored,
        Probe::Absent => attempts(h, &Login::nobody(opts, ctx, Reason::NotEnrolled), decoy),
        Probe::Unusable(why) => {
            h.log(
                Priority::Err,
                &format!("error {} reason=secret-file: {why}", ctx.who()),
            );
            attempts(h, &Login::nobody(opts, ctx, Reason::SecretFileUnusable), decoy)
        }
        Probe::Unavailable(why) => Decision::Unavailable(why),
    }
}

/// What the attempts of one login share.
struct Login<'a> {
    opts: &'a Options,
    ctx: &'a Ctx,
    /// Code length, for reading what was typed.
    digits: Digits,
    /// The log reason of every refusal, for a user without usable state.
    refuse_as: Option<Reason>,
}

impl<'a> Login<'a> {
    fn nobody(opts: &'a Options, ctx: &'a Ctx, reason: Reason) -> Self {
        Login {
            opts,
            ctx,
            digits: Digits::default(),
            refuse_as: Some(reason),
        }
    }
}

/// The first pass (PAM_AUTHTOK), then the prompt: each submitted code is decided and recorded before the
/// next step.
fn attempts<H: PamHandle>(h: &mut H, login: &Login<'_>, backend: &mut dyn StateBackend) -> Decision {
    let (opts, ctx) = (login.opts, login.ctx);
    let stacked = h.authtok().filter(|t| !t.is_empty());
    match opts.pass_mode {
        PassMode::Prompt => {}
        PassMode::UseFirstPass => {
            return match stacked {
                Some(token) => attempt(h, login, backend, &token, true),
                None => login
                    .refuse_as
                    .map_or(Decision::NoCode(PamCode::AuthErr), Decision::Refused),
            };
        }
        PassMode::TryFirstPass => {
            let token = stacked.filter(|t| t.as_str().is_some_and(|s| holds_a_code(s, login.digits)));
            if let Some(token) = token {
                let first = attempt(h, login, backend, &token, true);
                if matches!(first, Decision::Accepted { .. } | Decision::Unavailable(_)) {
                    return first;
                }
                // Recorded and refused: logged now, as every submitted code is, then the prompt.
                h.log(
                    first.priority(),
                    &format!("{} pass=first", first.line(&ctx.who())),
                );
            }
        }
    }
    let typed = match prompt(h, opts) {
        Ok(t) => t,
        Err(code) => return Decision::NoCode(code),
    };
    attempt(h, login, backend, &typed, opts.forward_pass)
}

/// `text` without its spaces, when it is digits and spaces only and has a space (the grouping authenticator
/// apps show); `None` otherwise.
fn without_spaces(text: &str) -> Option<Zeroizing<String>> {
    let digits_and_spaces = text.bytes().all(|b| b.is_ascii_digit() || b == b' ');
    (text.contains(' ') && digits_and_spaces).then(|| Zeroizing::new(text.replace(' ', "")))
}

/// One submitted code: decided and recorded by the backend, then turned into a [`Decision`].
fn attempt<H: PamHandle>(
    h: &mut H,
    login: &Login<'_>,
    backend: &mut dyn StateBackend,
    typed: &Secret,
    allow_password: bool,
) -> Decision {
    let (opts, ctx) = (login.opts, login.ctx);
    // A reply that is not UTF-8 is still an attempt: recorded, and refused as malformed.
    let text = typed.as_str().unwrap_or("");
    // A code typed as the phone shows it ("478 972"): its spaces are dropped (never with a password before it).
    let unspaced = (!allow_password).then(|| without_spaces(text)).flatten();
    let text = unspaced.as_deref().map_or(text, String::as_str);
    let candidates = code_candidates(text, login.digits, allow_password);
    let codes = codes_to_try(&candidates, text);
    let recorded = match backend.verify_and_record(&ctx.request(), &codes) {
        Ok(r) => r,
        Err(NoVerdict::State(why)) => return Decision::StateError(why),
        Err(NoVerdict::Unavailable(why)) => return Decision::Unavailable(why),
    };
    if opts.debug {
        h.log(
            Priority::Debug,
            &format!("debug {} {}", ctx.who(), recorded.debug),
        );
    }
    let decision = decide(h, login, &recorded);
    if !recorded.wrote && !matches!(decision, Decision::Accepted { .. }) {
        write_decoy(h, ctx);
    }
    if let (Decision::Accepted { .. }, true) = (&decision, opts.forward_pass && allow_password) {
        if let Some(c) = recorded.which.and_then(|i| candidates.get(i)) {
            if h.set_authtok(&Secret::from(c.password)).is_err() {
                return Decision::CannotForward;
            }
        }
    }
    decision
}

/// Rewrites the decoy file for a refusal that wrote nothing, so that it costs what a recorded refusal costs.
/// Only as root (another caller authenticates its own user, whom it knows); a missing directory means the
/// package did not create it (nothing to say at every refusal), anything else is logged for the admin.
fn write_decoy<H: PamHandle>(h: &mut H, ctx: &Ctx) {
    let Some(dir) = ctx.decoy_dir else { return };
    if pam_ffi::os::effective_uid() != 0 {
        return;
    }
    match store::write_decoy(Path::new(dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => h.log(
            Priority::Warning,
            &format!(
                "warning {} reason=decoy-not-written dir={dir}: {e}; recreate it with \
                 `install -d -m 0700 -o root -g root {dir}`",
                ctx.who()
            ),
        ),
        _ => {}
    }
}

/// The backend's outcome, and whether its state was saved, as a decision.
fn decide<H: PamHandle>(h: &mut H, login: &Login<'_>, recorded: &Recorded) -> Decision {
    let (opts, ctx) = (login.opts, login.ctx);
    let accepted = matches!(recorded.outcome, Outcome::Accepted { .. });
    if let Some(unsaved) = &recorded.unsaved {
        if accepted && (unsaved.replay_guard || unsaved.attempt || !opts.allow_readonly) {
            return Decision::NotSaved(unsaved.why.clone());
        }
        if !accepted && unsaved.attempt {
            return Decision::AttemptNotSaved(unsaved.why.clone());
        }
        h.log(
            Priority::Warning,
            &format!("warning {} reason=state-not-saved: {}", ctx.who(), unsaved.why),
        );
    }
    if let Some(reason) = recorded.store_reason {
        return Decision::Refused(login.refuse_as.unwrap_or(Reason::Store(reason)));
    }
    let reason = match recorded.outcome {
        Outcome::Accepted { via, scratch_left } => return Decision::Accepted { via, scratch_left },
        Outcome::Rejected(RejectReason::Malformed) => Reason::Malformed,
        Outcome::Rejected(RejectReason::WrongCode) => Reason::WrongCode,
        Outcome::Rejected(RejectReason::SkewLearning) => Reason::SkewLearning,
        Outcome::Replayed => Reason::Replayed,
        Outcome::RateLimited { retry_after_secs } => Reason::RateLimited(retry_after_secs),
        Outcome::NotConfigured => Reason::NoTotpOrHotp,
    };
    Decision::Refused(login.refuse_as.unwrap_or(reason))
}

/// Why a code was refused, for the log only (the client sees the same refusal whatever the reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    WrongCode,
    SkewLearning,
    Malformed,
    Replayed,
    RateLimited(u64),
    NoTotpOrHotp,
    UnknownUser,
    NoUserName,
    NotEnrolled,
    SecretFileUnusable,
    /// A refusal only a central store gives (pam-totpd).
    Store(StoreReason),
}

impl Reason {
    fn text(self) -> String {
        match self {
            Reason::WrongCode => "wrong-code".into(),
            Reason::SkewLearning => "wrong-code-clock-skew".into(),
            Reason::Malformed => "malformed".into(),
            Reason::Replayed => "replayed".into(),
            Reason::RateLimited(retry) => format!("rate-limited retry_after={retry}"),
            Reason::NoTotpOrHotp => "no-totp-or-hotp-in-secret-file".into(),
            Reason::UnknownUser => "unknown-user".into(),
            Reason::NoUserName => "no-user-name".into(),
            Reason::NotEnrolled => "not-enrolled".into(),
            Reason::SecretFileUnusable => "secret-file-unusable".into(),
            Reason::Store(StoreReason::Locked { retry_after_secs }) => {
                format!("locked retry_after={retry_after_secs}")
            }
            Reason::Store(StoreReason::Disabled) => "disabled".into(),
            Reason::Store(StoreReason::NotAllowed) => "not-allowed".into(),
            Reason::Store(StoreReason::NotSaved) => "state-not-saved".into(),
            Reason::Store(StoreReason::NotEnrolled) => "not-enrolled".into(),
            Reason::Store(StoreReason::Other) => "refused-by-pam-totpd".into(),
        }
    }
}

/// How a login ends: the one place that gives the PAM code, the log priority and the log line.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Accepted {
        via: Via,
        scratch_left: usize,
    },
    Grace,
    /// No state and `nullok`.
    Ignored,
    Refused(Reason),
    /// The conversation failed (or no code was there to take).
    NoCode(PamCode),
    /// The code was right but its use could not be recorded.
    NotSaved(String),
    /// A refused attempt that `RATE_LIMIT` must count could not be recorded.
    AttemptNotSaved(String),
    /// The state could not be read when deciding.
    StateError(String),
    /// The store (pam-totpd) could not be asked or gave no verdict in time: PAM_AUTHINFO_UNAVAIL.
    Unavailable(String),
    CannotForward,
    Config(String),
}

impl Decision {
    fn code(&self) -> PamCode {
        match self {
            Decision::Accepted { .. } | Decision::Grace => PamCode::Success,
            Decision::Ignored => PamCode::Ignore,
            Decision::NoCode(code) => fail_closed(*code),
            Decision::Config(_) => PamCode::ServiceErr,
            Decision::Unavailable(_) => PamCode::AuthinfoUnavail,
            Decision::Refused(_)
            | Decision::NotSaved(_)
            | Decision::AttemptNotSaved(_)
            | Decision::StateError(_)
            | Decision::CannotForward => PamCode::AuthErr,
        }
    }

    fn priority(&self) -> Priority {
        match self {
            Decision::Accepted { .. } | Decision::Grace | Decision::Ignored => Priority::Info,
            Decision::Refused(
                Reason::Replayed | Reason::RateLimited(_) | Reason::Store(StoreReason::Locked { .. }),
            ) => Priority::Warning,
            Decision::Refused(Reason::Store(StoreReason::NotSaved)) => Priority::Err,
            Decision::Refused(_) | Decision::NoCode(_) => Priority::Notice,
            Decision::NotSaved(_)
            | Decision::AttemptNotSaved(_)
            | Decision::StateError(_)
            | Decision::CannotForward
            | Decision::Unavailable(_)
            | Decision::Config(_) => Priority::Err,
        }
    }

    fn line(&self, who: &str) -> String {
        match self {
            Decision::Accepted { via, .. } => {
                let via = match via {
                    Via::Totp => "totp",
                    Via::Hotp => "hotp",
                    Via::Scratch => "scratch",
                };
                format!("accepted {who} via={via}")
            }
            Decision::Grace => format!("accepted {who} via=grace-period"),
            Decision::Ignored => format!("ignored {who} reason=no-secret-file nullok"),
            Decision::Refused(reason) => format!("refused {who} reason={}", reason.text()),
            Decision::NoCode(code) => format!("refused {who} reason=no-code ({code})"),
            Decision::NotSaved(why) => format!(
                "refused {who} reason=state-not-saved: {why}; the code is refused so that it cannot be replayed"
            ),
            Decision::AttemptNotSaved(why) => format!(
                "refused {who} reason=attempt-not-saved: {why}; RATE_LIMIT cannot count attempts, so every \
                 code is refused until the file can be written"
            ),
            Decision::StateError(why) => format!("error {who} reason={why}"),
            Decision::CannotForward => format!("error {who} reason=cannot-forward-password"),
            Decision::Unavailable(why) => format!(
                "error {who} reason=store-unavailable: {why}; no verdict, the login fails (PAM_AUTHINFO_UNAVAIL)"
            ),
            Decision::Config(why) => format!("error {who} reason=configuration: {why}"),
        }
    }
}

/// Logs the decision, tells the user what only its owner may know, and returns its PAM code.
fn answer<H: PamHandle>(h: &mut H, ctx: &Ctx, decision: Decision) -> PamCode {
    h.log(decision.priority(), &decision.line(&ctx.who()));
    if let Decision::Accepted {
        via: Via::Scratch,
        scratch_left,
    } = decision
    {
        if scratch_left <= FEW_SCRATCH_CODES {
            let _ = h.info(&format!(
                "{scratch_left} scratch code{} left. Run `totp-enroll new-scratch-codes` to get new ones.",
                if scratch_left == 1 { "" } else { "s" }
            ));
        }
    }
    decision.code()
}

/// A libpam error is passed on, but never as success.
fn fail_closed(code: PamCode) -> PamCode {
    match code {
        PamCode::Success | PamCode::Ignore => PamCode::AuthErr,
        other => other,
    }
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

#[cfg(test)]
mod tests {
    //! The flow through `FakeHandle`, with a real secret file in a temporary directory and a scripted
    //! clock. Each test named after issue 17 failed on the code before that issue was fixed.
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;
    use crate::otp::format_code;
    use crate::secret_file::SecretFile;
    use pam_ffi::{FakeHandle, FakeReply, Shown};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    const SECRET: &str = "2SH3V3GDW7ZNMGYE";
    const T: u64 = 1_800_000_000;

    thread_local! {
        /// The times the clock returns, in order; the last one stays.
        static TIMES: RefCell<VecDeque<u64>> = const { RefCell::new(VecDeque::new()) };
    }

    fn scripted_clock() -> u64 {
        TIMES.with(|t| {
            let mut t = t.borrow_mut();
            if t.len() > 1 {
                t.pop_front().unwrap_or(0)
            } else {
                t.front().copied().unwrap_or(0)
            }
        })
    }

    fn clock_reads(times: &[u64]) {
        TIMES.with(|t| *t.borrow_mut() = times.iter().copied().collect());
    }

    fn alice(name: &str) -> UserRecord {
        let me = std::fs::metadata("/proc/self").unwrap();
        UserRecord {
            name: name.to_owned(),
            uid: me.uid(),
            gid: me.gid(),
            home: PathBuf::from("/nonexistent"),
            gecos: String::new(),
            shell: String::new(),
        }
    }

    /// passwd with one user, `alice`, found case-insensitively (as sssd with `case_sensitive=false`).
    fn lookup(name: &str) -> Option<UserRecord> {
        name.eq_ignore_ascii_case("alice").then(|| alice("alice"))
    }

    fn no_uid(_: u32) -> Option<UserRecord> {
        None
    }

    /// One group, `admins`, with alice as a member.
    fn groups(name: &str) -> Option<GroupRecord> {
        (name == "admins").then(|| GroupRecord {
            gid: 4242,
            members: vec!["alice".to_owned()],
        })
    }

    fn world() -> World {
        World {
            clock: scripted_clock,
            user_by_name: lookup,
            user_by_uid: no_uid,
            group_by_name: groups,
            decoy_dir: None,
        }
    }

    /// A directory with `alice.ga` holding `body` after the secret line.
    fn enrolled(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.ga");
        std::fs::write(&path, format!("{SECRET}\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (dir, path)
    }

    fn args(dir: impl AsRef<Path>, extra: &[&str]) -> Vec<String> {
        let mut a = vec![format!("secret={}/${{USER}}.ga", dir.as_ref().display())];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    }

    fn code_at(t: u64) -> String {
        let f = SecretFile::parse(format!("{SECRET}\n").as_bytes()).unwrap();
        let otp = f.otp().unwrap();
        format_code(otp.totp(t, f.step_size()), f.digits()).to_string()
    }

    fn handle(user: &str, replies: &[&str]) -> FakeHandle {
        let mut h = FakeHandle::new(user, "sshd", replies.iter().map(|r| FakeReply::from(*r)));
        h.rhost = Some("127.0.0.1".to_owned());
        h
    }

    fn login(h: &mut FakeHandle, args: &[String]) -> PamCode {
        authenticate(h, Flags::default(), args, &world())
    }

    /// A client that takes `delay` seconds to answer each prompt: the scripted clock moves on meanwhile.
    struct Slow<'h> {
        h: &'h mut FakeHandle,
        delay: u64,
    }

    impl Slow<'_> {
        fn wait(&self) {
            let later = scripted_clock() + self.delay;
            clock_reads(&[later]);
        }
    }

    impl PamHandle for Slow<'_> {
        fn user(&mut self) -> Result<String, PamCode> {
            self.h.user()
        }
        fn service(&self) -> Option<String> {
            self.h.service()
        }
        fn rhost(&self) -> Option<String> {
            self.h.rhost()
        }
        fn tty(&self) -> Option<String> {
            self.h.tty()
        }
        fn ruser(&self) -> Option<String> {
            self.h.ruser()
        }
        fn authtok(&self) -> Option<Secret> {
            self.h.authtok()
        }
        fn old_authtok(&self) -> Option<Secret> {
            self.h.old_authtok()
        }
        fn set_authtok(&mut self, value: &Secret) -> Result<(), PamCode> {
            self.h.set_authtok(value)
        }
        fn set_old_authtok(&mut self, value: &Secret) -> Result<(), PamCode> {
            self.h.set_old_authtok(value)
        }
        fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode> {
            self.wait();
            self.h.prompt_hidden(prompt)
        }
        fn prompt_echo(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode> {
            self.wait();
            self.h.prompt_echo(prompt)
        }
        fn info(&mut self, text: &str) -> Result<(), PamCode> {
            self.h.info(text)
        }
        fn error(&mut self, text: &str) -> Result<(), PamCode> {
            self.h.error(text)
        }
        fn log(&self, priority: Priority, text: &str) {
            self.h.log(priority, text)
        }
    }

    fn slow_login(h: &mut FakeHandle, delay: u64, args: &[String]) -> PamCode {
        authenticate(&mut Slow { h, delay }, Flags::default(), args, &world())
    }

    fn last_line(h: &FakeHandle) -> String {
        h.log_lines().last().map(|l| l.text.clone()).unwrap_or_default()
    }

    fn rate_limit_of(path: &Path) -> Vec<u64> {
        let f = SecretFile::parse(&std::fs::read(path).unwrap()).unwrap();
        f.rate_limit().unwrap().timestamps.clone()
    }

    /// Decision (issue 19): a code typed with the space the phone shows is accepted; a used scratch code is
    /// logged as a wrong code, not as malformed.
    #[test]
    fn given_a_code_typed_as_the_phone_groups_it_then_it_is_accepted() {
        let (dir, _) = enrolled("\" TOTP_AUTH\n");
        clock_reads(&[T]);
        let code = code_at(T);
        let (a, b) = code.split_at(3);
        let mut h = handle("alice", &[&format!("{a} {b}")]);
        assert_eq!(login(&mut h, &args(&dir, &["noskewadj"])), PamCode::Success);
        // Letters with spaces are still no code.
        let mut h = handle("alice", &[&format!("{a} x{b}")]);
        assert_eq!(login(&mut h, &args(&dir, &["noskewadj"])), PamCode::AuthErr);
    }

    #[test]
    fn given_a_used_scratch_code_then_it_is_refused_as_a_wrong_code() {
        let (dir, _) = enrolled("\" TOTP_AUTH\n41234567\n");
        clock_reads(&[T]);
        let mut h = handle("alice", &["41234567"]);
        assert_eq!(login(&mut h, &args(&dir, &[])), PamCode::Success);
        let mut h = handle("alice", &["41234567"]);
        assert_eq!(login(&mut h, &args(&dir, &[])), PamCode::AuthErr);
        let lines: Vec<String> = h.log_lines().iter().map(|l| l.text.clone()).collect();
        assert!(
            lines
                .iter()
                .any(|l| l == "refused user=alice rhost=127.0.0.1 reason=wrong-code"),
            "{lines:?}"
        );
    }

    #[test]
    fn given_a_login_held_at_the_prompt_then_its_code_is_judged_at_the_time_it_is_checked() {
        let (dir, _) = enrolled("\" TOTP_AUTH\n");
        // Prompted at T, answered 100 s later with the code of T: three steps old, outside the window.
        clock_reads(&[T]);
        let mut h = handle("alice", &[&code_at(T)]);
        assert_eq!(
            slow_login(&mut h, 100, &args(&dir, &["noskewadj"])),
            PamCode::AuthErr
        );
        clock_reads(&[T]);
        let mut h = handle("alice", &[&code_at(T + 100)]);
        assert_eq!(
            slow_login(&mut h, 100, &args(&dir, &["noskewadj"])),
            PamCode::Success
        );
    }

    #[test]
    fn given_attempts_recorded_while_a_login_waited_at_the_prompt_then_rate_limit_keeps_and_counts_them() {
        // Three other logins recorded attempts at T+90..T+99 while this one waited since T.
        let (dir, path) = enrolled(&format!(
            "\" RATE_LIMIT 3 30 {} {} {}\n\" TOTP_AUTH\n",
            T + 90,
            T + 95,
            T + 99
        ));
        clock_reads(&[T]);
        let mut h = handle("alice", &["000000"]);
        assert_eq!(
            slow_login(&mut h, 100, &args(&dir, &["noskewadj"])),
            PamCode::AuthErr
        );
        assert!(last_line(&h).contains("reason=rate-limited"), "{}", last_line(&h));
        assert_eq!(rate_limit_of(&path), [T + 95, T + 99, T + 100]);
    }

    #[test]
    fn given_try_first_pass_then_the_stacked_code_is_recorded_before_the_prompt_even_if_the_client_leaves() {
        let (dir, path) = enrolled("\" RATE_LIMIT 5 30\n\" TOTP_AUTH\n");
        clock_reads(&[T]);
        // The client disconnects at the code prompt that follows the wrong stacked guess.
        let mut h = FakeHandle::new("alice", "sshd", [FakeReply::Fail(PamCode::ConvErr)]);
        h.authtok = Some(Secret::from("000000"));
        let code = login(&mut h, &args(&dir, &["try_first_pass", "noskewadj"]));
        assert_eq!(code, PamCode::ConvErr);
        assert_eq!(rate_limit_of(&path), [T], "the first pass counts");
        let lines: Vec<String> = h.log_lines().into_iter().map(|l| l.text).collect();
        assert!(
            lines
                .iter()
                .any(|l| l == "refused user=alice rhost=- reason=wrong-code pass=first"),
            "{lines:?}"
        );
        // A stacked password without a code-shaped reading is no guess: not recorded.
        let mut h = handle("alice", &[&code_at(T)]);
        h.authtok = Some(Secret::from("hunter2"));
        assert_eq!(login(&mut h, &args(&dir, &["try_first_pass"])), PamCode::Success);
        assert_eq!(rate_limit_of(&path), [T, T]);
    }

    #[test]
    fn given_use_first_pass_then_every_stacked_guess_counts_toward_rate_limit() {
        let (dir, path) = enrolled("\" RATE_LIMIT 2 30\n\" TOTP_AUTH\n");
        clock_reads(&[T]);
        for _ in 0..3 {
            let mut h = handle("alice", &[]);
            h.authtok = Some(Secret::from("000000"));
            assert_eq!(login(&mut h, &args(&dir, &["use_first_pass"])), PamCode::AuthErr);
        }
        let mut h = handle("alice", &[]);
        h.authtok = Some(Secret::new(code_at(T).into_bytes()));
        assert_eq!(login(&mut h, &args(&dir, &["use_first_pass"])), PamCode::AuthErr);
        assert!(last_line(&h).contains("reason=rate-limited"));
        assert_eq!(rate_limit_of(&path).len(), 2);
    }

    #[test]
    fn given_a_hostile_user_name_then_the_log_line_cannot_be_forged() {
        let (dir, _) = enrolled("\" TOTP_AUTH\n");
        clock_reads(&[T]);
        let mut h = handle("x rhost=198.51.100.77 reason=wrong-code", &["000000"]);
        assert_eq!(login(&mut h, &args(&dir, &[])), PamCode::AuthErr);
        assert_eq!(
            last_line(&h),
            "refused user=x%20rhost%3D198.51.100.77%20reason%3Dwrong-code rhost=127.0.0.1 reason=unknown-user"
        );
        assert_eq!(field("a\nb%c\u{e9}"), "a%0Ab%25c%C3%A9");
        assert_eq!(field(""), "-");
    }

    #[test]
    fn given_a_name_that_passwd_matches_case_insensitively_then_the_canonical_name_picks_the_file() {
        let (dir, _) = enrolled("\" TOTP_AUTH\n");
        clock_reads(&[T]);
        let mut h = handle("ALICE", &[&code_at(T)]);
        assert_eq!(login(&mut h, &args(&dir, &["nullok"])), PamCode::Success);
        assert_eq!(
            last_line(&h),
            "accepted user=alice typed=ALICE rhost=127.0.0.1 via=totp"
        );
    }

    #[test]
    fn given_rate_limited_unenrolled_and_unknown_users_then_the_client_sees_the_same_refusal() {
        let (dir, _) = enrolled(&format!("\" RATE_LIMIT 1 30 {T}\n\" TOTP_AUTH\n"));
        let empty = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        for (user, dir, reason) in [
            ("alice", dir.path(), "rate-limited"),
            ("alice", empty.path(), "not-enrolled"),
            ("bob", dir.path(), "unknown-user"),
        ] {
            clock_reads(&[T]);
            let mut h = handle(user, &["000000"]);
            assert_eq!(login(&mut h, &args(dir, &[])), PamCode::AuthErr);
            assert!(
                last_line(&h).contains(&format!("reason={reason}")),
                "{}",
                last_line(&h)
            );
            seen.push(h.shown.clone());
        }
        assert_eq!(seen[0], [Shown::PromptHidden("Verification code: ".into())]);
        assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
    }

    #[test]
    fn given_an_empty_or_non_utf8_user_name_then_it_is_prompted_like_an_unknown_user() {
        clock_reads(&[T]);
        let dir = tempfile::tempdir().unwrap();
        let mut h = handle("", &["000000"]);
        h.user = None;
        h.user_error = Some(PamCode::UserUnknown);
        assert_eq!(login(&mut h, &args(dir.path(), &[])), PamCode::AuthErr);
        assert_eq!(h.prompts(), ["Verification code: "]);
        assert_eq!(
            last_line(&h),
            "refused user=- rhost=127.0.0.1 reason=no-user-name"
        );
    }

    /// A backend whose state cannot be saved, as with an unwritable file or directory.
    struct ReadOnly {
        outcome: Outcome,
        rate_limit: bool,
    }

    impl StateBackend for ReadOnly {
        fn probe(&mut self, _: &Request<'_>) -> Probe {
            Probe::Ready {
                digits: Digits::default(),
                grace: false,
                warnings: Vec::new(),
                debug: String::new(),
            }
        }
        fn verify_and_record(&mut self, _: &Request<'_>, _: &[&str]) -> Result<Recorded, NoVerdict> {
            Ok(Recorded {
                outcome: self.outcome,
                store_reason: None,
                which: Some(0),
                unsaved: Some(crate::backend::Unsaved {
                    why: "read-only file system".into(),
                    replay_guard: false,
                    attempt: self.rate_limit,
                }),
                wrote: true,
                debug: String::new(),
            })
        }
    }

    /// A pam-totpd stand-in on a socket in a temporary directory: answers the requests of every connection
    /// with `script`'s bodies in order (`None`: say nothing), and hands back what it was asked.
    fn fake_daemon(
        script: Vec<Option<Vec<u8>>>,
    ) -> (
        tempfile::TempDir,
        String,
        std::sync::mpsc::Receiver<crate::pamd::Request>,
    ) {
        use crate::pamd::{read_frame, write_frame, Request as Wire};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (seen, asked) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                while let Ok(Some(body)) = read_frame(&mut stream) {
                    let _ = seen.send(Wire::decode(&body).unwrap());
                    match script.next().flatten() {
                        Some(reply) => write_frame(&mut stream, &reply).unwrap(),
                        None => std::thread::sleep(std::time::Duration::from_secs(5)),
                    }
                }
            }
        });
        (dir, format!("store=pamd:{}", path.display()), asked)
    }

    fn wire(reply: crate::pamd::Reply) -> Option<Vec<u8>> {
        Some(reply.encode().unwrap())
    }

    fn refused_wire(reason: &str) -> Option<Vec<u8>> {
        wire(crate::pamd::Reply::Refused {
            reason: reason.into(),
            retry_after: 0,
        })
    }

    #[test]
    fn given_store_pamd_and_an_accepted_code_then_success_with_the_same_log_line() {
        use crate::pamd::{Reply, Request as Wire};
        let (_dir, store, asked) = fake_daemon(vec![
            wire(Reply::Enrolled),
            wire(Reply::Accepted {
                via: "totp".into(),
                scratch_left: 0,
            }),
        ]);
        let mut h = handle("ALICE", &["123456"]);
        assert_eq!(login(&mut h, &[store]), PamCode::Success);
        assert_eq!(h.prompts(), ["Verification code: "]);
        assert_eq!(
            last_line(&h),
            "accepted user=alice typed=ALICE rhost=127.0.0.1 via=totp"
        );
        assert_eq!(asked.recv().unwrap(), Wire::Probe { user: "alice".into() });
        assert_eq!(
            asked.recv().unwrap(),
            Wire::Verify {
                user: "alice".into(),
                code: "123456".into(),
                rhost: "127.0.0.1".into(),
                service: "sshd".into()
            }
        );
    }

    #[test]
    fn given_store_pamd_and_a_refusal_then_auth_err_with_the_file_backends_reason() {
        use crate::pamd::Reply;
        for (reason, line) in [
            ("replayed", "reason=replayed"),
            ("wrong-code", "reason=wrong-code"),
            ("disabled", "reason=disabled"),
        ] {
            let (_dir, store, _) = fake_daemon(vec![wire(Reply::Enrolled), refused_wire(reason)]);
            let mut h = handle("alice", &["123456"]);
            assert_eq!(login(&mut h, &[store]), PamCode::AuthErr, "{reason}");
            assert_eq!(
                last_line(&h),
                format!("refused user=alice rhost=127.0.0.1 {line}")
            );
        }
    }

    #[test]
    fn given_store_pamd_and_a_user_not_enrolled_then_nullok_ignores_and_otherwise_refuses_like_the_file() {
        use crate::pamd::Reply;
        let (_dir, store, _) = fake_daemon(vec![wire(Reply::NotEnrolled)]);
        let mut h = handle("alice", &["000000"]);
        assert_eq!(login(&mut h, &[store, "nullok".into()]), PamCode::Ignore);
        assert!(h.shown.is_empty(), "{:?}", h.shown);
        assert_eq!(
            last_line(&h),
            "ignored user=alice rhost=127.0.0.1 reason=no-secret-file nullok"
        );

        let (_dir, store, _) = fake_daemon(vec![wire(Reply::NotEnrolled)]);
        let mut h = handle("alice", &["000000"]);
        assert_eq!(login(&mut h, &[store]), PamCode::AuthErr);
        assert_eq!(h.prompts(), ["Verification code: "]);
        assert_eq!(
            last_line(&h),
            "refused user=alice rhost=127.0.0.1 reason=not-enrolled"
        );
    }

    #[test]
    fn given_store_pamd_and_no_daemon_then_authinfo_unavail_without_a_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("store=pamd:{}/socket", dir.path().display());
        let mut h = handle("alice", &["123456"]);
        assert_eq!(login(&mut h, &[store]), PamCode::AuthinfoUnavail);
        assert!(h.shown.is_empty(), "{:?}", h.shown);
        let last = h.log_lines().pop().unwrap();
        assert_eq!(last.priority, Priority::Err);
        assert!(
            last.text
                .starts_with("error user=alice rhost=127.0.0.1 reason=store-unavailable: pam-totpd at"),
            "{}",
            last.text
        );
    }

    #[test]
    fn given_store_pamd_and_a_garbled_or_late_verdict_then_authinfo_unavail_within_the_timeout() {
        use crate::pamd::Reply;
        for last in [Some(b"\x01A\x04totp".to_vec()), None] {
            let (_dir, store, _) = fake_daemon(vec![wire(Reply::Enrolled), last]);
            let mut h = handle("alice", &["123456"]);
            let start = std::time::Instant::now();
            assert_eq!(
                login(&mut h, &[store, "timeout=1".into()]),
                PamCode::AuthinfoUnavail
            );
            assert!(start.elapsed() < std::time::Duration::from_millis(1800));
            assert!(
                last_line(&h).contains("reason=store-unavailable"),
                "{}",
                last_line(&h)
            );
        }
    }

    #[test]
    fn given_allow_readonly_and_rate_limit_then_attempts_that_cannot_be_recorded_are_refused() {
        let opts = Options {
            allow_readonly: true,
            ..Options::default()
        };
        let ctx = Ctx {
            user: "alice".into(),
            typed: None,
            rhost: None,
            service: "sshd".into(),
            decoy_dir: None,
        };
        let right = Outcome::Accepted {
            via: Via::Totp,
            scratch_left: 0,
        };
        let wrong = Outcome::Rejected(RejectReason::WrongCode);
        for (outcome, rate_limit, expected) in [
            (right, false, PamCode::Success),
            (right, true, PamCode::AuthErr),
            (wrong, true, PamCode::AuthErr),
        ] {
            let mut h = handle("alice", &["123456"]);
            let mut backend = ReadOnly { outcome, rate_limit };
            let login = Login {
                opts: &opts,
                ctx: &ctx,
                digits: Digits::default(),
                refuse_as: None,
            };
            let d = attempts(&mut h, &login, &mut backend);
            assert_eq!(d.code(), expected, "{outcome:?} rate_limit={rate_limit}");
            if rate_limit {
                assert_eq!(d.priority(), Priority::Err);
                assert!(d.line(&ctx.who()).contains("not-saved"), "{}", d.line(&ctx.who()));
            }
        }
    }

    /// A `store=pamd` argument naming a socket nobody listens on (pam-totpd down).
    fn dead_store(dir: &Path) -> String {
        format!("store=pamd:{}/no-daemon.sock", dir.display())
    }

    #[test]
    fn given_a_break_glass_user_and_pam_totpd_down_then_the_local_file_decides_with_a_warning() {
        let (dir, _) = enrolled("\" TOTP_AUTH\n");
        for who in ["fallback_users=alice", "fallback_users=bob,@admins"] {
            clock_reads(&[T]);
            let mut h = handle("alice", &[&code_at(T)]);
            let a = args(&dir, &[&dead_store(dir.path()), who, "noskewadj"]);
            assert_eq!(login(&mut h, &a), PamCode::Success, "{who}: {:?}", h.log_lines());
            let warning = h
                .log_lines()
                .into_iter()
                .find(|l| l.priority == Priority::Warning)
                .map(|l| l.text)
                .unwrap_or_default();
            assert!(
                warning.starts_with(
                    "warning user=alice rhost=127.0.0.1 reason=store-unavailable break-glass=local-secret-file: "
                ),
                "{who}: {warning}"
            );
        }
    }

    #[test]
    fn given_pam_totpd_down_then_users_not_named_and_fallback_users_without_a_file_are_refused() {
        let (dir, path) = enrolled("\" TOTP_AUTH\n");
        // Not named (by name or group): unavailable, without a prompt, as without the option.
        let mut h = handle("alice", &[&code_at(T)]);
        let a = args(
            &dir,
            &[&dead_store(dir.path()), "fallback_users=bob,@nobody-group"],
        );
        assert_eq!(login(&mut h, &a), PamCode::AuthinfoUnavail);
        assert!(h.shown.is_empty(), "{:?}", h.shown);
        // Named, but no local file: unavailable too, and `nullok` does not let them in.
        std::fs::remove_file(&path).unwrap();
        let mut h = handle("alice", &[&code_at(T)]);
        let a = args(&dir, &[&dead_store(dir.path()), "fallback_users=alice", "nullok"]);
        assert_eq!(login(&mut h, &a), PamCode::AuthinfoUnavail);
        assert!(
            last_line(&h).contains("break-glass: no usable local secret file"),
            "{}",
            last_line(&h)
        );
    }

    #[test]
    fn given_pam_totpd_up_then_a_break_glass_users_local_file_is_never_consulted() {
        use crate::pamd::Reply;
        let (dir, _) = enrolled("\" TOTP_AUTH\n");
        let (_d, store, _) = fake_daemon(vec![wire(Reply::Enrolled), refused_wire("wrong-code")]);
        clock_reads(&[T]);
        // The local file would accept this code; pam-totpd refuses it, and pam-totpd decides.
        let mut h = handle("alice", &[&code_at(T)]);
        let a = args(&dir, &[&store, "fallback_users=alice", "noskewadj"]);
        assert_eq!(login(&mut h, &a), PamCode::AuthErr);
        assert!(!h.log_lines().iter().any(|l| l.text.contains("break-glass")));
    }
}
