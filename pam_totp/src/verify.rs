//! The authentication decision: given a parsed secret file, the time, the code the user typed, the module
//! options and the remote host, decide the [`Outcome`] and compute the new file contents. This is the behaviour
//! of pam_google_authenticator (rate limit, scratch codes, HOTP counter, TOTP window with learned clock skew,
//! reuse prevention, grace period), written as one pure function.
//!
//! It must not do I/O, read the clock, log, or talk to the user: the caller passes `now`, persists
//! [`Verdict::updated`] (under its lock) and maps the outcome through the module's table. Outcomes that are not
//! successes are values, not errors. Every refusal of a code-shaped input costs the same number of HMAC
//! evaluations whatever the file says (and [`verify_unenrolled`] costs the same), counted in [`Stats`], so the
//! work done does not tell an attacker whether a user is enrolled or how the file is set up. An accepted code
//! is not padded (its owner learns nothing from the time, and the answer says "accepted" anyway).

use std::hint::black_box;

use crate::args::Options;
use crate::otp::{codes_equal, parse_code, Digits, Otp, OtpError, SecretKey};
use crate::secret_file::{LastLogin, Mode, RateLimit, SecretFile, SkewEntry, LAST_SLOTS};

/// Largest `WINDOW_SIZE` the file format allows; the window part of the HMAC budget.
pub const MAX_WINDOW: u32 = 100;
/// Skew learning looks this many steps either side of the current one (the C module's `25*60`).
pub const SKEW_SCAN_STEPS: u64 = 25 * 60;
/// Skew-learning entries needed before a new `TIME_SKEW` is adopted.
const SKEW_ENTRIES: usize = 3;

/// How a login was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A time-based code.
    Totp,
    /// A counter-based code.
    Hotp,
    /// A single-use scratch code (its line is removed).
    Scratch,
}

/// Why a code was not accepted (for the log; the user is told nothing more than "wrong").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// Not a code of the right shape (N digits, or 8 digits for a scratch code).
    Malformed,
    /// No match.
    WrongCode,
    /// The code is right for a time far from now; the attempt was recorded towards learning the clock skew.
    SkewLearning,
}

/// The decision. Only `Accepted` may lead to PAM_SUCCESS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The code is good.
    Accepted {
        /// Which kind of code.
        via: Via,
        /// Scratch codes left in the file afterwards.
        scratch_left: usize,
    },
    /// Wrong code.
    Rejected(RejectReason),
    /// A correct TOTP code for a step that was already used (`DISALLOW_REUSE`).
    Replayed,
    /// Too many attempts (`RATE_LIMIT`); the code was not examined.
    RateLimited {
        /// Seconds until an attempt would be allowed again.
        retry_after_secs: u64,
    },
    /// The file enables neither TOTP nor HOTP and the input is not one of its scratch codes (or, from
    /// [`verify_unenrolled`], there is no file at all).
    NotConfigured,
}

/// Work done, for tests and benchmarks that show the cost does not depend on enrollment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// HMAC evaluations.
    pub hmac_evaluations: u32,
}

/// The result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub outcome: Outcome,
    /// The new file when anything changed (rate-limit timestamps, counters, used codes, skew state): the caller
    /// must write it before reporting success, and must not report success if it cannot.
    pub updated: Option<SecretFile>,
    /// Work done.
    pub stats: Stats,
}

/// Counts HMAC evaluations through one generator.
struct Evaluator<'a> {
    otp: &'a Otp,
    count: u32,
}

impl Evaluator<'_> {
    fn code(&mut self, counter: u64) -> u32 {
        self.count = self.count.saturating_add(1);
        self.otp.hotp(counter)
    }

    /// Evaluates throw-away counters until `budget` evaluations have been made.
    fn pad_to(&mut self, budget: u32) {
        let mut counter = u64::MAX;
        while self.count < budget {
            black_box(self.code(black_box(counter)));
            counter = counter.wrapping_sub(1);
        }
    }
}

/// HMAC evaluations spent on every code-shaped input: the largest window, plus the skew scan unless
/// `noskewadj`. Depends only on the options.
pub fn hmac_budget(options: &Options) -> u32 {
    let scan = if options.noskewadj {
        0
    } else {
        2 * SKEW_SCAN_STEPS as u32
    };
    MAX_WINDOW + scan
}

/// 6 to 8 ASCII digits: something that could be a code of some file, so it always costs the full budget.
fn code_shaped(input: &str) -> bool {
    (6..=8).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_digit())
}

/// 8 digits, the first 1-9.
fn scratch_shaped(input: &str) -> Option<u32> {
    let first = input.bytes().next()?;
    if input.len() != 8 || !(b'1'..=b'9').contains(&first) || !input.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    input.parse().ok()
}

/// Decides one login attempt. See the module documentation; `rhost` is PAM_RHOST, used only to record the
/// host for `grace_period`. Equivalent to [`verify_any`] with one candidate.
pub fn verify(file: &SecretFile, now: u64, input: &str, options: &Options, rhost: Option<&str>) -> Verdict {
    verify_any(file, now, &[input], options, rhost).0
}

/// One way of reading what the user typed (see [`code_candidates`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Text before the code: the password to forward with `forward_pass` (empty otherwise).
    pub password: &'a str,
    /// The code part.
    pub code: &'a str,
}

/// The ways to read `typed` as the C module does: the last `digits` characters as a TOTP/HOTP code, then the
/// last 8 as a scratch code. With `allow_password` (`forward_pass`, or a code taken from PAM_AUTHTOK) the text
/// before the code is the password; otherwise only a candidate with nothing before the code is returned.
/// Only all-digit codes are returned.
pub fn code_candidates(typed: &str, digits: Digits, allow_password: bool) -> Vec<Candidate<'_>> {
    let mut out: Vec<Candidate<'_>> = Vec::with_capacity(2);
    for len in [usize::from(digits.get()), 8] {
        let Some(at) = typed.len().checked_sub(len) else {
            continue;
        };
        if !typed.is_char_boundary(at) || (!allow_password && at > 0) {
            continue;
        }
        let (password, code) = typed.split_at(at);
        if code.bytes().all(|b| b.is_ascii_digit()) && !out.iter().any(|c| c.code == code) {
            out.push(Candidate { password, code });
        }
    }
    out
}

/// Decides one login attempt where the input can be read several ways (`forward_pass`): the attempt is
/// recorded for `RATE_LIMIT` once, then each code is tried in order on the same starting state; the first
/// accepted wins and its index is returned. When none is accepted, the state changes and outcome of the first
/// well-formed candidate are kept (a missed HOTP code still advances the counter once).
pub fn verify_any(
    file: &SecretFile,
    now: u64,
    codes: &[&str],
    options: &Options,
    rhost: Option<&str>,
) -> (Verdict, Option<usize>) {
    let mut base = file.clone();
    let finish = |outcome, new: SecretFile, stats| Verdict {
        outcome,
        updated: (new != *file).then_some(new),
        stats,
    };
    if let Some(retry_after_secs) = record_attempt(&mut base, now) {
        // The code is not examined, but the HMAC work of a wrong code is still done, on a decoy key: a refusal
        // over the limit then takes as long as any other, and its time tells neither that this user is
        // enrolled nor whether the code was right (threat model T7).
        let stats = verify_unenrolled(now, codes, options).stats;
        let outcome = Outcome::RateLimited { retry_after_secs };
        return (finish(outcome, base, stats), None);
    }
    let mut total = Stats::default();
    let Some((last, earlier)) = codes.split_last() else {
        // No candidate at all: nothing to try; the state is the starting one, with the attempt recorded.
        let outcome = Outcome::Rejected(RejectReason::Malformed);
        return (finish(outcome, base, total), None);
    };
    let mut failure: Option<(Outcome, SecretFile)> = None;
    // Every candidate but the last works on a copy of the starting state; the last (usually the only one)
    // on the starting state itself: one copy fewer of the file, and of its secret.
    for (i, code) in earlier.iter().enumerate() {
        let mut attempt = base.clone();
        let (outcome, stats) = check_or_refuse(&mut attempt, now, code, options, rhost);
        total.hmac_evaluations = total.hmac_evaluations.saturating_add(stats.hmac_evaluations);
        if matches!(outcome, Outcome::Accepted { .. }) {
            return (finish(outcome, attempt, total), Some(i));
        }
        failure = Some(keep_failure(failure, outcome, attempt));
    }
    let mut attempt = base;
    let (outcome, stats) = check_or_refuse(&mut attempt, now, last, options, rhost);
    total.hmac_evaluations = total.hmac_evaluations.saturating_add(stats.hmac_evaluations);
    if matches!(outcome, Outcome::Accepted { .. }) {
        return (finish(outcome, attempt, total), Some(earlier.len()));
    }
    let (outcome, new) = keep_failure(failure, outcome, attempt);
    (finish(outcome, new, total), None)
}

/// [`check`], with a secret that cannot key an HMAC (which cannot come from the parser) refused: fail closed.
fn check_or_refuse(
    file: &mut SecretFile,
    now: u64,
    input: &str,
    options: &Options,
    rhost: Option<&str>,
) -> (Outcome, Stats) {
    check(file, now, input, options, rhost)
        .unwrap_or((Outcome::Rejected(RejectReason::WrongCode), Stats::default()))
}

/// Which refusal (and state) stands after one more refused candidate: the first well-formed one; a malformed
/// one only while nothing better has been seen.
fn keep_failure(
    kept: Option<(Outcome, SecretFile)>,
    outcome: Outcome,
    state: SecretFile,
) -> (Outcome, SecretFile) {
    match kept {
        Some((previous, kept_state))
            if previous != Outcome::Rejected(RejectReason::Malformed)
                || outcome == Outcome::Rejected(RejectReason::Malformed) =>
        {
            (previous, kept_state)
        }
        _ => (outcome, state),
    }
}

/// Checks one code against a file whose rate limit has already been recorded.
fn check(
    file: &mut SecretFile,
    now: u64,
    input: &str,
    options: &Options,
    rhost: Option<&str>,
) -> Result<(Outcome, Stats), OtpError> {
    if let Some(code) = scratch_shaped(input) {
        if file.use_scratch_code(code) {
            record_login(file, now, options, rhost);
            let scratch_left = file.usable_scratch_codes().count();
            return Ok((
                Outcome::Accepted {
                    via: Via::Scratch,
                    scratch_left,
                },
                Stats::default(),
            ));
        }
    }
    let otp = file.otp()?;
    let mut ev = Evaluator { otp: &otp, count: 0 };
    let code = parse_code(input, file.digits());
    let outcome = match (file.mode(), code) {
        (Mode::ScratchOnly, _) => Outcome::NotConfigured,
        // Eight digits that are no usable scratch code (used already, or never issued) are a wrong code,
        // not a malformed one: the log must not call a replayed scratch code a typo.
        (_, None) if scratch_shaped(input).is_some() => Outcome::Rejected(RejectReason::WrongCode),
        (_, None) => Outcome::Rejected(RejectReason::Malformed),
        (Mode::Hotp { counter }, Some(code)) => check_hotp(file, &mut ev, counter, code, options),
        (Mode::Totp, Some(code)) => check_totp(file, &mut ev, now, code, options),
    };
    // Only refusals are padded: they are what an attacker without a code can observe. An accepted code reveals
    // nothing its owner does not know, and padding it cost every good login the whole skew scan (~3,000
    // HMACs, where pam_google_authenticator spends 1 to 3).
    if code_shaped(input) && !matches!(outcome, Outcome::Accepted { .. }) {
        ev.pad_to(hmac_budget(options));
    }
    let stats = Stats {
        hmac_evaluations: ev.count,
    };
    if let Outcome::Accepted { via, .. } = outcome {
        record_login(file, now, options, rhost);
        let scratch_left = file.usable_scratch_codes().count();
        return Ok((Outcome::Accepted { via, scratch_left }, stats));
    }
    Ok((outcome, stats))
}

/// What an unknown user, or a user without a secret file (and without `nullok`), gets: the same HMAC work as
/// wrong codes for an enrolled user ([`hmac_budget`] per code-shaped candidate), and never success.
pub fn verify_unenrolled(now: u64, codes: &[&str], options: &Options) -> Verdict {
    let mut stats = Stats::default();
    let key = SecretKey::from_slice(&now.to_be_bytes());
    if let Ok(decoy) = Otp::new(&key, Default::default(), Default::default()) {
        let mut ev = Evaluator {
            otp: &decoy,
            count: 0,
        };
        for code in codes.iter().filter(|c| code_shaped(c)) {
            let target = ev.count.saturating_add(hmac_budget(options));
            black_box(code);
            ev.pad_to(target);
        }
        stats.hmac_evaluations = ev.count;
    }
    Verdict {
        outcome: Outcome::NotConfigured,
        updated: None,
        stats,
    }
}

// ----- rate limit -----

/// The timestamps `RATE_LIMIT` keeps after an attempt at `now`, and whether that attempt is over the limit:
/// entries older than the interval are dropped, `now` is added, and when more than n remain only the newest n
/// are kept (as the C module does). Unlike the C module, an entry up to one interval in the future is kept
/// and counted: the module reads the clock under the lock, so such an entry comes from a clock a little ahead
/// of ours, and dropping it would forget an attempt. Only an entry further ahead (a clock stepped back) is
/// dropped, so that a clock error never locks the user out for longer than the interval.
fn rate_limit_after(limit: &RateLimit, now: u64) -> (Vec<u64>, bool) {
    let interval = u64::from(limit.interval);
    let (start, end) = (now.saturating_sub(interval), now.saturating_add(interval));
    let mut kept: Vec<u64> = limit
        .timestamps
        .iter()
        .copied()
        .filter(|&t| t >= start && t <= end)
        .collect();
    kept.push(now);
    kept.sort_unstable();
    let max = usize::try_from(limit.attempts).unwrap_or(usize::MAX);
    let exceeded = kept.len() > max;
    if exceeded {
        let drop = kept.len() - max;
        kept.drain(..drop);
    }
    (kept, exceeded)
}

/// Seconds until the oldest of the kept timestamps leaves the interval.
fn retry_after(limit: &RateLimit, kept: &[u64], now: u64) -> u64 {
    let oldest = kept.first().copied().unwrap_or(now);
    // Saturating: `now` (and so `oldest`) can be anything the caller passes, up to u64::MAX.
    oldest
        .saturating_add(u64::from(limit.interval))
        .saturating_add(1)
        .saturating_sub(now)
        .max(1)
}

/// Read-only pre-check (the C module checks `RATE_LIMIT` before prompting): `Some(seconds to wait)` when an
/// attempt at `now` would be refused. [`verify`] makes the same decision and also records the attempt.
pub fn rate_limited(file: &SecretFile, now: u64) -> Option<u64> {
    let limit = file.rate_limit()?;
    let (kept, exceeded) = rate_limit_after(limit, now);
    exceeded.then(|| retry_after(limit, &kept, now))
}

/// Records an attempt in `RATE_LIMIT`; `Some(seconds)` when it is over the limit.
fn record_attempt(file: &mut SecretFile, now: u64) -> Option<u64> {
    let limit = file.rate_limit()?.clone();
    let (kept, exceeded) = rate_limit_after(&limit, now);
    let wait = retry_after(&limit, &kept, now);
    file.set_rate_limit(Some(RateLimit {
        timestamps: kept,
        ..limit
    }));
    exceeded.then_some(wait)
}

// ----- HOTP -----

fn check_hotp(
    file: &mut SecretFile,
    ev: &mut Evaluator<'_>,
    counter: u64,
    code: u32,
    options: &Options,
) -> Outcome {
    let mut found = None;
    for i in 0..u64::from(file.window_size()) {
        let Some(c) = counter.checked_add(i) else { break };
        if codes_equal(ev.code(c), code) && found.is_none() {
            found = Some(c);
        }
    }
    match found {
        Some(c) => {
            file.set_hotp_counter(Some(c.saturating_add(1)));
            Outcome::Accepted {
                via: Via::Hotp,
                scratch_left: 0,
            }
        }
        None => {
            if !options.no_increment_hotp {
                file.set_hotp_counter(Some(counter.saturating_add(1)));
            }
            Outcome::Rejected(RejectReason::WrongCode)
        }
    }
}

// ----- TOTP -----

fn check_totp(
    file: &mut SecretFile,
    ev: &mut Evaluator<'_>,
    now: u64,
    code: u32,
    options: &Options,
) -> Outcome {
    let tm = now / file.step_size();
    let window = i128::from(file.window_size());
    let centre = i128::from(tm) + i128::from(file.time_skew());
    let mut found = None;
    for i in -((window - 1) / 2)..=window / 2 {
        let Ok(step) = u64::try_from(centre + i) else {
            continue;
        };
        if codes_equal(ev.code(step), code) && found.is_none() {
            found = Some(step);
        }
    }
    if let Some(step) = found {
        return use_step(file, step);
    }
    if options.noskewadj {
        return Outcome::Rejected(RejectReason::WrongCode);
    }
    // The code may be right for a clock that is off: look ±25 minutes' worth of steps around the raw time,
    // without stopping early, preferring the nearest match and the past on a tie (as C).
    let mut skew = None;
    for i in 0..SKEW_SCAN_STEPS {
        let before = ev.code(tm.wrapping_sub(i));
        if codes_equal(before, code) && skew.is_none() && tm >= i {
            skew = Some(-i128::from(i));
        }
        let after = ev.code(tm.wrapping_add(i));
        if codes_equal(after, code) && skew.is_none() && tm.checked_add(i).is_some() {
            skew = Some(i128::from(i));
        }
    }
    match skew.and_then(|s| i64::try_from(s).ok()) {
        Some(skew) => learn_skew(file, tm, skew),
        None => Outcome::Rejected(RejectReason::WrongCode),
    }
}

/// Accepts TOTP step `step`, enforcing and updating `DISALLOW_REUSE` when it is on, and raising the
/// high-water mark `USED_STEP` (the highest step ever accepted, which the pruned list forgets) whenever the
/// file is rewritten at every login anyway (`DISALLOW_REUSE` or `RATE_LIMIT`): a plain file without either is
/// never written by a right code, and stays so.
fn use_step(file: &mut SecretFile, step: u64) -> Outcome {
    if let Some(used) = file.disallow_reuse() {
        if used.contains(&step) {
            return Outcome::Replayed;
        }
        let window = u64::from(file.window_size());
        let mut kept: Vec<u64> = used
            .iter()
            .copied()
            .filter(|&b| b.abs_diff(step) < window)
            .collect();
        kept.push(step);
        file.set_disallow_reuse(Some(kept));
    }
    let stateful = file.disallow_reuse().is_some() || file.rate_limit().is_some();
    if stateful && file.used_step().is_none_or(|high| step > high) {
        file.set_used_step(Some(step));
    }
    Outcome::Accepted {
        via: Via::Totp,
        scratch_left: 0,
    }
}

/// Whether the code of `step` may have been seen by someone else: a step in the `DISALLOW_REUSE` list, or one
/// at or below the `USED_STEP` high-water mark (older than a code already accepted).
fn seen_before(file: &SecretFile, step: i128) -> bool {
    let used = file
        .disallow_reuse()
        .is_some_and(|list| list.iter().any(|&s| i128::from(s) == step));
    used || file.used_step().is_some_and(|high| step <= i128::from(high))
}

/// The C module's `check_time_skew`: record `tm+skew`; after three attempts in quick succession with a stable
/// skew, adopt the average as `TIME_SKEW` and accept the third. Unlike the C module, a code that may have
/// been seen before ([`seen_before`]: used, or older than the last accepted step) is refused as a replay and
/// takes no part, so captured codes can neither log in nor move `TIME_SKEW`.
fn learn_skew(file: &mut SecretFile, tm: u64, skew: i64) -> Outcome {
    if seen_before(file, i128::from(tm) + i128::from(skew)) {
        return Outcome::Replayed;
    }
    let mut entries: Vec<SkewEntry> = file.resetting_time_skew().to_vec();
    let keep_from = entries.len().saturating_sub(SKEW_ENTRIES);
    entries.drain(..keep_from);
    let absolute = |e: &SkewEntry| i128::from(e.step) + i128::from(e.skew);
    let new = SkewEntry { step: tm, skew };
    if entries
        .last()
        .is_some_and(|last| absolute(last) == absolute(&new))
    {
        // The same code again tells us nothing new.
        return Outcome::Rejected(RejectReason::SkewLearning);
    }
    entries.push(new);
    let keep_from = entries.len().saturating_sub(SKEW_ENTRIES);
    entries.drain(..keep_from);

    let consistent = entries.len() == SKEW_ENTRIES
        && !entries
            .iter()
            .any(|e| seen_before(file, i128::from(e.step) + i128::from(e.skew)))
        && entries.windows(2).all(|pair| match pair {
            // In i128: an entry read from the file can hold any i64 skew (i64::MIN - 10 overflows).
            [a, b] => {
                b.step > a.step
                    && b.step <= a.step.saturating_add(2)
                    && (i128::from(a.skew) - i128::from(skew)).abs() <= 1
            }
            _ => false,
        });
    if consistent {
        let sum: i128 = entries.iter().map(|e| i128::from(e.skew)).sum();
        let average = i64::try_from(sum / SKEW_ENTRIES as i128).unwrap_or(skew);
        file.set_time_skew(Some(average));
        file.set_resetting_time_skew(Some(Vec::new()));
        let step = u64::try_from(i128::from(tm) + i128::from(skew)).unwrap_or(tm);
        return use_step(file, step);
    }
    file.set_resetting_time_skew(Some(entries));
    Outcome::Rejected(RejectReason::SkewLearning)
}

// ----- grace period -----

/// True when `grace_period` is on and `rhost` passed within the last `grace` seconds (a `LASTn` entry with the
/// same host and a time in `(now - grace, now]`). The module may then skip the prompt.
pub fn grace_applies(file: &SecretFile, now: u64, rhost: Option<&str>, grace: u64) -> bool {
    let Some(host) = rhost else { return false };
    grace > 0
        && file
            .last_logins()
            .iter()
            .flatten()
            .any(|e| e.host() == host && e.time() <= now && now - e.time() < grace)
}

/// Records `<rhost> <now>` in a `LASTn` slot after an accepted code: the host's own slot, else the first free
/// one, else the oldest.
fn record_login(file: &mut SecretFile, now: u64, options: &Options, rhost: Option<&str>) {
    if options.grace_period == 0 {
        return;
    }
    let Some(entry) = rhost.and_then(|h| LastLogin::new(h, now)) else {
        return;
    };
    let slots = file.last_logins();
    let same = slots
        .iter()
        .position(|s| s.as_ref().is_some_and(|e| e.host() == entry.host()));
    let free = slots.iter().position(Option::is_none);
    let oldest = slots
        .iter()
        .enumerate()
        .min_by_key(|(i, s)| (s.as_ref().map_or(0, LastLogin::time), *i))
        .map(|(i, _)| i);
    if let Some(slot) = same.or(free).or(oldest).filter(|&s| s < LAST_SLOTS) {
        file.set_last_login(slot, Some(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::{format_code, Algorithm};
    use crate::secret_file::decode_secret;
    use std::path::PathBuf;

    /// google-authenticator-libpam's own test secret (80 bits); codes from tests/fixtures/otp-vectors.tsv:
    /// TOTP at t=300000 is 050548 (step 10000), HOTP counter 1 is 293240, counter 5 is 932068.
    const GA_SECRET: &str = "2SH3V3GDW7ZNMGYE";
    const T: u64 = 300_000;

    #[track_caller]
    fn file(body: &str) -> SecretFile {
        SecretFile::parse(format!("{GA_SECRET}\n{body}").as_bytes()).unwrap()
    }

    fn opts() -> Options {
        Options::default()
    }

    fn otp() -> Otp {
        Otp::new(&decode_secret(GA_SECRET).unwrap(), Algorithm::Sha1, Digits::SIX).unwrap()
    }

    /// The 6-digit TOTP code for `step` (30-second steps).
    fn code_at_step(step: u64) -> String {
        format_code(otp().hotp(step), Digits::SIX).to_string()
    }

    const STEP: u64 = T / 30;

    #[track_caller]
    fn accepted(v: &Verdict) -> SecretFile {
        assert!(matches!(v.outcome, Outcome::Accepted { .. }), "{:?}", v.outcome);
        v.updated.clone().unwrap_or_else(|| panic!("no updated file"))
    }

    #[test]
    fn given_known_totp_code_then_it_is_accepted() {
        assert_eq!(code_at_step(STEP), "050548");
        let f = file("\" TOTP_AUTH\n");
        let v = verify(&f, T, "050548", &opts(), None);
        assert_eq!(
            v.outcome,
            Outcome::Accepted {
                via: Via::Totp,
                scratch_left: 0
            }
        );
        assert_eq!(
            v.updated, None,
            "nothing to record without DISALLOW_REUSE or RATE_LIMIT"
        );
    }

    #[test]
    fn given_default_window_then_one_step_either_side_is_accepted_and_two_are_not() {
        let f = file("\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
        for (offset, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at_step(STEP.wrapping_add_signed(offset));
            let v = verify(
                &f,
                T,
                &code,
                &Options {
                    noskewadj: true,
                    ..opts()
                },
                None,
            );
            assert_eq!(
                matches!(v.outcome, Outcome::Accepted { .. }),
                ok,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn given_window_4_then_offsets_are_minus_1_to_plus_2() {
        let f = file("\" TOTP_AUTH\n\" WINDOW_SIZE 4\n");
        let o = Options {
            noskewadj: true,
            ..opts()
        };
        for (offset, ok) in [(-2i64, false), (-1, true), (2, true), (3, false)] {
            let v = verify(&f, T, &code_at_step(STEP.wrapping_add_signed(offset)), &o, None);
            assert_eq!(
                matches!(v.outcome, Outcome::Accepted { .. }),
                ok,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn given_time_skew_then_the_window_moves() {
        let f = file("\" TOTP_AUTH\n\" TIME_SKEW 5\n");
        let o = Options {
            noskewadj: true,
            ..opts()
        };
        assert!(matches!(
            verify(&f, T, &code_at_step(STEP + 5), &o, None).outcome,
            Outcome::Accepted { .. }
        ));
        assert!(matches!(
            verify(&f, T, &code_at_step(STEP + 6), &o, None).outcome,
            Outcome::Accepted { .. }
        ));
        assert_eq!(
            verify(&f, T, &code_at_step(STEP), &o, None).outcome,
            Outcome::Rejected(RejectReason::WrongCode)
        );
    }

    #[test]
    fn given_reused_code_then_second_login_fails() {
        let f = file("\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
        let first = verify(&f, T, "050548", &opts(), None);
        let f2 = accepted(&first);
        assert_eq!(f2.disallow_reuse(), Some(&[STEP][..]));
        let second = verify(&f2, T + 5, "050548", &opts(), None);
        assert_eq!(second.outcome, Outcome::Replayed);
        assert_eq!(second.updated, None);
    }

    #[test]
    fn given_reuse_allowed_then_the_same_code_works_twice() {
        let f = file("\" TOTP_AUTH\n");
        assert!(matches!(
            verify(&f, T, "050548", &opts(), None).outcome,
            Outcome::Accepted { .. }
        ));
        assert!(matches!(
            verify(&f, T + 5, "050548", &opts(), None).outcome,
            Outcome::Accepted { .. }
        ));
    }

    #[test]
    fn given_old_used_steps_then_they_are_pruned_a_window_away() {
        let f = file(&format!(
            "\" TOTP_AUTH\n\" DISALLOW_REUSE {} {} {}\n",
            STEP - 3,
            STEP - 2,
            STEP - 1
        ));
        let f2 = accepted(&verify(&f, T, "050548", &opts(), None));
        assert_eq!(f2.disallow_reuse(), Some(&[STEP - 2, STEP - 1, STEP][..]));
    }

    #[test]
    fn given_wrong_or_malformed_code_then_it_is_rejected() {
        let f = file("\" TOTP_AUTH\n");
        assert_eq!(
            verify(&f, T, "050549", &opts(), None).outcome,
            Outcome::Rejected(RejectReason::WrongCode)
        );
        for bad in [
            "",
            "50548",
            "0505480",
            " 050548",
            "050548 ",
            "05054a",
            "０５０５４８",
        ] {
            assert_eq!(
                verify(&f, T, bad, &opts(), None).outcome,
                Outcome::Rejected(RejectReason::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn given_8_digit_file_then_only_8_digit_codes_work() {
        let key = decode_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        let mut f = SecretFile::new(key).unwrap();
        f.set_totp_auth(true);
        f.set_digits(Digits::new(8));
        // RFC 6238: SHA1, t=59 -> 94287082.
        assert!(matches!(
            verify(&f, 59, "94287082", &opts(), None).outcome,
            Outcome::Accepted { via: Via::Totp, .. }
        ));
        assert_eq!(
            verify(&f, 59, "287082", &opts(), None).outcome,
            Outcome::Rejected(RejectReason::Malformed)
        );
    }

    #[test]
    fn given_sha256_file_then_sha256_codes_work() {
        let key = decode_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA").unwrap();
        let mut f = SecretFile::new(key).unwrap();
        f.set_totp_auth(true);
        f.set_digits(Digits::new(8));
        f.set_algorithm(Some(Algorithm::Sha256));
        assert!(matches!(
            verify(&f, 1111111109, "68084774", &opts(), None).outcome,
            Outcome::Accepted { .. }
        ));
    }

    #[test]
    fn given_scratch_code_then_it_is_accepted_once_and_its_line_removed() {
        let f = file("\" TOTP_AUTH\n11111111\n22222222\n");
        let v = verify(&f, T, "22222222", &opts(), None);
        assert_eq!(
            v.outcome,
            Outcome::Accepted {
                via: Via::Scratch,
                scratch_left: 1
            }
        );
        let f2 = v.updated.unwrap();
        assert_eq!(
            &*f2.to_bytes(),
            format!("{GA_SECRET}\n\" TOTP_AUTH\n11111111\n").as_bytes()
        );
        // Issue 19: a used scratch code is logged as a wrong code, never as malformed.
        assert_eq!(
            verify(&f2, T, "22222222", &opts(), None).outcome,
            Outcome::Rejected(RejectReason::WrongCode)
        );
    }

    /// Decision (issue 17, item 9): as in pam_google_authenticator, a stray line hides the scratch codes after
    /// it; they are refused (and kept in the file, and counted by `totp-enroll status`).
    #[test]
    fn given_scratch_code_after_stray_line_then_it_is_refused_as_google_authenticator_does() {
        let f = file("\" TOTP_AUTH\n11111111\njunk\n22222222\n");
        let v = verify(&f, T, "22222222", &opts(), None);
        // Refused as any 8-digit input that is no usable scratch code is.
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(v.updated, None);
        // The code before the stray line works, and only it is counted as left.
        let v = verify(&f, T, "11111111", &opts(), None);
        assert_eq!(
            v.outcome,
            Outcome::Accepted {
                via: Via::Scratch,
                scratch_left: 0
            }
        );
        assert_eq!(
            v.updated.unwrap().scratch_codes().collect::<Vec<_>>(),
            [22_222_222]
        );
    }

    /// Decision (issue 17, item 8): a missed HOTP code advances the counter by one, as in
    /// pam_google_authenticator (files move between the two modules, tests/tests/interop_ga.rs); an attacker
    /// can so push the counter ahead, bounded by RATE_LIMIT; `no_increment_hotp` turns it off.
    #[test]
    fn given_hotp_misses_then_each_advances_the_counter_as_google_authenticator_does() {
        let mut f = file("\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n");
        for expected in 2..=4 {
            let v = verify(&f, T, "000000", &opts(), None);
            assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
            f = v.updated.unwrap();
            assert_eq!(f.mode(), Mode::Hotp { counter: expected });
        }
    }

    #[test]
    fn given_file_without_totp_or_hotp_then_only_scratch_codes_work() {
        let f = file("11111111\n");
        assert_eq!(
            verify(&f, T, "050548", &opts(), None).outcome,
            Outcome::NotConfigured
        );
        assert!(matches!(
            verify(&f, T, "11111111", &opts(), None).outcome,
            Outcome::Accepted {
                via: Via::Scratch,
                ..
            }
        ));
    }

    #[test]
    fn given_hotp_code_in_window_then_counter_moves_past_it() {
        let f = file("\" HOTP_COUNTER 1\n\" WINDOW_SIZE 5\n");
        let v = verify(&f, T, "932068", &opts(), None); // counter 5 = 1 + 4, the last in the window
        assert_eq!(
            v.outcome,
            Outcome::Accepted {
                via: Via::Hotp,
                scratch_left: 0
            }
        );
        assert_eq!(v.updated.unwrap().mode(), Mode::Hotp { counter: 6 });
    }

    #[test]
    fn given_hotp_code_beyond_window_then_it_fails_and_counter_advances_by_one() {
        let f = file("\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n");
        let v = verify(&f, T, "932068", &opts(), None);
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(v.updated.unwrap().mode(), Mode::Hotp { counter: 2 });
    }

    #[test]
    fn given_no_increment_hotp_then_a_miss_leaves_the_counter() {
        let f = file("\" HOTP_COUNTER 1\n");
        let v = verify(
            &f,
            T,
            "000000",
            &Options {
                no_increment_hotp: true,
                ..opts()
            },
            None,
        );
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(v.updated, None);
    }

    #[test]
    fn given_malformed_hotp_input_then_counter_does_not_move() {
        let f = file("\" HOTP_COUNTER 1\n");
        assert_eq!(verify(&f, T, "29324", &opts(), None).updated, None);
    }

    #[test]
    fn given_hotp_counter_then_it_takes_precedence_over_totp() {
        let f = file("\" TOTP_AUTH\n\" HOTP_COUNTER 1\n");
        assert!(matches!(
            verify(&f, T, "293240", &opts(), None).outcome,
            Outcome::Accepted { via: Via::Hotp, .. }
        ));
    }

    #[test]
    fn given_rate_limit_then_the_attempt_after_n_within_m_seconds_is_refused_without_checking() {
        let mut f = file("\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n");
        for i in 0..3 {
            assert_eq!(rate_limited(&f, T + i), None);
            let v = verify(&f, T + i, "000000", &opts(), None);
            assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
            f = v.updated.unwrap();
        }
        assert_eq!(f.rate_limit().unwrap().timestamps, [T, T + 1, T + 2]);
        assert_eq!(rate_limited(&f, T + 3), Some(29));
        let v = verify(&f, T + 3, "050548", &opts(), None);
        assert_eq!(v.outcome, Outcome::RateLimited { retry_after_secs: 29 });
        // The refused attempt is recorded too (as in C), so the newest three remain.
        let f = v.updated.unwrap();
        assert_eq!(f.rate_limit().unwrap().timestamps, [T + 1, T + 2, T + 3]);
        // Once the oldest has left the interval, attempts are allowed again.
        assert_eq!(rate_limited(&f, T + 32), None);
        assert!(matches!(
            verify(&f, T + 32, &code_at_step((T + 32) / 30), &opts(), None).outcome,
            Outcome::Accepted { .. }
        ));
    }

    /// Regression (issue 17, item 6): a refusal over the limit skipped the HMAC work, so it came ~0.6 ms
    /// sooner than any other refusal and told an attacker that the user is enrolled. It now costs the work of a
    /// wrong code, whatever was typed, and the right code is still refused.
    #[test]
    fn given_rate_limit_reached_then_the_refusal_costs_the_work_of_a_wrong_code_whatever_was_typed() {
        let f = file(&format!("\" TOTP_AUTH\n\" RATE_LIMIT 1 30 {T}\n"));
        let wrong_work = verify(&file("\" TOTP_AUTH\n"), T, "000000", &opts(), None)
            .stats
            .hmac_evaluations;
        assert_eq!(wrong_work, hmac_budget(&opts()));
        for typed in ["000000", "050548"] {
            let v = verify(&f, T + 1, typed, &opts(), None);
            assert!(
                matches!(v.outcome, Outcome::RateLimited { .. }),
                "{typed}: {:?}",
                v.outcome
            );
            assert_eq!(v.stats.hmac_evaluations, wrong_work, "{typed}");
        }
    }

    #[test]
    fn given_rate_limit_then_successes_count_and_stale_or_future_entries_are_dropped() {
        let f = file(&format!(
            "\" TOTP_AUTH\n\" RATE_LIMIT 3 30 {} {} {}\n",
            T - 100,
            T - 10,
            T + 500
        ));
        let v = verify(&f, T, "050548", &opts(), None);
        let f2 = accepted(&v);
        assert_eq!(f2.rate_limit().unwrap().timestamps, [T - 10, T]);
        assert!(f2.to_bytes().windows(10).any(|w| w == b"RATE_LIMIT"));
    }

    /// Regression (issue 17, item 1): an attempt recorded by a process whose clock read is a little later than
    /// ours (up to one interval) is kept and counted; pam_google_authenticator drops it as "future".
    #[test]
    fn given_rate_limit_entries_a_little_in_the_future_then_they_are_kept_and_counted() {
        let f = file(&format!(
            "\" TOTP_AUTH\n\" RATE_LIMIT 3 30 {} {} {}\n",
            T + 1,
            T + 5,
            T + 29
        ));
        let v = verify(&f, T, "050548", &opts(), None);
        assert!(
            matches!(v.outcome, Outcome::RateLimited { .. }),
            "{:?}",
            v.outcome
        );
        // The three newest attempts are the ones already there: nothing to rewrite.
        assert_eq!(v.updated, None);
        assert!(rate_limited(&f, T).is_some());
    }

    /// Regression (issue 17, item 4): three codes used at t, t+30, t+60 under DISALLOW_REUSE were replayed
    /// ten hours later; skew learning accepted the third and set TIME_SKEW. The USED_STEP high-water mark
    /// outlives the pruned DISALLOW_REUSE list: such codes are refused as replays and learn nothing.
    #[test]
    fn given_used_codes_replayed_hours_later_then_skew_learning_refuses_them() {
        for body in [
            "\" TOTP_AUTH\n\" DISALLOW_REUSE\n\" RATE_LIMIT 3 30\n",
            "\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n",
        ] {
            replayed_codes_teach_no_skew(body);
        }
    }

    #[track_caller]
    fn replayed_codes_teach_no_skew(body: &str) {
        let mut f = file(body);
        for k in 0..3 {
            let t = T + 30 * k;
            let v = verify(&f, t, &code_at_step(t / 30), &opts(), None);
            f = accepted(&v);
        }
        assert_eq!(f.used_step(), Some(STEP + 2));
        let later = T + 10 * 3600;
        for k in 0..3 {
            let t = later + 30 * k;
            let v = verify(&f, t, &code_at_step(STEP + k), &opts(), None);
            assert_eq!(v.outcome, Outcome::Replayed, "replay {k}");
            if let Some(updated) = v.updated {
                f = updated;
            }
        }
        assert_eq!(f.time_skew(), 0);
        assert_eq!(f.resetting_time_skew(), []);
        // The user's own next code still works.
        let now = later + 100;
        assert!(matches!(
            verify(&f, now, &code_at_step(now / 30), &opts(), None).outcome,
            Outcome::Accepted { .. }
        ));
    }

    #[test]
    fn given_a_used_step_file_then_google_authenticator_readers_keep_it_and_we_parse_it() {
        let f = file("\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
        let f2 = accepted(&verify(&f, T, "050548", &opts(), None));
        let text = String::from_utf8(f2.to_bytes().to_vec()).unwrap();
        assert!(text.contains(&format!("\" USED_STEP {STEP}\n")), "{text}");
        assert_eq!(
            SecretFile::parse(text.as_bytes()).unwrap().used_step(),
            Some(STEP)
        );
    }

    #[test]
    fn given_code_far_outside_window_then_three_quick_attempts_learn_the_skew() {
        // The phone is 10 steps (5 minutes) ahead.
        let mut f = file("\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
        for (k, t) in [T, T + 30, T + 60].into_iter().enumerate() {
            let step = t / 30;
            let v = verify(&f, t, &code_at_step(step + 10), &opts(), None);
            f = v.updated.clone().unwrap();
            if k < 2 {
                assert_eq!(
                    v.outcome,
                    Outcome::Rejected(RejectReason::SkewLearning),
                    "attempt {k}"
                );
                assert_eq!(f.resetting_time_skew().len(), k + 1);
            } else {
                assert!(
                    matches!(v.outcome, Outcome::Accepted { via: Via::Totp, .. }),
                    "{:?}",
                    v.outcome
                );
                assert_eq!(f.time_skew(), 10);
                assert_eq!(f.resetting_time_skew(), []);
                assert_eq!(f.disallow_reuse(), Some(&[step + 10][..]));
            }
        }
        // From now on the skewed clock works directly.
        let t = T + 90;
        assert!(matches!(
            verify(&f, t, &code_at_step(t / 30 + 10), &opts(), None).outcome,
            Outcome::Accepted { .. }
        ));
    }

    #[test]
    fn given_the_same_far_code_twice_then_skew_learning_makes_no_progress() {
        let f = file("\" TOTP_AUTH\n");
        let code = code_at_step(STEP + 10);
        let f1 = verify(&f, T, &code, &opts(), None).updated.unwrap();
        assert_eq!(f1.resetting_time_skew(), [SkewEntry { step: STEP, skew: 10 }]);
        let v = verify(&f1, T + 1, &code, &opts(), None);
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::SkewLearning));
        assert_eq!(v.updated, None);
    }

    #[test]
    fn given_attempts_too_far_apart_then_skew_is_not_adopted() {
        let mut f = file("\" TOTP_AUTH\n");
        for t in [T, T + 30, T + 300] {
            f = verify(&f, t, &code_at_step(t / 30 + 10), &opts(), None)
                .updated
                .unwrap();
        }
        assert_eq!(f.time_skew(), 0);
        assert_eq!(f.resetting_time_skew().len(), 3);
        assert!(to_text(&f).contains(&format!(
            "\" RESETTING_TIME_SKEW {}+10 {}+10 {}+10\n",
            STEP,
            STEP + 1,
            STEP + 10
        )));
    }

    fn to_text(f: &SecretFile) -> String {
        String::from_utf8(f.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn given_noskewadj_then_far_codes_are_plain_wrong_and_nothing_is_recorded() {
        let f = file("\" TOTP_AUTH\n");
        let o = Options {
            noskewadj: true,
            ..opts()
        };
        let v = verify(&f, T, &code_at_step(STEP + 10), &o, None);
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(v.updated, None);
        assert_eq!(v.stats.hmac_evaluations, MAX_WINDOW);
    }

    #[test]
    fn given_code_beyond_1500_steps_then_no_skew_is_learned() {
        let f = file("\" TOTP_AUTH\n");
        let v = verify(&f, T, &code_at_step(STEP + 1600), &opts(), None);
        // (A random code could collide with one of the 3000 scanned steps; this one does not.)
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(v.updated, None);
    }

    #[test]
    fn given_wrong_code_then_hmac_count_is_the_same_enrolled_or_not() {
        for o in [
            opts(),
            Options {
                noskewadj: true,
                ..opts()
            },
        ] {
            let unenrolled = verify_unenrolled(T, &["123456"], &o);
            assert_eq!(unenrolled.outcome, Outcome::NotConfigured);
            let budget = hmac_budget(&o);
            assert_eq!(unenrolled.stats.hmac_evaluations, budget);
            for body in [
                "\" TOTP_AUTH\n",
                "\" TOTP_AUTH\n\" WINDOW_SIZE 17\n",
                "\" TOTP_AUTH\n\" WINDOW_SIZE 100\n",
                "\" HOTP_COUNTER 1\n\" WINDOW_SIZE 5\n",
                "\" TOTP_AUTH\n\" DIGITS 8\n",
                "11111111\n",
            ] {
                let v = verify(&file(body), T, "123456", &o, None);
                assert!(!matches!(v.outcome, Outcome::Accepted { .. }), "{body}");
                assert_eq!(v.stats.hmac_evaluations, budget, "{body}");
            }
        }
    }

    /// Regression: an accepted code used to be padded to the full budget like a refusal, so every good login
    /// paid the whole ±1500-step skew scan (~3,100 HMACs; pam_google_authenticator spends 1-3) and pam_totp
    /// was ~18% slower than the C module on the most common path (bench/totp.sh).
    #[test]
    fn given_right_code_then_no_padding_hmacs_are_spent() {
        let window = |v: &Verdict| v.stats.hmac_evaluations;
        let f = file("\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
        let v = verify(&f, T, "050548", &opts(), None);
        assert!(matches!(v.outcome, Outcome::Accepted { via: Via::Totp, .. }));
        assert_eq!(window(&v), 3, "the default window only");
        // A replay and a wrong code are still padded to the budget, enrolled or not.
        let replay = verify(&v.updated.unwrap(), T, "050548", &opts(), None);
        assert_eq!(replay.outcome, Outcome::Replayed);
        assert_eq!(window(&replay), hmac_budget(&opts()));
        assert_eq!(
            window(&verify(&f, T, "050549", &opts(), None)),
            hmac_budget(&opts())
        );
        let hotp = verify(
            &file("\" HOTP_COUNTER 1\n\" WINDOW_SIZE 5\n"),
            T,
            "293240",
            &opts(),
            None,
        );
        assert!(matches!(hotp.outcome, Outcome::Accepted { via: Via::Hotp, .. }));
        assert_eq!(window(&hotp), 5);
    }

    #[test]
    fn given_unenrolled_user_then_even_a_matching_decoy_code_fails() {
        for input in ["000000", "12345678", "", "x"] {
            assert_eq!(
                verify_unenrolled(T, &[input], &opts()).outcome,
                Outcome::NotConfigured
            );
        }
    }

    #[test]
    fn given_grace_period_then_an_accepted_login_records_the_host() {
        let f = file("\" TOTP_AUTH\n");
        let o = Options {
            grace_period: 3600,
            ..opts()
        };
        let f2 = accepted(&verify(&f, T, "050548", &o, Some("192.0.2.7")));
        assert_eq!(f2.last_logins()[0], LastLogin::new("192.0.2.7", T));
        assert!(grace_applies(&f2, T + 3599, Some("192.0.2.7"), 3600));
        assert!(!grace_applies(&f2, T + 3600, Some("192.0.2.7"), 3600));
        assert!(!grace_applies(&f2, T + 10, Some("192.0.2.8"), 3600));
        assert!(!grace_applies(&f2, T + 10, None, 3600));
        assert!(!grace_applies(&f2, T + 10, Some("192.0.2.7"), 0));
        assert!(
            !grace_applies(&f2, T - 1, Some("192.0.2.7"), 3600),
            "future entries do not count"
        );
        // Without grace_period nothing is recorded.
        assert_eq!(verify(&f, T, "050548", &opts(), Some("192.0.2.7")).updated, None);
        // A host that cannot be written on one line is not recorded.
        assert_eq!(
            verify(&f, T, "050548", &o, Some("evil\n\" TOTP_AUTH")).updated,
            None
        );
    }

    #[test]
    fn given_grace_slots_then_same_host_is_updated_then_free_slot_then_oldest() {
        let o = Options {
            grace_period: 60,
            ..opts()
        };
        let mut body = String::from("\" TOTP_AUTH\n");
        for i in 0..10 {
            body.push_str(&format!("\" LAST{i} h{i} {}\n", 1000 + i));
        }
        let f = file(&body);
        let same = accepted(&verify(&f, T, "050548", &o, Some("h4")));
        assert_eq!(same.last_logins()[4], LastLogin::new("h4", T));
        let oldest = accepted(&verify(&f, T, "050548", &o, Some("new")));
        assert_eq!(oldest.last_logins()[0], LastLogin::new("new", T));
        let f = file("\" TOTP_AUTH\n\" LAST0 a 5\n");
        let free = accepted(&verify(&f, T, "050548", &o, Some("b")));
        assert_eq!(free.last_logins()[1], LastLogin::new("b", T));
        assert!(to_text(&free).starts_with(&format!(
            "{GA_SECRET}\n\" LAST1 b {T}\n\" TOTP_AUTH\n\" LAST0 a 5\n"
        )));
    }

    #[test]
    fn code_candidates_take_the_code_from_the_end_as_c_does() {
        let six = Digits::SIX;
        let c = |password, code| Candidate { password, code };
        assert_eq!(code_candidates("050548", six, false), [c("", "050548")]);
        assert_eq!(code_candidates("12345678", six, false), [c("", "12345678")]);
        assert_eq!(code_candidates("pw050548", six, false), []);
        assert_eq!(
            code_candidates("pw12345678", six, true),
            [c("pw12", "345678"), c("pw", "12345678")]
        );
        assert_eq!(code_candidates("12345", six, true), []);
        // The 8-byte suffix "é050548" is not all digits, and a suffix inside a character is never taken.
        assert_eq!(code_candidates("é050548", six, true), [c("é", "050548")]);
        assert_eq!(code_candidates("é5050548", six, true), [c("é5", "050548")]);
        let eight = Digits::new(8).unwrap();
        assert_eq!(code_candidates("pw12345678", eight, true), [c("pw", "12345678")]);
    }

    #[test]
    fn given_forward_pass_then_password_and_code_are_split_and_rate_limit_counts_once() {
        let f = file("\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n11111111\n");
        let o = Options {
            forward_pass: true,
            ..opts()
        };
        let typed = "secret050548";
        let candidates = code_candidates(typed, f.digits(), true);
        let codes: Vec<&str> = candidates.iter().map(|c| c.code).collect();
        let (v, which) = verify_any(&f, T, &codes, &o, None);
        assert!(matches!(v.outcome, Outcome::Accepted { via: Via::Totp, .. }));
        assert_eq!(candidates[which.unwrap()].password, "secret");
        assert_eq!(v.updated.unwrap().rate_limit().unwrap().timestamps, [T]);
        // A password ending in digits followed by a scratch code: the 8-digit reading wins.
        let typed = "pw9911111111";
        let candidates = code_candidates(typed, f.digits(), true);
        let codes: Vec<&str> = candidates.iter().map(|c| c.code).collect();
        let (v, which) = verify_any(&f, T, &codes, &o, None);
        assert!(matches!(
            v.outcome,
            Outcome::Accepted {
                via: Via::Scratch,
                scratch_left: 0
            }
        ));
        assert_eq!(candidates[which.unwrap()].password, "pw99");
        // Two wrong readings cost two budgets, enrolled or not.
        let (v, which) = verify_any(&f, T, &["111111", "22222222"], &o, None);
        assert_eq!(
            (v.outcome, which),
            (Outcome::Rejected(RejectReason::WrongCode), None)
        );
        assert_eq!(v.stats.hmac_evaluations, 2 * hmac_budget(&o));
        assert_eq!(
            verify_unenrolled(T, &["111111", "22222222"], &o)
                .stats
                .hmac_evaluations,
            2 * hmac_budget(&o)
        );
    }

    #[test]
    fn given_no_candidate_then_the_attempt_is_refused_as_malformed_and_still_counted() {
        let f = file("\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n11111111\n");
        let (v, which) = verify_any(&f, T, &[], &opts(), None);
        assert_eq!(
            (v.outcome, which),
            (Outcome::Rejected(RejectReason::Malformed), None)
        );
        assert_eq!(v.updated.unwrap().rate_limit().unwrap().timestamps, [T]);
    }

    #[test]
    fn given_a_wrong_reading_then_a_right_one_then_the_right_one_wins_on_the_untouched_start() {
        // The first (wrong) reading works on a copy, the last on the starting state itself: the winner's
        // state must not carry anything of the refused reading (here: no skew learned, scratch code kept).
        let f = file("\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n11111111\n");
        let (v, which) = verify_any(&f, T, &["000000", "050548"], &opts(), None);
        assert!(matches!(v.outcome, Outcome::Accepted { via: Via::Totp, .. }));
        assert_eq!(which, Some(1));
        let new = v.updated.unwrap();
        assert_eq!(new.rate_limit().unwrap().timestamps, [T]);
        assert_eq!(new.scratch_codes().count(), 1);
        // And the other way round: the right reading first is taken before the last one is tried.
        let (v, which) = verify_any(&f, T, &["050548", "000000"], &opts(), None);
        assert!(matches!(v.outcome, Outcome::Accepted { via: Via::Totp, .. }));
        assert_eq!(which, Some(0));
    }

    #[test]
    fn given_two_hotp_readings_that_miss_then_the_counter_advances_once() {
        let f = file("\" HOTP_COUNTER 1\n");
        let (v, _) = verify_any(&f, T, &["345678", "12345678"], &opts(), None);
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(v.updated.unwrap().mode(), Mode::Hotp { counter: 2 });
    }

    #[test]
    fn every_fixture_accepts_its_current_code_and_first_scratch_code() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/google-authenticator");
        let now = 1_795_883_844;
        for name in [
            "totp-disallow-reuse-ratelimit.ga",
            "totp-window17.ga",
            "totp-step60.ga",
            "totp-no-scratch.ga",
            "hotp.ga",
        ] {
            let f = SecretFile::parse(&std::fs::read(dir.join(name)).unwrap()).unwrap();
            let otp = f.otp().unwrap();
            let code = match f.mode() {
                Mode::Totp => otp.totp(now, f.step_size()),
                Mode::Hotp { counter } => otp.hotp(counter),
                Mode::ScratchOnly => unreachable!(),
            };
            let v = verify(&f, now, &format_code(code, f.digits()), &opts(), None);
            assert!(
                matches!(v.outcome, Outcome::Accepted { .. }),
                "{name}: {:?}",
                v.outcome
            );
            let first = f.scratch_codes().next();
            if let Some(first) = first {
                let v = verify(&f, now, &first.to_string(), &opts(), None);
                assert!(
                    matches!(
                        v.outcome,
                        Outcome::Accepted {
                            via: Via::Scratch,
                            ..
                        }
                    ),
                    "{name}"
                );
            }
        }
    }
    /// Regression (found by fuzz/totp_verify): `retry_after` added the interval to the oldest kept timestamp
    /// without saturating, so a `RATE_LIMIT` file checked at a time near u64::MAX panicked ("attempt to add
    /// with overflow") in `verify` and in `rate_limited` instead of refusing.
    #[test]
    fn given_rate_limit_and_now_near_u64_max_then_retry_after_does_not_overflow() {
        let now = u64::MAX - 5;
        let f = file(&format!("\" RATE_LIMIT 1 30 {now}\n\" TOTP_AUTH\n"));
        // The wait is cut short at the end of time (u64::MAX), never wrapped around.
        assert_eq!(rate_limited(&f, now), Some(5));
        let v = verify(&f, now, "123456", &opts(), None);
        assert_eq!(v.outcome, Outcome::RateLimited { retry_after_secs: 5 });
        assert_eq!(
            verify(&f, u64::MAX, "123456", &opts(), None).outcome,
            Outcome::RateLimited { retry_after_secs: 1 }
        );
    }

    /// Regression (found reading the code while writing fuzz/totp_verify; the fuzzer had not hit it): skew
    /// learning compared a `RESETTING_TIME_SKEW` entry's skew with the new one as `(a.skew - skew).abs()` in
    /// i64, so an entry from the file with a skew near i64::MIN or i64::MAX overflowed: a panic in debug
    /// builds; in release the difference wrapped to i64::MIN, whose `abs()` is negative, so the entry passed
    /// the "stable skew" test and its absurd skew went into the adopted average.
    #[test]
    fn given_resetting_time_skew_with_extreme_skews_then_skew_learning_does_not_overflow() {
        for extreme in [i64::MIN, i64::MAX] {
            let f = file(&format!(
                "\" TOTP_AUTH\n\" RESETTING_TIME_SKEW {}{extreme:+} {}{extreme:+}\n",
                STEP - 2,
                STEP - 1
            ));
            for far in [STEP + 10, STEP - 10, STEP] {
                let v = verify(&f, T, &code_at_step(far), &opts(), None);
                if far == STEP {
                    assert!(matches!(v.outcome, Outcome::Accepted { .. }), "{:?}", v.outcome);
                    continue;
                }
                assert_eq!(v.outcome, Outcome::Rejected(RejectReason::SkewLearning));
                let updated = v.updated.unwrap();
                assert_eq!(
                    updated.time_skew(),
                    0,
                    "no skew adopted from inconsistent entries"
                );
            }
        }
        // The release-build variant: a difference of exactly i64::MIN (entry i64::MIN, new skew 0, reached when
        // TIME_SKEW moves the window away from the real time).
        let f = file(&format!(
            "\" TOTP_AUTH\n\" TIME_SKEW 100\n\" RESETTING_TIME_SKEW {}{min:+} {}{min:+}\n",
            STEP - 2,
            STEP - 1,
            min = i64::MIN
        ));
        let v = verify(&f, T, &code_at_step(STEP), &opts(), None);
        assert_eq!(v.outcome, Outcome::Rejected(RejectReason::SkewLearning));
        assert_eq!(v.updated.unwrap().time_skew(), 100);
    }
}
