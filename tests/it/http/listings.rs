//! Directory listings: entries and their links, the root's, escaped
//! names, dotfiles left out, and listings turned off (403).

use super::*;

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
