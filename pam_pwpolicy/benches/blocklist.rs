//! Helper of `bench/blocklist.sh` (the breached-password blocklist benchmark); plain std, its own main.
//!
//! - `blocklist gen N SEED`: writes N lines `SHA1HEX:COUNT` of deterministic pseudo-random 160-bit hex
//!   (SplitMix64 from SEED) to stdout: a synthetic HIBP file, streamed so nothing is stored. Distinct seeds
//!   give disjoint sets (up to 2^-160 odds), so one seed makes members and another non-members.
//! - `blocklist lookup FILE`: opens FILE as the module does, then looks up every `SHA1HEX[:COUNT]` line of
//!   stdin; prints `found=F total=T open_us=O first_ns=X warm_ns=W` (open: open + validation; first: the
//!   first lookup, which verifies its shard's checksum; warm: mean of the others, each verifying its shard
//!   on first use like the module).
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use pam_pwpolicy::blocklist::{parse_hibp_line, Blocklist};
use pam_pwpolicy::fuse::splitmix64;
use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn gen(n: u64, seed: u64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut s = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5bd1_e995;
    let mut line = [0u8; 48];
    for _ in 0..n {
        let words = [splitmix64(&mut s), splitmix64(&mut s), splitmix64(&mut s)];
        let mut at = 0;
        for (w, digits) in words.iter().zip([16usize, 16, 8]) {
            for d in 0..digits {
                if let Some(c) = line.get_mut(at) {
                    *c = HEX
                        .get(((w >> (60 - 4 * d)) & 0xf) as usize)
                        .copied()
                        .unwrap_or(b'0');
                }
                at += 1;
            }
        }
        let count = 1 + (words[2] & 0xff);
        let tail = format!(":{count}\n");
        out.write_all(line.get(..40).unwrap_or_default())?;
        out.write_all(tail.as_bytes())?;
    }
    out.flush()
}

fn lookup(path: &str) -> Result<(), String> {
    let t0 = Instant::now();
    let abs = std::path::absolute(path).map_err(|e| format!("{path}: {e}"))?;
    let file = pam_pwpolicy::blocklist::open(&abs)?;
    let bl = Blocklist::parse(&file).map_err(|e| format!("{path}: {e}"))?;
    let open_us = t0.elapsed().as_secs_f64() * 1e6;
    let stdin = io::stdin();
    let mut keys = Vec::new();
    for line in stdin.lock().split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        if let Ok(Some((k, _))) = parse_hibp_line(&line) {
            keys.push(k);
        }
    }
    let mut found = 0u64;
    let mut first_ns = 0.0;
    let mut warm = 0.0;
    if let Some((first, rest)) = keys.split_first() {
        let t = Instant::now();
        found += u64::from(bl.contains_key(*first).map_err(|e| e.to_string())?);
        first_ns = t.elapsed().as_secs_f64() * 1e9;
        let t = Instant::now();
        for k in rest {
            found += u64::from(bl.contains_key(*k).map_err(|e| e.to_string())?);
        }
        warm = t.elapsed().as_secs_f64() * 1e9 / rest.len().max(1) as f64;
    }
    println!(
        "found={found} total={} open_us={open_us:.1} first_ns={first_ns:.0} warm_ns={warm:.1}",
        keys.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let r = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["gen", n, seed] => match (n.parse(), seed.parse()) {
            (Ok(n), Ok(seed)) => gen(n, seed).map_err(|e| e.to_string()),
            _ => Err("gen N SEED: numbers expected".to_owned()),
        },
        ["lookup", file] => lookup(file),
        [] => {
            println!("blocklist bench helper: run bench/blocklist.sh");
            Ok(())
        }
        _ => Err("usage: blocklist gen N SEED | blocklist lookup FILE < hashes".to_owned()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blocklist: {e}");
            ExitCode::from(2)
        }
    }
}
