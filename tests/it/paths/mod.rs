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
//!
//! [`targets`] sends request targets at that layout; [`races`] swaps and
//! renames in it while requests run. This file holds the layout and the
//! raw client both use, and the lock that keeps rename loops apart.

mod races;
mod targets;

use crate::harness::*;

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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
