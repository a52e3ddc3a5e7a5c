//! The command line: `--help`'s text, the options and their defaults
//! (which differ per scenario), and their parsing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::system::{CLIENT_CPU, SERVER_CPU};
use crate::Result;

const HELP: &str = "\
wharf load benchmark: wrk against wharf, nginx and lighttpd on 127.0.0.1.

usage: cargo bench --bench load -- [options]

  --scenario LIST       what to run, in this order: load, isolation, site, cold, churn, pipelined,
                        scale (default load); e.g. --scenario site,cold,churn,pipelined,scale
  --sizes LIST          file sizes, e.g. 1k,16k,1m,100m (default; suffixes k, m, g = KiB, MiB, GiB;
                        churn: 1k; pipelined: 1k,16k)
  --connections LIST    wrk connections (default 1,64,256; isolation: 4,16; site, cold, churn,
                        pipelined, scale: 64)
  --modes LIST          pinned,unpinned (default both; isolation, site, cold, churn, pipelined,
                        scale: pinned)
  --duration SECS       length of each measured wrk run (default 3)
  --warmup SECS         one unmeasured run per server and cell first (default 1; 0: none)
  --repeat N            measured rounds per cell, servers interleaved; medians reported (default 3)
  --wharf-before PATH   also run this wharf binary (as wharf-before) beside --wharf, for a
                        before/after comparison in the same run
  --servers LIST        wharf,nginx,nginx-aio,lighttpd (default wharf,nginx,lighttpd; isolation:
                        wharf,nginx; site, cold, churn, pipelined, scale: all four). nginx-aio is
                        nginx with `aio threads` (file IO on its thread pool)
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
  --files N             site, cold: files in the generated tree (default 20000)
  --dirs N              site, cold: directories they are spread over (default 200)
  --median SIZE         site, cold: median file size; sizes are log-normal, sigma 1.2 (default 6k)
  --seed N              seed of the trees and path lists (default 1)
  --paths N             length of each generated path list wrk cycles through (default 100000)
  --io-threads-sweep LIST  cold: also run wharf with each of these --io-threads, e.g. 1,2,4,8,16
  --max-resident PCT    cold: fail if more than this % of the tree is still in the page cache
                        after eviction (default 5)
  --storm N             churn: connections of the accept storm (default 10000)
  --storm-threads N     churn: client threads opening them (default 1)
  --depth N             pipelined: requests per write (default 16)
  --scale-files LIST    scale: tree sizes in files of 1 KiB, e.g. 1k,10k,100k,1m (default 1k,10k,100k)
  --trees DIR           where generated trees are kept and reused, one directory per set of
                        parameters (default TMPDIR/wharf-bench-trees)
  --wharf PATH          the wharf binary (default: the one cargo built for this bench)
  --tmpdir DIR          where the temp document root goes (default $TMPDIR or /tmp; must not be tmpfs for isolation)
  --out DIR             results directory (default target/bench-results)
  -h, --help            this text
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Load,
    Isolation,
    Site,
    Cold,
    Churn,
    Pipelined,
    Scale,
}

impl Scenario {
    fn parse(text: &str) -> Result<Scenario> {
        Ok(match text {
            "load" => Scenario::Load,
            "isolation" => Scenario::Isolation,
            "site" => Scenario::Site,
            "cold" => Scenario::Cold,
            "churn" => Scenario::Churn,
            "pipelined" => Scenario::Pipelined,
            "scale" => Scenario::Scale,
            other => {
                return Err(format!(
                "unknown scenario {other:?} (load, isolation, site, cold, churn, pipelined, scale)"
            )
                .into())
            }
        })
    }

    /// The scenarios added for real-site figures share their defaults: 64
    /// connections, pinned, all four servers.
    fn is_site_like(self) -> bool {
        !matches!(self, Scenario::Load | Scenario::Isolation)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Pinned,
    Unpinned,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pinned => "pinned",
            Mode::Unpinned => "unpinned",
        }
    }
    pub fn describe(self) -> String {
        match self {
            Mode::Pinned => format!(
                "pinned: server on CPU {SERVER_CPU} (`taskset -c {SERVER_CPU}`), wrk on CPU {CLIENT_CPU}"
            ),
            Mode::Unpinned => "unpinned: the scheduler places server and wrk".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Wharf,
    /// wharf started with `--io-threads N` (the cold scenario's sweep).
    WharfIo(u32),
    /// Another wharf binary (`--wharf-before`), to measure a change before
    /// and after in the same run.
    WharfBefore,
    Nginx,
    /// nginx with `aio threads`: file reads and `sendfile` on its thread pool.
    NginxAio,
    Lighttpd,
}

impl Kind {
    pub fn name(self) -> String {
        match self {
            Kind::Wharf => "wharf".into(),
            Kind::WharfIo(n) => format!("wharf-io{n}"),
            Kind::WharfBefore => "wharf-before".into(),
            Kind::Nginx => "nginx".into(),
            Kind::NginxAio => "nginx-aio".into(),
            Kind::Lighttpd => "lighttpd".into(),
        }
    }

    pub fn is_wharf(self) -> bool {
        matches!(self, Kind::Wharf | Kind::WharfIo(_) | Kind::WharfBefore)
    }
}

#[derive(Debug, Clone)]
pub struct Size {
    pub label: String,
    pub bytes: u64,
}

impl Size {
    pub fn file(&self) -> String {
        format!("{}.bin", self.label)
    }
}

#[derive(Debug, Clone)]
pub struct Opts {
    pub scenario: Scenario,
    pub sizes: Vec<Size>,
    pub connections: Vec<u32>,
    pub modes: Vec<Mode>,
    pub duration: u32,
    pub warmup: u32,
    pub repeat: u32,
    pub servers: Vec<Kind>,
    pub workers: u32,
    pub floor: bool,
    /// Most CPU (in cores) other processes may use during a run; `None`: no check.
    pub max_other: Option<f64>,
    pub cold_files: usize,
    pub cold_size: u64,
    /// Bytes per second each cold download reads; 0: unlimited.
    pub cold_rate: u64,
    pub cold_nice: i32,
    /// site, cold: the generated tree and its path lists.
    pub files: u64,
    pub dirs: u64,
    pub median: u64,
    pub seed: u64,
    pub paths: usize,
    /// cold: extra wharf runs with these `--io-threads`.
    pub io_sweep: Vec<u32>,
    /// cold: most page-cache residency (fraction) tolerated after eviction.
    pub max_resident: f64,
    pub storm: usize,
    pub storm_threads: usize,
    pub depth: usize,
    pub scale_files: Vec<u64>,
    pub trees: PathBuf,
    pub wharf: PathBuf,
    /// `--wharf-before`: a second wharf binary run beside the first.
    pub wharf_before: Option<PathBuf>,
    pub tmpdir: Option<PathBuf>,
    pub out: PathBuf,
    /// The options as given, for the report.
    pub args: Vec<String>,
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

/// A count with an optional `k` (thousand) or `m` (million) suffix.
fn parse_count(text: &str) -> Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, factor) = if let Some(d) = t.strip_suffix('k') {
        (d, 1_000)
    } else if let Some(d) = t.strip_suffix('m') {
        (d, 1_000_000)
    } else {
        (t.as_str(), 1)
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n * factor)
        .ok_or_else(|| format!("bad count {text:?} (e.g. 1000, 10k, 1m)").into())
}

/// One [`Opts`] per scenario asked for, in order; `None`: not meant for us
/// (run by `cargo test`, or a criterion filter).
pub fn parse_opts(raw: Vec<String>) -> Result<Option<Vec<Opts>>> {
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
        const VALUED: [&str; 30] = [
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
            "--wharf-before",
            "--tmpdir",
            "--out",
            "--files",
            "--dirs",
            "--median",
            "--seed",
            "--paths",
            "--io-threads-sweep",
            "--max-resident",
            "--storm",
            "--storm-threads",
            "--depth",
            "--scale-files",
            "--trees",
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

    let scenarios = parse_list(
        given.get("--scenario").map_or("load", String::as_str),
        Scenario::parse,
    )?;
    scenarios
        .into_iter()
        .map(|s| build(s, &given, &flags, &args))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The options of one scenario: what was given, else its defaults.
fn build(
    scenario: Scenario,
    given: &BTreeMap<&'static str, String>,
    flags: &[&'static str],
    args: &[String],
) -> Result<Opts> {
    let iso = scenario == Scenario::Isolation;
    let site_like = scenario.is_site_like();
    let get = |k: &str, default: &str| given.get(k).cloned().unwrap_or_else(|| default.into());

    let sizes = parse_list(
        &get(
            "--sizes",
            match scenario {
                Scenario::Churn => "1k",
                Scenario::Pipelined => "1k,16k",
                _ => "1k,16k,1m,100m",
            },
        ),
        parse_size,
    )?;
    let connections = parse_list(
        // Isolation also probes with 4 connections: at 16, wrk saturates
        // its core, and the CPU the download clients' network processing
        // takes from that core shows up as queueing inside wrk, for any
        // server (benches/results/journal.md, 2026-11-27).
        &get(
            "--connections",
            if iso {
                "4,16"
            } else if site_like {
                "64"
            } else {
                "1,64,256"
            },
        ),
        |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| format!("bad connection count {s:?}").into())
        },
    )?;
    let modes = parse_list(
        &get(
            "--modes",
            if iso || site_like {
                "pinned"
            } else {
                "pinned,unpinned"
            },
        ),
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
            } else if site_like {
                "wharf,nginx,nginx-aio,lighttpd"
            } else {
                "wharf,nginx,lighttpd"
            },
        ),
        |s| match s {
            "wharf" => Ok(Kind::Wharf),
            "nginx" => Ok(Kind::Nginx),
            "nginx-aio" => Ok(Kind::NginxAio),
            "lighttpd" => Ok(Kind::Lighttpd),
            _ => Err(format!("unknown server {s:?} (wharf, nginx, nginx-aio, lighttpd)").into()),
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
    let wharf_before = given.get("--wharf-before").map(PathBuf::from);
    if wharf_before.is_some() && !servers.contains(&Kind::WharfBefore) {
        let at = servers
            .iter()
            .position(|k| *k == Kind::Wharf)
            .map_or(0, |i| i + 1);
        servers.insert(at, Kind::WharfBefore);
    }
    let files = parse_count(&get("--files", "20000"))?;
    let dirs = parse_count(&get("--dirs", "200"))?;
    if dirs > files || files > 10_000_000 {
        return Err("--dirs at most --files, --files at most 10m".into());
    }
    let median = parse_size(&get("--median", "6k"))?.bytes;
    let seed: u64 = get("--seed", "1").parse().map_err(|_| "bad --seed")?;
    let paths = parse_count(&get("--paths", "100000"))? as usize;
    let io_sweep = match given.get("--io-threads-sweep") {
        None => Vec::new(),
        Some(list) => parse_list(list, |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| format!("bad --io-threads-sweep value {s:?} (1 to 1024)").into())
        })?,
    };
    let max_resident = get("--max-resident", "5")
        .trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or("bad --max-resident (a percentage)")?
        / 100.0;
    let storm = parse_count(&get("--storm", "10000"))? as usize;
    let storm_threads = parse_count(&get("--storm-threads", "1"))? as usize;
    if storm > 100_000 || storm_threads > 64 || storm_threads > storm {
        return Err("--storm at most 100k, --storm-threads 1..64 and at most --storm".into());
    }
    let depth = parse_count(&get("--depth", "16"))? as usize;
    if depth > 1024 {
        return Err("--depth 1..1024".into());
    }
    let scale_files = parse_list(&get("--scale-files", "1k,10k,100k"), parse_count)?;
    let tmpdir = given.get("--tmpdir").map(PathBuf::from);
    let trees = given.get("--trees").map(PathBuf::from).unwrap_or_else(|| {
        tmpdir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join("wharf-bench-trees")
    });
    Ok(Opts {
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
        files,
        dirs,
        median,
        seed,
        paths,
        io_sweep,
        max_resident,
        storm,
        storm_threads,
        depth,
        scale_files,
        trees,
        wharf,
        wharf_before,
        tmpdir,
        out: PathBuf::from(get("--out", "target/bench-results")),
        args: args.to_vec(),
    })
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
