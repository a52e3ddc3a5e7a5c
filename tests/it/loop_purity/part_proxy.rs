//! The loop-purity part for running behind a proxy: requests whose
//! `X-Forwarded-For` a trusted peer (`log.trusted_proxies`) vouches for,
//! on fresh and keep-alive connections, including a multi-hop chain and a
//! malformed element. (`server.proxy_protocol` stays off: the base
//! scenario's connections send no PROXY header.)

use std::io::Write;
use std::path::Path;

use super::parts::Part;
use crate::harness::{read_response, write, TestServer};

pub const PART: Part = Part {
    name: "proxy",
    files: |root: &Path| {
        write(root, "proxied.txt", b"behind a proxy\n");
    },
    toml: "log.trusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]",
    traffic,
};

fn traffic(server: &TestServer) -> usize {
    let chains = [
        "203.0.113.7",
        "6.6.6.6, 198.51.100.2, 10.0.0.5",
        "198.51.100.3, garbage, 10.0.0.8",
    ];
    let mut logged = 0;
    for chain in chains {
        let r = server.request(&format!(
            "GET /proxied.txt HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {chain}\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(r.status, 200, "{chain}");
        logged += 1;
    }
    let mut stream = server.connect();
    for chain in chains {
        stream
            .write_all(
                format!(
                    "GET /proxied.txt HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {chain}\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        let r = read_response(&mut stream, false).expect("a response");
        assert_eq!(r.status, 200, "{chain}");
        logged += 1;
    }
    logged
}
