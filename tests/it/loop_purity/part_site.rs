//! The loop-purity part of redirects, the app fallback, clean URLs and
//! CORS: each kind of answer they add, under strace.
//!
//! The fallback would answer the base scenario's own 404s (`/nope`,
//! `/missing`), so its file exists only while this part's traffic runs:
//! written at its start, removed at its end.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::parts::Part;
use crate::harness::{write, TestServer};

/// The served root, remembered by `files` for `traffic`.
static ROOT: Mutex<Option<PathBuf>> = Mutex::new(None);

const SHELL: &[u8] = b"<!doctype html><title>app</title>shell\n";

pub const PART: Part = Part {
    name: "site routing (redirects, fallback, clean URLs, CORS)",
    files,
    toml: "http.fallback = \"/site-app.html\"\n\
           http.try_extensions = [\"html\"]\n\
           http.cors.allow_origins = [\"*\"]\n\
           http.redirects = [{from = \"/old/**\", to = \"/new/{rest}\"}]\n",
    traffic,
};

fn files(root: &Path) {
    write(root, "clean/page.html", b"<p>clean page</p>\n");
    *ROOT.lock().unwrap() = Some(root.to_path_buf());
}

fn traffic(server: &TestServer) -> usize {
    let root = ROOT.lock().unwrap().clone().expect("files ran first");
    let shell = write(&root, "site-app.html", SHELL);
    let mut logged = 0;
    let mut expect = |raw: &str, status: u16| {
        let response = server.request(raw);
        assert_eq!(response.status, status, "{raw:?}: {}", response.head);
        logged += 1;
        response
    };
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n")
    };
    // A redirect (on the loop), twice.
    for _ in 0..2 {
        let r = expect(&get("/old/a/b?q=1", ""), 301);
        assert_eq!(r.header("location"), Some("/new/a/b?q=1"));
    }
    // A clean URL: the miss on the pool, then (likely) a cache hit.
    for _ in 0..3 {
        let r = expect(&get("/clean/page", ""), 200);
        assert_eq!(r.body, b"<p>clean page</p>\n");
    }
    // The fallback, for a route and for a navigation; a missing asset.
    for path in ["/app/route/42", "/app/user.name"] {
        let r = expect(&get(path, "Accept: text/html\r\n"), 200);
        assert_eq!(r.body, SHELL);
    }
    expect(&get("/app/missing.js", ""), 404);
    // CORS on a file (miss and hit), an error and a preflight.
    for _ in 0..2 {
        let r = expect(
            &get("/clean/page.html", "Origin: https://a.example\r\n"),
            200,
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    expect(&get("/nope.txt", "Origin: https://a.example\r\n"), 404);
    let r = expect(
        "OPTIONS /clean/page HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
        204,
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    std::fs::remove_file(shell).unwrap();
    logged
}
