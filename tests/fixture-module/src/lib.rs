//! A test-only PAM module driven by its arguments, so the harness tests can exercise `pam-ffi` through real
//! libpam: panics, conversation replies of any size, deliberate leaks (to prove the leak detector works),
//! messages, items. Never shipped; built from tests/ only.
#![forbid(unsafe_code)]
#![allow(clippy::panic)]

use pam_ffi::{Flags, LibPam, PamCode, PamHandle, Priority, Secret};

pam_ffi::export_pam_hooks! {
    pam_sm_authenticate => run,
    pam_sm_setcred => run,
    pam_sm_acct_mgmt => run,
    pam_sm_chauthtok => run,
    pam_sm_open_session => run,
    pam_sm_close_session => run,
}

/// Keeps deliberately leaked replies reachable only through a leak (see `leak`).
fn leak(reply: &Secret) {
    std::mem::forget(reply.as_bytes().to_vec());
}

fn run(pamh: &mut LibPam, _flags: Flags, args: &[String]) -> PamCode {
    let mut code = PamCode::Success;
    let mut last_reply: Option<Secret> = None;
    for arg in args {
        let (key, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        match key {
            "panic" => panic!("fixture module asked to panic"),
            "prompt" | "prompt_echo" => {
                let r = if key == "prompt" {
                    pamh.prompt_hidden(value)
                } else {
                    pamh.prompt_echo(value)
                };
                match r {
                    Ok(reply) => {
                        let shown = match &reply {
                            None => "reply=NULL".to_owned(),
                            Some(s) => format!("reply_len={}", s.len()),
                        };
                        pamh.log(Priority::Debug, &shown);
                        last_reply = reply;
                    }
                    Err(e) => return e,
                }
            }
            "expect" => {
                if last_reply.as_ref().map(|r| r.as_bytes()) != Some(value.as_bytes()) {
                    code = PamCode::AuthErr;
                }
            }
            "leak" => {
                if let Some(r) = &last_reply {
                    leak(r);
                }
            }
            "info" => {
                if let Err(e) = pamh.info(value) {
                    return e;
                }
            }
            "error" => {
                if let Err(e) = pamh.error(value) {
                    return e;
                }
            }
            "log" => pamh.log(Priority::Notice, value),
            "show_user" => {
                let u = pamh.user().unwrap_or_else(|e| format!("<{e}>"));
                let _ = pamh.info(&format!("user={u}"));
            }
            "show_items" => {
                let text = format!(
                    "service={} rhost={} tty={} ruser={}",
                    pamh.service().unwrap_or_default(),
                    pamh.rhost().unwrap_or_default(),
                    pamh.tty().unwrap_or_default(),
                    pamh.ruser().unwrap_or_default()
                );
                let _ = pamh.info(&text);
            }
            "show_authtok" => {
                let t = pamh.authtok();
                let shown = t
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned());
                let _ = pamh.info(&format!(
                    "authtok={}",
                    shown.unwrap_or_else(|| "<unset>".to_owned())
                ));
            }
            "set_authtok" => {
                if let Err(e) = pamh.set_authtok(&Secret::from(value)) {
                    return e;
                }
            }
            "set_old_authtok" => {
                if let Err(e) = pamh.set_old_authtok(&Secret::from(value)) {
                    return e;
                }
            }
            "return" => match PamCode::from_name(value) {
                Some(c) => code = c,
                None => return PamCode::ServiceErr,
            },
            _ => {
                pamh.log(Priority::Err, &format!("unknown option: {arg}"));
                return PamCode::ServiceErr;
            }
        }
    }
    code
}
