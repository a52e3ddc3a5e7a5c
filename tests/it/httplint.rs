//! wharf's responses as an independent linter sees them: `httplint` (PyPI),
//! which checks a raw response against the HTTP RFCs and prints notes, each
//! BAD, WARN, INFO or GOOD.
//!
//! One corpus, one kind of response each (200, HEAD, 206, multipart 206,
//! 304 for a file and for a sidecar, 404, 405, 416, a listing, a sidecar),
//! is fetched raw from a real server and fed to `httplint` on stdin. Any
//! BAD or WARN note fails the test, except those listed in [`KNOWN`], each
//! with its reason.
//!
//! Returns early, with a "skipping" message, when `httplint` is not
//! installed, except under `CI`, where that fails (see
//! [`require_tool`](crate::harness::require_tool); `.ci/run` installs it).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::harness::{parse_head, pattern, read_to_close, require_tool, site, write, TestServer};

/// Notes expected for now: (case, the note's summary, why), one line each
/// (so `rustfmt::skip`). A note listed here does not fail its case;
/// removing its line makes it fail again. A line whose note no longer
/// appears fails the test too, so an entry is removed once what it waits
/// for is fixed.
#[rustfmt::skip]
const KNOWN: &[(&str, &str, &str)] = &[
    // httplint wants a Content-Range header on every 206, but a multipart
    // 206 carries one in each part instead (RFC 9110 §14.4, §15.3.7.2): not
    // a wharf defect (nginx gets the same note). `check_multipart` checks
    // the parts' Content-Range instead. Permanent.
    ("multipart 206", "This response is partial, but doesn't have a Content-Range header.", "httplint: Content-Range is per part"),
];

/// The levels that fail a case.
const FAILING: &[&str] = &["[BAD]", "[WARN]"];

const HOST: &str = "Host: t\r\nConnection: close\r\n";

/// The harness site plus a 20,000-byte file for ranges, a script with a
/// real gzip sidecar, and `sub/` (no index file) for a listing.
fn lint_site() -> tempfile::TempDir {
    let site = site();
    write(site.path(), "data.bin", &pattern(20_000, 16));
    let script: String = (0..200).map(|i| format!("var v{i} = {i};\n")).collect();
    write(site.path(), "app.js", script.as_bytes());
    write(site.path(), "app.js.gz", &gzip_stored(script.as_bytes()));
    site
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks: a valid
/// gzip file without a compressor.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE, reflected), bit by bit: only for small test files.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Sends `request` on a new connection (`Connection: close`) and returns
/// every byte of the answer.
fn raw(server: &TestServer, request: &str) -> Vec<u8> {
    let mut stream = server.connect();
    stream.write_all(request.as_bytes()).unwrap();
    read_to_close(&mut stream)
}

fn split(response: &[u8]) -> (String, &[u8]) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete head in {:?}",
                String::from_utf8_lossy(response)
            )
        })
        + 4;
    let head = String::from_utf8(response[..end].to_vec()).expect("ASCII head");
    (head, &response[end..])
}

fn header(head: &str, name: &str) -> String {
    let (_, headers) = parse_head(head);
    headers
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("no {name} in {head:?}"))
        .1
}

/// httplint's notes on one raw response (its stdout), after checking that
/// it parsed the message and reached the end of it (it prints nothing for
/// a message it is still waiting on).
fn httplint(case: &str, response: &[u8]) -> String {
    let mut child = Command::new("httplint")
        // No `-n` ("the exchange happened now"): with it httplint compares
        // Date with its own clock when it runs, which on a loaded machine
        // is seconds later, and reports a skew that is the test's, not
        // wharf's. Date's syntax is still checked.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run httplint");
    child.stdin.take().unwrap().write_all(response).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{case}: httplint could not parse the response ({:?}): {stderr}\nresponse: {:?}",
        output.status,
        String::from_utf8_lossy(response)
    );
    assert!(
        stdout.contains("### "),
        "{case}: httplint printed no notes (an incomplete message?): {stdout:?}\nresponse: {:?}",
        String::from_utf8_lossy(response)
    );
    stdout
}

/// The corpus: (case, the raw bytes httplint reads, the status expected).
fn corpus(server: &TestServer) -> Vec<(&'static str, Vec<u8>, u16)> {
    let get = |target: &str, extra: &str| {
        raw(
            server,
            &format!("GET {target} HTTP/1.1\r\n{HOST}{extra}\r\n"),
        )
    };
    let hello = get("/hello.txt", "");
    let etag = header(&split(&hello).0, "ETag");
    let sidecar = get("/app.js", "Accept-Encoding: gzip\r\n");
    let sidecar_etag = header(&split(&sidecar).0, "ETag");
    // httplint's CLI cannot be told that the request was HEAD, and waits
    // for the Content-Length body: it reads HEAD's head with GET's body.
    let mut head = raw(server, &format!("HEAD /hello.txt HTTP/1.1\r\n{HOST}\r\n"));
    assert!(
        head.ends_with(b"\r\n\r\n"),
        "HEAD sent a body: {:?}",
        String::from_utf8_lossy(&head)
    );
    head.extend_from_slice(split(&hello).1);
    vec![
        ("200", hello.clone(), 200),
        ("HEAD", head, 200),
        ("206", get("/data.bin", "Range: bytes=0-99\r\n"), 206),
        (
            "multipart 206",
            get("/data.bin", "Range: bytes=0-9,100-199\r\n"),
            206,
        ),
        (
            "304",
            get("/hello.txt", &format!("If-None-Match: {etag}\r\n")),
            304,
        ),
        (
            "304 sidecar",
            get(
                "/app.js",
                &format!("Accept-Encoding: gzip\r\nIf-None-Match: {sidecar_etag}\r\n"),
            ),
            304,
        ),
        ("404", get("/missing.html", ""), 404),
        (
            "405",
            raw(server, &format!("DELETE /hello.txt HTTP/1.1\r\n{HOST}\r\n")),
            405,
        ),
        ("416", get("/data.bin", "Range: bytes=99999-\r\n"), 416),
        ("listing", get("/sub/", ""), 200),
        ("sidecar", sidecar, 200),
    ]
}

/// What httplint's 206 check cannot see in a multipart answer: each part
/// has its own Content-Range.
fn check_multipart(response: &[u8]) {
    let body = String::from_utf8_lossy(split(response).1);
    for range in ["bytes 0-9/20000", "bytes 100-199/20000"] {
        assert!(
            body.contains(&format!("Content-Range: {range}\r\n")),
            "no part with Content-Range: {range} in {body:?}"
        );
    }
}

#[test]
fn responses_have_no_bad_or_warn_notes() {
    if !require_tool("httplint") {
        return;
    }
    let site = lint_site();
    let server = TestServer::start(site.path(), "");
    let mut failures = Vec::new();
    let mut seen_known = vec![false; KNOWN.len()];
    for (case, response, status) in corpus(&server) {
        let (head, _) = split(&response);
        assert_eq!(parse_head(&head).0, status, "{case}: {head}");
        if case == "multipart 206" {
            check_multipart(&response);
        }
        let notes = httplint(case, &response);
        for line in notes.lines() {
            let note = line.trim().trim_start_matches("* ");
            let Some(level) = FAILING.iter().find(|l| note.starts_with(*l)) else {
                continue;
            };
            let summary = note[level.len()..].trim();
            match KNOWN
                .iter()
                .position(|(c, s, _)| *c == case && *s == summary)
            {
                Some(i) => seen_known[i] = true,
                None => failures.push(format!("{case}: {note}\n{head}")),
            }
        }
    }
    for (i, (case, summary, why)) in KNOWN.iter().enumerate() {
        if !seen_known[i] {
            failures.push(format!(
                "{case}: the known note {summary:?} ({why}) no longer appears: remove its line from KNOWN"
            ));
        }
    }
    assert!(failures.is_empty(), "httplint:\n{}", failures.join("\n"));
}
