//! Load benchmark: wrk against wharf and, when installed, nginx and lighttpd,
//! configured alike and measured side by side in one run.
//!
//! ```sh
//! cargo bench --bench load                      # every size, 1/64/256 connections, pinned and unpinned
//! cargo bench --bench load -- --modes pinned --sizes 1k,16k,1m,100m \
//!     --connections 64,256 --duration 3 --repeat 3
//! cargo bench --bench load -- --scenario isolation   # p99 under cold-disk downloads
//! cargo bench --bench load -- --scenario site,cold,churn,pipelined,scale
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
//! The real-site scenarios (`--scenario site,cold,churn,pipelined,scale`;
//! pinned, 64 connections and all four servers by default, nginx also with
//! `aio threads`): `site` serves a generated tree (`tree`) warm while a wrk
//! Lua script (`lua`) walks a Zipf(1.0) or uniform path list; `cold` does
//! the same after evicting the tree from the page cache and restarting the
//! server before each run (`--io-threads-sweep` adds wharf with other IO
//! pool sizes); `churn` is `Connection: close` on every request plus an
//! accept storm from the bench's own threads (`storm`); `pipelined` sends
//! 16 requests per write; `scale` repeats the walk on trees of 1k to 1M
//! files and reports start-up time and RSS. Each writes `OUT/NAME.md` and
//! `OUT/NAME-runs.csv`. Generated trees are kept under `--trees` and
//! reused.
//!
//! Every process it starts is killed at the end, also on a panic or Ctrl-C
//! (guards with `Drop`, and `PR_SET_PDEATHSIG` in case this process itself
//! is killed). Every wait is bounded. Nothing but 127.0.0.1 is contacted.
//!
//! Run through `cargo test` (without `--bench`) it does nothing, so the CI
//! only compiles it.
//!
//! Layout: `options` (the command line), `process` (child processes and
//! Ctrl-C), `system` (CPUs, `/proc`, external tools), `docroot` (the files
//! served), `servers` (wharf and its peers: configs, start, check), `wrk`
//! (one measured run), `cells` (runs reduced to medians), `report`
//! (Markdown), `chart` (SVG), `tree` (generated trees and path lists),
//! `lua` (wrk scripts), `storm` (the accept storm) and `scenarios` (one
//! module each, and `matrix`, what the real-site ones share). This file
//! reads the options, sets up the signals and a temp dir per scenario, and
//! runs the scenarios in the order given.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // tests and benches may touch files (clippy.toml)

mod cells;
mod chart;
mod docroot;
mod lua;
mod options;
mod process;
mod report;
mod scenarios;
mod servers;
mod storm;
mod system;
mod tree;
mod wrk;

use std::error::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use options::{parse_opts, Scenario};
use process::{stop_flag, Interrupted};
use scenarios::{
    churn::run_churn, cold::run_cold, isolation::run_isolation, load::run_load,
    pipelined::run_pipelined, scale::run_scale, site::run_site,
};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

fn main() {
    let all = match parse_opts(std::env::args().skip(1).collect()) {
        Ok(Some(all)) => all,
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
    // The accept storm holds 10,000 connections open at once, and the
    // servers inherit the limit.
    system::raise_fd_limit();
    let outcome = std::panic::catch_unwind(|| -> Result<()> {
        for opts in &all {
            let mut builder = tempfile::Builder::new();
            builder.prefix("wharf-load-");
            let dir = match &opts.tmpdir {
                Some(base) => builder.tempdir_in(base)?,
                None => builder.tempdir()?,
            };
            // nginx's workers may run as an unprivileged user: let them read.
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
            match opts.scenario {
                Scenario::Load => run_load(opts, dir.path())?,
                Scenario::Isolation => run_isolation(opts, dir.path())?,
                Scenario::Site => run_site(opts, dir.path())?,
                Scenario::Cold => run_cold(opts, dir.path())?,
                Scenario::Churn => run_churn(opts, dir.path())?,
                Scenario::Pipelined => run_pipelined(opts, dir.path())?,
                Scenario::Scale => run_scale(opts, dir.path())?,
            }
        }
        Ok(())
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
