//! Test harness, shared by every module: runs the real `wharf` binary on
//! port 0 with its own temp root and config, and speaks raw HTTP to it over
//! real sockets. Also: waiting on conditions ([`Captured::wait_for`],
//! [`eventually`]), fixtures (sites, large files, checksums), metrics
//! scrapes, the one-line start-up error check, and [`require_tool`] for
//! the external programs some tests drive.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

/// Output collected from a child's pipe, with a condition variable so tests
/// can wait for a line instead of sleeping.
#[derive(Default, Clone)]
pub struct Captured(Arc<(Mutex<String>, Condvar)>);

impl Captured {
    fn collect(self, pipe: impl Read + Send + 'static) {
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let (text, changed) = &*self.0;
                text.lock().unwrap().push_str(&line);
                changed.notify_all();
                line.clear();
            }
        });
    }

    pub fn text(&self) -> String {
        self.0 .0.lock().unwrap().clone()
    }

    /// Waits until the captured text satisfies `done`, up to `timeout`.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> bool {
        let (text, changed) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut guard = text.lock().unwrap();
        while !done(&guard) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
        true
    }
}

/// A running wharf process.
pub struct TestServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Holds the config file's directory alive.
    _config_dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts wharf serving `root` with the given extra TOML (sections and
    /// keys; `[server] listen/root` are set by the harness, the access log
    /// is off unless the TOML sets `[log]`).
    pub fn start(root: &Path, extra_toml: &str) -> TestServer {
        Self::start_with_args(root, extra_toml, &[])
    }

    pub fn start_with_args(root: &Path, extra_toml: &str, args: &[&str]) -> TestServer {
        let (command, config_dir) = Self::command(root, extra_toml, args);
        Self::spawn(command, Some(config_dir))
    }

    /// As [`TestServer::start`], with environment variables set for wharf
    /// (the debug builds' fault hooks read theirs there).
    pub fn start_with_env(root: &Path, extra_toml: &str, env: &[(&str, &str)]) -> TestServer {
        let (mut command, config_dir) = Self::command(root, extra_toml, &[]);
        command.envs(env.iter().copied());
        Self::spawn(command, Some(config_dir))
    }

    /// As [`TestServer::start_with_args`], with the process's descriptor
    /// limit (soft and hard, so wharf cannot raise it) set to `max_fds`.
    pub fn start_with_fd_limit(
        root: &Path,
        extra_toml: &str,
        args: &[&str],
        max_fds: u64,
    ) -> TestServer {
        use std::os::unix::process::CommandExt;
        let (mut command, config_dir) = Self::command(root, extra_toml, args);
        // SAFETY: setrlimit is async-signal-safe; it only limits the child.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: max_fds,
                    rlim_max: max_fds,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn(command, Some(config_dir))
    }

    /// The command that runs wharf on `root` with a config file of its own.
    fn command(root: &Path, extra_toml: &str, args: &[&str]) -> (Command, tempfile::TempDir) {
        let config_dir = tempfile::tempdir().unwrap();
        let config_path = config_dir.path().join("wharf.toml");
        let mut toml = String::new();
        if !extra_toml.contains("[log]") {
            toml.push_str("[log]\naccess = \"off\"\n");
        }
        toml.push_str(extra_toml);
        std::fs::write(&config_path, toml).unwrap();
        let mut command = Command::new(WHARF);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .arg(root);
        (command, config_dir)
    }

    /// Spawns a prepared wharf command (no stdin; stdout and stderr are
    /// captured) and waits for its URL line. `config_dir`, if any, is
    /// removed when the server is dropped.
    pub fn spawn(mut command: Command, config_dir: Option<tempfile::TempDir>) -> TestServer {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wharf");
        let stdout = Captured::default();
        let stderr = Captured::default();
        stdout.clone().collect(child.stdout.take().unwrap());
        stderr.clone().collect(child.stderr.take().unwrap());
        let started = stdout.wait_for(Duration::from_secs(10), |t| t.contains("http://"));
        assert!(
            started,
            "wharf did not print its URL; stderr: {}",
            stderr.text()
        );
        let text = stdout.text();
        let url = text
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap();
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        TestServer {
            child,
            addr,
            stdout,
            stderr,
            _config_dir: config_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client socket with 10 s timeouts.
    pub fn connect(&self) -> TcpStream {
        with_timeouts(TcpStream::connect(self.addr).unwrap())
    }

    /// Sends raw bytes on a new connection and returns the first response.
    pub fn request(&self, raw: &str) -> Response {
        let mut stream = self.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        read_response(&mut stream, raw.starts_with("HEAD ")).expect("a response")
    }

    /// `GET path` with `Connection: close`.
    pub fn get(&self, path: &str) -> Response {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ))
    }

    /// SIGTERM, then waits (bounded) for exit.
    pub fn stop(mut self) -> ExitStatus {
        signal(&self.child, libc::SIGTERM);
        wait_timeout(&mut self.child, Duration::from_secs(15)).expect("wharf exits after SIGTERM")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// Whether the external program `name` (curl, wrk, ...) is installed: it
/// starts, asked for `--version` (its exit status does not matter: wrk's
/// is 1). See [`require_tool_with`] for what a missing one means.
#[track_caller]
pub fn require_tool(name: &str) -> bool {
    require_tool_with(name, || {
        match Command::new(name)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("not installed".to_string()),
            Err(e) => Err(format!("cannot be started ({e})")),
        }
    })
    .is_some()
}

/// Asks `probe` whether the external tool `name` can do what a test needs
/// here: `Ok` with whatever the test wants from it (a path, say), or why
/// not. When it cannot, the test is skipped: this prints `skipping: NAME
/// WHY` and returns `None`, and the test returns early. Except under `CI`
/// (set in the environment: `.ci/run` installs every tool the tests use),
/// where a missing tool must not pass for a passing test: it panics.
#[track_caller]
pub fn require_tool_with<T>(name: &str, probe: impl FnOnce() -> Result<T, String>) -> Option<T> {
    match probe() {
        Ok(found) => Some(found),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{name} {why}, and CI is set: there every test must run (.ci/run installs it)"
            );
            eprintln!("skipping: {name} {why}");
            None
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes: for
/// conditions only observable from outside (descriptor counts, files), never
/// as a stand-in for a condition that can be waited on.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child to exit, up to `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a process that exited by itself left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Finished {
    fn from(output: Output) -> Finished {
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8 output");
        Finished {
            status: output.status,
            stdout: text(output.stdout),
            stderr: text(output.stderr),
        }
    }
}

/// Asserts a start-up failure: non-zero exit, nothing served, and exactly
/// one line on stderr, `wharf: error: ...`, without panic or backtrace,
/// containing every one of `needles`. Returns that line.
pub fn assert_one_line_error(run: &Finished, needles: &[&str]) -> String {
    assert!(
        !run.status.success(),
        "expected a failure, got {:?}; stdout: {:?} stderr: {:?}",
        run.status,
        run.stdout,
        run.stderr
    );
    assert!(
        run.status.code().is_some(),
        "killed by a signal rather than exiting: {:?}; stderr: {:?}",
        run.status,
        run.stderr
    );
    assert!(
        !run.stdout.contains("http://"),
        "printed a URL although start-up failed: {:?}",
        run.stdout
    );
    let lower = run.stderr.to_lowercase();
    for bad in ["panicked", "backtrace", "stack backtrace"] {
        assert!(
            !lower.contains(bad),
            "stderr mentions {bad:?}: {:?}",
            run.stderr
        );
    }
    assert!(
        run.stderr.ends_with('\n'),
        "stderr does not end with a newline: {:?}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stderr is not exactly one line: {:?}",
        run.stderr
    );
    let line = lines[0];
    assert!(!line.trim().is_empty(), "the error line is blank");
    assert!(line.starts_with("wharf: error: "), "{line:?}");
    for needle in needles {
        assert!(
            line.contains(needle),
            "error line {line:?} does not mention {needle:?}"
        );
    }
    line.to_string()
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (head, then a `Content-Length` body unless
/// `head_only`). `None` if the connection closed before a head arrived.
pub fn read_response(stream: &mut TcpStream, head_only: bool) -> Option<Response> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) => head.push(byte[0]),
        }
    }
    let head = String::from_utf8(head).expect("ASCII head");
    let (status, headers) = parse_head(&head);
    let length = if head_only {
        0
    } else {
        content_length(&headers).unwrap_or(0)
    };
    let mut body = vec![0; usize::try_from(length).expect("a body that fits in memory")];
    stream.read_exact(&mut body).ok()?;
    Some(Response {
        status,
        head,
        headers,
        body,
    })
}

/// The status code and the header fields of a response head.
pub fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line with a colon");
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    (status, headers)
}

/// The `Content-Length` among `headers`, if there is one.
pub fn content_length(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().expect("a numeric Content-Length"))
}

/// Reads until the peer closes; returns everything read.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    all
}

/// The content of [`site`]'s `hello.txt`.
pub const HELLO: &[u8] = b"hello, world\n";

/// A temp document root with a few files:
/// `index.html`, `hello.txt`, `data.json`, `sub/` (with `page.html`),
/// `empty/` (no index), `.secret`, `.hidden/file.txt`.
pub fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "index.html",
        b"<!doctype html><title>home</title>home page\n",
    );
    write(root, "hello.txt", HELLO);
    write(root, "data.json", b"{\"ok\": true}\n");
    write(root, "sub/page.html", b"<p>sub page</p>\n");
    std::fs::create_dir_all(root.join("empty")).unwrap();
    write(root, ".secret", b"secret dotfile\n");
    write(root, ".hidden/file.txt", b"hidden dir file\n");
    dir
}

pub fn write(root: &Path, relative: &str, content: &[u8]) -> PathBuf {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

/// Sets a file's modification time.
pub fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// A path in TOML basic-string form, quotes included, for config files.
pub fn toml_path(path: &Path) -> String {
    let text = path.to_str().unwrap();
    assert!(!text.contains(['"', '\\']), "unusual temp path {text}");
    format!("\"{text}\"")
}

/// Deterministic pseudo-random bytes (xorshift), for large test files.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a large file in pieces without holding it all in memory.
pub fn write_large(path: &Path, len: u64, seed: u64) {
    let mut file = File::create(path).unwrap();
    let piece = pattern(1 << 20, seed);
    let mut left = len;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        file.write_all(&piece[..n]).unwrap();
        left -= n as u64;
    }
}

/// FNV-1a over a byte stream: a cheap checksum for comparing large bodies.
#[derive(Clone, Copy)]
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Checksums a file on disk.
pub fn checksum_file(path: &Path) -> (u64, u64) {
    let mut file = File::open(path).unwrap();
    let mut hash = Fnv::new();
    let mut buf = vec![0; 1 << 20];
    let mut total = 0;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return (hash.0, total);
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
}

/// The metrics URL's address, from the `metrics on http://.../metrics` line.
pub fn metrics_addr(server: &TestServer) -> String {
    assert!(server
        .stdout
        .wait_for(Duration::from_secs(5), |t| t.contains("/metrics")));
    let text = server.stdout.text();
    let url = text
        .split_whitespace()
        .find(|w| w.ends_with("/metrics"))
        .unwrap()
        .to_string();
    url.trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string()
}

pub fn scrape(addr: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut stream, false).unwrap()
}

/// [`scrape`], or `None` when the connection fails (refused, or closed
/// before the answer: a connection accepted just as a drain begins may be
/// closed as idle), for polling with [`eventually`].
pub fn try_scrape(addr: &str, path: &str) -> Option<Response> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    read_response(&mut stream, false)
}

/// The value of a sample line `name value`.
pub fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

/// `stream` with 10 s read and write timeouts, so a test that waits for an
/// answer that never comes fails instead of hanging.
pub fn with_timeouts(stream: TcpStream) -> TcpStream {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads until the server closes, asserting a clean end of stream (not a
/// timeout or a reset).
pub fn read_until_eof(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut all = Vec::new();
    match stream.read_to_end(&mut all) {
        Ok(_) => all,
        Err(e) => panic!(
            "expected the server to close cleanly, got {e} after {:?}",
            String::from_utf8_lossy(&all)
        ),
    }
}

/// Every complete response in `bytes` (the first one to HEAD, so without
/// a body, when `head_first`), panicking on trailing garbage or a
/// truncated response.
pub fn parse_responses(mut bytes: &[u8], head_first: bool) -> Vec<Response> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("incomplete head: {:?}", String::from_utf8_lossy(bytes)))
            + 4;
        let head = String::from_utf8(bytes[..end].to_vec()).expect("ASCII head");
        let (status, headers) = parse_head(&head);
        let length = match head_first && out.is_empty() {
            true => 0,
            false => content_length(&headers).map_or(0, |n| usize::try_from(n).unwrap()),
        };
        assert!(bytes.len() >= end + length, "truncated body in {head:?}");
        let body = bytes[end..end + length].to_vec();
        bytes = &bytes[end + length..];
        out.push(Response {
            status,
            head,
            headers,
            body,
        });
    }
    out
}

/// A request with `Connection: close` and `headers`, as raw text.
pub fn request_text<N: AsRef<str>, V: AsRef<str>>(
    method: &str,
    target: &str,
    headers: &[(N, V)],
) -> String {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{}: {}\r\n", name.as_ref(), value.as_ref()));
    }
    raw.push_str("\r\n");
    raw
}
