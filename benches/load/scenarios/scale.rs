//! Scenario `scale`: how wharf and its peers fare as the tree grows (1k,
//! 10k, 100k files of 1 KiB by default; 1m opt-in): req/s and server CPU per
//! request with wrk walking a uniform path list over the tree, and each
//! server's start-up time (wharf: spawn to its printed URL line; all:
//! spawn to the first 200) and resident memory after start-up and after
//! the runs. Writes `scale.md` and `scale-runs.csv`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cells::median;
use crate::lua;
use crate::options::{Kind, Mode, Opts};
use crate::process::nap;
use crate::report::{self, fmt_time, machine};
use crate::scenarios::matrix::{run_job, table, write_out, Job, Recorder};
use crate::scenarios::site::{path_list, tree_line, verify_sample, warm_tree};
use crate::servers::{available, open_file_cache_for, start_server, start_servers_with};
use crate::system::{can_pin, tree_rss};
use crate::tree::{self, Draw, Sizes, Spec};
use crate::wrk::metrics_flush_note;
use crate::Result;

/// Files per directory of the scale trees.
const PER_DIR: u64 = 1000;

/// One start of one server: (files, mode, server, URL line, first 200, RSS).
type Start = (u64, Mode, String, Option<Duration>, Duration, u64);

fn fmt_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

pub fn run_scale(opts: &Opts, dir: &Path) -> Result<()> {
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut rec = Recorder::new();
    let mut notes = Vec::new();
    let mut starts: Vec<Start> = Vec::new();
    // (files, mode, server, RSS after the runs)
    let mut after: Vec<(u64, Mode, String, u64)> = Vec::new();

    for &files in &opts.scale_files {
        let spec = Spec {
            name: "scale",
            files,
            dirs: files.div_ceil(PER_DIR),
            sizes: Sizes::Fixed(1024),
            seed: opts.seed,
        };
        let tree = tree::ensure(&opts.trees, &spec)?;
        notes.push(tree_line(&spec, &tree));
        notes.push(warm_tree(&tree)?);
        let (list, line) = path_list(opts, dir, &tree, Draw::Uniform)?;
        notes.push(line);
        let cell = format!("scale-{}", count_label(files));
        let open_files = open_file_cache_for(files);
        for &mode in &opts.modes {
            if mode == Mode::Pinned && !can_pin() {
                eprintln!("load: skipping pinned mode: needs 2 CPUs and taskset");
                continue;
            }
            // Start-up: each server started and stopped --repeat times, in
            // turn.
            for round in 0..opts.repeat {
                for k in 0..kinds.len() {
                    let kind = kinds[(k + round as usize) % kinds.len()];
                    let s = start_server(kind, opts, mode, dir, &tree.root, open_files)?;
                    // wharf prints the line before it serves, but the thread
                    // that reads its stdout may not have seen it yet.
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while kind.is_wharf()
                        && s.guard.url_line.get().is_none()
                        && Instant::now() < deadline
                    {
                        nap(Duration::from_millis(1));
                    }
                    let url_line = s.guard.url_line.get().map(|t| t.duration_since(s.spawned));
                    let rss = tree_rss(s.guard.pid());
                    eprintln!(
                        "load: [{}] {cell} {} start {}/{}: URL line {}, first 200 after {}, RSS {}",
                        mode.name(),
                        kind.name(),
                        round + 1,
                        opts.repeat,
                        fmt_time(url_line.map(|d| d.as_secs_f64())),
                        fmt_time(Some(s.ready.as_secs_f64())),
                        fmt_mib(rss)
                    );
                    starts.push((files, mode, kind.name(), url_line, s.ready, rss));
                }
            }
            let servers = start_servers_with(&kinds, opts, mode, dir, &tree.root, open_files, &[])?;
            for s in &servers {
                verify_sample(s, &tree)?;
            }
            for &conns in &opts.connections {
                let job = Job {
                    cell: cell.clone(),
                    conns,
                    path: "/".into(),
                    extra: lua::walk(dir, &list, conns)?,
                };
                run_job(opts, mode, &servers, &job, &mut rec)?;
            }
            for s in &servers {
                after.push((files, mode, s.kind.name(), tree_rss(s.guard.pid())));
            }
        }
    }

    let mut md = report::head("wharf as the tree grows", opts, &machine);
    for n in &notes {
        let _ = writeln!(md, "{n}");
    }
    let _ = writeln!(md, "{}", metrics_flush_note());
    let _ = writeln!(
        md,
        "- method: per tree, each server is first started and stopped {} times in turn (start-up time and \
         RSS); then all are started and `wrk -t1 -cN -d{}s --latency -s walk.lua` walks a uniform list \
         over the tree after a {}s warm-up run; median of {} rounds, servers interleaved; nginx \
         `open_file_cache max=min(files, 10000)`",
        opts.repeat, opts.duration, opts.warmup, opts.repeat
    );
    md.push_str(
        "\n### Start-up and memory\n\n\
         `URL line`: wharf's spawn to its printed start-up line (stdout); `first 200`: spawn to the first \
         answered `GET /` (polled every 5 ms); RSS: `VmRSS` of the server's process tree right after that \
         answer, and after the measured runs. Medians.\n\n\
         | files | mode | server | URL line | first 200 | RSS after start-up | RSS after the runs |\n\
         |---:|---|---|---:|---:|---:|---:|\n",
    );
    for &files in &opts.scale_files {
        for &mode in &opts.modes {
            for kind in &kinds {
                let name = kind.name();
                let mine: Vec<&Start> = starts
                    .iter()
                    .filter(|s| s.0 == files && s.1 == mode && s.2 == name)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let url = median(
                    mine.iter()
                        .filter_map(|s| s.3.map(|d| d.as_secs_f64()))
                        .collect(),
                );
                let ready = median(mine.iter().map(|s| s.4.as_secs_f64()).collect());
                let rss = median(mine.iter().map(|s| s.5 as f64).collect()).unwrap_or(0.0);
                let rss_after = after
                    .iter()
                    .find(|a| a.0 == files && a.1 == mode && a.2 == name)
                    .map_or("–".into(), |a| fmt_mib(a.3));
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {rss_after} |",
                    count_label(files),
                    mode.name(),
                    if *kind == Kind::Wharf {
                        "**wharf**".to_string()
                    } else {
                        name.clone()
                    },
                    if kind.is_wharf() {
                        fmt_time(url)
                    } else {
                        "–".into()
                    },
                    fmt_time(ready),
                    fmt_mib(rss as u64),
                );
            }
        }
    }
    table(&mut md, opts, &rec);
    write_out(opts, dir, "scale", &md, &rec.csv)
}

fn count_label(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}m", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
