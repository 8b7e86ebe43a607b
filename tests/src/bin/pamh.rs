//! `pamh`: a minimal PAM application for tests. Starts a transaction with `pam_start_confdir`, answers
//! prompts from its command line, and prints what it saw, one tab-separated record per line:
//!
//! ```text
//! event <style> <escaped text>     a message received (prompt_hidden, prompt_echo, error, info)
//! result <operation> <PAM_CODE>    after each operation
//! rss_kb <transactions> <KiB>      with --rss-every N
//! answer_us <operation> <us>        with --time-answer: from the last answer handed to the module to the
//!                                   operation's return (what a remote client waits for after answering)
//! ```
//! Usage: `pamh --confdir DIR --service NAME [--user U] [--item rhost=H]... [--op authenticate]...
//! [--flag silent]... [--reply TEXT | --reply-hex HEX | --reply-file HEXFILE | --reply-null | --reply-fail]... [--repeat N]
//! [--rss-every N] [--time-answer]`. Exit status 0 whatever PAM answered; 2 on a usage error.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use pam_ffi::app::{Event, Item, Reply, Style, Transaction};
use pam_ffi::{sys, PamCode};
use pam_harness::escape;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Default)]
struct Opts {
    confdir: PathBuf,
    service: String,
    user: Option<String>,
    items: Vec<(Item, Vec<u8>)>,
    ops: Vec<String>,
    flags: i32,
    replies: Vec<Reply>,
    repeat: u64,
    rss_every: u64,
    time_answer: bool,
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex: {s}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or(""), 16).map_err(|e| format!("{s}: {e}")))
        .collect()
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        repeat: 1,
        ..Opts::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--confdir" => o.confdir = PathBuf::from(val()?),
            "--service" => o.service = val()?,
            "--user" => o.user = Some(val()?),
            "--item" => {
                let v = val()?;
                let (k, v) = v.split_once('=').ok_or("--item takes NAME=VALUE")?;
                let item = match k {
                    "rhost" => Item::Rhost,
                    "tty" => Item::Tty,
                    "ruser" => Item::Ruser,
                    "authtok" => Item::Authtok,
                    "oldauthtok" => Item::OldAuthtok,
                    _ => return Err(format!("unknown item {k}")),
                };
                o.items.push((item, v.as_bytes().to_vec()));
            }
            "--op" => o.ops.push(val()?),
            "--flag" => {
                o.flags |= match val()?.as_str() {
                    "silent" => sys::PAM_SILENT,
                    "disallow_null_authtok" => sys::PAM_DISALLOW_NULL_AUTHTOK,
                    "change_expired_authtok" => sys::PAM_CHANGE_EXPIRED_AUTHTOK,
                    "establish_cred" => sys::PAM_ESTABLISH_CRED,
                    other => return Err(format!("unknown flag {other}")),
                }
            }
            "--reply" => o.replies.push(Reply::Text(val()?.into_bytes())),
            "--reply-hex" => o.replies.push(Reply::Text(parse_hex(&val()?)?)),
            "--reply-file" => {
                let path = val()?;
                let hex = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                o.replies.push(Reply::Text(parse_hex(hex.trim())?));
            }
            "--reply-null" => o.replies.push(Reply::Null),
            "--time-answer" => o.time_answer = true,
            "--reply-fail" => o.replies.push(Reply::Fail),
            "--repeat" => o.repeat = val()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--rss-every" => o.rss_every = val()?.parse().map_err(|e| format!("--rss-every: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.service.is_empty() || o.confdir.as_os_str().is_empty() {
        return Err("--confdir and --service are required".into());
    }
    if o.ops.is_empty() {
        o.ops.push("authenticate".into());
    }
    Ok(o)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn style_name(s: Style) -> String {
    match s {
        Style::PromptHidden => "prompt_hidden".into(),
        Style::PromptEcho => "prompt_echo".into(),
        Style::Error => "error".into(),
        Style::Info => "info".into(),
        Style::Other(n) => format!("other:{n}"),
    }
}

fn one(o: &Opts, out: &mut impl Write, print_events: bool) -> std::io::Result<()> {
    // With many repetitions only the first transaction's events are printed; results always are.
    let mut t = match Transaction::start(&o.service, o.user.as_deref(), &o.confdir, o.replies.clone()) {
        Ok(t) => t,
        Err(code) => return writeln!(out, "result\tstart\t{}", code.name()),
    };
    for (item, v) in &o.items {
        if let Err(code) = t.set_item(*item, v) {
            writeln!(out, "result\tset_item\t{}", code.name())?;
        }
    }
    for op in &o.ops {
        let code: PamCode = match op.as_str() {
            "authenticate" => t.authenticate(o.flags),
            "setcred" => t.setcred(o.flags | sys::PAM_ESTABLISH_CRED),
            "acct_mgmt" => t.acct_mgmt(o.flags),
            "chauthtok" => t.chauthtok(o.flags),
            "open_session" => t.open_session(o.flags),
            "close_session" => t.close_session(o.flags),
            other => {
                writeln!(out, "result\t{other}\tPAM_SYSTEM_ERR")?;
                continue;
            }
        };
        if print_events {
            for Event { style, text } in t.take_events() {
                writeln!(out, "event\t{}\t{}", style_name(style), escape(&text))?;
            }
        } else {
            t.take_events();
        }
        let returned = Instant::now();
        writeln!(out, "result\t{op}\t{}", code.name())?;
        if let (true, Some(at)) = (o.time_answer, t.answered_at()) {
            writeln!(
                out,
                "answer_us\t{op}\t{}",
                returned.duration_since(at).as_micros()
            )?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pamh: error: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for i in 0..o.repeat {
        let r = one(&o, &mut out, i == 0 || o.repeat <= 10);
        if let Err(e) = r {
            eprintln!("pamh: error: writing output: {e}");
            return ExitCode::from(2);
        }
        if o.rss_every != 0 && (i + 1).is_multiple_of(o.rss_every) {
            let _ = writeln!(out, "rss_kb\t{}\t{}", i + 1, rss_kb());
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("pamh: error: writing output: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
