//! Hits and misses give the same answers (issue 16, defect 6): one corpus
//! of requests (odd paths, methods, conditionals, ranges, encodings with
//! sidecars present) is sent to a server with the cache off (the
//! reference: every answer from the pool), to a fresh server with the
//! cache on (cold: each file's first request is a miss that fills the
//! cache, later ones may hit), and to that server again once every
//! cacheable path is hot (the hit counter moved for each). Every answer
//! must have the reference's status, headers and body, apart from `Date`
//! and the `multipart/byteranges` boundary, which is fresh per response
//! by design (it is replaced by a placeholder before comparing). No other
//! header may differ.

use crate::harness::*;

use std::io::Write;
use std::time::Duration;

/// Both servers serve the same root with the same rules; only the cache
/// differs. Rules add a per-path `Cache-Control` and a header everywhere.
const RULES: &str = "[[http.rules]]\nmatch = \"/assets/**\"\ncache_control = \"public, max-age=60\"\n[[http.rules]]\nmatch = \"*\"\nheaders = { \"X-Content-Type-Options\" = \"nosniff\" }\n";
const REFERENCE: &str = "[cache]\nenabled = false\n";
const CACHED: &str = "[metrics]\nlisten = \"127.0.0.1:0\"\n[cache]\nrevalidate_secs = 3600\n";

/// The paths the hot pass warms first: every one the cache can hold.
const CACHEABLE: &[&str] = &[
    "/",
    "/hello.txt",
    "/r.txt",
    "/app.js",
    "/lib.js",
    "/docs/",
    "/assets/site.css",
    "/sub/page.html",
];

fn fixture() -> tempfile::TempDir {
    let site = site();
    let root = site.path();
    write(root, "r.txt", &pattern(1000, 3));
    write(root, "app.js", b"console.log('identity');\n");
    write(root, "app.js.gz", b"GZ-BYTES-of-app.js");
    write(root, "app.js.br", b"BR-BYTES-of-app.js!!");
    write(root, "lib.js", b"export const lib = 1;\n");
    write(root, "lib.js.zst", b"ZSTD-BYTES");
    write(root, "docs/index.html", b"<p>docs</p>\n");
    write(root, "assets/site.css", b"body { color: red }\n");
    site
}

type Request = (String, String, Vec<(String, String)>);

fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
    let headers = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    (method.to_string(), target.to_string(), headers)
}

/// What is compared: the status line, every header but `Date` (in order),
/// and the body, with a multipart boundary replaced by `BOUNDARY`.
fn exchange(server: &TestServer, (method, target, headers): &Request) -> String {
    let raw = request_text(method, target, headers);
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    let all = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&all).into_owned();
    let boundary = text
        .split("boundary=")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .map(str::to_string);
    let text = match boundary {
        Some(boundary) if !boundary.is_empty() => text.replace(&boundary, "BOUNDARY"),
        _ => text,
    };
    text.split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn cache_hits(server: &TestServer) -> u64 {
    sample(
        &scrape(&metrics_addr(server), "/metrics").text(),
        "wharf_cache_hits_total",
    )
}

/// The validators of `target`'s representation for `accept_encoding`.
fn validators(server: &TestServer, target: &str, accept_encoding: &str) -> (String, String) {
    let mut raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    if !accept_encoding.is_empty() {
        raw.push_str(&format!("Accept-Encoding: {accept_encoding}\r\n"));
    }
    raw.push_str("\r\n");
    let response = server.request(&raw);
    assert_eq!(response.status, 200, "{target}: {}", response.head);
    let header = |name| response.header(name).unwrap_or_default().to_string();
    (header("ETag"), header("Last-Modified"))
}

fn corpus(reference: &TestServer) -> Vec<Request> {
    let (hello_tag, hello_date) = validators(reference, "/hello.txt", "");
    let (r_tag, r_date) = validators(reference, "/r.txt", "");
    let (gzip_tag, _) = validators(reference, "/app.js", "gzip");
    let (app_tag, _) = validators(reference, "/app.js", "");
    let (index_tag, _) = validators(reference, "/", "");
    let (listing_tag, _) = validators(reference, "/sub/", "");
    let mut corpus = Vec::new();
    // Paths: dot segments, empty segments, directories with and without
    // the slash, missing and hidden files, absolute form.
    for target in [
        "/",
        "/.",
        "/%2e",
        "//.",
        "/./",
        "/./.",
        "//",
        "//hello.txt",
        "/./hello.txt",
        "/hello.txt/.",
        "/hello.txt/",
        "/sub/./page.html",
        "/sub//page.html",
        "/sub/.",
        "/sub",
        "/sub/",
        "/docs",
        "/docs/",
        "/docs/.",
        "/docs/./",
        "/docs/index.html",
        "/empty",
        "/empty/",
        "/missing.txt",
        "/missing/",
        "/.secret",
        "/.hidden/file.txt",
        "/assets/site.css",
        "/assets/./site.css",
        "/hello.txt?x=1",
        "/sub?sort=size",
        "http://h/hello.txt",
        "http://h",
        "/%68ello.txt",
    ] {
        for method in ["GET", "HEAD"] {
            corpus.push(request(method, target, &[]));
        }
    }
    for target in ["*", "/hello.txt", "/.", "/missing.txt"] {
        corpus.push(request("OPTIONS", target, &[]));
    }
    corpus.push(request("DELETE", "/hello.txt", &[]));
    // Conditionals.
    let weak = format!("W/{hello_tag}");
    let conditionals: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/hello.txt", vec![("If-None-Match", &hello_tag)]),
        ("/hello.txt", vec![("If-None-Match", &weak)]),
        ("/hello.txt", vec![("If-None-Match", "*")]),
        ("/hello.txt", vec![("If-None-Match", "\"other\"")]),
        ("/hello.txt", vec![("If-Modified-Since", &hello_date)]),
        (
            "/hello.txt",
            vec![("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
        ),
        ("/hello.txt", vec![("If-Match", "\"other\"")]),
        ("/hello.txt", vec![("If-Match", &hello_tag)]),
        (
            "/hello.txt",
            vec![("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
        ),
        ("/", vec![("If-None-Match", &index_tag)]),
        ("/.", vec![("If-None-Match", &index_tag)]),
        ("/docs/.", vec![("If-None-Match", &index_tag)]),
        ("/sub/", vec![("If-None-Match", &listing_tag)]),
        ("/r.txt", vec![("If-None-Match", &r_tag)]),
        ("/r.txt", vec![("Range", "bytes=0-9"), ("If-Range", &r_tag)]),
        (
            "/r.txt",
            vec![("Range", "bytes=0-9"), ("If-Range", &r_date)],
        ),
        (
            "/r.txt",
            vec![("Range", "bytes=0-9"), ("If-Range", "\"old\"")],
        ),
        (
            "/r.txt",
            vec![("Range", "bytes=0-9"), ("If-None-Match", &r_tag)],
        ),
        // Ranges: single, suffix, open, clamped, multi, unsatisfiable, bad.
        ("/r.txt", vec![("Range", "bytes=0-9")]),
        ("/r.txt", vec![("Range", "bytes=-10")]),
        ("/r.txt", vec![("Range", "bytes=990-")]),
        ("/r.txt", vec![("Range", "bytes=500-5000")]),
        ("/r.txt", vec![("Range", "bytes=0-1,10-11,20-")]),
        ("/r.txt", vec![("Range", "bytes=0-5,3-9")]),
        ("/r.txt", vec![("Range", "bytes=1000-")]),
        ("/r.txt", vec![("Range", "bytes=5000-6000,7000-")]),
        ("/r.txt", vec![("Range", "bytes=x")]),
        ("/r.txt", vec![("Range", "lines=0-1")]),
        ("/hello.txt", vec![("Range", "bytes=0-0")]),
        // Encodings, with sidecars present.
        ("/app.js", vec![("Accept-Encoding", "gzip")]),
        ("/app.js", vec![("Accept-Encoding", "br, gzip")]),
        ("/app.js", vec![("Accept-Encoding", "deflate, gzip;q=0.5")]),
        ("/app.js", vec![("Accept-Encoding", "gzip;q=0.5, identity")]),
        ("/app.js", vec![("Accept-Encoding", "*")]),
        ("/app.js", vec![("Accept-Encoding", "*;q=0")]),
        ("/app.js", vec![("Accept-Encoding", "identity;q=0")]),
        ("/app.js", vec![("Accept-Encoding", "zstd")]),
        ("/app.js", vec![("Accept-Encoding", "")]),
        ("/lib.js", vec![("Accept-Encoding", "zstd;q=0.1")]),
        ("/lib.js", vec![("Accept-Encoding", "br")]),
        ("/hello.txt", vec![("Accept-Encoding", "gzip, br")]),
        (
            "/app.js",
            vec![("Accept-Encoding", "gzip"), ("If-None-Match", &gzip_tag)],
        ),
        (
            "/app.js",
            vec![("Accept-Encoding", "br"), ("If-None-Match", &gzip_tag)],
        ),
        ("/app.js", vec![("If-None-Match", &app_tag)]),
        (
            "/app.js",
            vec![("Accept-Encoding", "gzip"), ("Range", "bytes=0-3")],
        ),
        (
            "/app.js",
            vec![("Accept-Encoding", "gzip"), ("Range", "bytes=100-")],
        ),
        // Listings by type.
        ("/sub/", vec![("Accept", "application/json")]),
        ("/empty/", vec![("Accept", "application/json")]),
    ];
    for (target, headers) in &conditionals {
        for method in ["GET", "HEAD"] {
            corpus.push(request(method, target, headers));
        }
    }
    corpus
}

/// Sends `corpus` to `server` and compares each answer with `expected`'s.
fn compare(server: &TestServer, corpus: &[Request], expected: &[String], pass: &str) {
    let mut differences = Vec::new();
    for (request, expected) in corpus.iter().zip(expected) {
        let got = exchange(server, request);
        if &got != expected {
            differences.push(format!(
                "{pass}: {} {} {:?}\n--- reference (cache off):\n{expected}\n--- {pass}:\n{got}",
                request.0, request.1, request.2
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} answers differ:\n{}",
        differences.len(),
        corpus.len(),
        differences.join("\n\n")
    );
}

#[test]
fn hits_and_misses_give_the_same_answers() {
    let site = fixture();
    let reference = TestServer::start(site.path(), &format!("{REFERENCE}{RULES}"));
    let corpus = corpus(&reference);
    assert!(corpus.len() > 150, "{}", corpus.len());
    let expected: Vec<String> = corpus.iter().map(|r| exchange(&reference, r)).collect();
    // The reference is stable: the same corpus again gives the same answers.
    compare(&reference, &corpus, &expected, "reference again");

    let cached = TestServer::start(site.path(), &format!("{CACHED}{RULES}"));
    compare(&cached, &corpus, &expected, "cold");

    for path in CACHEABLE {
        let hot = eventually(Duration::from_secs(10), || {
            let hits = cache_hits(&cached);
            assert_eq!(cached.get(path).status, 200, "{path}");
            cache_hits(&cached) > hits
        });
        assert!(hot, "{path} was never answered from the cache");
    }
    let hits = cache_hits(&cached);
    compare(&cached, &corpus, &expected, "hot");
    // Most of the corpus names a cached file: it was answered from memory.
    let answered_hot = cache_hits(&cached) - hits;
    assert!(
        answered_hot >= 100,
        "only {answered_hot} hits in the hot pass"
    );
}
