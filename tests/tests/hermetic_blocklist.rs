//! Hermetic tests of the breached-password blocklist (issue 7), end to end: a synthetic file in the HIBP
//! "ordered by hash" format is built with the shipped `pwpolicy build-blocklist`, then the shipped
//! `libpam_pwpolicy.so` (through real libpam, `pam_start_confdir`) and `pwpolicy check --blocklist` refuse
//! its members and accept non-members; damaged files (missing, empty, truncated, wrong version, shifted by a
//! byte, corrupt index, symbolic link, group-writable, a FIFO, the body zeroed in place, truncated while
//! `pwpolicy check` runs) are refused with `blocklist_missing=deny` (the default) and only logged with
//! `blocklist_missing=warn`, never with a signal or a hang; the false-positive rate of a CLI-built file is
//! measured on 1,000,000 non-members with the same reader the module uses.
//!
//! Every stack passes `conf=` pointing to a file in the harness's temporary directory, so the host's
//! `/etc/security` is never read; stacks that must refuse carry `enforce_for_root` (CI runs as root).
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use pam_ffi::PamCode;
use pam_harness::{build_dir, module_path, Harness, Op, Outcome};
use pam_pwpolicy::blocklist::{self, Blocklist};
use pam_pwpolicy::fuse::splitmix64;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USER: &str = "alice";
/// Strong-looking passwords (they pass every other rule) that the synthetic breach list contains.
const BREACHED: &[&str] = &["Kq7#vWx2!mZp9Lr", "Tz4$uQ8@nB6&yHe", "correct-HORSE-94-staple!q"];
/// Strong passwords the list does not contain.
const FRESH: &[&str] = &["Vq8#mT2!rZw9xLp", "Hx3%pN7^cR5*wKd"];
const DENIED: &str = "The check against breached passwords is unavailable";

fn pwpolicy() -> PathBuf {
    let p = build_dir().join("pwpolicy");
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace`",
        p.display()
    );
    p
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The HIBP hash field of a password as the module reads it: the key (the first 16 hex digits of the
/// SHA-1, checked against real SHA-1 in the unit tests) padded to 40 digits.
fn sha1_hex(s: &str) -> String {
    format!(
        "{:016X}0123456789ABCDEF01234567",
        blocklist::key_of_bytes(s.as_bytes())
    )
}

/// Pseudo-random SHA-1-looking hex (160 bits from SplitMix64).
fn random_hex(state: &mut u64) -> String {
    let (a, b, c) = (splitmix64(state), splitmix64(state), splitmix64(state));
    format!("{a:016X}{b:016X}{:08X}", c >> 32)
}

/// A synthetic HIBP SHA-1 file: `extra` random hashes plus the [`BREACHED`] ones, sorted, `HASH:COUNT`
/// lines with CRLF endings, as downloaded.
fn hibp_text(extra: usize) -> String {
    let mut s = 0x1234_5678;
    let mut lines: Vec<String> = (0..extra).map(|_| random_hex(&mut s)).collect();
    lines.extend(BREACHED.iter().map(|p| sha1_hex(p)));
    lines.sort();
    lines
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{h}:{}\r\n", i % 97 + 1))
        .collect()
}

#[track_caller]
fn build(args: &[&str]) -> std::process::Output {
    let out = Command::new(pwpolicy())
        .arg("build-blocklist")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A harness with an empty pwpolicy.conf and a blocklist built from the synthetic HIBP file.
struct Setup {
    h: Harness,
    conf: PathBuf,
    list: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let h = Harness::new();
        let conf = h.root().join("pwpolicy.conf");
        write_mode(&conf, b"# hermetic test: no host configuration\n", 0o644);
        let input = h.root().join("pwned-passwords-sha1-ordered-by-hash.txt");
        std::fs::write(&input, hibp_text(5000)).unwrap();
        let list = h.root().join("hibp.pwbl");
        build(&[input.to_str().unwrap(), list.to_str().unwrap()]);
        Setup { h, conf, list }
    }

    fn line(&self, options: &str) -> String {
        format!(
            "password requisite {} {options} conf={}\n",
            module_path("pam_pwpolicy").display(),
            self.conf.display()
        )
    }

    fn chauthtok(&self, options: &str, replies: &[&str]) -> Outcome {
        self.h.service("chpw", &self.line(options));
        let mut run = self.h.run("chpw").user(USER).op(Op::Chauthtok);
        for r in replies {
            run = run.reply(r);
        }
        run.go()
    }

    /// A damaged copy of the list, written with mode 0644.
    fn damaged(&self, name: &str, f: impl Fn(&mut Vec<u8>)) -> PathBuf {
        let mut bytes = std::fs::read(&self.list).unwrap();
        f(&mut bytes);
        let p = self.h.root().join(name);
        write_mode(&p, &bytes, 0o644);
        p
    }
}

fn bad_messages(o: &Outcome) -> Vec<&str> {
    o.messages()
        .into_iter()
        .filter(|m| m.starts_with("BAD PASSWORD: "))
        .collect()
}

#[test]
fn given_hibp_file_then_build_reports_and_check_blocklist_verifies_it() {
    let s = Setup::new();
    let out = Command::new(pwpolicy())
        .args(["check-blocklist", s.list.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("5003 hashes") && text.contains("checksum verified"),
        "{text}"
    );
    // One flipped bit in the body: the structure is fine, the checksum is not.
    let bad = s.damaged("flipped.pwbl", |b| {
        let last = b.len() - 3;
        b[last] ^= 1;
    });
    let out = Command::new(pwpolicy())
        .args(["check-blocklist", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(err.contains("pwpolicy: hint: "), "{err}");
}

#[test]
fn given_blocklist_argument_then_breached_passwords_refused_and_fresh_ones_accepted() {
    let s = Setup::new();
    let opts = format!("blocklist={} enforce_for_root retry=3", s.list.display());
    let o = s.chauthtok(&opts, BREACHED);
    o.assert_code(PamCode::MaxTries);
    let bad = bad_messages(&o);
    assert_eq!(bad.len(), 3, "{:#?}", o.events);
    for m in bad {
        assert!(
            m.starts_with("BAD PASSWORD: it appears in a list of breached passwords\n"),
            "{m}"
        );
        assert!(
            m.lines().nth(1).is_some_and(|g| !g.is_empty()),
            "no guidance: {m}"
        );
    }
    assert!(o.logged("blocklist"), "{:#?}", o.logs);
    assert!(o.stderr.is_empty(), "{}", o.stderr);
    for pw in FRESH {
        let o = s.chauthtok(&opts, &[pw, pw]);
        o.assert_code(PamCode::Success);
        assert!(bad_messages(&o).is_empty(), "{pw}: {:#?}", o.events);
    }
}

#[test]
fn given_blocklist_key_in_pwpolicy_conf_then_it_applies() {
    let s = Setup::new();
    write_mode(
        &s.conf,
        format!("blocklist = \"{}\"\n", s.list.display()).as_bytes(),
        0o644,
    );
    let o = s.chauthtok("enforce_for_root", &[BREACHED[0]]);
    o.assert_code(PamCode::AuthtokErr);
    assert_eq!(bad_messages(&o).len(), 1, "{:#?}", o.events);
}

#[test]
fn given_fullwidth_form_of_a_breached_password_then_nfkc_form_is_refused() {
    let s = Setup::new();
    // NFKC maps fullwidth ASCII to ASCII: the typed text differs, the normalized one is in the list.
    let fullwidth: String = BREACHED[0]
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap())
        .collect();
    let o = s.chauthtok(
        &format!("blocklist={} enforce_for_root", s.list.display()),
        &[&fullwidth],
    );
    o.assert_code(PamCode::AuthtokErr);
    assert!(bad_messages(&o)[0].contains("breached"), "{:#?}", o.events);
}

#[test]
fn given_plain_password_list_then_built_list_refuses_them() {
    let s = Setup::new();
    let input = s.h.root().join("plain.txt");
    std::fs::write(&input, format!("{}\r\n\nsomething else\n", FRESH[1])).unwrap();
    let list = s.h.root().join("plain.pwbl");
    let out = build(&["--plain", input.to_str().unwrap(), list.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 distinct hashes"));
    let o = s.chauthtok(
        &format!("blocklist={} enforce_for_root", list.display()),
        &[FRESH[1]],
    );
    o.assert_code(PamCode::AuthtokErr);
    assert_eq!(bad_messages(&o).len(), 1, "{:#?}", o.events);
}

#[test]
fn given_min_count_then_rare_hashes_are_left_out() {
    let h = Harness::new();
    let input = h.root().join("in.txt");
    std::fs::write(
        &input,
        format!("{}:3\n{}:50\n", sha1_hex(FRESH[0]), sha1_hex(FRESH[1])),
    )
    .unwrap();
    let list = h.root().join("min.pwbl");
    build(&[
        input.to_str().unwrap(),
        list.to_str().unwrap(),
        "--min-count",
        "10",
    ]);
    let bytes = std::fs::read(&list).unwrap();
    let bl = Blocklist::parse(&bytes).unwrap();
    assert_eq!(bl.entries(), 1);
    assert!(bl.contains_password(FRESH[1].as_bytes()).unwrap());
    assert!(!bl.contains_password(FRESH[0].as_bytes()).unwrap());
}

#[test]
fn given_cli_check_with_blocklist_then_members_refused_and_others_accepted() {
    let s = Setup::new();
    let mut child = Command::new(pwpolicy())
        .args([
            "check",
            "--config",
            s.conf.to_str().unwrap(),
            "--blocklist",
            s.list.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}\n{}", BREACHED[1], FRESH[0]).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines[0].starts_with("refused")
            && lines[0].contains("blocklist: it appears in a list of breached passwords"),
        "{text}"
    );
    assert!(lines[1].starts_with("ok"), "{text}");
    // A broken list is an error of the command (exit 2), saying what is wrong.
    let out = Command::new(pwpolicy())
        .args([
            "check",
            "--config",
            s.conf.to_str().unwrap(),
            "--blocklist",
            "/nonexistent/list",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/list"));
}

#[test]
fn given_damaged_or_missing_blocklist_then_deny_refuses_and_logs_exactly_what_is_wrong() {
    let s = Setup::new();
    let version = s.damaged("v1.pwbl", |b| b[8] = 1);
    let truncated = s.damaged("truncated.pwbl", |b| b.truncate(b.len() / 2));
    let short = s.damaged("short.pwbl", |b| b.truncate(40));
    let empty = s.damaged("empty.pwbl", |b| b.clear());
    let shifted = s.damaged("shifted.pwbl", |b| b.insert(0, 0));
    let index = s.damaged("index.pwbl", |b| b[blocklist::HEADER_LEN + 8] ^= 0x55);
    let link = s.h.root().join("link.pwbl");
    std::os::unix::fs::symlink(&s.list, &link).unwrap();
    let writable = s.damaged("writable.pwbl", |_| {});
    write_mode(&writable, &std::fs::read(&s.list).unwrap(), 0o666);
    let missing = s.h.root().join("missing.pwbl");
    let cases: &[(&Path, &str)] = &[
        (&missing, "No such file"),
        (&empty, "empty"),
        (&short, "truncated"),
        (&truncated, "bytes but its header says"),
        (
            &version,
            "unsupported format version 1 (this pam_pwpolicy reads version 2 only); rebuild the file",
        ),
        (&shifted, "bad magic"),
        (&index, "shard 0"),
        (&link, "symbolic links"),
        (&writable, "writable by group or others"),
    ];
    for (path, why) in cases {
        let o = s.chauthtok(
            &format!("blocklist={} enforce_for_root", path.display()),
            &[FRESH[0], FRESH[0]],
        );
        assert_ne!(o.code(), PamCode::Success, "{}: {:#?}", path.display(), o.events);
        assert!(o.code() == PamCode::TryAgain || o.code() == PamCode::AuthtokErr);
        assert!(
            o.messages().iter().any(|m| m.contains(DENIED)),
            "{}: {:#?}",
            path.display(),
            o.events
        );
        assert!(o.prompts().is_empty(), "prompted although the change is refused");
        let line = o
            .logs
            .iter()
            .find(|l| l.text.contains(&path.display().to_string()))
            .unwrap_or_else(|| panic!("no log line naming {}: {:#?}", path.display(), o.logs));
        assert!(line.text.contains(why), "{why}: {}", line.text);
        assert!(o.stderr.is_empty(), "{}", o.stderr);
    }
}

/// Zeroes every byte after the shard index, in place (header and index intact).
fn zero_body(b: &mut [u8]) {
    let body = blocklist::HEADER_LEN + (1usize << b[24]) * blocklist::INDEX_ENTRY_LEN;
    b[body..].iter_mut().for_each(|x| *x = 0);
}

#[test]
fn given_blocklist_body_zeroed_in_place_then_deny_refuses_breached_passwords_and_logs_why() {
    let s = Setup::new();
    let zeroed = s.damaged("zeroed.pwbl", |b| zero_body(b));
    let o = s.chauthtok(
        &format!("blocklist={} enforce_for_root", zeroed.display()),
        &[BREACHED[0], BREACHED[0]],
    );
    o.assert_code(PamCode::AuthtokErr);
    assert!(o.messages().iter().any(|m| m.contains(DENIED)), "{:#?}", o.events);
    assert!(
        o.logs
            .iter()
            .any(|l| l.text.contains(&zeroed.display().to_string()) && l.text.contains("checksum mismatch")),
        "{:#?}",
        o.logs
    );
    // warn: logged, and the change goes on without the list.
    let o = s.chauthtok(
        &format!(
            "blocklist={} blocklist_missing=warn enforce_for_root",
            zeroed.display()
        ),
        &[FRESH[0], FRESH[0]],
    );
    o.assert_code(PamCode::Success);
    assert!(o.logged("checksum mismatch"), "{:#?}", o.logs);
    // check-blocklist names the damaged shard.
    let out = Command::new(pwpolicy())
        .args(["check-blocklist", zeroed.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shard 0: checksum mismatch"), "{err}");
}

#[test]
fn given_blocklist_body_zeroed_in_place_then_pwpolicy_check_follows_blocklist_missing() {
    let s = Setup::new();
    let zeroed = s.damaged("zeroed.pwbl", |b| zero_body(b));
    let run = |extra: &[&str]| {
        let mut child = Command::new(pwpolicy())
            .args(["check", "--config", s.conf.to_str().unwrap()])
            .args(["--blocklist", zeroed.to_str().unwrap()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{}", BREACHED[0]).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("shard 0: checksum mismatch"), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["blocklist_missing=warn"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pwpolicy: warning: blocklist") && err.contains("checksum mismatch"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"), "{out:?}");
}

#[test]
fn given_a_fifo_as_blocklist_then_refused_promptly_and_named_in_the_log() {
    let s = Setup::new();
    let fifo = s.h.root().join("fifo.pwbl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    s.h.service(
        "chpw",
        &s.line(&format!("blocklist={} enforce_for_root", fifo.display())),
    );
    let mut run =
        s.h.run("chpw")
            .user(USER)
            .op(Op::Chauthtok)
            .reply(FRESH[0])
            .reply(FRESH[0])
            .spawn();
    let start = std::time::Instant::now();
    while !run.has_exited() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            run.kill();
            panic!("pam_pwpolicy blocked on a FIFO named as the blocklist");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = run.wait();
    assert_ne!(o.code(), PamCode::Success);
    assert!(
        o.logs
            .iter()
            .any(|l| l.text.contains(&fifo.display().to_string()) && l.text.contains("not a regular file")),
        "{:#?}",
        o.logs
    );
}

#[test]
fn given_blocklist_truncated_while_pwpolicy_check_runs_then_no_sigbus_and_no_silent_pass() {
    let s = Setup::new();
    let list = s.damaged("shrinking.pwbl", |_| {});
    let mut child = Command::new(pwpolicy())
        .args([
            "check",
            "--config",
            s.conf.to_str().unwrap(),
            "--blocklist",
            list.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    writeln!(stdin, "{}", BREACHED[0]).unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(
        first.starts_with("refused") && first.contains("breached"),
        "{first}"
    );
    // The file is open and in use: truncate it in place, then ask again.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&list)
        .unwrap()
        .set_len(200)
        .unwrap();
    writeln!(stdin, "{}", BREACHED[1]).unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    assert_ne!(status.code(), Some(0), "{rest}");
    assert!(
        !rest.starts_with("ok"),
        "a breached password passed unchecked: {rest}"
    );
}

#[test]
fn given_warn_mode_then_a_broken_blocklist_is_logged_and_the_change_goes_on() {
    let s = Setup::new();
    let version = s.damaged("v9.pwbl", |b| b[8] = 9);
    for path in [version, s.h.root().join("missing.pwbl")] {
        let o = s.chauthtok(
            &format!(
                "blocklist={} blocklist_missing=warn enforce_for_root",
                path.display()
            ),
            &[FRESH[0], FRESH[0]],
        );
        o.assert_code(PamCode::Success);
        assert!(
            o.logs
                .iter()
                .any(|l| l.text.contains(&path.display().to_string()) && l.text.contains("warn")),
            "{:#?}",
            o.logs
        );
    }
}

#[test]
fn given_a_million_non_members_then_false_positive_rate_is_within_2e_minus_5() {
    let h = Harness::new();
    let input = h.root().join("big.txt");
    let mut s = 0xabcdef;
    let mut text = String::with_capacity(200_000 * 44);
    for _ in 0..200_000 {
        text.push_str(&random_hex(&mut s));
        text.push_str(":1\n");
    }
    std::fs::write(&input, text).unwrap();
    let list = h.root().join("big.pwbl");
    build(&[input.to_str().unwrap(), list.to_str().unwrap()]);
    let file = blocklist::open(&list).unwrap();
    let bl = Blocklist::parse(&file).unwrap();
    assert_eq!(bl.entries(), 200_000);
    assert!(bl.bits_per_entry() <= 20.0, "{}", bl.bits_per_entry());
    // Members: every one found.
    let mut s = 0xabcdef;
    for _ in 0..200_000 {
        let (key, _) = blocklist::parse_hibp_line(random_hex(&mut s).as_bytes())
            .unwrap()
            .unwrap();
        assert!(bl.contains_key(key).unwrap());
    }
    // Non-members: another seed.
    let mut s = 0x5eed;
    let trials = 1_000_000u32;
    let hits = (0..trials)
        .filter(|_| {
            let (key, _) = blocklist::parse_hibp_line(random_hex(&mut s).as_bytes())
                .unwrap()
                .unwrap();
            bl.contains_key(key).unwrap()
        })
        .count();
    let rate = hits as f64 / f64::from(trials);
    eprintln!("false positives: {hits} of {trials} = {rate:.2e}");
    assert!(rate <= 2e-5, "{hits} false positives in {trials}");
}

#[test]
fn given_a_terminal_then_build_blocklist_draws_a_progress_bar_and_not_on_a_pipe() {
    // Enough input that the build lasts past the first 250 ms redraw interval.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("hibp.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let mut state = 1u64;
    for _ in 0..1_500_000 {
        let (a, b) = (splitmix64(&mut state), splitmix64(&mut state));
        writeln!(f, "{a:016X}{b:016X}ABCDEFAB:1").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let cmd = format!(
        "{} build-blocklist {} {}",
        pwpolicy().display(),
        input.display(),
        dir.path().join("tty.bin").display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it printed to stdout.
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script (util-linux)");
    assert!(tty.status.success(), "{}", String::from_utf8_lossy(&tty.stdout));
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(
        shown.contains("\r\x1b[2K") && shown.contains("%"),
        "no progress bar on a terminal: {shown:?}"
    );
    let piped = Command::new(pwpolicy())
        .arg("build-blocklist")
        .arg(&input)
        .arg(dir.path().join("pipe.bin"))
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains("\x1b[2K"),
        "progress drawn on a pipe"
    );
}
