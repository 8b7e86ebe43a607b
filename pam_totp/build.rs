//! The build script of every PAM module of the workspace (pam_totp, pam_pwpolicy and the test-only fixture
//! module point their `build =` here).
//!
//! Links the module with `-z nodelete`: libpam `dlclose`s a module at every `pam_end` and loads it again at
//! the next `pam_start`. Without this flag each reload would re-create the module's lazily built statics
//! (zxcvbn's dictionaries, std's panic hook) and strand the old ones: a leak per transaction in long-lived
//! PAM clients. With it, the library stays mapped and the statics are built once per process.
//!
//! And with `-z pack-relative-relocs` (DT_RELR, glibc 2.36 = Debian 12): the library's relative relocations
//! (hundreds for pam_totp, thousands for pam_pwpolicy) are stored as a compact bitmap instead of one 24-byte
//! entry each, so that `dlopen` reads and processes less at every login (bench/totp.sh measures the load).
//!
//! The next two are for rust-lld, the default linker of rustc 1.90 and later on x86_64-unknown-linux-gnu, and
//! used only there (see [`rust_lld`]); with another linker or target the build warns and the module is the
//! same, only laid out by the linker's defaults:
//!
//! - `-z separate-loadable-segments`: every loadable segment starts on its own page, in the file and in
//!   memory. Without it the writable data shares pages with the end of the relocation tables, and `.data` +
//!   `.bss` (2.7 KB in pam_totp) could straddle a page boundary, which made the loader map one more anonymous
//!   page and the process fault on it. Measured on pam_totp, paired with google-authenticator, C client,
//!   2 x 1,000 rounds: about 20 us less per login. The file grows by less than 12 KB of padding.
//! - For a module with a `hot-text.ld` next to its Cargo.toml (pam_totp), that linker script: it gathers the
//!   code a login runs at the start of the code segment (tests/benches/hot_text.rs says why, and
//!   `bench/hot-text.sh` regenerates and checks it).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    let lld = rust_lld();
    match &lld {
        Ok(()) => println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-loadable-segments"),
        Err(why) => {
            println!("cargo:warning=page-aligned segments not used: {why}; that option is rust-lld's")
        }
    }
    hot_text(&lld);
    static_unwinder();
}

/// Passes the crate's `hot-text.ld`, if it has one, to the linker. The script only orders sections (its
/// `INSERT AFTER .fini` keeps the linker's default layout for everything else) and is written for rust-lld:
/// GNU ld would make a second `.text` of it, which valgrind cannot read.
fn hot_text(lld: &Result<(), String>) {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = dir.join("hot-text.ld");
    if !script.is_file() {
        // Watch the whole crate (cargo's default without any rerun line), so that a new script is noticed.
        println!("cargo:rerun-if-changed={}", dir.display());
        return;
    }
    println!("cargo:rerun-if-changed={}", script.display());
    match lld {
        Err(why) => println!(
            "cargo:warning={} not used: {why}; it is written for rust-lld",
            script.display()
        ),
        Ok(()) => {
            // Two arguments, so that a comma in the path cannot split it.
            println!("cargo:rustc-cdylib-link-arg=-Xlinker");
            println!("cargo:rustc-cdylib-link-arg=--script={}", script.display());
        }
    }
}

/// Whether the module is linked by rust-lld: the target is x86_64-unknown-linux-gnu, rustc is 1.90 or later
/// and RUSTFLAGS do not choose the linker. `Err` says why not. (Also tells cargo to run this script again
/// when those variables change.)
fn rust_lld() -> Result<(), String> {
    let target = std::env::var("TARGET").unwrap_or_default();
    for var in [
        "RUSTFLAGS".to_owned(),
        "CARGO_BUILD_RUSTFLAGS".to_owned(),
        format!(
            "CARGO_TARGET_{}_RUSTFLAGS",
            target.to_uppercase().replace('-', "_")
        ),
        "CC".to_owned(),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let why_not = if target != "x86_64-unknown-linux-gnu" {
        Some(format!("the target is {target}"))
    } else if !rustc_at_least(1, 90) {
        Some("rustc is older than 1.90 (GNU ld, not rust-lld, is its default linker)".to_owned())
    } else if [
        "linker-features",
        "linker-flavor",
        "fuse-ld",
        "link-self-contained",
    ]
    .iter()
    .any(|f| flags.contains(f))
    {
        Some("RUSTFLAGS choose the linker".to_owned())
    } else {
        None
    };
    match why_not {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Whether the rustc cargo uses is at least `major.minor` (`rustc -V`: "rustc 1.95.0 (...)").
fn rustc_at_least(major: u32, minor: u32) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let mut numbers = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    found >= (major, minor)
}

/// Links GCC's unwinder statically (libgcc_eh.a) instead of depending on libgcc_s.so.1: std asks the linker
/// for `-lgcc_s`, and a directory searched first holds a `libgcc_s.so` that is a linker script naming
/// libgcc_eh.a. sshd does not load libgcc_s, so the dependency cost every login a library load (~0.15 ms,
/// bench/totp.sh's C-client rows). The unwinder is used only inside the module (a panic is caught at the
/// hook boundary and never crosses into C), and the version script keeps its symbols local.
fn static_unwinder() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let found = std::process::Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|p| std::path::Path::new(p).is_absolute());
    let Some(eh) = found else {
        println!("cargo:warning=libgcc_eh.a not found with {cc}: the module will depend on libgcc_s.so.1");
        return;
    };
    let dir = out.join("static-unwind");
    let script = format!("/* Generated by build.rs: link GCC's unwinder statically. */\nINPUT({eh})\n");
    if std::fs::create_dir_all(&dir).is_err() || std::fs::write(dir.join("libgcc_s.so"), script).is_err() {
        println!(
            "cargo:warning=cannot write the unwinder linker script in {}",
            dir.display()
        );
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
