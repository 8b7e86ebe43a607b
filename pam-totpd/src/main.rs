//! pam-totpd: the daemon comes in the next change; this crate holds the schema and its tests for now.
#![forbid(unsafe_code)]

fn main() {}
