//! The per-user state file of `state=PATH` (documented in `docs/state-file-format.md`): everything the module
//! writes after a login (used TOTP steps, the `USED_STEP` mark, `RATE_LIMIT` times, the HOTP counter, skew
//! learning, `LASTn` grace entries, used scratch codes by keyed hash), kept apart from a secret file that is
//! then only read. It owns the format (one parser, one serializer), the secret's fingerprint, and the two
//! translations between the split and the google-authenticator layout: [`effective`] lays the state over the
//! secret file so that `verify` decides on one [`SecretFile`] as always, and [`State::recorded`] takes back
//! what `verify` changed. It does no I/O (the caller uses `store`) and never puts a secret, a code or file
//! content in an error or `Debug` string.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::otp::SecretKey;
use crate::secret_file::{parse_skew_entry, LastLogin, RateLimit, SecretFile, SkewEntry, LAST_SLOTS};

/// The first line of a state file (format version 1).
pub const HEADER: &str = "PAM_TOTP_STATE 1";
/// Largest state file accepted (and written).
pub const MAX_STATE_SIZE: usize = 64 * 1024;
/// Permission bits of a state file (root-owned).
pub const STATE_MODE: u32 = 0o600;

/// Hex digits of a fingerprint or a scratch-code hash (64 bits of HMAC-SHA-256).
const HASH_HEX: usize = 16;

/// Why a state file could not be parsed. Names the line, never its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateError {
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "state file: {}", self.reason)
        } else {
            write!(f, "state file line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for StateError {}

/// One user's state, as kept in the state file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The user it belongs to (passwd `pw_name`).
    pub user: String,
    /// [`fingerprint`] of the secret it was recorded with.
    pub secret_id: String,
    /// Next HOTP counter.
    pub hotp_counter: Option<u64>,
    /// `USED_STEP` high-water mark.
    pub used_step: Option<u64>,
    /// `DISALLOW_REUSE` steps.
    pub used_steps: Vec<u64>,
    /// `RATE_LIMIT` attempt times.
    pub attempts: Vec<u64>,
    /// `TIME_SKEW`.
    pub time_skew: Option<i64>,
    /// `RESETTING_TIME_SKEW` entries.
    pub resetting_time_skew: Option<Vec<SkewEntry>>,
    /// `LASTn` grace entries.
    pub last: [Option<LastLogin>; LAST_SLOTS],
    /// [`scratch_hash`] of each used scratch code.
    pub used_scratch: Vec<String>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("user", &self.user)
            .field("hotp_counter", &self.hotp_counter)
            .field("used_step", &self.used_step)
            .field("used_steps", &self.used_steps.len())
            .field("attempts", &self.attempts.len())
            .field("time_skew", &self.time_skew)
            .field("used_scratch", &self.used_scratch.len())
            .finish_non_exhaustive()
    }
}

/// A 64-bit HMAC-SHA-256 of `msg` keyed with the secret, as lower-case hex.
fn keyed_hash(secret: &SecretKey, msg: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(msg);
    let out = mac.finalize().into_bytes();
    out.iter()
        .take(HASH_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Names the secret without revealing it: a state recorded with another secret (the user enrolled again)
/// is not this secret's state.
pub fn fingerprint(secret: &SecretKey) -> String {
    keyed_hash(secret, b"pam_totp state secret-id")
}

/// How a used scratch code is remembered: keyed with the secret, so the state file alone does not give
/// the 8-digit codes away to a brute force.
pub fn scratch_hash(secret: &SecretKey, code: u32) -> String {
    keyed_hash(secret, format!("pam_totp state scratch {code}").as_bytes())
}

fn valid_user(user: &str) -> bool {
    !user.is_empty() && user.len() <= 256 && user.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

fn is_hash(s: &str) -> bool {
    s.len() == HASH_HEX
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn numbers<T: std::str::FromStr>(v: &str) -> Option<Vec<T>> {
    v.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().ok())
        .collect()
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl State {
    /// An empty state for `user` and `secret`; `None` for a user name that cannot be written on one line.
    pub fn fresh(user: &str, secret: &SecretKey) -> Option<State> {
        valid_user(user).then(|| State {
            user: user.to_owned(),
            secret_id: fingerprint(secret),
            ..State::default()
        })
    }

    /// Whether this state was recorded for `user` with `secret`.
    pub fn belongs_to(&self, user: &str, secret: &SecretKey) -> bool {
        self.user == user && self.secret_id == fingerprint(secret)
    }

    /// Parses a state file. Never panics; every line must be understood.
    pub fn parse(bytes: &[u8]) -> Result<State, StateError> {
        let whole = |reason| StateError { line: 0, reason };
        if bytes.len() > MAX_STATE_SIZE {
            return Err(whole("larger than 64 KiB"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| whole("not UTF-8 text"))?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| whole("does not end with a newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(StateError {
                line: 1,
                reason: "not a version 1 pam_totp state file header",
            });
        }
        let mut state = State::default();
        let mut seen: Vec<&str> = Vec::new();
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            let err = |reason| StateError { line: n, reason };
            let (key, value) = line.split_once('=').ok_or_else(|| err("not key=value"))?;
            if key != "last" && seen.contains(&key) {
                return Err(err("key given twice"));
            }
            seen.push(key);
            state.set(key, value).map_err(err)?;
        }
        if !valid_user(&state.user) {
            return Err(whole("no valid user= line"));
        }
        if !is_hash(&state.secret_id) {
            return Err(whole("no valid secret_id= line"));
        }
        Ok(state)
    }

    fn set(&mut self, key: &str, v: &str) -> Result<(), &'static str> {
        const BAD: &str = "malformed value";
        match key {
            "user" => self.user = v.to_owned(),
            "secret_id" => self.secret_id = v.to_owned(),
            "hotp_counter" => self.hotp_counter = Some(v.parse().map_err(|_| BAD)?),
            "used_step" => self.used_step = Some(v.parse().map_err(|_| BAD)?),
            "used_steps" => self.used_steps = numbers(v).ok_or(BAD)?,
            "attempts" => self.attempts = numbers(v).ok_or(BAD)?,
            "time_skew" => self.time_skew = Some(v.parse().map_err(|_| BAD)?),
            "resetting_time_skew" => {
                let entries = v.split(' ').filter(|w| !w.is_empty()).map(parse_skew_entry);
                self.resetting_time_skew = Some(entries.collect::<Option<Vec<_>>>().ok_or(BAD)?);
            }
            "last" => {
                let mut words = v.split(' ');
                let (Some(slot), Some(host), Some(time), None) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    return Err(BAD);
                };
                let slot: usize = slot.parse().map_err(|_| BAD)?;
                let entry = LastLogin::new(host, time.parse().map_err(|_| BAD)?).ok_or(BAD)?;
                let cell = self.last.get_mut(slot).ok_or("last slot out of range")?;
                if cell.is_some() {
                    return Err("last slot given twice");
                }
                *cell = Some(entry);
            }
            "used_scratch" => {
                let hashes: Vec<String> = v
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect();
                if !hashes.iter().all(|h| is_hash(h)) {
                    return Err(BAD);
                }
                self.used_scratch = hashes;
            }
            _ => return Err("unknown key"),
        }
        Ok(())
    }

    /// The file content: the header, then one `key=value` line per recorded item.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\nuser={}\nsecret_id={}\n", self.user, self.secret_id);
        if let Some(c) = self.hotp_counter {
            out.push_str(&format!("hotp_counter={c}\n"));
        }
        if let Some(s) = self.used_step {
            out.push_str(&format!("used_step={s}\n"));
        }
        if !self.used_steps.is_empty() {
            out.push_str(&format!("used_steps={}\n", join(&self.used_steps)));
        }
        if !self.attempts.is_empty() {
            out.push_str(&format!("attempts={}\n", join(&self.attempts)));
        }
        if let Some(s) = self.time_skew {
            out.push_str(&format!("time_skew={s}\n"));
        }
        if let Some(entries) = &self.resetting_time_skew {
            let words: Vec<String> = entries
                .iter()
                .map(|e| format!("{}{:+}", e.step, e.skew))
                .collect();
            out.push_str(&format!("resetting_time_skew={}\n", words.join(" ")));
        }
        for (slot, entry) in self.last.iter().enumerate() {
            if let Some(e) = entry {
                out.push_str(&format!("last={slot} {} {}\n", e.host(), e.time()));
            }
        }
        if !self.used_scratch.is_empty() {
            out.push_str(&format!("used_scratch={}\n", self.used_scratch.join(" ")));
        }
        out.into_bytes()
    }

    /// The state after a login: what `verify` left in `after` (decided on `before`, the [`effective`] file
    /// of `secret_file`), with the scratch codes it used added to those used before. Only hashes of codes
    /// the secret file still lists are kept.
    pub fn recorded(&self, secret_file: &SecretFile, before: &SecretFile, after: &SecretFile) -> State {
        let key = secret_file.secret();
        let count = |f: &SecretFile, c: u32| f.scratch_codes().filter(|&x| x == c).count();
        let mut used_scratch = Vec::new();
        for code in secret_file.scratch_codes() {
            let hash = scratch_hash(key, code);
            let used = self.used_scratch.contains(&hash) || count(after, code) < count(before, code);
            if used && !used_scratch.contains(&hash) {
                used_scratch.push(hash);
            }
        }
        State {
            user: self.user.clone(),
            secret_id: self.secret_id.clone(),
            hotp_counter: after.hotp_counter(),
            used_step: after.used_step(),
            used_steps: after.disallow_reuse().map(<[u64]>::to_vec).unwrap_or_default(),
            attempts: after
                .rate_limit()
                .map(|r| r.timestamps.clone())
                .unwrap_or_default(),
            time_skew: after.raw_value("TIME_SKEW").is_some().then(|| after.time_skew()),
            resetting_time_skew: after
                .raw_value("RESETTING_TIME_SKEW")
                .is_some()
                .then(|| after.resetting_time_skew().to_vec()),
            last: after.last_logins().clone(),
            used_scratch,
        }
    }
}

/// The secret file as `verify` must see it: `file` (settings, secret, scratch codes) with `state` laid over
/// it. Nothing that prevents a replay is ever lowered: the HOTP counter and `USED_STEP` are the larger of
/// the two, used steps and attempt times the union, and a scratch code whose hash is recorded is gone
/// (every line of it). Skew and `LASTn` entries come from the state when it has them. Without a state (or
/// with the state of another secret), the file's own state lines are the state: that is the move-in.
pub fn effective(file: &SecretFile, state: Option<&State>) -> SecretFile {
    let mut out = file.clone();
    let Some(state) = state else {
        return out;
    };
    if let Some(c) = file.hotp_counter() {
        out.set_hotp_counter(Some(c.max(state.hotp_counter.unwrap_or(0))));
    }
    let used_step = file.used_step().max(state.used_step);
    if used_step.is_some() {
        out.set_used_step(used_step);
    }
    if let Some(steps) = file.disallow_reuse() {
        out.set_disallow_reuse(Some(union(steps, &state.used_steps)));
    }
    if let Some(limit) = file.rate_limit() {
        let _ = out.set_rate_limit(Some(RateLimit {
            timestamps: union(&limit.timestamps, &state.attempts),
            ..limit.clone()
        }));
    }
    if state.time_skew.is_some() {
        out.set_time_skew(state.time_skew);
    }
    if state.resetting_time_skew.is_some() {
        out.set_resetting_time_skew(state.resetting_time_skew.clone());
    }
    for (slot, entry) in state.last.iter().enumerate() {
        if entry.is_some() {
            let _ = out.set_last_login(slot, entry.clone());
        }
    }
    let key = file.secret();
    for code in file.scratch_codes() {
        if state.used_scratch.contains(&scratch_hash(key, code)) {
            while out.remove_scratch_code(code) {}
        }
    }
    out
}

/// Sorted union as multisets: each value as often as in the list that has it most (two attempts in the
/// same second are two attempts).
fn union(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut all: Vec<u64> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    all.dedup();
    let count = |list: &[u64], v: u64| list.iter().filter(|&&x| x == v).count();
    all.iter()
        .flat_map(|&v| std::iter::repeat_n(v, count(a, v).max(count(b, v))))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::secret_file::decode_secret;

    const FILE: &str = "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 100\n\" DISALLOW_REUSE 7\n\" HOTP_COUNTER 4\n\
                        11111111\n22222222\n";

    fn file() -> SecretFile {
        SecretFile::parse(FILE.as_bytes()).unwrap()
    }

    #[test]
    fn a_state_round_trips_through_its_bytes() {
        let f = file();
        let mut s = State::fresh("alice", f.secret()).unwrap();
        s.hotp_counter = Some(9);
        s.used_step = Some(12);
        s.used_steps = vec![11, 12];
        s.attempts = vec![100, 101];
        s.time_skew = Some(-2);
        s.resetting_time_skew = Some(vec![SkewEntry { step: 5, skew: -1 }]);
        s.last[3] = LastLogin::new("192.0.2.7", 99);
        s.used_scratch = vec![scratch_hash(f.secret(), 11_111_111)];
        let bytes = s.to_bytes();
        assert!(bytes.starts_with(b"PAM_TOTP_STATE 1\nuser=alice\nsecret_id="));
        assert_eq!(State::parse(&bytes).unwrap(), s);
    }

    #[test]
    fn unknown_keys_duplicates_and_a_missing_header_are_refused() {
        let ok = "PAM_TOTP_STATE 1\nuser=a\nsecret_id=0123456789abcdef\n";
        assert!(State::parse(ok.as_bytes()).is_ok());
        for bad in [
            "PAM_TOTP_STATE 2\nuser=a\nsecret_id=0123456789abcdef\n",
            "user=a\nsecret_id=0123456789abcdef\n",
            "PAM_TOTP_STATE 1\nuser=a\nsecret_id=0123456789abcdef\nfoo=1\n",
            "PAM_TOTP_STATE 1\nuser=a\nuser=b\nsecret_id=0123456789abcdef\n",
            "PAM_TOTP_STATE 1\nuser=a\nsecret_id=0123456789abcdef",
            "PAM_TOTP_STATE 1\nuser=a\nsecret_id=xyz\n",
            "PAM_TOTP_STATE 1\nsecret_id=0123456789abcdef\n",
            "PAM_TOTP_STATE 1\nuser=a\nsecret_id=0123456789abcdef\nhotp_counter=-1\n",
            "PAM_TOTP_STATE 1\nuser=a\nsecret_id=0123456789abcdef\nlast=10 h 1\n",
        ] {
            assert!(State::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn without_a_state_the_secret_files_own_lines_are_the_state() {
        assert_eq!(effective(&file(), None), file());
    }

    #[test]
    fn the_state_never_lowers_what_stops_a_replay() {
        let f = file();
        let mut s = State::fresh("alice", f.secret()).unwrap();
        s.hotp_counter = Some(2);
        s.used_steps = vec![9];
        s.attempts = vec![105, 105];
        let e = effective(&f, Some(&s));
        assert_eq!(e.hotp_counter(), Some(4), "the larger counter wins");
        assert_eq!(e.disallow_reuse(), Some(&[7, 9][..]));
        assert_eq!(
            e.rate_limit().unwrap().timestamps,
            vec![100, 105, 105],
            "attempts in one second all count"
        );
        s.hotp_counter = Some(40);
        assert_eq!(effective(&f, Some(&s)).hotp_counter(), Some(40));
    }

    #[test]
    fn a_used_scratch_code_is_recorded_by_hash_and_gone_from_every_line() {
        let f = SecretFile::parse(b"JBSWY3DPEHPK3PXP\n11111111\n22222222\n11111111\n").unwrap();
        let s = State::fresh("alice", f.secret()).unwrap();
        let before = effective(&f, Some(&s));
        let mut after = before.clone();
        assert!(after.use_scratch_code(11_111_111));
        let next = s.recorded(&f, &before, &after);
        assert_eq!(next.used_scratch, vec![scratch_hash(f.secret(), 11_111_111)]);
        assert!(!String::from_utf8(next.to_bytes()).unwrap().contains("11111111"));
        let e = effective(&f, Some(&next));
        assert_eq!(e.scratch_codes().collect::<Vec<_>>(), vec![22_222_222]);
        // Kept at the next login, though that login used nothing.
        let again = next.recorded(&f, &e, &e);
        assert_eq!(again.used_scratch, next.used_scratch);
    }

    #[test]
    fn a_state_belongs_to_one_user_and_one_secret() {
        let f = file();
        let s = State::fresh("alice", f.secret()).unwrap();
        assert!(s.belongs_to("alice", f.secret()));
        assert!(!s.belongs_to("bob", f.secret()));
        assert!(!s.belongs_to("alice", &decode_secret("GEZDGNBVGY3TQOJQ").unwrap()));
        assert!(State::fresh("a b", f.secret()).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panicking_and_what_parses_round_trips(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)
        ) {
            if let Ok(state) = State::parse(&bytes) {
                proptest::prop_assert_eq!(State::parse(&state.to_bytes()).unwrap(), state);
            }
        }

        #[test]
        fn state_shaped_text_round_trips(
            lines in proptest::collection::vec(
                "(hotp_counter=[0-9]{1,5}|used_step=[0-9]{1,5}|used_steps=[0-9 ]{0,12}|attempts=[0-9 ]{0,12}|\
                  time_skew=-?[0-9]{1,3}|resetting_time_skew=([0-9]{1,4}[+-][0-9] ?){0,3}|last=[0-9] h[a-z] [0-9]{1,4}|\
                  used_scratch=[0-9a-f]{16})", 0..6)
        ) {
            let text = format!("{HEADER}\nuser=u\nsecret_id=0123456789abcdef\n{}", lines.iter().map(|l| format!("{l}\n")).collect::<String>());
            if let Ok(state) = State::parse(text.as_bytes()) {
                proptest::prop_assert_eq!(State::parse(&state.to_bytes()).unwrap(), state);
            }
        }
    }
}
