//! The IO pool: rayon threads that run every disk operation, and the return
//! path that brings each result back to the event loop that asked.
//!
//! The pool is one FIFO queue of jobs drained by lanes, each a rayon pool of
//! one thread (see `Lanes`). One rayon pool of N threads would do the same
//! work, but rayon is built for fork-join CPU work: a thread that wakes and
//! finds a job wakes up to two sleeping siblings to help, and every thread
//! that runs out of work yields the CPU 32 times before it sleeps. For
//! blocking IO jobs that arrive one at a time (a `sendfile` job per
//! writable event) that is pure cost: measured at 100 MiB, 45-90
//! `sched_yield`s and about 50 context switches per job, and twice nginx's
//! CPU per GB sent. A lane's lone thread has no sibling to wake.
//!
//! A job is a closure run on the pool. It calls into [`crate::disk`], wraps the
//! result in a [`Completion`] addressed to a [`ConnRef`], sends it down the
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
//! what waits meanwhile (see [`crate::ops::access_log`]).

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;

use crate::cache::FileCache;
use crate::config::HttpOptions;
use crate::disk::{self, FileResponse, LogSink, OpenError, OpenRequest, Opened, Root, SharedFile};
use crate::ops::metrics::Metrics;

/// Debug builds only: whether `WHARF_FAULT_INJECTION=1` asks for the test
/// hooks that make a request panic on purpose (`/__wharf_fault/panic-loop`
/// on the event loop, `/__wharf_fault/panic-pool` in an IO job), so tests
/// can prove that a panic costs only its own connection, or hold an IO
/// thread (`/__wharf_fault/hold-pool`, see
/// [`disk::hold_for_fault_injection`]).
#[cfg(debug_assertions)]
pub fn fault_injection() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("WHARF_FAULT_INJECTION").is_some_and(|v| v == "1"))
}

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
pub struct Completion {
    pub conn: ConnRef,
    pub outcome: Outcome,
}

thread_local! {
    /// Set on event-loop threads: files must not be closed there.
    static ON_LOOP_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as an event loop (see [`close_off_loop`]).
pub fn mark_loop_thread() {
    ON_LOOP_THREAD.with(|on_loop| on_loop.set(true));
}

/// Whether the calling thread is an event loop.
pub fn on_loop_thread() -> bool {
    ON_LOOP_THREAD.with(|on_loop| on_loop.get())
}

/// Closes `file` now, unless the caller is an event loop: then the file goes
/// to the `wharf-closer` thread, so that no loop ever makes the `close`
/// call of a file. The loops hand files to the pool explicitly
/// ([`IoHandle::release`]); this catches the drops that cannot be routed
/// that way, such as a descriptor entry of the hot-file cache evicted by a
/// loop's insert.
pub fn close_off_loop(file: File) {
    if !on_loop_thread() {
        return drop(file);
    }
    static CLOSER: std::sync::OnceLock<Option<crossbeam_channel::Sender<File>>> =
        std::sync::OnceLock::new();
    let closer = CLOSER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<File>();
        std::thread::Builder::new()
            .name("wharf-closer".to_string())
            .spawn(move || rx.iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    match closer {
        Some(tx) => {
            if let Err(unsent) = tx.send(file) {
                // The closer is gone; leaking the descriptor beats closing
                // it here.
                std::mem::forget(unsent.into_inner());
            }
        }
        None => std::mem::forget(file),
    }
}

/// What a job produced.
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
        stop: disk::SendStop,
    },
    /// The answer to [`IoHandle::error_page`]: the page and its type, or
    /// `None` to use the built-in page.
    ErrorPage(Option<(Vec<u8>, Cow<'static, str>)>),
    /// An access-log batch was written; the loop may send the next one.
    /// Carries the batch's buffer back, emptied, for reuse.
    LogWritten(Vec<u8>),
    /// The job panicked; the connection is closed.
    Panicked,
}

impl Completion {
    /// Takes out any file the completion carries, so that a completion for a
    /// connection that has gone can have its file closed on the pool.
    pub fn into_file(self) -> Option<SharedFile> {
        match self.outcome {
            Outcome::Chunk { file, .. } | Outcome::Sent { file, .. } => Some(file),
            Outcome::Opened(Ok(Opened::File(FileResponse {
                body: disk::FileBody::Stream { file, .. },
                ..
            }))) => Some(file),
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
    site: RwLock<Arc<Site>>,
    log: Mutex<Option<LogSink>>,
    /// The hot-file cache: the pool reads files for it, the loops serve
    /// from it.
    cache: Arc<FileCache>,
    metrics: Arc<Metrics>,
}

impl IoPool {
    /// Builds the pool with `threads` threads named `wharf-io-N`, and the
    /// access log's lane, `wharf-io-log`.
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

/// A job as the lanes queue it.
type Job = Box<dyn FnOnce() + Send>;

/// The pool's threads: one shared FIFO queue of jobs, drained by lanes that
/// are each a rayon pool of one thread (see the module documentation for
/// why not one pool of N threads). A job is never stuck behind another
/// while a lane is free: an idle lane is claimed for it at once, and a busy
/// lane takes the next queued job as soon as its current one ends.
struct Lanes {
    queue: Sender<Job>,
    queued: Receiver<Job>,
    lanes: Box<[Lane]>,
    /// Where the search for an idle lane starts, advanced on every job so
    /// that work is spread over the lanes.
    next: AtomicUsize,
}

struct Lane {
    pool: rayon::ThreadPool,
    /// Whether the lane runs a drain (or has been claimed for one).
    active: AtomicBool,
}

impl Lanes {
    /// `threads` lanes; lane `i`'s thread is named `name(i)`.
    fn new(threads: usize, name: fn(usize) -> String) -> io::Result<Arc<Lanes>> {
        let lanes = (0..threads.max(1))
            .map(|i| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| name(i))
                    .start_handler(|_| lower_priority())
                    .build()
                    .map_err(io::Error::other)?;
                Ok(Lane {
                    pool,
                    active: AtomicBool::new(false),
                })
            })
            .collect::<io::Result<_>>()?;
        let (queue, queued) = crossbeam_channel::unbounded();
        Ok(Arc::new(Lanes {
            queue,
            queued,
            lanes,
            next: AtomicUsize::new(0),
        }))
    }

    /// Queues `job` and, if a lane is idle, claims it to run the queue.
    fn spawn(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) {
        // The receiver lives in `self`, so the queue cannot be disconnected.
        let _ = self.queue.send(Box::new(job));
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.lanes.len();
        for step in 0..count {
            let index = (start + step) % count;
            if self.claim(index) {
                let lanes = self.clone();
                self.lanes[index].pool.spawn(move || lanes.drain(index));
                return;
            }
        }
        // Every lane is active: each takes from the queue again before it
        // goes idle (see `drain`), so the job is not stranded.
    }

    fn claim(&self, index: usize) -> bool {
        self.lanes[index]
            .active
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Runs queued jobs on lane `index` until the queue is empty. The lane
    /// marks itself idle and then looks at the queue once more: a job
    /// queued just before that, by a submitter that found this lane still
    /// active, is run here rather than left waiting for the next submit.
    fn drain(&self, index: usize) {
        loop {
            while let Ok(job) = self.queued.try_recv() {
                // Jobs catch their own panics (see `IoHandle::spawn`); this
                // keeps the lane alive whatever a job does.
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            self.lanes[index].active.store(false, Ordering::SeqCst);
            if self.queued.is_empty() || !self.claim(index) {
                return;
            }
        }
    }
}

/// Runs pool threads at a lower scheduling priority than the event loops
/// (nice +5): a pool thread busy copying a large file with `sendfile`
/// must not delay a loop that has cached answers to send. Best effort.
fn lower_priority() {
    // SAFETY: gettid and setpriority only read their arguments; the calling
    // thread changes its own nice value.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 5);
    }
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
            reply.send(Completion { conn, outcome });
        });
    }

    /// Resolves and opens a request's target.
    pub fn open(&self, conn: ConnRef, request: OpenRequest) {
        self.spawn(conn, move |pool| {
            #[cfg(debug_assertions)]
            if request.relative == "__wharf_fault/panic-pool" && fault_injection() {
                panic!("injected fault: a panic in an IO job");
            }
            #[cfg(debug_assertions)]
            if request.relative == "__wharf_fault/hold-pool" && fault_injection() {
                disk::hold_for_fault_injection();
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
            let result = disk::read_chunk(&file, offset, len, &mut buf);
            Outcome::Chunk { file, buf, result }
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
            let (sent, stop) = disk::send_file(socket.as_fd(), &file, offset, count);
            Outcome::Sent { file, sent, stop }
        });
    }

    /// Closes a file on the pool: closing is the last filesystem call a
    /// file needs, and it does not belong on the loop either.
    pub fn release(&self, file: SharedFile) {
        self.pool.lanes.spawn(move || drop(file));
    }

    /// Writes a batch of access-log lines on the log's own lane, then
    /// reports [`Outcome::LogWritten`] to `conn` (the loop's own
    /// pseudo-reference), with the batch's buffer for reuse. A panic while
    /// writing reports it too, with an empty buffer: the loop must learn
    /// that no batch is in flight any more, or it would never send another.
    pub fn write_log(&self, conn: ConnRef, mut batch: Vec<u8>) {
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
            reply.send(Completion {
                conn,
                outcome: Outcome::LogWritten(buf),
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lanes_run_every_job_submitted_from_racing_threads() {
        // Submitters race each other and lanes going idle; every job runs.
        // (The narrow window `Lanes::drain` re-checks the queue for, a job
        // queued between a lane's last look and its going idle, is too
        // narrow to hit on demand: this catches gross losses only.)
        let lanes = Lanes::new(2, |i| format!("test-{i}")).unwrap();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let lanes = lanes.clone();
                let done_tx = done_tx.clone();
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        let done_tx = done_tx.clone();
                        lanes.spawn(move || {
                            let _ = done_tx.send(());
                        });
                    }
                })
            })
            .collect();
        for submitter in submitters {
            submitter.join().unwrap();
        }
        for n in 0..20_000 {
            done_rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("job {n} of 20000 never ran"));
        }
    }

    #[test]
    fn a_panicking_job_leaves_its_lane_working() {
        let lanes = Lanes::new(1, |i| format!("test-{i}")).unwrap();
        lanes.spawn(|| panic!("a job that panics"));
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        lanes.spawn(move || {
            let _ = done_tx.send(());
        });
        assert!(done_rx.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
