//! Whole-password human patterns that zxcvbn's bounded windows do not see or under-rate: a dictionary
//! word (or two or three, or a name, a repeated letter, a keyboard walk) with predictable decorations in
//! front and behind (`!Monkey2025`, `Apple2025!`, `winniethepooh`), a keyboard walk typed with and without
//! shift (`!QAZ@WSX3edc`), and a short string repeated over the whole password, its digits possibly
//! counting up (`Password1Password2Password3`).
//!
//! Each finding is a [`Human`]: what it is, in words the user can act on, and a guess estimate that
//! [`crate::strength`] takes when it is lower than zxcvbn's (for a [`Repetition`], strength estimates the
//! unit). This module only describes; the `dictcheck`
//! and `commoncheck` rules in [`crate::check`] decide. zxcvbn sees at most [`CORE_LIMIT`] code points per
//! call here, and at most three calls are made per password. Pure: no I/O, no panics.

use zeroize::Zeroizing;
use zxcvbn::matching::patterns::MatchPattern;

/// Longest core (the password without its decorations) analysed here, in code points.
pub const CORE_LIMIT: usize = 20;
/// A pattern an attacker guesses in fewer than 10^10 tries is refused (zxcvbn's lower bound of score 4:
/// rule-based cracking walks words times years times symbols long before random strings).
pub const WEAK_LOG10: f64 = 10.0;
/// Most dictionary words a core may have to count as "common words" (a random passphrase has more).
const MAX_WORDS: usize = 3;

/// Which rule reports a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Dictionary words, names, a repeated letter with decorations (`dictcheck`).
    Decorated,
    /// A keyboard walk or a repeated string over the whole password (`commoncheck`).
    Whole,
}

/// A human pattern found in a whole password.
#[derive(Clone, Debug, PartialEq)]
pub struct Human {
    /// The rule that reports it.
    pub kind: Kind,
    /// What it is, completing "it is ...": "a common word with a year and a symbol added".
    pub what: String,
    /// log10 of the guesses an attacker who knows the pattern needs.
    pub guesses_log10: f64,
    /// Refused whatever the estimate: one or two words with digits or symbols added (cracking rules try
    /// every word of much larger lists than zxcvbn's with them).
    pub certain: bool,
}

/// The weakest decorated-word or keyboard pattern of `password` (NFKC, look-alikes folded, case kept), if
/// any. A [`repetition`] is found separately: its cost depends on the estimate of its unit.
pub fn find(password: &[char], context: &[&str]) -> Option<Human> {
    [decorated(password, context), keyboard(password, context)]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.guesses_log10.total_cmp(&b.guesses_log10))
}

/// Characters a l33t writer uses for a letter (zxcvbn's table).
pub fn is_l33t(c: char) -> bool {
    matches!(
        c,
        '4' | '@'
            | '8'
            | '('
            | '{'
            | '['
            | '<'
            | '3'
            | '6'
            | '9'
            | '1'
            | '!'
            | '|'
            | '0'
            | '$'
            | '5'
            | '+'
            | '7'
            | '%'
            | '2'
    )
}

/// The letter a l33t character most often stands for.
fn unleet(c: char) -> Option<char> {
    Some(match c {
        '4' | '@' => 'a',
        '8' => 'b',
        '(' | '{' | '[' | '<' => 'c',
        '3' => 'e',
        '6' | '9' => 'g',
        '1' | '!' | '|' => 'i',
        '0' => 'o',
        '$' | '5' => 's',
        '7' | '+' => 't',
        '%' => 'x',
        '2' => 'z',
        _ => return None,
    })
}

/// More l33t characters than one zxcvbn call may see (see [`crate::strength::MAX_L33T_MIX`]).
fn l33t_dense(s: &str) -> bool {
    let mut budget = crate::strength::L33tBudget::default();
    !s.chars().all(|c| budget.admits(c))
}

/// Separators people put between words (`i love you`, `winnie-the-pooh`).
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '_' | '.')
}

/// `[decorations] core [decorations]`: leading and trailing digits and symbols around words.
fn decorated(password: &[char], context: &[&str]) -> Option<Human> {
    let lead = password.iter().take_while(|c| !c.is_alphabetic()).count();
    let trail = password.iter().rev().take_while(|c| !c.is_alphabetic()).count();
    if lead + trail >= password.len() {
        return None;
    }
    // The plain split, then the one that gives each edge l33t character to the core (`@pple2025`).
    let mut splits = vec![(lead, trail)];
    let grow_lead = lead > 0 && password.get(lead - 1).is_some_and(|&c| is_l33t(c));
    let grow_trail = trail > 0 && password.get(password.len() - trail).is_some_and(|&c| is_l33t(c));
    if grow_lead || grow_trail {
        splits.push((lead - usize::from(grow_lead), trail - usize::from(grow_trail)));
    }
    splits
        .into_iter()
        .filter_map(|(lead, trail)| {
            let (front, rest) = password.split_at(lead);
            let (core, back) = rest.split_at(rest.len() - trail);
            // Word-shaped readings only model words with something added: alone they are not findings.
            let core = Core::of(core, context, !(front.is_empty() && back.is_empty()))?;
            let mut decor = Decorations::of(front, back);
            decor.separators = core.separated;
            let what = match (decor.words(), core.words) {
                (None, 1) => return None, // one plain word: `dictcheck`'s own message
                (None, _) => format!("made of {}", core.what),
                (Some(d), _) => format!("{} with {d} added", core.what),
            };
            Some(Human {
                kind: Kind::Decorated,
                what,
                guesses_log10: core.guesses_log10 + decor.guesses_log10,
                certain: decor.added() && core.words <= 2,
            })
        })
        .min_by(|a, b| a.guesses_log10.total_cmp(&b.guesses_log10))
}

/// The middle of a decorated password, when it is a few dictionary words, a name, a repeated letter, a
/// keyboard walk or a sequence.
struct Core {
    what: &'static str,
    /// Words were separated (`i love you`).
    separated: bool,
    words: usize,
    guesses_log10: f64,
}

impl Core {
    fn of(core: &[char], context: &[&str], word_shaped: bool) -> Option<Core> {
        // Letters and l33t characters only; separators between words are dropped.
        if core
            .iter()
            .any(|&c| !(c.is_alphabetic() || is_l33t(c) || is_separator(c)))
        {
            return None;
        }
        let joined: Zeroizing<String> = Zeroizing::new(core.iter().filter(|&&c| !is_separator(c)).collect());
        if joined.chars().count() > CORE_LIMIT || joined.chars().count() < 3 || l33t_dense(&joined) {
            return None;
        }
        let separated = joined.chars().count() < core.len();
        Core::scored(&joined, separated, 0.0, context)
            .or_else(|| {
                // zxcvbn's repeats and walks are case-sensitive (`Qqqqqqqq`): try the lowercase form, paying for
                // the capitals (a capital first letter or all capitals: a factor 2; others: ~3 each).
                let lower: Zeroizing<String> = Zeroizing::new(joined.to_lowercase());
                let letters: Vec<char> = joined.chars().filter(|c| c.is_alphabetic()).collect();
                let uppers = letters.iter().filter(|c| c.is_uppercase()).count();
                let simple_case = uppers == letters.len()
                    || (uppers == 1 && letters.first().is_some_and(|c| c.is_uppercase()));
                let case = match uppers {
                    0 => return None,
                    _ if simple_case => 0.3,
                    n => 0.5 * n as f64,
                };
                Core::scored(&lower, separated, case, context)
            })
            .into_iter()
            .chain(word_shaped.then(|| Core::word_shaped(&joined)).flatten())
            .chain(word_shaped.then(|| Core::word_shaped_parts(core)).flatten())
            .reduce(|a, b| {
                // The cheapest reading, counted with the fewest words any reading found.
                let words = a.words.min(b.words);
                let mut best = if b.guesses_log10 < a.guesses_log10 { b } else { a };
                best.words = words;
                best
            })
    }

    /// Two or three word-shaped parts, split at separators and where a capital starts a word
    /// (`SunshineZanzibar`, `purple-walrus`).
    fn word_shaped_parts(core: &[char]) -> Option<Core> {
        let mut parts: Vec<String> = vec![String::new()];
        let mut prev: Option<char> = None;
        for &c in core {
            let split = is_separator(c) || (c.is_uppercase() && prev.is_some_and(char::is_lowercase));
            if split && parts.last().is_some_and(|p| !p.is_empty()) {
                parts.push(String::new());
            }
            if !is_separator(c) {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
            prev = Some(c);
        }
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let cores: Vec<Core> = parts
            .iter()
            .map(|p| Core::word_shaped(p))
            .collect::<Option<_>>()?;
        Some(Core {
            what: "words",
            separated: core.iter().any(|&c| is_separator(c)),
            words: cores.len(),
            guesses_log10: cores.iter().map(|c| c.guesses_log10).sum(),
        })
    }

    /// A word no built-in dictionary has but that reads like one (`tigger`, `Zanzibar`, `m0nk3y`): letters
    /// (after undoing at most three l33t substitutions), 4-12 of them, with vowels and no more than five
    /// consonants in a row, lowercase, capitalised
    /// or all capitals. Counted as a word of a list of a million (cracking lists are larger than zxcvbn's).
    fn word_shaped(joined: &str) -> Option<Core> {
        let mut subs = 0usize;
        let letters: Vec<char> = joined
            .chars()
            .map(|c| match unleet(c) {
                Some(l) if !c.is_alphabetic() => {
                    subs += 1;
                    l
                }
                _ => c,
            })
            .collect();
        let n = letters.len();
        if subs > 3 || !(4..=12).contains(&n) || !letters.iter().all(char::is_ascii_alphabetic) {
            return None;
        }
        let uppers = letters.iter().filter(|c| c.is_ascii_uppercase()).count();
        let capitalised = uppers == 1 && letters.first().is_some_and(char::is_ascii_uppercase);
        if !(uppers == 0 || uppers == n || capitalised) {
            return None;
        }
        let vowel = |c: &char| "aeiouyAEIOUY".contains(*c);
        let longest_consonants = letters
            .chunk_by(|a, b| vowel(a) == vowel(b))
            .filter(|run| run.first().is_some_and(|c| !vowel(c)))
            .map(<[char]>::len)
            .max()
            .unwrap_or(0);
        if !letters.iter().any(vowel) || longest_consonants > 5 {
            return None;
        }
        Some(Core {
            what: "a word",
            separated: false,
            words: 1,
            guesses_log10: 6.0 + if uppers > 0 { 0.3 } else { 0.0 } + 0.5 * subs as f64,
        })
    }

    fn scored(joined: &str, separated: bool, case_log10: f64, context: &[&str]) -> Option<Core> {
        let e = zxcvbn::zxcvbn(joined, context);
        let mut words = 0usize;
        let mut what = "common words";
        for m in e.sequence() {
            match &m.pattern {
                MatchPattern::Dictionary(d) => {
                    words += 1;
                    what = match format!("{:?}", d.dictionary_name).as_str() {
                        "FemaleNames" | "MaleNames" | "Surnames" => "a name",
                        "Passwords" => "a common password",
                        "UserInputs" => "your account details",
                        _ => "a common word",
                    };
                }
                MatchPattern::Repeat(_) => what = "a repeated letter",
                MatchPattern::Spatial(_) => what = "a keyboard pattern",
                MatchPattern::Sequence(_) => what = "a sequence",
                _ => return None,
            }
        }
        if words > MAX_WORDS || e.sequence().is_empty() {
            return None;
        }
        if e.sequence().len() > 1 {
            what = "common words";
        }
        Some(Core {
            what,
            separated,
            words: e.sequence().len(),
            guesses_log10: e.guesses_log10() + case_log10,
        })
    }
}

/// What was put around a core, and what guessing it costs.
#[derive(Default)]
struct Decorations {
    year: bool,
    date: bool,
    number: bool,
    symbols: usize,
    separators: bool,
    guesses_log10: f64,
}

impl Decorations {
    fn of(front: &[char], back: &[char]) -> Decorations {
        let mut d = Decorations::default();
        for side in [front, back] {
            if side.is_empty() {
                continue;
            }
            // Which side, and in which order the pieces come: a factor of about 2.
            d.guesses_log10 += 0.3;
            for run in side.chunk_by(|a, b| a.is_ascii_digit() == b.is_ascii_digit()) {
                if run.first().is_some_and(char::is_ascii_digit) {
                    d.digits(run);
                } else {
                    d.symbols += run.len();
                    // The first symbol is one of the ten or so people use; each further one about 30.
                    d.guesses_log10 += 1.0 + 1.5 * (run.len() - 1) as f64;
                }
            }
        }
        d
    }

    fn digits(&mut self, run: &[char]) {
        let n: u64 = run
            .iter()
            .filter_map(|c| c.to_digit(10))
            .fold(0u64, |acc, x| acc.saturating_mul(10).saturating_add(u64::from(x)));
        let steps: Vec<i64> = run
            .windows(2)
            .filter_map(|w| match w {
                [a, b] => Some(i64::from(b.to_digit(10)?) - i64::from(a.to_digit(10)?)),
                _ => None,
            })
            .collect();
        let regular = run.len() >= 2 && steps.iter().all(|&s| s == 0 || s == 1 || s == -1) && {
            steps.windows(2).all(|w| matches!(w, [a, b] if a == b))
        };
        let (kind, cost) = if run.len() == 4 && (1900..=2039).contains(&n) {
            (&mut self.year, 2.0)
        } else if run.len() <= 2 || regular {
            (&mut self.number, run.len().min(2) as f64)
        } else if matches!(run.len(), 6 | 8) && is_date(run) {
            (&mut self.date, 4.6)
        } else {
            (&mut self.number, run.len() as f64)
        };
        *kind = true;
        self.guesses_log10 += cost;
    }

    /// Digits or symbols were added (not only spaces between words).
    fn added(&self) -> bool {
        self.year || self.date || self.number || self.symbols > 0
    }

    /// "a year and a symbol", or `None` when nothing was added.
    fn words(&self) -> Option<String> {
        let mut parts: Vec<&str> = Vec::new();
        if self.year {
            parts.push("a year");
        }
        if self.date {
            parts.push("a date");
        }
        if self.number {
            parts.push("digits");
        }
        match self.symbols {
            0 => {}
            1 => parts.push("a symbol"),
            _ => parts.push("symbols"),
        }
        if self.separators {
            parts.push("spaces");
        }
        match parts.as_slice() {
            [] => None,
            [one] => Some((*one).to_owned()),
            [init @ .., last] => Some(format!("{} and {last}", init.join(", "))),
        }
    }
}

/// `ddmmyy`, `mmddyy`, `ddmmyyyy`, `yyyymmdd`, ... : some split gives a day and a month.
fn is_date(run: &[char]) -> bool {
    let d: Vec<u32> = run.iter().filter_map(|c| c.to_digit(10)).collect();
    let two = |i: usize| d.get(i).zip(d.get(i + 1)).map(|(a, b)| a * 10 + b);
    let day_month = |a: Option<u32>, b: Option<u32>| matches!((a, b), (Some(a), Some(b)) if (1..=31).contains(&a) && (1..=12).contains(&b));
    let after = if d.len() == 8 { 4 } else { 2 };
    day_month(two(0), two(2)) || day_month(two(2), two(0)) || day_month(two(after + 2), two(after))
}

/// The key a US keyboard types each shifted symbol with.
fn unshift(c: char) -> char {
    match c {
        '!' => '1',
        '@' => '2',
        '#' => '3',
        '$' => '4',
        '%' => '5',
        '^' => '6',
        '&' => '7',
        '*' => '8',
        '(' => '9',
        ')' => '0',
        c => c.to_ascii_lowercase(),
    }
}

/// A keyboard walk typed with and without shift: `!1QAZ@2wsx` is `1qaz2wsx` with shift pressed on some
/// keys, `!QAZ@WSX3edc` is `1qaz2wsx3edc`.
fn keyboard(password: &[char], context: &[&str]) -> Option<Human> {
    if !password
        .iter()
        .any(|c| "!@#$%^&*()".contains(*c) || c.is_ascii_uppercase())
    {
        return None;
    }
    let mut keys: Vec<char> = password.iter().map(|&c| unshift(c)).collect();
    keys.dedup();
    if keys.len() > CORE_LIMIT || keys.len() < 4 || keys.iter().any(|c| !c.is_ascii_alphanumeric()) {
        return None;
    }
    let joined: Zeroizing<String> = Zeroizing::new(keys.iter().collect());
    if l33t_dense(&joined) {
        return None;
    }
    let e = zxcvbn::zxcvbn(&joined, context);
    let walk = e.sequence().len() <= 2
        && e.sequence().iter().all(|m| match &m.pattern {
            MatchPattern::Spatial(_) => true,
            MatchPattern::Dictionary(d) => format!("{:?}", d.dictionary_name) == "Passwords",
            _ => false,
        });
    // Which keys were shifted, and doubled: about one choice in ten per walk.
    walk.then(|| Human {
        kind: Kind::Whole,
        what: "a keyboard pattern".to_owned(),
        guesses_log10: e.guesses_log10() + 1.0,
        certain: false,
    })
}

/// A short string repeated over the whole password (the last copy may be cut short), exactly or with its
/// digits changing (`Password1Password2Password3`), possibly with up to three symbols before or after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repetition {
    /// Where the first copy starts (after the leading symbols).
    pub start: usize,
    /// Code points in the repeated unit.
    pub unit: usize,
    /// Copies, the last one possibly partial.
    pub copies: usize,
    /// The copies differ in their digits.
    pub counting: bool,
    /// Symbols before and after the copies.
    pub symbols: usize,
}

impl Repetition {
    /// What the repetition adds to the guesses of its unit: how many copies, each later copy's digits
    /// (counting up, or one of a few choices), and the symbols around them.
    pub fn extra_log10(&self) -> f64 {
        let changes = if self.counting {
            (self.copies - 1) as f64
        } else {
            0.0
        };
        let symbols = match self.symbols {
            0 => 0.0,
            n => 1.3 + 1.5 * (n - 1) as f64,
        };
        (self.copies as f64).log10() + changes + symbols
    }

    /// The finding, given the guesses of the unit.
    pub fn human(&self, unit_log10: f64) -> Human {
        Human {
            kind: Kind::Whole,
            what: "a short string repeated".to_owned(),
            guesses_log10: unit_log10 + self.extra_log10(),
            certain: false,
        }
    }
}

/// The repetition `password` is, if any (case-insensitive).
pub fn repetition(password: &[char]) -> Option<Repetition> {
    let lower: Zeroizing<Vec<char>> =
        Zeroizing::new(password.iter().flat_map(|c| c.to_lowercase()).collect());
    if lower.len() != password.len() {
        return None;
    }
    let symbol = |c: &&char| !c.is_alphanumeric();
    let lead = lower.iter().take(3).take_while(symbol).count();
    let trail = lower.iter().rev().take(3).take_while(symbol).count();
    [(0, 0), (lead, trail)].into_iter().find_map(|(lead, trail)| {
        let body = lower.get(lead..lower.len().checked_sub(trail)?)?;
        let masked: Zeroizing<Vec<char>> = Zeroizing::new(
            body.iter()
                .map(|&c| if c.is_ascii_digit() { '0' } else { c })
                .collect(),
        );
        let (unit, counting) = match period(body) {
            Some(p) => (p, false),
            // Counting copies have words around their digits: a run of digits alone is no such pattern.
            None => period(&masked)
                .filter(|&p| body.iter().take(p).any(|c| c.is_alphabetic()))
                .map(|p| (p, true))?,
        };
        Some(Repetition {
            start: lead,
            unit,
            copies: body.len().div_ceil(unit),
            counting,
            symbols: lead + trail,
        })
    })
}

/// The shortest period of `s` when `s` holds at least two copies of it (KMP failure function).
fn period(s: &[char]) -> Option<usize> {
    let n = s.len();
    let mut fail = vec![0usize; n];
    let mut k = 0usize;
    for i in 1..n {
        let c = s.get(i)?;
        while k > 0 && s.get(k) != Some(c) {
            k = *fail.get(k - 1)?;
        }
        if s.get(k) == Some(c) {
            k += 1;
        }
        *fail.get_mut(i)? = k;
    }
    let p = n - fail.last().copied().unwrap_or(0);
    (n >= 4 && p * 2 <= n).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(s: &str) -> Option<Human> {
        find(&s.chars().collect::<Vec<_>>(), &[])
    }

    #[track_caller]
    fn what(s: &str) -> String {
        human(s)
            .map(|h| h.what)
            .unwrap_or_else(|| panic!("{s}: no pattern"))
    }

    #[test]
    fn given_word_with_year_and_symbol_then_same_finding_whatever_side() {
        for pw in [
            "!Monkey2025",
            "Monkey2025!",
            "2025Monkey!",
            "@Tigger2020",
            "Apple2025!",
            "!Autumn2015",
            "Qqqqqqqq2024!",
        ] {
            let h = human(pw).unwrap_or_else(|| panic!("{pw}"));
            assert_eq!(h.kind, Kind::Decorated, "{pw}");
            assert!(
                h.what.ends_with("with a year and a symbol added"),
                "{pw}: {}",
                h.what
            );
            assert!(h.guesses_log10 < 10.0, "{pw}: {h:?}");
        }
        assert_eq!(
            what("!Monkey2025"),
            "a common password with a year and a symbol added"
        );
    }

    #[test]
    fn given_common_phrases_then_made_of_common_words() {
        for pw in ["winniethepooh", "i love you", "ilovemymom", "classof2007"] {
            assert!(
                human(pw).is_some_and(|h| h.guesses_log10 < 10.0),
                "{pw}: {:?}",
                human(pw)
            );
        }
    }

    #[test]
    fn given_keyboard_walk_with_shift_then_keyboard_pattern() {
        assert_eq!(what("!1QAZ@2wsx"), "a keyboard pattern");
        assert_eq!(what("!QAZ@WSX3edc"), "a keyboard pattern");
    }

    #[test]
    fn given_repeated_or_counting_string_then_repetition_found() {
        let rep = |s: &str| repetition(&s.chars().collect::<Vec<_>>());
        let r = |unit, copies, counting| {
            Some(Repetition {
                start: 0,
                unit,
                copies,
                counting,
                symbols: 0,
            })
        };
        assert_eq!(rep("Password123!Password123!"), r(12, 2, false));
        assert_eq!(rep("Password1Password2Password3"), r(9, 3, true));
        assert_eq!(rep("123456789012345678901"), r(10, 3, false));
        assert_eq!(rep("LetMeInletmeinLETMEIN"), r(7, 3, false));
        assert_eq!(rep("Password1Password2Passw0rd3"), None);
        assert_eq!(rep("12345678"), None);
        let decorated = rep("!Password1Password2!!").unwrap();
        assert_eq!((decorated.start, decorated.unit, decorated.symbols), (1, 9, 3));
    }

    #[test]
    fn given_random_passwords_and_passphrases_then_no_weak_pattern() {
        for pw in [
            "Vq8#mT2!rZw9xLp",
            "x7#Kq9!vLm2@Tz",
            "quiet otter juggles purple anvils",
            "cat dog sun red box",
            "correct horse battery staple",
        ] {
            assert!(
                human(pw).is_none_or(|h| h.guesses_log10 >= 10.0),
                "{pw}: {:?}",
                human(pw)
            );
        }
    }

    #[test]
    fn given_strings_then_period_found_only_for_two_copies() {
        let p = |s: &str| period(&s.chars().collect::<Vec<_>>());
        assert_eq!(p("abcabcab"), Some(3));
        assert_eq!(p("abcab"), None);
        assert_eq!(p("aaaa"), Some(1));
        assert_eq!(p(""), None);
    }
}
