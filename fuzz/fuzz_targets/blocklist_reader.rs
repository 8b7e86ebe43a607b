//! The breached-password blocklist reader: any bytes as the file the module reads with `pread` (header,
//! shard index with per-shard checksums, fingerprint arrays), through `Blocklist::parse` and, when it
//! validates, index entries, lookups (each verifying its shard's checksum on first use), the password lookup
//! (NFKC + raw forms), every shard's checksum and the full checksum. Must never panic or read out of
//! bounds, whatever the bytes; the same bytes cut short after parsing (a file truncated while in use) must
//! give errors, not panics. Seeds are small format-2 files (corpus/blocklist_reader/).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_pwpolicy::blocklist::{Blocklist, Source};
use std::io;

/// `bytes` whose length is fixed at parse time but which, from the `cut_after`-th read on, end at `cut`.
struct Shrinking<'a> {
    bytes: &'a [u8],
    cut: usize,
    reads: std::cell::Cell<u32>,
    cut_after: u32,
}

impl Source for Shrinking<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let n = self.reads.get();
        self.reads.set(n.saturating_add(1));
        let visible = if n >= self.cut_after {
            self.bytes.get(..self.cut).unwrap_or(self.bytes)
        } else {
            self.bytes
        };
        visible.read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        self.bytes.size()
    }
}

fn exercise(bl: &Blocklist<'_>, bytes: &[u8]) {
    let _ = bl.entries();
    let _ = bl.bits_per_entry();
    for i in 0..bl.shards().min(4) {
        let _ = bl.shard(i);
    }
    let mut key = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in bytes.chunks(8).take(64) {
        for (i, b) in chunk.iter().enumerate() {
            key ^= u64::from(*b) << (8 * i);
        }
        let _ = bl.contains_key(key);
        key = key.rotate_left(17).wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    let _ = bl.contains_password(b"password");
    let _ = bl.contains_password("ｐａｓｓｗｏｒｄ".as_bytes());
    let _ = bl.verify_shards();
    let _ = bl.verify_checksum();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(bl) = Blocklist::parse(&data) {
        exercise(&bl, data);
    }
    // The same file, cut short after it was validated.
    let cut = data.first().map_or(0, |&b| usize::from(b) * data.len() / 256);
    let shrinking = Shrinking {
        bytes: data,
        cut,
        reads: std::cell::Cell::new(0),
        cut_after: u32::from(data.get(1).copied().unwrap_or(0) % 8),
    };
    if let Ok(bl) = Blocklist::parse(&shrinking) {
        exercise(&bl, data);
    }
});
