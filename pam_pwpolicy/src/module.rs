//! PAM glue for pam_pwpolicy: `pam_sm_chauthtok`.
//!
//! Until the checking core lands (issue 4) every password change is refused (fail closed).

use pam_ffi::{Flags, LibPam, PamCode, PamHandle, Priority};

pam_ffi::export_pam_hooks! {
    pam_sm_chauthtok => chauthtok,
}

fn chauthtok(pamh: &mut LibPam, flags: Flags, _args: &[String]) -> PamCode {
    if flags.prelim_check() {
        return PamCode::Success;
    }
    pamh.log(
        Priority::Err,
        "pam_pwpolicy: checking is not implemented yet; refusing",
    );
    PamCode::AuthtokErr
}
