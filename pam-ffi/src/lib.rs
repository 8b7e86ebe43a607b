//! The one crate that talks C to libpam. It owns every `unsafe` line and every C type of the project.
//!
//! Modules see only safe types: [`PamHandle`] (implemented over a real `pam_handle_t` by [`LibPam`] and,
//! for unit tests, by `FakeHandle`), [`PamCode`], [`Flags`], [`Secret`] and the [`export_pam_hooks!`]
//! macro, which wraps each hook in `catch_unwind` so that no panic ever unwinds into the host process.
//! [`os`](mod@os) and [`file`](mod@file) hold the few operating-system calls the modules make (passwd lookups,
//! the filesystem-id switch, and the secret-file store's locking, syncing and renaming, through std).
//! Everything that talks to libpam sits behind the `libpam` feature, which only the modules and the test
//! harness enable: `totp-enroll` uses `os` and `file` and never builds or links the bindings.
//!
//! Rules this crate keeps (see `shared/design/architecture.md`):
//! - every `unsafe` block carries a `// SAFETY:` comment naming the contract it relies on;
//! - conversation replies are copied into zeroizing buffers, then the C buffers are wiped and freed;
//! - nothing is written to stdout or stderr: logging goes through `pam_syslog` with a constant `"%s"`;
//! - `PAM_SILENT` suppresses informational and error messages to the user.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "libpam")]
mod code;
#[cfg(feature = "libpam")]
mod conv;
#[cfg(feature = "libpam")]
#[doc(hidden)]
pub mod entry;
#[cfg(feature = "fake")]
mod fake;
pub mod file;
#[cfg(feature = "libpam")]
mod handle;
pub mod os;
pub mod peercred;
#[cfg(feature = "libpam")]
mod secret;
#[cfg(feature = "libpam")]
pub mod sys;
pub mod unixsock;

#[cfg(feature = "libpam")]
pub use code::{Flags, PamCode};
#[cfg(feature = "fake")]
pub use fake::{FakeHandle, FakeReply, Logged, Shown};
#[cfg(feature = "libpam")]
pub use handle::{log_field, LibPam, PamHandle, Priority};
#[cfg(feature = "libpam")]
pub use secret::Secret;
