//! Loop-purity part: the health probes on the metrics listener
//! (`/healthz`, `/readyz`), answered by a loop from memory. (A request over
//! a Unix socket cannot join the scenario: it passes `--listen`, which
//! replaces the file's `listen` list; tests/it/listen.rs covers that path.)

use std::path::Path;

use super::parts::Part;
use crate::harness::{metrics_addr, scrape, TestServer};

pub const PART: Part = Part {
    name: "health",
    files: no_files,
    toml: "metrics.listen = \"127.0.0.1:0\"",
    traffic,
};

fn no_files(_root: &Path) {}

fn traffic(server: &TestServer) -> usize {
    let metrics = metrics_addr(server);
    for page in ["/healthz", "/readyz"] {
        let r = scrape(&metrics, page);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok\n"[..]), "{page}");
    }
    2
}
