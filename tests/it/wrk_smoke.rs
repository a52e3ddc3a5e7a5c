//! Load smoke check with the real `wrk`: a few seconds of keep-alive load on
//! a small and a large file must produce zero socket errors and zero non-2xx
//! responses. It measures correctness under load, not speed.
//!
//! Without wrk installed the test says so and passes, unless `CI` is set
//! (as in `.ci/run`, which installs wrk), where a missing wrk is a failure.

use crate::harness::*;

use std::process::Command;

/// Runs wrk and returns its report.
fn wrk(connections: u32, seconds: u32, url: &str) -> String {
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            url,
        ])
        .output()
        .expect("run wrk");
    assert!(output.status.success(), "wrk failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The request count from "N requests in Xs, Y read".
fn requests(report: &str) -> u64 {
    report
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn assert_clean(report: &str, url: &str) {
    println!("wrk {url}:\n{report}");
    assert!(requests(report) > 0, "no requests completed:\n{report}");
    assert!(
        !report.contains("Socket errors"),
        "socket errors:\n{report}"
    );
    assert!(!report.contains("Non-2xx"), "non-2xx responses:\n{report}");
}

#[test]
fn wrk_small_and_large_files_without_errors() {
    if !require_tool("wrk") {
        return;
    }
    let site = site();
    write(site.path(), "1k.bin", &pattern(1024, 1));
    write_large(&site.path().join("8m.bin"), 8 << 20, 2);
    let server = TestServer::start(site.path(), "");
    for (connections, path) in [(64, "/1k.bin"), (16, "/8m.bin"), (64, "/")] {
        let url = server.url(path);
        assert_clean(&wrk(connections, 2, &url), &url);
    }
    // The server is still healthy and shuts down cleanly.
    assert_eq!(server.get("/hello.txt").body, b"hello, world\n");
    assert!(server.stop().success());
}
