//! The hot-file cache never serves stale bytes: files edited in place,
//! replaced atomically, deleted and recreated while hot are served fresh.
//!
//! Every server here trusts its cache entries for an hour unless an inotify
//! event invalidates them (`revalidate_secs = 3600`), so a fresh answer can
//! only come from invalidation, never from expiry. And it must come at
//! once: the first request after the change sees it.

use crate::harness::*;

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::time::Duration;

/// With the metrics listener, whose hit counter tells a cache hit from a
/// miss; `[cache]` comes last, so that a test can append keys to it.
const CONFIG: &str = "[metrics]\nlisten = \"127.0.0.1:0\"\n[cache]\nrevalidate_secs = 3600\n";

/// The very next request after a change must already see it: a change
/// queues its inotify event before the writing call returns, and a cache
/// hit is refused while events are pending.
fn next_request(server: &TestServer, path: &str, accept: impl Fn(&Response) -> bool) -> Response {
    let response = server.get(path);
    assert!(
        accept(&response),
        "{path} answered {} {:?} right after the change",
        response.status,
        response.text()
    );
    response
}

/// Rewrites a file through the same inode (truncate and write), the way
/// an editor saving in place does.
fn edit_in_place(path: &std::path::Path, content: &[u8]) {
    let mut file = std::fs::File::options()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    file.write_all(content).unwrap();
}

/// Requests answered from the cache so far (the server needs `[metrics]`).
fn cache_hits(server: &TestServer) -> u64 {
    let metrics = scrape(&metrics_addr(server), "/metrics");
    sample(&metrics.text(), "wharf_cache_hits_total")
}

/// Makes `path` hot: requests it, each answer `expected`, until one comes
/// from the cache (the hit counter rises), so that a test of freshness
/// cannot pass without the cache. The first request fills the entry;
/// one read while the watcher is still applying events is not kept (the
/// insert is refused), hence a bounded poll rather than a fixed count.
fn warm(server: &TestServer, path: &str, expected: &[u8]) {
    let hit = eventually(Duration::from_secs(10), || {
        let hits = cache_hits(server);
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.text(), String::from_utf8_lossy(expected), "{path}");
        cache_hits(server) > hits
    });
    assert!(hit, "{path} was never answered from the cache");
}

/// Requests `path` a few times, each answer `expected`, and checks that
/// none came from the cache.
fn never_cached(server: &TestServer, path: &str, expected: &[u8]) {
    let hits = cache_hits(server);
    for _ in 0..3 {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.text(), String::from_utf8_lossy(expected), "{path}");
    }
    assert_eq!(
        cache_hits(server),
        hits,
        "{path} was answered from the cache"
    );
}

/// After the fresh content was seen once, it must never flip back.
fn stays(server: &TestServer, path: &str, expected_status: u16, expected: &[u8]) {
    for _ in 0..20 {
        let response = server.get(path);
        assert_eq!(response.status, expected_status);
        if expected_status == 200 {
            assert_eq!(response.text(), String::from_utf8_lossy(expected));
        }
    }
}

#[test]
fn a_file_edited_in_place_is_served_fresh() {
    let site = site();
    let server = TestServer::start(site.path(), CONFIG);
    warm(&server, "/hello.txt", b"hello, world\n");
    // Same length, so only the content (and mtime) tell the versions apart.
    edit_in_place(&site.path().join("hello.txt"), b"HELLO, WORLD\n");
    next_request(&server, "/hello.txt", |r| r.body == b"HELLO, WORLD\n");
    stays(&server, "/hello.txt", 200, b"HELLO, WORLD\n");
}

#[test]
fn a_file_replaced_atomically_is_served_fresh() {
    let site = site();
    let server = TestServer::start(site.path(), CONFIG);
    warm(&server, "/data.json", b"{\"ok\": true}\n");
    let staged = write(site.path(), ".staged", b"{\"ok\": false}\n");
    std::fs::rename(&staged, site.path().join("data.json")).unwrap();
    next_request(&server, "/data.json", |r| r.body == b"{\"ok\": false}\n");
    stays(&server, "/data.json", 200, b"{\"ok\": false}\n");
}

#[test]
fn a_deleted_file_is_gone_and_a_recreated_one_is_fresh() {
    let site = site();
    let server = TestServer::start(site.path(), CONFIG);
    warm(&server, "/hello.txt", b"hello, world\n");
    std::fs::remove_file(site.path().join("hello.txt")).unwrap();
    next_request(&server, "/hello.txt", |r| r.status == 404);
    stays(&server, "/hello.txt", 404, b"");
    write(site.path(), "hello.txt", b"born again\n");
    next_request(&server, "/hello.txt", |r| r.body == b"born again\n");
    stays(&server, "/hello.txt", 200, b"born again\n");
}

#[test]
fn a_directory_index_is_fresh_after_its_file_changes() {
    let site = site();
    write(site.path(), "sub/index.html", b"<p>index</p>\n");
    let server = TestServer::start(site.path(), CONFIG);
    warm(&server, "/sub/", b"<p>index</p>\n");
    write(site.path(), "sub/index.html", b"<p>new index</p>\n");
    next_request(&server, "/sub/", |r| r.body == b"<p>new index</p>\n");
    stays(&server, "/sub/", 200, b"<p>new index</p>\n");
    // Without its index file the directory is listed again.
    std::fs::remove_file(site.path().join("sub/index.html")).unwrap();
    next_request(&server, "/sub/", |r| r.text().contains("Index of /sub/"));
}

#[test]
fn a_renamed_directory_drops_what_was_cached_below_it() {
    let site = site();
    write(site.path(), "dir/a.txt", b"a\n");
    let server = TestServer::start(site.path(), CONFIG);
    warm(&server, "/dir/a.txt", b"a\n");
    std::fs::rename(site.path().join("dir"), site.path().join("moved")).unwrap();
    next_request(&server, "/dir/a.txt", |r| r.status == 404);
    assert_eq!(server.get("/moved/a.txt").body, b"a\n");
}

#[test]
fn cached_answers_keep_validators_ranges_and_head() {
    let site = site();
    let server = TestServer::start(site.path(), CONFIG);
    warm(&server, "/hello.txt", b"hello, world\n");
    let full = server.get("/hello.txt");
    let etag = full.header("ETag").unwrap().to_string();
    let not_modified = server.request(&format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("ETag"), Some(etag.as_str()));
    let range = server.request(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.body, b"hello");
    assert_eq!(range.header("Content-Range"), Some("bytes 0-4/13"));
    let head = server.request("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("13"));
    assert_eq!(head.header("ETag"), Some(etag.as_str()));
    // The cached 200 carries the same headers as the first, uncached one.
    let again = server.get("/hello.txt");
    let names = |r: &Response| {
        let mut names: Vec<String> = r
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .filter(|n| n != "date")
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&again), names(&full));
}

#[test]
fn the_cache_can_be_turned_off() {
    let site = site();
    let server = TestServer::start(
        site.path(),
        "[cache]\nenabled = false\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    never_cached(&server, "/hello.txt", b"hello, world\n");
    write(site.path(), "hello.txt", b"changed\n");
    // Without a cache the very next request reads the file.
    assert_eq!(server.get("/hello.txt").body, b"changed\n");
}

#[test]
fn a_hard_linked_file_is_not_cached() {
    // A change through another link raises no event for this path, so such
    // files must always be read from the disk.
    let outside = tempfile::tempdir().unwrap();
    let original = write(outside.path(), "original.txt", b"v1\n");
    let site = site();
    std::fs::hard_link(&original, site.path().join("linked.txt")).unwrap();
    let server = TestServer::start(site.path(), CONFIG);
    never_cached(&server, "/linked.txt", b"v1\n");
    std::fs::write(&original, b"v2, written through the other link\n").unwrap();
    next_request(&server, "/linked.txt", |r| {
        r.body == b"v2, written through the other link\n"
    });
}

#[test]
fn a_change_inotify_cannot_see_is_picked_up_after_recheck_secs() {
    // A link made outside the root after the file was cached: writes
    // through it raise no event for the served path. Entries of both
    // kinds (bytes, and a descriptor with metadata) are re-read after
    // `recheck_secs` all the same.
    let outside = tempfile::tempdir().unwrap();
    let site = site();
    let small = write(site.path(), "small.txt", b"v1\n");
    let large = write(site.path(), "large.bin", &pattern(300_000, 1));
    let config = format!("{CONFIG}recheck_secs = 1\nmax_file_bytes = 1000\n");
    let server = TestServer::start(site.path(), &config);
    warm(&server, "/small.txt", b"v1\n");
    let old_tag = server.get("/large.bin").header("ETag").unwrap().to_string();
    std::fs::hard_link(&small, outside.path().join("small.txt")).unwrap();
    std::fs::hard_link(&large, outside.path().join("large.bin")).unwrap();
    std::fs::write(
        outside.path().join("small.txt"),
        b"v2, through the other link\n",
    )
    .unwrap();
    let grown = pattern(400_000, 2);
    std::fs::write(outside.path().join("large.bin"), &grown).unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        server.get("/small.txt").body == b"v2, through the other link\n"
    }));
    assert!(eventually(Duration::from_secs(10), || {
        let response = server.get("/large.bin");
        response.body == grown && response.header("ETag") != Some(old_tag.as_str())
    }));
}

/// Every non-empty file is "large" here, so it gets a descriptor entry
/// (its open descriptor and metadata) instead of its bytes in memory.
const DESCRIPTOR_CONFIG: &str =
    "[cache]\nrevalidate_secs = 3600\nmax_file_bytes = 0\ndescriptors = true\n\
                                 [metrics]\nlisten = \"127.0.0.1:0\"\n";

#[test]
fn descriptor_entries_are_used_and_never_stale() {
    let site = site();
    let server = TestServer::start(site.path(), DESCRIPTOR_CONFIG);
    warm(&server, "/hello.txt", b"hello, world\n");
    let hits = cache_hits(&server);
    assert_eq!(server.get("/hello.txt").body, b"hello, world\n");
    assert_eq!(cache_hits(&server), hits + 1, "not answered from the cache");

    // Edited in place, through the very descriptor the cache holds.
    edit_in_place(&site.path().join("hello.txt"), b"HELLO, WORLD\n");
    next_request(&server, "/hello.txt", |r| r.body == b"HELLO, WORLD\n");
    stays(&server, "/hello.txt", 200, b"HELLO, WORLD\n");

    // Replaced atomically: the cached descriptor still reads the old inode.
    let staged = write(site.path(), ".staged", b"replaced\n");
    std::fs::rename(&staged, site.path().join("hello.txt")).unwrap();
    next_request(&server, "/hello.txt", |r| r.body == b"replaced\n");
    stays(&server, "/hello.txt", 200, b"replaced\n");

    // Deleted (the descriptor would still read it), then recreated.
    std::fs::remove_file(site.path().join("hello.txt")).unwrap();
    next_request(&server, "/hello.txt", |r| r.status == 404);
    write(site.path(), "hello.txt", b"born again\n");
    next_request(&server, "/hello.txt", |r| r.body == b"born again\n");
    stays(&server, "/hello.txt", 200, b"born again\n");
}

#[test]
fn large_files_are_sent_from_cached_descriptors_whole_and_in_ranges() {
    let site = site();
    let big: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    write(site.path(), "big.bin", &big);
    let server = TestServer::start(site.path(), DESCRIPTOR_CONFIG);
    assert_eq!(server.get("/big.bin").body, big);
    let hits = cache_hits(&server);
    for _ in 0..3 {
        let response = server.get("/big.bin");
        assert_eq!(response.status, 200);
        assert!(
            response.body == big,
            "wrong bytes from the cached descriptor"
        );
    }
    let ranged =
        server.request("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-1999\r\n\r\n");
    assert_eq!(ranged.status, 206);
    assert!(ranged.body == big[1000..2000]);
    let head = server.request("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.header("content-length"), Some("1048576"));
    assert!(head.body.is_empty());
    assert_eq!(cache_hits(&server), hits + 5);
}

/// Requests `path` with `Accept-Encoding: accept`.
fn get_encoded(server: &TestServer, path: &str, accept: &str) -> Response {
    server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {accept}\r\n\r\n"
    ))
}

const SIDECAR_CONFIG: &str =
    "[cache]\nrevalidate_secs = 3600\n[metrics]\nlisten = \"127.0.0.1:0\"\n";

#[test]
fn precompressed_sidecars_are_answered_from_the_cache_and_never_stale() {
    let site = site();
    write(site.path(), "app.js", b"plain js\n");
    write(site.path(), "app.js.br", b"BR v1");
    write(site.path(), "app.js.gz", b"GZ v1");
    let server = TestServer::start(site.path(), SIDECAR_CONFIG);
    assert_eq!(get_encoded(&server, "/app.js", "br").body, b"BR v1");

    // One read fills the entry for every representation: what follows are
    // all hits, each negotiated by the loop as the pool would.
    let hits = cache_hits(&server);
    let br = get_encoded(&server, "/app.js", "gzip, br");
    assert_eq!(br.body, b"BR v1");
    assert_eq!(br.header("Content-Encoding"), Some("br"));
    assert_eq!(br.header("Vary"), Some("Accept-Encoding"));
    let gzip = get_encoded(&server, "/app.js", "gzip");
    assert_eq!(gzip.body, b"GZ v1");
    assert_eq!(gzip.header("Content-Encoding"), Some("gzip"));
    let plain = get_encoded(&server, "/app.js", "identity");
    assert_eq!(plain.body, b"plain js\n");
    assert_eq!(plain.header("Content-Encoding"), None);
    assert_eq!(plain.header("Vary"), Some("Accept-Encoding"));
    let range = server.request(
        "GET /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nRange: bytes=1-2\r\n\r\n",
    );
    assert_eq!((range.status, range.body.as_slice()), (206, &b"Z "[..]));
    assert_eq!(range.header("Content-Encoding"), Some("gzip"));
    let tag = br.header("ETag").unwrap().to_string();
    let not_modified = server.request(&format!(
        "GET /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\nIf-None-Match: {tag}\r\n\r\n"
    ));
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(cache_hits(&server), hits + 5, "not answered from the cache");

    // A sidecar edited in place, deleted, recreated; the file itself edited.
    edit_in_place(&site.path().join("app.js.br"), b"BR v2");
    let fresh = |r: &Response, body: &[u8]| r.status == 200 && r.body == body;
    let response = get_encoded(&server, "/app.js", "br");
    assert!(fresh(&response, b"BR v2"), "stale: {:?}", response.text());
    warm_encoded(&server, "/app.js", "br", b"BR v2");

    std::fs::remove_file(site.path().join("app.js.br")).unwrap();
    let response = get_encoded(&server, "/app.js", "br, gzip");
    assert!(fresh(&response, b"GZ v1"), "stale: {:?}", response.text());
    warm_encoded(&server, "/app.js", "br, gzip", b"GZ v1");

    write(site.path(), "app.js.br", b"BR v3");
    let response = get_encoded(&server, "/app.js", "br, gzip");
    assert!(fresh(&response, b"BR v3"), "stale: {:?}", response.text());
    warm_encoded(&server, "/app.js", "br, gzip", b"BR v3");

    let staged = write(site.path(), ".staged", b"GZ v2");
    std::fs::rename(&staged, site.path().join("app.js.gz")).unwrap();
    let response = get_encoded(&server, "/app.js", "gzip");
    assert!(fresh(&response, b"GZ v2"), "stale: {:?}", response.text());

    edit_in_place(&site.path().join("app.js"), b"plain v2\n");
    let response = get_encoded(&server, "/app.js", "identity");
    assert!(
        fresh(&response, b"plain v2\n"),
        "stale: {:?}",
        response.text()
    );
    warm_encoded(&server, "/app.js", "identity", b"plain v2\n");
}

/// Requests `path` a few times with `Accept-Encoding: accept` (hits, once
/// the first has refilled the cache), all answered with `expected`.
fn warm_encoded(server: &TestServer, path: &str, accept: &str, expected: &[u8]) {
    for _ in 0..5 {
        let response = get_encoded(server, path, accept);
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), String::from_utf8_lossy(expected));
    }
}

#[test]
fn cached_descriptors_take_at_most_a_quarter_of_the_descriptor_limit() {
    let site = site();
    let files = 40;
    for i in 0..files {
        write(site.path(), &format!("f{i}.bin"), &pattern(4096, i as u64));
    }
    // Every file is "large" (a descriptor entry each), and the process may
    // hold 128 descriptors: at most 32 for the cache.
    let config = "[cache]\nrevalidate_secs = 3600\nmax_file_bytes = 0\ndescriptors = true\n";
    let server = TestServer::start_with_fd_limit(site.path(), config, &[], 128);
    let baseline = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count();
    let mut stream = server.connect();
    for round in 0..2 {
        for i in 0..files {
            stream
                .write_all(format!("GET /f{i}.bin HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .unwrap();
            let response = read_response(&mut stream, false).unwrap();
            assert_eq!(response.status, 200, "f{i}.bin, round {round}");
            assert!(response.body == pattern(4096, i as u64), "f{i}.bin");
        }
    }
    let held = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count();
    // The one connection, plus the cached descriptors: more than a few (the
    // cache is in use) and no more than 32.
    let cached = held - baseline - 1;
    assert!(
        (8..=32).contains(&cached),
        "{cached} cached descriptors with a limit of 128"
    );
}

/// Starts wharf with its root in the config file (no root on the command
/// line, which would override it), so that a reload can move it.
fn spawn_with_root_in_config(config: &std::path::Path, dir: tempfile::TempDir) -> TestServer {
    let mut command = std::process::Command::new(WHARF);
    command
        .arg("-c")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"]);
    TestServer::spawn(command, Some(dir))
}

#[test]
fn a_reload_that_moves_the_root_keeps_the_cache_fresh_there() {
    let sites = tempfile::tempdir().unwrap();
    let (a, b) = (sites.path().join("a"), sites.path().join("b"));
    write(&a, "page.txt", b"A1");
    write(&b, "page.txt", b"B1");
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("wharf.toml");
    let with_root = |root: &std::path::Path, extra: &str| {
        format!(
            "[server]\nroot = \"{}\"\n[log]\naccess = \"off\"\n{CONFIG}{extra}",
            root.display()
        )
    };
    std::fs::write(&config, with_root(&a, "")).unwrap();
    let server = spawn_with_root_in_config(&config, config_dir);
    warm(&server, "/page.txt", b"A1");

    // Cache settings are fixed at start-up: turning the cache off on the
    // way must not leave the new root unwatched.
    std::fs::write(&config, with_root(&b, "enabled = false\n")).unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(
        server
            .stderr
            .wait_for(Duration::from_secs(5), |t| t.contains("cache")
                && t.contains("needs a restart")),
        "no word that [cache] needs a restart: {}",
        server.stderr.text()
    );
    assert!(eventually(Duration::from_secs(5), || server
        .get("/page.txt")
        .text()
        == "B1"));
    warm(&server, "/page.txt", b"B1");
    edit_in_place(&b.join("page.txt"), b"B2");
    next_request(&server, "/page.txt", |r| r.text() == "B2");
    stays(&server, "/page.txt", 200, b"B2");
    assert!(server.stop().success());
}

/// wharf as user `nobody`, for tests of permissions (which do not bind
/// root); `None` when this process cannot do that.
fn nobody_command() -> Option<std::process::Command> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(root && setpriv) {
        eprintln!("skipped: running wharf as nobody needs root and setpriv");
        return None;
    }
    let mut command = std::process::Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", WHARF]);
    Some(command)
}

/// Sets `path`'s permission bits.
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A temp dir `nobody` may enter, holding the root `site/` (returned too)
/// and, once started, the config file.
fn nobody_site() -> (tempfile::TempDir, std::path::PathBuf) {
    let base = tempfile::tempdir().unwrap();
    set_mode(base.path(), 0o755);
    let root = base.path().join("site");
    std::fs::create_dir(&root).unwrap();
    (base, root)
}

/// Starts wharf as `nobody` (`command` from [`nobody_command`]) on
/// `base`'s `site/`, with `cache_toml` as its `[cache]` section.
fn start_as_nobody(
    mut command: std::process::Command,
    base: &std::path::Path,
    cache_toml: &str,
    env: &[(&str, &str)],
) -> TestServer {
    let config = base.join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\naccess = \"off\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[cache]\n{cache_toml}"
        ),
    )
    .unwrap();
    command
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .arg(base.join("site"))
        .envs(env.iter().copied());
    TestServer::spawn(command, None)
}

#[test]
fn an_unreadable_directory_does_not_stop_watching_the_rest() {
    let Some(command) = nobody_command() else {
        return;
    };
    let (base, root) = nobody_site();
    let page = write(&root, "page.txt", b"v1");
    write(&root, "locked/inner.txt", b"secret");
    set_mode(&root.join("locked"), 0o000);
    let server = start_as_nobody(
        command,
        base.path(),
        "revalidate_secs = 3600\nrecheck_secs = 3600\n",
        &[("RUST_LOG", "wharf::disk::watch=debug")],
    );
    assert!(server.stderr.wait_for(Duration::from_secs(5), |t| t
        .contains("not watching locked")));
    warm(&server, "/page.txt", b"v1");
    edit_in_place(&page, b"v2");
    next_request(&server, "/page.txt", |r| r.body == b"v2");

    // One that appears while wharf runs, unreadable from the start: mkdir
    // itself gives it mode 000, so the watcher, which looks at it on its
    // creation event, always finds it closed. (One made with mkdir, then
    // chmod 000, may already be watched when the chmod comes, and then it
    // stays watched, which is right but would not test this.)
    let late = root.join("late");
    std::fs::DirBuilder::new()
        .mode(0o000)
        .create(&late)
        .unwrap();
    assert!(
        server
            .stderr
            .wait_for(Duration::from_secs(5), |t| t.contains("not watching late")),
        "{}",
        server.stderr.text()
    );
    warm(&server, "/page.txt", b"v2");
    edit_in_place(&page, b"v3");
    next_request(&server, "/page.txt", |r| r.body == b"v3");
    assert!(
        !server.stderr.text().contains("revalidate"),
        "{}",
        server.stderr.text()
    );
    set_mode(&late, 0o755);
    set_mode(&root.join("locked"), 0o755);
}

#[test]
fn a_reload_serves_a_directory_renamed_into_the_roots_place() {
    let base = tempfile::tempdir().unwrap();
    let www = base.path().join("www");
    write(&www, "page.txt", b"release 1");
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nroot = \"{}\"\n[log]\naccess = \"off\"\n{CONFIG}",
            www.display()
        ),
    )
    .unwrap();
    let server = spawn_with_root_in_config(&config, config_dir);
    warm(&server, "/page.txt", b"release 1");
    // A deploy: the new release is built beside the old and renamed into
    // place. The root stays the directory wharf opened until a reload.
    let next = base.path().join("www.new");
    write(&next, "page.txt", b"release 2");
    std::fs::rename(&www, base.path().join("www.old")).unwrap();
    std::fs::rename(&next, &www).unwrap();
    warm(&server, "/page.txt", b"release 1");
    signal(&server.child, libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || server
        .get("/page.txt")
        .body
        == b"release 2"));
    // And the new directory is the one watched.
    warm(&server, "/page.txt", b"release 2");
    edit_in_place(&www.join("page.txt"), b"release 2, patched");
    next_request(&server, "/page.txt", |r| r.body == b"release 2, patched");
    assert!(server.stop().success());
}

#[test]
fn a_directory_that_may_be_entered_but_not_read_ends_exact_watching() {
    // Its files can be served (lookups need only search permission) but it
    // cannot be watched: the cache must fall back to revalidating by age,
    // and say so, rather than trust entries no event would invalidate.
    let Some(command) = nobody_command() else {
        return;
    };
    let (base, root) = nobody_site();
    let file = write(&root, "peek/f.txt", b"v1");
    set_mode(&root.join("peek"), 0o711);
    let server = start_as_nobody(
        command,
        base.path(),
        "revalidate_secs = 1\nrecheck_secs = 3600\n",
        &[],
    );
    assert!(
        server
            .stderr
            .wait_for(Duration::from_secs(5), |t| t.contains("cannot watch")
                && t.contains("peek/")
                && t.contains("revalidate every 1 s")),
        "{}",
        server.stderr.text()
    );
    warm(&server, "/peek/f.txt", b"v1");
    edit_in_place(&file, b"v2");
    assert!(eventually(Duration::from_secs(5), || server
        .get("/peek/f.txt")
        .body
        == b"v2"));
    set_mode(&root.join("peek"), 0o755);
}

/// A crawl (each file asked for once) through a site larger than the
/// cache does not push out the files that are asked for again and again:
/// once the budget is full, a missed file is taken in only if it has been
/// asked for more often than what it would displace.
#[test]
fn a_crawl_larger_than_the_cache_keeps_the_popular_files_cached() {
    let site = site();
    let body = |name: &str| format!("{name}:{}\n", "x".repeat(4000)).into_bytes();
    for i in 0..5 {
        write(
            site.path(),
            &format!("hot{i}.txt"),
            &body(&format!("hot{i}")),
        );
    }
    for i in 0..100 {
        write(
            site.path(),
            &format!("crawl/{i}.txt"),
            &body(&format!("crawl{i}")),
        );
    }
    // Room for about nine of these files.
    let server = TestServer::start(site.path(), &format!("{CONFIG}max_total_bytes = 40000\n"));
    for i in 0..5 {
        let path = format!("/hot{i}.txt");
        warm(&server, &path, &body(&format!("hot{i}")));
        for _ in 0..3 {
            assert_eq!(server.get(&path).status, 200);
        }
    }
    for i in 0..100 {
        let response = server.get(&format!("/crawl/{i}.txt"));
        assert_eq!(response.status, 200);
        assert_eq!(response.body, body(&format!("crawl{i}")), "crawl/{i}.txt");
    }
    let metrics = scrape(&metrics_addr(&server), "/metrics").text();
    let rejections = sample(&metrics, "wharf_cache_rejections_total");
    assert!(
        rejections >= 90,
        "only {rejections} crawled files were refused"
    );
    // Every popular file is still answered from the cache.
    for i in 0..5 {
        let hits = cache_hits(&server);
        let path = format!("/hot{i}.txt");
        assert_eq!(server.get(&path).body, body(&format!("hot{i}")));
        assert_eq!(cache_hits(&server), hits + 1, "{path} left the cache");
    }
}

/// Which sidecars exist is known from the watcher, not asked of the disk on
/// every miss; a sidecar that appears (written, moved in, in a directory
/// made meanwhile) or goes away is still seen by the very next request.
/// Files here are never cached (`max_file_bytes = 1`), so each answer comes
/// from the pool and what it knows of the sidecars.
#[test]
fn sidecars_appearing_and_going_are_seen_at_once_without_the_cache() {
    let site = site();
    write(site.path(), "a.js", b"plain a\n");
    let server = TestServer::start(
        site.path(),
        &format!("{CONFIG}max_file_bytes = 1\ndescriptors = false\n"),
    );
    let plain = get_encoded(&server, "/a.js", "br, gzip");
    assert_eq!(
        (plain.body.as_slice(), plain.header("Vary")),
        (&b"plain a\n"[..], None)
    );

    write(site.path(), "a.js.br", b"BR a");
    let response = get_encoded(&server, "/a.js", "br, gzip");
    assert_eq!(response.body, b"BR a", "a new sidecar was not seen");
    assert_eq!(response.header("Content-Encoding"), Some("br"));

    std::fs::create_dir(site.path().join("new")).unwrap();
    write(site.path(), "new/b.js", b"plain b\n");
    write(site.path(), "new/b.js.gz", b"GZ b");
    let response = get_encoded(&server, "/new/b.js", "gzip");
    assert_eq!(
        response.body, b"GZ b",
        "a sidecar in a new directory was not seen"
    );

    write(site.path(), "new/c.js", b"plain c\n");
    assert_eq!(get_encoded(&server, "/new/c.js", "br").body, b"plain c\n");
    let staged = write(site.path(), ".staged", b"BR c");
    std::fs::rename(&staged, site.path().join("new/c.js.br")).unwrap();
    let response = get_encoded(&server, "/new/c.js", "br");
    assert_eq!(response.body, b"BR c", "a sidecar moved in was not seen");

    std::fs::remove_file(site.path().join("a.js.br")).unwrap();
    let response = get_encoded(&server, "/a.js", "br, gzip");
    assert_eq!(
        response.body, b"plain a\n",
        "a deleted sidecar was still served"
    );
    assert_eq!(response.header("Content-Encoding"), None);
    assert_eq!(
        sample(
            &scrape(&metrics_addr(&server), "/metrics").text(),
            "wharf_cache_hits_total"
        ),
        0
    );
}

/// A tree too large to watch within start-up's budget is watched partly
/// at start-up and the rest by the watcher thread, while the server
/// already answers; meanwhile the cache stays out of the way, and once
/// the walk is done it is used and stays exact. (A debug hook puts the
/// whole walk on the thread; a release build walks this small tree at
/// start-up, which passes too.)
#[test]
fn a_tree_watched_in_the_background_is_cached_and_fresh_once_watched() {
    let site = site();
    for d in 0..20 {
        write(
            site.path(),
            &format!("d{d}/f.txt"),
            format!("file {d}\n").as_bytes(),
        );
    }
    write(site.path(), "d7/app.js", b"plain\n");
    write(site.path(), "d7/app.js.gz", b"GZ\n");
    let server = TestServer::start_with_env(
        site.path(),
        CONFIG,
        &[
            ("WHARF_FAULT_INJECTION", "1"),
            ("WHARF_FAULT_WATCH_BUDGET_MS", "0"),
        ],
    );
    // Served at once, whether or not the walk is done.
    assert_eq!(server.get("/d3/f.txt").text(), "file 3\n");
    warm(&server, "/d19/f.txt", b"file 19\n");
    let path = site.path().join("d19/f.txt");
    edit_in_place(&path, b"FILE 19\n");
    next_request(&server, "/d19/f.txt", |r| r.body == b"FILE 19\n");
    // The sidecar index was built by the background walk too.
    let gz = get_encoded(&server, "/d7/app.js", "gzip");
    assert_eq!(gz.body, b"GZ\n");
}
