//! What a `304 Not Modified` carries (issue 16, defect 4): what RFC 9110
//! section 15.4.5 lists (`ETag`, `Last-Modified`, `Vary`, `Cache-Control`,
//! `Date`, and the rule headers, `Expires` among them, that a cache merges
//! into what it stored) and no representation metadata: no
//! `Content-Type`, `Content-Length`, `Content-Encoding`, `Accept-Ranges`.
//! apt's http method reads a `Content-Type` without a length as a body
//! that runs to the close, and reconnected after every 304.
//!
//! Every path that answers 304 is checked over a raw socket, for GET and
//! HEAD: a file from the pool (cache off), the same file hot (answered by
//! the loop from the cache: the hit counter must move), a sidecar from
//! both, and a directory listing.

use crate::harness::*;

use std::io::Write;
use std::net::TcpStream;

/// Rule headers: two that belong on a 304, one (`Content-Language`,
/// representation metadata) that does not.
const RULES: &str = "[[http.rules]]\nmatch = \"*\"\nheaders = { \"Access-Control-Allow-Origin\" = \"*\", \"Expires\" = \"Thu, 01 Dec 2094 16:00:00 GMT\", \"Content-Language\" = \"en\" }\n";

/// Cache on, with the metrics listener whose hit counter tells a hit.
const HOT: &str = "[metrics]\nlisten = \"127.0.0.1:0\"\n[cache]\nrevalidate_secs = 3600\n";
const COLD: &str = "[cache]\nenabled = false\n";

/// The header names a 304 may carry here; `Connection` only as `close`.
const ALLOWED: &[&str] = &[
    "server",
    "date",
    "etag",
    "last-modified",
    "vary",
    "cache-control",
    "expires",
    "access-control-allow-origin",
    "connection",
];

fn fixture() -> tempfile::TempDir {
    let site = site();
    write(site.path(), "app.js", b"console.log('identity');\n");
    write(site.path(), "app.js.gz", b"GZ-BYTES-of-app.js");
    site
}

fn cache_hits(server: &TestServer) -> u64 {
    sample(
        &scrape(&metrics_addr(server), "/metrics").text(),
        "wharf_cache_hits_total",
    )
}

/// Sends one request on `stream` and reads its response (a 304's or a
/// HEAD's without a body).
fn send(stream: &mut TcpStream, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    stream.write_all(raw.as_bytes()).unwrap();
    read_response(stream, method == "HEAD").expect("a response")
}

/// A 304 with exactly the allowed fields, the validators of `full` (the
/// 200 of the same representation), and its `Vary` and `Cache-Control`.
fn assert_bare_304(response: &Response, full: &Response, what: &str) {
    assert_eq!(response.status, 304, "{what}: {}", response.head);
    for (name, _) in &response.headers {
        assert!(
            ALLOWED.contains(&name.to_ascii_lowercase().as_str()),
            "{what}: a 304 carries {name}: {}",
            response.head
        );
    }
    for name in ["ETag", "Last-Modified", "Vary", "Cache-Control", "Expires"] {
        assert_eq!(
            response.header(name),
            full.header(name),
            "{what}: {name}: {}",
            response.head
        );
    }
    assert!(response.header("Date").is_some(), "{what}");
    assert_eq!(response.header("Connection"), None, "{what}: kept open");
}

/// Revalidates `target` with `headers` (plus `If-None-Match` with the
/// tag of its 200), by GET and HEAD, and then fetches it whole on the same
/// connection: the 304s must leave it usable, as apt pipelines.
fn revalidate(server: &TestServer, target: &str, headers: &[(&str, &str)], what: &str) {
    let mut stream = server.connect();
    let full = send(&mut stream, "GET", target, headers);
    assert_eq!(full.status, 200, "{what}: {}", full.head);
    let etag = full.header("ETag").expect("an ETag").to_string();
    let mut conditional = headers.to_vec();
    conditional.push(("If-None-Match", &etag));
    for method in ["GET", "HEAD"] {
        let response = send(&mut stream, method, target, &conditional);
        assert_bare_304(&response, &full, &format!("{what}, {method}"));
    }
    if let Some(last_modified) = full.header("Last-Modified") {
        let mut by_date = headers.to_vec();
        by_date.push(("If-Modified-Since", last_modified));
        let response = send(&mut stream, "GET", target, &by_date);
        assert_bare_304(&response, &full, &format!("{what}, If-Modified-Since"));
    }
    let again = send(&mut stream, "GET", target, headers);
    assert_eq!(again.status, 200, "{what}: the connection survived");
    assert_eq!(again.body, full.body, "{what}");
}

#[test]
fn a_304_from_the_pool_carries_no_representation_metadata() {
    let site = fixture();
    let server = TestServer::start(site.path(), &format!("{COLD}{RULES}"));
    revalidate(&server, "/hello.txt", &[], "file");
    revalidate(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip")],
        "sidecar",
    );
    revalidate(&server, "/app.js", &[], "file with a sidecar");
}

#[test]
fn a_304_from_the_cache_carries_no_representation_metadata() {
    let site = fixture();
    let server = TestServer::start(site.path(), &format!("{HOT}{RULES}"));
    for (target, headers, what) in [
        ("/hello.txt", &[][..], "hot file"),
        ("/app.js", &[("Accept-Encoding", "gzip")][..], "hot sidecar"),
        ("/", &[][..], "hot index file"),
    ] {
        // Warm until a request is a hit, then count the 304's hits too.
        let warm = eventually(std::time::Duration::from_secs(10), || {
            let hits = cache_hits(&server);
            let mut stream = server.connect();
            assert_eq!(send(&mut stream, "GET", target, headers).status, 200);
            cache_hits(&server) > hits
        });
        assert!(warm, "{target} never came from the cache");
        let hits = cache_hits(&server);
        revalidate(&server, target, headers, what);
        assert!(
            cache_hits(&server) >= hits + 4,
            "{what}: answered by the cache"
        );
    }
}

#[test]
fn a_listing_304_carries_no_representation_metadata() {
    let site = fixture();
    for config in [COLD, HOT] {
        let server = TestServer::start(site.path(), &format!("{config}{RULES}"));
        let mut stream = server.connect();
        for accept in ["text/html", "application/json"] {
            let headers = [("Accept", accept)];
            let full = send(&mut stream, "GET", "/empty/", &headers);
            assert_eq!(full.status, 200, "{}", full.head);
            assert_eq!(full.header("Vary"), Some("Accept"));
            let etag = full.header("ETag").expect("a listing ETag").to_string();
            for method in ["GET", "HEAD"] {
                let response = send(
                    &mut stream,
                    method,
                    "/empty/",
                    &[("Accept", accept), ("If-None-Match", &etag)],
                );
                assert_bare_304(&response, &full, &format!("listing {accept} {method}"));
            }
        }
        let again = send(&mut stream, "GET", "/empty/", &[]);
        assert_eq!(again.status, 200, "the connection survived");
    }
}
