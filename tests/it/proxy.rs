//! Behind a proxy, on the real binary over real sockets: the client
//! address that `[log] trusted_proxies` takes from `X-Forwarded-For` (and
//! only from trusted peers), the PROXY protocol v1 and v2 headers of
//! `[server] proxy_protocol` (a request in the same write, a header split
//! over several writes, truncated, late or missing headers closed without
//! an answer and counted), in every access-log format, and the start-up
//! errors of both keys.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{
    assert_one_line_error, eventually, metrics_addr, read_response, read_to_close, sample, scrape,
    signal, site, toml_path, Finished, TestServer, WHARF,
};

const WAIT: Duration = Duration::from_secs(10);

/// A server on a temp site logging to a file, with `extra` TOML lines
/// (`[log] format`, `trusted_proxies` and `[server]` keys go in `log` and
/// `server`).
struct Proxied {
    server: TestServer,
    log: PathBuf,
    _site: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

fn start(server_keys: &str, log_keys: &str) -> Proxied {
    let site = site();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let toml = format!(
        "[server]\n{server_keys}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [log]\naccess = {}\n{log_keys}\n",
        toml_path(&log)
    );
    let server = TestServer::start(site.path(), &toml);
    Proxied {
        server,
        log,
        _site: site,
        _logs: logs,
    }
}

impl Proxied {
    /// The access-log line whose request has `marker` in its target, once
    /// it is written.
    fn line(&self, marker: &str) -> String {
        let mut found = None;
        let logged = eventually(WAIT, || {
            found = read(&self.log)
                .lines()
                .find(|l| l.contains(marker))
                .map(String::from);
            found.is_some()
        });
        assert!(logged, "no line for {marker}: {}", read(&self.log));
        found.unwrap()
    }

    /// Sends `bytes` in one write on a new connection; the response.
    fn send(&self, bytes: &[u8]) -> u16 {
        let mut stream = self.server.connect();
        stream.write_all(bytes).unwrap();
        read_response(&mut stream, false)
            .expect("a response")
            .status
    }

    fn rejected(&self) -> u64 {
        let addr = metrics_addr(&self.server);
        sample(
            &scrape(&addr, "/metrics").text(),
            "wharf_proxy_protocol_rejected_total",
        )
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A GET of `/hello.txt?MARKER` with extra header lines.
fn get(marker: &str, headers: &str) -> String {
    format!("GET /hello.txt?{marker} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n")
}

/// The client address a combined or common line starts with.
fn remote(line: &str) -> &str {
    line.split(' ').next().unwrap()
}

// ---------------------------------------------------------------------------
// X-Forwarded-For.

#[test]
fn a_trusted_proxy_names_the_client_in_every_format() {
    for format in ["combined", "common", "json"] {
        let p = start(
            "",
            &format!("format = \"{format}\"\ntrusted_proxies = [\"127.0.0.1/32\", \"::1/128\"]"),
        );
        let marker = format!("xff-{format}");
        assert_eq!(
            p.send(get(&marker, "X-Forwarded-For: 203.0.113.7\r\n").as_bytes()),
            200
        );
        let line = p.line(&marker);
        if format == "json" {
            assert!(line.contains("\"remote\":\"203.0.113.7\""), "{line}");
        } else {
            assert_eq!(remote(&line), "203.0.113.7", "{line}");
        }
        // Without the header, the peer itself.
        assert_eq!(p.send(get(&format!("plain-{format}"), "").as_bytes()), 200);
        let line = p.line(&format!("plain-{format}"));
        assert!(line.contains("127.0.0.1"), "{line}");
    }
}

#[test]
fn an_untrusted_peer_cannot_spoof_its_address() {
    for trusted in ["", "trusted_proxies = [\"10.0.0.0/8\"]"] {
        let p = start("", trusted);
        assert_eq!(
            p.send(get("spoof", "X-Forwarded-For: 6.6.6.6\r\n").as_bytes()),
            200
        );
        let line = p.line("spoof");
        assert_eq!(remote(&line), "127.0.0.1", "{trusted:?}: {line}");
        assert!(!line.contains("6.6.6.6"), "{line}");
    }
}

#[test]
fn a_chain_of_proxies_yields_the_last_untrusted_hop() {
    let p = start("", "trusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]");
    // The client wrote 6.6.6.6 itself; the first proxy it reached saw
    // 198.51.100.2; two more trusted hops followed, the last one in a
    // field of its own.
    let chain = "X-Forwarded-For: 6.6.6.6, 198.51.100.2, 10.0.0.5\r\nX-Forwarded-For: 10.0.0.6\r\n";
    assert_eq!(p.send(get("chain", chain).as_bytes()), 200);
    assert_eq!(remote(&p.line("chain")), "198.51.100.2");
    // Every hop trusted: the leftmost.
    let inner = "X-Forwarded-For: 10.1.1.1, 10.2.2.2\r\n";
    assert_eq!(p.send(get("inner", inner).as_bytes()), 200);
    assert_eq!(remote(&p.line("inner")), "10.1.1.1");
    // A malformed element stops the walk at the last good address.
    let broken = "X-Forwarded-For: 198.51.100.3, garbage, 10.0.0.8\r\n";
    assert_eq!(p.send(get("broken", broken).as_bytes()), 200);
    assert_eq!(remote(&p.line("broken")), "10.0.0.8");
    // Pipelined on one connection: each request its own client.
    let mut stream = p.server.connect();
    let two = format!(
        "GET /hello.txt?first HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n{}",
        get("second", "X-Forwarded-For: 192.0.2.2\r\n")
    );
    stream.write_all(two.as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);
    assert_eq!(remote(&p.line("first")), "192.0.2.1");
    assert_eq!(remote(&p.line("second")), "192.0.2.2");
}

// ---------------------------------------------------------------------------
// The PROXY protocol.

const PROXY_ON: &str = "proxy_protocol = true";

/// A version 2 header: PROXY command, TCP over `family`, `addresses`.
fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(command);
    out.push(family);
    out.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
    out.extend_from_slice(addresses);
    out
}

fn v2_ipv6(source: [u8; 16]) -> Vec<u8> {
    let mut body = source.to_vec();
    body.extend_from_slice(&[0; 15]);
    body.push(1); // destination ::1
    body.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]); // ports 12345, 80
    body.extend_from_slice(&[0x03, 0x00, 0x04, 0, 0, 0, 0]); // a TLV, skipped
    v2(0x21, 0x21, &body)
}

#[test]
fn proxy_v1_header_and_request_in_one_write() {
    let p = start(PROXY_ON, "");
    let mut bytes = b"PROXY TCP4 203.0.113.9 127.0.0.1 4321 80\r\n".to_vec();
    bytes.extend_from_slice(get("v1", "").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    assert_eq!(remote(&p.line("v1")), "203.0.113.9");
    // UNKNOWN keeps the real peer.
    let mut bytes = b"PROXY UNKNOWN\r\n".to_vec();
    bytes.extend_from_slice(get("unknown", "").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    assert_eq!(remote(&p.line("unknown")), "127.0.0.1");
    assert_eq!(p.rejected(), 0);
}

#[test]
fn proxy_v2_header_and_request_in_one_write() {
    let p = start(PROXY_ON, "format = \"json\"");
    let mut source = [0u8; 16];
    source[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    source[15] = 9;
    let mut bytes = v2_ipv6(source);
    bytes.extend_from_slice(get("v2six", "").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    let line = p.line("v2six");
    assert!(line.contains("\"remote\":\"2001:db8::9\""), "{line}");
    // IPv4.
    let mut bytes = v2(
        0x21,
        0x11,
        &[198, 51, 100, 20, 127, 0, 0, 1, 0x10, 0x00, 0, 80],
    );
    bytes.extend_from_slice(get("v2four", "").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    assert!(p.line("v2four").contains("\"remote\":\"198.51.100.20\""));
    // LOCAL (a health check through the balancer): the real peer.
    let mut bytes = v2(0x20, 0x00, &[]);
    bytes.extend_from_slice(get("v2local", "").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    assert!(p.line("v2local").contains("\"remote\":\"127.0.0.1\""));
}

#[test]
fn proxy_header_split_over_several_writes() {
    let p = start(PROXY_ON, "");
    let mut stream = p.server.connect();
    stream.set_nodelay(true).unwrap();
    let mut bytes = b"PROXY TCP4 192.0.2.33 127.0.0.1 5555 80\r\n".to_vec();
    bytes.extend_from_slice(get("split", "").as_bytes());
    // Pieces cut inside the header, at its end and inside the request. The
    // pauses only make separate segments likely; the test holds either way.
    for piece in [
        &bytes[..3],
        &bytes[3..20],
        &bytes[20..41],
        &bytes[41..],
        &[][..],
    ] {
        if !piece.is_empty() {
            stream.write_all(piece).unwrap();
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);
    assert_eq!(remote(&p.line("split")), "192.0.2.33");
    // Version 2, byte by byte across its signature.
    let mut stream = p.server.connect();
    stream.set_nodelay(true).unwrap();
    let mut bytes = v2(0x21, 0x11, &[192, 0, 2, 44, 127, 0, 0, 1, 0, 1, 0, 80]);
    bytes.extend_from_slice(get("split2", "").as_bytes());
    for (i, byte) in bytes.iter().enumerate() {
        stream.write_all(&[*byte]).unwrap();
        if i < 30 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);
    assert_eq!(remote(&p.line("split2")), "192.0.2.44");
}

#[test]
fn the_proxy_header_address_decides_trust() {
    let p = start(PROXY_ON, "trusted_proxies = [\"10.0.0.0/8\"]");
    // The balancer reports a trusted proxy in front of it: its
    // X-Forwarded-For counts.
    let mut bytes = b"PROXY TCP4 10.3.3.3 127.0.0.1 4000 80\r\n".to_vec();
    bytes.extend_from_slice(get("viaproxy", "X-Forwarded-For: 192.0.2.77\r\n").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    assert_eq!(remote(&p.line("viaproxy")), "192.0.2.77");
    // The balancer reports an ordinary client: its header is ignored.
    let mut bytes = b"PROXY TCP4 198.51.100.8 127.0.0.1 4000 80\r\n".to_vec();
    bytes.extend_from_slice(get("direct", "X-Forwarded-For: 6.6.6.6\r\n").as_bytes());
    assert_eq!(p.send(&bytes), 200);
    assert_eq!(remote(&p.line("direct")), "198.51.100.8");
}

/// Sends `bytes`, optionally shuts the write side, and returns all the
/// server sent before closing.
fn unanswered(p: &Proxied, bytes: &[u8], shut: bool) -> Vec<u8> {
    let mut stream: TcpStream = p.server.connect();
    stream.write_all(bytes).unwrap();
    if shut {
        stream.shutdown(Shutdown::Write).unwrap();
    }
    read_to_close(&mut stream)
}

#[test]
fn bad_or_missing_proxy_headers_close_without_an_answer() {
    let p = start(PROXY_ON, "");
    let truncated_v2 = v2(0x21, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let plain = get("nohead", "");
    let bad_command = v2(0x2f, 0x11, &[0; 12]);
    let cases: [(&[u8], bool); 6] = [
        // Truncated: the client closes mid-header.
        (b"PROXY TCP4 203.0.113.9 127.0", true),
        (&truncated_v2[..20], true),
        // Missing: a plain request.
        (plain.as_bytes(), false),
        // Garbage: a TLS hello, a malformed v1 line, a v2 with a bad command.
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\nGET / HTTP/1.1\r\n\r\n",
            false,
        ),
        (&bad_command, false),
    ];
    for (i, (bytes, shut)) in cases.iter().enumerate() {
        let got = unanswered(&p, bytes, *shut);
        assert!(
            got.is_empty(),
            "case {i}: answered {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    let count = cases.len() as u64;
    assert!(
        eventually(WAIT, || p.rejected() == count),
        "rejected {} of {count}",
        p.rejected()
    );
    // Nothing was logged for them, and the server still serves.
    let mut ok = b"PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\n".to_vec();
    ok.extend_from_slice(get("after", "").as_bytes());
    assert_eq!(p.send(&ok), 200);
    p.line("after");
    let served = read(&p.log);
    let lines: Vec<&str> = served
        .lines()
        .filter(|l| !l.contains("GET /metrics "))
        .collect();
    assert_eq!(lines.len(), 1, "{served}");
    // A connection closed before its first byte (a TCP health check) is
    // not a bad header.
    let quiet = unanswered(&p, b"", true);
    assert!(quiet.is_empty());
    assert_eq!(p.rejected(), count);
}

#[test]
fn a_proxy_header_must_arrive_within_the_header_timeout() {
    let p = start(PROXY_ON, "[limits]\nheader_timeout_secs = 1");
    let mut stream = p.server.connect();
    stream.write_all(b"PROXY TCP4 203.0.113.9").unwrap();
    // The server closes it (the read ends) with no answer.
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(eventually(WAIT, || p.rejected() == 1));
}

// ---------------------------------------------------------------------------
// Reload.

/// SIGHUP applies both keys: `trusted_proxies` to the next request,
/// `proxy_protocol` to connections accepted afterwards.
#[test]
fn a_reload_applies_both_keys() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let config = dir.path().join("wharf.toml");
    let write_config = |server_keys: &str, log_keys: &str| {
        let text = format!(
            "[server]\n{server_keys}\n[log]\naccess = {}\n{log_keys}\n",
            toml_path(&log)
        );
        std::fs::write(&config, text).unwrap();
    };
    write_config("", "");
    let mut command = Command::new(WHARF);
    command
        .args(["--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(site.path());
    let server = TestServer::spawn(command, None);
    let line = |marker: &str| {
        let mut found = None;
        assert!(eventually(WAIT, || {
            found = read(&log)
                .lines()
                .find(|l| l.contains(marker))
                .map(String::from);
            found.is_some()
        }));
        found.unwrap()
    };
    let send = |bytes: &[u8]| {
        let mut stream = server.connect();
        stream.write_all(bytes).unwrap();
        read_response(&mut stream, false).map(|r| r.status)
    };
    let reload = |server: &TestServer, count: usize| {
        signal(&server.child, libc::SIGHUP);
        assert!(server
            .stderr
            .wait_for(WAIT, |t| t.matches("reloaded the configuration").count()
                == count));
    };
    let xff = get("before", "X-Forwarded-For: 192.0.2.9\r\n");
    assert_eq!(send(xff.as_bytes()), Some(200));
    assert_eq!(remote(&line("before")), "127.0.0.1");

    write_config("", "trusted_proxies = [\"127.0.0.1/32\"]");
    reload(&server, 1);
    let xff = get("trusted", "X-Forwarded-For: 192.0.2.9\r\n");
    assert_eq!(send(xff.as_bytes()), Some(200));
    assert_eq!(remote(&line("trusted")), "192.0.2.9");

    // A connection accepted before proxy_protocol is turned on goes on
    // without a header; new ones need one.
    let mut open = server.connect();
    write_config("proxy_protocol = true", "");
    reload(&server, 2);
    assert_eq!(send(get("plain", "").as_bytes()), None);
    let mut bytes = b"PROXY TCP4 198.51.100.5 127.0.0.1 1 80\r\n".to_vec();
    bytes.extend_from_slice(get("headed", "").as_bytes());
    assert_eq!(send(&bytes), Some(200));
    assert_eq!(remote(&line("headed")), "198.51.100.5");
    open.write_all(get("older", "").as_bytes()).unwrap();
    assert_eq!(read_response(&mut open, false).unwrap().status, 200);
    assert_eq!(remote(&line("older")), "127.0.0.1");
}

// ---------------------------------------------------------------------------
// Start-up errors.

fn startup_error(toml: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("bad.toml"), toml).unwrap();
    let output = Command::new(WHARF)
        .current_dir(dir.path())
        .args(["-c", "bad.toml", "--listen", "127.0.0.1:0", "site"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_one_line_error(&Finished::from(output), needles);
}

#[test]
fn bad_proxy_settings_stop_start_up_with_one_line() {
    startup_error(
        "[log]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/40\"]\n",
        &["[log] trusted_proxies", "10.0.0.0/40"],
    );
    startup_error(
        "[log]\ntrusted_proxies = [\"proxy.internal\"]\n",
        &["[log] trusted_proxies", "proxy.internal"],
    );
    startup_error(
        "[log]\ntrusted_proxies = [\"10.0.0.1/8\"]\n",
        &["[log] trusted_proxies", "10.0.0.1/8"],
    );
    startup_error(
        "[log]\ntrusted_proxies = \"10.0.0.0/8\"\n",
        &["[log] trusted_proxies", "list"],
    );
    startup_error(
        "[server]\nproxy_protocol = \"yes\"\n",
        &["[server] proxy_protocol", "true or false"],
    );
}
