//! HTTP behaviour of the real `wharf` binary, over real sockets: file
//! responses and their headers, HEAD, keep-alive and pipelining, directories,
//! listings, hidden files, methods, malformed requests and limits, the
//! access log and graceful shutdown.

use crate::harness::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// Helpers local to this file.

const HELLO: &[u8] = b"hello, world\n";
const INDEX: &[u8] = b"<!doctype html><title>home</title>home page\n";
const DATA: &[u8] = b"{\"ok\": true}\n";

/// `Sun, 06 Nov 1994 08:49:37 GMT` as Unix seconds.
const KNOWN_MTIME: u64 = 784_111_777;
const KNOWN_MTIME_TEXT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn send(stream: &mut TcpStream, raw: &str) {
    stream.write_all(raw.as_bytes()).unwrap();
}

/// Reads one response, failing the test if none arrives.
fn next_response(stream: &mut TcpStream, head_only: bool) -> Response {
    read_response(stream, head_only).expect("a response before EOF")
}

/// Reads until the server closes the connection, asserting that it really
/// closed (EOF, not a read timeout or a reset), and returns what was read.
fn read_until_eof(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut all = Vec::new();
    match stream.read_to_end(&mut all) {
        Ok(_) => all,
        Err(e) => panic!(
            "expected the server to close the connection, got {e} after {:?}",
            String::from_utf8_lossy(&all)
        ),
    }
}

/// Asserts the server closes the connection without sending anything more.
fn assert_closed(stream: &mut TcpStream) {
    let rest = read_until_eof(stream);
    assert!(
        rest.is_empty(),
        "unexpected bytes before EOF: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// Parses every complete response in `bytes` (none of them to HEAD),
/// panicking on trailing garbage or a truncated response.
fn parse_responses(mut bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("incomplete head: {:?}", String::from_utf8_lossy(bytes)))
            + 4;
        let head = String::from_utf8(bytes[..end].to_vec()).expect("ASCII head");
        let (status, headers) = parse_head(&head);
        let length = content_length(&headers).map_or(0, |n| usize::try_from(n).unwrap());
        assert!(bytes.len() >= end + length, "truncated body in {head:?}");
        let body = bytes[end..end + length].to_vec();
        bytes = &bytes[end + length..];
        out.push(Response {
            status,
            head,
            headers,
            body,
        });
    }
    out
}

/// Sends `raw` on a new connection and expects exactly one response with
/// `status`, `Connection: close`, an HTML error page, then EOF.
fn expect_error_then_close(server: &TestServer, raw: &[u8], status: u16) -> Response {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all);
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

/// An error response: small HTML page naming the status code.
fn assert_error_page(response: &Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.head);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/html; charset=utf-8"),
        "{}",
        response.head
    );
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str())
    );
    let text = response.text();
    assert!(text.contains(&status.to_string()), "body {text:?}");
    assert!(text.to_ascii_lowercase().contains("<html"), "body {text:?}");
    assert!(response.body.len() < 1024, "error page is not small");
}

fn assert_keeps_alive(response: &Response) {
    assert_ne!(
        response.header("Connection"),
        Some("close"),
        "{}",
        response.head
    );
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an IMF-fixdate strictly (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// including the weekday, into Unix seconds.
fn parse_imf_fixdate(text: &str) -> Option<u64> {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if text.len() != 29 {
        return None;
    }
    let parts: Vec<&str> = text.split(' ').collect();
    let [weekday, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let digits = |s: &str, n: usize| -> Option<i64> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let weekday = weekday.strip_suffix(',')?;
    let day = digits(day, 2)?;
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let year = digits(year, 4)?;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms[..] else {
        return None;
    };
    let (h, m, s) = (digits(h, 2)?, digits(m, 2)?, digits(s, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if DAYS[(days + 4).rem_euclid(7) as usize] != weekday {
        return None;
    }
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The entry links of a listing page (`href`, text): every `<a href>`
/// except the column headers' sort links (`?sort=...`).
fn links(html: &str) -> Vec<(String, String)> {
    all_links(html)
        .into_iter()
        .filter(|(href, _)| !href.starts_with('?'))
        .collect()
}

/// `(href, text)` of every `<a>` in a listing page.
fn all_links(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a href=\"") {
        rest = &rest[start + "<a href=\"".len()..];
        let end = rest.find('"').unwrap();
        let href = rest[..end].to_string();
        rest = &rest[end..];
        let text_start = rest.find('>').unwrap() + 1;
        let text_end = rest.find("</a>").unwrap();
        out.push((href, rest[text_start..text_end].to_string()));
        rest = &rest[text_end..];
    }
    out
}

// ---------------------------------------------------------------------------
// Files and their headers.

#[test]
fn get_file_has_body_and_headers() {
    let site = site();
    set_mtime(
        &site.path().join("hello.txt"),
        UNIX_EPOCH + Duration::from_secs(KNOWN_MTIME),
    );
    let server = TestServer::start(site.path(), "");
    let before = unix_now();
    let response = server.get("/hello.txt");
    let after = unix_now();

    assert!(
        response.head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        response.head
    );
    assert_eq!(response.body, HELLO);
    assert_eq!(response.header("Content-Length"), Some("13"));
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.header("Server"),
        Some(concat!("wharf/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(response.header("Last-Modified"), Some(KNOWN_MTIME_TEXT));
    let date = response.header("Date").expect("a Date header");
    assert!(date.ends_with(" GMT"), "{date}");
    let date = parse_imf_fixdate(date).unwrap_or_else(|| panic!("not IMF-fixdate: {date}"));
    assert!(
        date + 2 >= before && date <= after + 2,
        "Date {date} not near now ({before}..{after})"
    );
}

#[test]
fn content_types_by_extension() {
    let site = site();
    write(site.path(), "blob.zzqunknown", b"??");
    write(site.path(), "noext", b"raw");
    write(site.path(), "style.css", b"a{}");
    write(site.path(), "pic.png", b"\x89PNG");
    let server = TestServer::start(site.path(), "");
    let cases: &[(&str, &[u8], &str)] = &[
        ("/hello.txt", HELLO, "text/plain; charset=utf-8"),
        ("/index.html", INDEX, "text/html; charset=utf-8"),
        ("/data.json", DATA, "application/json; charset=utf-8"),
        ("/style.css", b"a{}", "text/css; charset=utf-8"),
        ("/pic.png", b"\x89PNG", "image/png"),
        ("/blob.zzqunknown", b"??", "application/octet-stream"),
        ("/noext", b"raw", "application/octet-stream"),
    ];
    for (path, body, content_type) in cases {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, *body, "{path}");
        assert_eq!(
            response.header("Content-Type"),
            Some(*content_type),
            "{path}"
        );
        assert_eq!(
            response.header("Content-Length"),
            Some(body.len().to_string().as_str()),
            "{path}"
        );
        let last_modified = response.header("Last-Modified").expect("Last-Modified");
        assert!(
            parse_imf_fixdate(last_modified).is_some(),
            "{path}: {last_modified}"
        );
    }
}

#[test]
fn empty_file_is_served_with_zero_length() {
    let site = site();
    write(site.path(), "empty.txt", b"");
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    send(&mut stream, "GET /empty.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let response = next_response(&mut stream, false);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Length"), Some("0"));
    assert!(response.body.is_empty());
    // The connection is still in sync.
    send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(next_response(&mut stream, false).body, HELLO);
}

#[test]
fn head_matches_get_without_a_body() {
    let site = site();
    let big = pattern(200_000, 7);
    write(site.path(), "big.bin", &big);
    let server = TestServer::start(site.path(), "");
    // (path, expected status): a small file, a streamed file, a listing,
    // a redirect, and a 404.
    let cases = [
        ("/hello.txt", 200),
        ("/big.bin", 200),
        ("/empty/", 200),
        ("/sub", 301),
        ("/missing.txt", 404),
    ];
    let mut stream = server.connect();
    for (path, status) in cases {
        // HEAD then GET on the same connection: if HEAD sent any body bytes,
        // the GET's response would not parse right after the HEAD's head.
        send(
            &mut stream,
            &format!(
                "HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\nGET {path} HTTP/1.1\r\nHost: t\r\n\r\n"
            ),
        );
        let head = next_response(&mut stream, true);
        let get = next_response(&mut stream, false);
        assert!(
            get.head.starts_with("HTTP/1.1 "),
            "GET after HEAD {path}: {:?}",
            get.head
        );
        assert_eq!(head.status, status, "HEAD {path}");
        assert_eq!(get.status, status, "GET {path}");
        let without_date = |r: &Response| {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(without_date(&head), without_date(&get), "{path}");
        assert_eq!(
            head.header("Content-Length"),
            Some(get.body.len().to_string().as_str()),
            "{path}"
        );
        assert!(head.header("Date").is_some());
        assert_keeps_alive(&head);
        assert_keeps_alive(&get);
    }
    // The streamed file's GET body was intact.
    send(&mut stream, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(next_response(&mut stream, false).body == big);
}

// ---------------------------------------------------------------------------
// Connection management.

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
    let responses = parse_responses(&all);
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
        let responses = parse_responses(&read_until_eof(&mut stream));
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
    let responses = parse_responses(&all);
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
    let responses = parse_responses(&all);
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

// ---------------------------------------------------------------------------
// Directories, index files and redirects.

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

// ---------------------------------------------------------------------------
// Directory listings.

#[test]
fn listing_of_empty_directory() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let response = server.get("/empty/");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str())
    );
    let html = response.text();
    assert!(html.contains("/empty/"), "{html}");
    // Only the parent link.
    let links = links(&html);
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].0, "../");
}

#[test]
fn listing_shows_entries_with_links() {
    let site = site();
    write(site.path(), "sub/zeta.txt", b"zeta\n");
    write(site.path(), "sub/inner/x.txt", b"x");
    write(site.path(), "sub/.dotfile", b"dot");
    write(site.path(), "sub/.dotdir/y.txt", b"y");
    let server = TestServer::start(site.path(), "");
    let response = server.get("/sub/");
    assert_eq!(response.status, 200);
    let html = response.text();
    let links = links(&html);
    let hrefs: Vec<&str> = links.iter().map(|(h, _)| h.as_str()).collect();
    assert!(hrefs.contains(&"./page.html"), "{hrefs:?}");
    assert!(hrefs.contains(&"./zeta.txt"), "{hrefs:?}");
    assert!(hrefs.contains(&"./inner/"), "{hrefs:?}");
    assert!(
        !html.contains(".dotfile") && !html.contains(".dotdir"),
        "dotfiles listed: {html}"
    );
    // Every link resolves.
    for (href, _) in &links {
        let target = format!("/sub/{}", href.trim_start_matches("./"));
        let target = if href == "../" {
            "/".to_string()
        } else {
            target
        };
        let status = server.get(&target).status;
        assert_eq!(status, 200, "link {href} -> {target}");
    }
    assert!(html.contains("<title>Index of /sub/</title>"), "{html}");
}

#[test]
fn root_listing_lists_entries_and_hides_dotfiles() {
    let site = site();
    std::fs::remove_file(site.path().join("index.html")).unwrap();
    let server = TestServer::start(site.path(), "");
    let root = server.get("/");
    assert_eq!(root.status, 200);
    let html = root.text();
    let hrefs: Vec<String> = links(&html).into_iter().map(|(h, _)| h).collect();
    assert!(hrefs.contains(&"./hello.txt".to_string()), "{hrefs:?}");
    assert!(hrefs.contains(&"./data.json".to_string()), "{hrefs:?}");
    assert!(hrefs.contains(&"./sub/".to_string()), "{hrefs:?}");
    assert!(hrefs.contains(&"./empty/".to_string()), "{hrefs:?}");
    assert!(
        !html.contains(".secret") && !html.contains(".hidden"),
        "{html}"
    );
}

#[test]
fn root_listing_has_no_parent_link() {
    let site = site();
    std::fs::remove_file(site.path().join("index.html")).unwrap();
    let server = TestServer::start(site.path(), "");
    let root = server.get("/");
    assert_eq!(root.status, 200);
    let html = root.text();
    let hrefs: Vec<String> = links(&html).into_iter().map(|(h, _)| h).collect();
    assert!(!hrefs.contains(&"../".to_string()), "{hrefs:?}");
    assert!(html.contains("<title>Index of /</title>"), "{html}");
}

#[test]
fn listing_escapes_names_and_encodes_links() {
    let site = site();
    let evil = "<img src=x onerror=alert(1)>.txt";
    write(site.path(), &format!("list/{evil}"), b"evil content\n");
    write(site.path(), "list/a b&c.txt", b"amp content\n");
    write(site.path(), "list/caf\u{e9}.txt", b"cafe content\n");
    let server = TestServer::start(site.path(), "");
    let response = server.get("/list/");
    assert_eq!(response.status, 200);
    let html = response.text();
    assert!(!html.contains("<img"), "raw markup in listing: {html}");
    assert!(html.contains("&lt;img"), "{html}");
    assert!(html.contains("a b&amp;c.txt"), "{html}");
    let links = links(&html);
    let find = |text: &str| {
        links
            .iter()
            .find(|(_, t)| t == text)
            .unwrap_or_else(|| panic!("no link with text {text:?} in {links:?}"))
            .0
            .clone()
    };
    for (shown, content) in [
        (
            "&lt;img src=x onerror=alert(1)&gt;.txt",
            &b"evil content\n"[..],
        ),
        ("a b&amp;c.txt", b"amp content\n"),
        ("caf\u{e9}.txt", b"cafe content\n"),
    ] {
        let href = find(shown);
        let encoded = href
            .strip_prefix("./")
            .unwrap_or_else(|| panic!("href {href:?} is not ./-relative"));
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"%-._~".contains(&b)),
            "href not percent-encoded: {href:?}"
        );
        let followed = server.get(&format!("/list/{encoded}"));
        assert_eq!(followed.status, 200, "following {href}");
        assert_eq!(followed.body, content, "following {href}");
    }
}

#[test]
fn listing_disabled_is_403() {
    let site = site();
    let server = TestServer::start(site.path(), "[http]\ndirectory_listing = false\n");
    let mut stream = server.connect();
    for path in ["/empty/", "/sub/"] {
        send(
            &mut stream,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"),
        );
        let response = next_response(&mut stream, false);
        assert_error_page(&response, 403);
        assert!(!response.text().contains("page.html"));
    }
    // Index files and plain files are still served.
    send(&mut stream, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(next_response(&mut stream, false).body, INDEX);
    send(
        &mut stream,
        "GET /sub/page.html HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(next_response(&mut stream, false).status, 200);
}

// ---------------------------------------------------------------------------
// Hidden files.

#[test]
fn hidden_files_are_404_by_default() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    for path in [
        "/.secret",
        "/.hidden/file.txt",
        "/.hidden/",
        "/%2esecret",
        "/sub/../.secret",
    ] {
        let response = server.get(path);
        assert_ne!(response.status, 200, "{path}");
        assert!(!response.text().contains("secret dotfile"), "{path}");
        assert!(!response.text().contains("hidden dir file"), "{path}");
    }
    assert_error_page(&server.get("/.secret"), 404);
    assert_error_page(&server.get("/.hidden/file.txt"), 404);
    assert_error_page(&server.get("/%2esecret"), 404);
}

#[test]
fn well_known_is_served_by_default_but_not_dotfiles_inside_it() {
    let site = site();
    write(
        site.path(),
        ".well-known/acme-challenge/t0k3n",
        b"t0k3n.key\n",
    );
    write(site.path(), ".well-known/.env", b"SECRET=1\n");
    let server = TestServer::start(site.path(), "");
    let challenge = server.get("/.well-known/acme-challenge/t0k3n");
    assert_eq!(challenge.status, 200);
    assert_eq!(challenge.body, b"t0k3n.key\n");
    assert_error_page(&server.get("/.well-known/.env"), 404);
}

#[test]
fn absolute_form_targets_are_served_from_their_path() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let hello = server.request("GET http://t/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(hello.status, 200);
    assert_eq!(hello.body, HELLO);
    let index = server.request("GET http://t HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(index.status, 200);
    assert_eq!(index.body, INDEX);
    assert_eq!(
        server
            .request("GET ftp://t/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        400
    );
}

#[test]
fn hidden_files_served_when_enabled() {
    let site = site();
    let server = TestServer::start(site.path(), "[http]\nhidden_files = true\n");
    let secret = server.get("/.secret");
    assert_eq!(secret.status, 200);
    assert_eq!(secret.body, b"secret dotfile\n");
    let file = server.get("/.hidden/file.txt");
    assert_eq!(file.status, 200);
    assert_eq!(file.body, b"hidden dir file\n");
}

// ---------------------------------------------------------------------------
// Methods.

#[test]
fn other_methods_are_405_and_keep_the_connection() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    let mut stream = server.connect();
    for request in [
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "PUT /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n",
        "get /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        send(&mut stream, request);
        let response = next_response(&mut stream, false);
        assert_error_page(&response, 405);
        assert_eq!(
            response.header("Allow"),
            Some("GET, HEAD, OPTIONS"),
            "{request:?}"
        );
        assert_keeps_alive(&response);
        send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let after = next_response(&mut stream, false);
        assert_eq!(after.status, 200, "GET after {request:?}");
        assert_eq!(after.body, HELLO, "GET after {request:?}");
    }
    // A 405 with Connection: close closes.
    send(
        &mut stream,
        "DELETE / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let all = read_until_eof(&mut stream);
    let responses = parse_responses(&all);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 405);
}

// ---------------------------------------------------------------------------
// Malformed requests and limits.

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
        "GET / HTTP/1.2\r\nHost: t\r\n\r\n",
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
fn request_bodies_are_refused_and_never_parsed_as_requests() {
    let site = site();
    let server = TestServer::start(site.path(), "");
    // A smuggled request inside a declared body: exactly one 400, then EOF.
    let smuggle = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n\
                   GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_error_then_close(&server, smuggle.as_bytes(), 400);
    for raw in [
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /data.json HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
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

// ---------------------------------------------------------------------------
// Access log and shutdown.

#[test]
fn access_log_file_has_one_combined_line_per_request() {
    let site = site();
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("access.log");
    let server = TestServer::start(
        site.path(),
        &format!("[log]\naccess = {}\n", toml_path(&log_path)),
    );
    let mut stream = server.connect();
    let mut expected = Vec::new();

    send(
        &mut stream,
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: wharf-test/1\r\n\
         Referer: http://ref.example/\r\n\r\n",
    );
    assert_eq!(next_response(&mut stream, false).body, HELLO);
    expected.push(
        "\"GET /hello.txt HTTP/1.1\" 200 13 \"http://ref.example/\" \"wharf-test/1\"".to_string(),
    );

    send(&mut stream, "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    next_response(&mut stream, true);
    expected.push("\"HEAD /hello.txt HTTP/1.1\" 200 0 \"-\" \"-\"".to_string());

    send(&mut stream, "GET /nope.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let not_found = next_response(&mut stream, false);
    assert_eq!(not_found.status, 404);
    expected.push(format!(
        "\"GET /nope.txt HTTP/1.1\" 404 {} \"-\" \"-\"",
        not_found.body.len()
    ));

    send(
        &mut stream,
        "GET /sub?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    let redirect = next_response(&mut stream, false);
    assert_eq!(redirect.status, 301);
    expected.push(format!(
        "\"GET /sub?x=1 HTTP/1.0\" 301 {} \"-\" \"-\"",
        redirect.body.len()
    ));

    send(&mut stream, "POST /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let not_allowed = next_response(&mut stream, false);
    assert_eq!(not_allowed.status, 405);
    expected.push(format!(
        "\"POST /hello.txt HTTP/1.1\" 405 {} \"-\" \"-\"",
        not_allowed.body.len()
    ));

    send(
        &mut stream,
        "GET /data.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(next_response(&mut stream, false).body, DATA);
    expected.push("\"GET /data.json HTTP/1.1\" 200 13 \"-\" \"-\"".to_string());
    assert_closed(&mut stream);

    let status = server.stop();
    assert!(status.success(), "wharf exited with {status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), expected.len(), "log:\n{log}");
    for (line, want) in lines.iter().zip(&expected) {
        let rest = line
            .strip_prefix("127.0.0.1 - - [")
            .unwrap_or_else(|| panic!("bad line start: {line}"));
        let (timestamp, rest) = rest.split_once("] ").expect("timestamp");
        // dd/Mon/yyyy:hh:mm:ss +0000
        assert_eq!(timestamp.len(), 26, "{line}");
        assert!(timestamp.ends_with(" +0000"), "{line}");
        assert_eq!(&timestamp[2..3], "/", "{line}");
        assert_eq!(&timestamp[6..7], "/", "{line}");
        assert_eq!(&timestamp[11..12], ":", "{line}");
        assert_eq!(rest, want, "{line}");
    }
}

#[test]
fn access_log_to_stdout() {
    let site = site();
    let server = TestServer::start(site.path(), "[log]\naccess = \"stdout\"\n");
    assert_eq!(server.get("/hello.txt").body, HELLO);
    assert_eq!(server.get("/missing.txt").status, 404);
    let logged = server.stdout.wait_for(Duration::from_secs(10), |text| {
        text.contains("\"GET /hello.txt HTTP/1.1\" 200 13 ")
            && text.contains("\"GET /missing.txt HTTP/1.1\" 404 ")
    });
    assert!(logged, "stdout: {}", server.stdout.text());
    let text = server.stdout.text();
    let line = text
        .lines()
        .find(|l| l.contains("/hello.txt"))
        .unwrap()
        .to_string();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    let status = server.stop();
    assert!(status.success(), "wharf exited with {status}");
}

#[test]
fn graceful_stop_with_idle_keep_alive_connections() {
    let site = site();
    // One loop, so one accept queue: the request after the silent
    // connection below is accepted after it. (With two loops it could sit
    // unaccepted in the other loop's queue at the stop, which the kernel
    // answers with a reset, not a close.)
    let server = TestServer::start_with_args(site.path(), "", &["--workers", "1"]);
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut stream = server.connect();
        send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = next_response(&mut stream, false);
        assert_eq!(response.body, HELLO);
        assert_keeps_alive(&response);
        idle.push(stream);
    }
    // One that connected but never sent anything; make sure it was accepted
    // by completing a request on another connection after it.
    let silent = server.connect();
    assert_eq!(server.get("/").status, 200);
    idle.push(silent);

    let started = Instant::now();
    let status = server.stop();
    assert_eq!(status.code(), Some(0), "wharf exited with {status}");
    // Idle connections must not hold shutdown until its timeout (10 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    for mut stream in idle {
        assert_closed(&mut stream);
    }
}

// ---------------------------------------------------------------------------
// Percent-encoding and queries.

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
