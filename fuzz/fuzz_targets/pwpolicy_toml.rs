//! `pwpolicy.conf` reader: any text through `parse_toml` and `resolve`. Must never panic.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_pwpolicy::config::{parse_toml, resolve};

fuzz_target!(|data: &[u8]| {
    // The module reads the file as UTF-8 (anything else is refused before parsing).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (settings, _errors) = parse_toml(text, "fuzz");
    if let Ok(policy) = resolve(&settings) {
        let _ = policy.requirements();
    }
});
