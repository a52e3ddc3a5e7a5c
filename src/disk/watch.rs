//! Filesystem notifications for the hot-file cache: inotify watches on every
//! directory under the root, read by a `wharf-watch` thread (pool side,
//! never an event loop) that turns each change into a
//! [`FileCache::invalidate`].
//!
//! Freshness is immediate, not "soon": a change queues its inotify event
//! before the writing syscall returns, and the loops ask [`EventSignal`]
//! before a cache hit whether events are queued or being applied (a
//! zero-timeout `poll` on the inotify descriptor, an in-memory flag). If so,
//! the request is answered from the disk through the pool instead. One
//! such check vouches for every request read before it
//! ([`crate::cache::EventCheck`]), so a loop checks about once per batch of
//! readiness events rather than once per hit.
//!
//! Only modifications are watched (no `IN_OPEN`/`IN_ACCESS`), so wharf's
//! own reads cause no events. When watches cannot be set up (no inotify,
//! `max_user_watches` exhausted) the cache falls back to revalidating
//! entries by age; when the event queue overflows it is cleared.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::cache::freshness::{readable, EventSignal};
use crate::cache::sidecars::SidecarIndex;
use crate::cache::FileCache;
use crate::disk;

const HALF_A_SECOND: rustix::time::Timespec = rustix::time::Timespec {
    tv_sec: 0,
    tv_nsec: 500_000_000,
};

/// What is watched: every change to a directory's entries or a file's data
/// or metadata.
const MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::CREATE)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::DONT_FOLLOW)
    .union(WatchMask::ONLYDIR);

/// A running watch; dropping it stops the watcher thread.
pub struct RootWatch {
    stop: Arc<AtomicBool>,
}

impl Drop for RootWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How long start-up waits for the tree to be watched before it goes on
/// and lets the watcher thread finish: a tree of a million files takes
/// seconds, and a server should not take that long to answer. Until the
/// walk is done the hot-file cache stays out of the way (no hits, nothing
/// taken in), so nothing is served from it unwatched.
const STARTUP_WALK_BUDGET: Duration = Duration::from_millis(100);

/// Watches every directory under `root` (canonical) and invalidates `cache`
/// on every change. `None` (with a warning) when that is not possible; the
/// cache then revalidates entries by age. A large tree is watched partly
/// here and the rest on the watcher thread (see [`STARTUP_WALK_BUDGET`]).
pub fn watch_root(root: &Path, cache: Arc<FileCache>) -> Option<RootWatch> {
    let inotify = match Inotify::init() {
        Ok(inotify) => inotify,
        Err(error) => {
            warn_cannot_watch(root, &cache, &error);
            return None;
        }
    };
    let signal = match inotify.as_fd().try_clone_to_owned() {
        Ok(fd) => Arc::new(EventSignal::new(fd)),
        Err(error) => {
            warn_cannot_watch(root, &cache, &error);
            return None;
        }
    };
    let mut watcher = Watcher {
        inotify,
        root: root.to_path_buf(),
        dirs: HashMap::new(),
        watched: HashSet::new(),
        listed_all: true,
        pending: Vec::new(),
    };
    let ticket = cache.begin_watch();
    watcher.begin_rebuild(cache.sidecar_index());
    #[cfg(debug_assertions)]
    let budget = crate::fault::watch_budget().unwrap_or(STARTUP_WALK_BUDGET);
    #[cfg(not(debug_assertions))]
    let budget = STARTUP_WALK_BUDGET;
    let deadline = Instant::now() + budget;
    let finished = match watcher.walk(cache.sidecar_index(), Some(deadline)) {
        Ok(finished) => finished,
        Err(error) => {
            warn_cannot_watch(root, &cache, &error);
            cache.watch_failed(ticket);
            return None;
        }
    };
    if finished {
        watcher.end_rebuild(cache.sidecar_index());
        cache.install_watch(ticket, signal.clone());
    } else {
        log::info!(
            "watching {} for changes; the hot-file cache starts once every directory is watched",
            root.display()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let thread_cache = cache.clone();
    let thread_root = root.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("wharf-watch".to_string())
        .spawn(move || {
            let cache = thread_cache;
            if !finished {
                if let Err(error) = watcher.walk(cache.sidecar_index(), None) {
                    warn_cannot_watch(&thread_root, &cache, &error);
                    cache.watch_failed(ticket);
                    return;
                }
                watcher.end_rebuild(cache.sidecar_index());
                if !cache.install_watch(ticket, signal.clone()) {
                    return; // A reload started another watch meanwhile.
                }
            }
            watcher.run(&cache, &signal, &thread_stop);
            // A watcher replaced by a reload leaves the new one in charge.
            if cache.is_current_signal(&signal) {
                cache.set_watching(false);
                cache.clear();
            }
            signal.stop();
        });
    match spawned {
        Ok(_) => Some(RootWatch { stop }),
        Err(error) => {
            log::warn!("cannot start the file watcher ({error}); cached files revalidate by age");
            cache.watch_failed(ticket);
            None
        }
    }
}

/// The warning for a tree that cannot be watched, and what the cache does
/// instead.
fn warn_cannot_watch(root: &Path, cache: &FileCache, error: &std::io::Error) {
    // Out of watches (ENOSPC) has a remedy worth naming.
    let hint = if error.raw_os_error() == Some(libc::ENOSPC) {
        " (raise fs.inotify.max_user_watches to watch large trees)"
    } else {
        ""
    };
    log::warn!(
        "cannot watch {} for changes ({error}); cached files revalidate every {} s{hint}",
        root.display(),
        cache.config().revalidate.as_secs()
    );
}

/// Whether an error only says the directory is no longer there (or no
/// longer a directory, or now a symlink, which is not followed).
fn gone(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
    )
}

/// Whether `error`, met watching or listing `relative`, says only that
/// this process may not enter it: then nothing below it can be served
/// either, it needs no watch, and the rest of the tree keeps its watches.
/// A directory that may be entered but not read (mode 0711) is another
/// matter: its files can be served, and without a watch a change to them
/// would go unseen, so that ends watching (the cache then revalidates by
/// age).
fn closed_to_us(error: &std::io::Error, root: &Path, relative: &str) -> bool {
    matches!(error.raw_os_error(), Some(libc::EACCES | libc::EPERM))
        && !relative.is_empty()
        && !disk::dir::can_enter(&root.join(relative))
}

/// The inotify instance and the directory each watch stands for.
struct Watcher {
    inotify: Inotify,
    root: PathBuf,
    /// Watch descriptor to directory path relative to the root.
    dirs: HashMap<WatchDescriptor, String>,
    /// The same paths, to tell a watched directory from one that is not.
    watched: HashSet<String>,
    /// Every watched directory was listed since the last rebuild: the
    /// sidecar index may vouch for the tree.
    listed_all: bool,
    /// Directories still to watch and list ([`Watcher::walk`]).
    pending: Vec<Pending>,
}

/// A directory a walk has yet to watch and list.
struct Pending {
    dir: String,
    /// The directory the walk started from (its failures are the walk's).
    top: bool,
}

impl Watcher {
    /// Watches `relative` and every directory below it, and notes the
    /// precompressed sidecars in them (see [`SidecarIndex`]).
    fn add_tree(&mut self, relative: &str, sidecars: &SidecarIndex) -> std::io::Result<()> {
        self.pending.push(Pending {
            dir: relative.to_string(),
            top: true,
        });
        self.walk(sidecars, None).map(|_| ())
    }

    /// Watches and lists the pending directories, and those found below
    /// them, until none is left (`true`) or `deadline` has passed (`false`;
    /// call again to go on). Each directory is watched before it is listed,
    /// so that a name created meanwhile is either listed or raises an
    /// event. A directory that vanished or was replaced (by a file or a
    /// symlink) since it was seen has nothing to watch, nor has one this
    /// process may not enter (below the root; its permissions changing
    /// raises an event on its parent, which tries again; see
    /// [`closed_to_us`]); any other failure (watches exhausted, a directory
    /// that may be entered but not listed) ends watching. A watched
    /// directory that cannot be listed leaves the sidecar index incomplete
    /// ([`Watcher::listed_all`]).
    fn walk(
        &mut self,
        sidecars: &SidecarIndex,
        deadline: Option<Instant>,
    ) -> std::io::Result<bool> {
        while let Some(Pending { dir, top }) = self.pending.pop() {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                self.pending.push(Pending { dir, top });
                return Ok(false);
            }
            let is_root = top && dir.is_empty();
            match self.inotify.watches().add(self.root.join(&dir), MASK) {
                Ok(wd) => {
                    self.watched.insert(dir.clone());
                    self.dirs.insert(wd, dir.clone());
                }
                Err(e) if gone(&e) && !is_root => continue,
                Err(e) if closed_to_us(&e, &self.root, &dir) => {
                    log::debug!("not watching {dir}: {e}");
                    continue;
                }
                // Out of watches: about the whole tree, not this directory.
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Err(e),
                // Which directory, for the warning.
                Err(e) => return Err(std::io::Error::new(e.kind(), format!("{dir}/: {e}"))),
            }
            let names = match disk::dir::names_in(&self.root, &dir) {
                Ok(names) => names,
                Err(e) if gone(&e) && !is_root => continue,
                Err(e) if top => return Err(e),
                Err(e) => {
                    log::debug!("cannot list {dir}: {e}");
                    self.listed_all = false;
                    continue;
                }
            };
            for (name, is_dir) in names {
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                if is_dir {
                    self.pending.push(Pending {
                        dir: path,
                        top: false,
                    });
                } else {
                    sidecars.note_present(&path);
                }
            }
        }
        Ok(true)
    }

    /// Starts mapping the whole tree again (after a directory moved, which
    /// changes the paths below it, or after lost events); [`Watcher::walk`]
    /// does it, [`Watcher::end_rebuild`] ends it. Watches are re-added, not
    /// removed: adding a watch to a watched directory returns its existing
    /// descriptor, and removing thousands would queue as many `IN_IGNORED`
    /// events, overflow the queue and trigger another rebuild. Watches on
    /// directories that left the tree stay, unmapped, and their events are
    /// ignored.
    fn begin_rebuild(&mut self, sidecars: &SidecarIndex) {
        self.dirs.clear();
        self.watched.clear();
        self.pending.clear();
        sidecars.reset();
        self.listed_all = true;
        self.pending.push(Pending {
            dir: String::new(),
            top: true,
        });
    }

    /// Ends a rebuild whose walk is done: the sidecar index vouches for the
    /// tree if every directory was listed.
    fn end_rebuild(&self, sidecars: &SidecarIndex) {
        if self.listed_all {
            sidecars.set_complete();
        }
    }

    /// A whole rebuild, on the watcher thread.
    fn rebuild(&mut self, sidecars: &SidecarIndex) -> std::io::Result<()> {
        self.begin_rebuild(sidecars);
        self.walk(sidecars, None)?;
        self.end_rebuild(sidecars);
        Ok(())
    }

    fn run(&mut self, cache: &FileCache, signal: &Arc<EventSignal>, stop: &AtomicBool) {
        let mut buffer = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::SeqCst) {
            // With a timeout, so that a stop request is noticed.
            if !readable(self.inotify.as_fd(), Some(&HALF_A_SECOND)) {
                continue;
            }
            signal.set_applying(true);
            let result = self.drain(cache, signal, &mut buffer);
            signal.set_applying(false);
            if let Err(error) = result {
                cache.sidecar_index().reset();
                log::warn!("file watching failed ({error}); cached files now revalidate by age");
                return;
            }
        }
    }

    /// Reads and applies every queued event.
    fn drain(
        &mut self,
        cache: &FileCache,
        signal: &Arc<EventSignal>,
        buffer: &mut [u8],
    ) -> std::io::Result<()> {
        // A watcher replaced by a reload (a new root) must not touch the
        // new root's sidecar index in its last moments.
        let sidecars = cache
            .is_current_signal(signal)
            .then(|| cache.sidecar_index());
        loop {
            let events = match self.inotify.read_events(buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut rebuild = false;
            let mut new_dirs = Vec::new();
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    cache.clear();
                    rebuild = true;
                    continue;
                }
                let Some(dir) = self.dirs.get(&event.wd) else {
                    continue;
                };
                let path = match event.name.and_then(|n| n.to_str()) {
                    Some(name) if dir.is_empty() => name.to_string(),
                    Some(name) => format!("{dir}/{name}"),
                    None if event.name.is_some() => {
                        // A name that is not UTF-8: be safe.
                        cache.clear();
                        continue;
                    }
                    None => dir.clone(),
                };
                if let Some(sidecars) = sidecars {
                    if event
                        .mask
                        .intersects(EventMask::DELETE | EventMask::MOVED_FROM)
                    {
                        sidecars.note_absent(&path);
                    } else if event.name.is_some() && !event.mask.contains(EventMask::ISDIR) {
                        sidecars.note_present(&path);
                    }
                }
                cache.invalidate(&path);
                if event.mask.contains(EventMask::ISDIR) {
                    if event
                        .mask
                        .intersects(EventMask::MOVED_FROM | EventMask::MOVED_TO)
                    {
                        rebuild = true;
                    } else if event.mask.contains(EventMask::CREATE) {
                        new_dirs.push(path);
                    } else if event.mask.contains(EventMask::ATTRIB)
                        && !self.watched.contains(&path)
                    {
                        // An unwatched directory, perhaps open to us now.
                        new_dirs.push(path);
                    }
                }
                if event.mask.contains(EventMask::IGNORED) {
                    if let Some(dir) = self.dirs.remove(&event.wd) {
                        self.watched.remove(&dir);
                    }
                }
            }
            if rebuild {
                self.rebuild(cache.sidecar_index())?;
                cache.clear();
            } else if !new_dirs.is_empty() {
                for dir in new_dirs {
                    self.add_tree(&dir, cache.sidecar_index())?;
                }
                if !self.listed_all {
                    cache.sidecar_index().reset();
                }
                // Files written in a new directory before its watch existed
                // raised no event: refuse inserts read before this point.
                cache.bump_generation();
            }
        }
    }
}
