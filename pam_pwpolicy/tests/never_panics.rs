//! Property tests: the option parser, both configuration readers and the checker accept any input
//! without panicking (they return errors or verdicts), and the checker's verdict is self-consistent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pam_pwpolicy::check::{check, Context};
use pam_pwpolicy::config::{self, parse_pwquality, parse_toml, resolve, Paths};
use pam_pwpolicy::policy::{Policy, Value, KEYS};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(KEYS).prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        key(),
        (key(), "[-0-9a-zA-Z ,/=.]{0,8}").prop_map(|(k, v)| format!("{k}={v}")),
        ".{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn option_parser_never_panics(args in proptest::collection::vec(arg(), 0..12)) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths { conf: dir.path().join("none.conf"), pwquality: None };
        let args: Vec<String> = args.into_iter().filter(|a| !a.starts_with("conf=")).collect();
        let _ = config::load(&args, &paths);
    }

    #[test]
    fn toml_reader_never_panics(text in ".{0,200}", lines in proptest::collection::vec((key(), "[-0-9a-z\"\\[\\], ]{0,10}"), 0..8)) {
        let _ = parse_toml(&text, "t");
        let doc: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let (good, _) = parse_toml(&doc, "t");
        let _ = resolve(&good);
    }

    #[test]
    fn pwquality_reader_never_panics(text in ".{0,300}", lines in proptest::collection::vec((key(), "[-0-9a-z ]{0,6}"), 0..8)) {
        let _ = parse_pwquality(&text, "p");
        let doc: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let (good, _) = parse_pwquality(&doc, "p");
        let _ = resolve(&good);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn checker_never_panics_and_is_consistent(
        new in proptest::collection::vec(any::<u8>(), 0..300),
        text in "\\PC{0,80}",
        old in proptest::option::of("\\PC{0,40}"),
        user in "[a-z]{0,10}",
        minlen in 0i64..40, credit in -3i64..3, minclass in 0i64..5,
    ) {
        let mut p = Policy::default();
        p.apply("minlen", &Value::Int(minlen)).unwrap();
        p.apply("ucredit", &Value::Int(credit)).unwrap();
        p.apply("minclass", &Value::Int(minclass)).unwrap();
        p.apply("maxrepeat", &Value::Int(3)).unwrap();
        p.apply("maxsequence", &Value::Int(4)).unwrap();
        p.apply("gecoscheck", &Value::Flag).unwrap();
        let ctx = Context { user: Some(user), gecos: Some("Ann Lee, Room 4".into()), hostname: Some("h.example".into()), service: Some("passwd".into()) };
        for input in [new.as_slice(), text.as_bytes()] {
            let v = check(&p, input, old.as_deref().map(str::as_bytes), &ctx);
            prop_assert_eq!(v.ok(), v.reasons.is_empty());
            if let Some(s) = &v.strength {
                prop_assert!(s.score <= 4);
            }
        }
    }
}
