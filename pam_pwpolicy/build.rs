//! Links the module with `-z nodelete`: libpam `dlclose`s a module at every `pam_end` and loads it again at
//! the next `pam_start`. Without this flag each reload would re-create the module's lazily built statics
//! (zxcvbn's dictionaries, std's panic hook) and strand the old ones: a leak per transaction in long-lived
//! PAM clients. With it, the library stays mapped and the statics are built once per process.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
