//! Races: a symlink or a directory swapped, or unrelated files renamed,
//! while the same targets are requested over and over.

use super::*;

use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// Requests `target` until both outcomes were seen at least once (bounded:
/// on a loaded machine the swapper may hold one state for a long stretch,
/// so the bound is generous; the loop ends as soon as both were seen after
/// 300 requests) and checks each response: the in-root content or 404,
/// never the canary.
fn hammer(server: &TestServer, target: &str, inside: &str) -> Tally {
    let mut tally = Tally::default();
    for i in 0..20_000 {
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
