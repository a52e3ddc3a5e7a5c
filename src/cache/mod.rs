//! The hot-file cache: small files kept in memory with their response
//! headers pre-rendered, so that a hit is answered by the event loop with no
//! pool round trip and no filesystem syscall.
//!
//! Shared by every loop (lookups, under a read lock) and the IO pool
//! (inserts, after it has read a file). It never touches the disk itself.
//!
//! Freshness:
//! - [`crate::disk::watch`] turns inotify events into [`FileCache::invalidate`]
//!   calls, and before every hit the cache asks it whether events are
//!   still queued or being applied; if so the hit is refused and the pool
//!   reads the file. A change is thus seen by the very next request. An
//!   insert carries the cache's generation from *before* the pool opened
//!   the file and is refused if any invalidation happened since, so an
//!   edit racing a read can never leave stale bytes behind.
//! - Where watching is not possible (inotify unavailable, watches
//!   exhausted, queue overflow), entries are trusted for only
//!   `[cache] revalidate_secs`; after that a request goes to the pool again,
//!   which re-reads the file. With watching, entries are still re-read
//!   after `[cache] recheck_secs`: inotify misses changes made through
//!   paths outside the tree (another hard link, a network filesystem's
//!   other clients).
//! - Only files reached without any symlink are cached: an event names
//!   the path that changed, and for those files that path is the one the
//!   entry is kept by. A file's precompressed sidecars (`name.br`, ...) live
//!   in its entry; an event for one drops the whole entry, so that a
//!   sidecar appearing, changing or going away is seen at once.
//!
//! Eviction: when an insert would exceed the memory budget, entries go
//! least recently used first; approximately so in a large cache. A lookup
//! only holds the read lock, so it cannot move its entry in a recency list;
//! it stamps the entry instead, and an eviction picks the entry with the
//! oldest stamp among [`EVICTION_SAMPLES`] drawn at random (as Redis does).
//! That costs the same with 100k entries as with 10, where finding the
//! true least recently used entry would mean a scan or a recency order
//! kept up to date by every lookup. The victim is in the least recently
//! used quarter of the entries nine times out of ten ((3/4)^8 ≈ 0.1), and
//! one of the most recently used tenth is taken about once in 10^8. Up to
//! [`EXACT_EVICTION_MAX`] entries all are compared, which is exact LRU. The
//! entry being inserted is never the victim, unless it alone exceeds the
//! budget.
//!
//! Cost: writers (inserts, which a loop makes after a miss, and the
//! watcher's invalidations) hold up every loop's lookups, so nothing done
//! under the write lock scans the entries. Entries are kept in a dense
//! vector to sample from, and indexed by file path in order, so that an
//! invalidation is a few exact lookups plus one range for "everything
//! below this directory": O(log n) plus what it drops. Dropped entries are
//! freed after the lock is released.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::disk::watch::EventSignal;
use crate::http::encoding::{self, Coding};
use crate::http::request::FileHeaders;
use crate::http::serve::{self, Plan};

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
    /// How long an entry is trusted even with filesystem events, which
    /// only report changes made through paths in the watched tree.
    pub recheck: Duration,
    /// Keep descriptor entries (open descriptor and metadata) for files
    /// larger than `max_file_bytes`.
    pub descriptors: bool,
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
    /// For a file too large to keep in memory: its open descriptor, sent
    /// from by the pool (`body` is then empty).
    pub file: Option<crate::disk::SharedFile>,
    /// The file's length (the body's, for an in-memory entry).
    pub len: u64,
    /// The coding of a precompressed sidecar (`None`: the file itself).
    pub encoding: Option<Coding>,
    /// The file has precompressed sidecars: answers carry
    /// `Vary: Accept-Encoding` (`head_200` already does).
    pub has_variants: bool,
    /// The file's sidecars, in [`Coding::ALL`] order, each a whole entry
    /// of its own (kept and dropped with the file's).
    pub variants: Vec<CachedFile>,
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
        let body_len = body.len() as u64;
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
            file: None,
            len: body_len,
            encoding: None,
            has_variants: false,
            variants: Vec::new(),
        }
    }

    /// The representation to answer a request with `Accept-Encoding:
    /// accept_encoding` from: a sidecar or the file itself, chosen by the
    /// same rule as the pool's ([`crate::http::encoding::Preference::choose`]).
    pub fn representation(&self, accept_encoding: Option<&[u8]>) -> &CachedFile {
        if self.variants.is_empty() {
            return self;
        }
        let available = self.variants.iter().filter_map(|v| v.encoding);
        encoding::preference(accept_encoding)
            .choose(available)
            .and_then(|coding| self.variants.iter().find(|v| v.encoding == Some(coding)))
            .unwrap_or(self)
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
        serve::plan(headers, &validators, self.len, is_get, now_secs, max_ranges)
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

/// How many entries an eviction compares in a cache larger than
/// [`EXACT_EVICTION_MAX`] (Redis's `maxmemory-samples` defaults to 5; 8
/// costs a few hundred nanoseconds and makes evicting a recently used entry
/// rarer still).
pub const EVICTION_SAMPLES: usize = 8;

/// Up to this many entries an eviction compares them all: exact LRU, at
/// about the cost of the sample.
pub const EXACT_EVICTION_MAX: usize = 32;

/// What a descriptor entry counts against the memory budget: a stand-in
/// that bounds how many descriptors the cache holds (1024 with the default
/// 64 MiB budget, as nginx's `open_file_cache max=1024`).
pub const DESCRIPTOR_COST: usize = 64 * 1024;

/// The bytes an entry counts against the budget, its sidecars' included.
fn cost(entry: &CachedFile) -> usize {
    let held = if entry.file.is_some() {
        DESCRIPTOR_COST
    } else {
        entry.body.len()
    };
    let own = held + entry.head_200.len();
    own + entry.variants.iter().map(cost).sum::<usize>()
}

/// An entry as the key index holds it.
struct Slot {
    entry: Arc<CachedFile>,
    /// Its position in [`Entries::dense`].
    index: usize,
}

/// The cache's contents, indexed three ways, all under one lock. Every entry
/// is in all three; a key is stored once and shared.
struct Entries {
    /// By key: all a lookup needs.
    by_key: HashMap<Arc<str>, Slot>,
    /// Every entry once, in no order, without gaps: eviction draws random
    /// positions from it. Removal is `swap_remove`, and the entry moved
    /// into the hole has its [`Slot::index`] updated.
    dense: Vec<(Arc<str>, Arc<CachedFile>)>,
    /// The keys of the entries of each file path (usually one; a directory
    /// index is also cached under its own name when asked for by it),
    /// ordered so that "every file below directory `d`" is the range
    /// `d/` .. `d0` (`'0'` is the byte after `'/'`).
    by_path: BTreeMap<String, Vec<Arc<str>>>,
    /// xorshift64 state for eviction sampling; never zero.
    rng: u64,
}

impl Entries {
    fn new() -> Entries {
        Entries {
            by_key: HashMap::new(),
            dense: Vec::new(),
            by_path: BTreeMap::new(),
            // Seeded per process, so that no request pattern can be tuned to
            // the draws.
            rng: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }

    fn len(&self) -> usize {
        self.dense.len()
    }

    /// Adds an entry under a key not in use.
    fn add(&mut self, key: Arc<str>, entry: Arc<CachedFile>) {
        debug_assert!(!self.by_key.contains_key(&*key));
        match self.by_path.get_mut(entry.file_path.as_str()) {
            Some(keys) => keys.push(key.clone()),
            None => {
                self.by_path
                    .insert(entry.file_path.clone(), vec![key.clone()]);
            }
        }
        let index = self.dense.len();
        let slot = Slot {
            entry: entry.clone(),
            index,
        };
        self.by_key.insert(key.clone(), slot);
        self.dense.push((key, entry));
    }

    /// Removes the entry under `key`, if any.
    fn remove(&mut self, key: &str) -> Option<Arc<CachedFile>> {
        let index = self.by_key.get(key)?.index;
        Some(self.remove_at(index))
    }

    /// Removes the entry at `index` of `dense` (which must be in bounds).
    fn remove_at(&mut self, index: usize) -> Arc<CachedFile> {
        let (key, entry) = self.dense.swap_remove(index);
        self.by_key.remove(&*key);
        if let Some((moved, _)) = self.dense.get(index) {
            if let Some(slot) = self.by_key.get_mut(&**moved) {
                slot.index = index;
            }
        }
        let path = entry.file_path.as_str();
        if let Some(keys) = self.by_path.get_mut(path) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_path.remove(path);
            }
        }
        entry
    }

    /// Empties the cache, handing back the entries (to be dropped once the
    /// lock is released).
    fn take_all(&mut self) -> Vec<(Arc<str>, Arc<CachedFile>)> {
        self.by_key.clear();
        self.by_path.clear();
        std::mem::take(&mut self.dense)
    }

    /// The position in `dense` of the entry to evict: the least recently
    /// used of all entries in a small cache, of a random sample in a large
    /// one (see the module docs). `None` when empty.
    fn victim(&mut self) -> Option<usize> {
        let stamp = |e: &(Arc<str>, Arc<CachedFile>)| e.1.last_used.load(Ordering::Relaxed);
        let len = self.dense.len();
        if len <= EXACT_EVICTION_MAX {
            return (0..len).min_by_key(|&i| stamp(&self.dense[i]));
        }
        let draws: [usize; EVICTION_SAMPLES] = std::array::from_fn(|_| self.random_index(len));
        draws.into_iter().min_by_key(|&i| stamp(&self.dense[i]))
    }

    /// A position below `len` (> 0), uniform enough: xorshift64, then
    /// Lemire's multiply-shift instead of a modulo.
    fn random_index(&mut self, len: usize) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        ((u128::from(x) * len as u128) >> 64) as usize
    }
}

/// The shared cache.
pub struct FileCache {
    config: CacheConfig,
    entries: RwLock<Entries>,
    used_bytes: AtomicUsize,
    /// Bumped by every invalidation; see the module docs.
    generation: AtomicU64,
    /// Filesystem events are being delivered; otherwise entries expire
    /// after `revalidate`.
    watching: AtomicBool,
    /// Source of `last_used` stamps.
    clock: AtomicU64,
    /// Asked before every hit whether filesystem events are still on their
    /// way to [`FileCache::invalidate`] (see [`crate::disk::watch`]).
    events: RwLock<Option<Arc<EventSignal>>>,
    /// Descriptor entries held now, and the most allowed (a share of the
    /// process's descriptor limit, so that cached files never starve
    /// connections; see [`FileCache::set_descriptor_limit`]).
    descriptor_entries: AtomicUsize,
    descriptor_limit: AtomicUsize,
    pub stats: CacheStats,
}

impl FileCache {
    pub fn new(config: CacheConfig) -> FileCache {
        FileCache {
            config,
            entries: RwLock::new(Entries::new()),
            used_bytes: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            watching: AtomicBool::new(false),
            clock: AtomicU64::new(0),
            events: RwLock::new(None),
            descriptor_entries: AtomicUsize::new(0),
            descriptor_limit: AtomicUsize::new(usize::MAX),
            stats: CacheStats::default(),
        }
    }

    /// Caps the descriptor entries at `limit` (the server passes a quarter
    /// of `RLIMIT_NOFILE`; the memory budget caps them too, at 1024 by
    /// default).
    pub fn set_descriptor_limit(&self, limit: usize) {
        self.descriptor_limit.store(limit, Ordering::Relaxed);
    }

    /// Counts the descriptor entries among `removed`, which left the cache.
    fn forget_descriptors<'a>(&self, removed: impl IntoIterator<Item = &'a Arc<CachedFile>>) {
        let gone = removed.into_iter().filter(|e| e.file.is_some()).count();
        if gone > 0 {
            self.descriptor_entries.fetch_sub(gone, Ordering::Relaxed);
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Whether a file of `len` bytes, too large for [`FileCache::wants`],
    /// may have its open descriptor and metadata cached.
    pub fn wants_descriptor(&self, len: u64) -> bool {
        self.config.enabled
            && self.config.descriptors
            && len > self.config.max_file_bytes
            && DESCRIPTOR_COST as u64 <= self.config.max_total_bytes
            && self.descriptor_entries.load(Ordering::Relaxed)
                < self.descriptor_limit.load(Ordering::Relaxed)
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

    /// Removes `key`'s entry if it is still `entry` (not one put there
    /// since). The entry itself is dropped by the caller, after the lock.
    fn remove_if_same(&self, key: &str, entry: &Arc<CachedFile>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let same = entries
            .by_key
            .get(key)
            .is_some_and(|slot| Arc::ptr_eq(&entries.dense[slot.index].1, entry));
        if same {
            if let Some(removed) = entries.remove(key) {
                self.used_bytes.fetch_sub(cost(&removed), Ordering::AcqRel);
                self.forget_descriptors([&removed]);
            }
        }
    }

    /// The entry for `key`, if present and trustworthy, for a request whose
    /// bytes were read by the socket read `read_stamp` of `check`'s loop,
    /// at `now` (the loop's clock, read once per batch).
    pub fn get(
        &self,
        key: &str,
        check: &mut EventCheck,
        read_stamp: u64,
        now: Instant,
    ) -> Option<Arc<CachedFile>> {
        if !self.config.enabled {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = &entries.by_key.get(key)?.entry;
        let watching = self.watching.load(Ordering::Acquire);
        let trusted_for = if watching {
            self.config.recheck
        } else {
            self.config.revalidate
        };
        if now.saturating_duration_since(entry.inserted) >= trusted_for {
            // Expired: the pool answers from the disk, and puts the file
            // back if it is still there. Drop the entry now, or one for a
            // file since deleted would keep its memory (and descriptor, and
            // with it the disk space) until evicted.
            let expired = entry.clone();
            drop(entries);
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            self.remove_if_same(key, &expired);
            return None;
        }
        // A change not yet applied could concern this entry: let the pool
        // answer from the disk this time. A check made after the request
        // was read already answered that.
        let fresh = !watching || check.clean_through >= read_stamp || {
            let events = self.events.read().unwrap_or_else(|p| p.into_inner());
            let pending = events.as_ref().is_some_and(|signal| signal.pending());
            if !pending {
                check.clean_through = check.reads;
            }
            !pending
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
        let size = cost(&entry);
        // Allocated before the lock is taken: every loop waits on it.
        let key: Arc<str> = Arc::from(key);
        let entry = Arc::new(entry);
        let mut evicted = Vec::new();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if let Some(old) = entries.remove(&key) {
            self.used_bytes.fetch_sub(cost(&old), Ordering::AcqRel);
            evicted.push(old);
        }
        let mut used = self.used_bytes.fetch_add(size, Ordering::AcqRel) + size;
        // The new entry is not in `entries` yet: it is the most recently
        // used, so it would be the last to go anyway.
        while used as u64 > self.config.max_total_bytes {
            let Some(index) = entries.victim() else {
                break;
            };
            let old = entries.remove_at(index);
            used = self.used_bytes.fetch_sub(cost(&old), Ordering::AcqRel) - cost(&old);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
            evicted.push(old);
        }
        if used as u64 > self.config.max_total_bytes {
            // Alone it exceeds the budget (its head counts too): it goes
            // as well, as the last eviction.
            self.used_bytes.fetch_sub(size, Ordering::AcqRel);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        } else {
            if entry.file.is_some() {
                self.descriptor_entries.fetch_add(1, Ordering::Relaxed);
            }
            entries.add(key, entry);
        }
        self.forget_descriptors(&evicted);
        self.stats.inserts.fetch_add(1, Ordering::Relaxed);
        drop(entries);
        drop(evicted);
    }

    /// Drops every entry that `changed` (a path relative to the root, the
    /// file or directory an event named) could affect: the file itself,
    /// anything below it, and directory-index entries of its directory.
    pub fn invalidate(&self, changed: &str) {
        let parent = changed.rsplit_once('/').map_or("", |(dir, _)| dir);
        // A precompressed sidecar appearing or changing changes how its
        // original is answered (Vary, variants): drop the original too.
        let original = [".br", ".zst", ".gz"]
            .iter()
            .find_map(|ext| changed.strip_suffix(ext));
        // Directory-index entries are keyed `dir/` (the root's is `/`): those
        // of `changed`'s directory and of `changed` itself. The latter is
        // also where the range of paths below `changed` starts.
        let parent_index = format!("{parent}/");
        let changed_index = format!("{changed}/");
        let below_end = format!("{changed}0");
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        let dropped: Vec<Arc<CachedFile>> = if changed.is_empty() {
            // The root: everything is below it.
            entries.take_all().into_iter().map(|(_, e)| e).collect()
        } else {
            let below = (
                Bound::Included(changed_index.as_str()),
                Bound::Excluded(below_end.as_str()),
            );
            let by_path = &entries.by_path;
            let keys: Vec<Arc<str>> = [Some(changed), original]
                .into_iter()
                .flatten()
                .filter_map(|path| by_path.get(path))
                .chain(by_path.range::<str, _>(below).map(|(_, keys)| keys))
                .flatten()
                .cloned()
                .collect();
            // A key found twice is simply gone the second time.
            keys.iter()
                .map(|key| &**key)
                .chain([parent_index.as_str(), changed_index.as_str()])
                .filter_map(|key| entries.remove(key))
                .collect()
        };
        let freed = dropped.iter().map(|e| cost(e)).sum();
        self.forget_descriptors(&dropped);
        self.used_bytes.fetch_sub(freed, Ordering::AcqRel);
        drop(entries);
        drop(dropped);
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
        let dropped = entries.take_all();
        self.used_bytes.store(0, Ordering::Release);
        self.forget_descriptors(dropped.iter().map(|(_, e)| e));
        drop(entries);
        drop(dropped);
    }

    /// Installs the watcher's signal of pending events.
    pub fn set_event_signal(&self, signal: Arc<EventSignal>) {
        *self.events.write().unwrap_or_else(|p| p.into_inner()) = Some(signal);
    }

    /// Records whether filesystem events are being delivered.
    pub fn set_watching(&self, watching: bool) {
        self.watching.store(watching, Ordering::Release);
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
            recheck: Duration::from_secs(3600),
            descriptors: true,
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
        cache.get(key, &mut check, stamp, Instant::now())
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
            recheck: Duration::from_secs(3600),
            ..config(1000)
        });
        cache.insert("a".into(), entry("a", 1), cache.generation());
        cache.set_watching(true);
        assert!(get(&cache, "a").is_some());
        cache.set_watching(false);
        assert!(get(&cache, "a").is_none());
        // And the expired entry is gone, not just skipped.
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.used_bytes(), 0);
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

    /// Checks that the three indexes agree and that `used_bytes` is the sum
    /// over the entries; returns the entries as key → (file path, bytes).
    fn contents(cache: &FileCache) -> BTreeMap<String, (String, usize)> {
        let entries = cache.entries.read().unwrap_or_else(|p| p.into_inner());
        assert_eq!(entries.by_key.len(), entries.dense.len());
        let mut sum = 0;
        let mut out = BTreeMap::new();
        for (i, (key, entry)) in entries.dense.iter().enumerate() {
            let slot = &entries.by_key[&**key];
            assert_eq!(slot.index, i, "{key}");
            assert!(Arc::ptr_eq(&slot.entry, entry), "{key}");
            sum += cost(entry);
            out.insert(key.to_string(), (entry.file_path.clone(), cost(entry)));
        }
        let mut indexed = 0;
        for (path, keys) in &entries.by_path {
            assert!(!keys.is_empty(), "{path}");
            for key in keys {
                assert_eq!(&entries.by_key[&**key].entry.file_path, path, "{key}");
                indexed += 1;
            }
        }
        assert_eq!(indexed, entries.len());
        assert_eq!(cache.used_bytes(), sum);
        out
    }

    fn keys(cache: &FileCache) -> Vec<String> {
        contents(cache).into_keys().collect()
    }

    fn cache_with(entries: &[(&str, &str)]) -> FileCache {
        let cache = watching_cache(1_000_000);
        for (key, path) in entries {
            cache.insert(key.to_string(), entry(path, 1), cache.generation());
        }
        cache
    }

    #[test]
    fn eviction_never_exceeds_the_budget_with_many_entries() {
        const BUDGET: usize = 20_000;
        let cache = watching_cache(BUDGET as u64);
        let mut x = 1u32;
        for i in 0..5000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let key = format!("f{i}");
            cache.insert(
                key.clone(),
                entry(&key, 1 + (x >> 27) as usize),
                cache.generation(),
            );
            assert!(cache.used_bytes() <= BUDGET);
            // The entry just inserted is the most recently used: never the
            // one evicted to make room for it.
            assert!(get(&cache, &key).is_some());
            if i % 500 == 0 {
                contents(&cache);
            }
        }
        // Well past the exact range, so eviction sampled.
        assert!(cache.len() > 10 * EXACT_EVICTION_MAX);
        contents(&cache);
        let stats = &cache.stats;
        let evictions = stats.evictions.load(Ordering::Relaxed) as usize;
        assert_eq!(evictions, 5000 - cache.len());
    }

    #[test]
    fn a_file_alone_over_the_budget_evicts_everything() {
        let cache = watching_cache(25);
        cache.insert("a".into(), entry("a", 10), cache.generation());
        cache.insert("b".into(), entry("b", 10), cache.generation());
        cache.insert("big".into(), entry("big", 26), cache.generation());
        assert!(cache.is_empty());
        assert_eq!(cache.used_bytes(), 0);
        assert_eq!(cache.stats.evictions.load(Ordering::Relaxed), 3);
        assert_eq!(cache.stats.inserts.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn recently_used_entries_survive_eviction_in_a_large_cache() {
        let cache = watching_cache(10_000);
        for i in 0..1000 {
            cache.insert(format!("f{i}"), entry("f", 10), cache.generation());
        }
        let hot: Vec<String> = (0..10).map(|i| format!("f{}", i * 97)).collect();
        for i in 0..5000 {
            for key in &hot {
                assert!(get(&cache, key).is_some(), "{key} evicted");
            }
            cache.insert(format!("new{i}"), entry("new", 10), cache.generation());
        }
        assert_eq!(cache.stats.evictions.load(Ordering::Relaxed), 5000);
    }

    #[test]
    fn invalidating_a_directory_drops_exactly_what_is_below_it() {
        let cache = cache_with(&[
            ("d/x", "d/x"),
            ("d/e/y", "d/e/y"),
            ("d/e/", "d/e/index.html"),
            ("d/", "d/index.html"),
            ("dd/z", "dd/z"),
            ("d.txt", "d.txt"),
            ("d-x/y", "d-x/y"),
            ("d0", "d0"),
            ("c/d/x", "c/d/x"),
            ("c/", "c/index.html"),
        ]);
        cache.invalidate("d");
        // The root's index ("/") would go too: "d" is in the root.
        assert_eq!(
            keys(&cache),
            ["c/", "c/d/x", "d-x/y", "d.txt", "d0", "dd/z"]
        );
        cache.invalidate("c/d");
        assert_eq!(keys(&cache), ["d-x/y", "d.txt", "d0", "dd/z"]);
    }

    #[test]
    fn a_changed_sidecar_drops_its_original() {
        let cache = cache_with(&[
            ("s.js", "s.js"),
            ("t.css", "t.css"),
            ("a/u.html", "a/u.html"),
            ("v.svg", "v.svg"),
        ]);
        cache.invalidate("s.js.br");
        cache.invalidate("t.css.zst");
        cache.invalidate("a/u.html.gz");
        cache.invalidate("v.svg.map");
        assert_eq!(keys(&cache), ["v.svg"]);
    }

    #[test]
    fn invalidating_the_root_drops_everything() {
        let cache = cache_with(&[("/", "index.html"), ("a/b", "a/b"), ("c", "c")]);
        let generation = cache.generation();
        cache.invalidate("");
        assert!(cache.is_empty());
        assert_eq!(cache.used_bytes(), 0);
        assert!(cache.generation() > generation);
        assert_eq!(cache.stats.invalidations.load(Ordering::Relaxed), 1);
        contents(&cache);
    }

    #[test]
    fn a_change_in_a_directory_drops_its_index() {
        let cache = cache_with(&[
            ("/", "index.html"),
            ("a/", "a/index.html"),
            ("a/b/", "a/b/index.html"),
            ("a/b/c", "a/b/c"),
        ]);
        // A file not cached at all, created in a/: a/'s listing changed.
        cache.invalidate("a/new.txt");
        assert_eq!(keys(&cache), ["/", "a/b/", "a/b/c"]);
        // A file in the root: the root's index ("/", for the empty parent).
        cache.invalidate("top.txt");
        assert_eq!(keys(&cache), ["a/b/", "a/b/c"]);
        // A directory: its own index and its parent's.
        let cache = cache_with(&[("/", "index.html"), ("a/", "a/index.html"), ("a/b/", "x")]);
        cache.invalidate("a/b");
        assert_eq!(keys(&cache), ["/"]);
    }

    #[test]
    fn one_file_under_two_keys_and_replaced_entries() {
        let cache = cache_with(&[("a/", "a/index.html"), ("a/index.html", "a/index.html")]);
        cache.invalidate("a/index.html");
        assert!(cache.is_empty());
        // Replacing an entry re-indexes it under its new file path.
        let cache = cache_with(&[("k", "p/1"), ("k", "q/2"), ("m", "p/1")]);
        cache.invalidate("p/1");
        assert_eq!(keys(&cache), ["k"]);
        cache.invalidate("q");
        assert!(cache.is_empty());
        contents(&cache);
    }

    #[test]
    fn used_bytes_stays_the_sum_over_entries() {
        let cache = watching_cache(200);
        let mut x = 7u32;
        let names = ["a", "a/b", "a/c", "a/b/d", "b", "b.gz", "c/x", "/", "a/"];
        for round in 0..3000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let name = names[(x >> 8) as usize % names.len()];
            match (x >> 20) % 8 {
                0 => cache.invalidate(name),
                1 if round % 100 == 0 => cache.clear(),
                2 => {
                    get(&cache, name);
                }
                3 => {
                    // A read that raced a change: refused.
                    let stale = cache.generation().wrapping_sub(1);
                    cache.insert(name.into(), entry(name, 5), stale);
                }
                _ => {
                    let path = format!("{}{name}", if x & 1 == 0 { "" } else { "a/" });
                    let len = (x >> 24) as usize % 40;
                    cache.insert(name.into(), entry(&path, len), cache.generation());
                }
            }
            assert!(cache.used_bytes() <= 200);
            contents(&cache);
        }
    }

    /// The cache as it was before it was indexed: a map, scanned. Its
    /// behaviour is the specification (eviction is exact LRU as long as
    /// the cache holds no more than `EXACT_EVICTION_MAX` entries).
    #[derive(Default)]
    struct Scanning {
        entries: HashMap<String, (String, usize, u64)>,
        used: usize,
        clock: u64,
        generation: u64,
        inserts: u64,
        evictions: u64,
        invalidations: u64,
    }

    impl Scanning {
        fn insert(&mut self, key: &str, path: &str, size: usize, generation: u64, budget: usize) {
            if generation != self.generation {
                return;
            }
            let stamp = self.clock;
            self.clock += 1;
            let new = (path.to_string(), size, stamp);
            if let Some(old) = self.entries.insert(key.to_string(), new) {
                self.used -= old.1;
            }
            self.used += size;
            while self.used > budget {
                let Some(victim) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.2)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some(old) = self.entries.remove(&victim) {
                    self.used -= old.1;
                    self.evictions += 1;
                }
            }
            self.inserts += 1;
        }

        fn get(&mut self, key: &str) -> bool {
            let Some(e) = self.entries.get_mut(key) else {
                return false;
            };
            e.2 = self.clock;
            self.clock += 1;
            true
        }

        fn invalidate(&mut self, changed: &str) {
            self.generation += 1;
            self.invalidations += 1;
            let parent = changed.rsplit_once('/').map_or("", |(dir, _)| dir);
            let original = [".br", ".zst", ".gz"]
                .iter()
                .find_map(|ext| changed.strip_suffix(ext));
            let mut freed = 0;
            self.entries.retain(|key, (path, size, _)| {
                let affected = path == changed
                    || original == Some(path.as_str())
                    || path
                        .strip_prefix(changed)
                        .is_some_and(|rest| rest.starts_with('/'))
                    || changed.is_empty()
                    || key
                        .strip_suffix('/')
                        .is_some_and(|dir| dir == parent || dir == changed);
                if affected {
                    freed += *size;
                }
                !affected
            });
            self.used -= freed;
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert {
            key: usize,
            path: usize,
            size: usize,
            stale: bool,
        },
        Get(usize),
        Invalidate(usize),
        Clear,
    }

    const KEYS: &[&str] = &[
        "/",
        "a",
        "a/",
        "a/b",
        "a/b/",
        "a/b.txt",
        "ab/",
        "ab/c",
        "a/b/c.txt",
        "b.gz",
        "b",
        "a/b/c/",
        "x",
    ];
    const PATHS: &[&str] = &[
        "index.html",
        "a",
        "a/index.html",
        "a/b",
        "a/b/index.html",
        "a/b.txt",
        "ab/index.html",
        "ab/c",
        "a/b/c.txt",
        "b.gz",
        "b",
        "a/b/c/index.html",
        "a0",
        "a.b",
    ];
    const CHANGED: &[&str] = &[
        "",
        "a",
        "a/b",
        "a/b.txt",
        "a/b.txt.gz",
        "a/b.txt.br",
        "a/b.txt.zst",
        "b",
        "b.gz",
        "b.gz.gz",
        "ab",
        "ab/c",
        "a/b/c",
        "a/b/c.txt",
        "index.html",
        "a/index.html",
        "z",
        "a/",
        "a.br",
        "a/b/c/d",
    ];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..KEYS.len(), 0..PATHS.len(), 1usize..12, proptest::bool::weighted(0.1))
                .prop_map(|(key, path, size, stale)| Op::Insert { key, path, size, stale }),
            2 => (0..KEYS.len()).prop_map(Op::Get),
            2 => (0..CHANGED.len()).prop_map(Op::Invalidate),
            1 => Just(Op::Clear),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        /// Same entries, bytes, stats and hits as the scanning cache, for
        /// any sequence of operations, evictions included (at most 13 keys:
        /// exact LRU).
        #[test]
        fn behaves_like_the_scanning_cache(
            ops in proptest::collection::vec(op(), 1..120),
            budget in 10usize..80,
        ) {
            let cache = watching_cache(budget as u64);
            let mut model = Scanning::default();
            for op in ops {
                match op {
                    Op::Insert { key, path, size, stale } => {
                        let generation = if stale {
                            cache.generation().wrapping_sub(1)
                        } else {
                            cache.generation()
                        };
                        let model_generation = if stale {
                            model.generation.wrapping_sub(1)
                        } else {
                            model.generation
                        };
                        cache.insert(KEYS[key].into(), entry(PATHS[path], size), generation);
                        model.insert(KEYS[key], PATHS[path], size, model_generation, budget);
                    }
                    Op::Get(key) => {
                        prop_assert_eq!(get(&cache, KEYS[key]).is_some(), model.get(KEYS[key]));
                    }
                    Op::Invalidate(changed) => {
                        cache.invalidate(CHANGED[changed]);
                        model.invalidate(CHANGED[changed]);
                    }
                    Op::Clear => {
                        // Not in the old code's tests, but the same meaning:
                        // everything goes and inserts read before are refused.
                        cache.clear();
                        model.entries.clear();
                        model.used = 0;
                        model.generation += 1;
                    }
                }
                let expected: BTreeMap<String, (String, usize)> = model
                    .entries
                    .iter()
                    .map(|(k, (p, size, _))| (k.clone(), (p.clone(), *size)))
                    .collect();
                prop_assert_eq!(contents(&cache), expected);
                prop_assert_eq!(cache.used_bytes(), model.used);
                let stats = &cache.stats;
                prop_assert_eq!(stats.inserts.load(Ordering::Relaxed), model.inserts);
                prop_assert_eq!(stats.evictions.load(Ordering::Relaxed), model.evictions);
                prop_assert_eq!(stats.invalidations.load(Ordering::Relaxed), model.invalidations);
            }
        }
    }
}
