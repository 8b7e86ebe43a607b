//! What the user typed, in the forms the rules read: invisible (default-ignorable and format) characters,
//! the Latin look-alikes of Cyrillic and Greek letters, and old passwords that are not UTF-8.
//!
//! Small hand-written tables, not a Unicode database: the invisible ranges are Unicode 15's
//! `Default_Ignorable_Code_Point` plus the rest of general category `Cf`; the look-alikes are the letters
//! that render like a Latin letter in common fonts (a deliberate, documented subset of Unicode's
//! confusables). Pure functions, no allocation beyond the output, no panics.

/// Unicode 15 `Default_Ignorable_Code_Point` and general category `Cf`, as inclusive ranges, sorted.
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD), // soft hyphen
    (0x034F, 0x034F), // combining grapheme joiner
    (0x0600, 0x0605), // Arabic number signs
    (0x061C, 0x061C), // Arabic letter mark
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160), // Hangul fillers
    (0x17B4, 0x17B5),
    (0x180B, 0x180F), // Mongolian variation selectors and vowel separator
    (0x200B, 0x200F), // zero width space, joiners, direction marks
    (0x202A, 0x202E), // bidirectional embeddings and overrides
    (0x2060, 0x206F), // word joiner, invisible operators, deprecated format characters
    (0x3164, 0x3164), // Hangul filler
    (0xFE00, 0xFE0F), // variation selectors
    (0xFEFF, 0xFEFF), // zero width no-break space (BOM)
    (0xFFA0, 0xFFA0), // halfwidth Hangul filler
    (0xFFF0, 0xFFFB), // unassigned specials and interlinear annotation
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F), // Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical symbol format controls
    (0xE0000, 0xE0FFF), // tags and variation selectors supplement
];

/// An invisible character: it counts as nothing for any rule.
pub fn is_invisible(c: char) -> bool {
    let c = u32::from(c);
    INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Lowercase Cyrillic and Greek letters that look like a Latin letter (in either case), and that letter.
const LOOK_ALIKES: &[(char, char)] = &[
    // Cyrillic
    ('а', 'a'),
    ('в', 'b'),
    ('е', 'e'),
    ('ё', 'e'),
    ('і', 'i'),
    ('ї', 'i'),
    ('ј', 'j'),
    ('к', 'k'),
    ('м', 'm'),
    ('н', 'h'),
    ('о', 'o'),
    ('р', 'p'),
    ('с', 'c'),
    ('т', 't'),
    ('у', 'y'),
    ('х', 'x'),
    ('ѕ', 's'),
    ('ԁ', 'd'),
    ('ԛ', 'q'),
    ('ԝ', 'w'),
    ('һ', 'h'),
    ('ӏ', 'l'),
    // Greek
    ('α', 'a'),
    ('β', 'b'),
    ('ε', 'e'),
    ('ζ', 'z'),
    ('η', 'h'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('μ', 'm'),
    ('ν', 'n'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('τ', 't'),
    ('υ', 'y'),
    ('χ', 'x'),
];

/// The Latin letter `c` looks like, in `c`'s case.
fn look_alike(c: char) -> Option<char> {
    let lower = c.to_lowercase().next().unwrap_or(c);
    let to = LOOK_ALIKES
        .iter()
        .find(|&&(from, _)| from == lower)
        .map(|&(_, to)| to)?;
    Some(if c.is_uppercase() {
        to.to_ascii_uppercase()
    } else {
        to
    })
}

/// Folds look-alike letters to Latin (keeping their case), for the dictionary and whole-password checks
/// only.
///
/// A run of letters is folded when it mixes Latin letters with look-alikes (`pаsswоrd` with Cyrillic а
/// and о), or when every letter of it has a Latin look-alike (a Latin word spelled entirely in Cyrillic);
/// a run with any letter that has no look-alike (ordinary Russian or Greek text) is left as it is, so that
/// such words are not compared with English dictionaries.
pub fn fold_look_alikes(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    for run in text.chunk_by(|a, b| a.is_alphabetic() == b.is_alphabetic()) {
        let latin = run.iter().any(char::is_ascii_alphabetic);
        let all_alike = run
            .iter()
            .all(|&c| c.is_ascii_alphabetic() || look_alike(c).is_some());
        if all_alike && (latin || run.iter().any(|&c| look_alike(c).is_some())) {
            out.extend(run.iter().map(|&c| look_alike(c).unwrap_or(c)));
        } else {
            out.extend_from_slice(run);
        }
    }
    out
}

/// Decodes bytes that may not be UTF-8 into code points without losing any: each byte of an invalid
/// sequence becomes its own private-use code point (U+10FF00 + byte), so that edit distances and
/// rotations still work on an old password that is not UTF-8.
pub fn decode_lossless(bytes: &[u8]) -> Vec<char> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().chars());
        out.extend(
            chunk
                .invalid()
                .iter()
                .map(|&b| char::from_u32(0x10_FF00 + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(c: &[char]) -> String {
        c.iter().collect()
    }

    #[test]
    fn given_format_and_ignorable_characters_then_invisible() {
        for c in [
            '\u{200B}',
            '\u{00AD}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{2064}',
        ] {
            assert!(is_invisible(c), "{:X}", u32::from(c));
        }
        for c in ['a', ' ', '\u{00A0}', 'é', '\u{0301}', '😀', 'ж'] {
            assert!(!is_invisible(c), "{:X}", u32::from(c));
        }
    }

    #[test]
    fn given_mixed_script_look_alikes_then_folded_to_latin_and_plain_russian_kept() {
        let fold = |t: &str| s(&fold_look_alikes(&t.chars().collect::<Vec<_>>()));
        assert_eq!(fold("pаsswоrd123!"), "password123!");
        assert_eq!(fold("рор123"), "pop123");
        assert_eq!(fold("Раssword"), "Password");
        assert_eq!(fold("пароль123"), "пароль123");
        assert_eq!(fold("ωmega"), "ωmega");
    }

    #[test]
    fn given_invalid_utf8_then_each_byte_is_kept_distinct() {
        let a = decode_lossless(b"ab\xffc\xfe");
        assert_eq!(a.len(), 5);
        assert_eq!(&a[..2], &['a', 'b']);
        assert_ne!(a[2], a[4]);
        assert_eq!(decode_lossless("é".as_bytes()), vec!['é']);
    }
}
