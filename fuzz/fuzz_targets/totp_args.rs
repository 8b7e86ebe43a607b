//! pam_totp's module arguments: any bytes, split into arguments on NUL or newline (lossy UTF-8, as PAM hands the
//! module C strings), through `Options::parse`; the `secret=` template (from the arguments, or the rest of
//! the input) through `uses_home` and `expand_secret_path` with a few users and homes. Must never panic; an
//! expanded path is absolute, and a path expanded without a home never came from a template that needs one.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_totp::args::{expand_secret_path, uses_home, ExpandError, Options};

const USERS: &[&str] = &["alice", "", ".", "..", "a/b", "root", "ünïcödé", "${USER}", "~"];
const HOMES: &[Option<&str>] = &[None, Some("/home/alice"), Some("relative"), Some(""), Some("/")];

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = data
        .split(|b| *b == 0 || *b == b'\n')
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let template = match Options::parse(&args) {
        Ok(o) => {
            let _ = o.prompt();
            if o.user.is_some() {
                assert!(!uses_home(&o.secret), "user= accepted with a home-relative secret=");
            }
            assert!(o.allowed_perm >= 1 && o.allowed_perm <= 0o7777);
            o.secret
        }
        Err(e) => {
            assert!(!e.bad.is_empty());
            let _ = e.to_string();
            // The raw text as a template too.
            String::from_utf8_lossy(data).into_owned()
        }
    };
    let needs_home = uses_home(&template);
    for user in USERS {
        for home in HOMES {
            match expand_secret_path(&template, user, *home) {
                Ok(path) => {
                    assert!(path.starts_with('/'), "expanded path is not absolute");
                    if home.is_none() {
                        assert!(!needs_home, "a home-relative template expanded without a home");
                    }
                }
                Err(e) => {
                    if e == ExpandError::NoHome {
                        assert!(needs_home && home.is_none());
                    }
                    let _ = e.to_string();
                }
            }
        }
    }
});
