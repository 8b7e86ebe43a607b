//! The pam-totpd request/reply format (docs/pamd-protocol.md) and the module side's blocking client.
//!
//! This module owns the wire format: pam-totpd encodes and decodes with the same types, so the two ends cannot
//! drift. It is std-only on purpose (it runs inside sshd): one blocking `UnixStream`, a deadline for the whole
//! exchange, no threads, no TLS, no database client. It never decides anything: every transport or format
//! problem becomes [`Reply::Unavailable`], which the caller must treat as a failure (fail closed).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Version byte of the bodies of the first kinds (probe, verify and their replies).
pub const VERSION: u8 = 1;
/// Version byte of the kinds added for enrollment (`T`, `S` requests; `K`, `L` replies): a daemon that only
/// knows version 1 answers them `unavailable` instead of misreading them.
pub const VERSION_2: u8 = 2;
/// Largest body either side sends or accepts, in bytes (a status list of many tokens needs more than 1024).
pub const MAX_BODY: usize = 4096;
/// Where pam-totpd listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/pam-totpd/socket";

/// What a client asks.
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// Is `user` enrolled? (Used for `nullok`: a disabled or locked user counts as enrolled.)
    Probe {
        /// Login name.
        user: String,
    },
    /// Check `code` for `user` and, when accepted, record its use fleet-wide.
    Verify {
        /// Login name.
        user: String,
        /// What the user typed (6-8 digits for a TOTP/HOTP code, 8 for a scratch code).
        code: String,
        /// PAM_RHOST, empty when unknown; the database throttles per (user, rhost).
        rhost: String,
        /// PAM_SERVICE, for the audit log.
        service: String,
    },
    /// Add a token for `user` (version 2). The database checks `confirm` against the new secret and, when the
    /// user already has an active token, `current` against it.
    Enroll(Box<Enrollment>),
    /// The user's tokens and scratch codes left, never a secret (version 2).
    Status {
        /// Login name.
        user: String,
    },
}

/// A new token, as `totp-enroll --store pamd` sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// Login name.
    pub user: String,
    /// The token's name (1-64 bytes, no control characters), unique per user.
    pub label: String,
    /// The new secret, base32 (10-128 bytes once decoded).
    pub secret_b32: String,
    /// `totp` or `hotp`.
    pub kind: String,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// 6-8.
    pub digits: u32,
    /// TOTP step in seconds, 1-86400 (30 for HOTP, unused).
    pub period: u32,
    /// Codes valid at once, 1-21.
    pub window: u32,
    /// A code of the new token from the app.
    pub confirm: String,
    /// A current code of an active token the user already has (empty for the first token).
    pub current: String,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("user", &self.user)
            .field("label", &self.label)
            .field("kind", &self.kind)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// One token in a status reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its name.
    pub label: String,
    /// `totp` or `hotp`.
    pub kind: String,
    /// Neither the token nor the user is disabled.
    pub active: bool,
    /// When it was added (Unix seconds).
    pub created: i64,
    /// When a code of it was last accepted (Unix seconds), if ever.
    pub last_used: Option<i64>,
}

/// Scratch codes on their way to the user: shown once; `Debug` prints only how many there are.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ScratchCodes(pub Vec<String>);

impl fmt::Debug for ScratchCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} scratch codes>", self.0.len())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Probe { user } => f.debug_struct("Probe").field("user", user).finish(),
            Request::Verify {
                user, rhost, service, ..
            } => f
                .debug_struct("Verify")
                .field("user", user)
                .field("code", &"<redacted>")
                .field("rhost", rhost)
                .field("service", service)
                .finish(),
            Request::Enroll(e) => f.debug_tuple("Enroll").field(e).finish(),
            Request::Status { user } => f.debug_struct("Status").field("user", user).finish(),
        }
    }
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Probe only: the user has an account in the database.
    Enrolled,
    /// The user is not enrolled (probe or verify).
    NotEnrolled,
    /// The code was accepted and its use recorded. `via` is `totp`, `hotp` or `scratch`.
    Accepted {
        /// Which kind of code matched.
        via: String,
        /// Unused scratch codes left.
        scratch_left: u32,
    },
    /// The code was refused: `wrong-code`, `replayed`, `rate-limited`, `locked`, `disabled`, `not-allowed`
    /// (the peer may not ask for this user) or `state-not-saved`.
    Refused {
        /// Why, for the log.
        reason: String,
        /// Seconds after which trying again may help (0: no hint).
        retry_after: u32,
    },
    /// No verdict: the daemon or the database could not be reached or answered out of time. Fail closed.
    Unavailable {
        /// Why, for the log (never contains a code).
        reason: String,
    },
    /// Enroll: the token was added. `scratch_codes` are the user's new scratch codes (first token only;
    /// empty when the user keeps the ones they have).
    Added {
        /// To show the user once; the database keeps only their hashes.
        scratch_codes: ScratchCodes,
    },
    /// Status: the user's tokens, in label order.
    Tokens {
        /// Unused scratch codes left.
        scratch_left: u32,
        /// Every token, active or not.
        tokens: Vec<TokenInfo>,
    },
}

/// A body that does not follow the format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError(pub &'static str);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed pam-totpd message: {}", self.0)
    }
}

impl std::error::Error for FormatError {}

/// The version byte a body of `kind` carries: the kinds added for enrollment are version 2.
fn version_of(kind: u8) -> u8 {
    match kind {
        b'T' | b'S' | b'K' | b'L' => VERSION_2,
        _ => VERSION,
    }
}

/// Builds a body: version, kind, then each field as one length byte and its bytes.
fn encode(kind: u8, fields: &[&str]) -> Result<Vec<u8>, FormatError> {
    let mut body = vec![version_of(kind), kind];
    for field in fields {
        let len = u8::try_from(field.len()).map_err(|_| FormatError("field longer than 255 bytes"))?;
        body.push(len);
        body.extend_from_slice(field.as_bytes());
    }
    Ok(body)
}

/// Splits a body into its kind and exactly `count` UTF-8 fields.
fn decode(body: &[u8], count: usize) -> Result<(u8, Vec<String>), FormatError> {
    decode_where(body, |n| n == count)
}

/// Splits a body into its kind and its UTF-8 fields, whose number must satisfy `count_ok`.
fn decode_where(body: &[u8], count_ok: impl Fn(usize) -> bool) -> Result<(u8, Vec<String>), FormatError> {
    let (&version, rest) = body.split_first().ok_or(FormatError("empty body"))?;
    let (&kind, mut rest) = rest.split_first().ok_or(FormatError("no kind"))?;
    if version != version_of(kind) {
        return Err(FormatError("unknown version"));
    }
    let mut fields = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let (field, tail) = tail
            .split_at_checked(usize::from(len))
            .ok_or(FormatError("truncated field"))?;
        let field = std::str::from_utf8(field).map_err(|_| FormatError("field is not UTF-8"))?;
        fields.push(field.to_owned());
        rest = tail;
    }
    if !count_ok(fields.len()) {
        return Err(FormatError("wrong number of fields"));
    }
    Ok((kind, fields))
}

fn number(field: &str) -> Result<u32, FormatError> {
    field.parse().map_err(|_| FormatError("not a decimal number"))
}

/// The kind byte a request body starts with (after the version), or None for a body too short to say.
pub fn request_kind(body: &[u8]) -> Option<u8> {
    body.get(1).copied()
}

impl Request {
    /// The body for this request.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        match self {
            Request::Probe { user } => encode(b'P', &[user]),
            Request::Verify {
                user,
                code,
                rhost,
                service,
            } => encode(b'V', &[user, code, rhost, service]),
            Request::Enroll(e) => encode(
                b'T',
                &[
                    &e.user,
                    &e.label,
                    &e.secret_b32,
                    &e.kind,
                    &e.algorithm,
                    &e.digits.to_string(),
                    &e.period.to_string(),
                    &e.window.to_string(),
                    &e.confirm,
                    &e.current,
                ],
            ),
            Request::Status { user } => encode(b'S', &[user]),
        }
    }

    /// Parses a request body.
    pub fn decode(body: &[u8]) -> Result<Request, FormatError> {
        let count = match request_kind(body) {
            Some(b'P' | b'S') => 1,
            Some(b'V') => 4,
            Some(b'T') => 10,
            _ => return Err(FormatError("unknown request kind")),
        };
        let (kind, fields) = decode(body, count)?;
        let mut fields = fields.into_iter();
        let mut next = || fields.next().unwrap_or_default();
        Ok(match kind {
            b'P' => Request::Probe { user: next() },
            b'S' => Request::Status { user: next() },
            b'T' => {
                let (user, label, secret_b32, kind, algorithm) = (next(), next(), next(), next(), next());
                let (digits, period, window) = (number(&next())?, number(&next())?, number(&next())?);
                let enrollment = Enrollment {
                    user,
                    label,
                    secret_b32,
                    kind,
                    algorithm,
                    digits,
                    period,
                    window,
                    confirm: next(),
                    current: next(),
                };
                enrollment.check()?;
                Request::Enroll(Box::new(enrollment))
            }
            _ => Request::Verify {
                user: next(),
                code: next(),
                rhost: next(),
                service: next(),
            },
        })
    }

    /// The user the request is about (whom the peer must be, unless root).
    pub fn user(&self) -> &str {
        match self {
            Request::Probe { user } | Request::Verify { user, .. } | Request::Status { user } => user,
            Request::Enroll(e) => &e.user,
        }
    }
}

impl Enrollment {
    /// The parameters are ones the database stores (so a bad one is a format error, not a database error).
    pub fn check(&self) -> Result<(), FormatError> {
        let label_ok =
            !self.label.is_empty() && self.label.len() <= 64 && !self.label.chars().any(char::is_control);
        if !label_ok {
            return Err(FormatError("label must be 1-64 bytes without control characters"));
        }
        if !matches!(self.kind.as_str(), "totp" | "hotp")
            || !matches!(self.algorithm.as_str(), "SHA1" | "SHA256" | "SHA512")
        {
            return Err(FormatError("unknown token kind or algorithm"));
        }
        if !(6..=8).contains(&self.digits)
            || !(1..=86_400).contains(&self.period)
            || !(1..=21).contains(&self.window)
        {
            return Err(FormatError("digits, period or window out of range"));
        }
        Ok(())
    }
}

impl TokenInfo {
    fn fields(&self) -> [String; 5] {
        [
            self.label.clone(),
            self.kind.clone(),
            if self.active { "1" } else { "0" }.to_owned(),
            self.created.to_string(),
            self.last_used.map(|t| t.to_string()).unwrap_or_default(),
        ]
    }

    fn from_fields(f: &[String]) -> Result<TokenInfo, FormatError> {
        let [label, kind, active, created, last_used] = f else {
            return Err(FormatError("wrong number of fields"));
        };
        let time = |t: &str| t.parse::<i64>().map_err(|_| FormatError("not a decimal number"));
        Ok(TokenInfo {
            label: label.clone(),
            kind: kind.clone(),
            active: match active.as_str() {
                "1" => true,
                "0" => false,
                _ => return Err(FormatError("active is neither 0 nor 1")),
            },
            created: time(created)?,
            last_used: if last_used.is_empty() {
                None
            } else {
                Some(time(last_used)?)
            },
        })
    }
}

impl Reply {
    /// The body for this reply.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        match self {
            Reply::Enrolled => encode(b'E', &[]),
            Reply::NotEnrolled => encode(b'N', &[]),
            Reply::Accepted { via, scratch_left } => encode(b'A', &[via, &scratch_left.to_string()]),
            Reply::Refused { reason, retry_after } => encode(b'R', &[reason, &retry_after.to_string()]),
            Reply::Unavailable { reason } => encode(b'U', &[reason]),
            Reply::Added { scratch_codes } => {
                let codes: Vec<&str> = scratch_codes.0.iter().map(String::as_str).collect();
                encode(b'K', &codes)
            }
            Reply::Tokens { scratch_left, tokens } => {
                let mut fields = vec![scratch_left.to_string()];
                fields.extend(tokens.iter().flat_map(TokenInfo::fields));
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                encode(b'L', &fields)
            }
        }
    }

    /// Parses a reply body.
    pub fn decode(body: &[u8]) -> Result<Reply, FormatError> {
        match body.get(1) {
            Some(b'K') => {
                let (_, codes) = decode_where(body, |n| n <= 20)?;
                return Ok(Reply::Added {
                    scratch_codes: ScratchCodes(codes),
                });
            }
            Some(b'L') => {
                let (_, fields) = decode_where(body, |n| n % 5 == 1)?;
                let (left, tokens) = fields
                    .split_first()
                    .ok_or(FormatError("wrong number of fields"))?;
                return Ok(Reply::Tokens {
                    scratch_left: number(left)?,
                    tokens: tokens
                        .chunks(5)
                        .map(TokenInfo::from_fields)
                        .collect::<Result<_, _>>()?,
                });
            }
            _ => {}
        }
        let count = match body.get(1) {
            Some(b'E' | b'N') => 0,
            Some(b'A' | b'R') => 2,
            Some(b'U') => 1,
            _ => return Err(FormatError("unknown reply kind")),
        };
        let (kind, fields) = decode(body, count)?;
        let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
        Ok(match kind {
            b'E' => Reply::Enrolled,
            b'N' => Reply::NotEnrolled,
            b'A' => Reply::Accepted {
                via: field(0),
                scratch_left: number(&field(1))?,
            },
            b'R' => Reply::Refused {
                reason: field(0),
                retry_after: number(&field(1))?,
            },
            _ => Reply::Unavailable { reason: field(0) },
        })
    }

    /// An `Unavailable` reply with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Reply {
        Reply::Unavailable {
            reason: reason.into(),
        }
    }
}

/// Writes one frame: the body's length as 4 bytes big-endian, then the body.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    if body.is_empty() || body.len() > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame body size out of range",
        ));
    }
    let len = u32::try_from(body.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(body);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame's body; `Ok(None)` on a clean end of stream before the first length byte.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        let n = r.read(len.get_mut(got..).unwrap_or_default())?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame body size out of range",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Sends `request` to the daemon at `socket` and waits for its reply, all within `timeout`. Never fails:
/// a problem of any kind is `Reply::Unavailable` with a reason for the log.
pub fn ask(socket: &Path, request: &Request, timeout: Duration) -> Reply {
    exchange(socket, request, timeout)
        .unwrap_or_else(|e| Reply::unavailable(format!("pam-totpd at {}: {e}", socket.display())))
}

fn exchange(socket: &Path, request: &Request, timeout: Duration) -> io::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let body = request
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // Not UnixStream::connect: it blocks for as long as a hung daemon's backlog stays full.
    let mut stream = pam_ffi::unixsock::connect_within(socket, remaining(deadline)?)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    write_frame(&mut stream, &body)?;
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    let mut reader = DeadlineReader {
        stream: &stream,
        deadline,
    };
    let reply = read_frame(&mut reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    Reply::decode(&reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Time left before `deadline`, or a timeout error once it has passed.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}

/// Reads with the socket timeout shrunk to what is left, so a peer trickling bytes cannot stretch the deadline.
struct DeadlineReader<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(remaining(self.deadline)?))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::thread;

    fn verify() -> Request {
        Request::Verify {
            user: "alice".into(),
            code: "123456".into(),
            rhost: "192.0.2.7".into(),
            service: "sshd".into(),
        }
    }

    #[test]
    fn every_request_and_reply_round_trips() {
        for request in [Request::Probe { user: "alice".into() }, verify()] {
            assert_eq!(Request::decode(&request.encode().unwrap()).unwrap(), request);
        }
        for reply in [
            Reply::Enrolled,
            Reply::NotEnrolled,
            Reply::Accepted {
                via: "scratch".into(),
                scratch_left: 4,
            },
            Reply::Refused {
                reason: "rate-limited".into(),
                retry_after: 20,
            },
            Reply::unavailable("database down"),
        ] {
            assert_eq!(Reply::decode(&reply.encode().unwrap()).unwrap(), reply);
        }
    }

    fn enrollment() -> Enrollment {
        Enrollment {
            user: "alice".into(),
            label: "phone".into(),
            secret_b32: "JBSWY3DPEHPK3PXP".into(),
            kind: "totp".into(),
            algorithm: "SHA1".into(),
            digits: 6,
            period: 30,
            window: 3,
            confirm: "123456".into(),
            current: "654321".into(),
        }
    }

    #[test]
    fn enrollment_requests_and_their_replies_round_trip_as_version_2() {
        let enroll = Request::Enroll(Box::new(enrollment()));
        let body = enroll.encode().unwrap();
        assert_eq!((body[0], body[1]), (VERSION_2, b'T'));
        assert_eq!(Request::decode(&body).unwrap(), enroll);
        let status = Request::Status { user: "alice".into() };
        assert_eq!(status.encode().unwrap(), b"\x02S\x05alice");
        assert_eq!(Request::decode(&status.encode().unwrap()).unwrap(), status);
        for reply in [
            Reply::Added {
                scratch_codes: ScratchCodes(vec!["12345678".into(), "87654321".into()]),
            },
            Reply::Added {
                scratch_codes: ScratchCodes::default(),
            },
            Reply::Tokens {
                scratch_left: 4,
                tokens: vec![
                    TokenInfo {
                        label: "phone".into(),
                        kind: "totp".into(),
                        active: true,
                        created: 1_700_000_000,
                        last_used: Some(1_700_000_100),
                    },
                    TokenInfo {
                        label: "fob".into(),
                        kind: "hotp".into(),
                        active: false,
                        created: 1_700_000_000,
                        last_used: None,
                    },
                ],
            },
        ] {
            let body = reply.encode().unwrap();
            assert_eq!(body[0], VERSION_2);
            assert_eq!(Reply::decode(&body).unwrap(), reply);
        }
    }

    #[test]
    fn a_version_2_kind_with_version_1_is_malformed_and_so_is_the_reverse() {
        assert!(Request::decode(b"\x01S\x05alice").is_err());
        assert!(Request::decode(b"\x02P\x05alice").is_err());
        assert!(Reply::decode(b"\x01K").is_err());
        assert!(Reply::decode(b"\x02L\x011\x05phone").is_err(), "a partial token");
    }

    #[test]
    fn an_enrollment_with_parameters_the_database_refuses_is_malformed() {
        for change in [
            |e: &mut Enrollment| e.label = String::new(),
            |e: &mut Enrollment| e.label = "x".repeat(65),
            |e: &mut Enrollment| e.label = "a\nb".into(),
            |e: &mut Enrollment| e.kind = "sms".into(),
            |e: &mut Enrollment| e.algorithm = "MD5".into(),
            |e: &mut Enrollment| e.digits = 9,
            |e: &mut Enrollment| e.period = 0,
            |e: &mut Enrollment| e.window = 22,
        ] {
            let mut e = enrollment();
            change(&mut e);
            let body = Request::Enroll(Box::new(e)).encode().unwrap();
            assert!(Request::decode(&body).is_err());
        }
    }

    #[test]
    fn secrets_codes_and_scratch_codes_never_appear_in_debug_output() {
        let text = format!("{:?}", Request::Enroll(Box::new(enrollment())));
        for secret in ["JBSWY3DPEHPK3PXP", "123456", "654321"] {
            assert!(!text.contains(secret), "{text}");
        }
        let added = Reply::Added {
            scratch_codes: ScratchCodes(vec!["12345678".into()]),
        };
        assert!(!format!("{added:?}").contains("12345678"));
    }

    #[test]
    fn the_documented_bytes_of_a_probe() {
        assert_eq!(
            Request::Probe { user: "bob".into() }.encode().unwrap(),
            b"\x01P\x03bob"
        );
        let mut frame = Vec::new();
        write_frame(&mut frame, b"\x01N").unwrap();
        assert_eq!(frame, b"\x00\x00\x00\x02\x01N");
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        assert!(Request::decode(b"").is_err());
        assert!(Request::decode(b"\x02P\x03bob").is_err(), "unknown version");
        assert!(Request::decode(b"\x01P\x04bob").is_err(), "truncated field");
        assert!(Request::decode(b"\x01P\x03bob\x01x").is_err(), "extra field");
        assert!(Request::decode(b"\x01V\x03bob").is_err(), "missing fields");
        assert!(Request::decode(b"\x01X").is_err(), "unknown kind");
        assert!(Reply::decode(b"\x01A\x04totp\x02-1").is_err(), "negative count");
        assert!(
            Reply::decode(b"\x01P\x03bob").is_err(),
            "a request is not a reply"
        );
    }

    #[test]
    fn oversized_fields_and_frames_are_refused() {
        assert!(Request::Probe {
            user: "x".repeat(256)
        }
        .encode()
        .is_err());
        let mut frame = Vec::new();
        assert!(write_frame(&mut frame, &vec![1; MAX_BODY + 1]).is_err());
        assert!(read_frame(&mut &b"\x00\x00\x04\x01"[..]).is_err());
        assert!(read_frame(&mut &b"\x00\x00"[..]).is_err(), "truncated length");
        assert_eq!(read_frame(&mut &b""[..]).unwrap(), None);
    }

    #[test]
    fn a_code_never_appears_in_debug_output() {
        assert!(!format!("{:?}", verify()).contains("123456"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = Request::decode(&bytes);
            let _ = Reply::decode(&bytes);
            let _ = read_frame(&mut &bytes[..]);
        }

        #[test]
        fn any_short_fields_round_trip(user in ".{0,60}", code in "[0-9]{0,8}", rhost in ".{0,60}", n in 0u32..) {
            let request = Request::Verify { user: user.clone(), code, rhost: rhost.clone(), service: "sshd".into() };
            let mut frame = Vec::new();
            write_frame(&mut frame, &request.encode().unwrap()).unwrap();
            let body = read_frame(&mut &frame[..]).unwrap().unwrap();
            proptest::prop_assert_eq!(Request::decode(&body).unwrap(), request);
            let reply = Reply::Refused { reason: rhost, retry_after: n };
            proptest::prop_assert_eq!(Reply::decode(&reply.encode().unwrap()).unwrap(), reply);
        }
    }

    /// A one-shot server on a temporary socket: reads one request, hands it to `answer`, writes what it returns.
    fn serve(
        answer: impl FnOnce(Request) -> Option<Vec<u8>> + Send + 'static,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let body = read_frame(&mut stream).unwrap().unwrap();
            if let Some(reply) = answer(Request::decode(&body).unwrap()) {
                write_frame(&mut stream, &reply).unwrap();
            }
            thread::sleep(Duration::from_secs(2));
        });
        (dir, path)
    }

    #[test]
    fn ask_returns_the_servers_reply() {
        let (_dir, path) = serve(|request| {
            assert_eq!(request, verify());
            Some(
                Reply::Accepted {
                    via: "totp".into(),
                    scratch_left: 5,
                }
                .encode()
                .unwrap(),
            )
        });
        assert_eq!(
            ask(&path, &verify(), Duration::from_secs(3)),
            Reply::Accepted {
                via: "totp".into(),
                scratch_left: 5
            }
        );
    }

    #[test]
    fn a_silent_server_is_unavailable_within_the_deadline() {
        let (_dir, path) = serve(|_| None);
        let start = Instant::now();
        let reply = ask(&path, &verify(), Duration::from_millis(300));
        assert!(matches!(reply, Reply::Unavailable { .. }), "{reply:?}");
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_garbled_reply_is_unavailable_never_accepted() {
        let (_dir, path) = serve(|_| Some(b"\x01A\x04totp".to_vec()));
        assert!(matches!(
            ask(&path, &verify(), Duration::from_secs(3)),
            Reply::Unavailable { .. }
        ));
    }

    #[test]
    fn no_daemon_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let reply = ask(&dir.path().join("missing"), &verify(), Duration::from_secs(1));
        assert!(
            matches!(reply, Reply::Unavailable { ref reason } if reason.contains("missing")),
            "{reply:?}"
        );
    }
}
