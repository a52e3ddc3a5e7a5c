//! The pool side: the only code that touches the filesystem (`std::fs`,
//! rustix's filesystem calls), enforced by clippy's `disallowed-methods`
//! lint everywhere else. After start-up it runs only on the IO pool
//! ([`pool`]) or the watcher's thread ([`watch`]), never on an event loop.
//!
//! - [`pool`]: the threads, the jobs and the completions that return to
//!   the loops (with [`lanes`], the scheduler).
//! - [`root`]: confinement, every open beneath the document root.
//! - [`resolve`]: a request's target to an answer (file, index, redirect,
//!   listing); [`cacheable`]: reading a file for the hot-file cache.
//! - [`archive`]: directory downloads, a tar streamed chunk by chunk.
//! - [`io`]: positional reads and `sendfile`; [`dir`]: directory reads.
//! - [`log_sink`]: the access log's destination; [`startup`]: the config
//!   file and the root, before the loops start.
//! - [`password`]: bcrypt checks for `auth` rules, on lanes of their own;
//!   [`password_guard`]: the bounds and penalties of who may have one.
//! - [`watch`]: the inotify watcher that keeps the cache fresh.
//! - [`socket_file`]: Unix socket files at start-up and exit (stale ones
//!   replaced, live ones refused, the mode set, removal).
//! - [`compress`]: compressing a cached file once (`[http] compress`), on
//!   the pool's compression lane.

// The pool side may touch the filesystem; clippy.toml refuses it elsewhere.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod archive;
pub mod cacheable;
pub mod compress;
pub mod dir;
pub mod io;
pub mod lanes;
pub mod log_sink;
pub mod password;
pub mod password_guard;
pub mod pool;
pub mod representation;
pub mod resolve;
pub mod root;
pub mod socket_file;
pub mod startup;
pub mod watch;

pub use log_sink::LogSink;
pub use resolve::{open_target, read_error_page, FileBody, FileResponse, OpenRequest, Opened};
pub use root::{OpenError, Root};
