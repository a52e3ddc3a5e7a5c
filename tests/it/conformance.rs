//! Conformance to the request rules of RFC 9112 and RFC 9110, over raw
//! sockets to a real wharf: the request line (forms of the target,
//! versions), `Host`, header syntax, message framing and request bodies.
//! The checklist is the one third-party suites (h1spec and the like) run;
//! the cases are written here from the RFCs, with what wharf chose where
//! they leave a choice (see docs/http.md, "Choices and defaults").
//!
//! Every refusal closes the connection: [`refused`] checks that exactly
//! one answer arrives and then a clean end of stream, so a body or a
//! pipelined request behind a refused head can never be answered.

use crate::harness::*;

use std::io::Write;
use std::time::Duration;

const ALLOW: &str = "GET, HEAD, OPTIONS";

/// Sends `raw` on a new connection; every response until the server closes.
fn exchange(server: &TestServer, raw: &[u8]) -> Vec<Response> {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    let all = read_until_eof(&mut stream);
    parse_responses(&all, raw.starts_with(b"HEAD "))
}

/// `raw` gets exactly one answer, `status` with `Connection: close`, and
/// then the connection ends (nothing after the head is answered).
#[track_caller]
fn refused(server: &TestServer, raw: &[u8], status: u16) -> Response {
    let responses = exchange(server, raw);
    let shown = String::from_utf8_lossy(raw);
    assert_eq!(responses.len(), 1, "one answer to {shown:?}: {responses:?}");
    let response = responses.into_iter().next().unwrap();
    assert_eq!(response.status, status, "{shown:?}: {}", response.head);
    assert_eq!(response.header("Connection"), Some("close"), "{shown:?}");
    response
}

/// `raw` (one request, keep-alive) is answered with `status` on a
/// connection that stays open: a second request on it gets `hello.txt`.
#[track_caller]
fn answered_and_kept(server: &TestServer, raw: &str, status: u16) -> Response {
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    let response = read_response(&mut stream, raw.starts_with("HEAD ")).expect("an answer");
    assert_eq!(response.status, status, "{raw:?}: {}", response.head);
    assert_ne!(response.header("Connection"), Some("close"), "{raw:?}");
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let next = read_response(&mut stream, false).expect("an answer to the second request");
    assert_eq!(next.status, 200, "after {raw:?}");
    assert_eq!(next.body, HELLO, "after {raw:?}");
    response
}

// ---- bodies (issue 16, defect 1) ----

#[test]
fn a_well_framed_body_on_an_unserved_method_gets_405_with_allow() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // A pipelined GET behind the body: never answered, since the body is
    // not read and the connection closes.
    let behind = "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    for method in ["POST", "PUT", "DELETE", "PATCH", "PROPFIND"] {
        let raw = format!(
            "{method} /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: 3\r\n\r\na=1{behind}"
        );
        let response = refused(&server, raw.as_bytes(), 405);
        assert_eq!(response.header("Allow"), Some(ALLOW), "{method}");
        assert!(response.text().contains("405"), "{method}");
        // A missing path is 405 too: the method is refused first.
        let raw = format!("{method} /missing HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
        refused(&server, raw.as_bytes(), 405);
    }
}

#[test]
fn a_chunked_post_gets_405() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for coding in ["chunked", "Chunked", "gzip, chunked"] {
        let raw = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {coding}\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"
        );
        let response = refused(&server, raw.as_bytes(), 405);
        assert_eq!(response.header("Allow"), Some(ALLOW), "{coding}");
    }
}

#[test]
fn expect_100_continue_gets_the_final_answer_at_once() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // The body is never sent: a client waiting for 100 Continue gets 405
    // straight away, and no 100.
    let response = refused(
        &server,
        b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        405,
    );
    assert_eq!(response.header("Allow"), Some(ALLOW));
    // Without a body, Expect changes nothing.
    answered_and_kept(
        &server,
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
        200,
    );
}

#[test]
fn an_unread_100_kib_body_is_drained_so_the_client_gets_the_405_not_a_reset() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let body = pattern(100 * 1024, 16);
    let mut stream = server.connect();
    // The head first, as a client that waits for an early answer sends it.
    write!(
        stream,
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let response = read_response(&mut stream, false).expect("an answer before the body");
    assert_eq!(response.status, 405, "{}", response.head);
    assert_eq!(response.header("Allow"), Some(ALLOW));
    assert_eq!(response.header("Connection"), Some("close"));
    // Then the body, which wharf discards unread: every write must go
    // through (a server that closed with input unread would reset the
    // connection, failing the writes).
    for piece in body.chunks(8 * 1024) {
        stream
            .write_all(piece)
            .expect("the body is drained, not reset");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The server shut its side after the answer: a clean end of stream...
    let rest = read_until_eof(&mut stream);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // ... and no reset arrives once it has read the whole body.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        stream.take_error().unwrap().is_none(),
        "the connection was reset"
    );
}

#[test]
fn get_and_head_with_a_body_are_answered_and_then_closed() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let behind = "GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n";
    for framing in [
        "Content-Length: 5\r\n\r\nhello",
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\n{framing}{behind}");
        let response = refused(&server, raw.as_bytes(), 200);
        assert_eq!(response.body, HELLO, "{framing:?}");
        let raw = format!("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n{framing}{behind}");
        let response = refused(&server, raw.as_bytes(), 200);
        assert_eq!(
            response.header("Content-Length"),
            Some(HELLO.len().to_string().as_str())
        );
        assert!(response.body.is_empty());
        // OPTIONS, too, is answered as without the body.
        let raw = format!("OPTIONS * HTTP/1.1\r\nHost: t\r\n{framing}{behind}");
        let response = refused(&server, raw.as_bytes(), 204);
        assert_eq!(response.header("Allow"), Some(ALLOW));
    }
    // An HTTP/1.0 keep-alive request with a body closes as well.
    let raw = "GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi";
    let response = refused(&server, raw.as_bytes(), 200);
    assert_eq!(response.body, HELLO);
}

#[test]
fn a_body_ends_a_pipeline_after_its_answer() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // Answers in order up to the request with a body; what follows it is
    // the body's business, never read as requests.
    let raw = "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n\
               POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody\
               GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n";
    let responses = exchange(&server, raw.as_bytes());
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 405], "{responses:?}");
    assert_eq!(responses[0].body, HELLO);
    assert_ne!(responses[0].header("Connection"), Some("close"));
    assert_eq!(responses[1].header("Connection"), Some("close"));
}

#[test]
fn content_length_zero_is_no_body_and_keeps_the_connection() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for length in ["0", "000"] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n");
        let response = answered_and_kept(&server, &raw, 200);
        assert_eq!(response.body, HELLO);
        let raw =
            format!("POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n");
        let response = answered_and_kept(&server, &raw, 405);
        assert_eq!(response.header("Allow"), Some(ALLOW));
    }
}

#[test]
fn bad_framing_is_400_and_closes() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let cases = [
        // Content-Length and Transfer-Encoding together (in any case and order).
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "content-LengtH: 5\r\nTransFer-Encoding: chunked\r\n",
        // Content-Length that is not 1*DIGIT, or repeated.
        "Content-Length: +5\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: -123456789123456789123456789\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5.0\r\n",
        "Content-Length:\r\n",
        "Content-Length: 123456789012345678901234567890\r\n",
        "Content-Length: 5\r\nContent-Length: 7\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        // Transfer-Encoding whose last coding is not chunked, or chunked twice.
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: nonsense\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: \r\n",
        "Transfer-Encoding: \"chunked\"\r\n",
        // Whitespace before the colon of a framing header.
        "Transfer-Encoding : chunked\r\n",
        "Content-Length : 5\r\n",
    ];
    for method in ["POST", "GET"] {
        for framing in cases {
            // A smuggled request where a body would be: never answered.
            let raw = format!(
                "{method} /hello.txt HTTP/1.1\r\nHost: t\r\n{framing}\r\n\
                 5\r\nhello\r\n0\r\n\r\nGET /data.json HTTP/1.1\r\nHost: t\r\n\r\n"
            );
            let response = refused(&server, raw.as_bytes(), 400);
            assert!(!response.text().contains("hello, world"), "{raw:?}");
        }
    }
    // HTTP/1.0 has no chunked coding (RFC 9112 section 6.1).
    refused(
        &server,
        b"POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
    );
    refused(
        &server,
        b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

// ---- Host (issue 16, defect 2) ----

#[test]
fn an_invalid_host_is_400() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for host in [
        "bad host",
        "a/b",
        "a, b",
        "user@example.com",
        "example.com:http",
        "example.com:80:80",
        "::1",
        "[::1",
        "[::1]x",
        "[not-v6]",
        "a?b",
        "a#b",
        "a\\b",
        "%zz.example",
        "\"example.com\"",
    ] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: {host}\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
        // HTTP/1.0 does not need a Host, but a bad one is still bad.
        let raw = format!("GET /hello.txt HTTP/1.0\r\nHost: {host}\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
}

#[test]
fn valid_hosts_are_served() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for host in [
        "example.com",
        "example.com:8080",
        "EXAMPLE.com.",
        "127.0.0.1",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8080",
        "[2001:db8::7]",
        "xn--bcher-kva.example",
        "a_b-c~d",
        // Empty: what a client sends for a target without authority.
        "",
    ] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let response = answered_and_kept(&server, &raw, 200);
        assert_eq!(response.body, HELLO, "{host:?}");
    }
    // Optional whitespace around the value, and the name's case, do not matter.
    let raw = "GET /hello.txt HTTP/1.1\r\nhoSt:\texample.com \r\nempty:\r\n\r\n";
    assert_eq!(answered_and_kept(&server, raw, 200).body, HELLO);
}

#[test]
fn a_missing_or_repeated_host_is_400() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for raw in [
        "GET /hello.txt HTTP/1.1\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: example.com\r\nhost: example.org\r\n\r\n",
        "GET /hello.txt HTTP/1.0\r\nHost: t\r\nHost: t\r\n\r\n",
        // Absolute form does not excuse a missing Host in HTTP/1.1.
        "GET http://t/hello.txt HTTP/1.1\r\n\r\n",
    ] {
        refused(&server, raw.as_bytes(), 400);
    }
    // HTTP/1.0 may leave it out.
    let raw = "GET /hello.txt HTTP/1.0\r\n\r\n";
    assert_eq!(refused(&server, raw.as_bytes(), 200).body, HELLO);
}

// ---- the request line (issue 16, defect 3) ----

#[test]
fn malformed_request_lines_are_400_not_505() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for line in [
        "GET / extra HTTP/1.1",
        "Extra lineGET / HTTP/1.1",
        "GET /a /b HTTP/1.1",
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 ",
        " GET / HTTP/1.1",
        "GET /",
        "GET / ",
        "GET\t/ HTTP/1.1",
        "GET / HTTP/1.10",
        "GET / HTTP/1",
        "GET / HTTP/2.0 extra",
        "GET / http/1.1",
        "GET / HTTP/1.1.1",
        "G(T / HTTP/1.1",
    ] {
        let raw = format!("{line}\r\nHost: t\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
}

#[test]
fn other_major_versions_are_505() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/9.9", "HTTP/0.9", "HTTP/2"] {
        let raw = format!("GET /hello.txt {version}\r\nHost: t\r\n\r\n");
        let response = refused(&server, raw.as_bytes(), 505);
        assert!(response.head.starts_with("HTTP/1.1 505 "), "{version}");
    }
    // The HTTP/2 connection preface.
    refused(&server, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
}

#[test]
fn a_higher_http_1_minor_is_served_as_1_1() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for version in ["HTTP/1.2", "HTTP/1.9"] {
        let raw = format!("GET /hello.txt {version}\r\nHost: t\r\n\r\n");
        let response = answered_and_kept(&server, &raw, 200);
        assert!(response.head.starts_with("HTTP/1.1 200 "), "{version}");
        assert_eq!(response.body, HELLO);
        // As HTTP/1.1, it needs a Host.
        let raw = format!("GET /hello.txt {version}\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
    // Sent a byte at a time, it is still read as one request.
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    for byte in b"GET /hello.txt HTTP/1.2\r\nHost: t\r\nConnection: close\r\n\r\n" {
        stream.write_all(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let responses = parse_responses(&read_until_eof(&mut stream), false);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].body, HELLO);
}

// ---- request-target forms (RFC 9112 section 3.2) ----

#[test]
fn absolute_form_is_served_from_its_path() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for target in [
        "http://t/hello.txt",
        "http://other.example:8080/hello.txt",
        "HTTP://T/hello.txt",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = answered_and_kept(&server, &raw, 200);
        assert_eq!(response.body, HELLO, "{target}");
    }
}

#[test]
fn asterisk_form_is_for_options_only() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let response = answered_and_kept(&server, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 204);
    assert_eq!(response.header("Allow"), Some(ALLOW));
    for method in ["GET", "HEAD"] {
        let raw = format!("{method} * HTTP/1.1\r\nHost: t\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
}

#[test]
fn authority_form_is_refused() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // CONNECT is a method wharf does not serve.
    let raw = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    let response = answered_and_kept(&server, raw, 405);
    assert_eq!(response.header("Allow"), Some(ALLOW));
    // Authority form on GET is not a target wharf serves.
    let raw = "GET example.com:443 HTTP/1.1\r\nHost: t\r\n\r\n";
    refused(&server, raw.as_bytes(), 400);
}

// ---- header syntax (RFC 9112 section 5) ----

#[test]
fn bare_lf_line_endings_are_accepted() {
    // RFC 9112 section 2.2: a recipient MAY take a lone LF as a line end;
    // wharf (through httparse) does, as nginx does.
    let site = site();
    let server = TestServer::start(site.path(), "");
    let response = answered_and_kept(&server, "GET /hello.txt HTTP/1.1\nHost: t\n\n", 200);
    assert_eq!(response.body, HELLO);
    let raw = "GET /hello.txt HTTP/1.1\r\nHost: t\nAccept: */*\r\n\n";
    assert_eq!(answered_and_kept(&server, raw, 200).body, HELLO);
}

#[test]
fn empty_lines_before_the_request_line_are_ignored() {
    // RFC 9112 section 2.2: a server SHOULD ignore at least one.
    let site = site();
    let server = TestServer::start(site.path(), "");
    let response = answered_and_kept(
        &server,
        "\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        200,
    );
    assert_eq!(response.body, HELLO);
}

#[test]
fn bad_header_syntax_is_400() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for headers in [
        // Whitespace between the name and the colon (section 5.1).
        "Host : t\r\n",
        "Host: t\r\nX-A : b\r\n",
        "Host: t\r\nX-A\t: b\r\n",
        // Obsolete line folding (section 5.2), after a field and at the start.
        "Host: t\r\nX-A: b\r\n  continued\r\n",
        "Host: t\r\nX-A: b\r\n\tcontinued\r\n",
        " Host: t\r\n",
        // Names that are not tokens, a line without a colon.
        "Host: t\r\nBad Header: x\r\n",
        "Host: t\r\nX-Invalid[]: test\r\n",
        "Host: t\r\n: empty name\r\n",
        "Host: t\r\nNo colon here\r\n",
        // Control characters in a value, a bare CR.
        "Host: local\x00host\r\n",
        "Host: t\r\nX-Bell: test\x07\r\n",
        "Host: t\r\nX-A: a\rb\r\n",
        "Host: t\r\n\rX-A: b\r\n",
    ] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\n{headers}\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
}
