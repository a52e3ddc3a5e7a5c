//! What a miss costs the pool in opens, from outside: wharf under
//! `strace -f -e trace=openat,openat2`, each of a set of files requested
//! once, then the trace read. A miss opens its file once (no second open to
//! learn whether a symlink was on the way) and probes no precompressed
//! sidecar that does not exist (the file watcher knows which do).

use super::*;

use std::path::Path;
use std::time::Duration;

use crate::harness::{require_tool_with, wait_timeout, write, WHARF};

const FILES: usize = 20;

/// The opens of exactly `name` (a path relative to the root) in `trace`.
fn opens_of(trace: &str, name: &str) -> usize {
    let quoted = format!("\"{name}\"");
    trace
        .lines()
        .filter(|line| line.contains("openat") && line.contains(&quoted))
        .count()
}

#[test]
fn a_miss_opens_its_file_once_and_probes_no_missing_sidecar() {
    if require_tool_with("strace", strace_can_trace).is_none() {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let base_path = std::fs::canonicalize(base.path()).unwrap();
    let root = base_path.join("site");
    for i in 0..FILES {
        write(
            &root,
            &format!("f{i}.txt"),
            format!("file {i}\n").as_bytes(),
        );
    }
    write(&root, "style.css", b"body { color: red }\n");
    write(&root, "style.css.gz", b"not really gzip, but a sidecar\n");
    let trace_path = base_path.join("trace.txt");
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-e", "trace=openat,openat2", "-o"])
        .arg(&trace_path)
        .arg(WHARF)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--io-threads",
            "2",
        ])
        .arg(&root)
        .current_dir(&base_path);
    let mut traced = Traced::start(command);
    let wharf_pid = traced.wharf_pid();

    for i in 0..FILES {
        let response = traced.server.request(&format!(
            "GET /f{i}.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br, zstd\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), format!("file {i}\n"));
    }
    let css = traced.server.request(
        "GET /style.css HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(css.header("content-encoding"), Some("gzip"), "{}", css.head);

    // SAFETY: signalling strace's child, which is still running.
    unsafe {
        libc::kill(wharf_pid, libc::SIGTERM);
    }
    let status = wait_timeout(&mut traced.server.child, Duration::from_secs(15))
        .expect("strace exits after wharf is sent SIGTERM");
    traced.finished = true;
    assert_eq!(status.code(), Some(0), "{}", traced.server.stderr.text());
    let trace = std::fs::read_to_string(&trace_path).expect("strace wrote its trace");
    if let Some(keep) = std::env::var_os("WHARF_KEEP_TRACE") {
        std::fs::write(&keep, &trace).unwrap();
        eprintln!("trace kept in {}", Path::new(&keep).display());
    }

    for i in 0..FILES {
        let name = format!("f{i}.txt");
        assert_eq!(opens_of(&trace, &name), 1, "opens of {name}");
        for extension in ["br", "zst", "gz"] {
            assert_eq!(
                opens_of(&trace, &format!("{name}.{extension}")),
                0,
                "{name}.{extension} does not exist, yet it was probed"
            );
        }
    }
    // The sidecar that exists is found (the positive control).
    assert!(
        opens_of(&trace, "style.css.gz") >= 1,
        "style.css.gz never opened"
    );
    assert_eq!(opens_of(&trace, "style.css.br"), 0);
}
