//! `[http] compress`: a compressible file asked for with `Accept-Encoding`
//! until the compressed answer arrives, so the compression job (on the
//! `wharf-io-compress` lane) and the attaching of its result (on the loop)
//! are in the trace.

use std::path::Path;
use std::time::Duration;

use super::parts::Part;
use crate::harness::{eventually, request_text, write, TestServer};

pub const PART: Part = Part {
    name: "compress",
    files,
    toml: "http.compress = [\"gzip\", \"br\"]",
    traffic,
};

fn files(root: &Path) {
    let line = b"export function item(value) { return { value, label: `item ${value}` }; }\n";
    write(root, "compress/app.js", &line.repeat(400));
}

fn traffic(server: &TestServer) -> usize {
    let mut requests = 0;
    let compressed = eventually(Duration::from_secs(20), || {
        requests += 1;
        let response = server.request(&request_text(
            "GET",
            "/compress/app.js",
            &[("Accept-Encoding", "gzip, br")],
        ));
        response.header("Content-Encoding") == Some("br")
    });
    assert!(compressed, "/compress/app.js never came br-encoded");
    requests
}
