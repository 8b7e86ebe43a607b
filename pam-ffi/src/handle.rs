//! The `PamHandle` trait (what a module may ask of libpam) and `LibPam`, its implementation over a real
//! `pam_handle_t`.
//!
//! Everything a module reads is copied out of libpam's memory at once; strings libpam owns are never held
//! across calls. Non-UTF-8 user names and items are reported as errors rather than lossily converted, so
//! that a module can never check one name and act on another.

use crate::code::{Flags, PamCode};
use crate::conv;
use crate::secret::Secret;
use crate::sys;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

/// A log-line value the client may control (user name, rhost, service), escaped so that it stays one
/// `key=value` field whatever it holds: every byte that is a space, `=`, `%`, a control character
/// (0x00-0x1f, 0x7f) or not ASCII (0x80-0xff) becomes `%XX` (two upper-case hex digits), and an empty value
/// is `-`. Both modules write every client-controlled value through it, so a forged field cannot be typed.
pub fn log_field(value: &str) -> String {
    use std::fmt::Write;
    if value.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b <= b' ' || b == b'=' || b == b'%' || b >= 0x7f {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// syslog priority for [`PamHandle::log`] (the facility is always LOG_AUTHPRIV, added by libpam).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// LOG_CRIT: a bug or a broken invariant (for example a caught panic).
    Crit,
    /// LOG_ERR: the admin must fix something (bad arguments, unsafe file).
    Err,
    /// LOG_WARNING: an attack or misuse indicator (replay, rate limit).
    Warning,
    /// LOG_NOTICE: an ordinary failure (wrong code).
    Notice,
    /// LOG_INFO: success and other normal events.
    Info,
    /// LOG_DEBUG: details for the `debug` option (never a secret).
    Debug,
}

impl Priority {
    pub(crate) fn as_raw(self) -> c_int {
        match self {
            Priority::Crit => sys::LOG_CRIT,
            Priority::Err => sys::LOG_ERR,
            Priority::Warning => sys::LOG_WARNING,
            Priority::Notice => sys::LOG_NOTICE,
            Priority::Info => sys::LOG_INFO,
            Priority::Debug => sys::LOG_DEBUG,
        }
    }
}

/// What a module may ask of libpam. Implemented by [`LibPam`] and, with feature `fake`, by `FakeHandle`.
pub trait PamHandle {
    /// The user name (`pam_get_user`; libpam may prompt for it).
    fn user(&mut self) -> Result<String, PamCode>;
    /// `PAM_SERVICE`.
    fn service(&self) -> Option<String>;
    /// `PAM_RHOST`.
    fn rhost(&self) -> Option<String>;
    /// `PAM_TTY`.
    fn tty(&self) -> Option<String>;
    /// `PAM_RUSER`.
    fn ruser(&self) -> Option<String>;
    /// `PAM_AUTHTOK` (the password or code a previous module stored), if set.
    fn authtok(&self) -> Option<Secret>;
    /// `PAM_OLDAUTHTOK`, if set.
    fn old_authtok(&self) -> Option<Secret>;
    /// Sets `PAM_AUTHTOK` (libpam keeps its own copy).
    fn set_authtok(&mut self, value: &Secret) -> Result<(), PamCode>;
    /// Sets `PAM_OLDAUTHTOK`.
    fn set_old_authtok(&mut self, value: &Secret) -> Result<(), PamCode>;
    /// Asks the user with echo off. `Ok(None)` when the application answered with a NULL reply.
    fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode>;
    /// Asks the user with echo on.
    fn prompt_echo(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode>;
    /// Shows an informational message (suppressed under `PAM_SILENT`).
    fn info(&mut self, text: &str) -> Result<(), PamCode>;
    /// Shows an error message (suppressed under `PAM_SILENT`).
    fn error(&mut self, text: &str) -> Result<(), PamCode>;
    /// Logs through `pam_syslog` (LOG_AUTHPRIV). Never pass a secret.
    fn log(&self, priority: Priority, text: &str);
}

/// [`PamHandle`] over a real libpam handle, valid for the duration of one hook call.
#[derive(Debug)]
pub struct LibPam {
    pamh: *mut sys::pam_handle_t,
    flags: Flags,
}

impl LibPam {
    /// Wraps the handle libpam passed to a hook. Only [`crate::entry`] creates these, with a non-null
    /// handle, and drops them before the hook returns.
    pub(crate) fn new(pamh: *mut sys::pam_handle_t, flags: Flags) -> Self {
        LibPam { pamh, flags }
    }

    fn get_raw_item(&self, item: c_int) -> Option<*const c_char> {
        let mut out: *const c_void = ptr::null();
        // SAFETY: `pamh` is the live handle libpam passed to the current hook (see `new`); `out` is a valid
        // location for libpam to store a pointer to memory it owns.
        let rc = unsafe { sys::pam_get_item(self.pamh, item, &mut out) };
        if rc != sys::PAM_SUCCESS || out.is_null() {
            return None;
        }
        Some(out.cast::<c_char>())
    }

    fn get_string_item(&self, item: c_int) -> Option<String> {
        let p = self.get_raw_item(item)?;
        // SAFETY: for string items libpam stores a NUL-terminated string it owns and keeps alive until the
        // item is changed; we copy it before returning.
        let s = unsafe { CStr::from_ptr(p) };
        s.to_str().ok().map(str::to_owned)
    }

    fn get_secret_item(&self, item: c_int) -> Option<Secret> {
        let p = self.get_raw_item(item)?;
        // SAFETY: as in `get_string_item`: a NUL-terminated string owned by libpam, copied at once.
        let s = unsafe { CStr::from_ptr(p) };
        Some(Secret::from_slice(s.to_bytes()))
    }

    fn set_secret_item(&mut self, item: c_int, value: &Secret) -> Result<(), PamCode> {
        let c = value.to_c_bytes().ok_or(PamCode::AuthtokErr)?;
        // SAFETY: `pamh` is live; `c` is NUL-terminated and outlives the call; libpam copies the string
        // (and wipes the previous value of authentication-token items).
        let rc = unsafe { sys::pam_set_item(self.pamh, item, c.as_ptr().cast::<c_void>()) };
        match PamCode::from_raw(rc) {
            PamCode::Success => Ok(()),
            other => Err(other),
        }
    }

    fn conv_item(&self) -> Option<*const sys::pam_conv> {
        self.get_raw_item(sys::PAM_CONV)
            .map(|p| p.cast::<sys::pam_conv>())
    }

    fn message(&mut self, style: c_int, text: &str) -> Result<(), PamCode> {
        if self.flags.silent() {
            return Ok(());
        }
        let conv = self.conv_item().ok_or(PamCode::ConvErr)?;
        conv::converse(conv, style, text).map(drop)
    }

    fn prompt(&mut self, style: c_int, text: &str) -> Result<Option<Secret>, PamCode> {
        let conv = self.conv_item().ok_or(PamCode::ConvErr)?;
        conv::converse(conv, style, text)
    }
}

impl PamHandle for LibPam {
    fn user(&mut self) -> Result<String, PamCode> {
        let mut out: *const c_char = ptr::null();
        // SAFETY: `pamh` is live; `out` receives a pointer to a string owned by libpam (or stays NULL); a
        // NULL prompt asks libpam to use its default.
        let rc = unsafe { sys::pam_get_user(self.pamh, &mut out, ptr::null()) };
        if rc != sys::PAM_SUCCESS {
            return Err(PamCode::from_raw(rc));
        }
        if out.is_null() {
            return Err(PamCode::UserUnknown);
        }
        // SAFETY: on success libpam stored a NUL-terminated string it owns; we copy it at once.
        let s = unsafe { CStr::from_ptr(out) };
        match s.to_str() {
            Ok(u) if !u.is_empty() => Ok(u.to_owned()),
            _ => Err(PamCode::UserUnknown),
        }
    }

    fn service(&self) -> Option<String> {
        self.get_string_item(sys::PAM_SERVICE)
    }
    fn rhost(&self) -> Option<String> {
        self.get_string_item(sys::PAM_RHOST)
    }
    fn tty(&self) -> Option<String> {
        self.get_string_item(sys::PAM_TTY)
    }
    fn ruser(&self) -> Option<String> {
        self.get_string_item(sys::PAM_RUSER)
    }
    fn authtok(&self) -> Option<Secret> {
        self.get_secret_item(sys::PAM_AUTHTOK)
    }
    fn old_authtok(&self) -> Option<Secret> {
        self.get_secret_item(sys::PAM_OLDAUTHTOK)
    }
    fn set_authtok(&mut self, value: &Secret) -> Result<(), PamCode> {
        self.set_secret_item(sys::PAM_AUTHTOK, value)
    }
    fn set_old_authtok(&mut self, value: &Secret) -> Result<(), PamCode> {
        self.set_secret_item(sys::PAM_OLDAUTHTOK, value)
    }
    fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode> {
        self.prompt(sys::PAM_PROMPT_ECHO_OFF, prompt)
    }
    fn prompt_echo(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode> {
        self.prompt(sys::PAM_PROMPT_ECHO_ON, prompt)
    }
    fn info(&mut self, text: &str) -> Result<(), PamCode> {
        self.message(sys::PAM_TEXT_INFO, text)
    }
    fn error(&mut self, text: &str) -> Result<(), PamCode> {
        self.message(sys::PAM_ERROR_MSG, text)
    }
    fn log(&self, priority: Priority, text: &str) {
        syslog_raw(self.pamh, priority, text);
    }
}

/// `pam_syslog(pamh, priority, "%s", text)`. NUL bytes in `text` are shown as `\0`.
pub(crate) fn syslog_raw(pamh: *mut sys::pam_handle_t, priority: Priority, text: &str) {
    let line = match CString::new(text) {
        Ok(c) => c,
        Err(_) => match CString::new(text.replace('\0', "\\0")) {
            Ok(c) => c,
            Err(_) => return,
        },
    };
    // SAFETY: `pamh` is the live handle of the current hook; the format is the constant "%s" and the
    // single variadic argument is a NUL-terminated string that outlives the call.
    unsafe { sys::pam_syslog(pamh, priority.as_raw(), c"%s".as_ptr(), line.as_ptr()) };
}
