//! Health probes on the metrics listener (`/healthz`, `/readyz`), during
//! normal serving and during the drain after SIGTERM, and `wharf check
//! URL` run as a real process against a real wharf and against a port
//! where nothing answers.

use crate::harness::*;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

fn with_metrics(extra: &str, args: &[&str]) -> (tempfile::TempDir, TestServer, String) {
    let site = site();
    let server = TestServer::start_with_args(
        site.path(),
        &format!("[metrics]\nlisten = \"127.0.0.1:0\"\n{extra}"),
        args,
    );
    let addr = metrics_addr(&server);
    (site, server, addr)
}

#[test]
fn health_and_readiness_say_ok_while_serving() {
    let (_site, server, metrics) = with_metrics("", &["--workers", "2"]);
    assert_eq!(server.get("/hello.txt").status, 200);
    let r = scrape(&metrics, "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok\n");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Ready once every loop runs: they start just after the URL line.
    assert!(eventually(Duration::from_secs(5), || scrape(
        &metrics, "/readyz"
    )
    .status
        == 200));
    assert_eq!(scrape(&metrics, "/readyz").body, b"ok\n");
    assert_eq!(scrape(&metrics, "/healthz?probe=lb").status, 200);
    assert_eq!(scrape(&metrics, "/health").status, 404);
    // Health is on the metrics listener only, not among the files.
    assert_eq!(server.get("/healthz").status, 404);
    assert!(server.stop().success());
}

#[test]
fn health_says_503_while_a_slow_download_keeps_the_server_draining() {
    const BIG: u64 = 8 << 20;
    let site = site();
    write_large(&site.path().join("big.bin"), BIG, 7);
    let server = TestServer::start_with_args(
        site.path(),
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[limits]\nshutdown_timeout_secs = 60\n",
        &["--workers", "2"],
    );
    let metrics = metrics_addr(&server);
    assert!(eventually(Duration::from_secs(5), || scrape(
        &metrics, "/readyz"
    )
    .status
        == 200));

    // Downloads that read nothing for now: their responses stay in
    // flight, so the drain cannot end. Several, spread by the kernel over
    // the two loops: the loop holding the metrics listener must keep
    // answering probes while the other loop still has downloads. (Which
    // loop gets which download is the kernel's choice, so this catches a
    // metrics loop that leaves early only when its downloads are not the
    // last ones read: about every other run.)
    let mut downloads: Vec<std::net::TcpStream> = (0..6)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            socket.connect(&server.addr.into()).unwrap();
            let mut download: std::net::TcpStream = socket.into();
            download
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            download
                .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut first = [0u8; 1];
            download.read_exact(&mut first).unwrap();
            download
        })
        .collect();

    signal(&server.child, libc::SIGTERM);
    // A probe connecting just as the drain begins may be closed as idle
    // unanswered (as a balancer's probe would be, and retried): poll.
    let draining = eventually(Duration::from_secs(10), || {
        try_scrape(&metrics, "/healthz").is_some_and(|r| r.status == 503)
    });
    assert!(draining, "/healthz never said 503 after SIGTERM");
    let r = scrape(&metrics, "/healthz");
    assert_eq!((r.status, r.text().as_str()), (503, "draining\n"));
    assert_eq!(scrape(&metrics, "/readyz").status, 503);

    // The downloads complete one by one; until the last is done wharf is
    // still draining, and still answers probes.
    let mut server = server;
    let last = downloads.pop().unwrap();
    for mut download in downloads.into_iter().chain(std::iter::once(last)) {
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "wharf exited mid-download"
        );
        assert_eq!(scrape(&metrics, "/healthz").status, 503);
        let mut rest = Vec::new();
        download.read_to_end(&mut rest).unwrap();
        let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!((rest.len() - head_end) as u64, BIG);
    }
    let status = wait_timeout(&mut server.child, Duration::from_secs(15))
        .expect("wharf exits once the downloads are done");
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_idle_scraper_connection_does_not_hold_the_drain() {
    let (_site, server, metrics) = with_metrics("[limits]\nshutdown_timeout_secs = 60\n", &[]);
    let mut scraper = with_timeouts(std::net::TcpStream::connect(&metrics).unwrap());
    scraper
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut scraper, false).unwrap().status, 200);
    // The keep-alive connection stays open and idle; the drain closes it
    // and ends at once, well before the 60 s grace period.
    let mut server = server;
    signal(&server.child, libc::SIGTERM);
    let status = wait_timeout(&mut server.child, Duration::from_secs(15))
        .expect("wharf exits although a scraper connection is open");
    assert!(status.success());
    assert!(read_to_close(&mut scraper).is_empty());
}

/// `wharf check ARGS...`: its exit code and stderr.
fn check(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(WHARF)
        .arg("check")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "check printed to stdout: {out:?}");
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn check_succeeds_on_2xx_and_fails_with_one_line_otherwise() {
    let (_site, server, metrics) = with_metrics("", &[]);
    assert_eq!(
        check(&[&format!("http://{metrics}/healthz")]),
        (Some(0), String::new())
    );
    assert_eq!(
        check(&[&server.url("/hello.txt")]),
        (Some(0), String::new())
    );

    let (code, stderr) = check(&[&server.url("/missing")]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");

    // A closed port: take a free one, then close it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, stderr) = check(&[&format!("http://{closed}/healthz")]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");

    // A server that accepts but never answers: the timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let (code, stderr) = check(&["--timeout-secs", "1", &format!("http://{silent_addr}/")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no answer within 1 s"), "{stderr}");
    drop(silent);

    let (code, stderr) = check(&["https://example.org/"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("only http://"), "{stderr}");
    assert!(server.stop().success());
}

#[test]
fn check_over_a_unix_socket() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("w.sock");
    let server = TestServer::start_with_args(
        site.path(),
        "",
        &["--listen", &format!("unix:{}", socket.display())],
    );
    let target = format!("unix:{}:/hello.txt", socket.display());
    assert_eq!(check(&[&target]), (Some(0), String::new()));
    let (code, stderr) = check(&[&format!("unix:{}:/nope", socket.display())]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("404"), "{stderr}");
    assert!(server.stop().success());
}
