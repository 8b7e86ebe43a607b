//! Builds the syslog shim (a tiny C LD_PRELOAD library) that lets hermetic tests read what modules log with
//! `pam_syslog`, without root and without a /dev/log listener, and `pamc`, a minimal C PAM client for the
//! pam_totp benchmark.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());

    let so = out.join("libpamh_syslog_shim.so");
    compile(
        &cc,
        "the syslog shim",
        "syslog-shim/syslog_shim.c",
        &so,
        &["-shared", "-fPIC"],
        &[],
    );
    println!("cargo:rustc-env=PAMH_SYSLOG_SHIM={}", so.display());

    // pamc: a minimal C PAM client for bench/totp.sh (a process without Rust's runtime, as sshd is).
    let pamc = out.join("pamc");
    compile(&cc, "pamc", "pamc/pamc.c", &pamc, &[], &["-lpam"]);
    println!("cargo:rustc-env=PAMH_PAMC={}", pamc.display());
}

/// `cc FLAGS -O2 -Wall -Werror -o OUT SRC LIBS`; a failure stops the build.
fn compile(cc: &str, what: &str, src: &str, out: &Path, flags: &[&str], libs: &[&str]) {
    println!("cargo:rerun-if-changed={src}");
    let status = Command::new(cc)
        .args(flags)
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(out)
        .arg(src)
        .args(libs)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            println!("cargo:warning=building {what} with {cc} failed: {other:?}");
            std::process::exit(1);
        }
    }
}
