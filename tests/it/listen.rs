//! Every way wharf listens, against a real wharf: several addresses (from
//! the file and from repeated `--listen`), dual-stack `[::]`, Unix
//! sockets (mode, stale and live socket files, removal at exit), and
//! sockets passed by systemd (socket activation).

use crate::cli::{run_to_exit, wharf_in};
use crate::harness::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Every URL of the start-up text: the first line's first `http://` word,
/// then each `wharf also listening on URL` line's URL.
fn listener_urls(server: &TestServer, count: usize) -> Vec<String> {
    let complete = server
        .stdout
        .wait_for(Duration::from_secs(10), |t| t.lines().count() >= count);
    assert!(complete, "start-up text: {:?}", server.stdout.text());
    let text = server.stdout.text();
    let mut lines = text.lines();
    let first = lines
        .next()
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("unix:"))
        })
        .expect("a first URL")
        .to_string();
    let mut urls = vec![first];
    urls.extend(
        lines
            .filter_map(|l| l.strip_prefix("wharf also listening on "))
            .map(String::from),
    );
    urls
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn get_over_tcp(addr: SocketAddr, path: &str) -> Response {
    let mut stream = with_timeouts(TcpStream::connect(addr).unwrap());
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut stream, false).expect("a response")
}

/// `GET path` over the Unix socket at `socket`; the raw answer.
fn get_over_unix(socket: &Path, path: &str) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    all
}

/// wharf with a config file of `toml` (access log off unless it sets
/// `[log]`) and the arguments `args`, serving `root`; no `--listen` unless
/// `args` has one.
fn command(root: &Path, config_dir: &Path, toml: &str, args: &[&str]) -> Command {
    let config = config_dir.join("wharf.toml");
    let mut text = String::new();
    if !toml.contains("[log]") {
        text.push_str("[log]\naccess = \"off\"\n");
    }
    text.push_str(toml);
    std::fs::write(&config, text).unwrap();
    let mut command = Command::new(WHARF);
    command.arg("-c").arg(&config).args(args).arg(root);
    command
}

#[test]
fn every_address_of_the_file_list_is_served_by_every_worker() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let cmd = command(
        site.path(),
        dir.path(),
        "[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n",
        &["--workers", "2"],
    );
    let server = TestServer::spawn(cmd, None);
    let urls = listener_urls(&server, 2);
    assert_eq!(urls.len(), 2, "{:?}", server.stdout.text());
    let (a, b) = (addr_of(&urls[0]), addr_of(&urls[1]));
    assert_ne!(a.port(), b.port());
    // Several connections on each, so that both loops' listeners answer.
    for addr in [a, b] {
        for _ in 0..6 {
            let r = get_over_tcp(addr, "/hello.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.body, HELLO);
        }
    }
    assert!(server.stop().success());
}

#[test]
fn repeated_listen_flags_replace_the_files_list() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("never.sock");
    let cmd = command(
        site.path(),
        dir.path(),
        &format!("[server]\nlisten = [\"unix:{}\"]\n", socket.display()),
        &["--listen", "127.0.0.1:0", "-l", "[::1]:0"],
    );
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: this machine has no IPv6 loopback (::1)");
        return;
    }
    let server = TestServer::spawn(cmd, None);
    let urls = listener_urls(&server, 2);
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(urls[0].starts_with("http://127.0.0.1:"), "{urls:?}");
    assert!(urls[1].starts_with("http://[::1]:"), "{urls:?}");
    assert_eq!(get_over_tcp(addr_of(&urls[1]), "/hello.txt").status, 200);
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "the file's unix: listener was bound although --listen replaced it"
    );
    assert!(server.stop().success());
}

#[test]
fn a_dual_stack_listener_takes_ipv4_and_ipv6() {
    // Skipped where the kernel has no IPv6 at all: no tool can be installed
    // to fix that, so it is a skip with a message under CI too.
    if TcpListener::bind("[::]:0").is_err() {
        eprintln!("skipping: this machine has no IPv6 ([::] cannot be bound)");
        return;
    }
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let cmd = command(
        site.path(),
        dir.path(),
        "[log]\naccess = \"stdout\"\n",
        &["--listen", "[::]:0"],
    );
    let server = TestServer::spawn(cmd, None);
    let urls = listener_urls(&server, 1);
    let port = addr_of(&urls[0]).port();
    assert!(urls[0].starts_with("http://[::]:"), "{urls:?}");
    // IPv4 on an IPv6 socket: only with IPV6_V6ONLY off, which wharf sets
    // whatever net.ipv6.bindv6only says.
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = get_over_tcp(v4, "/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    // Logged as plain IPv4, not ::ffff:127.0.0.1.
    assert!(server.stdout.wait_for(Duration::from_secs(5), |t| t
        .lines()
        .any(|l| l.starts_with("127.0.0.1 - - "))));
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    match TcpStream::connect(v6) {
        Ok(stream) => {
            drop(stream);
            let r = get_over_tcp(v6, "/hello.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.body, HELLO);
        }
        Err(e) => eprintln!("skipping the IPv6 half: no IPv6 loopback here ({e})"),
    }
    assert!(server.stop().success());
}

#[test]
fn a_unix_socket_serves_with_its_mode_and_is_removed_at_exit() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("wharf.sock");
    let cmd = command(
        site.path(),
        dir.path(),
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\", \"unix:{}\"]\nunix_socket_mode = \"0600\"\n[log]\naccess = \"stdout\"\n",
            socket.display()
        ),
        &["--workers", "2"],
    );
    let server = TestServer::spawn(cmd, None);
    let urls = listener_urls(&server, 2);
    assert_eq!(urls[1], format!("unix:{}", socket.display()));
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let answer = get_over_unix(&socket, "/hello.txt");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello, world\n"), "{answer}");
    let answer = get_over_unix(&socket, "/missing");
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    // The access log names the client `unix`.
    assert!(server
        .stdout
        .wait_for(Duration::from_secs(5), |t| t.lines().any(|l| l
            .starts_with("unix - - ")
            && l.contains("\"GET /hello.txt HTTP/1.1\" 200 13"))));

    if require_tool("curl") {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "--unix-socket"])
            .arg(&socket)
            .arg("http://wharf/hello.txt")
            .output()
            .unwrap();
        assert!(out.status.success(), "curl: {out:?}");
        assert_eq!(out.stdout, HELLO);
    }
    assert!(server.stop().success());
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "the socket file is still there after a clean exit"
    );
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stale.sock");
    // A socket file nobody listens on any more: what a crash leaves.
    drop(UnixListener::bind(&socket).unwrap());
    assert!(UnixStream::connect(&socket).is_err());
    let cmd = command(
        site.path(),
        dir.path(),
        "",
        &[
            "-l",
            "127.0.0.1:0",
            "-l",
            &format!("unix:{}", socket.display()),
        ],
    );
    let server = TestServer::spawn(cmd, None);
    listener_urls(&server, 2);
    assert!(get_over_unix(&socket, "/hello.txt").starts_with("HTTP/1.1 200 "));
    assert!(server.stop().success());
}

#[test]
fn a_live_socket_or_a_file_that_is_no_socket_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sock");
    let _other_server = UnixListener::bind(&live).unwrap();
    let mut cmd = wharf_in(dir.path());
    cmd.args(["-l", &format!("unix:{}", live.display()), "."]);
    assert_one_line_error(
        &run_to_exit(cmd),
        &["listen", "live.sock", "another server is listening"],
    );
    assert!(
        std::fs::symlink_metadata(&live).is_ok(),
        "a live socket file was removed"
    );

    let plain = write(dir.path(), "plain.sock", b"not a socket\n");
    let mut cmd = wharf_in(dir.path());
    cmd.args(["-l", &format!("unix:{}", plain.display()), "."]);
    assert_one_line_error(&run_to_exit(cmd), &["plain.sock", "not a socket"]);
    assert_eq!(std::fs::read(&plain).unwrap(), b"not a socket\n");
}

#[test]
fn a_failed_start_leaves_no_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("first.sock");
    // The second address cannot be bound: start-up stops after the first
    // created its socket file.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut cmd = wharf_in(dir.path());
    cmd.args([
        "-l",
        &format!("unix:{}", socket.display()),
        "-l",
        &format!("127.0.0.1:{port}"),
        ".",
    ]);
    assert_one_line_error(&run_to_exit(cmd), &[&port.to_string()]);
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "a failed start left its socket file"
    );
}

#[test]
fn bad_listen_values_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, needles) in [
        (
            "[server]\nunix_socket_mode = \"rw\"\n",
            &["[server] unix_socket_mode", "octal"][..],
        ),
        ("[server]\nlisten = []\n", &["listen", "empty"][..]),
        (
            "[server]\nlisten = [\"127.0.0.1:0\", \"x\"]\n",
            &["listen", "'x'"][..],
        ),
        (
            "[server]\nlisten = 80\n",
            &["[server] listen", "a string or a list"][..],
        ),
    ] {
        std::fs::write(dir.path().join("bad.toml"), toml).unwrap();
        let mut cmd = wharf_in(dir.path());
        cmd.args(["-c", "bad.toml", "."]);
        assert_one_line_error(&run_to_exit(cmd), needles);
    }
}

/// Runs wharf as systemd would with socket activation: `sockets` placed
/// at descriptors 3, 4, ..., `LISTEN_FDS` their count and `LISTEN_PID`
/// wharf's own pid (the shell sets it to `$$` and `exec`s wharf, keeping
/// its pid).
fn activated(root: &Path, sockets: &[std::os::fd::RawFd], args: &str) -> TestServer {
    TestServer::spawn(activated_command(root, sockets, args), None)
}

/// The command of [`activated`], not yet started.
fn activated_command(root: &Path, sockets: &[std::os::fd::RawFd], args: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "LISTEN_PID=$$ LISTEN_FDS={} exec \"$0\" {args} \"$1\"",
        sockets.len()
    ));
    cmd.arg(WHARF).arg(root);
    let fds = sockets.to_vec();
    // SAFETY: fcntl and dup2 are async-signal-safe; between fork and exec
    // they only arrange the child's descriptors (dup2 clears close-on-exec).
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first, so that placing one cannot clobber another.
            let high: Vec<i32> = fds
                .iter()
                .map(|&fd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100))
                .collect();
            for (i, fd) in high.into_iter().enumerate() {
                if fd < 0 || libc::dup2(fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn sockets_from_systemd_replace_listen() {
    use std::os::fd::AsRawFd;
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let socket = dir.path().join("activated.sock");
    let unix = UnixListener::bind(&socket).unwrap();
    let server = activated(
        site.path(),
        &[tcp.as_raw_fd(), unix.as_raw_fd()],
        "--listen 127.0.0.1:1 --workers 2 -c /dev/null",
    );
    let urls = listener_urls(&server, 2);
    assert_eq!(
        urls,
        [
            format!("http://{tcp_addr}/"),
            format!("unix:{}", socket.display())
        ],
        "the listen addresses were used instead of the passed sockets"
    );
    // Our copies are not needed: the server's descriptors are duplicates.
    drop(tcp);
    drop(unix);
    for _ in 0..6 {
        let r = get_over_tcp(tcp_addr, "/hello.txt");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, HELLO);
        assert!(get_over_unix(&socket, "/hello.txt").starts_with("HTTP/1.1 200 "));
    }
    assert!(server.stop().success());
    // systemd owns the socket file: wharf leaves it.
    assert!(std::fs::symlink_metadata(&socket).is_ok());
}

#[test]
fn a_passed_socket_that_is_not_a_stream_stops_start_up() {
    use std::os::fd::AsRawFd;
    let site = site();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cmd = activated_command(site.path(), &[udp.as_raw_fd()], "-c /dev/null");
    assert_one_line_error(
        &run_to_exit(cmd),
        &["socket activation", "descriptor 3", "not a stream socket"],
    );
}

#[test]
fn sockets_for_another_process_are_ignored() {
    let site = site();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = Command::new(WHARF);
    // LISTEN_PID names another process (the test's): wharf binds `listen`.
    cmd.env("LISTEN_PID", std::process::id().to_string())
        .env("LISTEN_FDS", "1")
        .args(["-c", "/dev/null", "--listen", "127.0.0.1:0"])
        .arg(site.path());
    let server = TestServer::spawn(cmd, None);
    assert_ne!(server.addr, tcp.local_addr().unwrap());
    assert_eq!(server.get("/hello.txt").status, 200);
    assert!(server.stop().success());
}
