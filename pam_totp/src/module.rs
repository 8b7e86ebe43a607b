//! PAM glue for pam_totp: `pam_sm_authenticate` and `pam_sm_setcred`, mapped through one outcome table.
//!
//! Until the verification core lands (issue 3) authentication fails closed: it never returns success.

use pam_ffi::{Flags, LibPam, PamCode, PamHandle, Priority};

pam_ffi::export_pam_hooks! {
    pam_sm_authenticate => authenticate,
    pam_sm_setcred => setcred,
}

fn authenticate(pamh: &mut LibPam, _flags: Flags, _args: &[String]) -> PamCode {
    pamh.log(
        Priority::Err,
        "pam_totp: verification is not implemented yet; refusing",
    );
    PamCode::AuthErr
}

fn setcred(_pamh: &mut LibPam, _flags: Flags, _args: &[String]) -> PamCode {
    PamCode::Success
}
