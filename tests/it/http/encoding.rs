//! Percent-encoded names and queries; also the hidden file's 404 keeping
//! the connection, the one `Host` HTTP/1.1 needs, and the root's redirect.

use super::*;

#[test]
fn percent_encoded_names_and_queries() {
    let site = site();
    write(site.path(), "a b.txt", b"space\n");
    write(site.path(), "caf\u{e9}.txt", b"cafe\n");
    write(site.path(), "100%.txt", b"percent\n");
    write(site.path(), "a+b.txt", b"plus\n");
    let server = TestServer::start(site.path(), "");
    for (target, body) in [
        ("/a%20b.txt", &b"space\n"[..]),
        ("/caf%C3%A9.txt", b"cafe\n"),
        ("/caf%c3%a9.txt", b"cafe\n"),
        ("/100%25.txt", b"percent\n"),
        ("/a+b.txt", b"plus\n"),
        ("/hello.txt?v=1", HELLO),
        ("/hello.txt?", HELLO),
        ("/hello.txt?a=%zz&b=../../x", HELLO),
        ("/%68ello.txt", HELLO),
        ("/sub//page.html", b"<p>sub page</p>\n"),
        ("/./hello.txt", HELLO),
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(response.body, body, "{target}");
    }
    assert_eq!(
        server.get("/hello.txt?v=1").header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn hidden_404_keeps_alive_like_other_404s() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    send(&mut stream, "GET /.secret HTTP/1.1\r\nHost: t\r\n\r\n");
    let response = next_response(&mut stream, false);
    assert_error_page(&response, 404);
    assert_keeps_alive(&response);
    send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(next_response(&mut stream, false).body, HELLO);
}

#[test]
fn host_header_is_required_once_in_http11() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for raw in [
        "GET /hello.txt HTTP/1.1\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /hello.txt HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
    ] {
        let mut stream = server.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        let response = read_response(&mut stream, false).expect("an answer");
        assert_eq!(response.status, 400, "{raw:?}");
        assert_eq!(response.header("Connection"), Some("close"), "{raw:?}");
    }
    // HTTP/1.0 may leave Host out.
    let response = server.request("GET /hello.txt HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
}

#[test]
fn the_root_without_its_slash_redirects_to_slash() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // `/%2e` decodes to the root itself, named without a trailing slash.
    let response = server.get("/%2e?x=1");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("Location"), Some("/?x=1"));
}
