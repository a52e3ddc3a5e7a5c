//! Start-up and shutdown: binds the listening sockets, opens the root and the
//! access log, builds the IO pool, starts one event-loop thread per worker
//! and stops them on request.
//!
//! Every worker gets its own listening socket bound to the same address with
//! `SO_REUSEPORT`, so the kernel spreads incoming connections across loops
//! and no loop ever waits on another. The IO pool is shared by all loops.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mio::{Poll, Waker};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{AccessLog, Config};
use crate::event_loop::{EventLoop, WAKER};
use crate::fs::{LogSink, Root};
use crate::io_pool::IoPool;

/// A start-up failure, printed as one line.
#[derive(Debug)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// State shared by all event loops.
pub struct Shared {
    /// Set to begin a graceful shutdown.
    pub shutdown: AtomicBool,
    /// Open client connections over all loops (for `max_connections`).
    pub open_connections: AtomicUsize,
    /// Each running loop's waker, so shutdown can wake them all.
    wakers: Mutex<Vec<Arc<Waker>>>,
}

/// Asks a running server to shut down gracefully. Cheap to clone; usable
/// from any thread, including a signal-handling one.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Stops accepting, lets in-flight responses finish (up to
    /// `shutdown_timeout_secs`), then makes [`Server::run`] return.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        let wakers = self.shared.wakers.lock().unwrap_or_else(|p| p.into_inner());
        for waker in wakers.iter() {
            let _ = waker.wake();
        }
    }
}

/// A bound, not yet running server.
pub struct Server {
    config: Arc<Config>,
    listeners: Vec<std::net::TcpListener>,
    local_addr: SocketAddr,
    pool: Arc<IoPool>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds the listening sockets and prepares the root, the access log and
    /// the IO pool.
    ///
    /// # Errors
    /// A one-line [`StartError`] when the address cannot be bound, the root
    /// cannot be opened or the log file cannot be opened.
    pub fn bind(config: Config) -> Result<Server, StartError> {
        raise_fd_limit();
        let listeners = bind_listeners(config.listen, config.workers)?;
        let local_addr = listeners[0]
            .local_addr()
            .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
        let root = Root::open(&config.root)
            .map_err(|e| StartError(format!("root: cannot open {}: {e}", config.root.display())))?;
        let log = match &config.access_log {
            AccessLog::Off => None,
            AccessLog::Stdout => Some(LogSink::Stdout),
            AccessLog::Stderr => Some(LogSink::Stderr),
            AccessLog::File(path) => Some(LogSink::open_file(path).map_err(|e| {
                StartError(format!(
                    "[log] access: cannot open {} for appending: {e}",
                    path.display()
                ))
            })?),
        };
        let pool = IoPool::new(config.io_threads, root, config.http.clone(), log)
            .map_err(|e| StartError(format!("cannot start the IO pool: {e}")))?;
        Ok(Server {
            config: Arc::new(config),
            listeners,
            local_addr,
            pool,
            shared: Arc::new(Shared {
                shutdown: AtomicBool::new(false),
                open_connections: AtomicUsize::new(0),
                wakers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The address actually bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL to print: `http://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs the event loops until a shutdown completes.
    ///
    /// # Errors
    /// Creating a loop's poll or starting its thread can fail.
    pub fn run(self) -> io::Result<()> {
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        let handle = self.shutdown_handle();
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            self.shared
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(waker.clone());
            let event_loop = EventLoop::new(
                poll,
                waker,
                mio::net::TcpListener::from_std(listener),
                self.pool.clone(),
                self.config.clone(),
                self.shared.clone(),
            )?;
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
                eprintln!("wharf: error: an event loop thread panicked");
            }
        }
        Ok(())
    }
}

/// Binds one non-blocking listening socket per worker, all on the same
/// address with `SO_REUSEPORT`. With port 0 the first bind picks the port
/// and the others join it.
fn bind_listeners(
    addr: SocketAddr,
    workers: usize,
) -> Result<Vec<std::net::TcpListener>, StartError> {
    let mut listeners = Vec::with_capacity(workers);
    let mut addr = addr;
    for _ in 0..workers.max(1) {
        let socket = bind_one(addr).map_err(|e| bind_error(addr, &e))?;
        if addr.port() == 0 {
            addr = socket.local_addr().map_err(|e| bind_error(addr, &e))?;
        }
        listeners.push(socket);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn bind_error(addr: SocketAddr, error: &io::Error) -> StartError {
    let hint = match error.kind() {
        io::ErrorKind::AddrInUse => {
            " (another program is using this port; choose another with --listen ADDR:PORT or [server] listen)"
        }
        io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges; choose another with --listen ADDR:PORT)"
        }
        io::ErrorKind::AddrNotAvailable => " (this machine has no such address)",
        _ => "",
    };
    StartError(format!("listen: cannot listen on {addr}: {error}{hint}"))
}

/// Raises the soft descriptor limit to the hard limit, as nginx's
/// `worker_rlimit_nofile` would: each connection needs a descriptor, and the
/// common soft default of 1024 is far below `max_connections`.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Starts a thread that turns SIGINT and SIGTERM into a graceful shutdown.
/// A second signal exits at once.
///
/// # Errors
/// Installing the handlers can fail.
pub fn shutdown_on_signals(handle: ShutdownHandle) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("wharf-signals".to_string())
        .spawn(move || {
            let mut received = 0;
            for _ in signals.forever() {
                received += 1;
                if received == 1 {
                    handle.shutdown();
                } else {
                    eprintln!("wharf: second signal, exiting now");
                    std::process::exit(1);
                }
            }
        })?;
    Ok(())
}
