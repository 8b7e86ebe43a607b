//! Module-argument parser: any bytes, split into arguments on NUL or newline (lossy UTF-8, as PAM hands the
//! module C strings), through `parse_args` and `resolve` (the same path as `config::load` after the files,
//! without any file I/O). Must never panic; a resolved policy must describe itself.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_pwpolicy::config::{parse_args, resolve};

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = data
        .split(|b| *b == 0 || *b == b'\n')
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(policy) = resolve(&parse_args(&args)) {
        let _ = policy.requirements();
        let _ = policy.shortest_possible();
        let _ = policy.new_prompt();
    }
});
