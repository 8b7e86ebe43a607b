//! pam_pwpolicy: password quality for `pam_chauthtok`, compatible with pam_cracklib's and pam_pwquality's
//! options, with zxcvbn guess estimation, NFKC normalization and a NIST SP 800-63B-4 preset.
//!
//! The library half holds the pure checking core (no libpam, safe Rust only): [`policy`] (the options),
//! [`config`] (where they come from), [`text`] (what was typed), [`rules`], [`strength`], [`check`] (the pipeline) and [`blocklist`]
//! (the breached-password file, a [`fuse`] filter). The `module` feature adds the PAM entry point in
//! [`module`]; the `pwpolicy` CLI uses the same core.
#![forbid(unsafe_code)]

pub mod blocklist;
pub mod check;
pub mod config;
pub mod fuse;
#[cfg(feature = "module")]
pub mod module;
pub mod patterns;
pub mod policy;
pub mod rules;
pub mod strength;
pub mod text;

/// The pam_cracklib line most hardening guides print, used as a fixture by the unit tests.
#[cfg(test)]
pub(crate) const GUIDE_ARGS: &[&str] = &[
    "retry=3",
    "minlen=10",
    "difok=3",
    "ucredit=-1",
    "lcredit=-2",
    "dcredit=-1",
    "ocredit=-1",
];
