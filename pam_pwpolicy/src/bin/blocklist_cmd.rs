//! `pwpolicy build-blocklist` and `pwpolicy check-blocklist`: the admin side of the breached-password
//! blocklist (format: `docs/blocklist-format.md`, core: `pam_pwpolicy::blocklist`).
//!
//! The builder streams its input once, in bounded memory whatever its size: each key (8 bytes) goes to one
//! of 256 temporary files chosen by its top 8 bits, next to the output. Then it loads those files in order
//! (one at a time, or a group of them when the output has fewer than 256 shards), sorts and deduplicates the
//! keys, builds each output shard's binary fuse filter (at most ~2^17 keys per shard, see
//! `blocklist::TARGET_SHARD_KEYS`) and appends it to a temporary output file, which is then checksummed,
//! fsynced, renamed over OUTPUT, and the directory fsynced (every failure is reported). A progress bar is
//! drawn on stderr when it is a terminal (cut to its width, with an ETA); otherwise a plain progress line is
//! printed every 10 seconds (cron, logs).
//!
//! The CLI prints to stdout and stderr; the module never runs this code.
#![forbid(unsafe_code)]

use crate::Error;
use pam_ffi::file;
use pam_pwpolicy::blocklist::{self, Blocklist, LineError, Writer};
use pam_pwpolicy::fuse;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Usage of both commands.
pub const USAGE: &str =
    "       pwpolicy build-blocklist INPUT OUTPUT [--plain] [--min-count N] [--tmpdir DIR]
       pwpolicy check-blocklist FILE";

/// Top bits used to spread keys over temporary files during the build.
const PRE_BITS: u32 = 8;

fn fail(error: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::failed(error, hint)
}

fn io_fail(what: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Options of `build-blocklist`.
#[derive(Debug, Default)]
struct BuildArgs {
    input: String,
    output: PathBuf,
    plain: bool,
    min_count: Option<u64>,
    tmpdir: Option<PathBuf>,
}

fn parse_build(args: &[String]) -> Result<BuildArgs, Error> {
    let mut out = BuildArgs::default();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--plain" => out.plain = true,
            "--min-count" => {
                let v = it
                    .next()
                    .ok_or_else(|| fail("--min-count needs a value", "e.g. --min-count 10"))?;
                out.min_count = Some(v.parse().map_err(|_| {
                    fail(
                        format!("--min-count: `{v}` is not a number"),
                        "e.g. --min-count 10",
                    )
                })?);
            }
            "--tmpdir" => {
                let v = it
                    .next()
                    .ok_or_else(|| fail("--tmpdir needs a value", "e.g. --tmpdir /var/tmp"))?;
                out.tmpdir = Some(PathBuf::from(v));
            }
            "-" => positional.push(a.clone()),
            flag if flag.starts_with('-') => {
                return Err(fail(format!("unknown flag `{flag}`"), USAGE));
            }
            _ => positional.push(a.clone()),
        }
    }
    match positional.as_slice() {
        [input, output] => {
            out.input = input.clone();
            out.output = PathBuf::from(output);
        }
        _ => {
            return Err(fail(
                "build-blocklist needs INPUT and OUTPUT",
                format!("INPUT is the HIBP SHA-1 file (or - for stdin)\n{USAGE}"),
            ))
        }
    }
    if out.plain && out.min_count.is_some() {
        return Err(fail(
            "--min-count needs HASH:COUNT lines, not --plain passwords",
            "drop one of the two flags",
        ));
    }
    Ok(out)
}

/// Progress on stderr. On a terminal: one line redrawn in place at most 4 times a second, cut to the
/// terminal's width (a wrapped line would leave a staircase), with a bar when it fits. Otherwise (cron, a
/// log file): a plain line every [`PLAIN_EVERY`]. Both carry the percentage and an ETA when the total is
/// known.
struct Progress {
    /// Terminal columns; `None`: stderr is not a terminal.
    columns: Option<usize>,
    start: Instant,
    phase: &'static str,
    phase_start: Instant,
    last: Instant,
}

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// How often the terminal line is redrawn.
const TTY_EVERY: Duration = Duration::from_millis(250);

/// Columns of the terminal on stderr: `COLUMNS` when set, else `stty size` run on it, else 80.
fn stderr_columns() -> usize {
    use std::os::fd::AsFd;
    let env = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    let stty = || {
        let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
        let out = std::process::Command::new("stty")
            .arg("size")
            .stdin(std::process::Stdio::from(fd))
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        String::from_utf8(out.stdout)
            .ok()?
            .split_whitespace()
            .nth(1)?
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
    };
    env.or_else(stty).unwrap_or(80)
}

/// `1h02m`, `3m05s`, `42s`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The time left if the rest goes as fast as `done` took `elapsed`; `None` before there is a basis.
fn eta(done: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if done == 0 || total == 0 || elapsed < Duration::from_secs(1) {
        return None;
    }
    let left = total.saturating_sub(done) as f64;
    Some(Duration::from_secs_f64(
        elapsed.as_secs_f64() * left / done as f64,
    ))
}

/// One progress line: `PHASE: [bar] PCT% DETAIL, ETA T`. `columns`: the terminal's width; the line is cut
/// to one less (no wrap, whatever the terminal does in its last column) and the bar (at most 30 cells) is
/// left out when fewer than 10 cells fit. `None`: a plain line for a log, without a bar. `total` 0: unknown
/// (no percentage, no ETA).
fn progress_line(
    phase: &str,
    done: u64,
    total: u64,
    elapsed: Duration,
    detail: &str,
    columns: Option<usize>,
) -> String {
    let pct = (total > 0).then(|| format!("{:3}% ", (done.min(total) * 100) / total));
    let eta = eta(done, total, elapsed).map(|d| format!(", ETA {}", duration_text(d)));
    let text = format!(
        "{}{detail}{}",
        pct.as_deref().unwrap_or(""),
        eta.as_deref().unwrap_or("")
    );
    let Some(columns) = columns else {
        return format!("{phase}: {text}");
    };
    let room = columns.saturating_sub(1);
    // "PHASE: " + "[" + bar + "] " + text
    let fixed = phase.len() + 2 + 3 + text.len();
    let cells = room.saturating_sub(fixed).min(30);
    let line = if total > 0 && cells >= 10 {
        let filled = usize::try_from((done.min(total) * cells as u64) / total).unwrap_or(0);
        format!(
            "{phase}: [{}{}] {text}",
            "#".repeat(filled),
            ".".repeat(cells - filled.min(cells))
        )
    } else {
        format!("{phase}: {text}")
    };
    line.chars().take(room).collect()
}

impl Progress {
    fn new() -> Self {
        let now = Instant::now();
        Progress {
            columns: io::stderr().is_terminal().then(stderr_columns),
            start: now,
            phase: "reading",
            phase_start: now,
            last: now,
        }
    }

    /// Whether a line is due now (and, if so, the clock restarts).
    fn due(&mut self) -> bool {
        let every = if self.columns.is_some() {
            TTY_EVERY
        } else {
            PLAIN_EVERY
        };
        if self.last.elapsed() < every {
            return false;
        }
        self.last = Instant::now();
        true
    }

    /// Starts a phase (`reading`, `building`): its ETA counts from now.
    fn begin(&mut self, phase: &'static str) {
        self.phase = phase;
        self.phase_start = Instant::now();
    }

    /// Shows where the phase is: `done` of `total` (0: unknown).
    fn show(&self, done: u64, total: u64, detail: &str) {
        let line = progress_line(
            self.phase,
            done,
            total,
            self.phase_start.elapsed(),
            detail,
            self.columns,
        );
        let mut err = io::stderr().lock();
        let _ = match self.columns {
            Some(_) => write!(err, "\r\x1b[2K{line}"),
            None => writeln!(err, "pwpolicy: build-blocklist: {line}"),
        };
    }

    fn done(&self) {
        if self.columns.is_some() {
            let _ = writeln!(io::stderr().lock());
        }
    }
}

/// Deletes the temporary shard directory (and a half-written output) on every path.
struct TempPaths {
    dir: PathBuf,
    out: Option<PathBuf>,
}

impl Drop for TempPaths {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        if let Some(o) = &self.out {
            let _ = fs::remove_file(o);
        }
    }
}

struct Counts {
    lines: u64,
    keys: u64,
    below_min: u64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Streams the input into the shard files.
fn split_input(
    a: &BuildArgs,
    writers: &mut [BufWriter<File>],
    progress: &mut Progress,
) -> Result<Counts, Error> {
    let (reader, total): (Box<dyn Read>, u64) = if a.input == "-" {
        (Box::new(io::stdin().lock()), 0)
    } else {
        let p = Path::new(&a.input);
        let f = File::open(p).map_err(|e| io_fail("cannot open", p, e))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(f), len)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::with_capacity(256);
    let mut c = Counts {
        lines: 0,
        keys: 0,
        below_min: 0,
    };
    let mut read_bytes = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| fail(format!("cannot read {}: {e}", a.input), "check the input file"))?;
        if n == 0 {
            break;
        }
        read_bytes += n as u64;
        c.lines += 1;
        let keys: [Option<u64>; 2] = if a.plain {
            let mut pw: &[u8] = &line;
            if let Some(p) = pw.strip_suffix(b"\n") {
                pw = p;
            }
            if let Some(p) = pw.strip_suffix(b"\r") {
                pw = p;
            }
            if pw.is_empty() {
                continue;
            }
            blocklist::password_keys(pw)
        } else {
            match blocklist::parse_hibp_line(&line) {
                Ok(None) => continue,
                Ok(Some((key, count))) => {
                    if let Some(min) = a.min_count {
                        let Some(count) = count else {
                            return Err(fail(
                                format!("{}: line {}: no count after the hash", a.input, c.lines),
                                "--min-count needs the HIBP `HASH:COUNT` lines",
                            ));
                        };
                        if count < min {
                            c.below_min += 1;
                            continue;
                        }
                    }
                    [Some(key), None]
                }
                Err(e) => return Err(line_error(&a.input, c.lines, &e)),
            }
        };
        for key in keys.into_iter().flatten() {
            let shard = usize::try_from(blocklist::shard_of(key, PRE_BITS)).unwrap_or(0);
            let w = writers
                .get_mut(shard)
                .ok_or_else(|| fail("internal error: shard out of range", "report this bug"))?;
            w.write_all(&key.to_le_bytes()).map_err(|e| {
                fail(
                    format!("cannot write a temporary shard file: {e}"),
                    "check the free space (8 bytes per hash), or use --tmpdir",
                )
            })?;
            c.keys += 1;
        }
        if c.lines.is_multiple_of(65_536) && progress.due() {
            let secs = progress.start.elapsed().as_secs_f64().max(0.001);
            let rate = mib(read_bytes) / secs;
            // The line count only when there is no percentage: the bar needs the room at 80 columns.
            let detail = if total > 0 {
                format!("{:.0}/{:.0} MiB, {rate:.0} MiB/s", mib(read_bytes), mib(total))
            } else {
                format!("{:.0} MiB, {} lines, {rate:.0} MiB/s", mib(read_bytes), c.lines)
            };
            progress.show(read_bytes, total, &detail);
        }
    }
    Ok(c)
}

fn line_error(input: &str, line: u64, e: &LineError) -> Error {
    fail(
        format!("{input}: line {line}: {e}"),
        "INPUT must be the HIBP \"ordered by hash\" SHA-1 file (SHA1HEX:COUNT lines), or use --plain for one password per line",
    )
}

fn read_keys(path: &Path, into: &mut Vec<u64>) -> Result<(), Error> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| io_fail("cannot read", path, e))?;
    into.reserve(bytes.len() / 8);
    for chunk in bytes.chunks_exact(8) {
        let mut k = [0u8; 8];
        k.copy_from_slice(chunk);
        into.push(u64::from_le_bytes(k));
    }
    let _ = fs::remove_file(path);
    Ok(())
}

/// Sorted, distinct keys loaded from the temporary files, consumed shard by shard from the front.
struct Pending {
    keys: Vec<u64>,
    at: usize,
    next_pre: u64,
}

impl Pending {
    /// The keys of output shard `shard` (of `1 << bits`): loads the temporary files it needs first.
    fn take(&mut self, dir: &Path, shard: u64, bits: u32) -> Result<&[u64], Error> {
        while self.next_pre < 1 << PRE_BITS
            && blocklist::shard_of(self.next_pre << (64 - PRE_BITS), bits) <= shard
        {
            self.keys.drain(..self.at);
            self.at = 0;
            let from = self.keys.len();
            read_keys(&dir.join(format!("{:03}", self.next_pre)), &mut self.keys)?;
            // Each file holds a higher range of keys than the ones before it: sorting it keeps all sorted.
            self.keys.get_mut(from..).unwrap_or_default().sort_unstable();
            self.keys.dedup();
            self.next_pre += 1;
        }
        let rest = self.keys.get(self.at..).unwrap_or_default();
        let n = rest
            .iter()
            .take_while(|&&k| blocklist::shard_of(k, bits) == shard)
            .count();
        let start = self.at;
        self.at += n;
        Ok(self.keys.get(start..start + n).unwrap_or_default())
    }
}

/// `pwpolicy build-blocklist`.
pub fn build(args: &[String]) -> Result<ExitCode, Error> {
    let a = parse_build(args)?;
    let started = Instant::now();
    let out_dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = a
        .output
        .file_name()
        .ok_or_else(|| fail("OUTPUT has no file name", USAGE))?
        .to_string_lossy()
        .into_owned();
    let work = a.tmpdir.clone().unwrap_or_else(|| out_dir.clone());
    let pid = std::process::id();
    let mut temp = TempPaths {
        dir: work.join(format!(".{name}.shards.{pid}")),
        out: None,
    };
    fs::create_dir(&temp.dir).map_err(|e| io_fail("cannot create", &temp.dir, e))?;
    let mut writers = Vec::with_capacity(1 << PRE_BITS);
    for i in 0..1u32 << PRE_BITS {
        let p = temp.dir.join(format!("{i:03}"));
        let f = File::create(&p).map_err(|e| io_fail("cannot create", &p, e))?;
        writers.push(BufWriter::with_capacity(1 << 16, f));
    }

    let mut progress = Progress::new();
    let counts = split_input(&a, &mut writers, &mut progress)?;
    for w in &mut writers {
        w.flush().map_err(|e| {
            fail(
                format!("cannot write a temporary shard file: {e}"),
                "check the free space",
            )
        })?;
    }
    drop(writers);
    let read_secs = started.elapsed().as_secs_f64();

    let bits = blocklist::choose_shard_bits(counts.keys, blocklist::MAX_SHARD_BITS);
    let dir = file::open_dir(&out_dir).map_err(|e| io_fail("cannot open the directory", &out_dir, e))?;
    let tmp_out = out_dir.join(format!(".{name}.tmp.{pid}"));
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp_out)
            .map_err(|e| io_fail("cannot create", &tmp_out, e))?
    };
    temp.out = Some(tmp_out.clone());
    let mut w = Writer::new(file, bits).map_err(|e| io_fail("cannot write", &tmp_out, e))?;
    let shards = 1u64 << bits;
    let mut pending = Pending {
        keys: Vec::new(),
        at: 0,
        next_pre: 0,
    };
    let mut distinct = 0u64;
    let mut largest = 0usize;
    progress.begin("building");
    for shard in 0..shards {
        let keys = pending.take(&temp.dir, shard, bits)?;
        distinct += keys.len() as u64;
        largest = largest.max(keys.len());
        let filter = fuse::build(keys, blocklist::shard_seed_state(shard))
            .map_err(|e| fail(format!("shard {shard}: {e}"), "report this bug"))?;
        w.add_shard(&filter)
            .map_err(|e| io_fail("cannot write", &tmp_out, e))?;
        if progress.due() || (progress.columns.is_some() && shard + 1 == shards) {
            progress.show(shard + 1, shards, &format!("shard {}/{shards}", shard + 1));
        }
    }
    drop(pending);
    let (out_file, len) = w.finish().map_err(|e| io_fail("cannot write", &tmp_out, e))?;
    if let Err(e) = file::publish(&out_file, &tmp_out, &a.output, &dir) {
        if e.renamed {
            temp.out = None;
        }
        return Err(io_fail(e.step, &a.output, e.error));
    }
    temp.out = None;
    drop(temp);
    progress.done();

    let secs = started.elapsed().as_secs_f64();
    let mut report = format!(
        "wrote {}: {distinct} distinct hashes ({} lines read",
        a.output.display(),
        counts.lines
    );
    if let Some(min) = a.min_count {
        report.push_str(&format!(", {} below --min-count {min}", counts.below_min));
    }
    report.push_str(&format!(
        ", {} duplicates), {len} bytes = {:.2} bits per entry, {shards} shard(s) (largest {largest} hashes), false-positive rate ~{:.2e}; {secs:.1} s ({read_secs:.1} s reading)",
        counts.keys - distinct,
        len as f64 * 8.0 / distinct.max(1) as f64,
        1.0 / 65536.0
    ));
    let _ = writeln!(io::stdout().lock(), "{report}");
    Ok(ExitCode::SUCCESS)
}

/// `pwpolicy check-blocklist FILE`: structure, the whole-file checksum, and on a mismatch the first
/// damaged shard.
pub fn check_file(args: &[String]) -> Result<ExitCode, Error> {
    let [path] = args else {
        return Err(fail("check-blocklist needs exactly one FILE", USAGE));
    };
    let path = std::path::absolute(path).map_err(|e| fail(format!("{path}: {e}"), USAGE))?;
    let at = path.display();
    let hint = "rebuild it with `pwpolicy build-blocklist`, or copy it again (then rename it into place)";
    let file = blocklist::open(&path).map_err(|e| fail(e, hint))?;
    let bl = Blocklist::parse(&file).map_err(|e| fail(format!("{at}: {e}"), hint))?;
    if let Err(e) = bl.verify_checksum() {
        let which = bl
            .verify_shards()
            .err()
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        return Err(fail(format!("{at}: {e}{which}"), hint));
    }
    let _ = writeln!(
        io::stdout().lock(),
        "{at}: ok: format version {}, {} hashes, {} shard(s), {} bytes = {:.2} bits per entry, checksum verified",
        blocklist::VERSION,
        bl.entries(),
        bl.shards(),
        bl.len_bytes(),
        bl.bits_per_entry()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn given_80_columns_then_every_progress_line_fits_in_79_with_bar_percentage_and_eta() {
        let t = Duration::from_secs(30);
        for (done, total) in [(0, 1u64 << 35), (1 << 30, 1 << 35), (1 << 35, 1 << 35)] {
            let detail = "32768/32768 MiB, 1234 MiB/s";
            let line = progress_line("reading", done, total, t, detail, Some(80));
            assert!(line.chars().count() <= 79, "{} {line}", line.len());
            assert!(line.starts_with("reading: [") && line.contains("% "), "{line}");
            let long = "32768/32768 MiB, 2000000000 lines, 1234 MiB/s, and more detail than fits";
            let line = progress_line("reading", done, total, t, long, Some(80));
            assert_eq!(line.chars().count(), 79, "{line}");
        }
        let line = progress_line("reading", 1, 4, t, "8/32 GiB", Some(80));
        assert_eq!(
            line,
            "reading: [#######.......................]  25% 8/32 GiB, ETA 1m30s"
        );
    }

    #[test]
    fn given_a_narrow_terminal_then_the_bar_goes_first_and_the_line_is_cut() {
        let t = Duration::from_secs(5);
        let line = progress_line("building", 5, 10, t, "shard 5/10", Some(40));
        assert_eq!(line, "building:  50% shard 5/10, ETA 5s");
        let line = progress_line("building", 5, 10, t, "shard 5/10", Some(20));
        assert_eq!(line.chars().count(), 19, "{line}");
    }

    #[test]
    fn given_no_terminal_then_plain_lines_without_bar_and_eta_after_a_second() {
        let line = progress_line("reading", 1, 3, Duration::from_secs(3700), "1/3 GiB", None);
        assert_eq!(line, "reading:  33% 1/3 GiB, ETA 2h03m");
        let line = progress_line("reading", 0, 0, Duration::from_millis(10), "5 MiB", None);
        assert_eq!(line, "reading: 5 MiB");
    }

    #[test]
    fn given_build_flags_then_parsed_or_refused() {
        let b = parse_build(&args(&["in.txt", "out.bin", "--min-count", "5"])).unwrap();
        assert_eq!((b.input.as_str(), b.min_count), ("in.txt", Some(5)));
        assert!(parse_build(&args(&["in.txt"])).is_err());
        assert!(parse_build(&args(&["in", "out", "--min-count", "x"])).is_err());
        assert!(parse_build(&args(&["in", "out", "--plain", "--min-count", "2"])).is_err());
        assert!(parse_build(&args(&["in", "out", "--bogus"])).is_err());
        assert_eq!(parse_build(&args(&["-", "out"])).unwrap().input, "-");
    }

    #[test]
    fn given_more_or_fewer_shards_than_temporary_files_then_every_key_lands_once_in_its_shard() {
        let keys: Vec<u64> = (0..5000u64)
            .map(|i| (i % 4000).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut want = keys.clone();
        want.sort_unstable();
        want.dedup();
        for bits in [0, 3, 8, 11] {
            let dir = tempfile::tempdir().unwrap();
            for pre in 0..1u64 << PRE_BITS {
                let bytes: Vec<u8> = keys
                    .iter()
                    .filter(|&&k| blocklist::shard_of(k, PRE_BITS) == pre)
                    .flat_map(|k| k.to_le_bytes())
                    .collect();
                fs::write(dir.path().join(format!("{pre:03}")), bytes).unwrap();
            }
            let mut pending = Pending {
                keys: Vec::new(),
                at: 0,
                next_pre: 0,
            };
            let mut got = Vec::new();
            for shard in 0..1u64 << bits {
                let mine = pending.take(dir.path(), shard, bits).unwrap();
                assert!(mine.iter().all(|&k| blocklist::shard_of(k, bits) == shard));
                got.extend_from_slice(mine);
            }
            assert_eq!(got, want, "{bits} shard bits");
        }
    }
}
