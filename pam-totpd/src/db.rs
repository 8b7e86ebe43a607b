//! The pool of persistent PostgreSQL connections and the one place that turns a database answer into a reply.
//!
//! Each worker thread owns one connection and serves one request at a time; callers wait at most the deadline
//! and are told `unavailable` after it, whatever the worker is still doing. Nothing is cached but the statements
//! prepared once per connection: a login's request is one round trip, a call of totp.probe or totp.verify in
//! autocommit (the call is its own transaction); enrollments and status (totp.enroll_self, totp.status) are
//! rarer and not prepared. Any error, or an answer this code does not recognise, is never
//! `accepted`: before a verdict it is `unavailable`, after one (the commit failed or its fate is unknown) it is
//! `refused state-not-saved`.

use crate::config::{Config, TlsFiles};
use crate::log;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use pam_totp::pamd::{Enrollment, Reply, Request, ScratchCodes, TokenInfo};
use pam_totp::secret_file::decode_secret;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use postgres_openssl::MakeTlsConnector;
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Requests waiting for a free connection, at most (more are `unavailable` at once).
const QUEUE: usize = 64;

struct Job {
    request: Request,
    deadline: Instant,
    reply: SyncSender<Reply>,
}

/// Hands requests to the workers and waits for their replies with a deadline.
#[derive(Debug)]
pub struct Pool {
    jobs: SyncSender<Job>,
    deadline: Duration,
}

/// One persistent connection and the statements prepared on it (valid only on this connection).
struct Connection {
    client: Client,
    prepared: Prepared,
}

/// The requests' statements, parsed and planned by the server once per connection rather than per request.
struct Prepared {
    probe: Statement,
    verify: Statement,
}

/// How one database exchange went wrong.
enum Failure {
    /// No verdict was reached: `unavailable`.
    NoVerdict(String),
    /// A verdict was computed but its transaction did not commit (or we cannot know): `refused`.
    NotSaved(String),
}

impl Pool {
    /// Starts `config.pool` workers; they connect on their first request and reconnect after any error.
    pub fn start(config: &Config) -> Result<Pool, String> {
        let mut pg = postgres::Config::from_str(&config.conninfo).map_err(|e| format!("--conninfo: {e}"))?;
        pg.connect_timeout(config.deadline);
        pg.tcp_user_timeout(config.deadline);
        pg.keepalives(true);
        let tls = connector(&config.tls)?;
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..config.pool {
            let (queue, pg, tls) = (queue.clone(), pg.clone(), tls.clone());
            let statement_timeout = config.deadline.as_millis();
            std::thread::Builder::new()
                .name(format!("db{n}"))
                .spawn(move || worker(&queue, &pg, tls, statement_timeout))
                .map_err(|e| format!("cannot start a database worker: {e}"))?;
        }
        Ok(Pool {
            jobs,
            deadline: config.deadline,
        })
    }

    /// The database's answer to `request`, or `unavailable` when it does not come within the deadline.
    pub fn ask(&self, request: Request) -> Reply {
        let deadline = Instant::now() + self.deadline;
        let (reply, answer) = mpsc::sync_channel(1);
        match self.jobs.try_send(Job {
            request,
            deadline,
            reply,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Reply::unavailable("all database connections are busy"),
            Err(TrySendError::Disconnected(_)) => return Reply::unavailable("no database worker is running"),
        }
        match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                log(format_args!(
                    "database did not answer within {} ms",
                    self.deadline.as_millis()
                ));
                Reply::unavailable(format!(
                    "database did not answer within {} ms",
                    self.deadline.as_millis()
                ))
            }
            Err(RecvTimeoutError::Disconnected) => Reply::unavailable("the database worker gave no answer"),
        }
    }
}

fn connector(files: &TlsFiles) -> Result<MakeTlsConnector, String> {
    let tls_error = |what: &str, e: openssl::error::ErrorStack| format!("TLS {what}: {e}");
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| tls_error("setup", e))?;
    if let Some(ca) = &files.ca {
        builder
            .set_ca_file(ca)
            .map_err(|e| tls_error(&format!("CA file {}", ca.display()), e))?;
    }
    if let (Some(cert), Some(key)) = (&files.cert, &files.key) {
        builder
            .set_certificate_chain_file(cert)
            .map_err(|e| tls_error(&format!("certificate {}", cert.display()), e))?;
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| tls_error(&format!("key {}", key.display()), e))?;
        builder
            .check_private_key()
            .map_err(|e| tls_error("key does not match the certificate", e))?;
    }
    Ok(MakeTlsConnector::new(builder.build()))
}

fn worker(
    queue: &Mutex<Receiver<Job>>,
    pg: &postgres::Config,
    tls: MakeTlsConnector,
    statement_timeout: u128,
) {
    let mut client: Option<Connection> = None;
    loop {
        let job = match queue.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if Instant::now() >= job.deadline {
            continue; // its caller has already been told `unavailable`
        }
        // A kept connection may have died while idle (the server restarted, a failover): one more try on a
        // fresh connection. A verify is retried only when no verdict came back; had the lost call committed
        // anyway, the retry is refused (the code is used) or counts one more failure: never an acceptance.
        let reused = client.as_ref().is_some_and(|c| !c.client.is_closed());
        let mut result = answer(&mut client, pg, &tls, statement_timeout, &job.request);
        if reused && matches!(result, Err(Failure::NoVerdict(_))) && Instant::now() < job.deadline {
            client = None;
            result = answer(&mut client, pg, &tls, statement_timeout, &job.request);
        }
        let reply = match result {
            Ok(reply) => reply,
            Err(failure) => {
                client = None; // never reuse a connection after an error: reconnect next time
                match failure {
                    Failure::NoVerdict(why) => {
                        log(format_args!("database unavailable: {why}"));
                        Reply::unavailable(why)
                    }
                    Failure::NotSaved(why) => {
                        log(format_args!("verdict not saved, refusing: {why}"));
                        Reply::Refused {
                            reason: "state-not-saved".into(),
                            retry_after: 0,
                        }
                    }
                }
            }
        };
        let _ = job.reply.send(reply); // the caller may have given up: nothing to do then
    }
}

fn answer(
    client: &mut Option<Connection>,
    pg: &postgres::Config,
    tls: &MakeTlsConnector,
    statement_timeout: u128,
    request: &Request,
) -> Result<Reply, Failure> {
    let no_verdict = |e: postgres::Error| Failure::NoVerdict(e.to_string());
    let Connection {
        client: conn,
        prepared,
    } = match client {
        Some(conn) if !conn.client.is_closed() => conn,
        _ => client.insert(connect(pg, tls, statement_timeout)?),
    };
    match request {
        Request::Probe { user } => {
            let row = conn.query_one(&prepared.probe, &[user]).map_err(no_verdict)?;
            probe_reply(row.try_get(0).map_err(no_verdict)?)
        }
        Request::Verify {
            user,
            code,
            rhost,
            service,
        } => {
            let params: [&(dyn ToSql + Sync); 4] = [user, code, rhost, service];
            let mut rows = conn.query_raw(&prepared.verify, params).map_err(no_verdict)?;
            let row = rows
                .next()
                .map_err(no_verdict)?
                .ok_or_else(|| Failure::NoVerdict("totp.verify returned no row".into()))?;
            let reply = verify_reply(&row)?;
            // The call commits when the statement ends: its error (or a second row) comes after the verdict.
            match rows.next() {
                Ok(None) => Ok(reply),
                Ok(Some(_)) => Err(Failure::NotSaved("totp.verify returned more than one row".into())),
                Err(e) => Err(Failure::NotSaved(e.to_string())),
            }
        }
        Request::Enroll(enrollment) => enroll(conn, enrollment),
        Request::Status { user } => status(conn, user),
    }
}

/// A new connection with the statement timeout set and the statements prepared.
fn connect(
    pg: &postgres::Config,
    tls: &MakeTlsConnector,
    statement_timeout: u128,
) -> Result<Connection, Failure> {
    let no_verdict = |e: postgres::Error| Failure::NoVerdict(e.to_string());
    let mut client = pg
        .connect(tls.clone())
        .map_err(|e| Failure::NoVerdict(format!("cannot connect: {e}")))?;
    client
        .batch_execute(&format!("SET statement_timeout = {statement_timeout}"))
        .map_err(no_verdict)?;
    let prepared = Prepared {
        probe: client.prepare("SELECT totp.probe($1)").map_err(no_verdict)?,
        verify: client
            .prepare(
                "SELECT outcome, via, scratch_left, reason, retry_after FROM totp.verify($1, $2, $3, $4)",
            )
            .map_err(no_verdict)?,
    };
    Ok(Connection { client, prepared })
}

/// totp.enroll_self in a transaction of its own: `Added` with the new scratch codes, or the refusal.
fn enroll(conn: &mut Client, e: &Enrollment) -> Result<Reply, Failure> {
    let no_verdict = |e: postgres::Error| Failure::NoVerdict(e.to_string());
    let secret = decode_secret(&e.secret_b32).map_err(|e| Failure::NoVerdict(format!("enroll: {e}")))?;
    let numbers = [e.digits, e.period, e.window].map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let mut tx = conn.transaction().map_err(no_verdict)?;
    let row = tx
        .query_one(
            "SELECT outcome, scratch_codes FROM totp.enroll_self($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &e.user,
                &e.label,
                &secret.as_bytes(),
                &e.kind,
                &e.algorithm,
                &numbers[0],
                &numbers[1],
                &numbers[2],
                &e.confirm,
                &e.current,
            ],
        )
        .map_err(no_verdict)?;
    let outcome: Option<String> = row.try_get(0).map_err(no_verdict)?;
    let codes: Option<Vec<String>> = row.try_get(1).map_err(no_verdict)?;
    let reply = match (outcome.as_deref(), codes) {
        (Some("enrolled"), Some(codes)) => Reply::Added {
            scratch_codes: ScratchCodes(codes),
        },
        (Some(other), _) if other.starts_with("refused:") => Reply::Refused {
            reason: other.trim_start_matches("refused:").to_owned(),
            retry_after: 0,
        },
        (other, _) => return Err(Failure::NoVerdict(format!("unexpected enroll outcome {other:?}"))),
    };
    tx.commit().map_err(|e| Failure::NotSaved(e.to_string()))?;
    Ok(reply)
}

/// totp.status: the user's tokens (no secret) and scratch codes left, or `NotEnrolled`.
fn status(conn: &mut Client, user: &str) -> Result<Reply, Failure> {
    let no_verdict = |e: postgres::Error| Failure::NoVerdict(e.to_string());
    let rows = conn
        .query(
            "SELECT label, kind, active, extract(epoch FROM created_at)::bigint,
                    extract(epoch FROM last_used_at)::bigint, scratch_left
             FROM totp.status($1)",
            &[&user],
        )
        .map_err(no_verdict)?;
    let Some(first) = rows.first() else {
        return Ok(Reply::NotEnrolled);
    };
    let scratch_left: i32 = first.try_get(5).map_err(no_verdict)?;
    let mut tokens = Vec::new();
    for row in &rows {
        let Some(label) = row.try_get::<_, Option<String>>(0).map_err(no_verdict)? else {
            continue; // enrolled without tokens
        };
        tokens.push(TokenInfo {
            label,
            kind: row.try_get(1).map_err(no_verdict)?,
            active: row.try_get(2).map_err(no_verdict)?,
            created: row.try_get(3).map_err(no_verdict)?,
            last_used: row.try_get(4).map_err(no_verdict)?,
        });
    }
    Ok(Reply::Tokens {
        scratch_left: u32::try_from(scratch_left).unwrap_or(0),
        tokens,
    })
}

fn probe_reply(answer: Option<String>) -> Result<Reply, Failure> {
    match answer.as_deref() {
        Some("enrolled") => Ok(Reply::Enrolled),
        Some("not-enrolled") => Ok(Reply::NotEnrolled),
        other => Err(Failure::NoVerdict(format!("unexpected probe answer {other:?}"))),
    }
}

/// The reply for a row of totp.verify; anything unexpected is no verdict (so never `accepted`).
fn verify_reply(row: &Row) -> Result<Reply, Failure> {
    let bad = |e: postgres::Error| Failure::NoVerdict(format!("unexpected verify row: {e}"));
    let outcome: Option<String> = row.try_get(0).map_err(bad)?;
    let via: Option<String> = row.try_get(1).map_err(bad)?;
    let scratch_left: Option<i32> = row.try_get(2).map_err(bad)?;
    let reason: Option<String> = row.try_get(3).map_err(bad)?;
    let retry_after: Option<i32> = row.try_get(4).map_err(bad)?;
    reply_of(outcome.as_deref(), via, scratch_left, reason, retry_after)
        .ok_or_else(|| Failure::NoVerdict(format!("unexpected verify outcome {outcome:?}")))
}

fn reply_of(
    outcome: Option<&str>,
    via: Option<String>,
    scratch_left: Option<i32>,
    reason: Option<String>,
    retry_after: Option<i32>,
) -> Option<Reply> {
    match outcome? {
        "accepted" => {
            let via = via.filter(|v| matches!(v.as_str(), "totp" | "hotp" | "scratch"))?;
            let scratch_left = u32::try_from(scratch_left?).ok()?;
            Some(Reply::Accepted { via, scratch_left })
        }
        "refused" => Some(Reply::Refused {
            reason: reason.filter(|r| !r.is_empty())?,
            retry_after: u32::try_from(retry_after.unwrap_or(0)).unwrap_or(0),
        }),
        "not-enrolled" => Some(Reply::NotEnrolled),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_accepted_row_is_accepted() {
        assert_eq!(
            reply_of(Some("accepted"), Some("totp".into()), Some(3), None, None),
            Some(Reply::Accepted {
                via: "totp".into(),
                scratch_left: 3
            })
        );
        assert_eq!(reply_of(Some("accepted"), None, Some(3), None, None), None);
        assert_eq!(
            reply_of(Some("accepted"), Some("magic".into()), Some(3), None, None),
            None
        );
        assert_eq!(
            reply_of(Some("accepted"), Some("totp".into()), None, None, None),
            None
        );
        assert_eq!(
            reply_of(Some("accepted"), Some("totp".into()), Some(-1), None, None),
            None
        );
        assert_eq!(
            reply_of(Some("ACCEPTED"), Some("totp".into()), Some(3), None, None),
            None
        );
        assert_eq!(reply_of(None, Some("totp".into()), Some(3), None, None), None);
    }

    #[test]
    fn refusals_and_not_enrolled_map_through() {
        assert_eq!(
            reply_of(Some("refused"), None, None, Some("rate-limited".into()), Some(20)),
            Some(Reply::Refused {
                reason: "rate-limited".into(),
                retry_after: 20
            })
        );
        assert_eq!(reply_of(Some("refused"), None, None, None, None), None);
        assert_eq!(
            reply_of(Some("not-enrolled"), None, None, None, None),
            Some(Reply::NotEnrolled)
        );
    }
}
