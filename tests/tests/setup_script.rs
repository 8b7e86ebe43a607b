//! The set-up of the README's two commands (`tests/setup.sh`), run by bash with fake `dpkg-query`,
//! `getent` and `cargo` on a PATH that has no real cargo: which packages it would install, where it finds
//! cargo when sudo has dropped it from PATH, and the one sentence it stops with when there is no toolchain.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A bin directory with the given fakes plus the few real tools the set-up's functions use.
fn fake_bin(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for tool in [
        "bash", "grep", "awk", "cut", "cat", "dirname", "stat", "find", "xargs",
    ] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists());
        std::os::unix::fs::symlink(real.expect(tool), bin.join(tool)).unwrap();
    }
    bin
}

/// Sources tests/setup.sh in bash with `env` only and runs `body`.
fn run_setup(bin: &Path, env: &[(&str, &str)], body: &str) -> Output {
    let setup = workspace().join("tests/setup.sh");
    let mut cmd = Command::new("/bin/bash");
    cmd.env_clear()
        .env("PATH", bin)
        .args(["-c", &format!(". '{}'\n{body}", setup.display())]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[track_caller]
fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn missing_packages_are_those_of_the_list_that_dpkg_does_not_report_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_bin(tmp.path());
    // dpkg-query reports pkg-a installed, pkg-c half-configured, anything else unknown.
    script(
        &bin,
        "dpkg-query",
        r#"for last; do :; done
case $last in pkg-a) printf installed ;; pkg-c) printf half-configured ;; *) exit 1 ;; esac"#,
    );
    let list = tmp.path().join("apt-packages");
    fs::write(
        &list,
        "# a comment line\npkg-a\n\npkg-b\n  # indented comment\npkg-c\n",
    )
    .unwrap();
    let out = run_setup(&bin, &[], &format!("missing_packages '{}'", list.display()));
    assert_eq!(stdout(&out), "pkg-b\npkg-c\n");
}

#[test]
fn missing_packages_reads_every_package_of_ci_apt_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_bin(tmp.path());
    script(&bin, "dpkg-query", "exit 1");
    let list = workspace().join(".ci/apt-packages");
    let expected: String = fs::read_to_string(&list)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(expected.contains("libpam0g-dev\n"), "{expected}");
    // Without an argument it reads .ci/apt-packages of the checkout (the callers' working directory).
    let out_default = Command::new("/bin/bash")
        .current_dir(workspace())
        .env_clear()
        .env("PATH", &bin)
        .args(["-c", ". tests/setup.sh; missing_packages"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out_default), expected);
}

#[test]
fn cargo_is_found_in_the_sudo_users_home_when_path_has_none() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_bin(tmp.path());
    let home = tmp.path().join("home/bob");
    let cargo_bin = home.join(".cargo/bin");
    fs::create_dir_all(&cargo_bin).unwrap();
    script(&cargo_bin, "cargo", "echo \"bob's cargo $*\"");
    script(
        &bin,
        "getent",
        &format!(
            "case $2 in bob) echo 'bob:x:4242:4242::{}:/bin/bash' ;; root) echo 'root:x:0:0::{}:/bin/sh' ;; *) exit 2 ;; esac",
            home.display(),
            tmp.path().join("root-home").display()
        ),
    );
    let out = run_setup(
        &bin,
        &[("SUDO_USER", "bob"), ("HOME", "/nonexistent")],
        "command -v cargo >/dev/null && exit 9\nfind_cargo\ncommand -v cargo\necho \"$BUILD_USER $RUSTUP_HOME $CARGO_HOME\"\ncargo --version",
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], cargo_bin.join("cargo").to_str().unwrap());
    assert_eq!(
        lines[1],
        format!(
            "bob {} {}",
            home.join(".rustup").display(),
            home.join(".cargo").display()
        )
    );
    assert_eq!(lines[2], "bob's cargo --version");
}

#[test]
fn cargo_in_roots_home_is_used_as_root_without_a_build_user() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_bin(tmp.path());
    let root_home = tmp.path().join("root-home");
    fs::create_dir_all(root_home.join(".cargo/bin")).unwrap();
    script(&root_home.join(".cargo/bin"), "cargo", "echo root-cargo");
    script(
        &bin,
        "getent",
        &format!(
            "[ \"$2\" = root ] && echo 'root:x:0:0::{}:/bin/sh'",
            root_home.display()
        ),
    );
    let out = run_setup(
        &bin,
        &[("HOME", "/nonexistent")],
        "find_cargo\necho \"[$BUILD_USER]\"\ncargo",
    );
    assert_eq!(stdout(&out), "[]\nroot-cargo\n");
}

#[test]
fn no_toolchain_stops_with_one_sentence_naming_rustup() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_bin(tmp.path());
    script(&bin, "getent", "exit 2");
    let out = run_setup(
        &bin,
        &[("SUDO_USER", "bob"), ("HOME", "/nonexistent")],
        "find_cargo\necho not-reached",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("setup: error: no Rust toolchain"), "{err}");
    assert!(err.contains("rustup"), "{err}");
}

#[test]
fn not_debian_stops_with_the_packages_to_install_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = fake_bin(tmp.path());
    let list = tmp.path().join("apt-packages");
    fs::write(&list, "# build\nlibpam0g-dev\noathtool\n").unwrap();
    let out = run_setup(
        &bin,
        &[],
        &format!("check_debian '{}'\necho not-reached", list.display()),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("setup: error: this is not Debian"), "{err}");
    assert!(err.contains("libpam0g-dev oathtool"), "{err}");
}
