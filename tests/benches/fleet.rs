//! Benchmark of pam-totpd against PostgreSQL's own ceiling, run by `bench/fleet.sh`. Not a test: it prints
//! what ONE run measured and exits 1 when a target is missed, 2 when it cannot run.
//!
//! One throwaway PostgreSQL 15 cluster (pam-totpd/tests/common/cluster.rs: initdb/pg_ctl in a temporary
//! directory, Unix socket only, stopped when dropped, also after a panic) with the schema and `FLEET_USERS`
//! enrolled users (default 5000, each with its own random secret). Every request is a wrong code for a
//! random user from a random source address: the full `totp.verify` path (throttle upsert, lock check, HMACs,
//! failure count, event row) without tripping the per-(user, source) throttle or the per-user lock, which
//! would turn the request into a cheaper refusal. Phases:
//! 1. pgbench as a host role (`-M prepared`), a custom script calling `totp.verify`, 1 and 32 clients for
//!    `FLEET_SECONDS` (default 10) each: transactions/s and p50/p99 from pgbench's per-transaction log;
//! 2. pam-totpd (the binary cargo built, `--pool FLEET_POOL`, default 8) against the same database, driven
//!    through its Unix socket by 1 and 32 threads each sending verify requests with `pam_totp::pamd::ask`
//!    (the module's own client, one connection per request as the module does): verifies/s, p50/p99;
//! 3. the module's own cost per login: whole `pamh` processes through real libpam, `store=pamd` against the
//!    file backend (`noskewadj`: its cheapest wrong-code path), a wrong code, `FLEET_RUNS` rounds (default
//!    300) in a rotating order with the floor (pam_permit.so); per login the wall time and the process's CPU
//!    time (user + system, `getrusage(RUSAGE_CHILDREN)` around its wait), quartiles, and the pamd / file
//!    ratios over all rounds and their range over 5 blocks of rounds (the noise).
//!
//! Targets: pam-totpd's verifies/s at 32 clients >= 0.7 of pgbench's in the same run, its p99 at 32 clients
//! <= 25 ms, the module's own CPU time per login (median less the floor's) pamd / file <= 1.2: the cost inside
//! the process that runs pam_authenticate (sshd), not the database's work, which the wall time includes.
//!
//! Opt-in instead (`FLEET_HA=1`, [`ha`]): a primary with a synchronous standby, two pam-totpd (two host roles,
//! the multi-host conninfo), 64 clients for `FLEET_HA_SECONDS` (default 60) sending current and wrong codes
//! for 32 users: no code accepted twice for the same user and time step, every verdict a client got is one
//! audit row on the primary and on the standby (no lost count), p50/p99 reported.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../../pam-totpd/tests/common/cluster.rs"]
mod cluster;
#[path = "../tests/totp_common/mod.rs"]
mod totp_common;

use cluster::Cluster;
use pam_ffi::PamCode;
use pam_harness::{build_dir, module_path, Harness};
use pam_totp::pamd::{ask, read_frame, write_frame, Reply, Request};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};
use totp_common::{me, write_secret, wrong_code, SECRET};

const WRONG: &str = "000000";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Throughput and latency of one phase (latencies in ms, sorted).
struct Load {
    per_second: f64,
    lat: Vec<f64>,
    /// Replies other than the expected wrong-code refusal.
    other: usize,
}

impl Load {
    fn p(&self, q: f64) -> f64 {
        percentile(&self.lat, q)
    }
}

/// A running pam-totpd, killed when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(conninfo: &str, pool: u64) -> Result<Daemon, String> {
        let exe = build_dir().join("pam-totpd");
        if !exe.exists() {
            return Err(format!("{} not built: cargo build -p pam-totpd", exe.display()));
        }
        let dir = tempfile::Builder::new()
            .prefix("pam-totpd.")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let socket = dir.path().join("socket");
        let child = Command::new(exe)
            .args(["--socket", socket.to_str().unwrap(), "--pool", &pool.to_string()])
            .env("PAM_TOTPD_CONNINFO", conninfo)
            // It logs every malformed request of the floor phase: keep that out of the table.
            .stderr(std::fs::File::create(dir.path().join("stderr")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start pam-totpd: {e}"))?;
        let daemon = Daemon {
            child,
            socket,
            _dir: dir,
        };
        let start = Instant::now();
        while UnixStream::connect(&daemon.socket).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err("pam-totpd did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// pgbench as role `host1` with `clients` clients for `secs` seconds; latencies from its `-l` log.
fn pgbench(cluster: &Cluster, users: u64, clients: u64, secs: u64) -> Result<Load, String> {
    let dir = cluster.socket_dir();
    let run = dir.join(format!("pgbench-{clients}"));
    std::fs::create_dir_all(&run).map_err(|e| e.to_string())?;
    let script = run.join("verify.sql");
    std::fs::write(
        &script,
        format!(
            "\\set u random(1, {users})\n\\set r random(1, 1000000000)\n\
             SELECT totp.verify('u' || :u, '{WRONG}', 'r' || :r, 'bench');\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    if pam_ffi::os::effective_uid() == 0 {
        let pw = pam_ffi::os::user_by_name("postgres").ok_or("no postgres user")?;
        std::os::unix::fs::chown(&run, Some(pw.uid), Some(pw.gid)).map_err(|e| e.to_string())?;
    }
    let exe =
        PathBuf::from(std::env::var("PG_BINDIR").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()))
            .join("pgbench");
    let mut cmd = if pam_ffi::os::effective_uid() == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let threads = clients.min(2).to_string();
    let out = cmd
        .current_dir(&run)
        .args(["-n", "-M", "prepared", "-l", "-h"])
        .arg(dir)
        .args(["-U", "host1", "-c", &clients.to_string(), "-j", &threads])
        .args(["-T", &secs.to_string(), "-f"])
        .arg(&script)
        .arg("postgres")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "pgbench failed: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let per_second = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench's output: {text}"))?;
    let mut lat = Vec::new();
    for entry in std::fs::read_dir(&run).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pgbench_log"))
        {
            continue;
        }
        let log = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        // client_id transaction_no time_us script_no epoch epoch_us
        lat.extend(
            log.lines()
                .filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok())
                .map(|us| us / 1e3),
        );
    }
    if lat.is_empty() {
        return Err("pgbench wrote no per-transaction log".into());
    }
    lat.sort_by(f64::total_cmp);
    Ok(Load {
        per_second,
        lat,
        other: 0,
    })
}

/// `clients` threads sending verify requests (wrong code, random user and source) through pam-totpd's
/// socket for `secs` seconds.
fn drive_daemon(socket: &Path, users: u64, clients: u64, secs: u64) -> Load {
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || {
                let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
                let mut next = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                };
                let (mut lat, mut other) = (Vec::new(), 0usize);
                while Instant::now() < end {
                    let request = Request::Verify {
                        user: format!("u{}", next() % users + 1),
                        code: WRONG.to_owned(),
                        rhost: format!("r{}", next() % 1_000_000_000),
                        service: "bench".to_owned(),
                    };
                    let t0 = Instant::now();
                    let reply = ask(&socket, &request, Duration::from_secs(3));
                    lat.push(t0.elapsed().as_secs_f64() * 1e3);
                    if !matches!(&reply, Reply::Refused { reason, .. } if reason == "wrong-code") {
                        other += 1;
                    }
                }
                (lat, other)
            })
        })
        .collect();
    let (mut lat, mut other) = (Vec::new(), 0);
    for t in threads {
        let (l, o) = t.join().unwrap();
        lat.extend(l);
        other += o;
    }
    let took = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Load {
        per_second: lat.len() as f64 / took,
        lat,
        other,
    }
}

/// One client sending a malformed request (one connection each, as `ask` makes) for `secs` seconds: the daemon
/// answers `unavailable` without asking the database, so this is the socket and thread path alone.
fn daemon_floor(socket: &Path, secs: u64) -> Load {
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let (mut lat, mut other) = (Vec::new(), 0);
    while Instant::now() < end {
        let t0 = Instant::now();
        let reply = UnixStream::connect(socket).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write_frame(&mut s, &[0xff])?;
            read_frame(&mut s)
        });
        lat.push(t0.elapsed().as_secs_f64() * 1e3);
        let unavailable = matches!(&reply, Ok(Some(body))
            if matches!(Reply::decode(body), Ok(Reply::Unavailable { .. })));
        if !unavailable {
            other += 1;
        }
    }
    let took = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Load {
        per_second: lat.len() as f64 / took,
        lat,
        other,
    }
}

/// Wall time and CPU time (user + system, `getrusage(RUSAGE_CHILDREN)` around the wait) of one login, in ms.
#[derive(Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
}

/// One timed whole-process login through `svc` with a wrong code; checks the answer.
fn login(h: &Harness, svc: &str, code: &str) -> Result<Cost, String> {
    let want = if svc == "permit" {
        PamCode::Success
    } else {
        PamCode::AuthErr
    };
    let run = h.run(svc).user(&me()).reply(code);
    let cpu0 = pam_ffi::os::children_cpu_time().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let o = run.go();
    let wall = start.elapsed().as_secs_f64() * 1e3;
    let cpu = (pam_ffi::os::children_cpu_time().map_err(|e| e.to_string())? - cpu0).as_secs_f64() * 1e3;
    let got = o.results.last().map(|r| r.1);
    let refused_wrong = svc != "pamd" || o.logs.iter().any(|l| l.text.contains("wrong-code"));
    if !o.status.success() || got != Some(want) || !refused_wrong {
        return Err(format!(
            "{svc}: expected {want:?} (wrong-code), got {got:?}\nlogs: {:#?}\n{}",
            o.logs, o.stderr
        ));
    }
    Ok(Cost { wall, cpu })
}

/// The logins of phase 3, per service, in round order.
struct Logins {
    pamd: Vec<Cost>,
    file: Vec<Cost>,
    floor: Vec<Cost>,
}

/// Quartiles (p25, p50, p75) of one measure.
fn quartiles(costs: &[Cost], measure: fn(&Cost) -> f64) -> [f64; 3] {
    let mut v: Vec<f64> = costs.iter().map(measure).collect();
    v.sort_by(f64::total_cmp);
    [percentile(&v, 0.25), percentile(&v, 0.5), percentile(&v, 0.75)]
}

impl Logins {
    /// median(pamd) / median(file) of `measure`, less the floor's median from both when `less_floor`.
    fn ratio(
        pamd: &[Cost],
        file: &[Cost],
        floor: &[Cost],
        measure: fn(&Cost) -> f64,
        less_floor: bool,
    ) -> f64 {
        let m = |c: &[Cost]| median(c.iter().map(measure).collect());
        let base = if less_floor { m(floor) } else { 0.0 };
        (m(pamd) - base) / (m(file) - base)
    }

    /// The ratio over all rounds and its range over `blocks` consecutive blocks of rounds (the noise).
    fn ratio_spread(&self, measure: fn(&Cost) -> f64, less_floor: bool, blocks: usize) -> (f64, f64, f64) {
        let all = Self::ratio(&self.pamd, &self.file, &self.floor, measure, less_floor);
        let size = (self.pamd.len() / blocks).max(1);
        let per_block: Vec<f64> = (0..self.pamd.len() / size)
            .map(|b| {
                let r = b * size..(b + 1) * size;
                Self::ratio(
                    &self.pamd[r.clone()],
                    &self.file[r.clone()],
                    &self.floor[r],
                    measure,
                    less_floor,
                )
            })
            .collect();
        let lo = per_block.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_block.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (all, lo, hi)
    }
}

/// Phase 3: pamd vs file backend, whole `pamh` processes, rotating order.
fn module_cost(cluster: &Cluster, socket: &Path, runs: u64) -> Result<Logins, String> {
    let body = format!("{SECRET}\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n");
    let wrong = wrong_code(&body);
    let h = Harness::new();
    let so = module_path("pam_totp");
    write_secret(&h.root().join(format!("{}.ga", me())), body.as_bytes());
    h.service(
        "pamd",
        &format!("auth required {} store=pamd:{}\n", so.display(), socket.display()),
    );
    h.service(
        "file",
        &format!(
            "auth required {} secret={}/${{USER}}.ga noskewadj\n",
            so.display(),
            h.root().display()
        ),
    );
    h.service("permit", "auth required pam_permit.so\n");
    // The login user, enrolled with the same secret; the throttle lifted for it (pamh sets no PAM_RHOST, so
    // every login comes from the same empty source) and its failure count reset between batches (untimed),
    // so that every login takes the full wrong-code path rather than a rate-limited or locked refusal.
    cluster.psql(&format!(
        "SELECT totp.admin_add_token('{}', 'phone', totp.base32_decode('{SECRET}'));
         UPDATE totp.setting SET rate_attempts = 1000000000",
        me()
    ));
    let order = ["pamd", "file", "permit"];
    let (mut pamd, mut file, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..runs as usize {
        if round % 50 == 0 {
            cluster.psql(&format!(
                "UPDATE totp.account SET failures = 0 WHERE username = '{}'",
                me()
            ));
        }
        for k in 0..3 {
            let svc = order[(round + k) % 3];
            let t = login(&h, svc, &wrong)?;
            match svc {
                "pamd" => pamd.push(t),
                "file" => file.push(t),
                _ => floor.push(t),
            }
        }
    }
    Ok(Logins { pamd, file, floor })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn run() -> Result<bool, String> {
    let users = env_or("FLEET_USERS", 5000);
    let secs = env_or("FLEET_SECONDS", 10);
    let runs = env_or("FLEET_RUNS", 300);
    let pool = env_or("FLEET_POOL", 8);
    println!(
        "fleet bench: {users} enrolled users, {secs} s per load phase, pam-totpd --pool {pool}, {runs} login rounds"
    );
    let cluster = Cluster::start();
    println!(
        "PostgreSQL: {}",
        cluster.psql("SELECT current_setting('server_version')")
    );
    cluster.psql(&format!(
        "SELECT totp.admin_add_token('u' || i, 'phone', totp_crypto.gen_random_bytes(20))
         FROM generate_series(1, {users}) AS i"
    ));

    let mut rows: Vec<(String, Load)> = Vec::new();
    for clients in [1, 32] {
        rows.push((
            format!("pgbench, {clients} clients"),
            pgbench(&cluster, users, clients, secs)?,
        ));
    }
    let daemon = Daemon::start(&cluster.conninfo("host1"), pool)?;
    for clients in [1, 32] {
        rows.push((
            format!("pam-totpd, {clients} clients"),
            drive_daemon(&daemon.socket, users, clients, secs),
        ));
    }
    rows.push((
        "pam-totpd, no database".to_owned(),
        daemon_floor(&daemon.socket, secs.min(3)),
    ));
    let outcomes = cluster.psql(
        "SELECT string_agg(detail || '=' || n, ', ' ORDER BY n DESC) FROM
         (SELECT detail, count(*) AS n FROM totp.event GROUP BY detail) AS e",
    );

    println!(
        "\n{:<24} {:>10} {:>9} {:>9} {:>8}",
        "load (wrong code)", "per second", "p50 ms", "p99 ms", "other"
    );
    for (name, l) in &rows {
        println!(
            "{name:<24} {:>10.0} {:>9.2} {:>9.2} {:>8}",
            l.per_second,
            l.p(0.5),
            l.p(0.99),
            l.other
        );
    }
    println!("(no database: one client, a malformed request that pam-totpd refuses without a query)");
    println!("database verdicts over all phases: {outcomes}");

    let logins = module_cost(&cluster, &daemon.socket, runs)?;
    println!("\nper login (pamh, whole process, wrong code, {runs} rounds): p25 / median / p75 in ms");
    println!("{:<20} {:>22} {:>22}", "", "wall time", "CPU time (user+sys)");
    for (name, costs) in [
        ("pamd", &logins.pamd),
        ("file", &logins.file),
        ("floor (pam_permit)", &logins.floor),
    ] {
        let [w25, w50, w75] = quartiles(costs, |c| c.wall);
        let [c25, c50, c75] = quartiles(costs, |c| c.cpu);
        println!("{name:<20} {w25:>6.2} / {w50:>5.2} / {w75:>5.2} {c25:>7.2} / {c50:>5.2} / {c75:>5.2}");
    }
    const BLOCKS: usize = 5;
    let wall_ratio = logins.ratio_spread(|c| c.wall, false, BLOCKS);
    let cpu_ratio = logins.ratio_spread(|c| c.cpu, false, BLOCKS);
    let own_cpu_ratio = logins.ratio_spread(|c| c.cpu, true, BLOCKS);
    println!("pamd / file, medians (range over {BLOCKS} blocks of rounds):");
    for (name, (all, lo, hi)) in [
        ("wall time, whole process", wall_ratio),
        ("CPU time, whole process", cpu_ratio),
        ("CPU time, module only (less floor)", own_cpu_ratio),
    ] {
        println!("  {name:<36} {all:.3} ({lo:.3} .. {hi:.3})");
    }

    let ratio = rows[3].1.per_second / rows[1].1.per_second;
    let p99 = rows[3].1.p(0.99);
    let login_ratio = own_cpu_ratio.0;
    let clean = rows.iter().all(|(_, l)| l.other == 0);
    let targets = [
        (
            "pam-totpd / pgbench verifies/s, 32 clients",
            format!("{ratio:.3}"),
            ">= 0.70",
            ratio >= 0.7,
        ),
        (
            "pam-totpd p99, 32 clients",
            format!("{p99:.2} ms"),
            "<= 25 ms",
            p99 <= 25.0,
        ),
        (
            "module CPU per login pamd / file, median",
            format!("{login_ratio:.3}"),
            "<= 1.20",
            login_ratio <= 1.2,
        ),
    ];
    println!("\n{:<44} {:>10} {:>9}  verdict", "target", "measured", "target");
    for (name, measured, target, ok) in &targets {
        println!("{name:<44} {measured:>10} {target:>9}  {}", verdict(*ok));
    }
    if !clean {
        println!(
            "some replies were not wrong-code refusals (column `other`): the load was not the intended one"
        );
    }
    drop(daemon);
    Ok(clean && targets.iter().all(|t| t.3))
}

/// What one HA client saw.
#[derive(Default)]
struct Seen {
    lat: Vec<f64>,
    /// (user, time step) of each accepted code.
    accepted: Vec<(u64, u64)>,
    /// Replies with a verdict (accepted or refused), by reason.
    verdicts: std::collections::BTreeMap<String, u64>,
    unavailable: u64,
}

/// One HA client: current codes (every other request) and wrong ones for random users of `users`, from
/// its own source address, through `socket`, until `end`.
fn ha_client(socket: &Path, t: u64, users: u64, end: Instant) -> Seen {
    use pam_totp::otp::{format_code, time_step, Algorithm, Digits, Otp, SecretKey};
    let key = SecretKey::from_slice(b"Hello!\xde\xad\xbe\xef"); // JBSWY3DPEHPK3PXP
    let otp = Otp::new(&key, Algorithm::Sha1, Digits::new(6).unwrap()).unwrap();
    let period = std::num::NonZeroU64::new(30).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut seen = Seen::default();
    while Instant::now() < end {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let user = state % users + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = if state & (1 << 40) == 0 {
            format_code(otp.totp(now, period), otp.digits()).to_string()
        } else {
            WRONG.to_owned()
        };
        let request = Request::Verify {
            user: format!("ha{user}"),
            code,
            rhost: format!("10.0.{t}.1"),
            service: "bench-ha".to_owned(),
        };
        let t0 = Instant::now();
        let reply = ask(socket, &request, Duration::from_secs(5));
        seen.lat.push(t0.elapsed().as_secs_f64() * 1e3);
        let reason = match reply {
            Reply::Accepted { .. } => {
                seen.accepted.push((user, time_step(now, period)));
                "accepted".to_owned()
            }
            Reply::Refused { reason, .. } => reason,
            _ => {
                seen.unavailable += 1;
                continue;
            }
        };
        *seen.verdicts.entry(reason).or_default() += 1;
    }
    seen
}

/// The opt-in HA case: see the file's comment. Returns whether its checks held.
fn ha(pool: u64) -> Result<bool, String> {
    let secs = env_or("FLEET_HA_SECONDS", 60);
    let users = 32;
    println!("fleet HA bench: primary + synchronous standby, 2 hosts, 64 clients, {users} users, {secs} s");
    let primary = Cluster::start();
    let standby = Cluster::standby_of(&primary);
    primary.set_synchronous(true);
    // A short cool-down: wrong codes lock users often, and a lock should not end the accepting.
    primary.psql(&format!(
        "SELECT totp.admin_add_token('ha' || i, 'phone', totp.base32_decode('JBSWY3DPEHPK3PXP'))
         FROM generate_series(1, {users}) AS i;
         UPDATE totp.setting SET cooldown = interval '2 seconds'"
    ));
    let conninfo = |role: &str| {
        format!(
            "host={},{} user={role} dbname=postgres target_session_attrs=read-write",
            primary.socket_dir().display(),
            standby.socket_dir().display()
        )
    };
    let hosts = [
        Daemon::start(&conninfo("host1"), pool)?,
        Daemon::start(&conninfo("host2"), pool)?,
    ];
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let seen: Vec<Seen> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..64u64)
            .map(|t| {
                let socket = &hosts[(t % 2) as usize].socket;
                s.spawn(move || ha_client(socket, t, users, end))
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let took = start.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = seen.iter().flat_map(|c| c.lat.iter().copied()).collect();
    lat.sort_by(f64::total_cmp);
    let mut accepted: Vec<(u64, u64)> = seen.iter().flat_map(|c| c.accepted.iter().copied()).collect();
    accepted.sort_unstable();
    let all = accepted.len();
    accepted.dedup();
    let replays = all - accepted.len();
    let mut verdicts = std::collections::BTreeMap::<String, u64>::new();
    for (reason, n) in seen.iter().flat_map(|c| c.verdicts.iter()) {
        *verdicts.entry(reason.clone()).or_default() += n;
    }
    let answered: u64 = verdicts.values().sum();
    let unavailable: u64 = seen.iter().map(|c| c.unavailable).sum();
    let count = "SELECT count(*) FROM totp.event WHERE service = 'bench-ha'";
    let on_primary: u64 = primary.psql(count).parse().map_err(|e| format!("{e}"))?;
    standby.wait_for(&format!("SELECT ({count}) = {on_primary}"));
    let load = Load {
        per_second: lat.len() as f64 / took,
        lat,
        other: 0,
    };
    println!(
        "requests/s {:.0}, p50 {:.2} ms, p99 {:.2} ms, unavailable {unavailable}",
        load.per_second,
        load.p(0.5),
        load.p(0.99)
    );
    println!("verdicts: {verdicts:?}");
    println!(
        "audit rows: {on_primary} on the primary, the same on the standby; verdicts answered: {answered}"
    );
    let checks = [
        ("no code accepted twice (user, time step)", replays == 0),
        (
            "every verdict is one audit row (unknown outcomes may add rows)",
            on_primary >= answered && on_primary <= answered + unavailable,
        ),
        ("some codes were accepted", all > 0),
    ];
    for (name, ok) in &checks {
        println!("{name:<64} {}", verdict(*ok));
    }
    Ok(checks.iter().all(|c| c.1))
}

fn main() -> ExitCode {
    let ha_only = std::env::var("FLEET_HA").is_ok_and(|v| v == "1");
    let result = if ha_only {
        std::panic::catch_unwind(|| ha(env_or("FLEET_POOL", 8)))
    } else {
        std::panic::catch_unwind(run)
    };
    match result {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(e)) => {
            eprintln!("fleet bench: cannot run: {e}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("fleet bench: cannot run (see the panic above)");
            ExitCode::from(2)
        }
    }
}
