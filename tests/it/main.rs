//! wharf's integration tests: one test crate, so one link, with a module
//! per behaviour. Each module runs the real `wharf` binary (built by Cargo
//! for this crate) on port 0 over real sockets, with its own temp root and
//! config, through the shared [`harness`]; `properties` checks the
//! library's pure parsers with proptest.
//!
//! `tests/alloc.rs` stays a test binary of its own: it installs a counting
//! `#[global_allocator]` and must be the only thing allocating in its
//! process while it counts.
//!
//! Run one module with `cargo test --test it cache::`, one test by (part
//! of) its name as usual.

// Tests set up real files and directories (clippy.toml refuses
// filesystem calls in wharf itself, outside its pool side).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod harness;

mod archive;
mod auth;
mod browser;
mod cache;
mod cli;
mod cli_extras;
mod compress;
mod conformance;
mod curl;
mod differential;
mod features;
mod health;
mod hostile;
mod http;
mod httplint;
mod layout;
mod listen;
mod logging;
mod loop_purity;
mod metrics;
mod names;
mod not_modified;
mod paths;
mod properties;
mod proxy;
mod semantics;
mod streaming;
mod wrk_smoke;
