//! `[http] compress`: wharf compresses a cached file of a compressible type
//! once, on the pool, and keeps the variant beside the original in the
//! cache entry. The first request gets the original (with `Vary`), later
//! ones the variant once the job is done: the tests wait for it with
//! `eventually` on the response's `Content-Encoding`, never with a sleep.
//!
//! "Never compressed" is shown against a barrier: the compression lane is
//! one FIFO thread, so once a file whose job was asked for later has its
//! variant, a job for the file under test would have finished before it.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

const WAIT: Duration = Duration::from_secs(20);

/// About 100 KiB of JavaScript-like text: compressible, as real scripts are.
fn script(len: usize, seed: u64) -> Vec<u8> {
    let words = [
        "function ",
        "return ",
        "const ",
        "let ",
        "value",
        "items",
        "(a, b)",
        " => ",
        "{ ",
        " }\n",
        ".map(",
        ".filter(",
        "this.",
        "null",
        "42",
        "\"key\"",
        "; ",
        "if (",
        ") ",
    ];
    let mut out = Vec::with_capacity(len);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
    }
    out.truncate(len);
    out
}

fn get(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> Response {
    server.request(&request_text("GET", target, headers))
}

fn head(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> Response {
    server.request(&request_text("HEAD", target, headers))
}

/// Asks for `target` with `Accept-Encoding: coding` until the answer is
/// that coding, and returns it.
fn wait_for_coding(server: &TestServer, target: &str, coding: &str) -> Response {
    let mut last = None;
    let done = eventually(WAIT, || {
        let response = get(server, target, &[("Accept-Encoding", coding)]);
        let hit = response.header("Content-Encoding") == Some(coding);
        last = Some(response);
        hit
    });
    let last = last.expect("a response");
    assert!(
        done,
        "{target} never came {coding}-encoded; last: {}",
        last.head
    );
    last
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).expect("a valid br stream");
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

/// Runs python3 with `script` on `input`, returning its stdout.
fn python(script: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn assert_vary(response: &Response, what: &str) {
    assert_eq!(
        response.header("Vary"),
        Some("Accept-Encoding"),
        "{what}: {}",
        response.head
    );
}

#[test]
fn the_first_answer_is_identity_then_br_and_gzip_decode_to_the_original() {
    let site = site();
    let original = script(100 * 1024, 1);
    write(site.path(), "app.js", &original);
    let server = TestServer::start(site.path(), "");
    let first = get(&server, "/app.js", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("Content-Encoding"), None, "{}", first.head);
    assert_vary(&first, "the first (identity) answer");
    assert_eq!(first.body, original);

    let br = wait_for_coding(&server, "/app.js", "br");
    assert_vary(&br, "the br answer");
    assert!(
        br.body.len() < original.len() / 2,
        "{} bytes",
        br.body.len()
    );
    assert_eq!(unbrotli(&br.body), original);

    let gzip = wait_for_coding(&server, "/app.js", "gzip");
    assert_vary(&gzip, "the gzip answer");
    assert_eq!(ungzip(&gzip.body), original);
    if require_tool("python3") {
        let decode =
            "import sys, gzip; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))";
        assert_eq!(python(decode, &gzip.body), original, "python3 gzip");
        let decode = "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read(), 16 + zlib.MAX_WBITS))";
        assert_eq!(python(decode, &gzip.body), original, "python3 zlib");
    }
    // A client that asks for both gets br (the server's preference on a tie).
    let both = get(&server, "/app.js", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(both.header("Content-Encoding"), Some("br"));
    assert_eq!(both.body, br.body);
    // Without Accept-Encoding: the original, still with Vary.
    let plain = get(&server, "/app.js", &[]);
    assert_eq!(plain.header("Content-Encoding"), None);
    assert_vary(&plain, "the identity answer once variants exist");
    assert_eq!(plain.body, original);
}

#[test]
fn curl_compressed_gets_the_original_byte_for_byte() {
    if !require_tool("curl") {
        return;
    }
    let site = site();
    let original = script(60 * 1024, 2);
    write(site.path(), "lib/app.js", &original);
    let server = TestServer::start(site.path(), "");
    let out_dir = tempfile::tempdir().unwrap();
    let body = out_dir.path().join("body");
    let curl = |extra: &[&str]| {
        let output = Command::new("curl")
            .arg("-q")
            .args(["--noproxy", "*", "--max-time", "20", "-sS", "--compressed"])
            .args(["-o", body.to_str().unwrap(), "-D", "-"])
            .args(extra)
            .arg(server.url("/lib/app.js"))
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        assert!(output.status.success(), "curl failed: {output:?}");
        String::from_utf8_lossy(&output.stdout).to_lowercase()
    };
    let first = curl(&[]);
    assert!(first.contains("vary: accept-encoding"), "{first}");
    assert_eq!(std::fs::read(&body).unwrap(), original);
    let mut headers = String::new();
    let encoded = eventually(WAIT, || {
        headers = curl(&[]);
        headers.contains("content-encoding: ")
    });
    assert!(encoded, "curl never got an encoded answer: {headers}");
    assert_eq!(std::fs::read(&body).unwrap(), original, "{headers}");
}

#[test]
fn each_representation_has_its_own_etag_and_304() {
    let site = site();
    let original = script(40 * 1024, 3);
    write(site.path(), "app.js", &original);
    let server = TestServer::start(site.path(), "");
    let identity = get(&server, "/app.js", &[]);
    let br = wait_for_coding(&server, "/app.js", "br");
    let identity_tag = identity.header("ETag").expect("an ETag").to_string();
    let br_tag = br.header("ETag").expect("an ETag").to_string();
    assert_ne!(identity_tag, br_tag);
    assert!(!br_tag.starts_with("W/"), "a strong validator: {br_tag}");
    assert_eq!(
        br_tag,
        format!("{}-br5\"", identity_tag.trim_end_matches('"')),
        "derived from the original's"
    );

    let not_modified = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "br"), ("If-None-Match", &br_tag)],
    );
    assert_eq!(not_modified.status, 304, "{}", not_modified.head);
    assert_eq!(not_modified.header("ETag"), Some(br_tag.as_str()));
    assert!(not_modified.body.is_empty());
    let not_modified = get(&server, "/app.js", &[("If-None-Match", &identity_tag)]);
    assert_eq!(not_modified.status, 304, "{}", not_modified.head);
    assert_eq!(not_modified.header("ETag"), Some(identity_tag.as_str()));
    // The other representation's tag does not match.
    let full = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "br"), ("If-None-Match", &identity_tag)],
    );
    assert_eq!(full.status, 200);
    assert_eq!(full.header("Content-Encoding"), Some("br"));
    let full = get(&server, "/app.js", &[("If-None-Match", &br_tag)]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, original);
}

#[test]
fn ranges_and_head_are_of_the_compressed_bytes() {
    let site = site();
    let original = script(50 * 1024, 4);
    write(site.path(), "app.js", &original);
    let server = TestServer::start(site.path(), "");
    get(&server, "/app.js", &[]);
    let gzip = wait_for_coding(&server, "/app.js", "gzip");
    let total = gzip.body.len();
    let partial = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=10-99")],
    );
    assert_eq!(partial.status, 206, "{}", partial.head);
    assert_eq!(partial.header("Content-Encoding"), Some("gzip"));
    assert_eq!(
        partial.header("Content-Range"),
        Some(format!("bytes 10-99/{total}").as_str())
    );
    assert_eq!(partial.body, gzip.body[10..100]);
    assert_vary(&partial, "a 206 of the gzip variant");
    let suffix = get(
        &server,
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=-20")],
    );
    assert_eq!(suffix.body, gzip.body[total - 20..]);

    let head = head(&server, "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Encoding"), Some("gzip"));
    assert_eq!(
        head.header("Content-Length"),
        Some(total.to_string().as_str())
    );
    assert_eq!(head.header("ETag"), gzip.header("ETag"));
    assert_vary(&head, "HEAD");
}

#[test]
fn an_edit_drops_both_and_the_new_content_is_compressed_anew() {
    let site = site();
    let path = write(site.path(), "app.js", &script(30 * 1024, 5));
    let server = TestServer::start(site.path(), "");
    get(&server, "/app.js", &[]);
    let old = wait_for_coding(&server, "/app.js", "br");
    let edited = script(31 * 1024, 6);
    std::fs::write(&path, &edited).unwrap();
    let next = get(&server, "/app.js", &[("Accept-Encoding", "br")]);
    assert_eq!(next.status, 200);
    assert_eq!(
        next.header("Content-Encoding"),
        None,
        "the old variant was served after the edit: {}",
        next.head
    );
    assert_eq!(next.body, edited);
    assert_vary(&next, "the first answer after the edit");
    let new = wait_for_coding(&server, "/app.js", "br");
    assert_eq!(unbrotli(&new.body), edited);
    assert_ne!(new.header("ETag"), old.header("ETag"));
}

#[test]
fn a_sidecar_on_disk_wins_over_a_computed_variant() {
    let site = site();
    let original = script(40 * 1024, 7);
    write(site.path(), "app.js", &original);
    write(site.path(), "app.js.br", b"THE-BR-SIDECAR");
    let server = TestServer::start(site.path(), "");
    get(&server, "/app.js", &[("Accept-Encoding", "br, gzip")]);
    // gzip has no sidecar: computed.
    let gzip = wait_for_coding(&server, "/app.js", "gzip");
    assert_eq!(ungzip(&gzip.body), original);
    // br always comes from the sidecar, before and after.
    for accept in ["br", "br, gzip", "gzip, br"] {
        let br = get(&server, "/app.js", &[("Accept-Encoding", accept)]);
        assert_eq!(br.header("Content-Encoding"), Some("br"), "{accept}");
        assert_eq!(br.body, b"THE-BR-SIDECAR", "{accept}");
    }
}

#[test]
fn other_types_small_large_and_incompressible_files_are_never_compressed() {
    let site = site();
    let root = site.path();
    write(root, "image.png", &script(20 * 1024, 8));
    write(root, "small.js", &script(1000, 9));
    // Larger than [cache] max_file_bytes (128 KiB): not in the cache.
    write(root, "big.js", &script(200 * 1024, 10));
    // Random bytes do not compress: the result is not kept.
    write(root, "noise.txt", &pattern(30 * 1024, 11));
    write(root, "barrier.js", &script(30 * 1024, 12));
    let server = TestServer::start(root, "");
    let never = ["/image.png", "/small.js", "/big.js", "/noise.txt"];
    for target in never {
        for _ in 0..2 {
            let response = get(&server, target, &[("Accept-Encoding", "gzip, br")]);
            assert_eq!(response.status, 200, "{target}");
        }
    }
    wait_for_coding(&server, "/barrier.js", "br");
    for target in never {
        let response = get(&server, target, &[("Accept-Encoding", "gzip, br")]);
        assert_eq!(
            response.header("Content-Encoding"),
            None,
            "{target}: {}",
            response.head
        );
    }
    // Only the one whose result was thrown away varied.
    for target in ["/image.png", "/small.js", "/big.js"] {
        let response = get(&server, target, &[("Accept-Encoding", "gzip")]);
        assert_eq!(response.header("Vary"), None, "{target}: {}", response.head);
    }
}

#[test]
fn identity_and_refused_codings_are_respected() {
    let site = site();
    let original = script(40 * 1024, 13);
    write(site.path(), "app.js", &original);
    let server = TestServer::start(site.path(), "");
    get(&server, "/app.js", &[]);
    wait_for_coding(&server, "/app.js", "br");
    wait_for_coding(&server, "/app.js", "gzip");
    for (accept, expected) in [
        ("identity", None),
        ("gzip;q=0", None),
        ("br;q=0, gzip", Some("gzip")),
        ("br;q=0.5, gzip", Some("gzip")),
        ("gzip;q=0.5, identity", None),
        ("*;q=0, identity", None),
        ("deflate", None),
        ("", None),
    ] {
        let response = get(&server, "/app.js", &[("Accept-Encoding", accept)]);
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(
            response.header("Content-Encoding"),
            expected,
            "{accept:?}: {}",
            response.head
        );
        if expected.is_none() {
            assert_eq!(response.body, original, "{accept:?}");
        }
        assert_vary(&response, accept);
    }
}

#[test]
fn zstd_is_computed_when_configured_and_compression_can_be_off() {
    let site = site();
    let original = script(40 * 1024, 14);
    write(site.path(), "app.js", &original);
    let server = TestServer::start(site.path(), "[http]\ncompress = [\"zstd\"]\n");
    get(&server, "/app.js", &[]);
    let zstd = wait_for_coding(&server, "/app.js", "zstd");
    assert_eq!(
        zstd::bulk::decompress(&zstd.body, original.len()).unwrap(),
        original
    );
    // Not configured: gzip is not offered.
    let gzip = get(&server, "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzip.header("Content-Encoding"), None);
    drop(server);

    let server = TestServer::start(site.path(), "[http]\ncompress = []\n");
    for _ in 0..3 {
        let response = get(&server, "/app.js", &[("Accept-Encoding", "gzip, br")]);
        assert_eq!(response.header("Content-Encoding"), None);
        assert_eq!(response.header("Vary"), None, "{}", response.head);
    }
}

#[test]
fn compress_types_and_sizes_are_configurable() {
    let site = site();
    write(site.path(), "data.bin", &script(20 * 1024, 15));
    write(site.path(), "app.js", &script(20 * 1024, 16));
    write(site.path(), "tiny.bin", &script(200, 17));
    let server = TestServer::start(
        site.path(),
        "[http]\ncompress_types = [\"application/octet-stream\"]\ncompress_min_bytes = 100\n",
    );
    get(&server, "/tiny.bin", &[("Accept-Encoding", "gzip")]);
    get(&server, "/app.js", &[("Accept-Encoding", "gzip")]);
    let data = wait_for_coding(&server, "/data.bin", "gzip");
    assert!(!data.body.is_empty());
    wait_for_coding(&server, "/tiny.bin", "gzip");
    let js = get(&server, "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(js.header("Content-Encoding"), None, "{}", js.head);
}

/// Runs wharf with a config file of `text`, expecting it to refuse to start.
fn start_up_error(text: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(WHARF)
        .args(["-c", config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wharf");
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    assert!(status.is_some(), "wharf started with {text:?}");
    assert_one_line_error(&Finished::from(output), needles);
}

#[test]
fn bad_compress_settings_stop_start_up_naming_the_key() {
    for (text, needles) in [
        (
            "[http]\ncompress = [\"deflate\"]\n",
            &["[http] compress", "deflate"][..],
        ),
        (
            "[http]\ncompress_types = [\"javascript\"]\n",
            &["[http] compress_types", "javascript"][..],
        ),
        (
            "[http]\ncompress_level_br = 12\n",
            &["[http] compress_level_br", "0 to 11"][..],
        ),
        (
            "[http]\ncompress_level_gzip = 0\n",
            &["[http] compress_level_gzip"][..],
        ),
        (
            "[http]\ncompress_min_bytes = 10\ncompress_max_bytes = 5\n",
            &["[http] compress_min_bytes", "compress_max_bytes"][..],
        ),
    ] {
        start_up_error(text, needles);
    }
}

/// The entry's memory counts its variants: the cache's gauge grows by
/// about the variant's size once it is attached.
#[test]
fn variants_count_against_the_cache_budget() {
    let site = site();
    write(site.path(), "app.js", &script(60 * 1024, 18));
    let server = TestServer::start(site.path(), "[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let metrics = metrics_addr(&server);
    get(&server, "/app.js", &[]);
    let before = sample(&scrape(&metrics, "/metrics").text(), "wharf_cache_bytes");
    let br = wait_for_coding(&server, "/app.js", "br");
    let after = sample(&scrape(&metrics, "/metrics").text(), "wharf_cache_bytes");
    let grown = after - before;
    let len = br.body.len() as u64;
    assert!(
        grown >= len && grown < len + 1024,
        "the cache grew by {grown} bytes for a {len}-byte variant"
    );
}
