//! Scenario `cold`: the site tree and its uniform path list with every file
//! evicted from the page cache before each run (`posix_fadvise(DONTNEED)`
//! on each file, confirmed with `mincore`), and each server started afresh
//! for each run, so that neither the kernel nor the server holds a file's
//! data when wrk starts. `--io-threads-sweep` adds wharf with several IO
//! pool sizes. Writes `cold.md` and `cold-runs.csv`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::docroot::{evict, resident_fraction};
use crate::options::{Kind, Mode, Opts};
use crate::process::check_interrupt;
use crate::report::{self, machine};
use crate::scenarios::matrix::{log_run, table, write_out, Recorder};
use crate::scenarios::site::{path_list, site_spec, tree_line, verify_sample};
use crate::servers::{available, open_file_cache_for, start_server};
use crate::system::can_pin;
use crate::tree::{self, Draw};
use crate::wrk::{metrics_flush_note, run_wrk_with, wait_quiet, Run, DISTURBED, RETRIED, RETRIES};
use crate::{lua, Result};

/// Drops every file of the tree from the page cache.
fn evict_all(files: &[(String, std::path::PathBuf)]) -> Result<()> {
    for (i, (_, path)) in files.iter().enumerate() {
        if i % 5000 == 0 {
            check_interrupt();
        }
        evict(path).map_err(|e| format!("cannot evict {}: {e}", path.display()))?;
    }
    Ok(())
}

pub fn run_cold(opts: &Opts, dir: &Path) -> Result<()> {
    let spec = site_spec(opts);
    let tree = tree::ensure(&opts.trees, &spec)?;
    let files = tree.paths();
    let mut wanted = opts.servers.clone();
    wanted.extend(opts.io_sweep.iter().map(|&n| Kind::WharfIo(n)));
    let kinds = available(&wanted, opts)?;
    let machine = machine(opts, &kinds);
    let (list, list_line) = path_list(opts, dir, &tree, Draw::Uniform)?;
    let open_files = open_file_cache_for(opts.files);
    let mut rec = Recorder::new();
    // (mode, server): page-cache residency before and after each run.
    let mut resident: Vec<(Mode, String, f64, f64)> = Vec::new();
    let cell = "cold-uniform";

    for &mode in &opts.modes {
        if mode == Mode::Pinned && !can_pin() {
            eprintln!("load: skipping pinned mode: needs 2 CPUs and taskset");
            continue;
        }
        // Check once that each server serves the tree right.
        let mut ok = Vec::new();
        for &kind in &kinds {
            match start_server(kind, opts, mode, dir, &tree.root, open_files) {
                Ok(s) => {
                    verify_sample(&s, &tree)?;
                    ok.push(kind);
                }
                Err(e) => eprintln!("load: skipping {}: {e}", kind.name()),
            }
        }
        for &conns in &opts.connections {
            let extra = lua::walk(dir, &list, conns)?;
            for round in 0..opts.repeat {
                for k in 0..ok.len() {
                    let kind = ok[(k + round as usize) % ok.len()];
                    let (run, before, after) = cold_run(
                        opts, mode, dir, &tree.root, open_files, kind, &files, conns, &extra,
                    )?;
                    let name = kind.name();
                    eprintln!(
                        "load: [{}] {cell} {name}: resident before the run {:.2}%, after {:.1}%",
                        mode.name(),
                        before * 100.0,
                        after * 100.0
                    );
                    log_run(mode, cell, conns, &name, round + 1, opts.repeat, &run);
                    rec.record(mode, cell, conns, &name, round + 1, run);
                    resident.push((mode, name, before, after));
                }
            }
        }
    }

    let mut md = report::head("wharf on a cold site (page cache evicted)", opts, &machine);
    let _ = writeln!(md, "{}", tree_line(&spec, &tree));
    let _ = writeln!(md, "{list_line}");
    let _ = writeln!(md, "{}", metrics_flush_note());
    let max_before = resident.iter().map(|r| r.2).fold(0.0, f64::max);
    let _ = writeln!(
        md,
        "- method: per run, the server is started afresh (nginx `open_file_cache max={open_files}`), every \
         file of the tree is evicted (`posix_fadvise(POSIX_FADV_DONTNEED)`), `mincore` confirms it (at most \
         {:.2}% of the tree's pages were resident when a run began; a run fails above {:.0}%), then \
         `wrk -t1 -cN -d{}s --latency -s walk.lua` walks the uniform list; no warm-up; median of {} rounds, \
         servers interleaved; {} run(s) measured again because other processes used more than the limit, \
         {} still disturbed after {RETRIES} retries. Only file data is evicted: directory entries and inodes \
         stay cached.",
        max_before * 100.0,
        opts.max_resident * 100.0,
        opts.duration,
        opts.repeat,
        RETRIED.load(Ordering::Relaxed),
        DISTURBED.load(Ordering::Relaxed),
    );
    if !opts.io_sweep.is_empty() {
        let _ = writeln!(
            md,
            "- `wharf-ioN` is wharf with `--io-threads N`; plain `wharf` has its default pool size"
        );
    }
    md.push_str(
        "\nResidency after a run (the share of the tree's pages the run brought in), median per server:\n\n\
         | mode | server | resident before | resident after |\n|---|---|---:|---:|\n",
    );
    let mut seen: Vec<(Mode, String)> = Vec::new();
    for (mode, name, _, _) in &resident {
        if seen.contains(&(*mode, name.clone())) {
            continue;
        }
        seen.push((*mode, name.clone()));
        let pick = |f: fn(&(Mode, String, f64, f64)) -> f64| {
            crate::cells::median(
                resident
                    .iter()
                    .filter(|r| r.0 == *mode && &r.1 == name)
                    .map(f)
                    .collect(),
            )
            .unwrap_or(0.0)
        };
        let _ = writeln!(
            md,
            "| {} | {name} | {:.2}% | {:.1}% |",
            mode.name(),
            pick(|r| r.2) * 100.0,
            pick(|r| r.3) * 100.0
        );
    }
    table(&mut md, opts, &rec);
    write_out(opts, dir, "cold", &md, &rec.csv)
}

/// One cold run of one server: started afresh, tree evicted and checked,
/// wrk; measured again (from a fresh start and a new eviction) when other
/// processes disturbed it. Returns the run and the residency before and
/// after it.
#[allow(clippy::too_many_arguments)]
fn cold_run(
    opts: &Opts,
    mode: Mode,
    dir: &Path,
    root: &Path,
    open_files: usize,
    kind: Kind,
    files: &[(String, std::path::PathBuf)],
    conns: u32,
    extra: &crate::wrk::WrkExtra,
) -> Result<(Run, f64, f64)> {
    let mut attempt = 0;
    loop {
        let server = start_server(kind, opts, mode, dir, root, open_files)?;
        wait_quiet(opts.max_other);
        evict_all(files)?;
        let before = resident_fraction(files);
        if before > opts.max_resident {
            return Err(format!(
                "cold: {:.1}% of the tree is still in the page cache after eviction (limit {:.0}%, \
                 --max-resident): the files could not be evicted (tmpfs? dirty pages?), so this run \
                 would not be cold",
                before * 100.0,
                opts.max_resident * 100.0
            )
            .into());
        }
        let run = run_wrk_with(
            server.guard.pid(),
            &server.url("/"),
            conns,
            opts.duration,
            mode,
            extra,
        )?;
        drop(server);
        let after = resident_fraction(files);
        let other = run.other_cpu / run.wall.max(1e-9);
        match opts.max_other {
            Some(max) if other > max && attempt < RETRIES => {
                eprintln!(
                    "load: other processes used {other:.2} cores during the run; measuring it again"
                );
                RETRIED.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
            }
            Some(max) if other > max => {
                DISTURBED.fetch_add(1, Ordering::Relaxed);
                return Ok((run, before, after));
            }
            _ => return Ok((run, before, after)),
        }
    }
}
