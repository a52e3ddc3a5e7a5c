//! The pool's threads: one shared FIFO queue of jobs, drained by lanes,
//! each a rayon pool of one thread that runs a single long-lived drain.
//!
//! One rayon pool of N threads would do the same work, but rayon is built
//! for fork-join CPU work: a thread that wakes and finds a job wakes up to
//! two sleeping siblings to help, and every thread that runs out of work
//! yields the CPU 32 times before it sleeps. For blocking IO jobs that
//! arrive one at a time (a `sendfile` job per writable event, an open per
//! missed request) that is pure cost (see docs/performance.md). So each
//! lane's one rayon thread never returns to rayon's idle loop: it takes
//! jobs from the queue and, when the queue is empty, sleeps on a condition
//! variable (a futex wait, no spinning) until a job is queued.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};

/// A job as the lanes queue it.
type Job = Box<dyn FnOnce() + Send>;

/// The queue the lanes share.
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when a job is queued while a lane sleeps, or on shutdown.
    work: Condvar,
}

struct QueueState {
    jobs: VecDeque<Job>,
    /// Lanes waiting on [`Queue::work`] (including those woken that have
    /// not run yet).
    sleeping: usize,
    /// Lanes woken that have not run yet. While one is on its way, nobody
    /// wakes another: it takes the first job and, if more are queued, wakes
    /// the next lane itself. So a burst of jobs wakes lanes one after
    /// another as there is work for them, rather than every lane at once
    /// to contend for the first job (as Go's scheduler wakes an idle
    /// thread only when none is already looking for work).
    waking: usize,
    /// Set when the [`Lanes`] are dropped: the drains return.
    closed: bool,
}

/// The pool's threads: one shared FIFO queue of jobs, drained by lanes
/// that are each a rayon pool of one thread (see the module documentation
/// for why not one pool of N threads). A job is never stuck behind another
/// while a lane is free: every idle lane sleeps on the queue, and one is
/// woken for each job queued.
pub struct Lanes {
    queue: Arc<Queue>,
    /// Kept so the threads live as long as the lanes.
    _pools: Box<[rayon::ThreadPool]>,
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
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                sleeping: 0,
                waking: 0,
                closed: false,
            }),
            work: Condvar::new(),
        });
        let pools = (0..threads.max(1))
            .map(|i| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| name(i))
                    .start_handler(move |_| lower_priority(nice))
                    .build()
                    .map_err(io::Error::other)?;
                let queue = queue.clone();
                pool.spawn(move || queue.drain());
                Ok(pool)
            })
            .collect::<io::Result<_>>()?;
        Ok(Arc::new(Lanes {
            queue,
            _pools: pools,
        }))
    }

    /// Queues `job`, waking a sleeping lane unless one is already on its
    /// way.
    pub fn spawn(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) {
        let wake = {
            let mut state = self.queue.lock();
            state.jobs.push_back(Box::new(job));
            state.claim_wake()
        };
        if wake {
            self.queue.work.notify_one();
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.work.notify_all();
    }
}

impl QueueState {
    /// Whether to wake a sleeping lane for the queued jobs: some lane
    /// sleeps and none is already on its way. Counts the wake.
    fn claim_wake(&mut self) -> bool {
        let wake = self.waking == 0 && self.sleeping > 0 && !self.jobs.is_empty();
        if wake {
            self.waking += 1;
        }
        wake
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Jobs run outside the lock and catch their own panics, so a
        // poisoned lock only means a panic between two lines here.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A lane's one long-lived task: runs queued jobs, sleeping while there
    /// are none, until the lanes are dropped.
    fn drain(&self) {
        loop {
            let (job, wake_next) = {
                let mut state = self.lock();
                loop {
                    if let Some(job) = state.jobs.pop_front() {
                        // More work than this lane: the next one, if asleep.
                        break (job, state.claim_wake());
                    }
                    if state.closed {
                        return;
                    }
                    state.sleeping += 1;
                    state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
                    state.sleeping -= 1;
                    // Woken (or a spurious wake-up, which may take the count
                    // of a woken sibling: that one still wakes and runs).
                    state.waking = state.waking.saturating_sub(1);
                }
            };
            if wake_next {
                self.work.notify_one();
            }
            // Jobs catch their own panics (see `IoHandle::spawn`); this
            // keeps the lane alive whatever a job does.
            let _ = catch_unwind(AssertUnwindSafe(job));
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

/// The niceness of the password lanes: bcrypt is pure CPU too, and a flood
/// of wrong passwords must take only what the loops and the IO lanes leave.
pub const PASSWORD_NICE: i32 = 10;

/// Runs a pool thread at a lower scheduling priority than the event loops
/// (`nice`: [`IO_NICE`], [`COMPRESS_NICE`], [`PASSWORD_NICE`]). Best effort.
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
