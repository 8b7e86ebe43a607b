//! Differential test against libpwquality (the library under pam_pwquality), issue 4.
//!
//! Over a few hundred deterministically generated passwords (seeded generator below: random mixes of
//! lengths and classes, repeats, sequences, palindromes, class runs, user names and bad words inside,
//! old/new pairs, Unicode) and several option sets, our checker runs in process and libpwquality runs in
//! ONE `/usr/bin/python3` process (python3-pwquality), fed tab-separated hex lines on stdin. dictcheck is
//! off on both sides; ours runs under `compat=pwquality` (no zxcvbn score, no `commoncheck`).
//!
//! libpwquality stops at the first failing rule, in its own order ([`PWQ_ORDER`]). So for each password
//! the comparison is exact for the rules it evaluated: every rule before its first failure passed (we
//! must not refuse for it), the failing rule failed (we must refuse for it), and an accepted password
//! passed every rule (we must refuse for none of the rules both implement).
//!
//! Every difference must fall in a category documented in `docs/pwpolicy-differences.md`: the test fails
//! on any other one, and when python3-pwquality is missing (it never skips). `DIFF_VERBOSE=1` prints every
//! documented difference; the summary line (counts per rule and per category) is always printed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr
)]

use pam_pwpolicy::check::{check, Context, Rule};
use pam_pwpolicy::config::{parse_args, resolve};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// The system interpreter, where Debian's python3-pwquality lives (not a pyenv one on PATH).
const PYTHON: &str = "/usr/bin/python3";

/// The oracle: `S <hex options>` starts a new settings object (defaults, dictcheck off, then the
/// options, never a config file); `C <hex new> <hex old|-> <hex user|->` checks one password and prints
/// `ok` or libpwquality's negative error code.
const ORACLE: &str = r#"
import sys
try:
    import pwquality
except ImportError as e:
    sys.stdout.write("NOPWQ %s\n" % e)
    sys.exit(3)
def dec(x):
    return None if x == "-" else bytes.fromhex(x).decode("utf-8")
out = []
s = None
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if f[0] == "S":
        s = pwquality.PWQSettings()
        s.set_option("dictcheck=0")
        for opt in bytes.fromhex(f[1]).decode("utf-8").split(";"):
            if opt:
                s.set_option(opt)
        out.append("set")
    else:
        try:
            s.check(dec(f[1]), dec(f[2]), dec(f[3]))
            out.append("ok")
        except pwquality.PWQError as e:
            out.append(str(e.args[0]))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// The rules both implement, in libpwquality's check order (`pwquality_check` then `password_check`;
/// `maxclassrepeat` is found while `simple()` scans, before its credit and length checks).
const PWQ_ORDER: &[(i32, Rule)] = &[
    (-20, Rule::Empty),
    (-21, Rule::Same),
    (-16, Rule::Case),
    (-9, Rule::Difok),
    (-27, Rule::Maxclassrepeat),
    (-10, Rule::Dcredit),
    (-11, Rule::Ucredit),
    (-12, Rule::Lcredit),
    (-13, Rule::Ocredit),
    (-14, Rule::Minlen),
    (-17, Rule::Rotated),
    (-18, Rule::Minclass),
    (-15, Rule::Palindrome),
    (-19, Rule::Maxrepeat),
    (-29, Rule::Maxsequence),
    (-25, Rule::Usercheck),
    (-28, Rule::Badwords),
];

/// Our rules mapped onto libpwquality's (`usersubstr` is part of its user check); `None`: a rule only we
/// have (off in this test, or never triggered by the generated inputs, like `maxlen`).
fn shared(rule: Rule) -> Option<Rule> {
    match rule {
        Rule::Usersubstr => Some(Rule::Usercheck),
        r if PWQ_ORDER.iter().any(|(_, x)| *x == r) => Some(r),
        _ => None,
    }
}

/// Documented difference categories (each is a heading in docs/pwpolicy-differences.md).
const DOCUMENTED: &[&str] = &["unicode-code-points"];

/// Option sets: (name, options for both sides separated by `;`, user name).
const SETS: &[(&str, &str, &str)] = &[
    (
        "guide",
        "minlen=10;difok=3;ucredit=-1;lcredit=-2;dcredit=-1;ocredit=-1",
        "alice",
    ),
    ("defaults", "", "alice"),
    ("positive-credits", "minlen=12;dcredit=1;ucredit=1", "alice"),
    (
        "cracklib-defaults",
        "minlen=9;difok=5;dcredit=1;ucredit=1;lcredit=1;ocredit=1",
        "alice",
    ),
    ("minclass", "minclass=3", "alice"),
    ("runs", "maxrepeat=2;maxsequence=3;maxclassrepeat=3", "alice"),
    ("maxsequence", "maxsequence=3", "alice"),
    ("maxrepeat", "maxrepeat=2;minlen=6", "alice"),
    ("usercheck", "usercheck=1;minlen=6", "alice"),
    ("short-user", "usercheck=1;minlen=6", "bob"),
    ("usersubstr", "usercheck=1;usersubstr=4", "alexander"),
    ("badwords", "badwords=acme globex big", "alice"),
    ("difok-0", "difok=0;minlen=6", "alice"),
];

/// A seeded xorshift generator: the same inputs on every run and every machine.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chars(&mut self, alphabet: &str, n: usize) -> String {
        let a: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| *self.pick(&a)).collect()
    }
}

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGIT: &str = "0123456789";
const OTHER: &str = "!@#$%^&*()-_=+[]{};:,.<>/?~ ";
const UNICODE_WORDS: &[&str] = &[
    "пароль",
    "Пароль",
    "ПАРОЛЬ",
    "абвгд",
    "éléphant",
    "Çava",
    "straße",
    "ＡＢＣ１２３",
    "ｐａｓｓ",
    "ﬁﬂ",
    "Ωμέγα",
    "αβγδ",
    "٣٤٥",
    "१२३",
    "日本語",
    "🔒🔑",
    "e\u{301}e\u{301}",
    "ǅemal",
    "ÅÄÖ",
    "ñandú",
];

/// One generated case: the new password and, sometimes, the old one.
struct Case {
    new: String,
    old: Option<String>,
}

fn random_mix(g: &mut Gen, len: usize) -> String {
    let classes = [LOWER, UPPER, DIGIT, OTHER];
    let k = g.range(1, 4);
    let start = g.below(4);
    let mut alphabet = String::new();
    for i in 0..k {
        alphabet.push_str(classes[(start + i) % 4]);
    }
    g.chars(&alphabet, len)
}

fn insert(g: &mut Gen, base: &str, piece: &str) -> String {
    let chars: Vec<char> = base.chars().collect();
    let at = g.below(chars.len() + 1);
    let mut s: String = chars[..at].iter().collect();
    s.push_str(piece);
    s.extend(&chars[at..]);
    s
}

fn flip_case(g: &mut Gen, s: &str) -> String {
    s.chars()
        .map(|c| {
            if g.below(2) == 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut g = Gen(0x5eed_0004_d1ff_0001);
    let mut out: Vec<Case> = Vec::new();
    let mut push = |new: String, old: Option<String>| out.push(Case { new, old });
    push(String::new(), None);
    // Random mixes of 1-4 classes, lengths 1-24 (around every minlen and credit threshold).
    for _ in 0..170 {
        let len = g.range(1, 24);
        push(random_mix(&mut g, len), None);
    }
    // Blocks of one class (class runs, credits).
    for _ in 0..50 {
        let mut s = String::new();
        for _ in 0..g.range(2, 5) {
            let class = *g.pick(&[LOWER, UPPER, DIGIT, OTHER]);
            let n = g.range(1, 5);
            s.push_str(&g.chars(class, n));
        }
        push(s, None);
    }
    // Repeats.
    for _ in 0..40 {
        let len = g.range(4, 12);
        let base = random_mix(&mut g, len);
        let c = g.chars("aZ9!xQ ", 1);
        let run = c.repeat(g.range(2, 5));
        push(insert(&mut g, &base, &run), None);
    }
    // Monotonic sequences, up and down, in each class.
    for _ in 0..50 {
        let len = g.range(3, 10);
        let base = random_mix(&mut g, len);
        let src: Vec<char> = g
            .pick(&[
                LOWER,
                UPPER,
                DIGIT,
                "!\"#$%&'()*+,-./0123456789:;<=>?@ABC",
                "XYZ[\\]^_`abc",
                "xyz{|}~",
            ])
            .chars()
            .collect();
        let n = g.range(2, 6).min(src.len());
        let from = g.below(src.len() - n + 1);
        let mut seq: Vec<char> = src[from..from + n].to_vec();
        if g.below(2) == 0 {
            seq.reverse();
        }
        let seq: String = seq.into_iter().collect();
        push(insert(&mut g, &base, &seq), None);
    }
    // Palindromes (case-insensitive ones too), odd and even.
    for _ in 0..35 {
        let half = {
            let len = g.range(1, 8);
            random_mix(&mut g, len)
        };
        let mut s = half.clone();
        if g.below(2) == 0 {
            s.push_str(&g.chars(DIGIT, 1));
        }
        s.extend(half.chars().rev());
        push(flip_case(&mut g, &s), None);
    }
    // User names and bad words, straight, reversed, in another case, or in pieces.
    for _ in 0..70 {
        let word = *g.pick(&[
            "alice",
            "ecila",
            "ALICE",
            "Alice",
            "alic",
            "alexander",
            "rednaxela",
            "xander",
            "rednax",
            "exan",
            "bob",
            "obob",
            "acme",
            "EMCA",
            "globex",
            "big",
            "gib",
        ]);
        let len = g.range(2, 9);
        let base = random_mix(&mut g, len);
        push(insert(&mut g, &base, word), None);
    }
    // Unicode: non-ASCII words alone, padded, and as old passwords.
    for _ in 0..70 {
        let word = *g.pick(UNICODE_WORDS);
        let len = g.range(0, 8);
        let base = random_mix(&mut g, len.max(1));
        let new = if len == 0 {
            word.to_owned()
        } else {
            insert(&mut g, &base, word)
        };
        let old = (g.below(4) == 0).then(|| format!("{word}{}", g.chars(DIGIT, 3)));
        push(new, old);
    }
    // Old/new pairs: same, case change, small and larger edits, rotations, pieces, doubled.
    for i in 0..150 {
        let len = g.range(6, 16);
        let old = random_mix(&mut g, len);
        let chars: Vec<char> = old.chars().collect();
        let new = match i % 10 {
            0 => old.clone(),
            1 => flip_case(&mut g, &old),
            2 | 3 => {
                let mut c = chars.clone();
                for _ in 0..g.range(1, 2) {
                    let at = g.below(c.len());
                    c[at] = g.chars("qZ7%", 1).chars().next().unwrap();
                }
                c.into_iter().collect()
            }
            4 => {
                let mut c = chars.clone();
                for _ in 0..g.range(3, 6) {
                    let at = g.below(c.len());
                    c[at] = g.chars("wY3&", 1).chars().next().unwrap();
                }
                c.into_iter().collect()
            }
            5 | 6 => {
                let k = g.range(1, chars.len() - 1);
                chars[k..].iter().chain(chars[..k].iter()).collect()
            }
            7 => chars[1..chars.len() - 1].iter().collect(),
            8 => format!("{old}{old}"),
            _ => {
                let n = g.range(1, 4);
                format!("{old}{}", g.chars(OTHER, n))
            }
        };
        push(new, Some(old));
    }
    out
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "-".to_owned(), hex)
}

/// Runs every (set, case) through libpwquality in one process: `None` accepted, `Some(code)` refused.
fn oracle(cases: &[Case]) -> Vec<Vec<Option<i32>>> {
    let mut input = String::new();
    for (_, options, user) in SETS {
        input.push_str(&format!("S\t{}\n", hex(options)));
        for c in cases {
            input.push_str(&format!(
                "C\t{}\t{}\t{}\n",
                hex(&c.new),
                hex_opt(c.old.as_deref()),
                hex(user)
            ));
        }
    }
    let mut child = Command::new(PYTHON)
        .arg("-I")
        .arg("-c")
        .arg(ORACLE)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {PYTHON} ({e}): the differential test needs Debian's python3 with python3-pwquality (apt-get install python3-pwquality)")
        });
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    if stdout.starts_with("NOPWQ") {
        panic!(
            "python3-pwquality is not installed for {PYTHON} ({}): install it with `apt-get install python3-pwquality` (listed in .ci/apt-packages); this test never skips",
            stdout.trim()
        );
    }
    assert!(
        out.status.success(),
        "the libpwquality oracle failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    SETS.iter()
        .map(|(name, _, _)| {
            assert_eq!(
                lines.next(),
                Some("set"),
                "oracle output out of step at set {name}"
            );
            cases
                .iter()
                .map(|_| match lines.next() {
                    Some("ok") => None,
                    Some(code) => Some(
                        code.parse::<i32>()
                            .unwrap_or_else(|_| panic!("oracle said {code}")),
                    ),
                    None => panic!("oracle output ended early in set {name}"),
                })
                .collect()
        })
        .collect()
}

/// The documented category a difference belongs to, if any.
fn category(case: &Case, user: &str) -> Option<&'static str> {
    let non_ascii = |s: &str| !s.is_ascii();
    if non_ascii(&case.new) || case.old.as_deref().is_some_and(non_ascii) || non_ascii(user) {
        return Some("unicode-code-points");
    }
    None
}

fn rule_of(code: i32) -> Rule {
    PWQ_ORDER
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, r)| *r)
        .unwrap_or_else(|| panic!("libpwquality returned code {code}, which this test does not map"))
}

fn position(rule: Rule) -> usize {
    PWQ_ORDER.iter().position(|(_, r)| *r == rule).unwrap()
}

#[test]
fn given_same_inputs_and_options_then_verdicts_match_libpwquality_except_documented_differences() {
    let cases = cases();
    assert!(cases.len() >= 500, "only {} passwords", cases.len());
    let expected = oracle(&cases);
    let docs = include_str!("../../docs/pwpolicy-differences.md");
    for c in DOCUMENTED {
        assert!(
            docs.contains(&format!("`{c}`")),
            "category `{c}` is not documented in docs/pwpolicy-differences.md"
        );
    }

    let mut undocumented: Vec<String> = Vec::new();
    let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_codes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut checks = 0usize;
    for ((name, options, user), pwq) in SETS.iter().zip(&expected) {
        let mut args: Vec<String> = options
            .split(';')
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        args.push("compat=pwquality".to_owned());
        let policy = resolve(&parse_args(&args)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let ctx = Context {
            user: Some((*user).to_owned()),
            ..Context::default()
        };
        for (case, theirs) in cases.iter().zip(pwq) {
            checks += 1;
            let v = check(
                &policy,
                case.new.as_bytes(),
                case.old.as_deref().map(str::as_bytes),
                &ctx,
            );
            let ours: Vec<Rule> = v.reasons.iter().filter_map(|r| shared(r.rule)).collect();
            let theirs: Option<Rule> = theirs.map(rule_of);
            if let Some(r) = theirs {
                *seen_codes.entry(r.name()).or_default() += 1;
            }
            let problem = match theirs {
                None if !ours.is_empty() => Some(format!("libpwquality accepts, we refuse for {ours:?}")),
                None => None,
                Some(r) if !ours.contains(&r) => {
                    Some(format!("libpwquality refuses for {r:?}, we refuse for {ours:?}"))
                }
                Some(r) => ours.iter().find(|o| position(**o) < position(r)).map(|o| {
                    format!("libpwquality passed {o:?} (it refused later, for {r:?}), we refuse for it")
                }),
            };
            let Some(problem) = problem else { continue };
            match category(case, user) {
                Some(cat) => {
                    *per_category.entry(cat).or_default() += 1;
                    if std::env::var_os("DIFF_VERBOSE").is_some() {
                        eprintln!(
                            "documented {cat}: [{name}] new={:?} old={:?}: {problem}",
                            case.new, case.old
                        );
                    }
                }
                None => undocumented.push(format!(
                    "[{name}: {options}] new={:?} old={:?} user={user}: {problem}",
                    case.new, case.old
                )),
            }
        }
    }
    eprintln!(
        "differential: {} passwords x {} option sets = {checks} checks; libpwquality refusals by rule: {seen_codes:?}; documented differences: {per_category:?}",
        cases.len(),
        SETS.len()
    );
    // The inputs must exercise every rule both implement, or the comparison proves little.
    for (_, rule) in PWQ_ORDER {
        assert!(
            seen_codes.contains_key(rule.name()),
            "no input made libpwquality refuse for {rule:?}: extend the generator"
        );
    }
    assert!(
        undocumented.is_empty(),
        "{} undocumented differences from libpwquality (fix them or document them in docs/pwpolicy-differences.md):\n{}",
        undocumented.len(),
        undocumented.iter().take(60).cloned().collect::<Vec<_>>().join("\n")
    );
}
