//! The hot path allocates nothing: a real wharf, in this process so that a
//! counting global allocator sees every allocation of every thread, serves
//! cache hits over a real keep-alive socket while the count is taken.
//!
//! The client side allocates nothing in the measured window either (fixed
//! request bytes, a fixed read buffer), so the count is the server's. A few
//! allocations are allowed for once-per-second work (the `Date` value).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // tests and benches may touch files (clippy.toml)

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf::config::Overrides;
use wharf::Server;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Starts wharf in this process on port 0 with `access` as its access-log
/// setting, serving a temp dir with a 1 KiB and a 16 KiB file, and a 4 KiB
/// `app.js` with precompressed sidecars.
fn start(
    access: &str,
    extra_toml: &str,
) -> (
    tempfile::TempDir,
    std::net::SocketAddr,
    wharf::server::ServerHandle,
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("small.txt"), vec![b's'; 1024]).unwrap();
    std::fs::write(root.join("medium.bin"), vec![b'm'; 16 * 1024]).unwrap();
    std::fs::write(root.join("app.js"), vec![b'j'; 4096]).unwrap();
    std::fs::write(root.join("app.js.br"), vec![b'b'; 900]).unwrap();
    std::fs::write(root.join("app.js.gz"), vec![b'g'; 1000]).unwrap();
    std::fs::write(root.join("style.css"), vec![b'c'; 8192]).unwrap();
    let config_file = dir.path().join("wharf.toml");
    std::fs::write(
        &config_file,
        format!("[server]\nworkers = 1\n[log]\naccess = {access:?}\n{extra_toml}"),
    )
    .unwrap();
    let overrides = Overrides {
        root: Some(root),
        listen: vec!["127.0.0.1:0".to_string()],
        ..Overrides::default()
    };
    let config = wharf::disk::startup::load_config(Some(&config_file), &overrides).unwrap();
    let server = Server::bind(config, overrides).unwrap();
    let addr = server.local_addr().expect("a TCP listener");
    let handle = server.handle();
    std::thread::spawn(move || server.run());
    (dir, addr, handle)
}

/// Sends `count` requests for `path` (with `extra_headers`) on one keep-alive connection and reads
/// each whole response, allocating nothing after the first response; each must start with
/// `status_line`.
fn fetch_many_expecting(
    stream: &mut TcpStream,
    path: &str,
    extra_headers: &str,
    count: usize,
    status_line: &[u8],
) {
    fetch_many_checking(stream, path, extra_headers, count, status_line, true);
}

/// [`fetch_many_expecting`]; the body is checked to be one repeated byte
/// unless it is a variant wharf compressed (`uniform_body` false).
fn fetch_many_checking(
    stream: &mut TcpStream,
    path: &str,
    extra_headers: &str,
    count: usize,
    status_line: &[u8],
    uniform_body: bool,
) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: alloc-test\r\n{extra_headers}\r\n"
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut response_len = None;
    for _ in 0..count {
        stream.write_all(request.as_bytes()).unwrap();
        let mut got = 0;
        loop {
            let n = stream.read(&mut buf[got..]).unwrap();
            assert!(n > 0, "the server closed the connection");
            got += n;
            let want = *response_len.get_or_insert_with(|| whole_response_len(&buf[..got]));
            match want {
                Some(want) if got >= want => {
                    assert_eq!(got, want, "more bytes than one response");
                    break;
                }
                _ => response_len = None,
            }
        }
        assert!(
            buf.starts_with(status_line),
            "{:?}",
            String::from_utf8_lossy(&buf[..got.min(200)])
        );
        // Each file is one repeated byte: a stray head byte would show.
        let body_start = got - body_len(&buf[..got]);
        let body = &buf[body_start..got];
        assert!(
            !uniform_body || body.iter().all(|&b| b == body[0]),
            "corrupt body"
        );
    }
}

/// Asks for `path` (with `extra_headers`) until the answer is a variant
/// wharf compressed (the compression job runs on the pool after the first
/// request).
fn wait_for_compressed(addr: std::net::SocketAddr, path: &str, extra_headers: &str) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra_headers}\r\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        if response.windows(17).any(|w| w == b"Content-Encoding:") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} was never compressed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The body length of the whole response in `bytes`.
fn body_len(bytes: &[u8]) -> usize {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    bytes.len() - head_end
}

/// The length of the response at the start of `bytes`, once its head is in.
fn whole_response_len(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    if head.starts_with("HTTP/1.1 304") {
        return Some(head_end);
    }
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))?
        .trim()
        .parse::<usize>()
        .ok()?;
    Some(head_end + length)
}

/// Allowance for once-per-second work during a run (the `Date` header
/// value is formatted once a second).
const PER_RUN_ALLOWANCE: u64 = 20;

/// One test, so that no other test's server allocates during the count.
#[test]
fn cache_hits_allocate_nothing_and_misses_little() {
    // Only CSS is compressed by wharf itself, so that the other cases'
    // answers stay what they are (their bodies one repeated byte). Behind a
    // trusted proxy (the test's own address), so every request's
    // X-Forwarded-For walk is counted too.
    let (dir, addr, handle) = start(
        "off",
        "trusted_proxies = [\"127.0.0.1/32\"]\n[http]\ncompress_types = [\"text/css\"]\n",
    );
    let hits = 20_000;
    let cases = [
        ("plain 1 KiB hit", "/small.txt", ""),
        ("16 KiB hit", "/medium.bin", ""),
        (
            "hit with a referer",
            "/small.txt",
            "Referer: http://example.test/page\r\n",
        ),
        (
            "conditional hit",
            "/small.txt",
            "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\nAccept-Encoding: gzip\r\n",
        ),
        (
            "hit through proxies",
            "/small.txt",
            "X-Forwarded-For: 6.6.6.6, 198.51.100.2\r\nX-Forwarded-For: 127.0.0.1\r\n",
        ),
        // Negotiated by the loop among the cached sidecars.
        (
            "precompressed hit",
            "/app.js",
            "Accept-Encoding: gzip, deflate, br, zstd\r\n",
        ),
        // A variant wharf compressed itself, kept in the entry.
        (
            "computed variant hit",
            "/style.css",
            "Accept-Encoding: gzip\r\n",
        ),
    ];
    let mut report = Vec::new();
    for (name, path, extra) in cases {
        let encoded = path == "/style.css";
        if encoded {
            wait_for_compressed(addr, path, extra);
        }
        let ok = b"HTTP/1.1 200 OK\r\n";
        let mut stream = TcpStream::connect(addr).unwrap();
        // Warm up: the first request fills the cache, the next ones fill
        // the loop's free lists and grow buffers to their working sizes.
        fetch_many_checking(&mut stream, path, extra, 2_000, ok, !encoded);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        fetch_many_checking(&mut stream, path, extra, hits, ok, !encoded);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        report.push(format!("{name}: {allocations} allocations for {hits} hits"));
        assert!(allocations <= PER_RUN_ALLOWANCE, "{report:?}");
    }
    handle.shutdown();
    drop(dir);

    // Misses: the cache is off, so every request goes to the pool and
    // back. They allocate (the job, its completion, the metadata); this
    // bounds how much, per request, so that a regression shows.
    let (dir, addr, handle) = start("off", "[cache]\nenabled = false\n");
    let etag = {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"HEAD /small.txt HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 1024];
        let n = stream.read(&mut head).unwrap();
        let head = String::from_utf8_lossy(&head[..n]).to_string();
        head.lines()
            .find_map(|line| line.strip_prefix("ETag: "))
            .unwrap()
            .to_string()
    };
    let misses = 2_000;
    let if_none_match = format!("If-None-Match: {etag}\r\n");
    let miss_cases: [(&str, &str, &str, &[u8]); 4] = [
        ("plain 1 KiB miss", "/small.txt", "", b"HTTP/1.1 200 OK\r\n"),
        (
            "304 miss",
            "/small.txt",
            &if_none_match,
            b"HTTP/1.1 304 Not Modified\r\n",
        ),
        (
            "206 miss",
            "/medium.bin",
            "Range: bytes=100-1123\r\n",
            b"HTTP/1.1 206 Partial Content\r\n",
        ),
        (
            "precompressed miss",
            "/app.js",
            "Accept-Encoding: gzip, br\r\n",
            b"HTTP/1.1 200 OK\r\n",
        ),
    ];
    for (name, path, extra, status) in miss_cases {
        let mut stream = TcpStream::connect(addr).unwrap();
        fetch_many_expecting(&mut stream, path, extra, 500, status);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        fetch_many_expecting(&mut stream, path, extra, misses, status);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let per_miss = allocations as f64 / misses as f64;
        report.push(format!("{name}: {per_miss:.1} allocations per request"));
        assert!(per_miss <= MISS_ALLOWANCE, "{report:?}");
    }
    eprintln!("{}", report.join("\n"));
    handle.shutdown();
    drop(dir);
}

/// The most allocations a request answered by the pool may make (see the
/// misses above; docs/caching.md has the count per kind).
const MISS_ALLOWANCE: f64 = 20.0;
