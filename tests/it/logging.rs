//! Logging and the console, on the real binary: access-log formats
//! (common, combined, JSON with hostile input), reopening the log file on
//! SIGUSR1 (logrotate), format changes on reload, `RUST_LOG` diagnostics,
//! and the start-up banner on a terminal versus the one plain line.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{
    eventually, read_response, signal, site, toml_path, wait_timeout, TestServer, WHARF,
};

const WAIT: Duration = Duration::from_secs(10);

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Sends raw bytes on a new connection; returns the status.
fn raw_request(server: &TestServer, bytes: &[u8]) -> u16 {
    let mut stream = server.connect();
    stream.write_all(bytes).unwrap();
    read_response(&mut stream, bytes.starts_with(b"HEAD "))
        .expect("a response")
        .status
}

// ---------------------------------------------------------------------------
// Formats.

#[test]
fn json_lines_parse_and_carry_every_field() {
    let site = site();
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("access.json");
    let server = TestServer::start(
        site.path(),
        &format!(
            "[log]\naccess = {}\nformat = \"json\"\n",
            toml_path(&log_path)
        ),
    );
    let hello = server.get("/hello.txt");
    assert_eq!(hello.status, 200);
    assert_eq!(
        raw_request(
            &server,
            b"GET /hello.txt?x=%22y%22&z HTTP/1.0\r\nUser-Agent: evil \"quoted\" \\back\\ \t\xff\xfe end\r\n\
              Referer: http://r.example/?a=\"b\"\r\n\r\n"
        ),
        200
    );
    assert_eq!(
        raw_request(&server, b"HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n"),
        404
    );
    // A control character in a header: refused, and still logged.
    assert_eq!(
        raw_request(&server, b"GET /x HTTP/1.1\r\nUser-Agent: a\x1bb\r\n\r\n"),
        400
    );
    let status = server.stop();
    assert!(status.success(), "wharf exited with {status}");

    let text = read(&log_path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "log:\n{text}");
    let values: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for (line, value) in lines.iter().zip(&values) {
        for key in [
            "time",
            "remote",
            "method",
            "path",
            "query",
            "version",
            "status",
            "bytes",
            "duration_us",
            "referer",
            "user_agent",
        ] {
            assert!(value.get(key).is_some(), "no {key:?} in {line}");
        }
        // 2025-01-02T03:04:05.678Z
        let time = value["time"].as_str().unwrap();
        let b = time.as_bytes();
        assert_eq!(b.len(), 24, "{time}");
        assert_eq!(
            (b[4], b[7], b[10], b[13], b[16], b[19], b[23]),
            (b'-', b'-', b'T', b':', b':', b'.', b'Z'),
            "{time}"
        );
        let year: u64 = time[..4].parse().unwrap();
        let now_year = 1970 + std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() / 31_556_952;
        assert!(year.abs_diff(now_year) <= 1, "{time}");
        assert_eq!(value["remote"], "127.0.0.1", "{line}");
        let duration = value["duration_us"].as_u64();
        assert!(
            duration.is_some_and(|us| us < 10_000_000),
            "duration_us: {line}"
        );
    }

    // Each connection may land on another event loop, and each loop writes
    // its own batches: lines of different connections come in any order.
    let find = |what: &str, matches: &dyn Fn(&serde_json::Value) -> bool| {
        let found: Vec<&serde_json::Value> = values.iter().filter(|v| matches(v)).collect();
        assert_eq!(found.len(), 1, "{what}: {found:?} in\n{text}");
        found[0]
    };
    let first = find("plain GET", &|v| v["status"] == 200 && v["query"].is_null());
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/hello.txt");
    assert!(first["query"].is_null());
    assert_eq!(first["version"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes"], hello.body.len() as u64);
    assert!(first["user_agent"].is_null() && first["referer"].is_null());

    let hostile = find("hostile GET", &|v| {
        v["status"] == 200 && !v["query"].is_null()
    });
    assert_eq!(hostile["method"], "GET");
    assert_eq!(hostile["path"], "/hello.txt");
    assert_eq!(hostile["query"], "x=%22y%22&z");
    assert_eq!(hostile["version"], "HTTP/1.0");
    assert_eq!(
        hostile["user_agent"],
        "evil \"quoted\" \\back\\ \t\u{fffd}\u{fffd} end"
    );
    assert_eq!(hostile["referer"], "http://r.example/?a=\"b\"");

    let head = find("HEAD", &|v| v["method"] == "HEAD");
    assert_eq!(head["path"], "/missing");
    assert_eq!(head["status"], 404);
    assert_eq!(head["bytes"], 0);
    find("refused request", &|v| v["status"] == 400);
}

#[test]
fn common_format_has_no_referer_or_agent() {
    let site = site();
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("access.log");
    let server = TestServer::start(
        site.path(),
        &format!(
            "[log]\naccess = {}\nformat = \"common\"\n",
            toml_path(&log_path)
        ),
    );
    assert_eq!(
        raw_request(
            &server,
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: agent-x\r\nReferer: http://ref/\r\nConnection: close\r\n\r\n"
        ),
        200
    );
    assert!(server.stop().success());
    let text = read(&log_path);
    let line = text.lines().next().expect("one line");
    assert_eq!(text.lines().count(), 1, "{text}");
    let rest = line.strip_prefix("127.0.0.1 - - [").expect(line);
    let (_, request) = rest.split_once("] ").expect(line);
    assert_eq!(request, "\"GET /hello.txt HTTP/1.1\" 200 13");
    assert!(!line.contains("agent-x") && !line.contains("http://ref/"));
}

#[test]
fn unknown_format_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.toml"), "[log]\nformat = \"xml\"\n").unwrap();
    let output = Command::new(WHARF)
        .current_dir(dir.path())
        .args(["-c", "w.toml", "--listen", "127.0.0.1:0", "."])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("[log] format") && stderr.contains("\"json\""),
        "{stderr}"
    );
}

/// SIGHUP with a new `[log] format` switches the format of new lines.
#[test]
fn reload_switches_the_format() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.log");
    let config = dir.path().join("wharf.toml");
    let write_config = |format: &str| {
        std::fs::write(
            &config,
            format!(
                "[log]\naccess = {}\nformat = \"{format}\"\n",
                toml_path(&log_path)
            ),
        )
        .unwrap();
    };
    write_config("combined");
    let mut command = Command::new(WHARF);
    command
        .args(["--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(site.path());
    let server = TestServer::spawn(command, None);
    assert_eq!(server.get("/hello.txt").status, 200);
    assert!(eventually(WAIT, || read(&log_path).contains("/hello.txt")));

    write_config("json");
    signal(&server.child, libc::SIGHUP);
    assert!(
        server
            .stderr
            .wait_for(WAIT, |t| t.contains("reloaded the configuration")),
        "stderr: {}",
        server.stderr.text()
    );
    assert_eq!(server.get("/data.json").status, 200);
    assert!(eventually(WAIT, || read(&log_path).contains("/data.json")));
    assert!(server.stop().success());
    let text = read(&log_path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    let value: serde_json::Value = serde_json::from_str(lines[1]).expect(lines[1]);
    assert_eq!(value["path"], "/data.json");
}

// ---------------------------------------------------------------------------
// Reopening on SIGUSR1.

#[test]
fn sigusr1_reopens_the_log_file_after_a_rename() {
    let site = site();
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("access.log");
    let rotated = logs.path().join("access.log.1");
    let server = TestServer::start(
        site.path(),
        &format!("[log]\naccess = {}\n", toml_path(&log_path)),
    );
    assert_eq!(server.get("/hello.txt").status, 200);
    assert!(
        eventually(WAIT, || read(&log_path).contains("GET /hello.txt ")),
        "first line never written"
    );

    // What logrotate does: rename, then signal.
    std::fs::rename(&log_path, &rotated).unwrap();
    // Written after the rename but before the signal: still the old file.
    assert_eq!(server.get("/data.json").status, 200);
    assert!(
        eventually(WAIT, || read(&rotated).contains("GET /data.json ")),
        "the renamed file stopped receiving lines before SIGUSR1"
    );
    assert!(!log_path.exists());

    signal(&server.child, libc::SIGUSR1);
    assert!(
        server
            .stderr
            .wait_for(WAIT, |t| t.contains("reopened the access log")),
        "stderr: {}",
        server.stderr.text()
    );
    assert_eq!(server.get("/sub/page.html").status, 200);
    assert_eq!(server.get("/nope").status, 404);
    assert!(
        eventually(WAIT, || {
            let text = read(&log_path);
            text.contains("GET /sub/page.html ") && text.contains("GET /nope ")
        }),
        "the new file did not get the new lines; new: {:?} old: {:?}",
        read(&log_path),
        read(&rotated)
    );
    assert!(server.stop().success());

    let old = read(&rotated);
    let new = read(&log_path);
    assert_eq!(old.lines().count(), 2, "old file: {old}");
    assert_eq!(new.lines().count(), 2, "new file: {new}");
    assert!(!old.contains("/sub/page.html") && !new.contains("/hello.txt"));
}

#[test]
fn failed_reopen_keeps_writing_to_the_old_file() {
    let site = site();
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let server = TestServer::start(
        site.path(),
        &format!("[log]\naccess = {}\n", toml_path(&dir.join("access.log"))),
    );
    // The directory goes away (renamed): the path can no longer be opened.
    let moved = base.path().join("moved");
    std::fs::rename(&dir, &moved).unwrap();
    signal(&server.child, libc::SIGUSR1);
    assert!(
        server
            .stderr
            .wait_for(WAIT, |t| t.contains("cannot reopen the access log")),
        "stderr: {}",
        server.stderr.text()
    );
    assert_eq!(server.get("/hello.txt").status, 200);
    assert!(
        eventually(WAIT, || read(&moved.join("access.log"))
            .contains("GET /hello.txt ")),
        "the old file no longer receives lines"
    );
    assert!(server.stop().success());
}

#[test]
fn sigusr1_with_the_log_on_stdout_changes_nothing() {
    let site = site();
    let server = TestServer::start(site.path(), "[log]\naccess = \"stdout\"\n");
    signal(&server.child, libc::SIGUSR1);
    assert!(server
        .stderr
        .wait_for(WAIT, |t| t.contains("nothing to reopen")));
    assert_eq!(server.get("/hello.txt").status, 200);
    assert!(server
        .stdout
        .wait_for(WAIT, |t| t.contains("\"GET /hello.txt HTTP/1.1\" 200 13")));
    assert!(server.stop().success());
}

// ---------------------------------------------------------------------------
// A destination that stops taking writes.

/// Bytes waiting in a pipe, read through its reading end.
fn bytes_waiting(reader: &OwnedFd) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    let rc = unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

#[test]
fn a_log_destination_that_stops_taking_writes_does_not_hold_up_requests() {
    use std::os::unix::ffi::OsStrExt;
    let site = site();
    let logs = tempfile::tempdir().unwrap();
    let fifo = logs.path().join("access.fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; the reader is opened without blocking
    // (so wharf's open for writing succeeds) and is never read from; not
    // inherited by the processes other tests start meanwhile.
    let reader = unsafe {
        assert_eq!(libc::mkfifo(c_path.as_ptr(), 0o600), 0);
        let fd = libc::open(
            c_path.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        );
        assert!(fd >= 0, "open fifo: {}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(fd)
    };
    // One IO thread, and every request needs it (no cache).
    let server = TestServer::start_with_args(
        site.path(),
        &format!(
            "[cache]\nenabled = false\n[log]\naccess = {}\n",
            toml_path(&fifo)
        ),
        &["--workers", "1", "--io-threads", "1"],
    );
    let agent = "a".repeat(8000);
    let get = format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: {agent}\r\n\r\n");
    // Nearly fill the pipe (64 KiB) with log lines.
    let mut sent = 0;
    while bytes_waiting(&reader) < 60_000 {
        assert!(sent < 100, "the log pipe did not fill");
        assert_eq!(raw_request(&server, get.as_bytes()), 200);
        sent += 1;
    }
    // 60 more lines are about 480 KB, far more than the pipe holds: the
    // log's writer is stuck for most of these requests, which are served
    // all the same, each through the one IO thread.
    for _ in 0..60 {
        assert_eq!(raw_request(&server, get.as_bytes()), 200);
    }
    assert!(bytes_waiting(&reader) <= 64 * 1024);
    // Nor does it keep wharf from stopping (the last lines are given up).
    assert!(server.stop().success());
    drop(reader);
}

// ---------------------------------------------------------------------------
// Diagnostics.

#[test]
fn rust_log_sets_the_diagnostic_level() {
    let site = site();
    // debug: the start-up debug line appears, apart from stdout.
    let mut command = Command::new(WHARF);
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("w.toml");
    std::fs::write(&config, "[log]\naccess = \"off\"\n").unwrap();
    command
        .env("RUST_LOG", "debug")
        .args(["--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(site.path());
    let server = TestServer::spawn(command, Some(config_dir));
    let expected = format!("wharf: debug: [wharf] listening on {}", server.addr);
    assert!(
        server.stderr.wait_for(WAIT, |t| t.contains(&expected)),
        "stderr: {}",
        server.stderr.text()
    );
    assert!(!server.stdout.text().contains("debug"));
    assert!(server.stop().success());

    // error: the info line about SIGUSR1 is not shown, a reload error is.
    let mut command = Command::new(WHARF);
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("w.toml");
    std::fs::write(&config, "[log]\naccess = \"off\"\n").unwrap();
    command
        .env("RUST_LOG", "error")
        .args(["--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(site.path());
    let server = TestServer::spawn(command, Some(config_dir));
    signal(&server.child, libc::SIGUSR1);
    std::fs::write(&config, "[log]\naccess = 7\n").unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(
        server
            .stderr
            .wait_for(WAIT, |t| t.contains("reload refused")),
        "stderr: {}",
        server.stderr.text()
    );
    // Signals are handled in order: the SIGUSR1 line, had it been shown,
    // would be there by now.
    assert!(
        !server.stderr.text().contains("nothing to reopen"),
        "stderr: {}",
        server.stderr.text()
    );
    assert!(server.stop().success());
}

// ---------------------------------------------------------------------------
// Start-up text: a banner on a terminal, one line otherwise.

/// A pseudo-terminal: the child's stdout is the slave side, the test reads
/// the master side in a thread.
struct Pty {
    text: Arc<Mutex<String>>,
}

impl Pty {
    /// Spawns `command` with its stdout on a new pty.
    fn spawn(command: &mut Command) -> (Child, Pty) {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two new descriptors, which we own from here on.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        // Not inherited by the processes other tests start (the child gets
        // the slave as its stdout all the same): a stray copy of the slave
        // would keep the master from ever reaching EOF.
        for fd in [master, slave] {
            // SAFETY: fcntl on a descriptor just opened and owned here.
            assert_eq!(
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
                0
            );
        }
        // SAFETY: both descriptors were just opened and are owned by nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        command.stdout(Stdio::from(slave));
        let child = command.spawn().expect("start wharf");
        // Drop our copy of the slave (held by `command`) by replacing it.
        command.stdout(Stdio::null());
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        let mut master = std::fs::File::from(master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has exited.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        (child, Pty { text })
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().replace('\r', "")
    }

    fn wait_for(&self, done: impl Fn(&str) -> bool) -> bool {
        eventually(WAIT, || done(&self.text()))
    }
}

fn stop(mut child: Child) {
    signal(&child, libc::SIGTERM);
    let status = wait_timeout(&mut child, WAIT).expect("wharf exits after SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn terminal_gets_a_banner() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, "[log]\naccess = \"stderr\"\nformat = \"json\"\n").unwrap();
    let mut command = Command::new(WHARF);
    command
        .env("NO_COLOR", "1")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--io-threads",
            "3",
            "-c",
        ])
        .arg(&config)
        .arg(site.path())
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let (child, pty) = Pty::spawn(&mut command);
    assert!(
        pty.wait_for(|t| t.contains("Access log:") && t.contains("reopens the log file")),
        "banner: {:?}",
        pty.text()
    );
    let text = pty.text();
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL");
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0);
    // The URL works.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);

    let root = std::fs::canonicalize(site.path()).unwrap();
    for needle in [
        format!("wharf {}", env!("CARGO_PKG_VERSION")),
        format!("serving {}", root.display()),
        format!("Local:      {url}"),
        "1 event loops, 3 IO threads".to_string(),
        format!("Config:     {}", config.display()),
        "Access log: stderr (json format)".to_string(),
        format!("kill -HUP {}", child.id()),
    ] {
        assert!(text.contains(&needle), "banner lacks {needle:?}:\n{text}");
    }
    assert!(!text.contains('\x1b'), "NO_COLOR ignored: {text:?}");
    stop(child);
}

#[test]
fn quiet_terminal_and_pipe_get_one_line() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, "[log]\naccess = \"off\"\n").unwrap();
    let expected_start = format!(
        "wharf {} serving {} on http://127.0.0.1:",
        env!("CARGO_PKG_VERSION"),
        std::fs::canonicalize(site.path()).unwrap().display()
    );

    // --quiet on a terminal.
    let mut command = Command::new(WHARF);
    command
        .args(["--quiet", "--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(site.path())
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let (child, pty) = Pty::spawn(&mut command);
    assert!(pty.wait_for(|t| t.ends_with('\n')), "{:?}", pty.text());
    let port = {
        let text = pty.text();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(text.starts_with(&expected_start), "{text:?}");
        let url = text
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap();
        url.trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .to_string()
    };
    // Nothing more follows once it serves.
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);
    assert_eq!(pty.text().lines().count(), 1, "{:?}", pty.text());
    stop(child);

    // A pipe, without --quiet.
    let mut command = Command::new(WHARF);
    command
        .args(["--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(site.path());
    let server = TestServer::spawn(command, None);
    let text = server.stdout.text();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.starts_with(&expected_start), "{text:?}");
    assert!(text.trim_end().ends_with(" IO threads)"), "{text:?}");
    assert!(server.stop().success());
}
