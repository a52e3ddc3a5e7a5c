//! The scenario: wharf under strace, every kind of request (keep-alive,
//! pipelined, abandoned, stalled, concurrent large downloads, a panic on a
//! loop), then the trace checked thread by thread.

use super::parts::PARTS;
use super::*;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::harness::{
    eventually, read_response, require_tool_with, wait_timeout, write, write_large, Response, WHARF,
};

const BIG: u64 = 3 << 20;
const WORKERS: usize = 2;
const IO_THREADS: usize = 2;

fn request_on(stream: &mut std::net::TcpStream, raw: &str) -> Response {
    stream.write_all(raw.as_bytes()).unwrap();
    read_response(stream, raw.starts_with("HEAD ")).expect("a response")
}

/// Drives every kind of response through the server; returns how many
/// responses the access log should record.
fn drive_traffic(server: &TestServer, big: &[u8]) -> usize {
    let mut logged = 0;
    let mut expect = |response: Response, status: u16| {
        assert_eq!(response.status, status, "head: {}", response.head);
        logged += 1;
        response
    };

    // One connection per request.
    let r = expect(server.get("/small.txt"), 200);
    assert_eq!(r.body, b"a small file\n");
    let r = expect(server.get("/big.bin"), 200);
    assert!(r.body == big, "big file body differs");
    let r = expect(
        server.request("HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        200,
    );
    assert_eq!(r.header("content-length"), Some(BIG.to_string().as_str()));
    let r = expect(server.get("/listing/"), 200);
    assert!(r.text().contains("a.txt") && r.text().contains("nested"));
    expect(server.get("/missing.txt"), 404);
    let r = expect(server.get("/listing"), 301);
    assert_eq!(r.header("location"), Some("/listing/"));
    let r = expect(server.get("/docs/"), 200);
    assert_eq!(r.text(), "<p>docs index</p>\n");
    expect(server.get("/.hidden-file"), 404);
    expect(server.get("/small.txt/"), 404);
    expect(server.get("/%2e%2e/%2e%2e/etc/passwd"), 400);

    // Several requests on one keep-alive connection.
    let mut stream = server.connect();
    for _ in 0..2 {
        let r = expect(
            request_on(&mut stream, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
            200,
        );
        assert_eq!(r.body, b"a small file\n");
        expect(
            request_on(&mut stream, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"),
            404,
        );
        expect(
            request_on(&mut stream, "HEAD /docs/ HTTP/1.1\r\nHost: t\r\n\r\n"),
            200,
        );
        expect(
            request_on(
                &mut stream,
                "GET /listing/nested HTTP/1.1\r\nHost: t\r\n\r\n",
            ),
            301,
        );
        let r = expect(
            request_on(&mut stream, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"),
            200,
        );
        assert!(r.body == big, "big file body differs (keep-alive)");
    }
    drop(stream);

    // A pipelined batch, written at once.
    let mut stream = server.connect();
    stream
        .write_all(
            b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /listing/ HTTP/1.1\r\nHost: t\r\n\r\n\
              HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /missing HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /docs/index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    for (status, head_only) in [
        (200, false),
        (200, false),
        (200, true),
        (404, false),
        (200, false),
    ] {
        let r = read_response(&mut stream, head_only).expect("a pipelined response");
        expect(r, status);
    }
    drop(stream);

    // A download abandoned half-way: the open file must be closed by the
    // pool, not by the loop that notices the reset.
    let mut stream = server.connect();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    stream.read_exact(&mut buf).unwrap();
    drop(stream);
    logged += 1;

    logged
}

// ---------------------------------------------------------------------------

/// The architecture check: no exception at all, not even glibc malloc's
/// one-time `/proc/sys/vm/overcommit_memory` probe, which wharf prevents
/// with `mallopt` at start-up (see `tune_allocator` in src/server.rs).
/// Several concurrent large downloads make a heap trim (and so the probe)
/// likely if that protection ever regresses.
#[test]
fn event_loops_make_no_filesystem_syscalls() {
    if require_tool_with("strace", strace_can_trace).is_none() {
        return;
    }
    run_scenario(3);
}

/// Runs wharf under strace, drives the traffic (plus `extra_rounds` rounds
/// of concurrent large downloads), stops it with SIGTERM and checks the
/// trace.
fn run_scenario(extra_rounds: usize) {
    let base = tempfile::tempdir().unwrap();
    let base_path = std::fs::canonicalize(base.path()).unwrap();
    let root = base_path.join("site");
    write(&root, "small.txt", b"a small file\n");
    write_large(&root.join("big.bin"), BIG, 99);
    write(&root, "listing/a.txt", b"a\n");
    write(&root, "listing/b.txt", b"b\n");
    write(&root, "listing/nested/c.txt", b"c\n");
    write(&root, "docs/index.html", b"<p>docs index</p>\n");
    write(&root, ".hidden-file", b"hidden\n");
    for part in PARTS {
        (part.files)(&root);
    }
    let big = std::fs::read(root.join("big.bin")).unwrap();
    let access_log = base_path.join("access.log");
    let config = base_path.join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            // Dotted keys, like the parts' (a `[log]` table after a part's
            // `log.x` would define `log` twice). The send timeout ends the
            // stalled download below; it also bounds the wait for a
            // password check, which on a loaded machine (the lanes run
            // below the loops' priority) can take over a second.
            "{}\nlog.access = \"{}\"\nlimits.send_timeout_secs = 5\n",
            PARTS.iter().map(|p| p.toml).collect::<Vec<_>>().join("\n"),
            access_log.display()
        ),
    )
    .unwrap();
    let trace_path = base_path.join("trace.txt");

    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-y", "-e", TRACE, "-o"])
        .arg(&trace_path)
        .arg(WHARF)
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .args(["--workers", &WORKERS.to_string()])
        .args(["--io-threads", &IO_THREADS.to_string()])
        .arg(&root)
        .current_dir(&base_path)
        // Debug builds: a request that panics on a loop (see below); with
        // backtraces asked for, which the default panic hook would
        // resolve by reading the executable, on the loop thread.
        .env("WHARF_FAULT_INJECTION", "1")
        .env("RUST_BACKTRACE", "1");
    let mut traced = Traced::start(command);
    let wharf_pid = traced.wharf_pid();

    // The loops start just after the URL is printed: wait for all threads.
    let mut names = BTreeMap::new();
    let all_up = eventually(Duration::from_secs(10), || {
        names = threads(wharf_pid);
        // The IO threads, the log and compression lanes, and the password lanes (their
        // number depends on the cores).
        let password_lanes = count_named(&names, "wharf-io-auth-");
        count_named(&names, "wharf-loop-") == WORKERS
            && password_lanes >= 1
            && count_named(&names, "wharf-io-") == IO_THREADS + 2 + password_lanes
    });
    assert!(
        all_up,
        "expected {WORKERS} loop and {IO_THREADS} IO threads, the log and compression lanes and password lanes: {names:?}"
    );

    let mut expected_log_lines = drive_traffic(&traced.server, &big);
    for part in PARTS {
        eprintln!("loop purity: part {}", part.name);
        expected_log_lines += (part.traffic)(&traced.server);
    }
    for _ in 0..extra_rounds {
        expected_log_lines += concurrent_big_downloads(&traced.server, &big, 6);
    }
    // A download whose client never reads (tiny receive buffer): the send
    // timeout abandons it while its file is held between sendfile jobs, and
    // that file must be closed on the pool, not the loop.
    let stalled = stalled_download(traced.server.addr);
    expected_log_lines += 1;

    // Every response is logged once it is finished or abandoned; waiting for
    // all lines means the abandoned download has been dealt with.
    let mut log_text = String::new();
    let logged = eventually(Duration::from_secs(30), || {
        log_text = std::fs::read_to_string(&access_log).unwrap_or_default();
        log_text.lines().count() >= expected_log_lines
    });
    assert!(
        logged,
        "access log has {} of {expected_log_lines} lines:\n{log_text}",
        log_text.lines().count()
    );

    drop(stalled);

    // A panic on an event loop costs its connection, and its report is
    // written by the diagnostics thread, not the loop.
    if cfg!(debug_assertions) {
        let mut victim = std::net::TcpStream::connect(traced.server.addr).unwrap();
        victim
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        victim
            .write_all(b"GET /__wharf_fault/panic-loop HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut rest = Vec::new();
        let _ = victim.read_to_end(&mut rest);
        assert!(rest.is_empty(), "a panicked request was answered");
        assert!(traced
            .server
            .stderr
            .wait_for(Duration::from_secs(10), |t| t.contains("panicked")));
    }

    // Threads seen now too (none should be new).
    names.extend(threads(wharf_pid));

    // SIGTERM to wharf, not strace; strace exits with wharf's status.
    // SAFETY: signalling our grandchild, which is still running.
    unsafe {
        libc::kill(wharf_pid, libc::SIGTERM);
    }
    let status = wait_timeout(&mut traced.server.child, Duration::from_secs(15))
        .expect("strace exits after wharf is sent SIGTERM");
    traced.finished = true; // Both exited: never signal them again.
    assert_eq!(
        status.code(),
        Some(0),
        "wharf (under strace) did not exit 0; stderr: {}",
        traced.server.stderr.text()
    );

    let trace = std::fs::read_to_string(&trace_path).expect("strace wrote its trace");
    if let Some(keep) = std::env::var_os("WHARF_KEEP_TRACE") {
        // For debugging a failure: keep the raw trace and the thread names.
        let names: Vec<String> = names.iter().map(|(t, n)| format!("{t} {n}")).collect();
        std::fs::write(&keep, format!("# threads: {}\n{trace}", names.join(", "))).unwrap();
        eprintln!("trace kept in {}", Path::new(&keep).display());
    }
    check_trace(&trace, wharf_pid, &names, &root, &access_log);
}

/// Requests big.bin on a socket with a 4 KiB receive buffer and never
/// reads, so the server's writes stall.
fn stalled_download(addr: std::net::SocketAddr) -> socket2::Socket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.try_clone().unwrap().into();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    socket
}

/// Downloads the big file on `n` connections at once; returns `n`.
fn concurrent_big_downloads(server: &TestServer, big: &[u8], n: usize) -> usize {
    let mut streams: Vec<_> = (0..n).map(|_| server.connect()).collect();
    for stream in &mut streams {
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    std::thread::scope(|scope| {
        for mut stream in streams {
            scope.spawn(move || {
                let r = read_response(&mut stream, false).expect("a response");
                assert_eq!(r.status, 200);
                assert!(r.body == big, "big file body differs (concurrent)");
            });
        }
    });
    n
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Main,
    Loop,
    Io,
    Other,
    Unknown,
}

fn check_trace(
    trace: &str,
    wharf_pid: i32,
    names: &BTreeMap<i32, String>,
    root: &Path,
    access_log: &Path,
) {
    let class_of = |tid: i32| match names.get(&tid) {
        _ if tid == wharf_pid => Class::Main,
        Some(n) if n.starts_with("wharf-loop-") => Class::Loop,
        Some(n) if n.starts_with("wharf-io-") => Class::Io,
        Some(_) => Class::Other,
        None => Class::Unknown,
    };
    let big = root.join("big.bin");
    let listing = root.join("listing");
    let big = big.to_str().unwrap();
    let listing = listing.to_str().unwrap();
    let access_log = access_log.to_str().unwrap();

    let mut violations = Vec::new();
    let mut per_class: BTreeMap<Class, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut per_loop_thread: BTreeMap<i32, usize> = BTreeMap::new();
    let mut unknown_tids = BTreeSet::new();
    let mut io_opened_small = 0;
    let mut io_read_big = 0;
    let mut io_closed_big = 0;
    let mut io_listed_dir = 0;
    let mut io_logged = 0;
    let mut loop_socket_writes = 0;

    for line in trace.lines() {
        let Some(call) = parse_line(line) else {
            continue;
        };
        let class = class_of(call.tid);
        *per_class
            .entry(class)
            .or_default()
            .entry(call.name)
            .or_default() += 1;
        match class {
            Class::Loop => {
                *per_loop_thread.entry(call.tid).or_default() += 1;
                if let Some(why) = loop_violation(&call) {
                    violations.push(format!(
                        "[{}] {why}:\n    {line}",
                        names.get(&call.tid).map_or("?", String::as_str)
                    ));
                }
                if matches!(call.name, "write" | "writev")
                    && call
                        .first_fd
                        .as_deref()
                        .is_some_and(|f| f.starts_with("socket:"))
                {
                    loop_socket_writes += 1;
                }
            }
            Class::Io => {
                if matches!(call.name, "openat" | "openat2") && line.contains("\"small.txt\"") {
                    io_opened_small += 1;
                }
                let reads_big = matches!(
                    call.name,
                    "read" | "pread64" | "readv" | "preadv" | "preadv2"
                ) && call.first_fd.as_deref() == Some(big);
                // sendfile(socket, file, ...): the file is the second fd.
                let sends_big = call.name == "sendfile" && call.fds.iter().any(|f| f == big);
                if reads_big || sends_big {
                    io_read_big += 1;
                }
                if call.name == "close" && call.first_fd.as_deref() == Some(big) {
                    io_closed_big += 1;
                }
                if matches!(call.name, "getdents64" | "getdents")
                    && call.first_fd.as_deref() == Some(listing)
                {
                    io_listed_dir += 1;
                }
                if matches!(call.name, "write" | "writev")
                    && call.first_fd.as_deref() == Some(access_log)
                {
                    io_logged += 1;
                }
            }
            Class::Unknown => {
                unknown_tids.insert(call.tid);
            }
            Class::Main | Class::Other => {}
        }
    }

    // Summary.
    eprintln!("loop purity: threads {names:?}");
    for (class, calls) in &per_class {
        let total: usize = calls.values().sum();
        let mut top: Vec<_> = calls.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1));
        let top: Vec<String> = top
            .iter()
            .take(8)
            .map(|(n, c)| format!("{n}={c}"))
            .collect();
        eprintln!("  {class:?}: {total} traced calls ({})", top.join(" "));
    }
    eprintln!(
        "  io: opened small.txt {io_opened_small}x, read big.bin {io_read_big}x, \
         closed big.bin {io_closed_big}x, listed dir {io_listed_dir}x, log writes {io_logged}x; \
         loop socket writes {loop_socket_writes}"
    );

    assert!(
        violations.is_empty(),
        "{} filesystem syscall(s) on event-loop threads:\n{}",
        violations.len(),
        violations
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        unknown_tids.is_empty(),
        "trace lines from threads not in /proc/{wharf_pid}/task ({unknown_tids:?}); \
         a loop thread may have been missed: {names:?}"
    );

    // Positive controls: the trace did capture the work, and from the
    // threads we think it came from.
    let loop_tids: Vec<i32> = names
        .iter()
        .filter(|(_, n)| n.starts_with("wharf-loop-"))
        .map(|(t, _)| *t)
        .collect();
    for tid in &loop_tids {
        assert!(
            per_loop_thread.get(tid).is_some_and(|&n| n > 0),
            "no traced calls from loop thread {tid} ({}): tracing captured nothing?",
            names[tid]
        );
    }
    assert!(
        loop_socket_writes > 0,
        "no socket writes from loop threads: responses were written by whom?"
    );
    assert!(
        io_opened_small > 0,
        "no IO-thread openat/openat2 of \"small.txt\" in the trace"
    );
    // Large bodies go out with sendfile (a call moves megabytes) or, below
    // the sendfile threshold, with 256 KiB preads: either way the IO
    // threads must have read the big file.
    assert!(io_read_big > 0, "IO threads never read or sendfile'd {big}");
    assert!(io_closed_big > 0, "no IO-thread close of {big}");
    assert!(io_listed_dir > 0, "no IO-thread getdents64 of {listing}");
    assert!(io_logged > 0, "no IO-thread write to {access_log}");
}
