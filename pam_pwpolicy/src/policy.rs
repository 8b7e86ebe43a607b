//! The effective password policy: one struct holding every pam_cracklib, pam_pwquality and pam_pwpolicy
//! option, its defaults, the `nist` preset, and the single table that turns a `key[=value]` setting into
//! a field ([`Policy::apply`]). Module arguments, `pwpolicy.conf` (TOML) and `pwquality.conf` all go through
//! that one function, so an option means the same thing wherever it is written.
//!
//! This module does no I/O and never panics on bad input: a bad key or value is an [`OptionError`] that the
//! caller reports (the module fails closed). Defaults follow pam_pwquality, the maintained successor of
//! pam_cracklib: minlen 8 (values below 6 become 6), all credits 0, difok 1, retry 1.

use std::fmt;

/// Smallest effective `minlen` (pam_pwquality's floor; pam_cracklib's was 5).
pub const MINLEN_FLOOR: u32 = 6;
/// Default maximum length in code points (`maxlen`).
pub const DEFAULT_MAXLEN: u32 = 256;
/// Largest accepted `maxlen` (bounds the cost of every rule).
pub const MAXLEN_LIMIT: u32 = 4096;

/// Where the new password comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthtokSource {
    /// Prompt the user (default).
    Prompt,
    /// `use_authtok` / `use_first_pass`: take PAM_AUTHTOK set by an earlier module; never prompt.
    Stack,
    /// `try_first_pass`: take PAM_AUTHTOK if set, otherwise prompt.
    TryStack,
}

/// What to do when the breached-password blocklist cannot be used (missing, unreadable, corrupt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlocklistMissing {
    /// Refuse password changes, telling the user the check is unavailable (default: fail closed).
    Deny,
    /// Log a warning and check passwords without the blocklist.
    Warn,
}

/// A named bundle of defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// pam_pwquality-compatible defaults.
    None,
    /// NIST SP 800-63B-4: length over composition, whole-password blocklist.
    Nist,
}

/// Whose behaviour to copy, over the defaults and the preset (`compat=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    /// This module's own checks (default).
    None,
    /// pam_pwquality's rules only: no strength score, no common-password list, no check of a word with
    /// decorations (`dictcheck`, which pam_pwquality does with cracklib and this module with zxcvbn).
    Pwquality,
}

/// Every option, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Prompts before giving up.
    pub retry: u32,
    /// Minimum edit distance from the old password.
    pub difok: u32,
    /// Minimum size after credits (see [`Policy::effective_minlen`]).
    pub minlen: u32,
    /// Digit credit (>= 0: credit; < 0: required count).
    pub dcredit: i32,
    /// Uppercase credit.
    pub ucredit: i32,
    /// Lowercase credit.
    pub lcredit: i32,
    /// Other-character credit.
    pub ocredit: i32,
    /// Character classes required (0-4).
    pub minclass: u32,
    /// Maximum identical consecutive characters (0: off).
    pub maxrepeat: u32,
    /// Maximum monotonic sequence length (0: off).
    pub maxsequence: u32,
    /// Maximum consecutive characters of one class (0: off).
    pub maxclassrepeat: u32,
    /// pam_cracklib's `reject_username` (any user name length).
    pub reject_username: bool,
    /// GECOS words (>= 4 code points) may not appear.
    pub gecoscheck: bool,
    /// Root is refused too, not only warned.
    pub enforce_for_root: bool,
    /// Where the new password comes from.
    pub authtok: AuthtokSource,
    /// Word in the prompt (`New XXX password: `).
    pub authtok_type: String,
    /// Extra LOG_DEBUG lines.
    pub debug: bool,
    /// cracklib dictionary path: accepted for compatibility, not used (zxcvbn's dictionaries are built in).
    pub dictpath: Option<String>,
    /// Refuse passwords based on a single dictionary word.
    pub dictcheck: bool,
    /// pam_pwquality's user-name check (names shorter than 4 code points skipped).
    pub usercheck: bool,
    /// Refuse any substring of the user name of at least this many code points (0: off).
    pub usersubstr: u32,
    /// 0: warn only, for everyone.
    pub enforcing: bool,
    /// Words that may not appear (straight or reversed, any case).
    pub badwords: Vec<String>,
    /// Skip the checks for users not in the local passwd file.
    pub local_users_only: bool,
    /// Minimum zxcvbn score 0-4 (0: strength estimation off).
    pub minscore: u8,
    /// Maximum length in code points.
    pub maxlen: u32,
    /// Preset applied under the explicit settings.
    pub preset: Preset,
    /// The password is one factor of several (NIST preset: minimum 8 instead of 15).
    pub mfa: bool,
    /// Show the policy before the first prompt.
    pub show_policy: bool,
    /// `commoncheck`: refuse a whole password that is a common password (zxcvbn's list, l33t and
    /// reversed forms included), a context word, or a pure repeat or sequence (NIST's blocklist rule).
    pub commoncheck: bool,
    /// `blocklist=PATH`: a breached-password file built by `pwpolicy build-blocklist` (absolute path).
    pub blocklist: Option<String>,
    /// `blocklist_missing=deny|warn`.
    pub blocklist_missing: BlocklistMissing,
    /// `compat=pwquality`: pam_pwquality's behaviour (see [`Policy::apply_compat`]).
    pub compat: Compat,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retry: 1,
            difok: 1,
            minlen: 8,
            dcredit: 0,
            ucredit: 0,
            lcredit: 0,
            ocredit: 0,
            minclass: 0,
            maxrepeat: 0,
            maxsequence: 0,
            maxclassrepeat: 0,
            reject_username: false,
            gecoscheck: false,
            enforce_for_root: false,
            authtok: AuthtokSource::Prompt,
            authtok_type: String::new(),
            debug: false,
            dictpath: None,
            dictcheck: true,
            usercheck: true,
            usersubstr: 0,
            enforcing: true,
            badwords: Vec::new(),
            local_users_only: false,
            minscore: 3,
            maxlen: DEFAULT_MAXLEN,
            preset: Preset::None,
            mfa: false,
            show_policy: false,
            commoncheck: true,
            blocklist: None,
            blocklist_missing: BlocklistMissing::Deny,
            compat: Compat::None,
        }
    }
}

/// A value as written: a bare flag, text from an argument or pwquality.conf, or a typed TOML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `key` with no `=value`.
    Flag,
    /// `key=text`.
    Text(String),
    /// TOML integer.
    Int(i64),
    /// TOML boolean.
    Bool(bool),
    /// TOML array of strings.
    List(Vec<String>),
}

/// Why one setting was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionError {
    /// The key is not an option.
    Unknown(String),
    /// The value does not fit the option.
    BadValue {
        /// The option.
        key: String,
        /// What is wrong, for the admin.
        problem: String,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Unknown(k) => write!(f, "unknown option `{k}`"),
            OptionError::BadValue { key, problem } => write!(f, "option `{key}`: {problem}"),
        }
    }
}

/// Keys that choose configuration sources; [`Policy::apply`] accepts and ignores them.
pub const SOURCE_KEYS: &[&str] = &["conf", "pwquality_conf"];

/// Every key [`Policy::apply`] knows (for docs, `explain` and tests).
pub const KEYS: &[&str] = &[
    "retry",
    "difok",
    "minlen",
    "dcredit",
    "ucredit",
    "lcredit",
    "ocredit",
    "minclass",
    "maxrepeat",
    "maxsequence",
    "maxclassrepeat",
    "reject_username",
    "gecoscheck",
    "enforce_for_root",
    "use_authtok",
    "use_first_pass",
    "try_first_pass",
    "authtok_type",
    "debug",
    "dictpath",
    "dictcheck",
    "usercheck",
    "usersubstr",
    "enforcing",
    "badwords",
    "local_users_only",
    "minscore",
    "maxlen",
    "preset",
    "mfa",
    "show_policy",
    "commoncheck",
    "blocklist",
    "blocklist_missing",
    "compat",
    "conf",
    "pwquality_conf",
];

fn bad(key: &str, problem: impl Into<String>) -> OptionError {
    OptionError::BadValue {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

fn int(key: &str, v: &Value, min: i64, max: i64) -> Result<i64, OptionError> {
    let n = match v {
        Value::Int(n) => *n,
        Value::Text(t) => t
            .trim()
            .parse::<i64>()
            .map_err(|_| bad(key, format!("`{t}` is not an integer")))?,
        Value::Flag => return Err(bad(key, "needs a value (`key=N`)")),
        Value::Bool(_) | Value::List(_) => return Err(bad(key, "must be an integer")),
    };
    if n < min || n > max {
        return Err(bad(key, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

fn u32_of(key: &str, v: &Value, max: u32) -> Result<u32, OptionError> {
    let n = int(key, v, 0, i64::from(max))?;
    u32::try_from(n).map_err(|_| bad(key, "out of range"))
}

fn i32_of(key: &str, v: &Value) -> Result<i32, OptionError> {
    let n = int(key, v, -1000, 1000)?;
    i32::try_from(n).map_err(|_| bad(key, "out of range"))
}

fn boolean(key: &str, v: &Value) -> Result<bool, OptionError> {
    match v {
        Value::Flag => Ok(true),
        Value::Bool(b) => Ok(*b),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(true),
            "0" | "no" | "false" | "off" => Ok(false),
            other => Err(bad(key, format!("`{other}` is not 0/1/true/false"))),
        },
        Value::Int(n) => Err(bad(key, format!("{n} is not 0 or 1"))),
        Value::List(_) => Err(bad(key, "must be a boolean")),
    }
}

fn text(key: &str, v: &Value) -> Result<String, OptionError> {
    match v {
        Value::Text(t) => {
            if t.chars().any(char::is_control) {
                return Err(bad(key, "contains control characters"));
            }
            if t.chars().count() > 4096 {
                return Err(bad(key, "is too long"));
            }
            Ok(t.clone())
        }
        Value::Flag => Err(bad(key, "needs a value (`key=text`)")),
        _ => Err(bad(key, "must be text")),
    }
}

fn words(key: &str, v: &Value) -> Result<Vec<String>, OptionError> {
    let list = match v {
        Value::Text(t) => t
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        Value::List(l) => l.clone(),
        Value::Flag => return Err(bad(key, "needs a value (`badwords=word1 word2`)")),
        _ => return Err(bad(key, "must be a list of words")),
    };
    if list.len() > 256 {
        return Err(bad(key, "more than 256 words"));
    }
    if list
        .iter()
        .any(|w| w.chars().count() > 64 || w.chars().any(char::is_control))
    {
        return Err(bad(
            key,
            "words must be at most 64 characters, without control characters",
        ));
    }
    Ok(list)
}

impl Policy {
    /// Applies one setting. Unknown keys and bad values are errors; nothing is half-applied.
    pub fn apply(&mut self, key: &str, v: &Value) -> Result<(), OptionError> {
        match key {
            "retry" => self.retry = u32_of(key, v, 100)?.max(1),
            "difok" => self.difok = u32_of(key, v, 1000)?,
            "minlen" => self.minlen = u32_of(key, v, 1000)?,
            "dcredit" => self.dcredit = i32_of(key, v)?,
            "ucredit" => self.ucredit = i32_of(key, v)?,
            "lcredit" => self.lcredit = i32_of(key, v)?,
            "ocredit" => self.ocredit = i32_of(key, v)?,
            "minclass" => self.minclass = u32_of(key, v, 4)?,
            "maxrepeat" => self.maxrepeat = u32_of(key, v, 1000)?,
            "maxsequence" => self.maxsequence = u32_of(key, v, 1000)?,
            "maxclassrepeat" => self.maxclassrepeat = u32_of(key, v, 1000)?,
            "reject_username" => self.reject_username = boolean(key, v)?,
            "gecoscheck" => self.gecoscheck = boolean(key, v)?,
            "enforce_for_root" => self.enforce_for_root = boolean(key, v)?,
            "use_authtok" | "use_first_pass" => {
                if boolean(key, v)? {
                    self.authtok = AuthtokSource::Stack;
                }
            }
            "try_first_pass" => {
                if boolean(key, v)? && self.authtok == AuthtokSource::Prompt {
                    self.authtok = AuthtokSource::TryStack;
                }
            }
            "authtok_type" => {
                let t = text(key, v)?;
                if t.chars().count() > 64 {
                    return Err(bad(key, "is longer than 64 characters"));
                }
                self.authtok_type = t;
            }
            "debug" => self.debug = boolean(key, v)?,
            "dictpath" => self.dictpath = Some(text(key, v)?),
            "dictcheck" => self.dictcheck = boolean(key, v)?,
            "usercheck" => self.usercheck = boolean(key, v)?,
            "usersubstr" => self.usersubstr = u32_of(key, v, 1000)?,
            "enforcing" => self.enforcing = boolean(key, v)?,
            "badwords" => self.badwords = words(key, v)?,
            "local_users_only" => self.local_users_only = boolean(key, v)?,
            "minscore" => self.minscore = u8::try_from(u32_of(key, v, 4)?).map_err(|_| bad(key, "0-4"))?,
            "maxlen" => {
                let n = u32_of(key, v, MAXLEN_LIMIT)?;
                if n < 64 {
                    return Err(bad(
                        key,
                        "must be at least 64 (NIST SP 800-63B-4 requires allowing 64)",
                    ));
                }
                self.maxlen = n;
            }
            "preset" => self.preset = parse_preset(key, v)?,
            "mfa" => self.mfa = boolean(key, v)?,
            "show_policy" => self.show_policy = boolean(key, v)?,
            "commoncheck" => self.commoncheck = boolean(key, v)?,
            "blocklist" => {
                let t = text(key, v)?;
                self.blocklist = match t.trim() {
                    "" | "none" => None,
                    p if p.starts_with('/') => Some(p.to_owned()),
                    p => return Err(bad(key, format!("`{p}` is not an absolute path"))),
                };
            }
            "blocklist_missing" => {
                self.blocklist_missing = match text(key, v)?.trim() {
                    "deny" => BlocklistMissing::Deny,
                    "warn" => BlocklistMissing::Warn,
                    other => return Err(bad(key, format!("`{other}` is not deny or warn"))),
                }
            }
            "compat" => self.compat = parse_compat(key, v)?,
            k if SOURCE_KEYS.contains(&k) => {
                text(key, v)?;
            }
            other => return Err(OptionError::Unknown(other.to_owned())),
        }
        Ok(())
    }

    /// Sets the preset's values (called before the explicit settings, which override it).
    pub fn apply_preset(&mut self, preset: Preset, mfa: bool) {
        self.preset = preset;
        self.mfa = mfa;
        if preset == Preset::Nist {
            self.minlen = if mfa { 8 } else { 15 };
            self.dcredit = 0;
            self.ucredit = 0;
            self.lcredit = 0;
            self.ocredit = 0;
            self.minclass = 0;
            self.maxclassrepeat = 0;
            self.dictcheck = true;
            self.usercheck = true;
            self.commoncheck = true;
            self.maxlen = self.maxlen.max(64);
        }
    }

    /// Sets what `compat` changes (called after the preset, before the explicit settings, which override
    /// it). `pwquality`: pam_pwquality's defaults are this module's, less the checks pam_pwquality does not
    /// have or does differently: `minscore=0`, `commoncheck=0`, `dictcheck=0`.
    pub fn apply_compat(&mut self, compat: Compat) {
        self.compat = compat;
        if compat == Compat::Pwquality {
            self.minscore = 0;
            self.commoncheck = false;
            self.dictcheck = false;
        }
    }

    /// `minlen` after the floor (values below [`MINLEN_FLOOR`] become the floor).
    pub fn effective_minlen(&self) -> u32 {
        self.minlen.max(MINLEN_FLOOR)
    }

    /// The shortest length any password can have under the credits: `minlen` minus every positive credit,
    /// but never less than the characters the negative credits require, nor 1.
    pub fn shortest_possible(&self) -> u32 {
        let credits = [self.dcredit, self.ucredit, self.lcredit, self.ocredit];
        let earned: i64 = credits.iter().map(|&c| i64::from(c.max(0))).sum();
        let required: i64 = credits
            .iter()
            .map(|&c| i64::from(c.min(0)).saturating_neg())
            .sum();
        let base = i64::from(self.effective_minlen()) - earned;
        let n = base.max(required).max(i64::from(self.minclass)).max(1);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The prompt for the new password.
    pub fn new_prompt(&self) -> String {
        if self.authtok_type.is_empty() {
            "New password: ".to_owned()
        } else {
            format!("New {} password: ", self.authtok_type)
        }
    }

    /// The prompt to retype it.
    pub fn retype_prompt(&self) -> String {
        if self.authtok_type.is_empty() {
            "Retype new password: ".to_owned()
        } else {
            format!("Retype new {} password: ", self.authtok_type)
        }
    }

    /// The requirements a user must meet, one short sentence each (for `show_policy` and `explain`).
    pub fn requirements(&self) -> Vec<String> {
        let mut out = Vec::new();
        let min = self.effective_minlen();
        let shortest = self.shortest_possible();
        if shortest < min {
            out.push(format!(
                "At least {min} characters; each digit, uppercase, lowercase or other character earns up to the credit shown below, so {shortest} characters can be enough."
            ));
        } else {
            out.push(format!("At least {min} characters."));
        }
        out.push(format!("At most {} characters.", self.maxlen));
        for (credit, what) in [
            (self.dcredit, "digit"),
            (self.ucredit, "uppercase letter"),
            (self.lcredit, "lowercase letter"),
            (self.ocredit, "other character"),
        ] {
            if credit < 0 {
                let n = credit.unsigned_abs();
                out.push(format!("At least {n} {what}{}.", if n == 1 { "" } else { "s" }));
            } else if credit > 0 {
                out.push(format!(
                    "Up to {credit} {what}{} count one extra each.",
                    if credit == 1 { "" } else { "s" }
                ));
            }
        }
        if self.minclass > 0 {
            out.push(format!(
                "At least {} of the 4 kinds: digits, uppercase, lowercase, other.",
                self.minclass
            ));
        }
        if self.maxrepeat > 0 {
            out.push(format!(
                "No character more than {} times in a row.",
                self.maxrepeat
            ));
        }
        if self.maxsequence > 0 {
            out.push(format!(
                "No sequence like 12345 or abcde longer than {}.",
                self.maxsequence
            ));
        }
        if self.maxclassrepeat > 0 {
            out.push(format!(
                "No more than {} characters of the same kind in a row.",
                self.maxclassrepeat
            ));
        }
        if self.difok > 1 {
            out.push(format!("At least {} changes from the old password.", self.difok));
        }
        if self.usercheck || self.reject_username || self.gecoscheck {
            out.push("Not your user name or real name, forwards or backwards.".to_owned());
        }
        if !self.badwords.is_empty() {
            out.push("None of the words the administrator forbids.".to_owned());
        }
        if self.dictcheck || self.commoncheck {
            out.push("Not a common password or a single dictionary word.".to_owned());
        }
        if self.dictcheck {
            out.push("Not a word or two with digits, a year or symbols added (like !Monkey2025).".to_owned());
        }
        if self.commoncheck {
            out.push("Not a keyboard walk or a short string repeated.".to_owned());
        }
        out.push("Invisible characters (such as zero-width spaces) do not count.".to_owned());
        if self.blocklist.is_some() {
            out.push("Not in the list of passwords exposed in data breaches.".to_owned());
        }
        if self.minscore > 0 {
            out.push(format!(
                "Hard to guess (strength score at least {} of 4); several unrelated words work well.",
                self.minscore
            ));
        }
        out
    }
}

fn parse_compat(key: &str, v: &Value) -> Result<Compat, OptionError> {
    match text(key, v)?.trim() {
        "pwquality" => Ok(Compat::Pwquality),
        "none" | "" => Ok(Compat::None),
        other => Err(bad(
            key,
            format!("`{other}` is not known (known: pwquality, none)"),
        )),
    }
}

fn parse_preset(key: &str, v: &Value) -> Result<Preset, OptionError> {
    match text(key, v)?.trim() {
        "nist" => Ok(Preset::Nist),
        "none" | "" => Ok(Preset::None),
        other => Err(bad(key, format!("`{other}` is not a preset (known: nist, none)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn given_every_listed_key_then_apply_knows_it() {
        for key in KEYS {
            let mut p = Policy::default();
            let v = match *key {
                "authtok_type" | "dictpath" | "conf" | "pwquality_conf" | "badwords" => t("x"),
                "blocklist" => t("/var/lib/pwpolicy/hibp.pwbl"),
                "blocklist_missing" => t("warn"),
                "preset" => t("nist"),
                "compat" => t("pwquality"),
                "maxlen" => t("64"),
                "minscore" | "minclass" => t("2"),
                _ => t("1"),
            };
            assert_eq!(p.apply(key, &v), Ok(()), "{key}");
        }
    }

    #[test]
    fn given_blocklist_options_then_path_must_be_absolute_and_mode_deny_or_warn() {
        let mut p = Policy::default();
        assert_eq!(
            (p.blocklist.as_deref(), p.blocklist_missing),
            (None, BlocklistMissing::Deny)
        );
        p.apply("blocklist", &t("/var/lib/pwpolicy/hibp.pwbl")).unwrap();
        assert_eq!(p.blocklist.as_deref(), Some("/var/lib/pwpolicy/hibp.pwbl"));
        assert!(p.apply("blocklist", &t("hibp.pwbl")).is_err());
        p.apply("blocklist_missing", &t("warn")).unwrap();
        assert_eq!(p.blocklist_missing, BlocklistMissing::Warn);
        assert!(p.apply("blocklist_missing", &t("ignore")).is_err());
        p.apply("blocklist", &t("none")).unwrap();
        assert_eq!(p.blocklist, None);
    }

    #[test]
    fn given_unknown_key_then_error_names_it() {
        let mut p = Policy::default();
        assert_eq!(
            p.apply("minlenn", &t("3")),
            Err(OptionError::Unknown("minlenn".into()))
        );
    }

    #[test]
    fn given_malformed_values_then_each_is_refused() {
        let mut p = Policy::default();
        for (k, v) in [
            ("minlen", t("ten")),
            ("minlen", Value::Flag),
            ("minclass", t("5")),
            ("minscore", t("9")),
            ("maxlen", t("10")),
            ("dictcheck", t("maybe")),
            ("preset", t("fips")),
            ("retry", t("-1")),
            ("authtok_type", t("a\nb")),
        ] {
            assert!(p.apply(k, &v).is_err(), "{k}={v:?}");
        }
        assert_eq!(p, Policy::default());
    }

    #[test]
    fn given_negative_credit_then_it_is_kept_signed() {
        let mut p = Policy::default();
        p.apply("ucredit", &t("-1")).unwrap();
        p.apply("lcredit", &Value::Int(-2)).unwrap();
        assert_eq!((p.ucredit, p.lcredit), (-1, -2));
    }

    #[test]
    fn given_minlen_below_floor_then_floor_applies() {
        let mut p = Policy::default();
        p.apply("minlen", &t("3")).unwrap();
        assert_eq!(p.effective_minlen(), MINLEN_FLOOR);
    }

    #[test]
    fn given_positive_credits_then_shortest_possible_is_below_minlen() {
        let mut p = Policy::default();
        for (k, v) in [
            ("minlen", "12"),
            ("dcredit", "1"),
            ("ucredit", "1"),
            ("lcredit", "1"),
            ("ocredit", "1"),
        ] {
            p.apply(k, &t(v)).unwrap();
        }
        assert_eq!(p.shortest_possible(), 8);
    }

    #[test]
    fn given_nist_preset_then_length_replaces_composition() {
        let mut p = Policy::default();
        p.apply_preset(Preset::Nist, false);
        assert_eq!((p.minlen, p.minclass, p.ucredit), (15, 0, 0));
        p.apply_preset(Preset::Nist, true);
        assert_eq!(p.minlen, 8);
    }

    #[test]
    fn given_compat_pwquality_then_only_pwqualitys_checks_remain() {
        let mut p = Policy::default();
        p.apply_compat(Compat::Pwquality);
        assert_eq!(
            (p.minscore, p.commoncheck, p.dictcheck, p.compat),
            (0, false, false, Compat::Pwquality)
        );
        assert_eq!((p.minlen, p.difok, p.retry), (8, 1, 1));
        assert!(p.apply("compat", &t("cracklib")).is_err());
    }

    #[test]
    fn given_authtok_type_then_prompts_name_it() {
        let mut p = Policy::default();
        p.apply("authtok_type", &t("UNIX")).unwrap();
        assert_eq!(p.new_prompt(), "New UNIX password: ");
        assert_eq!(p.retype_prompt(), "Retype new UNIX password: ");
    }

    #[test]
    fn given_use_authtok_then_try_first_pass_does_not_weaken_it() {
        let mut p = Policy::default();
        p.apply("use_authtok", &Value::Flag).unwrap();
        p.apply("try_first_pass", &Value::Flag).unwrap();
        assert_eq!(p.authtok, AuthtokSource::Stack);
    }
}
