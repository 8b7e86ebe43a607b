//! Builds the syslog shim (a tiny C LD_PRELOAD library) that lets hermetic tests read what modules log with
//! `pam_syslog`, without root and without a /dev/log listener, and `pamc`, a minimal C PAM client for the
//! pam_totp benchmark.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let so = out.join("libpamh_syslog_shim.so");
    let src = "syslog-shim/syslog_shim.c";
    println!("cargo:rerun-if-changed={src}");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&so)
        .arg(src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            println!("cargo:warning=building the syslog shim with {cc} failed: {other:?}");
            std::process::exit(1);
        }
    }
    println!("cargo:rustc-env=PAMH_SYSLOG_SHIM={}", so.display());

    // pamc: a minimal C PAM client for bench/totp.sh (a process without Rust's runtime, as sshd is).
    let pamc = out.join("pamc");
    let src = "pamc/pamc.c";
    println!("cargo:rerun-if-changed={src}");
    let status = Command::new(&cc)
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&pamc)
        .arg(src)
        .arg("-lpam")
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            println!("cargo:warning=building pamc with {cc} failed: {other:?}");
            std::process::exit(1);
        }
    }
    println!("cargo:rustc-env=PAMH_PAMC={}", pamc.display());
}
