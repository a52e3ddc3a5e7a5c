//! Scenario `pipelined`: wrk sends 16 requests in each write (a Lua `init`
//! builds the 16-request string, as TechEmpower's plaintext test does) for
//! a 1 KiB and a 16 KiB file. Writes `pipelined.md` and
//! `pipelined-runs.csv`.

use std::fmt::Write as _;
use std::path::Path;

use crate::docroot::make_root;
use crate::lua;
use crate::options::Opts;
use crate::report::{self, machine};
use crate::scenarios::matrix::{run_job, table, write_out, Job, Recorder};
use crate::servers::{available, start_servers};
use crate::wrk::metrics_flush_note;
use crate::Result;

pub fn run_pipelined(opts: &Opts, dir: &Path) -> Result<()> {
    let root = make_root(dir, &opts.sizes)?;
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut rec = Recorder::new();
    for &mode in &opts.modes {
        let servers = start_servers(&kinds, opts, mode, dir, &root, &opts.sizes)?;
        for size in &opts.sizes {
            for &conns in &opts.connections {
                let path = format!("/{}", size.file());
                let job = Job {
                    cell: format!("pipelined-{}", size.label),
                    conns,
                    path: path.clone(),
                    extra: lua::pipeline(dir, &path, opts.depth)?,
                };
                run_job(opts, mode, &servers, &job, &mut rec)?;
            }
        }
    }
    let mut md = report::head("wharf with pipelined requests", opts, &machine);
    let _ = writeln!(md, "{}", metrics_flush_note());
    let _ = writeln!(
        md,
        "- method: `wrk -t1 -cN -d{}s --latency -s pipeline.lua -- {} PATH`: each write carries {} GETs \
         for the same file, and wrk reads that many responses before writing again (its latency is per \
         batch); after a {}s warm-up run; median of {} rounds, servers interleaved",
        opts.duration, opts.depth, opts.depth, opts.warmup, opts.repeat
    );
    table(&mut md, opts, &rec);
    write_out(opts, dir, "pipelined", &md, &rec.csv)
}
