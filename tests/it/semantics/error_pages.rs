//! Custom error pages: served for their status, their HEAD, and the
//! built-in page when the configured file is missing.

use super::*;

const PAGE_404: &[u8] = b"<!doctype html><title>lost</title>custom not found page\n";
const PAGE_405: &[u8] = b"custom: method not allowed\n";

#[test]
fn custom_error_pages() {
    let (site, _) = semantics_site();
    write(site.path(), "errors/404.html", PAGE_404);
    write(site.path(), "errors/405.txt", PAGE_405);
    let server = TestServer::start(
        site.path(),
        "[http.error_pages]\n404 = \"/errors/404.html\"\n405 = \"errors/405.txt\"\n",
    );
    for target in ["/missing.html", "/sub/deep/missing", "/.secret"] {
        let response = get(&server, target, &[]);
        check(&response, 404);
        assert_eq!(response.body, PAGE_404, "{target}");
        assert_eq!(
            response.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert!(response.header("ETag").is_none());
        assert!(response.header("Cache-Control").is_none());
    }
    // The page itself is still served normally.
    check_full(&get(&server, "/errors/404.html", &[]), PAGE_404);

    let response = fetch(&server, "DELETE", "/hello.txt", &[("Content-Length", "0")]);
    check(&response, 405);
    assert_eq!(response.body, PAGE_405);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8"),
        "the page file's type"
    );
    assert_eq!(response.header("Allow"), Some("GET, HEAD, OPTIONS"));

    // HEAD of a missing file: 404 without a body.
    let response = head(&server, "/missing.html", &[]);
    assert_eq!(response.status, 404);
    assert!(response.body.is_empty());

    // Statuses without a configured page keep the built-in one.
    let response = get(&server, "/r.txt", &[("Range", "bytes=5000-")]);
    check(&response, 416);
    assert!(response.text().contains("416"));
}

#[test]
fn head_of_a_custom_error_page_has_the_get_headers() {
    let (site, _) = semantics_site();
    write(
        site.path(),
        "errors/404.txt",
        b"custom 404 page, in plain text\n",
    );
    let server = TestServer::start(
        site.path(),
        "[http.error_pages]\n404 = \"/errors/404.txt\"\n",
    );
    let got = get(&server, "/missing", &[]);
    check(&got, 404);
    let headed = head(&server, "/missing", &[]);
    assert_eq!(headed.status, 404);
    assert!(headed.body.is_empty());
    assert_eq!(
        headed.header("Content-Length"),
        got.header("Content-Length")
    );
    assert_eq!(headed.header("Content-Type"), got.header("Content-Type"));
}

#[test]
fn a_missing_error_page_falls_back_to_the_built_in_page() {
    let (site, _) = semantics_site();
    let server = TestServer::start(
        site.path(),
        "[http.error_pages]\n404 = \"/errors/nope.html\"\n",
    );
    let response = get(&server, "/missing", &[]);
    check(&response, 404);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let text = response.text();
    assert!(text.contains("404") && text.contains("<html"), "{text}");
    // And the connection logic is unchanged: a keep-alive 404 keeps it.
    let mut stream = server.connect();
    stream
        .write_all(
            b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let first = read_response(&mut stream, false).expect("404");
    assert_eq!(first.status, 404);
    let second = read_response(&mut stream, false).expect("200 after the 404");
    assert_eq!(second.status, 200);
    assert_eq!(second.body, HELLO);
}
