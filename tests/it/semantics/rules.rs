//! `Cache-Control` (the default, a configured one, by pattern) and header
//! rules, on every kind of response, and which rule wins.

use super::*;

/// How many header lines named `name` the response has.
fn count_headers(response: &Response, name: &str) -> usize {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .count()
}

#[test]
fn default_cache_control_is_no_cache_except_on_errors() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let file = get(&server, "/hello.txt", &[]);
    check_full(&file, HELLO);
    assert_eq!(file.header("Cache-Control"), Some("no-cache"));
    let partial = get(&server, "/r.txt", &[("Range", "bytes=0-0")]);
    check(&partial, 206);
    assert_eq!(partial.header("Cache-Control"), Some("no-cache"));
    let listing = get(&server, "/empty/", &[]);
    check(&listing, 200);
    assert_eq!(listing.header("Cache-Control"), Some("no-cache"));
    let json = get(&server, "/empty/", &[("Accept", "application/json")]);
    check(&json, 200);
    assert_eq!(json.header("Cache-Control"), Some("no-cache"));
    for (target, status) in [("/missing", 404), ("/.secret", 404)] {
        let error = get(&server, target, &[]);
        check(&error, status);
        assert!(error.header("Cache-Control").is_none(), "{}", error.head);
    }
    let error = get(&server, "/r.txt", &[("Range", "bytes=5000-")]);
    check(&error, 416);
    assert!(error.header("Cache-Control").is_none(), "{}", error.head);
}

#[test]
fn configured_default_cache_control() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "[http]\ncache_control = \"max-age=60\"\n");
    for target in ["/hello.txt", "/", "/empty/"] {
        let response = get(&server, target, &[]);
        check(&response, 200);
        assert_eq!(
            response.header("Cache-Control"),
            Some("max-age=60"),
            "{target}"
        );
        assert_eq!(count_headers(&response, "Cache-Control"), 1);
    }
}

#[test]
fn cache_control_rules_apply_by_pattern() {
    let (site, _) = semantics_site();
    write(site.path(), "assets/x.css", b"a{}\n");
    write(site.path(), "assets/deep/y.js", b"1\n");
    write(site.path(), "x.css", b"b{}\n");
    write(site.path(), "assetsx/x.css", b"c{}\n");
    let server = TestServer::start(
        site.path(),
        "[[http.rules]]\nmatch = \"/assets/**\"\ncache_control = \"public, max-age=31536000, immutable\"\n",
    );
    let immutable = Some("public, max-age=31536000, immutable");
    for (target, expected) in [
        ("/assets/x.css", immutable),
        ("/assets/deep/y.js", immutable),
        ("/x.css", Some("no-cache")),
        ("/assetsx/x.css", Some("no-cache")),
        ("/hello.txt", Some("no-cache")),
    ] {
        let response = get(&server, target, &[]);
        check(&response, 200);
        assert_eq!(response.header("Cache-Control"), expected, "{target}");
        assert_eq!(count_headers(&response, "Cache-Control"), 1, "{target}");
    }
    // 304 and 206 of a matching path carry the rule's value too.
    let etag = etag_of(&get(&server, "/assets/x.css", &[]));
    let not_modified = get(&server, "/assets/x.css", &[("If-None-Match", &etag)]);
    check_not_modified(&not_modified);
    assert_eq!(not_modified.header("Cache-Control"), immutable);
    let partial = get(&server, "/assets/x.css", &[("Range", "bytes=0-0")]);
    check(&partial, 206);
    assert_eq!(partial.header("Cache-Control"), immutable);
}

const HEADER_RULE: &str = "[[http.rules]]\nmatch = \"*\"\nheaders = { \"Access-Control-Allow-Origin\" = \"*\", \"X-Content-Type-Options\" = \"nosniff\" }\n";

fn assert_rule_headers(response: &Response, what: &str) {
    assert_eq!(
        response.header("Access-Control-Allow-Origin"),
        Some("*"),
        "{what}: {}",
        response.head
    );
    assert_eq!(
        response.header("X-Content-Type-Options"),
        Some("nosniff"),
        "{what}: {}",
        response.head
    );
    assert_eq!(count_headers(response, "Access-Control-Allow-Origin"), 1);
}

#[test]
fn header_rules_apply_to_every_response() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), HEADER_RULE);
    let etag = etag_of(&get(&server, "/hello.txt", &[]));
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, &str, Headers, u16)> = vec![
        ("GET", "/hello.txt", vec![], 200),
        ("HEAD", "/hello.txt", vec![], 200),
        ("GET", "/", vec![], 200),
        ("GET", "/empty/", vec![], 200),
        ("GET", "/empty", vec![], 301),
        ("GET", "/missing.txt", vec![], 404),
        ("HEAD", "/missing.txt", vec![], 404),
        ("GET", "/sub/nope/deeper.css", vec![], 404),
        ("GET", "/hello.txt", vec![("If-None-Match", &etag)], 304),
        ("GET", "/r.txt", vec![("Range", "bytes=0-0")], 206),
        ("GET", "/r.txt", vec![("Range", "bytes=0-0,5-5")], 206),
        ("GET", "/r.txt", vec![("Range", "bytes=9999-")], 416),
        ("GET", "/hello.txt", vec![("If-Match", "\"x\"")], 412),
        ("POST", "/hello.txt", vec![("Content-Length", "0")], 405),
    ];
    for (method, target, headers, status) in cases {
        let response = fetch(&server, method, target, &headers);
        check(&response, status);
        assert_rule_headers(&response, &format!("{method} {target} {headers:?}"));
    }
}

#[test]
fn header_rules_apply_to_options() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), HEADER_RULE);
    let response = fetch(
        &server,
        "OPTIONS",
        "/hello.txt",
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    check(&response, 204);
    assert_rule_headers(&response, "OPTIONS /hello.txt (a CORS preflight)");
}

#[test]
fn a_later_rule_overrides_an_earlier_one() {
    let (site, _) = semantics_site();
    write(site.path(), "assets/a.css", b"a{}\n");
    let toml = "[http]\ncache_control = \"max-age=5\"\n\
        [[http.rules]]\nmatch = \"*\"\ncache_control = \"max-age=1\"\nheaders = { \"X-Which\" = \"first\", \"X-Only-First\" = \"yes\" }\n\
        [[http.rules]]\nmatch = \"*.css\"\ncache_control = \"max-age=2\"\nheaders = { \"X-Which\" = \"second\" }\n\
        [[http.rules]]\nmatch = \"/assets/**\"\nheaders = { \"x-which\" = \"third\" }\n";
    let server = TestServer::start(site.path(), toml);
    let txt = get(&server, "/hello.txt", &[]);
    check(&txt, 200);
    assert_eq!(txt.header("Cache-Control"), Some("max-age=1"));
    assert_eq!(txt.header("X-Which"), Some("first"));
    assert_eq!(txt.header("X-Only-First"), Some("yes"));

    write(site.path(), "b.css", b"b{}\n");
    let css = get(&server, "/b.css", &[]);
    check(&css, 200);
    assert_eq!(css.header("Cache-Control"), Some("max-age=2"));
    assert_eq!(css.header("X-Which"), Some("second"));
    assert_eq!(count_headers(&css, "X-Which"), 1, "{}", css.head);
    assert_eq!(css.header("X-Only-First"), Some("yes"));

    // A rule without cache_control keeps the earlier value; a header name
    // is replaced case-insensitively.
    let asset = get(&server, "/assets/a.css", &[]);
    check(&asset, 200);
    assert_eq!(asset.header("Cache-Control"), Some("max-age=2"));
    assert_eq!(asset.header("X-Which"), Some("third"));
    assert_eq!(count_headers(&asset, "X-Which"), 1, "{}", asset.head);
}
