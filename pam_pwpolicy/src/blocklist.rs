//! The breached-password blocklist: the file format of `docs/blocklist-format.md` (one parser,
//! [`Blocklist::parse`], and one serializer, [`Writer`]), the password-to-key rule, and the HIBP line
//! parser the builder uses.
//!
//! The reader is what the PAM module runs on bytes it does not trust (a file an admin downloaded, possibly
//! truncated, corrupted, hostile, or truncated while in use): it reads through a [`Source`] (the opened
//! file, with `pread`: no mapping, so a file that shrinks gives an error, never SIGBUS), validates the
//! header and the shard index before any lookup, verifies the checksum of each shard on its first lookup,
//! reads every integer with `from_le_bytes` on a checked slice, and never panics or allocates in proportion
//! to the file. The whole-file SHA-256 is checked by [`Blocklist::verify_checksum`] (`pwpolicy
//! check-blocklist`), not on every open: see the format document. No I/O here except through the
//! [`Source`] and the `Read`/`Write`/`Seek` values the caller passes, and [`open`], which opens the file
//! with [`crate::config::open_trusted`]'s rules; no logging.

use crate::fuse::{self, Filter, Params};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::cell::Cell;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// First 8 bytes of every blocklist file.
pub const MAGIC: [u8; 8] = *b"PWPBLIST";
/// The format version this code reads and writes.
pub const VERSION: u32 = 2;
/// Bytes before the shard index.
pub const HEADER_LEN: usize = 96;
/// Bytes per shard index entry (32 of fields, then the shard's checksum).
pub const INDEX_ENTRY_LEN: usize = 48;
/// Bytes of a shard's checksum (the first 16 bytes of a SHA-256: see [`ShardHasher`]).
pub const SHARD_SUM_LEN: usize = 16;
/// Key kind 1: the first 8 bytes of SHA-1, big-endian.
pub const KEY_SHA1_PREFIX: u32 = 1;
/// Most shard bits (65,536 shards).
pub const MAX_SHARD_BITS: u32 = 16;
/// Where the SHA-256 checksum sits in the header.
pub const CHECKSUM_RANGE: std::ops::Range<usize> = 48..80;
/// The builder aims for at most this many keys per shard: a shard (~19 bits per key, at most ~310 KB) is
/// what a lookup reads and checksums on first use.
pub const TARGET_SHARD_KEYS: u64 = 1 << 17;

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
    /// A shard's checksum does not match its index entry (zeroed or damaged in place).
    ShardChecksum {
        /// Which shard.
        shard: u64,
    },
    /// The file is shorter or different than when it was validated (truncated or rewritten in place).
    Changed(String),
    /// Reading failed.
    Io(String),
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
                "unsupported format version {v} (this pam_pwpolicy reads version {VERSION} only); rebuild the file with `pwpolicy build-blocklist`"
            ),
            FormatError::BadHeader(p) => write!(f, "bad header: {p}"),
            FormatError::LengthMismatch { header, actual } => write!(
                f,
                "the file is {actual} bytes but its header says {header} (truncated or appended to)"
            ),
            FormatError::BadShard { shard, problem } => write!(f, "shard {shard}: {problem}"),
            FormatError::ChecksumMismatch => write!(f, "checksum mismatch: the file is corrupt"),
            FormatError::ShardChecksum { shard } => write!(
                f,
                "shard {shard}: checksum mismatch: the file is damaged (zeroed or overwritten in place); rebuild it or copy it again"
            ),
            FormatError::Changed(what) => write!(
                f,
                "the file changed after it was opened ({what}): replace it by renaming a new file over it, never in place"
            ),
            FormatError::Io(e) => write!(f, "cannot read: {e}"),
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

/// Where a blocklist's bytes come from: the opened file, read with `pread` (`FileExt::read_exact_at`) a
/// few bytes at a time, or bytes in memory (tests, fuzzing). A file that shrinks gives a read error, never
/// a signal.
pub trait Source {
    /// Fills `buf` with the bytes at `offset`; an error if the source is shorter or unreadable.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The current length in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl Source for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl Source for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|at| self.get(at..at.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(len64(self.len()))
    }
}

impl Source for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        self.as_slice().size()
    }
}

impl<T: Source + ?Sized> Source for &T {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

/// Reads `len` bytes at `at`; a short source is a file that changed since it was validated.
fn read_at(src: &dyn Source, at: u64, len: usize) -> Result<Vec<u8>, FormatError> {
    let mut buf = vec![0u8; len];
    src.read_exact_at(&mut buf, at).map_err(|e| read_error(at, &e))?;
    Ok(buf)
}

fn read_error(at: u64, e: &io::Error) -> FormatError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        FormatError::Changed(format!("no bytes at offset {at} any more"))
    } else {
        FormatError::Io(e.to_string())
    }
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
    /// Its checksum (see [`shard_checksum`]).
    pub sum: [u8; SHARD_SUM_LEN],
}

impl ShardInfo {
    fn from_entry(e: &[u8]) -> Option<ShardInfo> {
        Some(ShardInfo {
            seed: u64_at(e, 0)?,
            params: Params {
                segment_length: u32_at(e, 8)?,
                segment_count: u32_at(e, 12)?,
            },
            entries: u64_at(e, 16)?,
            offset: u64_at(e, 24)?,
            sum: e.get(32..INDEX_ENTRY_LEN)?.try_into().ok()?,
        })
    }

    /// The entry's first 32 bytes (everything but the checksum), as written in the index.
    fn fields(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (dst, src) in b.chunks_mut(8).zip([
            self.seed,
            u64::from(self.params.segment_length) | u64::from(self.params.segment_count) << 32,
            self.entries,
            self.offset,
        ]) {
            dst.copy_from_slice(&src.to_le_bytes());
        }
        b
    }

    /// Bytes of its fingerprint array (`None`: the shape overflows).
    fn array_bytes(&self) -> Option<u64> {
        len64(self.params.array_len()?).checked_mul(2)
    }
}

/// A shard's checksum: the first 16 bytes of SHA-256 over a domain tag, the shard number, its index entry
/// without the checksum, and its fingerprint array (fed with [`ShardHasher::update`], in pieces).
#[derive(Debug, Clone)]
pub struct ShardHasher(Sha256);

impl ShardHasher {
    /// Starts the checksum of shard `shard` with index entry `info` (its `sum` is not hashed).
    pub fn new(shard: u64, info: &ShardInfo) -> Self {
        let mut h = Sha256::new();
        h.update(b"PWPBLIST shard\0\0");
        h.update(shard.to_le_bytes());
        h.update(info.fields());
        ShardHasher(h)
    }

    /// The next bytes of the shard's fingerprint array.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum.
    pub fn finish(self) -> [u8; SHARD_SUM_LEN] {
        let full: [u8; 32] = self.0.finalize().into();
        let mut sum = [0u8; SHARD_SUM_LEN];
        for (d, s) in sum.iter_mut().zip(full) {
            *d = s;
        }
        sum
    }
}

/// Checks the header (the first [`HEADER_LEN`] bytes, or fewer if the file is shorter) of a file of `have`
/// bytes; returns the shard bits and the entry count.
fn parse_header(bytes: &[u8], have: u64) -> Result<(u32, u64), FormatError> {
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
    Ok((shard_bits, entries))
}

/// Index entries read per `pread` while validating.
const INDEX_CHUNK: u64 = 1024;

/// Checks every index entry's shape and placement (not the checksums); O(shards), read in chunks.
fn check_index(src: &dyn Source, shard_bits: u32, have: u64, entries: u64) -> Result<(), FormatError> {
    let shards = 1u64 << shard_bits;
    let entry_len = len64(INDEX_ENTRY_LEN);
    let index_end = shards * entry_len + len64(HEADER_LEN);
    if have < index_end {
        return Err(FormatError::Truncated {
            need: index_end,
            have,
        });
    }
    let mut next = index_end;
    let mut total: u64 = 0;
    let mut first = 0u64;
    while first < shards {
        let count = INDEX_CHUNK.min(shards - first);
        let at = len64(HEADER_LEN) + first * entry_len;
        let chunk = read_at(src, at, usize::try_from(count * entry_len).unwrap_or(0))?;
        for (shard, e) in (first..).zip(chunk.chunks_exact(INDEX_ENTRY_LEN)) {
            let problem = |p: String| FormatError::BadShard { shard, problem: p };
            let info =
                ShardInfo::from_entry(e).ok_or_else(|| problem("index entry unreadable".to_owned()))?;
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
        first += count;
    }
    if next != have {
        return Err(FormatError::LengthMismatch {
            header: next,
            actual: have,
        });
    }
    if total != entries {
        return Err(FormatError::BadHeader(format!(
            "{entries} entries in the header but {total} in the shards"
        )));
    }
    Ok(())
}

/// A validated blocklist file, read through a [`Source`]. Holds the source, three numbers and one bit per
/// shard: whether that shard's checksum was verified by this value already (each shard is verified on
/// its first lookup, then trusted for the life of this value, which the module keeps for one call).
pub struct Blocklist<'a> {
    src: &'a dyn Source,
    len: u64,
    shard_bits: u32,
    entries: u64,
    verified: Vec<Cell<u64>>,
}

impl fmt::Debug for Blocklist<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocklist")
            .field("len", &self.len)
            .field("shard_bits", &self.shard_bits)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl<'a> Blocklist<'a> {
    /// Validates the header and the shard index (see the format document); O(shards). Shard checksums
    /// are verified on lookup, the whole-file checksum by [`Blocklist::verify_checksum`].
    pub fn parse(src: &'a dyn Source) -> Result<Blocklist<'a>, FormatError> {
        let have = src.size().map_err(|e| FormatError::Io(e.to_string()))?;
        if have == 0 {
            return Err(FormatError::Empty);
        }
        let head = read_at(src, 0, usize::try_from(have.min(len64(HEADER_LEN))).unwrap_or(0))?;
        let (shard_bits, entries) = parse_header(&head, have)?;
        check_index(src, shard_bits, have, entries)?;
        let words = usize::try_from((1u64 << shard_bits).div_ceil(64)).unwrap_or(0);
        Ok(Blocklist {
            src,
            len: have,
            shard_bits,
            entries,
            verified: (0..words).map(|_| Cell::new(0)).collect(),
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

    /// File length in bytes (as validated).
    pub fn len_bytes(&self) -> u64 {
        self.len
    }

    /// The index entry of shard `i`, read now; `None` if there is no such shard or it cannot be read.
    pub fn shard(&self, i: u64) -> Option<ShardInfo> {
        self.entry(i).ok()
    }

    fn entry(&self, shard: u64) -> Result<ShardInfo, FormatError> {
        if shard >= self.shards() {
            return Err(FormatError::BadShard {
                shard,
                problem: "no such shard".to_owned(),
            });
        }
        let at = len64(HEADER_LEN) + shard * len64(INDEX_ENTRY_LEN);
        let e = read_at(self.src, at, INDEX_ENTRY_LEN)?;
        let changed = || FormatError::Changed(format!("shard {shard}: its index entry is no longer valid"));
        let info = ShardInfo::from_entry(&e).ok_or_else(changed)?;
        let end = info.array_bytes().and_then(|b| b.checked_add(info.offset));
        if !info.params.is_valid() || end.is_none_or(|end| end > self.len) {
            return Err(changed());
        }
        Ok(info)
    }

    /// File size in bits per entry (index and header included).
    pub fn bits_per_entry(&self) -> f64 {
        self.len as f64 * 8.0 / self.entries.max(1) as f64
    }

    /// Recomputes shard `shard`'s checksum from the file and compares it with its index entry's.
    pub fn verify_shard(&self, shard: u64) -> Result<(), FormatError> {
        let info = self.entry(shard)?;
        self.verify_shard_info(shard, &info)
    }

    fn verify_shard_info(&self, shard: u64, info: &ShardInfo) -> Result<(), FormatError> {
        let mut reader = SourceReader {
            src: self.src,
            pos: info.offset,
            end: info.offset.saturating_add(info.array_bytes().unwrap_or(0)),
        };
        let mut h = ShardHasher::new(shard, info);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(|e| read_error(reader.pos, &e))?;
            if n == 0 {
                break;
            }
            h.update(buf.get(..n).unwrap_or_default());
        }
        if h.finish() == info.sum {
            Ok(())
        } else {
            Err(FormatError::ShardChecksum { shard })
        }
    }

    /// Verifies every shard's checksum (for `check-blocklist`); the first damaged shard is the error.
    pub fn verify_shards(&self) -> Result<(), FormatError> {
        (0..self.shards()).try_for_each(|s| self.verify_shard(s))
    }

    fn is_verified(&self, shard: u64) -> bool {
        let word = usize::try_from(shard / 64)
            .ok()
            .and_then(|w| self.verified.get(w));
        word.is_some_and(|w| w.get() & (1 << (shard % 64)) != 0)
    }

    fn mark_verified(&self, shard: u64) {
        if let Some(w) = usize::try_from(shard / 64)
            .ok()
            .and_then(|w| self.verified.get(w))
        {
            w.set(w.get() | 1 << (shard % 64));
        }
    }

    /// Whether `key` may be in the list: reads the shard's index entry, verifies the shard's checksum on
    /// its first use, then reads the three fingerprints the filter needs. An error if the shard is damaged
    /// (checksum mismatch) or the file changed since [`Blocklist::parse`]: the caller must not treat that
    /// as "not listed".
    pub fn contains_key(&self, key: u64) -> Result<bool, FormatError> {
        let shard = shard_of(key, self.shard_bits);
        let info = self.entry(shard)?;
        if !self.is_verified(shard) {
            self.verify_shard_info(shard, &info)?;
            self.mark_verified(shard);
        }
        if info.params.segment_count == 0 {
            return Ok(false);
        }
        let h = fuse::hash(key, info.seed);
        let mut f = fuse::fingerprint(h);
        for p in info.params.positions(h) {
            let at = len64(p)
                .checked_mul(2)
                .and_then(|b| b.checked_add(info.offset))
                .ok_or_else(|| FormatError::Changed(format!("shard {shard}: position out of range")))?;
            let mut two = [0u8; 2];
            self.src
                .read_exact_at(&mut two, at)
                .map_err(|e| read_error(at, &e))?;
            f ^= u16::from_le_bytes(two);
        }
        Ok(f == 0)
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
        let want = read_at(self.src, len64(CHECKSUM_RANGE.start), CHECKSUM_RANGE.len())?;
        let reader = SourceReader {
            src: self.src,
            pos: 0,
            end: self.len,
        };
        match checksum(reader) {
            Ok(got) if got.as_slice() == want.as_slice() => Ok(()),
            Ok(_) => Err(FormatError::ChecksumMismatch),
            Err(e) => Err(read_error(0, &e)),
        }
    }
}

/// Reads `pos..end` of a [`Source`] as a stream.
struct SourceReader<'a> {
    src: &'a dyn Source,
    pos: u64,
    end: u64,
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.end.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(dst) = buf.get_mut(..n) else {
            return Ok(0);
        };
        self.src.read_exact_at(dst, self.pos)?;
        self.pos += len64(n);
        Ok(n)
    }
}

/// Opens a blocklist file for the module and the CLI with [`crate::config::open_trusted`]'s rules (absolute
/// path, no symbolic link, no blocking, a regular file owned by root or the effective uid, not writable by
/// group or others) and validates its header and shard index. The error names the file and says exactly
/// what is wrong, for the admin log.
pub fn open(path: &std::path::Path) -> Result<std::fs::File, String> {
    let at = path.display();
    let file = match crate::config::open_trusted(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(format!("{at}: cannot open: No such file or directory")),
        Err(e) => return Err(format!("{at}: {e}")),
    };
    Blocklist::parse(&file).map_err(|e| format!("{at}: {e}"))?;
    Ok(file)
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
        let mut info = ShardInfo {
            seed: filter.seed,
            params: filter.params,
            entries: filter.entries,
            offset: self.offset,
            sum: [0; SHARD_SUM_LEN],
        };
        let mut h = ShardHasher::new(len64(self.index.len()), &info);
        h.update(&bytes);
        info.sum = h.finish();
        self.index.push(info);
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
            head.extend_from_slice(&s.fields());
            head.extend_from_slice(&s.sum);
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
        assert_eq!(choose_shard_bits(847_223_402, 8), 8);
        assert_eq!(choose_shard_bits(847_223_402, MAX_SHARD_BITS), 13);
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
        assert_eq!(Blocklist::parse(&Vec::new()).unwrap_err(), FormatError::Empty);
        assert!(matches!(with(&|b| b.truncate(5)), FormatError::Truncated { .. }));
        assert!(matches!(with(&|b| b.truncate(60)), FormatError::Truncated { .. }));
        assert!(matches!(
            with(&|b| b.truncate(b.len() - 1)),
            FormatError::LengthMismatch { .. }
        ));
        assert!(matches!(with(&|b| b.push(0)), FormatError::LengthMismatch { .. }));
        assert_eq!(with(&|b| b[0] = b'X'), FormatError::BadMagic);
        assert_eq!(with(&|b| b[8] = 1), FormatError::UnsupportedVersion(1));
        assert!(FormatError::UnsupportedVersion(1)
            .to_string()
            .contains("rebuild the file with `pwpolicy build-blocklist`"));
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

    /// A file with keys in many shards (5 bits: 32 shards), and a password of each of shards 0 and 31.
    fn sharded() -> (Vec<u8>, u64, u64) {
        let mut w = Writer::new(io::Cursor::new(Vec::new()), 5).unwrap();
        let keys: Vec<u64> = (1..3000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for shard in 0..32 {
            let mine: Vec<u64> = keys
                .iter()
                .copied()
                .filter(|&k| shard_of(k, 5) == shard)
                .collect();
            w.add_shard(&fuse::build(&mine, shard).unwrap()).unwrap();
        }
        let file = w.finish().unwrap().0.into_inner();
        let first = keys.iter().copied().find(|&k| shard_of(k, 5) == 0).unwrap();
        let last = keys.iter().copied().find(|&k| shard_of(k, 5) == 31).unwrap();
        (file, first, last)
    }

    #[test]
    fn given_zeroed_body_with_intact_header_and_index_then_lookup_is_an_error_not_a_miss() {
        let (mut file, first, last) = sharded();
        let body = HEADER_LEN + 32 * INDEX_ENTRY_LEN;
        let bl = Blocklist::parse(&file).unwrap();
        assert!(bl.contains_key(first).unwrap() && bl.contains_key(last).unwrap());
        file[body..].iter_mut().for_each(|b| *b = 0);
        // The structure is intact: the file opens; every lookup then fails on the shard's checksum.
        let bl = Blocklist::parse(&file).unwrap();
        assert_eq!(
            bl.contains_key(first),
            Err(FormatError::ShardChecksum { shard: 0 })
        );
        assert_eq!(
            bl.contains_key(last),
            Err(FormatError::ShardChecksum { shard: 31 })
        );
        assert_eq!(bl.verify_shards(), Err(FormatError::ShardChecksum { shard: 0 }));
        assert!(bl
            .contains_key(first)
            .unwrap_err()
            .to_string()
            .contains("checksum mismatch"));
    }

    #[test]
    fn given_one_damaged_shard_then_only_its_lookups_fail() {
        let (mut file, first, last) = sharded();
        let last_shard_end = file.len() - 1;
        file[last_shard_end] ^= 0x10;
        let bl = Blocklist::parse(&file).unwrap();
        assert!(bl.contains_key(first).unwrap());
        assert_eq!(
            bl.contains_key(last),
            Err(FormatError::ShardChecksum { shard: 31 })
        );
        // A damaged checksum in the index is caught the same way.
        let (mut file, first, _) = sharded();
        file[HEADER_LEN + 40] ^= 1;
        let bl = Blocklist::parse(&file).unwrap();
        assert_eq!(
            bl.contains_key(first),
            Err(FormatError::ShardChecksum { shard: 0 })
        );
    }

    #[test]
    fn given_file_truncated_after_open_then_lookups_are_errors_not_sigbus() {
        let (file, first, last) = sharded();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.pwbl");
        std::fs::write(&path, &file).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let bl = Blocklist::parse(&f).unwrap();
        assert!(bl.contains_key(first).unwrap());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(HEADER_LEN as u64 + 10)
            .unwrap();
        let e = bl.contains_key(last).unwrap_err();
        assert!(matches!(e, FormatError::Changed(_)), "{e:?}");
        assert!(e.to_string().contains("renaming"), "{e}");
        assert!(bl.verify_checksum().is_err());
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
