//! PAM return codes and hook flags as Rust types.
//!
//! `PamCode` mirrors the C return codes one to one, plus `Unknown(i32)` for anything a future libpam may
//! return, so that converting in either direction never fails and never panics.

use crate::sys;
use std::ffi::c_int;
use std::fmt;

macro_rules! pam_codes {
    ($( $variant:ident = $c:ident ),* $(,)?) => {
        /// A PAM return code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum PamCode {
            $(
                #[doc = concat!("`", stringify!($c), "`")]
                $variant,
            )*
            /// A value this crate does not know.
            Unknown(i32),
        }

        impl PamCode {
            /// The C value.
            pub fn as_raw(self) -> c_int {
                match self {
                    $( PamCode::$variant => sys::$c, )*
                    PamCode::Unknown(v) => v,
                }
            }

            /// From a C value; never fails.
            pub fn from_raw(v: c_int) -> Self {
                match v {
                    $( x if x == sys::$c => PamCode::$variant, )*
                    other => PamCode::Unknown(other),
                }
            }

            /// The C macro name, e.g. `PAM_AUTH_ERR`.
            pub fn name(self) -> &'static str {
                match self {
                    $( PamCode::$variant => stringify!($c), )*
                    PamCode::Unknown(_) => "PAM_UNKNOWN",
                }
            }

            /// Parses a C macro name (`PAM_AUTH_ERR`) back into a code.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( stringify!($c) => Some(PamCode::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

pam_codes! {
    Success = PAM_SUCCESS,
    OpenErr = PAM_OPEN_ERR,
    SymbolErr = PAM_SYMBOL_ERR,
    ServiceErr = PAM_SERVICE_ERR,
    SystemErr = PAM_SYSTEM_ERR,
    BufErr = PAM_BUF_ERR,
    PermDenied = PAM_PERM_DENIED,
    AuthErr = PAM_AUTH_ERR,
    CredInsufficient = PAM_CRED_INSUFFICIENT,
    AuthinfoUnavail = PAM_AUTHINFO_UNAVAIL,
    UserUnknown = PAM_USER_UNKNOWN,
    MaxTries = PAM_MAXTRIES,
    NewAuthtokReqd = PAM_NEW_AUTHTOK_REQD,
    AcctExpired = PAM_ACCT_EXPIRED,
    SessionErr = PAM_SESSION_ERR,
    CredUnavail = PAM_CRED_UNAVAIL,
    CredExpired = PAM_CRED_EXPIRED,
    CredErr = PAM_CRED_ERR,
    NoModuleData = PAM_NO_MODULE_DATA,
    ConvErr = PAM_CONV_ERR,
    AuthtokErr = PAM_AUTHTOK_ERR,
    AuthtokRecoveryErr = PAM_AUTHTOK_RECOVERY_ERR,
    AuthtokLockBusy = PAM_AUTHTOK_LOCK_BUSY,
    AuthtokDisableAging = PAM_AUTHTOK_DISABLE_AGING,
    TryAgain = PAM_TRY_AGAIN,
    Ignore = PAM_IGNORE,
    Abort = PAM_ABORT,
    AuthtokExpired = PAM_AUTHTOK_EXPIRED,
    ModuleUnknown = PAM_MODULE_UNKNOWN,
    BadItem = PAM_BAD_ITEM,
    ConvAgain = PAM_CONV_AGAIN,
    Incomplete = PAM_INCOMPLETE,
}

impl fmt::Display for PamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PamCode::Unknown(v) => write!(f, "PAM_UNKNOWN({v})"),
            other => f.write_str(other.name()),
        }
    }
}

/// The `flags` argument of a `pam_sm_*` hook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub c_int);

impl Flags {
    /// `PAM_SILENT`: send the user no informational or error messages.
    pub fn silent(self) -> bool {
        self.0 & sys::PAM_SILENT != 0
    }
    /// `PAM_DISALLOW_NULL_AUTHTOK`.
    pub fn disallow_null_authtok(self) -> bool {
        self.0 & sys::PAM_DISALLOW_NULL_AUTHTOK != 0
    }
    /// `PAM_PRELIM_CHECK` (first pass of `pam_chauthtok`).
    pub fn prelim_check(self) -> bool {
        self.0 & sys::PAM_PRELIM_CHECK != 0
    }
    /// `PAM_UPDATE_AUTHTOK` (second pass of `pam_chauthtok`).
    pub fn update_authtok(self) -> bool {
        self.0 & sys::PAM_UPDATE_AUTHTOK != 0
    }
    /// `PAM_CHANGE_EXPIRED_AUTHTOK`: the password expired; policy is always enforced.
    pub fn change_expired_authtok(self) -> bool {
        self.0 & sys::PAM_CHANGE_EXPIRED_AUTHTOK != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_raw_value_and_name() {
        for raw in -2..40 {
            let code = PamCode::from_raw(raw);
            assert_eq!(code.as_raw(), raw);
            if let Some(named) = PamCode::from_name(code.name()) {
                assert_eq!(named, code);
            }
        }
        assert_eq!(PamCode::from_raw(7), PamCode::AuthErr);
        assert_eq!(PamCode::Ignore.as_raw(), 25);
        assert_eq!(PamCode::from_raw(99), PamCode::Unknown(99));
    }

    #[test]
    fn flags_decode_the_bits_libpam_passes() {
        let f = Flags(sys::PAM_SILENT | sys::PAM_UPDATE_AUTHTOK);
        assert!(f.silent() && f.update_authtok() && !f.prelim_check() && !f.change_expired_authtok());
    }
}
