//! The pool's threads: one shared FIFO queue of jobs, drained by lanes,
//! each a rayon pool of one thread.
//!
//! One rayon pool of N threads would do the same work, but rayon is built
//! for fork-join CPU work: a thread that wakes and finds a job wakes up to
//! two sleeping siblings to help, and every thread that runs out of work
//! yields the CPU 32 times before it sleeps. For blocking IO jobs that
//! arrive one at a time (a `sendfile` job per writable event) that is pure
//! cost (see docs/performance.md). A lane's lone thread has no sibling to
//! wake.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

/// A job as the lanes queue it.
type Job = Box<dyn FnOnce() + Send>;

/// The pool's threads: one shared FIFO queue of jobs, drained by lanes that
/// are each a rayon pool of one thread (see the module documentation for
/// why not one pool of N threads). A job is never stuck behind another
/// while a lane is free: an idle lane is claimed for it at once, and a busy
/// lane takes the next queued job as soon as its current one ends.
pub struct Lanes {
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
    pub fn new(threads: usize, name: fn(usize) -> String) -> io::Result<Arc<Lanes>> {
        Lanes::with_nice(threads, name, IO_NICE)
    }

    /// [`Lanes::new`], with threads at `nice` instead of [`IO_NICE`].
    pub fn with_nice(
        threads: usize,
        name: fn(usize) -> String,
        nice: i32,
    ) -> io::Result<Arc<Lanes>> {
        let lanes = (0..threads.max(1))
            .map(|i| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| name(i))
                    .start_handler(move |_| lower_priority(nice))
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
    pub fn spawn(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) {
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

/// The niceness of the IO lanes: a pool thread busy copying a large file
/// with `sendfile` must not delay a loop that has cached answers to send.
pub const IO_NICE: i32 = 5;

/// The niceness of the compression lane: below the IO lanes too, so that
/// compressing (pure CPU, seconds of it for a large file at a high level)
/// takes what the loops and the IO lanes leave.
pub const COMPRESS_NICE: i32 = 10;

/// Runs a pool thread at a lower scheduling priority than the event loops
/// (`nice`: [`IO_NICE`], [`COMPRESS_NICE`]). Best effort.
fn lower_priority(nice: i32) {
    // On Linux a thread id names the thread alone for setpriority.
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice);
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
