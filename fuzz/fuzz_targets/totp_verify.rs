//! pam_totp's authentication decision, structured: a secret file (a committed fixture or raw bytes, with option
//! lines inserted), a time, module arguments (through `Options::parse`), PAM_RHOST and one or more codes (raw
//! text, or the right TOTP/HOTP/scratch code for the file, so that acceptance, replay, skew learning and the
//! grace period are reached) through `verify::verify_any`, then once more on the updated file.
//! Must never panic, and:
//! - only `Outcome::Accepted` comes with an index into the codes (`via`), and it is a valid index;
//! - an updated file serializes to bytes that parse again (unless over the size limit, which the store refuses
//!   to write), to an equal value;
//! - `verify_unenrolled`, `rate_limited` and `grace_applies` never panic, and `verify_unenrolled` never accepts.
#![no_main]
#![forbid(unsafe_code)]

#[path = "common/totp.rs"]
mod common;

use common::{Arg, CodeSpec, FileSpec};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use pam_totp::args::Options;
use pam_totp::secret_file::{SecretFile, MAX_FILE_SIZE};
use pam_totp::verify::{self, code_candidates, Outcome, Verdict};

#[derive(Arbitrary, Debug)]
struct Input {
    now: u64,
    /// Seconds later for the second attempt.
    later: u16,
    args: Vec<Arg>,
    rhost: Option<String>,
    codes: Vec<CodeSpec>,
    /// Read each code as the module reads typed text (`code_candidates`), with a password allowed.
    as_typed: bool,
    file: FileSpec,
}

fn check(file: &SecretFile, now: u64, codes: &[&str], opts: &Options, rhost: Option<&str>) -> Option<SecretFile> {
    let (verdict, which): (Verdict, Option<usize>) = verify::verify_any(file, now, codes, opts, rhost);
    match verdict.outcome {
        Outcome::Accepted { .. } => {
            let i = which.expect("accepted without saying which code");
            assert!(i < codes.len(), "accepted code index {i} out of range ({} codes)", codes.len());
        }
        other => assert!(which.is_none(), "{other:?} came with a code index {which:?}"),
    }
    if let Outcome::RateLimited { retry_after_secs } = verdict.outcome {
        assert!(retry_after_secs >= 1);
    }
    let updated = verdict.updated?;
    assert!(updated != *file, "an unchanged file reported as updated");
    let bytes = updated.to_bytes();
    if bytes.len() > MAX_FILE_SIZE {
        return None;
    }
    let again = SecretFile::parse(&bytes).unwrap_or_else(|e| panic!("updated file does not parse again: {e}"));
    assert!(again == updated, "updated file changed on re-parse");
    Some(again)
}

fuzz_target!(|input: Input| {
    let args: Vec<String> = input.args.iter().map(Arg::text).collect();
    let opts = Options::parse(&args).unwrap_or_default();
    let bytes = input.file.bytes(input.now);
    let file = SecretFile::parse(&bytes).ok();
    let typed: Vec<String> = input.codes.iter().map(|c| c.text(file.as_ref(), input.now)).collect();
    let typed: Vec<&str> = typed.iter().map(String::as_str).take(4).collect();
    let rhost = input.rhost.as_deref();

    let unenrolled = verify::verify_unenrolled(input.now, &typed, &opts);
    assert_eq!(unenrolled.outcome, Outcome::NotConfigured);
    assert!(unenrolled.updated.is_none());

    let Some(file) = file else { return };
    let _ = verify::rate_limited(&file, input.now);
    let _ = verify::grace_applies(&file, input.now, rhost, opts.grace_period);

    let codes: Vec<&str> = if input.as_typed {
        typed
            .iter()
            .flat_map(|t| code_candidates(t, file.digits(), true))
            .map(|c| c.code)
            .collect()
    } else {
        typed.clone()
    };
    let updated = check(&file, input.now, &codes, &opts, rhost);
    // The same codes again a little later, against the state the first attempt left (replays, rate limit,
    // the second and third skew-learning entries).
    let later = input.now.saturating_add(u64::from(input.later));
    let next = updated.unwrap_or(file);
    let _ = check(&next, later, &codes, &opts, rhost);
});
