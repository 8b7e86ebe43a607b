//! The commands on an existing secret file: `status` (how it is set up, never the secret) and
//! `new-scratch-codes`. Both open the file through the store with pam_totp's checks and under its lock, so
//! `status` fails with the module's reason when the module would refuse the file, and a login recording a
//! used code while `new-scratch-codes` works is never undone. With `--state FILE` (pam_totp's `state=`),
//! `status` lays the state file over the secret file as the module does, and `new-scratch-codes` forgets the
//! used scratch codes kept there, under the state file's lock.

use crate::enroll::{code_list, print_json_line, RateJson};
use crate::error::Error;
use crate::flags::Args;
use crate::target::Target;
use crate::term::stdout;
use crate::{audit, scratch_codes, secret, system, DEFAULT_SCRATCH_CODES};
use pam_totp::secret_file::{Mode, SecretFile};
use pam_totp::state_file::{effective, State};
use serde::Serialize;
use std::fmt::Write as _;
use std::process::ExitCode;

/// The `--json` output of `status`.
#[derive(Serialize)]
struct StatusJson<'a> {
    file: &'a str,
    owner: &'a str,
    mode: String,
    #[serde(rename = "type")]
    kind: &'static str,
    algorithm: &'static str,
    digits: u8,
    period: u64,
    window_size: u32,
    disallow_reuse: bool,
    rate_limit: Option<RateJson>,
    time_skew: i64,
    scratch_codes_left: usize,
    warnings: usize,
    /// `--state`: the state file, and the scratch codes it records as used.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scratch_codes_used: Option<usize>,
}

/// `totp-enroll status`.
pub fn status(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    // The module's checks, under its lock: a file it would refuse is an error here too.
    let (locked, file) = secret::open_locked(&target.owner, &target.path)?;
    let ((uid, _), mode) = (locked.owner(), locked.mode());
    drop(locked);
    let state = match &args.state {
        Some(path) => Some(state_of(path, &target.name, &file)?),
        None => None,
    };
    let used = state.as_ref().map(|s| {
        file.scratch_codes()
            .count()
            .saturating_sub(scratch_left(&file, s.as_ref()))
    });
    let file = effective(&file, state.as_ref().and_then(Option::as_ref));
    let owner = system::find_account(&target.passwd, |a| a.uid == uid)
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_else(|| uid.to_string());
    let (kind, detail) = match file.mode() {
        Mode::Totp => ("totp", format!("period {} s", file.step_size())),
        Mode::Hotp { counter } => ("hotp", format!("next counter {counter}")),
        Mode::ScratchOnly => ("scratch-only", "no TOTP_AUTH or HOTP_COUNTER".to_owned()),
    };
    if args.json {
        print_json_line(&StatusJson {
            file: &target.path.to_string_lossy(),
            owner: &owner,
            mode: format!("{mode:04o}"),
            kind,
            algorithm: file.algorithm().name(),
            digits: file.digits().get(),
            period: file.step_size().get(),
            window_size: file.window_size(),
            disallow_reuse: file.disallow_reuse().is_some(),
            rate_limit: file.rate_limit().map(|r| RateJson {
                attempts: r.attempts,
                interval: r.interval,
            }),
            time_skew: file.time_skew(),
            scratch_codes_left: file.scratch_codes().count(),
            warnings: file.warnings().len(),
            state: args.state.as_deref(),
            scratch_codes_used: used,
        });
    } else if !args.quiet {
        let mut text = status_text(target, &file, &owner, mode, kind, &detail);
        if let (Some(path), Some(used)) = (&args.state, used) {
            let _ = writeln!(text, "state: {path} (scratch codes used: {used})");
        }
        stdout(&text);
    }
    Ok(ExitCode::SUCCESS)
}

/// The user's state in the `state=` file at `path` for this secret file: `None` when there is none yet or
/// it was recorded with another secret (the module then starts afresh).
fn state_of(path: &str, user: &str, file: &SecretFile) -> Result<Option<State>, Error> {
    let Some((locked, state)) = secret::open_state(std::path::Path::new(path))? else {
        return Ok(None);
    };
    drop(locked);
    Ok(Some(state).filter(|s| s.belongs_to(user, file.secret())))
}

fn scratch_left(file: &SecretFile, state: Option<&State>) -> usize {
    effective(file, state).scratch_codes().count()
}

fn status_text(
    target: &Target,
    file: &SecretFile,
    owner: &str,
    mode: u32,
    kind: &str,
    detail: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file: {}", target.path.display());
    let _ = writeln!(out, "owner: {owner}, mode {mode:04o}");
    let _ = writeln!(out, "type: {kind} ({detail})");
    let _ = writeln!(out, "algorithm: {}, digits: {}", file.algorithm(), file.digits());
    let _ = writeln!(out, "window: {} codes", file.window_size());
    let reuse = if file.disallow_reuse().is_some() {
        "disallowed"
    } else {
        "allowed"
    };
    let _ = writeln!(out, "reuse: {reuse}");
    let rate = file
        .rate_limit()
        .map(|r| format!("{} attempts per {} s", r.attempts, r.interval))
        .unwrap_or_else(|| "none".to_owned());
    let _ = writeln!(out, "rate limit: {rate}");
    let _ = writeln!(out, "time skew: {} steps", file.time_skew());
    let _ = writeln!(out, "scratch codes left: {}", file.scratch_codes().count());
    for w in file.warnings() {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// The `--json` output of `new-scratch-codes`.
#[derive(Serialize)]
struct NewCodesJson<'a> {
    user: &'a str,
    file: &'a str,
    scratch_codes: Vec<String>,
}

/// `totp-enroll new-scratch-codes`.
pub fn new_scratch_codes(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let codes = scratch_codes(args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES))?;
    // With state=, the logins' lock is the state file's: held until the used codes are forgotten.
    let mut state = match &args.state {
        Some(path) => secret::open_state(std::path::Path::new(path))?,
        None => None,
    };
    // Read, modify and replace under the module's lock, so that a login recording a used code meanwhile
    // is not undone. The store keeps the file's owner and mode.
    let (mut locked, mut file) = secret::open_locked(&target.owner, &target.path)?;
    let old: Vec<u32> = file.scratch_codes().collect();
    for c in old {
        file.remove_scratch_code(c);
    }
    for c in &codes {
        file.add_scratch_code(*c);
    }
    secret::replace(&target.owner, &mut locked, &file.to_bytes())?;
    drop(locked);
    if let Some((state_lock, old)) = &mut state {
        let forgotten = State {
            used_scratch: Vec::new(),
            ..old.clone()
        };
        state_lock.replace(&forgotten.to_bytes())?;
    }
    drop(state);
    audit(
        args,
        &format!(
            "new scratch codes user={} by={} uid={} file={} scratch_codes={}",
            target.name,
            target.caller,
            target.caller_uid,
            target.path.display(),
            codes.len()
        ),
    );
    if args.json {
        print_json_line(&NewCodesJson {
            user: &target.name,
            file: &target.path.to_string_lossy(),
            scratch_codes: codes.iter().map(u32::to_string).collect(),
        });
    } else if !args.quiet {
        stdout(&new_codes_text(&codes));
    }
    Ok(ExitCode::SUCCESS)
}

/// `totp-enroll state-to-file --state FILE`: moving out of `state=`. Under the state file's lock (the
/// logins' lock with `state=`) and the secret file's, the secret file is rewritten as the module would see
/// it with the state laid over it; the state file is left as it is (remove it once `state=` is off the line).
pub fn state_to_file(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let path = args.state.as_deref().unwrap_or_default();
    let state = secret::open_state(std::path::Path::new(path))?;
    let (mut locked, file) = secret::open_locked(&target.owner, &target.path)?;
    let found = state
        .as_ref()
        .map(|(_, s)| s)
        .filter(|s| s.belongs_to(&target.name, file.secret()));
    let moved = found.is_some();
    if let Some(state) = found {
        let merged = effective(&file, Some(state));
        secret::replace(&target.owner, &mut locked, &merged.to_bytes())?;
    }
    drop(locked);
    drop(state);
    audit(
        args,
        &format!(
            "state written back user={} by={} uid={} file={} state={path} moved={moved}",
            target.name,
            target.caller,
            target.caller_uid,
            target.path.display(),
        ),
    );
    if !args.quiet {
        stdout(&if moved {
            format!(
                "{}: the state of {path} is now in the secret file.\n",
                target.path.display()
            )
        } else {
            format!("{path}: no state for this user and secret: the secret file is unchanged.\n")
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// What `new-scratch-codes` prints. `-e 0` is deliberate (it revokes every code, e.g. after a printout was
/// lost), so it says that instead of a heading over nothing.
fn new_codes_text(codes: &[u32]) -> String {
    if codes.is_empty() {
        "All emergency scratch codes removed: none is left (run new-scratch-codes without -e 0 for new ones).\n"
            .to_owned()
    } else {
        code_list("Your new emergency scratch codes are:\n", codes)
    }
}
