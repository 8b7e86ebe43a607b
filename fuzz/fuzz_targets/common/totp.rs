//! Input types shared by the structured pam_totp targets (`totp_verify`, `totp_module`), included with
//! `#[path]` (a fuzz target is one binary; there is no library crate in this workspace).
//!
//! A secret file is a base (one of the committed google-authenticator fixtures, or raw bytes) with option
//! lines inserted after line 1, where they win over the base's own (the first occurrence of a key counts).
//! Codes are raw text or "the right code" for a TOTP step, an HOTP counter or a scratch code of the parsed
//! file, so that the fuzzer reaches acceptance, replay, skew learning and the grace period, not only refusals.

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use pam_totp::otp::format_code;
use pam_totp::secret_file::SecretFile;

/// The committed fixtures (made by the real google-authenticator CLI).
pub const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../../tests/fixtures/google-authenticator/hotp.ga"),
    include_bytes!("../../../tests/fixtures/google-authenticator/totp-disallow-reuse-ratelimit.ga"),
    include_bytes!("../../../tests/fixtures/google-authenticator/totp-no-scratch.ga"),
    include_bytes!("../../../tests/fixtures/google-authenticator/totp-step60.ga"),
    include_bytes!("../../../tests/fixtures/google-authenticator/totp-window17.ga"),
];

#[derive(Arbitrary, Debug, Clone)]
pub enum Base {
    Fixture(u8),
    Raw(Vec<u8>),
}

/// One option line, inserted after line 1.
#[derive(Arbitrary, Debug, Clone)]
pub enum Extra {
    TotpAuth,
    HotpCounter(u64),
    StepSize(u8),
    WindowSize(u8),
    DisallowReuse(Vec<u64>),
    /// Steps relative to now's step (so that they matter).
    DisallowReuseNear(Vec<i8>),
    RateLimit(u8, u16, Vec<u64>),
    /// Timestamps relative to now.
    RateLimitNear(u8, u16, Vec<i16>),
    TimeSkew(i64),
    ResettingTimeSkew(Vec<(u64, i64)>),
    /// Entries relative to now's step, with a skew: what skew learning leaves behind.
    ResettingTimeSkewNear(Vec<(i8, i64)>),
    Last(u8, String, u64),
    /// A host that passed `ago` seconds before now.
    LastNear(u8, String, u16),
    Algorithm(u8),
    Digits(u8),
    Scratch(u32),
    Line(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct FileSpec {
    pub base: Base,
    pub extra: Vec<Extra>,
    /// CR LF instead of LF for inserted lines.
    pub crlf: bool,
}

impl FileSpec {
    /// The file bytes for the time `now` (30-second steps assumed for the "near" entries).
    pub fn bytes(&self, now: u64) -> Vec<u8> {
        let base: Vec<u8> = match &self.base {
            Base::Fixture(i) => FIXTURES[usize::from(*i) % FIXTURES.len()].to_vec(),
            Base::Raw(b) => b.clone(),
        };
        let eol: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let split = base.iter().position(|&b| b == b'\n').map_or(base.len(), |i| i + 1);
        let (head, tail) = base.split_at(split);
        let mut out = head.to_vec();
        if !out.ends_with(b"\n") && !self.extra.is_empty() {
            out.extend_from_slice(eol);
        }
        let step = now / 30;
        let near = |d: i64, base: u64| base.saturating_add_signed(d);
        let list = |v: &mut String, items: &[u64]| {
            for i in items {
                v.push(' ');
                v.push_str(&i.to_string());
            }
        };
        for e in &self.extra {
            let line = match e {
                Extra::TotpAuth => "\" TOTP_AUTH".to_owned(),
                Extra::HotpCounter(c) => format!("\" HOTP_COUNTER {c}"),
                Extra::StepSize(s) => format!("\" STEP_SIZE {s}"),
                Extra::WindowSize(w) => format!("\" WINDOW_SIZE {w}"),
                Extra::DisallowReuse(v) => {
                    let mut s = "\" DISALLOW_REUSE".to_owned();
                    list(&mut s, v);
                    s
                }
                Extra::DisallowReuseNear(v) => {
                    let mut s = "\" DISALLOW_REUSE".to_owned();
                    let v: Vec<u64> = v.iter().map(|d| near(i64::from(*d), step)).collect();
                    list(&mut s, &v);
                    s
                }
                Extra::RateLimit(n, m, ts) => {
                    let mut s = format!("\" RATE_LIMIT {n} {m}");
                    list(&mut s, ts);
                    s
                }
                Extra::RateLimitNear(n, m, ts) => {
                    let mut s = format!("\" RATE_LIMIT {n} {m}");
                    let ts: Vec<u64> = ts.iter().map(|d| near(i64::from(*d), now)).collect();
                    list(&mut s, &ts);
                    s
                }
                Extra::TimeSkew(s) => format!("\" TIME_SKEW {s}"),
                Extra::ResettingTimeSkew(v) => {
                    let mut s = "\" RESETTING_TIME_SKEW".to_owned();
                    for (st, sk) in v {
                        s.push_str(&format!(" {st}{sk:+}"));
                    }
                    s
                }
                Extra::ResettingTimeSkewNear(v) => {
                    let mut s = "\" RESETTING_TIME_SKEW".to_owned();
                    for (d, sk) in v {
                        s.push_str(&format!(" {}{sk:+}", near(i64::from(*d), step)));
                    }
                    s
                }
                Extra::Last(slot, host, t) => format!("\" LAST{} {host} {t}", slot % 10),
                Extra::LastNear(slot, host, ago) => {
                    format!("\" LAST{} {host} {}", slot % 10, now.saturating_sub(u64::from(*ago)))
                }
                Extra::Algorithm(a) => ["SHA1", "SHA256", "SHA512", "MD5"][usize::from(*a) % 4].to_owned(),
                Extra::Digits(d) => format!("\" DIGITS {d}"),
                Extra::Scratch(c) => c.to_string(),
                Extra::Line(l) => l.clone(),
            };
            let line = match e {
                Extra::Algorithm(_) => format!("\" ALGORITHM {line}"),
                _ => line,
            };
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(tail);
        out
    }
}

/// What the user types (or what PAM_AUTHTOK holds).
#[derive(Arbitrary, Debug, Clone)]
pub enum CodeSpec {
    Raw(String),
    /// The TOTP code for now's step (with the file's skew) plus `offset` steps.
    Totp(i16),
    /// The HOTP code for the file's counter plus `delta`.
    Hotp(u8),
    /// The n-th scratch code of the file.
    Scratch(u8),
}

impl CodeSpec {
    /// The text for this spec against `file` at `now` (`None`: raw text, or the file has no such code).
    pub fn text(&self, file: Option<&SecretFile>, now: u64) -> String {
        let computed = file.and_then(|f| {
            let otp = f.otp().ok()?;
            let code = match self {
                CodeSpec::Raw(_) => return None,
                CodeSpec::Totp(offset) => {
                    let step = i128::from(now / f.step_size()) + i128::from(f.time_skew()) + i128::from(*offset);
                    otp.hotp(u64::try_from(step).ok()?)
                }
                CodeSpec::Hotp(delta) => otp.hotp(f.hotp_counter()?.checked_add(u64::from(*delta))?),
                CodeSpec::Scratch(n) => {
                    let codes: Vec<u32> = f.scratch_codes().collect();
                    return codes
                        .get(usize::from(*n) % codes.len().max(1))
                        .map(|c| c.to_string());
                }
            };
            Some(format_code(code, f.digits()).to_string())
        });
        match (self, computed) {
            (CodeSpec::Raw(s), _) => s.clone(),
            (_, Some(c)) => c,
            (_, None) => "000000".to_owned(),
        }
    }
}

/// Module arguments for `Options::parse` (the `secret=` path is the module target's business).
#[derive(Arbitrary, Debug, Clone)]
pub enum Arg {
    Flag(u8),
    GracePeriod(u64),
    AllowedPerm(u16),
    AuthtokPrompt(String),
    UserUid(u32),
    UserName(String),
    Raw(String),
}

pub const FLAGS: &[&str] = &[
    "no_strict_owner",
    "debug",
    "try_first_pass",
    "use_first_pass",
    "forward_pass",
    "noskewadj",
    "no_increment_hotp",
    "nullok",
    "echo_verification_code",
    "echo-verification-code",
    "allow_readonly",
];

impl Arg {
    pub fn text(&self) -> String {
        match self {
            Arg::Flag(i) => FLAGS[usize::from(*i) % FLAGS.len()].to_owned(),
            Arg::GracePeriod(s) => format!("grace_period={s}"),
            Arg::AllowedPerm(p) => format!("allowed_perm=0{p:o}"),
            Arg::AuthtokPrompt(p) => format!("authtok_prompt={p}"),
            Arg::UserUid(u) => format!("user={u}"),
            Arg::UserName(n) => format!("user={n}"),
            Arg::Raw(r) => r.clone(),
        }
    }
}
