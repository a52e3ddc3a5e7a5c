//! The metrics listener (`[metrics] listen`), the SIGUSR2 stats dump and the
//! exit summary, against a real wharf.

use crate::harness::*;

use std::io::Write;
use std::time::Duration;

#[test]
fn metrics_count_what_was_served() {
    let site = site();
    let server = TestServer::start(
        site.path(),
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[limits]\nkeepalive_timeout_secs = 1\n",
    );
    let addr = metrics_addr(&server);
    for _ in 0..3 {
        assert_eq!(server.get("/hello.txt").status, 200);
    }
    assert_eq!(server.get("/missing").status, 404);
    // One idle keep-alive connection that times out.
    let mut idle = server.connect();
    idle.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_response(&mut idle, false).unwrap();
    assert!(read_to_close(&mut idle).is_empty());

    let response = scrape(&addr, "/metrics");
    assert_eq!(response.status, 200);
    assert!(response
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text();
    assert!(sample(&text, "wharf_responses_total{class=\"2xx\"}") >= 4);
    assert_eq!(sample(&text, "wharf_responses_total{class=\"4xx\"}"), 1);
    assert!(sample(&text, "wharf_connections_accepted_total") >= 5);
    assert_eq!(
        sample(
            &text,
            "wharf_connections_closed_total{reason=\"idle_timeout\"}"
        ),
        1
    );
    assert!(sample(&text, "wharf_response_body_bytes_total") >= 4 * 13);
    assert!(sample(&text, "wharf_cache_hits_total") >= 1);
    assert!(sample(&text, "wharf_request_duration_seconds_count") >= 5);
    assert!(sample(&text, "wharf_io_job_seconds_count") >= 1);
    // Directory indexes are cached too: `/` three more times, two hits.
    let hits_before = sample(&text, "wharf_cache_hits_total");
    for _ in 0..3 {
        assert_eq!(server.get("/").status, 200);
    }
    let text = scrape(&addr, "/metrics").text();
    assert!(
        sample(&text, "wharf_cache_hits_total") >= hits_before + 2,
        "{text}"
    );
    // Other paths on the metrics listener are 404; files are not served there.
    assert_eq!(scrape(&addr, "/hello.txt").status, 404);
}

#[test]
fn sigusr2_prints_stats_and_the_summary_comes_at_exit() {
    let site = site();
    let server = TestServer::start(site.path(), "[metrics]\nsummary = true\n");
    assert_eq!(server.get("/hello.txt").status, 200);
    signal(&server.child, libc::SIGUSR2);
    assert!(
        server
            .stderr
            .wait_for(Duration::from_secs(5), |t| t.contains("wharf summary")),
        "no stats after SIGUSR2: {}",
        server.stderr.text()
    );
    let stderr = server.stderr.clone();
    assert!(server.stop().success());
    assert!(stderr.wait_for(Duration::from_secs(5), |t| t
        .matches("wharf summary")
        .count()
        == 2));
    let text = stderr.text();
    assert!(text.contains("2xx 1"), "{text}");
    assert!(text.contains("p99"), "{text}");
}

#[test]
fn a_pipelining_client_yields_the_loop_and_gets_every_answer_in_order() {
    let site = site();
    let server = TestServer::start(
        site.path(),
        "[server]\nworkers = 1\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    let addr = metrics_addr(&server);
    assert_eq!(server.get("/hello.txt").status, 200); // now a cache hit
                                                      // Requests answered on the loop itself, many more than one turn's worth.
    let kinds = [
        ("GET /hello.txt", 200),
        ("OPTIONS *", 204),
        ("GET /.hidden", 404),
        ("HEAD /hello.txt", 200),
    ];
    let count = 400;
    let mut raw = String::new();
    for i in 0..count {
        let (line, _) = kinds[i % kinds.len()];
        raw.push_str(&format!("{line} HTTP/1.1\r\nHost: t\r\nX-Seq: {i}\r\n\r\n"));
    }
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    for i in 0..count {
        let (line, status) = kinds[i % kinds.len()];
        let response = read_response(&mut stream, line.starts_with("HEAD"))
            .unwrap_or_else(|| panic!("no answer #{i} ({line})"));
        assert_eq!(response.status, status, "#{i} {line}");
        if i % kinds.len() == 0 {
            assert_eq!(response.body, b"hello, world\n");
        }
    }
    let metrics = scrape(&addr, "/metrics").text();
    let yielded: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wharf_turns_yielded_total "))
        .expect("the counter is exported")
        .parse()
        .unwrap();
    assert!(
        yielded >= 1,
        "400 pipelined requests never yielded the loop"
    );
}
