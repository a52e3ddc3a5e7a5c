//! `[http] fallback`: the app's shell for paths that name nothing, and
//! never for a path the checks refuse.

use super::*;

const SHELL: &str = "<!doctype html><title>app</title>app shell\n";

fn app_site() -> tempfile::TempDir {
    let site = site();
    write(site.path(), "app.html", SHELL.as_bytes());
    write(site.path(), "assets/app.js", b"console.log(1)\n");
    site
}

const FALLBACK: &str = "[http]\nfallback = \"/app.html\"\n";

#[test]
fn missing_routes_get_the_shell_with_its_own_validators() {
    let site = app_site();
    let server = TestServer::start(site.path(), FALLBACK);
    let direct = server.get("/app.html");
    assert_eq!(direct.status, 200);
    for target in [
        "/users/42",
        "/users/42/",
        "/deep/a/b/c",
        "/v1.2/settings",
        "/users?tab=2",
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.head);
        assert_eq!(response.text(), SHELL, "{target}");
        assert_eq!(
            response.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(response.header("ETag"), direct.header("ETag"), "{target}");
        assert_eq!(
            response.header("Last-Modified"),
            direct.header("Last-Modified"),
            "{target}"
        );
    }
    // Its validators work: a revalidation of the shell is a 304.
    let etag = direct.header("ETag").unwrap();
    let again = fetch(&server, "GET", "/users/42", &[("If-None-Match", etag)]);
    assert_eq!(again.status, 304, "{}", again.head);
    // HEAD: the GET answer's headers, no body.
    let head = fetch(&server, "HEAD", "/users/42", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some(&*SHELL.len().to_string())
    );
    // Existing files and directories are served as themselves.
    assert_eq!(server.get("/hello.txt").body, HELLO);
    assert_eq!(server.get("/sub").status, 301);
    assert_eq!(server.get("/assets/app.js").text(), "console.log(1)\n");
}

#[test]
fn a_missing_asset_stays_404_unless_html_is_asked_for() {
    let site = app_site();
    let server = TestServer::start(site.path(), FALLBACK);
    for target in ["/assets/missing.js", "/logo.png", "/users/j.doe"] {
        assert_eq!(server.get(target).status, 404, "{target}");
    }
    // A browser navigating to a dotted route asks for HTML.
    let navigation = fetch(
        &server,
        "GET",
        "/users/j.doe",
        &[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
    );
    assert_eq!(navigation.status, 200);
    assert_eq!(navigation.text(), SHELL);
    // Accept chose the answer, so caches must key on it.
    assert!(all_values(&navigation, "Vary")
        .iter()
        .any(|v| v.contains("Accept")));
    // A POST is still 405, not the app.
    let post = fetch(&server, "POST", "/users/42", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
}

#[test]
fn refused_paths_never_get_the_app() {
    let site = app_site();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", b"outside the root\n");
    std::os::unix::fs::symlink(outside.path(), site.path().join("escape")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        site.path().join("leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("nothing"),
        site.path().join("dangling-out"),
    )
    .unwrap();
    let server = TestServer::start(site.path(), FALLBACK);
    let html = [("Accept", "text/html")];
    for (target, status) in [
        ("/.secret", 404),
        ("/.env", 404),
        ("/.hidden/file.txt", 404),
        ("/.git/config", 404),
        ("/sub/.missing", 404),
        ("/escape", 404),
        ("/escape/secret.txt", 404),
        ("/escape/missing-route", 404),
        ("/leak.txt", 404),
        ("/dangling-out", 404),
        ("/../etc/passwd", 400),
        ("/%2e%2e/etc/passwd", 400),
        ("/a/..%5c..%5cetc", 400),
        ("/a%00b", 400),
    ] {
        let response = fetch(&server, "GET", target, &html);
        assert_eq!(response.status, status, "{target}: {}", response.head);
        assert_ne!(response.text(), SHELL, "{target} got the app");
        assert!(!response.text().contains("outside the root"), "{target}");
    }
    // Under `symlinks = "deny"` a symlink inside the root is refused too.
    std::os::unix::fs::symlink("app.html", site.path().join("inner-link")).unwrap();
    let deny = TestServer::start(site.path(), &format!("{FALLBACK}symlinks = \"deny\"\n"));
    assert_eq!(deny.get("/inner-link").status, 404);
    assert_eq!(deny.get("/missing-route").text(), SHELL);
}

#[test]
fn a_missing_fallback_file_leaves_the_404() {
    let site = app_site();
    let server = TestServer::start(site.path(), FALLBACK);
    assert_eq!(server.get("/route").status, 200);
    std::fs::remove_file(site.path().join("app.html")).unwrap();
    assert_eq!(server.get("/route").status, 404);
    // Configured error pages still answer then.
    write(site.path(), "404.html", b"custom not found\n");
    let with_page = TestServer::start(
        site.path(),
        &format!("{FALLBACK}[http.error_pages]\n404 = \"/404.html\"\n"),
    );
    let response = with_page.get("/route");
    assert_eq!(response.status, 404);
    assert_eq!(response.text(), "custom not found\n");
}

#[test]
fn the_fallback_is_not_cached_under_the_missing_path() {
    let site = app_site();
    let server = TestServer::start(site.path(), &format!("{FALLBACK}{CACHE_TOML}"));
    for _ in 0..3 {
        assert_eq!(server.get("/later").text(), SHELL);
    }
    // The file appears: the very next request gets it, not the shell.
    write(site.path(), "later", b"now a real file\n");
    assert_eq!(server.get("/later").text(), "now a real file\n");
    warm(&server, "/later", "now a real file\n");
    // And goes again: the fallback answers once more.
    std::fs::remove_file(site.path().join("later")).unwrap();
    assert_eq!(server.get("/later").text(), SHELL);
}

#[test]
fn a_bad_fallback_stops_start_up() {
    let site = app_site();
    for (toml, needles) in [
        (
            "[http]\nfallback = \"/\"\n",
            &["[http] fallback", "must name a file"][..],
        ),
        (
            "[http]\nfallback = \"/../app.html\"\n",
            &["[http] fallback"][..],
        ),
        (
            "[http]\nfallback = \"/.app.html\"\n",
            &["[http] fallback", "hidden"][..],
        ),
    ] {
        assert_one_line_error(&run_wharf(site.path(), toml), needles);
    }
}
