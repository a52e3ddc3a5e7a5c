//! The IO pool: rayon threads that run every disk operation, and the return
//! path that brings each result back to the event loop that asked.
//!
//! Jobs run on lanes ([`super::lanes`]): one FIFO queue drained by
//! threads that each run one job at a time.
//!
//! A job is a closure run on the pool. It calls into [`crate::disk`], wraps the
//! result in a [`Completion::Job`] addressed to a [`ConnRef`], sends it down the
//! owning loop's crossbeam channel and wakes that loop's `mio::Waker`. Wakes
//! are coalesced: a flag records that a wake is pending, so a burst of
//! completions costs the loop one wake-up, not one per job.
//!
//! Every job sends exactly one completion, even when it panics (the panic is
//! caught and turned into [`Outcome::Panicked`]), so a connection waiting on
//! the pool is never left hanging.
//!
//! Access-log writes have a lane of their own (`wharf-io-log`): a log
//! destination that stops taking writes (a full pipe, a stalled disk) then
//! holds only that lane, and requests keep every other. The loops bound
//! what waits meanwhile (see [`crate::ops::access_log`]). A written batch
//! comes back as [`Completion::LogWritten`], addressed to the loop itself.
//!
//! Compressing a cached file (`[http] compress`) has a lane of its own too
//! (`wharf-io-compress`, one thread, at nice +10): it is CPU work, up to
//! seconds of it for a large file at a high level, and on the IO lanes it
//! would hold a lane that opens and `sendfile`s wait for, and on a small
//! machine all of them. One thread bounds what compression takes to one
//! core; each file is compressed once per coding, so the queue is bounded
//! by the cache's entries. Its result comes back as
//! [`Completion::Compressed`], addressed to the loop that asked.
//! Password checks (bcrypt, tens of milliseconds of CPU each) have lanes of
//! their own too (`wharf-io-auth-N`, half the cores, at least one) and a
//! bound on how many may wait, in all and per penalised client address
//! ([`PasswordGuard`]): a flood of wrong passwords then costs at most
//! those cores and that queue, and file jobs of every other client never
//! wait behind a check. Beyond a bound a check is refused at once
//! ([`IoHandle::check_password`] says so) and the loop answers `503` or
//! `429`.

use std::borrow::Cow;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::compress::{CompressJob, Compressed};
use super::lanes::{Lanes, COMPRESS_NICE, PASSWORD_NICE};
use mio::Waker;

use crate::cache::FileCache;
use crate::config::HttpOptions;
use crate::disk::password::{self, PasswordCheck};
use crate::disk::password_guard::{PasswordGuard, Refused};
use crate::disk::{self, FileResponse, LogSink, OpenError, OpenRequest, Opened, Root};
use crate::offloop::SharedFile;
use crate::ops::metrics::Metrics;

/// Identifies a connection across the pool round trip: the slab slot plus a
/// connection id that is never reused, so a completion for a connection that
/// has closed can never be delivered to a newer one in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRef {
    pub slot: usize,
    pub id: u64,
}

/// A finished job, on its way back to the loop.
#[derive(Debug)]
pub enum Completion {
    /// A connection's job, and what it produced.
    Job { conn: ConnRef, outcome: Outcome },
    /// An access-log batch was written ([`IoHandle::write_log`]); the loop
    /// may send the next one. Carries the batch's buffer back, emptied,
    /// for reuse.
    LogWritten(Vec<u8>),
    /// A cached file was compressed ([`IoHandle::compress`]), for the loop
    /// to attach to its entry.
    Compressed(Box<Compressed>),
}

/// What a connection's job produced.
#[derive(Debug)]
pub enum Outcome {
    /// The answer to [`IoHandle::open`].
    Opened(Result<Opened, OpenError>),
    /// The answer to [`IoHandle::read_chunk`]: the file comes back with the
    /// buffer so the next chunk can be requested.
    Chunk {
        file: SharedFile,
        buf: Vec<u8>,
        result: io::Result<usize>,
    },
    /// The answer to [`IoHandle::send_file`]: the file comes back for the
    /// next job, with how much was sent and why the job stopped.
    Sent {
        file: SharedFile,
        sent: u64,
        stop: disk::io::SendStop,
    },
    /// The answer to [`IoHandle::archive_chunk`]: the stream comes back
    /// with the chunk, for the next one.
    ArchiveChunk {
        stream: Box<disk::archive::ArchiveStream>,
        chunk: Vec<u8>,
        end: disk::archive::ChunkEnd,
    },
    /// The answer to [`IoHandle::error_page`]: the page and its type, or
    /// `None` to use the built-in page.
    ErrorPage(Option<(Vec<u8>, Cow<'static, str>)>),
    /// The answer to [`IoHandle::check_password`]: whether the password
    /// matched.
    PasswordChecked {
        matched: bool,
        /// How long to hold a failure's answer ([`PasswordGuard::checked`]).
        hold: Duration,
    },
    /// The job panicked; the connection is closed.
    Panicked,
}

impl Outcome {
    /// Takes out any file the outcome carries, so that an outcome nobody
    /// waits for (its connection has gone, or is not expecting it) can have
    /// its file closed on the pool.
    pub fn into_file(self) -> Option<SharedFile> {
        match self {
            Outcome::Chunk { file, .. } | Outcome::Sent { file, .. } => Some(file),
            Outcome::Opened(Ok(
                Opened::File(FileResponse {
                    body: disk::FileBody::Stream { file, .. },
                    ..
                })
                | Opened::Fallback(FileResponse {
                    body: disk::FileBody::Stream { file, .. },
                    ..
                }),
            )) => Some(file),
            Outcome::ArchiveChunk { stream, .. }
            | Outcome::Opened(Ok(Opened::Archive {
                stream: Some(stream),
                ..
            })) => stream.into_file(),
            _ => None,
        }
    }
}

/// What jobs resolve requests against. Replaced as a whole on reload, so a
/// job sees either the old site or the new one, never a mix.
pub struct Site {
    pub root: Root,
    pub http: HttpOptions,
}

/// State shared by every loop's handle: the threads and what jobs need.
pub struct IoPool {
    lanes: Arc<Lanes>,
    /// The access log's own lane.
    log_lane: Arc<Lanes>,
    /// The compression lane (see the module documentation).
    compress_lane: Arc<Lanes>,
    /// The password checks' own lanes.
    auth_lanes: Arc<Lanes>,
    /// Who may have a password checked now.
    auth_guard: PasswordGuard,
    site: RwLock<Arc<Site>>,
    log: Mutex<Option<LogSink>>,
    /// The hot-file cache: the pool reads files for it, the loops serve
    /// from it.
    cache: Arc<FileCache>,
    metrics: Arc<Metrics>,
}

impl IoPool {
    /// Builds the pool with `threads` threads named `wharf-io-N`, the
    /// access log's lane, `wharf-io-log`, and the password lanes,
    /// `wharf-io-auth-N` ([`password_threads`]).
    pub fn new(
        threads: usize,
        site: Site,
        log: Option<LogSink>,
        cache: Arc<FileCache>,
        metrics: Arc<Metrics>,
    ) -> io::Result<Arc<IoPool>> {
        Ok(Arc::new(IoPool {
            lanes: Lanes::new(threads, |i| format!("wharf-io-{i}"))?,
            log_lane: Lanes::new(1, |_| "wharf-io-log".to_string())?,
            compress_lane: Lanes::with_nice(1, |_| "wharf-io-compress".to_string(), COMPRESS_NICE)?,
            auth_lanes: Lanes::with_nice(
                password_threads(),
                |i| format!("wharf-io-auth-{i}"),
                PASSWORD_NICE,
            )?,
            auth_guard: PasswordGuard::default(),
            site: RwLock::new(Arc::new(site)),
            log: Mutex::new(log),
            cache,
            metrics,
        }))
    }

    /// The current site; jobs take it once and use it throughout.
    fn site(&self) -> Arc<Site> {
        self.site.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the current site's root is `root`'s directory. Called on
    /// reload, from the signal thread.
    pub fn serves(&self, root: &Root) -> bool {
        self.site().root.is_same_directory(root)
    }

    /// Swaps in a new root and HTTP options (config reload). Jobs already
    /// running finish with the old ones.
    pub fn replace_site(&self, site: Site) {
        *self.site.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(site);
        // Cached entries were resolved (and their headers rendered) with
        // the old root and options.
        self.cache.clear();
    }

    pub fn cache(&self) -> &Arc<FileCache> {
        &self.cache
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Swaps in a new access-log destination (config reload, log reopen),
    /// on the log's lane: batches queued before go to the old destination,
    /// and the caller (the signal thread) never waits for a write that
    /// hangs.
    pub fn replace_log(self: &Arc<Self>, sink: Option<LogSink>) {
        let pool = self.clone();
        self.log_lane.spawn(move || {
            *pool.log.lock().unwrap_or_else(|p| p.into_inner()) = sink;
        });
    }
}

/// How many threads run password checks: half the cores, at least one, so
/// a flood of checks leaves the other half to the loops and the file
/// lanes (which also run at a higher priority: [`PASSWORD_NICE`]).
pub fn password_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}

/// One event loop's access to the pool: jobs submitted through it report
/// back to that loop.
pub struct IoHandle {
    pool: Arc<IoPool>,
    reply: Reply,
}

/// The return path to one loop.
#[derive(Clone)]
struct Reply {
    tx: Sender<Completion>,
    waker: Arc<Waker>,
    wake_pending: Arc<AtomicBool>,
}

impl Reply {
    fn send(&self, completion: Completion) {
        // A send fails only when the loop has exited; then nobody waits.
        if self.tx.send(completion).is_ok() && !self.wake_pending.swap(true, Ordering::AcqRel) {
            // A failed wake leaves the completion queued for the next
            // poll; there is nothing better to do with the error here.
            let _ = self.waker.wake();
        }
    }
}

/// The loop's end of its completion channel.
pub struct Completions {
    rx: Receiver<Completion>,
    wake_pending: Arc<AtomicBool>,
}

impl Completions {
    /// Starts a drain. Clears the wake flag first, so that a completion sent
    /// during the drain triggers a fresh wake rather than being stranded.
    pub fn begin_drain(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// The next queued completion, without waiting.
    pub fn try_next(&self) -> Option<Completion> {
        self.rx.try_recv().ok()
    }

    /// Waits for a completion until `deadline`. Only for the loop's exit,
    /// when there is nothing else left to do.
    pub fn recv_until(&self, deadline: std::time::Instant) -> Option<Completion> {
        self.rx.recv_deadline(deadline).ok()
    }
}

impl IoHandle {
    /// Creates the handle for one loop, whose poll owns `waker`.
    pub fn new(pool: Arc<IoPool>, waker: Arc<Waker>) -> (IoHandle, Completions) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let wake_pending = Arc::new(AtomicBool::new(false));
        let handle = IoHandle {
            pool,
            reply: Reply {
                tx,
                waker,
                wake_pending: wake_pending.clone(),
            },
        };
        (handle, Completions { rx, wake_pending })
    }

    /// Runs `job` on the pool and sends its outcome back for `conn`, or
    /// [`Outcome::Panicked`] if it panics.
    fn spawn<F>(&self, conn: ConnRef, job: F)
    where
        F: FnOnce(&IoPool) -> Outcome + Send + 'static,
    {
        let pool = self.pool.clone();
        let reply = self.reply.clone();
        let queued_at = Instant::now();
        self.pool
            .metrics
            .pool_queued
            .fetch_add(1, Ordering::Relaxed);
        self.pool.lanes.spawn(move || {
            let metrics = pool.metrics.clone();
            metrics.pool_queued.fetch_sub(1, Ordering::Relaxed);
            let started = Instant::now();
            metrics.pool_wait.observe(started - queued_at);
            let outcome = catch_unwind(AssertUnwindSafe(|| job(&pool))).unwrap_or_else(|_| {
                log::error!("an IO job panicked; closing its connection");
                Outcome::Panicked
            });
            metrics.pool_run.observe(started.elapsed());
            reply.send(Completion::Job { conn, outcome });
        });
    }

    /// Resolves and opens a request's target.
    pub fn open(&self, conn: ConnRef, request: OpenRequest) {
        self.spawn(conn, move |pool| {
            #[cfg(debug_assertions)]
            if request.relative == "__wharf_fault/panic-pool" && crate::fault::fault_injection() {
                panic!("injected fault: a panic in an IO job");
            }
            #[cfg(debug_assertions)]
            if request.relative == "__wharf_fault/hold-pool" && crate::fault::fault_injection() {
                crate::fault::hold_for_fault_injection();
            }
            let site = pool.site();
            Outcome::Opened(disk::open_target(
                &site.root,
                &request,
                &site.http,
                &pool.cache,
            ))
        });
    }

    /// Checks a password on the password lanes, and sends
    /// [`Outcome::PasswordChecked`] back for `conn`. Sends nothing, and
    /// says why, when a bound of [`PasswordGuard`] refuses `client` now.
    /// `base`: `[http] auth_failure_delay_secs`.
    pub fn check_password(
        &self,
        conn: ConnRef,
        client: Option<IpAddr>,
        base: Duration,
        check: PasswordCheck,
    ) -> Result<(), Refused> {
        let pool = &self.pool;
        if let Err(refused) = pool.auth_guard.admit(client, base, Instant::now()) {
            let counter = match refused {
                Refused::Busy => &pool.metrics.auth_refused_busy,
                Refused::TooMany { .. } => &pool.metrics.auth_refused_client,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return Err(refused);
        }
        pool.metrics.auth_queued.fetch_add(1, Ordering::Relaxed);
        pool.metrics.auth_pending.fetch_add(1, Ordering::Relaxed);
        let pool = self.pool.clone();
        let reply = self.reply.clone();
        self.pool.auth_lanes.spawn(move || {
            let metrics = &pool.metrics;
            metrics.auth_queued.fetch_sub(1, Ordering::Relaxed);
            let verified = catch_unwind(AssertUnwindSafe(|| password::verify(&check)));
            // A check that panicked counts as a failed one.
            let matched = verified.as_ref().is_ok_and(|m| *m);
            let hold = pool
                .auth_guard
                .checked(client, matched, base, Instant::now());
            let outcome = match verified {
                Ok(matched) => Outcome::PasswordChecked { matched, hold },
                Err(_) => {
                    log::error!("a password check panicked; closing its connection");
                    Outcome::Panicked
                }
            };
            metrics.auth_checks.fetch_add(1, Ordering::Relaxed);
            metrics.auth_pending.fetch_sub(1, Ordering::Relaxed);
            reply.send(Completion::Job { conn, outcome });
        });
        Ok(())
    }

    /// A wrong password answered from a loop's memo, without a check: the
    /// hold of its answer ([`PasswordGuard::failed_again`]).
    pub fn password_failed_again(&self, client: Option<IpAddr>, base: Duration) -> Duration {
        self.pool
            .auth_guard
            .failed_again(client, base, Instant::now())
    }

    /// Reads a custom error page (`[http.error_pages]`).
    pub fn error_page(&self, conn: ConnRef, relative: String) {
        self.spawn(conn, move |pool| {
            let site = pool.site();
            Outcome::ErrorPage(disk::read_error_page(&site.root, &relative, &site.http))
        });
    }

    /// Reads the next chunk of a streamed file into `buf`.
    pub fn read_chunk(
        &self,
        conn: ConnRef,
        file: SharedFile,
        offset: u64,
        len: usize,
        mut buf: Vec<u8>,
    ) {
        self.spawn(conn, move |_| {
            let result = disk::io::read_chunk(&file, offset, len, &mut buf);
            Outcome::Chunk { file, buf, result }
        });
    }

    /// Produces the next chunk of a directory download into `buf`
    /// (chunk-framed when `framed`), against the current root.
    pub fn archive_chunk(
        &self,
        conn: ConnRef,
        mut stream: Box<disk::archive::ArchiveStream>,
        buf: Vec<u8>,
        framed: bool,
    ) {
        self.spawn(conn, move |pool| {
            let site = pool.site();
            let (chunk, end) = stream.next_chunk(&site.root, buf, framed);
            Outcome::ArchiveChunk { stream, chunk, end }
        });
    }

    /// Sends up to `count` bytes of `file` from `offset` straight to the
    /// socket with `sendfile`. `socket` is a duplicate of the connection's
    /// descriptor, so it stays valid even if the loop closes the connection
    /// while the job runs (the socket then simply fails).
    pub fn send_file(
        &self,
        conn: ConnRef,
        socket: Arc<OwnedFd>,
        file: SharedFile,
        offset: u64,
        count: u64,
    ) {
        self.spawn(conn, move |_| {
            let (sent, stop) = disk::io::send_file(socket.as_fd(), &file, offset, count);
            Outcome::Sent { file, sent, stop }
        });
    }

    /// Closes a file on the pool: closing is the last filesystem call a
    /// file needs, and it does not belong on the loop either.
    pub fn release(&self, file: SharedFile) {
        self.pool.lanes.spawn(move || drop(file));
    }

    /// Compresses a cached file's bytes on the compression lane, then
    /// reports [`Completion::Compressed`] to the loop. A job that panics
    /// reports no bytes, so that the coding is not tried again.
    pub fn compress(&self, job: CompressJob) {
        let reply = self.reply.clone();
        self.pool.compress_lane.spawn(move || {
            let bytes = catch_unwind(AssertUnwindSafe(|| super::compress::run(&job)))
                .unwrap_or_else(|_| {
                    log::error!("compressing {} panicked", job.entry.file_path);
                    None
                });
            reply.send(Completion::Compressed(Box::new(Compressed { job, bytes })));
        });
    }

    /// Writes a batch of access-log lines on the log's own lane, then
    /// reports [`Completion::LogWritten`] to the loop, with the batch's
    /// buffer for reuse. A panic while writing reports it too, with an
    /// empty buffer: the loop must learn that no batch is in flight any
    /// more, or it would never send another.
    pub fn write_log(&self, mut batch: Vec<u8>) {
        let pool = self.pool.clone();
        let reply = self.reply.clone();
        self.pool.log_lane.spawn(move || {
            let written = catch_unwind(AssertUnwindSafe(|| {
                let mut sink = pool.log.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(sink) = sink.as_mut() {
                    if let Err(e) = sink.write_batch(&batch) {
                        log::error!("cannot write the access log: {e}");
                    }
                }
            }));
            let buf = match written {
                Ok(()) => {
                    batch.clear();
                    batch
                }
                Err(_) => {
                    log::error!("writing the access log panicked; that batch is lost");
                    Vec::new()
                }
            };
            reply.send(Completion::LogWritten(buf));
        });
    }
}
