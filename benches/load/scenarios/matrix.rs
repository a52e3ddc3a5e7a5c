//! What the site, churn, pipelined and scale scenarios share: named wrk
//! cells (a path or a script) run against every server in turn, rounds
//! interleaved with a rotating order; the runs recorded for the CSV, and
//! the Markdown table of their medians with wharf's ratios to its best peer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::cells::{aggregate, Cell};
use crate::options::{Mode, Opts};
use crate::report::{fmt_count, fmt_time, load_row};
use crate::servers::Server;
use crate::wrk::{measured_run_with, run_wrk_with, Run, WrkExtra};
use crate::Result;

/// One cell: wrk against `path` (or the URL root with a script), with
/// `conns` connections.
pub struct Job {
    pub cell: String,
    pub conns: u32,
    pub path: String,
    pub extra: WrkExtra,
}

/// (mode, cell, connections, server)
pub type Key = (Mode, String, u32, String);

#[derive(Default)]
pub struct Recorder {
    pub runs: BTreeMap<Key, Vec<Run>>,
    /// Cells in the order they ran, for the tables.
    pub cells: Vec<String>,
    /// Servers in the order given, for the tables.
    pub servers: Vec<String>,
    pub csv: String,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            csv: "mode,cell,connections,server,round,requests,secs,bytes,req_per_s,p50_s,p99_s,errors,non2xx,server_cpu_s,wrk_cpu_s,other_cpu_s,wall_s\n".into(),
            ..Recorder::default()
        }
    }

    pub fn record(
        &mut self,
        mode: Mode,
        cell: &str,
        conns: u32,
        server: &str,
        round: u32,
        run: Run,
    ) {
        if !self.cells.iter().any(|c| c == cell) {
            self.cells.push(cell.to_string());
        }
        if !self.servers.iter().any(|s| s == server) {
            self.servers.push(server.to_string());
        }
        let w = &run.wrk;
        let _ = writeln!(
            self.csv,
            "{},{cell},{conns},{server},{round},{},{:.3},{:.0},{:.1},{},{},{},{},{:.3},{:.3},{:.3},{:.3}",
            mode.name(),
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
        self.runs
            .entry((mode, cell.to_string(), conns, server.to_string()))
            .or_default()
            .push(run);
    }

    /// The medians of a cell.
    pub fn cell(&self, key: &Key) -> Option<Cell> {
        self.runs.get(key).map(|r| aggregate(r))
    }
}

/// The progress line of one run.
pub fn log_run(mode: Mode, cell: &str, conns: u32, server: &str, round: u32, of: u32, run: &Run) {
    let w = &run.wrk;
    eprintln!(
        "load: [{}] {cell:<14} c{conns:<4} {server:<12} round {round}/{of}: {:>8} req/s {:>9.1} MB/s p99 {:>9}  server {:.2} cores ({} CPU/req), wrk {:.2}, other {:.2}{}",
        mode.name(),
        fmt_count(w.rps),
        w.mbps().unwrap_or(0.0),
        fmt_time(w.p99),
        run.server_cpu / run.wall,
        if w.requests > 0 {
            format!("{:.1} µs", run.server_cpu / w.requests as f64 * 1e6)
        } else {
            "–".into()
        },
        run.wrk_cpu / run.wall,
        run.other_cpu / run.wall,
        if w.errors + w.non2xx > 0 {
            format!("  ERRORS {} non-2xx {}", w.errors, w.non2xx)
        } else {
            String::new()
        }
    );
}

/// Runs `job` against every server: one warm-up run each (unless
/// `--warmup 0`), then `--repeat` rounds, the servers interleaved and the
/// first of them rotating from round to round.
pub fn run_job(
    opts: &Opts,
    mode: Mode,
    servers: &[Server],
    job: &Job,
    rec: &mut Recorder,
) -> Result<()> {
    if servers.is_empty() {
        return Ok(());
    }
    if opts.warmup > 0 {
        for s in servers {
            run_wrk_with(
                s.guard.pid(),
                &s.url(&job.path),
                job.conns,
                opts.warmup,
                mode,
                &job.extra,
            )?;
        }
    }
    for round in 0..opts.repeat {
        for k in 0..servers.len() {
            let s = &servers[(k + round as usize) % servers.len()];
            let run = measured_run_with(
                opts,
                s.guard.pid(),
                &s.url(&job.path),
                job.conns,
                mode,
                &job.extra,
            )?;
            let name = s.kind.name();
            log_run(
                mode,
                &job.cell,
                job.conns,
                &name,
                round + 1,
                opts.repeat,
                &run,
            );
            rec.record(mode, &job.cell, job.conns, &name, round + 1, run);
        }
    }
    Ok(())
}

/// The medians of every cell, one table per mode, with wharf's (and each
/// wharf variant's) ratios to the best non-wharf server of the same cell.
pub fn table(md: &mut String, opts: &Opts, rec: &Recorder) {
    md.push_str(
        "\nColumns: req/s counts every response wrk read; MB/s everything it read (headers too); p50 and \
         p99 are wrk's latencies; CPU/req is the server's utime+stime (its whole process tree, from /proc) \
         per request; `server`/`wrk` are the cores each kept busy. Ratios compare wharf with the best \
         peer in the same cell (req/s; CPU per request, below 1: wharf uses less).\n",
    );
    for &mode in &opts.modes {
        if !rec.runs.keys().any(|k| k.0 == mode) {
            continue;
        }
        let _ = writeln!(md, "\n### {}\n", mode.describe());
        md.push_str(
            "| cell | conns | server | req/s | MB/s | p50 | p99 | CPU/req | CPU/GB | server | wrk | req/s ÷ best peer | CPU ÷ best peer | errors |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for cell in &rec.cells {
            for &conns in &opts.connections {
                let row: Vec<(&String, Cell)> = rec
                    .servers
                    .iter()
                    .filter_map(|s| {
                        rec.cell(&(mode, cell.clone(), conns, s.clone()))
                            .map(|c| (s, c))
                    })
                    .collect();
                let peers = row.iter().filter(|(s, _)| !s.starts_with("wharf"));
                let best_rps = peers.clone().filter_map(|(_, c)| c.rps).reduce(f64::max);
                let best_cpu = peers.filter_map(|(_, c)| c.cpu_per_req).reduce(f64::min);
                for (server, c) in &row {
                    let is_wharf = server.starts_with("wharf");
                    let ratio = |v: Option<f64>, b: Option<f64>| match (is_wharf, v, b) {
                        (true, Some(v), Some(b)) if b > 0.0 => format!("{:.2}×", v / b),
                        _ => "–".into(),
                    };
                    let lead = format!(
                        "{cell} | {conns} | {}",
                        if is_wharf {
                            format!("**{server}**")
                        } else {
                            server.to_string()
                        }
                    );
                    let ratios = format!(
                        "{} | {}",
                        ratio(c.rps, best_rps),
                        ratio(c.cpu_per_req, best_cpu)
                    );
                    let gb = c.cpu_per_gb.map_or("–".into(), |v| format!("{v:.3} s"));
                    load_row(md, &lead, c, &gb, &ratios);
                }
            }
        }
    }
}

/// Writes `OUT/NAME.md` (also printed), `OUT/NAME-runs.csv` and the
/// servers' configs into `OUT/configs/`.
pub fn write_out(opts: &Opts, dir: &Path, name: &str, md: &str, csv: &str) -> Result<()> {
    fs::create_dir_all(&opts.out)?;
    let configs = opts.out.join("configs");
    fs::create_dir_all(&configs)?;
    for conf in [
        "wharf.toml",
        "nginx.conf",
        "nginx-aio.conf",
        "lighttpd.conf",
    ] {
        if dir.join(conf).exists() {
            fs::copy(dir.join(conf), configs.join(conf))?;
        }
    }
    print!("\n{md}");
    fs::write(opts.out.join(format!("{name}.md")), md)?;
    if !csv.is_empty() {
        fs::write(opts.out.join(format!("{name}-runs.csv")), csv)?;
    }
    eprintln!(
        "load: wrote {}",
        opts.out.join(format!("{name}.md")).display()
    );
    Ok(())
}
