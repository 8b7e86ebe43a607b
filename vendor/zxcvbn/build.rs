//! Builds zxcvbn's ranked word lists into open-addressing hash tables at build time (FNV-1a, linear
//! probing, load <= 1/2), so that no dictionary is built at run time.
use std::collections::BTreeMap;
use std::fmt::Write as _;

include!("src/lists.rs");

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn main() {
    println!("cargo:rerun-if-changed=src/lists.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let mut out = String::new();
    for (name, list) in [
        ("PASSWORDS", PASSWORDS),
        ("ENGLISH_WIKI", ENGLISH_WIKI),
        ("FEMALE_NAMES", FEMALE_NAMES),
        ("SURNAMES", SURNAMES),
        ("US_TV_AND_FILM", US_TV_AND_FILM),
        ("MALE_NAMES", MALE_NAMES),
    ] {
        // A word listed twice keeps its later rank, as upstream's HashMap collect did.
        let mut words: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut off = 0;
        for (i, w) in list.split(',').enumerate() {
            words.insert(w, (off, i + 1));
            off += w.len() + 1;
        }
        let size = (words.len() * 2).next_power_of_two();
        let mask = size - 1;
        let mut table = vec![0u64; size];
        for (w, (o, r)) in &words {
            let h = fnv1a(w);
            let mut slot = (h as usize) & mask;
            while table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            assert!(*o + 1 < 1 << 24 && *r < 1 << 20, "list too long for the table layout");
            table[slot] = ((*o as u64 + 1) << 40) | ((*r as u64) << 20) | ((h >> 44) & 0xf_ffff);
        }
        let _ = writeln!(out, "static {name}_INDEX: [u64; {size}] = [");
        for e in table {
            let _ = writeln!(out, "{e},");
        }
        let _ = writeln!(out, "];");
    }
    let dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(format!("{dir}/ranked.rs"), out).expect("write ranked.rs");
}
