//! End to end in a real browser: wharf serves the repository's default site
//! (`www/`) and a root with a hostile file name; headless Chromium loads the
//! default page and directory listings. The test checks the DOM Chromium
//! built (title, listing rows, that every link resolves, that a hostile
//! name stays text) and saves screenshots, desktop and phone size, under
//! `target/browser-artifacts/`.
//!
//! Chromium is driven with its own flags (`--dump-dom`, `--screenshot`), no
//! WebDriver. Without a `chromium` or `chromium-browser` on PATH the test
//! prints "skipping: chromium not installed" and passes, except when `CI` is
//! set: `.ci/run` installs Chromium, so there a missing one is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{require_tool_with, wait_timeout, write, TestServer, WHARF};

/// How long one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

/// The hostile file name of the issue.
const HOSTILE: &str = "<img src=x onerror=alert(1)>.txt";

/// The Chromium binary on PATH, if any.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Chromium, or `None` when the test is to be skipped (see
/// [`require_tool_with`]).
fn chromium_or_skip() -> Option<PathBuf> {
    require_tool_with("chromium", || {
        find_chromium()
            .ok_or_else(|| "not installed (neither chromium nor chromium-browser on PATH)".into())
    })
}

/// Where screenshots go: `target/browser-artifacts/` (next to the binary's
/// profile directory, so a custom target dir is honoured).
fn artifacts_dir() -> PathBuf {
    let target = Path::new(WHARF)
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in target/PROFILE/");
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium with its own flags plus `extra`, with a fresh
/// profile, bounded in time; returns stdout.
fn run_chromium(chromium: &Path, extra: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let stdout_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        // A file rather than a pipe: nobody has to drain it while we wait.
        .stdout(stdout_file.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let status = match wait_timeout(&mut child, CHROMIUM_TIMEOUT) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?} for {url}");
        }
    };
    assert!(status.success(), "chromium failed ({status}) for {url}");
    std::fs::read_to_string(stdout_file.path()).unwrap()
}

/// The DOM Chromium built for `url`, serialised.
fn dump_dom(chromium: &Path, url: &str) -> String {
    let dom = run_chromium(chromium, &["--dump-dom"], url);
    assert!(dom.contains("<html"), "no DOM for {url}: {dom:?}");
    dom
}

/// Takes a screenshot of `url` at `width`x`height` into `name` under the
/// artifacts directory, checks it is a PNG of that width, and prints its path.
fn screenshot(chromium: &Path, url: &str, name: &str, width: u32, height: u32) -> PathBuf {
    let path = artifacts_dir().join(name);
    let _ = std::fs::remove_file(&path);
    run_chromium(
        chromium,
        &[
            &format!("--screenshot={}", path.display()),
            &format!("--window-size={width},{height}"),
            "--force-device-scale-factor=1",
        ],
        url,
    );
    let png =
        std::fs::read(&path).unwrap_or_else(|e| panic!("no screenshot {}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    // IHDR: width and height, big-endian, at bytes 16..24.
    let png_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let png_height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(
        (png_width, png_height),
        (width, height),
        "{}",
        path.display()
    );
    assert!(
        png.len() > 5_000,
        "{} is suspiciously small",
        path.display()
    );
    println!("screenshot: {}", path.display());
    path
}

/// The text of the first `<title>`.
fn title(dom: &str) -> &str {
    let start = dom.find("<title>").expect("a <title>") + "<title>".len();
    let end = dom[start..].find("</title>").expect("</title>") + start;
    &dom[start..end]
}

/// Undoes the HTML escaping of an attribute value as Chromium serialises it.
fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Every `<a href="...">` in `html`, unescaped, in order.
fn hrefs(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<a ") {
        rest = &rest[at + 3..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if let Some(start) = tag.find("href=\"") {
            let value = &tag[start + 6..];
            if let Some(end) = value.find('"') {
                found.push(unescape(&value[..end]));
            }
        }
    }
    found
}

/// Resolves `href` against the page path `base` (which ends with `/` for a
/// directory), as a browser would, for same-origin links. `None` for links
/// to other origins or other schemes.
fn resolve(base: &str, href: &str) -> Option<String> {
    if href.contains("://") || href.starts_with("mailto:") || href.starts_with('#') {
        return None;
    }
    let (href, query) = match href.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (href, None),
    };
    let joined = if href.starts_with('/') {
        href.to_string()
    } else if href.is_empty() {
        base.to_string()
    } else {
        format!("{}{href}", &base[..=base.rfind('/').unwrap()])
    };
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = joined.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        match *part {
            "." if last => segments.push(""),
            "." => {}
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            part => segments.push(part),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

/// Fetches every same-origin link of `page` (a path) found in `dom` with a
/// raw GET and expects 200, or 301 for a directory without its slash.
/// Returns the resolved paths.
fn assert_links_resolve(server: &TestServer, page: &str, dom: &str) -> Vec<String> {
    let mut checked = Vec::new();
    for href in hrefs(dom) {
        let Some(path) = resolve(page, &href) else {
            continue;
        };
        let response = server.get(&path);
        assert!(
            response.status == 200 || response.status == 301,
            "link {href:?} on {page} ({path}) answered {}",
            response.status
        );
        checked.push(path);
    }
    checked
}

#[test]
fn link_resolution() {
    assert_eq!(resolve("/samples/", "./a.txt").unwrap(), "/samples/a.txt");
    assert_eq!(resolve("/samples/", "../").unwrap(), "/");
    assert_eq!(resolve("/samples/", "..").unwrap(), "/");
    assert_eq!(resolve("/samples/", "b/").unwrap(), "/samples/b/");
    assert_eq!(
        resolve("/samples/", "?sort=size&order=asc").unwrap(),
        "/samples/?sort=size&order=asc"
    );
    assert_eq!(resolve("/", "/style.css").unwrap(), "/style.css");
    assert_eq!(resolve("/a/index.html", "b.css").unwrap(), "/a/b.css");
    assert_eq!(resolve("/", "http://example.com/"), None);
    assert_eq!(
        hrefs(r#"<p><a class="x" href="./a%20b?x=1&amp;y=2">t</a><a name="n">"#),
        ["./a%20b?x=1&y=2"]
    );
}

#[test]
fn default_site_and_listings_in_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let server = TestServer::start(&www, "");

    // The default page.
    let dom = dump_dom(&chromium, &server.url("/"));
    assert!(title(&dom).starts_with("wharf"), "title: {}", title(&dom));
    assert!(dom.contains("<h1"), "no heading");
    for needle in ["curl ", "wrk ", "/samples/"] {
        assert!(dom.contains(needle), "the default page lacks {needle:?}");
    }
    // Its script ran in the browser: the commands name this server.
    assert!(
        dom.contains(&format!("curl -i {}", server.url("/"))),
        "the page's commands do not show this server's address"
    );
    let links = assert_links_resolve(&server, "/", &dom);
    for needed in ["/samples/", "/samples/hello.txt", "/samples/sizes/256k.txt"] {
        assert!(
            links.iter().any(|l| l == needed),
            "the default page does not link {needed}: {links:?}"
        );
    }
    // Its stylesheet and icon load too.
    for asset in ["/style.css", "/favicon.svg"] {
        assert_eq!(server.get(asset).status, 200, "{asset}");
    }

    // The listing of /samples/.
    let dom = dump_dom(&chromium, &server.url("/samples/"));
    assert!(
        title(&dom).contains("Index of /samples/"),
        "title: {}",
        title(&dom)
    );
    assert!(dom.contains("<table"), "the listing has no <table>");
    let links = assert_links_resolve(&server, "/samples/", &dom);
    for name in std::fs::read_dir(www.join("samples")).unwrap() {
        let name = name.unwrap();
        let mut expected = format!("/samples/{}", name.file_name().to_str().unwrap());
        if name.file_type().unwrap().is_dir() {
            expected.push('/');
        }
        assert!(
            links.contains(&expected),
            "no row links {expected}: {links:?}"
        );
    }
    let rows = dom.matches("<tr").count();
    assert!(rows >= 10, "only {rows} table rows");

    screenshot(&chromium, &server.url("/"), "index.png", 1200, 900);
    screenshot(
        &chromium,
        &server.url("/samples/"),
        "listing.png",
        1200,
        900,
    );
    screenshot(
        &chromium,
        &server.url("/samples/"),
        "listing-phone.png",
        390,
        844,
    );
    assert!(server.stop().success());
}

#[test]
fn hostile_file_name_stays_text_in_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    write(root.path(), HOSTILE, b"just text\n");
    write(root.path(), "plain.txt", b"plain\n");
    write(root.path(), "a&b \"q\" 'x'.txt", b"punctuation\n");
    let server = TestServer::start(root.path(), "");

    let dom = dump_dom(&chromium, &server.url("/"));
    assert!(dom.contains("<table"), "the listing has no <table>");
    // The name is shown as text...
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "the hostile name is not shown escaped"
    );
    // ...and no element came out of it: Chromium would serialise one as
    // <img src="x" onerror="alert(1)">.
    assert!(
        !dom.contains("<img src=\"x\""),
        "an <img> element came from the name"
    );
    assert!(
        !dom.contains("onerror=\""),
        "an onerror attribute is in the DOM"
    );
    let links = assert_links_resolve(&server, "/", &dom);
    assert!(links.len() >= 3, "{links:?}");
    // The hostile file's own link serves it.
    let hostile = hrefs(&dom)
        .into_iter()
        .find(|h| h.contains("onerror"))
        .expect("a link to the hostile file");
    let response = server.get(&resolve("/", &hostile).unwrap());
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"just text\n");

    screenshot(
        &chromium,
        &server.url("/"),
        "hostile-listing.png",
        1200,
        900,
    );
    assert!(server.stop().success());
}

/// A script wharf compressed itself, fetched and run by Chromium: the DOM
/// shows that it ran, and the access log that Chromium was sent the
/// compressed bytes (whichever of br and gzip it asked for).
#[test]
fn chromium_runs_a_script_wharf_compressed() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let site = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut script = String::from(
        "document.getElementById('out').textContent = 'ran ' + [1, 2, 3].map(x => x * 2).join(',');\n",
    );
    for i in 0..200 {
        script.push_str(&format!(
            "// line {i}: filler that makes the script worth compressing\n"
        ));
    }
    write(site.path(), "app.js", script.as_bytes());
    write(
        site.path(),
        "index.html",
        b"<!doctype html><title>compressed</title><p id=out>not run</p><script src=app.js></script>\n",
    );
    let log = logs.path().join("access.log");
    let server = TestServer::start(
        site.path(),
        &format!(
            "[log]\naccess = {}\nformat = \"json\"\n",
            crate::harness::toml_path(&log)
        ),
    );
    // Both variants exist before Chromium asks.
    let mut lengths = Vec::new();
    for coding in ["br", "gzip"] {
        let mut len = None;
        let done = crate::harness::eventually(Duration::from_secs(20), || {
            let response = server.request(&crate::harness::request_text(
                "GET",
                "/app.js",
                &[("Accept-Encoding", coding)],
            ));
            len = Some(response.body.len());
            response.header("Content-Encoding") == Some(coding)
        });
        assert!(done, "app.js was never {coding}-encoded");
        lengths.extend(len);
    }
    let dom = dump_dom(&chromium, &server.url("/"));
    assert!(dom.contains("ran 2,4,6"), "the script did not run: {dom}");
    let mut sent = None;
    let logged = crate::harness::eventually(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        sent = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|entry| {
                entry["path"] == "/app.js"
                    && entry["user_agent"]
                        .as_str()
                        .is_some_and(|agent| agent.contains("Chrome"))
            })
            .and_then(|entry| entry["bytes"].as_u64());
        sent.is_some()
    });
    assert!(logged, "no access-log line for Chromium's /app.js");
    let sent = sent.unwrap() as usize;
    assert!(
        lengths.contains(&sent) && sent < script.len(),
        "Chromium was sent {sent} bytes of the {}-byte script (variants: {lengths:?})",
        script.len()
    );
}
