//! Criterion micro-benchmarks of wharf's pure per-request code: the request
//! parser, response-head rendering, path sanitising, range parsing, the
//! conditional/range decision (`serve::plan`) and the hot-file cache's
//! lookup, insert and invalidation at 100k entries.
//!
//! Run with `cargo bench --bench micro` (about a minute). Each benchmark
//! measures for 2 s after a 0.5 s warm-up with 20 samples (and a lighter
//! bootstrap), so the whole set stays quick; pass criterion options after `--` for longer runs, e.g.
//! `cargo bench --bench micro -- --measurement-time 10 parse`.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // tests and benches may touch files (clippy.toml)

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use wharf::cache::{CachedFile, EventCheck, FileCache};
use wharf::config::CacheConfig;

use wharf::http::conditional::{self, Validators};
use wharf::http::range::parse_range;
use wharf::http::request::{parse, FileHeaders, ParseLimits};
use wharf::http::response::ResponseHead;
use wharf::http::serve::plan;
use wharf::http::Status;
use wharf::site::path::sanitize;
use wharf::site::rules::Glob;

/// The limits the server uses by default (`max_header_bytes`, 8 KiB target).
const LIMITS: ParseLimits = ParseLimits {
    max_head_bytes: 16 * 1024,
    max_target_bytes: 8 * 1024,
};

/// A typical browser navigation request: 10 headers.
const BROWSER_GET: &[u8] = b"GET /assets/app/main.3f2a9c.js HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-GB,en;q=0.7,de;q=0.3\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/docs/getting-started.html\r\n\
Connection: keep-alive\r\n\
If-None-Match: \"6553f100-75bcd15-1000\"\r\n\
If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\
Cache-Control: max-age=0\r\n\
\r\n";

/// What wrk sends by default.
const WRK_GET: &[u8] = b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// How long each benchmark measures; kept short so the set takes ~1 minute.
fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .nresamples(10_000)
        .configure_from_args()
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("browser_get_10_headers", |b| {
        b.iter(|| parse(black_box(BROWSER_GET), &LIMITS).unwrap().unwrap())
    });
    g.bench_function("wrk_get", |b| {
        b.iter(|| parse(black_box(WRK_GET), &LIMITS).unwrap().unwrap())
    });

    let pipelined: Vec<u8> = WRK_GET.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("pipelined_16", |b| {
        b.iter(|| {
            let mut buf = black_box(&pipelined[..]);
            let mut n = 0;
            while let Some((req, used)) = parse(buf, &LIMITS).unwrap() {
                black_box(req);
                buf = &buf[used..];
                n += 1;
            }
            assert_eq!(n, 16);
        })
    });
    g.finish();
}

fn bench_render(c: &mut Criterion) {
    const DATE: &str = "Thu, 27 Nov 2025 08:00:00 GMT";
    let etag = conditional::etag(16_384, 1_700_000_000, 123_456_789, None);
    let mut g = c.benchmark_group("render");
    g.bench_function("200_file", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            out.clear();
            let head = ResponseHead {
                content_type: Some("application/javascript; charset=utf-8"),
                content_length: black_box(16_384),
                etag: Some(&etag),
                last_modified: Some("Tue, 14 Nov 2023 22:13:20 GMT"),
                accept_ranges: true,
                vary: Some("Accept-Encoding"),
                cache_control: Some("no-cache"),
                keep_alive: true,
                ..ResponseHead::new(Status::Ok)
            };
            head.render(black_box(DATE), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("304", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            out.clear();
            let head = ResponseHead {
                etag: Some(&etag),
                last_modified: Some("Tue, 14 Nov 2023 22:13:20 GMT"),
                cache_control: Some("no-cache"),
                keep_alive: true,
                ..ResponseHead::new(Status::NotModified)
            };
            head.render(black_box(DATE), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn bench_sanitize(c: &mut Criterion) {
    let deep: String = (0..64).map(|i| format!("/dir{i:02}")).collect::<String>() + "/file.txt";
    // Adversarial: long encoded `..` chains (refused) and long runs of
    // valid escapes (accepted), both near the 8 KiB target limit.
    let dotdot_chain = "/%2e%2e".repeat(1000) + "/etc/passwd";
    let dotdot_late = "/a".repeat(1000) + "/%2e%2e/x";
    let many_escapes = "/".to_string() + &"%61".repeat(2500);
    let cases: [(&str, &str); 6] = [
        ("normal", "/assets/css/site.css"),
        ("normal_query", "/index.html?v=3&utm_source=x"),
        ("deep_64", &deep),
        ("dotdot_chain_1000", &dotdot_chain),
        ("dotdot_after_1000_segments", &dotdot_late),
        ("escapes_2500", &many_escapes),
    ];
    let mut g = c.benchmark_group("sanitize");
    for (name, target) in cases {
        g.bench_function(name, |b| b.iter(|| sanitize(black_box(target))));
    }
    g.finish();
}

fn bench_rules(c: &mut Criterion) {
    // Adversarial: several `*` in one segment against a long run that
    // almost matches, on a request near the 8 KiB target limit.
    let dashes = "/".to_string() + &"-".repeat(8000) + ".png";
    let cases: [(&str, &str, &str); 4] = [
        ("name_glob", "*.css", "/assets/css/site.css"),
        ("path_glob", "/assets/**/*.woff2", "/assets/fonts/a/b.woff2"),
        ("miss", "/static/**", "/assets/css/site.css"),
        ("adversarial_4_stars_8000", "*-*-*x*.png", &dashes),
    ];
    let mut g = c.benchmark_group("rules");
    for (name, pattern, path) in cases {
        let glob = Glob::new(pattern).unwrap();
        g.bench_function(name, |b| b.iter(|| glob.matches(black_box(path))));
    }
    g.finish();
}

fn bench_range(c: &mut Criterion) {
    const LEN: u64 = 100 * 1024 * 1024;
    let sixteen = "bytes=".to_string()
        + &(0..16)
            .map(|i| format!("{}-{}", i * 1000, i * 1000 + 99))
            .collect::<Vec<_>>()
            .join(",");
    // 1000 disjoint ranges in reverse order: forces sorting, then refused
    // (more than max_ranges), the worst a request-sized header can do.
    let adversarial = "bytes=".to_string()
        + &(0..1000)
            .rev()
            .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
            .collect::<Vec<_>>()
            .join(",");
    let cases: [(&str, &str); 4] = [
        ("single", "bytes=0-1023"),
        ("suffix", "bytes=-500"),
        ("multi_16", &sixteen),
        ("adversarial_1000", &adversarial),
    ];
    let mut g = c.benchmark_group("range");
    for (name, header) in cases {
        g.bench_function(name, |b| {
            b.iter(|| parse_range(black_box(header.as_bytes()), LEN, 16))
        });
    }
    g.finish();
}

fn bench_plan(c: &mut Criterion) {
    let etag = conditional::etag(16_384, 1_700_000_000, 123_456_789, None);
    let validators = Validators {
        etag: &etag,
        last_modified_secs: 1_700_000_000,
    };
    let now = 1_800_000_000;
    let matching = FileHeaders {
        if_none_match: Some(etag.as_bytes().to_vec()),
        ..FileHeaders::default()
    };
    let list_miss = FileHeaders {
        if_none_match: Some(b"\"a-1-1\", \"b-2-2\", W/\"c-3-3\", \"d-4-4\"".to_vec()),
        ..FileHeaders::default()
    };
    let mut g = c.benchmark_group("plan");
    g.bench_function("if_none_match_hit_304", |b| {
        b.iter(|| plan(black_box(&matching), &validators, 16_384, true, now, 16))
    });
    g.bench_function("if_none_match_list_miss_200", |b| {
        b.iter(|| plan(black_box(&list_miss), &validators, 16_384, true, now, 16))
    });
    g.bench_function("no_conditions_200", |b| {
        let none = FileHeaders::default();
        b.iter(|| plan(black_box(&none), &validators, 16_384, true, now, 16))
    });
    g.finish();
}

/// Entries in the cache benchmarks: a site of many tiny files, where the
/// cost of anything linear in the number of entries shows.
const CACHE_ENTRIES: usize = 100_000;
/// Files per directory in the cache benchmarks (1000 directories).
const FILES_PER_DIR: usize = 100;

/// A cached file of `body` plus a 200-byte rendered head (the size of a
/// typical one), as the pool would insert it.
fn cache_entry(path: String, body: &Arc<[u8]>) -> CachedFile {
    CachedFile::new(
        path,
        body.clone(),
        "\"6553f100-75bcd15-40\"".to_string(),
        UNIX_EPOCH,
        1_700_000_000,
        "text/plain".to_string(),
        vec![b'h'; 200],
    )
}

/// A watching cache holding `CACHE_ENTRIES` files `d{i}/f{j}.txt` plus
/// every directory's index (`d{i}/` → `d{i}/index.html`). With `full`, its
/// budget is exactly what they use, so one more file forces an eviction;
/// otherwise it has room for anything.
fn cache_of_100k(body: &Arc<[u8]>, full: bool) -> FileCache {
    let dirs = CACHE_ENTRIES / FILES_PER_DIR;
    let used = ((CACHE_ENTRIES + dirs) * (body.len() + 200)) as u64;
    let cache = FileCache::new(CacheConfig {
        enabled: true,
        max_file_bytes: 1024 * 1024,
        max_total_bytes: if full { used } else { u64::MAX },
        revalidate: Duration::from_secs(60),
        recheck: Duration::from_secs(3600),
        descriptors: false,
    });
    cache.set_watching(true);
    for d in 0..dirs {
        for f in 0..FILES_PER_DIR {
            let path = format!("d{d}/f{f}.txt");
            cache.insert(path.clone(), cache_entry(path, body), cache.generation());
        }
        let index = cache_entry(format!("d{d}/index.html"), body);
        cache.insert(format!("d{d}/"), index, cache.generation());
    }
    assert_eq!(cache.len(), CACHE_ENTRIES + dirs);
    assert_eq!(cache.used_bytes() as u64, used);
    cache
}

fn bench_cache(c: &mut Criterion) {
    let body: Arc<[u8]> = Arc::from(vec![b'x'; 64]);
    let dirs = CACHE_ENTRIES / FILES_PER_DIR;
    let mut g = c.benchmark_group("cache");

    // A hit as a loop makes it: the event check already vouches for this
    // read, so this is the read lock, the lookup and the stamp. The keys
    // are spread over the whole cache, as a real mix of requests is.
    let cache = cache_of_100k(&body, true);
    let keys: Vec<String> = (0..4096)
        .map(|i| format!("d{}/f{}.txt", (i * 7919) % dirs, i % FILES_PER_DIR))
        .collect();
    g.bench_function("get_hit_100k", |b| {
        let mut check = EventCheck::default();
        let stamp = check.note_read();
        let now = std::time::Instant::now();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            cache.get(black_box(&keys[i]), &mut check, stamp, now)
        })
    });
    assert_eq!(cache.stats.misses.load(Ordering::Relaxed), 0);

    // A file new to the full cache: every insert evicts one entry. The key
    // and the entry are built outside the timing.
    let mut n = 0u64;
    g.bench_function("insert_evicting_100k", |b| {
        b.iter_batched(
            || {
                n += 1;
                let path = format!("new/{n}.txt");
                (path.clone(), cache_entry(path, &body))
            },
            |(key, entry)| cache.insert(key, entry, cache.generation()),
            BatchSize::SmallInput,
        )
    });
    assert!(cache.used_bytes() as u64 <= cache.config().max_total_bytes);
    drop(cache);

    // The watcher reporting one changed file: the file and its directory's
    // index are dropped. Outside the timing both are put back first (the
    // cache has room: no eviction), so every invalidation drops two.
    let cache = cache_of_100k(&body, false);
    let mut n = 0usize;
    g.bench_function("invalidate_file_100k", |b| {
        b.iter_batched(
            || {
                n += 1;
                let d = (n * 7919) % dirs;
                let path = format!("d{d}/f{}.txt", n % FILES_PER_DIR);
                let entry = cache_entry(path.clone(), &body);
                cache.insert(path.clone(), entry, cache.generation());
                let index = cache_entry(format!("d{d}/index.html"), &body);
                cache.insert(format!("d{d}/"), index, cache.generation());
                path
            },
            |path| cache.invalidate(&path),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = micro;
    config = quick();
    targets = bench_parse, bench_render, bench_sanitize, bench_rules, bench_range, bench_plan, bench_cache
}
criterion_main!(micro);
