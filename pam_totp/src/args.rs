//! Module arguments (the words after the module path in a PAM service file) with pam_google_authenticator's
//! names and meanings, parsed into [`Options`], and the expansion of the `secret=` path template.
//!
//! It owns argument syntax only: it never looks up users, touches files or talks to libpam. Unlike the C module,
//! which stops at the first unknown word, parsing collects every bad argument into one [`ArgsError`] so the
//! administrator sees them all in one syslog line (the module then returns PAM_SERVICE_ERR).

use crate::pamd::DEFAULT_SOCKET;
use crate::store::DEFAULT_ALLOWED_PERM;
use std::fmt;

/// Secret file used when no `secret=` is given.
pub const DEFAULT_SECRET: &str = "~/.google_authenticator";
/// Prompt used when no `authtok_prompt=` is given.
pub const CODE_PROMPT: &str = "Verification code: ";
/// Prompt used with `forward_pass` when no `authtok_prompt=` is given.
pub const PASSWORD_AND_CODE_PROMPT: &str = "Password & verification code: ";

/// Where the code comes from (`try_first_pass` / `use_first_pass`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PassMode {
    /// Prompt for the code.
    #[default]
    Prompt,
    /// Try PAM_AUTHTOK first, then prompt.
    TryFirstPass,
    /// Only PAM_AUTHTOK; never prompt.
    UseFirstPass,
}

/// Where users' state lives (`store=`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateStore {
    /// `store=file` (the default): the secret file named by `secret=`.
    #[default]
    File,
    /// `store=pamd[:SOCKET]`: pam-totpd on this Unix socket decides (docs/fleet.md).
    Pamd {
        /// Absolute path of the daemon's socket; [`DEFAULT_SOCKET`] when not given.
        socket: String,
    },
}

/// Seconds a `store=pamd` request may take when no `timeout=` is given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3;
/// The largest `timeout=` accepted: beyond it sshd's `LoginGraceTime` would end the login first.
pub const MAX_TIMEOUT_SECS: u64 = 60;

/// One entry of `fallback_users=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// A user name.
    User(String),
    /// `@group`: the group's members and the users whose primary group it is.
    Group(String),
}

/// The account named by `user=`: file I/O is done as this account, which must own the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FixedUser {
    /// A user name, to be looked up by the module.
    Name(String),
    /// A numeric uid.
    Uid(u32),
}

/// Parsed module arguments. `Default` is what no arguments mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `secret=PATH` template (see [`expand_secret_path`]); [`DEFAULT_SECRET`] when absent.
    pub secret: String,
    /// `user=NAME|UID`.
    pub user: Option<FixedUser>,
    /// `authtok_prompt=TEXT`.
    pub authtok_prompt: Option<String>,
    /// `no_strict_owner`: skip the owner check.
    pub no_strict_owner: bool,
    /// `allowed_perm=0nnn`: most permissive file mode accepted.
    pub allowed_perm: u32,
    /// `debug`: more syslog detail (never a secret or a code).
    pub debug: bool,
    /// `try_first_pass` / `use_first_pass` (the last one given wins, as in C).
    pub pass_mode: PassMode,
    /// `forward_pass`: one prompt for password and code; the password goes on to the next module.
    pub forward_pass: bool,
    /// `noskewadj`: no clock-skew learning (and no ±1500-step scan).
    pub noskewadj: bool,
    /// `no_increment_hotp`: a failed HOTP attempt does not advance the counter.
    pub no_increment_hotp: bool,
    /// `nullok`: a missing secret file means PAM_IGNORE.
    pub nullok: bool,
    /// `echo_verification_code` / `echo-verification-code`: prompt with echo on.
    pub echo_verification_code: bool,
    /// `grace_period=SECONDS`: 0 when off.
    pub grace_period: u64,
    /// `allow_readonly`: tolerate failures to write state (pam_totp still never allows a replay).
    pub allow_readonly: bool,
    /// `store=file|pamd[:SOCKET]`.
    pub store: StateStore,
    /// `timeout=SECONDS`: the deadline of each `store=pamd` request (1..=[`MAX_TIMEOUT_SECS`]).
    pub timeout_secs: u64,
    /// `fallback_users=NAME,@GROUP,...` (break-glass, `store=pamd` only): these users may use their local
    /// secret file (`secret=`) when pam-totpd cannot be asked.
    pub fallback_users: Vec<Fallback>,
    /// `state=PATH` template (`${USER}` only; no `~` or `${HOME}`): a root-owned state file per user, the
    /// secret file then only read (docs/state-file-format.md). `None`: the state is in the secret file.
    pub state: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            secret: DEFAULT_SECRET.to_owned(),
            user: None,
            authtok_prompt: None,
            no_strict_owner: false,
            allowed_perm: DEFAULT_ALLOWED_PERM,
            debug: false,
            pass_mode: PassMode::Prompt,
            forward_pass: false,
            noskewadj: false,
            no_increment_hotp: false,
            nullok: false,
            echo_verification_code: false,
            grace_period: 0,
            allow_readonly: false,
            store: StateStore::File,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            fallback_users: Vec::new(),
            state: None,
        }
    }
}

/// One argument that was not understood, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadArg {
    /// The argument as given.
    pub arg: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Every bad argument, in order. `Display` is one line for syslog naming each of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgsError {
    /// The bad arguments (never empty).
    pub bad: Vec<BadArg>,
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid module arguments: ")?;
        for (i, b) in self.bad.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{:?}: {}", b.arg, b.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ArgsError {}

/// Sets one flag on the options.
type SetFlag = fn(&mut Options);

/// Flags that take no value, and what they set.
const FLAGS: &[(&str, SetFlag)] = &[
    ("no_strict_owner", |o| o.no_strict_owner = true),
    ("debug", |o| o.debug = true),
    ("try_first_pass", |o| o.pass_mode = PassMode::TryFirstPass),
    ("use_first_pass", |o| o.pass_mode = PassMode::UseFirstPass),
    ("forward_pass", |o| o.forward_pass = true),
    ("noskewadj", |o| o.noskewadj = true),
    ("no_increment_hotp", |o| o.no_increment_hotp = true),
    ("nullok", |o| o.nullok = true),
    ("echo_verification_code", |o| o.echo_verification_code = true),
    ("echo-verification-code", |o| o.echo_verification_code = true),
    ("allow_readonly", |o| o.allow_readonly = true),
];

/// Options that take a value (`name=value`), as [`Options::parse`] spells them.
const VALUE_OPTIONS: &[&str] = &[
    "secret=",
    "user=",
    "authtok_prompt=",
    "allowed_perm=",
    "grace_period=",
    "store=",
    "timeout=",
    "fallback_users=",
    "state=",
];

/// Every option name the module accepts (value options end in `=`), for checkers that suggest the right
/// spelling of a wrong one (`totp-enroll doctor`).
pub fn option_names() -> impl Iterator<Item = &'static str> {
    VALUE_OPTIONS
        .iter()
        .copied()
        .chain(FLAGS.iter().map(|(name, _)| *name))
}

impl Options {
    /// Parses module arguments. Every unknown or malformed argument is reported, not just the first.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Options, ArgsError> {
        let mut o = Options::default();
        let mut bad = Vec::new();
        let mut user_arg = None;
        for arg in args {
            let arg = arg.as_ref();
            let mut fail = |reason| {
                bad.push(BadArg {
                    arg: arg.to_owned(),
                    reason,
                })
            };
            if let Some((_, set)) = FLAGS.iter().find(|(name, _)| *name == arg) {
                set(&mut o);
            } else if let Some(v) = arg.strip_prefix("secret=") {
                if v.is_empty() {
                    fail("the path is empty");
                } else {
                    o.secret = v.to_owned();
                }
            } else if let Some(v) = arg.strip_prefix("user=") {
                match parse_user(v) {
                    Some(u) => {
                        o.user = Some(u);
                        user_arg = Some(arg);
                    }
                    None => fail("expected a user name or a numeric uid"),
                }
            } else if let Some(v) = arg.strip_prefix("authtok_prompt=") {
                o.authtok_prompt = Some(v.to_owned());
            } else if let Some(v) = arg.strip_prefix("allowed_perm=") {
                match parse_perm(v) {
                    Some(p) => o.allowed_perm = p,
                    None => fail("expected a non-zero octal mode such as 0600"),
                }
            } else if let Some(v) = arg.strip_prefix("grace_period=") {
                match v.parse::<u64>() {
                    Ok(s) if v.bytes().all(|b| b.is_ascii_digit()) => o.grace_period = s,
                    _ => fail("expected a number of seconds"),
                }
            } else if let Some(v) = arg.strip_prefix("store=") {
                match parse_store(v) {
                    Some(store) => o.store = store,
                    None => fail("expected file, pamd or pamd:/absolute/socket/path"),
                }
            } else if let Some(v) = arg.strip_prefix("state=") {
                if !v.starts_with('/') || uses_home(v) {
                    fail("expected an absolute path (with ${USER}, without ~ or ${HOME}), such as /var/lib/pam_totp/${USER}");
                } else {
                    o.state = Some(v.to_owned());
                }
            } else if let Some(v) = arg.strip_prefix("timeout=") {
                match v.parse::<u64>() {
                    Ok(s) if v.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_TIMEOUT_SECS).contains(&s) => {
                        o.timeout_secs = s
                    }
                    _ => fail("expected a number of seconds from 1 to 60"),
                }
            } else if let Some(v) = arg.strip_prefix("fallback_users=") {
                match parse_fallback(v) {
                    Some(list) => o.fallback_users = list,
                    None => fail("expected user names and @groups separated by commas"),
                }
            } else {
                fail("unknown option");
            }
        }
        if let Some(arg) = user_arg {
            if uses_home(&o.secret) {
                bad.push(BadArg {
                    arg: arg.to_owned(),
                    reason: "user= needs a secret= path without ~ or ${HOME} (there is no home to expand)",
                });
            }
        }
        if let (false, StateStore::File) = (o.fallback_users.is_empty(), &o.store) {
            bad.push(BadArg {
                arg: "fallback_users=".to_owned(),
                reason:
                    "needs store=pamd (it names who may use the local file when pam-totpd is unavailable)",
            });
        }
        if o.state.is_some() && o.store != StateStore::File {
            bad.push(BadArg {
                arg: "state=".to_owned(),
                reason: "state= keeps the state in a file; with store=pamd the daemon keeps it",
            });
        }
        if bad.is_empty() {
            Ok(o)
        } else {
            Err(ArgsError { bad })
        }
    }

    /// The prompt text: `authtok_prompt=`, else the default for `forward_pass` or not.
    pub fn prompt(&self) -> &str {
        match &self.authtok_prompt {
            Some(p) => p,
            None if self.forward_pass => PASSWORD_AND_CODE_PROMPT,
            None => CODE_PROMPT,
        }
    }
}

fn parse_user(v: &str) -> Option<FixedUser> {
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().ok().map(FixedUser::Uid);
    }
    let ok = v
        .chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && c != '/' && c != ':');
    ok.then(|| FixedUser::Name(v.to_owned()))
}

fn parse_fallback(v: &str) -> Option<Vec<Fallback>> {
    v.split(',')
        .map(|entry| match entry.strip_prefix('@') {
            Some(group) => parse_user(group).and_then(|g| match g {
                FixedUser::Name(n) => Some(Fallback::Group(n)),
                FixedUser::Uid(_) => None,
            }),
            None => parse_user(entry).and_then(|u| match u {
                FixedUser::Name(n) => Some(Fallback::User(n)),
                FixedUser::Uid(_) => None,
            }),
        })
        .collect()
}

fn parse_store(v: &str) -> Option<StateStore> {
    match v {
        "file" => Some(StateStore::File),
        "pamd" => Some(StateStore::Pamd {
            socket: DEFAULT_SOCKET.to_owned(),
        }),
        _ => {
            let socket = v.strip_prefix("pamd:")?;
            let ok = socket.starts_with('/') && !socket.contains('\0') && socket.len() < 108;
            ok.then(|| StateStore::Pamd {
                socket: socket.to_owned(),
            })
        }
    }
}

fn parse_perm(v: &str) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(v, 8)
        .ok()
        .filter(|p| (1..=0o7777).contains(p))
}

/// Why a `secret=` template could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// `~` or `${HOME}` with no home directory (a fixed `user=`, or no passwd entry).
    NoHome,
    /// The home directory is not an absolute path.
    HomeNotAbsolute,
    /// `${USER}` with a user name that could escape the directory (empty, `.`, `..`, or containing `/`), or
    /// containing `~`: with `secret=/dir/${USER}`, user `x`'s temporary file `/dir/x~totp` (the store's) would
    /// be the secret file of a user `x~totp`. (Debian's adduser and shadow's useradd refuse `~` anyway.) Or
    /// containing `:`, which no `/etc/passwd` name can hold: the decoy file `:refusal` then never has a user's
    /// name (see `store::DECOY_NAME`).
    UnsafeUserName,
    /// The result is not an absolute path.
    NotAbsolute,
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExpandError::NoHome => "the secret path uses ~ or ${HOME} but there is no home directory",
            ExpandError::HomeNotAbsolute => "the home directory is not an absolute path",
            ExpandError::UnsafeUserName => "the user name cannot be used in a path",
            ExpandError::NotAbsolute => "the secret path is not absolute after expansion",
        })
    }
}

impl std::error::Error for ExpandError {}

/// Does the template need a home directory (`~` at the start or after `/`, or `${HOME}`)?
pub fn uses_home(template: &str) -> bool {
    tokens(template).any(|t| matches!(t, Token::Home))
}

enum Token<'a> {
    Text(&'a str),
    Home,
    User,
}

/// Splits a template the way the C module scans it: `~` is special at the start and right after `/`;
/// `${HOME}` and `${USER}` anywhere; substituted text is never scanned again.
fn tokens(template: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = template;
    let mut allow_tilde = true;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if allow_tilde {
            if let Some(r) = rest.strip_prefix('~') {
                rest = r;
                allow_tilde = false;
                return Some(Token::Home);
            }
        }
        if let Some(r) = rest.strip_prefix("${HOME}") {
            rest = r;
            allow_tilde = false;
            return Some(Token::Home);
        }
        if let Some(r) = rest.strip_prefix("${USER}") {
            rest = r;
            allow_tilde = false;
            return Some(Token::User);
        }
        // Plain text up to (and including) the next '/', or up to the next '$'.
        let mut end = rest.len();
        for (i, c) in rest.char_indices().skip(1) {
            if c == '$' {
                end = i;
                break;
            }
            if c == '/' {
                end = i + 1;
                break;
            }
        }
        if rest.starts_with('/') {
            end = 1;
        }
        let (text, r) = rest.split_at(end);
        allow_tilde = text.ends_with('/');
        rest = r;
        Some(Token::Text(text))
    })
}

/// Expands a `secret=` template for `user` whose home directory is `home` (`None` with `user=`).
pub fn expand_secret_path(template: &str, user: &str, home: Option<&str>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(template.len() + 64);
    for token in tokens(template) {
        match token {
            Token::Text(t) => out.push_str(t),
            Token::Home => {
                let home = home.ok_or(ExpandError::NoHome)?;
                if !home.starts_with('/') {
                    return Err(ExpandError::HomeNotAbsolute);
                }
                out.push_str(home);
            }
            Token::User => {
                if user.is_empty() || user == "." || user == ".." || user.contains(['/', '\0', '~', ':']) {
                    return Err(ExpandError::UnsafeUserName);
                }
                out.push_str(user);
            }
        }
    }
    if !out.starts_with('/') {
        return Err(ExpandError::NotAbsolute);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn parse(args: &[&str]) -> Options {
        Options::parse(args).unwrap()
    }

    #[test]
    fn state_takes_an_absolute_path_with_user_and_refuses_home_and_store_pamd() {
        assert_eq!(
            parse(&["state=/var/lib/pam_totp/${USER}"]).state.as_deref(),
            Some("/var/lib/pam_totp/${USER}")
        );
        assert_eq!(Options::default().state, None);
        for bad in [
            &["state=relative/${USER}"][..],
            &["state=~/.state"],
            &["state=${HOME}/x"],
            &["state="],
            &["state=/x/${USER}", "store=pamd"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?}");
        }
        assert!(option_names().any(|n| n == "state="));
    }

    #[test]
    fn no_arguments_mean_the_c_defaults() {
        let o = parse(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.secret, "~/.google_authenticator");
        assert_eq!(o.allowed_perm, 0o600);
        assert_eq!(o.prompt(), "Verification code: ");
    }

    #[test]
    fn every_listed_option_name_is_one_the_parser_knows() {
        for name in option_names() {
            let r = Options::parse(&[name]);
            let unknown = r
                .as_ref()
                .err()
                .is_some_and(|e| e.to_string().contains("unknown option"));
            assert!(!unknown, "{name}: {r:?}");
        }
        assert_eq!(option_names().count(), VALUE_OPTIONS.len() + FLAGS.len());
    }

    #[test]
    fn every_google_authenticator_option_is_accepted() {
        let o = parse(&[
            "secret=/var/lib/ga/${USER}",
            "user=0",
            "authtok_prompt=Code: ",
            "no_strict_owner",
            "allowed_perm=0640",
            "debug",
            "try_first_pass",
            "forward_pass",
            "noskewadj",
            "no_increment_hotp",
            "nullok",
            "echo-verification-code",
            "grace_period=86400",
            "allow_readonly",
        ]);
        assert_eq!(o.secret, "/var/lib/ga/${USER}");
        assert_eq!(o.user, Some(FixedUser::Uid(0)));
        assert_eq!(o.prompt(), "Code: ");
        assert!(o.no_strict_owner && o.debug && o.forward_pass && o.noskewadj && o.no_increment_hotp);
        assert!(o.nullok && o.echo_verification_code && o.allow_readonly);
        assert_eq!(o.allowed_perm, 0o640);
        assert_eq!(o.pass_mode, PassMode::TryFirstPass);
        assert_eq!(o.grace_period, 86400);
        assert!(parse(&["echo_verification_code"]).echo_verification_code);
        assert_eq!(
            parse(&["try_first_pass", "use_first_pass"]).pass_mode,
            PassMode::UseFirstPass
        );
        assert_eq!(
            parse(&["forward_pass"]).prompt(),
            "Password & verification code: "
        );
        assert_eq!(
            parse(&["user=totp", "secret=/etc/totp/${USER}"]).user,
            Some(FixedUser::Name("totp".into()))
        );
    }

    #[test]
    fn given_several_bad_arguments_then_every_one_is_reported() {
        let e = Options::parse(&[
            "debug",
            "bogus",
            "allowed_perm=0800",
            "grace_period=-1",
            "nullok=1",
            "user=",
            "allowed_perm=0",
        ])
        .unwrap_err();
        let args: Vec<&str> = e.bad.iter().map(|b| b.arg.as_str()).collect();
        assert_eq!(
            args,
            [
                "bogus",
                "allowed_perm=0800",
                "grace_period=-1",
                "nullok=1",
                "user=",
                "allowed_perm=0"
            ]
        );
        let line = e.to_string();
        assert!(line.contains("\"bogus\": unknown option"), "{line}");
        assert!(line.contains("allowed_perm=0800"), "{line}");
    }

    #[test]
    fn store_and_timeout_choose_the_backend_and_its_deadline() {
        let o = parse(&[]);
        assert_eq!((o.store, o.timeout_secs), (StateStore::File, 3));
        assert_eq!(parse(&["store=file"]).store, StateStore::File);
        assert_eq!(
            parse(&["store=pamd"]).store,
            StateStore::Pamd {
                socket: "/run/pam-totpd/socket".into()
            }
        );
        let o = parse(&["store=pamd:/run/other/sock", "timeout=10"]);
        assert_eq!(
            o.store,
            StateStore::Pamd {
                socket: "/run/other/sock".into()
            }
        );
        assert_eq!(o.timeout_secs, 10);
    }

    #[test]
    fn fallback_users_name_users_and_groups_and_need_store_pamd() {
        let o = parse(&["store=pamd", "fallback_users=alice,@wheel"]);
        assert_eq!(
            o.fallback_users,
            vec![Fallback::User("alice".into()), Fallback::Group("wheel".into())]
        );
        for bad in [
            &["fallback_users=alice"][..],
            &["store=pamd", "fallback_users="],
            &["store=pamd", "fallback_users=alice,,bob"],
            &["store=pamd", "fallback_users=@"],
            &["store=pamd", "fallback_users=1000"],
            &["store=pamd", "fallback_users=a b"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn given_a_malformed_store_or_timeout_then_it_is_reported() {
        let e = Options::parse(&[
            "store=",
            "store=ldap",
            "store=pamd:",
            "store=pamd:relative/sock",
            "store=PAMD",
            "timeout=0",
            "timeout=61",
            "timeout=-1",
            "timeout=1.5",
            "timeout=",
        ])
        .unwrap_err();
        assert_eq!(e.bad.len(), 10, "{e}");
    }

    #[test]
    fn given_user_with_home_relative_secret_then_it_is_an_error() {
        for args in [
            &["user=root"][..],
            &["user=root", "secret=${HOME}/.ga"],
            &["secret=/x/~/y", "user=0"],
        ] {
            let e = Options::parse(args).unwrap_err();
            assert_eq!(e.bad.len(), 1, "{args:?}");
            assert!(e.bad[0].arg.starts_with("user="), "{args:?}");
        }
        // A ~ that is not at the start or after '/' is literal.
        assert!(Options::parse(&["user=0", "secret=/etc/totp/a~b"]).is_ok());
    }

    #[test]
    fn expansion_follows_the_c_module() {
        let x = |t: &str| expand_secret_path(t, "alice", Some("/home/alice"));
        assert_eq!(
            x("~/.google_authenticator").unwrap(),
            "/home/alice/.google_authenticator"
        );
        assert_eq!(x("${HOME}/.ga").unwrap(), "/home/alice/.ga");
        assert_eq!(x("/var/lib/ga/${USER}").unwrap(), "/var/lib/ga/alice");
        assert_eq!(
            x("/var/lib/ga/${USER}/~/x").unwrap(),
            "/var/lib/ga/alice//home/alice/x"
        );
        assert_eq!(x("/var/lib/a~b").unwrap(), "/var/lib/a~b");
        assert_eq!(x("/var/lib/${USER}~").unwrap(), "/var/lib/alice~");
        assert_eq!(x("/var/lib/${OTHER}").unwrap(), "/var/lib/${OTHER}");
        assert_eq!(x("~~").unwrap(), "/home/alice~");
        assert_eq!(x("relative/${USER}"), Err(ExpandError::NotAbsolute));
        assert_eq!(
            expand_secret_path("~/.ga", "alice", None),
            Err(ExpandError::NoHome)
        );
        assert_eq!(
            expand_secret_path("${HOME}/.ga", "alice", Some("home")),
            Err(ExpandError::HomeNotAbsolute)
        );
        assert_eq!(
            expand_secret_path("/etc/totp/${USER}", "root", None).unwrap(),
            "/etc/totp/root"
        );
        for user in ["", ".", "..", "../etc/shadow", "alice~totp", "~root", ":refusal"] {
            assert_eq!(
                expand_secret_path("/ga/${USER}", user, None),
                Err(ExpandError::UnsafeUserName),
                "{user:?}"
            );
        }
    }

    #[test]
    fn substituted_text_is_not_expanded_again() {
        assert_eq!(
            expand_secret_path("/ga/${USER}", "${HOME}", None).unwrap(),
            "/ga/${HOME}"
        );
        assert_eq!(expand_secret_path("~/x", "u", Some("/h/~")).unwrap(), "/h/~/x");
    }

    proptest! {
        #[test]
        fn parse_never_panics(args in proptest::collection::vec(".{0,40}", 0..8)) {
            let _ = Options::parse(&args);
        }

        #[test]
        fn parse_never_panics_on_near_valid_args(
            args in proptest::collection::vec("(secret|user|allowed_perm|grace_period|authtok_prompt|debug|nullok)=?[~0-9a-z${}/]{0,12}", 0..8),
        ) {
            if let Err(e) = Options::parse(&args) {
                prop_assert!(!e.bad.is_empty());
            }
        }

        #[test]
        fn expansion_never_panics(t in "[~$/{}A-Za-z.]{0,30}", user in ".{0,10}", home in proptest::option::of(".{0,10}")) {
            let _ = expand_secret_path(&t, &user, home.as_deref());
        }
    }
}
