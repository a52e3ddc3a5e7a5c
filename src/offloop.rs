//! Thread roles, and the file handle that is never closed on an event loop.
//!
//! Event-loop threads mark themselves ([`mark_loop_thread`]); a
//! [`SharedFile`] whose last reference is dropped on such a thread hands its
//! descriptor to the `wharf-closer` thread instead of making the `close`
//! call there (closing a file can block, as any filesystem call can).

// Holds and closes files (never opens or reads one); see clippy.toml.
#![allow(clippy::disallowed_types)]

use std::fs::File;
use std::sync::Arc;

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
/// (`disk::pool::IoHandle::release`); this catches the drops that cannot be routed
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

/// An open file that may be shared: by the hot-file cache's descriptor
/// entries and the responses sending from them. Its descriptor is never
/// closed on an event loop: when the last reference goes there (an entry
/// evicted by a loop's insert, say), the file is handed to the closer thread
/// instead ([`close_off_loop`]).
pub type SharedFile = Arc<OffLoopFile>;

/// See [`SharedFile`].
#[derive(Debug)]
pub struct OffLoopFile(Option<File>);

impl OffLoopFile {
    pub fn shared(file: File) -> SharedFile {
        Arc::new(OffLoopFile(Some(file)))
    }
}

impl std::ops::Deref for OffLoopFile {
    type Target = File;

    fn deref(&self) -> &File {
        // Some until drop.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("file taken before drop"))
    }
}

impl Drop for OffLoopFile {
    fn drop(&mut self) {
        if let Some(file) = self.0.take() {
            crate::offloop::close_off_loop(file);
        }
    }
}
