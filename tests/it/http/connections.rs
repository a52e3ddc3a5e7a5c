//! Connection management: keep-alive in HTTP/1.1 and 1.0,
//! `Connection: close`, half-closing clients, and pipelining.

use super::*;

#[test]
fn http11_keeps_alive_by_default() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    for round in 0..3 {
        for (path, body) in [("/hello.txt", HELLO), ("/data.json", DATA), ("/", INDEX)] {
            send(
                &mut stream,
                &format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"),
            );
            let response = next_response(&mut stream, false);
            assert_eq!(response.status, 200, "round {round} {path}");
            assert_eq!(response.body, body, "round {round} {path}");
            assert_keeps_alive(&response);
        }
    }
}

#[test]
fn connection_close_from_client_closes() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(next_response(&mut stream, false).body, HELLO);
    send(
        &mut stream,
        "GET /data.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all, false);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body, DATA);
    assert_eq!(responses[0].header("Connection"), Some("close"));
}

#[test]
fn a_client_that_half_closes_gets_its_responses_then_eof() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for _ in 0..3 {
        let mut stream = server.connect();
        send(
            &mut stream,
            "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /data.json HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        // Within 5 s, not at the 75 s keep-alive timeout: the client's
        // close is seen as soon as its requests are answered.
        let responses = parse_responses(&read_until_eof(&mut stream), false);
        assert_eq!(responses.len(), 2);
        assert_eq!(responses[0].body, HELLO);
        assert_eq!(responses[1].body, DATA);
    }
}

#[test]
fn http10_without_keep_alive_closes() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    send(&mut stream, "GET /hello.txt HTTP/1.0\r\n\r\n");
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all, false);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body, HELLO);
    assert_eq!(responses[0].header("Connection"), Some("close"));
}

#[test]
fn http10_with_keep_alive_stays_open() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    send(
        &mut stream,
        "GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    let first = next_response(&mut stream, false);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, HELLO);
    assert_eq!(first.header("Connection"), Some("keep-alive"));
    send(
        &mut stream,
        "GET /data.json HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    );
    let second = next_response(&mut stream, false);
    assert_eq!(second.body, DATA);
    assert_eq!(second.header("Connection"), Some("keep-alive"));
    // A plain HTTP/1.0 request on the same connection ends it.
    send(&mut stream, "GET / HTTP/1.0\r\n\r\n");
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all, false);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].body, INDEX);
    assert_eq!(responses[0].header("Connection"), Some("close"));
}

#[test]
fn pipelined_requests_answered_in_order() {
    let site = site();
    let big = pattern(100_000, 3);
    write(site.path(), "big.bin", &big);
    let server = TestServer::start(site.path(), "");
    // (method, path, status, body)
    let kinds: [(&str, &str, u16, &[u8]); 8] = [
        ("GET", "/hello.txt", 200, HELLO),
        ("GET", "/data.json", 200, DATA),
        ("GET", "/nope.txt", 404, b""),
        ("HEAD", "/hello.txt", 200, b""),
        ("GET", "/", 200, INDEX),
        ("GET", "/sub/page.html", 200, b"<p>sub page</p>\n"),
        ("GET", "/big.bin", 200, &big),
        ("GET", "/sub", 301, b""),
    ];
    let count = 50;
    let mut raw = String::new();
    for i in 0..count {
        let (method, path, ..) = kinds[i % kinds.len()];
        let close = if i == count - 1 {
            "Connection: close\r\n"
        } else {
            ""
        };
        raw.push_str(&format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nX-Seq: {i}\r\n{close}\r\n"
        ));
    }
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    for i in 0..count {
        let (method, path, status, body) = kinds[i % kinds.len()];
        let response = next_response(&mut stream, method == "HEAD");
        assert_eq!(response.status, status, "#{i} {method} {path}");
        match status {
            200 if method == "HEAD" => {
                assert!(response.body.is_empty());
                assert_eq!(response.header("Content-Length"), Some("13"));
            }
            200 => assert!(response.body == body, "#{i} {method} {path}: wrong body"),
            404 => assert_error_page(&response, 404),
            301 => assert_eq!(response.header("Location"), Some("/sub/")),
            _ => unreachable!(),
        }
        if i < count - 1 {
            assert_keeps_alive(&response);
        } else {
            assert_eq!(response.header("Connection"), Some("close"));
        }
    }
    assert_closed(&mut stream);
}

/// A response written while a pipelined request is already buffered goes
/// out with `MSG_MORE`, so that the kernel can send it with the next
/// responses; when the next request turns out to be incomplete, what was
/// held back must be sent at once. Left to the kernel, it would be sent
/// only by a timer, about 200 ms later, on every attempt; a loaded machine
/// can delay one attempt that long, not all of them, so the test takes the
/// fastest of five.
#[test]
fn a_pipelined_answer_is_not_held_back_for_a_request_still_arriving() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let request = "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let fastest = (0..5)
        .map(|_| {
            let mut stream = server.connect();
            // Once through the pool, so that the next answer is a cache hit.
            send(&mut stream, request);
            assert_eq!(next_response(&mut stream, false).body, HELLO);
            let started = std::time::Instant::now();
            send(
                &mut stream,
                &format!("{request}GET /data.json HTTP/1.1\r\nHo"),
            );
            let first = next_response(&mut stream, false);
            let waited = started.elapsed();
            assert_eq!(first.body, HELLO);
            // The rest of the second request is still answered.
            send(&mut stream, "st: t\r\n\r\n");
            assert_eq!(next_response(&mut stream, false).body, DATA);
            waited
        })
        .min()
        .unwrap();
    assert!(
        fastest < Duration::from_millis(100),
        "the answer before an incomplete pipelined request waited {fastest:?} at best"
    );
}
