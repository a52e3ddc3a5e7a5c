//! The loop side: event loops that drive non-blocking sockets by readiness
//! and never make a filesystem call. Everything that touches the disk is
//! sent to the IO pool ([`crate::disk`]) and comes back as a completion.
//!
//! - [`event_loop`]: one `mio::Poll` per thread; accepts, dispatches
//!   readiness, drains pool completions, expires deadlines.
//! - [`conn`]: one connection's state machine (read, resolve, send).
//! - [`timers`]: the per-loop deadline heap.

pub mod conn;
pub mod context;
pub mod control;
pub mod event_loop;
pub mod io_errors;
pub mod timers;
