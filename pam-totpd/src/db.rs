//! The pool of persistent PostgreSQL connections and the one place that turns a database answer into a reply.
//!
//! Each worker thread owns one connection and serves one request at a time; callers wait at most the deadline
//! and are told `unavailable` after it (`refused state-not-saved` when their verify had been sent), whatever the
//! worker is still doing. The deadline is the client's only:
//! nothing here asks the server to cancel a statement (a cancelled wait for a synchronous standby still
//! commits locally, with only a WARNING). Nothing is cached but the statements prepared once per connection: a
//! login's request is one round trip, a call of totp.probe or totp.verify in autocommit (the call is its own
//! transaction, committed before the server's ReadyForQuery); enrollments and status (totp.enroll_self,
//! totp.status) are rarer and not prepared. Any error, or an answer this code does not recognise, is never
//! `accepted`: before anything that writes was sent it is `unavailable`; once a verify or an enrollment was
//! sent, a broken connection, an error after the verdict or a WARNING is `refused state-not-saved`, never
//! retried. A connection found broken before anything is sent is replaced (the multi-host conninfo finds the
//! new primary after a failover) within a small budget and the deadline.

use crate::config::{Config, TlsFiles};
use crate::log;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use pam_totp::pamd::{Enrollment, Reply, Request, ScratchCodes, TokenInfo};
use pam_totp::secret_file::decode_secret;
use postgres::error::{DbError, Severity};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use postgres_openssl::MakeTlsConnector;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Requests waiting for a free connection, at most (more are `unavailable` at once).
const QUEUE: usize = 64;

/// Attempts per request when the connection breaks before a verdict (a failover, a restart), at most.
const TRIES: u32 = 8;

/// The pause before the third attempt; it doubles for each later one up to [`LAST_PAUSE`] (the second
/// attempt is immediate: a kept connection that died while idle is the common case).
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LAST_PAUSE: Duration = Duration::from_millis(400);

/// A verify or an enrollment on a connection idle for longer than this is preceded by an empty query that
/// checks it: a connection that died while idle (a restart, a failover) is then replaced before anything that
/// writes is sent on it, instead of making that login's outcome unknown. Busy connections skip the check.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// No further attempt is made with less time than this left before the deadline.
const LEAST_TRY: Duration = Duration::from_millis(100);

/// The last WARNING (or worse) the server sent on a worker's connection as a notice since the flag was
/// cleared; the worker clears it before each request.
type Warning = Arc<Mutex<Option<String>>>;

struct Job {
    request: Request,
    deadline: Instant,
    reply: SyncSender<Reply>,
    /// Set by the worker just before it sends a request that writes (a verify, an enrollment).
    sent: Arc<AtomicBool>,
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
    /// When its last request ended.
    last_used: Instant,
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
        pg.tcp_user_timeout(config.deadline);
        pg.keepalives(true);
        pg.keepalives_idle(Duration::from_secs(10));
        pg.keepalives_interval(Duration::from_secs(2));
        pg.keepalives_retries(3);
        let tls = connector(&config.tls)?;
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..config.pool {
            let (queue, mut pg, tls) = (queue.clone(), pg.clone(), tls.clone());
            let warning = Warning::default();
            pg.notice_callback(record_warnings(warning.clone()));
            let lock_timeout = config.deadline.as_millis();
            std::thread::Builder::new()
                .name(format!("db{n}"))
                .spawn(move || worker(&queue, &pg, tls, &warning, lock_timeout))
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
        let sent = Arc::new(AtomicBool::new(false));
        match self.jobs.try_send(Job {
            request,
            deadline,
            reply,
            sent: sent.clone(),
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Reply::unavailable("all database connections are busy"),
            Err(TrySendError::Disconnected(_)) => return Reply::unavailable("no database worker is running"),
        }
        match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                let late = format!("database did not answer within {} ms", self.deadline.as_millis());
                if sent.load(Ordering::SeqCst) {
                    // It may still commit: an unknown outcome, refused like every other one.
                    log(format_args!(
                        "{late} to a request it was sent: refused, state-not-saved"
                    ));
                    Reply::Refused {
                        reason: "state-not-saved".into(),
                        retry_after: 0,
                    }
                } else {
                    log(format_args!("{late}"));
                    Reply::unavailable(late)
                }
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

/// `e` with its causes (`error communicating with the server: Connection timed out`): the crate's own text
/// names only the kind.
fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// The notice callback of a worker's connections: logs every notice and remembers a WARNING or worse.
fn record_warnings(warning: Warning) -> impl Fn(DbError) + Send + Sync {
    move |notice: DbError| {
        log(format_args!(
            "database {}: {}",
            notice.severity(),
            notice.message()
        ));
        let harmless = matches!(
            notice.parsed_severity(),
            Some(Severity::Notice | Severity::Info | Severity::Debug | Severity::Log)
        );
        if !harmless {
            *warning.lock().unwrap_or_else(PoisonError::into_inner) = Some(notice.message().to_owned());
        }
    }
}

fn worker(
    queue: &Mutex<Receiver<Job>>,
    pg: &postgres::Config,
    tls: MakeTlsConnector,
    warning: &Warning,
    lock_timeout: u128,
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
        let db = Db {
            sent: &job.sent,
            pg,
            tls: &tls,
            warning,
            lock_timeout,
            deadline: job.deadline,
        };
        let reply = match db.attempts(&mut client, &job.request) {
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
        let late = Instant::now().saturating_duration_since(job.deadline);
        if !late.is_zero() && !matches!(reply, Reply::Unavailable { .. }) {
            log(format_args!(
                "the database answered {} ms after the deadline; the caller had been refused already. A \
                 commit that waits is usually a synchronous standby that is down: check pg_stat_replication on \
                 the primary",
                late.as_millis()
            ));
        }
        let _ = job.reply.send(reply); // the caller may have given up: nothing to do then
    }
}

/// What one request needs to talk to the database.
struct Db<'a> {
    sent: &'a AtomicBool,
    pg: &'a postgres::Config,
    tls: &'a MakeTlsConnector,
    warning: &'a Warning,
    lock_timeout: u128,
    deadline: Instant,
}

impl Db<'_> {
    /// [`Db::answer`], again on a fresh connection while the connection was found broken before a verdict
    /// without anything that writes having been sent (a kept connection that died while idle, the old primary
    /// after a failover, the new one not yet promoted): at most [`TRIES`] attempts, never past the deadline. A
    /// verify or an enrollment that was sent is `NotSaved` when its outcome is unknown, which is never
    /// retried; an error on a live connection is not retried either.
    fn attempts(&self, client: &mut Option<Connection>, request: &Request) -> Result<Reply, Failure> {
        let mut pause = Duration::ZERO;
        let mut tries = 1;
        loop {
            let result = self.answer(client, request);
            let broken = client.as_ref().is_none_or(|c| c.client.is_closed());
            let Err(Failure::NoVerdict(why)) = &result else {
                return result;
            };
            let left = self.deadline.saturating_duration_since(Instant::now());
            if !broken || tries >= TRIES || left <= pause + LEAST_TRY {
                let why = if tries > 1 {
                    format!("{why} (after {tries} attempts)")
                } else {
                    why.clone()
                };
                return Err(Failure::NoVerdict(why));
            }
            *client = None;
            std::thread::sleep(pause);
            pause = if pause.is_zero() {
                FIRST_PAUSE
            } else {
                (pause * 2).min(LAST_PAUSE)
            };
            tries += 1;
        }
    }

    /// A connection to a read-write server for `request`: the kept one (checked first, see [`IDLE_CHECK`],
    /// when the request writes and the connection has been idle), or a new one that tries the conninfo's hosts
    /// in order, shares what is left of the deadline between them, and prepares the statements.
    fn connection<'c>(
        &self,
        client: &'c mut Option<Connection>,
        request: &Request,
    ) -> Result<&'c mut Connection, Failure> {
        if let Some(mut conn) = client.take().filter(|c| !c.client.is_closed()) {
            let writes = matches!(request, Request::Verify { .. } | Request::Enroll(_));
            let left = self.deadline.saturating_duration_since(Instant::now());
            if !writes || conn.last_used.elapsed() <= IDLE_CHECK || conn.client.is_valid(left).is_ok() {
                return Ok(client.insert(conn));
            }
            // The check failed or timed out: nothing was sent on it that writes; a new connection instead.
        }
        let no_verdict = |e: postgres::Error| Failure::NoVerdict(describe(&e));
        let left = self.deadline.saturating_duration_since(Instant::now());
        let hosts = u32::try_from(self.pg.get_hosts().len().max(1)).unwrap_or(1);
        let mut pg = self.pg.clone();
        pg.connect_timeout((left / hosts).max(Duration::from_millis(10)));
        let mut conn = pg
            .connect(self.tls.clone())
            .map_err(|e| Failure::NoVerdict(format!("cannot connect: {}", describe(&e))))?;
        session_settings(&mut conn, self.lock_timeout).map_err(no_verdict)?;
        let prepared = Prepared {
            probe: conn.prepare("SELECT totp.probe($1)").map_err(no_verdict)?,
            verify: conn
                .prepare(
                    "SELECT outcome, via, scratch_left, reason, retry_after FROM totp.verify($1, $2, $3, $4)",
                )
                .map_err(no_verdict)?,
        };
        Ok(client.insert(Connection {
            client: conn,
            prepared,
            last_used: Instant::now(),
        }))
    }

    fn answer(&self, client: &mut Option<Connection>, request: &Request) -> Result<Reply, Failure> {
        let Connection {
            client: conn,
            prepared,
            last_used,
        } = self.connection(client, request)?;
        let answer = self.answer_on(conn, prepared, request);
        *last_used = Instant::now();
        answer
    }

    fn answer_on(&self, conn: &mut Client, prepared: &Prepared, request: &Request) -> Result<Reply, Failure> {
        let no_verdict = |e: postgres::Error| Failure::NoVerdict(describe(&e));
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
                self.about_to_write()?;
                let params: [&(dyn ToSql + Sync); 4] = [user, code, rhost, service];
                let outcome = verify_call(conn, &prepared.verify, params);
                self.saved(outcome)
            }
            Request::Enroll(enrollment) => {
                self.about_to_write()?;
                let outcome = enroll(conn, enrollment);
                self.saved(outcome)
            }
            Request::Status { user } => status(conn, user),
        }
    }

    /// Before a request that writes is sent: nothing is sent once the caller has been told `unavailable`
    /// (it would use up a code for a login that has already failed); otherwise the job is marked as sent, so
    /// that a caller who stops waiting after this is told `state-not-saved`, and the warning flag is cleared.
    fn about_to_write(&self) -> Result<(), Failure> {
        if Instant::now() >= self.deadline {
            return Err(Failure::NoVerdict("no time left to send the request".into()));
        }
        self.sent.store(true, Ordering::SeqCst);
        *self.warning.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }

    /// `outcome`, unless the server sent a WARNING since [`Db::clear_warning`]: PostgreSQL reports a cancelled
    /// or interrupted wait for a synchronous standby that way, on a commit that otherwise succeeds. The
    /// notice is read before the ReadyForQuery that ends the call, so it is seen here when there was one.
    fn saved(&self, outcome: Result<Reply, Failure>) -> Result<Reply, Failure> {
        match self.warning.lock().unwrap_or_else(PoisonError::into_inner).take() {
            None => outcome,
            Some(warning) => Err(Failure::NotSaved(format!(
                "the commit came with a warning ({warning}): the use is on the primary but perhaps on no \
                 synchronous standby. Check synchronous_standby_names and pg_stat_replication, and that nothing \
                 cancels pam-totpd's statements (statement_timeout of its role, pg_cancel_backend)"
            ))),
        }
    }
}

/// One call of the prepared totp.verify in autocommit. The server commits at the end of the call, before its
/// ReadyForQuery, but the row may reach us earlier (a notice, such as the WARNING of a cancelled wait for the
/// standby, flushes the output), so the reply stands only once the stream has ended at ReadyForQuery after
/// exactly one row. An error the server reports before any row means the call failed and rolled back (no
/// verdict); a connection lost after the call was sent leaves the outcome unknown (not saved).
fn verify_call(
    conn: &mut Client,
    verify: &Statement,
    params: [&(dyn ToSql + Sync); 4],
) -> Result<Reply, Failure> {
    let unknown = |e: &postgres::Error| {
        Failure::NotSaved(format!(
            "the verify was sent but its outcome is unknown ({}): the use may or may not be recorded. Check \
             the connection to the primary and its log",
            describe(e)
        ))
    };
    let before_row = |e: postgres::Error| {
        if outcome_unknown(&e) {
            unknown(&e)
        } else {
            Failure::NoVerdict(describe(&e))
        }
    };
    let mut rows = conn.query_raw(verify, params).map_err(before_row)?;
    let row = rows
        .next()
        .map_err(before_row)?
        .ok_or_else(|| Failure::NotSaved("totp.verify returned no row".into()))?;
    // The call ran (and may have committed): a row this code cannot read is not saved, never no verdict.
    let reply = verify_reply(&row).map_err(|e| match e {
        Failure::NoVerdict(why) | Failure::NotSaved(why) => Failure::NotSaved(why),
    })?;
    match rows.next() {
        Ok(None) => Ok(reply),
        Ok(Some(_)) => Err(Failure::NotSaved("totp.verify returned more than one row".into())),
        Err(e) => Err(unknown(&e)),
    }
}

/// Whether the fate of a call that failed with `e` before its row is unknown. An ERROR or FATAL report from
/// the server means the call's transaction was rolled back (a commit cut short while waiting for a
/// synchronous standby is the exception, and it is announced by a WARNING, which [`Db::saved`] catches);
/// a connection lost without a word, an I/O error or a PANIC leaves it unknown.
fn outcome_unknown(e: &postgres::Error) -> bool {
    !matches!(
        e.as_db_error().and_then(DbError::parsed_severity),
        Some(Severity::Error | Severity::Fatal)
    )
}

/// totp.enroll_self in a transaction of its own: `Added` with the new scratch codes, or the refusal.
fn enroll(conn: &mut Client, e: &Enrollment) -> Result<Reply, Failure> {
    let no_verdict = |e: postgres::Error| Failure::NoVerdict(describe(&e));
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

/// What the durability rule needs of a session, whatever the role, the database or the conninfo's `options`
/// set: a lock wait may end with an error (nothing is committed then), a statement is never cancelled by the
/// server, the WARNING of a cancelled wait for a synchronous standby reaches us (`client_min_messages` above
/// `warning` would hide it and turn that commit into an acceptance), and a commit waits for the synchronous
/// standbys (`synchronous_commit` below `on` does not); `remote_apply` is kept.
fn session_settings(conn: &mut Client, lock_timeout: u128) -> Result<(), postgres::Error> {
    conn.batch_execute(&format!(
        "SET lock_timeout = {lock_timeout}; SET statement_timeout = 0; SET client_min_messages = warning"
    ))?;
    let level: String = conn.query_one("SHOW synchronous_commit", &[])?.try_get(0)?;
    if level != "on" && level != "remote_apply" {
        conn.batch_execute("SET synchronous_commit = on")?;
    }
    Ok(())
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
