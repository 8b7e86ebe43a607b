//! `totp-enroll` neither builds nor links the libpam bindings (issue 25, item 4): pam-ffi's libpam part is
//! behind its `libpam` feature, which the module enables and totp-enroll does not, and the built binary has
//! no `libpam.so` in its dynamic section.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

/// The features cargo enables for pam-ffi when it builds `package` (normal dependencies only).
fn pam_ffi_features(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-f",
            "{p} [{f}]",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout).unwrap();
    let line = tree
        .lines()
        .find(|l| l.starts_with("pam-ffi "))
        .unwrap_or_else(|| panic!("{package} does not depend on pam-ffi:\n{tree}"));
    let features = line
        .rsplit_once('[')
        .and_then(|(_, f)| f.split_once(']'))
        .unwrap()
        .0;
    features.split(',').map(str::to_owned).collect()
}

#[test]
fn the_libpam_bindings_are_a_feature_the_module_enables_and_totp_enroll_does_not() {
    assert!(pam_ffi_features("pam_totp").contains(&"libpam".to_owned()));
    assert_eq!(pam_ffi_features("totp-enroll"), ["default"]);
}

#[test]
fn the_totp_enroll_binary_does_not_need_libpam() {
    let out = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_totp-enroll")])
        .output()
        .expect("readelf (binutils)");
    assert!(out.status.success());
    let dynamic = String::from_utf8(out.stdout).unwrap();
    assert!(dynamic.contains("(NEEDED)"), "not a dynamic section: {dynamic}");
    assert!(!dynamic.contains("libpam.so"), "{dynamic}");
}
