//! The config file: its TOML keys, section by section, applied onto the
//! raw settings ([`Raw`]) that [`super::Config::load`] then validates.
//! Every error names its key; unknown keys and sections are refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{
    AccessLogTarget, CacheConfig, HttpOptions, Limits, LogFormat, ProxyConfig, SymlinkPolicy,
    MAX_THREADS,
};
use crate::http::compressible::{self, CodingSet, CompressOptions, TypePattern};
use crate::http::encoding::Coding;
use crate::http::forwarded::TrustedProxies;
use crate::site::archive::ArchiveKinds;
use crate::site::cors::Cors;
use crate::site::redirects::Redirect;
use crate::site::rules::{self, Glob, HeaderRule};

/// The settings before validation, with the documented defaults.
pub(super) struct Raw {
    pub(super) listen: Vec<String>,
    pub(super) unix_socket_mode: u32,
    pub(super) root: PathBuf,
    pub(super) workers: usize,
    pub(super) io_threads: usize,
    pub(super) limits: Limits,
    pub(super) http: HttpOptions,
    pub(super) access_log: AccessLogTarget,
    pub(super) access_log_format: LogFormat,
    pub(super) cache: CacheConfig,
    pub(super) metrics_listen: Option<String>,
    pub(super) summary_on_exit: bool,
    pub(super) proxy: ProxyConfig,
    /// The `auth` rules, whose password files are read by validation.
    pub(super) auth: Vec<super::auth::AuthSpec>,
}

impl Default for Raw {
    fn default() -> Raw {
        Raw {
            listen: vec!["127.0.0.1:8080".to_string()],
            unix_socket_mode: super::DEFAULT_UNIX_SOCKET_MODE,
            root: PathBuf::from("."),
            workers: 0,
            io_threads: 0,
            limits: Limits {
                max_connections: 10_000,
                header_timeout: Duration::from_secs(60),
                keepalive_timeout: Duration::from_secs(75),
                send_timeout: Duration::from_secs(60),
                max_header_bytes: 16 * 1024,
                shutdown_timeout: Duration::from_secs(10),
                max_ranges: 16,
            },
            http: HttpOptions {
                index_files: Arc::from(vec!["index.html".to_string()]),
                directory_listing: true,
                hidden_files: false,
                symlinks: SymlinkPolicy::WithinRoot,
                precompressed: true,
                cache_control: Some("no-cache".to_string()),
                rules: Arc::from(Vec::new()),
                error_pages: Arc::from(Vec::new()),
                compress: CompressOptions::default(),
                auth_rules: Arc::from(Vec::new()),
                archive: ArchiveKinds::default(),
                redirects: Arc::from(Vec::new()),
                fallback: None,
                try_extensions: Arc::from(Vec::new()),
                canonical: false,
                cors: None,
                auth_failure_delay: Duration::from_secs(1),
            },
            access_log: AccessLogTarget::Stdout,
            access_log_format: LogFormat::Combined,
            cache: CacheConfig {
                enabled: true,
                max_file_bytes: 128 * 1024,
                max_total_bytes: 64 * 1024 * 1024,
                revalidate: Duration::from_secs(2),
                recheck: Duration::from_secs(60),
                descriptors: true,
            },
            metrics_listen: None,
            summary_on_exit: false,
            proxy: ProxyConfig::default(),
            auth: Vec::new(),
        }
    }
}

/// Applies the keys of a TOML document onto `raw`.
pub(super) fn apply_toml(raw: &mut Raw, text: &str, base: &Path) -> Result<(), String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim().replace('\n', " ");
        match line {
            // The line itself too: it names the key, which a message such
            // as "number too large" does not.
            Some(line) => match text.lines().nth(line - 1).map(str::trim) {
                Some(source) if !source.is_empty() => {
                    let source: String = source.chars().take(60).collect();
                    format!("line {line} ({source}): {message}")
                }
                _ => format!("line {line}: {message}"),
            },
            None => message,
        }
    })?;
    for (section_name, value) in &table {
        let section = Section::new(section_name, value)?;
        let apply = match section_name.as_str() {
            "server" => apply_server,
            "limits" => apply_limits,
            "http" => apply_http,
            "log" => apply_log,
            "cache" => apply_cache,
            "metrics" => apply_metrics,
            other => {
                return Err(format!(
                "unknown section [{other}] (expected server, limits, http, cache, metrics or log)"
            ))
            }
        };
        apply(raw, &section, base)?;
    }
    Ok(())
}

/// `[server]`: where to listen, the root, the threads.
fn apply_server(raw: &mut Raw, section: &Section, base: &Path) -> Result<(), String> {
    section.check_keys(&[
        "listen",
        "root",
        "workers",
        "io_threads",
        "unix_socket_mode",
        "proxy_protocol",
    ])?;
    if let Some(listen) = listen_list(section)? {
        // `unix:` paths in the file are relative to the file, like `root`.
        raw.listen = listen
            .into_iter()
            .map(|entry| match entry.strip_prefix("unix:") {
                Some(path) if !path.is_empty() => {
                    format!("unix:{}", base.join(path).display())
                }
                _ => entry,
            })
            .collect();
    }
    if let Some(mode) = section.string("unix_socket_mode")? {
        raw.unix_socket_mode = parse_mode(&mode).ok_or_else(|| {
            format!(
                "[server] unix_socket_mode: expected an octal string from \"0000\" to \"0777\" (e.g. \"0660\"), got \"{mode}\""
            )
        })?;
    }
    if let Some(root) = section.string("root")? {
        raw.root = base.join(root);
    }
    if let Some(workers) = section.integer("workers", 0, MAX_THREADS as u64)? {
        raw.workers = workers as usize;
    }
    if let Some(io_threads) = section.integer("io_threads", 0, MAX_THREADS as u64)? {
        raw.io_threads = io_threads as usize;
    }
    if let Some(b) = section.boolean("proxy_protocol")? {
        raw.proxy.proxy_protocol = b;
    }
    Ok(())
}

/// `[server] listen`: one string or a list of strings.
fn listen_list(section: &Section) -> Result<Option<Vec<String>>, String> {
    match section.table.get("listen") {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(toml::Value::Array(_)) => section.string_list("listen"),
        Some(v) => Err(section.bad("listen", "a string or a list of strings", v)),
    }
}

/// An octal permission string such as `"0660"` or `"660"`.
fn parse_mode(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o777)
}

/// `[limits]`: connection and request limits.
fn apply_limits(raw: &mut Raw, section: &Section, _base: &Path) -> Result<(), String> {
    section.check_keys(&[
        "max_connections",
        "header_timeout_secs",
        "keepalive_timeout_secs",
        "send_timeout_secs",
        "max_header_bytes",
        "shutdown_timeout_secs",
        "max_ranges",
    ])?;
    let limits = &mut raw.limits;
    if let Some(n) = section.integer("max_connections", 1, 10_000_000)? {
        limits.max_connections = n as usize;
    }
    if let Some(n) = section.integer("header_timeout_secs", 1, 86_400)? {
        limits.header_timeout = Duration::from_secs(n);
    }
    if let Some(n) = section.integer("keepalive_timeout_secs", 0, 86_400)? {
        limits.keepalive_timeout = Duration::from_secs(n);
    }
    if let Some(n) = section.integer("send_timeout_secs", 1, 86_400)? {
        limits.send_timeout = Duration::from_secs(n);
    }
    if let Some(n) = section.integer("max_header_bytes", 1024, 1024 * 1024)? {
        limits.max_header_bytes = n as usize;
    }
    if let Some(n) = section.integer("shutdown_timeout_secs", 0, 3600)? {
        limits.shutdown_timeout = Duration::from_secs(n);
    }
    if let Some(n) = section.integer("max_ranges", 0, 1000)? {
        limits.max_ranges = n as usize;
    }
    Ok(())
}

/// `[http]`: how files are served.
fn apply_http(raw: &mut Raw, section: &Section, base: &Path) -> Result<(), String> {
    section.check_keys(&[
        "index_files",
        "directory_listing",
        "hidden_files",
        "symlinks",
        "precompressed",
        "cache_control",
        "rules",
        "error_pages",
        "compress",
        "compress_types",
        "compress_min_bytes",
        "compress_max_bytes",
        "compress_level_gzip",
        "compress_level_br",
        "compress_level_zstd",
        "archive",
        "redirects",
        "fallback",
        "try_extensions",
        "canonical",
        "cors",
        "auth_failure_delay_secs",
    ])?;
    if let Some(names) = section.string_list("index_files")? {
        if let Some(bad) = names.iter().find(|n| !is_plain_file_name(n)) {
            return Err(format!(
                "[http] index_files: '{bad}' must be a plain file name (no '/', not '.' or '..')"
            ));
        }
        raw.http.index_files = Arc::from(names);
    }
    if let Some(b) = section.boolean("directory_listing")? {
        raw.http.directory_listing = b;
    }
    if let Some(b) = section.boolean("hidden_files")? {
        raw.http.hidden_files = b;
    }
    if let Some(policy) = section.string("symlinks")? {
        raw.http.symlinks = match policy.as_str() {
                "within-root" => SymlinkPolicy::WithinRoot,
                "follow" => SymlinkPolicy::Follow,
                "deny" => SymlinkPolicy::Deny,
                other => {
                    return Err(format!(
                        "[http] symlinks: expected \"within-root\", \"follow\" or \"deny\", got \"{other}\""
                    ))
                }
            };
    }
    if let Some(b) = section.boolean("precompressed")? {
        raw.http.precompressed = b;
    }
    if let Some(value) = section.string("cache_control")? {
        rules::valid_header_value(&value).map_err(|e| format!("[http] cache_control: {e}"))?;
        raw.http.cache_control = (!value.is_empty()).then_some(value);
    }
    if let Some(value) = section.table.get("rules") {
        raw.http.rules = Arc::from(parse_rules(value)?);
        // Passwords: the same tables' `auth` and `realm` keys.
        raw.auth = super::auth::parse_specs(value, base)?;
    }
    if let Some(n) = section.integer("auth_failure_delay_secs", 0, 60)? {
        raw.http.auth_failure_delay = Duration::from_secs(n);
    }
    if let Some(value) = section.table.get("error_pages") {
        raw.http.error_pages = Arc::from(parse_error_pages(value)?);
    }
    if let Some(names) = section.string_list("archive")? {
        raw.http.archive = ArchiveKinds::parse(&names).map_err(|bad| {
            format!("[http] archive: expected a list of \"tar\" and \"tar.gz\", got \"{bad}\"")
        })?;
    }
    apply_site_routing(raw, section)?;
    apply_http_compress(&mut raw.http.compress, section)
}

/// The `[http]` keys of redirects, the app fallback, clean URLs and CORS.
fn apply_site_routing(raw: &mut Raw, section: &Section) -> Result<(), String> {
    if let Some(value) = section.table.get("redirects") {
        raw.http.redirects = Arc::from(parse_redirects(value)?);
    }
    if let Some(path) = section.string("fallback")? {
        raw.http.fallback = if path.is_empty() {
            None
        } else {
            Some(parse_site_file("[http] fallback", &path)?)
        };
    }
    if let Some(extensions) = section.string_list("try_extensions")? {
        if let Some(bad) = extensions.iter().find(|e| {
            e.is_empty() || e.starts_with('.') || !is_plain_file_name(e) || e.contains('.')
        }) {
            return Err(format!(
                "[http] try_extensions: '{bad}' must be an extension without its dot (\"html\", not \".html\")"
            ));
        }
        raw.http.try_extensions = Arc::from(extensions);
    }
    if let Some(b) = section.boolean("canonical")? {
        raw.http.canonical = b;
    }
    if raw.http.canonical && raw.http.try_extensions.is_empty() {
        return Err(
            "[http] canonical: true needs try_extensions (e.g. try_extensions = [\"html\"])"
                .to_string(),
        );
    }
    if let Some(value) = section.table.get("cors") {
        raw.http.cors = parse_cors(value)?.map(Arc::new);
    }
    if raw.http.cors.is_some() {
        // Two Access-Control-Allow-Origin fields make browsers refuse both.
        let set_by_rule = raw.http.rules.iter().enumerate().find_map(|(i, rule)| {
            rule.headers
                .iter()
                .find(|(name, _)| name.to_ascii_lowercase().starts_with("access-control-"))
                .map(|(name, _)| (i, name))
        });
        if let Some((i, name)) = set_by_rule {
            return Err(format!(
                "[http.cors]: [[http.rules]] #{} sets {name} too; use one or the other",
                i + 1
            ));
        }
    }
    Ok(())
}

/// `[http] compress` and `compress_*`: what wharf compresses itself.
fn apply_http_compress(compress: &mut CompressOptions, section: &Section) -> Result<(), String> {
    if let Some(names) = section.string_list("compress")? {
        let mut codings = CodingSet::EMPTY;
        for name in &names {
            let coding = match name.as_str() {
                "br" => Coding::Brotli,
                "gzip" => Coding::Gzip,
                "zstd" => Coding::Zstd,
                other => {
                    return Err(format!(
                        "[http] compress: expected \"br\", \"gzip\" or \"zstd\", got \"{other}\""
                    ))
                }
            };
            codings = codings.with(coding);
        }
        compress.codings = codings;
    }
    if let Some(types) = section.string_list("compress_types")? {
        compress.types = types
            .iter()
            .map(|t| TypePattern::parse(t))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("[http] compress_types: {e}"))?;
    }
    if let Some(n) = section.integer("compress_min_bytes", 0, 1 << 30)? {
        compress.min_bytes = n;
    }
    if let Some(n) = section.integer("compress_max_bytes", 0, 1 << 30)? {
        compress.max_bytes = n;
    }
    if compress.min_bytes > compress.max_bytes {
        return Err(format!(
            "[http] compress_min_bytes: {} is more than compress_max_bytes ({})",
            compress.min_bytes, compress.max_bytes
        ));
    }
    let levels = [
        (
            "compress_level_gzip",
            compressible::LEVELS_GZIP,
            &mut compress.level_gzip,
        ),
        (
            "compress_level_br",
            compressible::LEVELS_BR,
            &mut compress.level_br,
        ),
        (
            "compress_level_zstd",
            compressible::LEVELS_ZSTD,
            &mut compress.level_zstd,
        ),
    ];
    for (key, (min, max), level) in levels {
        if let Some(n) = section.integer(key, u64::from(min), u64::from(max))? {
            *level = n as u32;
        }
    }
    Ok(())
}

/// Parses `[[http.redirects]]`: tables with `from`, `to` and an optional
/// `status`. Errors name the key as `http.redirects[N].KEY`, counting from 0.
fn parse_redirects(value: &toml::Value) -> Result<Vec<Redirect>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!(
            "http.redirects: expected [[http.redirects]] tables, got {value}"
        ));
    };
    let mut redirects = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = format!("http.redirects[{i}]");
        let Some(table) = item.as_table() else {
            return Err(format!("{name}: expected a table, got {item}"));
        };
        if let Some(key) = table
            .keys()
            .find(|k| !["from", "to", "status"].contains(&k.as_str()))
        {
            return Err(format!(
                "{name}.{key}: unknown key (expected one of: from, to, status)"
            ));
        }
        let text = |key: &str| match table.get(key) {
            Some(toml::Value::String(s)) => Ok(s.as_str()),
            Some(v) => Err(format!("{name}.{key}: expected a string, got {v}")),
            None => Err(format!("{name}.{key}: missing")),
        };
        let (from, to) = (text("from")?, text("to")?);
        let status = match table.get("status") {
            None => 301,
            Some(toml::Value::Integer(n)) => match u16::try_from(*n) {
                Ok(status) => status,
                Err(_) => {
                    return Err(format!(
                        "{name}.status: expected 301, 302, 307 or 308, got {n}"
                    ))
                }
            },
            Some(v) => {
                return Err(format!(
                    "{name}.status: expected 301, 302, 307 or 308, got {v}"
                ))
            }
        };
        let redirect = Redirect::new(from, to, status)
            .map_err(|e| format!("{name}.{}: {}", e.key, e.message))?;
        redirects.push(redirect);
    }
    Ok(redirects)
}

/// Parses `[http.cors]`. `None` when no origin is allowed.
fn parse_cors(value: &toml::Value) -> Result<Option<Cors>, String> {
    let section = Section::new("http.cors", value)?;
    section.check_keys(&[
        "allow_origins",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "max_age_secs",
    ])?;
    let list = |key: &str, default: &[&str]| -> Result<Vec<String>, String> {
        Ok(section
            .string_list(key)?
            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect()))
    };
    let origins = list("allow_origins", &[])?;
    let methods = list("allow_methods", &["GET", "HEAD", "OPTIONS"])?;
    let headers = list("allow_headers", &[])?;
    let expose = list("expose_headers", &[])?;
    let max_age = section.integer("max_age_secs", 0, 86_400)?.unwrap_or(600);
    Cors::new(&origins, &methods, &headers, &expose, max_age)
        .map_err(|(key, message)| format!("[http.cors] {key}: {message}"))
}

/// A file under the root named by a config value (`/index.html` or
/// `index.html`), as its sanitised relative path.
fn parse_site_file(key: &str, path: &str) -> Result<String, String> {
    let absolute = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let safe =
        crate::site::path::sanitize(&absolute).map_err(|e| format!("{key}: '{path}': {e}"))?;
    if safe.relative.is_empty() || safe.trailing_slash {
        return Err(format!("{key}: '{path}' must name a file"));
    }
    if safe.hidden {
        return Err(format!("{key}: '{path}' names a hidden file"));
    }
    Ok(safe.relative)
}

/// `[log]`: the access log.
fn apply_log(raw: &mut Raw, section: &Section, base: &Path) -> Result<(), String> {
    section.check_keys(&["access", "format", "trusted_proxies"])?;
    if let Some(access) = section.string("access")? {
        raw.access_log = match access.as_str() {
            "off" => AccessLogTarget::Off,
            "stdout" => AccessLogTarget::Stdout,
            "stderr" => AccessLogTarget::Stderr,
            "" => return Err("[log] access: must not be empty (use \"off\")".into()),
            path => AccessLogTarget::File(base.join(path)),
        };
    }
    if let Some(format) = section.string("format")? {
        raw.access_log_format = LogFormat::parse(&format).ok_or_else(|| {
            format!(
                "[log] format: expected \"{}\", got \"{format}\"",
                LogFormat::NAMES.join("\", \"")
            )
        })?;
    }
    if let Some(items) = section.string_list("trusted_proxies")? {
        let trusted = TrustedProxies::parse(&items).map_err(|(item, e)| {
            format!("[log] trusted_proxies: '{item}': {e} (e.g. \"10.0.0.0/8\" or \"::1/128\")")
        })?;
        raw.proxy.trusted_proxies = Arc::new(trusted);
    }
    Ok(())
}

/// `[cache]`: the hot-file cache.
fn apply_cache(raw: &mut Raw, section: &Section, _base: &Path) -> Result<(), String> {
    section.check_keys(&[
        "enabled",
        "max_file_bytes",
        "max_total_bytes",
        "revalidate_secs",
        "recheck_secs",
        "descriptors",
    ])?;
    let cache = &mut raw.cache;
    if let Some(b) = section.boolean("enabled")? {
        cache.enabled = b;
    }
    if let Some(n) = section.integer("max_file_bytes", 0, 1 << 30)? {
        cache.max_file_bytes = n;
    }
    if let Some(n) = section.integer("max_total_bytes", 0, 1 << 40)? {
        cache.max_total_bytes = n;
    }
    if let Some(n) = section.integer("revalidate_secs", 0, 86_400)? {
        cache.revalidate = Duration::from_secs(n);
    }
    if let Some(n) = section.integer("recheck_secs", 1, 86_400)? {
        cache.recheck = Duration::from_secs(n);
    }
    if let Some(b) = section.boolean("descriptors")? {
        cache.descriptors = b;
    }
    Ok(())
}

/// `[metrics]`: the metrics listener and the exit summary.
fn apply_metrics(raw: &mut Raw, section: &Section, _base: &Path) -> Result<(), String> {
    section.check_keys(&["listen", "summary"])?;
    if let Some(listen) = section.string("listen")? {
        raw.metrics_listen = Some(listen);
    }
    if let Some(b) = section.boolean("summary")? {
        raw.summary_on_exit = b;
    }
    Ok(())
}

/// The keys of a `[[http.rules]]` table (`auth` and `realm`: see
/// [`super::auth`]).
const RULE_KEYS: &[&str] = &["match", "cache_control", "headers", "auth", "realm"];

/// Parses `[[http.rules]]`: an array of tables with `match`, and optional
/// `cache_control` and `headers`.
fn parse_rules(value: &toml::Value) -> Result<Vec<HeaderRule>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!(
            "[http] rules: expected [[http.rules]] tables, got {value}"
        ));
    };
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = format!("[[http.rules]] #{}", i + 1);
        let Some(table) = item.as_table() else {
            return Err(format!("{name}: expected a table, got {item}"));
        };
        if let Some(key) = table.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "{name}: {key}: unknown key (expected one of: {})",
                RULE_KEYS.join(", ")
            ));
        }
        let pattern = match table.get("match") {
            Some(toml::Value::String(p)) => {
                Glob::new(p).map_err(|e| format!("{name}: match: {e}"))?
            }
            Some(v) => return Err(format!("{name}: match: expected a glob string, got {v}")),
            None => return Err(format!("{name}: match: missing (e.g. match = \"*.css\")")),
        };
        let cache_control = match table.get("cache_control") {
            None => None,
            Some(toml::Value::String(v)) => {
                rules::valid_header_value(v).map_err(|e| format!("{name}: cache_control: {e}"))?;
                Some(v.clone())
            }
            Some(v) => return Err(format!("{name}: cache_control: expected a string, got {v}")),
        };
        let mut headers = Vec::new();
        match table.get("headers") {
            None => {}
            Some(toml::Value::Table(map)) => {
                for (header, v) in map {
                    let toml::Value::String(v) = v else {
                        return Err(format!(
                            "{name}: headers: {header}: expected a string, got {v}"
                        ));
                    };
                    rules::valid_header_name(header)
                        .map_err(|e| format!("{name}: headers: {e}"))?;
                    rules::valid_header_value(v)
                        .map_err(|e| format!("{name}: headers: {header}: {e}"))?;
                    headers.push((header.clone(), v.clone()));
                }
            }
            Some(v) => return Err(format!("{name}: headers: expected a table, got {v}")),
        }
        rules.push(HeaderRule {
            pattern,
            cache_control,
            headers,
        });
    }
    Ok(rules)
}

/// Parses `[http.error_pages]`: `404 = "/errors/404.html"`.
fn parse_error_pages(value: &toml::Value) -> Result<Vec<(u16, String)>, String> {
    let Some(table) = value.as_table() else {
        return Err(format!(
            "[http] error_pages: expected a table like {{ 404 = \"/404.html\" }}, got {value}"
        ));
    };
    let mut pages = Vec::with_capacity(table.len());
    for (status, path) in table {
        let code = status
            .parse::<u16>()
            .ok()
            .filter(|c| (400..=599).contains(c))
            .ok_or_else(|| {
                format!("[http] error_pages: '{status}' is not a status code from 400 to 599")
            })?;
        let toml::Value::String(path) = path else {
            return Err(format!(
                "[http] error_pages: {status}: expected a path string, got {path}"
            ));
        };
        let absolute = if path.starts_with('/') {
            path.clone()
        } else {
            format!("/{path}")
        };
        let safe = crate::site::path::sanitize(&absolute)
            .map_err(|e| format!("[http] error_pages: {status}: '{path}': {e}"))?;
        if safe.relative.is_empty() || safe.trailing_slash {
            return Err(format!(
                "[http] error_pages: {status}: '{path}' must name a file"
            ));
        }
        pages.push((code, safe.relative));
    }
    Ok(pages)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// One `[section]` of the file, for typed look-ups that name the key on error.
struct Section<'a> {
    name: &'a str,
    table: &'a toml::Table,
}

impl<'a> Section<'a> {
    fn new(name: &'a str, value: &'a toml::Value) -> Result<Section<'a>, String> {
        match value {
            toml::Value::Table(table) => Ok(Section { name, table }),
            _ => Err(format!("'{name}' must be a [section], not a plain key")),
        }
    }

    fn check_keys(&self, known: &[&str]) -> Result<(), String> {
        match self.table.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(format!(
                "[{}] {key}: unknown key (expected one of: {})",
                self.name,
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    fn bad(&self, key: &str, expected: &str, value: &toml::Value) -> String {
        format!("[{}] {key}: expected {expected}, got {value}", self.name)
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, "a string", v)),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.bad(key, "true or false", v)),
        }
    }

    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        let expected = format!("an integer from {min} to {max}");
        match self.table.get(key) {
            None => Ok(None),
            Some(v @ toml::Value::Integer(n)) => match u64::try_from(*n) {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.bad(key, &expected, v)),
            },
            Some(v) => Err(self.bad(key, &expected, v)),
        }
    }

    fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        let Some(value) = self.table.get(key) else {
            return Ok(None);
        };
        let items = value
            .as_array()
            .and_then(|items| items.iter().map(|i| i.as_str().map(String::from)).collect());
        match items {
            Some(items) => Ok(Some(items)),
            None => Err(self.bad(key, "a list of strings", value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> Result<Raw, String> {
        let mut raw = Raw::default();
        apply_toml(&mut raw, text, Path::new("/base"))?;
        Ok(raw)
    }

    /// Each config text is refused with one line containing its expected
    /// words.
    fn assert_each_refused(table: &[(&str, &str)]) {
        for (text, expected) in table {
            let error = apply(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(error.contains(expected), "{text:?} gave {error:?}");
            assert!(!error.contains('\n'), "{error:?} is not one line");
        }
    }

    #[test]
    fn full_file_applies() {
        let raw = apply(
            r#"
            [server]
            listen = "0.0.0.0:9000"
            root = "site"
            workers = 2
            io_threads = 8
            [limits]
            max_connections = 5
            header_timeout_secs = 7
            keepalive_timeout_secs = 0
            send_timeout_secs = 9
            max_header_bytes = 4096
            shutdown_timeout_secs = 3
            [http]
            index_files = ["index.htm", "default.html"]
            directory_listing = false
            hidden_files = true
            symlinks = "deny"
            precompressed = false
            cache_control = "max-age=60"
            archive = ["tar.gz"]
            [http.error_pages]
            404 = "errors/404.html"
            [[http.rules]]
            match = "/assets/**"
            cache_control = "public, max-age=31536000, immutable"
            headers = { "Access-Control-Allow-Origin" = "*" }
            [log]
            access = "logs/access.log"
            format = "json"
            trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
            "#,
        )
        .unwrap();
        assert_eq!(raw.listen, ["0.0.0.0:9000"]);
        assert_eq!(raw.root, Path::new("/base/site"));
        assert_eq!((raw.workers, raw.io_threads), (2, 8));
        assert_eq!(raw.limits.max_connections, 5);
        assert_eq!(raw.limits.header_timeout, Duration::from_secs(7));
        assert_eq!(raw.limits.keepalive_timeout, Duration::ZERO);
        assert_eq!(raw.limits.send_timeout, Duration::from_secs(9));
        assert_eq!(raw.limits.max_header_bytes, 4096);
        assert_eq!(raw.limits.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(&*raw.http.index_files, ["index.htm", "default.html"]);
        assert!(!raw.http.directory_listing);
        assert!(raw.http.hidden_files);
        assert_eq!(raw.http.symlinks, SymlinkPolicy::Deny);
        assert!(!raw.http.precompressed);
        assert_eq!(raw.http.cache_control.as_deref(), Some("max-age=60"));
        let archive: Vec<_> = raw.http.archive.iter().map(|k| k.name()).collect();
        assert_eq!(archive, ["tar.gz"]);
        assert_eq!(
            &*raw.http.error_pages,
            [(404, "errors/404.html".to_string())]
        );
        assert_eq!(raw.http.rules.len(), 1);
        assert_eq!(
            raw.http.rules[0].headers,
            [("Access-Control-Allow-Origin".to_string(), "*".to_string())]
        );
        assert_eq!(
            raw.access_log,
            AccessLogTarget::File(PathBuf::from("/base/logs/access.log"))
        );
        assert_eq!(raw.access_log_format, LogFormat::Json);
        assert!(raw
            .proxy
            .trusted_proxies
            .contains("10.9.8.7".parse().unwrap()));
        assert!(!raw.proxy.proxy_protocol);
        let raw = apply("[server]\nproxy_protocol = true\n").unwrap();
        assert!(raw.proxy.proxy_protocol);
        assert!(raw.proxy.trusted_proxies.is_empty());
    }

    #[test]
    fn listen_lists_and_socket_modes() {
        let raw = apply(
            "[server]\nlisten = [\"127.0.0.1:1\", \"unix:w.sock\", \"unix:/abs.sock\"]\nunix_socket_mode = \"0600\"",
        )
        .unwrap();
        assert_eq!(
            raw.listen,
            ["127.0.0.1:1", "unix:/base/w.sock", "unix:/abs.sock"]
        );
        assert_eq!(raw.unix_socket_mode, 0o600);
        assert_eq!(parse_mode("660"), Some(0o660));
        assert_eq!(parse_mode("0777"), Some(0o777));
        for bad in ["", "1777", "0o660", "8", "06600", "-1"] {
            assert_eq!(parse_mode(bad), None, "{bad}");
        }
    }

    #[test]
    fn compress_keys_apply() {
        let raw = apply(
            "[http]\ncompress = [\"zstd\", \"gzip\"]\ncompress_types = [\"text/*\"]\n\
             compress_min_bytes = 10\ncompress_max_bytes = 20\ncompress_level_gzip = 9\n\
             compress_level_br = 11\ncompress_level_zstd = 19\n",
        )
        .unwrap();
        let compress = &raw.http.compress;
        assert_eq!(
            compress.codings.iter().collect::<Vec<_>>(),
            [Coding::Zstd, Coding::Gzip]
        );
        assert_eq!(compress.types, [TypePattern::parse("text/*").unwrap()]);
        assert_eq!((compress.min_bytes, compress.max_bytes), (10, 20));
        assert_eq!(
            (compress.level_gzip, compress.level_br, compress.level_zstd),
            (9, 11, 19)
        );
        let off = apply("[http]\ncompress = []\n").unwrap();
        assert!(off.http.compress.codings.is_empty());
        let default = apply("").unwrap();
        assert_eq!(
            default.http.compress.codings.iter().collect::<Vec<_>>(),
            [Coding::Brotli, Coding::Gzip]
        );
    }

    #[test]
    fn site_routing_keys_apply() {
        let raw = apply(
            r#"
            [http]
            fallback = "/app.html"
            try_extensions = ["html", "htm"]
            canonical = true
            [[http.redirects]]
            from = "/old/**"
            to = "/new/{rest}"
            [[http.redirects]]
            from = "/blog"
            to = "https://blog.example.com/"
            status = 308
            [http.cors]
            allow_origins = ["https://app.example"]
            allow_headers = ["Content-Type"]
            max_age_secs = 60
            "#,
        )
        .unwrap();
        assert_eq!(raw.http.fallback.as_deref(), Some("app.html"));
        assert_eq!(&*raw.http.try_extensions, ["html", "htm"]);
        assert!(raw.http.canonical);
        assert_eq!(raw.http.redirects.len(), 2);
        assert_eq!(raw.http.redirects[0].status, 301);
        assert_eq!(raw.http.redirects[1].status, 308);
        let cors = raw.http.cors.as_ref().unwrap();
        assert_eq!(
            cors.allow_origin(Some("https://app.example")),
            Some("https://app.example")
        );
        // Dotted keys, and an empty origin list (CORS off).
        let raw = apply(
            "http.redirects = [{from = \"/a/**\", to = \"/b/{rest}\"}]\nhttp.cors.allow_origins = []\n",
        )
        .unwrap();
        assert_eq!(raw.http.redirects.len(), 1);
        assert!(raw.http.cors.is_none());
        assert!(apply("").unwrap().http.fallback.is_none());
    }

    #[test]
    fn site_routing_errors_name_the_key() {
        let table = [
            ("[http]\nfallback = \"/\"", "[http] fallback: '/' must name a file"),
            ("[http]\nfallback = \"/../x\"", "[http] fallback:"),
            ("[http]\nfallback = \"/.app.html\"", "[http] fallback:"),
            ("[http]\nfallback = true", "[http] fallback: expected a string"),
            ("[http]\ntry_extensions = [\".html\"]", "[http] try_extensions: '.html'"),
            ("[http]\ntry_extensions = [\"a/b\"]", "[http] try_extensions: 'a/b'"),
            ("[http]\ncanonical = true", "[http] canonical: true needs try_extensions"),
            (
                "[http]\nauth_failure_delay_secs = 61",
                "[http] auth_failure_delay_secs: expected an integer from 0 to 60",
            ),
            (
                "[[http.redirects]]\nfrom = \"/a\"\nto = \"//evil.com\"",
                "http.redirects[0].to: '//evil.com'",
            ),
            (
                "[[http.redirects]]\nfrom = \"/a\"\nto = \"/b\"\n[[http.redirects]]\nfrom = \"/c\"\nto = \"c\"",
                "http.redirects[1].to:",
            ),
            ("[[http.redirects]]\nfrom = \"/a\"", "http.redirects[0].to: missing"),
            ("[[http.redirects]]\nto = \"/a\"", "http.redirects[0].from: missing"),
            (
                "[[http.redirects]]\nfrom = \"/a\"\nto = \"/b\"\nstatus = 303",
                "http.redirects[0].status: 303",
            ),
            (
                "[[http.redirects]]\nfrom = \"/a\"\nto = \"/b\"\nstatus = \"301\"",
                "http.redirects[0].status: expected",
            ),
            (
                "[[http.redirects]]\nfrom = \"/a\"\nto = \"/b\"\ncode = 301",
                "http.redirects[0].code: unknown key",
            ),
            ("[http]\nredirects = 1", "http.redirects: expected"),
            (
                "[http.cors]\nallow_origins = [\"https://a.example/\"]",
                "[http.cors] allow_origins:",
            ),
            (
                "[http.cors]\nallow_origins = [\"*\"]\nallow_methods = [\"POST\"]",
                "[http.cors] allow_methods:",
            ),
            (
                "[http.cors]\nallow_origins = \"*\"",
                "[http.cors] allow_origins: expected a list",
            ),
            ("[http.cors]\nmax_age_secs = -1", "[http.cors] max_age_secs:"),
            ("[http.cors]\norigins = [\"*\"]", "[http.cors] origins: unknown key"),
            ("[http]\ncors = 1", "'http.cors' must be a [section]"),
            (
                "[[http.rules]]\nmatch = \"*\"\nheaders = { \"Access-Control-Allow-Origin\" = \"*\" }\n[http.cors]\nallow_origins = [\"*\"]",
                "[http.cors]: [[http.rules]] #1 sets Access-Control-Allow-Origin",
            ),
        ];
        assert_each_refused(&table);
    }

    #[test]
    fn errors_name_the_key() {
        let table = [
            (
                "[server]\nworkers = \"two\"",
                "[server] workers: expected an integer",
            ),
            (
                "[server]\nworkers = -1",
                "[server] workers: expected an integer",
            ),
            ("[limits]\nmax_connections = 0", "[limits] max_connections"),
            (
                "[limits]\nheader_timeout_secs = 1.5",
                "[limits] header_timeout_secs",
            ),
            (
                "[server]\nlisten = 8080",
                "[server] listen: expected a string",
            ),
            ("[server]\nport = 1", "[server] port: unknown key"),
            (
                "[server]\nlisten = [1]",
                "[server] listen: expected a list of strings",
            ),
            (
                "[server]\nunix_socket_mode = \"0999\"",
                "[server] unix_socket_mode: expected an octal string",
            ),
            (
                "[server]\nunix_socket_mode = 660",
                "[server] unix_socket_mode: expected a string",
            ),
            (
                "[http]\nindex_files = \"index.html\"",
                "[http] index_files: expected a list",
            ),
            (
                "[http]\nindex_files = [\"../x\"]",
                "[http] index_files: '../x'",
            ),
            (
                "[http]\nhidden_files = \"yes\"",
                "[http] hidden_files: expected true or false",
            ),
            ("[log]\naccess = \"\"", "[log] access"),
            (
                "[log]\nformat = \"xml\"",
                "[log] format: expected \"combined\"",
            ),
            ("[log]\nformat = 1", "[log] format: expected a string"),
            (
                "[log]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]",
                "[log] trusted_proxies: '10.0.0.0/33'",
            ),
            (
                "[log]\ntrusted_proxies = \"10.0.0.0/8\"",
                "[log] trusted_proxies: expected a list of strings",
            ),
            (
                "[server]\nproxy_protocol = \"yes\"",
                "[server] proxy_protocol: expected true or false",
            ),
            (
                "[http]\nsymlinks = \"sometimes\"",
                "[http] symlinks: expected",
            ),
            (
                "[http]\narchive = [\"tar\", \"zip\"]",
                "[http] archive: expected a list of \"tar\" and \"tar.gz\", got \"zip\"",
            ),
            (
                "[http]\narchive = \"tar\"",
                "[http] archive: expected a list of strings",
            ),
            ("[cache]\nx = 1", "[cache] x: unknown key"),
            (
                "[http]\ncompress = [\"deflate\"]",
                "[http] compress: expected \"br\"",
            ),
            (
                "[http]\ncompress = \"br\"",
                "[http] compress: expected a list",
            ),
            (
                "[http]\ncompress_types = [\"javascript\"]",
                "[http] compress_types: 'javascript' is not a media type",
            ),
            (
                "[http]\ncompress_min_bytes = 100\ncompress_max_bytes = 10",
                "[http] compress_min_bytes: 100 is more than compress_max_bytes (10)",
            ),
            (
                "[http]\ncompress_level_gzip = 0",
                "[http] compress_level_gzip: expected an integer from 1 to 9",
            ),
            (
                "[http]\ncompress_level_br = 12",
                "[http] compress_level_br: expected an integer from 0 to 11",
            ),
            (
                "[http]\ncompress_level_zstd = 20",
                "[http] compress_level_zstd: expected an integer from 1 to 19",
            ),
            ("[cache]\nmax_file_bytes = -1", "[cache] max_file_bytes"),
            ("[nope]\nx = 1", "unknown section [nope]"),
            ("listen = \"x\"", "'listen' must be a [section]"),
            ("[server\n", "line 1 ([server):"),
            ("[server]\nroot = \n", "line 2 (root =):"),
            ("[server]\nlisten = \"x\"\n=oops\n", "line 3 (=oops):"),
            (
                "[server]\nworkers = 2\nworkers = 3\n",
                "line 3 (workers = 3):",
            ),
        ];
        assert_each_refused(&table);
    }
}
