//! The pam_cracklib/pam_pwquality rules as small pure functions over code points (`&[char]`, already
//! NFKC-normalized by the caller): character classes and credits, palindrome, edit distance, rotation,
//! repeats, monotonic sequences, class runs, and "contains this word, straight or reversed".
//!
//! Each function answers one question with a number the caller turns into a verdict and a margin; none
//! allocates more than linear memory except [`levenshtein`] (two rows), and none can panic. Inputs are
//! bounded by `maxlen` before they get here, so the quadratic edit distance stays cheap.

/// The four character classes of pam_cracklib, extended to Unicode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Decimal digits (any script).
    Digit,
    /// Uppercase letters.
    Upper,
    /// Lowercase letters.
    Lower,
    /// Everything else (punctuation, spaces, symbols, letters without case).
    Other,
}

/// The class of one code point.
pub fn classify(c: char) -> Class {
    if c.is_ascii_digit() || c.is_numeric() {
        Class::Digit
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_lowercase() {
        Class::Lower
    } else {
        Class::Other
    }
}

/// How many code points of each class a password has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Digits.
    pub digits: usize,
    /// Uppercase letters.
    pub uppers: usize,
    /// Lowercase letters.
    pub lowers: usize,
    /// Others.
    pub others: usize,
}

impl Counts {
    /// Counts the classes of `s`.
    pub fn of(s: &[char]) -> Counts {
        let mut c = Counts::default();
        for &ch in s {
            match classify(ch) {
                Class::Digit => c.digits += 1,
                Class::Upper => c.uppers += 1,
                Class::Lower => c.lowers += 1,
                Class::Other => c.others += 1,
            }
        }
        c
    }

    /// The count of one class.
    pub fn get(&self, class: Class) -> usize {
        match class {
            Class::Digit => self.digits,
            Class::Upper => self.uppers,
            Class::Lower => self.lowers,
            Class::Other => self.others,
        }
    }

    /// Class by class, the smaller of two counts.
    pub fn min(self, other: Counts) -> Counts {
        Counts {
            digits: self.digits.min(other.digits),
            uppers: self.uppers.min(other.uppers),
            lowers: self.lowers.min(other.lowers),
            others: self.others.min(other.others),
        }
    }

    /// Number of classes present.
    pub fn classes(&self) -> usize {
        [self.digits, self.uppers, self.lowers, self.others]
            .iter()
            .filter(|&&n| n > 0)
            .count()
    }
}

/// pam_cracklib's `simple()`, split into its parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simple {
    /// Negative credits not met: (class, how many more are needed), in cracklib's order d, u, l, o.
    pub missing: Vec<(Class, usize)>,
    /// Code points short of `minlen` after positive credits (0 when long enough).
    pub short_by: usize,
    /// The length this password needed, given the credits it earned.
    pub needed: usize,
}

/// Credits: for `credit >= 0`, up to `credit` characters of the class count +1 toward `minlen`; for
/// `credit < 0`, at least `-credit` characters of the class are required.
/// `counts` and `len` are those of the password as the caller measured it.
pub fn simple(counts: Counts, len: usize, minlen: u32, credits: [(Class, i32); 4]) -> Simple {
    let mut out = Simple::default();
    let mut size = i64::from(minlen);
    for (class, credit) in credits {
        let have = counts.get(class);
        if credit >= 0 {
            let earned = have.min(usize::try_from(credit).unwrap_or(0));
            size -= i64::try_from(earned).unwrap_or(0);
        } else {
            let need = usize::try_from(credit.unsigned_abs()).unwrap_or(usize::MAX);
            if have < need {
                out.missing.push((class, need - have));
            }
        }
    }
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    out.needed = usize::try_from(size.max(0)).unwrap_or(0);
    out.short_by = usize::try_from((size - len).max(0)).unwrap_or(0);
    out
}

/// Reads the same backwards (a single code point counts, as in pam_cracklib).
pub fn is_palindrome(s: &[char]) -> bool {
    s.iter().eq(s.iter().rev())
}

/// Levenshtein edit distance in code points.
pub fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// pam_cracklib's `similar()`: `Some(distance)` when the new password is fewer than `difok` edits away
/// from the old one and not at least twice as long.
pub fn too_similar(old: &[char], new: &[char], difok: u32) -> Option<usize> {
    let d = levenshtein(old, new);
    let difok = usize::try_from(difok).unwrap_or(usize::MAX);
    if d >= difok || new.len() >= old.len().saturating_mul(2) {
        None
    } else {
        Some(d)
    }
}

/// `new` occurs in `old` written twice (a rotation of the old password, or a piece of it).
pub fn is_rotated(old: &[char], new: &[char]) -> bool {
    if old.is_empty() {
        return false;
    }
    let wrapped: Vec<char> = old.iter().chain(old.iter()).copied().collect();
    contains(&wrapped, new)
}

/// `needle` occurs in `hay` as a contiguous run.
pub fn contains(hay: &[char], needle: &[char]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// `word` occurs in `hay`, straight or reversed (both already lowercased).
pub fn contains_either_way(hay: &[char], word: &[char]) -> bool {
    if word.is_empty() {
        return false;
    }
    let rev: Vec<char> = word.iter().rev().copied().collect();
    contains(hay, word) || contains(hay, &rev)
}

/// Some substring of `word` with at least `n` code points occurs in `hay` (pam_pwquality's
/// `usersubstr`); it is enough to test the substrings of exactly `n`.
pub fn shares_substring(hay: &[char], word: &[char], n: usize) -> bool {
    n > 0 && word.len() >= n && word.windows(n).any(|w| contains(hay, w))
}

/// As [`shares_substring`], also looking for each piece reversed (pam_pwquality's `usersubstr`).
pub fn shares_substring_either_way(hay: &[char], word: &[char], n: usize) -> bool {
    n > 0 && word.len() >= n && word.windows(n).any(|w| contains_either_way(hay, w))
}

/// Longest run of one identical code point.
pub fn longest_repeat(s: &[char]) -> usize {
    longest_run(s, |a, b| a == b)
}

/// Longest run of one class (digits, uppercase, lowercase, other).
pub fn longest_class_run(s: &[char]) -> usize {
    longest_run(s, |a, b| classify(a) == classify(b))
}

/// Longest monotonic sequence with step +1 or -1 (`12345`, `fedcb`).
pub fn longest_sequence(s: &[char]) -> usize {
    let mut best = usize::from(!s.is_empty());
    let (mut up, mut down) = (1usize, 1usize);
    for w in s.windows(2) {
        let (a, b) = match w {
            [a, b] => (u32::from(*a), u32::from(*b)),
            _ => continue,
        };
        if a.checked_add(1) == Some(b) {
            up += 1;
            down = 1;
        } else if a.checked_sub(1) == Some(b) {
            down += 1;
            up = 1;
        } else {
            up = 1;
            down = 1;
        }
        best = best.max(up).max(down);
    }
    best
}

fn longest_run(s: &[char], same: impl Fn(char, char) -> bool) -> usize {
    let mut best = usize::from(!s.is_empty());
    let mut run = 1usize;
    for w in s.windows(2) {
        if let [a, b] = w {
            if same(*a, *b) {
                run += 1;
                best = best.max(run);
            } else {
                run = 1;
            }
        }
    }
    best
}

/// Lowercases code point by code point (keeping one code point per input code point where possible).
pub fn lower(s: &[char]) -> Vec<char> {
    s.iter().flat_map(|c| c.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn credits(d: i32, u: i32, l: i32, o: i32) -> [(Class, i32); 4] {
        [
            (Class::Digit, d),
            (Class::Upper, u),
            (Class::Lower, l),
            (Class::Other, o),
        ]
    }

    #[test]
    fn given_mixed_text_then_classes_are_counted_in_code_points() {
        let k = Counts::of(&c("aB3!пП٣"));
        assert_eq!((k.digits, k.uppers, k.lowers, k.others), (2, 2, 2, 1));
        assert_eq!(k.classes(), 4);
    }

    #[test]
    fn given_positive_credits_then_short_password_can_reach_minlen() {
        // minlen 12 with all credits 1: an 8-character password with all four classes passes.
        let s = simple(Counts::of(&c("Ab1!efgh")), 8, 12, credits(1, 1, 1, 1));
        assert_eq!(s.short_by, 0);
        assert_eq!(s.needed, 8);
        let s = simple(Counts::of(&c("abcdefgh")), 8, 12, credits(1, 1, 1, 1));
        assert_eq!(s.short_by, 3);
    }

    #[test]
    fn given_negative_credits_then_missing_classes_are_reported_in_order() {
        let s = simple(Counts::of(&c("abcdefghij")), 10, 10, credits(-1, -1, -2, -1));
        assert_eq!(
            s.missing,
            vec![(Class::Digit, 1), (Class::Upper, 1), (Class::Other, 1)]
        );
        assert_eq!(s.short_by, 0);
    }

    #[test]
    fn given_palindromes_then_detected() {
        assert!(is_palindrome(&c("abcba")));
        assert!(is_palindrome(&c("x")));
        assert!(!is_palindrome(&c("abca")));
    }

    #[test]
    fn given_known_pairs_then_levenshtein_matches() {
        assert_eq!(levenshtein(&c("kitten"), &c("sitting")), 3);
        assert_eq!(levenshtein(&c(""), &c("abc")), 3);
        assert_eq!(levenshtein(&c("пароль"), &c("парол")), 1);
    }

    #[test]
    fn given_difok_then_similarity_skipped_when_twice_as_long() {
        assert_eq!(too_similar(&c("secret12"), &c("secret13"), 3), Some(1));
        assert_eq!(too_similar(&c("secret12"), &c("secret1234abcdef"), 3), None);
        assert_eq!(too_similar(&c("secret12"), &c("zzzzzz99"), 3), None);
    }

    #[test]
    fn given_rotation_of_old_then_detected() {
        assert!(is_rotated(&c("abcdef"), &c("defabc")));
        assert!(!is_rotated(&c("abcdef"), &c("fedcba")));
    }

    #[test]
    fn given_runs_then_lengths_are_measured() {
        assert_eq!(longest_repeat(&c("abbbcdd")), 3);
        assert_eq!(longest_sequence(&c("x12345y")), 5);
        assert_eq!(longest_sequence(&c("zfedcbq")), 5);
        assert_eq!(longest_sequence(&c("")), 0);
        assert_eq!(longest_class_run(&c("ABCd12345!")), 5);
    }

    #[test]
    fn given_word_reversed_then_found() {
        assert!(contains_either_way(&c("xxecilayy"), &c("alice")));
        assert!(!contains_either_way(&c("xxalicyy"), &c("alice")));
        assert!(shares_substring(&c("xxlicyy"), &c("alice"), 3));
        assert!(!shares_substring(&c("xxlicyy"), &c("alice"), 4));
    }
}
