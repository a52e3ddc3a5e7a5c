//! Scenario `site`: a generated tree (20,000 files in 200 directories,
//! log-normal sizes around 6 KiB) served warm, wrk walking a path list drawn
//! Zipf(1.0) (`site-zipf`) or uniformly (`site-uniform`) over its files.
//! Writes `site.md` and `site-runs.csv`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::lua;
use crate::options::Opts;
use crate::report::{self, machine};
use crate::scenarios::matrix::{run_job, table, write_out, Job, Recorder};
use crate::servers::{available, http_get, open_file_cache_for, start_servers_with};
use crate::tree::{self, draw_list, write_list, Draw, Sizes, Spec, Tree};
use crate::wrk::metrics_flush_note;
use crate::Result;

/// The site tree of these options.
pub fn site_spec(opts: &Opts) -> Spec {
    Spec {
        name: "site",
        files: opts.files,
        dirs: opts.dirs,
        sizes: Sizes::LogNormal {
            median: opts.median,
            sigma: tree::SITE_SIGMA,
        },
        seed: opts.seed,
    }
}

/// Writes the `draw` path list of `tree` into `dir`; returns its path and
/// a line for the report.
pub fn path_list(opts: &Opts, dir: &Path, tree: &Tree, draw: Draw) -> Result<(PathBuf, String)> {
    let picks = draw_list(tree.files.len(), opts.paths, draw, opts.seed);
    let list = dir.join(format!("{}.paths", draw.name()));
    let distinct = write_list(&list, tree, &picks)?;
    let bytes: u64 = picks.iter().map(|&i| tree.files[i].1).sum();
    let line = format!(
        "- path list `{}`: {} paths drawn {} (seed {}) over the {} files, {} distinct, mean response body {:.1} KiB",
        draw.name(),
        picks.len(),
        match draw {
            Draw::Zipf => "Zipf(1.0)",
            Draw::Uniform => "uniformly",
        },
        opts.seed,
        tree.files.len(),
        distinct,
        bytes as f64 / picks.len().max(1) as f64 / 1024.0
    );
    Ok((list, line))
}

/// GETs a sample of the tree's files (every `n/50`-th) from one server and
/// checks status and length.
pub fn verify_sample(server: &crate::servers::Server, tree: &Tree) -> Result<()> {
    let step = (tree.files.len() / 50).max(1);
    for (url, size) in tree.files.iter().step_by(step) {
        let (status, len) = http_get(server.port, url, *size)?;
        if status != 200 || len != *size {
            return Err(format!(
                "{}: GET {url} gave {status} with {len} bytes, expected 200 with {size}",
                server.kind.name()
            )
            .into());
        }
    }
    Ok(())
}

/// Reads every file of the tree once, so that a warm scenario starts with
/// the whole tree in the page cache (an earlier `cold` run evicts it);
/// returns the report's line with the residency `mincore` then finds.
pub fn warm_tree(tree: &Tree) -> Result<String> {
    let files = tree.paths();
    let mut buf = vec![0u8; 1 << 20];
    for (i, (_, path)) in files.iter().enumerate() {
        if i % 10_000 == 0 {
            crate::process::check_interrupt();
        }
        let mut f = std::fs::File::open(path)?;
        while std::io::Read::read(&mut f, &mut buf)? > 0 {}
    }
    Ok(format!(
        "- page cache: every file read once before the servers start; {:.1}% of the tree's pages resident then (mincore)",
        crate::docroot::resident_fraction(&files) * 100.0
    ))
}

/// The tree's line for a report.
pub fn tree_line(spec: &Spec, tree: &Tree) -> String {
    let median = {
        let mut s: Vec<u64> = tree.files.iter().map(|f| f.1).collect();
        s.sort_unstable();
        s.get(s.len() / 2).copied().unwrap_or(0)
    };
    let max = tree.files.iter().map(|f| f.1).max().unwrap_or(0);
    format!(
        "- tree: {} files in {} directories, {:.0} MB, median {:.1} KiB, largest {:.0} KiB ({}, seed {}); root `{}`",
        tree.files.len(),
        spec.dirs,
        tree.bytes as f64 / 1e6,
        median as f64 / 1024.0,
        max as f64 / 1024.0,
        spec.sizes.describe(),
        spec.seed,
        tree.root.display()
    )
}

pub fn run_site(opts: &Opts, dir: &Path) -> Result<()> {
    let spec = site_spec(opts);
    let tree = tree::ensure(&opts.trees, &spec)?;
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut notes = vec![tree_line(&spec, &tree), warm_tree(&tree)?];
    let mut lists = Vec::new();
    for draw in [Draw::Zipf, Draw::Uniform] {
        let (list, line) = path_list(opts, dir, &tree, draw)?;
        notes.push(line);
        lists.push((draw, list));
    }
    let mut rec = Recorder::new();
    for &mode in &opts.modes {
        let servers = start_servers_with(
            &kinds,
            opts,
            mode,
            dir,
            &tree.root,
            open_file_cache_for(opts.files),
            &[],
        )?;
        for s in &servers {
            verify_sample(s, &tree)?;
        }
        for (draw, list) in &lists {
            for &conns in &opts.connections {
                let job = Job {
                    cell: format!("site-{}", draw.name()),
                    conns,
                    path: "/".into(),
                    extra: lua::walk(dir, list, conns)?,
                };
                run_job(opts, mode, &servers, &job, &mut rec)?;
            }
        }
    }
    let mut md = report::head("wharf on a generated site", opts, &machine);
    for n in &notes {
        let _ = writeln!(md, "{n}");
    }
    let _ = writeln!(md, "{}", metrics_flush_note());
    let _ = writeln!(
        md,
        "- method: `wrk -t1 -cN -d{}s --latency -s walk.lua` (one cursor per connection, each from its own \
         offset in the list), after a {}s warm-up run (the tree is served warm: page cache and the \
         servers' caches); median of {} rounds, servers interleaved; nginx `open_file_cache max={}`",
        opts.duration,
        opts.warmup,
        opts.repeat,
        open_file_cache_for(opts.files)
    );
    table(&mut md, opts, &rec);
    write_out(opts, dir, "site", &md, &rec.csv)
}
