//! pam_totp: TOTP/HOTP second factor for PAM, reading and writing `~/.google_authenticator` files.
//!
//! The library half holds the cores (safe Rust only; the secret-file store makes its file calls through
//! `pam_ffi::file`); the `module` feature adds the PAM entry points in [`module`], which are the only part
//! that talks to libpam (through `pam-ffi`).
#![forbid(unsafe_code)]

#[cfg(feature = "module")]
pub mod module;

pub mod args;
pub mod backend;
pub mod otp;
pub mod pamd;
pub mod pamd_backend;
pub mod secret_file;
pub mod state_file;
pub mod store;
pub mod verify;
