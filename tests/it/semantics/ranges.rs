//! Byte ranges: single, unsatisfiable and invalid ones,
//! `multipart/byteranges`, `max_ranges`, `If-Range`, HEAD, large
//! streamed ranges and `curl -C -`.

use super::*;

use std::process::Command;

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
