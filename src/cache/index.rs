//! The entries and their eviction: a dense vector to sample from, indexed
//! by key and by file path (see the module documentation of
//! [`crate::cache`] for why sampled LRU).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::entry::CachedFile;
use super::EVICTION_SAMPLES;
use super::EXACT_EVICTION_MAX;

/// An entry as the key index holds it.
pub(super) struct Slot {
    pub(super) entry: Arc<CachedFile>,
    /// Its position in [`Entries::dense`].
    pub(super) index: usize,
}

/// The cache's contents, indexed three ways, all under one lock. Every entry
/// is in all three; a key is stored once and shared.
pub(super) struct Entries {
    /// By key: all a lookup needs.
    pub(super) by_key: HashMap<Arc<str>, Slot>,
    /// Every entry once, in no order, without gaps: eviction draws random
    /// positions from it. Removal is `swap_remove`, and the entry moved
    /// into the hole has its [`Slot::index`] updated.
    pub(super) dense: Vec<(Arc<str>, Arc<CachedFile>)>,
    /// The keys of the entries of each file path (usually one; a directory
    /// index is also cached under its own name when asked for by it),
    /// ordered so that "every file below directory `d`" is the range
    /// `d/` .. `d0` (`'0'` is the byte after `'/'`).
    pub(super) by_path: BTreeMap<String, Vec<Arc<str>>>,
    /// xorshift64 state for eviction sampling; never zero.
    pub(super) rng: u64,
}

impl Entries {
    pub(super) fn new() -> Entries {
        Entries {
            by_key: HashMap::new(),
            dense: Vec::new(),
            by_path: BTreeMap::new(),
            // Seeded per process, so that no request pattern can be tuned to
            // the draws.
            rng: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.dense.len()
    }

    /// Adds an entry under a key not in use.
    pub(super) fn add(&mut self, key: Arc<str>, entry: Arc<CachedFile>) {
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
    pub(super) fn remove(&mut self, key: &str) -> Option<Arc<CachedFile>> {
        let index = self.by_key.get(key)?.index;
        Some(self.remove_at(index))
    }

    /// Removes the entry at `index` of `dense` (which must be in bounds).
    pub(super) fn remove_at(&mut self, index: usize) -> Arc<CachedFile> {
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
    pub(super) fn take_all(&mut self) -> Vec<(Arc<str>, Arc<CachedFile>)> {
        self.by_key.clear();
        self.by_path.clear();
        std::mem::take(&mut self.dense)
    }

    /// The position in `dense` of the entry to evict: the least recently
    /// used of all entries in a small cache, of a random sample in a large
    /// one (see the module docs). `None` when empty.
    pub(super) fn victim(&mut self) -> Option<usize> {
        let mut rng = self.rng;
        let victim = self.victim_drawn_with(&mut rng);
        self.rng = rng;
        victim
    }

    /// [`Entries::victim`], drawing from `rng` (so that a reader holding
    /// only the read lock can ask which entry an eviction would take).
    pub(super) fn victim_drawn_with(&self, rng: &mut u64) -> Option<usize> {
        let stamp = |e: &(Arc<str>, Arc<CachedFile>)| e.1.last_used.load(Ordering::Relaxed);
        let len = self.dense.len();
        if len <= EXACT_EVICTION_MAX {
            return (0..len).min_by_key(|&i| stamp(&self.dense[i]));
        }
        let draws: [usize; EVICTION_SAMPLES] = std::array::from_fn(|_| random_index(rng, len));
        draws.into_iter().min_by_key(|&i| stamp(&self.dense[i]))
    }
}

/// A position below `len` (> 0), uniform enough: xorshift64 (`rng` never
/// zero), then Lemire's multiply-shift instead of a modulo.
pub(super) fn random_index(rng: &mut u64, len: usize) -> usize {
    let mut x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    ((u128::from(x) * len as u128) >> 64) as usize
}
