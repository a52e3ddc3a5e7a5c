//! Directory listings: sorting, JSON, escaped names whose links work,
//! hidden files, 100,000 entries, and the listing's validator.

use super::*;

use std::fs::File;
use std::net::TcpStream;
use std::time::Instant;

use serde_json::Value;

/// Parses a whole JSON document (serde_json is strict: RFC 8259, nothing
/// after the value but whitespace), keeping object members in their order.
fn parse_json(text: &[u8]) -> Value {
    serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "not a JSON document ({e}): {:?}",
            String::from_utf8_lossy(text)
        )
    })
}

/// The member names of a JSON object, in document order.
fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// The `entries` array of a JSON listing.
fn entries(doc: &Value) -> &[Value] {
    doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries array in {doc}"))
}

/// The `name` of a JSON listing entry.
fn name(entry: &Value) -> &str {
    entry["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no name in {entry}"))
}

/// The link texts of a listing's rows, in order (the parent row and the
/// column headers excluded).
fn listing_rows(html: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<a href=\"./") {
        rest = &rest[at..];
        let text_start = rest.find("\">").unwrap() + 2;
        let text_end = rest[text_start..].find("</a>").unwrap() + text_start;
        rows.push(rest[text_start..text_end].to_string());
        rest = &rest[text_end..];
    }
    rows
}

/// The hrefs of a listing's rows, in order.
fn listing_hrefs(html: &str) -> Vec<String> {
    html.split("<a href=\"./")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

fn sort_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Sizes: a 30 > c 20 > b 10. Times: b < c < a.
    write_at(
        root,
        "list/a.txt",
        &[b'a'; 30],
        old_time() + Duration::from_secs(300),
    );
    write_at(
        root,
        "list/b.txt",
        &[b'b'; 10],
        old_time() + Duration::from_secs(100),
    );
    write_at(
        root,
        "list/c.txt",
        &[b'c'; 20],
        old_time() + Duration::from_secs(200),
    );
    std::fs::create_dir_all(root.join("list/d1")).unwrap();
    std::fs::create_dir_all(root.join("list/d2")).unwrap();
    dir
}

#[test]
fn listings_sort_by_name_size_and_time() {
    let site = sort_site();
    let server = TestServer::start(site.path(), "");
    let dirs = |rows: &[String]| {
        let mut first: Vec<String> = rows[..2].to_vec();
        first.sort();
        assert_eq!(first, ["d1/", "d2/"], "directories first: {rows:?}");
    };
    let cases: &[(&str, &[&str])] = &[
        ("", &["a.txt", "b.txt", "c.txt"]),
        ("?sort=name", &["a.txt", "b.txt", "c.txt"]),
        ("?sort=size&order=desc", &["a.txt", "c.txt", "b.txt"]),
        ("?sort=size", &["b.txt", "c.txt", "a.txt"]),
        ("?sort=time", &["b.txt", "c.txt", "a.txt"]),
        ("?order=desc&sort=time", &["a.txt", "c.txt", "b.txt"]),
        ("?sort=name&order=desc", &["c.txt", "b.txt", "a.txt"]),
        ("?sort=bogus&order=sideways", &["a.txt", "b.txt", "c.txt"]),
    ];
    for &(query, files) in cases {
        let response = get(&server, &format!("/list/{query}"), &[]);
        check(&response, 200);
        let rows = listing_rows(&response.text());
        assert_eq!(rows.len(), 5, "{query}: {rows:?}");
        dirs(&rows);
        assert_eq!(&rows[2..], files, "{query}");
    }
    // By name descending, the directories are in descending order too.
    let response = get(&server, "/list/?sort=name&order=desc", &[]);
    assert_eq!(
        listing_rows(&response.text()),
        ["d2/", "d1/", "c.txt", "b.txt", "a.txt"]
    );
    // A listing has a parent link, except at the root.
    assert!(response.text().contains("href=\"../\""));
    let root = get(&server, "/", &[]);
    check(&root, 200);
    assert!(!root.text().contains("href=\"../\""));
    // The JSON listing sorts the same way.
    let json = get(
        &server,
        "/list/?sort=size&order=desc",
        &[("Accept", "application/json")],
    );
    let doc = parse_json(&json.body);
    let names: Vec<&str> = entries(&doc).iter().map(name).collect();
    assert_eq!(&names[2..], ["a.txt", "c.txt", "b.txt"]);
}

#[test]
fn listings_as_json() {
    let site = sort_site();
    let server = TestServer::start(site.path(), "");
    let html = get(&server, "/list/", &[]);
    check(&html, 200);
    assert_eq!(
        html.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(html.header("Vary"), Some("Accept"));

    let response = get(&server, "/list/", &[("Accept", "application/json")]);
    check(&response, 200);
    let content_type = response.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(response.header("Vary"), Some("Accept"));
    let doc = parse_json(&response.body);
    assert_eq!(keys(&doc), ["path", "entries", "omitted"]);
    assert_eq!(doc["path"], "/list/");
    assert_eq!(doc["omitted"], 0);
    let entries = entries(&doc);
    assert_eq!(entries.len(), 5);
    for entry in entries {
        assert_eq!(keys(entry), ["name", "type", "size", "modified"]);
    }
    let find = |wanted: &str| {
        entries
            .iter()
            .find(|e| name(e) == wanted)
            .unwrap_or_else(|| panic!("{wanted} listed"))
    };
    let b = find("b.txt");
    assert_eq!(b["type"], "file");
    assert_eq!(b["size"], 10);
    // 2001-09-09T01:46:40Z + 100 s.
    assert_eq!(b["modified"], "2001-09-09T01:48:20Z");
    assert_eq!(find("d1")["type"], "directory");

    // A browser's Accept gets HTML; a JSON-preferring one gets JSON.
    let browser = get(
        &server,
        "/list/",
        &[(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )],
    );
    assert!(browser
        .header("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    let json = get(
        &server,
        "/list/",
        &[("Accept", "application/json, text/html;q=0.5")],
    );
    assert!(json
        .header("Content-Type")
        .unwrap()
        .starts_with("application/json"));
    // HEAD of the JSON listing: same length, no body.
    let head_response = head(&server, "/list/", &[("Accept", "application/json")]);
    check(&head_response, 200);
    assert!(head_response.body.is_empty());
    assert_eq!(
        head_response.header("Content-Length"),
        response.header("Content-Length")
    );
}

#[test]
fn listing_names_are_escaped_and_their_links_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let xss = "<img src=x onerror=alert(1)>.txt";
    let names = [
        xss,
        "quo\"te.txt",
        "back\\slash.txt",
        "amp&ersand 100%.txt",
        "tab\there.txt",
        "new\nline.txt",
        "caf\u{e9} \u{1f600}.txt",
        "it's.txt",
    ];
    for (i, name) in names.iter().enumerate() {
        write(
            root,
            &format!("esc/{name}"),
            format!("file {i}\n").as_bytes(),
        );
    }
    let server = TestServer::start(root, "");

    // JSON: every name round-trips exactly, and no raw `<` appears.
    let response = get(&server, "/esc/", &[("Accept", "application/json")]);
    check(&response, 200);
    assert!(!response.body.contains(&b'<'), "`<` is escaped in JSON");
    let doc = parse_json(&response.body);
    let mut listed: Vec<String> = entries(&doc).iter().map(|e| name(e).to_string()).collect();
    listed.sort();
    // Names wharf refuses to serve (backslash, control characters) are not
    // listed: their links could not work.
    let refused = |n: &&str| n.contains(['\\', '\t', '\n']);
    let mut expected: Vec<String> = names
        .iter()
        .filter(|n| !refused(n))
        .map(|n| n.to_string())
        .collect();
    expected.sort();
    assert_eq!(listed, expected);

    // HTML: escaped text, and the XSS file's link serves it.
    let response = get(&server, "/esc/", &[]);
    check(&response, 200);
    let html = response.text();
    assert!(!html.contains("<img"), "markup injected");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert!(html.contains("quo&quot;te.txt"));
    assert!(html.contains("amp&amp;ersand 100%.txt"));
    let hrefs = listing_hrefs(&html);
    assert_eq!(hrefs.len(), expected.len());
    for href in &hrefs {
        assert!(
            !href.contains(['<', '>', '"', ' ']),
            "href is percent-encoded: {href}"
        );
    }
    let rows = listing_rows(&html);
    let xss_index = rows
        .iter()
        .position(|r| r.contains("&lt;img"))
        .expect("the XSS file is listed");
    let linked = get(&server, &format!("/esc/{}", hrefs[xss_index]), &[]);
    check(&linked, 200);
    let xss_number = names.iter().position(|n| *n == xss).unwrap();
    assert_eq!(linked.text(), format!("file {xss_number}\n"));
    // Every other listed name's link works too.
    for href in &hrefs {
        let response = get(&server, &format!("/esc/{href}"), &[]);
        check(&response, 200);
        assert!(response.text().starts_with("file "), "{href}");
    }
}

#[test]
fn every_listed_file_can_be_fetched_through_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "back\\slash.txt",
        "a:b.txt",
        "trailing.",
        "trailing ",
        "plain.txt",
    ];
    for name in names {
        write(dir.path(), &format!("d/{name}"), b"content\n");
    }
    let server = TestServer::start(dir.path(), "");
    let html = get(&server, "/d/", &[]).text();
    let hrefs = listing_hrefs(&html);
    // Names the path rules refuse (a backslash) are left out of the
    // listing; the rest, names Windows would alias among them, are listed.
    assert_eq!(
        hrefs,
        ["a%3Ab.txt", "plain.txt", "trailing%20", "trailing."],
        "only servable names are listed"
    );
    assert!(html.contains("1 entry not listed"), "{html}");
    let failures: Vec<String> = hrefs
        .iter()
        .filter_map(|href| {
            let response = get(&server, &format!("/d/{href}"), &[]);
            (response.status != 200 || response.body != b"content\n")
                .then(|| format!("/d/{href} -> {}", response.status))
        })
        .collect();
    assert!(failures.is_empty(), "listed but not served: {failures:?}");
}

#[test]
fn hidden_files_stay_hidden_in_listings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d/visible.txt", b"v\n");
    write(dir.path(), "d/.env", b"SECRET=1\n");
    write(dir.path(), "d/.git/config", b"[core]\n");
    let names = |server: &TestServer| -> Vec<String> {
        let json = get(server, "/d/", &[("Accept", "application/json")]);
        check(&json, 200);
        let doc = parse_json(&json.body);
        let mut names: Vec<String> = entries(&doc).iter().map(|e| name(e).to_string()).collect();
        names.sort();
        names
    };
    let server = TestServer::start(dir.path(), "");
    assert_eq!(names(&server), ["visible.txt"]);
    let html = get(&server, "/d/", &[]).text();
    assert!(!html.contains(".env") && !html.contains(".git"), "{html}");
    drop(server);

    let server = TestServer::start(dir.path(), "[http]\nhidden_files = true\n");
    assert_eq!(names(&server), [".env", ".git", "visible.txt"]);
    let html = get(&server, "/d/", &[]).text();
    assert!(html.contains(".env") && html.contains(".git/"));
}

#[test]
fn a_directory_of_100000_entries_is_listed_bounded_and_does_not_stall() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    let started = Instant::now();
    for i in 0..100_000 {
        File::create(big.join(format!("f{i:06}"))).unwrap();
    }
    // The last one by name is the largest: it must lead a size-descending
    // listing although a name-ordered one leaves it out.
    std::fs::write(big.join("f099999"), b"largest").unwrap();
    eprintln!("created 100,000 files in {:?}", started.elapsed());
    write(dir.path(), "small.txt", b"small\n");
    // Reading and sorting 100,000 entries can take longer than the usual
    // timeouts on a loaded machine: the server waits up to 5 minutes for
    // the job, and the client reads with a long timeout too.
    let server = TestServer::start(dir.path(), "[limits]\nsend_timeout_secs = 300\n");
    let slow_get = |target: &str, headers: &[(&str, &str)]| {
        let mut stream = server.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        stream
            .write_all(request_text("GET", target, headers).as_bytes())
            .unwrap();
        Reply {
            response: split_response(&read_to_close(&mut stream)),
            to_head: false,
        }
    };

    // The listing runs on one thread while small requests go on another.
    let addr = server.addr;
    let listing = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        stream
            .write_all(b"GET /big/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        Reply {
            response: split_response(&read_to_close(&mut stream)),
            to_head: false,
        }
    });
    for _ in 0..10 {
        let small = get(&server, "/small.txt", &[]);
        check_full(&small, b"small\n");
    }
    let response = listing.join().unwrap();
    check(&response, 200);
    let html = response.text();
    let rows = listing_rows(&html);
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[0], "f000000");
    assert_eq!(rows[9_999], "f009999");
    assert!(
        html.contains("90000 entries not shown: a listing shows at most 10000"),
        "the note"
    );

    let response = slow_get("/big/?sort=size&order=desc", &[]);
    check(&response, 200);
    let rows = listing_rows(&response.text());
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[0], "f099999", "the sort applies before the cut");

    let response = slow_get("/big/", &[("Accept", "application/json")]);
    check(&response, 200);
    let doc = parse_json(&response.body);
    assert_eq!(entries(&doc).len(), 10_000);
    assert_eq!(doc["omitted"], 90_000);
    eprintln!("whole test took {:?}", started.elapsed());
}

#[test]
fn listings_have_a_validator_and_answer_304() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d/a.txt", b"a\n");
    let server = TestServer::start(dir.path(), "");
    let first = get(&server, "/d/", &[]);
    check(&first, 200);
    let etag = first.header("ETag").expect("a listing ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    // The JSON variant is another representation with another tag.
    let json = get(&server, "/d/", &[("Accept", "application/json")]);
    assert_ne!(json.header("ETag"), Some(etag.as_str()));
    // Revalidation: 304 without a body, same tag, Vary kept.
    let again = get(&server, "/d/", &[("If-None-Match", &etag)]);
    check(&again, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("ETag"), Some(etag.as_str()));
    assert_eq!(again.header("Vary"), Some("Accept"));
    // A new entry changes the listing, hence the tag.
    write(dir.path(), "d/b.txt", b"b\n");
    let changed = get(&server, "/d/", &[("If-None-Match", &etag)]);
    check(&changed, 200);
    assert_ne!(changed.header("ETag"), Some(etag.as_str()));
}
