//! Guess estimation with zxcvbn, on a bounded input.
//!
//! zxcvbn is super-linear on crafted input (measured in a release build: worst ~1.5 ms at 16 code points,
//! ~2 ms at 20, ~6 ms at 24, ~50 ms at 64, over 1 s at 100), so it never sees more than [`WHOLE_LIMIT`]
//! code points at once: a longer password is cut into segments of [`SEGMENT`] code points, at most
//! [`MAX_SEGMENTS`] of them, each scored alone; the guesses of distinct segments multiply (log10 sums) and a
//! repeated segment only adds the factor for choosing it again. Code points past the fed prefix earn no
//! credit, which can only make the estimate more pessimistic. Context words are capped in number and length.
//!
//! This module owns nothing else: it reports a score, a guess count, zxcvbn's English feedback and the
//! dictionary matches the `dictcheck` and `commoncheck` rules need. It must not print or log.

use zeroize::Zeroizing;
use zxcvbn::matching::patterns::MatchPattern;

/// Passwords up to this many code points are scored in one call.
pub const WHOLE_LIMIT: usize = 20;
/// Segment length for longer passwords.
pub const SEGMENT: usize = 16;
/// At most this many segments are scored (so at most `SEGMENT * MAX_SEGMENTS` code points are fed).
pub const MAX_SEGMENTS: usize = 4;
/// At most this many context words, each cut to [`CONTEXT_WORD_LIMIT`] code points.
pub const CONTEXT_LIMIT: usize = 32;
/// Longest context word passed to zxcvbn.
pub const CONTEXT_WORD_LIMIT: usize = 32;

/// What zxcvbn said about a password.
#[derive(Clone, Debug, PartialEq)]
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
        return Strength {
            score: 0,
            guesses_log10: 0.0,
            warning: None,
            suggestion: None,
            longest_word: 0,
            whole_is_common: false,
        };
    }
    let segments: Vec<Zeroizing<String>> = if chars.len() <= WHOLE_LIMIT {
        vec![Zeroizing::new(chars.iter().collect())]
    } else {
        chars
            .chunks(SEGMENT)
            .take(MAX_SEGMENTS)
            .map(|c| Zeroizing::new(c.iter().collect()))
            .collect()
    };
    let mut total = 0f64;
    let mut seen: Vec<&str> = Vec::new();
    let mut warning = None;
    let mut suggestion = None;
    let mut longest_word = 0usize;
    let mut whole_is_common = false;
    for seg in &segments {
        if seen.contains(&seg.as_str()) {
            // Repeating an earlier segment: choose which one, no more.
            total += (seen.len() as f64).max(2.0).log10();
            continue;
        }
        seen.push(seg.as_str());
        let e = zxcvbn::zxcvbn(seg, &inputs);
        total += e.guesses_log10().max(0.0);
        if let Some(fb) = e.feedback() {
            if warning.is_none() {
                warning = fb.warning().map(|w| w.to_string());
            }
            if suggestion.is_none() {
                suggestion = fb.suggestions().first().map(|s| s.to_string());
            }
        }
        let seg_len = seg.chars().count();
        for m in e.sequence() {
            if let MatchPattern::Dictionary(d) = &m.pattern {
                let len = m.j.saturating_sub(m.i) + 1;
                longest_word = longest_word.max(len);
                let dict = format!("{:?}", d.dictionary_name);
                if segments.len() == 1 && len == seg_len && (dict == "Passwords" || dict == "UserInputs") {
                    whole_is_common = true;
                }
            }
        }
    }
    Strength {
        score: score_of(total),
        guesses_log10: total,
        warning,
        suggestion,
        longest_word,
        whole_is_common,
    }
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
}
