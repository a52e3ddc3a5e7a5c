//! What the control side (start-up, the signal thread, a
//! `server::ServerHandle`) shares with the event loops: the
//! shutdown flag, the configuration in force, the connection count, and a
//! waker for each loop.

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
}

impl Control {
    pub fn new(config: Config) -> Control {
        Control {
            shutdown: AtomicBool::new(false),
            open_connections: AtomicUsize::new(0),
            config: RwLock::new(Arc::new(config)),
            config_generation: AtomicU64::new(0),
            wakers: Mutex::new(Vec::new()),
        }
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
