//! `FakeHandle`: a scripted [`PamHandle`] for unit tests of module logic (feature `fake`; never shipped).
//!
//! Replies are consumed in order; every prompt and message the module sends and every log line it writes
//! is recorded, so tests can assert on exactly what a user and an admin would see.

use crate::code::{Flags, PamCode};
use crate::handle::{PamHandle, Priority};
use crate::secret::Secret;
use std::cell::RefCell;
use std::collections::VecDeque;

/// One scripted answer to a prompt.
#[derive(Clone, Debug)]
pub enum FakeReply {
    /// The user typed these bytes.
    Text(Vec<u8>),
    /// The application returned a NULL reply string.
    Null,
    /// The conversation function failed with this code.
    Fail(PamCode),
}

impl From<&str> for FakeReply {
    fn from(s: &str) -> Self {
        FakeReply::Text(s.as_bytes().to_vec())
    }
}

/// What the module showed the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// A prompt with echo off.
    PromptHidden(String),
    /// A prompt with echo on.
    PromptEcho(String),
    /// An informational message.
    Info(String),
    /// An error message.
    Error(String),
}

/// One line the module logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Its priority.
    pub priority: Priority,
    /// Its text.
    pub text: String,
}

/// A scripted PAM handle.
#[derive(Debug, Default)]
pub struct FakeHandle {
    /// `pam_get_user` result (`None`: fails with `PAM_USER_UNKNOWN`... or the scripted error below).
    pub user: Option<String>,
    /// Error `pam_get_user` returns when `user` is `None`.
    pub user_error: Option<PamCode>,
    /// `PAM_SERVICE`.
    pub service: Option<String>,
    /// `PAM_RHOST`.
    pub rhost: Option<String>,
    /// `PAM_TTY`.
    pub tty: Option<String>,
    /// `PAM_RUSER`.
    pub ruser: Option<String>,
    /// `PAM_AUTHTOK`.
    pub authtok: Option<Secret>,
    /// `PAM_OLDAUTHTOK`.
    pub old_authtok: Option<Secret>,
    /// Hook flags (for `PAM_SILENT`).
    pub flags: Flags,
    /// Answers to prompts, in order. A prompt with none left fails with `PAM_CONV_ERR`.
    pub replies: VecDeque<FakeReply>,
    /// Everything shown, in order.
    pub shown: Vec<Shown>,
    /// Everything logged, in order.
    pub logged: RefCell<Vec<Logged>>,
}

impl FakeHandle {
    /// A handle for `user` on `service` with the given replies.
    pub fn new(user: &str, service: &str, replies: impl IntoIterator<Item = FakeReply>) -> Self {
        FakeHandle {
            user: Some(user.to_owned()),
            service: Some(service.to_owned()),
            replies: replies.into_iter().collect(),
            ..FakeHandle::default()
        }
    }

    /// The prompts shown so far (text only).
    pub fn prompts(&self) -> Vec<&str> {
        self.shown
            .iter()
            .filter_map(|s| match s {
                Shown::PromptHidden(t) | Shown::PromptEcho(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<Logged> {
        self.logged.borrow().clone()
    }

    fn answer(&mut self, shown: Shown) -> Result<Option<Secret>, PamCode> {
        self.shown.push(shown);
        match self.replies.pop_front() {
            Some(FakeReply::Text(t)) => {
                // A C string ends at its first NUL, as with a real application.
                let end = t.iter().position(|&b| b == 0).unwrap_or(t.len());
                Ok(Some(Secret::from_slice(t.get(..end).unwrap_or_default())))
            }
            Some(FakeReply::Null) => Ok(None),
            Some(FakeReply::Fail(code)) => Err(code),
            None => Err(PamCode::ConvErr),
        }
    }
}

impl PamHandle for FakeHandle {
    fn user(&mut self) -> Result<String, PamCode> {
        self.user
            .clone()
            .ok_or(self.user_error.unwrap_or(PamCode::UserUnknown))
    }
    fn service(&self) -> Option<String> {
        self.service.clone()
    }
    fn rhost(&self) -> Option<String> {
        self.rhost.clone()
    }
    fn tty(&self) -> Option<String> {
        self.tty.clone()
    }
    fn ruser(&self) -> Option<String> {
        self.ruser.clone()
    }
    fn authtok(&self) -> Option<Secret> {
        self.authtok.clone()
    }
    fn old_authtok(&self) -> Option<Secret> {
        self.old_authtok.clone()
    }
    fn set_authtok(&mut self, value: &Secret) -> Result<(), PamCode> {
        if value.as_bytes().contains(&0) {
            return Err(PamCode::AuthtokErr);
        }
        self.authtok = Some(value.clone());
        Ok(())
    }
    fn set_old_authtok(&mut self, value: &Secret) -> Result<(), PamCode> {
        self.old_authtok = Some(value.clone());
        Ok(())
    }
    fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode> {
        self.answer(Shown::PromptHidden(prompt.to_owned()))
    }
    fn prompt_echo(&mut self, prompt: &str) -> Result<Option<Secret>, PamCode> {
        self.answer(Shown::PromptEcho(prompt.to_owned()))
    }
    fn info(&mut self, text: &str) -> Result<(), PamCode> {
        if !self.flags.silent() {
            self.shown.push(Shown::Info(text.to_owned()));
        }
        Ok(())
    }
    fn error(&mut self, text: &str) -> Result<(), PamCode> {
        if !self.flags.silent() {
            self.shown.push(Shown::Error(text.to_owned()));
        }
        Ok(())
    }
    fn log(&self, priority: Priority, text: &str) {
        self.logged.borrow_mut().push(Logged {
            priority,
            text: text.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_scripted_replies_then_prompts_consume_them_in_order_and_are_recorded() {
        let mut h = FakeHandle::new("alice", "sshd", [FakeReply::from("123456"), FakeReply::Null]);
        let first = h.prompt_hidden("Verification code: ").expect("first reply");
        assert_eq!(first.as_ref().map(Secret::as_bytes), Some(&b"123456"[..]));
        assert_eq!(h.prompt_echo("again: "), Ok(None));
        assert_eq!(h.prompt_hidden("third: "), Err(PamCode::ConvErr));
        assert_eq!(h.prompts(), vec!["Verification code: ", "again: ", "third: "]);
    }

    #[test]
    fn given_pam_silent_then_messages_are_not_recorded_but_logs_are() {
        let mut h = FakeHandle::new("alice", "sshd", []);
        h.flags = Flags(crate::sys::PAM_SILENT);
        h.info("hello").expect("info");
        h.error("oops").expect("error");
        h.log(Priority::Notice, "logged");
        assert!(h.shown.is_empty());
        assert_eq!(
            h.log_lines(),
            vec![Logged {
                priority: Priority::Notice,
                text: "logged".into()
            }]
        );
    }

    #[test]
    fn given_a_reply_with_a_nul_then_it_ends_there_as_in_c() {
        let mut h = FakeHandle::new("alice", "sshd", [FakeReply::Text(b"ab\0cd".to_vec())]);
        let r = h.prompt_hidden("x").expect("reply").expect("non-null");
        assert_eq!(r.as_bytes(), b"ab");
    }
}
