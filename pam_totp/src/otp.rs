//! One-time password arithmetic: HOTP (RFC 4226) and TOTP (RFC 6238) over HMAC-SHA-1/256/512, 6 to 8 digits,
//! any period, and the constant-time comparison of a candidate code with a computed one.
//!
//! This module owns the shared-secret type ([`SecretKey`], zeroized on drop, redacted in `Debug`) and nothing
//! else: it knows no file format, no window or skew policy (that is `verify`) and does no I/O. It uses the
//! RustCrypto `hmac`/`sha1`/`sha2` crates directly rather than totp-rs, because totp-rs has no counter (HOTP)
//! API and hands codes back as `String`s; the arithmetic on top of HMAC is the few lines of RFC 4226 §5.3.

use std::fmt;
use std::num::NonZeroU64;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// The HMAC hash function (`" ALGORITHM"` in the secret file; SHA-1 when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC-SHA-1, the google-authenticator default and the only one every phone app honours.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// Every algorithm, in the order of the file format's documentation.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

    /// The name used in the secret file and in otpauth URIs (`SHA1`, `SHA256`, `SHA512`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Parses a name as written by [`Algorithm::name`] (exact, upper case).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of decimal digits in a code: 6, 7 or 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, the google-authenticator default.
    pub const SIX: Digits = Digits(6);
    /// Smallest accepted length.
    pub const MIN: u8 = 6;
    /// Largest accepted length.
    pub const MAX: u8 = 8;

    /// `Some` for 6, 7 or 8.
    pub fn new(n: u8) -> Option<Digits> {
        (Digits::MIN..=Digits::MAX).contains(&n).then_some(Digits(n))
    }

    /// The number of digits.
    pub fn get(self) -> u8 {
        self.0
    }

    /// `10^digits`, the modulus of RFC 4226's truncation.
    fn modulus(self) -> u32 {
        10u32.pow(u32::from(self.0))
    }
}

impl Default for Digits {
    fn default() -> Self {
        Digits::SIX
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The shared HMAC key. Zeroized on drop; `Debug` prints only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl SecretKey {
    /// Takes ownership of the key bytes (moving a `Vec` does not copy its heap buffer).
    pub fn new(bytes: Vec<u8>) -> SecretKey {
        SecretKey(Zeroizing::new(bytes))
    }

    /// Copies a key from a slice.
    pub fn from_slice(bytes: &[u8]) -> SecretKey {
        SecretKey::new(bytes.to_vec())
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a zero-length key (never produced by the secret-file parser).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes redacted>)", self.0.len())
    }
}

/// Errors building a generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OtpError {
    /// The key is empty.
    EmptyKey,
    /// The HMAC implementation refused the key (cannot happen for HMAC, kept so nothing panics).
    KeyRejected,
}

impl fmt::Display for OtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtpError::EmptyKey => f.write_str("the shared secret is empty"),
            OtpError::KeyRejected => f.write_str("the HMAC implementation refused the shared secret"),
        }
    }
}

impl std::error::Error for OtpError {}

/// The keyed HMAC state, computed once per generator so that each evaluation is infallible.
///
/// The hmac crate does not zeroize this state on drop; the raw key itself only ever lives in [`SecretKey`].
#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

/// A code generator for one key, algorithm and length. `Debug` does not show the key.
#[derive(Clone)]
pub struct Otp {
    keyed: Keyed,
    algorithm: Algorithm,
    digits: Digits,
}

impl fmt::Debug for Otp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otp")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

impl Otp {
    /// Builds a generator. Fails only for an empty key.
    pub fn new(key: &SecretKey, algorithm: Algorithm, digits: Digits) -> Result<Otp, OtpError> {
        if key.is_empty() {
            return Err(OtpError::EmptyKey);
        }
        let bytes = key.as_bytes();
        let keyed = match algorithm {
            Algorithm::Sha1 => {
                Keyed::Sha1(<Hmac<Sha1> as Mac>::new_from_slice(bytes).map_err(|_| OtpError::KeyRejected)?)
            }
            Algorithm::Sha256 => Keyed::Sha256(
                <Hmac<Sha256> as Mac>::new_from_slice(bytes).map_err(|_| OtpError::KeyRejected)?,
            ),
            Algorithm::Sha512 => Keyed::Sha512(
                <Hmac<Sha512> as Mac>::new_from_slice(bytes).map_err(|_| OtpError::KeyRejected)?,
            ),
        };
        Ok(Otp {
            keyed,
            algorithm,
            digits,
        })
    }

    /// The hash function.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The code length.
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// RFC 4226 HOTP value for `counter`: one HMAC evaluation, dynamic truncation, modulo `10^digits`.
    pub fn hotp(&self, counter: u64) -> u32 {
        let message = counter.to_be_bytes();
        let word = match &self.keyed {
            Keyed::Sha1(mac) => truncate(mac.clone(), &message),
            Keyed::Sha256(mac) => truncate(mac.clone(), &message),
            Keyed::Sha512(mac) => truncate(mac.clone(), &message),
        };
        word % self.digits.modulus()
    }

    /// RFC 6238 TOTP value at `unix_time` with time step `period` seconds (T0 = 0).
    pub fn totp(&self, unix_time: u64, period: NonZeroU64) -> u32 {
        self.hotp(time_step(unix_time, period))
    }
}

/// The TOTP counter (time step number) for `unix_time`: `unix_time / period`.
pub fn time_step(unix_time: u64, period: NonZeroU64) -> u64 {
    unix_time / period
}

/// RFC 4226 §5.3 dynamic truncation of HMAC(key, message), without the final modulo.
fn truncate<M: Mac>(mut mac: M, message: &[u8]) -> u32 {
    mac.update(message);
    let mut out = mac.finalize().into_bytes();
    let offset = usize::from(out.last().copied().unwrap_or(0) & 0x0f);
    // Every digest is at least 20 bytes and offset <= 15, so exactly four bytes are taken.
    let word = out
        .iter()
        .skip(offset)
        .take(4)
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    out.as_mut_slice().zeroize();
    word & 0x7fff_ffff
}

/// Constant-time equality of two code values (the time does not depend on where they differ).
pub fn codes_equal(a: u32, b: u32) -> bool {
    bool::from(a.ct_eq(&b))
}

/// Formats a code with leading zeros to `digits` characters, in a zeroizing buffer.
pub fn format_code(code: u32, digits: Digits) -> Zeroizing<String> {
    Zeroizing::new(format!("{:0width$}", code, width = usize::from(digits.get())))
}

/// Parses user input that must be exactly `digits` ASCII digits (leading zeros allowed).
pub fn parse_code(input: &str, digits: Digits) -> Option<u32> {
    if input.len() != usize::from(digits.get()) || !input.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    input.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name)
    }

    /// Minimal RFC 4648 decoder for the fixture (upper case, no padding); the product decoder is in
    /// `secret_file` and is tested there against the same vectors.
    fn b32(s: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = Vec::new();
        let (mut buf, mut bits) = (0u32, 0u32);
        for c in s.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            buf = (buf << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        out
    }

    #[test]
    fn every_vector_in_otp_vectors_tsv_matches() {
        let text = std::fs::read_to_string(fixture("otp-vectors.tsv")).unwrap();
        let mut checked = 0;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 7, "line {}: {line}", n + 1);
            let (kind, alg, secret, digits, period, at, expected) =
                (cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]);
            let alg = Algorithm::from_name(alg).unwrap();
            let digits = Digits::new(digits.parse().unwrap()).unwrap();
            let otp = Otp::new(&SecretKey::new(b32(secret)), alg, digits).unwrap();
            let value = match kind {
                "hotp" => otp.hotp(at.parse().unwrap()),
                "totp" => otp.totp(at.parse().unwrap(), period.parse().unwrap()),
                other => panic!("line {}: unknown kind {other}", n + 1),
            };
            assert_eq!(*format_code(value, digits), expected, "line {}: {line}", n + 1);
            assert_eq!(parse_code(expected, digits), Some(value));
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} vectors found");
    }

    #[test]
    fn given_80_bit_google_authenticator_secret_then_codes_are_computed() {
        // 2SH3V3GDW7ZNMGYE is 10 bytes: totp-rs would refuse it without its unchecked constructor.
        let otp = Otp::new(
            &SecretKey::new(b32("2SH3V3GDW7ZNMGYE")),
            Algorithm::Sha1,
            Digits::SIX,
        )
        .unwrap();
        assert_eq!(otp.hotp(1), 293240);
        assert_eq!(otp.totp(300000, NonZeroU64::new(30).unwrap()), 50548);
    }

    #[test]
    fn given_empty_key_then_generator_is_refused() {
        assert_eq!(
            Otp::new(&SecretKey::new(Vec::new()), Algorithm::Sha1, Digits::SIX).unwrap_err(),
            OtpError::EmptyKey
        );
    }

    #[test]
    fn digits_outside_6_to_8_are_refused() {
        assert!(Digits::new(5).is_none());
        assert!(Digits::new(9).is_none());
        assert_eq!(Digits::new(7).map(Digits::get), Some(7));
    }

    #[test]
    fn parse_code_wants_exactly_n_ascii_digits() {
        assert_eq!(parse_code("050548", Digits::SIX), Some(50548));
        assert_eq!(parse_code("50548", Digits::SIX), None);
        assert_eq!(parse_code("0505481", Digits::SIX), None);
        assert_eq!(parse_code("+50548", Digits::SIX), None);
        assert_eq!(parse_code("05054８", Digits::SIX), None);
        assert_eq!(parse_code("", Digits::SIX), None);
    }

    #[test]
    fn secret_key_debug_does_not_show_the_key() {
        let key = SecretKey::from_slice(b"12345678901234567890");
        let shown = format!("{key:?}");
        assert!(!shown.contains("49"), "{shown}");
        assert!(shown.contains("20 bytes"));
    }

    #[test]
    fn codes_equal_is_equality() {
        assert!(codes_equal(123456, 123456));
        assert!(!codes_equal(123456, 123457));
    }
}
