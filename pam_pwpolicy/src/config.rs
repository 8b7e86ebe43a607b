//! Where the policy comes from: module arguments, `pwpolicy.conf` (TOML) and pam_pwquality's
//! `pwquality.conf` + `pwquality.conf.d/*.conf`, layered into one [`Policy`].
//!
//! Precedence, lowest first (a later source overrides an earlier one, key by key):
//! 1. built-in defaults (pam_pwquality's), then the `preset` (`nist`), then `compat` (`pwquality`), named
//!    anywhere below;
//! 2. `pwquality.conf.d/*.conf` in name order, then `pwquality.conf` (pam_pwquality's own order);
//! 3. `pwpolicy.conf` (TOML; any key of [`crate::policy::KEYS`]);
//! 4. module arguments (or `pwpolicy check` options).
//!
//! `conf=PATH` replaces `/etc/security/pwpolicy.conf` and makes that file the only system source:
//! pwquality files are then read only when `pwquality_conf=PATH` is given (as an argument or in the TOML
//! file). `pwquality_conf=none` turns pwquality reading off. The default paths are parameters
//! ([`Paths`]), so tests never read the host's `/etc`.
//!
//! Every unknown key, malformed value or unreadable/unparsable file is collected as a [`ConfigError`]
//! (all of them, not just the first); callers fail closed. A missing default file is not an error; a
//! missing file named explicitly is. Every file whose content sets the policy (the configuration files and
//! the blocklist) is opened by [`open_trusted`], the one place that owns these rules: an absolute path,
//! opened without following a symbolic link and without blocking (a FIFO cannot hang the caller), a regular
//! file owned by root or by the effective uid of the process, that neither group nor others can write.
//! Files are read with a size cap; nothing here panics or blocks.

use crate::policy::{Compat, OptionError, Policy, Preset, Value, KEYS};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The system configuration file of this module.
pub const SYSTEM_CONF: &str = "/etc/security/pwpolicy.conf";
/// pam_pwquality's configuration file (its `.d` directory is read too).
pub const SYSTEM_PWQUALITY: &str = "/etc/security/pwquality.conf";
/// Largest configuration file read.
pub const MAX_FILE: u64 = 1 << 20;
/// Most files read from a `.d` directory.
pub const MAX_DIR_FILES: usize = 256;

/// The keys pam_pwquality understands in `pwquality.conf` (the only ones accepted there).
pub const PWQUALITY_KEYS: &[&str] = &[
    "difok",
    "minlen",
    "dcredit",
    "ucredit",
    "lcredit",
    "ocredit",
    "minclass",
    "maxrepeat",
    "maxsequence",
    "maxclassrepeat",
    "gecoscheck",
    "dictcheck",
    "usercheck",
    "usersubstr",
    "enforcing",
    "badwords",
    "dictpath",
    "retry",
    "enforce_for_root",
    "local_users_only",
];

/// Default locations of the configuration files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// `pwpolicy.conf`; a missing file is fine.
    pub conf: PathBuf,
    /// `pwquality.conf` (and `<it>.d/`); `None`: do not read pwquality files by default.
    pub pwquality: Option<PathBuf>,
}

impl Paths {
    /// The real system paths (used by the shipped module and CLI only).
    pub fn system() -> Self {
        Paths {
            conf: PathBuf::from(SYSTEM_CONF),
            pwquality: Some(PathBuf::from(SYSTEM_PWQUALITY)),
        }
    }
}

/// One `key[=value]` from some source.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The option name.
    pub key: String,
    /// Its value.
    pub value: Value,
    /// Where it was written (`argument`, `/etc/security/pwquality.conf:12`, ...).
    pub origin: String,
}

/// A problem with the configuration, for the admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where (`argument`, a path, `path:line`).
    pub origin: String,
    /// What.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.problem)
    }
}

fn err(origin: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: origin.to_owned(),
        problem: problem.into(),
    }
}

/// The resolved policy and the files it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The policy.
    pub policy: Policy,
    /// Files actually read, in precedence order.
    pub files: Vec<PathBuf>,
}

/// Parses module arguments (`key`, `key=value`). `type=` is pam_cracklib's old name of `authtok_type=`.
pub fn parse_args(args: &[String]) -> Vec<Setting> {
    args.iter()
        .map(|a| {
            let (key, value) = match a.split_once('=') {
                Some((k, v)) => (k, Value::Text(v.to_owned())),
                None => (a.as_str(), Value::Flag),
            };
            let key = if key == "type" { "authtok_type" } else { key };
            Setting {
                key: key.to_owned(),
                value,
                origin: "argument".to_owned(),
            }
        })
        .collect()
}

/// Parses `pwpolicy.conf` (TOML: `key = value` at the top level, any key of [`KEYS`]).
/// Returns the good settings and an error for each bad one.
pub fn parse_toml(text: &str, origin: &str) -> (Vec<Setting>, Vec<ConfigError>) {
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let problem = format!("not valid TOML: {}", e.message().trim());
            return (Vec::new(), vec![err(origin, problem)]);
        }
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (key, v) in table {
        let value = match v {
            toml::Value::Integer(n) => Value::Int(n),
            toml::Value::Boolean(b) => Value::Bool(b),
            toml::Value::String(s) => Value::Text(s),
            toml::Value::Array(items) => {
                let mut words = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => words.push(s),
                        _ => {
                            errors.push(err(origin, format!("`{key}`: list items must be strings")));
                        }
                    }
                }
                Value::List(words)
            }
            _ => {
                errors.push(err(
                    origin,
                    format!("`{key}`: must be an integer, boolean, string or list of strings"),
                ));
                continue;
            }
        };
        if !KEYS.contains(&key.as_str()) {
            errors.push(err(origin, OptionError::Unknown(key).to_string()));
            continue;
        }
        out.push(Setting {
            key,
            value,
            origin: origin.to_owned(),
        });
    }
    (out, errors)
}

/// Parses a `pwquality.conf` file: `key = value` or a bare `key` per line, `#` comments.
/// Returns the good settings and an error for each bad line.
pub fn parse_pwquality(text: &str, origin: &str) -> (Vec<Setting>, Vec<ConfigError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{origin}:{}", n + 1);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Value::Text(v.trim().to_owned())),
            None => (line, Value::Flag),
        };
        if !PWQUALITY_KEYS.contains(&key) {
            errors.push(err(&at, format!("unknown pwquality setting `{key}`")));
            continue;
        }
        out.push(Setting {
            key: key.to_owned(),
            value,
            origin: at,
        });
    }
    (out, errors)
}

/// Applies settings (lowest precedence first) over the defaults and the preset.
pub fn resolve(settings: &[Setting]) -> Result<Policy, Vec<ConfigError>> {
    let mut preset = Preset::None;
    let mut mfa = false;
    let mut compat = Compat::None;
    let mut scratch = Policy::default();
    for s in settings {
        if s.key == "preset" || s.key == "mfa" || s.key == "compat" {
            // Errors are reported by the main loop below.
            if scratch.apply(&s.key, &s.value).is_ok() {
                preset = scratch.preset;
                mfa = scratch.mfa;
                compat = scratch.compat;
            }
        }
    }
    let mut policy = Policy::default();
    policy.apply_preset(preset, mfa);
    policy.apply_compat(compat);
    let mut errors = Vec::new();
    for s in settings {
        if let Err(e) = policy.apply(&s.key, &s.value) {
            errors.push(err(&s.origin, e.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// The uid, besides root, that may own a configuration or blocklist file: the effective uid of this
/// process (root for the module under `passwd`; the admin running `pwpolicy check` on their own files).
/// Built without the `module` feature (no pam-ffi), only root.
pub fn trusted_owner() -> u32 {
    #[cfg(feature = "module")]
    {
        pam_ffi::os::effective_uid()
    }
    #[cfg(not(feature = "module"))]
    {
        0
    }
}

/// Opens a file whose content sets the policy (`pwpolicy.conf`, `conf=`, `pwquality.conf`, its `.d/*.conf`,
/// the blocklist) under the rules of this module's header; `Ok(None)` when it does not exist. The error
/// says which rule the file breaks (the caller adds the path).
pub fn open_trusted(path: &Path) -> Result<Option<std::fs::File>, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    if !path.is_absolute() {
        return Err(
            "refused: not an absolute path (configuration and blocklist paths must be absolute)".to_owned(),
        );
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(
                "refused: it is a symbolic link (symbolic links are not followed: name the file itself)"
                    .to_owned(),
            )
        }
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err("refused: not a regular file (a FIFO, device or directory is never read)".to_owned());
    }
    let owner = trusted_owner();
    if meta.uid() != 0 && meta.uid() != owner {
        return Err(format!(
            "refused: owned by uid {} (it must be owned by root{}); run `chown root` on it",
            meta.uid(),
            if owner == 0 {
                String::new()
            } else {
                format!(" or uid {owner}, who runs this")
            }
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "refused: writable by group or others (mode {:o}); run `chmod go-w` on it",
            meta.mode() & 0o7777
        ));
    }
    Ok(Some(file))
}

/// Reads a file of at most [`MAX_FILE`] bytes (host name, passwd file: no ownership rules); `Ok(None)` when
/// it does not exist.
pub fn read_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let origin = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(f) => read_limited(f, &origin).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(&origin, format!("cannot open: {e}"))),
    }
}

/// Reads a configuration file opened by [`open_trusted`]; `Ok(None)` when it does not exist.
pub fn read_config(path: &Path) -> Result<Option<String>, ConfigError> {
    let origin = path.display().to_string();
    match open_trusted(path) {
        Ok(Some(f)) => read_limited(f, &origin).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(err(&origin, e)),
    }
}

fn read_limited(file: std::fs::File, origin: &str) -> Result<String, ConfigError> {
    let origin = origin.to_owned();
    let mut buf = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| err(&origin, format!("cannot read: {e}")))?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > MAX_FILE {
        return Err(err(&origin, format!("larger than {MAX_FILE} bytes")));
    }
    String::from_utf8(buf).map_err(|_| err(&origin, "not UTF-8 text"))
}

fn last_text(settings: &[Setting], key: &str) -> Option<String> {
    settings
        .iter()
        .rev()
        .find(|s| s.key == key)
        .map(|s| match &s.value {
            Value::Text(t) => t.clone(),
            _ => String::new(),
        })
}

fn read_pwquality(
    path: &Path,
    settings: &mut Vec<Setting>,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<ConfigError>,
) {
    let mut dir = path.as_os_str().to_owned();
    dir.push(".d");
    let dir = PathBuf::from(dir);
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut names: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            names.sort();
            if names.len() > MAX_DIR_FILES {
                errors.push(err(
                    &dir.display().to_string(),
                    format!("more than {MAX_DIR_FILES} files"),
                ));
                names.truncate(MAX_DIR_FILES);
            }
            for p in names {
                read_one(&p, false, settings, files, errors);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => errors.push(err(&dir.display().to_string(), format!("cannot list: {e}"))),
    }
    read_one(path, false, settings, files, errors);
}

fn read_one(
    path: &Path,
    required: bool,
    settings: &mut Vec<Setting>,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<ConfigError>,
) {
    let origin = path.display().to_string();
    match read_config(path) {
        Ok(Some(text)) => {
            files.push(path.to_path_buf());
            let (good, bad) = parse_pwquality(&text, &origin);
            settings.extend(good);
            errors.extend(bad);
        }
        Ok(None) if required => errors.push(err(&origin, "no such file")),
        Ok(None) => {}
        Err(e) => errors.push(e),
    }
}

fn is_relative_path(p: &str) -> bool {
    !Path::new(p).is_absolute()
}

/// Loads the policy for these module arguments, reading files from `paths` as described above.
pub fn load(args: &[String], paths: &Paths) -> Result<Loaded, Vec<ConfigError>> {
    let arg_settings = parse_args(args);
    let mut errors = Vec::new();
    let mut files = Vec::new();

    let explicit_conf = last_text(&arg_settings, "conf");
    let conf_path = explicit_conf
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| paths.conf.clone());
    let mut toml_settings = Vec::new();
    match read_config(&conf_path) {
        Ok(Some(text)) => {
            files.push(conf_path.clone());
            let (good, bad) = parse_toml(&text, &conf_path.display().to_string());
            toml_settings = good;
            errors.extend(bad);
        }
        Ok(None) if explicit_conf.is_some() => {
            errors.push(err(&conf_path.display().to_string(), "no such file"))
        }
        Ok(None) => {}
        Err(e) => errors.push(e),
    }
    if toml_settings.iter().any(|s| s.key == "conf") {
        errors.push(err(
            &conf_path.display().to_string(),
            "`conf` is only valid as a module argument",
        ));
    }

    let pwq =
        last_text(&arg_settings, "pwquality_conf").or_else(|| last_text(&toml_settings, "pwquality_conf"));
    let pwq_path: Option<PathBuf> = match pwq.as_deref() {
        Some("" | "none") => None,
        Some(p) if is_relative_path(p) => {
            errors.push(err(
                p,
                "refused: `pwquality_conf` must be an absolute path (configuration and blocklist paths must be absolute)",
            ));
            None
        }
        Some(p) => Some(PathBuf::from(p)),
        None if explicit_conf.is_some() => None,
        None => paths.pwquality.clone(),
    };
    let mut settings = Vec::new();
    if let Some(p) = &pwq_path {
        read_pwquality(p, &mut settings, &mut files, &mut errors);
        if pwq.is_some() && !p.exists() {
            errors.push(err(&p.display().to_string(), "no such file"));
        }
    }
    settings.extend(toml_settings);
    settings.extend(arg_settings);
    match resolve(&settings) {
        Ok(policy) if errors.is_empty() => Ok(Loaded { policy, files }),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.extend(e);
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Writes a config file with mode 0644 whatever the umask (group-writable files are refused).
    fn write(path: impl AsRef<Path>, text: &str) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path.as_ref(), text)?;
        fs::set_permissions(path.as_ref(), fs::Permissions::from_mode(0o644))
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn paths(dir: &Path) -> Paths {
        Paths {
            conf: dir.join("pwpolicy.conf"),
            pwquality: Some(dir.join("pwquality.conf")),
        }
    }

    #[test]
    fn given_no_files_then_defaults_and_args_apply() {
        let d = tempfile::tempdir().unwrap();
        let l = load(
            &args(&["minlen=10", "ucredit=-1", "reject_username"]),
            &paths(d.path()),
        )
        .unwrap();
        assert_eq!((l.policy.minlen, l.policy.ucredit), (10, -1));
        assert!(l.policy.reject_username);
        assert!(l.files.is_empty());
    }

    #[test]
    fn given_cracklib_type_argument_then_it_sets_authtok_type() {
        let d = tempfile::tempdir().unwrap();
        let p = load(
            &args(&["type=LDAP", "dictpath=/usr/share/cracklib/pw_dict"]),
            &paths(d.path()),
        )
        .unwrap()
        .policy;
        assert_eq!(p.authtok_type, "LDAP");
        assert_eq!(p.dictpath.as_deref(), Some("/usr/share/cracklib/pw_dict"));
    }

    #[test]
    fn given_every_bad_argument_then_each_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let e = load(&args(&["minlenn=3", "difok=x", "retry=3"]), &paths(d.path())).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].to_string().contains("minlenn"));
        assert!(e[1].to_string().contains("difok"));
    }

    #[test]
    fn given_pwquality_files_then_main_overrides_conf_d_and_toml_overrides_both() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("pwquality.conf.d")).unwrap();
        write(
            d.path().join("pwquality.conf.d/10-a.conf"),
            "minlen = 11\ndcredit = -1\n",
        )
        .unwrap();
        write(d.path().join("pwquality.conf.d/20-b.conf"), "minlen = 12\n").unwrap();
        write(d.path().join("pwquality.conf.d/ignored.txt"), "garbage\n").unwrap();
        write(
            d.path().join("pwquality.conf"),
            "# STIG\nminlen = 15\nenforce_for_root\nucredit = -1\n",
        )
        .unwrap();
        let p = load(&[], &paths(d.path())).unwrap().policy;
        assert_eq!((p.minlen, p.dcredit, p.ucredit), (15, -1, -1));
        assert!(p.enforce_for_root);
        write(
            d.path().join("pwpolicy.conf"),
            "minlen = 16\nbadwords = [\"acme\"]\n",
        )
        .unwrap();
        let p = load(&[], &paths(d.path())).unwrap().policy;
        assert_eq!(p.minlen, 16);
        assert_eq!(p.badwords, vec!["acme".to_owned()]);
        let p = load(&args(&["minlen=17"]), &paths(d.path())).unwrap().policy;
        assert_eq!(p.minlen, 17);
    }

    #[test]
    fn given_conf_argument_then_only_that_file_is_read() {
        let d = tempfile::tempdir().unwrap();
        write(d.path().join("pwquality.conf"), "minlen = 15\n").unwrap();
        let other = d.path().join("other.toml");
        write(&other, "minlen = 9\n").unwrap();
        let l = load(&args(&[&format!("conf={}", other.display())]), &paths(d.path())).unwrap();
        assert_eq!(l.policy.minlen, 9);
        assert_eq!(l.files, vec![other]);
    }

    #[test]
    fn given_missing_explicit_conf_then_error() {
        let d = tempfile::tempdir().unwrap();
        let e = load(&args(&["conf=/nonexistent/pwpolicy.conf"]), &paths(d.path())).unwrap_err();
        assert!(e[0].to_string().contains("no such file"));
    }

    #[test]
    fn given_bad_toml_or_unknown_key_then_error() {
        let d = tempfile::tempdir().unwrap();
        write(d.path().join("pwpolicy.conf"), "minlen = \n").unwrap();
        assert!(load(&[], &paths(d.path())).is_err());
        write(d.path().join("pwpolicy.conf"), "minlength = 3\nminlen = \"x\"\n").unwrap();
        let e = load(&[], &paths(d.path())).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn given_group_or_world_writable_config_then_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pwpolicy.conf");
        write(&f, "minlen = 12\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        let e = load(&[], &paths(d.path())).unwrap_err();
        assert!(e[0].problem.contains("writable by group or others"), "{e:?}");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load(&[], &paths(d.path())).unwrap().policy.minlen, 12);
    }

    fn mkfifo(path: &Path) {
        let ok = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo {}", path.display());
    }

    /// `load` in a thread that must finish within 10 s (a FIFO used to block it forever).
    fn load_promptly(a: Vec<String>, p: Paths) -> Result<Loaded, Vec<ConfigError>> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(load(&a, &p));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("load blocked on a FIFO")
    }

    #[test]
    fn given_a_fifo_at_any_configuration_path_then_refused_promptly_naming_the_file() {
        for at in [
            "pwpolicy.conf",
            "pwquality.conf",
            "pwquality.conf.d/50-site.conf",
            "explicit.toml",
            "explicit-pwquality.conf",
        ] {
            let d = tempfile::tempdir().unwrap();
            fs::create_dir(d.path().join("pwquality.conf.d")).unwrap();
            let fifo = d.path().join(at);
            mkfifo(&fifo);
            let a = match at {
                "explicit.toml" => args(&[&format!("conf={}", fifo.display())]),
                "explicit-pwquality.conf" => args(&[&format!("pwquality_conf={}", fifo.display())]),
                _ => Vec::new(),
            };
            let e = load_promptly(a, paths(d.path())).unwrap_err();
            assert!(
                e.iter()
                    .any(|e| e.origin == fifo.display().to_string()
                        && e.problem.contains("not a regular file")),
                "{at}: {e:?}"
            );
        }
    }

    #[test]
    fn given_relative_conf_or_pwquality_conf_then_refused() {
        let d = tempfile::tempdir().unwrap();
        for a in ["conf=pwpolicy.conf", "pwquality_conf=etc/pwquality.conf"] {
            let e = load(&args(&[a]), &paths(d.path())).unwrap_err();
            assert!(
                e.iter().any(|e| e.problem.contains("absolute path")),
                "{a}: {e:?}"
            );
        }
        write(
            d.path().join("pwpolicy.conf"),
            "pwquality_conf = \"pwquality.conf\"\n",
        )
        .unwrap();
        let e = load(&[], &paths(d.path())).unwrap_err();
        assert!(e[0].problem.contains("absolute path"), "{e:?}");
    }

    #[test]
    fn given_symlinked_configuration_file_then_refused_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real.conf");
        write(&real, "minlen = 3\n").unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("pwpolicy.conf")).unwrap();
        let e = load(&[], &paths(d.path())).unwrap_err();
        assert!(e[0].problem.contains("symbolic link"), "{e:?}");
        fs::create_dir(d.path().join("pwquality.conf.d")).unwrap();
        fs::remove_file(d.path().join("pwpolicy.conf")).unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("pwquality.conf.d/x.conf")).unwrap();
        let e = load(&[], &paths(d.path())).unwrap_err();
        assert!(
            e[0].origin.ends_with("x.conf") && e[0].problem.contains("symbolic link"),
            "{e:?}"
        );
    }

    #[test]
    fn given_trusted_open_then_each_rule_is_named() {
        let d = tempfile::tempdir().unwrap();
        assert!(open_trusted(Path::new("relative.conf"))
            .unwrap_err()
            .contains("absolute"));
        assert!(open_trusted(&d.path().join("missing")).unwrap().is_none());
        assert!(open_trusted(d.path()).unwrap_err().contains("not a regular file"));
        let f = d.path().join("ok.conf");
        write(&f, "").unwrap();
        assert!(open_trusted(&f).unwrap().is_some());
    }

    #[test]
    fn given_unknown_pwquality_key_then_error_names_the_line() {
        let (good, bad) = parse_pwquality("minlen = 9\nfoo = 1\n", "f");
        assert_eq!(good.len(), 1);
        assert_eq!(bad[0].origin, "f:2");
    }

    #[test]
    fn given_nist_preset_in_toml_then_args_still_override() {
        let d = tempfile::tempdir().unwrap();
        write(d.path().join("pwpolicy.conf"), "preset = \"nist\"\nmfa = true\n").unwrap();
        let p = load(&[], &paths(d.path())).unwrap().policy;
        assert_eq!(p.minlen, 8);
        let p = load(&args(&["minlen=20"]), &paths(d.path())).unwrap().policy;
        assert_eq!(p.minlen, 20);
    }

    #[test]
    fn given_compat_in_toml_then_it_applies_and_explicit_settings_still_override() {
        let d = tempfile::tempdir().unwrap();
        write(d.path().join("pwpolicy.conf"), "compat = \"pwquality\"\n").unwrap();
        let p = load(&[], &paths(d.path())).unwrap().policy;
        assert_eq!(
            (p.compat, p.minscore, p.commoncheck),
            (Compat::Pwquality, 0, false)
        );
        let p = load(&args(&["minscore=2"]), &paths(d.path())).unwrap().policy;
        assert_eq!((p.compat, p.minscore), (Compat::Pwquality, 2));
        let p = load(&args(&["compat=none"]), &paths(d.path())).unwrap().policy;
        assert_eq!((p.compat, p.minscore), (Compat::None, 3));
    }

    #[test]
    fn given_pwquality_conf_none_then_files_are_not_read() {
        let d = tempfile::tempdir().unwrap();
        write(d.path().join("pwquality.conf"), "minlen = 15\n").unwrap();
        let p = load(&args(&["pwquality_conf=none"]), &paths(d.path()))
            .unwrap()
            .policy;
        assert_eq!(p.minlen, 8);
    }
}
