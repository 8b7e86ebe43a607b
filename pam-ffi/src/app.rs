//! The application side of libpam, for the project's test harness (feature `app`; never in a module).
//!
//! A [`Transaction`] is `pam_start_confdir` .. `pam_end` with a scripted conversation: each prompt takes the
//! next [`Reply`], and every message libpam or a module sends is recorded as an [`Event`]. Replies are
//! allocated with `malloc` because libpam and the modules free them with `free`.

use crate::code::PamCode;
use crate::sys;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::time::Instant;

/// A scripted answer to one prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// These bytes (a NUL inside ends the C string early, as in any real application).
    Text(Vec<u8>),
    /// A NULL reply string.
    Null,
    /// The conversation fails with `PAM_CONV_ERR`.
    Fail,
}

/// The style of a message the application received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `PAM_PROMPT_ECHO_OFF`.
    PromptHidden,
    /// `PAM_PROMPT_ECHO_ON`.
    PromptEcho,
    /// `PAM_ERROR_MSG`.
    Error,
    /// `PAM_TEXT_INFO`.
    Info,
    /// Anything else.
    Other(i32),
}

impl Style {
    fn from_raw(v: c_int) -> Self {
        match v {
            sys::PAM_PROMPT_ECHO_OFF => Style::PromptHidden,
            sys::PAM_PROMPT_ECHO_ON => Style::PromptEcho,
            sys::PAM_ERROR_MSG => Style::Error,
            sys::PAM_TEXT_INFO => Style::Info,
            other => Style::Other(other),
        }
    }
}

/// One message received through the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its style.
    pub style: Style,
    /// Its text (lossily decoded).
    pub text: String,
}

/// Items an application may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// `PAM_RHOST`.
    Rhost,
    /// `PAM_TTY`.
    Tty,
    /// `PAM_RUSER`.
    Ruser,
    /// `PAM_AUTHTOK`.
    Authtok,
    /// `PAM_OLDAUTHTOK`.
    OldAuthtok,
}

impl Item {
    fn as_raw(self) -> c_int {
        match self {
            Item::Rhost => sys::PAM_RHOST,
            Item::Tty => sys::PAM_TTY,
            Item::Ruser => sys::PAM_RUSER,
            Item::Authtok => sys::PAM_AUTHTOK,
            Item::OldAuthtok => sys::PAM_OLDAUTHTOK,
        }
    }
}

#[derive(Debug, Default)]
struct Script {
    replies: VecDeque<Reply>,
    events: Vec<Event>,
    /// When the conversation last handed answers back to the module.
    answered_at: Option<Instant>,
}

/// One PAM transaction (`pam_start_confdir` .. `pam_end`).
#[derive(Debug)]
pub struct Transaction {
    pamh: *mut sys::pam_handle_t,
    status: c_int,
    // Both are pointed to by libpam for the life of the handle; boxed so they never move.
    _conv: Box<sys::pam_conv>,
    script: Box<RefCell<Script>>,
}

impl Transaction {
    /// `pam_start_confdir(service, user, conv, confdir)`.
    pub fn start(
        service: &str,
        user: Option<&str>,
        confdir: &Path,
        replies: impl IntoIterator<Item = Reply>,
    ) -> Result<Self, PamCode> {
        let service = CString::new(service).map_err(|_| PamCode::SystemErr)?;
        let user = user
            .map(CString::new)
            .transpose()
            .map_err(|_| PamCode::SystemErr)?;
        let confdir = CString::new(confdir.as_os_str().as_bytes()).map_err(|_| PamCode::SystemErr)?;
        let script = Box::new(RefCell::new(Script {
            replies: replies.into_iter().collect(),
            events: Vec::new(),
            answered_at: None,
        }));
        let conv = Box::new(sys::pam_conv {
            conv: Some(scripted_conv),
            appdata_ptr: (&*script as *const RefCell<Script>).cast_mut().cast::<c_void>(),
        });
        let mut pamh: *mut sys::pam_handle_t = ptr::null_mut();
        // SAFETY: all strings are NUL-terminated and outlive the call; `conv` and the script it points to are
        // boxed, so their addresses stay valid until `pam_end` in `Drop`; `pamh` receives the new handle.
        let rc = unsafe {
            sys::pam_start_confdir(
                service.as_ptr(),
                user.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
                &*conv,
                confdir.as_ptr(),
                &mut pamh,
            )
        };
        if rc != sys::PAM_SUCCESS || pamh.is_null() {
            return Err(PamCode::from_raw(rc));
        }
        Ok(Transaction {
            pamh,
            status: rc,
            _conv: conv,
            script,
        })
    }

    /// `pam_set_item` for a string item.
    pub fn set_item(&mut self, item: Item, value: &[u8]) -> Result<(), PamCode> {
        let value = CString::new(value).map_err(|_| PamCode::BadItem)?;
        // SAFETY: `pamh` is live until `Drop`; libpam copies the NUL-terminated string.
        let rc = unsafe { sys::pam_set_item(self.pamh, item.as_raw(), value.as_ptr().cast::<c_void>()) };
        match PamCode::from_raw(rc) {
            PamCode::Success => Ok(()),
            other => Err(other),
        }
    }

    /// Adds replies to the end of the script.
    pub fn push_replies(&mut self, replies: impl IntoIterator<Item = Reply>) {
        self.script.borrow_mut().replies.extend(replies);
    }

    /// When the conversation last handed answers back to the module (for timing what a module does after
    /// the user has answered, as a remote client sees it).
    pub fn answered_at(&self) -> Option<Instant> {
        self.script.borrow().answered_at
    }

    /// Everything received through the conversation so far; the record is emptied.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.script.borrow_mut().events)
    }

    fn call(
        &mut self,
        f: unsafe extern "C" fn(*mut sys::pam_handle_t, c_int) -> c_int,
        flags: c_int,
    ) -> PamCode {
        // SAFETY: `pamh` is live until `Drop`; `f` is one of libpam's application entry points, which take
        // exactly (handle, flags).
        let rc = unsafe { f(self.pamh, flags) };
        self.status = rc;
        PamCode::from_raw(rc)
    }

    /// `pam_authenticate`.
    pub fn authenticate(&mut self, flags: c_int) -> PamCode {
        self.call(sys::pam_authenticate, flags)
    }
    /// `pam_setcred`.
    pub fn setcred(&mut self, flags: c_int) -> PamCode {
        self.call(sys::pam_setcred, flags)
    }
    /// `pam_acct_mgmt`.
    pub fn acct_mgmt(&mut self, flags: c_int) -> PamCode {
        self.call(sys::pam_acct_mgmt, flags)
    }
    /// `pam_chauthtok`.
    pub fn chauthtok(&mut self, flags: c_int) -> PamCode {
        self.call(sys::pam_chauthtok, flags)
    }
    /// `pam_open_session`.
    pub fn open_session(&mut self, flags: c_int) -> PamCode {
        self.call(sys::pam_open_session, flags)
    }
    /// `pam_close_session`.
    pub fn close_session(&mut self, flags: c_int) -> PamCode {
        self.call(sys::pam_close_session, flags)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // SAFETY: `pamh` came from a successful `pam_start_confdir` and is ended exactly once, here.
        unsafe { sys::pam_end(self.pamh, self.status) };
    }
}

/// The conversation function libpam calls. Never unwinds.
unsafe extern "C" fn scripted_conv(
    num_msg: c_int,
    msg: *mut *const sys::pam_message,
    resp: *mut *mut sys::pam_response,
    appdata: *mut c_void,
) -> c_int {
    let run = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libpam passes back the appdata registered in `Transaction::start` (a live boxed script)
        // and `num_msg` valid messages in Linux-PAM's array-of-pointers layout; `resp` is writable.
        unsafe { answer(num_msg, msg, resp, appdata) }
    }));
    run.unwrap_or(sys::PAM_CONV_ERR)
}

/// # Safety
/// As documented in `scripted_conv`.
unsafe fn answer(
    num_msg: c_int,
    msg: *mut *const sys::pam_message,
    resp: *mut *mut sys::pam_response,
    appdata: *mut c_void,
) -> c_int {
    let n = match usize::try_from(num_msg) {
        Ok(n) if n > 0 && !msg.is_null() && !resp.is_null() && !appdata.is_null() => n,
        _ => return sys::PAM_CONV_ERR,
    };
    // SAFETY: `appdata` is the `RefCell<Script>` boxed by `Transaction::start` (function contract).
    let script = unsafe { &*appdata.cast::<RefCell<Script>>() };
    let Ok(mut script) = script.try_borrow_mut() else {
        return sys::PAM_CONV_ERR;
    };
    // SAFETY: calloc returns zeroed memory (NULL replies) or NULL; freed by libpam/the module.
    let out =
        unsafe { libc::calloc(n, std::mem::size_of::<sys::pam_response>()) }.cast::<sys::pam_response>();
    if out.is_null() {
        return sys::PAM_BUF_ERR;
    }
    for i in 0..n {
        // SAFETY: `msg` holds `n` pointers to valid messages (function contract).
        let m = unsafe { &**msg.add(i) };
        let text = if m.msg.is_null() {
            String::new()
        } else {
            // SAFETY: a message's text is a NUL-terminated string valid for the call.
            unsafe { std::ffi::CStr::from_ptr(m.msg) }
                .to_string_lossy()
                .into_owned()
        };
        let style = Style::from_raw(m.msg_style);
        script.events.push(Event { style, text });
        if !matches!(style, Style::PromptHidden | Style::PromptEcho) {
            continue;
        }
        let reply = script.replies.pop_front().unwrap_or(Reply::Fail);
        let bytes = match reply {
            Reply::Text(b) => b,
            Reply::Null => continue,
            Reply::Fail => {
                // SAFETY: `out` holds `n` responses, each NULL or malloc'd by us above; freed once.
                unsafe { free_responses(out, n) };
                return sys::PAM_CONV_ERR;
            }
        };
        // SAFETY: malloc of len+1 bytes; NULL is handled.
        let buf = unsafe { libc::malloc(bytes.len() + 1) }.cast::<c_char>();
        if buf.is_null() {
            // SAFETY: as above.
            unsafe { free_responses(out, n) };
            return sys::PAM_BUF_ERR;
        }
        // SAFETY: `buf` has room for `bytes.len() + 1` bytes and does not overlap `bytes`.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, bytes.len());
            *buf.add(bytes.len()) = 0;
            (*out.add(i)).resp = buf;
        }
    }
    // SAFETY: `resp` is writable (function contract); ownership of `out` passes to the caller.
    unsafe { *resp = out };
    script.answered_at = Some(Instant::now());
    sys::PAM_SUCCESS
}

/// # Safety
/// `out` must hold `n` responses allocated by `answer`, not yet freed.
unsafe fn free_responses(out: *mut sys::pam_response, n: usize) {
    for i in 0..n {
        // SAFETY: `i < n`; each `resp` is NULL or malloc'd by `answer`.
        unsafe { libc::free((*out.add(i)).resp.cast()) };
    }
    // SAFETY: `out` was calloc'd by `answer`.
    unsafe { libc::free(out.cast()) };
}
