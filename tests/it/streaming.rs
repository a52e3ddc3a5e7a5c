//! Large files and concurrency: bodies arrive exact (checksummed, never held
//! whole), HEAD sends none, many downloads run at once, clients that vanish
//! release their descriptors, a slow client does not make the server buffer
//! the file, and files that change under a download never produce padding,
//! a hang or a mix of old and new content.

use crate::harness::*;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex, Weak};
use std::time::Duration;

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;
const BIG_LEN: u64 = 160 * MIB;
const BIG_SEED: u64 = 0x05ee_db16;
const SMALL: &[u8] = b"small file\n";

/// The 160 MiB file is written once and shared by the tests that only read
/// it; the directory goes when the last of them is done.
struct BigSite {
    dir: tempfile::TempDir,
    /// `checksum_file` of `big.bin`.
    sum: (u64, u64),
}

impl BigSite {
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn big_site() -> Arc<BigSite> {
    static SHARED: Mutex<Weak<BigSite>> = Mutex::new(Weak::new());
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(site) = shared.upgrade() {
        return site;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "small.txt", SMALL);
    let big = dir.path().join("big.bin");
    write_large(&big, BIG_LEN, BIG_SEED);
    let sum = checksum_file(&big);
    assert_eq!(sum.1, BIG_LEN);
    let site = Arc::new(BigSite { dir, sum });
    *shared = Arc::downgrade(&site);
    site
}

/// Checks a stream of bytes against a file made by `write_large` (its
/// 1 MiB pattern piece, repeated) without holding the file.
struct PatternCheck {
    piece: Vec<u8>,
    offset: u64,
}

impl PatternCheck {
    fn new(seed: u64) -> PatternCheck {
        PatternCheck {
            piece: pattern(MIB as usize, seed),
            offset: 0,
        }
    }

    fn check(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let at = (self.offset % MIB) as usize;
            let n = bytes.len().min(self.piece.len() - at);
            assert!(
                bytes[..n] == self.piece[at..at + n],
                "body differs from the file within bytes {}..{}",
                self.offset,
                self.offset + n as u64
            );
            bytes = &bytes[n..];
            self.offset += n as u64;
        }
    }
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// Sends a keep-alive GET and reads the response head only.
fn start_get(stream: &mut TcpStream, path: &str) -> Response {
    stream.write_all(get_request(path).as_bytes()).unwrap();
    read_response(stream, true).unwrap_or_else(|| panic!("GET {path}: no response head"))
}

/// Reads exactly `len` body bytes in pieces of at most 256 KiB, handing
/// each to `each`; never reads past the body. Panics on early EOF.
fn read_body(stream: &mut TcpStream, len: u64, mut each: impl FnMut(&[u8])) {
    let mut buf = vec![0; 256 * KIB as usize];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match stream.read(&mut buf[..want]) {
            Ok(0) => panic!("EOF after {} of {len} body bytes", len - left),
            Ok(n) => {
                each(&buf[..n]);
                left -= n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read error after {} of {len} body bytes: {e}", len - left),
        }
    }
}

/// Reads a body of `len` bytes and returns its `(fnv, length)`, the same
/// shape as `checksum_file`.
fn checksum_body(stream: &mut TcpStream, len: u64) -> (u64, u64) {
    let mut hash = Fnv::new();
    let mut total = 0;
    read_body(stream, len, |piece| {
        hash.update(piece);
        total += piece.len() as u64;
    });
    (hash.0, total)
}

/// A connection whose receive buffer is small and fixed (no autotuning up
/// to tens of MiB), so the server cannot push a whole file into the kernel
/// ahead of the reader: a download really is in flight when the test acts.
fn connect_small_window(server: &TestServer) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * KIB as usize).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    with_timeouts(socket.into())
}

fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Resident set size in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A small request on a fresh connection that must succeed.
fn assert_small_ok(server: &TestServer) {
    let response = server.get("/small.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, SMALL);
}

#[test]
fn large_file_download_is_exact() {
    let site = big_site();
    let server = TestServer::start(site.root(), "");
    let mut stream = server.connect();
    let head = start_get(&mut stream, "/big.bin");
    assert_eq!(head.status, 200);
    assert_eq!(content_length(&head.headers), Some(BIG_LEN));
    assert_eq!(checksum_body(&mut stream, BIG_LEN), site.sum);
    // Nothing extra after the body: the next response on the same
    // connection starts right where the body ended.
    stream
        .write_all(get_request("/small.txt").as_bytes())
        .unwrap();
    let next = read_response(&mut stream, false).expect("a second response");
    assert_eq!(next.status, 200);
    assert_eq!(next.body, SMALL);
}

#[test]
fn large_file_head_has_length_and_no_body() {
    let site = big_site();
    let server = TestServer::start(site.root(), "");
    let mut stream = server.connect();
    stream
        .write_all(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_response(&mut stream, true).expect("a HEAD response");
    assert_eq!(head.status, 200);
    assert_eq!(content_length(&head.headers), Some(BIG_LEN));
    // If any body byte had been sent, it would come before this response.
    stream
        .write_all(get_request("/small.txt").as_bytes())
        .unwrap();
    let next = read_response(&mut stream, false).expect("a response after HEAD");
    assert_eq!(
        next.status, 200,
        "bytes after the HEAD response: {}",
        next.head
    );
    assert_eq!(next.body, SMALL);
}

#[test]
fn concurrent_keepalive_downloads() {
    const FILES: u64 = 4;
    const THREADS: u64 = 32;
    const REQUESTS: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let sums: Vec<(u64, u64)> = (0..FILES)
        .map(|i| {
            // Different seeds and slightly different lengths.
            let path = dir.path().join(format!("f{i}.bin"));
            write_large(&path, 4 * MIB + i * 4097, 0xc0ffee + i);
            checksum_file(&path)
        })
        .collect();
    let sums = Arc::new(sums);
    let server = TestServer::start(dir.path(), "");
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (sums, barrier) = (sums.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                barrier.wait();
                for r in 0..REQUESTS {
                    let file = (t + r) % FILES;
                    let head = start_get(&mut stream, &format!("/f{file}.bin"));
                    assert_eq!(head.status, 200, "thread {t} request {r}");
                    assert!(
                        head.header("connection")
                            .is_none_or(|v| !v.eq_ignore_ascii_case("close")),
                        "keep-alive refused: {}",
                        head.head
                    );
                    let len = content_length(&head.headers).expect("Content-Length");
                    assert_eq!(len, sums[file as usize].1, "thread {t} request {r}");
                    let sum = checksum_body(&mut stream, len);
                    assert_eq!(sum, sums[file as usize], "thread {t} request {r} f{file}");
                }
            })
        })
        .collect();
    let mut panics = 0;
    for thread in threads {
        panics += usize::from(thread.join().is_err());
    }
    assert_eq!(panics, 0, "{panics} download threads failed");
}

#[test]
fn client_disconnects_release_descriptors() {
    // With descriptor entries (the default) the hot-file cache keeps one
    // descriptor of big.bin; everything the connections held must go.
    for (cache, kept_by_cache) in [("descriptors = false", 0), ("descriptors = true", 1)] {
        disconnects_release_descriptors(cache, kept_by_cache);
    }
}

fn disconnects_release_descriptors(cache: &str, kept_by_cache: usize) {
    let site = big_site();
    let server = TestServer::start(site.root(), &format!("[cache]\n{cache}\n"));
    let pid = server.pid();
    // Warm up, and wait for the server to close that connection: EOF after
    // a 200 with `Connection: close` means its socket is closed.
    let mut warm = server.connect();
    warm.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(read_to_close(&mut warm).ends_with(SMALL));
    drop(warm);
    let baseline = fd_count(pid);

    for i in 0..20 {
        let mut stream = server.connect();
        let head = start_get(&mut stream, "/big.bin");
        assert_eq!(head.status, 200);
        let mut check = PatternCheck::new(BIG_SEED);
        read_body(&mut stream, MIB, |piece| check.check(piece));
        if i == 0 {
            // Mid-download the server holds at least the socket and the
            // file: the count does see them.
            let during = fd_count(pid);
            assert!(
                during >= baseline + 2,
                "{during} descriptors mid-download, baseline {baseline}"
            );
        }
        drop(stream);
    }

    // The server still answers, on new connections and on keep-alive.
    assert_small_ok(&server);
    let mut stream = server.connect();
    for _ in 0..2 {
        stream
            .write_all(get_request("/small.txt").as_bytes())
            .unwrap();
        let response = read_response(&mut stream, false).expect("a response");
        assert_eq!(response.body, SMALL);
    }
    drop(stream);

    // Release is asynchronous (the loop must notice each reset; files are
    // closed on the IO pool): poll, bounded.
    let mut last = 0;
    let released = eventually(Duration::from_secs(5), || {
        last = fd_count(pid);
        last == baseline + kept_by_cache
    });
    assert!(
        released,
        "descriptors did not return to the baseline ({cache}): {last} open, \
         baseline {baseline} + {kept_by_cache}: {:?}",
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .collect::<Vec<_>>()
    );
}

#[test]
fn slow_reader_gets_correct_data_with_bounded_memory() {
    let site = big_site();
    let server = TestServer::start(site.root(), "");
    let pid = server.pid();
    assert_small_ok(&server);
    let baseline = rss_kib(pid);

    let mut stream = server.connect();
    let head = start_get(&mut stream, "/big.bin");
    assert_eq!(head.status, 200);
    assert_eq!(content_length(&head.headers), Some(BIG_LEN));
    let mut check = PatternCheck::new(BIG_SEED);
    let mut peak = baseline;
    let mut piece = vec![0; 64 * KIB as usize];
    for _ in 0..10 {
        stream.read_exact(&mut piece).unwrap();
        check.check(&piece);
        // Throttling (not synchronisation): the server gets time to read
        // ahead as far as it ever would.
        std::thread::sleep(Duration::from_millis(30));
        peak = peak.max(rss_kib(pid));
    }
    assert_eq!(check.offset, 640 * KIB);
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    assert!(
        growth_mib < 64,
        "server RSS grew by {growth_mib} MiB ({baseline} KiB -> {peak} KiB) for one slow client"
    );
    // The slow connection is still healthy: a further stretch is correct.
    read_body(&mut stream, 2 * MIB, |piece| check.check(piece));
}

#[test]
fn shrinking_file_ends_the_connection_without_padding() {
    // Large class: `sendfile` jobs until the socket is full.
    shrink_during_download(32 * MIB);
}

#[test]
fn shrinking_mid_size_file_ends_the_connection_without_padding() {
    // Mid-size class: 512 KiB jobs, head sent with `MSG_MORE`.
    shrink_during_download(7 * MIB);
}

/// Downloads a `len`-byte file through a small window, shrinks it to 2 MiB
/// after the first MiB has arrived, and checks that the connection ends
/// after real content only: no padding, no hang, not the whole length.
fn shrink_during_download(len: u64) {
    const LEN_AFTER: u64 = 2 * MIB;
    const SEED: u64 = 0x5471_4e4b;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "small.txt", SMALL);
    let path = dir.path().join("shrink.bin");
    write_large(&path, len, SEED);
    let server = TestServer::start(dir.path(), "");

    let mut stream = connect_small_window(&server);
    let head = start_get(&mut stream, "/shrink.bin");
    assert_eq!(head.status, 200);
    assert_eq!(content_length(&head.headers), Some(len));
    let mut check = PatternCheck::new(SEED);
    read_body(&mut stream, MIB, |piece| check.check(piece));

    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(LEN_AFTER)
        .unwrap();

    // Read until the server closes. The 10 s read timeout firing means the
    // server neither finished nor closed: a hang.
    let mut buf = vec![0; 256 * KIB as usize];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                assert!(
                    check.offset + n as u64 <= len,
                    "more than Content-Length arrived"
                );
                // Every byte is the file's real content: never zero padding.
                check.check(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("after {} bytes: {e} (a hang, or a reset)", check.offset),
        }
    }
    assert!(
        check.offset < len,
        "the whole Content-Length arrived ({len}) although the file shrank to 2 MiB"
    );
    assert!(check.offset >= MIB);
    assert_small_ok(&server);
}

#[test]
fn replaced_file_download_completes_with_old_content() {
    const OLD_LEN: u64 = 32 * MIB;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    write_large(&path, OLD_LEN, 0x01d);
    let old_sum = checksum_file(&path);
    let staged = dir.path().join("data.bin.new");
    write_large(&staged, 3 * MIB + 5, 0x2e3);
    let new_sum = checksum_file(&staged);
    assert_ne!(old_sum, new_sum);
    let server = TestServer::start(dir.path(), "");

    let mut stream = connect_small_window(&server);
    let head = start_get(&mut stream, "/data.bin");
    assert_eq!(head.status, 200);
    assert_eq!(content_length(&head.headers), Some(OLD_LEN));
    let mut hash = Fnv::new();
    read_body(&mut stream, MIB, |piece| hash.update(piece));

    std::fs::rename(&staged, &path).unwrap();

    let mut total = MIB;
    read_body(&mut stream, OLD_LEN - MIB, |piece| {
        hash.update(piece);
        total += piece.len() as u64;
    });
    assert_eq!(
        (hash.0, total),
        old_sum,
        "the in-flight download changed content"
    );

    // The next request, on the same connection, sees the new file.
    let head = start_get(&mut stream, "/data.bin");
    assert_eq!(head.status, 200);
    assert_eq!(content_length(&head.headers), Some(new_sum.1));
    assert_eq!(checksum_body(&mut stream, new_sum.1), new_sum);
}

#[test]
fn zero_length_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.bin", b"");
    write(dir.path(), "one.txt", b"1");
    let server = TestServer::start(dir.path(), "");
    let mut stream = server.connect();
    for method in ["GET", "HEAD", "GET"] {
        stream
            .write_all(format!("{method} /empty.bin HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let response = read_response(&mut stream, method == "HEAD").expect("a response");
        assert_eq!(response.status, 200, "{method}");
        assert_eq!(response.header("content-length"), Some("0"), "{method}");
        assert!(response.body.is_empty());
    }
    // Nothing stray was sent after the empty bodies.
    stream
        .write_all(get_request("/one.txt").as_bytes())
        .unwrap();
    let response = read_response(&mut stream, false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"1");
}

/// Sizes around the in-memory threshold (64 KiB), the stream chunk and
/// `sendfile` threshold (256 KiB), the `sendfile` job size (512 KiB) and a
/// few multiples, and the 8 MiB line between mid-size bodies (512 KiB
/// jobs, head sent with `MSG_MORE`) and large ones (jobs until the socket
/// is full).
const BOUNDARY_SIZES: &[u64] = &[
    1,
    64 * KIB - 1,
    64 * KIB,
    64 * KIB + 1,
    256 * KIB - 1,
    256 * KIB,
    256 * KIB + 1,
    512 * KIB - 1,
    512 * KIB,
    512 * KIB + 1,
    768 * KIB - 1,
    MIB - 1,
    MIB,
    MIB + 1,
    8 * MIB - 1,
    8 * MIB,
];

fn boundary_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, &size) in BOUNDARY_SIZES.iter().enumerate() {
        write(
            dir.path(),
            &format!("s{size}.bin"),
            &pattern(size as usize, 0xb0 + i as u64),
        );
    }
    dir
}

#[test]
fn boundary_sizes_are_exact() {
    let dir = boundary_site();
    let server = TestServer::start(dir.path(), "");
    // All on one keep-alive connection: a byte too many or too few in any
    // body breaks every response after it.
    let mut stream = server.connect();
    for (i, &size) in BOUNDARY_SIZES.iter().enumerate() {
        stream
            .write_all(format!("HEAD /s{size}.bin HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let head = read_response(&mut stream, true).expect("a HEAD response");
        assert_eq!(
            content_length(&head.headers),
            Some(size),
            "HEAD size {size}"
        );

        stream
            .write_all(get_request(&format!("/s{size}.bin")).as_bytes())
            .unwrap();
        let response = read_response(&mut stream, false).expect("a response");
        assert_eq!(response.status, 200, "size {size}");
        assert_eq!(content_length(&response.headers), Some(size), "size {size}");
        assert!(
            response.body == pattern(size as usize, 0xb0 + i as u64),
            "size {size}: body differs"
        );
    }
}

#[test]
fn boundary_sizes_pipelined() {
    let dir = boundary_site();
    let server = TestServer::start(dir.path(), "");
    let mut stream = server.connect();
    let mut requests = String::new();
    for &size in BOUNDARY_SIZES.iter().rev() {
        requests.push_str(&get_request(&format!("/s{size}.bin")));
    }
    stream.write_all(requests.as_bytes()).unwrap();
    for (i, &size) in BOUNDARY_SIZES.iter().enumerate().rev() {
        let response = read_response(&mut stream, false).expect("a pipelined response");
        assert_eq!(response.status, 200, "size {size}");
        assert_eq!(content_length(&response.headers), Some(size), "size {size}");
        assert!(
            response.body == pattern(size as usize, 0xb0 + i as u64),
            "size {size}: body differs"
        );
    }
}
