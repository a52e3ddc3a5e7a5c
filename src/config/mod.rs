//! Configuration: `config.toml` and command-line overrides in, one validated
//! [`Config`] out.
//!
//! Loading is two-staged, raw then validated: the TOML table is walked key
//! by key so that every error names the key it is about
//! (`[limits] max_connections: expected an integer ...`), unknown keys are
//! refused, and relative paths in the file are taken relative to the file's
//! directory. The file is read, and the root checked, through [`Files`]:
//! this module makes no filesystem call.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::http::compressible::CompressOptions;
use crate::http::forwarded::TrustedProxies;
use crate::site::archive::ArchiveKinds;
use crate::site::cors::Cors;
use crate::site::htpasswd::AuthRule;
use crate::site::redirects::Redirect;
use crate::site::rules::HeaderRule;

mod auth;
mod file;

use file::{apply_toml, Raw};

/// A start-up error: one line, naming the key or flag and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

/// Resource limits and timeouts (the `[limits]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most open client connections, over all event loops.
    pub max_connections: usize,
    /// Time a client has to send a whole request head, from its first byte.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept open. Zero disables
    /// keep-alive.
    pub keepalive_timeout: Duration,
    /// Time a write may make no progress before the connection is dropped.
    pub send_timeout: Duration,
    /// Most bytes a request head (request line and headers) may take.
    pub max_header_bytes: usize,
    /// On SIGINT/SIGTERM, time in-flight responses get to finish.
    pub shutdown_timeout: Duration,
    /// Most ranges a multi-range request may ask for (after coalescing);
    /// more are answered with the whole file.
    pub max_ranges: usize,
}

/// Which symlinks may be followed when resolving a request (`[http] symlinks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymlinkPolicy {
    /// Symlinks are followed as long as the result stays under the root.
    WithinRoot,
    /// Symlinks are followed wherever they lead (`..` is still refused).
    Follow,
    /// No path component may be a symlink.
    Deny,
}

/// HTTP behaviour (the `[http]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// File names tried, in order, when a directory is requested.
    pub index_files: Arc<[String]>,
    /// List directories that have no index file.
    pub directory_listing: bool,
    /// Serve and list names starting with a dot.
    pub hidden_files: bool,
    pub symlinks: SymlinkPolicy,
    /// Serve `x.br` / `x.zst` / `x.gz` sidecars for `x` when accepted.
    pub precompressed: bool,
    /// `Cache-Control` for files and listings unless a rule says otherwise.
    pub cache_control: Option<String>,
    /// Per-path `Cache-Control` and extra headers, in file order.
    pub rules: Arc<[HeaderRule]>,
    /// Status code to a page under the root (a sanitised relative path).
    pub error_pages: Arc<[(u16, String)]>,
    /// What wharf compresses itself, for files in the hot-file cache
    /// (`[http] compress`, `compress_*`).
    pub compress: CompressOptions,
    /// The `[[http.rules]]` with `auth`, in file order, with their
    /// password files as read when this configuration was loaded.
    pub auth_rules: Arc<[AuthRule]>,
    /// Archive kinds a listing can be downloaded as (`?download=tar`);
    /// none by default.
    pub archive: ArchiveKinds,
    /// `[[http.redirects]]`, in file order: the first match answers.
    pub redirects: Arc<[Redirect]>,
    /// `[http] fallback`: the file (a sanitised relative path) served for
    /// a GET or HEAD of a path that names nothing (single-page apps).
    pub fallback: Option<String>,
    /// `[http] try_extensions`: `name.EXT` is served for a missing `name`,
    /// extensions tried in order (clean URLs).
    pub try_extensions: Arc<[String]>,
    /// `[http] canonical`: `/name.EXT` redirects to `/name` for the
    /// extensions of `try_extensions`.
    pub canonical: bool,
    /// `[http.cors]`, when some origin is allowed.
    pub cors: Option<Arc<Cors>>,
    /// `[http] auth_failure_delay_secs`: how long a wrong password's answer
    /// waits, before the doubling for earlier failures
    /// (`disk::password_guard`).
    pub auth_failure_delay: Duration,
}

/// One address to listen on (`[server] listen`, `--listen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `ADDR:PORT`; `[::]:PORT` accepts IPv4 too (dual-stack).
    Tcp(SocketAddr),
    /// `unix:/path/to.sock`: a Unix-domain stream socket.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `[server] unix_socket_mode` when unset: owner and group may connect.
pub const DEFAULT_UNIX_SOCKET_MODE: u32 = 0o660;

/// The validated configuration wharf runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Every address to listen on, in order (at least one). Ignored when
    /// systemd passes listening sockets (socket activation).
    pub listen: Vec<ListenAddr>,
    /// Permission bits of the Unix socket files wharf creates.
    pub unix_socket_mode: u32,
    /// The document root, canonicalised.
    pub root: PathBuf,
    /// Number of event loops (at least 1).
    pub workers: usize,
    /// Number of IO pool threads (at least 1).
    pub io_threads: usize,
    pub limits: Limits,
    pub http: HttpOptions,
    pub access_log: AccessLogTarget,
    pub access_log_format: LogFormat,
    /// The hot-file cache (`[cache]`).
    pub cache: CacheConfig,
    /// Where `GET /metrics` is served (`[metrics] listen`), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Print a summary of what was served on shutdown (`[metrics] summary`).
    pub summary_on_exit: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Behind a proxy: whose `X-Forwarded-For` names the client
    /// (`[log] trusted_proxies`), and whether every connection starts with
    /// a PROXY protocol header (`[server] proxy_protocol`).
    pub proxy: ProxyConfig,
}

/// Running behind a reverse proxy or load balancer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Peers whose `X-Forwarded-For` is believed; empty: none.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Every connection on the listeners (not the metrics one) must begin
    /// with a PROXY protocol header, whose address then stands for the
    /// peer's. Read for each new connection, so a reload applies it to
    /// connections accepted afterwards.
    pub proxy_protocol: bool,
}

/// Most threads of one kind (`workers`, `io_threads`), in the file and on
/// the command line: far more than any machine wants, and few enough that
/// sizing tables by it cannot overflow.
pub const MAX_THREADS: usize = 1024;

/// Most requests one connection has answered per turn of the loop. A
/// client pipelining requests that are answered on the loop (cache hits,
/// `OPTIONS`, errors) and reading the answers as fast as they come would
/// otherwise keep the loop to itself: every other connection on that loop
/// waited 10 ms and more per turn.
pub const REQUESTS_PER_TURN: usize = 16;

/// Values given on the command line; each one overrides the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub root: Option<PathBuf>,
    /// `--listen`, repeated: when any is given, they replace the file's list.
    pub listen: Vec<String>,
    pub workers: Option<usize>,
    pub io_threads: Option<usize>,
}

/// Cache settings (`[cache]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Largest file kept.
    pub max_file_bytes: u64,
    /// Memory budget for all cached bodies.
    pub max_total_bytes: u64,
    /// How long an entry is trusted when filesystem events are unavailable.
    pub revalidate: Duration,
    /// How long an entry is trusted even with filesystem events, which
    /// only report changes made through paths in the watched tree.
    pub recheck: Duration,
    /// Keep descriptor entries (open descriptor and metadata) for files
    /// larger than `max_file_bytes`.
    pub descriptors: bool,
}

/// The line format of the access log (`[log] format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `host - - [time] "request" status bytes`
    Common,
    /// Common plus `"referer" "user-agent"`.
    #[default]
    Combined,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The names accepted by `[log] format`.
    pub const NAMES: [&'static str; 3] = ["combined", "common", "json"];

    /// Parses a `[log] format` value.
    pub fn parse(name: &str) -> Option<LogFormat> {
        match name {
            "combined" => Some(LogFormat::Combined),
            "common" => Some(LogFormat::Common),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Combined => "combined",
            LogFormat::Common => "common",
            LogFormat::Json => "json",
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            LogFormat::Combined => 0,
            LogFormat::Common => 1,
            LogFormat::Json => 2,
        }
    }

    pub(crate) fn from_u8(value: u8) -> LogFormat {
        match value {
            1 => LogFormat::Common,
            2 => LogFormat::Json,
            _ => LogFormat::Combined,
        }
    }
}

/// The filesystem questions loading a configuration asks, answered by the
/// caller (`disk::startup::StartupFiles` in wharf itself).
pub trait Files {
    /// Whether `path` names a regular file (following symlinks).
    fn is_file(&self, path: &Path) -> bool;
    /// The file at `path`, as UTF-8 text.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// `path` canonicalised, checked to be a directory.
    fn canonical_dir(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The config file used when `-c` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config.toml";

impl Config {
    /// Builds the configuration from an optional config file and overrides.
    ///
    /// With `config_file` `None`, `./config.toml` is read when it exists.
    ///
    /// # Errors
    /// A one-line [`ConfigError`] for an unreadable or malformed file, an
    /// unknown key, a bad value or an unusable root.
    /// The file is found, read and the root checked through `files`, so
    /// that this module makes no filesystem call of its own.
    pub fn load(
        config_file: Option<&Path>,
        overrides: &Overrides,
        files: &dyn Files,
    ) -> Result<Config, ConfigError> {
        let file = match config_file {
            Some(path) => Some(path.to_path_buf()),
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                files.is_file(default).then(|| default.to_path_buf())
            }
        };
        let mut raw = Raw::default();
        if let Some(path) = &file {
            let text = files.read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            let base = path.parent().unwrap_or(Path::new("."));
            apply_toml(&mut raw, &text, base)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        }
        if let Some(root) = &overrides.root {
            raw.root = root.clone();
        }
        if !overrides.listen.is_empty() {
            raw.listen = overrides.listen.clone();
        }
        if let Some(workers) = overrides.workers {
            raw.workers = workers;
        }
        if let Some(io_threads) = overrides.io_threads {
            raw.io_threads = io_threads;
        }
        validate(raw, file, files)
    }
}

fn validate(
    raw: Raw,
    config_file: Option<PathBuf>,
    files: &dyn Files,
) -> Result<Config, ConfigError> {
    if raw.listen.is_empty() {
        return Err(ConfigError(
            "listen: the list is empty; give at least one ADDR:PORT or unix:PATH".to_string(),
        ));
    }
    let listen = raw
        .listen
        .iter()
        .map(|text| {
            parse_listen_addr(text).ok_or_else(|| {
                ConfigError(format!("listen: '{text}' is not an ADDR:PORT or unix:PATH"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metrics_listen = match raw.metrics_listen.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_listen(text).ok_or_else(|| {
            ConfigError(format!("[metrics] listen: '{text}' is not an ADDR:PORT"))
        })?),
    };
    // Password files are read here, through `files`, like the config file;
    // their problems are the config file's.
    let auth_rules = auth::load(&raw.auth, files).map_err(|e| match &config_file {
        Some(path) => ConfigError(format!("{}: {e}", path.display())),
        None => ConfigError(e),
    })?;
    let root = files
        .canonical_dir(&raw.root)
        .map_err(|e| ConfigError(format!("root: {}: {e}", raw.root.display())))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = if raw.workers == 0 { cores } else { raw.workers };
    // Disk IO blocks, so the pool wants more threads than cores to keep
    // several slow reads in flight.
    let io_threads = if raw.io_threads == 0 {
        (2 * cores).max(4)
    } else {
        raw.io_threads
    };
    Ok(Config {
        listen,
        unix_socket_mode: raw.unix_socket_mode,
        root,
        workers,
        io_threads,
        limits: raw.limits,
        http: HttpOptions {
            auth_rules,
            ..raw.http
        },
        access_log: raw.access_log,
        access_log_format: raw.access_log_format,
        cache: raw.cache,
        metrics_listen,
        summary_on_exit: raw.summary_on_exit,
        config_file,
        proxy: raw.proxy,
    })
}

/// Parses one `listen` entry: `unix:PATH` (a relative path is taken from
/// the working directory; the file's entries were already made relative
/// to the file) or `ADDR:PORT`.
fn parse_listen_addr(text: &str) -> Option<ListenAddr> {
    match text.strip_prefix("unix:") {
        Some("") => None,
        Some(path) => Some(ListenAddr::Unix(PathBuf::from(path))),
        None => parse_listen(text).map(ListenAddr::Tcp),
    }
}

/// Parses `ADDR:PORT` (`127.0.0.1:8080`, `[::1]:0`, `localhost:8080`).
fn parse_listen(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Some(addr);
    }
    // A host name: resolve once, at start-up.
    let (_, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    text.to_socket_addrs().ok()?.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:0"),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[::1]:8080"),
            Some("[::1]:8080".parse().unwrap())
        );
        assert!(parse_listen("localhost:8080").is_some());
        assert_eq!(parse_listen("127.0.0.1"), None);
        assert_eq!(parse_listen("127.0.0.1:99999"), None);
        assert_eq!(parse_listen("nonsense"), None);
        assert_eq!(
            parse_listen_addr("unix:/run/w.sock"),
            Some(ListenAddr::Unix(PathBuf::from("/run/w.sock")))
        );
        assert_eq!(parse_listen_addr("unix:"), None);
        assert_eq!(
            parse_listen_addr("[::]:0"),
            Some(ListenAddr::Tcp("[::]:0".parse().unwrap()))
        );
        assert_eq!(
            ListenAddr::Unix(PathBuf::from("/a.sock")).to_string(),
            "unix:/a.sock"
        );
    }
}
