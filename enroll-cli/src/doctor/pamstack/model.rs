//! libpam's dispatcher as a model: what a control does with each return value ([`Control`], [`Action`]),
//! what each module can return, and [`walk`], which follows every path through a stack and records what it
//! saw. It reads parsed stacks and decides nothing about whether a stack is good (that is
//! [`checks`](super::checks)).

use super::parse::{Item, Stack};
use std::collections::BTreeSet;

/// What a control does with one return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// No effect on the verdict.
    Ignore,
    /// Success counts (unless something failed already).
    Ok,
    /// Failure, go on.
    Bad,
    /// Failure, stop.
    Die,
    /// Success counts, stop.
    Done,
    /// Forget the verdict so far.
    Reset,
    /// Like ok, then skip N modules.
    Jump(usize),
}

/// A module's return value, as far as the controls tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ret {
    /// PAM_SUCCESS.
    Success,
    /// PAM_IGNORE.
    Ignore,
    /// Any failure (PAM_AUTH_ERR and friends).
    Fail,
}

/// A control field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// As written (`required`, `[success=done default=die]`).
    pub text: String,
    /// `(value, action)` pairs, `default` included; simple keywords are expanded to their bracket form.
    pairs: Vec<(String, Action)>,
}

impl Control {
    /// Parses a control field; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Control> {
        let simple: &[(&str, Action)] = match text.to_ascii_lowercase().as_str() {
            "required" => &[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("ignore", Action::Ignore),
                ("default", Action::Bad),
            ],
            "requisite" => &[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("ignore", Action::Ignore),
                ("default", Action::Die),
            ],
            "sufficient" => &[
                ("success", Action::Done),
                ("new_authtok_reqd", Action::Done),
                ("default", Action::Ignore),
            ],
            "optional" => &[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("default", Action::Ignore),
            ],
            _ => &[],
        };
        if !simple.is_empty() {
            return Some(Control {
                text: text.to_owned(),
                pairs: simple.iter().map(|(k, a)| ((*k).to_owned(), *a)).collect(),
            });
        }
        let inner = text.strip_prefix('[')?.strip_suffix(']')?;
        let mut pairs = Vec::new();
        for word in inner.split_whitespace() {
            let (k, v) = word.split_once('=')?;
            let action = match v.to_ascii_lowercase().as_str() {
                "ignore" => Action::Ignore,
                "ok" => Action::Ok,
                "bad" => Action::Bad,
                "die" => Action::Die,
                "done" => Action::Done,
                "reset" => Action::Reset,
                n => Action::Jump(n.parse().ok()?),
            };
            pairs.push((k.to_ascii_lowercase(), action));
        }
        Some(Control {
            text: text.to_owned(),
            pairs,
        })
    }

    fn lookup(&self, key: &str) -> Option<Action> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }

    /// The action for a return value (unlisted and no `default=`: bad, as in libpam).
    pub fn action(&self, r: Ret) -> Action {
        let named = match r {
            Ret::Success => self.lookup("success"),
            Ret::Ignore => self.lookup("ignore"),
            Ret::Fail => self.lookup("auth_err"),
        };
        named.or_else(|| self.lookup("default")).unwrap_or(Action::Bad)
    }

    /// Whether `ignore=` is given explicitly (for the nullok advice).
    pub fn names_ignore(&self) -> bool {
        self.lookup("ignore").is_some()
    }
}

/// The verdict so far on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing decided yet (ends as a failure).
    Undecided,
    /// Success so far.
    Ok,
    /// Failed (stays failed).
    Failed,
}

/// What the focus module (pam_totp, usually) did on this path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    /// Not run yet.
    NotYet,
    /// Returned success.
    Succeeded,
    /// Returned ignore.
    Ignored,
    /// Returned a failure.
    Failed,
}

/// Everything the walk observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// `(module index, verdict on arrival, focus state on arrival)` for every visit.
    pub visits: BTreeSet<(usize, Verdict, Seen)>,
    /// How the whole stack can end: `(verdict, focus state)`.
    pub ends: BTreeSet<(Verdict, Seen)>,
    /// Modules whose success ended the stack (done) or jumped over the focus while it had not run, with
    /// the verdict then.
    pub skipped_by: BTreeSet<(usize, Verdict)>,
}

/// Runs every path through `items`. `focus` is the module whose result is tracked; `nullok` says whether it
/// can return ignore.
pub fn walk(stack: &Stack, items: &[Item], focus: Option<usize>, nullok: bool) -> Walk {
    let mut w = Walk::default();
    let ends = walk_list(
        stack,
        items,
        focus,
        nullok,
        Verdict::Undecided,
        Seen::NotYet,
        &mut w,
    );
    w.ends = ends.into_iter().map(|(v, s, _)| (v, s)).collect();
    w
}

fn contains(item: &Item, index: usize) -> bool {
    match item {
        Item::Module(i) => *i == index,
        Item::Substack(sub) => sub.iter().any(|x| contains(x, index)),
    }
}

pub(super) fn outcomes(stack: &Stack, index: usize, focus: Option<usize>, nullok: bool) -> &'static [Ret] {
    let name = stack.lines.get(index).map(|l| l.name.as_str()).unwrap_or("");
    if Some(index) == focus {
        return if nullok {
            &[Ret::Success, Ret::Ignore, Ret::Fail]
        } else {
            &[Ret::Success, Ret::Fail]
        };
    }
    match name {
        "pam_deny" => &[Ret::Fail],
        "pam_permit" => &[Ret::Success],
        "pam_unix" => &[Ret::Success, Ret::Fail],
        _ => &[Ret::Success, Ret::Ignore, Ret::Fail],
    }
}

fn apply_ok(v: Verdict, r: Ret) -> Verdict {
    match (v, r) {
        (Verdict::Failed, _) => Verdict::Failed,
        (v, Ret::Ignore) => v,
        (_, Ret::Success) => Verdict::Ok,
        (_, Ret::Fail) => Verdict::Failed,
    }
}

/// Walks one list (the top stack or a substack); returns `(verdict, focus, ended_by_done_or_die)`.
fn walk_list(
    stack: &Stack,
    items: &[Item],
    focus: Option<usize>,
    nullok: bool,
    start: Verdict,
    seen: Seen,
    w: &mut Walk,
) -> BTreeSet<(Verdict, Seen, bool)> {
    let mut ends = BTreeSet::new();
    let mut todo = vec![(0usize, start, seen)];
    let mut done_states = BTreeSet::new();
    while let Some(state) = todo.pop() {
        if !done_states.insert(state) {
            continue;
        }
        let (pos, verdict, seen) = state;
        let Some(item) = items.get(pos) else {
            ends.insert((verdict, seen, false));
            continue;
        };
        let results: Vec<(Ret, Seen, Option<&Control>, Option<usize>)> = match item {
            Item::Module(index) => {
                w.visits.insert((*index, verdict, seen));
                let control = stack.lines.get(*index).map(|l| &l.control);
                outcomes(stack, *index, focus, nullok)
                    .iter()
                    .map(|&r| {
                        let s = if Some(*index) == focus {
                            match r {
                                Ret::Success => Seen::Succeeded,
                                Ret::Ignore => Seen::Ignored,
                                Ret::Fail => Seen::Failed,
                            }
                        } else {
                            seen
                        };
                        (r, s, control, Some(*index))
                    })
                    .collect()
            }
            Item::Substack(sub) => walk_list(stack, sub, focus, nullok, Verdict::Undecided, seen, w)
                .into_iter()
                .map(|(v, s, _)| {
                    (
                        if v == Verdict::Ok { Ret::Success } else { Ret::Fail },
                        s,
                        None,
                        None,
                    )
                })
                .collect(),
        };
        for (r, s, control, index) in results {
            // A substack's result counts like a required module's.
            let action = control.map_or(
                match r {
                    Ret::Success => Action::Ok,
                    Ret::Ignore => Action::Ignore,
                    Ret::Fail => Action::Bad,
                },
                |c| c.action(r),
            );
            let focus_pending = s == Seen::NotYet;
            match action {
                Action::Ignore => todo.push((pos + 1, verdict, s)),
                Action::Ok => todo.push((pos + 1, apply_ok(verdict, r), s)),
                Action::Bad => todo.push((pos + 1, Verdict::Failed, s)),
                Action::Reset => todo.push((pos + 1, Verdict::Undecided, s)),
                Action::Die => {
                    ends.insert((Verdict::Failed, s, true));
                }
                Action::Done => {
                    let v = apply_ok(verdict, r);
                    if focus_pending && focus.is_some() {
                        if let Some(i) = index {
                            w.skipped_by.insert((i, v));
                        }
                    }
                    ends.insert((v, s, true));
                }
                Action::Jump(n) => {
                    let to = pos + 1 + n;
                    if focus_pending {
                        if let (Some(f), Some(i)) = (focus, index) {
                            if items
                                .get(pos + 1..to.min(items.len()))
                                .is_some_and(|skipped| skipped.iter().any(|x| contains(x, f)))
                            {
                                w.skipped_by.insert((i, apply_ok(verdict, r)));
                            }
                        }
                    }
                    todo.push((to.min(items.len()), apply_ok(verdict, r), s));
                }
            }
        }
    }
    ends
}
