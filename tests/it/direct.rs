//! Small files the hot-file cache does not keep are sent by the open job
//! itself (`disk::direct`): head with `MSG_MORE`, body with `sendfile`,
//! on a duplicate of the socket. The answer must be the one the loop
//! would have given (its answer to HEAD, which is never sent directly, is
//! the reference), in order on a pipelined connection, and whole when the
//! socket fills up and the rest goes back to the loop.

use crate::harness::*;

use std::io::Write;
use std::net::TcpStream;

/// Sizes around the edges: one byte, a typical page, the largest body
/// read whole (64 KiB), and one byte more (streamed, not direct).
const SIZES: [usize; 4] = [1, 6_000, 64 * 1024, 64 * 1024 + 1];

fn body_of(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[i % 27])
        .collect()
}

fn root_with_files() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for size in SIZES {
        write(root.path(), &format!("f{size}.txt"), &body_of(size));
    }
    root
}

/// A config with a rule header, a `Cache-Control` rule and CORS, so the
/// direct head has every kind of field the loop adds; the cache off, so
/// every GET is a miss.
fn toml() -> String {
    "[metrics]\nlisten = \"127.0.0.1:0\"\n[cache]\nenabled = false\n\
     [http]\n[http.cors]\nallow_origins = [\"https://app.example\"]\n\
     [[http.rules]]\nmatch = \"*.txt\"\ncache_control = \"public, max-age=60\"\n\
     headers = { \"X-Rule\" = \"yes\" }\n"
        .to_string()
}

/// The request for `name`, kept alive, with an `Origin`.
fn get(name: &str) -> String {
    request("GET", name)
}

fn request(method: &str, name: &str) -> String {
    format!("{method} /{name} HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n")
}

/// The head's fields without `Date` (which may differ by a second).
fn fields(response: &Response) -> Vec<(String, String)> {
    let mut fields: Vec<_> = response
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("date"))
        .cloned()
        .collect();
    fields.sort();
    fields
}

#[test]
fn a_miss_sent_by_the_pool_has_the_loops_head_and_the_whole_body() {
    let root = root_with_files();
    let direct = TestServer::start(root.path(), &toml());
    let addr = metrics_addr(&direct);
    let mut on_direct = direct.connect();
    for size in SIZES {
        let name = format!("f{size}.txt");
        on_direct
            .write_all(request("HEAD", &name).as_bytes())
            .unwrap();
        let reference = read_response(&mut on_direct, true).unwrap();
        for _ in 0..2 {
            on_direct.write_all(get(&name).as_bytes()).unwrap();
            let r = read_response(&mut on_direct, false).expect("an answer");
            assert_eq!(r.status, 200, "{size}: {}", r.head);
            assert_eq!(r.body, body_of(size), "{size}");
            assert_eq!(fields(&r), fields(&reference), "{size}");
        }
        for expected in [
            ("x-rule", "yes"),
            ("cache-control", "public, max-age=60"),
            ("access-control-allow-origin", "https://app.example"),
            ("vary", "Origin"),
        ] {
            assert_eq!(reference.header(expected.0), Some(expected.1), "{size}");
        }
    }
    // Two GETs each of the three small files.
    assert_eq!(metric_of(&addr, "wharf_direct_sends_total"), 6);
    // HTTP/1.0 with keep-alive is told so, as by the loop.
    let mut old = direct.connect();
    old.write_all(b"GET /f1.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = read_response(&mut old, false).unwrap();
    assert_eq!(r.body, b"a");
    assert_eq!(r.header("connection"), Some("keep-alive"), "{}", r.head);
}

/// 400 pipelined requests, sent at once to a client that reads nothing
/// until all are written, with a small receive buffer: the server's socket
/// fills, so direct sends stop part-way and the loop sends the rest.
/// Every answer arrives whole and in order.
#[test]
fn pipelined_misses_stay_whole_and_in_order_when_the_socket_fills() {
    let root = root_with_files();
    let server = TestServer::start(root.path(), &toml());
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut stream: TcpStream = with_timeouts(socket.into());
    // About 9.5 MB of answers, more than the socket buffers on both ends.
    let order: Vec<usize> = (0..400).map(|i| SIZES[i % 3]).collect();
    let requests: String = order
        .iter()
        .map(|size| get(&format!("f{size}.txt")))
        .collect();
    stream.write_all(requests.as_bytes()).unwrap();
    for (n, size) in order.iter().enumerate() {
        let r = read_response(&mut stream, false).unwrap_or_else(|| panic!("answer {n}"));
        assert_eq!(r.status, 200, "answer {n}: {}", r.head);
        assert_eq!(r.body.len(), *size, "answer {n}");
        assert_eq!(r.body, body_of(*size), "answer {n}");
    }
    let text = scrape(&metrics_addr(&server), "/metrics").text();
    assert!(
        sample(&text, "wharf_direct_sends_partial_total") >= 1,
        "{text}"
    );
}

fn metric_of(addr: &str, name: &str) -> u64 {
    sample(&scrape(addr, "/metrics").text(), name)
}
