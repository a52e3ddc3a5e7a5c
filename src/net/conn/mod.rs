//! One client connection: its socket, buffers and the state machine that
//! reads requests, waits for the IO pool, and writes responses.
//!
//! No filesystem access happens here. Anything that touches the disk is
//! handed to the pool through [`crate::disk::pool::IoHandle`]; its answer
//! comes back through [`Conn::on_completion`]. The loop calls
//! [`Conn::on_ready`] on socket readiness and [`Conn::on_deadline`] when a
//! timer fires; each returns whether the connection lives on. Each gets
//! the loop's [`LoopContext`] to read and its [`Workspace`] to write in.
//!
//! Phases:
//! - `Reading`: collecting a request head (first, with `[server]
//!   proxy_protocol`, the connection's PROXY header, whose address then
//!   stands for the peer's). Pipelined requests wait in
//!   `inbuf` and are not read from the socket while a response is being
//!   sent, so a client cannot queue unbounded work.
//! - `Resolving`: an open job is on the pool.
//! - `Sending`: the response head and body are being written. Large files
//!   arrive from the pool in chunks, at most one being written and one being
//!   read, so memory per connection is bounded whatever the file size.
//! - `Lingering`: after an error response (or any answer to a request with
//!   a body, which is never read), the write side is shut and unread input
//!   is drained briefly, so the client sees the response rather than a
//!   reset.
//!
//! This file holds the connection, its phases and its life cycle (reading,
//! the pool's answers, finishing, closing). The rest, in the order a
//! request meets it:
//! - `route.rs`: what a parsed request gets (an answer at once, a cache
//!   hit, or an open job on the pool);
//! - `auth.rs`: the password step of routing, for paths under an `auth`
//!   rule (the check itself runs on the pool);
//! - `respond.rs`: building the response head and body;
//! - `body.rs`: the body's sub-states (in memory, streamed, `sendfile`);
//!   `archive.rs`: a directory download's, made chunk by chunk on the pool;
//! - `send.rs`: writing it all to the socket.

use std::borrow::Cow;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::cache::Cacheable;
use crate::cache::CachedFile;
use crate::config::{Config, REQUESTS_PER_TURN};
use crate::disk::pool::{ConnRef, Outcome};
use crate::disk::{FileBody, FileResponse, OpenError, OpenRequest, Opened};
use crate::http::body_strategy::{body_strategy, BodyStrategy};
use crate::http::date::http_date;
use crate::http::disposition::attachment;
use crate::http::encoding::Coding;
use crate::http::proxy_protocol::{self, Parsed};
use crate::http::range;
use crate::http::request::{BodyFraming, Forwarding};
use crate::http::response::{error_body, HTML_UTF8, JSON_UTF8};
use crate::http::serve::FileMeta;
use crate::http::serve::Plan;
use crate::http::{self, Method, ParseError, ParseLimits, Request, ResponseHead, Status};
use crate::net::context::{LoopContext, Workspace};
use crate::net::io_errors::Transient as _;
use crate::net::listen::ClientStream;
use crate::offloop::SharedFile;
use crate::ops::access_log::LogRecord;
use crate::ops::metrics::CloseReason;
use crate::site::archive::ArchiveKind;
use crate::site::path::{self, PathFacts};
use crate::site::rules;

mod archive;
mod auth;
mod body;
mod compress;
mod respond;
mod route;
mod send;

use archive::ArchiveStep;
use body::{Body, BodyBytes, OutBuf, Sendfile, SendfileStep, Stream, StreamStep};

/// Longest request-target accepted (414 beyond).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// How long, and how much, unread input is drained after an error response
/// (or any response to a request with a body, which is never read).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;
/// Most of a declared request body the drain discards beyond
/// [`LINGER_BYTES`], so a client that sends a body before reading the answer
/// (a POST of a form or an upload) reads the answer, not a reset.
const LINGER_BODY_BYTES: usize = 1024 * 1024;

/// Whether a connection lives on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Keep,
    Close,
    /// Lives on, with more to do at once: it answered
    /// [`REQUESTS_PER_TURN`] requests in this turn, and the loop lets the
    /// other connections have theirs before it runs this one again.
    Yield,
}

/// Which timeout the current deadline enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeadlineKind {
    /// A request head must be complete by then (slowloris).
    Header,
    /// An idle keep-alive connection is closed then.
    Idle,
    /// A write must have made progress by then.
    Send,
    /// End of the post-error drain.
    Linger,
    /// A decided answer is held back until then: a wrong password's `401`,
    /// a refused check's `429` or `503` (`net::conn::auth`).
    Held,
}

/// A client connection.
pub struct Conn {
    socket: ClientStream,
    pub conn_ref: ConnRef,
    /// The client's address: the socket's peer, or the address its PROXY
    /// header carried; `None` on a Unix socket (without a PROXY header).
    peer: Option<SocketAddr>,
    /// `[server] proxy_protocol`, and the PROXY header is yet to come: no
    /// byte is parsed as HTTP before it.
    awaiting_proxy_header: bool,
    /// Received bytes not yet parsed (a partial head or pipelined requests).
    inbuf: Vec<u8>,
    /// The client has shut its write side.
    peer_closed: bool,
    /// The last read came back short: the socket holds no more input until
    /// the next readable edge, so reading again would only say EAGAIN.
    drained: bool,
    /// The last readable event also reported the peer's close, so a short
    /// read does not mean drained: the end of input is still to be read,
    /// and no further edge will announce it.
    eof_pending: bool,
    /// The [`crate::cache::EventCheck`] number of the last read that
    /// returned bytes.
    last_read: u64,
    phase: Phase,
    out: OutBuf,
    deadline: Option<(Instant, DeadlineKind)>,
    /// The earliest timer entry pending for this connection, if any.
    pub scheduled: Option<Instant>,
    /// On the loop's list of connections to run again ([`Next::Yield`]):
    /// listed once, however often it yields meanwhile.
    pub runnable: bool,
    /// Why the connection ends, when it does (for metrics).
    pub close_reason: CloseReason,
    /// Accepted on the `[metrics] listen` address: answers `/metrics`,
    /// `/healthz` and `/readyz` only.
    metrics_endpoint: bool,
    /// A duplicate of the socket was handed to the pool (for `sendfile`):
    /// closing ours then does not take the socket out of the loop's epoll
    /// set, so the loop must deregister it. Without one, closing does that,
    /// and the loop saves the `epoll_ctl` per connection.
    pub socket_shared: bool,
    /// A response was written with `MSG_MORE` and the kernel may still
    /// hold it back ([`Conn::push_corked`]).
    corked: bool,
}

enum Phase {
    Reading,
    Resolving(Exchange),
    Sending(Exchange, Body),
    /// After an error response, or an answer to a request with a body:
    /// unread input is discarded for a moment.
    Lingering {
        discarded: usize,
        /// Discarding more than this closes at once.
        budget: usize,
    },
}

/// One request/response exchange: what the response needs from the request,
/// and what the access log needs of both.
struct Exchange {
    request: Request,
    /// The decoded path with its leading `/`, once the target passed the
    /// path checks; `[[http.rules]]` and error pages apply only then.
    path: Option<String>,
    head_only: bool,
    keep_alive: bool,
    status: Status,
    /// `Content-Range` of a 416 answer.
    content_range: Option<String>,
    body_bytes_sent: u64,
    /// When the request head was complete, for the logged duration.
    started: Instant,
    /// The hot-file cache key of a GET or HEAD for a file or directory.
    cache_key: Option<String>,
    /// `Accept-Encoding`, negotiated, for a request sent to the pool: for
    /// starting the compression of the file it puts in the cache.
    accept: crate::http::encoding::Preference,
    /// The user name of `Basic` credentials under an `auth` rule, for the
    /// access log (never the password).
    user: Option<String>,
    /// A header the answer's status needs: `WWW-Authenticate` on a `401`,
    /// `Retry-After` on a `503` of a full password queue.
    auth_header: Option<(&'static str, String)>,
    /// While a password check is on the pool: what routing goes on with.
    auth: Option<Box<auth::AuthPending>>,
}

impl Exchange {
    fn new(request: Request, keep_alive: bool, started: Instant) -> Exchange {
        Exchange {
            head_only: request.method == Method::Head,
            request,
            path: None,
            keep_alive,
            status: Status::Ok,
            content_range: None,
            body_bytes_sent: 0,
            started,
            cache_key: None,
            accept: crate::http::encoding::preference(None),
            user: None,
            auth_header: None,
            auth: None,
        }
    }
}

impl Conn {
    pub fn new(
        socket: ClientStream,
        peer: Option<SocketAddr>,
        conn_ref: ConnRef,
        metrics_endpoint: bool,
        ctx: &LoopContext,
    ) -> Conn {
        let deadline = Some((
            ctx.now + ctx.config.limits.header_timeout,
            DeadlineKind::Header,
        ));
        Conn {
            socket,
            conn_ref,
            peer,
            awaiting_proxy_header: ctx.config.proxy.proxy_protocol && !metrics_endpoint,
            inbuf: Vec::new(),
            peer_closed: false,
            drained: false,
            eof_pending: false,
            last_read: 0,
            phase: Phase::Reading,
            out: OutBuf::default(),
            deadline,
            scheduled: None,
            runnable: false,
            close_reason: CloseReason::Client,
            metrics_endpoint,
            socket_shared: false,
            corked: false,
        }
    }

    pub fn socket(&mut self) -> &mut ClientStream {
        &mut self.socket
    }

    /// Accepted on the metrics listener (metrics and health probes).
    pub fn is_metrics_endpoint(&self) -> bool {
        self.metrics_endpoint
    }

    /// The current deadline, for the loop's timers.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }

    /// Whether the connection sits between requests with nothing buffered,
    /// so shutdown may close it at once.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Reading) && self.inbuf.is_empty() && self.out.is_empty()
    }

    /// First step for a readiness event: a readable edge means new input,
    /// which a connection waiting for a request reads at once. The loop
    /// does this for every event of a batch before running any state
    /// machine, so that one check for pending filesystem events (made by
    /// the first cache hit) covers all the requests of the batch.
    /// `read_closed`: the event also reported the peer's close.
    pub fn read_ready_input(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        readable: bool,
        read_closed: bool,
    ) {
        if !readable {
            return;
        }
        self.drained = false;
        self.eof_pending = read_closed;
        // A connection waiting for its next turn has requests buffered
        // already: reading more now would only grow its buffer.
        if matches!(self.phase, Phase::Reading) && !self.peer_closed && !self.runnable {
            // An error is met again, and handled, by the next read.
            let _ = self.read_socket(ctx, work);
        }
    }

    /// One read from the socket into `inbuf`. `Ok(true)`: bytes or the
    /// peer's close arrived; `Ok(false)`: nothing to read now.
    fn read_socket(&mut self, ctx: &LoopContext, work: &mut Workspace) -> io::Result<bool> {
        loop {
            return match self.socket.read(&mut work.read_buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    Ok(true)
                }
                Ok(n) => {
                    if self.inbuf.is_empty() && !self.awaiting_proxy_header {
                        // First bytes of a new request: the header timeout
                        // runs from here, however slowly the rest trickles.
                        // (A PROXY header must be complete within the
                        // timeout counted from the accept.)
                        self.deadline = Some((
                            ctx.now + ctx.config.limits.header_timeout,
                            DeadlineKind::Header,
                        ));
                    }
                    // A short read emptied the socket's queue; new input
                    // raises a new edge (the same rule tokio applies).
                    self.drained = n < work.read_buf.len() && !self.eof_pending;
                    self.last_read = work.event_check.note_read();
                    if self.inbuf.capacity() == 0 {
                        self.inbuf = work.recycler.bytes();
                    }
                    self.inbuf.extend_from_slice(&work.read_buf[..n]);
                    Ok(true)
                }
                Err(e) if e.would_block() => {
                    self.drained = true;
                    Ok(false)
                }
                Err(e) if e.interrupted() => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// The socket is readable or writable: make all the progress possible.
    /// `readable`: the event reported input (or the peer's close).
    pub fn on_ready(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        readable: bool,
        writable: bool,
    ) -> Next {
        if !readable && self.is_idle() && !self.peer_closed {
            // Only writability, and nothing to write or read: a new or
            // idle connection. Skip the read that would just say EAGAIN
            // (every accepted socket reports writable once).
            return Next::Keep;
        }
        if let Phase::Sending(_, Body::Sendfile(send)) = &mut self.phase {
            if writable {
                send.writable();
            }
        }
        self.advance(ctx, work)
    }

    /// A timer for this connection came due.
    pub fn on_deadline(&mut self, ctx: &LoopContext, work: &mut Workspace) -> Next {
        match self.deadline {
            Some((at, kind)) if at <= ctx.now => {
                #[cfg(debug_assertions)]
                if kind == DeadlineKind::Header
                    && self
                        .inbuf
                        .starts_with(b"GET /__wharf_fault/panic-deadline ")
                    && crate::fault::fault_injection()
                {
                    panic!("injected fault: a panic in a deadline handler");
                }
                if kind == DeadlineKind::Header && self.awaiting_proxy_header {
                    // No PROXY header in time: closed unanswered, as a
                    // load balancer expects of a server it speaks PROXY to.
                    ctx.metrics
                        .proxy_header_rejected
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.close_reason = CloseReason::HeaderTimeout;
                    self.abandon(ctx, work);
                    return Next::Close;
                }
                if kind == DeadlineKind::Held {
                    self.release_held(ctx);
                    return self.advance(ctx, work);
                }
                self.close_reason = match kind {
                    DeadlineKind::Header => CloseReason::HeaderTimeout,
                    DeadlineKind::Idle => CloseReason::IdleTimeout,
                    DeadlineKind::Send => CloseReason::SendTimeout,
                    DeadlineKind::Linger | DeadlineKind::Held => self.close_reason,
                };
                if kind == DeadlineKind::Header && !self.inbuf.is_empty() {
                    // A client that started a request is told why it is cut
                    // off; an idle one is just closed, as nginx does.
                    self.inbuf.clear();
                    self.start_error(ctx, Request::placeholder(), Status::RequestTimeout);
                    return self.advance(ctx, work);
                }
                self.abandon(ctx, work);
                Next::Close
            }
            _ => Next::Keep,
        }
    }

    /// The pool finished a job for this connection.
    pub fn on_completion(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
        outcome: Outcome,
    ) -> Next {
        match outcome {
            Outcome::Opened(result) => {
                let phase = std::mem::replace(&mut self.phase, Phase::Reading);
                let Phase::Resolving(exchange) = phase else {
                    // Not expecting an open: keep the state, drop the answer
                    // (closing any file it carries on the pool).
                    self.phase = phase;
                    if let Some(file) = Outcome::Opened(result).into_file() {
                        ctx.io.release(file);
                    }
                    return Next::Keep;
                };
                self.start_response(ctx, exchange, result);
            }
            Outcome::Chunk { file, buf, result } => {
                let Phase::Sending(_, Body::Stream(stream)) = &mut self.phase else {
                    ctx.io.release(file);
                    return Next::Keep;
                };
                if let Some(file) = stream.chunk_read(file, buf, result) {
                    ctx.io.release(file);
                }
            }
            Outcome::ArchiveChunk { stream, chunk, end } => {
                let Phase::Sending(_, Body::Archive(archive)) = &mut self.phase else {
                    if let Some(file) = stream.into_file() {
                        ctx.io.release(file);
                    }
                    return Next::Keep;
                };
                if let Some(file) = archive
                    .chunk_made(stream, chunk, end)
                    .and_then(|s| s.into_file())
                {
                    ctx.io.release(file);
                }
            }
            Outcome::Sent { file, sent, stop } => {
                let Phase::Sending(exchange, Body::Sendfile(send)) = &mut self.phase else {
                    ctx.io.release(file);
                    return Next::Keep;
                };
                exchange.body_bytes_sent += sent;
                if sent > 0 {
                    self.deadline =
                        Some((ctx.now + ctx.config.limits.send_timeout, DeadlineKind::Send));
                }
                if let Some(file) = send.job_done(file, sent, stop) {
                    ctx.io.release(file);
                }
            }
            Outcome::ErrorPage(page) => {
                let phase = std::mem::replace(&mut self.phase, Phase::Reading);
                let Phase::Resolving(exchange) = phase else {
                    self.phase = phase;
                    return Next::Keep;
                };
                self.finish_status(ctx, exchange, page);
            }
            Outcome::PasswordChecked { matched, hold } => {
                let phase = std::mem::replace(&mut self.phase, Phase::Reading);
                let Phase::Resolving(exchange) = phase else {
                    self.phase = phase;
                    return Next::Keep;
                };
                self.password_checked(ctx, work, exchange, matched, hold);
            }
            Outcome::Panicked => {
                let phase = std::mem::replace(&mut self.phase, Phase::Reading);
                match phase {
                    Phase::Resolving(mut exchange) => {
                        exchange.path = None;
                        self.start_status(ctx, exchange, Status::InternalServerError, false);
                    }
                    other => {
                        self.phase = other;
                        self.close_reason = CloseReason::Error;
                        self.abandon(ctx, work);
                        return Next::Close;
                    }
                }
            }
        }
        self.advance(ctx, work)
    }

    /// Makes all the progress possible without blocking; then sends what
    /// `MSG_MORE` held back for answers that did not follow at once
    /// ([`Conn::push_corked`]), unless the connection is closing.
    fn advance(&mut self, ctx: &LoopContext, work: &mut Workspace) -> Next {
        let next = self.progress(ctx, work);
        // Closing (or the shut write side of a lingering close) sends the
        // held bytes with the `FIN`.
        let closing = next == Next::Close || matches!(self.phase, Phase::Lingering { .. });
        if !closing {
            self.push_corked();
        }
        next
    }

    /// [`Conn::advance`]'s loop: reads, answers and writes until the
    /// connection must wait.
    fn progress(&mut self, ctx: &LoopContext, work: &mut Workspace) -> Next {
        let mut answered = 0;
        loop {
            match &mut self.phase {
                Phase::Reading if answered == REQUESTS_PER_TURN => return Next::Yield,
                Phase::Reading => match self.read_request(ctx, work) {
                    Ok(Some(request)) => {
                        answered += 1;
                        self.handle_request(ctx, work, request);
                    }
                    Ok(None) => return Next::Keep,
                    Err(next) => return next,
                },
                Phase::Resolving(_) => return Next::Keep,
                Phase::Sending(..) => match self.send(ctx, work) {
                    Some(next) => return next,
                    None => continue,
                },
                Phase::Lingering { discarded, budget } => {
                    let (discarded, budget) = (*discarded, *budget);
                    return self.linger(work, discarded, budget);
                }
            }
        }
    }

    /// Parses the next request from `inbuf`, reading the socket when more
    /// bytes are needed. `Ok(None)`: wait for readiness. `Err(next)`: the
    /// connection was answered with an error or must close.
    fn read_request(
        &mut self,
        ctx: &LoopContext,
        work: &mut Workspace,
    ) -> Result<Option<Request>, Next> {
        let limits = ParseLimits {
            max_head_bytes: ctx.config.limits.max_header_bytes,
            max_target_bytes: MAX_TARGET_BYTES,
        };
        let trusted = &ctx.config.proxy.trusted_proxies;
        loop {
            if !self.inbuf.is_empty() && self.awaiting_proxy_header {
                match proxy_protocol::parse(&self.inbuf) {
                    Parsed::NeedMore => {}
                    Parsed::Done { len, source } => {
                        self.inbuf.drain(..len);
                        self.awaiting_proxy_header = false;
                        if let Some(source) = source {
                            self.peer = Some(source);
                        }
                        continue;
                    }
                    Parsed::Invalid => return Err(self.reject_proxy_header(ctx)),
                }
            } else if !self.inbuf.is_empty() {
                // Behind trusted proxies, the request's X-Forwarded-For
                // names the client. (A Unix-socket peer has no address to
                // check, so it is not trusted.)
                let forwarding = self
                    .peer
                    .filter(|_| !trusted.is_empty())
                    .map(|peer| Forwarding {
                        peer: peer.ip(),
                        trusted,
                    });
                let parsed =
                    http::request::parse_from(&self.inbuf, &limits, &mut work.recycler, forwarding);
                match parsed {
                    Ok(Some((request, used))) => {
                        self.inbuf.drain(..used);
                        return Ok(Some(request));
                    }
                    Ok(None) => {}
                    Err(error) => {
                        self.inbuf.clear();
                        self.close_reason = CloseReason::Error;
                        self.start_error(ctx, Request::placeholder(), parse_error_status(error));
                        return Err(self.advance(ctx, work));
                    }
                }
            }
            if self.peer_closed {
                if self.awaiting_proxy_header && !self.inbuf.is_empty() {
                    // Closed mid-header. (A connection closed before its
                    // first byte is a load balancer's TCP health check.)
                    return Err(self.reject_proxy_header(ctx));
                }
                return Err(Next::Close);
            }
            if self.drained {
                return Ok(None);
            }
            match self.read_socket(ctx, work) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(_) => return Err(Next::Close),
            }
        }
    }

    /// A connection whose first bytes are not a PROXY header, or that
    /// ended before its header did: closed without a word, as HAProxy and
    /// nginx do. Its sender is a proxy whose framing broke or a client that
    /// went around the proxy; an HTTP answer would mean nothing to the
    /// first and tell the second what it needs to know. Counted, not
    /// logged (one line per bad connection would let anyone fill the log).
    fn reject_proxy_header(&mut self, ctx: &LoopContext) -> Next {
        ctx.metrics
            .proxy_header_rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inbuf.clear();
        self.close_reason = CloseReason::Error;
        Next::Close
    }

    /// The whole response is written: log it, then read the next request or
    /// close.
    fn finish_response(&mut self, ctx: &LoopContext, work: &mut Workspace) -> Option<Next> {
        let phase = std::mem::replace(&mut self.phase, Phase::Reading);
        let Phase::Sending(exchange, body) = phase else {
            return Some(Next::Keep);
        };
        if let Some(file) = body.into_file() {
            ctx.io.release(file);
        }
        self.log(ctx, work, &exchange);
        let (status, keep_alive) = (exchange.status, exchange.keep_alive);
        let body_budget = match exchange.request.body {
            BodyFraming::None => None,
            BodyFraming::Length(n) => {
                Some(usize::try_from(n).map_or(LINGER_BODY_BYTES, |n| n.min(LINGER_BODY_BYTES)))
            }
            BodyFraming::Chunked => Some(LINGER_BODY_BYTES),
        };
        self.recycle(work, exchange);
        if keep_alive && !ctx.shutting_down {
            let limits = &ctx.config.limits;
            self.deadline = Some(if self.inbuf.is_empty() {
                (ctx.now + limits.keepalive_timeout, DeadlineKind::Idle)
            } else {
                (ctx.now + limits.header_timeout, DeadlineKind::Header)
            });
            return None;
        }
        self.close_reason = if ctx.shutting_down {
            CloseReason::Shutdown
        } else if status.code() >= 400 && self.close_reason == CloseReason::Error {
            CloseReason::Error
        } else {
            CloseReason::Done
        };
        let unread_input = !self.inbuf.is_empty() || body_budget.is_some();
        if (status.code() >= 400 || unread_input) && !self.peer_closed {
            // Closing with unread input makes the kernel send a reset, which
            // can destroy the response before the client reads it: shut the
            // write side and drain for a moment instead (nginx's lingering
            // close).
            self.inbuf.clear();
            let _ = self.socket.shutdown(Shutdown::Write);
            self.deadline = Some((ctx.now + LINGER_TIME, DeadlineKind::Linger));
            self.phase = Phase::Lingering {
                discarded: 0,
                budget: LINGER_BYTES + body_budget.unwrap_or(0),
            };
            return None;
        }
        Some(Next::Close)
    }

    /// Gives the finished exchange's buffers, the response head's and, when
    /// nothing is buffered, the input buffer back to the loop for reuse:
    /// between requests a connection holds no buffer.
    fn recycle(&mut self, work: &mut Workspace, exchange: Exchange) {
        let out = std::mem::take(&mut self.out);
        work.recycler.give_bytes(out.head);
        if self.inbuf.is_empty() {
            work.recycler.give_bytes(std::mem::take(&mut self.inbuf));
        }
        let request = exchange.request;
        work.recycler.give_string(request.target);
        for text in [
            request.user_agent,
            request.referer,
            request.origin,
            exchange.path,
        ]
        .into_iter()
        .flatten()
        {
            work.recycler.give_string(text);
        }
    }

    /// Discards input until the client closes, or enough was discarded.
    fn linger(&mut self, work: &mut Workspace, mut discarded: usize, budget: usize) -> Next {
        loop {
            match self.socket.read(&mut work.read_buf) {
                Ok(0) => return Next::Close,
                Ok(n) => {
                    discarded += n;
                    if discarded > budget {
                        return Next::Close;
                    }
                }
                Err(e) if e.would_block() => {
                    self.phase = Phase::Lingering { discarded, budget };
                    return Next::Keep;
                }
                Err(e) if e.interrupted() => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// The connection is closing early: log a response cut short, and hand
    /// any open file back to the pool to be closed there.
    pub fn abandon(&mut self, ctx: &LoopContext, work: &mut Workspace) {
        let phase = std::mem::replace(&mut self.phase, Phase::Reading);
        if let Phase::Sending(exchange, body) = phase {
            self.log(ctx, work, &exchange);
            if let Some(file) = body.into_file() {
                ctx.io.release(file);
            }
        }
    }

    fn log(&self, ctx: &LoopContext, work: &mut Workspace, exchange: &Exchange) {
        let request = &exchange.request;
        let elapsed = exchange.started.elapsed();
        ctx.metrics
            .response(exchange.status.code(), exchange.body_bytes_sent, elapsed);
        work.log.record_timed(
            &LogRecord {
                remote: request.client.or(self.peer.map(|peer| peer.ip())),
                method: &request.method_text,
                target: &request.target,
                minor_version: request.minor_version,
                status: exchange.status.code(),
                bytes: exchange.body_bytes_sent,
                referer: request.referer.as_deref(),
                user_agent: request.user_agent.as_deref(),
                user: exchange.user.as_deref(),
            },
            SystemTime::now(),
            elapsed,
        );
    }
}

/// The status each parse error is answered with.
fn parse_error_status(error: ParseError) -> Status {
    match error {
        ParseError::Malformed | ParseError::BadFraming | ParseError::BadHost => Status::BadRequest,
        ParseError::UnsupportedVersion => Status::VersionNotSupported,
        ParseError::HeadTooLarge => Status::HeaderFieldsTooLarge,
        ParseError::TargetTooLong => Status::UriTooLong,
    }
}
