//! `[http.cors]`: `Access-Control-Allow-Origin` per request (cache hits
//! included), preflights, and nothing for a disallowed origin.

use super::*;

const LISTED: &str = r#"
[http.cors]
allow_origins = ["https://app.example", "http://localhost:3000"]
allow_headers = ["Content-Type", "X-Token"]
expose_headers = ["ETag"]
max_age_secs = 120
"#;

#[test]
fn listed_origins_are_echoed_on_every_kind_of_answer() {
    let site = site();
    let server = TestServer::start(site.path(), &format!("{LISTED}{CACHE_TOML}"));
    let origin = [("Origin", "https://app.example")];
    for (target, status) in [
        ("/hello.txt", 200),
        ("/", 200),
        ("/empty/", 200),
        ("/sub", 301),
        ("/missing", 404),
    ] {
        let response = fetch(&server, "GET", target, &origin);
        assert_eq!(response.status, status, "{target}: {}", response.head);
        assert_eq!(
            response.header("Access-Control-Allow-Origin"),
            Some("https://app.example"),
            "{target}: {}",
            response.head
        );
        assert_eq!(
            response.header("Access-Control-Expose-Headers"),
            Some("ETag")
        );
        assert!(
            all_values(&response, "Vary").iter().any(|v| v == "Origin"),
            "{target}"
        );
    }
    // A 304 too.
    let etag = server.get("/hello.txt").header("ETag").unwrap().to_string();
    let not_modified = fetch(
        &server,
        "GET",
        "/hello.txt",
        &[("Origin", "https://app.example"), ("If-None-Match", &etag)],
    );
    assert_eq!(not_modified.status, 304);
    assert_eq!(
        not_modified.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
}

#[test]
fn cache_hits_answer_each_origin_for_itself() {
    let site = site();
    let server = TestServer::start(site.path(), &format!("{LISTED}{CACHE_TOML}"));
    warm(&server, "/hello.txt", "hello, world\n");
    let hits = cache_hits(&server);
    for (origin, allowed) in [
        (Some("https://app.example"), Some("https://app.example")),
        (Some("https://evil.example"), None),
        (Some("http://localhost:3000"), Some("http://localhost:3000")),
        (None, None),
        (Some("https://app.example"), Some("https://app.example")),
    ] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let response = fetch(&server, "GET", "/hello.txt", &headers);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, HELLO);
        assert_eq!(
            response.header("Access-Control-Allow-Origin"),
            allowed,
            "{origin:?}: {}",
            response.head
        );
        // The answer depends on the origin, whoever asks.
        assert!(all_values(&response, "Vary").iter().any(|v| v == "Origin"));
    }
    assert!(
        cache_hits(&server) >= hits + 5,
        "the answers were not cache hits"
    );
}

#[test]
fn preflights() {
    let site = site();
    let server = TestServer::start(site.path(), LISTED);
    let preflight = fetch(
        &server,
        "OPTIONS",
        "/hello.txt",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "x-token"),
        ],
    );
    assert_eq!(preflight.status, 204, "{}", preflight.head);
    assert_eq!(
        preflight.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Headers"),
        Some("Content-Type, X-Token")
    );
    assert_eq!(preflight.header("Access-Control-Max-Age"), Some("120"));
    // A disallowed origin gets the plain OPTIONS answer.
    let refused = fetch(
        &server,
        "OPTIONS",
        "/hello.txt",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(refused.status, 204);
    assert_eq!(refused.header("Allow"), Some("GET, HEAD, OPTIONS"));
    for name in [
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
        "Access-Control-Max-Age",
    ] {
        assert!(refused.header(name).is_none(), "{name}: {}", refused.head);
    }
    // OPTIONS without Access-Control-Request-Method is no preflight.
    let plain = fetch(
        &server,
        "OPTIONS",
        "/hello.txt",
        &[("Origin", "https://app.example")],
    );
    assert_eq!(
        plain.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert!(plain.header("Access-Control-Allow-Methods").is_none());
}

#[test]
fn disallowed_and_hostile_origins_get_nothing() {
    let site = site();
    let server = TestServer::start(site.path(), LISTED);
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "https://evil.example/https://app.example",
        "null",
        "https://app.example:443",
        "http://app.example",
        &format!("https://{}.example", "a".repeat(300)),
    ] {
        let response = fetch(&server, "GET", "/hello.txt", &[("Origin", origin)]);
        assert_eq!(response.status, 200);
        assert!(
            response.header("Access-Control-Allow-Origin").is_none(),
            "{origin}: {}",
            response.head
        );
    }
    // Two Origin lines are no origin.
    let twice = server.request(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n",
    );
    assert!(
        twice.header("Access-Control-Allow-Origin").is_none(),
        "{}",
        twice.head
    );
    // Without [http.cors], nothing at all.
    let off = TestServer::start(site.path(), "");
    let response = fetch(
        &off,
        "GET",
        "/hello.txt",
        &[("Origin", "https://app.example")],
    );
    assert!(response.header("Access-Control-Allow-Origin").is_none());
    assert!(response.header("Vary").is_none());
}

#[test]
fn any_origin_is_star_without_vary() {
    let site = site();
    let server = TestServer::start(site.path(), "[http.cors]\nallow_origins = [\"*\"]\n");
    let response = fetch(
        &server,
        "GET",
        "/hello.txt",
        &[("Origin", "https://x.example")],
    );
    assert_eq!(response.header("Access-Control-Allow-Origin"), Some("*"));
    assert!(all_values(&response, "Vary")
        .iter()
        .all(|v| !v.contains("Origin")));
    let none = server.get("/hello.txt");
    assert!(none.header("Access-Control-Allow-Origin").is_none());
}

#[test]
fn bad_cors_keys_stop_start_up() {
    let site = site();
    for (toml, needles) in [
        (
            "[http.cors]\nallow_origins = [\"https://a.example/\"]\n",
            &["[http.cors] allow_origins", "https://a.example/"][..],
        ),
        (
            "[http.cors]\nallow_origins = [\"*\", \"https://a.example\"]\n",
            &["[http.cors] allow_origins"][..],
        ),
        (
            "[http.cors]\nallow_origins = [\"*\"]\nallow_methods = [\"DELETE\"]\n",
            &["[http.cors] allow_methods", "DELETE"][..],
        ),
        (
            "[http.cors]\nmax_age_secs = \"10\"\n",
            &["[http.cors] max_age_secs"][..],
        ),
    ] {
        assert_one_line_error(&run_wharf(site.path(), toml), needles);
    }
}
