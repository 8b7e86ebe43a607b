//! Clock synchronisation: TOTP fails silently when the clock drifts, so the doctor asks the time daemons
//! that are there: `timedatectl show -p NTPSynchronized` (the kernel's view, whatever daemon disciplines
//! it), then `chronyc -n tracking` and `ntpq -pn`. Not synchronised is an error; not knowing is a warning.

use super::report::Finding;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the doctor found out about the clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// Synchronised, according to the named tool.
    Synced(String),
    /// Not synchronised, according to the named tool(s).
    NotSynced(String),
    /// No tool could tell (why).
    Unknown(String),
}

/// `timedatectl show -p NTPSynchronized` (or with `--value`): `Some(true)` for yes.
pub fn parse_timedatectl(out: &str) -> Option<bool> {
    let v = out.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("NTPSynchronized=")
            .or((l == "yes" || l == "no").then_some(l))
    })?;
    match v.trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// `chronyc tracking`: `Leap status : Normal` (or an announced leap second) is synchronised,
/// `Not synchronised` is not.
pub fn parse_chronyc(out: &str) -> Option<bool> {
    let status = out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "Leap status").then(|| v.trim().to_owned())
    })?;
    Some(status != "Not synchronised")
}

/// `ntpq -pn`: a peer line starting with `*` is the system peer (synchronised); a peer table without one is
/// not synchronised.
pub fn parse_ntpq(out: &str) -> Option<bool> {
    let peers: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("====="))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if peers.is_empty() {
        return None;
    }
    Some(peers.iter().any(|l| l.starts_with('*')))
}

/// Finds a program in the usual system directories (the doctor does not trust `$PATH` under sudo).
fn find(program: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn output(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tool, its arguments, and the parser of its output.
type Probe = (&'static str, &'static [&'static str], fn(&str) -> Option<bool>);

/// Asks the tools that are installed.
pub fn probe() -> ClockState {
    let mut said_no = Vec::new();
    let mut tried = Vec::new();
    let probes: [Probe; 3] = [
        (
            "timedatectl",
            &["show", "-p", "NTPSynchronized"],
            parse_timedatectl,
        ),
        ("chronyc", &["-n", "tracking"], parse_chronyc),
        ("ntpq", &["-pn"], parse_ntpq),
    ];
    for (name, args, parse) in probes {
        let Some(path) = find(name) else { continue };
        tried.push(name);
        match output(&path, args).as_deref().and_then(parse) {
            Some(true) => return ClockState::Synced(name.to_owned()),
            Some(false) => said_no.push(name),
            None => {}
        }
    }
    if !said_no.is_empty() {
        return ClockState::NotSynced(said_no.join(", "));
    }
    if tried.is_empty() {
        ClockState::Unknown("none of timedatectl, chronyc, ntpq is installed".to_owned())
    } else {
        ClockState::Unknown(format!(
            "{} gave no answer (no systemd, or no time daemon running)",
            tried.join(", ")
        ))
    }
}

/// The clock finding, if any.
pub fn check(state: &ClockState) -> Vec<Finding> {
    match state {
        ClockState::Synced(_) => Vec::new(),
        ClockState::NotSynced(by) => vec![Finding::error(
            "clock-not-synchronized",
            format!("the clock is not synchronised ({by} says so): TOTP codes stop matching once it drifts by more than the window, and the module cannot tell a drift from a wrong code"),
            "`timedatectl set-ntp true` (systemd-timesyncd), or install and start chrony",
        )],
        ClockState::Unknown(why) => vec![Finding::warning(
            "clock-sync-unknown",
            format!("cannot tell whether the clock is synchronised: {why}"),
            "make sure an NTP client (systemd-timesyncd, chrony, ntpsec) keeps the clock right",
        )],
    }
}
