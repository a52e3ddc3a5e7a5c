//! HTTP behaviour of the real `wharf` binary, over real sockets: file
//! responses and their headers, HEAD, keep-alive and pipelining, directories,
//! listings, hidden files, methods, malformed requests and limits, the
//! access log and graceful shutdown.
//!
//! One submodule per topic. This file holds what they share: the site's
//! file contents and the raw-socket helpers ([`send`], [`next_response`],
//! [`assert_closed`]) and checks
//! ([`assert_error_page`], [`assert_keeps_alive`]).

mod connections;
mod directories;
mod encoding;
mod files;
mod hidden;
mod listings;
mod log_and_shutdown;
mod malformed;
mod methods;

use crate::harness::*;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const INDEX: &[u8] = b"<!doctype html><title>home</title>home page\n";
const DATA: &[u8] = b"{\"ok\": true}\n";

fn send(stream: &mut TcpStream, raw: &str) {
    stream.write_all(raw.as_bytes()).unwrap();
}

/// Reads one response, failing the test if none arrives.
fn next_response(stream: &mut TcpStream, head_only: bool) -> Response {
    read_response(stream, head_only).expect("a response before EOF")
}

/// Asserts the server closes the connection without sending anything more.
fn assert_closed(stream: &mut TcpStream) {
    let rest = read_until_eof(stream);
    assert!(
        rest.is_empty(),
        "unexpected bytes before EOF: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// An error response: small HTML page naming the status code.
fn assert_error_page(response: &Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.head);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/html; charset=utf-8"),
        "{}",
        response.head
    );
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str())
    );
    let text = response.text();
    assert!(text.contains(&status.to_string()), "body {text:?}");
    assert!(text.to_ascii_lowercase().contains("<html"), "body {text:?}");
    assert!(response.body.len() < 1024, "error page is not small");
}

fn assert_keeps_alive(response: &Response) {
    assert_ne!(
        response.header("Connection"),
        Some("close"),
        "{}",
        response.head
    );
}
