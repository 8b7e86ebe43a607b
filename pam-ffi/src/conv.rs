//! One conversation round trip, done so that no reply outlives it in C memory.
//!
//! The reply is copied into a zeroizing [`Secret`], then the application's C buffer is wiped and `free`d,
//! and so is the response array — on every path, including a failed conversation that still returned a
//! response (libpam's own `pam_prompt` frees in that case too). Replies of any size, NULL replies and
//! non-UTF-8 bytes are handled; a reply ends at its first NUL, as every C string does.

use crate::code::PamCode;
use crate::secret::Secret;
use crate::sys;
use std::ffi::{c_int, CStr, CString};
use std::ptr;
use zeroize::Zeroize;

/// Sends one message of `style` and returns the reply (for prompts) or `None`.
pub(crate) fn converse(
    conv: *const sys::pam_conv,
    style: c_int,
    text: &str,
) -> Result<Option<Secret>, PamCode> {
    let text = CString::new(text).map_err(|_| PamCode::ConvErr)?;
    // SAFETY: `conv` is the non-null PAM_CONV item libpam returned for the live handle; the struct it points
    // to is owned by the application and stays valid for the whole transaction.
    let conv = unsafe { &*conv };
    let func = conv.conv.ok_or(PamCode::ConvErr)?;
    let msg = sys::pam_message {
        msg_style: style,
        msg: text.as_ptr(),
    };
    let mut msg_ptr: *const sys::pam_message = &msg;
    let mut resp: *mut sys::pam_response = ptr::null_mut();
    // SAFETY: we pass one message (Linux-PAM's array-of-pointers layout, which equals the Solaris layout
    // for one message), pointers that outlive the call, and the appdata the application registered.
    let rc = unsafe { func(1, &mut msg_ptr, &mut resp, conv.appdata_ptr) };
    // SAFETY: `resp` is NULL or an array of one `pam_response` allocated by the application with malloc,
    // whose `resp` field is NULL or a malloc'd NUL-terminated string; ownership passed to us.
    let reply = unsafe { take_response(resp) };
    if rc != sys::PAM_SUCCESS {
        return Err(match PamCode::from_raw(rc) {
            PamCode::Success => PamCode::ConvErr,
            other => other,
        });
    }
    let is_prompt = style == sys::PAM_PROMPT_ECHO_OFF || style == sys::PAM_PROMPT_ECHO_ON;
    Ok(if is_prompt { reply } else { None })
}

/// Copies the reply out of `resp`, wipes it, and frees both the string and the array.
///
/// # Safety
/// `resp` must be NULL or a `malloc`ed array of (at least) one `pam_response` whose `resp` field is NULL or
/// a `malloc`ed NUL-terminated string, owned by the caller and not used after this call.
unsafe fn take_response(resp: *mut sys::pam_response) -> Option<Secret> {
    if resp.is_null() {
        return None;
    }
    // SAFETY: `resp` is non-null and points to at least one `pam_response` (function contract).
    let text = unsafe { (*resp).resp };
    let mut out = None;
    if !text.is_null() {
        // SAFETY: `text` is a NUL-terminated string (function contract).
        let len = unsafe { CStr::from_ptr(text) }.to_bytes().len();
        // SAFETY: `text` points to `len` initialised bytes followed by a NUL, all owned by us now.
        let bytes = unsafe { std::slice::from_raw_parts_mut(text.cast::<u8>(), len) };
        out = Some(Secret::from_slice(bytes));
        bytes.zeroize();
        // SAFETY: `text` was allocated with malloc by the application (PAM contract) and is freed once.
        unsafe { libc::free(text.cast()) };
        // SAFETY: `resp` is valid (above); clearing the field makes a double free impossible.
        unsafe { (*resp).resp = ptr::null_mut() };
    }
    // SAFETY: the array was allocated with malloc/calloc by the application and is freed once.
    unsafe { libc::free(resp.cast()) };
    out
}
