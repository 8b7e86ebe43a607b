//! `pwquality.conf` reader: any text through `parse_pwquality` and `resolve`. Must never panic.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_pwpolicy::config::{parse_pwquality, resolve};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (settings, _errors) = parse_pwquality(&text, "fuzz");
    if let Ok(policy) = resolve(&settings) {
        let _ = policy.requirements();
    }
});
