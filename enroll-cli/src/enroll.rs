//! Enrollment, `totp-enroll` without a command: google-authenticator's questions in its order, the otpauth
//! URI and QR code, a code from the app confirmed with exactly the parameters about to be stored, the
//! scratch codes, and the new file written through the store. Each step is a function; [`enroll`] reads as
//! their sequence. It must not print the secret anywhere but the terminal (or `--json` on request).

use crate::error::Error;
use crate::flags::{Args, QrMode};
use crate::target::Target;
use crate::term::{self, default_qr_mode, stdout, Term};
use crate::{audit, qr, scratch_codes, secret, system, DEFAULT_SCRATCH_CODES};
use pam_totp::otp::{codes_equal, parse_code, Algorithm, Digits, SecretKey};
use pam_totp::secret_file::{encode_secret, RateLimit, SecretFile};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// Secret length in bytes: 160 bits, 32 base32 characters, as google-authenticator 1.11.
const SECRET_BYTES: usize = 20;

/// What the confirmation established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirmed {
    /// A TOTP code for this step.
    Step(u64),
    /// An HOTP code for this counter.
    Counter(u64),
    Skipped,
    NotAsked,
}

impl Confirmed {
    fn word(self) -> &'static str {
        match self {
            Confirmed::Step(_) | Confirmed::Counter(_) => "yes",
            Confirmed::Skipped => "skipped",
            Confirmed::NotAsked => "no",
        }
    }
}

/// The answers to the questions asked after the codes are shown.
#[derive(Debug, Clone, Copy)]
struct Settings {
    disallow_reuse: bool,
    window: u32,
    rate: Option<(u32, u32)>,
}

/// `totp-enroll` without a command.
pub fn enroll(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let mut term = Term::stdin(args.json);
    let show = !args.quiet && !args.json;
    let time_based = match args.time_based {
        Some(t) => t,
        None => term.yes_no("Do you want authentication tokens to be time-based")?,
    };
    let mut file = new_secret(args, time_based)?;
    let uri = show_secret(args, target, &file, time_based, show, &term)?;
    let confirmed = if args.no_confirm || args.quiet {
        Confirmed::NotAsked
    } else {
        confirm(&mut term, &file, time_based)?
    };
    let codes = scratch_codes(args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES))?;
    if show && !codes.is_empty() {
        term.say(&code_list("Your emergency scratch codes are:\n", &codes));
    }
    if !args.force && !may_write(&mut term, &target.path)? {
        term.say(&format!("Not writing {}.\n", target.path.display()));
        return Ok(ExitCode::SUCCESS);
    }
    let settings = ask_settings(args, &mut term, &file, time_based)?;
    apply(&mut file, args, &settings, confirmed, &codes, time_based);
    let mode = args.mode.unwrap_or(0o400);
    secret::create(&target.owner, &target.path, &file.to_bytes(), mode)?;
    audit(
        args,
        &audit_line(target, &file, &settings, confirmed, codes.len()),
    );
    if args.json {
        print_json(target, &uri, &file, &settings, confirmed, &codes);
    }
    Ok(ExitCode::SUCCESS)
}

/// A fresh random secret with the type, step, algorithm and digits the flags ask for.
pub(crate) fn new_secret(args: &Args, time_based: bool) -> Result<SecretFile, Error> {
    let key = system::random_bytes(SECRET_BYTES).map_err(Error::Random)?;
    let mut file = SecretFile::new(SecretKey::from_slice(&key))
        .map_err(|e| Error::Bug(format!("cannot create the secret: {e}")))?;
    if time_based {
        file.set_totp_auth(true);
        if let Some(s) = args.step_size {
            file.set_step_size(Some(s));
        }
    } else {
        if args.step_size.is_some() {
            eprintln!(
                "totp-enroll: warning: -S has no effect on counter-based codes (as in google-authenticator)"
            );
        }
        file.set_hotp_counter(Some(1));
    }
    let algorithm = algorithm(args);
    if algorithm != Algorithm::Sha1 {
        file.set_algorithm(Some(algorithm));
    }
    let digits = args.digits.and_then(Digits::new).unwrap_or_default();
    if digits != Digits::default() {
        file.set_digits(Some(digits));
    }
    Ok(file)
}

fn algorithm(args: &Args) -> Algorithm {
    args.algorithm
        .as_deref()
        .and_then(Algorithm::from_name)
        .unwrap_or(Algorithm::Sha1)
}

/// Builds the otpauth URI, writes the SVG if asked, and shows the URI, QR code and secret (and, when the
/// code and what follows it up to the first question do not fit the terminal, what to do); returns the URI.
pub(crate) fn show_secret(
    args: &Args,
    target: &Target,
    file: &SecretFile,
    time_based: bool,
    show: bool,
    term: &Term,
) -> Result<Zeroizing<String>, Error> {
    let host = system::hostname();
    let label = args
        .label
        .clone()
        .unwrap_or_else(|| format!("{}@{host}", target.name));
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| default_issuer(&label, &host));
    let secret_b32 = encode_secret(file.secret().as_bytes());
    let uri = Zeroizing::new(qr::otpauth_uri(&qr::UriParams {
        issuer: &issuer,
        account: &label,
        secret_b32: &secret_b32,
        algorithm: file.algorithm().name(),
        digits: file.digits().get(),
        period: time_based.then(|| file.step_size().get()),
        counter: (!time_based).then_some(1),
    }));
    let matrix = qr::Matrix::encode(&uri).map_err(Error::QrTooLong)?;
    if let Some(svg) = &args.qr_svg {
        secret::create_private(Path::new(svg), qr::render_svg(&matrix).as_bytes())?;
    }
    if show {
        term.say(&format!("{}\n", uri.as_str()));
        let mode = args.qr_mode.unwrap_or_else(default_qr_mode);
        let (qr_text, (columns, lines)) = match mode {
            QrMode::Utf8 => (qr::render_utf8(&matrix), qr::utf8_size(&matrix)),
            QrMode::Ansi => (qr::render_ansi(&matrix), qr::ansi_size(&matrix)),
            QrMode::None => (String::new(), (0, 0)),
        };
        term.say(&qr_text);
        term.say(&format!("Your new secret key is: {}\n", secret_b32.as_str()));
        let screen = Screen {
            mode,
            columns,
            lines: lines + 1 + lines_to_first_question(args),
        };
        if let Some(advice) = screen.advice(term::size()) {
            term.say(&advice);
        }
    }
    Ok(uri)
}

/// The issuer when `-i` is not given: the label's own `ISSUER:` prefix when it has one (`-l ACME:carol`
/// is kept as given, as google-authenticator keeps it, and the Key Uri Format wants the prefix and the
/// `issuer=` parameter equal), else the host name.
fn default_issuer(label: &str, host: &str) -> String {
    label
        .split_once(':')
        .map(|(prefix, _)| prefix.trim())
        .filter(|p| !p.is_empty())
        .unwrap_or(host)
        .to_owned()
}

/// Lines printed after the secret key line up to and including the first question, where the output
/// stops and the admin scans the code: the code prompt, else the scratch codes and the write question.
fn lines_to_first_question(args: &Args) -> usize {
    if !(args.no_confirm || args.quiet) {
        return 1;
    }
    let codes = usize::try_from(args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES)).unwrap_or(0);
    let heading = usize::from(codes > 0);
    codes + heading + usize::from(!args.force)
}

/// The QR code as shown: its mode, its columns, and its lines with those after it up to the first
/// question (all must be on screen together for the code to scan).
#[derive(Debug, Clone, Copy)]
struct Screen {
    mode: QrMode,
    columns: usize,
    lines: usize,
}

impl Screen {
    /// `None` when the code fits `size`; else what happened and the ways out.
    fn advice(self, size: term::Size) -> Option<String> {
        if self.mode == QrMode::None || (self.columns <= size.columns && self.lines <= size.lines) {
            return None;
        }
        let mut text = format!(
            "The QR code needs {}x{} (columns x lines, with the lines below it) but the terminal is \
             {}x{}: part of it is off screen and will not scan.\nEnlarge the terminal and run \
             totp-enroll again, ",
            self.columns, self.lines, size.columns, size.lines
        );
        if self.mode == QrMode::Ansi {
            text.push_str("or use -Q UTF8 (half blocks: half the lines and columns), ");
        }
        text.push_str(
            "or make the URI shorter (a shorter -l LABEL or -i ISSUER), or write the code to an \
             image with --qr-svg FILE, or type the secret key above into the app.\n",
        );
        Some(text)
    }
}

/// Asks for a code until one verifies with the file's algorithm, digits and step (or counter), or `-1`.
fn confirm(term: &mut Term, file: &SecretFile, time_based: bool) -> Result<Confirmed, Error> {
    let otp = file
        .otp()
        .map_err(|e| Error::Bug(format!("cannot compute codes: {e}")))?;
    let digits = file.digits();
    loop {
        term.say("Enter code from app (-1 to skip): ");
        let Some(answer) = term.line()? else {
            term.say("\n");
            return Err(Error::NoCode);
        };
        let answer = answer.trim();
        if answer == "-1" {
            term.say("Code confirmation skipped\n");
            return Ok(Confirmed::Skipped);
        }
        if let Some(code) = parse_code(answer, digits) {
            let found = if time_based {
                let step = file.step_size();
                let now_step = now() / step.get();
                [now_step, now_step.saturating_sub(1), now_step.saturating_add(1)]
                    .into_iter()
                    .find(|s| codes_equal(otp.totp(s.saturating_mul(step.get()), step), code))
                    .map(Confirmed::Step)
            } else {
                (1..=3)
                    .find(|&counter| codes_equal(otp.hotp(counter), code))
                    .map(Confirmed::Counter)
            };
            if let Some(confirmed) = found {
                term.say("Code confirmed\n");
                return Ok(confirmed);
            }
        }
        term.say(&format!(
            "Code incorrect. Try again. (The app must show {digits}-digit {} codes{}.)\n",
            file.algorithm(),
            if time_based {
                format!(" every {} seconds", file.step_size())
            } else {
                String::new()
            }
        ));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The heading and one indented code per line.
pub(crate) fn code_list(heading: &str, codes: &[u32]) -> String {
    let mut text = String::from(heading);
    for c in codes {
        let _ = writeln!(text, "  {c}");
    }
    text
}

/// google-authenticator's question before it writes the file.
fn may_write(term: &mut Term, path: &Path) -> Result<bool, Error> {
    term.yes_no(&format!(
        "Do you want me to update your \"{}\" file?",
        path.display()
    ))
}

/// Reuse, window and rate limit: from the flags, or asked in google-authenticator's order and words.
fn ask_settings(
    args: &Args,
    term: &mut Term,
    file: &SecretFile,
    time_based: bool,
) -> Result<Settings, Error> {
    let disallow_reuse = time_based
        && match args.disallow_reuse {
            Some(d) => d,
            None => term.yes_no(&format!(
                "Do you want to disallow multiple uses of the same authentication\n\
                 token? This restricts you to one login about every {}s, but it increases\n\
                 your chances to notice or even prevent man-in-the-middle attacks",
                file.step_size()
            ))?,
        };
    let window = match (args.window_size, args.minimal_window) {
        (Some(w), _) => w,
        (None, true) if time_based => 3,
        (None, true) => 1,
        (None, false) => {
            let question = if time_based {
                "By default, a new token is generated every 30 seconds by the mobile app.\n\
                 In order to compensate for possible time-skew between the client and the server,\n\
                 we allow an extra token before and after the current time. This allows for a\n\
                 time skew of up to 30 seconds between authentication server and client. If you\n\
                 experience problems with poor time synchronization, you can increase the window\n\
                 from its default size of 3 permitted codes (one previous code, the current\n\
                 code, the next code) to 17 permitted codes (the 8 previous codes, the current\n\
                 code, and the 8 next codes). This will permit for a time skew of up to 4 minutes\n\
                 between client and server.\nDo you want to do so?"
            } else {
                "By default, three tokens are valid at any one time.  This accounts for\n\
                 generated-but-not-used tokens and failed login attempts. In order to\n\
                 decrease the likelihood of synchronization problems, this window can be\n\
                 increased from its default size of 3 to 17. Do you want to do so?"
            };
            if term.yes_no(question)? {
                17
            } else {
                3
            }
        }
    };
    let rate = match args.rate_limit {
        Some(r) => r,
        None => term
            .yes_no(
                "If the computer that you are logging into isn't hardened against brute-force\n\
                 login attempts, you can enable rate-limiting for the authentication module.\n\
                 By default, this limits attackers to no more than 3 login attempts every 30s.\n\
                 Do you want to enable rate-limiting?",
            )?
            .then_some((3, 30)),
    };
    Ok(Settings {
        disallow_reuse,
        window,
        rate,
    })
}

/// Puts the settings, the confirmed step or counter and the scratch codes into the file, options in
/// google-authenticator's order of addition (each lands right after line 1).
fn apply(
    file: &mut SecretFile,
    args: &Args,
    settings: &Settings,
    confirmed: Confirmed,
    codes: &[u32],
    time_based: bool,
) {
    if settings.disallow_reuse {
        let used = match confirmed {
            Confirmed::Step(s) => vec![s],
            _ => Vec::new(),
        };
        file.set_disallow_reuse(Some(used));
    }
    if let (true, Some(step)) = (time_based, args.step_size) {
        // Set early so the confirmation used it; moved here so the lines come in google-authenticator's order.
        file.set_step_size(None);
        file.set_step_size(Some(step));
    }
    file.set_window_size(Some(settings.window));
    if let Some((attempts, interval)) = settings.rate {
        file.set_rate_limit(Some(RateLimit {
            attempts,
            interval,
            timestamps: Vec::new(),
        }));
    }
    if let Confirmed::Counter(c) = confirmed {
        file.set_hotp_counter(Some(c.saturating_add(1)));
    }
    for c in codes {
        file.add_scratch_code(*c);
    }
}

fn kind(file: &SecretFile) -> &'static str {
    if file.hotp_counter().is_some() {
        "hotp"
    } else {
        "totp"
    }
}

fn audit_line(
    target: &Target,
    file: &SecretFile,
    s: &Settings,
    confirmed: Confirmed,
    codes: usize,
) -> String {
    let kind = match kind(file) {
        "totp" => format!("totp period={}", file.step_size()),
        other => other.to_owned(),
    };
    format!(
        "enrolled user={} by={} uid={} file={} type={kind} algorithm={} digits={} window={} \
         disallow_reuse={} rate_limit={} scratch_codes={codes} confirmed={}",
        target.name,
        target.caller,
        target.caller_uid,
        target.path.display(),
        file.algorithm().name(),
        file.digits(),
        s.window,
        if s.disallow_reuse { "yes" } else { "no" },
        s.rate
            .map(|(n, m)| format!("{n}/{m}s"))
            .unwrap_or_else(|| "none".to_owned()),
        confirmed.word(),
    )
}

/// `{"attempts":N,"interval":M}` in the JSON outputs.
#[derive(Serialize)]
pub(crate) struct RateJson {
    pub attempts: u32,
    pub interval: u32,
}

/// The `--json` output of an enrollment.
#[derive(Serialize)]
struct EnrollJson<'a> {
    user: &'a str,
    file: &'a str,
    uri: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    algorithm: &'static str,
    digits: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counter: Option<u64>,
    window_size: u32,
    disallow_reuse: bool,
    rate_limit: Option<RateJson>,
    confirmed: &'static str,
    scratch_codes: Vec<String>,
}

fn print_json(
    target: &Target,
    uri: &str,
    file: &SecretFile,
    s: &Settings,
    confirmed: Confirmed,
    codes: &[u32],
) {
    let time_based = kind(file) == "totp";
    let json = EnrollJson {
        user: &target.name,
        file: &target.path.to_string_lossy(),
        uri,
        kind: kind(file),
        algorithm: file.algorithm().name(),
        digits: u32::from(file.digits().get()),
        period: time_based.then(|| file.step_size().get()),
        counter: (!time_based).then(|| file.hotp_counter().unwrap_or(1)),
        window_size: s.window,
        disallow_reuse: s.disallow_reuse,
        rate_limit: s.rate.map(|(attempts, interval)| RateJson { attempts, interval }),
        confirmed: confirmed.word(),
        scratch_codes: codes.iter().map(u32::to_string).collect(),
    };
    print_json_line(&json);
}

/// One JSON value and a newline on standard output; the text is wiped afterwards (it may hold the secret).
pub(crate) fn print_json_line(value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(text) => {
            let mut text = Zeroizing::new(text);
            text.push('\n');
            stdout(&text);
        }
        Err(e) => eprintln!("totp-enroll: warning: cannot format the JSON output: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_defaults_to_the_labels_prefix_else_the_host() {
        assert_eq!(default_issuer("ACME:carol", "vm"), "ACME");
        assert_eq!(default_issuer("carol@vm", "vm"), "vm");
        assert_eq!(default_issuer(":carol", "vm"), "vm");
    }

    fn screen(mode: QrMode, columns: usize, lines: usize) -> Screen {
        Screen { mode, columns, lines }
    }

    #[test]
    fn a_code_that_fits_gets_no_advice() {
        assert_eq!(screen(QrMode::Utf8, 45, 24).advice(term::DEFAULT_SIZE), None);
        assert_eq!(screen(QrMode::None, 0, 400).advice(term::DEFAULT_SIZE), None);
    }

    #[test]
    fn a_code_too_tall_or_too_wide_gets_the_ways_out() {
        for s in [screen(QrMode::Utf8, 45, 25), screen(QrMode::Utf8, 81, 20)] {
            let text = s.advice(term::DEFAULT_SIZE).unwrap_or_default();
            for way in ["80x24", "-l LABEL", "-i ISSUER", "--qr-svg FILE", "secret key"] {
                assert!(text.contains(way), "{way} in {text}");
            }
            assert!(!text.contains("-Q UTF8"), "already UTF8: {text}");
        }
        let text = screen(QrMode::Ansi, 90, 45)
            .advice(term::DEFAULT_SIZE)
            .unwrap_or_default();
        assert!(text.contains("-Q UTF8"), "{text}");
    }
}
