//! PAM glue for pam_pwpolicy: `pam_sm_chauthtok`, generic over [`PamHandle`] so the whole flow is unit
//! tested with `FakeHandle`; the exported hook only builds the real [`World`] and calls [`chauthtok`].
//!
//! The flow (pam_cracklib's, see `shared/design/architecture.md`):
//! - configuration is loaded first (see [`crate::config`] for precedence: built-in defaults and preset <
//!   `pwquality.conf.d/*.conf` < `pwquality.conf` < `pwpolicy.conf` (or `conf=PATH`) < module arguments);
//!   any unknown or malformed option, in any source, is logged (each one) and gives PAM_SERVICE_ERR;
//! - PAM_PRELIM_CHECK succeeds;
//! - PAM_UPDATE_AUTHTOK: `New password: ` (or `New XXX password: ` with `authtok_type=XXX`), check,
//!   `BAD PASSWORD: <reason>` plus one line of guidance and a new prompt up to `retry` times, then
//!   `Retype new password: ` (`Sorry, passwords do not match.` on a mismatch); the accepted password is
//!   left in PAM_AUTHTOK for `pam_unix use_authtok`. After `retry` failures: PAM_MAXTRIES if `retry` > 1,
//!   otherwise PAM_AUTHTOK_ERR. `use_authtok`/`use_first_pass` check PAM_AUTHTOK without prompting;
//!   `try_first_pass` uses it when set;
//! - the policy is enforced when `enforcing` and (the caller's real uid is not 0, or `enforce_for_root`,
//!   or PAM_CHANGE_EXPIRED_AUTHTOK); otherwise a failing password is accepted with an explicit warning.
//!   Empty, non-UTF-8 and over-`maxlen` input is always refused;
//! - `blocklist=PATH`: the breached-password file is opened ([`blocklist::open`], with
//!   [`config::open_trusted`]'s rules) and validated (header and shard index: see
//!   `docs/blocklist-format.md`) once per call, before any prompt; a lookup reads the few bytes it needs
//!   with `pread` and verifies the checksum of the shard it uses. A listed password is refused with `BAD PASSWORD: it appears in a list of breached passwords`. If the
//!   file cannot be used (at open, or a damaged or changed shard at lookup), `blocklist_missing=deny`
//!   (default) logs exactly what is wrong, tells the user the check is unavailable and refuses the change
//!   (PAM_TRY_AGAIN in PAM_PRELIM_CHECK, so `passwd` stops before asking anything; PAM_AUTHTOK_ERR in
//!   PAM_UPDATE_AUTHTOK); `blocklist_missing=warn` logs a warning and checks without it.
//!
//! The module never writes to stdout/stderr; it talks to the user through the conversation and to the
//! admin through `pam_syslog`, never with the password. The password is checked after NFKC, but what the
//! user typed is what is stored in PAM_AUTHTOK (pam_unix hashes the typed bytes at login too).

use crate::blocklist::{self, Blocklist};
use crate::check::{self, Context, Reason, Rule, Verdict};
use crate::config::{self, Paths};
use crate::policy::{AuthtokSource, BlocklistMissing, Policy};
use pam_ffi::os::UserRecord;
use pam_ffi::{log_field, Flags, LibPam, PamCode, PamHandle, Priority, Secret};
use std::path::{Path, PathBuf};

pam_ffi::export_pam_hooks! {
    pam_sm_chauthtok => chauthtok_hook,
}

/// Everything the module reads from the system, as parameters (so tests never touch the host).
#[derive(Debug, Clone)]
pub struct World {
    /// Configuration file locations.
    pub paths: Paths,
    /// Real uid of the calling process (root is only warned unless `enforce_for_root`).
    pub real_uid: u32,
    /// passwd lookup for GECOS words.
    pub lookup_user: fn(&str) -> Option<UserRecord>,
    /// Host name (a context word).
    pub hostname: Option<String>,
    /// The local passwd file, for `local_users_only`.
    pub passwd_file: PathBuf,
}

impl World {
    /// The real system.
    pub fn system() -> Self {
        World {
            paths: Paths::system(),
            real_uid: pam_ffi::os::real_uid(),
            lookup_user: pam_ffi::os::user_by_name,
            hostname: config::read_file(Path::new("/proc/sys/kernel/hostname"))
                .ok()
                .flatten()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty()),
            passwd_file: PathBuf::from("/etc/passwd"),
        }
    }
}

fn chauthtok_hook(pamh: &mut LibPam, flags: Flags, args: &[String]) -> PamCode {
    chauthtok(pamh, flags, args, &World::system())
}

/// Whether `user` has a line in the local passwd file (pam_pwquality's `local_users_only`). A file that
/// cannot be read counts the user as local, so the checks apply (fail closed).
pub fn is_local_user(user: &str, passwd: &Path) -> bool {
    match config::read_file(passwd) {
        Ok(Some(text)) => text.lines().any(|l| l.split(':').next() == Some(user)),
        _ => true,
    }
}

/// The policy as shown by `show_policy`.
pub fn policy_text(policy: &Policy) -> String {
    let mut s = String::from("Password policy:");
    for r in policy.requirements() {
        s.push_str("\n  - ");
        s.push_str(&r);
    }
    s
}

/// Shown to the user when `blocklist_missing=deny` refuses a change because the blocklist cannot be used.
pub const BLOCKLIST_UNAVAILABLE: &str = "The check against breached passwords is unavailable, so the password cannot be changed now. Please contact your system administrator.";

/// What a failing rule is about, in the order a user should fix things (see [`shown_reasons`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Topic {
    /// The input cannot be checked at all (empty, not UTF-8, too long).
    Unusable,
    /// Its relation to the old password.
    Old,
    /// Too short.
    Length,
    /// Character kinds required (credits, `minclass`): shown together.
    Classes,
    /// What it is made of (repeats, words, names, lists, guessability).
    Pattern,
}

/// The topic of a rule, and its rank inside [`Topic::Pattern`] (lower: more specific, so more useful).
fn topic(rule: Rule) -> (Topic, u8) {
    match rule {
        Rule::Empty | Rule::Utf8 | Rule::Maxlen => (Topic::Unusable, 0),
        // The invisible characters are what the user must see first: they hide what the rest fails.
        Rule::Invisible => (Topic::Unusable, 1),
        Rule::Same | Rule::Case | Rule::Difok | Rule::Rotated => (Topic::Old, 0),
        Rule::Minlen => (Topic::Length, 0),
        Rule::Dcredit | Rule::Ucredit | Rule::Lcredit | Rule::Ocredit | Rule::Minclass => (Topic::Classes, 0),
        Rule::Palindrome => (Topic::Pattern, 0),
        Rule::Maxrepeat => (Topic::Pattern, 1),
        Rule::Maxsequence => (Topic::Pattern, 2),
        Rule::Maxclassrepeat => (Topic::Pattern, 3),
        Rule::Usercheck | Rule::Usersubstr => (Topic::Pattern, 4),
        Rule::Gecoscheck => (Topic::Pattern, 5),
        Rule::Badwords => (Topic::Pattern, 6),
        Rule::Blocklist => (Topic::Pattern, 7),
        // dictcheck and commoncheck name the pattern they found ("a common password with a year and a
        // symbol added", "a keyboard pattern", "a sequence or a repeat"): more useful than zxcvbn's score.
        Rule::Dictcheck => (Topic::Pattern, 8),
        Rule::Commoncheck => (Topic::Pattern, 9),
        Rule::Minscore => (Topic::Pattern, 10),
    }
}

/// Rules that say nothing useful about a password that is also too short: it changes once lengthened
/// (`x` is "too short", not "a palindrome").
fn moot_when_short(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::Palindrome
            | Rule::Rotated
            | Rule::Maxrepeat
            | Rule::Maxclassrepeat
            | Rule::Minscore
            | Rule::Commoncheck
    )
}

/// The reasons the user is shown, out of every failing rule the verdict holds: the first topic that
/// failed among unusable input, the old password, length, and character kinds (all kinds at once), then
/// the most specific pattern: at most two topics, so one retry shows what to fix (`abcdefghijkl` under
/// `dcredit=-1`: the missing digit and the sequence together).
pub fn shown_reasons(verdict: &Verdict) -> Vec<&Reason> {
    let short = verdict.reasons.iter().any(|r| r.rule == Rule::Minlen);
    let mut candidates: Vec<(Topic, u8, &Reason)> = verdict
        .reasons
        .iter()
        .filter(|r| !(short && moot_when_short(r.rule)))
        .map(|r| {
            let (t, rank) = topic(r.rule);
            (t, rank, r)
        })
        .collect();
    candidates.sort_by_key(|(t, rank, _)| (*t, *rank));
    let mut topics: Vec<Topic> = Vec::new();
    let mut out = Vec::new();
    for (t, _, r) in candidates {
        match topics.last() {
            // Every missing kind of character at once; one reason of any other topic.
            Some(&last) if last == t => {
                if t == Topic::Classes {
                    out.push(r);
                }
            }
            // Input that cannot be checked is the only thing to say.
            Some(&Topic::Unusable) => break,
            _ if topics.len() == 2 => break,
            _ => {
                topics.push(t);
                out.push(r);
            }
        }
    }
    out
}

/// The message for a refused password: `BAD PASSWORD: <reason>[; <reason>]`, then one line of guidance per
/// reason shown ([`shown_reasons`]).
pub fn bad_password_text(verdict: &Verdict) -> Option<String> {
    let shown = shown_reasons(verdict);
    if shown.is_empty() {
        return None;
    }
    let mut messages: Vec<&str> = Vec::new();
    for r in &shown {
        if !messages.contains(&r.message.as_str()) {
            messages.push(&r.message);
        }
    }
    let guidance: Vec<&str> = shown.iter().map(|r| r.guidance.as_str()).collect();
    Some(format!(
        "BAD PASSWORD: {}\n{}",
        messages.join("; "),
        guidance.join("\n")
    ))
}

struct Session<'a> {
    policy: &'a Policy,
    blocklist_path: &'a str,
    ctx: Context,
    enforce: bool,
    warn_why: &'static str,
    check_rules: bool,
    old: Option<Secret>,
    blocklist: Option<Blocklist<'a>>,
}

impl Session<'_> {
    /// The verdict on `new`. `Err`: the blocklist could not be used for it under `blocklist_missing=deny`
    /// (logged and told; the call ends with that code).
    fn verdict(&self, pamh: &mut impl PamHandle, new: &Secret) -> Result<Verdict, PamCode> {
        let old = self.old.as_ref().map(Secret::as_bytes);
        let mut v = check::check(self.policy, new.as_bytes(), old, &self.ctx);
        if let Some(list) = self.blocklist.as_ref().filter(|_| !v.hard_failure()) {
            // Verifies the shard(s) first, so that a damaged shard follows blocklist_missing.
            match list.contains_password(new.as_bytes()) {
                Ok(_) => check::check_blocklist(&mut v, new.as_bytes(), list),
                Err(e) if self.policy.blocklist_missing == BlocklistMissing::Warn => pamh.log(
                    Priority::Warning,
                    &format!(
                        "error {} reason=blocklist-unusable: {}: {e} (blocklist_missing=warn: this password is checked without it)",
                        self.id(pamh),
                        self.blocklist_path
                    ),
                ),
                Err(e) => {
                    return Err(blocklist_denied(
                        pamh,
                        &format!("{}: {e}", self.blocklist_path),
                        false,
                    ))
                }
            }
        }
        if self.check_rules {
            Ok(v)
        } else {
            // local_users_only for a non-local user: only what can never be waived.
            Ok(Verdict {
                reasons: v.reasons.into_iter().filter(|r| r.rule.is_hard()).collect(),
                ..v
            })
        }
    }

    fn id(&self, pamh: &impl PamHandle) -> String {
        format!(
            "user={} rhost={}",
            log_field(self.ctx.user.as_deref().unwrap_or("")),
            log_field(&pamh.rhost().unwrap_or_default())
        )
    }

    fn conversation_failed(&self, pamh: &impl PamHandle, e: PamCode) -> PamCode {
        pamh.log(
            Priority::Err,
            &format!("error {} reason=conversation-failed: {e}", self.id(pamh)),
        );
        e
    }

    /// Shows the verdict. `true`: the password may be used.
    fn judge(&self, pamh: &mut impl PamHandle, v: &Verdict) -> bool {
        if v.ok() {
            return true;
        }
        if let Some(text) = bad_password_text(v) {
            let _ = pamh.error(&text);
        }
        let rules: Vec<&str> = v.reasons.iter().map(|r| r.rule.name()).collect();
        if self.enforce || v.hard_failure() {
            pamh.log(
                Priority::Notice,
                &format!("refused {} rules={}", self.id(pamh), rules.join(",")),
            );
            false
        } else {
            let _ = pamh.info(&format!(
                "Warning only: this password does not meet the policy ({}), but it was accepted because {}.",
                shown_reasons(v)
                    .iter()
                    .map(|r| r.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                self.warn_why
            ));
            pamh.log(
                Priority::Warning,
                &format!(
                    "accepted-weak {} rules={}: only a warning because {}",
                    self.id(pamh),
                    rules.join(","),
                    self.warn_why
                ),
            );
            true
        }
    }
}

/// Refuses the change because the blocklist cannot be used (`blocklist_missing=deny`): logs why, tells the
/// user, and gives the code for the phase.
fn blocklist_denied(pamh: &mut impl PamHandle, why: &str, prelim: bool) -> PamCode {
    pamh.log(
        Priority::Err,
        &format!(
            "error reason=blocklist-unusable: {why} (blocklist_missing=deny: password changes are refused)"
        ),
    );
    let _ = pamh.error(BLOCKLIST_UNAVAILABLE);
    if prelim {
        PamCode::TryAgain
    } else {
        PamCode::AuthtokErr
    }
}

/// `pam_sm_chauthtok` over any handle.
pub fn chauthtok<H: PamHandle>(pamh: &mut H, flags: Flags, args: &[String], world: &World) -> PamCode {
    let loaded = match config::load(args, &world.paths) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                pamh.log(Priority::Err, &format!("error reason=bad-configuration: {e}"));
            }
            return PamCode::ServiceErr;
        }
    };
    let policy = loaded.policy;
    if policy.debug {
        let files: Vec<String> = loaded.files.iter().map(|f| f.display().to_string()).collect();
        pamh.log(
            Priority::Debug,
            &format!("debug configuration from: {}", files.join(", ")),
        );
    }
    let file = match policy.blocklist.as_deref() {
        // In PAM_PRELIM_CHECK only a refusal matters; warn mode logs once, in PAM_UPDATE_AUTHTOK.
        Some(path) if policy.blocklist_missing == BlocklistMissing::Deny || !flags.prelim_check() => {
            match blocklist::open(Path::new(path)) {
                Ok(m) => Some(m),
                Err(why) if policy.blocklist_missing == BlocklistMissing::Warn => {
                    pamh.log(
                        Priority::Warning,
                        &format!(
                            "error reason=blocklist-unusable: {why} (blocklist_missing=warn: passwords are checked without it)"
                        ),
                    );
                    None
                }
                Err(why) => return blocklist_denied(pamh, &why, flags.prelim_check()),
            }
        }
        _ => None,
    };
    let blocklist = match file.as_ref().map(|f| Blocklist::parse(f)) {
        None => None,
        Some(Ok(list)) => Some(list),
        // Validated a moment ago: only a file rewritten in place gets here. Never check without it.
        Some(Err(e)) => {
            return blocklist_denied(
                pamh,
                &format!("{}: {e}", policy.blocklist.as_deref().unwrap_or("?")),
                flags.prelim_check(),
            )
        }
    };
    if flags.prelim_check() {
        return PamCode::Success;
    }
    if !flags.update_authtok() {
        pamh.log(
            Priority::Err,
            "error reason=bad-flags: called without PAM_PRELIM_CHECK or PAM_UPDATE_AUTHTOK",
        );
        return PamCode::ServiceErr;
    }
    let user = match pamh.user() {
        Ok(u) => u,
        Err(e) => {
            pamh.log(Priority::Err, &format!("error reason=no-user-name: {e}"));
            return e;
        }
    };
    let gecos = (world.lookup_user)(&user).map(|r| r.gecos);
    let check_rules = !policy.local_users_only || is_local_user(&user, &world.passwd_file);
    let (enforce, warn_why) = if !policy.enforcing {
        (false, "the policy only warns (enforcing=0)")
    } else if world.real_uid == 0 && !policy.enforce_for_root && !flags.change_expired_authtok() {
        (false, "you are root (enforce_for_root is not set)")
    } else {
        (true, "")
    };
    let session = Session {
        policy: &policy,
        blocklist_path: policy.blocklist.as_deref().unwrap_or("?"),
        ctx: Context {
            user: Some(user),
            gecos,
            hostname: world.hostname.clone(),
            service: pamh.service(),
        },
        enforce,
        warn_why,
        check_rules,
        old: pamh.old_authtok(),
        blocklist,
    };
    if policy.debug && !check_rules {
        pamh.log(
            Priority::Debug,
            &format!("debug {} not a local user: checks skipped", session.id(pamh)),
        );
    }

    if policy.authtok == AuthtokSource::Stack {
        let Some(new) = pamh.authtok() else {
            pamh.log(
                Priority::Err,
                &format!(
                    "error {} reason=no-new-password: use_authtok but no earlier module set one",
                    session.id(pamh)
                ),
            );
            return PamCode::AuthtokErr;
        };
        let v = match session.verdict(pamh, &new) {
            Ok(v) => v,
            Err(code) => return code,
        };
        return if session.judge(pamh, &v) {
            PamCode::Success
        } else {
            PamCode::AuthtokErr
        };
    }

    if policy.show_policy {
        let _ = pamh.info(&policy_text(&policy));
    }
    let mut stacked = if policy.authtok == AuthtokSource::TryStack {
        pamh.authtok()
    } else {
        None
    };
    for _ in 0..policy.retry.max(1) {
        let (new, from_stack) = match stacked.take() {
            Some(s) => (s, true),
            None => match pamh.prompt_hidden(&policy.new_prompt()) {
                Ok(Some(s)) if !s.is_empty() => (s, false),
                Ok(_) => {
                    let _ = pamh.error("No password supplied");
                    continue;
                }
                Err(e) => return session.conversation_failed(pamh, e),
            },
        };
        let v = match session.verdict(pamh, &new) {
            Ok(v) => v,
            Err(code) => return code,
        };
        if !session.judge(pamh, &v) {
            continue;
        }
        if !from_stack {
            match pamh.prompt_hidden(&policy.retype_prompt()) {
                Ok(Some(again)) if again == new => {}
                Ok(_) => {
                    let _ = pamh.error("Sorry, passwords do not match.");
                    continue;
                }
                Err(e) => return session.conversation_failed(pamh, e),
            }
        }
        if let Err(e) = pamh.set_authtok(&new) {
            pamh.log(
                Priority::Err,
                &format!("error {} reason=cannot-set-authtok: {e}", session.id(pamh)),
            );
            return PamCode::AuthtokErr;
        }
        if policy.debug {
            pamh.log(Priority::Debug, &format!("accepted {}", session.id(pamh)));
        }
        return PamCode::Success;
    }
    pamh.log(
        Priority::Notice,
        &format!(
            "refused {} reason=retries-exhausted attempts={}",
            session.id(pamh),
            policy.retry.max(1)
        ),
    );
    if policy.retry > 1 {
        PamCode::MaxTries
    } else {
        PamCode::AuthtokErr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pam_ffi::{FakeHandle, FakeReply, Shown};

    const STRONG: &str = "Vq8#mT2!rZw9xLp";
    const GUIDE: &[&str] = crate::GUIDE_ARGS;

    fn alice(_: &str) -> Option<UserRecord> {
        Some(UserRecord {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/alice".into(),
            gecos: "Alice Smithers,,,".into(),
            shell: "/bin/sh".into(),
        })
    }

    struct T {
        dir: tempfile::TempDir,
        uid: u32,
    }

    impl T {
        fn new() -> Self {
            T {
                dir: tempfile::tempdir().unwrap(),
                uid: 1000,
            }
        }
        fn root() -> Self {
            T { uid: 0, ..T::new() }
        }
        fn world(&self) -> World {
            World {
                paths: Paths {
                    conf: self.dir.path().join("pwpolicy.conf"),
                    pwquality: Some(self.dir.path().join("pwquality.conf")),
                },
                real_uid: self.uid,
                lookup_user: alice,
                hostname: Some("bastion".into()),
                passwd_file: self.dir.path().join("passwd"),
            }
        }
        fn run(&self, h: &mut FakeHandle, flags: Flags, args: &[&str]) -> PamCode {
            let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            chauthtok(h, flags, &args, &self.world())
        }
        fn update(&self, h: &mut FakeHandle, args: &[&str]) -> PamCode {
            self.run(h, Flags(pam_ffi::sys::PAM_UPDATE_AUTHTOK), args)
        }
    }

    fn handle(replies: &[&str]) -> FakeHandle {
        FakeHandle::new("alice", "passwd", replies.iter().map(|r| FakeReply::from(*r)))
    }

    fn errors(h: &FakeHandle) -> Vec<&str> {
        h.shown
            .iter()
            .filter_map(|s| match s {
                Shown::Error(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    fn infos(h: &FakeHandle) -> Vec<&str> {
        h.shown
            .iter()
            .filter_map(|s| match s {
                Shown::Info(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn given_prelim_check_then_success_without_prompting() {
        let t = T::new();
        let mut h = handle(&[]);
        assert_eq!(
            t.run(&mut h, Flags(pam_ffi::sys::PAM_PRELIM_CHECK), GUIDE),
            PamCode::Success
        );
        assert!(h.shown.is_empty());
    }

    #[test]
    fn given_strong_password_then_accepted_and_left_in_authtok() {
        let t = T::new();
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, GUIDE), PamCode::Success);
        assert_eq!(h.prompts(), vec!["New password: ", "Retype new password: "]);
        assert_eq!(h.authtok.as_ref().map(|s| s.as_bytes()), Some(STRONG.as_bytes()));
    }

    #[test]
    fn given_weak_then_strong_password_then_bad_password_message_and_second_prompt() {
        let t = T::new();
        let mut h = handle(&["short1A!", STRONG, STRONG]);
        assert_eq!(t.update(&mut h, GUIDE), PamCode::Success);
        let e = errors(&h);
        assert!(e[0].starts_with("BAD PASSWORD: is too short"), "{e:?}");
        assert_eq!(h.prompts().len(), 3);
    }

    #[test]
    fn given_a_sequence_without_a_digit_then_one_retry_names_both_the_digit_and_the_sequence() {
        let t = T::new();
        let mut h = handle(&["abcdefghijkl"]);
        assert_eq!(t.update(&mut h, &["retry=1", "dcredit=-1"]), PamCode::AuthtokErr);
        let e = errors(&h);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("BAD PASSWORD: is too simple; "), "{e:?}");
        assert!(e[0].contains("Add at least 1 digit"), "{e:?}");
        assert!(e[0].contains("Sequences like abc"), "{e:?}");
        assert_eq!(h.prompts(), vec!["New password: "]);
    }

    #[test]
    fn given_one_character_then_it_is_too_short_not_a_palindrome() {
        let t = T::new();
        let mut h = handle(&["x"]);
        assert_eq!(t.update(&mut h, &[]), PamCode::AuthtokErr);
        assert_eq!(
            errors(&h),
            vec!["BAD PASSWORD: is too short\nUse at least 8 characters."]
        );
    }

    #[test]
    fn given_every_kind_missing_then_all_kinds_are_named_at_once_with_the_length() {
        let t = T::new();
        let mut h = handle(&["zzzz"]);
        let args: Vec<&str> = GUIDE.iter().copied().chain(["retry=1"]).collect();
        assert_eq!(t.update(&mut h, &args), PamCode::AuthtokErr);
        let e = errors(&h)[0];
        assert!(
            e.starts_with("BAD PASSWORD: is too short; is too simple\n"),
            "{e}"
        );
        for kind in ["digit", "uppercase letter", "other character"] {
            assert!(e.contains(kind), "{kind}: {e}");
        }
        assert!(!e.contains("repeat") && !e.contains("guess"), "{e}");
    }

    #[test]
    fn given_many_failing_rules_then_at_most_two_topics_are_shown_in_fix_order() {
        let v = check::check(
            &Policy::default(),
            b"abcdefghijkl",
            Some(b"abcdefghijkl"),
            &Context::default(),
        );
        assert!(v.reasons.len() >= 3, "{v:?}");
        let shown: Vec<Rule> = shown_reasons(&v).iter().map(|r| r.rule).collect();
        assert_eq!(shown, vec![Rule::Same, Rule::Commoncheck], "{v:?}");
    }

    #[test]
    fn given_compat_pwquality_then_passwords_pwquality_accepts_are_accepted_and_refused_without_it() {
        let t = T::new();
        for pw in ["Summer2024!", "P@ssw0rd2024"] {
            let mut h = handle(&[pw, pw]);
            assert_eq!(
                t.update(&mut h, &["retry=3", "compat=pwquality"]),
                PamCode::Success,
                "{pw}"
            );
            assert!(errors(&h).is_empty(), "{pw}: {:?}", errors(&h));
            let mut h = handle(&[pw]);
            assert_eq!(t.update(&mut h, &["retry=1"]), PamCode::AuthtokErr, "{pw}");
        }
        // pwquality's own rules still apply.
        let mut h = handle(&["x"]);
        assert_eq!(t.update(&mut h, &["compat=pwquality"]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_retry_exhausted_then_maxtries_when_retry_above_one() {
        let t = T::new();
        let mut h = handle(&["Password123!", "P@ssw0rd2024", "Summer2024!"]);
        assert_eq!(t.update(&mut h, GUIDE), PamCode::MaxTries);
        assert_eq!(errors(&h).len(), 3);
        assert!(h.authtok.is_none());
    }

    #[test]
    fn given_single_try_then_authtok_err() {
        let t = T::new();
        let mut h = handle(&["weak"]);
        assert_eq!(t.update(&mut h, &["retry=1"]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_mismatched_retype_then_sorry_and_reprompt() {
        let t = T::new();
        let mut h = handle(&[STRONG, "other", STRONG, STRONG]);
        assert_eq!(t.update(&mut h, GUIDE), PamCode::Success);
        assert_eq!(errors(&h), vec!["Sorry, passwords do not match."]);
    }

    #[test]
    fn given_empty_reply_then_no_password_supplied() {
        let t = T::new();
        let mut h = FakeHandle::new("alice", "passwd", [FakeReply::Null, FakeReply::from("")]);
        assert_eq!(t.update(&mut h, &["retry=2"]), PamCode::MaxTries);
        assert_eq!(errors(&h), vec!["No password supplied", "No password supplied"]);
    }

    #[test]
    fn given_conversation_failure_then_its_code_is_returned() {
        let t = T::new();
        let mut h = FakeHandle::new("alice", "passwd", [FakeReply::Fail(PamCode::ConvErr)]);
        assert_eq!(t.update(&mut h, GUIDE), PamCode::ConvErr);
    }

    #[test]
    fn given_authtok_type_then_prompts_name_it() {
        let t = T::new();
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &["authtok_type=UNIX"]), PamCode::Success);
        assert_eq!(
            h.prompts(),
            vec!["New UNIX password: ", "Retype new UNIX password: "]
        );
    }

    #[test]
    fn given_unknown_options_then_each_logged_and_service_err() {
        let t = T::new();
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(
            t.update(&mut h, &["minlen=10", "frobnicate", "difok=x"]),
            PamCode::ServiceErr
        );
        let logs = h.log_lines();
        assert_eq!(logs.len(), 2);
        assert!(logs[0].text.contains("frobnicate") && logs[1].text.contains("difok"));
        assert!(h.shown.is_empty());
        let mut h = handle(&[]);
        assert_eq!(
            t.run(&mut h, Flags(pam_ffi::sys::PAM_PRELIM_CHECK), &["bogus"]),
            PamCode::ServiceErr
        );
    }

    #[test]
    fn given_root_then_weak_password_only_warned() {
        let t = T::root();
        let mut h = handle(&["weak", "weak"]);
        assert_eq!(t.update(&mut h, GUIDE), PamCode::Success);
        assert!(errors(&h)[0].starts_with("BAD PASSWORD: "));
        assert!(infos(&h)
            .iter()
            .any(|i| i.starts_with("Warning only:") && i.contains("root")));
        assert!(h.authtok.is_some());
    }

    #[test]
    fn given_root_with_enforce_for_root_then_refused() {
        let t = T::root();
        let mut h = handle(&["weak"]);
        assert_eq!(t.update(&mut h, &["enforce_for_root"]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_root_and_expired_password_then_policy_enforced() {
        let t = T::root();
        let mut h = handle(&["weak"]);
        let flags = Flags(pam_ffi::sys::PAM_UPDATE_AUTHTOK | pam_ffi::sys::PAM_CHANGE_EXPIRED_AUTHTOK);
        assert_eq!(t.run(&mut h, flags, &[]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_enforcing_zero_then_everyone_is_only_warned() {
        let t = T::new();
        let mut h = handle(&["weak", "weak"]);
        assert_eq!(t.update(&mut h, &["enforcing=0"]), PamCode::Success);
        assert!(infos(&h).iter().any(|i| i.contains("enforcing=0")));
    }

    #[test]
    fn given_root_then_overlong_password_is_still_refused() {
        let t = T::root();
        let long = "x".repeat(300);
        let mut h = handle(&[&long]);
        assert_eq!(t.update(&mut h, &[]), PamCode::AuthtokErr);
        assert!(errors(&h)[0].starts_with("BAD PASSWORD: is too long"));
    }

    #[test]
    fn given_use_authtok_then_stacked_password_checked_without_prompt() {
        let t = T::new();
        let mut h = handle(&[]);
        h.authtok = Some(Secret::from(STRONG));
        assert_eq!(t.update(&mut h, &["use_authtok"]), PamCode::Success);
        assert!(h.prompts().is_empty());
        let mut h = handle(&[]);
        h.authtok = Some(Secret::from("weak"));
        assert_eq!(t.update(&mut h, &["use_first_pass"]), PamCode::AuthtokErr);
        let mut h = handle(&[]);
        assert_eq!(t.update(&mut h, &["use_authtok"]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_try_first_pass_then_stacked_password_used_else_prompted() {
        let t = T::new();
        let mut h = handle(&[]);
        h.authtok = Some(Secret::from(STRONG));
        assert_eq!(t.update(&mut h, &["try_first_pass"]), PamCode::Success);
        assert!(h.prompts().is_empty());
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &["try_first_pass"]), PamCode::Success);
        assert_eq!(h.prompts().len(), 2);
    }

    #[test]
    fn given_old_password_then_similar_new_one_refused() {
        let t = T::new();
        let mut h = handle(&["Vq8#mT2!rZw9xLq"]);
        h.old_authtok = Some(Secret::from(STRONG));
        assert_eq!(t.update(&mut h, &["difok=3"]), PamCode::AuthtokErr);
        assert!(errors(&h)[0].starts_with("BAD PASSWORD: is too similar to the old one"));
    }

    #[test]
    fn given_old_password_not_utf8_then_similar_new_one_still_refused() {
        // Issue 18: an old password with a byte that is not UTF-8 skipped every old-password rule.
        let t = T::new();
        let mut h = handle(&[STRONG]);
        h.old_authtok = Some(Secret::from_slice(b"Vq8#mT2!rZw9xLp\xff"));
        assert_eq!(t.update(&mut h, &["difok=3"]), PamCode::AuthtokErr);
        assert!(errors(&h)[0].starts_with("BAD PASSWORD: is too similar to the old one"));
    }

    #[test]
    fn given_gecoscheck_then_real_name_from_passwd_refused() {
        let t = T::new();
        let mut h = handle(&["Qz#Smithers7!k"]);
        assert_eq!(t.update(&mut h, &["gecoscheck"]), PamCode::AuthtokErr);
        assert!(errors(&h)[0].contains("real name"));
    }

    #[test]
    fn given_hostname_then_it_is_a_context_word() {
        let t = T::new();
        let mut h = handle(&["bastion"]);
        assert_eq!(t.update(&mut h, &["minlen=6"]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_show_policy_then_policy_shown_before_first_prompt() {
        let t = T::new();
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &["show_policy", "minlen=12"]), PamCode::Success);
        match &h.shown[0] {
            Shown::Info(text) => assert!(text.starts_with("Password policy:") && text.contains("12")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn given_silent_flag_then_no_messages_shown() {
        let t = T::new();
        let mut h = handle(&["weak"]);
        h.flags = Flags(pam_ffi::sys::PAM_SILENT);
        assert_eq!(t.update(&mut h, &[]), PamCode::AuthtokErr);
        assert!(errors(&h).is_empty());
    }

    #[test]
    fn given_local_users_only_and_remote_user_then_checks_skipped() {
        let t = T::new();
        std::fs::write(t.dir.path().join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        let mut h = handle(&["weak", "weak"]);
        assert_eq!(t.update(&mut h, &["local_users_only"]), PamCode::Success);
        std::fs::write(
            t.dir.path().join("passwd"),
            "alice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        let mut h = handle(&["weak"]);
        assert_eq!(t.update(&mut h, &["local_users_only"]), PamCode::AuthtokErr);
    }

    #[test]
    fn given_pwquality_conf_then_its_keys_apply_and_args_override() {
        let t = T::new();
        let conf = t.dir.path().join("pwquality.conf");
        std::fs::write(&conf, "minlen = 20\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut h = handle(&[STRONG]);
        assert_eq!(t.update(&mut h, &[]), PamCode::AuthtokErr);
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &["minlen=12"]), PamCode::Success);
    }

    fn write_blocklist(t: &T, name: &str, passwords: &[&str]) -> String {
        use std::os::unix::fs::PermissionsExt;
        let keys = passwords
            .iter()
            .map(|p| crate::blocklist::key_of_bytes(p.as_bytes()))
            .collect();
        let path = t.dir.path().join(name);
        std::fs::write(&path, crate::blocklist::build_in_memory(keys).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn given_blocklist_then_listed_password_refused_and_others_accepted() {
        let t = T::new();
        let list = format!("blocklist={}", write_blocklist(&t, "l.pwbl", &[STRONG]));
        let mut h = handle(&[STRONG]);
        assert_eq!(t.update(&mut h, &[&list]), PamCode::AuthtokErr);
        assert!(
            errors(&h)[0].starts_with("BAD PASSWORD: it appears in a list of breached passwords\n"),
            "{:?}",
            errors(&h)
        );
        let other = "Hx3%pN7^cR5*wKd";
        let mut h = handle(&[other, other]);
        assert_eq!(t.update(&mut h, &[&list]), PamCode::Success);
    }

    #[test]
    fn given_unusable_blocklist_then_deny_refuses_before_any_prompt_and_logs_why() {
        let t = T::new();
        let missing = format!("blocklist={}", t.dir.path().join("nope").display());
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(
            t.run(&mut h, Flags(pam_ffi::sys::PAM_PRELIM_CHECK), &[&missing]),
            PamCode::TryAgain
        );
        assert_eq!(errors(&h), vec![BLOCKLIST_UNAVAILABLE]);
        assert!(
            h.log_lines()[0].text.contains("nope: cannot open"),
            "{:?}",
            h.log_lines()
        );
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &[&missing]), PamCode::AuthtokErr);
        assert!(h.prompts().is_empty());
        let path = t.dir.path().join("bad.pwbl");
        std::fs::write(&path, b"PWPBLIST\x01\0\0\0").unwrap();
        let bad = format!("blocklist={}", path.display());
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &[&bad]), PamCode::AuthtokErr);
        assert!(
            h.log_lines()[0].text.contains("unsupported format version 1")
                && h.log_lines()[0].text.contains("rebuild"),
            "{:?}",
            h.log_lines()
        );
    }

    #[test]
    fn given_warn_mode_then_unusable_blocklist_is_logged_and_skipped() {
        let t = T::new();
        let missing = format!("blocklist={}", t.dir.path().join("nope").display());
        let mut h = handle(&[]);
        assert_eq!(
            t.run(
                &mut h,
                Flags(pam_ffi::sys::PAM_PRELIM_CHECK),
                &[&missing, "blocklist_missing=warn"]
            ),
            PamCode::Success
        );
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(
            t.update(&mut h, &[&missing, "blocklist_missing=warn"]),
            PamCode::Success
        );
        assert!(h
            .log_lines()
            .iter()
            .any(|l| l.text.contains("blocklist_missing=warn")));
    }

    /// Zeroes every byte after the shard index in place (header and index intact).
    fn zero_body(path: &str) {
        let mut bytes = std::fs::read(path).unwrap();
        let shards = 1usize << bytes[24];
        let body = crate::blocklist::HEADER_LEN + shards * crate::blocklist::INDEX_ENTRY_LEN;
        bytes[body..].iter_mut().for_each(|b| *b = 0);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn given_blocklist_body_zeroed_in_place_then_deny_refuses_and_logs_the_damaged_shard() {
        let t = T::new();
        let path = write_blocklist(&t, "z.pwbl", &[STRONG, "Hx3%pN7^cR5*wKd"]);
        zero_body(&path);
        let list = format!("blocklist={path}");
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(t.update(&mut h, &[&list]), PamCode::AuthtokErr);
        assert_eq!(errors(&h), vec![BLOCKLIST_UNAVAILABLE]);
        assert_eq!(h.authtok, None);
        let logs = h.log_lines();
        assert!(
            logs.iter().any(|l| l.text.contains(&path)
                && l.text.contains("checksum mismatch")
                && l.text.contains("blocklist_missing=deny")),
            "{logs:?}"
        );
    }

    #[test]
    fn given_blocklist_body_zeroed_in_place_then_warn_logs_and_checks_without_it() {
        let t = T::new();
        let path = write_blocklist(&t, "z.pwbl", &[STRONG]);
        zero_body(&path);
        let list = format!("blocklist={path}");
        let mut h = handle(&[STRONG, STRONG]);
        assert_eq!(
            t.update(&mut h, &[&list, "blocklist_missing=warn"]),
            PamCode::Success
        );
        assert!(h
            .log_lines()
            .iter()
            .any(|l| l.text.contains("checksum mismatch") && l.text.contains("blocklist_missing=warn")));
    }

    static TRUNCATE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

    /// A passwd lookup that truncates the blocklist named in [`TRUNCATE`]: it runs after the module opened
    /// and validated the file and before the first prompt, as a truncation while `passwd` waits would.
    fn alice_then_truncate(name: &str) -> Option<UserRecord> {
        if let Some(path) = TRUNCATE.lock().unwrap().as_deref() {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap()
                .set_len(200)
                .unwrap();
        }
        alice(name)
    }

    #[test]
    fn given_blocklist_truncated_during_the_call_then_no_sigbus_and_the_change_is_refused() {
        let t = T::new();
        let many: Vec<String> = (0..20_000).map(|i| format!("pw{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let path = write_blocklist(&t, "t.pwbl", &refs);
        *TRUNCATE.lock().unwrap() = Some(path.clone());
        let mut world = t.world();
        world.lookup_user = alice_then_truncate;
        let mut h = handle(&[STRONG, STRONG]);
        let args = vec![format!("blocklist={path}")];
        let code = chauthtok(&mut h, Flags(pam_ffi::sys::PAM_UPDATE_AUTHTOK), &args, &world);
        *TRUNCATE.lock().unwrap() = None;
        assert_eq!(code, PamCode::AuthtokErr);
        assert_eq!(errors(&h), vec![BLOCKLIST_UNAVAILABLE]);
        assert!(
            h.log_lines()
                .iter()
                .any(|l| l.text.contains("changed after it was opened")),
            "{:?}",
            h.log_lines()
        );
    }

    #[test]
    fn given_logs_then_they_never_contain_the_password() {
        let t = T::new();
        let mut h = handle(&["Password123!"]);
        t.update(&mut h, &["retry=1", "debug"]);
        assert!(h.log_lines().iter().all(|l| !l.text.contains("Password123!")));
        assert!(h.log_lines().iter().any(|l| l.text.contains("user=alice")));
    }

    #[test]
    fn given_a_refusal_then_one_key_value_line_names_the_rules_and_a_hostile_name_stays_one_field() {
        let t = T::new();
        let mut h = FakeHandle::new("x rhost=198.51.100.7", "passwd", [FakeReply::from("password")]);
        t.update(&mut h, &["retry=1"]);
        let lines: Vec<String> = h.log_lines().iter().map(|l| l.text.clone()).collect();
        let refused = lines
            .iter()
            .find(|l| l.starts_with("refused "))
            .expect("a refused line");
        assert!(
            refused.starts_with("refused user=x%20rhost%3D198.51.100.7 rhost=- rules="),
            "{refused}"
        );
        // libpam adds "pam_pwpolicy(SERVICE:chauthtok): " itself; the text never repeats it.
        assert!(lines.iter().all(|l| !l.contains("pam_pwpolicy:")), "{lines:?}");
    }
}
