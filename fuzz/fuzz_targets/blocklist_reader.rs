//! The breached-password blocklist reader: any bytes as the file the module maps (header, shard index and
//! fingerprint arrays), through `Blocklist::parse` and, when it validates, lookups, the password lookup
//! (NFKC + raw forms) and the full checksum. Must never panic or read out of bounds, whatever the bytes.
//! Seeds are small files written by `pwpolicy build-blocklist` (corpus/blocklist_reader/).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_pwpolicy::blocklist::Blocklist;

fuzz_target!(|data: &[u8]| {
    // Also at an odd offset: the module's mapping is page-aligned, but the reader must not care.
    for bytes in [data, data.get(1..).unwrap_or_default()] {
        let Ok(bl) = Blocklist::parse(bytes) else {
            continue;
        };
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
        let _ = bl.verify_checksum();
    }
});
