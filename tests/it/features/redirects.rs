//! `[[http.redirects]]`, and the trailing-slash redirect of directories,
//! never pointing off-site from request input.

use super::*;

const REDIRECTS: &str = r#"
[[http.redirects]]
from = "/old/**"
to = "/new/{rest}"

[[http.redirects]]
from = "/temp"
to = "https://example.com/elsewhere?src=wharf"
status = 307

[[http.redirects]]
from = "/**/legacy.html"
to = "/modern.html"
status = 308

[[http.redirects]]
from = "/any/**"
to = "/{rest}"
"#;

#[test]
fn redirects_match_in_order_and_keep_the_query() {
    let site = site();
    write(site.path(), "old/still-here.txt", b"shadowed\n");
    let server = TestServer::start(site.path(), REDIRECTS);
    let table = [
        ("/old/a/b.html", 301, "/new/a/b.html"),
        ("/old/", 301, "/new/"),
        ("/old/a?x=1&y=2", 301, "/new/a?x=1&y=2"),
        ("/old/caf%C3%A9%20x", 301, "/new/caf%C3%A9%20x"),
        // Before files: a file under /old/ is not served.
        ("/old/still-here.txt", 301, "/new/still-here.txt"),
        ("/temp", 307, "https://example.com/elsewhere?src=wharf"),
        (
            "/temp?q=1",
            307,
            "https://example.com/elsewhere?src=wharf&q=1",
        ),
        ("/a/b/legacy.html", 308, "/modern.html"),
        ("/legacy.html", 308, "/modern.html"),
    ];
    for (target, status, location) in table {
        let response = server.get(target);
        assert_eq!(response.status, status, "{target}: {}", response.head);
        assert_eq!(response.header("Location"), Some(location), "{target}");
    }
    // HEAD too, with the GET answer's headers and no body.
    let head = fetch(&server, "HEAD", "/old/x", &[]);
    assert_eq!(head.status, 301);
    assert_eq!(head.header("Location"), Some("/new/x"));
    // Paths no entry matches are served as usual.
    assert_eq!(server.get("/older").status, 404);
    assert_eq!(
        server.get("/old").status,
        301,
        "the directory, not a redirect entry"
    );
    assert_eq!(server.get("/hello.txt").body, HELLO);
}

#[test]
fn request_input_never_makes_an_off_site_location() {
    let site = site();
    write(site.path(), "evil.com/index.html", b"<p>a directory</p>\n");
    let server = TestServer::start(site.path(), REDIRECTS);
    for target in [
        "/any//evil.com",
        "/any///evil.com/x",
        "/any/%2f%2fevil.com",
        "/any/%2F%2Fevil.com/",
        "/any/./evil.com",
        "/any/%09/evil.com",
        "/any/\\evil.com",
        "/any/%5cevil.com",
        "//any//evil.com",
    ] {
        let response = server.get(target);
        if let Some(location) = response.header("Location") {
            assert!(
                location.starts_with('/') && !location.starts_with("//"),
                "{target} -> {location}"
            );
            assert!(!location.contains('\\'), "{target} -> {location}");
        } else {
            // Refused by the path checks (a backslash, a control byte).
            assert_eq!(response.status, 400, "{target}: {}", response.head);
        }
    }
}

#[test]
fn the_directory_redirect_stays_on_site() {
    // cpython's http.server (gh-87389, PR #93879) answered `GET //evil.com/..`
    // style paths with `Location: //evil.com/../`, another host.
    let site = site();
    write(site.path(), "evil.com/index.html", b"<p>a directory</p>\n");
    let server = TestServer::start(site.path(), "");
    for (target, expected) in [
        ("//evil.com", Some("/evil.com/")),
        ("///evil.com", Some("/evil.com/")),
        ("/%2f%2fevil.com", Some("/evil.com/")),
        ("/%2F/evil.com", Some("/evil.com/")),
        ("//evil.com/.", Some("/evil.com/")),
        ("//evil.com/..", None),
        ("/\\evil.com", None),
        ("//evil.com?next=//x", Some("/evil.com/?next=//x")),
    ] {
        let response = server.get(target);
        match expected {
            Some(location) => {
                assert_eq!(response.status, 301, "{target}: {}", response.head);
                assert_eq!(response.header("Location"), Some(location), "{target}");
            }
            None => assert_eq!(response.status, 400, "{target}: {}", response.head),
        }
    }
}

#[test]
fn a_bad_redirect_stops_start_up_naming_its_key() {
    let site = site();
    for (toml, needles) in [
        (
            "[[http.redirects]]\nfrom = \"/a/**\"\nto = \"//evil.com/{rest}\"\n",
            &["http.redirects[0].to", "//evil.com"][..],
        ),
        (
            "[[http.redirects]]\nfrom = \"/a\"\nto = \"/b\"\n[[http.redirects]]\nfrom = \"/c\"\nto = \"javascript:alert(1)\"\n",
            &["http.redirects[1].to"][..],
        ),
        (
            "[[http.redirects]]\nfrom = \"/a\"\nto = \"/b\"\nstatus = 303\n",
            &["http.redirects[0].status", "303"][..],
        ),
    ] {
        let run = run_wharf(site.path(), toml);
        assert_one_line_error(&run, needles);
    }
}
