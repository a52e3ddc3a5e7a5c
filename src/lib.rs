//! wharf: a static-file HTTP/1.1 server whose event loops never touch the disk.
//!
//! # Module map
//! - [`server`]: start-up (bind, root, log, pool), loop threads, shutdown.
//! - [`event_loop`]: one `mio::Poll` per thread; accepts, dispatches
//!   readiness, drains pool completions, expires deadlines.
//! - [`conn`]: one connection's state machine (read, resolve, send).
//! - [`io_pool`]: the rayon pool that runs all disk IO, and the
//!   channel + waker that return completions to the owning loop.
//! - [`fs`]: the only module that touches the filesystem (runs on the pool).
//! - [`http`]: request parsing, response heads, status codes, dates, and the
//!   RFC 9110 rules for validators, ranges and content coding (pure).
//! - [`path`]: lexical request-target sanitising (pure).
//! - [`listing`]: directory listing pages, HTML and JSON (pure).
//! - [`rules`]: per-path `Cache-Control` and header rules (pure).
//! - [`access_log`]: access-log lines, batched for the pool.
//! - [`timers`]: per-loop deadline heap.
//! - [`metrics`]: counters and histograms (Prometheus `/metrics`, summary).
//! - [`cache`]: the hot-file cache, served by the loops without any syscall
//!   but the socket write; [`watch`]: the inotify watch that keeps it fresh.
//! - [`config`], [`cli`]: configuration file and command line.
//!
//! # Data flow
//! ```text
//! accept ─► read ─► parse (http) ─► sanitize (path) ─► open job ──► IO pool
//!   (event loop thread: sockets only)                               │ fs::open_target
//!                                                                   ▼ openat2 + fstat + read
//! write ◄── response head + body ◄── conn ◄── channel + Waker ◄── Completion
//!   │
//!   └─ large files: read_chunk jobs, one in flight, one being written
//! ```

pub mod cache;
pub mod cli;
pub mod config;
pub mod disk;
#[cfg(debug_assertions)]
pub mod fault;
pub mod http;
pub mod net;
pub mod offloop;
pub mod ops;
pub mod server;
pub mod site;

pub use config::Config;
pub use server::{Server, ServerHandle, StartError};
