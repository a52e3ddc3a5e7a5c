//! The servers under test, wharf and its peers nginx (also with `aio
//! threads`) and lighttpd: their configs (written alike), start-up and the
//! check that each serves every file, a plain bounded GET, and which of
//! them are installed.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::options::{Kind, Mode, Opts, Size};
use crate::process::{check_interrupt, spawn, Guard};
use crate::system::{can_pin, find_tool, SERVER_CPU};
use crate::Result;

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub log: PathBuf,
    pub guard: Guard,
    /// When the process was spawned, and how long it took to answer its
    /// first `GET /` with 200.
    pub spawned: Instant,
    pub ready: Duration,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

/// Most entries of nginx's `open_file_cache` for a tree of `files` files:
/// the whole tree where that stays within the descriptor limit.
pub fn open_file_cache_for(files: u64) -> usize {
    files.clamp(1000, 10_000) as usize
}

/// MIME types the peers are told about (wharf knows them all): the
/// extensions of the generated trees.
const TYPES: [(&str, &str); 9] = [
    ("html", "text/html"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("json", "application/json"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("woff2", "font/woff2"),
    ("bin", "application/octet-stream"),
];

/// Writes the server's config into `dir` and returns (program, args).
fn configure(
    kind: Kind,
    dir: &Path,
    root: &Path,
    port: u16,
    workers: u32,
    open_files: usize,
) -> Result<(PathBuf, Vec<String>)> {
    let d = dir.display();
    let r = root.display();
    match kind {
        Kind::Wharf | Kind::WharfIo(_) | Kind::WharfBefore => {
            let conf = dir.join(format!("{}.toml", kind.name()));
            fs::write(
                &conf,
                format!(
                    "# wharf, as the load benchmark runs it\n\
                     [server]\nlisten = \"127.0.0.1:{port}\"\nroot = \"{r}\"\nworkers = {workers}\n\n\
                     [limits]\nmax_connections = 16384\n\n\
                     [log]\naccess = \"off\"\n"
                ),
            )?;
            let mut args = vec!["-c".into(), conf.display().to_string()];
            if let Kind::WharfIo(n) = kind {
                args.extend(["--io-threads".into(), n.to_string()]);
            }
            Ok((PathBuf::new(), args))
        }
        Kind::Nginx | Kind::NginxAio => {
            let name = kind.name();
            let temp = format!("{name}-temp");
            for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                fs::create_dir_all(dir.join(&temp).join(t))?;
            }
            let conf = dir.join(format!("{name}.conf"));
            // nginx's default thread pool (32 threads) serves `aio threads`.
            let aio = if kind == Kind::NginxAio {
                "    aio threads;\n"
            } else {
                ""
            };
            let types: String = TYPES.iter().map(|(e, t)| format!("{t} {e}; ")).collect();
            fs::write(
                &conf,
                format!(
                    "# {name}, as the load benchmark runs it\n\
daemon off;\n\
master_process on;\n\
worker_processes {workers};\n\
pid {d}/{name}.pid;\n\
error_log {d}/{name}-error.log warn;\n\
events {{\n    worker_connections 16384;\n}}\n\
http {{\n\
    access_log off;\n\
    sendfile on;\n\
{aio}\
    tcp_nopush on;\n\
    open_file_cache max={open_files} inactive=60s;\n\
    open_file_cache_valid 60s;\n\
    open_file_cache_errors on;\n\
    keepalive_requests 10000000;\n\
    keepalive_timeout 75s;\n\
    types {{ {types}}}\n\
    default_type application/octet-stream;\n\
    client_body_temp_path {d}/{temp}/client_body;\n\
    proxy_temp_path {d}/{temp}/proxy;\n\
    fastcgi_temp_path {d}/{temp}/fastcgi;\n\
    uwsgi_temp_path {d}/{temp}/uwsgi;\n\
    scgi_temp_path {d}/{temp}/scgi;\n\
    server {{\n\
        listen 127.0.0.1:{port};\n\
        root {r};\n\
        index index.html;\n\
        location = /204 {{ return 204; }}\n\
    }}\n\
}}\n"
                ),
            )?;
            let nginx = find_tool("nginx").ok_or("nginx not found")?;
            Ok((
                nginx,
                vec![
                    "-p".into(),
                    format!("{d}/"),
                    "-e".into(),
                    format!("{d}/{name}-error.log"),
                    "-c".into(),
                    conf.display().to_string(),
                ],
            ))
        }
        Kind::Lighttpd => {
            let conf = dir.join("lighttpd.conf");
            let types: Vec<String> = TYPES
                .iter()
                .map(|(e, t)| format!("\".{e}\" => \"{t}\""))
                .collect();
            let types = types.join(", ");
            // lighttpd's stat cache keeps a descriptor open per file it
            // served: with max-fds 16384 it ran out on the 20,000-file site
            // and answered 403 to 10-15% of the uniform cell's requests
            // (fast 403s that inflated its req/s). It raises its own
            // limit to max-fds where the bench's limit allows.
            let fds = crate::system::WANTED_FDS;
            fs::write(
                &conf,
                format!(
                    "# lighttpd, as the load benchmark runs it (one process; no access log module)\n\
server.document-root = \"{r}\"\n\
server.bind = \"127.0.0.1\"\n\
server.port = {port}\n\
server.errorlog = \"{d}/lighttpd-error.log\"\n\
server.modules = (\"mod_indexfile\", \"mod_staticfile\")\n\
server.network-backend = \"sendfile\"\n\
server.stat-cache-engine = \"simple\"\n\
server.max-keep-alive-requests = 10000000\n\
server.max-keep-alive-idle = 75\n\
server.max-connections = 8192\n\
server.max-fds = {fds}\n\
index-file.names = (\"index.html\")\n\
mimetype.assign = ({types})\n"
                ),
            )?;
            let lighttpd = find_tool("lighttpd").ok_or("lighttpd not found")?;
            Ok((
                lighttpd,
                vec!["-D".into(), "-f".into(), conf.display().to_string()],
            ))
        }
    }
}

/// Starts one server and waits until it answers `GET /` with 200.
/// `open_files`: nginx's `open_file_cache` entries.
pub fn start_server(
    kind: Kind,
    opts: &Opts,
    mode: Mode,
    dir: &Path,
    root: &Path,
    open_files: usize,
) -> Result<Server> {
    let port = free_port()?;
    let (mut program, args) = configure(kind, dir, root, port, opts.workers, open_files)?;
    if kind.is_wharf() {
        program = match (kind, &opts.wharf_before) {
            (Kind::WharfBefore, Some(before)) => before.clone(),
            _ => opts.wharf.clone(),
        };
    }
    let log = dir.join(format!("{}-{}.log", kind.name(), mode.name()));
    let cpu = (mode == Mode::Pinned).then_some(SERVER_CPU);
    let spawned = Instant::now();
    let guard = spawn(&kind.name(), &program, &args, cpu, &log)?;
    let mut server = Server {
        kind,
        port,
        log,
        guard,
        spawned,
        ready: Duration::ZERO,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        check_interrupt();
        if let Ok(Some(status)) = server.guard.child.try_wait() {
            return Err(format!(
                "{} exited at start-up ({status}):\n{}",
                kind.name(),
                tail(&server.log)
            )
            .into());
        }
        if let Ok((200, _)) = http_get(port, "/", 1 << 20) {
            server.ready = spawned.elapsed();
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not answer within {START_TIMEOUT:?}:\n{}",
                kind.name(),
                tail(&server.log)
            )
            .into());
        }
        // Short: the scale scenario reports the time to the first answer.
        thread::sleep(Duration::from_millis(5));
    }
}

/// The servers of one mode, started and checked against `sizes`; those
/// that fail to start are skipped, and none start when the mode cannot run
/// here.
pub fn start_servers(
    kinds: &[Kind],
    opts: &Opts,
    mode: Mode,
    dir: &Path,
    root: &Path,
    sizes: &[Size],
) -> Result<Vec<Server>> {
    start_servers_with(kinds, opts, mode, dir, root, 1000, sizes)
}

/// [`start_servers`] with nginx's `open_file_cache` sized `open_files`.
pub fn start_servers_with(
    kinds: &[Kind],
    opts: &Opts,
    mode: Mode,
    dir: &Path,
    root: &Path,
    open_files: usize,
    sizes: &[Size],
) -> Result<Vec<Server>> {
    if mode == Mode::Pinned && !can_pin() {
        eprintln!("load: skipping pinned mode: needs 2 CPUs and taskset");
        return Ok(Vec::new());
    }
    let mut servers = Vec::new();
    for &kind in kinds {
        match start_server(kind, opts, mode, dir, root, open_files) {
            Ok(server) => {
                verify(&server, sizes)?;
                servers.push(server);
            }
            Err(e) => eprintln!("load: skipping {}: {e}", kind.name()),
        }
    }
    Ok(servers)
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Connects to 127.0.0.1:`port` and sends `GET path` with `Connection:
/// close`, with these connect, read and write timeouts.
pub fn send_get(
    port: u16,
    path: &str,
    connect: Duration,
    read: Duration,
    write: Duration,
) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, connect)?;
    s.set_read_timeout(Some(read))?;
    s.set_write_timeout(Some(write))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    Ok(s)
}

/// One GET with `Connection: close`: (status, body bytes). Bounded: 10 s
/// overall and `max` body bytes.
pub fn http_get(port: u16, path: &str, max: u64) -> Result<(u16, u64)> {
    let mut s = send_get(
        port,
        path,
        Duration::from_millis(500),
        Duration::from_secs(2),
        Duration::from_secs(2),
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut head = Vec::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut body = 0u64;
    let mut in_body = false;
    loop {
        if Instant::now() > deadline {
            return Err("GET took over 10 s".into());
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if in_body {
            body += n as u64;
        } else {
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body = (head.len() - end - 4) as u64;
                head.truncate(end);
                in_body = true;
            }
        }
        if body > max {
            return Err("response larger than expected".into());
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    Ok((status, body))
}

/// GETs every file once: checks each server serves the right sizes (and
/// warms its caches).
fn verify(server: &Server, sizes: &[Size]) -> Result<()> {
    for size in sizes {
        let (status, len) = http_get(server.port, &format!("/{}", size.file()), size.bytes)?;
        if status != 200 || len != size.bytes {
            return Err(format!(
                "{}: GET /{} gave {status} with {len} bytes, expected 200 with {}",
                server.kind.name(),
                size.file(),
                size.bytes
            )
            .into());
        }
    }
    Ok(())
}

/// The requested servers that can run here (wharf must).
pub fn available(wanted: &[Kind], opts: &Opts) -> Result<Vec<Kind>> {
    if find_tool("wrk").is_none() {
        return Err("wrk is not installed (apt-get install -y wrk)".into());
    }
    let mut kinds = Vec::new();
    for &k in wanted {
        let ok = match k {
            Kind::WharfBefore => opts.wharf_before.as_ref().is_some_and(|p| p.is_file()),
            Kind::Wharf | Kind::WharfIo(_) => {
                if !opts.wharf.is_file() {
                    return Err(format!("no wharf binary at {}", opts.wharf.display()).into());
                }
                true
            }
            Kind::Nginx => find_tool("nginx").is_some(),
            Kind::NginxAio => nginx_has_threads(),
            Kind::Lighttpd => find_tool("lighttpd").is_some(),
        };
        if ok {
            kinds.push(k);
        } else if k == Kind::NginxAio {
            eprintln!("load: skipping nginx-aio: nginx is not installed or was built without --with-threads");
        } else {
            eprintln!(
                "load: {} is not installed; skipping it (apt-get install -y {})",
                k.name(),
                k.name()
            );
        }
    }
    Ok(kinds)
}

/// Whether the installed nginx was built with thread pools (`aio threads`).
fn nginx_has_threads() -> bool {
    let Some(nginx) = find_tool("nginx") else {
        return false;
    };
    // `nginx -V` prints its configure arguments on stderr.
    std::process::Command::new(nginx)
        .arg("-V")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("--with-threads"))
}
