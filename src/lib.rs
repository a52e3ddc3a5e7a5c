//! wharf: a static-file HTTP/1.1 server whose event loops never touch the disk.
//!
//! # Module map
//! The tree shows the split: [`net`] is the loop side (sockets only),
//! [`disk`] the pool side (the only code that touches the filesystem), and
//! [`http`] and [`site`] are pure. Each module uses only those listed after
//! it (`tests/it/layout.rs` checks it).
//!
//! - [`server`]: start-up (bind, root, log, pool), loop threads, signals,
//!   reload, shutdown.
//! - [`net`]: the event loops (one `mio::Poll` per thread), each
//!   connection's state machine, deadlines, and [`net::control`], what the
//!   loops share with the control side.
//! - [`disk`]: the IO pool and its lanes, confinement beneath the root,
//!   resolution of a request's target, raw IO, directory reads, the
//!   access log's destination, the inotify watcher, start-up file access.
//! - [`ops`]: access-log lines, metrics, wharf's own diagnostics, the
//!   start-up banner.
//! - [`cache`]: the hot-file cache, served by the loops without any syscall
//!   but the socket write, filled from what the pool read.
//! - [`offloop`]: thread roles, and the file handle never closed on a loop;
//!   `fault` (debug builds): the tests' fault-injection hooks.
//! - [`config`], [`cli`]: configuration file and command line.
//! - [`site`]: lexical path checks, header rules, listing rendering (pure).
//! - [`http`]: request parsing, response heads, status codes, dates, and the
//!   RFC 9110 rules for validators, ranges, content negotiation (pure).
//!
//! # Data flow
//! ```text
//! accept ─► read ─► parse (http) ─► sanitize (site) ─► cache hit? ─► write
//!   (net: event loop thread, sockets only)     │ miss
//!                                              ▼
//!                     open job ─► IO pool (disk): openat2 + fstat + read
//!                                              │
//! write ◄── response head + body ◄── conn ◄── channel + Waker ◄── Completion
//!   │
//!   └─ large files: sendfile jobs on the pool, one in flight per connection
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
