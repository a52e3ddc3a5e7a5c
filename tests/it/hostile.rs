//! Hostile and unlucky clients against a real wharf: slowloris, idle and
//! stalled clients, connection floods, descriptor exhaustion, 10,000
//! concurrent connections, plus config reload and the symlink policies.

use crate::harness::*;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Reads until EOF, a reset or the socket's read timeout. Returns the bytes
/// and whether the connection ended (EOF or reset) rather than timing out.
fn read_until_end(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (all, true),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (all, false)
            }
            Err(_) => return (all, true),
        }
    }
}

#[test]
fn slowloris_trickle_is_cut_off_at_the_header_timeout_while_others_are_served() {
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nheader_timeout_secs = 2\n");
    let mut trickling: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = server.connect();
            s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let trickler = std::thread::spawn(move || {
        // One header line per connection every 100 ms for 4 s: steady
        // progress that never completes a head.
        for _ in 0..40 {
            for s in trickling.iter_mut() {
                let _ = s.write_all(b"X-Trickle: 1\r\n");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        trickling
    });
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let t = Instant::now();
        let response = server.get("/hello.txt");
        slowest = slowest.max(t.elapsed());
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"hello, world\n");
    }
    println!("slowest of 100 requests during slowloris: {slowest:?}");
    // Not a speed test: only "not stuck behind the trickling clients".
    assert!(
        slowest < Duration::from_secs(1),
        "a request took {slowest:?}"
    );
    let mut trickling = trickler.join().unwrap();
    assert!(started.elapsed() > Duration::from_secs(2));
    for s in trickling.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let (bytes, ended) = read_until_end(s);
        assert!(
            ended,
            "a trickling connection is still open past the header timeout"
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408 "),
            "unexpected answer: {text}"
        );
    }
}

#[test]
fn partial_head_gets_408_after_the_header_timeout() {
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nheader_timeout_secs = 1\n");
    let mut stream = server.connect();
    stream.write_all(b"GET /hello.txt HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let all = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_timeout() {
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nkeepalive_timeout_secs = 1\n");
    let mut stream = server.connect();
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), None, "keep-alive expected");
    let idle_since = Instant::now();
    let (rest, ended) = read_until_end(&mut stream);
    assert!(ended, "the idle connection was not closed");
    assert!(rest.is_empty(), "an idle close sends nothing");
    assert!(idle_since.elapsed() >= Duration::from_millis(900));
}

#[test]
fn keepalive_timeout_zero_disables_keep_alive() {
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nkeepalive_timeout_secs = 0\n");
    let mut stream = server.connect();
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false).unwrap();
    assert_eq!(response.header("connection"), Some("close"));
    assert!(read_until_end(&mut stream).1);
}

#[test]
fn client_that_stops_reading_is_dropped_after_the_send_timeout() {
    // With descriptor entries (the default) the hot-file cache keeps one
    // descriptor of the file once the first response opened it; the
    // connection's own are what must go.
    for (cache, kept_by_cache) in [("descriptors = false", 0), ("descriptors = true", 1)] {
        stalled_download_is_dropped(cache, kept_by_cache);
    }
}

fn stalled_download_is_dropped(cache: &str, kept_by_cache: usize) {
    let site = site();
    write_large(&site.path().join("big.bin"), 64 << 20, 9);
    let config = format!("[limits]\nsend_timeout_secs = 1\n[cache]\n{cache}\n");
    let server = TestServer::start(site.path(), &config);
    let baseline = open_fds(server.pid());
    let mut stream = server.connect();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // First the connection is accepted and the file opened...
    assert!(
        eventually(Duration::from_secs(10), || open_fds(server.pid())
            > baseline + kept_by_cache),
        "the connection was never accepted ({cache})"
    );
    // ...then, while the client reads nothing, the server's writes stall;
    // after the send timeout it must give up the connection and its file.
    assert!(
        eventually(Duration::from_secs(10), || open_fds(server.pid())
            <= baseline + kept_by_cache),
        "the stalled connection was not closed ({cache})"
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (bytes, ended) = read_until_end(&mut stream);
    assert!(ended);
    assert!(
        bytes.len() < 64 << 20,
        "the whole file arrived: no timeout happened ({cache})"
    );
}

#[test]
fn max_connections_refuses_with_503_and_recovers() {
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nmax_connections = 4\n");
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = server.connect();
            s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(&mut s, false).unwrap().status, 200);
            s
        })
        .collect();
    let mut refused = server.connect();
    let all = read_to_close(&mut refused);
    assert!(
        String::from_utf8_lossy(&all).starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{}",
        String::from_utf8_lossy(&all)
    );
    held.pop();
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut s = server.connect();
            s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            read_response(&mut s, false).is_some_and(|r| r.status == 200)
        }),
        "no recovery after a connection closed"
    );
}

#[test]
fn descriptor_exhaustion_does_not_spin_and_recovers() {
    let site = site();
    let args = ["--workers", "1", "--io-threads", "2"];
    let server = TestServer::start_with_fd_limit(
        site.path(),
        "[metrics]\nlisten = \"127.0.0.1:0\"\n",
        &args,
        48,
    );
    let metrics = metrics_addr(&server);
    let pid = server.pid();
    // More connections than descriptors: the backlog holds the rest.
    let mut flood: Vec<TcpStream> = (0..80).map(|_| server.connect()).collect();
    assert!(
        server.stderr.wait_for(Duration::from_secs(5), |t| t
            .contains("out of file descriptors")),
        "no EMFILE warning; stderr: {}",
        server.stderr.text()
    );
    // A scrape that arrives now waits in the metrics listener's backlog;
    // no further connection will come to announce it again.
    let mut scrape_stream = TcpStream::connect(&metrics).unwrap();
    scrape_stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    scrape_stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Out of descriptors with connections pending: a spinning accept loop
    // would burn a whole core; a paused one sleeps.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let before = cpu_ticks(pid);
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(1)); // The measurement window itself.
    let used = cpu_ticks(pid) - before;
    let wall = window.elapsed().as_secs_f64();
    let share = used as f64 / ticks_per_sec as f64 / wall;
    println!("CPU share while out of descriptors: {:.1}%", share * 100.0);
    assert!(
        share < 0.3,
        "wharf used {:.0}% CPU while out of descriptors",
        share * 100.0
    );
    // The warning is rate-limited, not printed per attempt.
    assert!(
        server
            .stderr
            .text()
            .matches("out of file descriptors")
            .count()
            <= 2
    );
    // Free the descriptors: wharf serves again.
    flood.clear();
    assert!(
        eventually(Duration::from_secs(10), || {
            let mut s = server.connect();
            let _ = s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            read_response(&mut s, false).is_some_and(|r| r.status == 200)
        }),
        "wharf did not recover after descriptors were freed"
    );
    let scraped = read_response(&mut scrape_stream, false);
    assert_eq!(
        scraped.map(|r| r.status),
        Some(200),
        "the pending scrape was never accepted"
    );
    let _ = &mut flood;
}

#[test]
fn ten_thousand_concurrent_connections() {
    const CONNECTIONS: usize = 10_000;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur as usize) < CONNECTIONS + 200 {
        assert!(
            std::env::var_os("CI").is_none(),
            "descriptor limit {} too low for this test in CI",
            limit.rlim_cur
        );
        eprintln!(
            "skipping: descriptor limit {} below {}",
            limit.rlim_cur,
            CONNECTIONS + 200
        );
        return;
    }
    let site = site();
    let server = TestServer::start(site.path(), "[limits]\nmax_connections = 20000\n");
    let mut streams: Vec<TcpStream> = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        streams.push(server.connect());
    }
    // Every connection is open at once; now each sends a request...
    for s in streams.iter_mut() {
        s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    // ...and each gets its answer.
    for s in streams.iter_mut() {
        let response = read_response(s, false).expect("a response");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"hello, world\n");
    }
    // Still all open: a second round on the same connections.
    for s in streams.iter_mut().step_by(100) {
        s.write_all(b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(s, true).unwrap().status, 200);
    }
}

/// Starts wharf on `root` with a config file of its own (access log off)
/// and `env` set; returns the server and the config file's path, for tests
/// that rewrite it.
fn spawn_with_config_file(
    root: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (TestServer, PathBuf) {
    spawn_with_toml(root, "", env, args)
}

/// As [`spawn_with_config_file`], with `toml` added to the config file.
fn spawn_with_toml(
    root: &Path,
    toml: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (TestServer, PathBuf) {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("wharf.toml");
    std::fs::write(&config, format!("[log]\naccess = \"off\"\n{toml}")).unwrap();
    let mut command = Command::new(WHARF);
    command
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .arg(root)
        .envs(env.iter().copied());
    (TestServer::spawn(command, Some(config_dir)), config)
}

#[test]
fn sighup_reloads_and_keeps_the_old_config_when_the_new_one_is_bad() {
    let site = site();
    let (server, config) = spawn_with_config_file(site.path(), &[], &[]);
    // A keep-alive connection opened before the reload must survive it.
    let mut kept = server.connect();
    kept.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept, false).unwrap().status, 200);
    assert_eq!(server.get("/.secret").status, 404);

    std::fs::write(
        &config,
        "[log]\naccess = \"off\"\n[http]\nhidden_files = true\n",
    )
    .unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || server.get("/.secret").status
            == 200),
        "hidden_files = true was not applied; stderr: {}",
        server.stderr.text()
    );
    kept.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept, false).unwrap().status, 200);

    std::fs::write(&config, "[http]\nhidden_files = maybe\n").unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(server
        .stderr
        .wait_for(Duration::from_secs(5), |t| t.contains("reload refused")));
    assert_eq!(
        server.get("/.secret").status,
        200,
        "the old config was not kept"
    );
    assert!(server.stop().success());
}

/// A root with `alias.txt -> hello.txt` (inside) and `escape -> ../outside.txt`.
fn symlink_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "hello.txt", b"hello, world\n");
    write(dir.path(), "outside.txt", b"OUTSIDE-CONTENT\n");
    std::os::unix::fs::symlink("hello.txt", root.join("alias.txt")).unwrap();
    std::os::unix::fs::symlink("../outside.txt", root.join("escape")).unwrap();
    dir
}

#[test]
fn symlink_policies() {
    let dir = symlink_site();
    let root = dir.path().join("root");
    let cases = [
        ("", 200, 404),
        ("[http]\nsymlinks = \"within-root\"\n", 200, 404),
        ("[http]\nsymlinks = \"deny\"\n", 404, 404),
        ("[http]\nsymlinks = \"follow\"\n", 200, 200),
    ];
    for (toml, alias_status, escape_status) in cases {
        let server = TestServer::start(&root, toml);
        let alias = server.get("/alias.txt");
        assert_eq!(alias.status, alias_status, "alias with {toml:?}");
        let escape = server.get("/escape");
        assert_eq!(escape.status, escape_status, "escape with {toml:?}");
        if escape_status != 200 {
            assert!(!escape.text().contains("OUTSIDE-CONTENT"));
        }
        assert_eq!(server.get("/hello.txt").status, 200);
    }
}

/// Debug builds (what `cargo test` runs) have fault-injection hooks; a
/// release-mode test run skips the tests that need them, and says so.
fn fault_injection_available() -> bool {
    if !cfg!(debug_assertions) {
        eprintln!("skipping: fault injection exists in debug builds only");
    }
    cfg!(debug_assertions)
}

#[test]
fn a_panic_costs_only_its_own_connection() {
    if !fault_injection_available() {
        return;
    }
    let site = site();
    let (server, _config) =
        spawn_with_config_file(site.path(), &[("WHARF_FAULT_INJECTION", "1")], &[]);
    // A keep-alive connection that must survive the others' panics.
    let mut bystander = server.connect();
    bystander
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut bystander, false).unwrap().status, 200);

    // A panic on the event loop: that connection is closed, nothing else.
    let mut victim = server.connect();
    victim
        .write_all(b"GET /__wharf_fault/panic-loop HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_to_close(&mut victim).is_empty());
    // A panic in an IO job: 500 for that request.
    let response = server.get("/__wharf_fault/panic-pool");
    assert_eq!(response.status, 500);

    bystander
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let after = read_response(&mut bystander, false).unwrap();
    assert_eq!(after.body, b"hello, world\n");
    assert_eq!(server.get("/data.json").status, 200);
    assert!(server.stderr.text().contains("panicked"));
    assert!(server.stop().success());
}

#[test]
fn a_panic_in_a_deadline_handler_costs_only_its_own_connection() {
    if !fault_injection_available() {
        return;
    }
    let site = site();
    // One event loop, so that the bystander shares the victim's thread.
    let (server, _config) = spawn_with_toml(
        site.path(),
        "[limits]\nheader_timeout_secs = 1\n",
        &[("WHARF_FAULT_INJECTION", "1")],
        &["--workers", "1"],
    );
    let mut bystander = server.connect();
    bystander
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut bystander, false).unwrap().status, 200);

    // An unfinished head: its header timeout runs the deadline handler,
    // which panics for this target. That connection is closed, unanswered.
    let mut victim = server.connect();
    victim
        .write_all(b"GET /__wharf_fault/panic-deadline HTTP/1.1\r\n")
        .unwrap();
    let (rest, ended) = read_until_end(&mut victim);
    assert!(ended, "the victim was not closed");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // (The log line is written on a thread of its own: wait for it.)
    let logged = |text: &str| text.contains("a deadline handler panicked");
    assert!(server.stderr.wait_for(Duration::from_secs(5), logged));

    // The loop lives on, and so does the bystander.
    bystander
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let after = read_response(&mut bystander, false).unwrap();
    assert_eq!(after.body, b"hello, world\n");
    assert_eq!(server.get("/data.json").status, 200);
    assert!(server.stop().success());
}

#[test]
fn a_job_never_waits_behind_a_held_io_thread_while_another_is_free() {
    if !fault_injection_available() {
        return;
    }
    let site = site();
    for i in 0..12 {
        write(
            site.path(),
            &format!("f{i}.txt"),
            format!("file {i}\n").as_bytes(),
        );
    }
    let fault = tempfile::tempdir().unwrap();
    std::fs::write(fault.path().join("hold"), b"").unwrap();
    let fault_dir = fault.path().to_str().unwrap();
    let (server, _config) = spawn_with_config_file(
        site.path(),
        &[
            ("WHARF_FAULT_INJECTION", "1"),
            ("WHARF_FAULT_DIR", fault_dir),
        ],
        &["--io-threads", "4"],
    );

    // Three requests each hold an IO thread until `hold` is removed.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = server.connect();
            stream
                .write_all(b"GET /__wharf_fault/hold-pool HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    let started = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("started-wharf-io-")
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while started(fault.path()) < 3 {
        assert!(Instant::now() < deadline, "the held jobs did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    // One thread in four is free: every cache miss must go to it, none may
    // queue behind a held one (each would wait for `hold` and time out).
    for i in 0..12 {
        let mut stream = server.connect();
        stream
            .write_all(format!("GET /f{i}.txt HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let response = read_response(&mut stream, false)
            .unwrap_or_else(|| panic!("/f{i}.txt waited behind a held IO thread"));
        assert_eq!(response.body, format!("file {i}\n").as_bytes());
    }
    // Released, the held requests complete (the hook's path does not exist).
    std::fs::remove_file(fault.path().join("hold")).unwrap();
    for stream in &mut held {
        assert_eq!(read_response(stream, false).unwrap().status, 404);
    }
    assert!(server.stop().success());
}

#[test]
fn a_connection_does_not_wait_forever_for_a_stuck_io_job() {
    if !fault_injection_available() {
        return;
    }
    let site = site();
    let fault = tempfile::tempdir().unwrap();
    std::fs::write(fault.path().join("hold"), b"").unwrap();
    let (server, _config) = spawn_with_toml(
        site.path(),
        "[limits]\nsend_timeout_secs = 1\n",
        &[
            ("WHARF_FAULT_INJECTION", "1"),
            ("WHARF_FAULT_DIR", fault.path().to_str().unwrap()),
        ],
        &["--io-threads", "1"],
    );
    // The one IO thread is stuck (as on a dead disk), and a cache miss
    // queues behind it: both connections are closed after the send
    // timeout, without an answer, instead of waiting with their jobs.
    let mut stuck = server.connect();
    stuck
        .write_all(b"GET /__wharf_fault/hold-pool HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The held job must have the thread before the miss is sent (the two
    // connections may be on different loops).
    let started = fault.path().join("started-wharf-io-0");
    assert!(
        eventually(Duration::from_secs(10), || started.exists()),
        "the held job did not start"
    );
    let mut queued = server.connect();
    queued
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    for stream in [&mut stuck, &mut queued] {
        let mut got = Vec::new();
        // Ok: the server closed (EOF); the client's 10 s read timeout
        // would be an error.
        let read = stream.read_to_end(&mut got);
        assert!(read.is_ok(), "not closed: {read:?}");
        assert!(
            got.is_empty(),
            "answered: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // Released, the pool serves again; the late answers went nowhere.
    std::fs::remove_file(fault.path().join("hold")).unwrap();
    assert_eq!(server.get("/hello.txt").body, b"hello, world\n");
    assert!(server.stop().success());
}

#[test]
fn a_reload_that_turns_ranges_off_stops_advertising_them_for_cached_files() {
    let site = site();
    let (server, config) = spawn_with_config_file(site.path(), &[], &[]);
    for _ in 0..3 {
        let hot = server.get("/hello.txt");
        assert_eq!(hot.header("Accept-Ranges"), Some("bytes"));
    }
    std::fs::write(
        &config,
        "[log]\naccess = \"off\"\n[limits]\nmax_ranges = 0\n",
    )
    .unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || server
            .get("/hello.txt")
            .header("Accept-Ranges")
            .is_none()),
        "cached heads still advertise ranges"
    );
    assert!(server.stop().success());
}
