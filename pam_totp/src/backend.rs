//! Where a user's state lives, behind one small trait: the module's flow asks a [`StateBackend`] to
//! [`probe`](StateBackend::probe) the user before prompting and to
//! [`verify_and_record`](StateBackend::verify_and_record) each submitted code, and maps what comes back to a
//! PAM answer. [`FileBackend`] implements it with the secret file (`store` for the file, `secret_file` for
//! the format, `verify` for the decision), or, with `state=`, with a secret file it only reads and a
//! root-owned state file (`state_file` for that format) that it locks, decides under and replaces; [`NoState`] is what unknown and unenrolled users get: the same
//! work, never a success. A backend owns reading the clock *when it decides* (under its lock), so a code is
//! judged, and an attempt recorded, at the time it is checked. It must not talk to the user or log; the
//! trait stays std-only so that another backend (pam-totpd over a Unix socket, `pamd_backend`) implements it.

use crate::args::Options;
use crate::otp::Digits;
use crate::secret_file::{Mode, SecretFile};
use crate::state_file::{self, State};
use crate::store::{Locked, Policy, Store, StoreError, Unlocked};
use crate::verify::{self, code_candidates, Outcome, Via};
use pam_ffi::os::{FsIdError, FsIdGuard};

/// Who is logging in, and from where (the shape a remote backend needs).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The canonical user name (passwd `pw_name`).
    pub user: &'a str,
    /// PAM_RHOST, when set and not empty.
    pub rhost: Option<&'a str>,
    /// PAM_SERVICE.
    pub service: &'a str,
}

/// The first look, before the user is prompted.
#[derive(Debug)]
pub enum Probe {
    /// The user has state: prompt for a code of `digits` digits (unless `grace` lets them in).
    Ready {
        /// Code length, for reading what was typed.
        digits: Digits,
        /// `grace_period` applies to this host: accept without a prompt.
        grace: bool,
        /// Lines for the admin at warning level (never a secret or a code).
        warnings: Vec<String>,
        /// One `key=value` line for `debug`.
        debug: String,
    },
    /// The user has no state at all (`nullok` applies).
    Absent,
    /// There is state but it cannot be used; the text is for the admin.
    Unusable(String),
    /// The store cannot be asked (a daemon down or out of time): no verdict at all; the text is for the admin.
    Unavailable(String),
}

/// What [`StateBackend::verify_and_record`] decided and recorded.
#[derive(Debug)]
pub struct Recorded {
    /// The decision.
    pub outcome: Outcome,
    /// A refusal the store names itself, which no outcome of the file format describes; when set, `outcome`
    /// is a refusal and this is the reason logged.
    pub store_reason: Option<StoreReason>,
    /// Which of the codes was accepted.
    pub which: Option<usize>,
    /// The new state could not be saved: why, and what was lost.
    pub unsaved: Option<Unsaved>,
    /// The attempt was written (or a write was tried) by the backend: a local state file replaced, or a
    /// store that records every attempt. When `false`, a refusal rewrites the decoy file instead, so that
    /// its time does not tell an enrolled user from an unknown one.
    pub wrote: bool,
    /// One `key=value` line for `debug`.
    pub debug: String,
}

/// Refusals only a central store gives (pam-totpd's reasons beyond the file backend's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreReason {
    /// Too many consecutive failures fleet-wide: refused until an admin unlocks or the cool-down passes.
    Locked {
        /// Seconds until the cool-down ends.
        retry_after_secs: u64,
    },
    /// The user or every token is disabled by an admin.
    Disabled,
    /// The store does not let this caller ask about this user.
    NotAllowed,
    /// The verdict could not be committed, so the code was refused.
    NotSaved,
    /// The user is not enrolled (any more).
    NotEnrolled,
    /// A refusal reason this module does not know.
    Other,
}

/// Why [`StateBackend::verify_and_record`] gave no verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoVerdict {
    /// The state could not be read (the text is for the admin).
    State(String),
    /// The store could not be asked, or did not answer in time or in form (the text is for the admin).
    Unavailable(String),
}

/// A state change that could not be saved.
#[derive(Debug)]
pub struct Unsaved {
    /// For the admin.
    pub why: String,
    /// What was lost stops a replay (a used step, a scratch code, an HOTP counter).
    pub replay_guard: bool,
    /// What was lost is an attempt that `RATE_LIMIT` counts.
    pub attempt: bool,
}

/// The seam between the module's flow and the place state is kept.
pub trait StateBackend {
    /// Looks at the user's state without deciding anything and without holding a lock.
    fn probe(&mut self, req: &Request<'_>) -> Probe;
    /// Decides one submitted code (each of `codes` is a reading of it) under the backend's lock, with the
    /// clock read there, and records the attempt before returning. `Err` when there is no verdict.
    fn verify_and_record(&mut self, req: &Request<'_>, codes: &[&str]) -> Result<Recorded, NoVerdict>;
}

/// Where a user's secret file is and whose rights are used to touch it.
#[derive(Clone, Debug)]
pub struct FileTarget {
    /// The expanded path.
    pub path: String,
    /// Filesystem uid used for every access.
    pub fs_uid: u32,
    /// Filesystem gid used for every access.
    pub fs_gid: u32,
    /// The checks the file must pass.
    pub policy: Policy,
}

/// Where `state=` keeps one user's state: a root-owned file, read and written with the module's own ids.
#[derive(Clone, Debug)]
pub struct StateTarget {
    /// The expanded path.
    pub path: String,
    /// The checks the file must pass (owner root, mode 0600 at most).
    pub policy: Policy,
}

impl StateTarget {
    /// The state file at `path`, with the state-file checks.
    pub fn new(path: String) -> Self {
        StateTarget {
            path,
            policy: Policy {
                expected_owner: Some(0),
                allowed_perm: state_file::STATE_MODE,
                ..Policy::default()
            },
        }
    }
}

/// A secret file within this many bytes of the size limit gets a warning at every login: one state update
/// may no longer fit, and a code whose use cannot be saved is refused.
const NEAR_SIZE_LIMIT: u64 = 1024;

/// The secret-file backend.
#[derive(Debug)]
pub struct FileBackend<'a> {
    target: FileTarget,
    options: &'a Options,
    clock: fn() -> u64,
    /// The first look, kept (descriptor and parsed content) so that an unchanged file is not read again.
    first: Option<(Unlocked, SecretFile)>,
    /// `state=`: the state lives there and the secret file is only read.
    state: Option<StateTarget>,
}

impl<'a> FileBackend<'a> {
    /// A backend for one login.
    pub fn new(target: FileTarget, options: &'a Options, clock: fn() -> u64) -> Self {
        FileBackend {
            target,
            options,
            clock,
            first: None,
            state: None,
        }
    }

    /// The `state=` mode: state is read from and written to `state`; the secret file is never written.
    pub fn with_state(mut self, state: StateTarget) -> Self {
        self.state = Some(state);
        self
    }

    fn parse(&self, bytes: &[u8]) -> Result<SecretFile, LoadError> {
        SecretFile::parse(bytes)
            .map_err(|e| LoadError::Other(format!("{}: cannot parse: {e}", self.target.path)))
    }

    /// Opens, checks and parses the file without the lock, with the owner's filesystem ids.
    fn first_look(&self) -> Result<(Unlocked, SecretFile), LoadError> {
        let guard = FsIdGuard::switch(self.target.fs_uid, self.target.fs_gid)?;
        let unlocked = Store::open_unlocked(&self.target.path, &self.target.policy)?;
        drop(guard);
        let file = self.parse(unlocked.bytes())?;
        Ok((unlocked, file))
    }

    /// Takes the lock; the first look's content is reused when the file has not changed since.
    fn lock(&mut self) -> Result<(Locked, SecretFile), LoadError> {
        let guard = FsIdGuard::switch(self.target.fs_uid, self.target.fs_gid)?;
        let (locked, kept) = match self.first.take() {
            Some((first, snapshot)) => {
                let (locked, unchanged) = first.relock()?;
                (locked, unchanged.then_some(snapshot))
            }
            None => (Store::open_locked(&self.target.path, &self.target.policy)?, None),
        };
        drop(guard);
        match kept {
            Some(file) => Ok((locked, file)),
            None => {
                let file = self.parse(locked.bytes())?;
                Ok((locked, file))
            }
        }
    }

    fn warnings(&self, first: &Unlocked, file: &SecretFile) -> Vec<String> {
        let path = &self.target.path;
        let max = self.target.policy.max_size;
        let size = u64::try_from(first.bytes().len()).unwrap_or(u64::MAX);
        let mut out = Vec::new();
        // With state=, the secret file is never rewritten: its size cannot stop a save.
        if self.state.is_none() && size.saturating_add(NEAR_SIZE_LIMIT) > max {
            out.push(format!(
                "file={path}: the secret file is {size} bytes, close to its {max}-byte limit; remove comments \
                 or lines it does not need, or logins that must save state will be refused"
            ));
        }
        out.extend(file.warnings().iter().map(|w| format!("file={path}: {w}")));
        out
    }

    fn debug_line(&self, file: &SecretFile) -> String {
        let mode = match file.mode() {
            Mode::Hotp { .. } => "hotp",
            Mode::Totp => "totp",
            Mode::ScratchOnly => "scratch-only",
        };
        format!(
            "secret={} mode={mode} algorithm={} digits={} step={} window={} scratch_codes={} \
             disallow_reuse={} rate_limit={}",
            self.target.path,
            file.algorithm().name(),
            file.digits().get(),
            file.step_size(),
            file.window_size(),
            file.usable_scratch_codes().count(),
            file.disallow_reuse().is_some(),
            file.rate_limit().is_some(),
        ) + &self
            .state
            .as_ref()
            .map(|s| format!(" state={}", s.path))
            .unwrap_or_default()
    }

    /// Writes `updated` over the locked file with the owner's filesystem ids.
    fn save(&self, locked: &mut Locked, updated: &SecretFile) -> Result<(), String> {
        let _guard = FsIdGuard::switch(self.target.fs_uid, self.target.fs_gid).map_err(|e| e.to_string())?;
        locked.replace(&updated.to_bytes()).map_err(|e| e.to_string())
    }
}

impl StateBackend for FileBackend<'_> {
    fn probe(&mut self, req: &Request<'_>) -> Probe {
        let (first, file) = match self.first_look() {
            Ok(x) => x,
            Err(LoadError::NotFound) => return Probe::Absent,
            Err(LoadError::Other(why)) => return Probe::Unusable(why),
        };
        let file = match &self.state {
            None => file,
            Some(target) => match peek_state(target, req.user, &file) {
                Ok(state) => state_file::effective(&file, state.as_ref()),
                Err(why) => return Probe::Unusable(why),
            },
        };
        let grace = self.options.grace_period > 0
            && verify::grace_applies(&file, (self.clock)(), req.rhost, self.options.grace_period);
        let probe = Probe::Ready {
            digits: file.digits(),
            grace,
            warnings: self.warnings(&first, &file),
            debug: self.debug_line(&file),
        };
        self.first = Some((first, file));
        probe
    }

    fn verify_and_record(&mut self, req: &Request<'_>, codes: &[&str]) -> Result<Recorded, NoVerdict> {
        if let Some(target) = self.state.clone() {
            return self.verify_with_state(&target, req, codes);
        }
        let (mut locked, file) = self.lock().map_err(|e| self.no_verdict(e))?;
        // The time of the decision: read under the lock, after the user has answered.
        let now = (self.clock)();
        let (verdict, which) = verify::verify_any(&file, now, codes, self.options, req.rhost);
        let debug = format!(
            "candidates={} hmac_evaluations={} state_changed={}",
            codes.len(),
            verdict.stats.hmac_evaluations,
            verdict.updated.is_some()
        );
        let unsaved = verdict.updated.as_ref().and_then(|updated| {
            let why = self.save(&mut locked, updated).err()?;
            Some(unsaved(why, &verdict.outcome, &file))
        });
        Ok(Recorded {
            outcome: verdict.outcome,
            store_reason: None,
            which,
            wrote: verdict.updated.is_some(),
            unsaved,
            debug,
        })
    }
}

impl FileBackend<'_> {
    /// The secret file could not be read again for the decision.
    fn no_verdict(&self, e: LoadError) -> NoVerdict {
        NoVerdict::State(match e {
            LoadError::NotFound => format!("secret-file-vanished path={}", self.target.path),
            LoadError::Other(why) => format!("secret-file: {why}"),
        })
    }

    /// `verify_and_record` with `state=`: the secret file is read (never locked or written), the state file
    /// is locked (created first when there is none), the code is decided on the secret file with the state
    /// laid over it, and what changed is written to the state file before the lock is released.
    fn verify_with_state(
        &mut self,
        target: &StateTarget,
        req: &Request<'_>,
        codes: &[&str],
    ) -> Result<Recorded, NoVerdict> {
        // The first look is not reused: the state it was judged with may be out of date by now.
        self.first = None;
        let (_, secret) = self.first_look().map_err(|e| self.no_verdict(e))?;
        let (mut locked, state) = lock_state(target, req.user, &secret).map_err(NoVerdict::State)?;
        let before = state_file::effective(&secret, Some(&state));
        let now = (self.clock)();
        let (verdict, which) = verify::verify_any(&before, now, codes, self.options, req.rhost);
        let debug = format!(
            "candidates={} hmac_evaluations={} state_changed={} state={}",
            codes.len(),
            verdict.stats.hmac_evaluations,
            verdict.updated.is_some(),
            target.path
        );
        let unsaved = verdict.updated.as_ref().and_then(|after| {
            let next = state.recorded(&secret, &before, after);
            let why = locked
                .replace(&next.to_bytes())
                .err()?
                .about("state file")
                .to_string();
            Some(unsaved(format!("state-file: {why}"), &verdict.outcome, &before))
        });
        Ok(Recorded {
            outcome: verdict.outcome,
            store_reason: None,
            which,
            wrote: verdict.updated.is_some(),
            unsaved,
            debug,
        })
    }
}

/// What was lost when the state after `outcome` (decided on `file`) could not be saved.
fn unsaved(why: String, outcome: &Outcome, file: &SecretFile) -> Unsaved {
    let replay_safe =
        matches!(outcome, Outcome::Accepted { via: Via::Totp, .. }) && file.disallow_reuse().is_none();
    Unsaved {
        why,
        replay_guard: matches!(outcome, Outcome::Accepted { .. }) && !replay_safe,
        attempt: file.rate_limit().is_some(),
    }
}

/// The user's state for `secret`, from a state file that must belong to `user`: a state recorded with
/// another secret (the user enrolled again) is replaced by a fresh one.
fn state_for(bytes: &[u8], target: &StateTarget, user: &str, secret: &SecretFile) -> Result<State, String> {
    let found = State::parse(bytes).map_err(|e| format!("{}: {e}", target.path))?;
    if found.user != user {
        return Err(format!(
            "{}: the state file belongs to user {}, not to this user (does state= use ${{USER}}?)",
            target.path,
            // One word: the parser refuses user names with white space or control characters.
            found.user
        ));
    }
    if found.belongs_to(user, secret.secret()) {
        Ok(found)
    } else {
        fresh_state(target, user, secret)
    }
}

fn fresh_state(target: &StateTarget, user: &str, secret: &SecretFile) -> Result<State, String> {
    State::fresh(user, secret.secret())
        .ok_or_else(|| format!("{}: the user name cannot be written in a state file", target.path))
}

/// The state as it is now, without a lock (for the probe); `None` when there is no state file yet.
fn peek_state(target: &StateTarget, user: &str, secret: &SecretFile) -> Result<Option<State>, String> {
    match Store::open_unlocked(&target.path, &target.policy) {
        Ok(unlocked) => state_for(unlocked.bytes(), target, user, secret).map(Some),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(format!("state-file: {}", e.about("state file"))),
    }
}

/// Locks the state file, creating it (empty of state) when there is none, and reads it.
fn lock_state(target: &StateTarget, user: &str, secret: &SecretFile) -> Result<(Locked, State), String> {
    let why = |e: StoreError| format!("state-file: {}", e.about("state file"));
    for _ in 0..3 {
        match Store::open_locked(&target.path, &target.policy) {
            Ok(locked) => {
                let state = state_for(locked.bytes(), target, user, secret)?;
                return Ok((locked, state));
            }
            Err(StoreError::NotFound { .. }) => {
                let fresh = fresh_state(target, user, secret)?;
                Store::create_new(
                    &target.path,
                    &fresh.to_bytes(),
                    state_file::STATE_MODE,
                    &target.policy,
                )
                .map_err(why)?;
            }
            Err(e) => return Err(why(e)),
        }
    }
    Err(format!("state-file: {}: keeps disappearing", target.path))
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

/// The backend of users without usable state (unknown, not enrolled, unusable file): prompted like everyone
/// else, the same HMAC work as a wrong code, never a success, nothing recorded (the module rewrites the decoy
/// file for the refusal, as for every refusal that wrote nothing).
#[derive(Debug)]
pub struct NoState<'a> {
    options: &'a Options,
    clock: fn() -> u64,
}

impl<'a> NoState<'a> {
    /// A decoy for one login.
    pub fn new(options: &'a Options, clock: fn() -> u64) -> Self {
        NoState { options, clock }
    }
}

impl StateBackend for NoState<'_> {
    fn probe(&mut self, _req: &Request<'_>) -> Probe {
        Probe::Ready {
            digits: Digits::default(),
            grace: false,
            warnings: Vec::new(),
            debug: String::new(),
        }
    }

    fn verify_and_record(&mut self, _req: &Request<'_>, codes: &[&str]) -> Result<Recorded, NoVerdict> {
        let verdict = verify::verify_unenrolled((self.clock)(), codes, self.options);
        Ok(Recorded {
            outcome: verdict.outcome,
            store_reason: None,
            which: None,
            unsaved: None,
            wrote: false,
            debug: format!(
                "candidates={} hmac_evaluations={} state_changed=false",
                codes.len(),
                verdict.stats.hmac_evaluations
            ),
        })
    }
}

/// The readings of what was typed to submit: each code-shaped reading (see [`code_candidates`]), or the whole
/// text when there is none, so that it is still recorded and refused as malformed.
pub fn codes_to_try<'t>(candidates: &[verify::Candidate<'t>], typed: &'t str) -> Vec<&'t str> {
    if candidates.is_empty() {
        vec![typed]
    } else {
        candidates.iter().map(|c| c.code).collect()
    }
}

/// Whether a first-pass token (PAM_AUTHTOK) holds a code-shaped reading at all: a password without one is
/// not a guess, and is neither verified nor recorded.
pub fn holds_a_code(token: &str, digits: Digits) -> bool {
    !code_candidates(token, digits, true).is_empty()
}
