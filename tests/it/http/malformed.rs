//! Malformed requests and limits: 400, 414, 431 and 505, each followed
//! by a close; request bodies never read as requests; error pages naming
//! their status.

use super::*;

/// Sends `raw` on a new connection and expects exactly one response with
/// `status`, `Connection: close`, an HTML error page, then EOF.
fn expect_error_then_close(server: &TestServer, raw: &[u8], status: u16) -> Response {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all, false);
    assert_eq!(
        responses.len(),
        1,
        "exactly one response expected before EOF, got: {:?}",
        String::from_utf8_lossy(&all)
    );
    let response = responses.into_iter().next().unwrap();
    assert_eq!(response.status, status, "{}", response.head);
    assert_eq!(response.header("Connection"), Some("close"));
    assert_error_page(&response, status);
    response
}

#[test]
fn malformed_request_line_is_400_and_closes() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for raw in [
        "GARBAGE\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET / FTP/1.1\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    ] {
        let response = expect_error_then_close(&server, raw.as_bytes(), 400);
        assert!(response.head.starts_with("HTTP/1.1 400 "), "{raw:?}");
    }
}

#[test]
fn bad_targets_are_400() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for raw in [
        "GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET ftp://example.com/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        expect_error_then_close(&server, raw.as_bytes(), 400);
    }
}

#[test]
fn unsupported_versions_are_505() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for raw in [
        "GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        "GET / HTTP/3.0\r\nHost: t\r\n\r\n",
    ] {
        let response = expect_error_then_close(&server, raw.as_bytes(), 505);
        assert!(response.head.starts_with("HTTP/1.1 505 "), "{raw:?}");
    }
}

#[test]
fn oversized_header_section_is_431() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    expect_error_then_close(&server, big.as_bytes(), 431);
    // Many medium headers adding up past 16 KiB.
    let mut many = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..40 {
        many.push_str(&format!("X-H{i}: {}\r\n", "b".repeat(500)));
    }
    many.push_str("\r\n");
    expect_error_then_close(&server, many.as_bytes(), 431);
    // Just under the limit is fine.
    let ok = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(15 * 1024)
    );
    let response = server.request(&ok);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, HELLO);
}

#[test]
fn max_header_bytes_is_configurable() {
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nmax_header_bytes = 2048\n");
    let big = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(3 * 1024)
    );
    expect_error_then_close(&server, big.as_bytes(), 431);
    let small = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Small: {}\r\n\r\n",
        "a".repeat(1024)
    );
    let response = server.request(&small);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, HELLO);
}

#[test]
fn overlong_target_is_414() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let raw = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9 * 1024));
    expect_error_then_close(&server, raw.as_bytes(), 414);
    // A long but acceptable target is just a 404.
    let raw = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "a".repeat(4 * 1024)
    );
    assert_eq!(server.request(&raw).status, 404);
}

#[test]
fn request_bodies_are_never_parsed_as_requests() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // A smuggled request inside a declared body: the GET is answered as if
    // it had no body, the connection closes, and the body is never read as
    // a request (tests/it/conformance.rs has the rest of the body rules).
    let smuggle = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n\
                   GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stream = server.connect();
    stream.write_all(smuggle.as_bytes()).unwrap();
    let responses = parse_responses(&read_until_eof(&mut stream), false);
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body, INDEX);
    assert_eq!(responses[0].header("Connection"), Some("close"));
    // Bad framing is refused.
    for raw in [
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n\
         0\r\n\r\nGET /data.json HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let response = expect_error_then_close(&server, raw.as_bytes(), 400);
        assert!(!response.text().contains("hello, world"), "{raw:?}");
    }
}

#[test]
fn error_pages_name_their_status() {
    let site = site();
    let server = TestServer::start(site.path(), "[http]\ndirectory_listing = false\n");
    assert_error_page(&server.get("/missing"), 404);
    assert_error_page(&server.get("/empty/"), 403);
    let response = server.request("PUT / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_error_page(&response, 405);
    for (raw, status) in [("NOPE\r\n\r\n", 400), ("GET / HTTP/2.0\r\n\r\n", 505)] {
        let response = server.request(raw);
        assert_error_page(&response, status);
    }
}
