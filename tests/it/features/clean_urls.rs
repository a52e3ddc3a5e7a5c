//! `[http] try_extensions` and `[http] canonical`: `/about` served from
//! `about.html`, `/about.html` redirected to `/about`, kept fresh in the
//! cache under either name.

use super::*;

const ABOUT: &str = "<p>about</p>\n";

fn clean_site() -> tempfile::TempDir {
    let site = site();
    write(site.path(), "about.html", ABOUT.as_bytes());
    write(site.path(), "blog/post.html", b"<p>post</p>\n");
    write(site.path(), "blog/post.htm", b"<p>older post</p>\n");
    write(site.path(), "docs/index.html", b"<p>docs</p>\n");
    write(site.path(), "docs.html", b"<p>docs page</p>\n");
    write(site.path(), "notes.txt", b"notes\n");
    write(site.path(), "notes.txt.html", b"<p>notes as html</p>\n");
    site
}

#[test]
fn a_missing_name_is_served_from_name_dot_extension() {
    let site = clean_site();
    let server = TestServer::start(
        site.path(),
        "[http]\ntry_extensions = [\"html\", \"htm\"]\n",
    );
    let about = server.get("/about");
    assert_eq!(about.status, 200, "{}", about.head);
    assert_eq!(about.text(), ABOUT);
    assert_eq!(
        about.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        about.header("ETag"),
        server.get("/about.html").header("ETag")
    );
    // Tried in order: .html before .htm.
    assert_eq!(server.get("/blog/post").text(), "<p>post</p>\n");
    // A name that exists wins; a directory wins over name.html (it
    // redirects to its slash form, as nginx `try_files $uri $uri/ $uri.html`).
    assert_eq!(server.get("/notes.txt").text(), "notes\n");
    let docs = server.get("/docs");
    assert_eq!(docs.status, 301);
    assert_eq!(docs.header("Location"), Some("/docs/"));
    // A directory request is not tried with an extension.
    assert_eq!(server.get("/about/").status, 404);
    assert_eq!(server.get("/nothing").status, 404);
    // Hidden names stay hidden.
    write(site.path(), ".private.html", b"private\n");
    assert_eq!(server.get("/.private").status, 404);
    // The original file is still served under its own name.
    assert_eq!(server.get("/about.html").status, 200);
}

#[test]
fn canonical_redirects_to_the_clean_url() {
    let site = clean_site();
    let server = TestServer::start(
        site.path(),
        "[http]\ntry_extensions = [\"html\"]\ncanonical = true\n",
    );
    for (target, location) in [
        ("/about.html", "/about"),
        ("/about.html?x=1", "/about?x=1"),
        ("/blog/post.html", "/blog/post"),
        ("/docs/index.html", "/docs/"),
        ("/index.html", "/"),
        ("/%2f/evil.html", "/evil"),
        ("//evil.com.html", "/evil.com"),
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 301, "{target}: {}", response.head);
        assert_eq!(response.header("Location"), Some(location), "{target}");
    }
    assert_eq!(server.get("/about").text(), ABOUT);
    // Other extensions are left alone.
    assert_eq!(server.get("/blog/post.htm").status, 200);
    assert_eq!(server.get("/notes.txt").status, 200);
}

#[test]
fn the_cache_follows_both_names() {
    let site = clean_site();
    let server = TestServer::start(
        site.path(),
        &format!("[http]\ntry_extensions = [\"html\"]\n{CACHE_TOML}"),
    );
    warm(&server, "/about", ABOUT);
    // about.html changes: the very next /about sees it.
    std::fs::write(site.path().join("about.html"), b"<p>about v2</p>\n").unwrap();
    assert_eq!(server.get("/about").text(), "<p>about v2</p>\n");
    warm(&server, "/about", "<p>about v2</p>\n");
    // A file named `about` appears: it wins at once.
    std::fs::write(site.path().join("about"), b"plain about\n").unwrap();
    assert_eq!(server.get("/about").text(), "plain about\n");
    warm(&server, "/about", "plain about\n");
    // It goes, and a directory `about/` comes: the redirect, at once.
    std::fs::remove_file(site.path().join("about")).unwrap();
    assert_eq!(server.get("/about").text(), "<p>about v2</p>\n");
    warm(&server, "/about", "<p>about v2</p>\n");
    write(site.path(), "about/index.html", b"<p>about dir</p>\n");
    let response = server.get("/about");
    assert_eq!(response.status, 301, "{}", response.head);
    assert_eq!(response.header("Location"), Some("/about/"));
}

#[test]
fn bad_clean_url_keys_stop_start_up() {
    let site = clean_site();
    for (toml, needles) in [
        (
            "[http]\ntry_extensions = [\".html\"]\n",
            &["[http] try_extensions", ".html"][..],
        ),
        (
            "[http]\ncanonical = true\n",
            &["[http] canonical", "try_extensions"][..],
        ),
        (
            "[http]\ncanonical = \"yes\"\n",
            &["[http] canonical", "true or false"][..],
        ),
    ] {
        assert_one_line_error(&run_wharf(site.path(), toml), needles);
    }
}
