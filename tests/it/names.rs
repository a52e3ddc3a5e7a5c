//! Odd names and what listings show (issue 16, defects 5 and 8): names
//! with `:`, a trailing dot or a trailing space are served and listed like
//! any other; a listing counts every entry it leaves out; a symlink is
//! listed as what a request for it gets (its target's kind and size), and
//! one that cannot be served (out of the root, dangling, refused by the
//! `symlinks` policy) is not listed but counted.

use crate::harness::*;

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

/// `GET path` with `Accept: application/json`, parsed.
fn json_listing(server: &TestServer, path: &str) -> Value {
    let response = server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(response.status, 200, "{path}: {}", response.head);
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", response.text()))
}

/// The entries of a JSON listing by name, in listed order.
fn entries(doc: &Value) -> Vec<(String, Value)> {
    doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries in {doc}"))
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn names(doc: &Value) -> Vec<String> {
    entries(doc).into_iter().map(|(name, _)| name).collect()
}

fn entry(doc: &Value, wanted: &str) -> Value {
    entries(doc)
        .into_iter()
        .find(|(name, _)| name == wanted)
        .unwrap_or_else(|| panic!("{wanted} not listed in {doc}"))
        .1
}

/// The `href`s of an HTML listing's rows (`./` dropped), in order.
fn hrefs(html: &str) -> Vec<String> {
    html.split("<a href=\"./")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

fn mkfifo(path: &Path) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
}

/// The odd names of the issue, and what each holds.
const ODD: &[(&str, &[u8])] = &[
    ("a:b.txt", b"colon\n"),
    ("backup-2024-01-01T10:00:00.tar.gz", b"backup\n"),
    ("Special:Random.html", b"<p>random</p>\n"),
    ("name.", b"trailing dot\n"),
    ("name ", b"trailing space\n"),
    ("C:", b"drive letter\n"),
    ("x::$DATA", b"stream\n"),
    ("...", b"three dots\n"),
];

#[test]
fn names_with_colons_and_trailing_dots_or_spaces_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, content) in ODD {
        write(root, name, content);
    }
    write(root, "name", b"plain\n");
    write(root, "d:1/in.txt", b"in a colon directory\n");
    let server = TestServer::start(root, "[http]\nhidden_files = true\n");
    let cases: &[(&str, &[u8])] = &[
        ("/a:b.txt", b"colon\n"),
        ("/a%3Ab.txt", b"colon\n"),
        ("/a%3ab.txt", b"colon\n"),
        ("http://t/a:b.txt", b"colon\n"),
        ("/backup-2024-01-01T10:00:00.tar.gz", b"backup\n"),
        ("/backup-2024-01-01T10%3A00%3A00.tar.gz", b"backup\n"),
        ("/Special:Random.html", b"<p>random</p>\n"),
        ("/name.", b"trailing dot\n"),
        ("/name%2E", b"trailing dot\n"),
        ("/name%20", b"trailing space\n"),
        ("/name", b"plain\n"),
        ("/C:", b"drive letter\n"),
        ("/x::$DATA", b"stream\n"),
        ("/...", b"three dots\n"),
        ("/d:1/in.txt", b"in a colon directory\n"),
    ];
    for (target, body) in cases {
        let response = server.get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.head);
        assert_eq!(response.body, *body, "{target}");
    }
    assert_eq!(
        server.get("/Special:Random.html").header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    // No aliasing: each name is its own file, missing ones are missing.
    for target in ["/name..", "/name%20%20", "/a:b.txt.", "/a:b.txt:x", "/D:"] {
        assert_eq!(server.get(target).status, 404, "{target}");
    }
    // A directory with a colon redirects to its (encoded) slash form.
    let redirect = server.get("/d:1");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("Location"), Some("/d%3A1/"));
    let listing = server.get("/d%3A1/");
    assert_eq!(listing.status, 200);
    assert_eq!(hrefs(&listing.text()), ["in.txt"]);
    // What stays refused: control characters, backslash, `..`.
    for target in [
        "/a%5Cb.txt",
        "/a%0Ab.txt",
        "/a%00b.txt",
        "/a%09b.txt",
        "/%2e%2e/a:b.txt",
        "/d:1/../a:b.txt",
    ] {
        assert_eq!(server.get(target).status, 400, "{target}");
    }
}

#[test]
fn a_listing_of_fourteen_files_lists_fourteen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut all: Vec<String> = ODD.iter().map(|(n, _)| n.to_string()).collect();
    all.retain(|n| n != "...");
    for plain in [
        "a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt",
    ] {
        all.push(plain.to_string());
    }
    assert_eq!(all.len(), 14);
    for name in &all {
        write(root, &format!("m/{name}"), format!("{name}\n").as_bytes());
    }
    let server = TestServer::start(root, "");

    let html = server.get("/m/");
    assert_eq!(html.status, 200);
    let html = html.text();
    assert!(html.contains("<footer>14 entries"), "{html}");
    assert!(!html.contains("not listed"), "{html}");
    let links = hrefs(&html);
    assert_eq!(links.len(), 14, "{links:?}");
    // Every link works, as `wget -r` would follow it, and brings the file.
    let mut fetched = Vec::new();
    for href in &links {
        let response = server.get(&format!("/m/{href}"));
        assert_eq!(response.status, 200, "/m/{href}");
        fetched.push(response.text().trim_end_matches('\n').to_string());
    }
    fetched.sort();
    all.sort();
    assert_eq!(fetched, all);

    let doc = json_listing(&server, "/m/");
    let mut listed = names(&doc);
    listed.sort();
    assert_eq!(listed, all);
    assert_eq!(doc["omitted"], 0);
}

#[test]
fn listings_count_every_entry_they_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "d/plain.txt", b"plain\n");
    write(root, "d/back\\slash.txt", b"x\n");
    write(root, "d/new\nline.txt", b"x\n");
    let not_utf8 = root.join("d").join(OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(not_utf8, b"latin-1 name\n").unwrap();
    mkfifo(&root.join("d/pipe"));
    write(root, "d/.env", b"SECRET=1\n");

    let server = TestServer::start(root, "");
    let doc = json_listing(&server, "/d/");
    assert_eq!(names(&doc), ["plain.txt"]);
    // Backslash, newline, not UTF-8, FIFO; the hidden `.env` is not part
    // of the site, so it is neither listed nor counted.
    assert_eq!(doc["omitted"], 4, "{doc}");
    let html = server.get("/d/").text();
    assert_eq!(hrefs(&html), ["plain.txt"]);
    assert!(
        html.contains("4 entries not listed: they cannot be served"),
        "{html}"
    );
    assert!(html.contains("<footer>5 entries"), "{html}");
    assert!(!html.contains("at most"), "{html}");
    assert!(!html.contains(".env"), "{html}");
    // Unlisted means unservable: the FIFO answers 404.
    assert_eq!(server.get("/d/pipe").status, 404);
    drop(server);

    let server = TestServer::start(root, "[http]\nhidden_files = true\n");
    let doc = json_listing(&server, "/d/");
    assert_eq!(names(&doc), [".env", "plain.txt"]);
    assert_eq!(doc["omitted"], 4, "{doc}");
}

/// A root `T/root` with, in `d/`: `big.bin` (1 KiB, an old mtime),
/// `sub/` and links to them, one to a file above (`up.txt`, still in the
/// root), and links that cannot be served: out of the root (relative and
/// absolute), dangling, a loop, and one to a FIFO.
fn link_site() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(dir.path()).unwrap();
    write(&top, "outside.txt", b"OUTSIDE-SECRET-3b1f, 29 bytes\n");
    let root = top.join("root");
    let big = write(&root, "d/big.bin", &[b'x'; 1024]);
    set_mtime(&big, UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    write(&root, "d/sub/in.txt", b"in sub\n");
    write(&root, "top.txt", b"top\n");
    mkfifo(&root.join("d/pipe"));
    let d = root.join("d");
    symlink("big.bin", d.join("link.bin")).unwrap();
    symlink("sub", d.join("sublink")).unwrap();
    symlink("../top.txt", d.join("up.txt")).unwrap();
    symlink("../../outside.txt", d.join("out")).unwrap();
    symlink(top.join("outside.txt"), d.join("absout")).unwrap();
    symlink("missing", d.join("dangling")).unwrap();
    symlink("loop", d.join("loop")).unwrap();
    symlink("pipe", d.join("pipelink")).unwrap();
    (dir, root)
}

#[test]
fn listings_show_symlinks_as_what_a_request_gets() {
    let (_dir, root) = link_site();
    let server = TestServer::start(&root, "");
    let doc = json_listing(&server, "/d/");
    let text = doc.to_string();
    assert!(
        !text.contains("OUTSIDE") && !text.contains("outside"),
        "{text}"
    );
    // Directories first, then by name; nothing that answers 404.
    assert_eq!(
        names(&doc),
        ["sub", "sublink", "big.bin", "link.bin", "up.txt"]
    );
    // out, absout, dangling, loop, pipe, pipelink.
    assert_eq!(doc["omitted"], 6, "{doc}");
    let link = entry(&doc, "link.bin");
    assert_eq!(link["type"], "file");
    assert_eq!(link["size"], 1024, "the target's size, not the link's");
    assert_eq!(link["modified"], "2001-09-09T01:46:40Z");
    assert_eq!(entry(&doc, "sublink")["type"], "directory");
    assert_eq!(entry(&doc, "up.txt")["size"], 4);

    let html = server.get("/d/").text();
    assert!(!html.contains("OUTSIDE") && !html.contains("outside"));
    assert_eq!(
        hrefs(&html),
        ["sub/", "sublink/", "big.bin", "link.bin", "up.txt"]
    );
    assert!(html.contains("6 entries not listed"), "{html}");
    assert!(html.contains("<footer>11 entries"), "{html}");
    let link_row = &html[html.find("./link.bin").unwrap()..];
    assert!(link_row[..link_row.find("</tr>").unwrap()].contains("1.0 KiB"));
    // What is listed is served; what is not answers 404.
    for href in hrefs(&html) {
        assert_eq!(server.get(&format!("/d/{href}")).status, 200, "{href}");
    }
    assert_eq!(server.get("/d/link.bin").body.len(), 1024);
    for gone in ["out", "absout", "dangling", "loop", "pipelink"] {
        assert_eq!(server.get(&format!("/d/{gone}")).status, 404, "{gone}");
    }
}

#[test]
fn the_symlink_policy_decides_which_links_are_listed() {
    let (_dir, root) = link_site();
    let server = TestServer::start(&root, "[http]\nsymlinks = \"deny\"\n");
    let doc = json_listing(&server, "/d/");
    assert_eq!(names(&doc), ["sub", "big.bin"]);
    // Every link (8) and the FIFO.
    assert_eq!(doc["omitted"], 9, "{doc}");
    for link in ["link.bin", "sublink/", "up.txt"] {
        assert_eq!(server.get(&format!("/d/{link}")).status, 404, "{link}");
    }
    drop(server);

    // "follow" serves links out of the root, so they are listed as served.
    let server = TestServer::start(&root, "[http]\nsymlinks = \"follow\"\n");
    let doc = json_listing(&server, "/d/");
    assert_eq!(
        names(&doc),
        ["sub", "sublink", "absout", "big.bin", "link.bin", "out", "up.txt"]
    );
    assert_eq!(entry(&doc, "out")["size"], 30);
    assert_eq!(server.get("/d/out").status, 200);
    // dangling, loop, pipe, pipelink.
    assert_eq!(doc["omitted"], 4, "{doc}");
}

#[test]
fn wget_mirrors_odd_names_through_the_listing() {
    if !require_tool("wget") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut expected = Vec::new();
    for (name, content) in ODD.iter().filter(|(n, _)| *n != "...") {
        write(&root, &format!("m/{name}"), content);
        expected.push((format!("m/{name}"), content.to_vec()));
    }
    write(&root, "m/sub:1/in.txt", b"in\n");
    expected.push(("m/sub:1/in.txt".to_string(), b"in\n".to_vec()));
    write(&root, "m/plain.txt", b"plain\n");
    expected.push(("m/plain.txt".to_string(), b"plain\n".to_vec()));
    symlink("plain.txt", root.join("m/link.txt")).unwrap();
    expected.push(("m/link.txt".to_string(), b"plain\n".to_vec()));
    symlink("../../outside", root.join("m/out")).unwrap();
    expected.sort();
    let server = TestServer::start(&root, "");

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let status = std::process::Command::new("wget")
        .args([
            "-r",
            "-np",
            "-nH",
            "-q",
            "-e",
            "robots=off",
            "-T",
            "10",
            "-t",
            "1",
        ])
        .arg(server.url("/m/"))
        .current_dir(&out)
        .status()
        .unwrap();
    assert!(status.success(), "wget: {status}");
    let mut mirrored = Vec::new();
    let mut stack = vec![out.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("index.html")
            {
                let relative = path
                    .strip_prefix(&out)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                mirrored.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    mirrored.sort();
    assert_eq!(mirrored, expected, "the mirror holds every servable file");
}
