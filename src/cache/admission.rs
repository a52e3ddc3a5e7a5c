//! Admission: which missed files the hot-file cache takes in, so that a
//! workload larger than the cache (a site read uniformly, a crawler) does
//! not turn every miss into an insert plus an eviction, which costs more
//! than having no cache at all.
//!
//! The policy is TinyLFU's (Einziger, Friedman and Manes, 2017; Caffeine
//! and Ristretto use it): every request for a file, hit or miss, counts in
//! a small frequency sketch; a missed file is taken in when the cache has
//! room for it, and otherwise only when it has been asked for more often,
//! per byte, than an entry eviction would pick (sampled least recently
//! used, see [`super::index`]; [`denser`] says why per byte). Ties keep the
//! entry. Under a uniform workload no file is asked for more than another,
//! so the cache fills with the smallest files, the most hits its budget
//! can hold; under a skewed one the popular files get in and stay.
//!
//! The sketch is a count-min sketch of byte counters (saturating at 255)
//! in four rows; after `10 x width` counts every counter is halved, so
//! that popularity fades and a file popular yesterday does not hold its
//! place forever. Counting is a handful of relaxed atomic loads and stores
//! (a lost increment under a race only makes the estimate a little low);
//! the halving runs on whichever pool thread reaches the mark, never on a
//! loop (hits only count; see [`Admission::record_hit`]).

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Counters per row, at least and at most.
const MIN_WIDTH: usize = 1 << 10;
const MAX_WIDTH: usize = 1 << 20;

/// Rows of the sketch (each with its own hash).
const ROWS: usize = 4;

/// The most a counter holds: a byte's range, so that [`denser`] can tell
/// a file asked for a hundred times from one asked for fifteen.
const SATURATED: u8 = u8::MAX;

/// Whether a candidate asked for `candidate` times, costing
/// `candidate_cost` bytes, earns more hits per byte of the budget than the
/// entry an eviction would take (`victim` requests, `victim_cost`
/// bytes). Ties keep the entry.
///
/// A hit saves a miss's fixed cost (the pool's round trip, an open, a
/// read), about the same for 1 KiB as for 64 KiB, so what the budget
/// should hold is the most hits, not the most popular bytes: taking in one
/// 60 KiB file displaces thirty 2 KiB files, and is only worth it when it
/// is asked for more often than they are together.
pub fn denser(candidate: u8, candidate_cost: usize, victim: u8, victim_cost: usize) -> bool {
    u128::from(candidate) * victim_cost as u128 > u128::from(victim) * candidate_cost as u128
}

/// The frequency sketch and its aging.
pub struct Admission {
    counters: Box<[AtomicU8]>,
    /// `width - 1` (the width is a power of two).
    mask: usize,
    /// Counts since the last halving.
    counted: AtomicUsize,
    /// Counts between halvings.
    period: usize,
    /// Keyed per process, so that no request pattern can be tuned to
    /// the sketch's collisions.
    hasher: RandomState,
}

impl Admission {
    /// A sketch sized for about `entries` cached files.
    pub fn new(entries: usize) -> Admission {
        let width = entries.clamp(MIN_WIDTH, MAX_WIDTH).next_power_of_two();
        Admission {
            counters: (0..width * ROWS).map(|_| AtomicU8::new(0)).collect(),
            mask: width - 1,
            counted: AtomicUsize::new(0),
            period: width * 10,
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, key: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key.as_bytes());
        hasher.finish()
    }

    /// The counter positions of `hash`, one per row: four 16-bit slices
    /// of the hash, spread by an odd multiplier (enough for widths up to
    /// 2^20: the high bits come from the multiplication).
    fn slots(&self, hash: u64) -> [usize; ROWS] {
        std::array::from_fn(|row| {
            let mixed = (hash.rotate_left(16 * row as u32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            row * (self.mask + 1) + ((mixed >> 32) as usize & self.mask)
        })
    }

    fn increment(&self, key: &str) {
        for slot in self.slots(self.hash(key)) {
            let counter = &self.counters[slot];
            let value = counter.load(Ordering::Relaxed);
            if value < SATURATED {
                counter.store(value + 1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a request answered from the cache. On a loop thread: it
    /// never halves the sketch (a miss, on the pool, does that).
    pub fn record_hit(&self, key: &str) {
        self.increment(key);
        self.counted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request that missed; on the pool. Halves every counter
    /// once a period has gone by.
    pub fn record_miss(&self, key: &str) {
        self.increment(key);
        let counted = self.counted.fetch_add(1, Ordering::Relaxed) + 1;
        if counted >= self.period
            && self
                .counted
                .compare_exchange(counted, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            for counter in self.counters.iter() {
                let value = counter.load(Ordering::Relaxed);
                counter.store(value / 2, Ordering::Relaxed);
            }
        }
    }

    /// How often `key` was asked for lately (an over-estimate at worst).
    pub fn estimate(&self, key: &str) -> u8 {
        self.slots(self.hash(key))
            .into_iter()
            .map(|slot| self.counters[slot].load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_tells_popular_keys_from_rare_ones() {
        let sketch = Admission::new(4096);
        for _ in 0..5 {
            sketch.record_miss("popular.html");
        }
        sketch.record_hit("popular.html");
        sketch.record_miss("rare.html");
        assert_eq!(sketch.estimate("popular.html"), 6);
        assert_eq!(sketch.estimate("rare.html"), 1);
        assert_eq!(sketch.estimate("never.html"), 0);
    }

    #[test]
    fn counters_saturate() {
        let sketch = Admission::new(1024);
        for _ in 0..300 {
            sketch.record_hit("a");
        }
        assert_eq!(sketch.estimate("a"), SATURATED);
    }

    #[test]
    fn popularity_fades_after_a_period() {
        let sketch = Admission::new(1024);
        for _ in 0..8 {
            sketch.record_miss("old-favourite");
        }
        // A period of other requests halves every counter once.
        for i in 0..sketch.period {
            sketch.record_miss(&format!("other-{}", i % 7));
        }
        assert!(sketch.estimate("old-favourite") <= 4);
    }

    #[test]
    fn the_width_is_a_bounded_power_of_two() {
        assert_eq!(Admission::new(0).mask + 1, MIN_WIDTH);
        assert_eq!(Admission::new(5000).mask + 1, 8192);
        assert_eq!(Admission::new(usize::MAX).mask + 1, MAX_WIDTH);
    }
}
