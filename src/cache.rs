//! The hot-file cache: small files kept in memory with their response
//! headers pre-rendered, so that a hit is answered by the event loop with no
//! pool round trip and no filesystem syscall.
//!
//! Shared by every loop (lookups, under a read lock) and the IO pool
//! (inserts, after it has read a file). It never touches the disk itself.
//!
//! Freshness:
//! - [`crate::watch`] turns inotify events into [`FileCache::invalidate`]
//!   calls, and before every hit the cache asks it whether events are
//!   still queued or being applied; if so the hit is refused and the pool
//!   reads the file. A change is thus seen by the very next request. An
//!   insert carries the cache's generation from *before* the pool opened
//!   the file and is refused if any invalidation happened since, so an
//!   edit racing a read can never leave stale bytes behind.
//! - Where watching is not possible (inotify unavailable, watches
//!   exhausted, queue overflow), entries are trusted for only
//!   `[cache] revalidate_secs`; after that a request goes to the pool again,
//!   which re-reads the file.
//! - Only files reached without any symlink and without precompressed
//!   variants are cached: an event names the path that changed, and for
//!   those files that path is the one the entry is keyed by.
//!
//! Eviction: when an insert would exceed the memory budget, the least
//! recently used entries go first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::http::request::FileHeaders;
use crate::http::serve::{self, Plan};
use crate::watch::EventSignal;

/// Cache settings (`[cache]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Largest file kept.
    pub max_file_bytes: u64,
    /// Memory budget for all cached bodies.
    pub max_total_bytes: u64,
    /// How long an entry is trusted when filesystem events are unavailable.
    pub revalidate: Duration,
}

/// A cached file: its bytes and everything its response headers need.
#[derive(Debug)]
pub struct CachedFile {
    /// The file's path relative to the root, for invalidation.
    pub file_path: String,
    pub body: Arc<[u8]>,
    pub etag: String,
    /// Unix seconds, already clamped to the time it was read.
    pub last_modified_secs: u64,
    pub modified: SystemTime,
    pub content_type: String,
    /// The headers a full 200 answer carries after `Date` and before
    /// `Connection`, rendered once at insert time: `Content-Type`, `ETag`,
    /// `Last-Modified`, `Cache-Control`, rule headers, `Content-Length` and
    /// `Accept-Ranges`.
    pub head_200: Vec<u8>,
    inserted: Instant,
    last_used: AtomicU64,
}

impl CachedFile {
    /// Builds an entry; `head_200` is rendered by the caller (it knows the
    /// rules that apply to the path).
    pub fn new(
        file_path: String,
        body: Arc<[u8]>,
        etag: String,
        modified: SystemTime,
        last_modified_secs: u64,
        content_type: String,
        head_200: Vec<u8>,
    ) -> CachedFile {
        CachedFile {
            file_path,
            body,
            etag,
            last_modified_secs,
            modified,
            content_type,
            head_200,
            inserted: Instant::now(),
            last_used: AtomicU64::new(0),
        }
    }

    /// Decides the answer to a request from the cached validators (the same
    /// decision the pool makes for uncached files).
    pub fn plan(
        &self,
        headers: &FileHeaders,
        is_get: bool,
        now_secs: u64,
        max_ranges: usize,
    ) -> Plan {
        let validators = crate::http::conditional::Validators {
            etag: &self.etag,
            last_modified_secs: self.last_modified_secs,
        };
        serve::plan(
            headers,
            &validators,
            self.body.len() as u64,
            is_get,
            now_secs,
            max_ranges,
        )
    }
}

/// One event loop's record of when it last saw no filesystem event
/// pending, so that one check (a `poll(2)` on the inotify descriptor) can
/// vouch for every request read before it.
///
/// The client that edits a file and then asks for it has finished the edit
/// before its request left; so once that request is in wharf's memory, a
/// check made afterwards that finds the watcher's queue empty proves the
/// edit's invalidation was applied. Reads are numbered; a check records the
/// number of the last read it covers.
#[derive(Debug, Default)]
pub struct EventCheck {
    reads: u64,
    clean_through: u64,
}

impl EventCheck {
    /// Numbers a socket read that returned request bytes.
    pub fn note_read(&mut self) -> u64 {
        self.reads += 1;
        self.reads
    }
}

/// Counters, for diagnostics and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub inserts: AtomicU64,
    pub invalidations: AtomicU64,
    pub evictions: AtomicU64,
}

/// The shared cache.
pub struct FileCache {
    config: CacheConfig,
    entries: RwLock<HashMap<String, Arc<CachedFile>>>,
    used_bytes: AtomicUsize,
    /// Bumped by every invalidation; see the module docs.
    generation: AtomicU64,
    /// Filesystem events are being delivered; otherwise entries expire
    /// after `revalidate`.
    watching: AtomicBool,
    /// Source of `last_used` stamps.
    clock: AtomicU64,
    /// Asked before every hit whether filesystem events are still on their
    /// way to [`FileCache::invalidate`] (see [`crate::watch`]).
    events: RwLock<Option<Arc<EventSignal>>>,
    pub stats: CacheStats,
}

impl FileCache {
    pub fn new(config: CacheConfig) -> FileCache {
        FileCache {
            config,
            entries: RwLock::new(HashMap::new()),
            used_bytes: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            watching: AtomicBool::new(false),
            clock: AtomicU64::new(0),
            events: RwLock::new(None),
            stats: CacheStats::default(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Whether a file of `len` bytes may be cached at all.
    pub fn wants(&self, len: u64) -> bool {
        self.config.enabled
            && len <= self.config.max_file_bytes
            && len <= self.config.max_total_bytes
    }

    /// The key of a request: its relative path, plus `/` when it names a
    /// directory (whose index file is then what is cached).
    pub fn key(relative: &str, trailing_slash: bool) -> String {
        if trailing_slash {
            format!("{relative}/")
        } else {
            relative.to_string()
        }
    }

    /// The entry for `key`, if present and trustworthy, for a request whose
    /// bytes were read by the socket read `read_stamp` of `check`'s loop.
    pub fn get(
        &self,
        key: &str,
        check: &mut EventCheck,
        read_stamp: u64,
    ) -> Option<Arc<CachedFile>> {
        if !self.config.enabled {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        let fresh = if self.watching.load(Ordering::Acquire) {
            // A change not yet applied could concern this entry: let the
            // pool answer from the disk this time. A check made after the
            // request was read already answered that.
            check.clean_through >= read_stamp || {
                let events = self.events.read().unwrap_or_else(|p| p.into_inner());
                let pending = events.as_ref().is_some_and(|signal| signal.pending());
                if !pending {
                    check.clean_through = check.reads;
                }
                !pending
            }
        } else {
            entry.inserted.elapsed() < self.config.revalidate
        };
        if !fresh {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.clone())
    }

    /// The generation to pass to [`FileCache::insert`]: read it before the
    /// file is opened.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Inserts an entry read under `generation`, unless an invalidation
    /// happened since (then the bytes may be stale and are not kept).
    pub fn insert(&self, key: String, entry: CachedFile, generation: u64) {
        let size = entry.body.len() + entry.head_200.len();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if let Some(old) = entries.insert(key, Arc::new(entry)) {
            self.used_bytes
                .fetch_sub(old.body.len() + old.head_200.len(), Ordering::AcqRel);
        }
        let mut used = self.used_bytes.fetch_add(size, Ordering::AcqRel) + size;
        while used as u64 > self.config.max_total_bytes {
            let Some(victim) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(old) = entries.remove(&victim) {
                used = self
                    .used_bytes
                    .fetch_sub(old.body.len() + old.head_200.len(), Ordering::AcqRel)
                    - (old.body.len() + old.head_200.len());
                self.stats.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.stats.inserts.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every entry that `changed` (a path relative to the root, the
    /// file or directory an event named) could affect: the file itself,
    /// anything below it, and directory-index entries of its directory.
    pub fn invalidate(&self, changed: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        let parent = changed.rsplit_once('/').map_or("", |(dir, _)| dir);
        // A precompressed sidecar appearing or changing changes how its
        // original is answered (Vary, variants): drop the original too.
        let original = [".br", ".zst", ".gz"]
            .iter()
            .find_map(|ext| changed.strip_suffix(ext));
        let mut freed = 0;
        entries.retain(|key, entry| {
            let affected = entry.file_path == changed
                || original == Some(entry.file_path.as_str())
                || entry
                    .file_path
                    .strip_prefix(changed)
                    .is_some_and(|rest| rest.starts_with('/'))
                || changed.is_empty()
                || key
                    .strip_suffix('/')
                    .is_some_and(|dir| dir == parent || dir == changed);
            if affected {
                freed += entry.body.len() + entry.head_200.len();
            }
            !affected
        });
        self.used_bytes.fetch_sub(freed, Ordering::AcqRel);
    }

    /// Refuses every insert whose read started before now (see
    /// [`FileCache::insert`]): for the watcher, once new watches are in
    /// place, since changes made before that raised no event.
    pub fn bump_generation(&self) {
        let _entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `signal` is the watcher signal currently installed.
    pub fn is_current_signal(&self, signal: &Arc<EventSignal>) -> bool {
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        events
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, signal))
    }

    /// Drops everything (events were lost, or the configuration changed).
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.used_bytes.store(0, Ordering::Release);
    }

    /// Installs the watcher's signal of pending events.
    pub fn set_event_signal(&self, signal: Arc<EventSignal>) {
        *self.events.write().unwrap_or_else(|p| p.into_inner()) = Some(signal);
    }

    /// Records whether filesystem events are being delivered.
    pub fn set_watching(&self, watching: bool) {
        self.watching.store(watching, Ordering::Release);
    }

    pub fn is_watching(&self) -> bool {
        self.watching.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn config(max_total_bytes: u64) -> CacheConfig {
        CacheConfig {
            enabled: true,
            max_file_bytes: 1000,
            max_total_bytes,
            revalidate: Duration::from_secs(60),
        }
    }

    fn entry(path: &str, len: usize) -> CachedFile {
        CachedFile::new(
            path.to_string(),
            Arc::from(vec![b'x'; len]),
            "\"e\"".to_string(),
            UNIX_EPOCH,
            0,
            "text/plain".to_string(),
            Vec::new(),
        )
    }

    /// A lookup for a request read just now (so the events are checked).
    fn get(cache: &FileCache, key: &str) -> Option<Arc<CachedFile>> {
        let mut check = EventCheck::default();
        let stamp = check.note_read();
        cache.get(key, &mut check, stamp)
    }

    fn watching_cache(max_total_bytes: u64) -> FileCache {
        let cache = FileCache::new(config(max_total_bytes));
        cache.set_watching(true);
        cache
    }

    #[test]
    fn insert_get_and_invalidate() {
        let cache = watching_cache(10_000);
        let g = cache.generation();
        cache.insert("a/b.txt".into(), entry("a/b.txt", 10), g);
        cache.insert("a/".into(), entry("a/index.html", 10), cache.generation());
        cache.insert("c.txt".into(), entry("c.txt", 10), cache.generation());
        assert!(get(&cache, "a/b.txt").is_some());
        cache.invalidate("a/b.txt");
        assert!(get(&cache, "a/b.txt").is_none());
        // A change in a/ also drops a/'s directory-index entry.
        assert!(get(&cache, "a/").is_none());
        assert!(get(&cache, "c.txt").is_some());
        assert_eq!(cache.used_bytes(), 10);
    }

    #[test]
    fn a_changed_directory_drops_everything_below_it() {
        let cache = watching_cache(10_000);
        for path in ["d/x", "d/e/y", "dd/z"] {
            cache.insert(path.into(), entry(path, 1), cache.generation());
        }
        cache.invalidate("d");
        assert!(get(&cache, "d/x").is_none());
        assert!(get(&cache, "d/e/y").is_none());
        assert!(get(&cache, "dd/z").is_some());
    }

    #[test]
    fn an_insert_that_raced_an_invalidation_is_refused() {
        let cache = watching_cache(10_000);
        let before_read = cache.generation();
        cache.invalidate("x.txt"); // The file changed while the pool read it.
        cache.insert("x.txt".into(), entry("x.txt", 5), before_read);
        assert!(get(&cache, "x.txt").is_none());
    }

    #[test]
    fn least_recently_used_is_evicted_first() {
        let cache = watching_cache(25);
        cache.insert("a".into(), entry("a", 10), cache.generation());
        cache.insert("b".into(), entry("b", 10), cache.generation());
        assert!(get(&cache, "a").is_some()); // a is now more recent than b.
        cache.insert("c".into(), entry("c", 10), cache.generation());
        assert!(get(&cache, "b").is_none());
        assert!(get(&cache, "a").is_some());
        assert!(get(&cache, "c").is_some());
        assert!(cache.used_bytes() <= 25);
    }

    #[test]
    fn without_watching_entries_expire() {
        let cache = FileCache::new(CacheConfig {
            revalidate: Duration::ZERO,
            ..config(1000)
        });
        cache.insert("a".into(), entry("a", 1), cache.generation());
        assert!(get(&cache, "a").is_none());
        cache.set_watching(true);
        assert!(get(&cache, "a").is_some());
    }

    #[test]
    fn disabled_cache_wants_nothing() {
        let cache = FileCache::new(CacheConfig {
            enabled: false,
            ..config(1000)
        });
        assert!(!cache.wants(1));
        assert!(get(&cache, "a").is_none());
    }
}
