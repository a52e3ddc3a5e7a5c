//! Passwords (`auth` in `[[http.rules]]`): Basic credentials checked
//! against an htpasswd file of bcrypt hashes, on the pool's password
//! lanes. The files are made here with the bcrypt crate, at the lowest
//! cost (4) unless a test needs real work (the flood: cost 10).

use crate::harness::*;

use std::io::Write;
use std::net::Shutdown;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// An htpasswd file's text, as `htpasswd -B -C cost` writes it (`$2y$`).
fn htpasswd(users: &[(&str, &str)], cost: u32) -> String {
    let mut text = String::from("# made by the test\n\n");
    for (user, password) in users {
        let hash = bcrypt::hash(password, cost)
            .unwrap()
            .replace("$2b$", "$2y$");
        text.push_str(&format!("{user}:{hash}\n"));
    }
    text
}

/// The `Authorization` value of Basic credentials.
fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// The root: `private/` (protected) with a file, a listing and a dotfile;
/// `public/small.txt` (not protected).
fn protected_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "private/secret.txt", b"the secret\n");
    write(root.path(), "private/docs/a.txt", b"a\n");
    write(root.path(), "private/.hidden", b"hidden\n");
    write(root.path(), "public/small.txt", b"small and public\n");
    root
}

/// A password file outside the root, with `alice:wonderland`.
struct Passwords {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn passwords(users: &[(&str, &str)], cost: u32) -> Passwords {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, htpasswd(users, cost)).unwrap();
    Passwords { _dir: dir, path }
}

/// The TOML of a rule protecting `/private/**` with `file`, and metrics.
/// Wrong passwords are answered at once (`auth_failure_delay_secs = 0`)
/// unless `extra` says otherwise; `extra` goes into `[http]`, and may
/// open tables of its own.
fn auth_toml(file: &Path, extra: &str) -> String {
    let delay = if extra.contains("auth_failure_delay_secs") {
        ""
    } else {
        "auth_failure_delay_secs = 0\n"
    };
    format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[http]\n{delay}{extra}\n[[http.rules]]\nmatch = \"/private/**\"\nauth = {}\nrealm = \"Staff only\"\n",
        toml_path(file)
    )
}

/// A server as [`auth_toml`] makes it, for alice (cost 4), holding wrong
/// passwords back `auth_failure_delay_secs = 1`, with `extra` config after
/// that; and its metrics address. The server goes first when dropped, then
/// its files.
struct HoldingServer {
    server: TestServer,
    metrics: String,
    _root: tempfile::TempDir,
    _file: Passwords,
}

fn server_holding_failures(extra: &str) -> HoldingServer {
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland")], 4);
    let server = TestServer::start(
        root.path(),
        &auth_toml(&file.path, &format!("auth_failure_delay_secs = 1\n{extra}")),
    );
    let metrics = metrics_addr(&server);
    HoldingServer {
        server,
        metrics,
        _root: root,
        _file: file,
    }
}

/// `GET path` on a new connection, with credentials if given.
fn get_as(server: &TestServer, path: &str, authorization: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    server.request(&request_text("GET", path, &headers))
}

fn metric(addr: &str, name: &str) -> u64 {
    sample(&scrape(addr, "/metrics").text(), name)
}

const CHALLENGE: &str = "Basic realm=\"Staff only\", charset=\"UTF-8\"";

#[test]
fn no_credentials_get_401_with_the_challenge_on_a_kept_connection() {
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland")], 4);
    let server = TestServer::start(root.path(), &auth_toml(&file.path, ""));
    let mut stream = server.connect();
    stream
        .write_all(b"GET /private/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!(r.status, 401, "{}", r.head);
    assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
    assert!(r.text().contains("401 Unauthorized"), "{}", r.text());
    assert!(r.body.len() < 512, "a small body: {} bytes", r.body.len());
    assert!(!r.text().contains("the secret"));
    // The browser asks for the password and retries on the same connection.
    let retry = format!(
        "GET /private/secret.txt HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\n\r\n",
        basic("alice", "wonderland")
    );
    stream.write_all(retry.as_bytes()).unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"the secret\n");
    // HEAD too, without a body.
    let r =
        server.request("HEAD /private/secret.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
}

#[test]
fn wrong_passwords_unknown_users_and_garbage_get_401() {
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland"), ("bob", "builder")], 4);
    let server = TestServer::start(root.path(), &auth_toml(&file.path, ""));
    let addr = metrics_addr(&server);
    let refused = [
        basic("alice", "Wonderland"),
        basic("alice", "wonderland "),
        basic("alice", "builder"),
        basic("carol", "wonderland"),
        basic("Alice", "wonderland"),
        basic("", "wonderland"),
        "Basic !!!not-base64".to_string(),
        "Bearer wonderland".to_string(),
        format!("Digest {}", &basic("alice", "wonderland")[6..]),
        "Basic".to_string(),
    ];
    for value in &refused {
        let r = get_as(&server, "/private/secret.txt", Some(value));
        assert_eq!(r.status, 401, "{value:?} was let in");
        assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
        assert!(!r.text().contains("the secret"));
    }
    for (user, password) in [("alice", "wonderland"), ("bob", "builder")] {
        let r = get_as(&server, "/private/secret.txt", Some(&basic(user, password)));
        assert_eq!(r.status, 200, "{user}");
    }
    let text = scrape(&addr, "/metrics").text();
    assert_eq!(
        sample(&text, "wharf_auth_failures_total"),
        refused.len() as u64
    );
    assert_eq!(sample(&text, "wharf_auth_successes_total"), 2);
    // Every readable Basic credential was checked with bcrypt, those of
    // unknown users ("carol", "Alice") too: 3 wrong passwords of a listed
    // user, 2 unknown users and the 2 right ones. The rest (an empty
    // user-id, bad base64, other schemes) never reach bcrypt.
    assert_eq!(sample(&text, "wharf_auth_checks_total"), 3 + 2 + 2);
}

#[test]
fn everything_under_the_path_says_401_first_and_nothing_else_is_protected() {
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland")], 4);
    let server = TestServer::start(root.path(), &auth_toml(&file.path, ""));
    let alice = basic("alice", "wonderland");
    let table = [
        ("/private/secret.txt", 200),
        ("/private/missing.txt", 404),
        ("/private/.hidden", 404),
        ("/private/docs/", 200),
        ("/private/docs", 301),
        ("/private/", 200),
    ];
    for (path, with_password) in table {
        let r = get_as(&server, path, None);
        assert_eq!(r.status, 401, "{path} without a password");
        assert_eq!(r.header("www-authenticate"), Some(CHALLENGE), "{path}");
        let r = get_as(&server, path, Some(&alice));
        assert_eq!(r.status, with_password, "{path} with the password");
    }
    // Other spellings of the same paths are the same paths.
    for path in [
        "//private/secret.txt",
        "/./private/secret.txt",
        "/%70rivate/secret.txt",
        "/private//secret.txt",
        "/private/./secret.txt",
        "http://t/private/secret.txt",
    ] {
        assert_eq!(get_as(&server, path, None).status, 401, "{path}");
    }
    // Outside the rule: no password needed, none asked for. `/private`
    // itself is only a redirect to the protected `/private/`.
    let r = get_as(&server, "/public/small.txt", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("www-authenticate"), None);
    let r = get_as(&server, "/private", None);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/private/"));
    assert_eq!(
        get_as(&server, "/public/small.txt", Some(&alice)).status,
        200
    );
    // Methods that tell nothing about the files are answered as anywhere:
    // a CORS preflight never carries credentials.
    let options = request_text("OPTIONS", "/private/secret.txt", &[("Accept", "*/*")]);
    assert_eq!(server.request(&options).status, 204);
    let delete = request_text("DELETE", "/private/secret.txt", &[("Accept", "*/*")]);
    assert_eq!(server.request(&delete).status, 405);
}

#[test]
fn a_cached_file_is_never_served_without_the_check() {
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland")], 4);
    let server = TestServer::start(root.path(), &auth_toml(&file.path, ""));
    let addr = metrics_addr(&server);
    let alice = basic("alice", "wonderland");
    assert_eq!(
        get_as(&server, "/private/secret.txt", Some(&alice)).status,
        200
    );
    let hits = metric(&addr, "wharf_cache_hits_total");
    let r = get_as(&server, "/private/secret.txt", Some(&alice));
    assert_eq!(r.status, 200);
    assert!(
        metric(&addr, "wharf_cache_hits_total") > hits,
        "the second answer did not come from the cache"
    );
    // The file is in the cache now: still 401 without the password.
    let hits = metric(&addr, "wharf_cache_hits_total");
    for authorization in [None, Some(basic("alice", "nope"))] {
        let r = get_as(&server, "/private/secret.txt", authorization.as_deref());
        assert_eq!(r.status, 401);
        assert!(!r.text().contains("the secret"));
    }
    assert_eq!(metric(&addr, "wharf_cache_hits_total"), hits);
}

#[test]
fn a_keep_alive_page_load_pays_bcrypt_once() {
    let root = protected_root();
    for asset in ["app.css", "app.js", "logo.svg", "font.woff2"] {
        write(root.path(), &format!("private/{asset}"), asset.as_bytes());
    }
    write(root.path(), "private/index.html", b"<p>index</p>\n");
    let file = passwords(&[("alice", "wonderland")], 4);
    let server = TestServer::start(root.path(), &auth_toml(&file.path, ""));
    let addr = metrics_addr(&server);
    let alice = basic("alice", "wonderland");
    let mut stream = server.connect();
    let paths = [
        "/private/",
        "/private/app.css",
        "/private/app.js",
        "/private/logo.svg",
        "/private/font.woff2",
        "/private/app.css",
    ];
    for path in paths {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {alice}\r\n\r\n");
        stream.write_all(raw.as_bytes()).unwrap();
        let r = read_response(&mut stream, false).unwrap();
        assert_eq!(r.status, 200, "{path}");
    }
    let text = scrape(&addr, "/metrics").text();
    assert_eq!(sample(&text, "wharf_auth_checks_total"), 1);
    assert_eq!(
        sample(&text, "wharf_auth_successes_total"),
        paths.len() as u64
    );
    assert_eq!(
        sample(&text, "wharf_auth_memo_hits_total"),
        paths.len() as u64 - 1
    );
    // A failure is not a success: the memo says no to a wrong password,
    // however often it is sent, and once told, without bcrypt again.
    for _ in 0..3 {
        let raw = format!(
            "GET /private/app.js HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\n\r\n",
            basic("alice", "guess")
        );
        stream.write_all(raw.as_bytes()).unwrap();
        assert_eq!(read_response(&mut stream, false).unwrap().status, 401);
    }
    let text = scrape(&addr, "/metrics").text();
    assert_eq!(sample(&text, "wharf_auth_checks_total"), 2);
    assert_eq!(sample(&text, "wharf_auth_failures_total"), 3);
}

#[test]
fn sighup_rereads_the_password_file() {
    let root = protected_root();
    let file = passwords(&[("alice", "old password")], 4);
    let server = TestServer::start(root.path(), &auth_toml(&file.path, ""));
    let old = basic("alice", "old password");
    let new = basic("alice", "new password");
    assert_eq!(
        get_as(&server, "/private/secret.txt", Some(&old)).status,
        200
    );
    assert_eq!(
        get_as(&server, "/private/secret.txt", Some(&new)).status,
        401
    );

    std::fs::write(&file.path, htpasswd(&[("alice", "new password")], 4)).unwrap();
    signal(&server.child, libc::SIGHUP);
    let switched = eventually(Duration::from_secs(10), || {
        get_as(&server, "/private/secret.txt", Some(&new)).status == 200
    });
    assert!(
        switched,
        "the new password never worked; stderr: {}",
        server.stderr.text()
    );
    // The old one, remembered as a success before, is forgotten.
    assert_eq!(
        get_as(&server, "/private/secret.txt", Some(&old)).status,
        401
    );

    // A broken file on reload changes nothing, and says why in one line.
    let broken = format!("alice:{}\nbob:$apr1$x$y\n", bcrypt::hash("x", 4).unwrap());
    std::fs::write(&file.path, broken).unwrap();
    signal(&server.child, libc::SIGHUP);
    let path = file.path.display().to_string();
    let reported = server.stderr.wait_for(Duration::from_secs(10), |t| {
        t.lines().any(|l| {
            l.contains("reload refused") && l.contains(&format!("{path} line 2: not a bcrypt hash"))
        })
    });
    assert!(reported, "stderr: {}", server.stderr.text());
    assert_eq!(
        get_as(&server, "/private/secret.txt", Some(&new)).status,
        200
    );
    assert_eq!(
        get_as(&server, "/private/secret.txt", Some(&old)).status,
        401
    );
}

/// Runs wharf with `config` until it exits by itself (it must not start).
fn run_to_exit(config: &Path, root: &Path) -> Finished {
    let mut child = Command::new(WHARF)
        .arg("-c")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    assert!(status.is_some(), "wharf started: {output:?}");
    Finished::from(output)
}

#[test]
fn a_bad_password_file_refuses_start_up_naming_the_line() {
    let root = protected_root();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wharf.toml");
    // Relative to the config file's directory, like every path in it.
    std::fs::write(
        &config,
        "[[http.rules]]\nmatch = \"/private/**\"\nauth = \"users/htpasswd\"\n",
    )
    .unwrap();
    let file = dir.path().join("users/htpasswd");
    let hash = bcrypt::hash("x", 4).unwrap();
    let table = [
        (
            format!("# staff\nalice:{hash}\nbob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"),
            "line 3: not a bcrypt hash (only $2y$/$2b$/$2a$ are supported)",
        ),
        ("alice\n".to_string(), "line 1: expected user:hash"),
        (
            "\n\nalice:$2y$05$tooshort\n".to_string(),
            "line 3: malformed bcrypt hash",
        ),
    ];
    for (text, problem) in table {
        write(dir.path(), "users/htpasswd", text.as_bytes());
        let run = run_to_exit(&config, root.path());
        let line = assert_one_line_error(
            &run,
            &[
                &config.display().to_string(),
                "[[http.rules]] #1: auth: ",
                &format!("{} {problem}", file.display()),
            ],
        );
        // The file's contents are not repeated.
        for secret in [hash.as_str(), "W6ph5Mm5", "tooshort", "alice"] {
            assert!(!line.contains(secret), "{secret:?} in the message: {line}");
        }
    }
    std::fs::remove_file(&file).unwrap();
    let run = run_to_exit(&config, root.path());
    assert_one_line_error(&run, &["auth: cannot read", &file.display().to_string()]);
}

#[test]
fn the_password_never_reaches_the_access_log() {
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland")], 4);
    let logs = tempfile::tempdir().unwrap();
    for format in ["combined", "json"] {
        let log = logs.path().join(format!("{format}.log"));
        let extra = format!(
            "[log]\naccess = {}\nformat = \"{format}\"\n",
            toml_path(&log)
        );
        let server = TestServer::start(root.path(), &auth_toml(&file.path, &extra));
        let right = basic("alice", "wonderland");
        let wrong = basic("alice", "hunter2");
        assert_eq!(
            get_as(&server, "/private/secret.txt", Some(&right)).status,
            200
        );
        assert_eq!(
            get_as(&server, "/private/secret.txt", Some(&wrong)).status,
            401
        );
        assert_eq!(get_as(&server, "/private/secret.txt", None).status, 401);
        let mut text = String::new();
        let logged = eventually(Duration::from_secs(10), || {
            text = std::fs::read_to_string(&log).unwrap_or_default();
            text.lines().count() >= 3
        });
        assert!(logged, "{text}");
        for secret in ["wonderland", "hunter2", &right[6..], &wrong[6..], "Basic"] {
            assert!(
                !text.contains(secret),
                "{secret:?} in the {format} log:\n{text}"
            );
        }
        // Each loop writes its own lines: their order is not the requests'.
        let mut seen: Vec<(u64, Option<String>)> = match format {
            "combined" => text
                .lines()
                .map(|line| {
                    let user = line.split(' ').nth(2).unwrap();
                    let status = line.split("\" ").nth(1).unwrap().split(' ').next().unwrap();
                    (
                        status.parse().unwrap(),
                        (user != "-").then(|| user.to_string()),
                    )
                })
                .collect(),
            _ => text
                .lines()
                .map(|line| {
                    let value: serde_json::Value = serde_json::from_str(line).unwrap();
                    let user = value["user"].as_str().map(String::from);
                    (value["status"].as_u64().unwrap(), user)
                })
                .collect(),
        };
        seen.sort();
        let alice = Some("alice".to_string());
        assert_eq!(
            seen,
            [(200, alice.clone()), (401, None), (401, alice)],
            "{text}"
        );
    }
}

/// One flooder: sends a new wrong password (so the memo cannot answer)
/// on `stream` until `stop`, and returns the statuses it got in order.
fn flood(mut stream: TcpStream, n: usize, stop: Arc<AtomicBool>) -> Vec<u16> {
    // Answers may be held back for up to 30 s.
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut statuses = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let raw = format!(
            "GET /private/secret.txt HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\n\r\n",
            basic("alice", &format!("guess-{n}-{}", statuses.len()))
        );
        if stream.write_all(raw.as_bytes()).is_err() {
            break;
        }
        match read_response(&mut stream, false) {
            Some(r) if r.status == 503 => {
                assert_eq!(r.header("retry-after"), Some("1"), "{}", r.head);
                statuses.push(503);
            }
            Some(r) if r.status == 429 => {
                assert_eq!(r.header("retry-after"), Some("1"), "{}", r.head);
                statuses.push(429);
            }
            Some(r) if r.status == 401 => statuses.push(401),
            Some(r) => panic!("a guess got {}", r.head),
            None => break,
        }
    }
    statuses
}

/// Connects to `server` from `source` (a loopback address of its own, so
/// that the server sees another client).
fn connect_from(server: &TestServer, source: std::net::Ipv4Addr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((source, 0)).into())
        .expect("any 127/8 address is local on Linux");
    socket.connect(&server.addr.into()).unwrap();
    with_timeouts(socket.into())
}

/// The victim's part of the flood tests: 20 requests for an unprotected
/// file on one connection, all answered.
fn victim_is_served(stream: &mut TcpStream) {
    for _ in 0..20 {
        stream
            .write_all(b"GET /public/small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let r = read_response(stream, false).expect("an answer during the flood");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"small and public\n");
    }
}

/// Many clients (80 loopback addresses, each its own client) send wrong
/// passwords at a real cost (10), more than the password lanes' queue
/// holds, with no failure delay: another client's requests for an
/// unprotected file (the cache off, so each is an open job on the pool)
/// are all answered while checks queued before them are still waiting:
/// file jobs never wait behind bcrypt. Checks beyond the queue's bound
/// are refused with `503`.
#[test]
fn a_flood_of_wrong_passwords_does_not_hold_up_other_clients() {
    const FLOODERS: u8 = 80; // More than the 64 checks the queue holds.
    let root = protected_root();
    let file = passwords(&[("alice", "wonderland")], 10);
    let server = TestServer::start(
        root.path(),
        &auth_toml(&file.path, "[cache]\nenabled = false\n"),
    );
    let addr = metrics_addr(&server);
    let stop = Arc::new(AtomicBool::new(false));
    let mut sockets = Vec::new();
    let mut flooders = Vec::new();
    for n in 0..FLOODERS {
        let stream = connect_from(&server, std::net::Ipv4Addr::new(127, 0, 1, n + 1));
        sockets.push(stream.try_clone().unwrap());
        let stop = stop.clone();
        flooders.push(std::thread::spawn(move || flood(stream, n.into(), stop)));
    }
    let mut text = String::new();
    let flooded = eventually(Duration::from_secs(60), || {
        text = scrape(&addr, "/metrics").text();
        sample(&text, "wharf_auth_checks_queued") >= 32
            && sample(&text, "wharf_auth_refused_busy_total") >= 1
    });
    assert!(flooded, "the flood did not fill the queue:\n{text}");
    let queued_before = sample(&text, "wharf_auth_checks_queued");
    let checked_before = sample(&text, "wharf_auth_checks_total");

    victim_is_served(&mut server.connect());

    let text = scrape(&addr, "/metrics").text();
    let checked_during = sample(&text, "wharf_auth_checks_total") - checked_before;
    assert!(
        checked_during < queued_before,
        "the other client was answered only after the {queued_before} checks queued before it \
         ({checked_during} ran meanwhile)"
    );
    assert!(sample(&text, "wharf_auth_checks_queued") > 0, "{text}");
    stop.store(true, Ordering::Relaxed);
    for socket in &sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
    let statuses: Vec<u16> = flooders
        .into_iter()
        .flat_map(|f| f.join().expect("a flooder panicked"))
        .collect();
    assert!(
        statuses.contains(&503),
        "no check was refused: {statuses:?}"
    );
}

/// One client guessing passwords over 40 connections, with the default
/// failure delay (1 s): its penalty holds every answer (one a second per
/// connection at most) and lets at most 2 checks run at a time and none
/// before the last failure's hold is over, so however long the flood
/// lasts, it gets at most its first 8 checks and 2 a second (without the
/// penalty: a check per connection and second, 40). Another client is
/// served meanwhile. The bounds hold whatever the timing: on a loaded
/// machine the test only takes longer.
#[test]
fn a_client_guessing_over_many_connections_is_held_to_its_penalty() {
    const CONNECTIONS: usize = 40;
    let held = server_holding_failures("[cache]\nenabled = false\n");
    let (server, addr) = (&held.server, held.metrics.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut sockets = Vec::new();
    let mut flooders = Vec::new();
    for n in 0..CONNECTIONS {
        let stream = server.connect();
        sockets.push(stream.try_clone().unwrap());
        let stop = stop.clone();
        flooders.push(std::thread::spawn(move || flood(stream, n, stop)));
    }
    // Most connections have been refused twice (the first wave beyond 8,
    // then again when they came back a second later): guesses come back
    // and are refused, unchecked.
    let mut text = String::new();
    let came_back = eventually(Duration::from_secs(120), || {
        text = scrape(&addr, "/metrics").text();
        sample(&text, "wharf_auth_refused_client_total") >= 3 * CONNECTIONS as u64 / 2
    });
    assert!(came_back, "the guesses were not refused:\n{text}");
    victim_is_served(&mut server.connect());
    stop.store(true, Ordering::Relaxed);
    for socket in &sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
    let per_connection: Vec<Vec<u16>> = flooders
        .into_iter()
        .map(|f| f.join().expect("a flooder panicked"))
        .collect();
    let elapsed = started.elapsed().as_secs() + 1;
    // Every answer a connection got waited out at least a second before
    // the next guess could be sent, so it cannot have had more than this.
    for statuses in &per_connection {
        assert!(
            statuses.len() as u64 <= elapsed,
            "{} answers in under {elapsed} s on one connection",
            statuses.len()
        );
    }
    let text = scrape(&addr, "/metrics").text();
    let checked = sample(&text, "wharf_auth_checks_total");
    assert!(
        checked <= 8 + 2 * elapsed,
        "{checked} checks in under {elapsed} s for one client:\n{text}"
    );
    assert_eq!(
        sample(&text, "wharf_auth_refused_busy_total"),
        0,
        "the queue never filled"
    );
}

/// A guess from a client whose last wrong password is still held back is
/// not checked: `429` with `Retry-After`, itself held back.
#[test]
fn a_guess_during_a_penalty_gets_429_unchecked() {
    let held = server_holding_failures("");
    let (server, addr) = (&held.server, held.metrics.clone());
    let mut first = server.connect();
    assert_eq!(get_on(&mut first, Some(&basic("alice", "one"))).status, 401);
    // The second failure is held 2 s; meanwhile a third guess comes.
    let mut second = server.connect();
    let held = std::thread::spawn(move || get_on(&mut second, Some(&basic("alice", "two"))));
    assert!(eventually(Duration::from_secs(30), || metric(
        &addr,
        "wharf_auth_held_total"
    ) == 2));
    let mut third = server.connect();
    let asked = Instant::now();
    let r = get_on(&mut third, Some(&basic("alice", "three")));
    assert_eq!(r.status, 429, "{}", r.head);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(held.join().unwrap().status, 401);
    assert_eq!(
        metric(&addr, "wharf_auth_checks_total"),
        2,
        "the third was not checked"
    );
    assert_eq!(metric(&addr, "wharf_auth_refused_client_total"), 1);
}

/// A wrong password is answered after the failure delay (from bcrypt and,
/// the second time, from the memo), doubled for the client's second
/// failure; a request without credentials, the browser's first, is
/// answered at once and not held; the right password is not held and
/// forgives the earlier failures.
#[test]
fn a_wrong_password_waits_out_the_delay_and_no_credentials_do_not() {
    let held = server_holding_failures("");
    let (server, addr) = (&held.server, held.metrics.clone());
    let mut stream = server.connect();
    let wrong = basic("alice", "hunter2");
    let right = basic("alice", "wonderland");
    let guess = |stream: &mut TcpStream, round: u64, at_least: u64| {
        let asked = Instant::now();
        let r = get_on(stream, Some(&wrong));
        assert_eq!(r.status, 401, "{}", r.head);
        assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
        assert!(
            asked.elapsed() >= Duration::from_secs(at_least),
            "guess {round} answered after {:?}, not {at_least} s",
            asked.elapsed()
        );
        assert_eq!(metric(&addr, "wharf_auth_held_total"), round);
    };
    guess(&mut stream, 1, 1);
    assert_eq!(metric(&addr, "wharf_auth_checks_total"), 1);
    guess(&mut stream, 2, 2);
    assert_eq!(
        metric(&addr, "wharf_auth_checks_total"),
        1,
        "the memo answered"
    );
    assert_eq!(get_on(&mut stream, None).status, 401);
    assert_eq!(
        metric(&addr, "wharf_auth_held_total"),
        2,
        "no credentials: not held"
    );
    assert_eq!(get_on(&mut stream, Some(&right)).status, 200);
    assert_eq!(
        metric(&addr, "wharf_auth_held_total"),
        2,
        "the right password: not held"
    );
    let asked = Instant::now();
    assert_eq!(get_on(&mut stream, Some(&wrong)).status, 401);
    assert!(asked.elapsed() >= Duration::from_secs(1));
}

/// `GET /private/secret.txt` on `stream`, kept alive, with credentials if
/// given.
fn get_on(stream: &mut TcpStream, authorization: Option<&str>) -> Response {
    let credentials = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let raw = format!("GET /private/secret.txt HTTP/1.1\r\nHost: t\r\n{credentials}\r\n");
    stream.write_all(raw.as_bytes()).unwrap();
    read_response(stream, false).expect("an answer")
}

/// A file is served only under the password rule of the path it was asked
/// for: a directory's index file, a clean URL's `name.html` and the
/// fallback under a rule of their own are not handed out through an
/// unprotected path (404), and a directory download leaves out what is
/// under another rule.
#[test]
fn other_paths_to_a_protected_file_do_not_bypass_its_password() {
    let root = protected_root();
    write(root.path(), "admin.html", b"admin page\n");
    write(root.path(), "docs/index.html", b"docs index\n");
    write(root.path(), "app.html", b"the app\n");
    write(root.path(), "public/visible.txt", b"visible\n");
    let pw = passwords(&[("alice", "wonderland")], 4);
    let extra = format!(
        "try_extensions = [\"html\"]\nfallback = \"/app.html\"\narchive = [\"tar\"]\n\
         [[http.rules]]\nmatch = \"/admin.html\"\nauth = {file}\n\
         [[http.rules]]\nmatch = \"/docs/index.html\"\nauth = {file}\n\
         [[http.rules]]\nmatch = \"/app.html\"\nauth = {file}\n",
        file = toml_path(&pw.path)
    );
    let server = TestServer::start(root.path(), &auth_toml(&pw.path, &extra));
    let alice = basic("alice", "wonderland");

    // Asked for by their own paths, they need the password.
    for path in ["/admin.html", "/docs/index.html", "/app.html"] {
        assert_eq!(get_as(&server, path, None).status, 401, "{path}");
        assert_eq!(get_as(&server, path, Some(&alice)).status, 200, "{path}");
    }
    // Through another path, they are not served at all.
    for path in ["/admin", "/docs/", "/no/such/page"] {
        let response = get_as(&server, path, None);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
        assert!(!response.text().contains("admin page"), "{path}");
        assert!(!response.text().contains("docs index"), "{path}");
        assert!(!response.text().contains("the app"), "{path}");
    }

    // The whole site as one archive, asked for without a password.
    let download = archive_as(&server, "/?download=tar", None);
    let names: Vec<String> = crate::archive::entries(&download[..]).into_keys().collect();
    assert!(
        names.iter().any(|n| n.ends_with("public/visible.txt")),
        "{names:?}"
    );
    for protected in [
        "private/secret.txt",
        "private/docs/a.txt",
        "admin.html",
        "docs/index.html",
        "app.html",
    ] {
        assert!(
            !names.iter().any(|n| n.ends_with(protected)),
            "{protected} was in an archive asked for without a password: {names:?}"
        );
    }
    // With the password for /private/**, its own archive holds its files.
    let private = archive_as(&server, "/private/?download=tar", Some(&alice));
    let names: Vec<String> = crate::archive::entries(&private[..]).into_keys().collect();
    assert!(
        names.iter().any(|n| n.ends_with("private/secret.txt")),
        "{names:?}"
    );
}

/// The tar archive a `GET target` (with credentials if given) downloads.
fn archive_as(server: &TestServer, target: &str, authorization: Option<&str>) -> Vec<u8> {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    let mut stream = server.connect();
    stream
        .write_all(request_text("GET", target, &headers).as_bytes())
        .unwrap();
    let all = read_until_eof(&mut stream);
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&all[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{target}: {head}");
    dechunk(&all[head_end..])
}

/// The payload of a whole chunked body (`size CRLF data CRLF` ... `0 CRLF CRLF`).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk-size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}
