//! The `store=pamd` backend: a [`StateBackend`] whose verdicts come from pam-totpd over its Unix socket
//! (`pamd::ask`, one blocking request with a deadline each). It owns the mapping from the daemon's replies to
//! the module's probe and outcomes; it never judges a code itself, never sends anything but a code-shaped
//! reading (6 to 8 ASCII digits) of what was typed, and turns every reply it does not fully understand into
//! [`NoVerdict::Unavailable`], never into an acceptance. Like every backend it does not talk to the user or log.

use crate::backend::{NoVerdict, Probe, Recorded, Request, StateBackend, StoreReason};
use crate::otp::Digits;
use crate::pamd::{self, Reply};
use crate::verify::{Outcome, RejectReason, Via};
use std::path::PathBuf;
use std::time::Duration;

/// pam-totpd at one socket, for one login.
#[derive(Clone, Debug)]
pub struct PamdBackend {
    socket: PathBuf,
    timeout: Duration,
    /// Asks the daemon; `pamd::ask` except in unit tests.
    ask: fn(&std::path::Path, &pamd::Request, Duration) -> Reply,
}

impl PamdBackend {
    /// A backend asking the daemon at `socket`, each request within `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Self {
        PamdBackend {
            socket: socket.into(),
            timeout,
            ask: pamd::ask,
        }
    }

    fn ask(&self, request: &pamd::Request) -> Reply {
        (self.ask)(&self.socket, request, self.timeout)
    }

    fn verify_one(&self, req: &Request<'_>, code: &str) -> Reply {
        self.ask(&pamd::Request::Verify {
            user: req.user.to_owned(),
            code: code.to_owned(),
            rhost: req.rhost.unwrap_or("").to_owned(),
            service: req.service.to_owned(),
        })
    }

    fn debug_line(&self, asked: usize) -> String {
        format!(
            "store=pamd socket={} timeout={}s requests={asked}",
            self.socket.display(),
            self.timeout.as_secs()
        )
    }
}

/// Only readings that can be a code go over the wire (never a password typed in front of one).
fn is_code(text: &str) -> bool {
    (6..=8).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn refused(outcome: Outcome) -> (Outcome, Option<StoreReason>) {
    (outcome, None)
}

fn by_store(reason: StoreReason) -> (Outcome, Option<StoreReason>) {
    (Outcome::Rejected(RejectReason::WrongCode), Some(reason))
}

/// A refusal reason of the protocol as an outcome (and, for reasons only a store has, that reason).
fn refusal(reason: &str, retry_after: u32) -> (Outcome, Option<StoreReason>) {
    let retry_after_secs = u64::from(retry_after);
    match reason {
        "wrong-code" => refused(Outcome::Rejected(RejectReason::WrongCode)),
        "replayed" => refused(Outcome::Replayed),
        "rate-limited" => refused(Outcome::RateLimited { retry_after_secs }),
        "locked" => by_store(StoreReason::Locked { retry_after_secs }),
        "disabled" => by_store(StoreReason::Disabled),
        "not-allowed" => by_store(StoreReason::NotAllowed),
        "state-not-saved" => by_store(StoreReason::NotSaved),
        _ => by_store(StoreReason::Other),
    }
}

fn via(text: &str) -> Option<Via> {
    match text {
        "totp" => Some(Via::Totp),
        "hotp" => Some(Via::Hotp),
        "scratch" => Some(Via::Scratch),
        _ => None,
    }
}

impl StateBackend for PamdBackend {
    fn probe(&mut self, req: &Request<'_>) -> Probe {
        let ready = || Probe::Ready {
            digits: Digits::default(),
            grace: false,
            warnings: Vec::new(),
            debug: self.debug_line(1),
        };
        match self.ask(&pamd::Request::Probe {
            user: req.user.to_owned(),
        }) {
            Reply::Enrolled => ready(),
            Reply::NotEnrolled => Probe::Absent,
            // Not allowed to ask (or another refusal): prompted, and the verify says why it is refused.
            Reply::Refused { .. } => ready(),
            Reply::Unavailable { reason } => Probe::Unavailable(reason),
            Reply::Accepted { .. } | Reply::Added { .. } | Reply::Tokens { .. } => {
                Probe::Unavailable("pam-totpd answered a probe with something else".into())
            }
        }
    }

    fn verify_and_record(&mut self, req: &Request<'_>, codes: &[&str]) -> Result<Recorded, NoVerdict> {
        let mut asked = 0;
        let mut first_refusal = None;
        for (index, code) in codes.iter().enumerate().filter(|(_, c)| is_code(c)) {
            asked += 1;
            match self.verify_one(req, code) {
                Reply::Accepted {
                    via: kind,
                    scratch_left,
                } => {
                    let via = via(&kind).ok_or_else(|| {
                        NoVerdict::Unavailable(format!(
                            "pam-totpd answered accepted with an unknown via {kind:?}"
                        ))
                    })?;
                    let scratch_left = usize::try_from(scratch_left).unwrap_or(usize::MAX);
                    return Ok(Recorded {
                        outcome: Outcome::Accepted { via, scratch_left },
                        store_reason: None,
                        which: Some(index),
                        unsaved: None,
                        wrote: true,
                        debug: self.debug_line(asked),
                    });
                }
                Reply::Refused { reason, retry_after } => {
                    let wrong = reason == "wrong-code";
                    first_refusal.get_or_insert(refusal(&reason, retry_after));
                    if !wrong {
                        break; // replayed, rate-limited, locked...: another reading would be refused too
                    }
                }
                Reply::NotEnrolled => {
                    first_refusal.get_or_insert(by_store(StoreReason::NotEnrolled));
                    break;
                }
                Reply::Unavailable { reason } => return Err(NoVerdict::Unavailable(reason)),
                Reply::Enrolled | Reply::Added { .. } | Reply::Tokens { .. } => {
                    return Err(NoVerdict::Unavailable(
                        "pam-totpd answered a verify with something else".into(),
                    ))
                }
            }
        }
        let (outcome, store_reason) = match first_refusal {
            Some(refusal) => refusal,
            None => self.record_malformed(req)?,
        };
        Ok(Recorded {
            outcome,
            store_reason,
            which: None,
            unsaved: None,
            wrote: true,
            debug: self.debug_line(asked.max(1)),
        })
    }
}

impl PamdBackend {
    /// Nothing code-shaped was typed: an empty code is sent so that the attempt still counts fleet-wide (the
    /// database refuses it as a wrong code), and a wrong code is logged as malformed, as the file backend does.
    fn record_malformed(&self, req: &Request<'_>) -> Result<(Outcome, Option<StoreReason>), NoVerdict> {
        match self.verify_one(req, "") {
            Reply::Refused { reason, .. } if reason == "wrong-code" => {
                Ok(refused(Outcome::Rejected(RejectReason::Malformed)))
            }
            Reply::Refused { reason, retry_after } => Ok(refusal(&reason, retry_after)),
            Reply::NotEnrolled => Ok(by_store(StoreReason::NotEnrolled)),
            Reply::Unavailable { reason } => Err(NoVerdict::Unavailable(reason)),
            other => Err(NoVerdict::Unavailable(format!(
                "pam-totpd answered an empty code with {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// The replies the fake daemon gives, in order, and the requests it saw.
        static SCRIPT: RefCell<(Vec<Reply>, Vec<pamd::Request>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }

    fn fake_ask(_: &std::path::Path, request: &pamd::Request, _: Duration) -> Reply {
        SCRIPT.with(|s| {
            let mut s = s.borrow_mut();
            s.1.push(request.clone());
            if s.0.is_empty() {
                Reply::unavailable("script exhausted")
            } else {
                s.0.remove(0)
            }
        })
    }

    fn backend(replies: Vec<Reply>) -> PamdBackend {
        SCRIPT.with(|s| *s.borrow_mut() = (replies, Vec::new()));
        PamdBackend {
            ask: fake_ask,
            ..PamdBackend::new("/nonexistent/socket", Duration::from_secs(1))
        }
    }

    fn sent_codes() -> Vec<String> {
        SCRIPT.with(|s| {
            s.borrow()
                .1
                .iter()
                .filter_map(|r| match r {
                    pamd::Request::Verify { code, .. } => Some(code.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    const REQ: Request<'static> = Request {
        user: "alice",
        rhost: Some("192.0.2.7"),
        service: "sshd",
    };

    fn refused(reason: &str, retry_after: u32) -> Reply {
        Reply::Refused {
            reason: reason.into(),
            retry_after,
        }
    }

    #[test]
    fn the_probe_maps_enrolled_absent_and_unavailable() {
        assert!(matches!(
            backend(vec![Reply::Enrolled]).probe(&REQ),
            Probe::Ready { grace: false, .. }
        ));
        assert!(matches!(
            backend(vec![Reply::NotEnrolled]).probe(&REQ),
            Probe::Absent
        ));
        assert!(matches!(
            backend(vec![Reply::unavailable("down")]).probe(&REQ),
            Probe::Unavailable(ref why) if why == "down"
        ));
        assert!(matches!(
            backend(vec![Reply::Accepted {
                via: "totp".into(),
                scratch_left: 0
            }])
            .probe(&REQ),
            Probe::Unavailable(_)
        ));
    }

    #[test]
    fn an_accepted_reply_is_an_accepted_outcome_with_its_via() {
        let r = backend(vec![Reply::Accepted {
            via: "scratch".into(),
            scratch_left: 2,
        }])
        .verify_and_record(&REQ, &["12345678"])
        .unwrap();
        assert_eq!(
            r.outcome,
            Outcome::Accepted {
                via: Via::Scratch,
                scratch_left: 2
            }
        );
        assert_eq!(r.which, Some(0));
    }

    #[test]
    fn refusals_keep_the_file_backends_reasons() {
        for (reply, outcome, store_reason) in [
            (
                refused("wrong-code", 0),
                Outcome::Rejected(RejectReason::WrongCode),
                None,
            ),
            (refused("replayed", 0), Outcome::Replayed, None),
            (
                refused("rate-limited", 20),
                Outcome::RateLimited { retry_after_secs: 20 },
                None,
            ),
            (
                refused("locked", 900),
                Outcome::Rejected(RejectReason::WrongCode),
                Some(StoreReason::Locked {
                    retry_after_secs: 900,
                }),
            ),
            (
                refused("disabled", 0),
                Outcome::Rejected(RejectReason::WrongCode),
                Some(StoreReason::Disabled),
            ),
            (
                refused("???", 0),
                Outcome::Rejected(RejectReason::WrongCode),
                Some(StoreReason::Other),
            ),
            (
                Reply::NotEnrolled,
                Outcome::Rejected(RejectReason::WrongCode),
                Some(StoreReason::NotEnrolled),
            ),
        ] {
            let r = backend(vec![reply.clone()])
                .verify_and_record(&REQ, &["123456"])
                .unwrap();
            assert_eq!((r.outcome, r.store_reason), (outcome, store_reason), "{reply:?}");
        }
    }

    #[test]
    fn no_verdict_is_unavailable_never_accepted() {
        for reply in [
            Reply::unavailable("database down"),
            Reply::Enrolled,
            Reply::Accepted {
                via: "magic".into(),
                scratch_left: 0,
            },
        ] {
            let r = backend(vec![reply.clone()]).verify_and_record(&REQ, &["123456"]);
            assert!(matches!(r, Err(NoVerdict::Unavailable(_))), "{reply:?}: {r:?}");
        }
    }

    #[test]
    fn a_password_in_front_of_the_code_is_never_sent() {
        let r = backend(vec![refused("wrong-code", 0), refused("wrong-code", 0)])
            .verify_and_record(&REQ, &["123456", "hunter2x", "pw12345678"])
            .unwrap();
        assert_eq!(r.outcome, Outcome::Rejected(RejectReason::WrongCode));
        assert_eq!(sent_codes(), ["123456"]);
    }

    #[test]
    fn the_second_reading_is_tried_only_after_a_wrong_code() {
        let r = backend(vec![
            refused("wrong-code", 0),
            Reply::Accepted {
                via: "totp".into(),
                scratch_left: 0,
            },
        ])
        .verify_and_record(&REQ, &["345678", "12345678"])
        .unwrap();
        assert_eq!(r.which, Some(1));
        let r = backend(vec![refused("replayed", 0)])
            .verify_and_record(&REQ, &["345678", "12345678"])
            .unwrap();
        assert_eq!(r.outcome, Outcome::Replayed);
        assert_eq!(sent_codes(), ["345678"]);
    }

    #[test]
    fn text_that_is_no_code_is_counted_with_an_empty_code_and_logged_as_malformed() {
        let r = backend(vec![refused("wrong-code", 0)])
            .verify_and_record(&REQ, &["abc"])
            .unwrap();
        assert_eq!(r.outcome, Outcome::Rejected(RejectReason::Malformed));
        assert_eq!(sent_codes(), [""]);
    }
}
