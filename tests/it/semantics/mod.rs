//! HTTP semantics of the real `wharf` binary over real sockets (issue 3):
//! validators, conditional requests, byte ranges (single, multipart,
//! `If-Range`, large streamed ranges, `curl -C -`), precompressed sidecars,
//! `Cache-Control` and header rules, directory listings (sorting, JSON,
//! escaping, hidden files, 100,000 entries), custom error pages and OPTIONS.
//!
//! One submodule per topic. This file holds what they share: the site
//! with known file times ([`semantics_site`]), requests read to EOF
//! ([`fetch`], [`get`], [`head`]) and the checks of what came back
//! ([`check`], [`check_full`], [`check_not_modified`]).

mod conditional;
mod error_pages;
mod listings;
mod options;
mod ranges;
mod rules;
mod sidecars;
mod validators;

use crate::harness::*;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let raw = request_text(method, target, headers);
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

/// A 304: no body, no `Content-Length`, no `Transfer-Encoding`, and no
/// other representation metadata (RFC 9110 section 15.4.5; see
/// `not_modified.rs`).
fn check_not_modified(response: &Response) {
    assert_eq!(response.status, 304, "{}", response.head);
    assert!(response.body.is_empty(), "a 304 has no body");
    for name in [
        "Content-Length",
        "Transfer-Encoding",
        "Content-Type",
        "Content-Encoding",
        "Accept-Ranges",
    ] {
        assert!(response.header(name).is_none(), "{name}: {}", response.head);
    }
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
