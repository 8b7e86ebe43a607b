//! The same link arguments as the shipped modules (so that bench/totp.sh's no-op Rust module measures how
//! they load). Links the module with `-z nodelete`: libpam `dlclose`s a module at every `pam_end` and loads it again at
//! the next `pam_start`. Without this flag each reload would re-create the module's lazily built statics
//! (zxcvbn's dictionaries, std's panic hook) and strand the old ones: a leak per transaction in long-lived
//! PAM clients. With it, the library stays mapped and the statics are built once per process.
//!
//! And with `-z pack-relative-relocs` (DT_RELR, glibc 2.36 = Debian 12): the library's relative relocations
//! (hundreds for pam_totp, thousands for pam_pwpolicy) are stored as a compact bitmap instead of one 24-byte
//! entry each, so that `dlopen` reads and processes less at every login (bench/totp.sh measures the load).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
}
