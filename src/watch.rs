//! Filesystem notifications for the hot-file cache: an inotify watch on the
//! whole root (through the `notify` crate, on its own thread, never an event
//! loop's) turns every change into a [`FileCache::invalidate`].
//!
//! When the watch cannot be set up (no inotify, `max_user_watches`
//! exhausted) or events are lost (queue overflow), the cache is told it is
//! not being watched and falls back to revalidating entries after
//! `[cache] revalidate_secs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::cache::FileCache;

/// A running watch; dropping it stops the watching.
pub struct RootWatch {
    _watcher: RecommendedWatcher,
}

/// Watches `root` (canonical) and invalidates `cache` on every change.
/// `None` (with a warning on stderr) when watching is not possible; the
/// cache then revalidates by age.
pub fn watch_root(root: &Path, cache: Arc<FileCache>) -> Option<RootWatch> {
    let handler_cache = cache.clone();
    let root_path: PathBuf = root.to_path_buf();
    let handler = move |result: notify::Result<Event>| match result {
        Ok(event) => apply(&handler_cache, &root_path, &event),
        Err(error) => {
            // Events may have been lost: trust nothing cached from now on.
            eprintln!("wharf: warning: file watching failed ({error}); cached files now revalidate by age");
            handler_cache.set_watching(false);
            handler_cache.clear();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            eprintln!(
                "wharf: warning: cannot watch files ({error}); cached files revalidate by age"
            );
            return None;
        }
    };
    if let Err(error) = watcher.watch(root, RecursiveMode::Recursive) {
        eprintln!(
            "wharf: warning: cannot watch {} ({error}); cached files revalidate by age \
             (raise fs.inotify.max_user_watches to watch large trees)",
            root.display()
        );
        return None;
    }
    cache.set_watching(true);
    Some(RootWatch { _watcher: watcher })
}

/// Applies one event to the cache.
fn apply(cache: &FileCache, root: &Path, event: &Event) {
    if event.need_rescan() {
        cache.clear();
        return;
    }
    // Opens and reads (wharf's own included) change nothing.
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return;
        }
    }
    for path in &event.paths {
        match path.strip_prefix(root).ok().and_then(Path::to_str) {
            Some(relative) => cache.invalidate(relative),
            // Outside the root or not UTF-8: be safe.
            None => cache.clear(),
        }
    }
}
