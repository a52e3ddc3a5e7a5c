//! The hot-file cache: small files kept in memory with their response
//! headers pre-rendered, so that a hit is answered by the event loop with no
//! pool round trip and no filesystem syscall.
//!
//! Shared by every loop (lookups, under a read lock) and the IO pool
//! (inserts, after it has read a file). It never touches the disk itself.
//!
//! Freshness:
//! - `disk::watch` turns inotify events into [`FileCache::invalidate`]
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
//!   sidecar appearing, changing or going away is seen at once. The
//!   variants wharf compresses itself (`[http] compress`) live there too
//!   ([`entry::Computed`], attached by [`FileCache::attach_compressed`]),
//!   so they go with it.
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

mod admission;
pub mod entry;
pub mod freshness;
mod index;
pub mod sidecars;

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

pub use entry::{Cacheable, CacheableVariant, CachedFile, DESCRIPTOR_COST};
pub use freshness::{EventCheck, EventSignal};

use crate::config::CacheConfig;
use crate::http::encoding::Coding;
use admission::Admission;
use entry::cost;
use index::Entries;
use sidecars::{Codings, SidecarIndex};

/// Counters, for diagnostics and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub inserts: AtomicU64,
    /// Missed files not taken in (see [`FileCache::admit`]).
    pub rejections: AtomicU64,
    pub invalidations: AtomicU64,
    pub evictions: AtomicU64,
}

/// The size of a typical cached file, for sizing the admission sketch
/// from the memory budget.
const TYPICAL_FILE_BYTES: u64 = 4096;

/// How many entries an eviction compares in a cache larger than
/// [`EXACT_EVICTION_MAX`] (Redis's `maxmemory-samples` defaults to 5; 8
/// costs a few hundred nanoseconds and makes evicting a recently used entry
/// rarer still).
pub const EVICTION_SAMPLES: usize = 8;

/// Up to this many entries an eviction compares them all: exact LRU, at
/// about the cost of the sample.
pub const EXACT_EVICTION_MAX: usize = 32;

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
    /// way to [`FileCache::invalidate`] (see `disk::watch`).
    events: RwLock<Option<Arc<EventSignal>>>,
    /// Descriptor entries held now, and the most allowed (a share of the
    /// process's descriptor limit, so that cached files never starve
    /// connections; see [`FileCache::set_descriptor_limit`]).
    descriptor_entries: AtomicUsize,
    descriptor_limit: AtomicUsize,
    /// Which missed files are worth an entry.
    admission: Admission,
    /// The budget has been full: admission compares popularity from now
    /// on (see [`FileCache::admit`]). Cleared with the cache.
    filled: AtomicBool,
    /// Which precompressed sidecars exist, kept by the watcher.
    sidecars: SidecarIndex,
    /// A watch of the tree is being set up: the cache neither answers nor
    /// takes in anything until it is in place ([`FileCache::begin_watch`]).
    warming: AtomicBool,
    /// The latest watch set up: only it may install itself (a reload may
    /// start another before the first has finished its walk).
    watch_ticket: Mutex<u64>,
    /// xorshift64 state for [`FileCache::admit`]'s victim sample (never
    /// zero; races between pool threads only repeat a draw).
    admission_rng: AtomicU64,
    pub stats: CacheStats,
}

impl FileCache {
    pub fn new(config: CacheConfig) -> FileCache {
        FileCache {
            entries: RwLock::new(Entries::new()),
            used_bytes: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            watching: AtomicBool::new(false),
            clock: AtomicU64::new(0),
            events: RwLock::new(None),
            descriptor_entries: AtomicUsize::new(0),
            descriptor_limit: AtomicUsize::new(usize::MAX),
            admission: Admission::new(
                usize::try_from(config.max_total_bytes / TYPICAL_FILE_BYTES).unwrap_or(usize::MAX),
            ),
            admission_rng: AtomicU64::new(0x2545_f491_4f6c_dd1d),
            sidecars: SidecarIndex::default(),
            warming: AtomicBool::new(false),
            filled: AtomicBool::new(false),
            watch_ticket: Mutex::new(0),
            config,
            stats: CacheStats::default(),
        }
    }

    /// A watch of the tree starts being set up; until it is installed
    /// ([`FileCache::install_watch`]) or has failed
    /// ([`FileCache::watch_failed`]), nothing is answered from or taken into
    /// the cache. Returns the watch's ticket.
    pub fn begin_watch(&self) -> u64 {
        let mut ticket = self.watch_ticket.lock().unwrap_or_else(|p| p.into_inner());
        *ticket += 1;
        self.warming.store(true, Ordering::SeqCst);
        *ticket
    }

    /// The watch with `ticket` watches the whole tree: its signal is
    /// installed and the cache trusts its events from now on. `false`
    /// (nothing done) when a later watch was begun meanwhile.
    pub fn install_watch(&self, ticket: u64, signal: Arc<EventSignal>) -> bool {
        let current = self.watch_ticket.lock().unwrap_or_else(|p| p.into_inner());
        if *current != ticket {
            return false;
        }
        self.set_event_signal(signal);
        // Anything read before now was read unwatched.
        self.bump_generation();
        self.set_watching(true);
        self.warming.store(false, Ordering::SeqCst);
        true
    }

    /// The watch with `ticket` could not be set up: the cache goes on
    /// without events, revalidating entries by age.
    pub fn watch_failed(&self, ticket: u64) {
        let current = self.watch_ticket.lock().unwrap_or_else(|p| p.into_inner());
        if *current == ticket {
            self.set_watching(false);
            self.sidecars.reset();
            self.warming.store(false, Ordering::SeqCst);
        }
    }

    /// The index of sidecars, for the watcher that keeps it.
    pub fn sidecar_index(&self) -> &SidecarIndex {
        &self.sidecars
    }

    /// The codings that may have a sidecar beside `original` (a path
    /// relative to the root): those the watcher has seen, for a request
    /// the loop found `settled` ([`FileCache::events_settled`]) and while
    /// the index is complete; otherwise all (probe them).
    pub fn sidecars_of(&self, original: &str, settled: bool) -> Codings {
        if !settled || !self.watching.load(Ordering::Acquire) {
            return Codings::ALL;
        }
        self.sidecars.codings_of(original).unwrap_or(Codings::ALL)
    }

    /// Whether every filesystem event queued before the request read by
    /// `check`'s socket read `read_stamp` has been applied (to the cache
    /// and to the sidecar index), with events being watched at all. One
    /// check (a zero-timeout poll) vouches for every request read before
    /// it, so a loop makes about one per batch.
    pub fn events_settled(&self, check: &mut EventCheck, read_stamp: u64) -> bool {
        self.watching.load(Ordering::Acquire) && self.no_event_pending(check, read_stamp)
    }

    /// [`FileCache::events_settled`] without the watching test.
    fn no_event_pending(&self, check: &mut EventCheck, read_stamp: u64) -> bool {
        check.clean_through >= read_stamp || {
            let events = self.events.read().unwrap_or_else(|p| p.into_inner());
            let pending = events.as_ref().is_some_and(|signal| signal.pending());
            if !pending {
                check.clean_through = check.reads;
            }
            !pending
        }
    }

    /// Whether the file a request for `key` missed, costing about `cost`
    /// bytes, should be read into the cache (see [`admission`]): when it
    /// fits without an eviction, or it has been asked for more often than
    /// the entry an eviction would take. Counts the request. On the pool,
    /// before anything is read for the cache.
    pub fn admit(&self, key: &str, cost: usize) -> bool {
        // How often it was asked for before this request: counting this one
        // first would make a file read in turn with the others (a crawl, a
        // mirror) always look one request more popular than the entry
        // that has not had its turn yet, and every miss would get in.
        let candidate = self.admission.estimate(key);
        self.admission.record_miss(key);
        if self.warming.load(Ordering::Acquire) {
            return false;
        }
        // Until the budget has been full once, every miss is taken in.
        // After that, room (an eviction freed more than it had to, a file
        // was deleted) is no reason: a file must still be more popular than
        // what an eviction would take, or a stream of misses would churn
        // through every bit of room that opens up.
        let used = self.used_bytes.load(Ordering::Acquire) as u64;
        let fits = used.saturating_add(cost as u64) <= self.config.max_total_bytes;
        if fits && !self.filled.load(Ordering::Relaxed) {
            return true;
        }
        self.filled.store(true, Ordering::Relaxed);
        let victim = {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            let mut rng = self.admission_rng.load(Ordering::Relaxed);
            let victim = entries
                .victim_drawn_with(&mut rng)
                .and_then(|index| entries.dense.get(index))
                .map(|(key, held)| (self.admission.estimate(key), entry::cost(held)));
            self.admission_rng.store(rng, Ordering::Relaxed);
            victim
        };
        let admitted = victim.is_none_or(|(victim, victim_cost)| {
            admission::denser(candidate, cost, victim, victim_cost)
        });
        if !admitted {
            self.stats.rejections.fetch_add(1, Ordering::Relaxed);
        }
        admitted
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
        if !self.config.enabled || self.warming.load(Ordering::Acquire) {
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
        let fresh = !watching || self.no_event_pending(check, read_stamp);
        if !fresh {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        self.admission.record_hit(key);
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

    /// The entry under `key`, as it is (no freshness check, no stamp): for
    /// the loop that just inserted it, to start its compression job.
    pub fn entry(&self, key: &str) -> Option<Arc<CachedFile>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.by_key.get(key).map(|slot| slot.entry.clone())
    }

    /// Keeps `variant`, the `coding` variant wharf compressed from `entry`,
    /// in `entry` (see [`entry::Computed`]) if `entry` is still the one
    /// cached under `key` (an invalidation since, or a newer insert, would
    /// make it stale: then it is dropped), making room for it in the
    /// budget as an insert does. `entry` itself may be the one evicted for
    /// it. Returns whether it was kept.
    pub fn attach_compressed(
        &self,
        key: &str,
        entry: &Arc<CachedFile>,
        coding: Coding,
        variant: CachedFile,
    ) -> bool {
        let size = cost(&variant);
        let mut evicted = Vec::new();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let current = entries
            .by_key
            .get(key)
            .is_some_and(|slot| Arc::ptr_eq(&slot.entry, entry));
        if !current || entry.computed.get(coding).is_some() {
            return false;
        }
        // Just asked for: the most recently used.
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let mut kept = true;
        while self.used_bytes() as u64 + size as u64 > self.config.max_total_bytes {
            let Some(index) = entries.victim() else {
                break;
            };
            let old = entries.remove_at(index);
            self.used_bytes.fetch_sub(cost(&old), Ordering::AcqRel);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
            let itself = Arc::ptr_eq(&old, entry);
            evicted.push(old);
            if itself {
                kept = false;
                break;
            }
        }
        kept = kept && self.used_bytes() as u64 + size as u64 <= self.config.max_total_bytes;
        if kept && entry.computed.set(coding, variant) {
            self.used_bytes.fetch_add(size, Ordering::AcqRel);
        }
        self.forget_descriptors(&evicted);
        drop(entries);
        drop(evicted);
        kept
    }

    /// Drops every entry that `changed` (a path relative to the root, the
    /// file or directory an event named) could affect: the file itself,
    /// anything below it, and directory-index entries of its directory.
    pub fn invalidate(&self, changed: &str) {
        let parent = changed.rsplit_once('/').map_or("", |(dir, _)| dir);
        // A precompressed sidecar appearing or changing changes how its
        // original is answered (Vary, variants): drop the original too.
        let original = Coding::original_of(changed);
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
                // `changed` as a key too: a clean URL (`about`, served
                // from `about.html`) is kept by another file's path, and
                // `about` or `about/` appearing must end it.
                .chain([parent_index.as_str(), changed_index.as_str(), changed])
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
        self.filled.store(false, Ordering::Relaxed);
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
mod tests;
