//! The terminal side of `totp-enroll`: questions on standard input, human output on standard output (on
//! standard error with `--json`, so that standard output stays JSON). It must not decide what to ask.

use crate::error::Error;
use crate::flags::QrMode;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::{Command, Stdio};

/// Questions and human output.
pub struct Term {
    json: bool,
    input: Box<dyn BufRead>,
}

impl Term {
    /// Questions on standard input; human text on standard error when `json`.
    pub fn stdin(json: bool) -> Term {
        Term {
            json,
            input: Box::new(io::BufReader::new(io::stdin())),
        }
    }

    /// Shows `text` to the human.
    pub fn say(&self, text: &str) {
        if self.json {
            let mut err = io::stderr().lock();
            let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
        } else {
            stdout(text);
        }
    }

    /// One line of input, without its line ending; `None` at end of input.
    pub fn line(&mut self) -> Result<Option<String>, Error> {
        let mut s = String::new();
        let n = self.input.read_line(&mut s).map_err(Error::Stdin)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(s.trim_end_matches(['\n', '\r']).to_owned()))
    }

    /// google-authenticator's `maybe()`: asks until the answer starts with y or n.
    pub fn yes_no(&mut self, question: &str) -> Result<bool, Error> {
        loop {
            self.say(&format!("{question} (y/n) "));
            let Some(answer) = self.line()? else {
                self.say("\n");
                return Err(Error::NoAnswer);
            };
            match answer.trim_start().chars().next() {
                Some('y' | 'Y') => return Ok(true),
                Some('n' | 'N') => return Ok(false),
                _ => {}
            }
        }
    }
}

/// Writes to standard output. A closed pipe is not a reason to panic (print! would) or to stop before the
/// file is written; the caller chose to throw the output away.
pub fn stdout(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// UTF-8 half blocks when the locale is UTF-8, ANSI colours otherwise.
pub fn default_qr_mode() -> QrMode {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if locale.contains("utf-8") || locale.contains("utf8") {
        QrMode::Utf8
    } else {
        QrMode::Ansi
    }
}

/// The size assumed when the terminal's cannot be learnt: the VT100's, the smallest in common use.
pub const DEFAULT_SIZE: Size = Size {
    lines: 24,
    columns: 80,
};

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub lines: usize,
    pub columns: usize,
}

/// The size of the terminal the QR code is shown on: `LINES` and `COLUMNS` when set (a caller's override;
/// shells do not export them by default), else `stty size` on standard input when standard output is a
/// terminal (the TIOCGWINSZ ioctl without unsafe code in this crate), else [`DEFAULT_SIZE`].
pub fn size() -> Size {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    let asked = io::stdout().is_terminal().then(stty_size).flatten();
    Size {
        lines: env("LINES")
            .or(asked.map(|s| s.lines))
            .unwrap_or(DEFAULT_SIZE.lines),
        columns: env("COLUMNS")
            .or(asked.map(|s| s.columns))
            .unwrap_or(DEFAULT_SIZE.columns),
    }
}

/// `stty size` ("LINES COLUMNS") on the inherited standard input; `None` when it is not a terminal.
fn stty_size() -> Option<Size> {
    let out = Command::new("stty")
        .arg("size")
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.split_whitespace().map(str::parse::<usize>);
    match (it.next(), it.next()) {
        (Some(Ok(lines)), Some(Ok(columns))) if lines > 0 && columns > 0 => Some(Size { lines, columns }),
        _ => None,
    }
}
