//! The check pipeline: bytes in, [`Verdict`] out. It validates and bounds the input (empty, UTF-8,
//! `maxlen`), builds the forms the rules read (NFKC; length and classes counted on what was typed, never
//! more than NFKC gives; invisible characters removed; look-alike letters folded for the dictionary checks,
//! see [`crate::text`]), then runs the rules in pam_cracklib's order (same as old, palindrome, case changes
//! only, too similar, credits, too short, class runs, rotated, classes, repeats, sequences, user name)
//! followed by pam_pwquality's and our additions (GECOS, bad words, dictionary word and decorated words,
//! whole-password `commoncheck`, zxcvbn score). Each rule is one function below, with its messages.
//!
//! Every failing rule is reported (the CLI lists them all; the module shows the one or two most useful,
//! `module::shown_reasons`), each with a user-facing reason, one line of guidance and, where the rule is numeric, the margin
//! by which the password missed. Pure: no I/O, no logging, no panics; the cost is bounded by `maxlen` and
//! by [`crate::strength`]'s cap on what zxcvbn sees.

use crate::patterns;
use crate::policy::Policy;
use crate::rules::{self, Class};
use crate::strength::{self, Strength};
use crate::text;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Shortest bad word searched for inside a password (pam_pwquality's `PWQ_MIN_WORD_LENGTH`).
const MIN_WORD: usize = 4;

/// Code points of a password, wiped when dropped.
type Chars = Zeroizing<Vec<char>>;

/// Who is changing the password, and where: the words a password must not be built from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// Login name.
    pub user: Option<String>,
    /// GECOS field (full name, office, ...).
    pub gecos: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// PAM service (`passwd`, `sshd`, ...).
    pub service: Option<String>,
}

impl Context {
    /// Lowercased context words for zxcvbn and the blocklist: user, GECOS words, host name (and its first
    /// label), service, plus the policy's bad words.
    pub fn words(&self, policy: &Policy) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |w: &str| {
            let w = w.trim().to_lowercase();
            if !w.is_empty() && !out.contains(&w) {
                out.push(w);
            }
        };
        if let Some(u) = &self.user {
            push(u);
        }
        for w in gecos_words(self.gecos.as_deref().unwrap_or_default(), 1) {
            push(&w);
        }
        if let Some(h) = &self.hostname {
            push(h);
            if let Some(first) = h.split('.').next() {
                push(first);
            }
        }
        if let Some(s) = &self.service {
            push(s);
        }
        for b in &policy.badwords {
            push(b);
        }
        out
    }
}

/// Words of a GECOS field with at least `min` code points (split on spaces, commas and dots).
pub fn gecos_words(gecos: &str, min: usize) -> Vec<String> {
    gecos
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .filter(|w| w.chars().count() >= min)
        .map(str::to_lowercase)
        .collect()
}

/// A rule that can refuse a password. [`Rule::name`] is the option that controls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Nothing was typed.
    Empty,
    /// Not UTF-8.
    Utf8,
    /// Longer than `maxlen`.
    Maxlen,
    /// Invisible characters typed, and the rest fails (reported first).
    Invisible,
    /// Identical to the old password.
    Same,
    /// Reads the same backwards.
    Palindrome,
    /// Only the case of letters changed.
    Case,
    /// Fewer than `difok` edits from the old password.
    Difok,
    /// Fewer digits than `dcredit < 0` requires.
    Dcredit,
    /// Fewer uppercase letters than `ucredit < 0` requires.
    Ucredit,
    /// Fewer lowercase letters than `lcredit < 0` requires.
    Lcredit,
    /// Fewer other characters than `ocredit < 0` requires.
    Ocredit,
    /// Shorter than `minlen` after credits.
    Minlen,
    /// Too many characters of one class in a row.
    Maxclassrepeat,
    /// A rotation (or a piece) of the old password.
    Rotated,
    /// Too few character classes.
    Minclass,
    /// Too many identical characters in a row.
    Maxrepeat,
    /// Too long a monotonic sequence.
    Maxsequence,
    /// Contains the user name.
    Usercheck,
    /// Shares a substring with the user name.
    Usersubstr,
    /// Contains a word of the GECOS field.
    Gecoscheck,
    /// Contains a forbidden word.
    Badwords,
    /// Based on a single dictionary word.
    Dictcheck,
    /// The whole password is a common password, a context word, or a pure repeat/sequence.
    Commoncheck,
    /// zxcvbn score below `minscore`.
    Minscore,
    /// In the breached-password blocklist (`blocklist=PATH`), or the list could not be read.
    Blocklist,
}

impl Rule {
    /// The option that controls this rule (also its name in `pwpolicy check --json`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::Empty => "empty",
            Rule::Utf8 => "utf8",
            Rule::Maxlen => "maxlen",
            Rule::Invisible => "invisible",
            Rule::Same => "same",
            Rule::Palindrome => "palindrome",
            Rule::Case => "case",
            Rule::Difok => "difok",
            Rule::Dcredit => "dcredit",
            Rule::Ucredit => "ucredit",
            Rule::Lcredit => "lcredit",
            Rule::Ocredit => "ocredit",
            Rule::Minlen => "minlen",
            Rule::Maxclassrepeat => "maxclassrepeat",
            Rule::Rotated => "rotated",
            Rule::Minclass => "minclass",
            Rule::Maxrepeat => "maxrepeat",
            Rule::Maxsequence => "maxsequence",
            Rule::Usercheck => "usercheck",
            Rule::Usersubstr => "usersubstr",
            Rule::Gecoscheck => "gecoscheck",
            Rule::Badwords => "badwords",
            Rule::Dictcheck => "dictcheck",
            Rule::Commoncheck => "commoncheck",
            Rule::Minscore => "minscore",
            Rule::Blocklist => "blocklist",
        }
    }

    /// Rules that are enforced even where the policy only warns (root, `enforcing=0`): an input the module
    /// cannot check is never accepted.
    pub fn is_hard(self) -> bool {
        matches!(self, Rule::Empty | Rule::Utf8 | Rule::Maxlen)
    }
}

/// Why a password was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    /// The rule.
    pub rule: Rule,
    /// Shown after `BAD PASSWORD: ` (pam_cracklib's wording where it has one).
    pub message: String,
    /// One line telling the user what to do instead.
    pub guidance: String,
    /// By how much the password missed a numeric rule (characters, edits, score points).
    pub margin: Option<i64>,
}

/// The result of checking one password.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Failing rules, in check order. Empty: accepted.
    pub reasons: Vec<Reason>,
    /// zxcvbn's estimate (absent when the input could not be checked at all).
    pub strength: Option<Strength>,
    /// Length in code points as typed, never more than after NFKC, invisible ones not counted (0 when not
    /// checked).
    pub length: usize,
}

impl Verdict {
    /// No rule failed.
    pub fn ok(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The first reason in check order.
    pub fn first(&self) -> Option<&Reason> {
        self.reasons.first()
    }

    /// A rule that is never waived (empty, not UTF-8, too long) failed.
    pub fn hard_failure(&self) -> bool {
        self.reasons.iter().any(|r| r.rule.is_hard())
    }
}

fn reason(rule: Rule, message: &str, guidance: String, margin: Option<i64>) -> Reason {
    Reason {
        rule,
        message: message.to_owned(),
        guidance,
        margin,
    }
}

fn n64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The typed password in the forms the rules read, refusing what cannot be checked (empty, not UTF-8,
/// over `maxlen`).
fn normalize(bytes: &[u8], maxlen: usize) -> Result<New, Reason> {
    if bytes.is_empty() {
        return Err(reason(
            Rule::Empty,
            "No password supplied",
            "Type a new password.".to_owned(),
            None,
        ));
    }
    let too_long = |len: usize| {
        reason(
            Rule::Maxlen,
            "is too long",
            format!("Use at most {maxlen} characters."),
            Some(n64(len.saturating_sub(maxlen))),
        )
    };
    // A code point takes at most 4 bytes: anything longer cannot fit, whatever it decodes to.
    if bytes.len() > maxlen.saturating_mul(4) {
        return Err(too_long(bytes.len() / 4));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        reason(
            Rule::Utf8,
            "is not valid UTF-8 text",
            "Use characters your terminal sends as UTF-8.".to_owned(),
            None,
        )
    })?;
    let raw_len = text.chars().count();
    if raw_len > maxlen {
        return Err(too_long(raw_len));
    }
    let new = New::of(text);
    if new.norm.len() > maxlen {
        return Err(too_long(new.norm.len()));
    }
    Ok(new)
}

/// The new password in the forms the rules read, built once.
struct New {
    /// NFKC code points, invisible characters removed: what the pattern rules read.
    norm: Chars,
    /// `norm` lowercased.
    lower: Chars,
    /// `norm` with look-alike letters folded to Latin: what the dictionary and whole-password checks read.
    folded: Chars,
    /// Length for `minlen`: code points as typed, never more than NFKC gives, invisible ones not counted.
    length: usize,
    /// Character classes, counted the same way (class by class, the smaller of typed and NFKC).
    counts: rules::Counts,
    /// How many invisible characters were typed.
    invisible: usize,
}

impl New {
    fn of(text: &str) -> New {
        let typed: Chars = Zeroizing::new(text.chars().filter(|&c| !text::is_invisible(c)).collect());
        let invisible = text.chars().count() - typed.len();
        let norm: Chars = Zeroizing::new(
            typed
                .iter()
                .copied()
                .nfkc()
                .filter(|&c| !text::is_invisible(c))
                .collect(),
        );
        let lower: Chars = Zeroizing::new(rules::lower(&norm));
        New {
            folded: Zeroizing::new(text::fold_look_alikes(&norm)),
            length: typed.len().min(norm.len()),
            counts: rules::Counts::of(&typed).min(rules::Counts::of(&norm)),
            invisible,
            lower,
            norm,
        }
    }
}

/// The old password in the forms the rules compare with.
struct Old {
    /// NFKC code points, invisible ones removed (bounded by [`crate::policy::MAXLEN_LIMIT`], so the edit
    /// distance stays cheap). Bytes that are not UTF-8 are kept, one code point each.
    norm: Chars,
    /// Lowercased; absent when `difok=0` turns the comparisons other than "the same" off (pam_pwquality).
    lower: Option<Chars>,
}

impl Old {
    fn new(bytes: &[u8], policy: &Policy) -> Option<Old> {
        if bytes.is_empty() {
            return None;
        }
        let decoded: Chars = Zeroizing::new(text::decode_lossless(bytes));
        let norm: Chars = Zeroizing::new(
            decoded
                .iter()
                .copied()
                .filter(|&c| !text::is_invisible(c))
                .nfkc()
                .filter(|&c| !text::is_invisible(c))
                .take(crate::policy::MAXLEN_LIMIT as usize)
                .collect(),
        );
        let lower = (policy.difok > 0).then(|| Zeroizing::new(rules::lower(&norm)));
        Some(Old { norm, lower })
    }
}

/// Checks `new` against `policy`. `old` is the current password when the stack knows it. The rules run in
/// pam_cracklib's order, then pam_pwquality's and ours; each is one function below, with its messages.
pub fn check(policy: &Policy, new: &[u8], old: Option<&[u8]>, ctx: &Context) -> Verdict {
    let maxlen = usize::try_from(policy.maxlen).unwrap_or(usize::MAX);
    let new = match normalize(new, maxlen) {
        Ok(n) => n,
        Err(r) => {
            return Verdict {
                reasons: vec![r],
                strength: None,
                length: 0,
            }
        }
    };
    let old = old.and_then(|o| Old::new(o, policy));
    let mut out = Vec::new();
    if let Some(old) = &old {
        out.extend(same(&new, old));
    }
    out.extend(palindrome(&new));
    if let Some(old) = &old {
        out.extend(case_only(&new, old));
        out.extend(too_similar(policy, &new, old));
    }
    out.extend(credits(policy, &new));
    out.extend(too_short(policy, &new));
    out.extend(class_run(policy, &new));
    if let Some(old) = &old {
        out.extend(rotated(&new, old));
    }
    out.extend(few_classes(policy, &new));
    out.extend(repeats(policy, &new));
    out.extend(sequence(policy, &new));
    out.extend(user_name(policy, &new, ctx));
    out.extend(gecos(policy, &new, ctx));
    out.extend(bad_words(policy, &new));
    // Nothing below needs the estimate when these are off: do not pay zxcvbn's first-call cost for nothing.
    let strength = (policy.dictcheck || policy.commoncheck || policy.minscore > 0).then(|| {
        let context = ctx.words(policy);
        let text: Zeroizing<String> = Zeroizing::new(new.folded.iter().collect());
        let strength = strength::estimate(&text, &context);
        out.extend(dictionary_word(policy, &new, &strength));
        out.extend(common(policy, &new, &strength, &context));
        out.extend(guessable(policy, &strength));
        strength
    });
    if !out.is_empty() {
        if let Some(r) = invisible(&new) {
            out.insert(0, r);
        }
    }
    Verdict {
        reasons: out,
        length: new.length,
        strength,
    }
}

/// Invisible characters (zero-width spaces, soft hyphens, direction marks, variation selectors, ...)
/// count as nothing; when the rest fails, this reason comes first so that the user knows why they did not
/// help.
fn invisible(new: &New) -> Option<Reason> {
    (new.invisible > 0).then(|| {
        reason(
            Rule::Invisible,
            "contains invisible characters",
            format!(
                "Invisible characters do not count ({} typed); make the visible part strong enough.",
                new.invisible
            ),
            None,
        )
    })
}

/// pam_cracklib: identical to the old password (always compared, even with `difok=0`).
fn same(new: &New, old: &Old) -> Option<Reason> {
    (old.norm == new.norm).then(|| {
        reason(
            Rule::Same,
            "is the same as the old one",
            "Choose a password you have not used before.".to_owned(),
            None,
        )
    })
}

/// pam_cracklib: reads the same backwards, ignoring case.
fn palindrome(new: &New) -> Option<Reason> {
    rules::is_palindrome(&new.lower).then(|| {
        reason(
            Rule::Palindrome,
            "is a palindrome",
            "Do not use text that reads the same backwards.".to_owned(),
            None,
        )
    })
}

/// pam_cracklib: differs from the old password only in the case of letters.
fn case_only(new: &New, old: &Old) -> Option<Reason> {
    let old_lower = old.lower.as_ref()?;
    (old.norm != new.norm && *old_lower == new.lower).then(|| {
        reason(
            Rule::Case,
            "case changes only",
            "Change more than the case of letters.".to_owned(),
            None,
        )
    })
}

/// pam_cracklib `difok`: fewer edits from the old password than required (unless twice as long).
fn too_similar(policy: &Policy, new: &New, old: &Old) -> Option<Reason> {
    let d = rules::too_similar(old.lower.as_ref()?, &new.lower, policy.difok)?;
    let need = usize::try_from(policy.difok).unwrap_or(usize::MAX);
    Some(reason(
        Rule::Difok,
        "is too similar to the old one",
        format!(
            "Change at least {} from your old password (or make it twice as long).",
            plural(need, "character", "characters")
        ),
        Some(n64(need.saturating_sub(d))),
    ))
}

/// pam_cracklib's negative credits (`dcredit=-1`, ...): each class short of its required count, in the
/// order d, u, l, o.
fn credits(policy: &Policy, new: &New) -> Vec<Reason> {
    let simple = simple(policy, new);
    simple
        .missing
        .iter()
        .map(|(class, n)| {
            let (rule, what) = match class {
                Class::Digit => (Rule::Dcredit, ("digit", "digits")),
                Class::Upper => (Rule::Ucredit, ("uppercase letter", "uppercase letters")),
                Class::Lower => (Rule::Lcredit, ("lowercase letter", "lowercase letters")),
                Class::Other => (
                    Rule::Ocredit,
                    ("other character (like ! or %)", "other characters (like ! or %)"),
                ),
            };
            reason(
                rule,
                "is too simple",
                format!("Add at least {} more.", plural(*n, what.0, what.1)),
                Some(n64(*n)),
            )
        })
        .collect()
}

fn simple(policy: &Policy, new: &New) -> rules::Simple {
    rules::simple(
        new.counts,
        new.length,
        policy.effective_minlen(),
        [
            (Class::Digit, policy.dcredit),
            (Class::Upper, policy.ucredit),
            (Class::Lower, policy.lcredit),
            (Class::Other, policy.ocredit),
        ],
    )
}

/// pam_cracklib `minlen`: shorter than the minimum after positive credits.
fn too_short(policy: &Policy, new: &New) -> Option<Reason> {
    let simple = simple(policy, new);
    if simple.short_by == 0 {
        return None;
    }
    let shortest = policy.shortest_possible();
    let guidance = if u32::try_from(simple.needed).unwrap_or(u32::MAX) > shortest {
        format!(
            "Use at least {} characters (or mix in more kinds of characters: then {shortest} can be enough).",
            simple.needed
        )
    } else {
        format!("Use at least {} characters.", simple.needed)
    };
    Some(reason(
        Rule::Minlen,
        "is too short",
        guidance,
        Some(n64(simple.short_by)),
    ))
}

/// pam_pwquality `maxclassrepeat`: too many characters of one class in a row.
fn class_run(policy: &Policy, new: &New) -> Option<Reason> {
    let max = usize::try_from(policy.maxclassrepeat).unwrap_or(usize::MAX);
    let run = rules::longest_class_run(&new.norm);
    (max > 0 && run > max).then(|| {
        reason(
            Rule::Maxclassrepeat,
            "contains too many characters of the same class consecutively",
            format!("Mix kinds of characters: at most {max} of one kind in a row."),
            Some(n64(run - max)),
        )
    })
}

/// pam_cracklib: a rotation of the old password, or a piece of it.
fn rotated(new: &New, old: &Old) -> Option<Reason> {
    let old_lower = old.lower.as_ref()?;
    (old_lower.as_slice() != new.lower.as_slice() && rules::is_rotated(old_lower, &new.lower)).then(|| {
        reason(
            Rule::Rotated,
            "is rotated",
            "Do not reuse your old password shifted around or in part.".to_owned(),
            None,
        )
    })
}

/// pam_cracklib `minclass`: too few of the four character classes.
fn few_classes(policy: &Policy, new: &New) -> Option<Reason> {
    let have = new.counts.classes();
    let need = usize::try_from(policy.minclass).unwrap_or(4);
    (have < need).then(|| {
        reason(
            Rule::Minclass,
            "not enough character classes",
            format!(
                "Use at least {need} of: digits, uppercase letters, lowercase letters, other characters."
            ),
            Some(n64(need - have)),
        )
    })
}

/// pam_cracklib `maxrepeat`: too many identical characters in a row.
fn repeats(policy: &Policy, new: &New) -> Option<Reason> {
    let max = usize::try_from(policy.maxrepeat).unwrap_or(usize::MAX);
    let run = rules::longest_repeat(&new.norm);
    (max > 0 && run > max).then(|| {
        reason(
            Rule::Maxrepeat,
            "contains too many same characters consecutively",
            format!(
                "Do not repeat a character more than {} in a row.",
                plural(max, "time", "times")
            ),
            Some(n64(run - max)),
        )
    })
}

/// pam_pwquality `maxsequence`: too long a monotonic run (`12345`, `fedcb`).
fn sequence(policy: &Policy, new: &New) -> Option<Reason> {
    let max = usize::try_from(policy.maxsequence).unwrap_or(usize::MAX);
    let run = rules::longest_sequence(&new.norm);
    (max > 0 && run > max).then(|| {
        reason(
            Rule::Maxsequence,
            "contains too long of a monotonic character sequence",
            format!("Avoid runs like 12345 or abcde longer than {max}."),
            Some(n64(run - max)),
        )
    })
}

/// pam_cracklib `reject_username`, pam_pwquality `usercheck` and `usersubstr`: the user name, straight or
/// reversed, or a long enough piece of it.
fn user_name(policy: &Policy, new: &New, ctx: &Context) -> Option<Reason> {
    let user_lower: Vec<char> = ctx.user.as_deref()?.to_lowercase().chars().collect();
    let applies = policy.reject_username || (policy.usercheck && user_lower.len() >= MIN_WORD);
    if applies && rules::contains_either_way(&new.lower, &user_lower) {
        return Some(reason(
            Rule::Usercheck,
            "contains the user name in some form",
            "Do not include your user name, forwards or backwards.".to_owned(),
            None,
        ));
    }
    let n = usize::try_from(policy.usersubstr).unwrap_or(usize::MAX);
    (policy.usersubstr > 0 && rules::shares_substring_either_way(&new.lower, &user_lower, n)).then(|| {
        reason(
            Rule::Usersubstr,
            "contains the user name in some form",
            format!("Do not include {n} or more characters in a row from your user name."),
            None,
        )
    })
}

/// pam_pwquality `gecoscheck`: a word of at least 4 code points from the GECOS field.
fn gecos(policy: &Policy, new: &New, ctx: &Context) -> Option<Reason> {
    if !policy.gecoscheck {
        return None;
    }
    let words = gecos_words(ctx.gecos.as_deref().unwrap_or_default(), MIN_WORD);
    words
        .iter()
        .any(|w| {
            let w: Vec<char> = w.chars().collect();
            rules::contains_either_way(&new.lower, &w)
        })
        .then(|| {
            reason(
                Rule::Gecoscheck,
                "contains words from the real name of the user in some form",
                "Do not include your name or other account details.".to_owned(),
                None,
            )
        })
}

/// pam_pwquality `badwords`. As pam_pwquality, words shorter than 4 code points are not searched for (they
/// would refuse far too much); they still count as context words for `commoncheck` and the estimate.
fn bad_words(policy: &Policy, new: &New) -> Option<Reason> {
    policy
        .badwords
        .iter()
        .any(|w| {
            let w: Vec<char> = w.to_lowercase().chars().collect();
            w.len() >= MIN_WORD && rules::contains_either_way(&new.lower, &w)
        })
        .then(|| {
            reason(
                Rule::Badwords,
                "contains forbidden words",
                "Do not include words the administrator forbids (such as the company or host name)."
                    .to_owned(),
                None,
            )
        })
}

/// The human pattern of `kind` found over the whole password, when it is weak enough to refuse.
fn weak_pattern(strength: &Strength, kind: patterns::Kind) -> Option<&patterns::Human> {
    strength
        .human
        .as_ref()
        .filter(|h| h.kind == kind && (h.certain || h.guesses_log10 < patterns::WEAK_LOG10))
}

/// `dictcheck`: mostly one dictionary word (zxcvbn's dictionaries, l33t and reversed forms included), or
/// a few common words or a name with predictable decorations around them, whatever side they are on.
fn dictionary_word(policy: &Policy, new: &New, strength: &Strength) -> Option<Reason> {
    if !policy.dictcheck {
        return None;
    }
    if let Some(h) = weak_pattern(strength, patterns::Kind::Decorated) {
        return Some(reason(
            Rule::Dictcheck,
            &format!("is {}", h.what),
            "Adding digits, a year or symbols to words is the first thing attackers try; use several unrelated words or a generated password.".to_owned(),
            None,
        ));
    }
    let word = strength.longest_word;
    (word >= MIN_WORD && word * 5 >= new.norm.len() * 3).then(|| {
        reason(
            Rule::Dictcheck,
            "is based on a dictionary word",
            "Do not build it around one word; use several unrelated words instead.".to_owned(),
            None,
        )
    })
}

/// `commoncheck` (NIST's blocklist rule): the whole password is a common password, a context word, a
/// pure repeat or sequence, a short string repeated or a keyboard walk.
fn common(policy: &Policy, new: &New, strength: &Strength, context: &[String]) -> Option<Reason> {
    if !policy.commoncheck {
        return None;
    }
    let lower_text: Zeroizing<String> = Zeroizing::new(rules::lower(&new.folded).iter().collect());
    let len = new.norm.len();
    let trivial =
        len >= 2 && (rules::longest_repeat(&new.norm) == len || rules::longest_sequence(&new.norm) == len);
    if trivial {
        return Some(reason(
            Rule::Commoncheck,
            "is a sequence or a repeat",
            "Sequences like abc or 1111 are the first thing attackers try; use several unrelated words or a generated password.".to_owned(),
            None,
        ));
    }
    if strength.whole_is_common || context.contains(&lower_text) {
        return Some(reason(
            Rule::Commoncheck,
            "is a commonly used password",
            "Choose something that is not on lists of common passwords.".to_owned(),
            None,
        ));
    }
    weak_pattern(strength, patterns::Kind::Whole).map(|h| {
        reason(
            Rule::Commoncheck,
            &format!("is {}", h.what),
            "Patterns over the whole password are guessed early; use several unrelated words or a generated password.".to_owned(),
            None,
        )
    })
}

/// `minscore`: zxcvbn's score below the minimum; the guidance is zxcvbn's warning and suggestion.
fn guessable(policy: &Policy, strength: &Strength) -> Option<Reason> {
    if policy.minscore == 0 || strength.score >= policy.minscore {
        return None;
    }
    let mut guidance = String::new();
    if let Some(w) = &strength.warning {
        guidance.push_str(w);
        guidance.push(' ');
    }
    guidance.push_str(
        strength
            .suggestion
            .as_deref()
            .unwrap_or("Add another word or two; uncommon words are better."),
    );
    Some(reason(
        Rule::Minscore,
        "is too easy to guess",
        guidance,
        Some(i64::from(policy.minscore) - i64::from(strength.score)),
    ))
}

/// Looks the typed password up in a breached-password blocklist (its NFKC form, and the typed bytes when
/// they differ: see [`crate::blocklist::password_keys`]) and adds a [`Rule::Blocklist`] reason on a hit.
/// Nothing is looked up when a rule that is never waived failed (the input could not be checked). If the
/// validated file no longer reads back (a damaged shard, a file changed in place), the password is refused with a
/// reason saying the check is unavailable: never accepted unchecked.
pub fn check_blocklist(verdict: &mut Verdict, new: &[u8], list: &crate::blocklist::Blocklist<'_>) {
    if verdict.hard_failure() {
        return;
    }
    match list.contains_password(new) {
        Ok(false) => {}
        Ok(true) => verdict.reasons.push(reason(
            Rule::Blocklist,
            crate::blocklist::BREACHED_MESSAGE,
            crate::blocklist::BREACHED_GUIDANCE.to_owned(),
            None,
        )),
        Err(_) => verdict.reasons.push(reason(
            Rule::Blocklist,
            "cannot be checked against the list of breached passwords",
            "Try again later, or contact your system administrator.".to_owned(),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Value;

    fn policy(args: &[&str]) -> Policy {
        let mut p = Policy::default();
        for a in args {
            let (k, v) = match a.split_once('=') {
                Some((k, v)) => (k, Value::Text(v.to_owned())),
                None => (*a, Value::Flag),
            };
            p.apply(k, &v).unwrap();
        }
        p
    }

    fn guide() -> Policy {
        policy(crate::GUIDE_ARGS)
    }

    fn ctx(user: &str) -> Context {
        Context {
            user: Some(user.to_owned()),
            gecos: Some("Alice Smithers,Room 12".to_owned()),
            hostname: Some("bastion.example.org".to_owned()),
            service: Some("passwd".to_owned()),
        }
    }

    fn rules_of(p: &Policy, new: &str, old: Option<&str>) -> Vec<Rule> {
        check(p, new.as_bytes(), old.map(str::as_bytes), &ctx("alice"))
            .reasons
            .iter()
            .map(|r| r.rule)
            .collect()
    }

    #[track_caller]
    fn first_rule(p: &Policy, new: &str, old: Option<&str>) -> Rule {
        let v = check(p, new.as_bytes(), old.map(str::as_bytes), &ctx("alice"));
        v.first()
            .map(|r| r.rule)
            .unwrap_or_else(|| panic!("{new} accepted"))
    }

    const STRONG: &str = "Vq8#mT2!rZw9xLp";

    #[test]
    fn given_blocklist_then_listed_password_refused_after_the_other_rules_and_others_accepted() {
        let file = crate::blocklist::build_in_memory(vec![crate::blocklist::key_of_bytes(STRONG.as_bytes())])
            .unwrap();
        let list = crate::blocklist::Blocklist::parse(&file).unwrap();
        let mut v = check(&guide(), STRONG.as_bytes(), None, &ctx("alice"));
        check_blocklist(&mut v, STRONG.as_bytes(), &list);
        let r = v.first().unwrap();
        assert_eq!(
            (r.rule, r.message.as_str()),
            (Rule::Blocklist, "it appears in a list of breached passwords")
        );
        let mut v = check(&guide(), b"Hx3%pN7^cR5*wKd", None, &ctx("alice"));
        check_blocklist(&mut v, b"Hx3%pN7^cR5*wKd", &list);
        assert!(v.ok(), "{:?}", v.reasons);
        // Not looked up when the input cannot be checked at all.
        let mut v = check(&guide(), b"", None, &ctx("alice"));
        check_blocklist(&mut v, b"", &list);
        assert_eq!(v.reasons.len(), 1);
    }

    #[test]
    fn given_strong_random_password_then_accepted_under_guide_options() {
        let v = check(&guide(), STRONG.as_bytes(), Some(b"Old-Pass-4567"), &ctx("alice"));
        assert!(v.ok(), "{:?}", v.reasons);
    }

    #[test]
    fn given_empty_password_then_refused_as_not_supplied() {
        assert_eq!(first_rule(&guide(), "", None), Rule::Empty);
    }

    #[test]
    fn given_non_utf8_password_then_refused() {
        let v = check(&guide(), b"ab\xffcd", None, &ctx("alice"));
        assert_eq!(v.first().map(|r| r.rule), Some(Rule::Utf8));
    }

    #[test]
    fn given_password_over_maxlen_then_refused_with_margin() {
        let p = policy(&["maxlen=64"]);
        let long = "a1B!".repeat(17);
        let v = check(&p, long.as_bytes(), None, &ctx("alice"));
        let r = v.first().unwrap();
        assert_eq!((r.rule, r.margin), (Rule::Maxlen, Some(4)));
        let huge = vec![b'x'; 100_000];
        assert_eq!(
            first_rule(&p, std::str::from_utf8(&huge).unwrap(), None),
            Rule::Maxlen
        );
    }

    #[test]
    fn given_same_password_as_old_then_refused_first() {
        assert_eq!(first_rule(&guide(), STRONG, Some(STRONG)), Rule::Same);
    }

    #[test]
    fn given_palindrome_then_refused() {
        assert_eq!(first_rule(&guide(), "Ab1!xyzzyx!1bA", None), Rule::Palindrome);
    }

    #[test]
    fn given_case_change_of_old_then_refused() {
        assert_eq!(
            first_rule(&guide(), &STRONG.to_uppercase(), Some(STRONG)),
            Rule::Case
        );
    }

    #[test]
    fn given_small_edit_of_old_then_too_similar_with_margin() {
        let v = check(
            &guide(),
            b"Vq8#mT2!rZw9xLq",
            Some(STRONG.as_bytes()),
            &ctx("alice"),
        );
        let r = v.first().unwrap();
        assert_eq!((r.rule, r.margin), (Rule::Difok, Some(2)));
        assert_eq!(r.message, "is too similar to the old one");
    }

    #[test]
    fn given_new_twice_as_long_as_old_then_difok_skipped() {
        let rules = rules_of(&guide(), "Kz4!Kz4!wq9#LmQ2", Some("Kz4!Kz4!"));
        assert!(!rules.contains(&Rule::Difok), "{rules:?}");
    }

    #[test]
    fn given_missing_required_classes_then_each_credit_reported() {
        assert_eq!(
            rules_of(&guide(), "vq8mt2rzw9xlpq", None)
                .into_iter()
                .filter(|r| matches!(r, Rule::Ucredit | Rule::Ocredit))
                .count(),
            2
        );
        assert_eq!(first_rule(&guide(), "VQ8#MT2!RZW9XLP", None), Rule::Lcredit);
        assert_eq!(first_rule(&guide(), "Vq#mT!rZw%xLpKj", None), Rule::Dcredit);
    }

    #[test]
    fn given_short_password_then_too_short_with_margin() {
        let v = check(&guide(), b"Vq8#mT2!", None, &ctx("alice"));
        let r = v.first().unwrap();
        assert_eq!((r.rule, r.margin), (Rule::Minlen, Some(2)));
    }

    #[test]
    fn given_positive_credits_then_short_mixed_password_meets_minlen() {
        let p = policy(&[
            "minlen=12",
            "dcredit=1",
            "ucredit=1",
            "lcredit=1",
            "ocredit=1",
            "minscore=0",
            "dictcheck=0",
        ]);
        assert!(!rules_of(&p, "Kq7#vbnz", None).contains(&Rule::Minlen));
        assert!(rules_of(&p, "kqwvbnzt", None).contains(&Rule::Minlen));
    }

    #[test]
    fn given_code_points_then_length_counts_them_not_bytes() {
        let p = policy(&["minlen=8", "minscore=0", "dictcheck=0"]);
        // 7 Cyrillic letters = 14 bytes, still too short.
        assert!(rules_of(&p, "жщфыхйц", None).contains(&Rule::Minlen));
    }

    #[test]
    fn given_fullwidth_text_then_nfkc_normalizes_before_rules() {
        let p = policy(&["minscore=0", "dictcheck=0"]);
        // Fullwidth "alice" normalizes to ASCII and is caught by the user name check.
        assert!(rules_of(&p, "ａｌｉｃｅ-Qz7#kw", None).contains(&Rule::Usercheck));
    }

    fn nist() -> Policy {
        let mut p = Policy::default();
        p.apply_preset(crate::policy::Preset::Nist, false);
        p
    }

    #[test]
    fn given_one_code_point_that_nfkc_expands_then_length_counts_one() {
        // U+FDFA is 18 code points after NFKC; the user typed one.
        let v = check(&nist(), "\u{FDFA}".as_bytes(), None, &ctx("alice"));
        assert_eq!((v.length, v.first().map(|r| r.rule)), (1, Some(Rule::Minlen)));
        assert_eq!(first_rule(&guide(), "Ab1c\u{FDFA}", None), Rule::Minlen);
        // Three squared katakana signs (each 3-5 code points after NFKC).
        assert_eq!(
            first_rule(&nist(), "\u{3300}\u{3301}\u{3302}", None),
            Rule::Minlen
        );
        // A ligature counts one, as typed; a decomposed accent counts one, as NFKC gives.
        assert_eq!(check(&nist(), "ﬁ".as_bytes(), None, &ctx("alice")).length, 1);
        assert_eq!(
            check(&nist(), "e\u{301}".as_bytes(), None, &ctx("alice")).length,
            1
        );
    }

    #[test]
    fn given_nfkc_expansion_then_classes_counted_no_more_than_typed() {
        // U+2122 (trade mark sign) is "TM" after NFKC: one other character typed, no uppercase letter.
        let rules = rules_of(&guide(), "vq8#t2rzwx\u{2122}", None);
        assert!(rules.contains(&Rule::Ucredit), "{rules:?}");
    }

    #[test]
    fn given_invisible_characters_then_they_count_as_nothing_and_are_named_first() {
        let v = check(&guide(), "Pass\u{200B}word123".as_bytes(), None, &ctx("alice"));
        let rules: Vec<Rule> = v.reasons.iter().map(|r| r.rule).collect();
        assert_eq!(rules.first(), Some(&Rule::Invisible), "{rules:?}");
        assert!(
            rules.contains(&Rule::Ocredit) && rules.contains(&Rule::Commoncheck),
            "{rules:?}"
        );
        assert_eq!(v.length, 11);
        let padded = format!("Summer2024!{}", "\u{200B}".repeat(4));
        assert_eq!(first_rule(&nist(), &padded, None), Rule::Invisible);
        for c in ["\u{00AD}", "\u{202E}", "\u{FE0F}", "\u{E0041}"] {
            let pw = format!("Summer2024!{}", c.repeat(4));
            assert_eq!(
                check(&nist(), pw.as_bytes(), None, &ctx("alice")).length,
                11,
                "{c:?}"
            );
        }
        // A strong password with an invisible character in it is still accepted.
        assert!(check(
            &guide(),
            "Vq8#mT2!\u{200B}rZw9xLp".as_bytes(),
            None,
            &ctx("alice")
        )
        .ok());
    }

    #[test]
    fn given_old_password_not_utf8_then_old_password_rules_still_apply() {
        let old = b"Vq8#mT2!rZw9xLp\xff";
        let v = check(&guide(), STRONG.as_bytes(), Some(old), &ctx("alice"));
        assert_eq!(v.first().map(|r| r.rule), Some(Rule::Difok), "{:?}", v.reasons);
        let p = policy(&["difok=1", "minscore=0", "dictcheck=0"]);
        let v = check(
            &p,
            b"xLp\xfeVq8#mT2!",
            Some(b"Vq8#mT2!rZw9xLp\xfe"),
            &ctx("alice"),
        );
        assert_eq!(v.first().map(|r| r.rule), Some(Rule::Utf8));
        let v = check(&p, b"rZw9xLp", Some(b"Vq8#mT2!rZw9xLp\xfe"), &ctx("alice"));
        assert!(
            v.reasons.iter().any(|r| r.rule == Rule::Rotated),
            "{:?}",
            v.reasons
        );
        let v = check(
            &guide(),
            STRONG.to_uppercase().as_bytes(),
            Some(b"Vq8#mT2!rZw9xLp"),
            &ctx("alice"),
        );
        assert_eq!(v.first().map(|r| r.rule), Some(Rule::Case));
    }

    #[test]
    fn given_cyrillic_look_alikes_then_folded_before_dictionary_checks() {
        // Cyrillic а and о in a Latin word.
        let rules = rules_of(&guide(), "Pаsswоrd123!", None);
        assert!(rules.contains(&Rule::Dictcheck), "{rules:?}");
        // Greek ο and ρ.
        assert!(!check(&guide(), "Ρassw\u{03BF}rd123!".as_bytes(), None, &ctx("alice")).ok());
        // Plain Russian text is not read as English.
        let p = policy(&["minscore=0"]);
        assert!(!rules_of(&p, "Пароход1ком!", None).contains(&Rule::Dictcheck));
    }

    #[test]
    fn given_long_repeats_and_sequences_past_twenty_code_points_then_refused() {
        // Refused at 20 code points before; accepted at 21+ when scored in 16-code-point pieces.
        let p = policy(&["dictcheck=0"]);
        for pw in [
            "123456789012345678901",
            "letmeinletmeinletmein",
            "abcabcabcabcabcabcabcabc",
            "administratoradministrator",
        ] {
            let v = check(&p, pw.as_bytes(), None, &ctx("alice"));
            assert!(
                !v.ok() && v.strength.as_ref().is_some_and(|s| s.score < 3),
                "{pw}: {v:?}"
            );
            assert!(
                v.reasons.iter().any(|r| r.rule == Rule::Commoncheck),
                "{pw}: {v:?}"
            );
        }
        assert!(!check(&nist(), b"Password1Password2Password3", None, &ctx("alice")).ok());
    }

    #[test]
    fn given_weak_prefix_then_appended_text_earns_no_more_than_its_own_guesses() {
        // The first 20 code points are scored whole; what is appended never earns more than its own guesses.
        for (prefix, tail) in [
            ("P@ssw0rd2024!Summer1", "xq"),
            ("monkeymonkey12345678", "Zk#9"),
            ("qwertyuiopasdfghjklz", "xcvbnm,./qwerty"),
        ] {
            let p = strength::estimate(prefix, &[]);
            let t = strength::estimate(tail, &[]);
            let long = strength::estimate(&format!("{prefix}{tail}"), &[]);
            assert!(
                long.guesses_log10 <= p.guesses_log10 + t.guesses_log10 + 1e-9,
                "{prefix}{tail}: {long:?} vs {p:?} + {t:?}"
            );
        }
    }

    #[test]
    fn given_common_word_with_decorations_then_refused_whatever_side_the_symbol_is_on() {
        for year in 1990..=2030 {
            for pw in [format!("Monkey{year}!"), format!("!Monkey{year}")] {
                let v = check(&guide(), pw.as_bytes(), None, &ctx("alice"));
                let r = v.first().unwrap_or_else(|| panic!("{pw} accepted"));
                assert_eq!(r.rule, Rule::Dictcheck, "{pw}: {:?}", v.reasons);
                assert!(
                    r.message.ends_with("with a year and a symbol added"),
                    "{pw}: {}",
                    r.message
                );
            }
        }
        for pw in [
            "!Monkey2025",
            "@Tigger2020",
            "Apple2025!",
            "!Autumn2015",
            "!1QAZ@2wsx",
            "!QAZ@WSX3edc",
            "Qqqqqqqq2024!",
            "Password123!Password123!",
            "Zanzibar2024!",
            "#Qu1xote1987",
            "WestsOverlies2009?",
        ] {
            assert!(
                !check(&guide(), pw.as_bytes(), None, &ctx("alice")).ok(),
                "{pw} accepted"
            );
        }
        for pw in ["winniethepooh", "i love you", "ilovemymom", "classof2007"] {
            let v = check(&Policy::default(), pw.as_bytes(), None, &ctx("alice"));
            assert!(
                v.reasons.iter().any(|r| r.rule == Rule::Dictcheck),
                "{pw}: {:?}",
                v.reasons
            );
        }
    }

    #[test]
    fn given_random_passwords_and_passphrases_then_never_refused_as_patterns() {
        let mut x: u64 = 0x5eed_0000_0000_0018;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // A diceware-like list: five distinct words per phrase.
        let words = [
            "otter", "anvil", "quiet", "purple", "juggle", "harbor", "cactus", "velvet", "summit", "lantern",
            "gravel", "pepper", "walrus", "tundra", "ribbon", "saddle", "meadow", "copper", "falcon",
            "nickel", "orchid", "pistol", "quartz", "raisin", "salmon", "tavern", "umpire", "violin",
            "wizard", "yonder",
        ];
        for _ in 0..200 {
            let len = 16 + next(9) as usize;
            let pw: String = (0..len).map(|_| char::from(b'!' + next(94) as u8)).collect();
            let v = check(&Policy::default(), pw.as_bytes(), None, &ctx("alice"));
            assert!(v.ok(), "{pw}: {:?}", v.reasons);
            let mut phrase: Vec<&str> = Vec::new();
            while phrase.len() < 5 {
                let w = words[next(30) as usize];
                if !phrase.contains(&w) {
                    phrase.push(w);
                }
            }
            let phrase = phrase.join(" ");
            let v = check(&nist(), phrase.as_bytes(), None, &ctx("alice"));
            assert!(
                !v.reasons
                    .iter()
                    .any(|r| matches!(r.rule, Rule::Dictcheck | Rule::Commoncheck)),
                "{phrase}: {:?}",
                v.reasons
            );
        }
    }

    #[test]
    fn given_class_run_then_maxclassrepeat_refuses() {
        let p = policy(&["maxclassrepeat=3"]);
        assert!(rules_of(&p, "Vq8#mtzkT2!rZw9xLp", None).contains(&Rule::Maxclassrepeat));
    }

    #[test]
    fn given_rotated_old_password_then_refused() {
        let p = policy(&["difok=1", "minscore=0", "dictcheck=0"]);
        assert_eq!(first_rule(&p, "2!rZw9xLpVq8#mT", Some(STRONG)), Rule::Rotated);
    }

    #[test]
    fn given_difok_zero_then_only_the_same_password_is_compared_as_pwquality() {
        let p = policy(&["difok=0", "minscore=0", "dictcheck=0", "commoncheck=0"]);
        assert!(rules_of(&p, "2!rZw9xLpVq8#mT", Some(STRONG)).is_empty());
        assert!(rules_of(&p, &STRONG.to_lowercase(), Some(STRONG)).is_empty());
        assert_eq!(first_rule(&p, STRONG, Some(STRONG)), Rule::Same);
    }

    #[test]
    fn given_usersubstr_then_reversed_pieces_are_refused_too() {
        let c = Context {
            user: Some("alexander".into()),
            ..Context::default()
        };
        let p = policy(&["usersubstr=4", "minscore=0", "dictcheck=0", "commoncheck=0"]);
        let v = check(&p, b"qqrednaqq1", None, &c);
        assert_eq!(v.first().map(|r| r.rule), Some(Rule::Usersubstr));
    }

    #[test]
    fn given_badword_shorter_than_four_then_not_searched_as_pwquality() {
        let p = policy(&["badwords=big acme", "minscore=0", "dictcheck=0", "commoncheck=0"]);
        assert!(rules_of(&p, "xxbigxx12", None).is_empty());
        assert!(rules_of(&p, "xxemcaxx1", None).contains(&Rule::Badwords));
    }

    #[test]
    fn given_no_estimate_needed_then_zxcvbn_is_not_run() {
        let p = policy(&["minscore=0", "dictcheck=0", "commoncheck=0"]);
        assert!(check(&p, STRONG.as_bytes(), None, &ctx("alice"))
            .strength
            .is_none());
    }

    #[test]
    fn given_minclass_then_too_few_classes_refused_with_margin() {
        let p = policy(&["minclass=3"]);
        let v = check(&p, b"correcthorsebatterystaple", None, &ctx("alice"));
        let r = v.reasons.iter().find(|r| r.rule == Rule::Minclass).unwrap();
        assert_eq!(r.margin, Some(2));
    }

    #[test]
    fn given_repeated_characters_then_maxrepeat_refuses() {
        let p = policy(&["maxrepeat=2"]);
        assert!(rules_of(&p, "Vq8#mmmT2!rZw9", None).contains(&Rule::Maxrepeat));
        assert!(!rules_of(&p, "Vq8#mmT2!rZw9", None).contains(&Rule::Maxrepeat));
    }

    #[test]
    fn given_monotonic_sequence_then_maxsequence_refuses() {
        let p = policy(&["maxsequence=3"]);
        assert!(rules_of(&p, "Vq#1234Tz!rw", None).contains(&Rule::Maxsequence));
        assert!(rules_of(&p, "Vq#fedcTz!rw", None).contains(&Rule::Maxsequence));
    }

    #[test]
    fn given_password_with_username_then_refused() {
        assert_eq!(first_rule(&guide(), "Xalice#42Zq", None), Rule::Usercheck);
        assert_eq!(first_rule(&guide(), "Xecila#42Zq", None), Rule::Usercheck);
    }

    #[test]
    fn given_short_username_then_usercheck_skips_but_reject_username_does_not() {
        let c = Context {
            user: Some("bob".into()),
            ..Context::default()
        };
        let p = policy(&["minscore=0", "dictcheck=0", "commoncheck=0"]);
        let has = |p: &Policy| {
            check(p, b"Qz#bob77Wk", None, &c)
                .reasons
                .iter()
                .any(|r| r.rule == Rule::Usercheck)
        };
        assert!(!has(&p));
        assert!(has(&policy(&["reject_username", "minscore=0", "dictcheck=0"])));
    }

    #[test]
    fn given_usersubstr_then_pieces_of_the_name_refused() {
        let p = policy(&["usersubstr=3", "usercheck=0"]);
        assert!(rules_of(&p, "Qz#lic77Wk!p", None).contains(&Rule::Usersubstr));
    }

    #[test]
    fn given_gecoscheck_then_real_name_words_refused() {
        let p = policy(&["gecoscheck"]);
        assert!(rules_of(&p, "Qz#srehtims7!", None).contains(&Rule::Gecoscheck));
        assert!(!rules_of(&guide(), "Qz#srehtims7!", None).contains(&Rule::Gecoscheck));
    }

    #[test]
    fn given_badwords_then_they_are_refused_in_any_case() {
        let p = policy(&["badwords=acme globex"]);
        assert!(rules_of(&p, "Vq8#GLOBEXzT2!", None).contains(&Rule::Badwords));
    }

    #[test]
    fn given_breach_shaped_passwords_then_guide_options_refuse_them() {
        for pw in ["Password123!", "P@ssw0rd2024", "Summer2024!", "1qaz2wsx3edc"] {
            let v = check(&guide(), pw.as_bytes(), None, &ctx("alice"));
            assert!(!v.ok(), "{pw} accepted");
        }
    }

    #[test]
    fn given_dictionary_word_password_then_dictcheck_refuses() {
        let p = policy(&["minscore=0"]);
        assert!(rules_of(&p, "Elephant42", None).contains(&Rule::Dictcheck));
        let p = policy(&["minscore=0", "dictcheck=0"]);
        assert!(!rules_of(&p, "Elephant42", None).contains(&Rule::Dictcheck));
    }

    #[test]
    fn given_whole_common_or_context_password_then_commoncheck_refuses() {
        let p = policy(&["minscore=0", "dictcheck=0"]);
        assert!(rules_of(&p, "password1", None).contains(&Rule::Commoncheck));
        assert!(rules_of(&p, "bastion", None).contains(&Rule::Commoncheck));
        assert!(rules_of(&p, "aaaaaaaaaaaaaaaa", None).contains(&Rule::Commoncheck));
        assert!(
            rules_of(&p, "123456789012", None).contains(&Rule::Commoncheck)
                || rules_of(&p, "123456789", None).contains(&Rule::Commoncheck)
        );
    }

    #[test]
    fn given_weak_non_english_password_then_length_and_class_rules_refuse_it() {
        // zxcvbn has no Russian dictionary: the guide's class rules and the NIST length catch it.
        assert!(!check(&guide(), "пароль123".as_bytes(), None, &ctx("ivan")).ok());
        let mut nist = Policy::default();
        nist.apply_preset(crate::policy::Preset::Nist, false);
        let v = check(&nist, "пароль123".as_bytes(), None, &ctx("ivan"));
        assert_eq!(v.first().map(|r| r.rule), Some(Rule::Minlen));
    }

    #[test]
    fn given_guessable_password_then_minscore_refuses_with_margin() {
        let p = policy(&["dictcheck=0", "commoncheck=0"]);
        let v = check(&p, b"monkey2024", None, &ctx("alice"));
        let r = v.reasons.iter().find(|r| r.rule == Rule::Minscore).unwrap();
        assert!(r.margin.unwrap() >= 1);
        assert!(!r.guidance.is_empty());
    }

    #[test]
    fn given_nist_preset_then_long_passphrase_without_classes_accepted() {
        let mut p = Policy::default();
        p.apply_preset(crate::policy::Preset::Nist, false);
        assert!(check(&p, b"quiet otter juggles purple anvils", None, &ctx("alice")).ok());
        assert!(rules_of(&p, "Vq8#mT2!rZw9", None).contains(&Rule::Minlen));
    }

    #[test]
    fn given_failures_then_rules_follow_cracklib_order() {
        let v = check(&guide(), b"abba", Some(b"abba"), &ctx("alice"));
        let order: Vec<Rule> = v.reasons.iter().map(|r| r.rule).collect();
        let pos = |r: Rule| order.iter().position(|x| *x == r).unwrap();
        assert!(pos(Rule::Same) < pos(Rule::Palindrome));
        assert!(pos(Rule::Palindrome) < pos(Rule::Ucredit));
        assert!(pos(Rule::Ucredit) < pos(Rule::Minlen));
    }
}
