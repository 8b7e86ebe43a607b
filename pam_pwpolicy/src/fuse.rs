//! A 3-wise binary fuse filter with 16-bit fingerprints (Graf and Lemire, 2022), written here rather than
//! taken from `xorf` because its lookup must run over bytes read from a file that nothing
//! guarantees to be aligned or well formed: `xorf` panics on a misaligned view, and a panic is never
//! acceptable inside a PAM module. Lookup reads each fingerprint with `u16::from_le_bytes` through
//! `slice::get`, so it cannot panic or read out of bounds whatever the bytes hold.
//!
//! Construction follows the reference code (`binary_fuse16_populate`): hash the keys with a seed, order them
//! by segment block for locality, count how many keys touch each slot, peel slots holding one key, and
//! assign fingerprints in reverse peeling order; retry with a new seed in the rare case peeling fails. It
//! takes distinct keys (the caller sorts and deduplicates) and ~34 bytes of RAM per key, which is why
//! [`crate::blocklist`] shards big inputs. Pure: no I/O, no panics (indexes go through checked access and an
//! impossible out-of-range becomes [`BuildError::Internal`]).

use std::fmt;

/// Fingerprint width in bits.
pub const FINGERPRINT_BITS: u16 = 16;
/// Hash functions per key.
pub const ARITY: u16 = 3;
/// Largest segment length.
pub const MAX_SEGMENT_LENGTH: u32 = 1 << 18;
/// Smallest segment length of a non-empty filter.
pub const MIN_SEGMENT_LENGTH: u32 = 4;
/// Seeds tried before giving up (the reference code's bound; failing even twice is rare).
pub const MAX_ATTEMPTS: u32 = 100;

/// The shape of one filter. `segment_count == 0` is the empty filter (no array, contains nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Slots per segment (a power of two).
    pub segment_length: u32,
    /// Segments a key's first position may fall in.
    pub segment_count: u32,
}

impl Params {
    /// The empty filter.
    pub const EMPTY: Params = Params {
        segment_length: 0,
        segment_count: 0,
    };

    /// The reference code's sizing for `n` keys (n = 0 gives [`Params::EMPTY`]).
    pub fn for_size(n: usize) -> Params {
        if n == 0 {
            return Params::EMPTY;
        }
        let size = n.max(2) as f64;
        let exp = (size.ln() / 3.33f64.ln() + 2.25).floor().clamp(2.0, 18.0) as u32;
        let segment_length = (1u32 << exp).clamp(MIN_SEGMENT_LENGTH, MAX_SEGMENT_LENGTH);
        let factor = (0.875 + 0.25 * 1_000_000f64.ln() / size.ln()).max(1.125);
        let capacity = (size * factor).round() as u64;
        let sl = u64::from(segment_length);
        let segments = capacity.div_ceil(sl).saturating_sub(u64::from(ARITY) - 1).max(1);
        Params {
            segment_length,
            segment_count: u32::try_from(segments).unwrap_or(u32::MAX),
        }
    }

    /// Slots in the array: `(segment_count + 2) * segment_length` (0 for the empty filter); `None` if that
    /// does not fit in `usize`.
    pub fn array_len(&self) -> Option<usize> {
        if self.segment_count == 0 {
            return Some(0);
        }
        let segments = usize::try_from(self.segment_count)
            .ok()?
            .checked_add(usize::from(ARITY) - 1)?;
        segments.checked_mul(usize::try_from(self.segment_length).ok()?)
    }

    /// Whether this shape is one the builder can produce (for the reader's validation).
    pub fn is_valid(&self) -> bool {
        if self == &Params::EMPTY {
            return true;
        }
        self.segment_length.is_power_of_two()
            && (MIN_SEGMENT_LENGTH..=MAX_SEGMENT_LENGTH).contains(&self.segment_length)
            && self.segment_count >= 1
            && self.array_len().is_some()
    }

    /// The three slots of hash `h` (only meaningful for a non-empty filter).
    #[inline]
    pub fn positions(&self, h: u64) -> [usize; 3] {
        let sl = u64::from(self.segment_length);
        let mask = sl.wrapping_sub(1);
        let scl = u64::from(self.segment_count) * sl;
        let p0 = ((u128::from(h) * u128::from(scl)) >> 64) as u64;
        let p1 = (p0 + sl) ^ ((h >> 18) & mask);
        let p2 = (p0 + 2 * sl) ^ (h & mask);
        [p0 as usize, p1 as usize, p2 as usize]
    }
}

/// MurmurHash3's 64-bit finalizer (a bijection).
#[inline]
pub fn murmur64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of `key` under `seed`.
#[inline]
pub fn hash(key: u64, seed: u64) -> u64 {
    murmur64(key.wrapping_add(seed))
}

/// The fingerprint of hash `h`.
#[inline]
pub fn fingerprint(h: u64) -> u16 {
    (h ^ (h >> 32)) as u16
}

/// SplitMix64, the seed sequence.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A built filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The seed that made peeling succeed.
    pub seed: u64,
    /// Its shape.
    pub params: Params,
    /// Keys inserted.
    pub entries: u64,
    /// `params.array_len()` fingerprints.
    pub fingerprints: Vec<u16>,
}

impl Filter {
    /// Whether `key` may be a member (exact for members, 2^-16 false positives).
    pub fn contains(&self, key: u64) -> bool {
        if self.params.segment_count == 0 {
            return false;
        }
        let h = hash(key, self.seed);
        let mut f = fingerprint(h);
        for p in self.params.positions(h) {
            f ^= self.fingerprints.get(p).copied().unwrap_or(0);
        }
        f == 0
    }

    /// The fingerprints as little-endian bytes (the file's encoding).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.fingerprints.iter().flat_map(|f| f.to_le_bytes()).collect()
    }
}

/// Looks `key` up in a filter stored as little-endian fingerprints in `array` (any alignment).
/// `None` when `array` is shorter than `params` says (the caller validated it, so only a bug or a file
/// changed in place gets there).
#[inline]
pub fn contains_in(array: &[u8], params: Params, seed: u64, key: u64) -> Option<bool> {
    if params.segment_count == 0 {
        return Some(false);
    }
    let h = hash(key, seed);
    let mut f = fingerprint(h);
    for p in params.positions(h) {
        let at = p.checked_mul(2)?;
        let bytes = array.get(at..at.checked_add(2)?)?;
        f ^= u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]);
    }
    Some(f == 0)
}

/// Why a filter could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The keys were not distinct (the caller must sort and deduplicate).
    Duplicates,
    /// Too many keys for one filter (more than 2^32 slots).
    TooLarge,
    /// No seed made peeling succeed within [`MAX_ATTEMPTS`] (never seen with distinct keys).
    NoSeed,
    /// An index out of range: a bug.
    Internal,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Duplicates => write!(f, "duplicate keys given to the filter builder"),
            BuildError::TooLarge => write!(f, "too many keys for one filter shard"),
            BuildError::NoSeed => write!(f, "no seed built a filter in {MAX_ATTEMPTS} attempts"),
            BuildError::Internal => write!(f, "internal error in the filter builder (index out of range)"),
        }
    }
}

impl std::error::Error for BuildError {}

fn get<T: Copy>(s: &[T], i: usize) -> Result<T, BuildError> {
    s.get(i).copied().ok_or(BuildError::Internal)
}

fn slot<T>(s: &mut [T], i: usize) -> Result<&mut T, BuildError> {
    s.get_mut(i).ok_or(BuildError::Internal)
}

/// Builds a filter over distinct `keys` (any order). `seed_state` starts the seed sequence, so the same
/// keys and state always give the same file.
pub fn build(keys: &[u64], mut seed_state: u64) -> Result<Filter, BuildError> {
    let n = keys.len();
    let params = Params::for_size(n);
    let array_len = params.array_len().ok_or(BuildError::TooLarge)?;
    if n == 0 {
        return Ok(Filter {
            seed: splitmix64(&mut seed_state),
            params,
            entries: 0,
            fingerprints: Vec::new(),
        });
    }
    if u32::try_from(array_len).is_err() {
        return Err(BuildError::TooLarge);
    }
    // Blocks of segments, for a cache-friendly insertion order.
    let mut block_bits = 1u32;
    while (1u64 << block_bits) < u64::from(params.segment_count) {
        block_bits += 1;
    }
    let blocks = 1usize << block_bits;
    let mut ordered = vec![0u64; n];
    let mut start = vec![0usize; blocks + 1];
    let mut t2count = vec![0u8; array_len];
    let mut t2hash = vec![0u64; array_len];
    let mut queue: Vec<u32> = Vec::with_capacity(array_len);
    // The peeling order: hashes go back into `ordered` (no longer needed once counted), slots here.
    let mut found_at = vec![0u8; n];

    for _ in 0..MAX_ATTEMPTS {
        let seed = splitmix64(&mut seed_state);
        // Counting sort of the hashes by their top `block_bits` bits.
        start.iter_mut().for_each(|s| *s = 0);
        for &k in keys {
            let b = (hash(k, seed) >> (64 - block_bits)) as usize;
            *slot(&mut start, b + 1)? += 1;
        }
        for b in 1..=blocks {
            let prev = get(&start, b - 1)?;
            *slot(&mut start, b)? += prev;
        }
        for &k in keys {
            let h = hash(k, seed);
            let b = (h >> (64 - block_bits)) as usize;
            let at = get(&start, b)?;
            *slot(&mut ordered, at)? = h;
            *slot(&mut start, b)? = at + 1;
        }

        t2count.iter_mut().for_each(|c| *c = 0);
        t2hash.iter_mut().for_each(|c| *c = 0);
        let mut overflow = false;
        for &h in &ordered {
            for (i, p) in params.positions(h).into_iter().enumerate() {
                let c = slot(&mut t2count, p)?;
                *c = c.wrapping_add(4) ^ (i as u8);
                overflow |= *c < 4;
                *slot(&mut t2hash, p)? ^= h;
            }
        }
        if overflow {
            continue;
        }

        queue.clear();
        for (i, &c) in t2count.iter().enumerate() {
            if c >> 2 == 1 {
                queue.push(i as u32);
            }
        }
        let mut stacked = 0usize;
        while let Some(i) = queue.pop() {
            let i = i as usize;
            if get(&t2count, i)? >> 2 != 1 {
                continue;
            }
            let h = get(&t2hash, i)?;
            let found = get(&t2count, i)? & 3;
            if found > 2 {
                break;
            }
            if stacked >= n {
                break;
            }
            *slot(&mut ordered, stacked)? = h;
            *slot(&mut found_at, stacked)? = found;
            stacked += 1;
            let pos = params.positions(h);
            for d in 1..=2u8 {
                let which = (found + d) % 3;
                let o = get(&pos, usize::from(which))?;
                let c = slot(&mut t2count, o)?;
                if *c >> 2 == 2 {
                    queue.push(o as u32);
                }
                *c = c.wrapping_sub(4) ^ which;
                *slot(&mut t2hash, o)? ^= h;
            }
        }
        if stacked != n {
            continue;
        }

        let mut fingerprints = vec![0u16; array_len];
        for (&h, &found) in ordered.iter().zip(&found_at).rev() {
            let pos = params.positions(h);
            let f = usize::from(found);
            let a = get(&fingerprints, get(&pos, (f + 1) % 3)?)?;
            let b = get(&fingerprints, get(&pos, (f + 2) % 3)?)?;
            *slot(&mut fingerprints, get(&pos, f)?)? = fingerprint(h) ^ a ^ b;
        }
        return Ok(Filter {
            seed,
            params,
            entries: n as u64,
            fingerprints,
        });
    }
    // Distinct keys hash to distinct values (murmur64 is a bijection), so peeling only fails by bad luck;
    // but duplicates make it fail every time: tell the caller which it was.
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(BuildError::Duplicates);
    }
    Err(BuildError::NoSeed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize, seed: u64) -> Vec<u64> {
        let mut s = seed;
        let mut v: Vec<u64> = (0..n).map(|_| splitmix64(&mut s)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn given_sizes_from_zero_up_then_every_member_is_found() {
        for n in [0usize, 1, 2, 3, 5, 10, 31, 100, 1000, 4096, 100_000] {
            let k = keys(n, n as u64);
            let f = build(&k, 7).unwrap();
            assert_eq!(f.fingerprints.len(), f.params.array_len().unwrap());
            assert!(f.params.is_valid(), "{n}: {:?}", f.params);
            let bytes = f.to_le_bytes();
            for &key in &k {
                assert!(f.contains(key), "n={n}");
                assert_eq!(contains_in(&bytes, f.params, f.seed, key), Some(true));
            }
        }
    }

    #[test]
    fn given_large_filter_then_about_18_bits_per_entry_and_fp_near_2_pow_minus_16() {
        let k = keys(1_000_000, 1);
        let f = build(&k, 9).unwrap();
        let bits = f.fingerprints.len() as f64 * 16.0 / k.len() as f64;
        assert!(bits < 18.5, "{bits} bits per entry");
        let mut s = 0xdead_beef;
        let trials = 2_000_000u32;
        let fp = (0..trials)
            .filter(|_| f.contains(splitmix64(&mut s) | 1 << 63))
            .count();
        let rate = fp as f64 / f64::from(trials);
        assert!(rate < 2.5e-5, "{rate}");
    }

    #[test]
    fn given_duplicate_keys_then_builder_says_so() {
        assert_eq!(build(&[5, 5, 6], 1), Err(BuildError::Duplicates));
    }

    #[test]
    fn given_short_array_then_lookup_is_none_not_a_panic() {
        let k = keys(100, 3);
        let f = build(&k, 1).unwrap();
        let bytes = f.to_le_bytes();
        for &key in &k {
            assert_eq!(contains_in(&bytes[..10], f.params, f.seed, key), None);
        }
        // Odd slices (a misaligned start) read the same way.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        assert_eq!(contains_in(&shifted[1..], f.params, f.seed, k[0]), Some(true));
    }

    #[test]
    fn given_any_params_then_positions_stay_in_the_array() {
        for (sl, sc) in [(4u32, 1u32), (4, 7), (1 << 18, 1), (1 << 18, 300), (1024, 9)] {
            let p = Params {
                segment_length: sl,
                segment_count: sc,
            };
            let len = p.array_len().unwrap();
            for h in [0u64, 1, u64::MAX, u64::MAX - 1, 1 << 63, 0x5555_5555_5555_5555] {
                assert!(p.positions(h).iter().all(|&x| x < len), "{p:?} {h}");
            }
        }
    }
}
