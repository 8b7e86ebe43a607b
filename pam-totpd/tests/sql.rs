//! The schema (pam-totpd/sql/schema.sql) against a throwaway PostgreSQL 15 cluster per test: the OTP vectors,
//! single use, throttling, the failure ceiling, disabled tokens, the host role's rights and the race between
//! two hosts. Ignored by default (they need the PostgreSQL binaries); the `fleet` tier of tests/run-all runs
//! them with `--ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{current_code, enroll, verify, Cluster, Verdict, SECRET};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/otp-vectors.tsv");

fn decide(su: &mut postgres::Client, user: &str, code: &str, rhost: &str, at_unix: f64) -> Verdict {
    let row = su
        .query_one(
            "SELECT outcome, via, scratch_left, reason, retry_after
             FROM totp.decide($1, $2, $3, 'test', to_timestamp($4))",
            &[&user, &code, &rhost, &at_unix],
        )
        .unwrap();
    Verdict::from_row(&row)
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn every_otp_vector_is_accepted_through_the_sql() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    let mut checked = 0;
    for (i, line) in std::fs::read_to_string(VECTORS).unwrap().lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let (kind, algorithm, secret, digits, period, moment, expected) =
            (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        let user = format!("vector{i}");
        let digits: i32 = digits.parse().unwrap();
        let moment: i64 = moment.parse().unwrap();
        let period: i32 = if kind == "totp" {
            period.parse().unwrap()
        } else {
            30
        };
        let hotp_next: i64 = if kind == "hotp" { moment } else { 0 };
        su.execute(
            "SELECT totp.admin_add_token($1, 'v', totp.base32_decode($2), $3, $4, $5, $6, 1, $7)",
            &[&user, &secret, &kind, &algorithm, &digits, &period, &hotp_next],
        )
        .unwrap();
        let at = if kind == "totp" { moment as f64 } else { 1.0e9 };
        let verdict = decide(&mut su, &user, expected, "vectors", at);
        assert_eq!(verdict.accepted_via(), Some(kind), "{line}: {verdict:?}");
        checked += 1;
    }
    assert_eq!(checked, 31, "every vector of {VECTORS}");
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn a_totp_code_is_accepted_once_and_its_replay_is_refused() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    let mut host = cluster.connect("host1");
    let code = current_code(&mut su, "alice", "phone", 0);
    assert_eq!(
        verify(&mut host, "alice", &code, "192.0.2.1").accepted_via(),
        Some("totp")
    );
    assert_eq!(
        verify(&mut host, "alice", &code, "192.0.2.1").refused_for(),
        Some("replayed")
    );
    let mut other_host = cluster.connect("host2");
    assert_eq!(
        verify(&mut other_host, "alice", &code, "192.0.2.2").refused_for(),
        Some("replayed")
    );
    let previous = current_code(&mut su, "alice", "phone", -1);
    assert_eq!(
        verify(&mut host, "alice", &previous, "192.0.2.3").refused_for(),
        Some("replayed"),
        "a code older than the last accepted one"
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn a_scratch_code_works_exactly_once() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    su.execute(
        "SELECT totp.admin_set_scratch('alice', ARRAY['11111111', '22222222'])",
        &[],
    )
    .unwrap();
    let stored: Vec<u8> = su
        .query_one("SELECT code_hash FROM totp.scratch LIMIT 1", &[])
        .unwrap()
        .get(0);
    assert!(
        !stored.windows(8).any(|w| w == b"11111111" || w == b"22222222"),
        "stored as hashes"
    );
    let mut host = cluster.connect("host1");
    let first = verify(&mut host, "alice", "11111111", "192.0.2.1");
    assert_eq!(
        (first.accepted_via(), first.scratch_left),
        (Some("scratch"), Some(1))
    );
    assert_eq!(
        verify(&mut host, "alice", "11111111", "192.0.2.1").refused_for(),
        Some("replayed")
    );
    assert_eq!(
        verify(&mut host, "alice", "22222222", "192.0.2.1").scratch_left,
        Some(0)
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn the_hotp_counter_moves_forward_only() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    // RFC 4226 secret; window 3: counters next..next+2 are accepted, each once, never going back.
    su.execute(
        "SELECT totp.admin_add_token('bob', 'fob', totp.base32_decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), 'hotp')",
        &[],
    )
    .unwrap();
    let mut host = cluster.connect("host1");
    assert_eq!(
        verify(&mut host, "bob", "755224", "a").accepted_via(),
        Some("hotp"),
        "counter 0"
    );
    assert_eq!(
        verify(&mut host, "bob", "755224", "a").refused_for(),
        Some("wrong-code"),
        "counter 0 is behind"
    );
    assert_eq!(
        verify(&mut host, "bob", "359152", "b").accepted_via(),
        Some("hotp"),
        "counter 2 (look-ahead)"
    );
    assert_eq!(
        verify(&mut host, "bob", "287082", "b").refused_for(),
        Some("wrong-code"),
        "counter 1 skipped"
    );
    assert_eq!(
        verify(&mut host, "bob", "338314", "c").accepted_via(),
        Some("hotp"),
        "counter 4"
    );
    let next: i64 = su
        .query_one("SELECT hotp_next FROM totp.token WHERE username = 'bob'", &[])
        .unwrap()
        .get(0);
    assert_eq!(next, 5);
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn attempts_are_throttled_per_user_and_source_address() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    let mut host = cluster.connect("host1");
    for _ in 0..3 {
        assert_eq!(
            verify(&mut host, "alice", "000000", "198.51.100.9").refused_for(),
            Some("wrong-code")
        );
    }
    let limited = verify(&mut host, "alice", "000000", "198.51.100.9");
    assert_eq!(limited.refused_for(), Some("rate-limited"));
    assert!(matches!(limited.retry_after, Some(1..=30)), "{limited:?}");
    let code = current_code(&mut su, "alice", "phone", 0);
    assert_eq!(
        verify(&mut host, "alice", &code, "198.51.100.9").refused_for(),
        Some("rate-limited")
    );
    assert_eq!(
        verify(&mut host, "alice", &code, "203.0.113.5").accepted_via(),
        Some("totp"),
        "another source is not throttled by the first"
    );
    assert_eq!(
        verify(&mut host, "mallory", "000000", "198.51.100.9").outcome,
        "not-enrolled"
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn consecutive_failures_lock_the_user_until_unlock_or_cool_down() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    su.batch_execute("UPDATE totp.setting SET max_failures = 5, cooldown = '10 minutes'")
        .unwrap();
    enroll(&mut su, "alice", "phone", SECRET);
    let bad = su.execute("UPDATE totp.setting SET max_failures = 101", &[]);
    assert!(bad.is_err(), "the ceiling cannot exceed 100 (NIST SP 800-63B)");
    let mut host = cluster.connect("host1");
    for i in 0..5 {
        let source = format!("10.0.0.{i}");
        assert_eq!(
            verify(&mut host, "alice", "000000", &source).refused_for(),
            Some("wrong-code")
        );
    }
    let code = current_code(&mut su, "alice", "phone", 0);
    let locked = verify(&mut host, "alice", &code, "10.0.1.1");
    assert_eq!(
        locked.refused_for(),
        Some("locked"),
        "even the right code, from a new source"
    );
    assert!(matches!(locked.retry_after, Some(500..=600)), "{locked:?}");
    su.execute("SELECT totp.admin_unlock('alice')", &[]).unwrap();
    assert_eq!(
        verify(&mut host, "alice", &code, "10.0.1.1").accepted_via(),
        Some("totp")
    );

    for i in 0..5 {
        assert_eq!(
            decide(&mut su, "alice", "000000", &format!("10.0.2.{i}"), 2.0e9).refused_for(),
            Some("wrong-code")
        );
    }
    assert_eq!(
        decide(&mut su, "alice", "000000", "10.0.3.1", 2.0e9 + 599.0).refused_for(),
        Some("locked")
    );
    assert_eq!(
        decide(&mut su, "alice", "000000", "10.0.3.1", 2.0e9 + 601.0).refused_for(),
        Some("wrong-code"),
        "the cool-down has passed"
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn a_disabled_token_is_refused_while_the_users_other_token_works() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    enroll(&mut su, "alice", "yubikey", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    su.execute("SELECT totp.admin_disable('alice', 'phone')", &[])
        .unwrap();
    let mut host = cluster.connect("host1");
    let phone = current_code(&mut su, "alice", "phone", 0);
    let key = current_code(&mut su, "alice", "yubikey", 0);
    assert_eq!(
        verify(&mut host, "alice", &phone, "a").refused_for(),
        Some("wrong-code")
    );
    assert_eq!(verify(&mut host, "alice", &key, "b").accepted_via(), Some("totp"));

    su.execute("SELECT totp.admin_disable('alice')", &[]).unwrap();
    let key = current_code(&mut su, "alice", "yubikey", 1);
    assert_eq!(
        verify(&mut host, "alice", &key, "c").refused_for(),
        Some("disabled")
    );
    let probe: String = host.query_one("SELECT totp.probe('alice')", &[]).unwrap().get(0);
    assert_eq!(
        probe, "enrolled",
        "a disabled user must not pass as not enrolled (nullok)"
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn a_host_role_can_execute_the_api_but_never_read_a_secret() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    let mut host = cluster.connect("host1");
    for sql in [
        "SELECT secret FROM totp.token",
        "SELECT * FROM totp.scratch",
        "SELECT * FROM totp.account",
        "UPDATE totp.token SET last_step = -1",
        "SELECT * FROM totp.decide('alice', '000000', '', '', now())",
        "SELECT totp.admin_unlock('alice')",
        "SELECT * FROM totp.admin_export('alice', 'phone')",
        "SELECT totp.hotp('\\x00'::bytea, 0, 'SHA1', 6)",
    ] {
        let err = host.batch_execute(sql).expect_err(sql);
        assert_eq!(
            err.code(),
            Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err}"
        );
    }
    let probe: String = host.query_one("SELECT totp.probe('alice')", &[]).unwrap().get(0);
    assert_eq!(probe, "enrolled");
    let probe: String = host
        .query_one("SELECT totp.probe('nobody-here')", &[])
        .unwrap()
        .get(0);
    assert_eq!(probe, "not-enrolled");
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn two_open_transactions_with_the_same_code_cannot_both_win() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    let code = current_code(&mut su, "alice", "phone", 0);
    let mut a = cluster.connect("host1");
    let mut tx = a.transaction().unwrap();
    assert_eq!(
        verify(&mut tx, "alice", &code, "192.0.2.1").accepted_via(),
        Some("totp")
    );
    let mut b = cluster.connect("host2");
    let (racer_code, b_pid) = (
        code.clone(),
        b.query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get::<_, i32>(0),
    );
    let racer = std::thread::spawn(move || verify(&mut b, "alice", &racer_code, "192.0.2.2"));
    // Host B is now waiting for host A's row lock; A commits, and B must see the use.
    let waiting = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        su.query_one(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
            &[&b_pid],
        )
        .map(|r| r.get::<_, Option<bool>>(0) == Some(true))
        .unwrap_or(false)
    });
    assert!(waiting, "host B never blocked on host A");
    tx.commit().unwrap();
    assert_eq!(racer.join().unwrap().refused_for(), Some("replayed"));
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn sixteen_hosts_racing_with_one_code_give_exactly_one_success() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    su.execute("SELECT totp.admin_set_scratch('alice', ARRAY['12345678'])", &[])
        .unwrap();
    for code in [current_code(&mut su, "alice", "phone", 0), "12345678".to_owned()] {
        let barrier = Arc::new(Barrier::new(16));
        let racers: Vec<_> = (0..16)
            .map(|i| {
                let mut client = cluster.connect(if i % 2 == 0 { "host1" } else { "host2" });
                let (barrier, code) = (barrier.clone(), code.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    verify(&mut client, "alice", &code, &format!("192.0.2.{i}"))
                })
            })
            .collect();
        let verdicts: Vec<Verdict> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let winners = verdicts.iter().filter(|v| v.outcome == "accepted").count();
        assert_eq!(winners, 1, "{verdicts:?}");
        assert!(verdicts
            .iter()
            .all(|v| v.outcome == "accepted" || v.refused_for() == Some("replayed")));
    }
}

/// totp.enroll_self as a host calls it for `carol`: (outcome, scratch codes).
fn enroll_self(
    host: &mut postgres::Client,
    label: &str,
    hex: &str,
    confirm: &str,
    current: &str,
) -> (String, Vec<String>) {
    let row = host
        .query_one(
            "SELECT outcome, scratch_codes FROM totp.enroll_self('carol', $1, decode($2, 'hex'), 'totp', 'SHA1', 6, 30, 3, $3, $4)",
            &[&label, &hex, &confirm, &current],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// The TOTP code of the secret `hex`, `steps_ahead` steps from now.
fn code_of(su: &mut postgres::Client, hex: &str, steps_ahead: i64) -> String {
    su.query_one(
        "SELECT totp.hotp(decode($1, 'hex'), floor(extract(epoch FROM now()))::bigint / 30 + $2, 'SHA1', 6)",
        &[&hex, &steps_ahead],
    )
    .unwrap()
    .get(0)
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn enrolling_a_second_token_needs_a_current_code_of_the_first() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    let mut host = cluster.connect("host1");
    let (phone, laptop) = ("00112233445566778899", "99887766554433221100");
    assert_eq!(
        enroll_self(&mut host, "phone", phone, "000000", "").0,
        "refused:bad-confirmation"
    );
    let confirm = code_of(&mut su, phone, 0);
    let (outcome, scratch) = enroll_self(&mut host, "phone", phone, &confirm, "");
    assert_eq!(outcome, "enrolled");
    assert_eq!(scratch.len(), 5, "the first token comes with scratch codes");
    assert!(
        scratch
            .iter()
            .all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit())),
        "{scratch:?}"
    );
    let confirm = code_of(&mut su, laptop, 0);
    assert_eq!(
        enroll_self(&mut host, "laptop", laptop, &confirm, "000000").0,
        "refused:wrong-code"
    );
    // The phone's confirmation code was recorded as used: it is no proof of possession a second time.
    let used = code_of(&mut su, phone, 0);
    assert_eq!(
        enroll_self(&mut host, "laptop", laptop, &confirm, &used).0,
        "refused:replayed"
    );
    let current = code_of(&mut su, phone, 1);
    let (outcome, scratch_again) = enroll_self(&mut host, "laptop", laptop, &confirm, &current);
    assert_eq!(outcome, "enrolled");
    assert!(
        scratch_again.is_empty(),
        "a second token keeps the user's scratch codes"
    );
    assert_eq!(
        enroll_self(&mut host, "laptop", laptop, &confirm, "").0,
        "refused:label-exists"
    );
    // A scratch code from the first enrollment also proves possession (after an unlock: three proofs per 30 s).
    let limited = enroll_self(
        &mut host,
        "fob",
        "00000000000000000001",
        &code_of(&mut su, "00000000000000000001", 0),
        &scratch[0],
    );
    assert_eq!(limited.0, "refused:rate-limited");
    cluster
        .connect("admin1")
        .execute("SELECT totp.admin_unlock('carol')", &[])
        .unwrap();
    let backup = "00000000000000000001";
    let confirm = code_of(&mut su, backup, 0);
    assert_eq!(
        enroll_self(&mut host, "fob", backup, &confirm, &scratch[0]).0,
        "enrolled"
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn the_confirmation_code_of_a_new_token_cannot_log_in() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    let mut host = cluster.connect("host1");
    let phone = "00112233445566778899";
    let confirm = code_of(&mut su, phone, 0);
    assert_eq!(enroll_self(&mut host, "phone", phone, &confirm, "").0, "enrolled");
    assert_eq!(
        verify(&mut host, "carol", &confirm, "192.0.2.7").refused_for(),
        Some("replayed")
    );
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn status_lists_tokens_and_scratch_codes_left_and_reset_forgets_the_user() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    let mut host = cluster.connect("host1");
    let mut admin = cluster.connect("admin1");
    assert!(host
        .query("SELECT * FROM totp.status('carol')", &[])
        .unwrap()
        .is_empty());
    let phone = "00112233445566778899";
    let confirm = code_of(&mut su, phone, 0);
    let (_, scratch) = enroll_self(&mut host, "phone", phone, &confirm, "");
    assert_eq!(
        verify(&mut host, "carol", &scratch[0], "").accepted_via(),
        Some("scratch")
    );
    let rows = host
        .query(
            "SELECT label, kind, active, last_used_at IS NULL, scratch_left FROM totp.status('carol')",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("phone".into(), "totp".into())
    );
    assert!(row.get::<_, bool>(2));
    assert!(row.get::<_, bool>(3), "a scratch code is not a use of the token");
    assert_eq!(row.get::<_, i32>(4), 4);
    let columns: Vec<String> = host
        .prepare("SELECT * FROM totp.status('carol')")
        .unwrap()
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert!(!columns.iter().any(|c| c.contains("secret")), "{columns:?}");

    admin
        .execute("SELECT totp.admin_disable('carol', 'phone')", &[])
        .unwrap();
    let active: bool = host
        .query_one("SELECT active FROM totp.status('carol')", &[])
        .unwrap()
        .get(0);
    assert!(!active);
    assert!(admin
        .query_one("SELECT totp.admin_reset('carol')", &[])
        .unwrap()
        .get::<_, bool>(0));
    assert!(host
        .query("SELECT * FROM totp.status('carol')", &[])
        .unwrap()
        .is_empty());
    assert!(!admin
        .query_one("SELECT totp.admin_reset('carol')", &[])
        .unwrap()
        .get::<_, bool>(0));
    let confirm = code_of(&mut su, phone, 1);
    assert_eq!(
        enroll_self(&mut host, "phone", phone, &confirm, "").0,
        "enrolled",
        "re-enrolls as new"
    );
    let events: String = su
        .query_one(
            "SELECT string_agg(outcome, ',' ORDER BY at, outcome) FROM totp.event WHERE username = 'carol'",
            &[],
        )
        .unwrap()
        .get(0);
    for outcome in ["enrolled", "accepted", "disabled", "reset"] {
        assert!(events.contains(outcome), "{events}");
    }
}

/// pgcrypto hmac() calls made by one totp.decide, counted by the statistics system (track_functions; the
/// backend's pending counts include earlier transactions, so this is a difference).
fn hmac_calls(su: &mut postgres::Client, user: &str, code: &str) -> i64 {
    let count = "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_xact_user_functions
                 WHERE schemaname = 'totp_crypto' AND funcname = 'hmac'";
    let mut tx = su.transaction().unwrap();
    tx.batch_execute("SET LOCAL track_functions = 'all'").unwrap();
    let before: i64 = tx.query_one(count, &[]).unwrap().get(0);
    let at = 1.5e9;
    let row = tx
        .query_one(
            "SELECT outcome FROM totp.decide($1, $2, 'timing', 'test', to_timestamp($3::float8))",
            &[&user, &code, &at],
        )
        .unwrap();
    let _: String = row.get(0);
    let after: i64 = tx.query_one(count, &[]).unwrap().get(0);
    tx.rollback().unwrap();
    after - before
}

#[test]
#[ignore = "starts a PostgreSQL cluster: run by the fleet tier"]
fn unknown_and_disabled_users_cost_the_same_hmac_work_as_enrolled_ones() {
    let cluster = Cluster::start();
    let mut su = cluster.superuser();
    enroll(&mut su, "alice", "phone", SECRET);
    su.execute("SELECT totp.admin_set_scratch('alice', ARRAY['11111111'])", &[])
        .unwrap();
    enroll(&mut su, "dora", "phone", SECRET);
    su.execute("SELECT totp.admin_disable('dora')", &[]).unwrap();
    enroll(&mut su, "erin", "phone", SECRET);
    su.execute("SELECT totp.admin_disable('erin', 'phone')", &[])
        .unwrap();
    for code in ["000000", "00000000"] {
        let enrolled = hmac_calls(&mut su, "alice", code);
        assert!(
            enrolled >= 4,
            "a window of 3 codes and the scratch hash: {enrolled}"
        );
        assert_eq!(
            hmac_calls(&mut su, "nobody-here", code),
            enrolled,
            "unknown user, code {code}"
        );
        assert_eq!(
            hmac_calls(&mut su, "dora", code),
            enrolled,
            "disabled user, code {code}"
        );
        assert_eq!(
            hmac_calls(&mut su, "erin", code),
            enrolled,
            "only a disabled token, code {code}"
        );
    }
}
