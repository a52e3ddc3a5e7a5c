//! Issue 17's features over real sockets: configured redirects, the
//! single-page-app fallback, clean URLs and CORS, with the hostile cases
//! each must refuse (a fallback never serves a refused path, a redirect
//! never points off-site from request input, a disallowed origin gets no
//! `Access-Control-Allow-Origin`).

use std::time::Duration;

use crate::harness::*;

mod clean_urls;
mod cors;
mod fallback;
mod redirects;

/// A request with `Connection: close` and `headers`.
fn fetch(server: &TestServer, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    server.request(&request_text(method, target, headers))
}

/// Every value of the header `name` (a field may be sent on several lines).
fn all_values(response: &Response, name: &str) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

/// With the metrics listener (its hit counter tells a cache hit from a
/// miss), and cache entries trusted for an hour unless an event ends them.
const CACHE_TOML: &str = "[metrics]\nlisten = \"127.0.0.1:0\"\n[cache]\nrevalidate_secs = 3600\n";

/// Requests answered from the cache so far (the server needs `[metrics]`).
fn cache_hits(server: &TestServer) -> u64 {
    let metrics = scrape(&metrics_addr(server), "/metrics");
    sample(&metrics.text(), "wharf_cache_hits_total")
}

/// Requests `path` until an answer (each `expected`) comes from the cache.
fn warm(server: &TestServer, path: &str, expected: &str) {
    let hit = eventually(Duration::from_secs(10), || {
        let hits = cache_hits(server);
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.text(), expected, "{path}");
        cache_hits(server) > hits
    });
    assert!(hit, "{path} was never answered from the cache");
}

/// Runs wharf on `root` with `toml` as its config file, expecting it to
/// stop at start-up (killed, and the test failed, if it serves instead).
fn run_wharf(root: &std::path::Path, toml: &str) -> Finished {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, toml).unwrap();
    let mut child = Command::new(WHARF)
        .current_dir(dir.path())
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .arg(root)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wharf");
    let status = match wait_timeout(&mut child, Duration::from_secs(10)) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wharf started with {toml:?}");
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Finished {
        status,
        stdout,
        stderr,
    }
}

/// SIGHUP applies every key of these features: a config file rewritten
/// under a running server turns them on, and back off.
#[test]
fn a_reload_applies_the_new_keys() {
    use std::process::Command;
    let site = site();
    write(site.path(), "app.html", b"shell\n");
    write(site.path(), "about.html", b"about\n");
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("wharf.toml");
    std::fs::write(&config, "[log]\naccess = \"off\"\n").unwrap();
    let mut command = Command::new(WHARF);
    command
        .arg("-c")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .arg(site.path());
    let server = TestServer::spawn(command, Some(config_dir));
    let origin = [("Origin", "https://app.example")];
    let state = |server: &TestServer| {
        (
            server.get("/old/x").status,
            server.get("/route").status,
            server.get("/about").status,
            fetch(server, "GET", "/hello.txt", &origin)
                .header("Access-Control-Allow-Origin")
                .map(String::from),
        )
    };
    assert_eq!(state(&server), (404, 404, 404, None));
    std::fs::write(
        &config,
        "[log]\naccess = \"off\"\n[http]\nfallback = \"/app.html\"\ntry_extensions = [\"html\"]\n\
         [[http.redirects]]\nfrom = \"/old/**\"\nto = \"/new/{rest}\"\n\
         [http.cors]\nallow_origins = [\"https://app.example\"]\n",
    )
    .unwrap();
    signal(&server.child, libc::SIGHUP);
    let on = (301, 200, 200, Some("https://app.example".to_string()));
    assert!(eventually(Duration::from_secs(5), || state(&server) == on));
    std::fs::write(&config, "[log]\naccess = \"off\"\n").unwrap();
    signal(&server.child, libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || state(&server)
        == (404, 404, 404, None)));
}
