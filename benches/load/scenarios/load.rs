//! Scenario `load`: every (mode, connections, size) cell measured with wrk
//! against each server in turn, rounds interleaved, plus the nginx
//! `return 204` floor; every run goes into `load-runs.csv`, the medians into
//! `load.md` and `load.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::cells::{aggregate, Cell, CellKey, CHART_CONNECTIONS, FLOOR, FLOOR_NAME};
use crate::chart;
use crate::docroot::make_root;
use crate::options::{Kind, Opts};
use crate::report::{self, fmt_count, fmt_time, machine};
use crate::servers::{available, start_servers};
use crate::wrk::{measured_run, run_wrk, Run};
use crate::Result;

pub fn run_load(opts: &Opts, dir: &Path) -> Result<()> {
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
        let servers = start_servers(&kinds, opts, mode, dir, &root, &opts.sizes)?;
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
                    .map(|(i, s)| (i, s.kind.name(), s.url(&opts.sizes[size].file())))
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
                        w.mbps().unwrap_or(0.0),
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
    let md = report::load(
        opts,
        &machine,
        &runs,
        &cells,
        started.elapsed().as_secs_f64(),
    );

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

    let panels = chart::load_panels(opts, &cells);
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
