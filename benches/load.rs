//! Load benchmark: wrk against wharf and, when installed, nginx and lighttpd,
//! configured alike and measured side by side in one run.
//!
//! ```sh
//! cargo bench --bench load                      # every size, 1/64/256 connections, pinned and unpinned
//! cargo bench --bench load -- --modes pinned --sizes 1k,16k,1m,100m \
//!     --connections 64,256 --duration 3 --repeat 3
//! cargo bench --bench load -- --scenario isolation   # p99 under cold-disk downloads
//! cargo bench --bench load -- --help
//! ```
//!
//! What it does (scenario `load`):
//! - writes a document root into a temp dir: `index.html` and one file of
//!   pseudo-random bytes (fixed seed) per size: `1k.bin`, `16k.bin`, ...;
//! - starts each server as a child process listening on 127.0.0.1 only, with
//!   one worker, no access log, sendfile and an open-file/stat cache, and
//!   keep-alive with a large per-connection request limit (the configs are
//!   written into the temp dir and copied to `OUT/configs/`);
//! - per mode (pinned: server on CPU 1 via `taskset -c 1`, wrk on CPU 0;
//!   unpinned: neither), per connection count and size, runs
//!   `wrk -t1 -cN -dD --latency` once per server to warm up, then `--repeat`
//!   rounds with the servers interleaved (rotating order), and keeps the
//!   median of each figure;
//! - measures the server's CPU time over each run from `/proc/<pid>/stat`
//!   (utime + stime of the server process, all its threads, and its child
//!   processes such as nginx's worker), wrk's from `getrusage`, and what the
//!   rest of the machine used from `/proc/stat`, so a busy machine shows;
//! - adds an nginx `return 204` cell at 64 connections: no file at all, the
//!   most wrk can drive through one core (the "HTTP floor" / wrk ceiling);
//! - prints a Markdown table (also `OUT/load.md`, plus every run in
//!   `OUT/load-runs.csv`) and draws `OUT/load.svg`: req/s per server and size
//!   at 64 connections, grouped bars, one panel per mode.
//!
//! Scenario `isolation`: 8 clients download large files that were evicted
//! from the page cache (`posix_fadvise(DONTNEED)`, again before each
//! download) while wrk measures the latency of a small cached file on other
//! connections; reports p99 idle against p99 under the cold downloads
//! (`OUT/isolation.md`). The servers take turns round by round.
//!
//! Every process it starts is killed at the end, also on a panic or Ctrl-C
//! (guards with `Drop`, and `PR_SET_PDEATHSIG` in case this process itself
//! is killed). Every wait is bounded. Nothing but 127.0.0.1 is contacted.
//!
//! Run through `cargo test` (without `--bench`) it does nothing, so the CI
//! only compiles it.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// The CPU the server is pinned to in pinned mode; wrk and the other
/// clients get [`CLIENT_CPU`].
const SERVER_CPU: usize = 1;
const CLIENT_CPU: usize = 0;
/// Connections of the chart and of the `return 204` floor cell.
const CHART_CONNECTIONS: u32 = 64;
/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server may take to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// wrk's own per-request timeout (its default, 2 s, is shorter than one
/// 100 MiB response takes at 256 connections).
const WRK_TIMEOUT_SECS: u32 = 30;
/// Sizes at or above this are judged by MB/s and CPU per GB rather than by
/// req/s and CPU per request.
const LARGE: u64 = 64 << 20;

const HELP: &str = "\
wharf load benchmark: wrk against wharf, nginx and lighttpd on 127.0.0.1.

usage: cargo bench --bench load -- [options]

  --scenario load|isolation   what to run (default load)
  --sizes LIST          file sizes, e.g. 1k,16k,1m,100m (default; suffixes k, m, g = KiB, MiB, GiB)
  --connections LIST    wrk connections (default 1,64,256; isolation: 4,16)
  --modes LIST          pinned,unpinned (default both; isolation: pinned)
  --duration SECS       length of each measured wrk run (default 3)
  --warmup SECS         one unmeasured run per server and cell first (default 1; 0: none)
  --repeat N            measured rounds per cell, servers interleaved; medians reported (default 3)
  --servers LIST        wharf,nginx,lighttpd (default all installed; isolation: wharf,nginx)
  --workers N           event-loop workers of wharf and nginx (default 1; lighttpd always has 1)
  --no-floor            skip the nginx `return 204` cell
  --max-other CORES     before each run, wait (up to 60 s) until other processes use at most this much
                        CPU, and measure a run again (up to twice) if they used more during it
                        (default 0.25; `off`: never wait)
  --cold-files N        isolation: concurrent cold downloads (default 8)
  --cold-size SIZE      isolation: size of each cold file (default 128m)
  --cold-rate MBPS      isolation: read rate of each download in MB/s (default 16; 0: as fast as possible)
  --cold-nice N         isolation: nice value of the download clients (default 19, so they do not
                        preempt wrk on the client CPU; 0: compete with wrk as equals)
  --wharf PATH          the wharf binary (default: the one cargo built for this bench)
  --tmpdir DIR          where the temp document root goes (default $TMPDIR or /tmp; must not be tmpfs for isolation)
  --out DIR             results directory (default target/bench-results)
  -h, --help            this text
";

// ---------------------------------------------------------------------------
// Options

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Load,
    Isolation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Pinned,
    Unpinned,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Pinned => "pinned",
            Mode::Unpinned => "unpinned",
        }
    }
    fn describe(self) -> String {
        match self {
            Mode::Pinned => format!(
                "pinned: server on CPU {SERVER_CPU} (`taskset -c {SERVER_CPU}`), wrk on CPU {CLIENT_CPU}"
            ),
            Mode::Unpinned => "unpinned: the scheduler places server and wrk".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Wharf,
    Nginx,
    Lighttpd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Wharf => "wharf",
            Kind::Nginx => "nginx",
            Kind::Lighttpd => "lighttpd",
        }
    }
}

#[derive(Debug, Clone)]
struct Size {
    label: String,
    bytes: u64,
}

impl Size {
    fn file(&self) -> String {
        format!("{}.bin", self.label)
    }
}

#[derive(Debug, Clone)]
struct Opts {
    scenario: Scenario,
    sizes: Vec<Size>,
    connections: Vec<u32>,
    modes: Vec<Mode>,
    duration: u32,
    warmup: u32,
    repeat: u32,
    servers: Vec<Kind>,
    workers: u32,
    floor: bool,
    /// Most CPU (in cores) other processes may use during a run; `None`: no check.
    max_other: Option<f64>,
    cold_files: usize,
    cold_size: u64,
    /// Bytes per second each cold download reads; 0: unlimited.
    cold_rate: u64,
    cold_nice: i32,
    wharf: PathBuf,
    tmpdir: Option<PathBuf>,
    out: PathBuf,
    /// The options as given, for the report.
    args: Vec<String>,
}

fn parse_size(text: &str) -> Result<Size> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, shift) = if let Some(d) = t.strip_suffix('k') {
        (d, 10)
    } else if let Some(d) = t.strip_suffix('m') {
        (d, 20)
    } else if let Some(d) = t.strip_suffix('g') {
        (d, 30)
    } else {
        (t.as_str(), 0)
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad size {text:?} (expected e.g. 1k, 16k, 1m, 100m)"))?;
    if n == 0 || n > (1 << 40) >> shift {
        return Err(format!("size {text:?} out of range").into());
    }
    Ok(Size {
        label: t.clone(),
        bytes: n << shift,
    })
}

fn parse_list<T>(text: &str, f: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    let items: Vec<T> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| f(s.trim()))
        .collect::<Result<_>>()?;
    if items.is_empty() {
        return Err(format!("empty list {text:?}").into());
    }
    Ok(items)
}

fn parse_secs(text: &str) -> Result<u32> {
    let t = text.trim_end_matches('s');
    t.parse()
        .map_err(|_| format!("bad number of seconds {text:?}").into())
}

/// `None`: not meant for us (run by `cargo test`, or a criterion filter).
fn parse_opts(raw: Vec<String>) -> Result<Option<Opts>> {
    let mut bench = false;
    let mut given: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut flags: Vec<&'static str> = Vec::new();
    let mut args = Vec::new();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        const VALUED: [&str; 17] = [
            "--scenario",
            "--sizes",
            "--connections",
            "--modes",
            "--duration",
            "--warmup",
            "--repeat",
            "--servers",
            "--workers",
            "--cold-files",
            "--cold-size",
            "--cold-rate",
            "--cold-nice",
            "--max-other",
            "--wharf",
            "--tmpdir",
            "--out",
        ];
        match name.as_str() {
            "--bench" => bench = true,
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--no-floor" => {
                flags.push("--no-floor");
                args.push(arg);
            }
            n if VALUED.contains(&n) => {
                let key = VALUED
                    .iter()
                    .find(|k| **k == n)
                    .copied()
                    .unwrap_or_default();
                let value = match inline {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("{n} needs a value"))?,
                };
                args.push(format!("{n} {value}"));
                given.insert(key, value);
            }
            n if n.starts_with('-') => {
                return Err(format!("unknown option {n} (try --help)").into());
            }
            // A positional argument is a benchmark filter (`cargo bench X`
            // passes it to every bench): run only if it names this one.
            filter => {
                if !"load".contains(filter) {
                    return Ok(None);
                }
            }
        }
    }
    if !bench {
        return Ok(None);
    }

    let scenario = match given.get("--scenario").map(String::as_str) {
        None | Some("load") => Scenario::Load,
        Some("isolation") => Scenario::Isolation,
        Some(other) => return Err(format!("unknown scenario {other:?}").into()),
    };
    let iso = scenario == Scenario::Isolation;
    let get = |k: &str, default: &str| given.get(k).cloned().unwrap_or_else(|| default.into());

    let sizes = parse_list(&get("--sizes", "1k,16k,1m,100m"), parse_size)?;
    let connections = parse_list(
        // Isolation also probes with 4 connections: at 16, wrk saturates
        // its core, and the CPU the download clients' network processing
        // takes from that core shows up as queueing inside wrk, for any
        // server (benches/results/journal.md, 2026-11-27).
        &get("--connections", if iso { "4,16" } else { "1,64,256" }),
        |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| format!("bad connection count {s:?}").into())
        },
    )?;
    let modes = parse_list(
        &get("--modes", if iso { "pinned" } else { "pinned,unpinned" }),
        |s| match s {
            "pinned" => Ok(Mode::Pinned),
            "unpinned" => Ok(Mode::Unpinned),
            _ => Err(format!("unknown mode {s:?} (pinned, unpinned)").into()),
        },
    )?;
    let servers = parse_list(
        &get(
            "--servers",
            if iso {
                "wharf,nginx"
            } else {
                "wharf,nginx,lighttpd"
            },
        ),
        |s| match s {
            "wharf" => Ok(Kind::Wharf),
            "nginx" => Ok(Kind::Nginx),
            "lighttpd" => Ok(Kind::Lighttpd),
            _ => Err(format!("unknown server {s:?} (wharf, nginx, lighttpd)").into()),
        },
    )?;
    fn dedup<T: Copy + PartialEq>(v: &mut Vec<T>) {
        let mut seen = Vec::new();
        v.retain(|x| {
            let new = !seen.contains(x);
            seen.push(*x);
            new
        });
    }
    let (mut modes, mut servers) = (modes, servers);
    dedup(&mut modes);
    dedup(&mut servers);

    let duration = parse_secs(&get("--duration", "3"))?;
    let warmup = parse_secs(&get("--warmup", "1"))?;
    let repeat: u32 = get("--repeat", "3").parse().map_err(|_| "bad --repeat")?;
    let workers: u32 = get("--workers", "1").parse().map_err(|_| "bad --workers")?;
    let cold_files: usize = get("--cold-files", "8")
        .parse()
        .map_err(|_| "bad --cold-files")?;
    if !(1..=3600).contains(&duration) || repeat == 0 || repeat > 100 || workers == 0 {
        return Err("--duration 1..3600, --repeat 1..100 and --workers >= 1".into());
    }
    if !(1..=64).contains(&cold_files) {
        return Err("--cold-files 1..64".into());
    }
    let max_other = match get("--max-other", "0.25").as_str() {
        "off" | "none" => None,
        v => Some(
            v.parse::<f64>()
                .ok()
                .filter(|x| *x >= 0.0)
                .ok_or("bad --max-other (a number of cores, or off)")?,
        ),
    };
    let cold_size = parse_size(&get("--cold-size", "128m"))?.bytes;
    let cold_rate: u64 = get("--cold-rate", "16")
        .parse::<u64>()
        .map_err(|_| "bad --cold-rate")?
        * 1_000_000;
    let cold_nice: i32 = get("--cold-nice", "19")
        .parse()
        .ok()
        .filter(|n| (0..=19).contains(n))
        .ok_or("bad --cold-nice (0 to 19)")?;
    let wharf = given
        .get("--wharf")
        .map(PathBuf::from)
        .unwrap_or_else(default_wharf);
    Ok(Some(Opts {
        scenario,
        sizes,
        connections,
        modes,
        duration,
        warmup,
        repeat,
        servers,
        workers,
        floor: !flags.contains(&"--no-floor"),
        max_other,
        cold_files,
        cold_size,
        cold_rate,
        cold_nice,
        wharf,
        tmpdir: given.get("--tmpdir").map(PathBuf::from),
        out: PathBuf::from(get("--out", "target/bench-results")),
        args,
    }))
}

/// The wharf binary cargo built for this bench (`CARGO_BIN_EXE_*` is set
/// for benches and integration tests); else `release/wharf` next to the
/// bench executable's `deps/` directory.
fn default_wharf() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_wharf"));
    if built.exists() {
        return built;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("wharf")))
        .unwrap_or(built)
}

// ---------------------------------------------------------------------------
// Interruption: Ctrl-C unwinds, so every guard's Drop runs.

fn stop_flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

struct Interrupted;

fn check_interrupt() {
    if stop_flag().load(Ordering::Relaxed) {
        std::panic::resume_unwind(Box::new(Interrupted));
    }
}

/// Sleeps in short steps, unwinding on Ctrl-C.
fn nap(d: Duration) {
    let end = Instant::now() + d;
    loop {
        check_interrupt();
        let now = Instant::now();
        if now >= end {
            return;
        }
        thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

// ---------------------------------------------------------------------------
// Processes

/// A child process (tree) that is stopped when the guard is dropped:
/// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`], for the process and every
/// descendant it had.
struct Guard {
    name: String,
    child: Child,
}

impl Guard {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let pid = self.child.id();
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let family = descendants(pid);
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    eprintln!("load: {} did not stop on SIGTERM; killing it", self.name);
                    signal(pid, libc::SIGKILL);
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
            }
        }
        for p in family {
            if proc_alive(p) {
                signal(p, libc::SIGKILL);
            }
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn proc_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .is_some_and(|st| st.state != 'Z')
}

/// Spawns `program args` (on `cpu` via taskset if given), output to `log`.
/// The child gets SIGTERM if this process dies first.
fn spawn(
    name: &str,
    program: &Path,
    args: &[String],
    cpu: Option<usize>,
    log: &Path,
) -> Result<Guard> {
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    };
    let out = File::create(log)?;
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: prctl is async-signal-safe; the closure touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    Ok(Guard {
        name: name.to_string(),
        child,
    })
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// First line of a command's output (stdout, else stderr), bounded by a
/// 5 s wait.
fn tool_output(program: &Path, args: &[&str]) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let mut text = String::new();
    child.stdout.take()?.read_to_string(&mut text).ok()?;
    if text.trim().is_empty() {
        child.stderr.take()?.read_to_string(&mut text).ok()?;
    }
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(String::from)
}

// ---------------------------------------------------------------------------
// /proc accounting

struct Stat {
    state: char,
    ppid: u32,
    /// utime + stime, clock ticks.
    ticks: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name is in parentheses and may contain anything.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        ticks: f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
    })
}

/// Every process whose parent chain leads to `root` (not `root` itself).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(st) = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
            {
                parent.push((pid, st.ppid));
            }
        }
    }
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let p = family[i];
        family.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    family.remove(0);
    family
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds used so far by `pid` (all its threads, live and exited) and
/// by its descendants.
fn tree_cpu(pid: u32) -> f64 {
    let ticks: u64 = std::iter::once(pid)
        .chain(descendants(pid))
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .map(|st| st.ticks)
        .sum();
    ticks as f64 / clock_ticks()
}

/// Busy CPU seconds of the whole machine so far (all CPUs).
fn machine_busy() -> f64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = text.lines().next().unwrap_or_default();
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    busy as f64 / clock_ticks()
}

fn rusage_secs(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(who, &mut ru);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Sets the calling thread's nice value (best effort).
fn renice_current_thread(nice: i32) {
    // SAFETY: gettid and setpriority only read their arguments; the calling
    // thread changes its own nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice);
    }
}

/// Pins the calling thread to one CPU (best effort).
fn pin_current_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// ---------------------------------------------------------------------------
// Document root

/// Fills `path` with `len` pseudo-random bytes (xorshift64*, fixed seed).
fn write_random(path: &Path, len: u64, seed: u64) -> io::Result<()> {
    let mut state = seed | 1;
    let mut file = File::create(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        check_interrupt();
        for chunk in buf.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            chunk.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.sync_data()
}

fn make_root(dir: &Path, sizes: &[Size]) -> Result<PathBuf> {
    let root = dir.join("www");
    fs::create_dir_all(&root)?;
    let mut index = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>bench</title></head><body><ul>\n",
    );
    for (i, size) in sizes.iter().enumerate() {
        write_random(
            &root.join(size.file()),
            size.bytes,
            0x5eed_0000 + i as u64 * 7919 + size.bytes,
        )?;
        let _ = writeln!(index, "<li><a href=\"{0}\">{0}</a></li>", size.file());
    }
    index.push_str("</ul></body></html>\n");
    fs::write(root.join("index.html"), index)?;
    Ok(root)
}

/// The fraction of the files' pages in the page cache (mincore).
fn resident_fraction(files: &[(String, PathBuf)]) -> f64 {
    let (mut resident, mut total) = (0usize, 0usize);
    for (_, path) in files {
        let Ok(f) = File::open(path) else { continue };
        let len = f.metadata().map_or(0, |m| m.len()) as usize;
        if len == 0 {
            continue;
        }
        // SAFETY: a private read-only mapping of an open file, unmapped
        // below; mincore writes one byte per page into a vector that size.
        unsafe {
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            );
            if addr == libc::MAP_FAILED {
                continue;
            }
            let page = libc::sysconf(libc::_SC_PAGESIZE).max(1) as usize;
            let mut vec = vec![0u8; len.div_ceil(page)];
            if libc::mincore(addr, len, vec.as_mut_ptr()) == 0 {
                resident += vec.iter().filter(|b| **b & 1 == 1).count();
                total += vec.len();
            }
            libc::munmap(addr, len);
        }
    }
    if total == 0 {
        0.0
    } else {
        resident as f64 / total as f64
    }
}

/// Drops a file's pages from the page cache (they are clean: written with
/// `sync_data`).
fn evict(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    // SAFETY: the descriptor is valid for the call.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Servers

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

struct Server {
    kind: Kind,
    port: u16,
    log: PathBuf,
    guard: Guard,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

/// Writes the server's config into `dir` and returns (program, args).
fn configure(
    kind: Kind,
    dir: &Path,
    root: &Path,
    port: u16,
    workers: u32,
) -> Result<(PathBuf, Vec<String>)> {
    let d = dir.display();
    let r = root.display();
    match kind {
        Kind::Wharf => {
            let conf = dir.join("wharf.toml");
            fs::write(
                &conf,
                format!(
                    "# wharf, as the load benchmark runs it\n\
                     [server]\nlisten = \"127.0.0.1:{port}\"\nroot = \"{r}\"\nworkers = {workers}\n\n\
                     [log]\naccess = \"off\"\n"
                ),
            )?;
            Ok((
                PathBuf::new(),
                vec!["-c".into(), conf.display().to_string()],
            ))
        }
        Kind::Nginx => {
            for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                fs::create_dir_all(dir.join("nginx-temp").join(t))?;
            }
            let conf = dir.join("nginx.conf");
            fs::write(
                &conf,
                format!(
                    "# nginx, as the load benchmark runs it\n\
daemon off;\n\
master_process on;\n\
worker_processes {workers};\n\
pid {d}/nginx.pid;\n\
error_log {d}/nginx-error.log warn;\n\
events {{\n    worker_connections 16384;\n}}\n\
http {{\n\
    access_log off;\n\
    sendfile on;\n\
    tcp_nopush on;\n\
    open_file_cache max=1000 inactive=60s;\n\
    open_file_cache_valid 60s;\n\
    open_file_cache_errors on;\n\
    keepalive_requests 10000000;\n\
    keepalive_timeout 75s;\n\
    types {{ text/html html; }}\n\
    default_type application/octet-stream;\n\
    client_body_temp_path {d}/nginx-temp/client_body;\n\
    proxy_temp_path {d}/nginx-temp/proxy;\n\
    fastcgi_temp_path {d}/nginx-temp/fastcgi;\n\
    uwsgi_temp_path {d}/nginx-temp/uwsgi;\n\
    scgi_temp_path {d}/nginx-temp/scgi;\n\
    server {{\n\
        listen 127.0.0.1:{port};\n\
        root {r};\n\
        index index.html;\n\
        location = /204 {{ return 204; }}\n\
    }}\n\
}}\n"
                ),
            )?;
            let nginx = find_tool("nginx").ok_or("nginx not found")?;
            Ok((
                nginx,
                vec![
                    "-p".into(),
                    format!("{d}/"),
                    "-e".into(),
                    format!("{d}/nginx-error.log"),
                    "-c".into(),
                    conf.display().to_string(),
                ],
            ))
        }
        Kind::Lighttpd => {
            let conf = dir.join("lighttpd.conf");
            fs::write(
                &conf,
                format!(
                    "# lighttpd, as the load benchmark runs it (one process; no access log module)\n\
server.document-root = \"{r}\"\n\
server.bind = \"127.0.0.1\"\n\
server.port = {port}\n\
server.errorlog = \"{d}/lighttpd-error.log\"\n\
server.modules = (\"mod_indexfile\", \"mod_staticfile\")\n\
server.network-backend = \"sendfile\"\n\
server.stat-cache-engine = \"simple\"\n\
server.max-keep-alive-requests = 10000000\n\
server.max-keep-alive-idle = 75\n\
server.max-connections = 4096\n\
server.max-fds = 8192\n\
index-file.names = (\"index.html\")\n\
mimetype.assign = (\".html\" => \"text/html\", \".bin\" => \"application/octet-stream\")\n"
                ),
            )?;
            let lighttpd = find_tool("lighttpd").ok_or("lighttpd not found")?;
            Ok((
                lighttpd,
                vec!["-D".into(), "-f".into(), conf.display().to_string()],
            ))
        }
    }
}

fn start_server(kind: Kind, opts: &Opts, mode: Mode, dir: &Path, root: &Path) -> Result<Server> {
    let port = free_port()?;
    let (mut program, args) = configure(kind, dir, root, port, opts.workers)?;
    if kind == Kind::Wharf {
        program = opts.wharf.clone();
    }
    let log = dir.join(format!("{}-{}.log", kind.name(), mode.name()));
    let cpu = (mode == Mode::Pinned).then_some(SERVER_CPU);
    let guard = spawn(kind.name(), &program, &args, cpu, &log)?;
    let mut server = Server {
        kind,
        port,
        log,
        guard,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        check_interrupt();
        if let Ok(Some(status)) = server.guard.child.try_wait() {
            return Err(format!(
                "{} exited at start-up ({status}):\n{}",
                kind.name(),
                tail(&server.log)
            )
            .into());
        }
        if let Ok((200, _)) = http_get(port, "/", 1 << 20) {
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not answer within {START_TIMEOUT:?}:\n{}",
                kind.name(),
                tail(&server.log)
            )
            .into());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// One GET with `Connection: close`: (status, body bytes). Bounded: 10 s
/// overall and `max` body bytes.
fn http_get(port: u16, path: &str, max: u64) -> Result<(u16, u64)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut head = Vec::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut body = 0u64;
    let mut in_body = false;
    loop {
        if Instant::now() > deadline {
            return Err("GET took over 10 s".into());
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if in_body {
            body += n as u64;
        } else {
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body = (head.len() - end - 4) as u64;
                head.truncate(end);
                in_body = true;
            }
        }
        if body > max {
            return Err("response larger than expected".into());
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    Ok((status, body))
}

/// GETs every file once: checks each server serves the right sizes (and
/// warms its caches).
fn verify(server: &Server, sizes: &[Size]) -> Result<()> {
    for size in sizes {
        let (status, len) = http_get(server.port, &format!("/{}", size.file()), size.bytes)?;
        if status != 200 || len != size.bytes {
            return Err(format!(
                "{}: GET /{} gave {status} with {len} bytes, expected 200 with {}",
                server.kind.name(),
                size.file(),
                size.bytes
            )
            .into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// wrk

#[derive(Debug, Clone, Default)]
struct WrkRun {
    requests: u64,
    secs: f64,
    bytes: f64,
    rps: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    /// Socket errors (connect, read, write, timeout).
    errors: u64,
    non2xx: u64,
}

/// One measured run.
#[derive(Debug, Clone, Default)]
struct Run {
    wrk: WrkRun,
    server_cpu: f64,
    wrk_cpu: f64,
    /// CPU seconds used by everything else on the machine during the run.
    other_cpu: f64,
    wall: f64,
}

fn parse_time(text: &str) -> Option<f64> {
    let units = [
        ("us", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    units.iter().find_map(|(u, f)| {
        text.strip_suffix(u)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n * f)
    })
}

fn parse_bytes(text: &str) -> Option<f64> {
    let units = [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ];
    units.iter().find_map(|(u, f)| {
        text.strip_suffix(u)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n * *f as f64)
    })
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
    Ok(r)
}

/// Runs wrk once against `url`, measuring the server's CPU over the run.
fn run_wrk(server_pid: u32, url: &str, conns: u32, secs: u32, mode: Mode) -> Result<Run> {
    let wrk = find_tool("wrk").ok_or("wrk not found (apt-get install -y wrk)")?;
    let mut cmd = match mode {
        Mode::Pinned => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(CLIENT_CPU.to_string()).arg(&wrk);
            c
        }
        Mode::Unpinned => Command::new(&wrk),
    };
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ])
    .arg(format!("--timeout={WRK_TIMEOUT_SECS}s"))
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    forget_tcp_metrics();
    let server_before = tree_cpu(server_pid);
    let busy_before = machine_busy();
    let children_before = rusage_secs(libc::RUSAGE_CHILDREN);
    let self_before = rusage_secs(libc::RUSAGE_SELF);
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("cannot run wrk: {e}"))?;
    let mut guard = Guard {
        name: "wrk".into(),
        child,
    };
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
const RETRIES: u32 = 2;

/// Runs measured again, and runs still disturbed after the retries.
static RETRIED: AtomicU64 = AtomicU64::new(0);
static DISTURBED: AtomicU64 = AtomicU64::new(0);

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
fn metrics_flush_note() -> String {
    format!(
        "- TCP metrics cache (`ip tcp_metrics flush all`) emptied before {} wrk run(s); could not be emptied \
         before {} (needs root and iproute2)",
        METRICS_FLUSHED.load(Ordering::Relaxed),
        METRICS_KEPT.load(Ordering::Relaxed)
    )
}

/// Waits (at most [`QUIET_WAIT`]) until the rest of the machine uses at
/// most `max_other` cores, measured over 1 s (the servers are idle then).
fn wait_quiet(max_other: Option<f64>) {
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
fn measured_run(opts: &Opts, pid: u32, url: &str, conns: u32, mode: Mode) -> Result<Run> {
    let mut attempt = 0;
    loop {
        wait_quiet(opts.max_other);
        let run = run_wrk(pid, url, conns, opts.duration, mode)?;
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

// ---------------------------------------------------------------------------
// Reporting helpers

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn fmt_count(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_time(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(s) if s < 1e-3 => format!("{:.0} µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.2} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

/// CPU seconds per request, in µs (or ms when large).
fn fmt_cpu(v: f64) -> String {
    if v < 1e-3 {
        format!("{:.2} µs", v * 1e6)
    } else {
        format!("{:.1} ms", v * 1e3)
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("–".into(), |r| format!("{r:.2}×"))
}

fn now_utc() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, secs) = (t / 86_400, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60
    )
}

struct Machine {
    lines: Vec<String>,
}

fn machine(opts: &Opts, kinds: &[Kind]) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".into(), |(_, m)| m.trim().to_string());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mem = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let load = fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let version = |name: &str, args: &[&str]| {
        find_tool(name)
            .and_then(|p| tool_output(&p, args))
            .map(|v| {
                // "nginx version: nginx/1.22.1", "lighttpd/1.4.69 (ssl) - a light and
                // fast webserver", "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) ..."
                let v = v.trim_start_matches("nginx version: ");
                let v = v.split(" Copyright").next().unwrap_or(v);
                v.split(" - ").next().unwrap_or(v).trim().to_string()
            })
            .unwrap_or_else(|| "not installed".into())
    };
    let mut tools = vec![format!(
        "{} ({})",
        tool_output(&opts.wharf, &["--version"]).unwrap_or_else(|| "wharf ?".into()),
        git_rev()
    )];
    for k in kinds {
        match k {
            Kind::Wharf => {}
            Kind::Nginx => tools.push(version("nginx", &["-v"])),
            Kind::Lighttpd => tools.push(version("lighttpd", &["-v"])),
        }
    }
    tools.push(version("wrk", &["-v"]));
    Machine {
        lines: vec![
            format!("- date: {}", now_utc()),
            format!("- machine: {model}, {cores} cores, {mem} RAM, Linux {kernel}"),
            format!("- load average at start: {load}"),
            format!("- software: {}", tools.join("; ")),
        ],
    }
}

fn git_rev() -> String {
    let Some(git) = find_tool("git") else {
        return "no git".into();
    };
    let rev = tool_output(&git, &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
    let dirty = tool_output(&git, &["status", "--porcelain", "--untracked-files=no"]).is_some();
    format!(
        "commit {rev}{}",
        if dirty { " + uncommitted changes" } else { "" }
    )
}

fn command_line(opts: &Opts) -> String {
    let mut c = String::from("cargo bench --bench load");
    if !opts.args.is_empty() {
        c.push_str(" -- ");
        c.push_str(&opts.args.join(" "));
    }
    c
}

// ---------------------------------------------------------------------------
// Scenario: load

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CellKey {
    mode: Mode,
    conns: u32,
    /// Index into the sizes; `usize::MAX` for the `return 204` floor.
    size: usize,
    server: String,
}

const FLOOR: usize = usize::MAX;
const FLOOR_NAME: &str = "nginx return 204";

#[derive(Debug, Clone, Default)]
struct Cell {
    rps: Option<f64>,
    mbps: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    cpu_per_req: Option<f64>,
    cpu_per_gb: Option<f64>,
    server_cores: Option<f64>,
    wrk_cores: Option<f64>,
    errors: u64,
    non2xx: u64,
}

fn aggregate(runs: &[Run]) -> Cell {
    let m = |f: &dyn Fn(&Run) -> Option<f64>| median(runs.iter().filter_map(f).collect());
    Cell {
        rps: m(&|r| Some(r.wrk.rps)),
        mbps: m(&|r| (r.wrk.secs > 0.0).then(|| r.wrk.bytes / r.wrk.secs / 1e6)),
        p50: m(&|r| r.wrk.p50),
        p99: m(&|r| r.wrk.p99),
        cpu_per_req: m(&|r| (r.wrk.requests > 0).then(|| r.server_cpu / r.wrk.requests as f64)),
        cpu_per_gb: m(&|r| (r.wrk.bytes > 0.0).then(|| r.server_cpu / (r.wrk.bytes / 1e9))),
        server_cores: m(&|r| Some(r.server_cpu / r.wall)),
        wrk_cores: m(&|r| Some(r.wrk_cpu / r.wall)),
        errors: runs.iter().map(|r| r.wrk.errors).sum(),
        non2xx: runs.iter().map(|r| r.wrk.non2xx).sum(),
    }
}

fn run_load(opts: &Opts, dir: &Path) -> Result<()> {
    eprintln!("load: writing the document root in {}", dir.display());
    let root = make_root(dir, &opts.sizes)?;
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut runs: BTreeMap<CellKey, Vec<Run>> = BTreeMap::new();
    let mut csv = String::from(
        "mode,connections,size,server,round,requests,secs,bytes,req_per_s,p50_s,p99_s,errors,non2xx,server_cpu_s,wrk_cpu_s,other_cpu_s,wall_s\n",
    );
    let started = Instant::now();

    for &mode in &opts.modes {
        if mode == Mode::Pinned && !can_pin() {
            eprintln!("load: skipping pinned mode: needs 2 CPUs and taskset");
            continue;
        }
        let mut servers = Vec::new();
        for &kind in &kinds {
            match start_server(kind, opts, mode, dir, &root) {
                Ok(s) => {
                    verify(&s, &opts.sizes)?;
                    servers.push(s);
                }
                Err(e) => eprintln!("load: skipping {}: {e}", kind.name()),
            }
        }
        if servers.is_empty() {
            continue;
        }
        // The cells: every (connections, size), then the floor.
        let mut cells: Vec<(u32, usize)> = Vec::new();
        for &conns in &opts.connections {
            for i in 0..opts.sizes.len() {
                cells.push((conns, i));
            }
        }
        let floor_server = servers.iter().position(|s| s.kind == Kind::Nginx);
        if opts.floor && floor_server.is_some() {
            cells.push((CHART_CONNECTIONS, FLOOR));
        }
        for (conns, size) in cells {
            let targets: Vec<(usize, String, String)> = if size == FLOOR {
                let s = &servers[floor_server.unwrap_or(0)];
                vec![(floor_server.unwrap_or(0), FLOOR_NAME.into(), s.url("/204"))]
            } else {
                servers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i, s.kind.name().into(), s.url(&opts.sizes[size].file())))
                    .collect()
            };
            let label = if size == FLOOR {
                "204".into()
            } else {
                opts.sizes[size].label.clone()
            };
            if opts.warmup > 0 {
                for (i, _, url) in &targets {
                    run_wrk(servers[*i].guard.pid(), url, conns, opts.warmup, mode)?;
                }
            }
            for round in 0..opts.repeat {
                for k in 0..targets.len() {
                    // Rotate who goes first each round.
                    let (i, name, url) = &targets[(k + round as usize) % targets.len()];
                    let run = measured_run(opts, servers[*i].guard.pid(), url, conns, mode)?;
                    let w = &run.wrk;
                    eprintln!(
                        "load: [{}] {label:>5} c{conns:<4} {name:<16} round {}/{}: {:>8} req/s {:>9.1} MB/s p99 {:>9}  server {:.2} cores, wrk {:.2}, other {:.2}{}",
                        mode.name(),
                        round + 1,
                        opts.repeat,
                        fmt_count(w.rps),
                        if w.secs > 0.0 { w.bytes / w.secs / 1e6 } else { 0.0 },
                        fmt_time(w.p99),
                        run.server_cpu / run.wall,
                        run.wrk_cpu / run.wall,
                        run.other_cpu / run.wall,
                        if w.errors + w.non2xx > 0 {
                            format!("  ERRORS {} non-2xx {}", w.errors, w.non2xx)
                        } else {
                            String::new()
                        }
                    );
                    let _ = writeln!(
                        csv,
                        "{},{conns},{label},{name},{},{},{:.3},{:.0},{:.1},{},{},{},{},{:.3},{:.3},{:.3},{:.3}",
                        mode.name(),
                        round + 1,
                        w.requests,
                        w.secs,
                        w.bytes,
                        w.rps,
                        w.p50.map_or(String::new(), |v| format!("{v:.6}")),
                        w.p99.map_or(String::new(), |v| format!("{v:.6}")),
                        w.errors,
                        w.non2xx,
                        run.server_cpu,
                        run.wrk_cpu,
                        run.other_cpu,
                        run.wall
                    );
                    runs.entry(CellKey {
                        mode,
                        conns,
                        size,
                        server: name.clone(),
                    })
                    .or_default()
                    .push(run);
                }
            }
        }
        drop(servers);
    }

    let cells: BTreeMap<CellKey, Cell> = runs
        .iter()
        .map(|(k, v)| (k.clone(), aggregate(v)))
        .collect();
    let all_runs: Vec<&Run> = runs.values().flatten().collect();
    let other: Vec<f64> = all_runs.iter().map(|r| r.other_cpu / r.wall).collect();
    let other_max = other.iter().copied().fold(0.0, f64::max);
    let other_median = median(other).unwrap_or(0.0);

    let mut md = String::from("# wharf load benchmark\n\n");
    let _ = writeln!(md, "Command: `{}`\n", command_line(opts));
    for l in &machine.lines {
        let _ = writeln!(md, "{l}");
    }
    let _ = writeln!(
        md,
        "- other processes during the kept runs: median {:.0}%, max {:.0}% of a core; {} run(s) measured \
         again because other processes used more than {}; {} still disturbed after {RETRIES} retries{}",
        other_median * 100.0,
        other_max * 100.0,
        RETRIED.load(Ordering::Relaxed),
        opts.max_other
            .map_or("(no limit)".to_string(), |m| format!("{:.0}% of a core", m * 100.0)),
        DISTURBED.load(Ordering::Relaxed),
        if other_max > 0.25 {
            " (the machine was busy: figures are less reliable)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "- method: `wrk -t1 -cN -d{}s --latency` per cell, after a {}s warm-up run; median of {} rounds, \
         servers interleaved; total time {:.0} s",
        opts.duration,
        opts.warmup,
        opts.repeat,
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(md, "{}", metrics_flush_note());
    let _ = writeln!(
        md,
        "- servers: 127.0.0.1 only, {} worker(s) (lighttpd: 1), no access log, sendfile, open-file/stat cache, \
         keep-alive without a practical request limit (configs in `configs/`)\n",
        opts.workers
    );
    md.push_str(
        "Columns: MB/s counts everything wrk read (headers too; 1 MB = 10^6 bytes); server CPU is \
         utime+stime of the server's process tree from /proc, per request (µs) and per GB read by wrk (s); \
         `server`/`wrk` are the cores each kept busy. Ratios compare wharf with the best peer (nginx, lighttpd) \
         in the same cell: throughput is req/s, or MB/s for files of 64 MiB and more (where runs complete few \
         requests); CPU is per request, or per GB for those files (below 1: wharf uses less).\n",
    );
    for &mode in &opts.modes {
        let mode_cells: Vec<(&CellKey, &Cell)> =
            cells.iter().filter(|(k, _)| k.mode == mode).collect();
        if mode_cells.is_empty() {
            continue;
        }
        let _ = writeln!(md, "\n## {}\n", mode.describe());
        md.push_str(
            "| size | conns | server | req/s | MB/s | p50 | p99 | CPU/req | CPU/GB | server | wrk | thr ÷ best peer | CPU ÷ best peer | errors |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for &conns in &opts.connections {
            for (si, size) in opts.sizes.iter().enumerate() {
                let row_cells: Vec<(&CellKey, &Cell)> = mode_cells
                    .iter()
                    .filter(|(k, _)| k.conns == conns && k.size == si)
                    .copied()
                    .collect();
                let large = size.bytes >= LARGE;
                let thr = |c: &Cell| if large { c.mbps } else { c.rps };
                let cpu = |c: &Cell| if large { c.cpu_per_gb } else { c.cpu_per_req };
                let peers: Vec<&Cell> = row_cells
                    .iter()
                    .filter(|(k, _)| k.server != "wharf")
                    .map(|(_, c)| *c)
                    .collect();
                let best_thr = peers
                    .iter()
                    .filter_map(|c| thr(c))
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                let best_cpu = peers
                    .iter()
                    .filter_map(|c| cpu(c))
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))));
                for kind in &opts.servers {
                    let Some((_, c)) = row_cells.iter().find(|(k, _)| k.server == kind.name())
                    else {
                        continue;
                    };
                    let is_wharf = *kind == Kind::Wharf;
                    let ratio = |v: Option<f64>, best: Option<f64>| match (is_wharf, v, best) {
                        (true, Some(v), Some(b)) if b > 0.0 => Some(v / b),
                        _ => None,
                    };
                    let _ = writeln!(
                        md,
                        "| {} | {conns} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        size.label,
                        if is_wharf { "**wharf**" } else { kind.name() },
                        c.rps.map_or("–".into(), fmt_count),
                        c.mbps.map_or("–".into(), |v| format!("{v:.1}")),
                        fmt_time(c.p50),
                        fmt_time(c.p99),
                        c.cpu_per_req.map_or("–".into(), fmt_cpu),
                        if size.bytes >= 1 << 20 {
                            c.cpu_per_gb.map_or("–".into(), |v| format!("{v:.3} s"))
                        } else {
                            "–".into()
                        },
                        c.server_cores.map_or("–".into(), |v| format!("{v:.2}")),
                        c.wrk_cores.map_or("–".into(), |v| format!("{v:.2}")),
                        fmt_ratio(ratio(thr(c), best_thr)),
                        fmt_ratio(ratio(cpu(c), best_cpu)),
                        c.errors + c.non2xx,
                    );
                }
            }
        }
        if let Some((_, c)) = mode_cells.iter().find(|(k, _)| k.size == FLOOR) {
            let _ = writeln!(
                md,
                "| – | {CHART_CONNECTIONS} | {FLOOR_NAME} (no file: the wrk ceiling) | {} | {} | {} | {} | {} | – | {} | {} | – | – | {} |",
                c.rps.map_or("–".into(), fmt_count),
                c.mbps.map_or("–".into(), |v| format!("{v:.1}")),
                fmt_time(c.p50),
                fmt_time(c.p99),
                c.cpu_per_req.map_or("–".into(), fmt_cpu),
                c.server_cores.map_or("–".into(), |v| format!("{v:.2}")),
                c.wrk_cores.map_or("–".into(), |v| format!("{v:.2}")),
                c.errors + c.non2xx,
            );
        }
    }

    fs::create_dir_all(&opts.out)?;
    let configs = opts.out.join("configs");
    fs::create_dir_all(&configs)?;
    for name in ["wharf.toml", "nginx.conf", "lighttpd.conf"] {
        if dir.join(name).exists() {
            fs::copy(dir.join(name), configs.join(name))?;
        }
    }
    print!("\n{md}");
    fs::write(opts.out.join("load.md"), &md)?;
    fs::write(opts.out.join("load-runs.csv"), csv)?;

    // The chart: req/s at 64 connections (or the first count), per mode.
    let chart_conns = if opts.connections.contains(&CHART_CONNECTIONS) {
        CHART_CONNECTIONS
    } else {
        opts.connections[0]
    };
    let mut panels = Vec::new();
    for &mode in &opts.modes {
        let pick = |kind: Kind, si: usize, f: fn(&Cell) -> Option<f64>| {
            cells
                .iter()
                .find(|(k, _)| {
                    k.mode == mode
                        && k.conns == chart_conns
                        && k.size == si
                        && k.server == kind.name()
                })
                .and_then(|(_, c)| f(c))
        };
        let panel_series = |f: fn(&Cell) -> Option<f64>| {
            opts.servers
                .iter()
                .map(|&kind| {
                    let values: Vec<Option<f64>> =
                        (0..opts.sizes.len()).map(|si| pick(kind, si, f)).collect();
                    (kind.name().to_string(), values)
                })
                .filter(|(_, v)| v.iter().any(Option::is_some))
                .collect::<Vec<_>>()
        };
        let rps = panel_series(|c| c.rps);
        if rps.is_empty() {
            continue;
        }
        let floor = cells
            .iter()
            .find(|(k, _)| k.mode == mode && k.size == FLOOR && chart_conns == CHART_CONNECTIONS)
            .and_then(|(_, c)| c.rps);
        let groups: Vec<String> = opts.sizes.iter().map(|s| s.label.clone()).collect();
        panels.push(Panel {
            title: format!("{}, {chart_conns} connections: requests/s", mode.name()),
            unit: "requests/s",
            groups: groups.clone(),
            series: rps,
            floor,
        });
        panels.push(Panel {
            title: format!("{}, {chart_conns} connections: MB/s", mode.name()),
            unit: "MB/s (10^6 bytes)",
            groups,
            series: panel_series(|c| c.mbps),
            floor: None,
        });
    }
    if !panels.is_empty() {
        let svg = opts.out.join("load.svg");
        chart::draw(&svg, &panels)?;
        eprintln!("load: wrote {}", svg.display());
    }
    eprintln!(
        "load: wrote {} and {}",
        opts.out.join("load.md").display(),
        opts.out.join("load-runs.csv").display()
    );
    Ok(())
}

fn can_pin() -> bool {
    thread::available_parallelism().is_ok_and(|n| n.get() >= 2) && find_tool("taskset").is_some()
}

/// The requested servers that can run here (wharf must).
fn available(wanted: &[Kind], opts: &Opts) -> Result<Vec<Kind>> {
    if find_tool("wrk").is_none() {
        return Err("wrk is not installed (apt-get install -y wrk)".into());
    }
    let mut kinds = Vec::new();
    for &k in wanted {
        let ok = match k {
            Kind::Wharf => {
                if !opts.wharf.is_file() {
                    return Err(format!("no wharf binary at {}", opts.wharf.display()).into());
                }
                true
            }
            Kind::Nginx => find_tool("nginx").is_some(),
            Kind::Lighttpd => find_tool("lighttpd").is_some(),
        };
        if ok {
            kinds.push(k);
        } else {
            eprintln!(
                "load: {} is not installed; skipping it (apt-get install -y {})",
                k.name(),
                k.name()
            );
        }
    }
    Ok(kinds)
}

// ---------------------------------------------------------------------------
// Scenario: isolation

/// Clients that download the cold files over and over, evicting each file
/// from the page cache before every download, until stopped.
struct Downloaders {
    stop: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Downloaders {
    fn start(
        port: u16,
        files: &[(String, PathBuf)],
        rate: u64,
        nice: i32,
        pin: bool,
    ) -> Downloaders {
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let threads = files
            .iter()
            .cloned()
            .map(|(url_path, fs_path)| {
                let (stop, bytes) = (stop.clone(), bytes.clone());
                thread::spawn(move || {
                    if pin {
                        pin_current_thread(CLIENT_CPU);
                    }
                    // The downloads are load on the *server*; at nice 0 they
                    // would also preempt wrk on the client CPU and inflate the
                    // p99 being measured whatever the server does
                    // (benches/results/journal.md, 2026-11-27).
                    renice_current_thread(nice);
                    let mut buf = vec![0u8; 64 << 10];
                    while !stop.load(Ordering::Relaxed) {
                        let _ = evict(&fs_path);
                        let _ = download(port, &url_path, rate, &stop, &bytes, &mut buf);
                    }
                })
            })
            .collect();
        Downloaders {
            stop,
            bytes,
            threads,
        }
    }
}

impl Drop for Downloaders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Downloads `path` once, reading at most `rate` bytes per second (0: no
/// limit), until the end or until `stop`.
fn download(
    port: u16,
    path: &str,
    rate: u64,
    stop: &AtomicBool,
    bytes: &AtomicU64,
    buf: &mut [u8],
) -> io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    // Short timeouts so a stop is noticed quickly.
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.set_write_timeout(Some(Duration::from_secs(1)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let start = Instant::now();
    let mut idle = start;
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if rate > 0 {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            let elapsed = start.elapsed();
            if due > elapsed {
                thread::sleep((due - elapsed).min(Duration::from_millis(50)));
                continue;
            }
        }
        match s.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                total += n as u64;
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                idle = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if idle.elapsed() > Duration::from_secs(30) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
struct IsoRound {
    idle: Run,
    cold: Run,
    cold_mbps: f64,
}

fn run_isolation(opts: &Opts, dir: &Path) -> Result<()> {
    let small = Size {
        label: "1k".into(),
        bytes: 1024,
    };
    eprintln!(
        "load: writing {} cold files of {} MiB in {}",
        opts.cold_files,
        opts.cold_size >> 20,
        dir.display()
    );
    let root = make_root(dir, std::slice::from_ref(&small))?;
    fs::create_dir_all(root.join("cold"))?;
    let mut cold = Vec::new();
    for i in 0..opts.cold_files {
        let p = root.join("cold").join(format!("c{i}.bin"));
        write_random(&p, opts.cold_size, 0xc01d + i as u64)?;
        cold.push((format!("/cold/c{i}.bin"), p));
    }
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut results: BTreeMap<(Mode, u32, Kind), Vec<IsoRound>> = BTreeMap::new();
    let mut resident = Vec::new();

    for &mode in &opts.modes {
        if mode == Mode::Pinned && !can_pin() {
            eprintln!("load: skipping pinned mode: needs 2 CPUs and taskset");
            continue;
        }
        // All servers run for the whole mode and take turns round by
        // round, as in the load scenario: whatever the first cold round
        // of a run costs (first opens, the disk's state) is not charged
        // to whichever server happens to go first.
        let mut servers = Vec::new();
        for &kind in &kinds {
            match start_server(kind, opts, mode, dir, &root) {
                Ok(server) => {
                    verify(&server, std::slice::from_ref(&small))?;
                    servers.push(server);
                }
                Err(e) => eprintln!("load: skipping {}: {e}", kind.name()),
            }
        }
        for &conns in &opts.connections {
            if opts.warmup > 0 {
                for server in &servers {
                    let url = server.url(&small.file());
                    run_wrk(server.guard.pid(), &url, conns, opts.warmup, mode)?;
                }
            }
            for round in 0..opts.repeat {
                for server in &servers {
                    let kind = server.kind;
                    let url = server.url(&small.file());
                    let pid = server.guard.pid();
                    let idle = measured_run(opts, pid, &url, conns, mode)?;
                    wait_quiet(opts.max_other);
                    for (_, path) in &cold {
                        evict(path)?;
                    }
                    resident.push(resident_fraction(&cold));
                    let downloads = Downloaders::start(
                        server.port,
                        &cold,
                        opts.cold_rate,
                        opts.cold_nice,
                        mode == Mode::Pinned,
                    );
                    nap(Duration::from_millis(300));
                    let before = downloads.bytes.load(Ordering::Relaxed);
                    let t = Instant::now();
                    let busy = run_wrk(pid, &url, conns, opts.duration, mode)?;
                    let cold_mbps = (downloads.bytes.load(Ordering::Relaxed) - before) as f64
                        / t.elapsed().as_secs_f64()
                        / 1e6;
                    drop(downloads);
                    eprintln!(
                        "load: isolation [{}] {} c{conns} round {}/{}: p99 idle {} cold {}; req/s idle {} cold {}; cold downloads {:.0} MB/s",
                        mode.name(),
                        kind.name(),
                        round + 1,
                        opts.repeat,
                        fmt_time(idle.wrk.p99),
                        fmt_time(busy.wrk.p99),
                        fmt_count(idle.wrk.rps),
                        fmt_count(busy.wrk.rps),
                        cold_mbps
                    );
                    results
                        .entry((mode, conns, kind))
                        .or_default()
                        .push(IsoRound {
                            idle,
                            cold: busy,
                            cold_mbps,
                        });
                }
            }
        }
        drop(servers);
    }

    let mut md = String::from("# wharf latency isolation under cold-disk downloads\n\n");
    let _ = writeln!(md, "Command: `{}`\n", command_line(opts));
    for l in &machine.lines {
        let _ = writeln!(md, "{l}");
    }
    let _ = writeln!(md, "{}", metrics_flush_note());
    let _ = writeln!(
        md,
        "- method: wrk measures a cached 1 KiB file (`wrk -t1 -cN -d{}s --latency`) idle, then while {} \
         clients each download a {} MiB file evicted from the page cache (`posix_fadvise(DONTNEED)` before \
         every download) over and over, each reading at {} at nice {}; median of {} rounds, servers \
         interleaved round by round. Page-cache \
         residency of the cold files right after eviction: at most {:.1}% (mincore).\n",
        opts.duration,
        opts.cold_files,
        opts.cold_size >> 20,
        if opts.cold_rate == 0 {
            "full speed".to_string()
        } else {
            format!("{} MB/s", opts.cold_rate / 1_000_000)
        },
        opts.cold_nice,
        opts.repeat,
        resident.iter().copied().fold(0.0, f64::max) * 100.0
    );
    md.push_str(
        "| mode | conns | server | idle req/s | idle p99 | cold req/s | cold p99 | p99 cold ÷ idle | cold downloads MB/s | errors |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for ((mode, conns, kind), rounds) in &results {
        let idle = aggregate(&rounds.iter().map(|r| r.idle.clone()).collect::<Vec<_>>());
        let busy = aggregate(&rounds.iter().map(|r| r.cold.clone()).collect::<Vec<_>>());
        let ratio = median(
            rounds
                .iter()
                .filter_map(|r| Some(r.cold.wrk.p99? / r.idle.wrk.p99?))
                .collect(),
        );
        let _ = writeln!(
            md,
            "| {} | {conns} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            mode.name(),
            kind.name(),
            idle.rps.map_or("–".into(), fmt_count),
            fmt_time(idle.p99),
            busy.rps.map_or("–".into(), fmt_count),
            fmt_time(busy.p99),
            fmt_ratio(ratio),
            median(rounds.iter().map(|r| r.cold_mbps).collect()).unwrap_or(0.0),
            idle.errors + idle.non2xx + busy.errors + busy.non2xx,
        );
    }
    fs::create_dir_all(&opts.out)?;
    print!("\n{md}");
    fs::write(opts.out.join("isolation.md"), &md)?;
    eprintln!("load: wrote {}", opts.out.join("isolation.md").display());
    Ok(())
}

// ---------------------------------------------------------------------------
// Chart

struct Panel {
    title: String,
    /// The y axis' quantity.
    unit: &'static str,
    groups: Vec<String>,
    /// (server, value per group)
    series: Vec<(String, Vec<Option<f64>>)>,
    floor: Option<f64>,
}

mod chart {
    use super::{fmt_count, Panel};
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    use std::path::Path;

    fn color(name: &str) -> RGBColor {
        match name {
            "wharf" => RGBColor(0xd9, 0x5f, 0x02),
            "nginx" => RGBColor(0x1b, 0x9e, 0x77),
            "lighttpd" => RGBColor(0x75, 0x70, 0xb3),
            _ => RGBColor(0x66, 0x66, 0x66),
        }
    }

    /// Grouped bars on a log scale, one panel per mode, side by side.
    pub fn draw(path: &Path, panels: &[Panel]) -> Result<(), Box<dyn std::error::Error>> {
        // Two panels (req/s, MB/s) per row, one row per mode.
        let rows = panels.len().div_ceil(2);
        let root = SVGBackend::new(path, (1120, 440 * rows as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((rows, 2));
        for (area, panel) in areas.iter().zip(panels) {
            let values = panel
                .series
                .iter()
                .flat_map(|(_, v)| v.iter().flatten())
                .chain(panel.floor.iter())
                .copied()
                .filter(|v| *v > 0.0);
            let (lo, hi) = values.fold((f64::MAX, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let lo = 10f64.powf(lo.min(hi).max(0.1).log10().floor());
            // Headroom above the tallest bar for the legend.
            let hi = 10f64.powf((hi * 6.0).log10().ceil());
            let n = panel.groups.len();
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())?;
            let groups = panel.groups.clone();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(2 * n + 1)
                .x_label_formatter(&move |x| {
                    let i = (x - 0.5).round();
                    if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                        groups.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc(format!("{} (log scale)", panel.unit))
                .y_label_formatter(&|y| match *y {
                    y if y >= 1e6 => format!("{}M", y / 1e6),
                    y if y >= 1e3 => format!("{}k", y / 1e3),
                    y => format!("{y}"),
                })
                .draw()?;
            let m = panel.series.len() as f64;
            let slot = 0.8 / m;
            for (j, (name, vals)) in panel.series.iter().enumerate() {
                let c = color(name);
                let bars: Vec<(f64, f64, f64)> = vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let x0 = i as f64 + 0.1 + j as f64 * slot;
                        v.filter(|v| *v > 0.0).map(|v| (x0, x0 + slot * 0.9, v))
                    })
                    .collect();
                chart
                    .draw_series(
                        bars.iter()
                            .map(|&(x0, x1, v)| Rectangle::new([(x0, lo), (x1, v)], c.filled())),
                    )?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                    });
                let style = TextStyle::from(("sans-serif", 10).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                chart.draw_series(bars.iter().map(|&(x0, x1, v)| {
                    Text::new(fmt_count(v), ((x0 + x1) / 2.0, v * 1.04), style.clone())
                }))?;
            }
            if let Some(floor) = panel.floor {
                let grey = RGBColor(0x55, 0x55, 0x55);
                chart
                    .draw_series(LineSeries::new(
                        [(0.0, floor), (n as f64, floor)],
                        grey.stroke_width(1),
                    ))?
                    .label(format!("nginx return 204 ({})", fmt_count(floor)))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], grey));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------

fn main() {
    let opts = match parse_opts(std::env::args().skip(1).collect()) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!(
                "load: not run (run it with `cargo bench --bench load`; `-- --help` for options)"
            );
            return;
        }
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        if let Err(e) = signal_hook::flag::register(sig, stop_flag().clone()) {
            eprintln!("load: cannot handle signal {sig}: {e}");
        }
    }
    let outcome = std::panic::catch_unwind(|| -> Result<()> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("wharf-load-");
        let dir = match &opts.tmpdir {
            Some(base) => builder.tempdir_in(base)?,
            None => builder.tempdir()?,
        };
        // nginx's workers may run as an unprivileged user: let them read.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        match opts.scenario {
            Scenario::Load => run_load(&opts, dir.path()),
            Scenario::Isolation => run_isolation(&opts, dir.path()),
        }
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("load: error: {e}");
            std::process::exit(1);
        }
        Err(payload) if payload.is::<Interrupted>() => {
            eprintln!("load: interrupted; servers stopped");
            std::process::exit(130);
        }
        Err(_) => {
            eprintln!("load: panicked; servers stopped");
            std::process::exit(101);
        }
    }
}
