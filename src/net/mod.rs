//! The loop side: event loops that drive non-blocking sockets by readiness
//! and never make a filesystem call. Everything that touches the disk is
//! sent to the IO pool ([`crate::disk`]) and comes back as a completion.
//!
//! - [`event_loop`]: one `mio::Poll` per thread; accepts, dispatches
//!   readiness, drains pool completions, expires deadlines.
//! - [`conn`]: one connection's state machine (read, route, respond,
//!   send), with its body sub-states.
//! - [`context`]: what a loop lends a connection during an event, to read
//!   ([`context::LoopContext`]) and to write in ([`context::Workspace`]).
//! - [`timers`]: the per-loop deadline heap.
//! - [`control`]: what the loops share with the control side (shutdown,
//!   reload, the connection count).
//! - [`listen`]: listeners and streams of every kind (TCP, dual-stack
//!   IPv6, Unix, systemd sockets) and binding them at start-up.
//! - [`io_errors`]: `would_block()` / `interrupted()` for every socket call.
//! - [`auth_memo`]: each loop's memo of recent password checks.

pub mod auth_memo;
pub mod conn;
pub mod context;
pub mod control;
pub mod event_loop;
pub mod io_errors;
pub mod listen;
pub mod timers;
