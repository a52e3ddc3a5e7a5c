//! What the control side (start-up, the signal thread, a
//! `server::ServerHandle`) shares with the event loops: the
//! shutdown flag, the configuration in force, the connection count, how
//! many loops run (for `/readyz` and the drain), and a waker for each loop.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use mio::Waker;

use crate::config::Config;

/// State shared by all event loops and the threads that control them.
pub struct Control {
    /// Set to begin a graceful shutdown.
    pub shutdown: AtomicBool,
    /// Open client connections over all loops (for `max_connections`).
    pub open_connections: AtomicUsize,
    /// The configuration in force; replaced on reload.
    config: RwLock<Arc<Config>>,
    /// Bumped on every reload; loops compare it once per iteration.
    pub config_generation: AtomicU64,
    /// Each running loop's waker, so shutdown and reload can wake them all.
    wakers: Mutex<Vec<Arc<Waker>>>,
    /// Loops that have started and not yet stopped.
    loops_running: AtomicUsize,
    /// Loops start-up set up (the workers).
    loops_expected: AtomicUsize,
}

impl Control {
    pub fn new(config: Config) -> Control {
        Control {
            shutdown: AtomicBool::new(false),
            open_connections: AtomicUsize::new(0),
            config: RwLock::new(Arc::new(config)),
            config_generation: AtomicU64::new(0),
            wakers: Mutex::new(Vec::new()),
            loops_running: AtomicUsize::new(0),
            loops_expected: AtomicUsize::new(0),
        }
    }

    /// How many loops start-up set up.
    pub fn expect_loops(&self, n: usize) {
        self.loops_expected.store(n, Ordering::Release);
    }

    /// Called by a loop when it starts running.
    pub fn loop_started(&self) {
        self.loops_running.fetch_add(1, Ordering::AcqRel);
    }

    /// Called by a loop when it stops; wakes the others, since the loop
    /// with the metrics listener waits for them during a drain.
    pub fn loop_stopped(&self) {
        self.loops_running.fetch_sub(1, Ordering::AcqRel);
        self.wake_all();
    }

    /// Loops running now.
    pub fn loops_running(&self) -> usize {
        self.loops_running.load(Ordering::Acquire)
    }

    /// Whether a graceful shutdown has begun (`/healthz` then says 503).
    pub fn draining(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Ready for traffic (`/readyz`): every loop runs, and no drain has
    /// begun.
    pub fn ready(&self) -> bool {
        let expected = self.loops_expected.load(Ordering::Acquire);
        !self.draining() && expected > 0 && self.loops_running() == expected
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts `config` in force. The loops pick it up after
    /// [`Control::announce_reload`].
    pub fn replace_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    /// Tells every loop that a reload happened, and wakes them to see it.
    pub fn announce_reload(&self) {
        self.config_generation.fetch_add(1, Ordering::AcqRel);
        self.wake_all();
    }

    /// Asks every loop to shut down gracefully.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.wake_all();
    }

    /// Registers a loop's waker.
    pub fn add_waker(&self, waker: Arc<Waker>) {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(waker);
    }

    fn wake_all(&self) {
        let wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        for waker in wakers.iter() {
            let _ = waker.wake();
        }
    }
}
