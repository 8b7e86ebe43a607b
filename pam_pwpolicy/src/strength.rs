//! Guess estimation with zxcvbn, on a bounded input, and the whole-password human patterns of
//! [`crate::patterns`].
//!
//! zxcvbn is super-linear on crafted input (measured in a release build: worst ~1.5 ms at 16 code points,
//! ~2 ms at 20, ~6 ms at 24, ~50 ms at 64, over 1 s at 100), so it never sees more than [`WHOLE_LIMIT`]
//! code points at once: a longer password is its first [`WHOLE_LIMIT`] code points, scored whole, then what
//! is appended in segments of [`SEGMENT`] code points, at most [`MAX_SEGMENTS`] pieces in all. Each appended
//! segment is scored with the earlier pieces among its context words, so that repeating them earns little;
//! the guesses of the pieces multiply (log10 sums). The estimate of a long password is therefore never more
//! than that of its first [`WHOLE_LIMIT`] code points plus that of what follows, and code points past the
//! fed prefix earn no credit. Not at every cut: zxcvbn charges for the order of a password's matched pieces,
//! so a prefix and the rest scored apart cost less than the whole, and a bound at every cut would make a
//! password weaker by appending to it (see the test below). A human pattern over the whole password (a short string repeated, a word
//! with decorations, a keyboard walk) lowers the estimate to what guessing that pattern costs. Context
//! words are capped in number and length.
//!
//! This module owns nothing else: it reports a score, a guess count, zxcvbn's English feedback, the
//! dictionary matches the `dictcheck` and `commoncheck` rules need and the human pattern found. It must not
//! print or log.

use crate::patterns::{self, Human};
use zeroize::Zeroizing;
use zxcvbn::matching::patterns::MatchPattern;

/// Passwords up to this many code points are scored in one call.
pub const WHOLE_LIMIT: usize = 20;
/// Length of the segments appended after the first [`WHOLE_LIMIT`] code points.
pub const SEGMENT: usize = 16;
/// At most this many pieces are scored (so at most `WHOLE_LIMIT + SEGMENT * (MAX_SEGMENTS - 1)` code points
/// are fed).
pub const MAX_SEGMENTS: usize = 4;
/// zxcvbn's l33t matcher tries every combination of substitutions, and its cost explodes when digits and
/// symbols that stand for letters are mixed (measured in a release build, 20 code points: 10 distinct
/// digits alone ~2.6 ms, 10 symbols alone ~1.5 ms, 10 digits with 4 symbols ~13 ms, 10 with 9 ~46 ms). A
/// piece ends before distinct l33t digits times distinct l33t symbols would exceed this (16: under ~2 ms).
pub const MAX_L33T_MIX: usize = 16;
/// At most this many context words, each cut to [`CONTEXT_WORD_LIMIT`] code points.
pub const CONTEXT_LIMIT: usize = 32;
/// Longest context word passed to zxcvbn.
pub const CONTEXT_WORD_LIMIT: usize = 32;

/// What zxcvbn said about a password (the default: nothing to say, as for an empty one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Strength {
    /// 0-4, from the combined guess count with zxcvbn's thresholds.
    pub score: u8,
    /// log10 of the estimated guesses.
    pub guesses_log10: f64,
    /// zxcvbn's warning, if any (English).
    pub warning: Option<String>,
    /// zxcvbn's first suggestion, if any (English).
    pub suggestion: Option<String>,
    /// Longest single dictionary match (any dictionary, l33t and reversed included), in code points.
    pub longest_word: usize,
    /// The whole password is one entry of the common-password list (possibly l33t, reversed or
    /// capitalised), or one of the context words.
    pub whole_is_common: bool,
    /// The weakest human pattern over the whole password, if any (already counted in the guesses).
    pub human: Option<Human>,
}

/// The pieces zxcvbn scores: the first up to [`WHOLE_LIMIT`] code points, then [`SEGMENT`] each, at most
/// [`MAX_SEGMENTS`]; a piece also ends before it would mix more l33t characters than [`MAX_L33T_MIX`].
fn pieces(chars: &[char]) -> Vec<Zeroizing<String>> {
    let mut out = Vec::new();
    let mut rest = chars;
    let mut limit = WHOLE_LIMIT;
    while !rest.is_empty() && out.len() < MAX_SEGMENTS {
        let mut budget = L33tBudget::default();
        let n = rest.iter().take(limit).take_while(|&&c| budget.admits(c)).count();
        let (piece, tail) = rest.split_at(n.max(1));
        out.push(Zeroizing::new(piece.iter().collect()));
        rest = tail;
        limit = SEGMENT;
    }
    out
}

/// The distinct l33t digits and symbols a zxcvbn input holds, against [`MAX_L33T_MIX`].
#[derive(Debug, Default)]
pub struct L33tBudget {
    digits: Vec<char>,
    symbols: Vec<char>,
}

impl L33tBudget {
    /// Takes `c` if the input can still hold it.
    pub fn admits(&mut self, c: char) -> bool {
        if !patterns::is_l33t(c) || self.digits.contains(&c) || self.symbols.contains(&c) {
            return true;
        }
        let digit = c.is_ascii_digit();
        let (d, s) = (
            self.digits.len() + usize::from(digit),
            self.symbols.len() + usize::from(!digit),
        );
        if d * s > MAX_L33T_MIX {
            return false;
        }
        if digit {
            self.digits.push(c);
        } else {
            self.symbols.push(c);
        }
        true
    }
}

/// Score from log10(guesses), with zxcvbn's thresholds (1e3, 1e6, 1e8, 1e10, each + 5).
pub fn score_of(guesses_log10: f64) -> u8 {
    let g = 10f64.powf(guesses_log10);
    if g < 1e3 + 5.0 {
        0
    } else if g < 1e6 + 5.0 {
        1
    } else if g < 1e8 + 5.0 {
        2
    } else if g < 1e10 + 5.0 {
        3
    } else {
        4
    }
}

/// Estimates the strength of `password` (already NFKC-normalized) given context words.
pub fn estimate(password: &str, context: &[String]) -> Strength {
    let chars: Zeroizing<Vec<char>> = Zeroizing::new(password.chars().collect());
    let inputs: Vec<String> = context
        .iter()
        .filter(|w| !w.is_empty())
        .take(CONTEXT_LIMIT)
        .map(|w| w.chars().take(CONTEXT_WORD_LIMIT).collect::<String>())
        .collect();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    if chars.is_empty() {
        return Strength::default();
    }
    if let Some(rep) = patterns::repetition(&chars) {
        // A short string repeated: the estimate of the unit, plus choosing the copies. The whole is never
        // scored, so a repeated crafted unit costs what the unit costs.
        let unit: Zeroizing<String> = Zeroizing::new(chars.iter().skip(rep.start).take(rep.unit).collect());
        let mut s = estimate(&unit, context);
        let human = rep.human(s.guesses_log10);
        s.set_guesses(human.guesses_log10);
        s.whole_is_common = false;
        s.human = Some(human);
        return s;
    }
    let pieces = pieces(&chars);
    let mut s = match pieces.as_slice() {
        [one] => whole(one, &inputs),
        [first, rest @ ..] => {
            // The first piece with everything a whole password gets (its own human patterns too), then what
            // is appended: never more than the first piece's estimate plus the appended pieces' guesses.
            let mut s = estimate(first, context);
            // Only its guesses: a pattern of the first piece is not a finding about the whole password.
            s.whole_is_common = false;
            s.human = None;
            appended(&mut s, first, rest, &inputs);
            s
        }
        [] => return estimate("", context),
    };
    if let Some(h) = patterns::find(&chars, &inputs) {
        s.set_guesses(s.guesses_log10.min(h.guesses_log10));
        if s.human
            .as_ref()
            .is_none_or(|old| h.guesses_log10 < old.guesses_log10)
        {
            s.human = Some(h);
        }
    }
    s
}

impl Strength {
    fn set_guesses(&mut self, log10: f64) {
        self.guesses_log10 = log10;
        self.score = score_of(log10);
    }

    /// Takes zxcvbn's feedback and dictionary matches of one scored piece.
    fn absorb(&mut self, e: &zxcvbn::Entropy, piece: &str, alone: bool) {
        if let Some(fb) = e.feedback() {
            if self.warning.is_none() {
                self.warning = fb.warning().map(|w| w.to_string());
            }
            if self.suggestion.is_none() {
                self.suggestion = fb.suggestions().first().map(|s| s.to_string());
            }
        }
        let len = piece.chars().count();
        for m in e.sequence() {
            if let MatchPattern::Dictionary(d) = &m.pattern {
                let n = m.j.saturating_sub(m.i) + 1;
                self.longest_word = self.longest_word.max(n);
                let dict = format!("{:?}", d.dictionary_name);
                if alone && n == len && (dict == "Passwords" || dict == "UserInputs") {
                    self.whole_is_common = true;
                }
            }
        }
    }
}

/// A password of one piece: zxcvbn on the whole.
fn whole(piece: &str, inputs: &[&str]) -> Strength {
    let e = zxcvbn::zxcvbn(piece, inputs);
    let mut s = Strength::default();
    s.set_guesses(e.guesses_log10().max(0.0));
    s.absorb(&e, piece, true);
    s
}

/// Adds the guesses of the pieces appended after `first`; each is scored with the earlier pieces among its
/// context words, and a piece equal to an earlier one only adds the choice of which.
fn appended(s: &mut Strength, first: &str, rest: &[Zeroizing<String>], inputs: &[&str]) {
    let mut total = s.guesses_log10;
    let mut earlier: Vec<Zeroizing<String>> = vec![Zeroizing::new(first.to_lowercase())];
    for piece in rest {
        let lower = Zeroizing::new(piece.to_lowercase());
        if earlier.contains(&lower) {
            total += (earlier.len() as f64).max(2.0).log10();
            continue;
        }
        let mut piece_inputs = inputs.to_vec();
        piece_inputs.extend(earlier.iter().map(|w| w.as_str()));
        let e = zxcvbn::zxcvbn(piece, &piece_inputs);
        total += e.guesses_log10().max(0.0);
        s.absorb(&e, piece, false);
        earlier.push(lower);
    }
    s.set_guesses(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_common_passwords_then_score_is_low() {
        for pw in ["Password123!", "P@ssw0rd2024", "Summer2024!", "1qaz2wsx3edc"] {
            let s = estimate(pw, &[]);
            assert!(s.score < 3, "{pw}: {s:?}");
        }
    }

    #[test]
    fn given_random_password_then_score_is_high() {
        let s = estimate("x7#Kq9!vLm2@Tz", &[]);
        assert_eq!(s.score, 4, "{s:?}");
    }

    #[test]
    fn given_context_word_then_it_counts_as_guessable() {
        let plain = estimate("zorblaxian77", &[]);
        let ctx = estimate("zorblaxian77", &["zorblaxian".to_owned()]);
        assert!(ctx.guesses_log10 < plain.guesses_log10);
        assert!(estimate("zorblaxian", &["zorblaxian".to_owned()]).whole_is_common);
    }

    #[test]
    fn given_repeated_segments_then_repeats_earn_little() {
        let s = estimate(&"abcdefgh12345678".repeat(4), &[]);
        let one = estimate("abcdefgh12345678", &[]);
        assert!(s.guesses_log10 < one.guesses_log10 + 1.0, "{s:?} vs {one:?}");
    }

    #[test]
    fn given_whole_common_password_then_flagged() {
        assert!(estimate("password", &[]).whole_is_common);
        assert!(estimate("P4ssw0rd", &[]).whole_is_common);
        assert!(!estimate("password123x", &[]).whole_is_common);
    }

    #[test]
    fn given_score_thresholds_then_score_of_matches_zxcvbn() {
        assert_eq!(score_of(2.0), 0);
        assert_eq!(score_of(5.0), 1);
        assert_eq!(score_of(7.0), 2);
        assert_eq!(score_of(9.0), 3);
        assert_eq!(score_of(11.0), 4);
    }

    #[test]
    fn given_zxcvbn_charges_for_word_order_then_a_bound_at_every_cut_would_make_appending_weaken() {
        // zxcvbn multiplies a password's guesses by l! for the order of its l matched pieces, so a whole
        // password costs more than a prefix and the rest scored apart. Asking the estimate of a long password
        // to stay under every prefix's estimate plus the rest's would therefore make a 21-character password
        // score below its own first 20 characters. The estimate keeps appending monotonic, and the bound
        // holds at the piece boundaries (WHOLE_LIMIT and after: `check.rs`).
        for (first20, cut) in [("monkeySummer2024!abc", 6), ("iloveyouhouse2020Mz!", 8)] {
            assert_eq!(first20.chars().count(), WHOLE_LIMIT);
            let (head, tail) = first20.split_at(cut);
            let whole = estimate(first20, &[]).guesses_log10;
            let apart = estimate(head, &[]).guesses_log10 + estimate(&format!("{tail}Z"), &[]).guesses_log10;
            let longer = estimate(&format!("{first20}Z"), &[]).guesses_log10;
            assert!(
                apart + 1.0 < whole,
                "{first20}: {apart} vs {whole}: zxcvbn no longer super-additive?"
            );
            assert!(
                longer >= whole,
                "{first20}Z scores {longer}, below its prefix's {whole}"
            );
        }
    }
}
