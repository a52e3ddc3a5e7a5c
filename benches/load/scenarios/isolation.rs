//! Scenario `isolation`: the p99 of a small cached file measured idle and
//! while clients download large files evicted from the page cache; the
//! servers take turns round by round. Writes `isolation.md`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::cells::IsoRound;
use crate::docroot::{evict, make_root, resident_fraction, write_random};
use crate::options::{Kind, Mode, Opts, Size};
use crate::process::nap;
use crate::report::{self, fmt_count, fmt_time, machine};
use crate::servers::{available, send_get, start_servers};
use crate::system::{pin_current_thread, renice_current_thread, CLIENT_CPU};
use crate::wrk::{measured_run, run_wrk, wait_quiet};
use crate::Result;

/// Clients that download the cold files over and over, evicting each file
/// from the page cache before every download, until stopped.
struct Downloaders {
    stop: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Downloaders {
    pub fn start(
        port: u16,
        files: &[(String, PathBuf)],
        rate: u64,
        nice: i32,
        pin: bool,
    ) -> Downloaders {
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let threads = files
            .iter()
            .cloned()
            .map(|(url_path, fs_path)| {
                let (stop, bytes) = (stop.clone(), bytes.clone());
                thread::spawn(move || {
                    if pin {
                        pin_current_thread(CLIENT_CPU);
                    }
                    // The downloads are load on the *server*; at nice 0 they
                    // would also preempt wrk on the client CPU and inflate the
                    // p99 being measured whatever the server does
                    // (benches/results/journal.md, 2026-11-27).
                    renice_current_thread(nice);
                    let mut buf = vec![0u8; 64 << 10];
                    while !stop.load(Ordering::Relaxed) {
                        let _ = evict(&fs_path);
                        let _ = download(port, &url_path, rate, &stop, &bytes, &mut buf);
                    }
                })
            })
            .collect();
        Downloaders {
            stop,
            bytes,
            threads,
        }
    }
}

impl Drop for Downloaders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Downloads `path` once, reading at most `rate` bytes per second (0: no
/// limit), until the end or until `stop`.
fn download(
    port: u16,
    path: &str,
    rate: u64,
    stop: &AtomicBool,
    bytes: &AtomicU64,
    buf: &mut [u8],
) -> io::Result<()> {
    // A short read timeout, so a stop is noticed quickly.
    let mut s = send_get(
        port,
        path,
        Duration::from_secs(1),
        Duration::from_millis(200),
        Duration::from_secs(1),
    )?;
    let start = Instant::now();
    let mut idle = start;
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if rate > 0 {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            let elapsed = start.elapsed();
            if due > elapsed {
                thread::sleep((due - elapsed).min(Duration::from_millis(50)));
                continue;
            }
        }
        match s.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                total += n as u64;
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                idle = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if idle.elapsed() > Duration::from_secs(30) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn run_isolation(opts: &Opts, dir: &Path) -> Result<()> {
    let small = Size {
        label: "1k".into(),
        bytes: 1024,
    };
    eprintln!(
        "load: writing {} cold files of {} MiB in {}",
        opts.cold_files,
        opts.cold_size >> 20,
        dir.display()
    );
    let root = make_root(dir, std::slice::from_ref(&small))?;
    fs::create_dir_all(root.join("cold"))?;
    let mut cold = Vec::new();
    for i in 0..opts.cold_files {
        let p = root.join("cold").join(format!("c{i}.bin"));
        write_random(&p, opts.cold_size, 0xc01d + i as u64)?;
        cold.push((format!("/cold/c{i}.bin"), p));
    }
    let kinds = available(&opts.servers, opts)?;
    let machine = machine(opts, &kinds);
    let mut results: BTreeMap<(Mode, u32, Kind), Vec<IsoRound>> = BTreeMap::new();
    let mut resident = Vec::new();

    for &mode in &opts.modes {
        // All servers run for the whole mode and take turns round by
        // round, as in the load scenario: whatever the first cold round
        // of a run costs (first opens, the disk's state) is not charged
        // to whichever server happens to go first.
        let servers = start_servers(&kinds, opts, mode, dir, &root, std::slice::from_ref(&small))?;
        for &conns in &opts.connections {
            if opts.warmup > 0 {
                for server in &servers {
                    let url = server.url(&small.file());
                    run_wrk(server.guard.pid(), &url, conns, opts.warmup, mode)?;
                }
            }
            for round in 0..opts.repeat {
                for server in &servers {
                    let kind = server.kind;
                    let url = server.url(&small.file());
                    let pid = server.guard.pid();
                    let idle = measured_run(opts, pid, &url, conns, mode)?;
                    wait_quiet(opts.max_other);
                    for (_, path) in &cold {
                        evict(path)?;
                    }
                    resident.push(resident_fraction(&cold));
                    let downloads = Downloaders::start(
                        server.port,
                        &cold,
                        opts.cold_rate,
                        opts.cold_nice,
                        mode == Mode::Pinned,
                    );
                    nap(Duration::from_millis(300));
                    let before = downloads.bytes.load(Ordering::Relaxed);
                    let t = Instant::now();
                    let busy = run_wrk(pid, &url, conns, opts.duration, mode)?;
                    let cold_mbps = (downloads.bytes.load(Ordering::Relaxed) - before) as f64
                        / t.elapsed().as_secs_f64()
                        / 1e6;
                    drop(downloads);
                    eprintln!(
                        "load: isolation [{}] {} c{conns} round {}/{}: p99 idle {} cold {}; req/s idle {} cold {}; cold downloads {:.0} MB/s",
                        mode.name(),
                        kind.name(),
                        round + 1,
                        opts.repeat,
                        fmt_time(idle.wrk.p99),
                        fmt_time(busy.wrk.p99),
                        fmt_count(idle.wrk.rps),
                        fmt_count(busy.wrk.rps),
                        cold_mbps
                    );
                    results
                        .entry((mode, conns, kind))
                        .or_default()
                        .push(IsoRound {
                            idle,
                            cold: busy,
                            cold_mbps,
                        });
                }
            }
        }
        drop(servers);
    }

    let md = report::isolation(opts, &machine, &results, &resident);
    fs::create_dir_all(&opts.out)?;
    print!("\n{md}");
    fs::write(opts.out.join("isolation.md"), &md)?;
    eprintln!("load: wrote {}", opts.out.join("isolation.md").display());
    Ok(())
}
