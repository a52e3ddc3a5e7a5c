//! The event loop: one thread, one `mio::Poll`, a listener per configured
//! address (shared with the other loops through `SO_REUSEPORT`, or a
//! duplicate of one socket, see [`crate::net::listen`]) and every
//! connection it accepted. It never blocks and never touches the
//! filesystem.
//!
//! Each iteration:
//! 1. waits for readiness, a completion wake-up or the next deadline;
//! 2. accepts new connections until `WouldBlock`;
//! 3. lets each ready connection make all the progress it can;
//! 4. drains the IO pool's completions and hands each to its connection
//!    (a completion whose connection has gone is discarded, its file closed
//!    on the pool);
//! 5. expires due deadlines;
//! 6. sends the access-log batch to the pool;
//! 7. during shutdown, closes idle connections and exits when none are left
//!    or the grace period is over.
//!
//! A connection is entered in three ways (readiness, a completion, a
//! deadline), each through `contained`: a panic there closes that
//! connection and nothing else.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::config::AccessLogTarget;
use crate::disk::pool::{Completion, Completions, ConnRef, IoHandle, IoPool, Outcome};
use crate::http::response::{error_body, HTML_UTF8};
use crate::http::{ResponseHead, Status};
use crate::net::conn::{Conn, Next};
use crate::net::context::{LoopContext, Workspace};
use crate::net::control::Control;
use crate::net::io_errors::{out_of_descriptors, Transient as _};
use crate::net::listen::{ClientStream, Listener};
use crate::net::timers::Timers;

const METRICS_LISTENER: Token = Token(usize::MAX - 2);
pub const WAKER: Token = Token(usize::MAX);
/// Client listener `i` has token `FIRST_LISTENER - i` (slab slots, the
/// connections' tokens, count up from 0 and never get there).
const FIRST_LISTENER: usize = usize::MAX - 3;

/// The listener index a token names, if it names one of `count`.
fn listener_index(token: Token, count: usize) -> Option<usize> {
    let index = FIRST_LISTENER.checked_sub(token.0)?;
    (index < count).then_some(index)
}

/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Descriptor exhaustion is reported at most this often.
const EMFILE_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Whether an event reports input, the peer's close or an error (which
/// the next read reports).
fn is_readable(event: &mio::event::Event) -> bool {
    event.is_readable() || event.is_read_closed() || event.is_error()
}

/// Runs one of a connection's entry points (readiness, a completion, a
/// deadline). A panic in it costs that connection only: the connection is
/// closed, the loop and its other connections go on. `entry` names the
/// entry point in the log line.
fn contained(entry: &str, handler: impl FnOnce() -> Next) -> Next {
    catch_unwind(AssertUnwindSafe(handler)).unwrap_or_else(|_| {
        log::error!("a {entry} handler panicked; closing that connection");
        Next::Close
    })
}

/// One event loop and everything it owns.
pub struct EventLoop {
    poll: Poll,
    /// One per configured address; emptied when shutdown begins.
    listeners: Vec<Listener>,
    /// The `[metrics] listen` socket (first loop only).
    metrics_listener: Option<TcpListener>,
    conns: Slab<Conn>,
    /// Source of connection ids; never reused, so stale completions and
    /// timers can be told apart from a newer connection in the same slot.
    next_conn_id: u64,
    completions: Completions,
    timers: Timers,
    /// What connections read while they handle an event.
    ctx: LoopContext,
    /// What they may change meanwhile.
    work: Workspace,
    accept_paused_until: Option<Instant>,
    last_emfile_report: Option<Instant>,
    shutdown_deadline: Option<Instant>,
    /// The [`Control::config_generation`] that `ctx.config` came from.
    config_generation: u64,
    /// Connections that yielded ([`Next::Yield`]) with work left: run again
    /// after the next poll's events, which is then made without waiting.
    runnable: Vec<ConnRef>,
    /// The list being run (kept to reuse its allocation).
    resuming: Vec<ConnRef>,
}

impl EventLoop {
    /// Builds a loop around `poll` (whose waker is `waker`) and `listeners`.
    ///
    /// # Errors
    /// Registering a listener with the poll can fail.
    pub fn new(
        poll: Poll,
        waker: Arc<Waker>,
        mut listeners: Vec<Listener>,
        mut metrics_listener: Option<TcpListener>,
        pool: Arc<IoPool>,
        control: Arc<Control>,
    ) -> io::Result<EventLoop> {
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, Token(FIRST_LISTENER - i), Interest::READABLE)?;
        }
        if let Some(metrics_listener) = &mut metrics_listener {
            poll.registry()
                .register(metrics_listener, METRICS_LISTENER, Interest::READABLE)?;
        }
        let config = control.config();
        let config_generation = control.config_generation.load(Ordering::Acquire);
        let log_enabled = config.access_log != AccessLogTarget::Off;
        let cache = pool.cache().clone();
        let metrics = pool.metrics().clone();
        let (io, completions) = IoHandle::new(pool, waker);
        Ok(EventLoop {
            poll,
            listeners,
            metrics_listener,
            conns: Slab::new(),
            next_conn_id: 0,
            completions,
            timers: Timers::new(),
            ctx: LoopContext::new(config, io, cache, metrics, control),
            work: Workspace::new(log_enabled),
            accept_paused_until: None,
            last_emfile_report: None,
            shutdown_deadline: None,
            config_generation,
            runnable: Vec::new(),
            resuming: Vec::new(),
        })
    }

    /// Runs until shutdown has drained every connection.
    pub fn run(mut self) {
        crate::offloop::mark_loop_thread();
        self.ctx.control.loop_started();
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.runnable.is_empty() {
                self.poll_timeout()
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.interrupted() {
                    continue;
                }
                log::error!("poll failed, stopping this event loop: {e}");
                break;
            }
            self.ctx.tick();
            self.pick_up_reload();
            // Input first, for the whole batch: then the first cache hit's
            // check for pending filesystem events covers every request
            // read here (see `cache::EventCheck`).
            for event in events.iter() {
                // (The listener and waker tokens name no slot.)
                let Token(slot) = event.token();
                if let Some(conn) = self.conns.get_mut(slot) {
                    let readable = is_readable(event);
                    conn.read_ready_input(
                        &self.ctx,
                        &mut self.work,
                        readable,
                        event.is_read_closed(),
                    );
                }
            }
            for event in events.iter() {
                match event.token() {
                    METRICS_LISTENER => self.accept_metrics(),
                    WAKER => {} // Completions are drained below in any case.
                    token => match listener_index(token, self.listeners.len()) {
                        Some(index) => self.accept_from(index),
                        None => {
                            let writable = event.is_writable() || event.is_write_closed();
                            self.conn_ready(token.0, is_readable(event), writable)
                        }
                    },
                }
            }
            self.resume_runnable();
            if self.accept_paused_until.is_some_and(|t| t <= self.ctx.now) {
                self.accept_paused_until = None;
                self.accept_all();
                self.accept_metrics();
            }
            self.drain_completions();
            self.expire_deadlines();
            self.flush_log();
            if self.ctx.control.shutdown.load(Ordering::Acquire) && self.drain_for_shutdown() {
                break;
            }
        }
        self.close_all();
        self.final_log_flush();
        self.ctx.control.loop_stopped();
    }

    /// Adopts a reloaded configuration: new limits apply to new deadlines
    /// and new requests; open connections are kept.
    fn pick_up_reload(&mut self) {
        let generation = self.ctx.control.config_generation.load(Ordering::Acquire);
        if generation != self.config_generation {
            self.config_generation = generation;
            self.ctx.config = self.ctx.control.config();
            let log_enabled = self.ctx.config.access_log != AccessLogTarget::Off;
            self.work.log.set_enabled(log_enabled);
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        [
            self.timers.next_timeout(now),
            self.accept_paused_until
                .map(|t| t.saturating_duration_since(now)),
            self.shutdown_deadline
                .map(|t| t.saturating_duration_since(now)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn accept_all(&mut self) {
        for index in 0..self.listeners.len() {
            self.accept_from(index);
        }
    }

    /// Accepts on client listener `index` until it would block.
    fn accept_from(&mut self, index: usize) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => self.admit(socket, peer, false),
                Err(e) if e.would_block() => return,
                Err(e) if e.interrupted() => {}
                Err(e) if out_of_descriptors(&e) => {
                    // Out of descriptors: the pending connection stays in the
                    // backlog and the listener stays readable, so retrying now
                    // would spin. Pause accepting instead; closing connections
                    // frees descriptors meanwhile.
                    self.accept_paused_until = Some(self.ctx.now + ACCEPT_PAUSE);
                    self.ctx.metrics.emfile.fetch_add(1, Ordering::Relaxed);
                    let due = self
                        .last_emfile_report
                        .is_none_or(|t| self.ctx.now.duration_since(t) >= EMFILE_LOG_INTERVAL);
                    if due {
                        self.last_emfile_report = Some(self.ctx.now);
                        log::warn!(
                            "out of file descriptors ({e}); pausing accept \
                             (raise `ulimit -n` or lower [limits] max_connections)"
                        );
                    }
                    return;
                }
                // ECONNABORTED and friends concern one connection only.
                Err(_) => {}
            }
        }
    }

    /// Accepts on the metrics listener. Out of descriptors, it waits for
    /// the main listener's pause to end, like it: no new readiness event
    /// would come for a connection already pending.
    fn accept_metrics(&mut self) {
        while let Some(listener) = &self.metrics_listener {
            match listener.accept() {
                Ok((socket, peer)) => self.admit(ClientStream::Tcp(socket), Some(peer), true),
                Err(e) if e.would_block() => return,
                Err(e) if out_of_descriptors(&e) => {
                    self.ctx.metrics.emfile.fetch_add(1, Ordering::Relaxed);
                    self.accept_paused_until
                        .get_or_insert(self.ctx.now + ACCEPT_PAUSE);
                    return;
                }
                // Interrupted, or an error of that one connection.
                Err(_) => {}
            }
        }
    }

    /// Registers a freshly accepted connection, or refuses it when the
    /// server is full.
    fn admit(
        &mut self,
        mut socket: ClientStream,
        peer: Option<std::net::SocketAddr>,
        metrics_endpoint: bool,
    ) {
        let open = self
            .ctx
            .control
            .open_connections
            .fetch_add(1, Ordering::AcqRel);
        if open >= self.ctx.config.limits.max_connections {
            self.ctx
                .control
                .open_connections
                .fetch_sub(1, Ordering::AcqRel);
            self.ctx.metrics.refused.fetch_add(1, Ordering::Relaxed);
            self.refuse(&mut socket);
            return;
        }
        self.ctx.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = socket.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let conn_ref = ConnRef {
            slot: entry.key(),
            id: self.next_conn_id,
        };
        self.next_conn_id += 1;
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut socket, Token(conn_ref.slot), interest)
            .is_err()
        {
            self.ctx
                .control
                .open_connections
                .fetch_sub(1, Ordering::AcqRel);
            return;
        }
        entry.insert(Conn::new(
            socket,
            peer,
            conn_ref,
            metrics_endpoint,
            &self.ctx,
        ));
        self.sync_timer(conn_ref.slot);
    }

    /// Answers 503 in one best-effort write and closes: cheap, and the
    /// client learns why.
    fn refuse(&self, socket: &mut ClientStream) {
        use std::io::Write;
        let body = error_body(Status::ServiceUnavailable);
        let mut bytes = Vec::with_capacity(256 + body.len());
        ResponseHead {
            content_type: Some(HTML_UTF8),
            content_length: body.len() as u64,
            ..ResponseHead::new(Status::ServiceUnavailable)
        }
        .render(self.ctx.date.header_value(), &mut bytes);
        bytes.extend_from_slice(&body);
        let _ = socket.write(&bytes);
    }

    fn conn_ready(&mut self, slot: usize, readable: bool, writable: bool) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let (ctx, work) = (&self.ctx, &mut self.work);
        let next = contained("connection", || {
            conn.on_ready(ctx, work, readable, writable)
        });
        self.after_event(slot, next);
    }

    fn drain_completions(&mut self) {
        self.completions.begin_drain();
        while let Some(completion) = self.completions.try_next() {
            let (conn_ref, outcome) = match completion {
                Completion::LogWritten(buf) => {
                    self.work.log.batch_written(buf);
                    continue;
                }
                Completion::Job { conn, outcome } => (conn, outcome),
                Completion::Compressed(done) => {
                    // No connection waits for it: a panic costs only the variant.
                    let ctx = &self.ctx;
                    let attached = catch_unwind(AssertUnwindSafe(|| {
                        Conn::attach_compressed(ctx, *done);
                    }));
                    if attached.is_err() {
                        log::error!("attaching a compressed variant panicked; it is dropped");
                    }
                    continue;
                }
            };
            match self.conns.get_mut(conn_ref.slot) {
                Some(conn) if conn.conn_ref == conn_ref => {
                    let (ctx, work) = (&self.ctx, &mut self.work);
                    let next = contained("completion", || conn.on_completion(ctx, work, outcome));
                    self.after_event(conn_ref.slot, next);
                }
                // The connection has gone: discard, closing any file on the pool.
                _ => self.discard(outcome),
            }
        }
    }

    /// Drops an outcome nobody waits for, closing any file it carries on
    /// the pool.
    fn discard(&self, outcome: Outcome) {
        if let Some(file) = outcome.into_file() {
            self.ctx.io.release(file);
        }
    }

    fn expire_deadlines(&mut self) {
        let now = self.ctx.now;
        while let Some((conn_ref, at)) = self.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(conn_ref.slot) else {
                continue;
            };
            if conn.conn_ref != conn_ref {
                continue; // An entry of a connection that has gone.
            }
            if conn.scheduled == Some(at) {
                conn.scheduled = None;
            }
            let (ctx, work) = (&self.ctx, &mut self.work);
            let next = contained("deadline", || conn.on_deadline(ctx, work));
            self.after_event(conn_ref.slot, next);
        }
    }

    /// Runs the connections that yielded in the last turn, after the ones
    /// this poll found ready.
    fn resume_runnable(&mut self) {
        std::mem::swap(&mut self.runnable, &mut self.resuming);
        let mut resuming = std::mem::take(&mut self.resuming);
        for conn_ref in resuming.drain(..) {
            if let Some(conn) = self.conns.get_mut(conn_ref.slot) {
                if conn.conn_ref == conn_ref {
                    conn.runnable = false;
                    // As if readable: its input may still be in the socket,
                    // where no new edge will announce it.
                    self.conn_ready(conn_ref.slot, true, false);
                }
            }
        }
        self.resuming = resuming;
    }

    /// Closes the connection or re-arms its timer.
    fn after_event(&mut self, slot: usize, next: Next) {
        match next {
            Next::Keep => self.sync_timer(slot),
            Next::Yield => {
                self.ctx
                    .metrics
                    .turns_yielded
                    .fetch_add(1, Ordering::Relaxed);
                self.sync_timer(slot);
                if let Some(conn) = self.conns.get_mut(slot) {
                    if !conn.runnable {
                        conn.runnable = true;
                        self.runnable.push(conn.conn_ref);
                    }
                }
            }
            Next::Close => self.close(slot),
        }
    }

    /// Makes sure a timer entry exists no later than the connection's
    /// deadline (see [`crate::net::timers`]).
    fn sync_timer(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if let Some(deadline) = conn.deadline() {
            if conn.scheduled.is_none_or(|s| deadline < s) {
                self.timers.schedule(conn.conn_ref, deadline);
                conn.scheduled = Some(deadline);
            }
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut conn) = self.conns.try_remove(slot) {
            conn.abandon(&self.ctx, &mut self.work);
            self.ctx.metrics.closed(conn.close_reason);
            if conn.socket_shared {
                let _ = self.poll.registry().deregister(conn.socket());
            }
            self.ctx
                .control
                .open_connections
                .fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn close_all(&mut self) {
        let slots: Vec<usize> = self.conns.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            self.close(slot);
        }
    }

    fn flush_log(&mut self) {
        if let Some(batch) = self.work.log.take_batch() {
            self.ctx.io.write_log(batch);
        }
    }

    /// At exit, waits (bounded) for the last access-log lines to be written.
    fn final_log_flush(&mut self) {
        let give_up = Instant::now() + Duration::from_secs(2);
        while !self.work.log.is_idle() && Instant::now() < give_up {
            self.flush_log();
            self.completions.begin_drain();
            match self.completions.recv_until(give_up) {
                Some(Completion::LogWritten(buf)) => self.work.log.batch_written(buf),
                Some(Completion::Job { outcome, .. }) => self.discard(outcome),
                Some(Completion::Compressed(_)) => {}
                None => break,
            }
        }
    }

    /// One shutdown step. Returns true when the loop may exit.
    fn drain_for_shutdown(&mut self) -> bool {
        let first_step = self.shutdown_deadline.is_none();
        if first_step {
            self.shutdown_deadline = Some(self.ctx.now + self.ctx.config.limits.shutdown_timeout);
            self.ctx.shutting_down = true;
            for mut listener in self.listeners.drain(..) {
                let _ = self.poll.registry().deregister(&mut listener);
            }
            // The metrics listener stays: `/healthz` says 503 during the
            // drain, which is how a load balancer learns to stop sending.
        }
        // Idle connections are closed: all of them at the first step (a
        // scraper's idle keep-alive connection too). After that, a probe
        // on the metrics listener that has connected but not yet been read
        // is left to be answered (it closes after its answer: no
        // keep-alive while shutting down).
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.is_idle() && (first_step || !conn.is_metrics_endpoint()))
            .map(|(slot, _)| slot)
            .collect();
        for slot in idle {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.close_reason = crate::ops::metrics::CloseReason::Shutdown;
            }
            self.close(slot);
        }
        let past_deadline = self.shutdown_deadline.is_some_and(|t| self.ctx.now >= t);
        // The loop with the metrics listener stays until the others are
        // done, so health probes are answered for the whole drain (each
        // loop wakes the others when it stops).
        let others_done = self.metrics_listener.is_none() || self.ctx.control.loops_running() <= 1;
        past_deadline || (others_done && self.conns.is_empty())
    }
}
