//! What an event loop lends a connection while it handles an event, in two
//! parts: the [`LoopContext`] it only reads (shared handles, the clocks,
//! the configuration in force) and the [`Workspace`] it may change
//! (buffers reused by every request, the access-log batch). Kept apart so
//! that a response can borrow the configuration's rules while it writes
//! into the workspace.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cache::{EventCheck, FileCache};
use crate::config::Config;
use crate::disk::pool::IoHandle;
use crate::http::date::{unix_seconds, DateCache};
use crate::http::recycle::Recycler;
use crate::net::auth_memo::AuthMemo;
use crate::net::control::Control;
use crate::ops::access_log::AccessLog;
use crate::ops::metrics::Metrics;

/// Size of the per-loop socket read buffer.
const READ_BUF_SIZE: usize = 16 * 1024;

/// What a connection reads from its loop while it handles an event. The
/// loop changes it only between events (the clocks and `Date` once per
/// iteration, the configuration on reload, `shutting_down` once).
pub struct LoopContext {
    /// The configuration in force for new requests and deadlines.
    pub config: Arc<Config>,
    /// This loop's access to the IO pool: jobs report back to this loop.
    pub io: IoHandle,
    /// The hot-file cache, shared with the other loops and the pool.
    pub cache: Arc<FileCache>,
    pub metrics: Arc<Metrics>,
    /// What the loops share with the control side (connection count,
    /// shutdown flag, the configuration last published).
    pub control: Arc<Control>,
    /// The `Date` header value, rendered once a second.
    pub date: DateCache,
    /// The time of the current loop iteration.
    pub now: Instant,
    /// The same, as Unix seconds (for conditional requests on cache hits).
    pub now_secs: u64,
    /// Set once shutdown has begun: no response keeps its connection open.
    pub shutting_down: bool,
}

/// What a connection may change in its loop while it handles an event.
/// Nothing here outlives one event except the access-log batch, the free
/// lists, the read numbering and the memo of password checks; the buffers
/// are scratch space.
pub struct Workspace {
    /// Socket reads land here before being appended to a connection's
    /// buffer.
    pub read_buf: Vec<u8>,
    /// Scratch space for decoding a request's path.
    pub decoded: Vec<u8>,
    /// The decoded path of the request being routed, relative to the
    /// root (scratch: read only while that request is routed).
    pub relative: String,
    /// Scratch space for rendering response-head lines.
    pub head_text: String,
    /// Free lists of buffers, so a cache hit allocates nothing.
    pub recycler: Recycler,
    /// This loop's access-log lines, batched for the pool.
    pub log: AccessLog,
    /// This loop's numbering of socket reads against its last check for
    /// pending filesystem events (see [`EventCheck`]).
    pub event_check: EventCheck,
    /// This loop's recent password checks (`auth` rules).
    pub auth_memo: AuthMemo,
}

impl LoopContext {
    pub fn new(
        config: Arc<Config>,
        io: IoHandle,
        cache: Arc<FileCache>,
        metrics: Arc<Metrics>,
        control: Arc<Control>,
    ) -> LoopContext {
        let mut ctx = LoopContext {
            config,
            io,
            cache,
            metrics,
            control,
            date: DateCache::new(),
            now: Instant::now(),
            now_secs: 0,
            shutting_down: false,
        };
        ctx.tick();
        ctx
    }

    /// Reads the clocks for a new loop iteration: [`LoopContext::now`],
    /// [`LoopContext::now_secs`] and the `Date` header.
    pub fn tick(&mut self) {
        self.now = Instant::now();
        let wall = SystemTime::now();
        self.date.refresh(wall);
        self.now_secs = unix_seconds(wall);
    }
}

impl Workspace {
    pub fn new(log_enabled: bool) -> Workspace {
        Workspace {
            read_buf: vec![0; READ_BUF_SIZE],
            decoded: Vec::new(),
            relative: String::new(),
            head_text: String::new(),
            recycler: Recycler::default(),
            log: AccessLog::new(log_enabled),
            event_check: EventCheck::default(),
            auth_memo: AuthMemo::default(),
        }
    }
}
