//! The cache's unit tests, and a model-based test of the index against a
//! plain scanning reference.

use super::*;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

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
fn a_clean_url_entry_goes_with_either_name() {
    let cache = watching_cache(10_000);
    // `/about` answered from about.html: kept by the key `about`.
    cache.insert("about".into(), entry("about.html", 10), cache.generation());
    cache.insert("x/y".into(), entry("x/y.html", 10), cache.generation());
    cache.invalidate("about");
    assert!(get(&cache, "about").is_none(), "an `about` appeared");
    assert!(get(&cache, "x/y").is_some());
    cache.invalidate("x/y.html");
    assert!(
        get(&cache, "x/y").is_none(),
        "the file it came from changed"
    );
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
                || key == changed
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

/// An entry offering gzip and br, as the loop inserts a compressible file.
fn compressible(path: &str, len: usize) -> CachedFile {
    let mut file = entry(path, len);
    let offer = crate::http::compressible::CodingSet::EMPTY
        .with(Coding::Gzip)
        .with(Coding::Brotli);
    file.computed = entry::Computed::offering(offer);
    file.has_variants = true;
    file
}

fn variant(path: &str, len: usize, coding: Coding) -> CachedFile {
    let mut file = entry(path, len);
    file.encoding = Some(coding);
    file
}

#[test]
fn a_computed_variant_is_chosen_counted_and_dropped_with_its_entry() {
    use crate::http::encoding::preference;
    let cache = watching_cache(10_000);
    cache.insert("a.js".into(), compressible("a.js", 100), cache.generation());
    let found = get(&cache, "a.js").unwrap();
    let gzip_br = preference(Some(b"gzip, br"));
    // One job per coding: br (preferred on a tie) is asked for once.
    assert_eq!(found.compression_wanted(&gzip_br), Some(Coding::Brotli));
    assert_eq!(found.compression_wanted(&gzip_br), None);
    assert!(std::ptr::eq(found.representation_for(&gzip_br), &*found));
    assert!(cache.attach_compressed(
        "a.js",
        &found,
        Coding::Brotli,
        variant("a.js", 30, Coding::Brotli)
    ));
    assert_eq!(cache.used_bytes(), 130);
    let chosen = found.representation_for(&gzip_br);
    assert_eq!(
        (chosen.encoding, chosen.body.len()),
        (Some(Coding::Brotli), 30)
    );
    // gzip only: its own job; a result not kept is not asked for again.
    let gzip = preference(Some(b"gzip"));
    assert_eq!(found.compression_wanted(&gzip), Some(Coding::Gzip));
    found.computed.mark_useless(Coding::Gzip);
    assert_eq!(found.compression_wanted(&gzip), None);
    assert!(std::ptr::eq(found.representation_for(&gzip), &*found));
    // Dropping the entry frees its variant's bytes too.
    cache.invalidate("a.js");
    assert_eq!(cache.used_bytes(), 0);
}

#[test]
fn a_variant_for_a_replaced_or_dropped_entry_is_not_attached() {
    let cache = watching_cache(10_000);
    cache.insert("a.js".into(), compressible("a.js", 100), cache.generation());
    let old = get(&cache, "a.js").unwrap();
    cache.insert("a.js".into(), compressible("a.js", 100), cache.generation());
    assert!(!cache.attach_compressed(
        "a.js",
        &old,
        Coding::Gzip,
        variant("a.js", 10, Coding::Gzip)
    ));
    let current = get(&cache, "a.js").unwrap();
    cache.invalidate("a.js");
    assert!(!cache.attach_compressed(
        "a.js",
        &current,
        Coding::Gzip,
        variant("a.js", 10, Coding::Gzip)
    ));
    assert_eq!(cache.used_bytes(), 0);
}

#[test]
fn attaching_a_variant_evicts_others_to_stay_within_the_budget() {
    let cache = watching_cache(300);
    cache.insert("old.txt".into(), entry("old.txt", 100), cache.generation());
    cache.insert("a.js".into(), compressible("a.js", 150), cache.generation());
    let found = get(&cache, "a.js").unwrap();
    assert!(cache.attach_compressed(
        "a.js",
        &found,
        Coding::Gzip,
        variant("a.js", 100, Coding::Gzip)
    ));
    assert!(
        get(&cache, "old.txt").is_none(),
        "the least recently used went"
    );
    assert_eq!(cache.used_bytes(), 250);
}

/// What the pool does on a miss: ask, then insert what was admitted.
fn miss(cache: &FileCache, key: &str, len: usize) -> bool {
    let admitted = cache.admit(key, len);
    if admitted {
        cache.insert(key.into(), entry(key, len), cache.generation());
    }
    admitted
}

/// Misses `key` until it is taken in; how many times it was refused first
/// (fails if `limit` times).
fn refusals_before_admitted(cache: &FileCache, key: &str, len: usize, limit: usize) -> usize {
    let mut refused = 0;
    while !miss(cache, key, len) {
        refused += 1;
        assert!(
            refused < limit,
            "{key}, asked for again and again, never got in"
        );
    }
    refused
}

#[test]
fn a_cache_with_room_admits_every_miss() {
    let cache = watching_cache(1000);
    for i in 0..10 {
        assert!(miss(&cache, &format!("f{i}"), 100), "f{i}");
    }
    assert_eq!(cache.len(), 10);
    assert_eq!(cache.stats.rejections.load(Ordering::Relaxed), 0);
}

#[test]
fn a_scan_of_files_asked_for_once_does_not_displace_popular_ones() {
    let cache = watching_cache(1000);
    // Ten files fill the cache and are asked for again and again.
    for i in 0..10 {
        assert!(miss(&cache, &format!("hot{i}"), 100));
    }
    for _ in 0..3 {
        for i in 0..10 {
            assert!(get(&cache, &format!("hot{i}")).is_some());
        }
    }
    // A crawler reads a thousand other files once each.
    let admitted = (0..1000)
        .filter(|i| miss(&cache, &format!("cold{i}"), 100))
        .count();
    assert_eq!(admitted, 0, "files asked for once displaced popular ones");
    for i in 0..10 {
        assert!(get(&cache, &format!("hot{i}")).is_some(), "hot{i} evicted");
    }
    assert_eq!(cache.stats.rejections.load(Ordering::Relaxed), 1000);
    assert_eq!(cache.stats.evictions.load(Ordering::Relaxed), 0);
}

#[test]
fn a_file_asked_for_more_often_than_the_victim_gets_in() {
    let cache = watching_cache(1000);
    for i in 0..10 {
        assert!(miss(&cache, &format!("old{i}"), 100));
    }
    // A newly popular file: refused at first, taken in once it has been
    // asked for more often than the entries it would displace.
    let attempts = refusals_before_admitted(&cache, "new", 100, 5);
    assert!(attempts >= 1, "a tie with the victim should keep the entry");
    assert!(get(&cache, "new").is_some());
    assert_eq!(cache.len(), 10);
}

#[test]
fn a_small_file_displaces_a_large_one_asked_for_as_often() {
    // Hits per byte decide: an 800-byte file asked for twice holds fewer
    // hits than the small files that could use its room.
    let cache = watching_cache(1000);
    assert!(miss(&cache, "large", 800));
    assert!(get(&cache, "large").is_some());
    assert!(miss(&cache, "s0", 100));
    assert!(miss(&cache, "s1", 100));
    // Full now. A first request earns nothing; the second, one request
    // per 100 bytes, beats two per 800.
    assert!(!miss(&cache, "s2", 100), "a file asked for once got in");
    assert!(miss(&cache, "s2", 100), "the denser file was refused");
    assert!(get(&cache, "large").is_none(), "the large file stayed");
    assert_eq!(keys(&cache), ["s0", "s1", "s2"]);
}

#[test]
fn a_large_file_gets_in_once_asked_for_as_often_as_what_it_displaces() {
    let cache = watching_cache(1000);
    for i in 0..10 {
        assert!(miss(&cache, &format!("s{i}"), 100));
    }
    // 500 bytes displace five of the 100-byte files, each asked for once:
    // refused until asked for more than five times per 100 bytes' worth,
    // that is six times before.
    assert_eq!(refusals_before_admitted(&cache, "large", 500, 20), 6);
    assert!(get(&cache, "large").is_some());
    assert_eq!(keys(&cache), ["large", "s5", "s6", "s7", "s8", "s9"]);
}
