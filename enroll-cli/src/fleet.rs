//! `totp-enroll --store pamd` and `totp-enroll status --store pamd`: enrollment and status through pam-totpd
//! (docs/pamd-protocol.md, docs/fleet.md) instead of a secret file. It owns the dialogue (the new secret and its
//! QR code as for a file, a code from the app, and a current code of an existing token when the user has one)
//! and the status text; the database decides everything (totp.enroll_self checks both codes, creates the scratch
//! codes and keeps only their hashes). It talks to the daemon only through `pam_totp::pamd`, never prints a
//! secret except the new one to the terminal, and shows the scratch codes once.

use crate::audit;
use crate::enroll::{code_list, new_secret, print_json_line, show_secret};
use crate::error::Error;
use crate::flags::Args;
use crate::target::Target;
use crate::term::{stdout, Term};
use pam_totp::pamd::{self, Enrollment, Reply, TokenInfo};
use pam_totp::secret_file::encode_secret;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use zeroize::Zeroizing;

/// The token's name when `-l` is not given.
pub const DEFAULT_LABEL: &str = "phone";

/// How long to wait for pam-totpd (it answers within its own deadline, 2 s by default).
const TIMEOUT: Duration = Duration::from_secs(10);

fn socket(args: &Args) -> PathBuf {
    PathBuf::from(args.socket.as_deref().unwrap_or(pamd::DEFAULT_SOCKET))
}

fn ask(args: &Args, request: &pamd::Request) -> Reply {
    pamd::ask(&socket(args), request, TIMEOUT)
}

/// An error for a reply that is not the one expected.
fn failed(args: &Args, reply: Reply) -> Error {
    let (message, hint) = match reply {
        Reply::Unavailable { reason } => (
            format!("pam-totpd is unavailable: {reason}"),
            format!(
                "is pam-totpd running and listening on {}? (systemctl status pam-totpd; --socket PATH)",
                socket(args).display()
            ),
        ),
        Reply::Refused { reason, .. } => (
            format!("refused by the fleet database: {reason}"),
            refusal_hint(&reason),
        ),
        Reply::NotEnrolled => (
            "not enrolled in the fleet database".to_owned(),
            "run totp-enroll --store pamd to enroll".to_owned(),
        ),
        other => (
            format!("pam-totpd gave an unexpected answer: {other:?}"),
            "is pam-totpd the same version as totp-enroll?".to_owned(),
        ),
    };
    Error::Fleet { message, hint }
}

fn refusal_hint(reason: &str) -> String {
    match reason {
        "bad-confirmation" => "the code must come from the app that scanned this QR code; run it again".into(),
        "wrong-code" | "replayed" => {
            "give a code your existing token shows now (each code works once: wait for the next) or an unused \
             scratch code"
                .into()
        }
        "label-exists" => "choose another name with -l LABEL (see totp-enroll status --store pamd)".into(),
        "rate-limited" | "locked" => "wait and try again, or ask an admin (totp-enroll admin unlock)".into(),
        "disabled" => "an admin disabled your account: ask them (totp-enroll admin reset)".into(),
        "not-allowed" => "only root may enroll another user (--user)".into(),
        _ => "see docs/fleet.md".into(),
    }
}

/// Whether the user already has an active token (then the database wants a current code of one).
fn has_active_token(args: &Args, user: &str) -> Result<bool, Error> {
    match ask(
        args,
        &pamd::Request::Status {
            user: user.to_owned(),
        },
    ) {
        Reply::Tokens { tokens, .. } => Ok(tokens.iter().any(|t| t.active)),
        Reply::NotEnrolled => Ok(false),
        other => Err(failed(args, other)),
    }
}

/// Asks for a code; end of input is [`Error::NoCode`].
fn read_code(term: &mut Term, prompt: &str) -> Result<Zeroizing<String>, Error> {
    term.say(prompt);
    match term.line()? {
        Some(line) => Ok(Zeroizing::new(line.trim().to_owned())),
        None => {
            term.say("\n");
            Err(Error::NoCode)
        }
    }
}

/// `totp-enroll --store pamd`.
pub fn enroll(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let mut term = Term::stdin(args.json);
    let label = args.label.clone().unwrap_or_else(|| DEFAULT_LABEL.to_owned());
    let proof_needed = has_active_token(args, &target.name)?;
    let time_based = match args.time_based {
        Some(t) => t,
        None => term.yes_no("Do you want authentication tokens to be time-based")?,
    };
    let file = new_secret(args, time_based)?;
    // In the URI the account name stays USER@HOST (or -l's ISSUER: prefix rules): -l names the token here.
    let uri_args = Args {
        label: None,
        ..args.clone()
    };
    let uri = show_secret(&uri_args, target, &file, time_based, !args.json, &term)?;
    let confirm = read_code(&mut term, "Enter code from app: ")?;
    let current = if proof_needed {
        read_code(
            &mut term,
            "You already have a token: enter a current code of it (or an unused scratch code): ",
        )?
    } else {
        Zeroizing::new(String::new())
    };
    let request = pamd::Request::Enroll(Box::new(Enrollment {
        user: target.name.clone(),
        label: label.clone(),
        secret_b32: encode_secret(file.secret().as_bytes()).to_string(),
        kind: if time_based { "totp" } else { "hotp" }.to_owned(),
        algorithm: file.algorithm().name().to_owned(),
        digits: u32::from(file.digits().get()),
        period: u32::try_from(file.step_size().get()).unwrap_or(30),
        window: args.window_size.unwrap_or(3),
        confirm: confirm.to_string(),
        current: current.to_string(),
    }));
    let codes = match ask(args, &request) {
        Reply::Added { scratch_codes } => scratch_codes.0,
        other => return Err(failed(args, other)),
    };
    audit(
        args,
        &format!(
            "enrolled user={} by={} uid={} store=pamd label={label} type={} scratch_codes={}",
            target.name,
            target.caller,
            target.caller_uid,
            if time_based { "totp" } else { "hotp" },
            codes.len()
        ),
    );
    if args.json {
        print_json_line(&EnrollJson {
            user: &target.name,
            label: &label,
            uri: &uri,
            scratch_codes: &codes,
        });
    } else {
        term.say(&format!("Token {label:?} added to the fleet database.\n"));
        let numbers: Vec<u32> = codes.iter().filter_map(|c| c.parse().ok()).collect();
        if !numbers.is_empty() {
            term.say(&code_list(
                "Your emergency scratch codes are (shown only now; write them down):\n",
                &numbers,
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct EnrollJson<'a> {
    user: &'a str,
    label: &'a str,
    uri: &'a str,
    scratch_codes: &'a [String],
}

#[derive(Serialize)]
struct TokenJson<'a> {
    label: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    active: bool,
    created: String,
    last_used: Option<String>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    user: &'a str,
    tokens: Vec<TokenJson<'a>>,
    scratch_codes_left: u32,
}

/// `totp-enroll status --store pamd`.
pub fn status(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let (scratch_left, tokens) = match ask(
        args,
        &pamd::Request::Status {
            user: target.name.clone(),
        },
    ) {
        Reply::Tokens { scratch_left, tokens } => (scratch_left, tokens),
        other => return Err(failed(args, other)),
    };
    if args.json {
        print_json_line(&StatusJson {
            user: &target.name,
            tokens: tokens
                .iter()
                .map(|t| TokenJson {
                    label: &t.label,
                    kind: &t.kind,
                    active: t.active,
                    created: utc(t.created),
                    last_used: t.last_used.map(utc),
                })
                .collect(),
            scratch_codes_left: scratch_left,
        });
    } else if !args.quiet {
        stdout(&status_text(&target.name, &tokens, scratch_left));
    }
    Ok(ExitCode::SUCCESS)
}

fn status_text(user: &str, tokens: &[TokenInfo], scratch_left: u32) -> String {
    let mut out = format!("user: {user} (fleet database)\n");
    if tokens.is_empty() {
        out.push_str("tokens: none\n");
    }
    for t in tokens {
        let _ = writeln!(
            out,
            "token {:?}: {}, {}, created {}, last used {}",
            t.label,
            t.kind,
            if t.active { "active" } else { "disabled" },
            utc(t.created),
            t.last_used.map_or_else(|| "never".to_owned(), utc)
        );
    }
    let _ = writeln!(out, "scratch codes left: {scratch_left}");
    out
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC; the proleptic Gregorian calendar, days from civil).
fn utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_796_393_311), "2026-12-04 14:08:31Z");
    }

    #[test]
    fn the_status_text_names_every_token_and_no_secret_field() {
        let tokens = [
            TokenInfo {
                label: "phone".into(),
                kind: "totp".into(),
                active: true,
                created: 0,
                last_used: Some(60),
            },
            TokenInfo {
                label: "fob".into(),
                kind: "hotp".into(),
                active: false,
                created: 0,
                last_used: None,
            },
        ];
        let text = status_text("alice", &tokens, 4);
        assert!(
            text.contains(
                "token \"phone\": totp, active, created 1970-01-01 00:00:00Z, last used 1970-01-01 00:01:00Z"
            ),
            "{text}"
        );
        assert!(text.contains("token \"fob\": hotp, disabled"), "{text}");
        assert!(text.contains("scratch codes left: 4"), "{text}");
    }
}
