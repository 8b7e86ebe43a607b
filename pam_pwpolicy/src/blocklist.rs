//! The breached-password blocklist: the file format of `docs/blocklist-format.md` (one parser,
//! [`Blocklist::parse`], and one serializer, [`Writer`]), the password-to-key rule, and the HIBP line
//! parser the builder uses.
//!
//! The reader is what the PAM module runs on bytes it does not trust (a file an admin downloaded, possibly
//! truncated, corrupted or hostile, mapped at any address): it validates the header and the shard index
//! before any lookup, reads every integer with `from_le_bytes` on a checked slice, and never panics or
//! allocates in proportion to the file. The full SHA-256 checksum is checked by
//! [`Blocklist::verify_checksum`] (`pwpolicy check-blocklist`), not on every open: see the format document.
//! No I/O here except through the `Read`/`Write`/`Seek` values the caller passes to [`Writer`] and
//! [`checksum`]; no logging.

use crate::fuse::{self, Filter, Params};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// First 8 bytes of every blocklist file.
pub const MAGIC: [u8; 8] = *b"PWPBLIST";
/// The format version this code reads and writes.
pub const VERSION: u32 = 1;
/// Bytes before the shard index.
pub const HEADER_LEN: usize = 96;
/// Bytes per shard index entry.
pub const INDEX_ENTRY_LEN: usize = 32;
/// Key kind 1: the first 8 bytes of SHA-1, big-endian.
pub const KEY_SHA1_PREFIX: u32 = 1;
/// Most shard bits (65,536 shards).
pub const MAX_SHARD_BITS: u32 = 16;
/// Where the SHA-256 checksum sits in the header.
pub const CHECKSUM_RANGE: std::ops::Range<usize> = 48..80;
/// The builder aims for at most this many keys per shard (~34 bytes of RAM each while building).
pub const TARGET_SHARD_KEYS: u64 = 1 << 23;

/// The message after `BAD PASSWORD: ` for a hit (false positives exist, hence "appears").
pub const BREACHED_MESSAGE: &str = "it appears in a list of breached passwords";
/// The guidance line for a hit.
pub const BREACHED_GUIDANCE: &str = "Passwords exposed in data breaches are tried first by attackers; choose one you have never used anywhere, for example several unrelated words.";

/// What is wrong with a blocklist file, written for the admin log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Zero bytes.
    Empty,
    /// Shorter than its header or index.
    Truncated {
        /// Bytes needed at least.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// Not a blocklist file at all.
    BadMagic,
    /// A version this code does not read.
    UnsupportedVersion(u32),
    /// A header field has a value this code does not accept.
    BadHeader(String),
    /// The header's file length disagrees with the real length.
    LengthMismatch {
        /// What the header says.
        header: u64,
        /// What the file has.
        actual: u64,
    },
    /// A shard index entry is inconsistent.
    BadShard {
        /// Which shard.
        shard: u64,
        /// What is wrong.
        problem: String,
    },
    /// The SHA-256 over the file does not match the header.
    ChecksumMismatch,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => write!(f, "the file is empty"),
            FormatError::Truncated { need, have } => write!(
                f,
                "the file is truncated: {have} bytes, its header needs at least {need}"
            ),
            FormatError::BadMagic => write!(
                f,
                "not a pwpolicy blocklist (bad magic; build one with `pwpolicy build-blocklist`)"
            ),
            FormatError::UnsupportedVersion(v) => write!(
                f,
                "unsupported format version {v} (this pam_pwpolicy reads version {VERSION})"
            ),
            FormatError::BadHeader(p) => write!(f, "bad header: {p}"),
            FormatError::LengthMismatch { header, actual } => write!(
                f,
                "the file is {actual} bytes but its header says {header} (truncated or appended to)"
            ),
            FormatError::BadShard { shard, problem } => write!(f, "shard {shard}: {problem}"),
            FormatError::ChecksumMismatch => write!(f, "checksum mismatch: the file is corrupt"),
        }
    }
}

impl std::error::Error for FormatError {}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The shard of `key` among `1 << bits`.
pub fn shard_of(key: u64, bits: u32) -> u64 {
    key.checked_shr(64 - bits.min(64)).unwrap_or(0)
}

/// One shard's index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// Seed of its filter.
    pub seed: u64,
    /// Shape of its filter.
    pub params: Params,
    /// Keys in it.
    pub entries: u64,
    /// Byte offset of its array in the file.
    pub offset: u64,
}

fn read_shard(bytes: &[u8], shard: u64) -> Option<ShardInfo> {
    let at = usize::try_from(shard)
        .ok()?
        .checked_mul(INDEX_ENTRY_LEN)?
        .checked_add(HEADER_LEN)?;
    Some(ShardInfo {
        seed: u64_at(bytes, at)?,
        params: Params {
            segment_length: u32_at(bytes, at + 8)?,
            segment_count: u32_at(bytes, at + 12)?,
        },
        entries: u64_at(bytes, at + 16)?,
        offset: u64_at(bytes, at + 24)?,
    })
}

/// A validated view of a blocklist file. Holds only the byte slice and three numbers.
#[derive(Clone, Copy, Debug)]
pub struct Blocklist<'a> {
    bytes: &'a [u8],
    shard_bits: u32,
    entries: u64,
}

impl<'a> Blocklist<'a> {
    /// Validates the header and the shard index (see the format document); O(shards).
    pub fn parse(bytes: &'a [u8]) -> Result<Blocklist<'a>, FormatError> {
        let have = len64(bytes.len());
        if bytes.is_empty() {
            return Err(FormatError::Empty);
        }
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(if bytes.len() < 8 && MAGIC.starts_with(bytes) {
                FormatError::Truncated {
                    need: len64(HEADER_LEN),
                    have,
                }
            } else {
                FormatError::BadMagic
            });
        }
        let truncated = FormatError::Truncated {
            need: len64(HEADER_LEN),
            have,
        };
        let version = u32_at(bytes, 8).ok_or_else(|| truncated.clone())?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated);
        }
        let field = |at: usize| u32_at(bytes, at).unwrap_or(u32::MAX);
        let bad = |what: String| Err(FormatError::BadHeader(what));
        if field(12) != HEADER_LEN as u32 {
            return bad(format!("header length {} (expected {HEADER_LEN})", field(12)));
        }
        if field(16) != KEY_SHA1_PREFIX {
            return bad(format!("unknown key kind {}", field(16)));
        }
        let fp_bits = u16_at(bytes, 20).unwrap_or(0);
        if fp_bits != fuse::FINGERPRINT_BITS {
            return bad(format!("fingerprint width {fp_bits} bits (expected 16)"));
        }
        let arity = u16_at(bytes, 22).unwrap_or(0);
        if arity != fuse::ARITY {
            return bad(format!("arity {arity} (expected 3)"));
        }
        let shard_bits = field(24);
        if shard_bits > MAX_SHARD_BITS {
            return bad(format!("{shard_bits} shard bits (at most {MAX_SHARD_BITS})"));
        }
        if field(28) != 0 {
            return bad(format!("unknown flags {:#x}", field(28)));
        }
        if bytes.get(80..96).is_none_or(|r| r.iter().any(|&b| b != 0)) {
            return bad("reserved bytes are not zero".to_owned());
        }
        let entries = u64_at(bytes, 32).unwrap_or(u64::MAX);
        let file_len = u64_at(bytes, 40).unwrap_or(u64::MAX);
        if file_len != have {
            return Err(FormatError::LengthMismatch {
                header: file_len,
                actual: have,
            });
        }
        let shards = 1u64 << shard_bits;
        let index_end = shards * INDEX_ENTRY_LEN as u64 + HEADER_LEN as u64;
        if have < index_end {
            return Err(FormatError::Truncated {
                need: index_end,
                have,
            });
        }
        let mut next = index_end;
        let mut total: u64 = 0;
        for shard in 0..shards {
            let problem = |p: String| FormatError::BadShard { shard, problem: p };
            let info =
                read_shard(bytes, shard).ok_or_else(|| problem("index entry unreadable".to_owned()))?;
            if !info.params.is_valid() {
                return Err(problem(format!(
                    "bad filter shape (segment length {}, segment count {})",
                    info.params.segment_length, info.params.segment_count
                )));
            }
            let slots = info
                .params
                .array_len()
                .ok_or_else(|| problem("filter too large".to_owned()))?;
            let slots = len64(slots);
            if info.params == Params::EMPTY && info.entries != 0 {
                return Err(problem(format!("no filter but {} entries", info.entries)));
            }
            if info.entries > slots {
                return Err(problem(format!(
                    "{} entries cannot fit in {slots} slots",
                    info.entries
                )));
            }
            if info.offset != next {
                return Err(problem(format!(
                    "array at offset {} (expected {next})",
                    info.offset
                )));
            }
            next = slots
                .checked_mul(2)
                .and_then(|b| b.checked_add(next))
                .filter(|&end| end <= have)
                .ok_or_else(|| problem("array runs past the end of the file".to_owned()))?;
            total = total.saturating_add(info.entries);
        }
        if next != have {
            return Err(FormatError::LengthMismatch {
                header: next,
                actual: have,
            });
        }
        if total != entries {
            return bad(format!(
                "{entries} entries in the header but {total} in the shards"
            ));
        }
        Ok(Blocklist {
            bytes,
            shard_bits,
            entries,
        })
    }

    /// Distinct keys in the file.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Number of shards.
    pub fn shards(&self) -> u64 {
        1u64 << self.shard_bits
    }

    /// The index entry of shard `i`, if it exists.
    pub fn shard(&self, i: u64) -> Option<ShardInfo> {
        if i >= self.shards() {
            return None;
        }
        read_shard(self.bytes, i)
    }

    /// File size in bits per entry (index and header included).
    pub fn bits_per_entry(&self) -> f64 {
        len64(self.bytes.len()) as f64 * 8.0 / self.entries.max(1) as f64
    }

    /// Whether `key` may be in the list. An error only if the bytes changed since [`Blocklist::parse`]
    /// (a file rewritten in place under a mapping).
    pub fn contains_key(&self, key: u64) -> Result<bool, FormatError> {
        let shard = shard_of(key, self.shard_bits);
        let changed = || FormatError::BadShard {
            shard,
            problem: "changed since it was validated".to_owned(),
        };
        let info = read_shard(self.bytes, shard).ok_or_else(changed)?;
        let start = usize::try_from(info.offset).map_err(|_| changed())?;
        let array = self.bytes.get(start..).ok_or_else(changed)?;
        fuse::contains_in(array, info.params, info.seed, key).ok_or_else(changed)
    }

    /// Whether `password` (the typed bytes) appears: its NFKC form, and the typed bytes when they differ.
    pub fn contains_password(&self, password: &[u8]) -> Result<bool, FormatError> {
        for key in password_keys(password).into_iter().flatten() {
            if self.contains_key(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Recomputes the SHA-256 over the whole file and compares it with the header's.
    pub fn verify_checksum(&self) -> Result<(), FormatError> {
        let want = self
            .bytes
            .get(CHECKSUM_RANGE)
            .ok_or(FormatError::ChecksumMismatch)?;
        match checksum(self.bytes) {
            Ok(got) if got.as_slice() == want => Ok(()),
            _ => Err(FormatError::ChecksumMismatch),
        }
    }
}

/// Refuses a blocklist file that group or others can write (whoever can write it decides which passwords
/// are refused or let through). `mode` is `st_mode` from `fstat` on the opened file.
pub fn check_mode(mode: u32) -> Result<(), String> {
    if mode & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {:o}); run `chmod go-w` on it",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// The key of a SHA-1 digest: its first 8 bytes, big-endian.
pub fn key_of_digest(digest: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    for (d, s) in k.iter_mut().zip(digest) {
        *d = *s;
    }
    u64::from_be_bytes(k)
}

/// The key of these exact bytes.
pub fn key_of_bytes(bytes: &[u8]) -> u64 {
    key_of_digest(&Sha1::digest(bytes))
}

/// The keys a password is looked up (and, with `--plain`, inserted) under: the NFKC form when the bytes
/// are UTF-8, and the bytes as typed when they differ from it (or are not UTF-8).
pub fn password_keys(password: &[u8]) -> [Option<u64>; 2] {
    match std::str::from_utf8(password) {
        Ok(text) => {
            let norm: Zeroizing<String> = Zeroizing::new(text.nfkc().collect());
            let nfkc = key_of_bytes(norm.as_bytes());
            let raw = (norm.as_bytes() != password).then(|| key_of_bytes(password));
            [Some(nfkc), raw]
        }
        Err(_) => [Some(key_of_bytes(password)), None],
    }
}

/// Why a line of an HIBP download was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Not 40 hex digits before the colon (`hex_len` digits found).
    NotSha1 {
        /// Length of the hash field.
        hex_len: usize,
    },
    /// The count after the colon is not a number.
    BadCount,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::NotSha1 { hex_len: 32 } => write!(
                f,
                "32 hex digits: this is the NTLM list; download the SHA-1 one (or use --plain for passwords)"
            ),
            LineError::NotSha1 { hex_len } => {
                write!(f, "expected 40 hex digits of SHA-1, found {hex_len} characters")
            }
            LineError::BadCount => write!(f, "the count after `:` is not a number"),
        }
    }
}

fn hex_val(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'a'..=b'f' => Some(u64::from(c - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(c - b'A' + 10)),
        _ => None,
    }
}

/// Parses one line of an HIBP "ordered by hash" SHA-1 file: `SHA1HEX:COUNT` or `SHA1HEX` (CR, spaces
/// around tolerated). `Ok(None)` for a blank line; otherwise the key and the count if there was one.
pub fn parse_hibp_line(line: &[u8]) -> Result<Option<(u64, Option<u64>)>, LineError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    let (hash, count) = match line.iter().position(|&c| c == b':') {
        Some(i) => (
            line.get(..i).unwrap_or_default().trim_ascii(),
            Some(line.get(i + 1..).unwrap_or_default().trim_ascii()),
        ),
        None => (line, None),
    };
    if hash.len() != 40 || !hash.iter().all(u8::is_ascii_hexdigit) {
        return Err(LineError::NotSha1 { hex_len: hash.len() });
    }
    let mut key = 0u64;
    for &c in hash.iter().take(16) {
        key = (key << 4) | hex_val(c).ok_or(LineError::NotSha1 { hex_len: hash.len() })?;
    }
    let count = match count {
        Some(c) => Some(
            std::str::from_utf8(c)
                .ok()
                .and_then(|c| c.parse::<u64>().ok())
                .ok_or(LineError::BadCount)?,
        ),
        None => None,
    };
    Ok(Some((key, count)))
}

/// The shard bits for `total` keys: the fewest (at most `max_bits`) that keep shards under
/// [`TARGET_SHARD_KEYS`].
pub fn choose_shard_bits(total: u64, max_bits: u32) -> u32 {
    let mut bits = 0;
    while bits < max_bits.min(MAX_SHARD_BITS) && total.div_ceil(1u64 << bits) > TARGET_SHARD_KEYS {
        bits += 1;
    }
    bits
}

/// SHA-256 of a file read from `r`, with the checksum bytes read as zero.
pub fn checksum(mut r: impl Read) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = 0usize;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get_mut(..n).unwrap_or_default();
        for (i, b) in chunk.iter_mut().enumerate() {
            if CHECKSUM_RANGE.contains(&(pos + i)) {
                *b = 0;
            }
            if pos + i >= CHECKSUM_RANGE.end {
                break;
            }
        }
        h.update(&*chunk);
        pos += n;
    }
    Ok(h.finalize().into())
}

/// Writes a blocklist file: [`Writer::new`] with the shard bits, then [`Writer::add_shard`] for every
/// shard in order, then [`Writer::finish`], which writes the header and index and the checksum (reading
/// the file back). The target must be readable, writable and seekable (a `File` opened read-write, or a
/// `Cursor<Vec<u8>>`).
#[derive(Debug)]
pub struct Writer<F: Read + Write + Seek> {
    out: F,
    shard_bits: u32,
    index: Vec<ShardInfo>,
    offset: u64,
}

impl<F: Read + Write + Seek> Writer<F> {
    /// Starts a file with `1 << shard_bits` shards (the header and index are written at the end).
    pub fn new(mut out: F, shard_bits: u32) -> io::Result<Writer<F>> {
        if shard_bits > MAX_SHARD_BITS {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many shard bits"));
        }
        let index_end = HEADER_LEN + (INDEX_ENTRY_LEN << shard_bits);
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&vec![0u8; index_end])?;
        Ok(Writer {
            out,
            shard_bits,
            index: Vec::new(),
            offset: len64(index_end),
        })
    }

    /// Appends the next shard's filter. Its keys must all belong to that shard (see [`shard_of`]).
    pub fn add_shard(&mut self, filter: &Filter) -> io::Result<()> {
        if len64(self.index.len()) >= 1u64 << self.shard_bits {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more shards than the header holds",
            ));
        }
        let bytes = filter.to_le_bytes();
        self.out.write_all(&bytes)?;
        self.index.push(ShardInfo {
            seed: filter.seed,
            params: filter.params,
            entries: filter.entries,
            offset: self.offset,
        });
        self.offset += len64(bytes.len());
        Ok(())
    }

    /// Writes the header, the index and the checksum; returns the target and the file length.
    pub fn finish(mut self) -> io::Result<(F, u64)> {
        if len64(self.index.len()) != 1u64 << self.shard_bits {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not every shard was written",
            ));
        }
        let entries: u64 = self.index.iter().map(|s| s.entries).sum();
        let mut head = Vec::with_capacity(HEADER_LEN + INDEX_ENTRY_LEN * self.index.len());
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        head.extend_from_slice(&KEY_SHA1_PREFIX.to_le_bytes());
        head.extend_from_slice(&fuse::FINGERPRINT_BITS.to_le_bytes());
        head.extend_from_slice(&fuse::ARITY.to_le_bytes());
        head.extend_from_slice(&self.shard_bits.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&entries.to_le_bytes());
        head.extend_from_slice(&self.offset.to_le_bytes());
        head.extend_from_slice(&[0u8; 48]);
        for s in &self.index {
            head.extend_from_slice(&s.seed.to_le_bytes());
            head.extend_from_slice(&s.params.segment_length.to_le_bytes());
            head.extend_from_slice(&s.params.segment_count.to_le_bytes());
            head.extend_from_slice(&s.entries.to_le_bytes());
            head.extend_from_slice(&s.offset.to_le_bytes());
        }
        self.out.flush()?;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&head)?;
        self.out.flush()?;
        self.out.seek(SeekFrom::Start(0))?;
        let sum = checksum((&mut self.out).take(self.offset))?;
        self.out.seek(SeekFrom::Start(CHECKSUM_RANGE.start as u64))?;
        self.out.write_all(&sum)?;
        self.out.flush()?;
        Ok((self.out, self.offset))
    }
}

/// Why a blocklist could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// Writing failed.
    Io(io::Error),
    /// A shard's filter failed.
    Filter(fuse::BuildError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Io(e) => write!(f, "{e}"),
            BuildError::Filter(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<io::Error> for BuildError {
    fn from(e: io::Error) -> Self {
        BuildError::Io(e)
    }
}

impl From<fuse::BuildError> for BuildError {
    fn from(e: fuse::BuildError) -> Self {
        BuildError::Filter(e)
    }
}

/// The seed sequence start of shard `i` (fixed, so the same input always gives the same file).
pub fn shard_seed_state(i: u64) -> u64 {
    0x7077_706f_6c69_6379 ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Builds a whole file in memory from keys (any order, duplicates allowed). For tests and small lists;
/// the CLI streams big inputs through shard files instead.
pub fn build_in_memory(mut keys: Vec<u64>) -> Result<Vec<u8>, BuildError> {
    keys.sort_unstable();
    keys.dedup();
    let bits = choose_shard_bits(len64(keys.len()), MAX_SHARD_BITS);
    let mut w = Writer::new(io::Cursor::new(Vec::new()), bits)?;
    let mut rest: &[u64] = &keys;
    for shard in 0..1u64 << bits {
        let n = rest.iter().take_while(|&&k| shard_of(k, bits) == shard).count();
        let (mine, tail) = rest.split_at(n);
        w.add_shard(&fuse::build(mine, shard_seed_state(shard))?)?;
        rest = tail;
    }
    let (cursor, _) = w.finish()?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sha1_hex(s: &str) -> String {
        Sha1::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    fn sample() -> Vec<u8> {
        let keys = (0..1000)
            .map(|i| key_of_bytes(format!("pw{i}").as_bytes()))
            .collect();
        build_in_memory(keys).unwrap()
    }

    #[test]
    fn given_password_then_key_is_the_first_16_hex_digits_of_its_sha1() {
        let line = format!("{}:42", sha1_hex("password"));
        assert_eq!(&line[..16], "5BAA61E4C9B93F3F");
        assert_eq!(
            parse_hibp_line(line.as_bytes()),
            Ok(Some((0x5BAA_61E4_C9B9_3F3F, Some(42))))
        );
        assert_eq!(key_of_bytes(b"password"), 0x5BAA_61E4_C9B9_3F3F);
    }

    #[test]
    fn given_hibp_line_shapes_then_each_is_parsed_or_refused() {
        let h = sha1_hex("x");
        assert_eq!(
            parse_hibp_line(format!("{h}\r").as_bytes()).unwrap().unwrap().1,
            None
        );
        assert_eq!(
            parse_hibp_line(h.to_lowercase().as_bytes()).unwrap().unwrap().1,
            None
        );
        assert_eq!(parse_hibp_line(b"  \r"), Ok(None));
        assert_eq!(
            parse_hibp_line(b"8846F7EAEE8FB117AD06BDD830B7586C:5"),
            Err(LineError::NotSha1 { hex_len: 32 })
        );
        assert_eq!(
            parse_hibp_line(format!("{h}:x").as_bytes()),
            Err(LineError::BadCount)
        );
        assert!(parse_hibp_line(format!("{}G:1", &h[..39]).as_bytes()).is_err());
    }

    #[test]
    fn given_fullwidth_password_then_nfkc_and_raw_keys_are_both_looked_up() {
        let [nfkc, raw] = password_keys("ｐａｓｓｗｏｒｄ".as_bytes());
        assert_eq!(nfkc, Some(key_of_bytes(b"password")));
        assert_eq!(raw, Some(key_of_bytes("ｐａｓｓｗｏｒｄ".as_bytes())));
        assert_eq!(password_keys(b"password")[1], None);
        let file = build_in_memory(vec![key_of_bytes(b"password")]).unwrap();
        let bl = Blocklist::parse(&file).unwrap();
        assert!(bl.contains_password("ｐａｓｓｗｏｒｄ".as_bytes()).unwrap());
    }

    #[test]
    fn given_built_file_then_members_found_checksum_valid_and_header_round_trips() {
        let file = sample();
        let bl = Blocklist::parse(&file).unwrap();
        assert_eq!(bl.entries(), 1000);
        bl.verify_checksum().unwrap();
        for i in 0..1000 {
            assert!(bl.contains_password(format!("pw{i}").as_bytes()).unwrap());
        }
        let misses = (0..10_000)
            .filter(|i| bl.contains_password(format!("other{i}").as_bytes()).unwrap())
            .count();
        assert!(misses <= 2, "{misses}");
    }

    #[test]
    fn given_many_keys_then_file_is_sharded_and_every_shard_is_used() {
        assert_eq!(choose_shard_bits(0, 8), 0);
        assert_eq!(choose_shard_bits(TARGET_SHARD_KEYS, 8), 0);
        assert_eq!(choose_shard_bits(TARGET_SHARD_KEYS + 1, 8), 1);
        assert_eq!(choose_shard_bits(847_223_402, 8), 7);
        assert_eq!(choose_shard_bits(u64::MAX, 8), 8);
        // A hand-sharded file (4 shards, one empty) reads back.
        let keys: Vec<u64> = (1..200u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 2)
            .collect();
        let mut w = Writer::new(io::Cursor::new(Vec::new()), 2).unwrap();
        for shard in 0..4 {
            let mine: Vec<u64> = keys
                .iter()
                .copied()
                .filter(|&k| shard_of(k, 2) == shard)
                .collect();
            w.add_shard(&fuse::build(&mine, shard).unwrap()).unwrap();
        }
        let file = w.finish().unwrap().0.into_inner();
        let bl = Blocklist::parse(&file).unwrap();
        assert_eq!((bl.shards(), bl.entries()), (4, 199));
        assert_eq!(bl.shard(2).unwrap().entries + bl.shard(3).unwrap().entries, 0);
        bl.verify_checksum().unwrap();
        assert!(keys.iter().all(|&k| bl.contains_key(k).unwrap()));
        assert!(!bl.contains_key(u64::MAX).unwrap());
    }

    #[test]
    fn given_empty_list_then_file_is_valid_and_contains_nothing() {
        let file = build_in_memory(Vec::new()).unwrap();
        let bl = Blocklist::parse(&file).unwrap();
        assert_eq!(bl.entries(), 0);
        assert!(!bl.contains_password(b"password").unwrap());
    }

    #[test]
    fn given_damaged_files_then_each_is_refused_with_the_reason() {
        let good = sample();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            Blocklist::parse(&b).map(|_| ()).unwrap_err()
        };
        assert_eq!(Blocklist::parse(&[]).unwrap_err(), FormatError::Empty);
        assert!(matches!(with(&|b| b.truncate(5)), FormatError::Truncated { .. }));
        assert!(matches!(with(&|b| b.truncate(60)), FormatError::Truncated { .. }));
        assert!(matches!(
            with(&|b| b.truncate(b.len() - 1)),
            FormatError::LengthMismatch { .. }
        ));
        assert!(matches!(with(&|b| b.push(0)), FormatError::LengthMismatch { .. }));
        assert_eq!(with(&|b| b[0] = b'X'), FormatError::BadMagic);
        assert_eq!(with(&|b| b[8] = 2), FormatError::UnsupportedVersion(2));
        assert!(matches!(with(&|b| b[20] = 8), FormatError::BadHeader(_)));
        assert!(matches!(with(&|b| b[24] = 17), FormatError::BadHeader(_)));
        assert!(matches!(with(&|b| b[90] = 1), FormatError::BadHeader(_)));
        assert!(matches!(
            with(&|b| b[HEADER_LEN + 8] ^= 3),
            FormatError::BadShard { .. }
        ));
        assert!(matches!(
            with(&|b| b[HEADER_LEN + 24] ^= 2),
            FormatError::BadShard { .. }
        ));
        assert!(matches!(with(&|b| b[32] ^= 1), FormatError::BadHeader(_)));
        // A flipped body byte passes the structural check but not the checksum.
        let mut b = good.clone();
        let last = b.len() - 1;
        b[last] ^= 0x40;
        let bl = Blocklist::parse(&b).unwrap();
        assert_eq!(bl.verify_checksum(), Err(FormatError::ChecksumMismatch));
        for e in [
            FormatError::Empty,
            FormatError::ChecksumMismatch,
            FormatError::UnsupportedVersion(9),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn given_misaligned_copy_then_lookups_are_identical() {
        let good = sample();
        let mut buf = vec![0u8; good.len() + 3];
        for shift in 1..4 {
            buf[shift..shift + good.len()].copy_from_slice(&good);
            let bl = Blocklist::parse(&buf[shift..shift + good.len()]).unwrap();
            assert!(bl.contains_password(b"pw7").unwrap());
            bl.verify_checksum().unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn given_arbitrary_bytes_then_parse_and_lookup_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), key in any::<u64>()) {
            if let Ok(bl) = Blocklist::parse(&bytes) {
                let _ = bl.contains_key(key);
                let _ = bl.verify_checksum();
            }
        }

        #[test]
        fn given_valid_file_with_mutated_bytes_then_never_panics(pos in 0usize..20_000, val in any::<u8>(), cut in 0usize..20_000, key in any::<u64>()) {
            let mut b = sample();
            let len = b.len();
            b[pos % len] = val;
            b.truncate(len - cut % len);
            if let Ok(bl) = Blocklist::parse(&b) {
                let _ = bl.contains_key(key);
                let _ = bl.contains_password(b"pw1");
            }
        }
    }
}
