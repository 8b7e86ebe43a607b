//! Helpers of the pam-totpd tests: the throwaway cluster (`cluster.rs`, shared with tests/tests/fleet_pamd.rs),
//! a running daemon (`daemon.rs`) and calls of the SQL API through the rust-postgres client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster;
mod daemon;

pub use cluster::Cluster;
#[allow(unused_imports)] // not every test binary starts a daemon
pub use daemon::Daemon;

/// The base32 secret the tests enroll.
#[allow(dead_code)] // not every test binary uses it
pub const SECRET: &str = "JBSWY3DPEHPK3PXP";

impl Cluster {
    pub fn connect(&self, role: &str) -> postgres::Client {
        postgres::Client::connect(&self.conninfo(role), postgres::NoTls).unwrap()
    }

    pub fn superuser(&self) -> postgres::Client {
        self.connect("postgres")
    }

    pub fn sql_as_superuser(&self, sql: &str) {
        self.connect("postgres").batch_execute(sql).unwrap();
    }
}

/// A row of totp.verify / totp.decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: String,
    pub via: Option<String>,
    pub scratch_left: Option<i32>,
    pub reason: Option<String>,
    pub retry_after: Option<i32>,
}

impl Verdict {
    pub fn from_row(row: &postgres::Row) -> Verdict {
        Verdict {
            outcome: row.get(0),
            via: row.get(1),
            scratch_left: row.get(2),
            reason: row.get(3),
            retry_after: row.get(4),
        }
    }

    pub fn accepted_via(&self) -> Option<&str> {
        (self.outcome == "accepted").then_some(self.via.as_deref().unwrap_or(""))
    }

    pub fn refused_for(&self) -> Option<&str> {
        (self.outcome == "refused").then_some(self.reason.as_deref().unwrap_or(""))
    }
}

/// totp.verify as a host calls it (the database's clock).
pub fn verify(client: &mut impl postgres::GenericClient, user: &str, code: &str, rhost: &str) -> Verdict {
    let row = client
        .query_one(
            "SELECT outcome, via, scratch_left, reason, retry_after FROM totp.verify($1, $2, $3, 'sshd')",
            &[&user, &code, &rhost],
        )
        .unwrap();
    Verdict::from_row(&row)
}

/// The current code of `user`'s token `label`, `steps_ahead` time steps from now (computed by the superuser).
pub fn current_code(su: &mut postgres::Client, user: &str, label: &str, steps_ahead: i64) -> String {
    su.query_one(
        "SELECT totp.hotp(secret, floor(extract(epoch FROM now()))::bigint / period + $3, algorithm, digits)
         FROM totp.token WHERE username = $1 AND label = $2",
        &[&user, &label, &steps_ahead],
    )
    .unwrap()
    .get(0)
}

/// Enrolls `user` with a default TOTP token `label` (SHA1, 6 digits, 30 s, window 3).
pub fn enroll(su: &mut postgres::Client, user: &str, label: &str, secret_base32: &str) {
    su.execute(
        "SELECT totp.admin_add_token($1, $2, totp.base32_decode($3))",
        &[&user, &label, &secret_base32],
    )
    .unwrap();
}
