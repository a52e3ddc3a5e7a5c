//! One measured run: wrk (pinned or not) with the CPU time of the server,
//! of wrk and of the rest of the machine around it; reading wrk's output;
//! waiting for a quiet machine and measuring a disturbed run again.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::options::{Mode, Opts};
use crate::process::{check_interrupt, command_on, nap, Guard};
use crate::system::{find_tool, machine_busy, rusage_secs, tree_cpu, CLIENT_CPU};
use crate::Result;

/// wrk's own per-request timeout (its default, 2 s, is shorter than one
/// 100 MiB response takes at 256 connections).
const WRK_TIMEOUT_SECS: u32 = 30;

#[derive(Debug, Clone, Default)]
pub struct WrkRun {
    pub requests: u64,
    pub secs: f64,
    pub bytes: f64,
    pub rps: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Socket errors (connect, read, write, timeout).
    pub errors: u64,
    pub non2xx: u64,
}

impl WrkRun {
    /// What wrk read, in MB/s (10^6 bytes); `None` for a run of no time.
    pub fn mbps(&self) -> Option<f64> {
        (self.secs > 0.0).then(|| self.bytes / self.secs / 1e6)
    }
}

/// One measured run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub wrk: WrkRun,
    pub server_cpu: f64,
    pub wrk_cpu: f64,
    /// CPU seconds used by everything else on the machine during the run.
    pub other_cpu: f64,
    pub wall: f64,
}

/// A number with the first of `units` it ends in, times that unit's factor.
fn parse_scaled(text: &str, units: &[(&str, f64)]) -> Option<f64> {
    units.iter().find_map(|(u, f)| {
        text.strip_suffix(u)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n * f)
    })
}

/// wrk's durations: `812.00us`, `1.20ms`, `3.00s`, ...
fn parse_time(text: &str) -> Option<f64> {
    let units = [
        ("us", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    parse_scaled(text, &units)
}

/// wrk's byte counts: `1.50GB`, `812.00KB`, ...
fn parse_bytes(text: &str) -> Option<f64> {
    let units = [
        ("TB", (1u64 << 40) as f64),
        ("GB", (1u64 << 30) as f64),
        ("MB", (1u64 << 20) as f64),
        ("KB", (1u64 << 10) as f64),
        ("B", 1.0),
    ];
    parse_scaled(text, &units)
}

fn parse_wrk(out: &str) -> Result<WrkRun> {
    let mut r = WrkRun::default();
    let mut saw_total = false;
    let mut in_dist = false;
    for line in out.lines().map(str::trim) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("Latency Distribution") {
            in_dist = true;
            continue;
        }
        if in_dist {
            match w.as_slice() {
                ["50%", t] => r.p50 = parse_time(t),
                ["99%", t] => r.p99 = parse_time(t),
                [p, _] if p.ends_with('%') => {}
                _ => in_dist = false,
            }
        }
        // "123 requests in 3.00s, 1.50GB read"
        if let [n, "requests", "in", secs, bytes, "read"] = w.as_slice() {
            r.requests = n.parse()?;
            r.secs = parse_time(secs.trim_end_matches(',')).ok_or("bad duration")?;
            r.bytes = parse_bytes(bytes).ok_or("bad byte count")?;
            saw_total = true;
        }
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            r.errors = rest
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        }
        if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non2xx = rest.trim().parse().unwrap_or(0);
        }
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            r.rps = rest.trim().parse().unwrap_or(0.0);
        }
    }
    if !saw_total {
        return Err(format!("cannot read wrk's output:\n{out}").into());
    }
    if r.requests == 0 {
        r.p50 = None;
        r.p99 = None;
    }
    // wrk prints 0.00us for a percentile its histogram could not hold (seen
    // with pipelined batches): not a measurement.
    for p in [&mut r.p50, &mut r.p99] {
        if *p == Some(0.0) {
            *p = None;
        }
    }
    Ok(r)
}

/// What a run adds to the plain `wrk -t1 -cN -dD --latency URL`: options
/// before the URL (`-s script`, `-H header`) and the script's arguments
/// (after `--`).
#[derive(Debug, Clone, Default)]
pub struct WrkExtra {
    pub options: Vec<String>,
    pub script_args: Vec<String>,
}

/// Runs wrk once against `url`, measuring the server's CPU over the run.
pub fn run_wrk(server_pid: u32, url: &str, conns: u32, secs: u32, mode: Mode) -> Result<Run> {
    run_wrk_with(server_pid, url, conns, secs, mode, &WrkExtra::default())
}

/// [`run_wrk`] with a script or extra headers.
pub fn run_wrk_with(
    server_pid: u32,
    url: &str,
    conns: u32,
    secs: u32,
    mode: Mode,
    extra: &WrkExtra,
) -> Result<Run> {
    let wrk = find_tool("wrk").ok_or("wrk not found (apt-get install -y wrk)")?;
    let mut cmd = command_on(&wrk, (mode == Mode::Pinned).then_some(CLIENT_CPU));
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ])
    .arg(format!("--timeout={WRK_TIMEOUT_SECS}s"))
    .args(&extra.options)
    .arg(url);
    if !extra.script_args.is_empty() {
        cmd.arg("--").args(&extra.script_args);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    forget_tcp_metrics();
    let server_before = tree_cpu(server_pid);
    let busy_before = machine_busy();
    let children_before = rusage_secs(libc::RUSAGE_CHILDREN);
    let self_before = rusage_secs(libc::RUSAGE_SELF);
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("cannot run wrk: {e}"))?;
    let mut guard = Guard::new("wrk", child);
    let deadline = start + Duration::from_secs(u64::from(secs) + 30);
    let status = loop {
        check_interrupt();
        if let Some(status) = guard.child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            return Err("wrk ran 30 s over its duration; killed".into());
        }
        thread::sleep(Duration::from_millis(20));
    };
    let wall = start.elapsed().as_secs_f64();
    let server_cpu = tree_cpu(server_pid) - server_before;
    let busy = machine_busy() - busy_before;
    let wrk_cpu = rusage_secs(libc::RUSAGE_CHILDREN) - children_before;
    let self_cpu = rusage_secs(libc::RUSAGE_SELF) - self_before;
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = guard.child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    if let Some(mut s) = guard.child.stderr.take() {
        s.read_to_string(&mut err)?;
    }
    if !status.success() {
        return Err(format!("wrk failed ({status}): {err}{out}").into());
    }
    Ok(Run {
        wrk: parse_wrk(&out)?,
        server_cpu,
        wrk_cpu,
        other_cpu: (busy - server_cpu - wrk_cpu - self_cpu).max(0.0),
        wall,
    })
}

/// How long to wait for other processes to go quiet before a run, and how
/// often to measure a disturbed run again.
const QUIET_WAIT: Duration = Duration::from_secs(60);
pub const RETRIES: u32 = 2;

/// Runs measured again, and runs still disturbed after the retries.
pub static RETRIED: AtomicU64 = AtomicU64::new(0);
pub static DISTURBED: AtomicU64 = AtomicU64::new(0);

/// wrk runs that started with the kernel's TCP metrics cache flushed, and
/// runs where the flush could not be done (no `ip`, or not root).
static METRICS_FLUSHED: AtomicU64 = AtomicU64::new(0);
static METRICS_KEPT: AtomicU64 = AtomicU64::new(0);

/// Empties the kernel's per-destination TCP metrics cache (`ip tcp_metrics
/// flush all`). Linux seeds a new connection to 127.0.0.1 with the RTT,
/// ssthresh and reordering that the last closed ones saved, so without this
/// each server's run starts from whatever the run before it (usually
/// another server) left behind, and that state alone can change a
/// result several-fold (benches/results/journal.md, 2026-11-27).
fn forget_tcp_metrics() {
    let flushed = find_tool("ip").is_some_and(|ip| {
        Command::new(ip)
            .args(["tcp_metrics", "flush", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let counter = if flushed {
        &METRICS_FLUSHED
    } else {
        &METRICS_KEPT
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The method note on the TCP metrics flush, for the reports.
pub fn metrics_flush_note() -> String {
    format!(
        "- TCP metrics cache (`ip tcp_metrics flush all`) emptied before {} wrk run(s); could not be emptied \
         before {} (needs root and iproute2)",
        METRICS_FLUSHED.load(Ordering::Relaxed),
        METRICS_KEPT.load(Ordering::Relaxed)
    )
}

/// Waits (at most [`QUIET_WAIT`]) until the rest of the machine uses at
/// most `max_other` cores, measured over 1 s (the servers are idle then).
pub fn wait_quiet(max_other: Option<f64>) {
    let Some(max) = max_other else { return };
    let deadline = Instant::now() + QUIET_WAIT;
    let mut warned = false;
    loop {
        let (busy, me) = (machine_busy(), rusage_secs(libc::RUSAGE_SELF));
        let t = Instant::now();
        nap(Duration::from_secs(1));
        let used = ((machine_busy() - busy) - (rusage_secs(libc::RUSAGE_SELF) - me))
            / t.elapsed().as_secs_f64();
        if used <= max {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("load: other processes still use {used:.2} cores; measuring anyway");
            return;
        }
        if !warned {
            eprintln!("load: waiting for other processes to go quiet ({used:.2} cores busy)");
            warned = true;
        }
    }
}

/// [`run_wrk`] on a quiet machine: waits for quiet first, and measures
/// again (up to [`RETRIES`] times) when other processes used more than
/// `--max-other` during the run.
pub fn measured_run(opts: &Opts, pid: u32, url: &str, conns: u32, mode: Mode) -> Result<Run> {
    measured_run_with(opts, pid, url, conns, mode, &WrkExtra::default())
}

/// [`measured_run`] with a script or extra headers.
pub fn measured_run_with(
    opts: &Opts,
    pid: u32,
    url: &str,
    conns: u32,
    mode: Mode,
    extra: &WrkExtra,
) -> Result<Run> {
    let mut attempt = 0;
    loop {
        wait_quiet(opts.max_other);
        let run = run_wrk_with(pid, url, conns, opts.duration, mode, extra)?;
        let other = run.other_cpu / run.wall.max(1e-9);
        match opts.max_other {
            Some(max) if other > max => {
                if attempt == RETRIES {
                    DISTURBED.fetch_add(1, Ordering::Relaxed);
                    return Ok(run);
                }
                eprintln!(
                    "load: other processes used {other:.2} cores during the run; measuring it again"
                );
                RETRIED.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
            }
            _ => return Ok(run),
        }
    }
}
