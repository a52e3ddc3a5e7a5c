//! wharf as seen by a real, independent HTTP client: the `curl` binary.
//!
//! Each test returns early, with a "skipping" message, when `curl` is not
//! installed, except under `CI`, where that fails (see
//! [`require_tool`](crate::harness::require_tool)).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::harness::{require_tool, site, write, write_large, TestServer};

const BIG: u64 = 3 << 20;

/// Runs curl with `args`, ignoring any ~/.curlrc and proxy settings, with a
/// hard time limit.
fn curl(args: &[&str]) -> Output {
    let output = Command::new("curl")
        .arg("-q") // must come first: skip ~/.curlrc
        .args(["--noproxy", "*", "--max-time", "20", "-sS"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "curl {args:?} failed: {:?}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The site for these tests: the harness site plus a 3 MiB file and a
/// directory with an index page.
fn curl_site() -> tempfile::TempDir {
    let site = site();
    write_large(&site.path().join("big.bin"), BIG, 42);
    write(site.path(), "docs/index.html", b"<p>docs index</p>\n");
    site
}

/// The value of a header in a `-D`/`-I` dump (the last response's).
fn dumped_header(dump: &str, name: &str) -> Option<String> {
    let last = dump.rsplit("HTTP/").next().unwrap_or(dump);
    last.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

#[test]
fn download_matches_byte_for_byte() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let out = tempfile::tempdir().unwrap();
    let headers = out.path().join("headers.txt");
    let body = out.path().join("big.out");
    curl(&[
        "-D",
        path_str(&headers),
        "-o",
        path_str(&body),
        &server.url("/big.bin"),
    ]);
    let dump = std::fs::read_to_string(&headers).unwrap();
    assert!(dump.starts_with("HTTP/1.1 200 "), "headers: {dump:?}");
    assert_eq!(
        dumped_header(&dump, "content-length").as_deref(),
        Some(BIG.to_string().as_str()),
        "headers: {dump:?}"
    );
    let received = std::fs::read(&body).unwrap();
    let expected = std::fs::read(site.path().join("big.bin")).unwrap();
    assert_eq!(received.len(), expected.len(), "body length");
    assert!(received == expected, "body differs from the file");
}

#[test]
fn head_shows_status_and_length() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let dump = stdout(&curl(&["-I", &server.url("/hello.txt")]));
    assert!(dump.starts_with("HTTP/1.1 200 "), "{dump:?}");
    assert_eq!(
        dumped_header(&dump, "content-length").as_deref(),
        Some("13"),
        "{dump:?}"
    );
    assert!(
        dumped_header(&dump, "content-type").is_some_and(|t| t.starts_with("text/plain")),
        "{dump:?}"
    );
    assert!(dumped_header(&dump, "last-modified").is_some(), "{dump:?}");
    // The big file's HEAD gives its full length too.
    let dump = stdout(&curl(&["-I", &server.url("/big.bin")]));
    assert_eq!(
        dumped_header(&dump, "content-length").as_deref(),
        Some(BIG.to_string().as_str()),
        "{dump:?}"
    );
}

#[test]
fn missing_file_is_404() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let code = stdout(&curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &server.url("/no/such/file.txt"),
    ]));
    assert_eq!(code, "404");
}

#[test]
fn directory_redirect_is_followed_to_the_index() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let output = curl(&[
        "-L",
        "-w",
        "\n%{http_code} %{num_redirects} %{url_effective}",
        &server.url("/docs"),
    ]);
    let text = stdout(&output);
    let (body, summary) = text.rsplit_once('\n').unwrap();
    assert_eq!(body, "<p>docs index</p>\n", "{text:?}");
    assert_eq!(summary, format!("200 1 {}", server.url("/docs/")));
}

#[test]
fn http10_request() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let out = tempfile::tempdir().unwrap();
    let headers = out.path().join("headers.txt");
    let output = curl(&[
        "--http1.0",
        "-D",
        path_str(&headers),
        &server.url("/hello.txt"),
    ]);
    assert_eq!(output.stdout, b"hello, world\n");
    let dump = std::fs::read_to_string(&headers).unwrap();
    assert!(dump.contains(" 200 "), "{dump:?}");
    // An HTTP/1.0 request without keep-alive gets a closing response.
    assert_eq!(
        dumped_header(&dump, "connection").as_deref(),
        Some("close"),
        "{dump:?}"
    );
    // The big file over HTTP/1.0, byte for byte.
    let body = out.path().join("big.out");
    curl(&["--http1.0", "-o", path_str(&body), &server.url("/big.bin")]);
    let received = std::fs::read(&body).unwrap();
    assert!(received == std::fs::read(site.path().join("big.bin")).unwrap());
}

/// Runs one curl over `paths` and returns, per URL, (status, new connects).
fn one_curl_many_urls(server: &TestServer, paths: &[&str]) -> Vec<(String, String)> {
    let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    let mut args: Vec<&str> = vec!["-w", "%{http_code} %{num_connects}\\n"];
    for url in &urls {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let text = stdout(&curl(&args));
    let rows: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (code, connects) = l.split_once(' ').unwrap_or((l, ""));
            (code.to_string(), connects.to_string())
        })
        .collect();
    assert_eq!(rows.len(), paths.len(), "curl output: {text:?}");
    rows
}

fn total_connects(rows: &[(String, String)]) -> Option<u32> {
    rows.iter().map(|(_, n)| n.parse::<u32>().ok()).sum()
}

#[test]
fn several_urls_reuse_one_connection() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let rows = one_curl_many_urls(&server, &["/hello.txt", "/data.json", "/big.bin"]);
    let codes: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["200", "200", "200"]);
    match total_connects(&rows) {
        Some(total) => assert_eq!(total, 1, "keep-alive not reused: {rows:?}"),
        None => eprintln!("curl does not report %{{num_connects}}; reuse not checked"),
    }
}

#[test]
fn a_404_keeps_the_connection_for_the_next_url() {
    if !require_tool("curl") {
        return;
    }
    let site = curl_site();
    let server = TestServer::start(site.path(), "");
    let rows = one_curl_many_urls(&server, &["/hello.txt", "/missing", "/docs/"]);
    let codes: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["200", "404", "200"]);
    match total_connects(&rows) {
        Some(total) => assert_eq!(total, 1, "404 closed the connection: {rows:?}"),
        None => eprintln!("curl does not report %{{num_connects}}; reuse not checked"),
    }
}
