//! pam_pwpolicy: password quality for `pam_chauthtok`, compatible with pam_cracklib's and pam_pwquality's
//! options.
//!
//! The library half holds the pure checking core (no libpam, no `unsafe`); the `module` feature adds the
//! PAM entry point in [`module`].
#![forbid(unsafe_code)]

#[cfg(feature = "module")]
pub mod module;
