//! HTTP semantics of the real `wharf` binary over real sockets (issue 3):
//! validators, conditional requests, byte ranges (single, multipart,
//! `If-Range`, large streamed ranges, `curl -C -`), precompressed sidecars,
//! `Cache-Control` and header rules, directory listings (sorting, JSON,
//! escaping, hidden files, 100,000 entries), custom error pages and OPTIONS.

use crate::harness::*;

use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers local to this file.

/// 2001-09-09T01:46:40Z plus some nanoseconds: a file time in the past.
const OLD_SECS: u64 = 1_000_000_000;
const OLD_NANOS: u32 = 123_456_789;

fn old_time() -> SystemTime {
    UNIX_EPOCH + Duration::new(OLD_SECS, OLD_NANOS)
}

fn http_date_secs(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Writes a file and gives it the modification time `time`.
fn write_at(root: &Path, relative: &str, content: &[u8], time: SystemTime) {
    let path = write(root, relative, content);
    set_mtime(&path, time);
}

/// Sends one request with `Connection: close` and returns the response with
/// `body` set to *everything* the server sent after the head, up to EOF, so
/// a stray byte after a 304 or a HEAD response, or a body longer or shorter
/// than `Content-Length`, is visible to the assertions.
fn fetch(server: &TestServer, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    let all = read_to_close(&mut stream);
    let response = split_response(&all);
    let to_head = method == "HEAD";
    if to_head {
        assert!(
            response.body.is_empty(),
            "a response to HEAD has no body: {}",
            response.head
        );
    }
    Reply { response, to_head }
}

fn get(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> Reply {
    fetch(server, "GET", target, headers)
}

fn head(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> Reply {
    fetch(server, "HEAD", target, headers)
}

/// A response and whether it answered HEAD (whose `Content-Length` describes
/// the body a GET would get).
struct Reply {
    response: Response,
    to_head: bool,
}

impl std::ops::Deref for Reply {
    type Target = Response;

    fn deref(&self) -> &Response {
        &self.response
    }
}

/// Splits raw response bytes into a head and everything after it.
fn split_response(all: &[u8]) -> Response {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(all)))
        + 4;
    let head = String::from_utf8(all[..end].to_vec()).expect("ASCII head");
    let (status, headers) = parse_head(&head);
    Response {
        status,
        head,
        headers,
        body: all[end..].to_vec(),
    }
}

/// Asserts status, and that `Content-Length` (when sent) is the exact
/// length of what followed the head.
fn check(response: &Reply, status: u16) {
    assert_eq!(response.status, status, "{}", response.head);
    if response.to_head {
        return;
    }
    if let Some(length) = response.header("Content-Length") {
        assert_eq!(
            length.parse::<usize>().unwrap(),
            response.body.len(),
            "Content-Length vs bytes sent: {}",
            response.head
        );
    }
}

/// A 200 for a GET: status, exact body, exact length.
fn check_full(response: &Reply, content: &[u8]) {
    check(response, 200);
    assert_eq!(
        response.header("Content-Length"),
        Some(content.len().to_string().as_str())
    );
    assert!(
        response.header("Content-Range").is_none(),
        "{}",
        response.head
    );
    assert!(response.body == content, "body differs: {}", response.head);
}

/// A 304: no body, no `Content-Length`, no `Transfer-Encoding`.
fn check_not_modified(response: &Response) {
    assert_eq!(response.status, 304, "{}", response.head);
    assert!(response.body.is_empty(), "a 304 has no body");
    assert!(
        response.header("Content-Length").is_none(),
        "{}",
        response.head
    );
    assert!(
        response.header("Transfer-Encoding").is_none(),
        "{}",
        response.head
    );
}

/// How many header lines named `name` the response has.
fn count_headers(response: &Response, name: &str) -> usize {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .count()
}

fn etag_of(response: &Response) -> String {
    response
        .header("ETag")
        .unwrap_or_else(|| panic!("no ETag: {}", response.head))
        .to_string()
}

/// The site used by most tests: `hello.txt`, a 1000-byte `r.txt` of
/// pseudo-random bytes (so a wrong offset cannot go unnoticed), both with
/// an old, known modification time.
fn semantics_site() -> (tempfile::TempDir, Vec<u8>) {
    let dir = site();
    let ranged = pattern(1000, 7);
    write_at(dir.path(), "r.txt", &ranged, old_time());
    set_mtime(&dir.path().join("hello.txt"), old_time());
    (dir, ranged)
}

const HELLO: &[u8] = b"hello, world\n";

// ---------------------------------------------------------------------------
// JSON listings.

/// Parses a whole JSON document (serde_json is strict: RFC 8259, nothing
/// after the value but whitespace), keeping object members in their order.
fn parse_json(text: &[u8]) -> Value {
    serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "not a JSON document ({e}): {:?}",
            String::from_utf8_lossy(text)
        )
    })
}

/// The member names of a JSON object, in document order.
fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// The `entries` array of a JSON listing.
fn entries(doc: &Value) -> &[Value] {
    doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries array in {doc}"))
}

/// The `name` of a JSON listing entry.
fn name(entry: &Value) -> &str {
    entry["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no name in {entry}"))
}

// ---------------------------------------------------------------------------
// Validators.

#[test]
fn files_have_a_strong_etag_and_last_modified() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let response = get(&server, "/hello.txt", &[]);
    check_full(&response, HELLO);
    let etag = etag_of(&response);
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong, quoted entity-tag: {etag}"
    );
    assert!(
        !etag[1..etag.len() - 1].contains('"'),
        "one entity-tag: {etag}"
    );
    assert_eq!(
        response.header("Last-Modified"),
        Some(http_date_secs(OLD_SECS).as_str())
    );
    // HEAD carries the same validators.
    let head_response = head(&server, "/hello.txt", &[]);
    check(&head_response, 200);
    assert!(head_response.body.is_empty());
    assert_eq!(head_response.header("ETag"), Some(etag.as_str()));
    assert_eq!(
        head_response.header("Last-Modified"),
        response.header("Last-Modified")
    );
    // Every file has one, directory index files included.
    let index = get(&server, "/", &[]);
    check(&index, 200);
    assert!(index.header("ETag").is_some_and(|t| t.starts_with('"')));
    assert!(index.header("Last-Modified").is_some());
}

#[test]
fn etag_is_stable_across_restarts_and_copies() {
    let (site, _) = semantics_site();
    let first = TestServer::start(site.path(), "");
    let before = get(&first, "/hello.txt", &[]);
    check_full(&before, HELLO);
    first.stop();

    let second = TestServer::start(site.path(), "");
    let after = get(&second, "/hello.txt", &[]);
    check_full(&after, HELLO);
    assert_eq!(etag_of(&before), etag_of(&after));
    assert_eq!(
        before.header("Last-Modified"),
        after.header("Last-Modified")
    );

    // A copy with the same content and mtime on another "machine" (another
    // root, so another inode) gets the same tag: no inode numbers in it.
    let mirror = tempfile::tempdir().unwrap();
    write_at(mirror.path(), "hello.txt", HELLO, old_time());
    let third = TestServer::start(mirror.path(), "");
    let copy = get(&third, "/hello.txt", &[]);
    check_full(&copy, HELLO);
    assert_eq!(etag_of(&before), etag_of(&copy));
}

#[test]
fn editing_a_file_changes_its_etag() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let path = site.path().join("hello.txt");
    let first = get(&server, "/hello.txt", &[]);
    check_full(&first, HELLO);
    let first_tag = etag_of(&first);

    // New content and a new mtime: the very next request sees them, even
    // though the file is hot in the cache.
    std::fs::write(&path, b"goodbye, world!\n").unwrap();
    set_mtime(&path, old_time() + Duration::from_secs(100));
    let second = get(&server, "/hello.txt", &[]);
    check_full(&second, b"goodbye, world!\n");
    let second_tag = etag_of(&second);
    assert_ne!(first_tag, second_tag);
    assert_eq!(
        second.header("Last-Modified"),
        Some(http_date_secs(OLD_SECS + 100).as_str())
    );
    // The old tag no longer validates: the new content comes back.
    let revalidated = get(&server, "/hello.txt", &[("If-None-Match", &first_tag)]);
    check_full(&revalidated, b"goodbye, world!\n");

    // Same length, same second, only the nanoseconds differ: still a new tag.
    std::fs::write(&path, b"GOODBYE, WORLD!\n").unwrap();
    set_mtime(
        &path,
        old_time() + Duration::from_secs(100) + Duration::from_nanos(1),
    );
    let third = get(&server, "/hello.txt", &[]);
    check_full(&third, b"GOODBYE, WORLD!\n");
    let third_tag = etag_of(&third);
    assert_ne!(
        second_tag, third_tag,
        "mtime nanoseconds are part of the tag"
    );
    assert_eq!(
        second.header("Last-Modified"),
        third.header("Last-Modified")
    );
    let revalidated = get(&server, "/hello.txt", &[("If-None-Match", &second_tag)]);
    check_full(&revalidated, b"GOODBYE, WORLD!\n");
}

// ---------------------------------------------------------------------------
// Conditional requests (RFC 9110 section 13.2.2).

#[test]
fn if_none_match_gives_304_with_the_same_validators() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let full = get(&server, "/hello.txt", &[]);
    check_full(&full, HELLO);
    let etag = etag_of(&full);
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag} , \"other\"");
    for value in [etag.as_str(), list.as_str(), "*", weak.as_str()] {
        for method in ["GET", "HEAD"] {
            let response = fetch(&server, method, "/hello.txt", &[("If-None-Match", value)]);
            check_not_modified(&response);
            for name in ["ETag", "Last-Modified", "Cache-Control"] {
                assert_eq!(
                    response.header(name),
                    full.header(name),
                    "{method} If-None-Match: {value}: {name}"
                );
            }
            assert!(response.header("Vary").is_none(), "no variants, no Vary");
        }
    }
    // Non-matching tags: 200 with the body.
    for value in ["\"nope\"", "\"a\", \"b\"", "W/\"nope\""] {
        check_full(
            &get(&server, "/hello.txt", &[("If-None-Match", value)]),
            HELLO,
        );
    }
}

#[test]
fn if_modified_since() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let last_modified = http_date_secs(OLD_SECS);
    let later = http_date_secs(OLD_SECS + 3600);
    let earlier = http_date_secs(OLD_SECS - 1);
    // 2100-01-01: far beyond the server's clock.
    let far_future = http_date_secs(4_102_444_800);
    for method in ["GET", "HEAD"] {
        for value in [last_modified.as_str(), later.as_str()] {
            let response = fetch(
                &server,
                method,
                "/hello.txt",
                &[("If-Modified-Since", value)],
            );
            check_not_modified(&response);
            assert_eq!(
                response.header("Last-Modified"),
                Some(last_modified.as_str())
            );
            assert!(response.header("ETag").is_some());
        }
        for value in [
            earlier.as_str(),
            far_future.as_str(),
            // Malformed dates are ignored.
            "yesterday",
            "Sat, 09 Sep 2001 01:46:40",
            "Mon, 09 Sep 2001 01:46:40 GMT", // wrong weekday
            "",
            "9 Sep 2001",
        ] {
            let response = fetch(
                &server,
                method,
                "/hello.txt",
                &[("If-Modified-Since", value)],
            );
            check(&response, 200);
            assert_eq!(
                response.header("Content-Length"),
                Some("13"),
                "{method} If-Modified-Since: {value}"
            );
            if method == "GET" {
                assert_eq!(response.body, HELLO, "If-Modified-Since: {value}");
            } else {
                assert!(response.body.is_empty());
            }
        }
    }
    // The other date formats of RFC 9110 section 5.6.7 are understood too.
    for value in ["Sunday, 09-Sep-01 01:46:40 GMT", "Sun Sep  9 01:46:40 2001"] {
        check_not_modified(&get(&server, "/hello.txt", &[("If-Modified-Since", value)]));
    }
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let etag = etag_of(&get(&server, "/hello.txt", &[]));
    let last_modified = http_date_secs(OLD_SECS);
    let earlier = http_date_secs(OLD_SECS - 3600);
    for method in ["GET", "HEAD"] {
        // A non-matching If-None-Match wins over a matching If-Modified-Since.
        let response = fetch(
            &server,
            method,
            "/hello.txt",
            &[
                ("If-None-Match", "\"something-else\""),
                ("If-Modified-Since", &last_modified),
            ],
        );
        check(&response, 200);
        if method == "GET" {
            assert_eq!(response.body, HELLO);
        }
        // A matching If-None-Match wins over a failing If-Modified-Since.
        let response = fetch(
            &server,
            method,
            "/hello.txt",
            &[("If-None-Match", &etag), ("If-Modified-Since", &earlier)],
        );
        check_not_modified(&response);
    }
}

#[test]
fn if_match_and_if_unmodified_since() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let etag = etag_of(&get(&server, "/hello.txt", &[]));
    let weak = format!("W/{etag}");
    let list = format!("\"x\", {etag}");
    let last_modified = http_date_secs(OLD_SECS);
    let earlier = http_date_secs(OLD_SECS - 1);
    let later = http_date_secs(OLD_SECS + 1);
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![("If-Match", "\"mismatch\"")], 412),
        // If-Match uses the strong comparison: a weak tag never matches.
        (vec![("If-Match", &weak)], 412),
        (vec![("If-Match", &etag)], 200),
        (vec![("If-Match", &list)], 200),
        (vec![("If-Match", "*")], 200),
        (vec![("If-Unmodified-Since", &earlier)], 412),
        (vec![("If-Unmodified-Since", &last_modified)], 200),
        (vec![("If-Unmodified-Since", &later)], 200),
        (vec![("If-Unmodified-Since", "not a date")], 200),
        // If-Match is evaluated instead of If-Unmodified-Since.
        (
            vec![("If-Match", &etag), ("If-Unmodified-Since", &earlier)],
            200,
        ),
        (
            vec![("If-Match", "\"x\""), ("If-Unmodified-Since", &later)],
            412,
        ),
        // Preconditions come before ranges.
        (vec![("If-Match", "\"x\""), ("Range", "bytes=0-1")], 412),
    ];
    for (headers, status) in cases {
        for method in ["GET", "HEAD"] {
            let response = fetch(&server, method, "/hello.txt", &headers);
            check(&response, status);
            if status == 200 && method == "GET" {
                assert_eq!(response.body, HELLO, "{headers:?}");
            }
            if method == "HEAD" {
                assert!(response.body.is_empty(), "HEAD {headers:?}");
            }
        }
    }
}

#[test]
fn conditionals_on_missing_files_do_not_apply() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    for headers in [
        [("If-None-Match", "*")],
        [("If-Match", "*")],
        [("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    ] {
        let response = get(&server, "/missing.txt", &headers);
        check(&response, 404);
    }
}

// ---------------------------------------------------------------------------
// Ranges.

#[test]
fn single_ranges() {
    let (site, content) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let full = get(&server, "/r.txt", &[]);
    check_full(&full, &content);
    assert_eq!(full.header("Accept-Ranges"), Some("bytes"));
    let etag = etag_of(&full);
    let cases: &[(&str, usize, usize)] = &[
        ("bytes=0-9", 0, 9),
        ("bytes=-5", 995, 999),
        ("bytes=10-", 10, 999),
        ("bytes=0-999999", 0, 999),
        ("bytes=999-", 999, 999),
        ("bytes=998-999", 998, 999),
        ("bytes=500-500", 500, 500),
        ("bytes=-1000", 0, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=0-", 0, 999),
        ("BYTES=3-4", 3, 4),
        ("bytes= 3-4 ", 3, 4),
    ];
    for &(range, start, end) in cases {
        let response = get(&server, "/r.txt", &[("Range", range)]);
        check(&response, 206);
        assert_eq!(
            response.header("Content-Range"),
            Some(format!("bytes {start}-{end}/1000").as_str()),
            "{range}"
        );
        assert_eq!(
            response.header("Content-Length"),
            Some((end - start + 1).to_string().as_str()),
            "{range}"
        );
        assert!(
            response.body == content[start..=end],
            "{range}: wrong bytes"
        );
        assert_eq!(response.header("ETag"), Some(etag.as_str()), "{range}");
        assert_eq!(response.header("Accept-Ranges"), Some("bytes"), "{range}");
        assert_eq!(
            response.header("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.header("Cache-Control"), Some("no-cache"));
    }
}

#[test]
fn with_ranges_off_they_are_neither_honoured_nor_advertised() {
    let (site, content) = semantics_site();
    let large = pattern(300_000, 5);
    write(site.path(), "large.bin", &large);
    let server = TestServer::start(site.path(), "[limits]\nmax_ranges = 0\n");
    // Twice each: a miss, then a cache hit (bytes or descriptor entry).
    for _ in 0..2 {
        let small = get(&server, "/r.txt", &[("Range", "bytes=0-9")]);
        check_full(&small, &content);
        assert_eq!(small.header("Accept-Ranges"), None, "{}", small.head);
        let big = get(&server, "/large.bin", &[("Range", "bytes=0-9")]);
        check_full(&big, &large);
        assert_eq!(big.header("Accept-Ranges"), None, "{}", big.head);
    }
}

#[test]
fn unsatisfiable_ranges_are_416() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    for range in [
        "bytes=1000-",
        "bytes=1000-1000",
        "bytes=5000-6000",
        "bytes=-0",
        "bytes=1000-,2000-",
    ] {
        let response = get(&server, "/r.txt", &[("Range", range)]);
        check(&response, 416);
        assert_eq!(
            response.header("Content-Range"),
            Some("bytes */1000"),
            "{range}"
        );
    }
    // An empty file satisfies no range.
    write(site.path(), "empty.txt", b"");
    let response = get(&server, "/empty.txt", &[("Range", "bytes=0-")]);
    check(&response, 416);
    assert_eq!(response.header("Content-Range"), Some("bytes */0"));
    // A satisfiable range among unsatisfiable ones is served.
    let response = get(&server, "/r.txt", &[("Range", "bytes=5000-,10-19")]);
    check(&response, 206);
    assert_eq!(response.header("Content-Range"), Some("bytes 10-19/1000"));
}

#[test]
fn invalid_range_syntax_is_ignored() {
    let (site, content) = semantics_site();
    let server = TestServer::start(site.path(), "");
    for range in [
        "bytes=5-2",
        "bytes=x",
        "items=0-1",
        "bytes=",
        "bytes",
        "bytes=1-2-3",
        "bytes=0-1,x",
        "bytes=--5",
        "bytes=99999999999999999999999-",
        "bytes 0-1",
    ] {
        let response = get(&server, "/r.txt", &[("Range", range)]);
        check_full(&response, &content);
    }
}

/// One part of a `multipart/byteranges` body.
struct Part {
    content_type: Option<String>,
    content_range: String,
    bytes: Vec<u8>,
}

/// Parses a `multipart/byteranges` body strictly: each part's length comes
/// from its `Content-Range`, and every delimiter must be where it belongs.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let mut at = 0;
    // The first delimiter, optionally after a CRLF (or any preamble).
    let first = body
        .windows(delimiter.len())
        .position(|w| w == delimiter.as_bytes())
        .expect("a first delimiter");
    assert!(
        first == 0 || body[..first].ends_with(b"\r\n"),
        "delimiter at line start"
    );
    at += first + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            at += 2;
            // Optional transport padding / final CRLF only.
            assert!(
                body[at..].iter().all(|b| b" \t\r\n".contains(b)),
                "epilogue: {:?}",
                String::from_utf8_lossy(&body[at..])
            );
            return parts;
        }
        assert!(body[at..].starts_with(b"\r\n"), "CRLF after delimiter");
        at += 2;
        let head_end = body[at..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head end")
            + at;
        let head = std::str::from_utf8(&body[at..head_end]).unwrap();
        let mut content_type = None;
        let mut content_range = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').expect("part header");
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            } else if name.eq_ignore_ascii_case("content-range") {
                content_range = Some(value.trim().to_string());
            }
        }
        let content_range = content_range.expect("every part has Content-Range");
        let (start, end) = content_range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
            .expect("bytes a-b/len");
        at = head_end + 4;
        let bytes = body[at..at + (end - start + 1)].to_vec();
        at += bytes.len();
        assert!(
            body[at..].starts_with(format!("\r\n{delimiter}").as_bytes()),
            "delimiter right after the part's bytes"
        );
        at += 2 + delimiter.len();
        parts.push(Part {
            content_type,
            content_range,
            bytes,
        });
    }
}

#[test]
fn multiple_ranges_are_multipart_byteranges() {
    let (site, content) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let response = get(&server, "/r.txt", &[("Range", "bytes=0-4,10-14,990-")]);
    check(&response, 206);
    assert!(response.header("Content-Range").is_none());
    let content_type = response.header("Content-Type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("multipart type: {content_type}"))
        .trim_matches('"');
    assert!(!boundary.is_empty());
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str()),
        "exact Content-Length"
    );
    let parts = parse_multipart(&response.body, boundary);
    let expected = [(0, 4), (10, 14), (990, 999)];
    assert_eq!(parts.len(), expected.len());
    for (part, (start, end)) in parts.iter().zip(expected) {
        assert_eq!(part.content_range, format!("bytes {start}-{end}/1000"));
        assert_eq!(
            part.content_type.as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert!(part.bytes == content[start..=end], "bytes of {start}-{end}");
    }
    assert_eq!(response.header("Accept-Ranges"), Some("bytes"));
    assert!(response.header("ETag").is_some());

    // Two responses use different boundaries.
    let again = get(&server, "/r.txt", &[("Range", "bytes=0-4,10-14")]);
    check(&again, 206);
    assert_ne!(
        again.header("Content-Type"),
        response.header("Content-Type")
    );
}

#[test]
fn overlapping_ranges_are_coalesced() {
    let (site, content) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let response = get(&server, "/r.txt", &[("Range", "bytes=0-10,5-20")]);
    check(&response, 206);
    assert_eq!(response.header("Content-Range"), Some("bytes 0-20/1000"));
    assert!(response.body == content[..=20]);

    let response = get(&server, "/r.txt", &[("Range", "bytes=0-,0-,0-")]);
    check(&response, 206);
    assert_eq!(response.header("Content-Range"), Some("bytes 0-999/1000"));
    assert!(response.body == content);

    // An abusive range set cannot amplify the response: 200 ranges of the
    // whole file cost no more than the file.
    let abusive = format!("bytes={}", vec!["0-999"; 200].join(","));
    let response = get(&server, "/r.txt", &[("Range", &abusive)]);
    assert!(response.status == 200 || response.status == 206);
    assert!(response.body.len() <= 1000, "{} bytes", response.body.len());
    assert!(response.body == content);
}

#[test]
fn more_ranges_than_max_ranges_get_the_whole_file() {
    let (site, content) = semantics_site();
    let server = TestServer::start(site.path(), "[limits]\nmax_ranges = 2\n");
    let response = get(&server, "/r.txt", &[("Range", "bytes=0-1,5-6,10-11")]);
    check_full(&response, &content);
    let response = get(&server, "/r.txt", &[("Range", "bytes=0-1,5-6")]);
    check(&response, 206);
    assert!(response
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/byteranges"));
    // Ranges that coalesce to two count as two.
    let response = get(&server, "/r.txt", &[("Range", "bytes=0-1,1-2,5-6")]);
    check(&response, 206);
}

#[test]
fn if_range() {
    let (site, content) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let etag = etag_of(&get(&server, "/r.txt", &[]));
    let weak = format!("W/{etag}");
    let last_modified = http_date_secs(OLD_SECS);
    let earlier = http_date_secs(OLD_SECS - 1);
    let partial = [etag.as_str(), last_modified.as_str()];
    let full = [
        "\"an-old-etag\"",
        weak.as_str(),
        earlier.as_str(),
        "garbage",
    ];
    for value in partial {
        let response = get(
            &server,
            "/r.txt",
            &[("Range", "bytes=0-9"), ("If-Range", value)],
        );
        check(&response, 206);
        assert_eq!(response.header("Content-Range"), Some("bytes 0-9/1000"));
        assert!(response.body == content[..10], "If-Range: {value}");
    }
    for value in full {
        let response = get(
            &server,
            "/r.txt",
            &[("Range", "bytes=0-9"), ("If-Range", value)],
        );
        check_full(&response, &content);
    }
}

#[test]
fn range_on_head_is_ignored() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let response = head(&server, "/r.txt", &[("Range", "bytes=0-9")]);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.header("Content-Length"), Some("1000"));
    assert!(response.header("Content-Range").is_none());
    assert_eq!(response.header("Accept-Ranges"), Some("bytes"));
    assert!(response.body.is_empty());
}

#[test]
fn ranges_of_a_large_streamed_file_are_exact() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("big.bin");
    write_large(&path, 5 << 20, 42);
    let content = std::fs::read(&path).unwrap();
    let server = TestServer::start(root.path(), "");
    for (range, start, end) in [
        ("bytes=1000000-4000000", 1_000_000, 4_000_000),
        ("bytes=-300000", content.len() - 300_000, content.len() - 1),
        ("bytes=4194000-", 4_194_000, content.len() - 1),
    ] {
        let response = get(&server, "/big.bin", &[("Range", range)]);
        check(&response, 206);
        assert_eq!(
            response.header("Content-Range"),
            Some(format!("bytes {start}-{end}/{}", content.len()).as_str())
        );
        assert_eq!(response.body.len(), end - start + 1, "{range}");
        let mut got = Fnv::new();
        got.update(&response.body);
        let mut want = Fnv::new();
        want.update(&content[start..=end]);
        assert_eq!(got.0, want.0, "checksum of {range}");
    }
}

#[test]
fn curl_resumes_a_partial_download_exactly() {
    if !require_tool("curl") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let source = root.path().join("download.bin");
    write_large(&source, 3 * (1 << 20) + 12_345, 9);
    let content = std::fs::read(&source).unwrap();
    let server = TestServer::start(root.path(), "");
    let out_dir = tempfile::tempdir().unwrap();
    for already in [1usize, 1_234_567, content.len() - 1] {
        let out = out_dir.path().join(format!("partial-{already}"));
        std::fs::write(&out, &content[..already]).unwrap();
        let result = Command::new("curl")
            .args(["-sS", "-C", "-", "-w", "%{http_code}", "-o"])
            .arg(&out)
            .arg(server.url("/download.bin"))
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&result.stdout),
            "206",
            "curl resumed with a range"
        );
        let resumed = std::fs::read(&out).unwrap();
        assert_eq!(resumed.len(), content.len(), "resumed from {already}");
        assert!(resumed == content, "resumed file differs (from {already})");
    }
}

// ---------------------------------------------------------------------------
// Precompressed sidecars.

const APP_JS: &[u8] = b"console.log('identity');\n";
const APP_JS_GZ: &[u8] = b"GZ-BYTES-of-app.js";
const APP_JS_BR: &[u8] = b"BR-BYTES-of-app.js!!";
const LIB_JS: &[u8] = b"export const lib = 1;\n";
const LIB_JS_ZST: &[u8] = b"ZSTD-BYTES";
const LIB_JS_GZ: &[u8] = b"GZ-of-lib";

fn precompressed_site() -> tempfile::TempDir {
    let dir = site();
    let root = dir.path();
    write(root, "app.js", APP_JS);
    write(root, "app.js.gz", APP_JS_GZ);
    write(root, "app.js.br", APP_JS_BR);
    write(root, "lib.js", LIB_JS);
    write(root, "lib.js.zst", LIB_JS_ZST);
    write(root, "lib.js.gz", LIB_JS_GZ);
    dir
}

fn assert_js_type(response: &Response) {
    let content_type = response.header("Content-Type").unwrap_or("");
    assert!(
        (content_type.starts_with("text/javascript")
            || content_type.starts_with("application/javascript"))
            && content_type.contains("charset="),
        "the .js file's type, not the sidecar's: {content_type}"
    );
}

#[test]
fn precompressed_sidecars_are_negotiated() {
    // From the disk by the pool, and from the hot-file cache by the loop
    // (every request after a file's first is a hit there).
    for config in ["[cache]\nenabled = false\n", ""] {
        negotiate_precompressed(config);
    }
}

fn negotiate_precompressed(config: &str) {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), config);
    // (path, Accept-Encoding, expected Content-Encoding, expected bytes)
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);
    let cases: &[Case] = &[
        ("/app.js", Some("gzip"), Some("gzip"), APP_JS_GZ),
        ("/app.js", Some("br, gzip"), Some("br"), APP_JS_BR),
        ("/app.js", Some("gzip, br"), Some("br"), APP_JS_BR),
        (
            "/app.js",
            Some("gzip;q=1, br;q=0.5"),
            Some("gzip"),
            APP_JS_GZ,
        ),
        ("/app.js", Some("br;q=0, gzip"), Some("gzip"), APP_JS_GZ),
        ("/app.js", Some("x-gzip"), Some("gzip"), APP_JS_GZ),
        ("/app.js", None, None, APP_JS),
        ("/app.js", Some(""), None, APP_JS),
        ("/app.js", Some("identity"), None, APP_JS),
        ("/app.js", Some("gzip;q=0, br;q=0"), None, APP_JS),
        ("/app.js", Some("*"), Some("br"), APP_JS_BR),
        ("/app.js", Some("*;q=0.5, br;q=0"), Some("gzip"), APP_JS_GZ),
        ("/app.js", Some("zstd"), None, APP_JS),
        ("/app.js", Some("deflate"), None, APP_JS),
        ("/lib.js", Some("zstd"), Some("zstd"), LIB_JS_ZST),
        ("/lib.js", Some("zstd, gzip"), Some("zstd"), LIB_JS_ZST),
        ("/lib.js", Some("gzip"), Some("gzip"), LIB_JS_GZ),
        ("/lib.js", Some("br"), None, LIB_JS),
    ];
    for &(path, accept, coding, bytes) in cases {
        let headers: Vec<(&str, &str)> = accept
            .map(|a| vec![("Accept-Encoding", a)])
            .unwrap_or_default();
        let response = get(&server, path, &headers);
        check_full(&response, bytes);
        assert_eq!(
            response.header("Content-Encoding"),
            coding,
            "{path} Accept-Encoding: {accept:?} with {config:?}"
        );
        assert_js_type(&response);
        assert_eq!(
            response.header("Vary"),
            Some("Accept-Encoding"),
            "{path} {accept:?}: Vary on every response of a file with variants"
        );
        assert_eq!(response.header("Accept-Ranges"), Some("bytes"));
    }
}

#[test]
fn each_precompressed_variant_has_its_own_etag() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "");
    let identity = etag_of(&get(&server, "/app.js", &[]));
    let gzip = etag_of(&get(&server, "/app.js", &[("Accept-Encoding", "gzip")]));
    let br = etag_of(&get(&server, "/app.js", &[("Accept-Encoding", "br")]));
    assert_ne!(identity, gzip);
    assert_ne!(identity, br);
    assert_ne!(gzip, br);
    for tag in [&identity, &gzip, &br] {
        assert!(tag.starts_with('"'), "strong: {tag}");
    }
    // The tag is stable for the same selection.
    assert_eq!(
        gzip,
        etag_of(&get(&server, "/app.js", &[("Accept-Encoding", "gzip")]))
    );
    // A cache holding the identity copy does not get a 304 for gzip...
    let response = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &identity)],
    );
    check_full(&response, APP_JS_GZ);
    // ...but one holding both gets a 304 naming the gzip variant.
    let both = format!("{identity}, {gzip}");
    let response = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &both)],
    );
    check_not_modified(&response);
    assert_eq!(response.header("ETag"), Some(gzip.as_str()));
}

#[test]
fn variant_206_and_304_carry_vary_and_the_variant_etag() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "");
    let full = get(&server, "/app.js", &[("Accept-Encoding", "gzip")]);
    check_full(&full, APP_JS_GZ);
    let gzip_tag = etag_of(&full);

    // A range applies to the representation sent (the .gz bytes).
    let partial = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-3")],
    );
    check(&partial, 206);
    assert_eq!(
        partial.header("Content-Range"),
        Some(format!("bytes 0-3/{}", APP_JS_GZ.len()).as_str())
    );
    assert_eq!(partial.body, &APP_JS_GZ[..4]);
    assert_eq!(partial.header("Content-Encoding"), Some("gzip"));
    assert_eq!(partial.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(partial.header("ETag"), Some(gzip_tag.as_str()));
    assert_js_type(&partial);

    // If-Range with the variant's tag honours the range.
    let partial = get(
        &server,
        "/app.js",
        &[
            ("Accept-Encoding", "gzip"),
            ("Range", "bytes=-2"),
            ("If-Range", &gzip_tag),
        ],
    );
    check(&partial, 206);
    assert_eq!(partial.body, &APP_JS_GZ[APP_JS_GZ.len() - 2..]);

    for method in ["GET", "HEAD"] {
        let not_modified = fetch(
            &server,
            method,
            "/app.js",
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &gzip_tag)],
        );
        check_not_modified(&not_modified);
        assert_eq!(not_modified.header("Vary"), Some("Accept-Encoding"));
        assert_eq!(not_modified.header("ETag"), Some(gzip_tag.as_str()));
        assert_eq!(
            not_modified.header("Cache-Control"),
            full.header("Cache-Control")
        );
        assert_eq!(
            not_modified.header("Last-Modified"),
            full.header("Last-Modified")
        );
    }

    // The identity representation's 304 carries Vary too.
    let identity_tag = etag_of(&get(&server, "/app.js", &[]));
    let not_modified = get(&server, "/app.js", &[("If-None-Match", &identity_tag)]);
    check_not_modified(&not_modified);
    assert_eq!(not_modified.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(not_modified.header("ETag"), Some(identity_tag.as_str()));

    // A 416 on the variant is computed against the variant's length.
    let too_far = format!("bytes={}-", APP_JS_GZ.len());
    let response = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", &too_far)],
    );
    check(&response, 416);
    assert_eq!(
        response.header("Content-Range"),
        Some(format!("bytes */{}", APP_JS_GZ.len()).as_str())
    );
}

#[test]
fn files_without_sidecars_have_no_vary() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "");
    for accept in [None, Some("gzip, br, zstd"), Some("*")] {
        let headers: Vec<(&str, &str)> = accept
            .map(|a| vec![("Accept-Encoding", a)])
            .unwrap_or_default();
        let response = get(&server, "/hello.txt", &headers);
        check_full(&response, HELLO);
        assert!(response.header("Vary").is_none(), "{}", response.head);
        assert!(response.header("Content-Encoding").is_none());
    }
}

#[test]
fn precompressed_can_be_turned_off() {
    let site = precompressed_site();
    let server = TestServer::start(site.path(), "[http]\nprecompressed = false\n");
    for accept in ["gzip", "br, gzip", "*", "zstd"] {
        for path in ["/app.js", "/lib.js"] {
            let response = get(&server, path, &[("Accept-Encoding", accept)]);
            check(&response, 200);
            let expected = if path == "/app.js" { APP_JS } else { LIB_JS };
            assert_eq!(response.body, expected);
            assert!(response.header("Content-Encoding").is_none());
            assert!(response.header("Vary").is_none(), "{}", response.head);
        }
    }
}

// ---------------------------------------------------------------------------
// Cache-Control and header rules.

#[test]
fn default_cache_control_is_no_cache_except_on_errors() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let file = get(&server, "/hello.txt", &[]);
    check_full(&file, HELLO);
    assert_eq!(file.header("Cache-Control"), Some("no-cache"));
    let partial = get(&server, "/r.txt", &[("Range", "bytes=0-0")]);
    check(&partial, 206);
    assert_eq!(partial.header("Cache-Control"), Some("no-cache"));
    let listing = get(&server, "/empty/", &[]);
    check(&listing, 200);
    assert_eq!(listing.header("Cache-Control"), Some("no-cache"));
    let json = get(&server, "/empty/", &[("Accept", "application/json")]);
    check(&json, 200);
    assert_eq!(json.header("Cache-Control"), Some("no-cache"));
    for (target, status) in [("/missing", 404), ("/.secret", 404)] {
        let error = get(&server, target, &[]);
        check(&error, status);
        assert!(error.header("Cache-Control").is_none(), "{}", error.head);
    }
    let error = get(&server, "/r.txt", &[("Range", "bytes=5000-")]);
    check(&error, 416);
    assert!(error.header("Cache-Control").is_none(), "{}", error.head);
}

#[test]
fn configured_default_cache_control() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "[http]\ncache_control = \"max-age=60\"\n");
    for target in ["/hello.txt", "/", "/empty/"] {
        let response = get(&server, target, &[]);
        check(&response, 200);
        assert_eq!(
            response.header("Cache-Control"),
            Some("max-age=60"),
            "{target}"
        );
        assert_eq!(count_headers(&response, "Cache-Control"), 1);
    }
}

#[test]
fn cache_control_rules_apply_by_pattern() {
    let (site, _) = semantics_site();
    write(site.path(), "assets/x.css", b"a{}\n");
    write(site.path(), "assets/deep/y.js", b"1\n");
    write(site.path(), "x.css", b"b{}\n");
    write(site.path(), "assetsx/x.css", b"c{}\n");
    let server = TestServer::start(
        site.path(),
        "[[http.rules]]\nmatch = \"/assets/**\"\ncache_control = \"public, max-age=31536000, immutable\"\n",
    );
    let immutable = Some("public, max-age=31536000, immutable");
    for (target, expected) in [
        ("/assets/x.css", immutable),
        ("/assets/deep/y.js", immutable),
        ("/x.css", Some("no-cache")),
        ("/assetsx/x.css", Some("no-cache")),
        ("/hello.txt", Some("no-cache")),
    ] {
        let response = get(&server, target, &[]);
        check(&response, 200);
        assert_eq!(response.header("Cache-Control"), expected, "{target}");
        assert_eq!(count_headers(&response, "Cache-Control"), 1, "{target}");
    }
    // 304 and 206 of a matching path carry the rule's value too.
    let etag = etag_of(&get(&server, "/assets/x.css", &[]));
    let not_modified = get(&server, "/assets/x.css", &[("If-None-Match", &etag)]);
    check_not_modified(&not_modified);
    assert_eq!(not_modified.header("Cache-Control"), immutable);
    let partial = get(&server, "/assets/x.css", &[("Range", "bytes=0-0")]);
    check(&partial, 206);
    assert_eq!(partial.header("Cache-Control"), immutable);
}

const HEADER_RULE: &str = "[[http.rules]]\nmatch = \"*\"\nheaders = { \"Access-Control-Allow-Origin\" = \"*\", \"X-Content-Type-Options\" = \"nosniff\" }\n";

fn assert_rule_headers(response: &Response, what: &str) {
    assert_eq!(
        response.header("Access-Control-Allow-Origin"),
        Some("*"),
        "{what}: {}",
        response.head
    );
    assert_eq!(
        response.header("X-Content-Type-Options"),
        Some("nosniff"),
        "{what}: {}",
        response.head
    );
    assert_eq!(count_headers(response, "Access-Control-Allow-Origin"), 1);
}

#[test]
fn header_rules_apply_to_every_response() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), HEADER_RULE);
    let etag = etag_of(&get(&server, "/hello.txt", &[]));
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, &str, Headers, u16)> = vec![
        ("GET", "/hello.txt", vec![], 200),
        ("HEAD", "/hello.txt", vec![], 200),
        ("GET", "/", vec![], 200),
        ("GET", "/empty/", vec![], 200),
        ("GET", "/empty", vec![], 301),
        ("GET", "/missing.txt", vec![], 404),
        ("HEAD", "/missing.txt", vec![], 404),
        ("GET", "/sub/nope/deeper.css", vec![], 404),
        ("GET", "/hello.txt", vec![("If-None-Match", &etag)], 304),
        ("GET", "/r.txt", vec![("Range", "bytes=0-0")], 206),
        ("GET", "/r.txt", vec![("Range", "bytes=0-0,5-5")], 206),
        ("GET", "/r.txt", vec![("Range", "bytes=9999-")], 416),
        ("GET", "/hello.txt", vec![("If-Match", "\"x\"")], 412),
        ("POST", "/hello.txt", vec![("Content-Length", "0")], 405),
    ];
    for (method, target, headers, status) in cases {
        let response = fetch(&server, method, target, &headers);
        check(&response, status);
        assert_rule_headers(&response, &format!("{method} {target} {headers:?}"));
    }
}

#[test]
fn header_rules_apply_to_options() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), HEADER_RULE);
    let response = fetch(
        &server,
        "OPTIONS",
        "/hello.txt",
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    check(&response, 204);
    assert_rule_headers(&response, "OPTIONS /hello.txt (a CORS preflight)");
}

#[test]
fn a_later_rule_overrides_an_earlier_one() {
    let (site, _) = semantics_site();
    write(site.path(), "assets/a.css", b"a{}\n");
    let toml = "[http]\ncache_control = \"max-age=5\"\n\
        [[http.rules]]\nmatch = \"*\"\ncache_control = \"max-age=1\"\nheaders = { \"X-Which\" = \"first\", \"X-Only-First\" = \"yes\" }\n\
        [[http.rules]]\nmatch = \"*.css\"\ncache_control = \"max-age=2\"\nheaders = { \"X-Which\" = \"second\" }\n\
        [[http.rules]]\nmatch = \"/assets/**\"\nheaders = { \"x-which\" = \"third\" }\n";
    let server = TestServer::start(site.path(), toml);
    let txt = get(&server, "/hello.txt", &[]);
    check(&txt, 200);
    assert_eq!(txt.header("Cache-Control"), Some("max-age=1"));
    assert_eq!(txt.header("X-Which"), Some("first"));
    assert_eq!(txt.header("X-Only-First"), Some("yes"));

    write(site.path(), "b.css", b"b{}\n");
    let css = get(&server, "/b.css", &[]);
    check(&css, 200);
    assert_eq!(css.header("Cache-Control"), Some("max-age=2"));
    assert_eq!(css.header("X-Which"), Some("second"));
    assert_eq!(count_headers(&css, "X-Which"), 1, "{}", css.head);
    assert_eq!(css.header("X-Only-First"), Some("yes"));

    // A rule without cache_control keeps the earlier value; a header name
    // is replaced case-insensitively.
    let asset = get(&server, "/assets/a.css", &[]);
    check(&asset, 200);
    assert_eq!(asset.header("Cache-Control"), Some("max-age=2"));
    assert_eq!(asset.header("X-Which"), Some("third"));
    assert_eq!(count_headers(&asset, "X-Which"), 1, "{}", asset.head);
}

// ---------------------------------------------------------------------------
// Directory listings.

/// The link texts of a listing's rows, in order (the parent row and the
/// column headers excluded).
fn listing_rows(html: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<a href=\"./") {
        rest = &rest[at..];
        let text_start = rest.find("\">").unwrap() + 2;
        let text_end = rest[text_start..].find("</a>").unwrap() + text_start;
        rows.push(rest[text_start..text_end].to_string());
        rest = &rest[text_end..];
    }
    rows
}

/// The hrefs of a listing's rows, in order.
fn listing_hrefs(html: &str) -> Vec<String> {
    html.split("<a href=\"./")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

fn sort_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Sizes: a 30 > c 20 > b 10. Times: b < c < a.
    write_at(
        root,
        "list/a.txt",
        &[b'a'; 30],
        old_time() + Duration::from_secs(300),
    );
    write_at(
        root,
        "list/b.txt",
        &[b'b'; 10],
        old_time() + Duration::from_secs(100),
    );
    write_at(
        root,
        "list/c.txt",
        &[b'c'; 20],
        old_time() + Duration::from_secs(200),
    );
    std::fs::create_dir_all(root.join("list/d1")).unwrap();
    std::fs::create_dir_all(root.join("list/d2")).unwrap();
    dir
}

#[test]
fn listings_sort_by_name_size_and_time() {
    let site = sort_site();
    let server = TestServer::start(site.path(), "");
    let dirs = |rows: &[String]| {
        let mut first: Vec<String> = rows[..2].to_vec();
        first.sort();
        assert_eq!(first, ["d1/", "d2/"], "directories first: {rows:?}");
    };
    let cases: &[(&str, &[&str])] = &[
        ("", &["a.txt", "b.txt", "c.txt"]),
        ("?sort=name", &["a.txt", "b.txt", "c.txt"]),
        ("?sort=size&order=desc", &["a.txt", "c.txt", "b.txt"]),
        ("?sort=size", &["b.txt", "c.txt", "a.txt"]),
        ("?sort=time", &["b.txt", "c.txt", "a.txt"]),
        ("?order=desc&sort=time", &["a.txt", "c.txt", "b.txt"]),
        ("?sort=name&order=desc", &["c.txt", "b.txt", "a.txt"]),
        ("?sort=bogus&order=sideways", &["a.txt", "b.txt", "c.txt"]),
    ];
    for &(query, files) in cases {
        let response = get(&server, &format!("/list/{query}"), &[]);
        check(&response, 200);
        let rows = listing_rows(&response.text());
        assert_eq!(rows.len(), 5, "{query}: {rows:?}");
        dirs(&rows);
        assert_eq!(&rows[2..], files, "{query}");
    }
    // By name descending, the directories are in descending order too.
    let response = get(&server, "/list/?sort=name&order=desc", &[]);
    assert_eq!(
        listing_rows(&response.text()),
        ["d2/", "d1/", "c.txt", "b.txt", "a.txt"]
    );
    // A listing has a parent link, except at the root.
    assert!(response.text().contains("href=\"../\""));
    let root = get(&server, "/", &[]);
    check(&root, 200);
    assert!(!root.text().contains("href=\"../\""));
    // The JSON listing sorts the same way.
    let json = get(
        &server,
        "/list/?sort=size&order=desc",
        &[("Accept", "application/json")],
    );
    let doc = parse_json(&json.body);
    let names: Vec<&str> = entries(&doc).iter().map(name).collect();
    assert_eq!(&names[2..], ["a.txt", "c.txt", "b.txt"]);
}

#[test]
fn listings_as_json() {
    let site = sort_site();
    let server = TestServer::start(site.path(), "");
    let html = get(&server, "/list/", &[]);
    check(&html, 200);
    assert_eq!(
        html.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(html.header("Vary"), Some("Accept"));

    let response = get(&server, "/list/", &[("Accept", "application/json")]);
    check(&response, 200);
    let content_type = response.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(response.header("Vary"), Some("Accept"));
    let doc = parse_json(&response.body);
    assert_eq!(keys(&doc), ["path", "entries", "omitted"]);
    assert_eq!(doc["path"], "/list/");
    assert_eq!(doc["omitted"], 0);
    let entries = entries(&doc);
    assert_eq!(entries.len(), 5);
    for entry in entries {
        assert_eq!(keys(entry), ["name", "type", "size", "modified"]);
    }
    let find = |wanted: &str| {
        entries
            .iter()
            .find(|e| name(e) == wanted)
            .unwrap_or_else(|| panic!("{wanted} listed"))
    };
    let b = find("b.txt");
    assert_eq!(b["type"], "file");
    assert_eq!(b["size"], 10);
    // 2001-09-09T01:46:40Z + 100 s.
    assert_eq!(b["modified"], "2001-09-09T01:48:20Z");
    assert_eq!(find("d1")["type"], "directory");

    // A browser's Accept gets HTML; a JSON-preferring one gets JSON.
    let browser = get(
        &server,
        "/list/",
        &[(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )],
    );
    assert!(browser
        .header("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    let json = get(
        &server,
        "/list/",
        &[("Accept", "application/json, text/html;q=0.5")],
    );
    assert!(json
        .header("Content-Type")
        .unwrap()
        .starts_with("application/json"));
    // HEAD of the JSON listing: same length, no body.
    let head_response = head(&server, "/list/", &[("Accept", "application/json")]);
    check(&head_response, 200);
    assert!(head_response.body.is_empty());
    assert_eq!(
        head_response.header("Content-Length"),
        response.header("Content-Length")
    );
}

#[test]
fn listing_names_are_escaped_and_their_links_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let xss = "<img src=x onerror=alert(1)>.txt";
    let names = [
        xss,
        "quo\"te.txt",
        "back\\slash.txt",
        "amp&ersand 100%.txt",
        "tab\there.txt",
        "new\nline.txt",
        "caf\u{e9} \u{1f600}.txt",
        "it's.txt",
    ];
    for (i, name) in names.iter().enumerate() {
        write(
            root,
            &format!("esc/{name}"),
            format!("file {i}\n").as_bytes(),
        );
    }
    let server = TestServer::start(root, "");

    // JSON: every name round-trips exactly, and no raw `<` appears.
    let response = get(&server, "/esc/", &[("Accept", "application/json")]);
    check(&response, 200);
    assert!(!response.body.contains(&b'<'), "`<` is escaped in JSON");
    let doc = parse_json(&response.body);
    let mut listed: Vec<String> = entries(&doc).iter().map(|e| name(e).to_string()).collect();
    listed.sort();
    // Names wharf refuses to serve (backslash, control characters) are not
    // listed: their links could not work.
    let refused = |n: &&str| n.contains(['\\', '\t', '\n']);
    let mut expected: Vec<String> = names
        .iter()
        .filter(|n| !refused(n))
        .map(|n| n.to_string())
        .collect();
    expected.sort();
    assert_eq!(listed, expected);

    // HTML: escaped text, and the XSS file's link serves it.
    let response = get(&server, "/esc/", &[]);
    check(&response, 200);
    let html = response.text();
    assert!(!html.contains("<img"), "markup injected");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert!(html.contains("quo&quot;te.txt"));
    assert!(html.contains("amp&amp;ersand 100%.txt"));
    let hrefs = listing_hrefs(&html);
    assert_eq!(hrefs.len(), expected.len());
    for href in &hrefs {
        assert!(
            !href.contains(['<', '>', '"', ' ']),
            "href is percent-encoded: {href}"
        );
    }
    let rows = listing_rows(&html);
    let xss_index = rows
        .iter()
        .position(|r| r.contains("&lt;img"))
        .expect("the XSS file is listed");
    let linked = get(&server, &format!("/esc/{}", hrefs[xss_index]), &[]);
    check(&linked, 200);
    let xss_number = names.iter().position(|n| *n == xss).unwrap();
    assert_eq!(linked.text(), format!("file {xss_number}\n"));
    // Every other listed name's link works too.
    for href in &hrefs {
        let response = get(&server, &format!("/esc/{href}"), &[]);
        check(&response, 200);
        assert!(response.text().starts_with("file "), "{href}");
    }
}

#[test]
fn every_listed_file_can_be_fetched_through_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "back\\slash.txt",
        "a:b.txt",
        "trailing.",
        "trailing ",
        "plain.txt",
    ];
    for name in names {
        write(dir.path(), &format!("d/{name}"), b"content\n");
    }
    let server = TestServer::start(dir.path(), "");
    let html = get(&server, "/d/", &[]).text();
    let hrefs = listing_hrefs(&html);
    // Names the path rules refuse (Windows aliases) are left out of the
    // listing; the plain one is listed.
    assert_eq!(hrefs, ["plain.txt"], "only servable names are listed");
    let failures: Vec<String> = hrefs
        .iter()
        .filter_map(|href| {
            let response = get(&server, &format!("/d/{href}"), &[]);
            (response.status != 200 || response.body != b"content\n")
                .then(|| format!("/d/{href} -> {}", response.status))
        })
        .collect();
    assert!(failures.is_empty(), "listed but not served: {failures:?}");
}

#[test]
fn hidden_files_stay_hidden_in_listings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d/visible.txt", b"v\n");
    write(dir.path(), "d/.env", b"SECRET=1\n");
    write(dir.path(), "d/.git/config", b"[core]\n");
    let names = |server: &TestServer| -> Vec<String> {
        let json = get(server, "/d/", &[("Accept", "application/json")]);
        check(&json, 200);
        let doc = parse_json(&json.body);
        let mut names: Vec<String> = entries(&doc).iter().map(|e| name(e).to_string()).collect();
        names.sort();
        names
    };
    let server = TestServer::start(dir.path(), "");
    assert_eq!(names(&server), ["visible.txt"]);
    let html = get(&server, "/d/", &[]).text();
    assert!(!html.contains(".env") && !html.contains(".git"), "{html}");
    drop(server);

    let server = TestServer::start(dir.path(), "[http]\nhidden_files = true\n");
    assert_eq!(names(&server), [".env", ".git", "visible.txt"]);
    let html = get(&server, "/d/", &[]).text();
    assert!(html.contains(".env") && html.contains(".git/"));
}

#[test]
fn a_directory_of_100000_entries_is_listed_bounded_and_does_not_stall() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    let started = Instant::now();
    for i in 0..100_000 {
        File::create(big.join(format!("f{i:06}"))).unwrap();
    }
    // The last one by name is the largest: it must lead a size-descending
    // listing although a name-ordered one leaves it out.
    std::fs::write(big.join("f099999"), b"largest").unwrap();
    eprintln!("created 100,000 files in {:?}", started.elapsed());
    write(dir.path(), "small.txt", b"small\n");
    let server = TestServer::start(dir.path(), "");

    // The listing runs on one thread while small requests go on another.
    let addr = server.addr;
    let listing = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
            .write_all(b"GET /big/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        Reply {
            response: split_response(&read_to_close(&mut stream)),
            to_head: false,
        }
    });
    for _ in 0..10 {
        let small = get(&server, "/small.txt", &[]);
        check_full(&small, b"small\n");
    }
    let response = listing.join().unwrap();
    check(&response, 200);
    let html = response.text();
    let rows = listing_rows(&html);
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[0], "f000000");
    assert_eq!(rows[9_999], "f009999");
    assert!(html.contains("90000 more entries not shown"), "the note");

    let response = get(&server, "/big/?sort=size&order=desc", &[]);
    check(&response, 200);
    let rows = listing_rows(&response.text());
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[0], "f099999", "the sort applies before the cut");

    let response = get(&server, "/big/", &[("Accept", "application/json")]);
    check(&response, 200);
    let doc = parse_json(&response.body);
    assert_eq!(entries(&doc).len(), 10_000);
    assert_eq!(doc["omitted"], 90_000);
    eprintln!("whole test took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// Custom error pages.

const PAGE_404: &[u8] = b"<!doctype html><title>lost</title>custom not found page\n";
const PAGE_405: &[u8] = b"custom: method not allowed\n";

#[test]
fn custom_error_pages() {
    let (site, _) = semantics_site();
    write(site.path(), "errors/404.html", PAGE_404);
    write(site.path(), "errors/405.txt", PAGE_405);
    let server = TestServer::start(
        site.path(),
        "[http.error_pages]\n404 = \"/errors/404.html\"\n405 = \"errors/405.txt\"\n",
    );
    for target in ["/missing.html", "/sub/deep/missing", "/.secret"] {
        let response = get(&server, target, &[]);
        check(&response, 404);
        assert_eq!(response.body, PAGE_404, "{target}");
        assert_eq!(
            response.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert!(response.header("ETag").is_none());
        assert!(response.header("Cache-Control").is_none());
    }
    // The page itself is still served normally.
    check_full(&get(&server, "/errors/404.html", &[]), PAGE_404);

    let response = fetch(&server, "DELETE", "/hello.txt", &[("Content-Length", "0")]);
    check(&response, 405);
    assert_eq!(response.body, PAGE_405);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8"),
        "the page file's type"
    );
    assert_eq!(response.header("Allow"), Some("GET, HEAD, OPTIONS"));

    // HEAD of a missing file: 404 without a body.
    let response = head(&server, "/missing.html", &[]);
    assert_eq!(response.status, 404);
    assert!(response.body.is_empty());

    // Statuses without a configured page keep the built-in one.
    let response = get(&server, "/r.txt", &[("Range", "bytes=5000-")]);
    check(&response, 416);
    assert!(response.text().contains("416"));
}

#[test]
fn head_of_a_custom_error_page_has_the_get_headers() {
    let (site, _) = semantics_site();
    write(
        site.path(),
        "errors/404.txt",
        b"custom 404 page, in plain text\n",
    );
    let server = TestServer::start(
        site.path(),
        "[http.error_pages]\n404 = \"/errors/404.txt\"\n",
    );
    let got = get(&server, "/missing", &[]);
    check(&got, 404);
    let headed = head(&server, "/missing", &[]);
    assert_eq!(headed.status, 404);
    assert!(headed.body.is_empty());
    assert_eq!(
        headed.header("Content-Length"),
        got.header("Content-Length")
    );
    assert_eq!(headed.header("Content-Type"), got.header("Content-Type"));
}

#[test]
fn a_missing_error_page_falls_back_to_the_built_in_page() {
    let (site, _) = semantics_site();
    let server = TestServer::start(
        site.path(),
        "[http.error_pages]\n404 = \"/errors/nope.html\"\n",
    );
    let response = get(&server, "/missing", &[]);
    check(&response, 404);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let text = response.text();
    assert!(text.contains("404") && text.contains("<html"), "{text}");
    // And the connection logic is unchanged: a keep-alive 404 keeps it.
    let mut stream = server.connect();
    stream
        .write_all(
            b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let first = read_response(&mut stream, false).expect("404");
    assert_eq!(first.status, 404);
    let second = read_response(&mut stream, false).expect("200 after the 404");
    assert_eq!(second.status, 200);
    assert_eq!(second.body, HELLO);
}

// ---------------------------------------------------------------------------
// OPTIONS and Allow.

#[test]
fn options_is_204_with_allow_and_keeps_the_connection() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    for target in ["*", "/hello.txt", "/", "/missing"] {
        stream
            .write_all(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let response = read_response(&mut stream, true).expect("a response to OPTIONS");
        assert_eq!(response.status, 204, "OPTIONS {target}: {}", response.head);
        assert_eq!(response.header("Allow"), Some("GET, HEAD, OPTIONS"));
        assert!(
            response.header("Content-Length").is_none(),
            "{}",
            response.head
        );
        assert!(response.header("Transfer-Encoding").is_none());
        assert!(response.header("Connection").is_none(), "{}", response.head);
        // The connection is still usable, and no body bytes were sent: the
        // next response starts right after the head.
        stream
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let next = read_response(&mut stream, false).expect("GET after OPTIONS");
        assert_eq!(next.status, 200, "after OPTIONS {target}");
        assert_eq!(next.body, HELLO);
    }
}

#[test]
fn method_not_allowed_carries_allow() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response = fetch(&server, method, "/hello.txt", &[("Content-Length", "0")]);
        check(&response, 405);
        assert_eq!(
            response.header("Allow"),
            Some("GET, HEAD, OPTIONS"),
            "{method}"
        );
    }
}

#[test]
fn listings_have_a_validator_and_answer_304() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d/a.txt", b"a\n");
    let server = TestServer::start(dir.path(), "");
    let first = get(&server, "/d/", &[]);
    check(&first, 200);
    let etag = first.header("ETag").expect("a listing ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    // The JSON variant is another representation with another tag.
    let json = get(&server, "/d/", &[("Accept", "application/json")]);
    assert_ne!(json.header("ETag"), Some(etag.as_str()));
    // Revalidation: 304 without a body, same tag, Vary kept.
    let again = get(&server, "/d/", &[("If-None-Match", &etag)]);
    check(&again, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("ETag"), Some(etag.as_str()));
    assert_eq!(again.header("Vary"), Some("Accept"));
    // A new entry changes the listing, hence the tag.
    write(dir.path(), "d/b.txt", b"b\n");
    let changed = get(&server, "/d/", &[("If-None-Match", &etag)]);
    check(&changed, 200);
    assert_ne!(changed.header("ETag"), Some(etag.as_str()));
}
