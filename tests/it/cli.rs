//! The command line, exercised on the real binary as a separate process:
//! help and version, one-line start-up errors, config-file lookup and
//! precedence, and signal handling.
//!
//! Every process runs with a fresh temp directory as its working directory,
//! so the repository's own `./config.toml` is never picked up by accident.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{
    assert_one_line_error, checksum_file, read_response, signal, site, wait_timeout, write,
    write_large, Finished, Fnv, TestServer, WHARF,
};

/// How long a process that should fail at start-up may take to do so.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A `wharf` command with `cwd` as its working directory and no stdin.
pub(crate) fn wharf_in(cwd: &Path) -> Command {
    let mut command = Command::new(WHARF);
    command
        .current_dir(cwd)
        .stdin(Stdio::null())
        // A panic would print a backtrace: that must show up as a failure.
        .env("RUST_BACKTRACE", "1");
    command
}

/// Runs `command` to completion, killing it (and failing) if it is still
/// running after [`EXIT_TIMEOUT`], e.g. because it started serving.
pub(crate) fn run_to_exit(mut command: Command) -> Finished {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wharf");
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out_pipe.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err_pipe.read_to_string(&mut text);
        text
    });
    let status = match wait_timeout(&mut child, EXIT_TIMEOUT) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "wharf did not exit within {EXIT_TIMEOUT:?}; stdout: {:?} stderr: {:?}",
                out_reader.join().unwrap(),
                err_reader.join().unwrap()
            );
        }
    };
    Finished {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Writes `text` as `name` in a fresh temp dir and runs `wharf -c name`
/// there, with a valid root, expecting a one-line failure.
fn config_error(text: &str, needles: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let mut command = wharf_in(dir.path());
    command.args(["-c", "bad.toml", "--listen", "127.0.0.1:0", "site"]);
    let run = run_to_exit(command);
    let line = assert_one_line_error(&run, needles);
    assert!(
        line.contains("bad.toml"),
        "error line {line:?} does not name the config file"
    );
    line
}

/// The names of a process's threads, from `/proc/<pid>/task/*/comm`.
fn thread_names(pid: i32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            Some(comm.trim_end().to_string())
        })
        .collect()
}

/// Waits (bounded) until the process has exactly `n` event-loop threads:
/// loops are started just after the URL is printed.
fn assert_loop_threads(pid: i32, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut names;
    loop {
        names = thread_names(pid);
        let loops = names
            .iter()
            .filter(|n| n.starts_with("wharf-loop-"))
            .count();
        if loops == n {
            return;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("expected {n} wharf-loop-* threads, have: {names:?}");
}

/// Waits for a child to exit and asserts it exited with code 0.
fn assert_clean_exit(server: &mut TestServer, what: &str) {
    let status = wait_timeout(&mut server.child, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("wharf did not exit after {what}"));
    assert_eq!(
        status.code(),
        Some(0),
        "exit after {what}: {status:?}; stderr: {}",
        server.stderr.text()
    );
}

/// Reads from a connection until EOF; fails on a timeout or on data.
fn assert_eof(stream: &mut std::net::TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "{what}: expected EOF, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        // A reset also means the server closed the connection.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: expected EOF, got {e}"),
    }
}

// ---------------------------------------------------------------------------
// Help and version.

#[test]
fn help_lists_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = wharf_in(dir.path());
    command.arg("--help");
    let run = run_to_exit(command);
    assert_eq!(run.status.code(), Some(0), "stderr: {}", run.stderr);
    for needle in ["--listen", "--config", "--workers", "--io-threads", "ROOT"] {
        assert!(
            run.stdout.contains(needle),
            "--help does not mention {needle}: {}",
            run.stdout
        );
    }
    assert!(run.stderr.is_empty(), "stderr: {:?}", run.stderr);
}

#[test]
fn version_prints_name_and_version() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-V"] {
        let mut command = wharf_in(dir.path());
        command.arg(flag);
        let run = run_to_exit(command);
        assert_eq!(run.status.code(), Some(0), "{flag}: stderr: {}", run.stderr);
        assert_eq!(
            run.stdout.trim(),
            format!("wharf {}", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

// ---------------------------------------------------------------------------
// The root.

#[test]
fn missing_root_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let mut command = wharf_in(dir.path());
    command.args(["--listen", "127.0.0.1:0"]).arg(&missing);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["root", &missing.display().to_string()]);
}

#[test]
fn root_that_is_a_file_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "plain.txt", b"not a directory\n");
    let mut command = wharf_in(dir.path());
    command.args(["--listen", "127.0.0.1:0"]).arg(&file);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["root", &file.display().to_string()]);
}

// ---------------------------------------------------------------------------
// Config-file errors.

#[test]
fn missing_config_file_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = wharf_in(dir.path());
    command.args(["-c", "nope.toml", "--listen", "127.0.0.1:0", "."]);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["nope.toml"]);
}

#[test]
fn malformed_toml_names_the_line() {
    config_error("[log]\naccess = \"off\"\n[server\n", &["line 3"]);
    config_error("[server]\nroot = \n", &["line 2"]);
}

/// An error at the very start of a line must name that line, not the one
/// before it.
#[test]
fn malformed_toml_at_line_start_names_that_line() {
    config_error("[server]\nlisten = \"127.0.0.1:0\"\n=oops\n", &["line 3"]);
    config_error("[server]\nworkers = 2\nworkers = 3\n", &["line 3"]);
}

/// A value TOML itself cannot read (an integer beyond 64 bits) fails
/// before wharf sees the key: the line is quoted, so the key is named.
#[test]
fn a_value_toml_cannot_read_names_its_key() {
    config_error(
        "[server]\nworkers = 99999999999999999999\n",
        &["line 2", "workers = 99999999999999999999"],
    );
}

#[test]
fn a_missing_subcommand_argument_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = wharf_in(dir.path());
    command.arg("completions");
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["not provided", "<SHELL>"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn unknown_key_is_named() {
    config_error("[server]\nport = 1\n", &["[server] port"]);
}

#[test]
fn bad_values_name_the_key() {
    config_error(
        "[limits]\nmax_connections = \"many\"\n",
        &["[limits] max_connections"],
    );
    config_error("[server]\nworkers = -1\n", &["[server] workers"]);
    config_error(
        "[http]\ndirectory_listing = 1\n",
        &["[http] directory_listing"],
    );
}

#[test]
fn unknown_section_is_named() {
    config_error("[cache]\nsize = 1\n", &["[cache]"]);
}

// ---------------------------------------------------------------------------
// Flag errors.

#[test]
fn bad_listen_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = wharf_in(dir.path());
    command.args(["--listen", "nonsense", "."]);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["listen", "nonsense"]);
}

#[test]
fn thread_counts_beyond_the_config_files_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--workers", "5000"),
        ("--io-threads", "18446744073709551615"),
    ] {
        let mut command = wharf_in(dir.path());
        command.args([flag, value, "."]);
        let run = run_to_exit(command);
        assert_one_line_error(&run, &[flag, value, "0 to 1024"]);
        assert_eq!(run.status.code(), Some(2), "usage errors exit with 2");
    }
}

#[test]
fn bad_workers_flag_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = wharf_in(dir.path());
    command.args(["--workers", "abc", "."]);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["--workers", "abc"]);
    assert_eq!(run.status.code(), Some(2), "usage errors exit with 2");
}

#[test]
fn port_in_use_is_one_line() {
    // std's listener sets SO_REUSEADDR but not SO_REUSEPORT, so wharf's
    // SO_REUSEPORT sockets cannot join it.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut command = wharf_in(dir.path());
    command.args(["--listen", &format!("127.0.0.1:{port}"), "."]);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &[&port.to_string(), "--listen"]);
    drop(taken);
}

// ---------------------------------------------------------------------------
// Starting and serving.

#[test]
fn port_zero_prints_the_real_url() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "site/hello.txt", b"port zero\n");
    let mut command = wharf_in(dir.path());
    command.args(["--listen", "127.0.0.1:0", "site"]);
    let server = TestServer::spawn(command, None);
    let port = server.addr.port();
    assert_ne!(port, 0, "the printed URL still says port 0");
    let stdout = server.stdout.text();
    let url = format!("http://127.0.0.1:{port}/");
    assert!(
        stdout.lines().any(|l| l.contains(&url)),
        "no line with {url}: {stdout:?}"
    );
    let response = server.get("/hello.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"port zero\n");
}

#[test]
fn relative_root_is_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(base, "dir/site/index.html", b"the right site\n");
    // A decoy where "../site" would land if resolved against the cwd.
    write(
        base,
        "site/index.html",
        b"WRONG: resolved against the cwd\n",
    );
    write(
        base,
        "dir/conf/wharf.toml",
        b"[server]\nroot = \"../site\"\nlisten = \"127.0.0.1:0\"\n[log]\naccess = \"off\"\n",
    );
    std::fs::create_dir(base.join("other")).unwrap();
    let cwd = base.join("other");
    let expected_root = std::fs::canonicalize(base.join("dir/site")).unwrap();

    for config in [
        // Relative to the cwd, in another directory.
        "../dir/conf/wharf.toml".to_string(),
        base.join("dir/conf/wharf.toml").display().to_string(),
    ] {
        let mut command = wharf_in(&cwd);
        command.args(["-c", &config]);
        let server = TestServer::spawn(command, None);
        let response = server.get("/");
        assert_eq!(response.status, 200, "-c {config}");
        assert_eq!(response.text(), "the right site\n", "-c {config}");
        let stdout = server.stdout.text();
        assert!(
            stdout.contains(&expected_root.display().to_string()),
            "-c {config}: start-up line does not name {}: {stdout:?}",
            expected_root.display()
        );
    }
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(base, "filesite/which.txt", b"file root\n");
    write(base, "flagsite/which.txt", b"flag root\n");
    write(
        base,
        "wharf.toml",
        b"[server]\nlisten = \"127.0.0.1:1\"\nworkers = 1\nroot = \"filesite\"\n[log]\naccess = \"off\"\n",
    );
    let mut command = wharf_in(base);
    command.args([
        "-c",
        "wharf.toml",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "flagsite",
    ]);
    let server = TestServer::spawn(command, None);
    assert_ne!(server.addr.port(), 1, "--listen did not override the file");
    assert_ne!(server.addr.port(), 0);
    assert!(
        server.stdout.text().contains("(2 event loops"),
        "--workers did not override the file: {:?}",
        server.stdout.text()
    );
    assert_loop_threads(server.pid(), 2);
    let response = server.get("/which.txt");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        "flag root\n",
        "ROOT did not override the file"
    );
}

#[test]
fn default_config_toml_is_read_from_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(base, "site/marker.txt", b"from ./config.toml\n");
    write(
        base,
        "config.toml",
        b"[server]\nroot = \"site\"\n[log]\naccess = \"off\"\n",
    );
    let mut command = wharf_in(base);
    command.args(["--listen", "127.0.0.1:0"]);
    let mut server = TestServer::spawn(command, None);
    let response = server.get("/marker.txt");
    assert_eq!(response.status, 200, "root from ./config.toml not used");
    assert_eq!(response.text(), "from ./config.toml\n");
    // The file also turned the access log (stdout by default) off: after a
    // clean exit, which flushes the log, stdout holds only the URL line.
    signal(&server.child, libc::SIGTERM);
    assert_clean_exit(&mut server, "SIGTERM");
    let stdout = server.stdout.text();
    assert_eq!(
        stdout.lines().count(),
        1,
        "[log] access = \"off\" from ./config.toml ignored: {stdout:?}"
    );
}

#[test]
fn explicit_config_skips_the_default_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(base, "site/ok.txt", b"ok\n");
    // A broken ./config.toml must not be read when -c is given...
    write(base, "config.toml", b"this is [not toml\n");
    write(base, "real.toml", b"[log]\naccess = \"off\"\n");
    let mut command = wharf_in(base);
    command.args(["-c", "real.toml", "--listen", "127.0.0.1:0", "site"]);
    let server = TestServer::spawn(command, None);
    assert_eq!(server.get("/ok.txt").status, 200);
    drop(server);
    // ...and is when it is not.
    let mut command = wharf_in(base);
    command.args(["--listen", "127.0.0.1:0", "site"]);
    let run = run_to_exit(command);
    assert_one_line_error(&run, &["config.toml", "line 1"]);
}

#[test]
fn three_workers_answer_many_connections() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "site/hello.txt", b"hello\n");
    let mut command = wharf_in(dir.path());
    command.args(["--listen", "127.0.0.1:0", "--workers", "3", "site"]);
    let server = TestServer::spawn(command, None);
    assert!(server.stdout.text().contains("(3 event loops"));
    assert_loop_threads(server.pid(), 3);
    // All connections open at once, then all requests, then all answers.
    let mut streams: Vec<_> = (0..24).map(|_| server.connect()).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        let request = format!("GET /hello.txt?{i} HTTP/1.1\r\nHost: t\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        let response =
            read_response(stream, false).unwrap_or_else(|| panic!("connection {i}: no answer"));
        assert_eq!(response.status, 200, "connection {i}");
        assert_eq!(response.body, b"hello\n", "connection {i}");
    }
}

// ---------------------------------------------------------------------------
// Signals.

fn signal_with_idle_keepalive(sig: i32, name: &str) {
    let site = site();
    let mut server = TestServer::start(site.path(), "");
    let mut idle = server.connect();
    idle.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let response = read_response(&mut idle, false).expect("a response");
    assert_eq!(response.status, 200);
    assert_ne!(
        response.header("connection"),
        Some("close"),
        "the connection should stay open"
    );
    signal(&server.child, sig);
    assert_clean_exit(&mut server, name);
    assert_eof(&mut idle, "idle keep-alive connection after shutdown");
}

#[test]
fn sigterm_exits_0_with_an_idle_keepalive_connection() {
    signal_with_idle_keepalive(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_exits_0_with_an_idle_keepalive_connection() {
    signal_with_idle_keepalive(libc::SIGINT, "SIGINT");
}

#[test]
fn download_in_flight_completes_after_sigterm() {
    const SIZE: u64 = 20 << 20;
    let site = site();
    let path = site.path().join("big.bin");
    write_large(&path, SIZE, 7);
    let (expected_hash, expected_len) = checksum_file(&path);
    let mut server = TestServer::start(site.path(), "");

    // An idle keep-alive connection: its close shows that the server has
    // begun shutting down.
    let mut idle = server.connect();
    idle.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle, false).unwrap().status, 200);

    let mut download = server.connect();
    download
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_response(&mut download, true).expect("a response head");
    assert_eq!(head.status, 200);
    let length: u64 = head.header("content-length").unwrap().parse().unwrap();
    assert_eq!(length, expected_len);

    let mut hash = Fnv::new();
    let mut received = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while received < 1 << 20 {
        let n = download.read(&mut buf).unwrap();
        assert!(n > 0, "download ended early at {received} bytes");
        hash.update(&buf[..n]);
        received += n as u64;
    }

    signal(&server.child, libc::SIGTERM);
    // Shutdown has begun once the idle connection is closed; most of the
    // download is still to come.
    assert_eof(&mut idle, "idle connection after SIGTERM");

    loop {
        let n = match download.read(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!("download failed after {received} of {length} bytes: {e}"),
        };
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        received += n as u64;
    }
    assert_eq!(received, length, "bytes received vs Content-Length");
    assert_eq!(hash.0, expected_hash, "body differs from the file");
    assert_clean_exit(&mut server, "SIGTERM with a download in flight");
}
