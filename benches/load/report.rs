//! The Markdown reports: number formats, the header (command, date,
//! machine, software), the load tables with wharf's ratios to its best peer,
//! and the isolation table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::SystemTime;

use crate::cells::{
    aggregate, median, Cell, CellKey, IsoRound, CHART_CONNECTIONS, FLOOR, FLOOR_NAME,
};
use crate::options::{Kind, Mode, Opts};
use crate::system::{find_tool, tool_output};
use crate::wrk::{metrics_flush_note, Run, DISTURBED, RETRIED, RETRIES};

/// Sizes at or above this are judged by MB/s and CPU per GB rather than by
/// req/s and CPU per request.
const LARGE: u64 = 64 << 20;

pub fn fmt_count(v: f64) -> String {
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

pub fn fmt_time(v: Option<f64>) -> String {
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

pub struct Machine {
    pub lines: Vec<String>,
}

pub fn machine(opts: &Opts, kinds: &[Kind]) -> Machine {
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
    if kinds
        .iter()
        .any(|k| matches!(k, Kind::Nginx | Kind::NginxAio))
    {
        tools.push(version("nginx", &["-v"]));
    }
    if kinds.contains(&Kind::Lighttpd) {
        tools.push(version("lighttpd", &["-v"]));
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

/// A report's title, command line and machine lines.
pub fn head(title: &str, opts: &Opts, machine: &Machine) -> String {
    let mut md = format!("# {title}\n\n");
    let _ = writeln!(md, "Command: `{}`\n", command_line(opts));
    for l in &machine.lines {
        let _ = writeln!(md, "{l}");
    }
    md
}

/// One row of a load table: `lead` holds the size, connections and server
/// columns, `ratios` the two ratio columns.
pub fn load_row(md: &mut String, lead: &str, c: &Cell, cpu_per_gb: &str, ratios: &str) {
    let _ = writeln!(
        md,
        "| {lead} | {} | {} | {} | {} | {} | {cpu_per_gb} | {} | {} | {ratios} | {} |",
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

/// The Markdown report of the load scenario: header, method, and one table
/// per mode with wharf's ratios to its best peer.
pub fn load(
    opts: &Opts,
    machine: &Machine,
    runs: &BTreeMap<CellKey, Vec<Run>>,
    cells: &BTreeMap<CellKey, Cell>,
    elapsed: f64,
) -> String {
    let all_runs: Vec<&Run> = runs.values().flatten().collect();
    let other: Vec<f64> = all_runs.iter().map(|r| r.other_cpu / r.wall).collect();
    let other_max = other.iter().copied().fold(0.0, f64::max);
    let other_median = median(other).unwrap_or(0.0);

    let mut md = head("wharf load benchmark", opts, machine);
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
        elapsed
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
                    .filter(|(k, _)| !k.server.starts_with("wharf"))
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
                    let lead = format!(
                        "{} | {conns} | {}",
                        size.label,
                        if is_wharf {
                            "**wharf**".to_string()
                        } else {
                            kind.name()
                        }
                    );
                    let cpu_per_gb = if size.bytes >= 1 << 20 {
                        c.cpu_per_gb.map_or("–".into(), |v| format!("{v:.3} s"))
                    } else {
                        "–".into()
                    };
                    let ratios = format!(
                        "{} | {}",
                        fmt_ratio(ratio(thr(c), best_thr)),
                        fmt_ratio(ratio(cpu(c), best_cpu))
                    );
                    load_row(&mut md, &lead, c, &cpu_per_gb, &ratios);
                }
            }
        }
        if let Some((_, c)) = mode_cells.iter().find(|(k, _)| k.size == FLOOR) {
            let lead = format!("– | {CHART_CONNECTIONS} | {FLOOR_NAME} (no file: the wrk ceiling)");
            load_row(&mut md, &lead, c, "–", "– | –");
        }
    }
    md
}

/// The Markdown report of the isolation scenario.
pub fn isolation(
    opts: &Opts,
    machine: &Machine,
    results: &BTreeMap<(Mode, u32, Kind), Vec<IsoRound>>,
    resident: &[f64],
) -> String {
    let mut md = head(
        "wharf latency isolation under cold-disk downloads",
        opts,
        machine,
    );
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
    for ((mode, conns, kind), rounds) in results {
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
    md
}
