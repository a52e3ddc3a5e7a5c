//! Scenario `churn`: connection set-up and tear-down. `churn-close`: wrk
//! on a 1 KiB file with `Connection: close` on every request (one request
//! per connection). `accept storm`: N connections opened back to back from
//! the bench's own client threads, each sending one GET, then every
//! response read and the connection closed; the wall time per server.
//! Writes `churn.md` and `churn-runs.csv`.

use std::fmt::Write as _;
use std::path::Path;

use crate::cells::median;
use crate::docroot::make_root;
use crate::options::{Mode, Opts};
use crate::report::{self, machine};
use crate::scenarios::matrix::{run_job, table, write_out, Job, Recorder};
use crate::servers::{available, start_servers};
use crate::storm::{storm, Storm};
use crate::system::tree_cpu;
use crate::wrk::{metrics_flush_note, wait_quiet, WrkExtra};
use crate::Result;

pub fn run_churn(opts: &Opts, dir: &Path) -> Result<()> {
    let root = make_root(dir, &opts.sizes)?;
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut rec = Recorder::new();
    // (mode, server, storm, server CPU seconds)
    let mut storms: Vec<(Mode, String, Storm, f64)> = Vec::new();
    let size = &opts.sizes[0];
    let path = format!("/{}", size.file());

    for &mode in &opts.modes {
        let servers = start_servers(&kinds, opts, mode, dir, &root, &opts.sizes)?;
        for &conns in &opts.connections {
            let job = Job {
                cell: format!("churn-close-{}", size.label),
                conns,
                path: path.clone(),
                extra: WrkExtra {
                    options: vec!["-H".into(), "Connection: close".into()],
                    script_args: Vec::new(),
                },
            };
            run_job(opts, mode, &servers, &job, &mut rec)?;
        }
        for round in 0..opts.repeat {
            for k in 0..servers.len() {
                let s = &servers[(k + round as usize) % servers.len()];
                wait_quiet(opts.max_other);
                let cpu = tree_cpu(s.guard.pid());
                let st = storm(
                    s.port,
                    &path,
                    opts.storm,
                    opts.storm_threads,
                    mode == Mode::Pinned,
                );
                let cpu = tree_cpu(s.guard.pid()) - cpu;
                eprintln!(
                    "load: [{}] accept storm {} round {}/{}: {} connections in {:.3} s (connects done at {:.3} s), \
                     {} slow connects (max {:.2} s), {} failed, server {:.1} µs CPU per connection",
                    mode.name(),
                    s.kind.name(),
                    round + 1,
                    opts.repeat,
                    st.connections,
                    st.wall,
                    st.connect_wall,
                    st.slow_connects,
                    st.max_connect,
                    st.failed,
                    cpu / st.connections as f64 * 1e6
                );
                let _ = writeln!(
                    rec.csv,
                    "{},accept-storm-t{},{},{},{},{},{:.3},,,,,{},,{:.3},,,{:.4}",
                    mode.name(),
                    opts.storm_threads,
                    opts.storm,
                    s.kind.name(),
                    round + 1,
                    st.connections - st.failed,
                    st.wall,
                    st.failed,
                    cpu,
                    st.wall
                );
                storms.push((mode, s.kind.name(), st, cpu));
            }
        }
    }

    let mut md = report::head("wharf under connection churn", opts, &machine);
    let _ = writeln!(md, "{}", metrics_flush_note());
    let _ = writeln!(
        md,
        "- `churn-close`: `wrk -t1 -cN -d{}s --latency -H \"Connection: close\"` on a {} file: every request \
         on a new connection, closed by the server after its response; after a {}s warm-up run; median of \
         {} rounds, servers interleaved",
        opts.duration, size.label, opts.warmup, opts.repeat
    );
    let _ = writeln!(
        md,
        "- accept storm: {} connections opened back to back from {} client thread(s) (pinned with wrk's CPU \
         in pinned mode), each sending `GET {path}` with `Connection: close` right after its connect; then \
         each response is read to the server's close. Wall time from the first connect to the last close; a \
         connect of 0.9 s or more had a SYN dropped (full accept queue) and retransmitted. Each storm binds a \
         fresh 127.x.y.z source address, so `TIME_WAIT` sockets of earlier storms do not interfere. Median of \
         {} storms per server, interleaved. Servers: nginx's listen backlog is its default (511), wharf's 4096, \
         lighttpd's its default; at most 16384 (wharf, nginx) and 8192 (lighttpd) connections.",
        opts.storm, opts.storm_threads, opts.repeat
    );
    table(&mut md, opts, &rec);
    md.push_str(
        "\n### Accept storm\n\n\
         | mode | server | wall (median) | min | max | connects done (median) | slow connects (all storms) | longest connect | failed | server CPU per connection |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut seen: Vec<(Mode, String)> = Vec::new();
    for (mode, name, _, _) in &storms {
        if seen.contains(&(*mode, name.clone())) {
            continue;
        }
        seen.push((*mode, name.clone()));
        let mine: Vec<&(Mode, String, Storm, f64)> = storms
            .iter()
            .filter(|s| s.0 == *mode && &s.1 == name)
            .collect();
        let walls: Vec<f64> = mine.iter().map(|s| s.2.wall).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {:.3} s | {:.3} s | {:.3} s | {:.3} s | {} | {:.2} s | {} | {:.1} µs |",
            mode.name(),
            if name.starts_with("wharf") {
                format!("**{name}**")
            } else {
                name.clone()
            },
            median(walls.clone()).unwrap_or(0.0),
            walls.iter().copied().fold(f64::INFINITY, f64::min),
            walls.iter().copied().fold(0.0, f64::max),
            median(mine.iter().map(|s| s.2.connect_wall).collect()).unwrap_or(0.0),
            mine.iter().map(|s| s.2.slow_connects).sum::<usize>(),
            mine.iter().map(|s| s.2.max_connect).fold(0.0, f64::max),
            mine.iter().map(|s| s.2.failed).sum::<usize>(),
            median(
                mine.iter()
                    .map(|s| s.3 / s.2.connections as f64 * 1e6)
                    .collect()
            )
            .unwrap_or(0.0),
        );
    }
    write_out(opts, dir, "churn", &md, &rec.csv)
}
