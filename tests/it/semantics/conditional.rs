//! Conditional requests (RFC 9110 section 13.2.2): `If-None-Match`,
//! `If-Modified-Since`, `If-Match`, `If-Unmodified-Since`, their
//! precedence, and missing files.

use super::*;

#[test]
fn if_none_match_gives_304_with_the_same_validators() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let full = get(&server, "/hello.txt", &[]);
    check_full(&full, HELLO);
    let etag = etag_of(&full);
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag} , \"other\"");
    for value in [etag.as_str(), list.as_str(), "*", weak.as_str()] {
        for method in ["GET", "HEAD"] {
            let response = fetch(&server, method, "/hello.txt", &[("If-None-Match", value)]);
            check_not_modified(&response);
            for name in ["ETag", "Last-Modified", "Cache-Control"] {
                assert_eq!(
                    response.header(name),
                    full.header(name),
                    "{method} If-None-Match: {value}: {name}"
                );
            }
            assert!(response.header("Vary").is_none(), "no variants, no Vary");
        }
    }
    // Non-matching tags: 200 with the body.
    for value in ["\"nope\"", "\"a\", \"b\"", "W/\"nope\""] {
        check_full(
            &get(&server, "/hello.txt", &[("If-None-Match", value)]),
            HELLO,
        );
    }
}

#[test]
fn if_modified_since() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let last_modified = http_date_secs(OLD_SECS);
    let later = http_date_secs(OLD_SECS + 3600);
    let earlier = http_date_secs(OLD_SECS - 1);
    // 2100-01-01: far beyond the server's clock.
    let far_future = http_date_secs(4_102_444_800);
    for method in ["GET", "HEAD"] {
        for value in [last_modified.as_str(), later.as_str()] {
            let response = fetch(
                &server,
                method,
                "/hello.txt",
                &[("If-Modified-Since", value)],
            );
            check_not_modified(&response);
            assert_eq!(
                response.header("Last-Modified"),
                Some(last_modified.as_str())
            );
            assert!(response.header("ETag").is_some());
        }
        for value in [
            earlier.as_str(),
            far_future.as_str(),
            // Malformed dates are ignored.
            "yesterday",
            "Sat, 09 Sep 2001 01:46:40",
            "Mon, 09 Sep 2001 01:46:40 GMT", // wrong weekday
            "",
            "9 Sep 2001",
        ] {
            let response = fetch(
                &server,
                method,
                "/hello.txt",
                &[("If-Modified-Since", value)],
            );
            check(&response, 200);
            assert_eq!(
                response.header("Content-Length"),
                Some("13"),
                "{method} If-Modified-Since: {value}"
            );
            if method == "GET" {
                assert_eq!(response.body, HELLO, "If-Modified-Since: {value}");
            } else {
                assert!(response.body.is_empty());
            }
        }
    }
    // The other date formats of RFC 9110 section 5.6.7 are understood too.
    for value in ["Sunday, 09-Sep-01 01:46:40 GMT", "Sun Sep  9 01:46:40 2001"] {
        check_not_modified(&get(&server, "/hello.txt", &[("If-Modified-Since", value)]));
    }
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let etag = etag_of(&get(&server, "/hello.txt", &[]));
    let last_modified = http_date_secs(OLD_SECS);
    let earlier = http_date_secs(OLD_SECS - 3600);
    for method in ["GET", "HEAD"] {
        // A non-matching If-None-Match wins over a matching If-Modified-Since.
        let response = fetch(
            &server,
            method,
            "/hello.txt",
            &[
                ("If-None-Match", "\"something-else\""),
                ("If-Modified-Since", &last_modified),
            ],
        );
        check(&response, 200);
        if method == "GET" {
            assert_eq!(response.body, HELLO);
        }
        // A matching If-None-Match wins over a failing If-Modified-Since.
        let response = fetch(
            &server,
            method,
            "/hello.txt",
            &[("If-None-Match", &etag), ("If-Modified-Since", &earlier)],
        );
        check_not_modified(&response);
    }
}

#[test]
fn if_match_and_if_unmodified_since() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    let etag = etag_of(&get(&server, "/hello.txt", &[]));
    let weak = format!("W/{etag}");
    let list = format!("\"x\", {etag}");
    let last_modified = http_date_secs(OLD_SECS);
    let earlier = http_date_secs(OLD_SECS - 1);
    let later = http_date_secs(OLD_SECS + 1);
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![("If-Match", "\"mismatch\"")], 412),
        // If-Match uses the strong comparison: a weak tag never matches.
        (vec![("If-Match", &weak)], 412),
        (vec![("If-Match", &etag)], 200),
        (vec![("If-Match", &list)], 200),
        (vec![("If-Match", "*")], 200),
        (vec![("If-Unmodified-Since", &earlier)], 412),
        (vec![("If-Unmodified-Since", &last_modified)], 200),
        (vec![("If-Unmodified-Since", &later)], 200),
        (vec![("If-Unmodified-Since", "not a date")], 200),
        // If-Match is evaluated instead of If-Unmodified-Since.
        (
            vec![("If-Match", &etag), ("If-Unmodified-Since", &earlier)],
            200,
        ),
        (
            vec![("If-Match", "\"x\""), ("If-Unmodified-Since", &later)],
            412,
        ),
        // Preconditions come before ranges.
        (vec![("If-Match", "\"x\""), ("Range", "bytes=0-1")], 412),
    ];
    for (headers, status) in cases {
        for method in ["GET", "HEAD"] {
            let response = fetch(&server, method, "/hello.txt", &headers);
            check(&response, status);
            if status == 200 && method == "GET" {
                assert_eq!(response.body, HELLO, "{headers:?}");
            }
            if method == "HEAD" {
                assert!(response.body.is_empty(), "HEAD {headers:?}");
            }
        }
    }
}

#[test]
fn conditionals_on_missing_files_do_not_apply() {
    let (site, _) = semantics_site();
    let server = TestServer::start(site.path(), "");
    for headers in [
        [("If-None-Match", "*")],
        [("If-Match", "*")],
        [("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    ] {
        let response = get(&server, "/missing.txt", &headers);
        check(&response, 404);
    }
}
