//! The code layout of pam_totp.so, run by `bench/hot-text.sh` (a check of the release build, not a timing).
//!
//! Why: in a VM a page fault on the module's code costs a few microseconds, and the kernel maps file pages
//! 64 KiB at a time around each fault ("fault-around"). The linker places functions in input order, so the
//! ~120 KB that a login runs were spread over all 410 KB of the module's code, among the standard library's
//! backtrace symbolizer (gimli, addr2line, miniz, demangling) that a login never runs: a login faulted on
//! about seven 64 KiB windows, and every process unmapped those pages again at exit. `pam_totp/hot-text.ld`,
//! a linker script that the modules' build script passes to rust-lld (only to it), puts the PLT (the module calls malloc
//! and free through it) and then the functions a login runs at the start of the code segment, at the head
//! of `.text`; the hidden symbol `__pam_totp_hot_text_end` marks where they end. Measured with 1,200
//! logins per module through a C client, each paired with a google-authenticator login: pam_totp's extra
//! time per login went from 0.055-0.087 ms to 0.021-0.033 ms (README, "pam_totp benchmark").
//!
//! The script names the profiled functions by their mangled symbols with the hash parts wildcarded, so
//! that a rebuild keeps matching, then whole crates (`pam_totp`, `pam_ffi`, the HMAC crates), so that a
//! renamed or new function of ours stays in the hot part. What can go stale is the list of the standard
//! library's functions (a login that starts calling a new one), hence this check.
//!
//! Modes:
//! - default: profiles the logins below with callgrind (instruction addresses, through `pamc`, a C client
//!   like sshd) and fails (exit 1) when a login runs code of the module's `.text` after the hot part,
//!   naming the functions and the command that regenerates the script. Also prints, per login, the code
//!   pages run and the 64 KiB windows they fall in.
//! - `--write`: regenerates `pam_totp/hot-text.ld` from the same profiles (the order is the order in which
//!   the logins first run each function, the right-code login first).
//!
//! Exit 2 when it cannot run (valgrind or nm missing, a login with an unexpected result, a profile without
//! the module's code, a module linked without the script).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

#[path = "../tests/totp_common/mod.rs"]
mod totp_common;

use pam_ffi::PamCode;
use pam_harness::{module_path, Harness, PAMC, SYSLOG_SHIM};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitCode};
use totp_common::{current_code, me, write_secret, wrong_code, SECRET};

const SCRATCH: &str = "45681685";
/// The symbol the script puts at the end of the hot part of `.text`.
const HOT_END: &str = "__pam_totp_hot_text_end";

/// Crates whose every function goes into the hot part, after the profiled ones: ours and the HMAC code. A
/// pattern matches a mangled name that mentions the crate anywhere (its own functions, generic code
/// instantiated for its types).
const CRATES: &[&str] = &[
    "pam_totp", "pam_ffi", "4sha1", "4hmac", "6digest", "7zeroize", "6subtle",
];

/// One profiled login.
struct Login {
    name: &'static str,
    args: &'static str,
    /// The secret file's content; `None`: no file.
    body: Option<String>,
    user: String,
    reply: Reply,
    want: PamCode,
}

/// What a login answers to the prompt.
enum Reply {
    Text(String),
    /// The file's current code, computed just before the login (valgrind runs take seconds).
    RightCode,
    /// A 6-digit code that no step within the skew scan (and a margin) of now produces, so that the refusal
    /// records nothing: every run takes the same path.
    WrongCode,
}

/// A callgrind profile of one login, restricted to the module: the functions in the order first run, and
/// every instruction address run (object-relative, as in the ELF file).
#[derive(Default)]
struct Profile {
    functions: Vec<String>,
    addresses: Vec<(u64, usize)>,
}

fn logins() -> Vec<Login> {
    let totp = format!("{SECRET}\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n{SCRATCH}\n92711506\n");
    let reuse = format!("{SECRET}\n\" RATE_LIMIT 3 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{SCRATCH}\n");
    let hotp = format!("{SECRET}\n\" HOTP_COUNTER 1\n{SCRATCH}\n");
    let login = |name, args, body: Option<&String>, reply, want| Login {
        name,
        args,
        body: body.cloned(),
        user: me(),
        reply,
        want,
    };
    let text = |t: &str| Reply::Text(t.to_owned());
    vec![
        login("right code", "", Some(&totp), Reply::RightCode, PamCode::Success),
        login("wrong code", "", Some(&totp), Reply::WrongCode, PamCode::AuthErr),
        login("scratch code", "", Some(&totp), text(SCRATCH), PamCode::Success),
        login(
            "reuse and rate limit",
            "",
            Some(&reuse),
            Reply::RightCode,
            PamCode::Success,
        ),
        login("HOTP code", "", Some(&hotp), Reply::RightCode, PamCode::Success),
        // The module answers PAM_IGNORE; a stack where no module decided gives PAM_PERM_DENIED.
        login(
            "no secret file, nullok",
            "nullok",
            None,
            text(""),
            PamCode::PermDenied,
        ),
        Login {
            user: "pam-totp-no-such-user".into(),
            ..login("unknown user", "", None, text("123456"), PamCode::AuthErr)
        },
    ]
}

/// Runs one login through `pamc` under callgrind and returns the module's part of the profile.
fn profile(h: &Harness, module: &Path, login: &Login, out: &Path) -> Result<Profile, String> {
    let secret = h.root().join(format!("{}.ga", login.user));
    let _ = std::fs::remove_file(&secret);
    if let Some(body) = &login.body {
        write_secret(&secret, body);
    }
    let stack = format!(
        "auth required {} secret={}/${{USER}}.ga {}\n",
        module.display(),
        h.root().display(),
        login.args
    );
    h.service("totp", &stack);
    let body = login.body.as_deref().unwrap_or("");
    let reply = match &login.reply {
        Reply::Text(t) => t.clone(),
        Reply::RightCode => current_code(body),
        Reply::WrongCode => wrong_code(body),
    };
    let run = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--dump-instr=yes",
            "--demangle=no",
            "--compress-strings=no",
            "--compress-pos=no",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(PAMC)
        .arg(h.confdir())
        .args(["totp", &login.user, &reply])
        .env("LD_PRELOAD", SYSLOG_SHIM)
        .env("PAMH_SYSLOG_FILE", h.root().join("syslog.txt"))
        .output()
        .map_err(|e| format!("cannot run valgrind (apt-get install valgrind): {e}"))?;
    let said = String::from_utf8_lossy(&run.stdout);
    let want = format!("result {}", login.want.as_raw());
    if !run.status.success() || said.trim() != want {
        return Err(format!(
            "{}: expected {want:?}, got {said:?}\n{}",
            login.name,
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(parse_profile(&text, module))
}

/// Reads callgrind's output (uncompressed names and positions): `ob=` names the object, `fn=` the function,
/// and a line starting with `0x` is an instruction address of that function (call lines included: the
/// address of the call instruction).
fn parse_profile(text: &str, module: &Path) -> Profile {
    let mut p = Profile::default();
    let mut in_module = false;
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if let Some(ob) = line.strip_prefix("ob=") {
            in_module = Path::new(ob) == module;
        } else if let Some(f) = line.strip_prefix("fn=") {
            current = in_module.then(|| {
                p.functions.iter().position(|x| x == f).unwrap_or_else(|| {
                    p.functions.push(f.to_owned());
                    p.functions.len() - 1
                })
            });
        } else if let (true, Some(i), Some(hex)) = (in_module, current, line.strip_prefix("0x")) {
            let word = hex.split(' ').next().unwrap_or("");
            if let Ok(a) = u64::from_str_radix(word, 16) {
                p.addresses.push((a, i));
            }
        }
    }
    p
}

/// Name, address and size of every section, from the ELF64 section headers.
fn sections(elf: &[u8]) -> Option<Vec<(&[u8], u64, u64)>> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let (size, count, names) = (
        usize::from(u16_at(0x3a)?),
        usize::from(u16_at(0x3c)?),
        usize::from(u16_at(0x3e)?),
    );
    let header = |i: usize| shoff + i * size;
    let strtab = usize::try_from(u64_at(header(names) + 0x18)?).ok()?;
    (0..count)
        .map(|i| {
            let at = strtab + usize::try_from(u32_at(header(i))?).ok()?;
            let end = at + elf.get(at..)?.iter().position(|&b| b == 0)?;
            Some((
                elf.get(at..end)?,
                u64_at(header(i) + 0x10)?,
                u64_at(header(i) + 0x20)?,
            ))
        })
        .collect()
}

/// The module's `.text` (address, size), if it has exactly one.
fn only_text(elf: &[u8]) -> Option<(u64, u64)> {
    let all = sections(elf)?;
    let mut texts = all.iter().filter(|(name, _, _)| *name == b".text");
    match (texts.next(), texts.next()) {
        (Some(&(_, addr, size)), None) => Some((addr, size)),
        _ => None,
    }
}

/// The glob for a mangled name: the parts that change from build to build (v0 crate disambiguators and
/// back-references, the legacy hash, LTO's `.llvm.N` suffix) become `*`.
fn pattern(name: &str) -> String {
    // callgrind names a recursive activation `name'2`.
    let name = name.split('\'').next().unwrap_or(name);
    let (name, llvm_suffix) = match name.split_once(".llvm.") {
        Some((head, _)) => (head, true),
        None => (name, false),
    };
    let mut out = String::new();
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        let skip = |prefix: &str| -> Option<usize> {
            let tail = rest.strip_prefix(prefix)?;
            let n = tail.bytes().take_while(u8::is_ascii_alphanumeric).count();
            (tail.as_bytes().get(n) == Some(&b'_')).then_some(prefix.len() + n + 1)
        };
        if let Some(n) = skip("Cs") {
            out.push_str("Cs*_");
            rest = &rest[n..];
        } else if let Some(n) = name.starts_with("_R").then(|| skip("B")).flatten() {
            out.push_str("B*_");
            rest = &rest[n..];
        } else if rest.len() == 20 && rest.starts_with("17h") && rest.ends_with('E') {
            out.push_str("17h*E");
            rest = "";
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if llvm_suffix {
        out.push_str(".llvm.*");
    }
    out
}

/// The linker script for these profiles. The hot functions open the module's `.text` (the sections the
/// script does not name follow them there, in the linker's usual order), so that tools that only know a
/// section called `.text` (valgrind's symbol reader) still see all the code; a hidden symbol marks the end
/// of the hot part for [`check`].
///
/// LLVM merges functions with identical code: the survivor keeps its section and the others become
/// aliases, symbols at the same address, and callgrind may name the function by any of them. So every
/// symbol at a profiled function's address (`aliases`, from [`symbols_by_address`]) gets a pattern too.
fn script(profiles: &[Profile], aliases: &std::collections::HashMap<String, Vec<String>>) -> String {
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    for f in profiles.iter().flat_map(|p| &p.functions) {
        if f.starts_with("0x") || f.starts_with("pam_sm_") {
            continue;
        }
        let base = f.split('\'').next().unwrap_or(f);
        let names = aliases.get(base).map_or(&[][..], Vec::as_slice);
        for name in std::iter::once(base).chain(names.iter().map(String::as_str)) {
            let p = pattern(name);
            if seen.insert(p.clone()) {
                lines.push(format!("    *(.text.{p} .text.unlikely.{p})"));
            }
        }
    }
    let crates: Vec<String> = CRATES.iter().map(|c| format!(".text.*{c}*")).collect();
    format!(
        "/* Generated by `bench/hot-text.sh --write` (tests/benches/hot_text.rs): do not edit by hand.\n\
         \x20* The code a pam_totp login runs, gathered at the start of the code segment so that a login faults\n\
         \x20* on as few 64 KiB windows of the module as possible: the PLT, then at the start of .text the PAM\n\
         \x20* entry points, the functions the profiled logins ran (in that order, the right-code login first;\n\
         \x20* hash parts wildcarded) and every other function of our crates and the HMAC crates; the rest of\n\
         \x20* .text follows. `bench/hot-text.sh` (the bench tier) checks that no login runs code after\n\
         \x20* {HOT_END}. */\n\
         SECTIONS\n{{\n  .plt : {{ *(.plt) *(.iplt) }}\n  .text : {{\n    *(.text.pam_sm_*)\n    \
         *crtbeginS.o(.text)\n{}\n    *({})\n    HIDDEN({HOT_END} = .);\n  }}\n}}\nINSERT AFTER .fini;\n",
        lines.join("\n"),
        crates.join(" ")
    )
}

/// For every code symbol of the module, the other code symbols at the same address (`nm`).
fn symbols_by_address(module: &Path) -> Result<std::collections::HashMap<String, Vec<String>>, String> {
    let out = Command::new("nm")
        .arg(module)
        .output()
        .map_err(|e| format!("cannot run nm (binutils): {e}"))?;
    let mut at: std::collections::BTreeMap<u64, Vec<String>> = std::collections::BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = l.split_whitespace();
        if let (Some(addr), Some("t" | "T"), Some(sym)) = (f.next(), f.next(), f.next()) {
            if let Ok(a) = u64::from_str_radix(addr, 16) {
                at.entry(a).or_default().push(sym.to_owned());
            }
        }
    }
    let mut aliases = std::collections::HashMap::new();
    for names in at.values().filter(|n| n.len() > 1) {
        for n in names {
            aliases.insert(n.clone(), names.iter().filter(|o| *o != n).cloned().collect());
        }
    }
    Ok(aliases)
}

/// The address of a symbol of the module's symbol table (`nm`).
fn symbol(module: &Path, name: &str) -> Result<u64, String> {
    let out = Command::new("nm")
        .arg(module)
        .output()
        .map_err(|e| format!("cannot run nm (binutils): {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (addr, _, sym) = (f.next()?, f.next()?, f.next()?);
            (sym == name).then(|| u64::from_str_radix(addr, 16).ok()).flatten()
        })
        .ok_or_else(|| {
            format!(
                "{} has no symbol {name}: pam_totp/hot-text.ld was not linked in (run `bench/hot-text.sh --write`)",
                module.display()
            )
        })
}

/// Per login: the code pages and 64 KiB windows run, and the functions run after the hot part of `.text`.
/// Fails (Err) when a profile has no instruction in `.text` at all: then the check would prove nothing.
fn check(logins: &[Login], profiles: &[Profile], text: (u64, u64), hot_end: u64) -> Result<bool, String> {
    let mut ok = true;
    for (login, p) in logins.iter().zip(profiles) {
        let in_text: Vec<&(u64, usize)> = p
            .addresses
            .iter()
            .filter(|(a, _)| (text.0..text.0 + text.1).contains(a))
            .collect();
        if in_text.is_empty() {
            return Err(format!(
                "{}: callgrind attributed no instruction to the module's .text: cannot check",
                login.name
            ));
        }
        let pages: BTreeSet<u64> = in_text.iter().map(|(a, _)| a >> 12).collect();
        let windows: BTreeSet<u64> = in_text.iter().map(|(a, _)| a >> 16).collect();
        let outside: BTreeSet<&str> = in_text
            .iter()
            .filter(|(a, _)| *a >= hot_end)
            .map(|(_, i)| p.functions[*i].as_str())
            .collect();
        println!(
            "{:<24} {:>3} code pages in {} windows of 64 KiB{}",
            login.name,
            pages.len(),
            windows.len(),
            if outside.is_empty() {
                ""
            } else {
                "; RUNS CODE AFTER THE HOT PART"
            }
        );
        for f in &outside {
            println!("    after the hot part: {f}");
        }
        ok &= outside.is_empty();
    }
    Ok(ok)
}

fn run(write: bool) -> Result<bool, String> {
    let module = std::fs::canonicalize(module_path("pam_totp")).map_err(|e| e.to_string())?;
    let elf = std::fs::read(&module).map_err(|e| format!("{}: {e}", module.display()))?;
    println!("module: {}", module.display());
    let h = Harness::new();
    let logins = logins();
    let mut profiles = Vec::new();
    for (i, login) in logins.iter().enumerate() {
        let out = h.root().join(format!("callgrind.{i}"));
        profiles.push(profile(&h, &module, login, &out)?);
    }
    if write {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new(".."));
        let path = root.join("pam_totp/hot-text.ld");
        let aliases = symbols_by_address(&module)?;
        std::fs::write(&path, script(&profiles, &aliases)).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}: rebuild to apply it", path.display());
        return Ok(true);
    }
    // One .text, and the mark inside it: GNU ld, for one, would make a second .text of the script, and the
    // check below would then compare against the wrong one.
    let text = only_text(&elf).ok_or("the module does not have exactly one .text section")?;
    let hot_end = symbol(&module, HOT_END)?;
    if !(text.0 < hot_end && hot_end <= text.0 + text.1) {
        return Err(format!(
            "{}: {HOT_END} is not inside .text (is the module linked by rust-lld?)",
            module.display()
        ));
    }
    println!(
        ".text: {} KiB, of which the hot part: {} KiB",
        text.1 / 1024,
        hot_end.saturating_sub(text.0) / 1024
    );
    let ok = check(&logins, &profiles, text, hot_end)?;
    if !ok {
        println!(
            "\nA login runs functions that pam_totp/hot-text.ld does not gather: run `bench/hot-text.sh --write`, \
             rebuild, and commit the script."
        );
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let write = std::env::args().any(|a| a == "--write");
    match run(write) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench hot_text: error: {e}");
            ExitCode::from(2)
        }
    }
}
