//! The one parser and the one serializer of the google-authenticator secret file (`~/.google_authenticator`),
//! including pam_totp's `ALGORITHM` and `DIGITS` extension keys. The format is documented, as a document, in
//! `docs/secret-file-format.md`; this module implements exactly that page.
//!
//! It owns the layout: every line is kept with its own line ending, so an unmodified file serializes back byte
//! for byte, unknown `" KEY` lines survive every rewrite, and setting a key edits the file the way the C module
//! does (replace the first occurrence, drop duplicates, insert new keys after line 1). It does no I/O and makes
//! no authentication decision (that is `verify`); it never panics on any input, and never puts a secret, a
//! scratch code or file content in an error message or a `Debug` string.

use std::fmt;
use std::num::NonZeroU64;

use zeroize::Zeroizing;

use crate::otp::{Algorithm, Digits, Otp, OtpError, SecretKey};

/// Largest file the parser accepts, as in the C module (64 KiB).
pub const MAX_FILE_SIZE: usize = 64 * 1024;
/// Default TOTP period in seconds.
pub const DEFAULT_STEP_SIZE: u32 = 30;
/// Default window size (TOTP: one step either side; HOTP: three counters).
pub const DEFAULT_WINDOW_SIZE: u32 = 3;
/// Number of `LASTn` grace-period slots.
pub const LAST_SLOTS: usize = 10;

const KEY_TOTP_AUTH: &str = "TOTP_AUTH";
const KEY_HOTP_COUNTER: &str = "HOTP_COUNTER";
const KEY_STEP_SIZE: &str = "STEP_SIZE";
const KEY_WINDOW_SIZE: &str = "WINDOW_SIZE";
const KEY_DISALLOW_REUSE: &str = "DISALLOW_REUSE";
const KEY_RATE_LIMIT: &str = "RATE_LIMIT";
const KEY_TIME_SKEW: &str = "TIME_SKEW";
const KEY_RESETTING_TIME_SKEW: &str = "RESETTING_TIME_SKEW";
const KEY_ALGORITHM: &str = "ALGORITHM";
const KEY_DIGITS: &str = "DIGITS";
const KEY_USED_STEP: &str = "USED_STEP";
const LAST_KEYS: [&str; LAST_SLOTS] = [
    "LAST0", "LAST1", "LAST2", "LAST3", "LAST4", "LAST5", "LAST6", "LAST7", "LAST8", "LAST9",
];

/// Why a secret file could not be parsed. `Display` is written for the administrator reading syslog; it names
/// the line and the key but never shows file content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Zero bytes.
    Empty,
    /// More than [`MAX_FILE_SIZE`] bytes.
    TooLarge { size: usize },
    /// A NUL byte (the C module refuses these too).
    NulByte { line: usize },
    /// Not UTF-8 text.
    NotUtf8 { line: usize },
    /// A CR that is not part of a CR LF line ending.
    BareCarriageReturn { line: usize },
    /// Line 1 is not a base32 secret of at least one byte.
    InvalidSecret { reason: SecretError },
    /// A known key with a value that is malformed or out of range.
    InvalidValue {
        key: &'static str,
        line: usize,
        expected: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("the file is empty"),
            ParseError::TooLarge { size } => {
                write!(
                    f,
                    "the file is {size} bytes, more than the {MAX_FILE_SIZE} allowed"
                )
            }
            ParseError::NulByte { line } => write!(f, "line {line}: the file contains a NUL byte"),
            ParseError::NotUtf8 { line } => write!(f, "line {line}: the file is not UTF-8 text"),
            ParseError::BareCarriageReturn { line } => {
                write!(f, "line {line}: carriage return not followed by a line feed")
            }
            ParseError::InvalidSecret { reason } => write!(f, "line 1: no valid base32 secret: {reason}"),
            ParseError::InvalidValue { key, line, expected } => {
                write!(f, "line {line}: invalid {key} value (expected {expected})")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Why line 1 is not a usable secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// A character outside base32 (after the C decoder's mappings); the position is 1-based.
    InvalidCharacter { column: usize },
    /// `=` padding followed by something other than padding.
    MisplacedPadding { column: usize },
    /// Fewer than 8 bits of key.
    TooShort,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::InvalidCharacter { column } => write!(f, "character {column} is not base32"),
            SecretError::MisplacedPadding { column } => {
                write!(f, "character {column} follows '=' padding")
            }
            SecretError::TooShort => f.write_str("it decodes to no bytes"),
        }
    }
}

/// Something worth logging that does not stop the file from being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A line that is neither an option, a scratch code nor blank. pam_google_authenticator stops looking for
    /// scratch codes there; pam_totp keeps reading. Only the line number is given: the line might be a code.
    StrayLine { line: usize },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::StrayLine { line } => write!(
                f,
                "line {line} is not an option, a scratch code or blank; it is kept, and scratch codes after \
                 it still work here (pam_google_authenticator would ignore them)"
            ),
        }
    }
}

/// Line ending of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Eol {
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
    /// No line ending (only the last line of a file).
    None,
}

impl Eol {
    fn as_str(self) -> &'static str {
        match self {
            Eol::Lf => "\n",
            Eol::CrLf => "\r\n",
            Eol::None => "",
        }
    }
}

/// Which kind of line a line after line 1 is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Starts with `"` (an option when followed by a space and a key; either way never a scratch code).
    Option,
    /// An 8-digit scratch code.
    Scratch(u32),
    /// Empty or only spaces and tabs.
    Blank,
    /// Anything else.
    Stray,
}

#[derive(Clone, PartialEq, Eq)]
struct Line {
    text: Zeroizing<String>,
    eol: Eol,
    kind: Kind,
}

impl Line {
    fn new(text: String, eol: Eol) -> Line {
        let kind = classify(&text);
        Line {
            text: Zeroizing::new(text),
            eol,
            kind,
        }
    }

    /// The key of an option line (`" KEY ...`), if this is one.
    fn key(&self) -> Option<&str> {
        option_key(&self.text)
    }
}

fn option_key(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("\" ")?;
    Some(rest.split([' ', '\t']).next().unwrap_or(rest))
}

/// The value of an option line: the text after the key and any spaces or tabs.
fn option_value<'a>(text: &'a str, key: &str) -> &'a str {
    text.strip_prefix("\" ")
        .and_then(|rest| rest.strip_prefix(key))
        .map(|rest| rest.trim_start_matches([' ', '\t']))
        .unwrap_or("")
}

fn classify(text: &str) -> Kind {
    if text.starts_with('"') {
        return Kind::Option;
    }
    if text.bytes().all(|b| b == b' ' || b == b'\t') {
        return Kind::Blank;
    }
    match parse_scratch_code(text.trim_start_matches([' ', '\t'])) {
        Some(code) => Kind::Scratch(code),
        None => Kind::Stray,
    }
}

/// Exactly 8 ASCII digits, the first 1-9.
fn parse_scratch_code(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    if bytes.len() != 8 || !(b'1'..=b'9').contains(&first) || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.parse().ok()
}

/// `RATE_LIMIT n m [timestamps...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// At most this many attempts (1-100)...
    pub attempts: u32,
    /// ...within this many seconds (1-3600).
    pub interval: u32,
    /// Unix times of recent attempts, in file order.
    pub timestamps: Vec<u64>,
}

/// One `RESETTING_TIME_SKEW` entry: `step+skew` (the time step of the attempt and the skew it showed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkewEntry {
    /// Time step (`unix_time / STEP_SIZE`) of the attempt, without any skew.
    pub step: u64,
    /// Offset in steps at which the code was found.
    pub skew: i64,
}

/// One `LASTn` entry: a remote host that recently passed, for `grace_period`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastLogin {
    host: String,
    time: u64,
}

impl LastLogin {
    /// Longest host accepted (PAM_RHOST is a host name or address).
    pub const MAX_HOST_LEN: usize = 255;

    /// `None` when `host` is empty, too long, or contains white space or control characters (it must fit on
    /// one line as one word).
    pub fn new(host: &str, time: u64) -> Option<LastLogin> {
        let ok = !host.is_empty()
            && host.len() <= LastLogin::MAX_HOST_LEN
            && host.chars().all(|c| !c.is_whitespace() && !c.is_control());
        ok.then(|| LastLogin {
            host: host.to_owned(),
            time,
        })
    }

    /// The remote host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Unix time of the login.
    pub fn time(&self) -> u64 {
        self.time
    }
}

/// Which codes the file accepts besides scratch codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Counter-based; `counter` is the next counter value (`HOTP_COUNTER`, >= 1).
    Hotp { counter: u64 },
    /// Time-based (`TOTP_AUTH`).
    Totp,
    /// Neither: only scratch codes work.
    ScratchOnly,
}

/// Typed view of the first occurrence of every known key, kept in step with the lines by the setters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Settings {
    totp_auth: bool,
    hotp_counter: Option<u64>,
    step_size: Option<u32>,
    window_size: Option<u32>,
    disallow_reuse: Option<Vec<u64>>,
    rate_limit: Option<RateLimit>,
    time_skew: Option<i64>,
    resetting_time_skew: Option<Vec<SkewEntry>>,
    last: [Option<LastLogin>; LAST_SLOTS],
    algorithm: Option<Algorithm>,
    digits: Option<Digits>,
    used_step: Option<u64>,
}

/// A parsed secret file: the key, the typed settings, and the exact layout for rewriting.
///
/// `Debug` shows the settings and the number of scratch codes, never the secret or the codes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretFile {
    secret_text: Zeroizing<String>,
    secret_eol: Eol,
    key: SecretKey,
    body: Vec<Line>,
    settings: Settings,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("key", &self.key)
            .field("mode", &self.mode())
            .field("settings", &self.settings)
            .field("scratch_codes", &self.scratch_codes().count())
            .field("lines", &(self.body.len() + 1))
            .finish()
    }
}

impl SecretFile {
    /// Parses file bytes. Never panics; see `docs/secret-file-format.md` for what is accepted.
    pub fn parse(bytes: &[u8]) -> Result<SecretFile, ParseError> {
        if bytes.is_empty() {
            return Err(ParseError::Empty);
        }
        if bytes.len() > MAX_FILE_SIZE {
            return Err(ParseError::TooLarge { size: bytes.len() });
        }
        let line_of = |offset: usize| bytes.iter().take(offset).filter(|&&b| b == b'\n').count() + 1;
        if let Some(offset) = bytes.iter().position(|&b| b == 0) {
            return Err(ParseError::NulByte {
                line: line_of(offset),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8 {
            line: line_of(e.valid_up_to()),
        })?;

        let mut lines = Vec::new();
        for (index, piece) in text.split_inclusive('\n').enumerate() {
            let (content, eol) = if let Some(c) = piece.strip_suffix("\r\n") {
                (c, Eol::CrLf)
            } else if let Some(c) = piece.strip_suffix('\n') {
                (c, Eol::Lf)
            } else {
                (piece, Eol::None)
            };
            if content.contains('\r') {
                return Err(ParseError::BareCarriageReturn { line: index + 1 });
            }
            lines.push((content, eol));
        }
        let mut lines = lines.into_iter();
        let (secret_line, secret_eol) = lines.next().ok_or(ParseError::Empty)?;
        let key = decode_secret(secret_line).map_err(|reason| ParseError::InvalidSecret { reason })?;
        let body: Vec<Line> = lines.map(|(text, eol)| Line::new(text.to_owned(), eol)).collect();
        let settings = parse_settings(&body)?;
        Ok(SecretFile {
            secret_text: Zeroizing::new(secret_line.to_owned()),
            secret_eol,
            key,
            body,
            settings,
        })
    }

    /// A new file holding only the secret (base32, upper case, no padding) and a line feed. Add options and
    /// scratch codes with the setters.
    pub fn new(key: SecretKey) -> Result<SecretFile, OtpError> {
        if key.is_empty() {
            return Err(OtpError::EmptyKey);
        }
        Ok(SecretFile {
            secret_text: encode_secret(key.as_bytes()),
            secret_eol: Eol::Lf,
            key,
            body: Vec::new(),
            settings: Settings::default(),
        })
    }

    /// The file as bytes, exactly as parsed plus any changes made through the setters.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let size = self.secret_text.len() + 2 + self.body.iter().map(|l| l.text.len() + 2).sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(size));
        out.extend_from_slice(self.secret_text.as_bytes());
        out.extend_from_slice(self.secret_eol.as_str().as_bytes());
        for line in &self.body {
            out.extend_from_slice(line.text.as_bytes());
            out.extend_from_slice(line.eol.as_str().as_bytes());
        }
        out
    }

    /// Lines that are neither options, scratch codes nor blank (for the module to log).
    pub fn warnings(&self) -> Vec<Warning> {
        self.body
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == Kind::Stray)
            .map(|(i, _)| Warning::StrayLine { line: i + 2 })
            .collect()
    }

    // ----- reading -----

    /// The shared secret.
    pub fn secret(&self) -> &SecretKey {
        &self.key
    }

    /// A code generator for this file's secret, algorithm and digits.
    pub fn otp(&self) -> Result<Otp, OtpError> {
        Otp::new(&self.key, self.algorithm(), self.digits())
    }

    /// HOTP when `HOTP_COUNTER` >= 1, else TOTP when `TOTP_AUTH` is present, else scratch codes only.
    pub fn mode(&self) -> Mode {
        match self.settings.hotp_counter {
            Some(counter) if counter >= 1 => Mode::Hotp { counter },
            _ if self.settings.totp_auth => Mode::Totp,
            _ => Mode::ScratchOnly,
        }
    }

    /// Whether a `TOTP_AUTH` line is present.
    pub fn totp_auth(&self) -> bool {
        self.settings.totp_auth
    }

    /// `HOTP_COUNTER`, when present (0 included, although 0 does not select HOTP).
    pub fn hotp_counter(&self) -> Option<u64> {
        self.settings.hotp_counter
    }

    /// `STEP_SIZE` in seconds, 30 by default.
    pub fn step_size(&self) -> NonZeroU64 {
        let step = self.settings.step_size.unwrap_or(DEFAULT_STEP_SIZE);
        NonZeroU64::new(u64::from(step)).unwrap_or(NonZeroU64::MIN.saturating_add(29))
    }

    /// `WINDOW_SIZE`, 3 by default.
    pub fn window_size(&self) -> u32 {
        self.settings.window_size.unwrap_or(DEFAULT_WINDOW_SIZE)
    }

    /// `DISALLOW_REUSE`: `None` when reuse is allowed, else the used steps.
    pub fn disallow_reuse(&self) -> Option<&[u64]> {
        self.settings.disallow_reuse.as_deref()
    }

    /// `RATE_LIMIT`, when present.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        self.settings.rate_limit.as_ref()
    }

    /// `TIME_SKEW` in steps, 0 when absent.
    pub fn time_skew(&self) -> i64 {
        self.settings.time_skew.unwrap_or(0)
    }

    /// `RESETTING_TIME_SKEW` entries (empty when absent).
    pub fn resetting_time_skew(&self) -> &[SkewEntry] {
        self.settings.resetting_time_skew.as_deref().unwrap_or(&[])
    }

    /// The `LAST0`..`LAST9` slots.
    pub fn last_logins(&self) -> &[Option<LastLogin>; LAST_SLOTS] {
        &self.settings.last
    }

    /// `ALGORITHM`, SHA-1 by default.
    pub fn algorithm(&self) -> Algorithm {
        self.settings.algorithm.unwrap_or_default()
    }

    /// `DIGITS`, 6 by default.
    pub fn digits(&self) -> Digits {
        self.settings.digits.unwrap_or_default()
    }

    /// `USED_STEP` (a pam_totp extension): the highest TOTP step accepted while `DISALLOW_REUSE` or `RATE_LIMIT` is on, a
    /// high-water mark that outlives the pruned `DISALLOW_REUSE` list. Skew learning never accepts a step at
    /// or below it.
    pub fn used_step(&self) -> Option<u64> {
        self.settings.used_step
    }

    /// Scratch codes in file order (including any after a stray line).
    pub fn scratch_codes(&self) -> impl Iterator<Item = u32> + '_ {
        self.body.iter().filter_map(|l| match l.kind {
            Kind::Scratch(code) => Some(code),
            _ => None,
        })
    }

    /// The raw value of the first `" KEY` line (for keys this module does not know), without the key.
    pub fn raw_value(&self, key: &str) -> Option<&str> {
        self.body
            .iter()
            .find(|l| l.key() == Some(key))
            .map(|l| option_value(&l.text, key))
    }

    // ----- writing -----

    /// Adds or removes the `TOTP_AUTH` line.
    pub fn set_totp_auth(&mut self, on: bool) {
        self.set_raw(KEY_TOTP_AUTH, on.then_some(""));
        self.settings.totp_auth = on;
    }

    /// Sets `HOTP_COUNTER` (`None` removes it).
    pub fn set_hotp_counter(&mut self, counter: Option<u64>) {
        self.set_raw(KEY_HOTP_COUNTER, counter.map(|c| c.to_string()).as_deref());
        self.settings.hotp_counter = counter;
    }

    /// Sets `STEP_SIZE` (1-60; `None` removes it). Returns false and changes nothing when out of range.
    pub fn set_step_size(&mut self, step: Option<u32>) -> bool {
        if step.is_some_and(|s| !(1..=60).contains(&s)) {
            return false;
        }
        self.set_raw(KEY_STEP_SIZE, step.map(|s| s.to_string()).as_deref());
        self.settings.step_size = step;
        true
    }

    /// Sets `WINDOW_SIZE` (1-100; `None` removes it). Returns false and changes nothing when out of range.
    pub fn set_window_size(&mut self, window: Option<u32>) -> bool {
        if window.is_some_and(|w| !(1..=100).contains(&w)) {
            return false;
        }
        self.set_raw(KEY_WINDOW_SIZE, window.map(|w| w.to_string()).as_deref());
        self.settings.window_size = window;
        true
    }

    /// Sets `DISALLOW_REUSE` with its list of used steps (`None` allows reuse).
    pub fn set_disallow_reuse(&mut self, steps: Option<Vec<u64>>) {
        let value = steps.as_ref().map(|s| join(s.iter().map(u64::to_string)));
        self.set_raw(KEY_DISALLOW_REUSE, value.as_deref());
        self.settings.disallow_reuse = steps;
    }

    /// Sets `RATE_LIMIT` (`None` removes it). Returns false and changes nothing when n is not 1-100 or m is
    /// not 1-3600.
    pub fn set_rate_limit(&mut self, limit: Option<RateLimit>) -> bool {
        if limit
            .as_ref()
            .is_some_and(|l| !(1..=100).contains(&l.attempts) || !(1..=3600).contains(&l.interval))
        {
            return false;
        }
        let value = limit.as_ref().map(|l| {
            let mut v = format!("{} {}", l.attempts, l.interval);
            for t in &l.timestamps {
                v.push(' ');
                v.push_str(&t.to_string());
            }
            v
        });
        self.set_raw(KEY_RATE_LIMIT, value.as_deref());
        self.settings.rate_limit = limit;
        true
    }

    /// Sets `TIME_SKEW` (`None` removes it).
    pub fn set_time_skew(&mut self, skew: Option<i64>) {
        self.set_raw(KEY_TIME_SKEW, skew.map(|s| s.to_string()).as_deref());
        self.settings.time_skew = skew;
    }

    /// Sets `RESETTING_TIME_SKEW` (`None` removes it; an empty list leaves the key with no value, as C does).
    pub fn set_resetting_time_skew(&mut self, entries: Option<Vec<SkewEntry>>) {
        let value = entries
            .as_ref()
            .map(|e| join(e.iter().map(|e| format!("{}{:+}", e.step, e.skew))));
        self.set_raw(KEY_RESETTING_TIME_SKEW, value.as_deref());
        self.settings.resetting_time_skew = entries;
    }

    /// Sets slot `LAST<slot>` (`None` removes it). Returns false for a slot outside 0-9.
    pub fn set_last_login(&mut self, slot: usize, entry: Option<LastLogin>) -> bool {
        let (Some(key), Some(cell)) = (LAST_KEYS.get(slot), self.settings.last.get_mut(slot)) else {
            return false;
        };
        *cell = entry.clone();
        let value = entry.map(|e| format!("{} {}", e.host, e.time));
        self.set_raw(key, value.as_deref());
        true
    }

    /// Sets `ALGORITHM` (`None` removes it, meaning SHA-1).
    pub fn set_algorithm(&mut self, algorithm: Option<Algorithm>) {
        self.set_raw(KEY_ALGORITHM, algorithm.map(Algorithm::name));
        self.settings.algorithm = algorithm;
    }

    /// Sets `DIGITS` (`None` removes it, meaning 6).
    pub fn set_digits(&mut self, digits: Option<Digits>) {
        self.set_raw(KEY_DIGITS, digits.map(|d| d.to_string()).as_deref());
        self.settings.digits = digits;
    }

    /// Sets `USED_STEP` (`None` removes it).
    pub fn set_used_step(&mut self, step: Option<u64>) {
        self.set_raw(KEY_USED_STEP, step.map(|s| s.to_string()).as_deref());
        self.settings.used_step = step;
    }

    /// Uses scratch code `code` as pam_google_authenticator does: only the codes before the first stray line
    /// count (a stray line hides the codes after it). Removes the first matching line and returns whether
    /// there was one; the comparison is constant-time per line.
    pub fn use_scratch_code(&mut self, code: u32) -> bool {
        if !self
            .usable_scratch_codes()
            .any(|c| crate::otp::codes_equal(c, code))
        {
            return false;
        }
        self.remove_scratch_code(code)
    }

    /// The scratch codes a login may use: those before the first stray line, as pam_google_authenticator
    /// reads them.
    pub fn usable_scratch_codes(&self) -> impl Iterator<Item = u32> + '_ {
        self.body
            .iter()
            .take_while(|l| l.kind != Kind::Stray)
            .filter_map(|l| match l.kind {
                Kind::Scratch(code) => Some(code),
                _ => None,
            })
    }

    /// Appends a scratch code line. Returns false (and changes nothing) unless `code` is 10000000..=99999999.
    pub fn add_scratch_code(&mut self, code: u32) -> bool {
        if !(10_000_000..=99_999_999).contains(&code) {
            return false;
        }
        self.ensure_final_newline();
        let eol = self.default_eol();
        self.body.push(Line::new(code.to_string(), eol));
        true
    }

    /// Removes the first line holding scratch code `code`. Returns whether one was found. The comparison is
    /// constant-time per line.
    pub fn remove_scratch_code(&mut self, code: u32) -> bool {
        let mut found = None;
        for (i, line) in self.body.iter().enumerate() {
            if let Kind::Scratch(c) = line.kind {
                if crate::otp::codes_equal(c, code) && found.is_none() {
                    found = Some(i);
                }
            }
        }
        match found {
            Some(i) if i < self.body.len() => {
                let removed = self.body.remove(i);
                // Keep "no final newline" a property of the file, not of the removed line.
                if removed.eol == Eol::None {
                    if let Some(last) = self.body.last_mut() {
                        last.eol = Eol::None;
                    } else {
                        self.secret_eol = Eol::None;
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// Sets an option line: replace the first `" key` line (keeping its line ending) and delete duplicates, or
    /// insert after line 1; `None` deletes every `" key` line. `value` must not contain a line break.
    fn set_raw(&mut self, key: &str, value: Option<&str>) {
        let text = value.map(|v| {
            if v.is_empty() {
                format!("\" {key}")
            } else {
                format!("\" {key} {v}")
            }
        });
        let mut replaced = false;
        let mut removed_last_eol = false;
        let mut kept = Vec::with_capacity(self.body.len() + 1);
        for line in self.body.drain(..) {
            if line.key() != Some(key) {
                kept.push(line);
                continue;
            }
            match (&text, replaced) {
                (Some(t), false) => {
                    kept.push(Line::new(t.clone(), line.eol));
                    replaced = true;
                }
                _ => removed_last_eol |= line.eol == Eol::None,
            }
        }
        self.body = kept;
        if removed_last_eol {
            match self.body.last_mut() {
                Some(last) => last.eol = Eol::None,
                None => self.secret_eol = Eol::None,
            }
        }
        if let (Some(t), false) = (text, replaced) {
            let eol = self.default_eol();
            if self.secret_eol == Eol::None {
                self.secret_eol = eol;
                self.body.insert(0, Line::new(t, Eol::None));
            } else {
                self.body.insert(0, Line::new(t, eol));
            }
        }
    }

    /// The line ending for new lines: line 1's, or LF.
    fn default_eol(&self) -> Eol {
        match self.secret_eol {
            Eol::None => Eol::Lf,
            eol => eol,
        }
    }

    fn ensure_final_newline(&mut self) {
        let eol = self.default_eol();
        match self.body.last_mut() {
            Some(last) if last.eol == Eol::None => last.eol = eol,
            Some(_) => {}
            None => self.secret_eol = eol,
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

fn parse_settings(body: &[Line]) -> Result<Settings, ParseError> {
    // Each option line's key, split off once (line numbers count the secret as line 1).
    let options: Vec<(usize, &str, &str)> = body
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.key().map(|k| (i + 2, k, l.text.as_str())))
        .collect();
    let first = |key: &str| -> Option<(usize, &str)> {
        options
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|&(line, _, text)| (line, option_value(text, key)))
    };
    let mut s = Settings {
        totp_auth: first(KEY_TOTP_AUTH).is_some(),
        ..Settings::default()
    };
    if let Some((line, v)) = first(KEY_HOTP_COUNTER) {
        s.hotp_counter = Some(number(v, KEY_HOTP_COUNTER, line, "a counter")?);
    }
    if let Some((line, v)) = first(KEY_STEP_SIZE) {
        s.step_size = Some(ranged(v, KEY_STEP_SIZE, line, 1, 60, "1-60 seconds")?);
    }
    if let Some((line, v)) = first(KEY_WINDOW_SIZE) {
        s.window_size = Some(ranged(v, KEY_WINDOW_SIZE, line, 1, 100, "1-100")?);
    }
    if let Some((line, v)) = first(KEY_DISALLOW_REUSE) {
        let bad = || invalid(KEY_DISALLOW_REUSE, line, "step numbers separated by spaces");
        let steps = v
            .split([' ', '\t'])
            .filter(|w| !w.is_empty())
            .map(|w| parse_u64(w).ok_or_else(bad));
        s.disallow_reuse = Some(steps.collect::<Result<_, _>>()?);
    }
    if let Some((line, v)) = first(KEY_RATE_LIMIT) {
        s.rate_limit = Some(parse_rate_limit(v, line)?);
    }
    if let Some((line, v)) = first(KEY_TIME_SKEW) {
        let v = v.trim_end_matches([' ', '\t']);
        s.time_skew =
            Some(parse_i64(v).ok_or_else(|| invalid(KEY_TIME_SKEW, line, "a signed number of steps"))?);
    }
    if let Some((line, v)) = first(KEY_RESETTING_TIME_SKEW) {
        let bad = || invalid(KEY_RESETTING_TIME_SKEW, line, "entries like 59862780+10");
        let entries = v
            .split([' ', '\t'])
            .filter(|w| !w.is_empty())
            .map(|w| parse_skew_entry(w).ok_or_else(bad));
        s.resetting_time_skew = Some(entries.collect::<Result<_, _>>()?);
    }
    for (slot, key) in s.last.iter_mut().zip(LAST_KEYS) {
        if let Some((line, v)) = first(key) {
            let parsed = v
                .trim_end_matches([' ', '\t'])
                .split_once([' ', '\t'])
                .and_then(|(host, t)| LastLogin::new(host, parse_u64(t.trim_start_matches([' ', '\t']))?));
            *slot = Some(parsed.ok_or_else(|| invalid(key_name(key), line, "a host and a unix time"))?);
        }
    }
    if let Some((line, v)) = first(KEY_ALGORITHM) {
        let v = v.trim_end_matches([' ', '\t']);
        s.algorithm = Some(
            Algorithm::from_name(v).ok_or_else(|| invalid(KEY_ALGORITHM, line, "SHA1, SHA256 or SHA512"))?,
        );
    }
    if let Some((line, v)) = first(KEY_USED_STEP) {
        s.used_step = Some(number(v, KEY_USED_STEP, line, "a step number")?);
    }
    if let Some((line, v)) = first(KEY_DIGITS) {
        let n = ranged(v, KEY_DIGITS, line, 6, 8, "6, 7 or 8")?;
        let digits = u8::try_from(n).ok().and_then(Digits::new);
        s.digits = Some(digits.ok_or_else(|| invalid(KEY_DIGITS, line, "6, 7 or 8"))?);
    }
    Ok(s)
}

/// The `'static` spelling of a `LASTn` key for error messages.
fn key_name(key: &str) -> &'static str {
    LAST_KEYS.into_iter().find(|k| *k == key).unwrap_or("LAST")
}

fn invalid(key: &'static str, line: usize, expected: &'static str) -> ParseError {
    ParseError::InvalidValue { key, line, expected }
}

/// ASCII decimal digits only (no sign, no spaces), fitting in u64.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Optional `+`/`-` then decimal digits.
fn parse_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    parse_u64(digits)?;
    s.parse().ok()
}

/// A number followed only by spaces or tabs (as the C module's `strtoul` checks allow).
fn number(v: &str, key: &'static str, line: usize, expected: &'static str) -> Result<u64, ParseError> {
    parse_u64(v.trim_end_matches([' ', '\t'])).ok_or_else(|| invalid(key, line, expected))
}

fn ranged(
    v: &str,
    key: &'static str,
    line: usize,
    min: u32,
    max: u32,
    expected: &'static str,
) -> Result<u32, ParseError> {
    let n = number(v, key, line, expected)?;
    u32::try_from(n)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid(key, line, expected))
}

/// `n m [ts...]` separated by runs of spaces/tabs; trailing white space is an error, as in C.
fn parse_rate_limit(v: &str, line: usize) -> Result<RateLimit, ParseError> {
    let bad = || {
        invalid(
            KEY_RATE_LIMIT,
            line,
            "attempts (1-100), seconds (1-3600), then unix times, no trailing space",
        )
    };
    if v.ends_with([' ', '\t']) {
        return Err(bad());
    }
    let mut words = v.split([' ', '\t']).filter(|w| !w.is_empty());
    let attempts = words
        .next()
        .and_then(parse_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(bad)?;
    let interval = words
        .next()
        .and_then(parse_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(bad)?;
    if !(1..=100).contains(&attempts) || !(1..=3600).contains(&interval) {
        return Err(bad());
    }
    let timestamps = words
        .map(|w| parse_u64(w).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    Ok(RateLimit {
        attempts,
        interval,
        timestamps,
    })
}

/// `step+skew` or `step-skew`.
pub(crate) fn parse_skew_entry(w: &str) -> Option<SkewEntry> {
    let sign_at = w.find(['+', '-'])?;
    let (step, signed) = w.split_at(sign_at);
    Some(SkewEntry {
        step: parse_u64(step)?,
        skew: parse_i64(signed)?,
    })
}

/// Decodes line 1 as the google-authenticator C decoder does (ignores space, tab, CR, LF and `-`; any case;
/// `0`->`O`, `1`->`L`, `8`->`B`), and also accepts trailing `=` padding. Leftover bits are ignored.
pub fn decode_secret(text: &str) -> Result<SecretKey, SecretError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8 + 1));
    let (mut buffer, mut bits) = (0u32, 0u32);
    let mut padding_at = None;
    for (i, c) in text.chars().enumerate() {
        let column = i + 1;
        let value = match c {
            ' ' | '\t' | '\r' | '\n' | '-' => continue,
            '=' => {
                padding_at.get_or_insert(column);
                continue;
            }
            _ if padding_at.is_some() => return Err(SecretError::MisplacedPadding { column }),
            '0' => 14, // O
            '1' => 11, // L
            '8' => 1,  // B
            'A'..='Z' => u32::from(c) - u32::from('A'),
            'a'..='z' => u32::from(c) - u32::from('a'),
            '2'..='7' => u32::from(c) - u32::from('2') + 26,
            _ => return Err(SecretError::InvalidCharacter { column }),
        };
        buffer = ((buffer << 5) | value) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    if out.is_empty() {
        return Err(SecretError::TooShort);
    }
    Ok(SecretKey::new(std::mem::take(&mut *out)))
}

/// Encodes a key as upper-case base32 without padding (what the CLI writes on line 1 and puts in the QR code).
pub fn encode_secret(key: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Zeroizing::new(String::with_capacity(key.len() * 8 / 5 + 1));
    let (mut buffer, mut bits) = (0u32, 0u32);
    let push = |index: u32, out: &mut String| {
        let c = ALPHABET.get(index as usize & 31).copied().unwrap_or(b'A');
        out.push(char::from(c));
    };
    for &byte in key {
        buffer = ((buffer << 8) | u32::from(byte)) & 0xffff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            push((buffer >> bits) & 31, &mut out);
        }
    }
    if bits > 0 {
        push((buffer << (5 - bits)) & 31, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/google-authenticator")
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(fixture_dir().join(name)).unwrap()
    }

    #[track_caller]
    fn parse(text: &str) -> SecretFile {
        SecretFile::parse(text.as_bytes()).unwrap()
    }

    #[track_caller]
    fn parse_err(bytes: &[u8]) -> ParseError {
        SecretFile::parse(bytes).unwrap_err()
    }

    #[track_caller]
    fn text(file: &SecretFile) -> String {
        String::from_utf8(file.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn every_fixture_serializes_back_byte_for_byte() {
        let mut n = 0;
        for entry in std::fs::read_dir(fixture_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("ga") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let file = SecretFile::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(*file.to_bytes(), bytes, "{}", path.display());
            assert!(file.warnings().is_empty(), "{}", path.display());
            n += 1;
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn fixture_totp_disallow_reuse_ratelimit_has_the_cli_values() {
        let f = SecretFile::parse(&fixture("totp-disallow-reuse-ratelimit.ga")).unwrap();
        assert_eq!(f.mode(), Mode::Totp);
        assert_eq!(f.secret().len(), 16);
        assert_eq!(
            f.rate_limit(),
            Some(&RateLimit {
                attempts: 3,
                interval: 30,
                timestamps: vec![]
            })
        );
        assert_eq!(f.window_size(), 3);
        assert_eq!(f.disallow_reuse(), Some(&[][..]));
        assert_eq!(f.step_size().get(), 30);
        assert_eq!(
            f.scratch_codes().collect::<Vec<_>>(),
            [53341167, 70669089, 73833018, 62272579, 16308501]
        );
        assert_eq!((f.algorithm(), f.digits()), (Algorithm::Sha1, Digits::SIX));
        assert_eq!(f.time_skew(), 0);
    }

    #[test]
    fn fixture_totp_window17_has_the_cli_values() {
        let f = SecretFile::parse(&fixture("totp-window17.ga")).unwrap();
        assert_eq!(f.mode(), Mode::Totp);
        assert_eq!(f.window_size(), 17);
        assert_eq!(f.disallow_reuse(), None);
        assert_eq!(f.rate_limit(), None);
        assert_eq!(f.scratch_codes().count(), 5);
    }

    #[test]
    fn fixture_totp_step60_has_the_cli_values() {
        let f = SecretFile::parse(&fixture("totp-step60.ga")).unwrap();
        assert_eq!(f.mode(), Mode::Totp);
        assert_eq!(f.step_size().get(), 60);
        assert_eq!(f.window_size(), 3);
        assert_eq!(f.scratch_codes().count(), 10);
        assert_eq!(f.scratch_codes().last(), Some(26156697));
    }

    #[test]
    fn fixture_hotp_has_the_cli_values() {
        let f = SecretFile::parse(&fixture("hotp.ga")).unwrap();
        assert_eq!(f.mode(), Mode::Hotp { counter: 1 });
        assert!(!f.totp_auth());
        assert_eq!(f.window_size(), 5);
        assert_eq!(
            f.rate_limit(),
            Some(&RateLimit {
                attempts: 5,
                interval: 60,
                timestamps: vec![]
            })
        );
        assert_eq!(
            f.scratch_codes().collect::<Vec<_>>(),
            [81195014, 99074196, 77635692]
        );
    }

    #[test]
    fn fixture_totp_no_scratch_has_the_cli_values() {
        let f = SecretFile::parse(&fixture("totp-no-scratch.ga")).unwrap();
        assert_eq!(f.mode(), Mode::Totp);
        assert_eq!(f.scratch_codes().count(), 0);
        assert_eq!(
            *encode_secret(f.secret().as_bytes()),
            "3EXSFXKMOENZHBJMUIXDWBPWLI"
        );
    }

    #[test]
    fn example_after_use_from_the_spec_parses() {
        let f = parse(
            "QGPSWMNUD3U2N7TS42X6HYOWI4\n\" LAST1 198.51.100.9 1795883844\n\" LAST0 192.0.2.7 1795883844\n\
             \" RATE_LIMIT 3 30 1795883844 1795883844\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE 59862794\n\
             \" TOTP_AUTH\n45681685\n92711506\n35367609\n78447767\n",
        );
        assert_eq!(f.last_logins()[0], LastLogin::new("192.0.2.7", 1795883844));
        assert_eq!(f.last_logins()[1], LastLogin::new("198.51.100.9", 1795883844));
        assert_eq!(f.last_logins()[2], None);
        assert_eq!(f.rate_limit().unwrap().timestamps, [1795883844, 1795883844]);
        assert_eq!(f.disallow_reuse(), Some(&[59862794][..]));
    }

    #[test]
    fn secret_decoding_follows_the_c_decoder() {
        let plain = decode_secret("GEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(plain.as_bytes(), b"1234567890");
        for variant in [
            "gezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ",
            "GEZD-GNBV-GY3T-QOJQ",
            "GEZDGNBVGY3TQOJQ======",
        ] {
            assert_eq!(decode_secret(variant).unwrap(), plain, "{variant}");
        }
        // 0 -> O, 1 -> L, 8 -> B
        assert_eq!(decode_secret("GEZDGNBVGY3TQ0JQ").unwrap(), plain);
        assert_eq!(decode_secret("1111").unwrap(), decode_secret("LLLL").unwrap());
        assert_eq!(decode_secret("8888").unwrap(), decode_secret("BBBB").unwrap());
        assert_eq!(
            decode_secret("GEZ9"),
            Err(SecretError::InvalidCharacter { column: 4 })
        );
        assert_eq!(
            decode_secret("GE==ZD"),
            Err(SecretError::MisplacedPadding { column: 5 })
        );
        assert_eq!(decode_secret("G"), Err(SecretError::TooShort));
        assert_eq!(decode_secret(""), Err(SecretError::TooShort));
        assert_eq!(decode_secret(" - "), Err(SecretError::TooShort));
    }

    #[test]
    fn encode_then_decode_is_identity_for_every_length() {
        for len in 1..=40u8 {
            let key: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37).wrapping_add(len)).collect();
            let text = encode_secret(&key);
            assert_eq!(decode_secret(&text).unwrap().as_bytes(), &key[..], "{len}");
        }
    }

    #[test]
    fn given_crlf_file_then_it_parses_and_round_trips() {
        let input = "GEZDGNBVGY3TQOJQ\r\n\" WINDOW_SIZE 5\r\n\" TOTP_AUTH\r\n12345678\r\n";
        let mut f = parse(input);
        assert_eq!(f.window_size(), 5);
        assert_eq!(f.mode(), Mode::Totp);
        assert_eq!(f.scratch_codes().collect::<Vec<_>>(), [12345678]);
        assert_eq!(text(&f), input);
        f.set_time_skew(Some(-2));
        assert_eq!(
            text(&f),
            "GEZDGNBVGY3TQOJQ\r\n\" TIME_SKEW -2\r\n\" WINDOW_SIZE 5\r\n\" TOTP_AUTH\r\n12345678\r\n"
        );
    }

    #[test]
    fn lookup_takes_the_first_matching_line_and_matches_whole_keys_only() {
        let f = parse("GEZDGNBVGY3TQOJQ\n\" WINDOW_SIZEX 9\n\" WINDOW_SIZE\t7\n\" WINDOW_SIZE 5\n");
        assert_eq!(f.window_size(), 7);
    }

    #[test]
    fn set_replaces_the_first_occurrence_and_drops_duplicates() {
        let mut f = parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n\" HOTP_COUNTER 4\n12345678\n\" HOTP_COUNTER 9\n");
        f.set_hotp_counter(Some(5));
        assert_eq!(
            text(&f),
            "GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n\" HOTP_COUNTER 5\n12345678\n"
        );
        assert_eq!(f.mode(), Mode::Hotp { counter: 5 });
    }

    #[test]
    fn new_keys_are_inserted_after_line_1_in_reverse_order_of_addition() {
        let mut f = SecretFile::new(decode_secret("GEZDGNBVGY3TQOJQ").unwrap()).unwrap();
        f.set_totp_auth(true);
        f.set_disallow_reuse(Some(vec![]));
        f.set_window_size(Some(3));
        f.set_rate_limit(Some(RateLimit {
            attempts: 3,
            interval: 30,
            timestamps: vec![],
        }));
        for code in [53341167, 70669089] {
            assert!(f.add_scratch_code(code));
        }
        assert_eq!(
            text(&f),
            "GEZDGNBVGY3TQOJQ\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n\
             53341167\n70669089\n"
        );
    }

    #[test]
    fn unknown_option_lines_are_preserved_on_rewrite() {
        let mut f = parse("GEZDGNBVGY3TQOJQ\n\" FUTURE_KEY some value\n\"comment\n\" TOTP_AUTH\n");
        f.set_time_skew(Some(1));
        f.set_resetting_time_skew(Some(vec![]));
        assert_eq!(
            text(&f),
            "GEZDGNBVGY3TQOJQ\n\" RESETTING_TIME_SKEW\n\" TIME_SKEW 1\n\" FUTURE_KEY some value\n\"comment\n\
             \" TOTP_AUTH\n"
        );
        assert_eq!(f.raw_value("FUTURE_KEY"), Some("some value"));
    }

    #[test]
    fn given_stray_line_then_later_scratch_codes_are_still_found_and_it_is_reported() {
        let mut f = parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n11111111\n1234567\n\n22222222\n");
        assert_eq!(f.scratch_codes().collect::<Vec<_>>(), [11111111, 22222222]);
        assert_eq!(f.warnings(), [Warning::StrayLine { line: 4 }]);
        assert!(f.remove_scratch_code(22222222));
        assert_eq!(text(&f), "GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n11111111\n1234567\n\n");
        assert!(!f.remove_scratch_code(22222222));
    }

    #[test]
    fn used_scratch_code_line_is_removed() {
        let mut f = SecretFile::parse(&fixture("hotp.ga")).unwrap();
        assert!(f.remove_scratch_code(99074196));
        assert_eq!(
            text(&f),
            "OOLN7ZMGMOJZHAYSH4UAOMUXLQ\n\" RATE_LIMIT 5 60\n\" WINDOW_SIZE 5\n\" HOTP_COUNTER 1\n81195014\n77635692\n"
        );
    }

    #[test]
    fn scratch_codes_are_8_digits_starting_1_to_9() {
        let f = parse("GEZDGNBVGY3TQOJQ\n01234567\n123456789\n1234567a\n 12345678\n99999999\n");
        assert_eq!(f.scratch_codes().collect::<Vec<_>>(), [12345678, 99999999]);
        assert_eq!(f.warnings().len(), 3);
    }

    #[test]
    fn modes_follow_hotp_counter_then_totp_auth() {
        assert_eq!(parse("GEZDGNBVGY3TQOJQ\n").mode(), Mode::ScratchOnly);
        assert_eq!(parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n").mode(), Mode::Totp);
        assert_eq!(
            parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n\" HOTP_COUNTER 0\n").mode(),
            Mode::Totp
        );
        assert_eq!(
            parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n\" HOTP_COUNTER 7\n").mode(),
            Mode::Hotp { counter: 7 }
        );
    }

    #[test]
    fn state_keys_parse_and_write_in_the_c_format() {
        let mut f = parse(
            "GEZDGNBVGY3TQOJQ\n\" RESETTING_TIME_SKEW 59862780+10 59862781-3\n\" TIME_SKEW -4\n\
             \" ALGORITHM SHA512\n\" DIGITS 8\n",
        );
        assert_eq!(
            f.resetting_time_skew(),
            [
                SkewEntry {
                    step: 59862780,
                    skew: 10
                },
                SkewEntry {
                    step: 59862781,
                    skew: -3
                }
            ]
        );
        assert_eq!(f.time_skew(), -4);
        assert_eq!(f.algorithm(), Algorithm::Sha512);
        assert_eq!(f.digits().get(), 8);
        f.set_resetting_time_skew(Some(vec![
            SkewEntry { step: 5, skew: 0 },
            SkewEntry { step: 6, skew: -1 },
        ]));
        assert!(text(&f).contains("\" RESETTING_TIME_SKEW 5+0 6-1\n"));
        assert!(f.set_last_login(3, LastLogin::new("host.example", 42)));
        assert!(text(&f).starts_with("GEZDGNBVGY3TQOJQ\n\" LAST3 host.example 42\n"));
        assert!(!f.set_last_login(10, None));
    }

    #[test]
    fn given_trailing_space_in_rate_limit_then_parse_fails_as_in_c() {
        let e = parse_err(b"GEZDGNBVGY3TQOJQ\n\" RATE_LIMIT 3 30 \n");
        assert!(
            matches!(
                e,
                ParseError::InvalidValue {
                    key: "RATE_LIMIT",
                    line: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse_err(b"GEZDGNBVGY3TQOJQ\n\" RATE_LIMIT 3 30 1795883844 \n");
        assert!(
            matches!(
                e,
                ParseError::InvalidValue {
                    key: "RATE_LIMIT",
                    ..
                }
            ),
            "{e:?}"
        );
        // Inner runs of white space are fine (strtoul skips them).
        assert_eq!(
            parse("GEZDGNBVGY3TQOJQ\n\" RATE_LIMIT 3\t 30  7\n")
                .rate_limit()
                .unwrap()
                .timestamps,
            [7]
        );
    }

    #[test]
    fn out_of_range_values_are_errors_naming_key_and_line() {
        let cases: [(&str, &str); 12] = [
            ("\" WINDOW_SIZE 0", "WINDOW_SIZE"),
            ("\" WINDOW_SIZE 101", "WINDOW_SIZE"),
            ("\" WINDOW_SIZE 3x", "WINDOW_SIZE"),
            ("\" STEP_SIZE 61", "STEP_SIZE"),
            ("\" STEP_SIZE", "STEP_SIZE"),
            ("\" RATE_LIMIT 0 30", "RATE_LIMIT"),
            ("\" RATE_LIMIT 3 3601", "RATE_LIMIT"),
            ("\" HOTP_COUNTER abc", "HOTP_COUNTER"),
            ("\" DIGITS 9", "DIGITS"),
            ("\" ALGORITHM MD5", "ALGORITHM"),
            ("\" LAST4 host", "LAST4"),
            ("\" RESETTING_TIME_SKEW 12", "RESETTING_TIME_SKEW"),
        ];
        for (line, key) in cases {
            let input = format!("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n{line}\n");
            match SecretFile::parse(input.as_bytes()) {
                Err(ParseError::InvalidValue { key: k, line: 3, .. }) => assert_eq!(k, key, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        // Trailing white space after a single number is allowed, as by the C checks.
        assert_eq!(parse("GEZDGNBVGY3TQOJQ\n\" WINDOW_SIZE 5 \t\n").window_size(), 5);
    }

    #[test]
    fn the_line_of_a_bad_value_counts_every_line_before_it_and_only_the_first_occurrence_counts() {
        // Scratch codes, a blank line and a stray line come before the option: all of them count.
        let input = "GEZDGNBVGY3TQOJQ\n12345678\n\nstray\n\" TOTP_AUTH\n\" WINDOW_SIZE 0\n\" WINDOW_SIZE 5\n";
        match SecretFile::parse(input.as_bytes()) {
            Err(ParseError::InvalidValue {
                key: "WINDOW_SIZE",
                line: 6,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // The first occurrence decides, as in google-authenticator: a bad second one is not looked at.
        let input = "GEZDGNBVGY3TQOJQ\n\" WINDOW_SIZE 5\n87654321\n\" WINDOW_SIZE 0\n";
        assert_eq!(parse(input).window_size(), 5);
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        assert_eq!(parse_err(b""), ParseError::Empty);
        assert_eq!(
            parse_err(b"\n"),
            ParseError::InvalidSecret {
                reason: SecretError::TooShort
            }
        );
        assert_eq!(
            parse_err(b"GEZDGNBVGY3TQOJQ\n1234\0\n"),
            ParseError::NulByte { line: 2 }
        );
        assert_eq!(
            parse_err(b"GEZDGNBVGY3TQOJQ\n\" \xff\n"),
            ParseError::NotUtf8 { line: 2 }
        );
        assert_eq!(
            parse_err(b"GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\rX\n"),
            ParseError::BareCarriageReturn { line: 2 }
        );
        assert_eq!(
            parse_err(b"\" TOTP_AUTH\n"),
            ParseError::InvalidSecret {
                reason: SecretError::InvalidCharacter { column: 1 }
            }
        );
        let huge = vec![b'A'; MAX_FILE_SIZE + 1];
        assert_eq!(
            parse_err(&huge),
            ParseError::TooLarge {
                size: MAX_FILE_SIZE + 1
            }
        );
        let mut long_line = b"GEZDGNBVGY3TQOJQ\n".to_vec();
        long_line.extend(std::iter::repeat_n(b'9', MAX_FILE_SIZE - 100));
        let f = SecretFile::parse(&long_line).unwrap();
        assert_eq!(f.warnings(), [Warning::StrayLine { line: 2 }]);
        assert_eq!(*f.to_bytes(), long_line);
        assert_eq!(
            parse_err(b"GEZDGNBVGY3TQOJQ\n\" HOTP_COUNTER 99999999999999999999999\n"),
            ParseError::InvalidValue {
                key: "HOTP_COUNTER",
                line: 2,
                expected: "a counter"
            }
        );
    }

    #[test]
    fn file_without_final_newline_round_trips_and_stays_without_one() {
        let mut f = parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n12345678");
        assert_eq!(text(&f), "GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n12345678");
        assert!(f.remove_scratch_code(12345678));
        assert_eq!(text(&f), "GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH");
        f.set_totp_auth(false);
        assert_eq!(text(&f), "GEZDGNBVGY3TQOJQ");
        f.set_window_size(Some(3));
        assert_eq!(text(&f), "GEZDGNBVGY3TQOJQ\n\" WINDOW_SIZE 3");
        assert_eq!(parse(&text(&f)), f);
    }

    #[test]
    fn errors_and_debug_never_show_the_secret_or_codes() {
        let f = parse("GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n53341167\n");
        let shown = format!("{f:?}");
        assert!(!shown.contains("GEZD") && !shown.contains("53341167"), "{shown}");
        let e = parse_err(b"GEZDGNBVGY3TQOJQ!\n").to_string();
        assert!(!e.contains("GEZD"), "{e}");
        let w = Warning::StrayLine { line: 4 }.to_string();
        assert!(w.contains("line 4"));
    }

    // ----- properties -----

    fn arb_key() -> impl Strategy<Value = SecretKey> {
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(SecretKey::new)
    }

    #[derive(Clone, Debug)]
    enum Op {
        Totp(bool),
        Hotp(Option<u64>),
        Step(Option<u32>),
        Window(Option<u32>),
        Reuse(Option<Vec<u64>>),
        Rate(Option<(u32, u32, Vec<u64>)>),
        Skew(Option<i64>),
        Resetting(Option<Vec<(u64, i64)>>),
        Last(usize, Option<(String, u64)>),
        Alg(Option<usize>),
        Digits(Option<u8>),
        AddScratch(u32),
        RemoveScratch(u32),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<bool>().prop_map(Op::Totp),
            proptest::option::of(any::<u64>()).prop_map(Op::Hotp),
            proptest::option::of(1u32..=60).prop_map(Op::Step),
            proptest::option::of(1u32..=100).prop_map(Op::Window),
            proptest::option::of(proptest::collection::vec(any::<u64>(), 0..4)).prop_map(Op::Reuse),
            proptest::option::of((
                1u32..=100,
                1u32..=3600,
                proptest::collection::vec(any::<u64>(), 0..4)
            ))
            .prop_map(Op::Rate),
            proptest::option::of(any::<i64>()).prop_map(Op::Skew),
            proptest::option::of(proptest::collection::vec((any::<u64>(), -5000i64..5000), 0..4))
                .prop_map(Op::Resetting),
            (
                0usize..10,
                proptest::option::of(("[a-z0-9.:]{1,20}", any::<u64>()))
            )
                .prop_map(|(s, e)| Op::Last(s, e)),
            proptest::option::of(0usize..3).prop_map(Op::Alg),
            proptest::option::of(6u8..=8).prop_map(Op::Digits),
            (10_000_000u32..=99_999_999).prop_map(Op::AddScratch),
            (10_000_000u32..=99_999_999).prop_map(Op::RemoveScratch),
        ]
    }

    fn apply(f: &mut SecretFile, op: Op) {
        match op {
            Op::Totp(b) => f.set_totp_auth(b),
            Op::Hotp(c) => f.set_hotp_counter(c),
            Op::Step(s) => assert!(f.set_step_size(s)),
            Op::Window(w) => assert!(f.set_window_size(w)),
            Op::Reuse(r) => f.set_disallow_reuse(r),
            Op::Rate(r) => assert!(
                f.set_rate_limit(r.map(|(attempts, interval, timestamps)| RateLimit {
                    attempts,
                    interval,
                    timestamps
                }))
            ),
            Op::Skew(s) => f.set_time_skew(s),
            Op::Resetting(r) => f.set_resetting_time_skew(r.map(|v| {
                v.into_iter()
                    .map(|(step, skew)| SkewEntry { step, skew })
                    .collect()
            })),
            Op::Last(slot, e) => {
                assert!(f.set_last_login(slot, e.map(|(h, t)| LastLogin::new(&h, t).unwrap())))
            }
            Op::Alg(a) => f.set_algorithm(a.map(|i| Algorithm::ALL[i])),
            Op::Digits(d) => f.set_digits(d.and_then(Digits::new)),
            Op::AddScratch(c) => assert!(f.add_scratch_code(c)),
            Op::RemoveScratch(c) => {
                f.remove_scratch_code(c);
            }
        }
    }

    fn arb_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Z2-7]{0,4}",
            "[1-9][0-9]{7}",
            "[0-9]{1,9}",
            "\" (TOTP_AUTH|DISALLOW_REUSE|FOO|HOTP_COUNTER 3|WINDOW_SIZE 17|RATE_LIMIT 3 30 5|TIME_SKEW -1)",
            "\" LAST[0-9] [a-z.]{1,8} [0-9]{1,5}",
            "[ \t]{0,2}",
            "\"[ -~]{0,12}",
            "[ -~]{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn parse_of_serialize_is_identity(key in arb_key(), crlf in any::<bool>(), ops in proptest::collection::vec(arb_op(), 0..24)) {
            let mut f = SecretFile::new(key).unwrap();
            if crlf {
                f.secret_eol = Eol::CrLf;
            }
            for op in ops {
                apply(&mut f, op);
            }
            let bytes = f.to_bytes();
            let back = SecretFile::parse(&bytes).unwrap();
            prop_assert_eq!(&back, &f);
            prop_assert_eq!(back.to_bytes(), bytes);
        }

        #[test]
        fn any_parseable_text_serializes_back_byte_for_byte(
            lines in proptest::collection::vec((arb_line(), 0u8..3), 0..12),
        ) {
            let mut input = String::from("GEZDGNBVGY3TQOJQ\n");
            for (line, eol) in lines {
                input.push_str(&line);
                input.push_str(["\n", "\r\n", ""][usize::from(eol)]);
            }
            if let Ok(f) = SecretFile::parse(input.as_bytes()) {
                prop_assert_eq!(String::from_utf8(f.to_bytes().to_vec()).unwrap(), input);
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SecretFile::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_near_valid_text(body in "[\" A-Z_0-9+\\-\t\r\n]{0,200}") {
            let input = format!("GEZDGNBVGY3TQOJQ\n{body}");
            if let Ok(mut f) = SecretFile::parse(input.as_bytes()) {
                f.set_hotp_counter(Some(2));
                f.set_rate_limit(None);
                let _ = SecretFile::parse(&f.to_bytes()).unwrap();
            }
        }
    }
}
