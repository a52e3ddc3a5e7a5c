//! Directories: index files (default and configured), the redirect
//! that adds the slash, and 404s for missing files.

use super::*;

#[test]
fn root_and_directories_serve_index() {
    let site = site();
    write(site.path(), "docs/index.html", b"<p>docs index</p>\n");
    let server = TestServer::start(site.path(), "");
    let root = server.get("/");
    assert_eq!(root.status, 200);
    assert_eq!(root.body, INDEX);
    assert_eq!(
        root.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let docs = server.get("/docs/");
    assert_eq!(docs.status, 200);
    assert_eq!(docs.body, b"<p>docs index</p>\n");
    assert_eq!(
        docs.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn directory_without_slash_redirects() {
    let site = site();
    write(site.path(), "docs/index.html", b"<p>docs index</p>\n");
    write(site.path(), "my dir/x.txt", b"x");
    let server = TestServer::start(site.path(), "");
    for (target, location) in [
        ("/sub", "/sub/"),
        ("/docs", "/docs/"),
        ("/sub?x=1", "/sub/?x=1"),
        ("/docs?a=1&b=2", "/docs/?a=1&b=2"),
        ("/my%20dir", "/my%20dir/"),
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 301, "{target}");
        assert_eq!(response.header("Location"), Some(location), "{target}");
        assert_error_page(&response, 301);
    }
    // Following the redirect works.
    assert_eq!(server.get("/docs/").body, b"<p>docs index</p>\n");
}

#[test]
fn missing_file_is_404_and_keeps_alive() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    for path in ["/missing.txt", "/sub/missing.html", "/nodir/x"] {
        send(
            &mut stream,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"),
        );
        let response = next_response(&mut stream, false);
        assert_error_page(&response, 404);
        assert_keeps_alive(&response);
    }
    send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(next_response(&mut stream, false).body, HELLO);
}

#[test]
fn file_with_trailing_slash_is_404() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    assert_error_page(&server.get("/hello.txt/"), 404);
    assert_error_page(&server.get("/sub/page.html/"), 404);
    // Sanity: without the slash it exists.
    assert_eq!(server.get("/hello.txt").status, 200);
}

#[test]
fn custom_index_files() {
    let site = site();
    write(site.path(), "default.htm", b"<p>default</p>\n");
    write(site.path(), "sub/default.htm", b"<p>sub default</p>\n");
    let server = TestServer::start(site.path(), "[http]\nindex_files = [\"default.htm\"]\n");
    let root = server.get("/");
    assert_eq!(root.status, 200);
    assert_eq!(root.body, b"<p>default</p>\n");
    assert_eq!(
        root.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(server.get("/sub/").body, b"<p>sub default</p>\n");
    // index.html is no longer an index, but still a file.
    assert_eq!(server.get("/index.html").body, INDEX);
}
