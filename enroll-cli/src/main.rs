//! `totp-enroll`: what a user runs once to set up pam_totp (the replacement for the `google-authenticator`
//! command), and what root runs to enroll someone else.
//!
//! It owns the user-facing flow: parse the flags ([`flags`], one table), ask the questions the flags did not
//! answer in google-authenticator's order, show the otpauth URI and QR code ([`qr`]), confirm a code from the
//! app with exactly the parameters about to be stored, and write the file with pam_totp's own serializer
//! through [`secret`] (pam_totp's store, the only code that opens or writes secret files). It must not link
//! libpam (pam_totp is used with its `module` feature off), must not print the secret anywhere but the
//! terminal (or `--json` on request), and never logs it.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod doctor;
mod flags;
mod qr;
mod secret;
mod system;

use flags::{Args, Command, QrMode, UsageError};
use pam_totp::otp::{codes_equal, parse_code, Algorithm, Digits, SecretKey};
use pam_totp::secret_file::{encode_secret, Mode, RateLimit, SecretFile};
use secret::Owner;
use std::fmt::Write as _;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use system::Account;
use zeroize::Zeroizing;

/// Secret length in bytes: 160 bits, 32 base32 characters, as google-authenticator 1.11.
const SECRET_BYTES: usize = 20;
/// Default number of scratch codes.
const DEFAULT_SCRATCH_CODES: u32 = 5;

/// Why we stop. `Usage` exits 2, `Runtime` 1.
#[derive(Debug)]
enum Error {
    Usage(UsageError),
    Runtime { message: String, hint: Option<String> },
}

impl Error {
    fn runtime(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Runtime {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

fn fail(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::runtime(message, hint)
}

fn io_fail(what: &str, path: &Path, e: &io::Error) -> Error {
    fail(
        format!("{what} {}: {e}", path.display()),
        "check the path, its directory and their permissions",
    )
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // `doctor` has its own options (see doctor/mod.rs); everything else goes through the flag table.
    if argv.first().map(String::as_str) == Some("doctor") {
        return doctor::run(argv.get(1..).unwrap_or_default());
    }
    match run(&argv) {
        Ok(code) => code,
        Err(Error::Usage(u)) => {
            eprintln!("totp-enroll: error: {}", u.message);
            eprintln!("totp-enroll: hint: {}", u.hint);
            ExitCode::from(2)
        }
        Err(Error::Runtime { message, hint }) => {
            eprintln!("totp-enroll: error: {message}");
            if let Some(h) = hint {
                eprintln!("totp-enroll: hint: {h}");
            }
            ExitCode::from(1)
        }
    }
}

fn run(argv: &[String]) -> Result<ExitCode, Error> {
    let args = flags::parse(argv).map_err(Error::Usage)?;
    if args.help {
        stdout(&flags::help_text());
        return Ok(ExitCode::SUCCESS);
    }
    if args.version {
        stdout(&format!("totp-enroll {}\n", env!("CARGO_PKG_VERSION")));
        return Ok(ExitCode::SUCCESS);
    }
    if args.print_man {
        stdout(&flags::man_page());
        return Ok(ExitCode::SUCCESS);
    }
    if args.print_completion.is_some() {
        stdout(&flags::bash_completion());
        return Ok(ExitCode::SUCCESS);
    }
    let target = resolve_target(&args)?;
    match args.command {
        Command::Enroll => enroll(&args, &target),
        Command::Status => status(&args, &target),
        Command::NewScratchCodes => new_scratch_codes(&args, &target),
    }
}

/// Whose file, where, and who the caller is.
#[derive(Debug)]
struct Target {
    /// The target account's name.
    name: String,
    /// The secret file.
    path: PathBuf,
    /// Who must own the file, and whose filesystem ids to act with (root enrolling another user).
    owner: Owner,
    /// Caller's real uid.
    caller_uid: u32,
    /// Caller's name, for the audit line.
    caller: String,
    passwd: PathBuf,
}

fn resolve_target(args: &Args) -> Result<Target, Error> {
    let passwd = PathBuf::from(args.passwd.as_deref().unwrap_or("/etc/passwd"));
    let (real, effective) = system::uids().map_err(|e| {
        fail(
            format!("cannot read this process's user ids: {e}"),
            "is /proc mounted?",
        )
    })?;
    let lookup = |pred: &dyn Fn(&Account) -> bool| {
        system::find_account(&passwd, pred)
            .map_err(|e| io_fail("cannot read the account database", &passwd, &e))
    };
    let me = lookup(&|a| a.uid == real)?;
    let caller = me
        .as_ref()
        .map(|a| a.name.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| format!("uid{real}"));
    if let Some(name) = &args.user {
        let account = lookup(&|a| &a.name == name)?.ok_or_else(|| {
            fail(
                format!("no user {name:?} in {}", passwd.display()),
                "check the spelling; --user takes a login name",
            )
        })?;
        if account.uid != real && (effective != 0 || real != 0) {
            return Err(fail(
                format!("only root can enroll another user (--user {name})"),
                format!("run it as root (sudo totp-enroll --user {name}), or let {name} run totp-enroll"),
            ));
        }
        let path = args
            .secret
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| account.home.join(".google_authenticator"));
        let owner = Owner {
            uid: account.uid,
            act_as: (account.uid != real).then_some((account.uid, account.gid)),
        };
        return Ok(Target {
            name: account.name,
            path,
            owner,
            caller_uid: real,
            caller,
            passwd,
        });
    }
    let path = match &args.secret {
        Some(s) => PathBuf::from(s),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .or_else(|| me.as_ref().map(|a| a.home.clone()))
                .ok_or_else(|| {
                    fail(
                        "cannot find your home directory",
                        "set HOME, or give the file with -s FILE",
                    )
                })?;
            home.join(".google_authenticator")
        }
    };
    Ok(Target {
        name: caller.clone(),
        path,
        owner: Owner {
            uid: real,
            act_as: None,
        },
        caller_uid: real,
        caller,
        passwd,
    })
}

// ----- terminal -----

/// Questions and human output. With `--json`, human text goes to stderr so stdout stays JSON.
struct Term {
    json: bool,
    input: Box<dyn BufRead>,
}

impl Term {
    fn say(&self, text: &str) {
        if self.json {
            let mut err = io::stderr().lock();
            let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
        } else {
            stdout(text);
        }
    }

    /// One line of input, without its line ending; `None` at end of input.
    fn line(&mut self) -> Result<Option<String>, Error> {
        let mut s = String::new();
        let n = self
            .input
            .read_line(&mut s)
            .map_err(|e| fail(format!("cannot read standard input: {e}"), "run it in a terminal"))?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(s.trim_end_matches(['\n', '\r']).to_owned()))
    }

    /// google-authenticator's `maybe()`: asks until the answer starts with y or n.
    fn yes_no(&mut self, question: &str) -> Result<bool, Error> {
        loop {
            self.say(&format!("{question} (y/n) "));
            let Some(answer) = self.line()? else {
                self.say("\n");
                return Err(fail(
                    "no answer on standard input",
                    "answer the questions with options: -t/-c, -d/-D, -w/-W, -r/-R or -u, and -f",
                ));
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
fn stdout(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn default_qr_mode() -> QrMode {
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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ----- enroll -----

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

fn scratch_codes(n: u32) -> Result<Vec<u32>, Error> {
    let mut codes: Vec<u32> = Vec::new();
    while codes.len() < n as usize {
        let c = system::random_scratch_code()
            .map_err(|e| fail(format!("cannot read /dev/urandom: {e}"), "is /dev mounted?"))?;
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    Ok(codes)
}

fn enroll(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let mut term = Term {
        json: args.json,
        input: Box::new(io::BufReader::new(io::stdin())),
    };
    let show = !args.quiet && !args.json;

    let time_based = match args.time_based {
        Some(t) => t,
        None => term.yes_no("Do you want authentication tokens to be time-based")?,
    };
    let key = system::random_bytes(SECRET_BYTES)
        .map_err(|e| fail(format!("cannot read /dev/urandom: {e}"), "is /dev mounted?"))?;
    let mut file = SecretFile::new(SecretKey::from_slice(&key))
        .map_err(|e| fail(format!("cannot create the secret: {e}"), "this is a bug"))?;
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
    let algorithm = args
        .algorithm
        .as_deref()
        .and_then(Algorithm::from_name)
        .unwrap_or(Algorithm::Sha1);
    if algorithm != Algorithm::Sha1 {
        file.set_algorithm(Some(algorithm));
    }
    let digits = args.digits.and_then(Digits::new).unwrap_or_default();
    if digits != Digits::default() {
        file.set_digits(Some(digits));
    }

    let host = system::hostname();
    let issuer = args.issuer.clone().unwrap_or_else(|| host.clone());
    let label = args
        .label
        .clone()
        .unwrap_or_else(|| format!("{}@{host}", target.name));
    let secret_b32 = encode_secret(file.secret().as_bytes());
    let uri = Zeroizing::new(qr::otpauth_uri(&qr::UriParams {
        issuer: &issuer,
        account: &label,
        secret_b32: &secret_b32,
        algorithm: algorithm.name(),
        digits: digits.get(),
        period: time_based.then(|| file.step_size().get()),
        counter: (!time_based).then_some(1),
    }));
    let matrix = qr::Matrix::encode(&uri).map_err(|m| fail(m, "use a shorter --label or --issuer"))?;
    if let Some(svg) = &args.qr_svg {
        secret::create_private(Path::new(svg), qr::render_svg(&matrix).as_bytes())?;
    }
    if show {
        term.say(&format!("{}\n", uri.as_str()));
        match args.qr_mode.unwrap_or_else(default_qr_mode) {
            QrMode::Utf8 => term.say(&qr::render_utf8(&matrix)),
            QrMode::Ansi => term.say(&qr::render_ansi(&matrix)),
            QrMode::None => {}
        }
        term.say(&format!("Your new secret key is: {}\n", secret_b32.as_str()));
    }

    let confirmed = if args.no_confirm || args.quiet {
        Confirmed::NotAsked
    } else {
        confirm(&mut term, &file, time_based)?
    };

    let codes = scratch_codes(args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES))?;
    if show && !codes.is_empty() {
        let mut text = String::from("Your emergency scratch codes are:\n");
        for c in &codes {
            let _ = writeln!(text, "  {c}");
        }
        term.say(&text);
    }

    if !args.force {
        let question = format!(
            "Do you want me to update your \"{}\" file?",
            target.path.display()
        );
        if !term.yes_no(&question)? {
            term.say(&format!("Not writing {}.\n", target.path.display()));
            return Ok(ExitCode::SUCCESS);
        }
    }

    let disallow = time_based
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

    // Options in google-authenticator's order of addition (each lands right after line 1).
    if disallow {
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
    file.set_window_size(Some(window));
    if let Some((attempts, interval)) = rate {
        file.set_rate_limit(Some(RateLimit {
            attempts,
            interval,
            timestamps: Vec::new(),
        }));
    }
    if let Confirmed::Counter(c) = confirmed {
        file.set_hotp_counter(Some(c.saturating_add(1)));
    }
    for c in &codes {
        file.add_scratch_code(*c);
    }

    let mode = args.mode.unwrap_or(0o400);
    secret::create(&target.owner, &target.path, &file.to_bytes(), mode)?;

    let kind = if time_based {
        format!("totp period={}", file.step_size())
    } else {
        "hotp".to_owned()
    };
    let confirmed_word = match confirmed {
        Confirmed::Step(_) | Confirmed::Counter(_) => "yes",
        Confirmed::Skipped => "skipped",
        Confirmed::NotAsked => "no",
    };
    audit(
        args,
        &format!(
            "enrolled user={} by={} uid={} file={} type={kind} algorithm={} digits={} window={window} \
             disallow_reuse={} rate_limit={} scratch_codes={} confirmed={confirmed_word}",
            target.name,
            target.caller,
            target.caller_uid,
            target.path.display(),
            algorithm.name(),
            digits,
            if disallow { "yes" } else { "no" },
            rate.map(|(n, m)| format!("{n}/{m}s"))
                .unwrap_or_else(|| "none".to_owned()),
            codes.len(),
        ),
    );

    if args.json {
        let mut j = Zeroizing::new(format!(
            "{{\"user\":{},\"file\":{},\"uri\":{},\"type\":\"{}\",\"algorithm\":\"{}\",\"digits\":{}",
            json_str(&target.name),
            json_str(&target.path.to_string_lossy()),
            json_str(&uri),
            if time_based { "totp" } else { "hotp" },
            algorithm.name(),
            digits
        ));
        if time_based {
            let _ = write!(j, ",\"period\":{}", file.step_size());
        } else {
            let _ = write!(j, ",\"counter\":{}", file.hotp_counter().unwrap_or(1));
        }
        let _ = write!(
            j,
            ",\"window_size\":{window},\"disallow_reuse\":{disallow},\"rate_limit\":{},\"confirmed\":\"{confirmed_word}\",\"scratch_codes\":{}}}",
            rate.map(|(n, m)| format!("{{\"attempts\":{n},\"interval\":{m}}}"))
                .unwrap_or_else(|| "null".to_owned()),
            json_codes(&codes)
        );
        j.push('\n');
        stdout(&j);
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks for a code until one verifies with the file's algorithm, digits and step (or counter), or `-1`.
fn confirm(term: &mut Term, file: &SecretFile, time_based: bool) -> Result<Confirmed, Error> {
    let otp = file
        .otp()
        .map_err(|e| fail(format!("cannot compute codes: {e}"), "this is a bug"))?;
    let digits = file.digits();
    loop {
        term.say("Enter code from app (-1 to skip): ");
        let Some(answer) = term.line()? else {
            term.say("\n");
            return Err(fail(
                "no code on standard input; nothing was written",
                "type the code your app shows, -1 to skip, or use -C",
            ));
        };
        let answer = answer.trim();
        if answer == "-1" {
            term.say("Code confirmation skipped\n");
            return Ok(Confirmed::Skipped);
        }
        if let Some(code) = parse_code(answer, digits) {
            if time_based {
                let step = file.step_size();
                let now_step = now() / step.get();
                for s in [now_step, now_step.saturating_sub(1), now_step.saturating_add(1)] {
                    if codes_equal(otp.totp(s.saturating_mul(step.get()), step), code) {
                        term.say("Code confirmed\n");
                        return Ok(Confirmed::Step(s));
                    }
                }
            } else {
                for counter in 1..=3 {
                    if codes_equal(otp.hotp(counter), code) {
                        term.say("Code confirmed\n");
                        return Ok(Confirmed::Counter(counter));
                    }
                }
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

fn audit(args: &Args, message: &str) {
    let socket = Path::new(args.log_socket.as_deref().unwrap_or("/dev/log"));
    if let Err(e) = system::audit(socket, message) {
        eprintln!(
            "totp-enroll: warning: the audit line was not logged ({}: {e}); nothing else is affected",
            socket.display()
        );
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_codes(codes: &[u32]) -> String {
    let items: Vec<String> = codes.iter().map(|c| format!("\"{c}\"")).collect();
    format!("[{}]", items.join(","))
}

// ----- status and new-scratch-codes -----

fn status(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    // The module's checks, under its lock: a file it would refuse is an error here too.
    let (locked, file) = secret::open_locked(&target.owner, &target.path)?;
    let ((uid, _), mode) = (locked.owner(), locked.mode());
    drop(locked);
    let owner = system::find_account(&target.passwd, |a| a.uid == uid)
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_else(|| uid.to_string());
    let (kind, detail) = match file.mode() {
        Mode::Totp => ("totp", format!("period {} s", file.step_size())),
        Mode::Hotp { counter } => ("hotp", format!("next counter {counter}")),
        Mode::ScratchOnly => ("scratch-only", "no TOTP_AUTH or HOTP_COUNTER".to_owned()),
    };
    let scratch = file.scratch_codes().count();
    let rate = file.rate_limit();
    if args.json {
        stdout(&format!(
            "{{\"file\":{},\"owner\":{},\"mode\":\"{mode:04o}\",\"type\":\"{kind}\",\"algorithm\":\"{}\",\"digits\":{},\
             \"period\":{},\"window_size\":{},\"disallow_reuse\":{},\"rate_limit\":{},\"time_skew\":{},\
             \"scratch_codes_left\":{scratch},\"warnings\":{}}}\n",
            json_str(&target.path.to_string_lossy()),
            json_str(&owner),
            file.algorithm(),
            file.digits(),
            file.step_size(),
            file.window_size(),
            file.disallow_reuse().is_some(),
            rate.map(|r| format!("{{\"attempts\":{},\"interval\":{}}}", r.attempts, r.interval))
                .unwrap_or_else(|| "null".to_owned()),
            file.time_skew(),
            file.warnings().len()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let _ = writeln!(out, "file: {}", target.path.display());
    let _ = writeln!(out, "owner: {owner}, mode {mode:04o}");
    let _ = writeln!(out, "type: {kind} ({detail})");
    let _ = writeln!(out, "algorithm: {}, digits: {}", file.algorithm(), file.digits());
    let _ = writeln!(out, "window: {} codes", file.window_size());
    let _ = writeln!(
        out,
        "reuse: {}",
        if file.disallow_reuse().is_some() {
            "disallowed"
        } else {
            "allowed"
        }
    );
    let _ = writeln!(
        out,
        "rate limit: {}",
        rate.map(|r| format!("{} attempts per {} s", r.attempts, r.interval))
            .unwrap_or_else(|| "none".to_owned())
    );
    let _ = writeln!(out, "time skew: {} steps", file.time_skew());
    let _ = writeln!(out, "scratch codes left: {scratch}");
    for w in file.warnings() {
        let _ = writeln!(out, "warning: {w}");
    }
    if !args.quiet {
        stdout(&out);
    }
    Ok(ExitCode::SUCCESS)
}

fn new_scratch_codes(args: &Args, target: &Target) -> Result<ExitCode, Error> {
    let codes = scratch_codes(args.emergency_codes.unwrap_or(DEFAULT_SCRATCH_CODES))?;
    // Read, modify and replace under the module's lock, so that a login recording a used code meanwhile
    // is not undone. The store keeps the file's owner and mode.
    let (mut locked, mut file) = secret::open_locked(&target.owner, &target.path)?;
    let old: Vec<u32> = file.scratch_codes().collect();
    for c in old {
        file.remove_scratch_code(c);
    }
    for c in &codes {
        file.add_scratch_code(*c);
    }
    secret::replace(&target.owner, &mut locked, &file.to_bytes())?;
    drop(locked);
    audit(
        args,
        &format!(
            "new scratch codes user={} by={} uid={} file={} scratch_codes={}",
            target.name,
            target.caller,
            target.caller_uid,
            target.path.display(),
            codes.len()
        ),
    );
    if args.json {
        stdout(&format!(
            "{{\"user\":{},\"file\":{},\"scratch_codes\":{}}}\n",
            json_str(&target.name),
            json_str(&target.path.to_string_lossy()),
            json_codes(&codes)
        ));
    } else if !args.quiet {
        let mut text = String::from("Your new emergency scratch codes are:\n");
        for c in &codes {
            let _ = writeln!(text, "  {c}");
        }
        stdout(&text);
    }
    Ok(ExitCode::SUCCESS)
}
