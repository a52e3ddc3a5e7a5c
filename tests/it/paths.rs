//! Confinement: no request target, however spelled, and no symlink, however
//! placed or swapped, makes wharf send a file from outside its root.
//!
//! Layout (all under one temp dir `T`):
//! ```text
//! T/canary.txt            CANARY-7f3a9-... (outside the root)
//! T/OUTSIDE-MARKER-7f3a9  a name that would show up in a listing of T
//! T/rootx/canary.txt      the canary again, in a sibling whose name shares
//!                         the root's name as a prefix
//! T/root/                 the served root
//!   hello.txt, index.html, sub/page.html, .secret
//!   escape     -> ../canary.txt          relative escape
//!   outdir     -> T                      absolute, to an outside directory
//!   absescape  -> T/canary.txt           absolute escape
//!   parent     -> ..                     relative, to an outside directory
//!   prefix     -> ../rootx/canary.txt    prefix confusion
//!   chain      -> sub/chainend           a chain whose last link escapes
//!   sub/chainend -> ../../canary.txt
//!   sub/up     -> ../../canary.txt       escape from a subdirectory
//!   procself   -> /proc/self/root        a magic-link route to `/`
//!   alias.txt  -> hello.txt              relative, inside: served
//!   absalias.txt -> T/root/hello.txt     absolute, inside: served
//!   sub/rel    -> ../hello.txt           relative upwards, inside: served
//!   dirlink    -> sub                    directory symlink, inside: served
//!   bounce     -> ../root/hello.txt      leaves and re-enters: served
//! ```

use crate::harness::*;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Every canary starts with this; it must never appear in any response.
const CANARY_PREFIX: &str = "CANARY-7f3a9";
/// The name of a file outside the root: it would appear in a listing of
/// the outside directory.
const OUTSIDE_MARKER: &str = "OUTSIDE-MARKER-7f3a9";
const HELLO: &str = "hello, world\n";

struct Layout {
    /// Holds the whole tree alive.
    _dir: tempfile::TempDir,
    /// Canonical path of the temp dir (the root's parent).
    top: PathBuf,
    root: PathBuf,
    canary: String,
}

fn layout() -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(dir.path()).unwrap();
    let canary = format!(
        "{CANARY_PREFIX}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    write(&top, "canary.txt", canary.as_bytes());
    write(&top, OUTSIDE_MARKER, b"outside\n");
    write(&top, "rootx/canary.txt", canary.as_bytes());

    let root = top.join("root");
    write(&root, "hello.txt", HELLO.as_bytes());
    write(
        &root,
        "index.html",
        b"<!doctype html><title>home</title>home page\n",
    );
    write(&root, "sub/page.html", b"<p>sub page</p>\n");
    write(&root, ".secret", b"secret dotfile\n");

    // Escapes.
    symlink("../canary.txt", root.join("escape")).unwrap();
    symlink(&top, root.join("outdir")).unwrap();
    symlink(top.join("canary.txt"), root.join("absescape")).unwrap();
    symlink("..", root.join("parent")).unwrap();
    symlink("../rootx/canary.txt", root.join("prefix")).unwrap();
    symlink("sub/chainend", root.join("chain")).unwrap();
    symlink("../../canary.txt", root.join("sub/chainend")).unwrap();
    symlink("../../canary.txt", root.join("sub/up")).unwrap();
    symlink("/proc/self/root", root.join("procself")).unwrap();

    // Symlinks whose targets lie inside the root.
    symlink("hello.txt", root.join("alias.txt")).unwrap();
    symlink(root.join("hello.txt"), root.join("absalias.txt")).unwrap();
    symlink("../hello.txt", root.join("sub/rel")).unwrap();
    symlink("sub", root.join("dirlink")).unwrap();
    symlink("../root/hello.txt", root.join("bounce")).unwrap();

    Layout {
        _dir: dir,
        top,
        root,
        canary,
    }
}

/// Tests that rename files in a loop take this for writing; the others take
/// it for reading. A rename anywhere on the system can make openat2 fail
/// with EAGAIN while it resolves a `..` (the kernel's rename seqlock moved).
/// wharf retries, then decides by the canonical path (see
/// `dotdot_symlinks_survive_unrelated_renames`), so the renames of other
/// modules' tests, which run in the same process, are harmless; keeping
/// this module's rename loops apart from its exact-status assertions all
/// the same means a regression there shows up in the test made for it.
static RENAMES: RwLock<()> = RwLock::new(());

fn no_renames() -> RwLockReadGuard<'static, ()> {
    RENAMES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn renaming() -> RwLockWriteGuard<'static, ()> {
    RENAMES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A raw response, read until the server closed the connection.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
    all: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `GET <target>` (raw bytes, so targets need not be UTF-8) on a
/// fresh connection with `Connection: close` and reads until close.
fn raw_get(server: &TestServer, target: &[u8]) -> Raw {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut stream = server.connect();
    stream.write_all(&request).unwrap();
    let all = read_to_close(&mut stream);
    let shown = String::from_utf8_lossy(target);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "{shown:?}: no complete response head in {:?}",
                String::from_utf8_lossy(&all)
            )
        });
    let head = String::from_utf8(all[..split].to_vec()).expect("ASCII head");
    let body = all[split + 4..].to_vec();
    let status_line = head.split("\r\n").next().unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "{shown:?}: bad status line {status_line:?}"
    );
    let status = status_line[9..12].parse().unwrap();
    let raw = Raw {
        status,
        head,
        body,
        all,
    };
    // The framing is exact: one response, its body as long as announced.
    let length: usize = raw
        .header("content-length")
        .unwrap_or_else(|| panic!("{shown:?}: no Content-Length"))
        .parse()
        .unwrap();
    assert_eq!(raw.body.len(), length, "{shown:?}: body length");
    raw
}

/// The invariant of this file: nothing from outside the root, not even a
/// directory listing of an outside directory.
fn assert_no_leak(target: &[u8], raw: &Raw) {
    let text = String::from_utf8_lossy(&raw.all);
    let shown = String::from_utf8_lossy(target);
    assert!(
        !text.contains(CANARY_PREFIX),
        "{shown:?}: the canary leaked:\n{text}"
    );
    assert!(
        !text.contains(OUTSIDE_MARKER),
        "{shown:?}: an outside directory was listed:\n{text}"
    );
}

const BAD: &[u16] = &[400];
const SERVED: &[u16] = &[200];
const MISSING: &[u16] = &[404];
const REFUSED: &[u16] = &[400, 404];

/// The attack battery: (target, acceptable statuses, why).
fn battery(top: &Path) -> Vec<(Vec<u8>, &'static [u16], &'static str)> {
    let mut cases: Vec<(Vec<u8>, &'static [u16], &'static str)> = Vec::new();
    let mut add = |target: &str, statuses: &'static [u16], why: &'static str| {
        cases.push((target.as_bytes().to_vec(), statuses, why));
    };

    // `..` in every spelling.
    add("/../canary.txt", BAD, "plain ..");
    add("/..", BAD, "bare ..");
    add("/%2e%2e", BAD, "bare encoded ..");
    add("/..%2fcanary.txt", BAD, "encoded slash");
    add("/..%2Fcanary.txt", BAD, "encoded slash, upper case");
    add("/%2e%2e/canary.txt", BAD, "encoded dots");
    add(
        "/%2E%2E%2Fcanary.txt",
        BAD,
        "encoded dots and slash, upper case",
    );
    add("/%2E%2e/canary.txt", BAD, "mixed-case escapes");
    add("/%2e%2E%2f%2E%2e%2Fcanary.txt", BAD, "mixed-case chain");
    add("/.%2e/canary.txt", BAD, "half-encoded");
    add("/%2e./canary.txt", BAD, "half-encoded, other half");
    add("/.%2e%2fcanary.txt", BAD, "half-encoded with encoded slash");
    add("/..;/canary.txt", MISSING, "`..;` is an ordinary name here");
    add("/sub/../../canary.txt", BAD, "climbs out of a subdirectory");
    add("/sub/..", BAD, "trailing ..");
    add(
        "/sub/%2E%2E/%2e%2E/canary.txt",
        BAD,
        "encoded, from a subdirectory",
    );
    add("/hello.txt/../../canary.txt", BAD, "through a file");
    add(
        "/hello.txt#/../../canary.txt",
        BAD,
        "`#` is not special to the path",
    );
    add("/././../canary.txt", BAD, "dots then ..");
    add(
        "/dirlink/../../canary.txt",
        BAD,
        "through a directory symlink",
    );
    add("/alias.txt/../escape", BAD, "through a file symlink");
    add(
        "/./././canary.txt",
        MISSING,
        "dot segments are dropped: not in the root",
    );
    add("/canary.txt", MISSING, "not in the root");
    add("/...", BAD, "`...` ends with a dot");
    add("/.../canary.txt", BAD, "`...` as a directory");
    add("/....//canary.txt", BAD, "four dots");
    // Double encoding is decoded once only: `%2e%2e` is a literal name.
    add("/%252e%252e/canary.txt", MISSING, "double-encoded dots");
    add(
        "/%252e%252e%252fcanary.txt",
        MISSING,
        "double-encoded slash",
    );
    add("/%25%32%65%25%32%65/canary.txt", MISSING, "escaped escapes");
    add(
        "/%%32%65%%32%65/canary.txt",
        BAD,
        "malformed nested escapes",
    );
    add("/%", BAD, "truncated escape");
    add("/%2", BAD, "truncated escape");
    add("/%zz", BAD, "non-hex escape");
    // Overlong and look-alike UTF-8.
    add("/%c0%ae%c0%ae/canary.txt", BAD, "overlong 2-byte dots");
    add("/%C0%AE%C0%AE/canary.txt", BAD, "overlong, upper case");
    add(
        "/%e0%80%ae%e0%80%ae/canary.txt",
        BAD,
        "overlong 3-byte dots",
    );
    add("/..%c0%afcanary.txt", BAD, "overlong slash");
    add("/..%c1%9ccanary.txt", BAD, "overlong backslash");
    add(
        "/%ef%bc%8e%ef%bc%8e/canary.txt",
        MISSING,
        "fullwidth dots are names",
    );
    add("/%ff", BAD, "invalid UTF-8");
    // NUL.
    add("/hello.txt%00.html", BAD, "NUL truncation");
    add("/..%00/canary.txt", BAD, "NUL after ..");
    add("/escape%00", BAD, "NUL after a symlink name");
    // Backslashes, raw and encoded.
    add("/..\\canary.txt", BAD, "raw backslash");
    add("/..\\..\\canary.txt", BAD, "raw backslashes");
    add("/..%5ccanary.txt", BAD, "encoded backslash");
    add("/..%5Ccanary.txt", BAD, "encoded backslash, upper case");
    add(
        "/%2e%2e%5c%2e%2e%5ccanary.txt",
        BAD,
        "all encoded, backslashes",
    );
    // Absolute-form: served from its path, inside the root like any other.
    add("http://x/../canary.txt", BAD, "absolute-form with ..");
    add("http://x/etc/passwd", MISSING, "absolute-form");
    add("http://x/canary.txt", MISSING, "absolute-form, plain");
    add("https://x/hello.txt", SERVED, "absolute-form, a real file");
    add(
        "HTTP://x/hello.txt",
        SERVED,
        "absolute-form, upper-case scheme",
    );
    // Not origin-form nor absolute-form.
    add("x:80", BAD, "authority-form");
    add("127.0.0.1:1", BAD, "authority-form with an address");
    add("*", BAD, "asterisk-form");
    add("canary.txt", BAD, "no leading slash");
    add("../canary.txt", BAD, "relative ..");
    add("hello.txt", BAD, "no leading slash, real file");
    add("%2fcanary.txt", BAD, "encoded leading slash");
    add(".", BAD, "a lone dot");
    // Symlink escapes: refused at open time.
    add("/escape", MISSING, "relative symlink to the canary");
    add("/escape/", MISSING, "symlink to a file, as a directory");
    add(
        "/outdir/canary.txt",
        MISSING,
        "absolute symlink to an outside dir",
    );
    add(
        "/outdir%2fcanary.txt",
        MISSING,
        "same, with an encoded slash",
    );
    add("/outdir/", MISSING, "listing of an outside dir");
    add(
        "/outdir",
        MISSING,
        "outside dir without slash (no redirect)",
    );
    add("/absescape", MISSING, "absolute symlink to the canary");
    add("/absescape/", MISSING, "same, as a directory");
    add("/parent/canary.txt", MISSING, "symlink to ..");
    add("/parent/", MISSING, "listing through a symlink to ..");
    add("/prefix", MISSING, "sibling dir sharing the root's prefix");
    add("/chain", MISSING, "symlink chain ending outside");
    add("/sub/chainend", MISSING, "the chain's last link");
    add("/sub/up", MISSING, "escape from a subdirectory");
    add("/procself/etc/passwd", MISSING, "magic link to /");
    add(
        "/procself/proc/self/environ",
        MISSING,
        "magic link to /proc",
    );
    // Absolute filesystem paths are looked up under the root (and are not
    // there).
    add("/etc/passwd", MISSING, "absolute path");
    add("//etc/passwd", MISSING, "empty segments are dropped");
    add("/%2fetc/passwd", MISSING, "encoded double slash");
    add("/etc/shadow", MISSING, "absolute path");
    add("/proc/self/environ", MISSING, "absolute path");
    add("/%2F%2Fevil.example/", MISSING, "encoded network-path");
    // Windows aliases.
    add("/C:/x", BAD, "drive letter");
    add("/c%3a/canary.txt", BAD, "encoded drive letter");
    add("/hello.txt::$DATA", BAD, "alternate data stream");
    add("/hello.txt:stream", BAD, "named stream");
    add("/hello.txt.", BAD, "trailing dot");
    add("/hello.txt%20", BAD, "trailing space");
    add("/escape.", BAD, "trailing dot on a symlink");
    add("/escape%20", BAD, "trailing space on a symlink");
    // Control characters.
    add("/hello.txt%0a", BAD, "LF");
    add("/hello.txt%0d", BAD, "CR");
    add("/hello.txt%7f", BAD, "DEL");
    add("/hello.txt%09", BAD, "TAB");
    add("/hello.txt%c2%85", BAD, "NEL (C1 control)");
    add("/%0d%0aX-Injected:%20yes", BAD, "header injection");
    // Hidden names stay hidden.
    add("/.secret", MISSING, "dotfile");
    add("/%2esecret", MISSING, "encoded dotfile");
    // Long chains (under the 8 KiB target limit, then over it).
    add(
        &format!("/{}canary.txt", "../".repeat(500)),
        BAD,
        "long ../ chain",
    );
    add(
        &format!("/{}canary.txt", "%2e%2e%2f".repeat(300)),
        BAD,
        "long encoded chain",
    );
    add(
        &format!("/{}canary.txt", "./".repeat(2000)),
        MISSING,
        "long ./ chain",
    );
    add(
        &format!("/{}canary.txt", "sub/../".repeat(300)),
        BAD,
        "long down-and-up chain",
    );
    // Over MAX_TARGET_BYTES (8 KiB): refused before the path is looked at.
    add(
        &format!("/{}canary.txt", "../".repeat(3000)),
        &[414],
        "target over 8 KiB",
    );
    // Harmless redirects to a directory inside the root. 301 is justified:
    // the Location is built from the sanitised relative path (checked below
    // to be a same-origin path), never from the raw target.
    add("/./sub", &[301], "directory inside the root");
    add("//sub", &[301], "network-path look-alike of a directory");
    add("/dirlink", &[301], "directory symlink inside the root");

    // Absolute paths of the real files, as request targets: looked up under
    // the root ("tmp/..." does not exist there; the temp dir's name starts
    // with a dot on most systems, so it may be refused as hidden).
    let top = top.to_str().unwrap().to_string();
    cases.push((
        format!("{top}/canary.txt").into_bytes(),
        REFUSED,
        "absolute temp path",
    ));
    cases.push((
        format!("/procself{top}/canary.txt").into_bytes(),
        MISSING,
        "magic link to the canary",
    ));
    cases.push((
        b"/outdir/rootx/canary.txt".to_vec(),
        MISSING,
        "through the outside dir to the prefix sibling",
    ));
    // Raw (unencoded) bytes that are not UTF-8, and a raw overlong dot.
    cases.push((
        b"/\xc0\xae\xc0\xae/canary.txt".to_vec(),
        BAD,
        "raw overlong",
    ));
    cases.push((b"/..\xff/canary.txt".to_vec(), BAD, "raw invalid byte"));
    cases
}

#[test]
fn attack_battery_never_leaks_the_canary() {
    let _guard = no_renames();
    let layout = layout();
    let server = TestServer::start(&layout.root, "");
    let cases = battery(&layout.top);
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (target, statuses, why) in &cases {
        let raw = raw_get(&server, target);
        assert_no_leak(target, &raw);
        let shown = String::from_utf8_lossy(target);
        if !statuses.contains(&raw.status) {
            failures.push(format!(
                "{shown:?} ({why}): status {} not in {statuses:?}",
                raw.status
            ));
        }
        if raw.status == 301 {
            let location = raw.header("location").unwrap_or("");
            assert!(
                location.starts_with('/')
                    && !location.starts_with("//")
                    && !location.contains("..")
                    && !location.contains('\\'),
                "{shown:?}: unsafe Location {location:?}"
            );
        }
        assert!(
            !raw.head.to_ascii_lowercase().contains("x-injected"),
            "{shown:?}: header injected:\n{}",
            raw.head
        );
    }
    assert!(
        failures.is_empty(),
        "unexpected statuses:\n{}",
        failures.join("\n")
    );
    // The canary file exists and is readable: the refusals above are the
    // server's doing, not a broken fixture.
    assert_eq!(
        std::fs::read_to_string(layout.root.join("escape")).unwrap(),
        layout.canary
    );
    assert_eq!(
        std::fs::read_to_string(layout.root.join("outdir/canary.txt")).unwrap(),
        layout.canary
    );
}

#[test]
fn redirect_locations_stay_on_origin() {
    let _guard = no_renames();
    let layout = layout();
    let server = TestServer::start(&layout.root, "");
    for (target, location) in [
        ("/./sub", "/sub/"),
        ("//sub", "/sub/"),
        ("/%73ub", "/sub/"),
        ("/dirlink", "/dirlink/"),
    ] {
        let raw = raw_get(&server, target.as_bytes());
        assert_eq!(raw.status, 301, "{target}");
        assert_eq!(raw.header("location"), Some(location), "{target}");
    }
}

/// Symlinks (and spellings) that stay inside the root are served.
#[test]
fn in_root_symlinks_and_lookalikes_are_served() {
    let _guard = no_renames();
    let layout = layout();
    let server = TestServer::start(&layout.root, "");
    let cases: &[(&str, &str, &str)] = &[
        ("/hello.txt", HELLO, "the file itself"),
        ("/alias.txt", HELLO, "relative symlink inside the root"),
        // openat2(RESOLVE_BENEATH) refuses absolute symlinks (EXDEV); wharf
        // then canonicalises, finds the target under the root and opens the
        // canonical path with RESOLVE_NO_SYMLINKS.
        (
            "/absalias.txt",
            HELLO,
            "absolute symlink to a file in the root",
        ),
        ("/sub/rel", HELLO, "relative symlink upwards, still inside"),
        (
            "/dirlink/page.html",
            "<p>sub page</p>\n",
            "through a directory symlink",
        ),
        // Leaves the root lexically (`../root/...`) and comes back: EXDEV,
        // then the canonical path is inside the root.
        (
            "/bounce",
            HELLO,
            "symlink that leaves and re-enters the root",
        ),
        // Same fallback: outdir -> T (absolute), T/root/hello.txt is the
        // root's own file, so this is not an escape.
        (
            "/outdir/root/hello.txt",
            HELLO,
            "outside dir back into the root",
        ),
        ("/./hello.txt", HELLO, "dot segment"),
        ("//hello.txt", HELLO, "empty segment"),
        ("/%68ello.txt", HELLO, "encoded letter"),
        (
            "/hello.txt?../../canary.txt",
            HELLO,
            "the query is not part of the path",
        ),
        ("/hello.txt?%00", HELLO, "the query is not decoded"),
        (
            "/hello.txt#frag",
            "",
            "a fragment is part of the name here: 404",
        ),
    ];
    for (target, content, why) in cases {
        let raw = raw_get(&server, target.as_bytes());
        assert_no_leak(target.as_bytes(), &raw);
        if content.is_empty() {
            assert_eq!(raw.status, 404, "{target} ({why})");
            continue;
        }
        assert_eq!(raw.status, 200, "{target} ({why})");
        assert_eq!(
            String::from_utf8_lossy(&raw.body),
            *content,
            "{target} ({why})"
        );
    }
}

/// HEAD through an escaping symlink must not reveal the outside file either,
/// not even its length: the answer is the same as for a name that does not
/// exist.
#[test]
fn head_through_escapes_is_a_plain_404() {
    let _guard = no_renames();
    let layout = layout();
    let server = TestServer::start(&layout.root, "");
    let head = |target: &str| {
        let raw = format!("HEAD {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        // Retried on 500: see `fetch`.
        let mut response = server.request(&raw);
        for _ in 0..5 {
            if response.status != 500 {
                break;
            }
            response = server.request(&raw);
        }
        response
    };
    let plain = head("/no-such-file");
    assert_eq!(plain.status, 404);
    for target in [
        "/escape",
        "/absescape",
        "/outdir/canary.txt",
        "/prefix",
        "/chain",
    ] {
        let response = head(target);
        assert_eq!(response.status, 404, "HEAD {target}");
        assert!(response.body.is_empty());
        assert!(!response.head.contains(CANARY_PREFIX), "HEAD {target}");
        assert_eq!(
            response.header("content-length"),
            plain.header("content-length"),
            "HEAD {target}"
        );
        assert_eq!(
            response.header("content-type"),
            plain.header("content-type"),
            "HEAD {target}"
        );
        assert_eq!(response.header("last-modified"), None, "HEAD {target}");
    }
}

/// Stops and joins a background swapper when dropped, even on panic.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Swapper {
    fn spawn(mut step: impl FnMut() + Send + 'static) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut swaps = 0;
            while !flag.load(Ordering::Relaxed) {
                step();
                swaps += 1;
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a hammering run saw.
#[derive(Debug, Default)]
struct Tally {
    served: u32,
    missing: u32,
}

/// Requests `target` until both outcomes were seen at least once (bounded)
/// and checks each response: the in-root content or 404, never the canary.
fn hammer(server: &TestServer, target: &str, inside: &str) -> Tally {
    let mut tally = Tally::default();
    for i in 0..2000 {
        if i >= 300 && tally.served > 0 && tally.missing > 0 {
            break;
        }
        let raw = raw_get(server, target.as_bytes());
        assert_no_leak(target.as_bytes(), &raw);
        match raw.status {
            200 => {
                assert_eq!(String::from_utf8_lossy(&raw.body), inside, "request {i}");
                tally.served += 1;
            }
            404 => tally.missing += 1,
            other => panic!("request {i}: unexpected status {other}"),
        }
    }
    tally
}

/// Renames a file back and forth in a directory unrelated to the server.
fn unrelated_renamer() -> (Swapper, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"x").unwrap();
    let swapper = Swapper::spawn(move || {
        std::fs::rename(&a, &b).unwrap();
        std::fs::rename(&b, &a).unwrap();
    });
    (swapper, dir)
}

/// With RESOLVE_BENEATH, openat2 fails with EAGAIN when any rename happened
/// on the system while it resolved a `..` component (the kernel cannot
/// prove the walk stayed beneath). wharf retries, then falls back to the
/// canonical-path check, so `sub/rel -> ../hello.txt` (inside the root)
/// stays 200 and the escaping `sub/up -> ../../canary.txt` stays 404 while
/// something else renames files. (Before the fix: about 10% were 500s.)
#[test]
fn dotdot_symlinks_survive_unrelated_renames() {
    let _guard = renaming();
    let layout = layout();
    let server = TestServer::start(&layout.root, "");
    let (swapper, _dir) = unrelated_renamer();
    let mut failures = Vec::new();
    for i in 0..300 {
        for (target, status, body) in [("/sub/rel", 200, HELLO), ("/sub/up", 404, "")] {
            let raw = raw_get(&server, target.as_bytes());
            assert_no_leak(target.as_bytes(), &raw);
            if raw.status != status || (status == 200 && raw.body != body.as_bytes()) {
                failures.push(format!("request {i} {target}: status {}", raw.status));
            }
        }
    }
    let swaps = swapper.finish();
    assert!(
        failures.is_empty(),
        "{} of 600 requests failed during {swaps} unrelated renames, e.g. {:?}; server stderr: {}",
        failures.len(),
        &failures[..failures.len().min(5)],
        server.stderr.text().lines().next().unwrap_or("")
    );
}

/// `root/swap` is atomically replaced, over and over, by a regular file in
/// the root or by a symlink to the canary, while it is being requested.
#[test]
fn symlink_swap_race_never_leaks() {
    let _guard = renaming();
    let layout = layout();
    let root = layout.root.clone();
    const INSIDE: &str = "IN-ROOT-SWAP\n";
    write(&root, "swap", INSIDE.as_bytes());
    let server = TestServer::start(&layout.root, "");

    let swapper = Swapper::spawn({
        let root = root.clone();
        let mut as_link = true;
        move || {
            let staged = root.join(".swap-staged");
            let _ = std::fs::remove_file(&staged);
            if as_link {
                symlink("../canary.txt", &staged).unwrap();
            } else {
                std::fs::write(&staged, INSIDE).unwrap();
            }
            std::fs::rename(&staged, root.join("swap")).unwrap();
            as_link = !as_link;
        }
    });
    let tally = hammer(&server, "/swap", INSIDE);
    eprintln!("/swap: {tally:?}");
    let swaps = swapper.finish();
    assert!(
        tally.served > 0 && tally.missing > 0,
        "the race was not exercised: {tally:?}, {swaps} swaps"
    );
}

/// A directory component is exchanged (renameat2 RENAME_EXCHANGE) between a
/// real directory in the root and a symlink to the outside directory that
/// holds a file of the same name.
#[test]
fn directory_swap_race_never_leaks() {
    let _guard = renaming();
    let layout = layout();
    let root = layout.root.clone();
    const INSIDE: &str = "IN-ROOT-DIR\n";
    write(&root, "swapdir/canary.txt", INSIDE.as_bytes());
    symlink("..", root.join("swapdir-alt")).unwrap();
    let server = TestServer::start(&layout.root, "");

    let a = std::ffi::CString::new(root.join("swapdir").as_os_str().as_bytes()).unwrap();
    let b = std::ffi::CString::new(root.join("swapdir-alt").as_os_str().as_bytes()).unwrap();
    let exchange = move || {
        // SAFETY: two valid NUL-terminated paths; no memory is shared.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
    };
    // One exchange up front, so a filesystem without RENAME_EXCHANGE fails
    // here, clearly, rather than in the thread.
    exchange();
    exchange();
    let swapper = Swapper::spawn(exchange);
    let tally = hammer(&server, "/swapdir/canary.txt", INSIDE);
    eprintln!("/swapdir/canary.txt: {tally:?}");
    let swaps = swapper.finish();
    assert!(
        tally.served > 0 && tally.missing > 0,
        "the race was not exercised: {tally:?}, {swaps} swaps"
    );
}

/// The symlink fixtures really do point where the tests think they do, so
/// a 404 above means "refused", not "broken fixture".
#[test]
fn fixtures_resolve_as_described() {
    let layout = layout();
    let root = &layout.root;
    for link in [
        "escape",
        "absescape",
        "prefix",
        "chain",
        "sub/up",
        "parent/canary.txt",
    ] {
        assert_eq!(
            std::fs::read_to_string(root.join(link)).unwrap(),
            layout.canary,
            "{link}"
        );
    }
    let top = layout.top.to_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join(format!("procself{top}/canary.txt"))).unwrap(),
        layout.canary
    );
    for link in ["alias.txt", "absalias.txt", "sub/rel", "bounce"] {
        assert_eq!(
            std::fs::read_to_string(root.join(link)).unwrap(),
            HELLO,
            "{link}"
        );
    }
}
