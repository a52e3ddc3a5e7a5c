//! Start-up and shutdown: binds the listening sockets, opens the root and the
//! access log, builds the IO pool, starts one event-loop thread per worker
//! and stops them on request.
//!
//! Every worker gets its own listening socket per address (see
//! [`crate::net::listen`]: `SO_REUSEPORT` for TCP, duplicates of one socket
//! for Unix sockets and systemd's), so no loop ever waits on another. The
//! IO pool is shared by all loops.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mio::{Poll, Waker};

use crate::cache::FileCache;
use crate::config::ListenAddr;
use crate::config::{AccessLogTarget, Config, Overrides};
use crate::disk::pool::{IoPool, Site};
use crate::disk::watch::{self, RootWatch};
use crate::disk::{LogSink, Root};
use crate::net::control::Control;
use crate::net::event_loop::{EventLoop, WAKER};
use crate::net::listen::{self, SocketFile};
use crate::ops::access_log;
use crate::ops::metrics::Metrics;

/// A start-up failure, printed as one line.
#[derive(Debug)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Controls a running server from any thread (a signal handler, a test):
/// graceful shutdown, configuration reload and log reopening. Cheap to
/// clone.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Control>,
    pool: Arc<IoPool>,
    overrides: Overrides,
    /// The inotify watch of the root for the hot-file cache, renewed when a
    /// reload changes the root.
    watch: Arc<Mutex<Option<RootWatch>>>,
}

impl ServerHandle {
    /// Stops accepting, lets in-flight responses finish (up to
    /// `shutdown_timeout_secs`), then makes [`Server::run`] return.
    pub fn shutdown(&self) {
        self.shared.request_shutdown();
    }

    /// The counters of [`crate::ops::metrics`], as a summary (for SIGUSR2).
    pub fn stats(&self) -> String {
        self.pool.metrics().summary(self.pool.cache())
    }

    /// Re-reads the config file (the command-line flags still override it)
    /// and applies what can change without dropping connections: limits,
    /// timeouts, `[http]`, the root and the access log. `listen`, `workers`,
    /// `io_threads` and `[cache]` need a restart and keep their values. An invalid
    /// new config changes nothing.
    ///
    /// # Errors
    /// The one-line reason the new config was refused.
    pub fn reload(&self) -> Result<ReloadReport, String> {
        let old = self.shared.config();
        let mut new =
            crate::disk::startup::load_config(old.config_file.as_deref(), &self.overrides)
                .map_err(|e| e.to_string())?;
        let mut needs_restart = Vec::new();
        if new.listen != old.listen {
            needs_restart.push("listen");
            new.listen = old.listen.clone();
        }
        if new.unix_socket_mode != old.unix_socket_mode {
            needs_restart.push("unix_socket_mode");
            new.unix_socket_mode = old.unix_socket_mode;
        }
        if new.workers != old.workers {
            needs_restart.push("workers");
            new.workers = old.workers;
        }
        if new.io_threads != old.io_threads {
            needs_restart.push("io_threads");
            new.io_threads = old.io_threads;
        }
        // The cache (and whether a watch runs for it) was built with these
        // at start-up.
        if new.cache != old.cache {
            needs_restart.push("[cache]");
            new.cache = old.cache.clone();
        }
        // Open everything new first, so a failure leaves the old config whole.
        // The root is opened again even when its path is unchanged: a
        // deploy may have renamed another directory into place, and the
        // open descriptor would keep serving the old one.
        let root = Root::open(&new.root)
            .map_err(|e| format!("root: cannot open {}: {e}", new.root.display()))?;
        let root_moved = new.root != old.root || !self.pool.serves(&root);
        let site = (root_moved || new.http != old.http).then(|| Site {
            root,
            http: new.http.clone(),
        });
        let log = if new.access_log != old.access_log {
            Some(open_log(&new.access_log).map_err(|e| e.0)?)
        } else {
            None
        };
        let rewatch = root_moved && new.cache.enabled;
        // Cached heads carry `Accept-Ranges`, which depends on this.
        let heads_changed = new.limits.max_ranges != old.limits.max_ranges;
        let new_root = new.root.clone();
        if let Some(log) = log {
            self.pool.replace_log(log);
        }
        access_log::set_format(new.access_log_format);
        // Publish the configuration before the site: the cache refuses
        // inserts rendered with a configuration no longer in force, and
        // replacing the site clears whatever was cached before.
        self.shared.replace_config(new);
        if let Some(site) = site {
            // The new root's watch first, so that nothing is cached from
            // it unwatched; replacing the site then clears the cache.
            if rewatch {
                let watch = watch::watch_root(&new_root, self.pool.cache().clone());
                *self.watch.lock().unwrap_or_else(|p| p.into_inner()) = watch;
            }
            self.pool.replace_site(site);
        } else if heads_changed {
            self.pool.cache().clear();
        }
        self.shared.announce_reload();
        Ok(ReloadReport { needs_restart })
    }

    /// Reopens the access-log file (for logrotate: it renames the file,
    /// then signals; lines written after this go to a new file at the
    /// configured path). The old file is closed once the batch being
    /// written to it, if any, is done. Runs on the calling thread (the
    /// signal thread), never on an event loop. Nothing to do when the log
    /// goes to stdout or stderr, or is off.
    ///
    /// # Errors
    /// The one-line reason the file could not be opened; the old file is
    /// then kept.
    pub fn reopen_log(&self) -> Result<Option<PathBuf>, String> {
        let config = self.shared.config();
        let AccessLogTarget::File(path) = &config.access_log else {
            return Ok(None);
        };
        let sink = open_log(&config.access_log).map_err(|e| e.0)?;
        self.pool.replace_log(sink);
        Ok(Some(path.clone()))
    }
}

/// What a reload could not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys that changed in the file but need a restart.
    pub needs_restart: Vec<&'static str>,
}

/// A bound, not yet running server.
pub struct Server {
    /// One loop per worker, with its poll, waker and listener already
    /// created, so every descriptor exists before the URL is printed.
    loops: Vec<EventLoop>,
    /// Every listening address, in order.
    bound: Vec<ListenAddr>,
    /// Unix socket files to remove at exit.
    socket_files: Vec<SocketFile>,
    pool: Arc<IoPool>,
    shared: Arc<Control>,
    overrides: Overrides,
    watch: Arc<Mutex<Option<RootWatch>>>,
    metrics_addr: Option<SocketAddr>,
}

impl Server {
    /// Binds the listening sockets and prepares the root, the access log and
    /// the IO pool. `overrides` are the command-line values, kept so that a
    /// reload applies them over the re-read file again.
    ///
    /// # Errors
    /// A one-line [`StartError`] when the address cannot be bound, the root
    /// cannot be opened or the log file cannot be opened.
    pub fn bind(config: Config, overrides: Overrides) -> Result<Server, StartError> {
        let fd_limit = raise_fd_limit();
        tune_allocator(config.workers + config.io_threads + 4);
        // Sockets passed by systemd replace `listen`. Taken before the
        // pool's threads exist, since it edits the environment.
        let listeners = match listen::take_activated() {
            Some(fds) => listen::from_activated(fds, config.workers),
            None => listen::bind_all(&config.listen, config.workers, config.unix_socket_mode),
        }
        .map_err(StartError)?;
        if listeners.activated {
            log::debug!(
                "using {} socket(s) passed by systemd",
                listeners.bound.len()
            );
        }
        let root = Root::open(&config.root).map_err(|e| {
            StartError(format!(
                "root: cannot open {}: {e} (check that this user may read the directory)",
                config.root.display()
            ))
        })?;
        let log = open_log(&config.access_log)?;
        access_log::set_format(config.access_log_format);
        let site = Site {
            root,
            http: config.http.clone(),
        };
        let cache = Arc::new(FileCache::new(config.cache.clone()));
        // Cached descriptors may take at most a quarter of the descriptors:
        // the rest are for connections and the files being sent.
        cache.set_descriptor_limit(fd_limit / 4);
        let watch = if config.cache.enabled {
            watch::watch_root(&config.root, cache.clone())
        } else {
            None
        };
        let metrics = Arc::new(Metrics::default());
        let config_metrics_listen = config.metrics_listen;
        let pool = IoPool::new(config.io_threads, site, log, cache, metrics)
            .map_err(|e| StartError(format!("cannot start the IO pool: {e}")))?;
        let shared = Arc::new(Control::new(config));
        shared.expect_loops(listeners.per_worker.len());
        let mut metrics_listener = match config_metrics_listen {
            Some(addr) => Some(listen::bind_tcp(addr, false, 128).map_err(|e| {
                StartError(format!("[metrics] listen: cannot listen on {addr}: {e}"))
            })?),
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(listener) => Some(
                listener
                    .local_addr()
                    .map_err(|e| StartError(format!("[metrics] listen: {e}")))?,
            ),
            None => None,
        };
        let listen::Listeners {
            per_worker,
            bound,
            socket_files,
            ..
        } = listeners;
        let loops = per_worker
            .into_iter()
            .map(|listener| {
                let poll = Poll::new()?;
                let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
                shared.add_waker(waker.clone());
                EventLoop::new(
                    poll,
                    waker,
                    listener,
                    // The first loop also serves the metrics listener.
                    metrics_listener.take().map(mio::net::TcpListener::from_std),
                    pool.clone(),
                    shared.clone(),
                )
            })
            .collect::<io::Result<Vec<EventLoop>>>()
            .map_err(|e| StartError(format!("cannot set up the event loops: {e}")))?;
        Ok(Server {
            loops,
            bound,
            socket_files,
            pool,
            shared,
            overrides,
            watch: Arc::new(Mutex::new(watch)),
            metrics_addr,
        })
    }

    /// The first listening address, when it is TCP: the address actually
    /// bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self.bound.first() {
            Some(ListenAddr::Tcp(addr)) => Some(*addr),
            _ => None,
        }
    }

    /// Every listening address, in the configured order.
    pub fn bound(&self) -> &[ListenAddr] {
        &self.bound
    }

    /// The metrics URL, when `[metrics] listen` is set.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics_addr
            .map(|addr| format!("http://{addr}/metrics"))
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.shared.config()
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
            pool: self.pool.clone(),
            overrides: self.overrides.clone(),
            watch: self.watch.clone(),
        }
    }

    /// Runs the event loops until a shutdown completes.
    ///
    /// # Errors
    /// Starting a loop thread can fail.
    pub fn run(self) -> io::Result<()> {
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        let handle = self.handle();
        for (index, event_loop) in self.loops.into_iter().enumerate() {
            let thread = std::thread::Builder::new()
                .name(format!("wharf-loop-{index}"))
                .spawn(move || event_loop.run())?;
            threads.push(thread);
        }
        // A shutdown requested before the wakers were registered is seen by
        // each loop on its first iteration; wake them to make sure it runs.
        if self.shared.shutdown.load(Ordering::Acquire) {
            handle.shutdown();
        }
        for thread in threads {
            if thread.join().is_err() {
                log::error!("an event loop thread panicked");
            }
        }
        for file in &self.socket_files {
            file.remove();
        }
        if self.shared.config().summary_on_exit {
            eprint!("{}", self.pool.metrics().summary(self.pool.cache()));
        }
        Ok(())
    }
}

/// Raises the soft descriptor limit to the hard limit, as nginx's
/// `worker_rlimit_nofile` would: each connection needs a descriptor, and the
/// common soft default of 1024 is far below `max_connections`. Returns the
/// soft limit in force afterwards.
fn raise_fd_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = match (limit.current, limit.maximum) {
        (Some(current), Some(maximum)) if current < maximum => {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => Some(maximum),
                Err(_) => Some(current),
            }
        }
        (Some(current), Some(_)) => Some(current),
        // Soft limit unlimited, or raised to an unlimited hard limit.
        (None, _) => None,
        (Some(current), None) => match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: None,
                maximum: None,
            },
        ) {
            Ok(()) => None,
            Err(_) => Some(current),
        },
    };
    current.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Opens the access-log destination. Start-up and reload only.
fn open_log(target: &AccessLogTarget) -> Result<Option<LogSink>, StartError> {
    Ok(match target {
        AccessLogTarget::Off => None,
        AccessLogTarget::Stdout => Some(LogSink::Stdout),
        AccessLogTarget::Stderr => Some(LogSink::Stderr),
        AccessLogTarget::File(path) => Some(LogSink::open_file(path).map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::NotFound => {
                    " (its directory does not exist: create it, or change [log] access)"
                }
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    " (this user may not write there: fix the permissions, or change [log] access, e.g. to \"stdout\")"
                }
                _ => " (change [log] access to another file, \"stdout\", \"stderr\" or \"off\")",
            };
            StartError(format!(
                "[log] access: cannot open {} for appending: {e}{hint}",
                path.display()
            ))
        })?),
    })
}

/// Keeps glibc's allocator from touching the filesystem on a loop thread.
///
/// Buffers cross threads here (a chunk read on the pool is freed by a loop).
/// When such a free leaves a pool thread's arena with a large free top,
/// glibc trims the heap and, the first time, reads
/// `/proc/sys/vm/overcommit_memory`; and a thread that needs a new arena
/// past the default count reads `/sys/devices/system/cpu/online`. Either
/// could happen on a loop thread, so: no automatic trimming (memory use is
/// bounded by design, not by trimming), chunk-sized buffers from the heap
/// rather than fresh mmaps, and a fixed arena count.
fn tune_allocator(threads: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called at start-up
    // before the loop and pool threads exist.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, i32::try_from(threads).unwrap_or(64));
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = threads;
}

/// Starts a thread that turns signals into actions: SIGINT and SIGTERM
/// shut down gracefully (a second one exits at once), SIGHUP reloads the
/// config file, SIGUSR1 reopens the access-log file (logrotate), SIGUSR2
/// prints the counters to stderr.
///
/// # Errors
/// Installing the handlers can fail.
pub fn handle_signals(handle: ServerHandle) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
    std::thread::Builder::new()
        .name("wharf-signals".to_string())
        .spawn(move || {
            let mut stops = 0;
            for signal in signals.forever() {
                match signal {
                    // Counters for people without Prometheus.
                    SIGUSR2 => eprint!("{}", handle.stats()),
                    SIGHUP => match handle.reload() {
                        Ok(report) if report.needs_restart.is_empty() => {
                            log::info!("reloaded the configuration");
                        }
                        Ok(report) => log::warn!(
                            "reloaded the configuration; changing {} needs a restart, kept the old value",
                            report.needs_restart.join(", ")
                        ),
                        Err(e) => {
                            log::error!("reload refused, keeping the old configuration: {e}");
                        }
                    },
                    SIGUSR1 => match handle.reopen_log() {
                        Ok(Some(path)) => log::info!("reopened the access log {}", path.display()),
                        Ok(None) => log::info!("SIGUSR1: the access log is not a file; nothing to reopen"),
                        Err(e) => log::error!("cannot reopen the access log, still writing to the old file: {e}"),
                    },
                    _ => {
                        stops += 1;
                        if stops == 1 {
                            log::info!("shutting down (a second signal exits at once)");
                            handle.shutdown();
                        } else {
                            log::warn!("second signal, exiting now");
                            log::logger().flush();
                            std::process::exit(1);
                        }
                    }
                }
            }
        })?;
    Ok(())
}
