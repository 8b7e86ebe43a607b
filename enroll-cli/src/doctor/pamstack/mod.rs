//! The PAM stacks of `doctor`, in three parts: [`parse`] reads /etc/pam.d/SERVICE with `@include`, `include`
//! and `substack` expanded into module lines; [`model`] is libpam's dispatcher (controls, return values) and
//! the walk over every path through a stack; [`checks`] turns what the walk finds into findings, one
//! function per finding. Nothing here writes a file or runs a program.
//!
//! The model follows libpam's dispatcher: each module returns success, new_authtok_reqd, ignore or a
//! failure; the control (`required`, `requisite`, `sufficient`, `optional`, or `[value=action ...]`, where an
//! unlisted value without `default=` is `bad`) maps it to ok/done/bad/die/ignore/reset/N. What a module can
//! return is known for pam_deny (failure), pam_permit (success), pam_unix (success or failure) and pam_totp
//! (success, failure, and ignore with `nullok`); any other module may return anything. The walk explores
//! every combination (the state is small: position, verdict so far, what pam_totp did), so "reachable"
//! means "on some path", and "always" means "on every path".

pub mod checks;
pub mod model;
pub mod parse;

pub use checks::{check_common_password, check_sshd_stack, totp_line, totp_options, SshdIntent};
pub use model::{walk, Action, Control, Ret, Seen, Verdict, Walk};
pub use parse::{load, module_name, Item, ModLine, Stack};
