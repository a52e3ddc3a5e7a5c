//! The access log (to a file, to stdout) and the graceful stop with
//! idle keep-alive connections.

use super::*;

use std::time::Instant;

#[test]
fn access_log_file_has_one_combined_line_per_request() {
    let site = site();
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("access.log");
    let server = TestServer::start(
        site.path(),
        &format!("[log]\naccess = {}\n", toml_path(&log_path)),
    );
    let mut stream = server.connect();
    let mut expected = Vec::new();

    send(
        &mut stream,
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: wharf-test/1\r\n\
         Referer: http://ref.example/\r\n\r\n",
    );
    assert_eq!(next_response(&mut stream, false).body, HELLO);
    expected.push(
        "\"GET /hello.txt HTTP/1.1\" 200 13 \"http://ref.example/\" \"wharf-test/1\"".to_string(),
    );

    send(&mut stream, "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    next_response(&mut stream, true);
    expected.push("\"HEAD /hello.txt HTTP/1.1\" 200 0 \"-\" \"-\"".to_string());

    send(&mut stream, "GET /nope.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let not_found = next_response(&mut stream, false);
    assert_eq!(not_found.status, 404);
    expected.push(format!(
        "\"GET /nope.txt HTTP/1.1\" 404 {} \"-\" \"-\"",
        not_found.body.len()
    ));

    send(
        &mut stream,
        "GET /sub?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    let redirect = next_response(&mut stream, false);
    assert_eq!(redirect.status, 301);
    expected.push(format!(
        "\"GET /sub?x=1 HTTP/1.0\" 301 {} \"-\" \"-\"",
        redirect.body.len()
    ));

    send(&mut stream, "POST /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let not_allowed = next_response(&mut stream, false);
    assert_eq!(not_allowed.status, 405);
    expected.push(format!(
        "\"POST /hello.txt HTTP/1.1\" 405 {} \"-\" \"-\"",
        not_allowed.body.len()
    ));

    send(
        &mut stream,
        "GET /data.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(next_response(&mut stream, false).body, DATA);
    expected.push("\"GET /data.json HTTP/1.1\" 200 13 \"-\" \"-\"".to_string());
    assert_closed(&mut stream);

    let status = server.stop();
    assert!(status.success(), "wharf exited with {status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), expected.len(), "log:\n{log}");
    for (line, want) in lines.iter().zip(&expected) {
        let rest = line
            .strip_prefix("127.0.0.1 - - [")
            .unwrap_or_else(|| panic!("bad line start: {line}"));
        let (timestamp, rest) = rest.split_once("] ").expect("timestamp");
        // dd/Mon/yyyy:hh:mm:ss +0000
        assert_eq!(timestamp.len(), 26, "{line}");
        assert!(timestamp.ends_with(" +0000"), "{line}");
        assert_eq!(&timestamp[2..3], "/", "{line}");
        assert_eq!(&timestamp[6..7], "/", "{line}");
        assert_eq!(&timestamp[11..12], ":", "{line}");
        assert_eq!(rest, want, "{line}");
    }
}

#[test]
fn access_log_to_stdout() {
    let site = site();
    let server = TestServer::start(site.path(), "[log]\naccess = \"stdout\"\n");
    assert_eq!(server.get("/hello.txt").body, HELLO);
    assert_eq!(server.get("/missing.txt").status, 404);
    let logged = server.stdout.wait_for(Duration::from_secs(10), |text| {
        text.contains("\"GET /hello.txt HTTP/1.1\" 200 13 ")
            && text.contains("\"GET /missing.txt HTTP/1.1\" 404 ")
    });
    assert!(logged, "stdout: {}", server.stdout.text());
    let text = server.stdout.text();
    let line = text
        .lines()
        .find(|l| l.contains("/hello.txt"))
        .unwrap()
        .to_string();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    let status = server.stop();
    assert!(status.success(), "wharf exited with {status}");
}

#[test]
fn graceful_stop_with_idle_keep_alive_connections() {
    let site = site();
    // One loop, so one accept queue: the request after the silent
    // connection below is accepted after it. (With two loops it could sit
    // unaccepted in the other loop's queue at the stop, which the kernel
    // answers with a reset, not a close.)
    let server = TestServer::start_with_args(site.path(), "", &["--workers", "1"]);
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut stream = server.connect();
        send(&mut stream, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = next_response(&mut stream, false);
        assert_eq!(response.body, HELLO);
        assert_keeps_alive(&response);
        idle.push(stream);
    }
    // One that connected but never sent anything; make sure it was accepted
    // by completing a request on another connection after it.
    let silent = server.connect();
    assert_eq!(server.get("/").status, 200);
    idle.push(silent);

    let started = Instant::now();
    let status = server.stop();
    assert_eq!(status.code(), Some(0), "wharf exited with {status}");
    // Idle connections must not hold shutdown until its timeout (10 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    for mut stream in idle {
        assert_closed(&mut stream);
    }
}
