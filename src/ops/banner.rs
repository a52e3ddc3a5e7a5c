//! What wharf prints once it is listening.
//!
//! On a terminal, a banner for people: the URL(s) to open (every local
//! address when bound to `0.0.0.0` or `[::]`), threads, the config file and
//! the access-log destination, and how to stop or reload. Otherwise (a pipe,
//! a file, a service manager) or with `--quiet`, one line that scripts can
//! parse: its first `http://` word is the URL (of the first listener),
//! followed by one `wharf also listening on URL` line per further
//! listener (`unix:PATH` for a Unix socket).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::config::AccessLogTarget;
use crate::config::Config;
use crate::config::ListenAddr;
use crate::config::LogFormat;

/// Everything the start-up text reports.
pub struct Facts<'a> {
    pub config: &'a Config,
    /// The addresses actually bound (real port when 0 was asked for), in
    /// order; at least one.
    pub bound: &'a [ListenAddr],
    pub pid: u32,
    /// The metrics URL, when a metrics listener runs.
    pub metrics: Option<String>,
}

/// The machine-friendly text, without a final newline. Its first line's
/// first `http://` word is the first listener's URL; the metrics URL, if
/// any, is that line's last word. Each further listener adds a line
/// `wharf also listening on URL`.
pub fn plain_line(facts: &Facts) -> String {
    let mut listeners = facts.bound.iter().map(listen_url);
    let mut line = format!(
        "wharf {} serving {} on {} ({} event loops, {} IO threads)",
        env!("CARGO_PKG_VERSION"),
        facts.config.root.display(),
        listeners.next().unwrap_or_default(),
        facts.config.workers,
        facts.config.io_threads
    );
    if let Some(metrics) = &facts.metrics {
        line.push_str(&format!(" metrics on {metrics}"));
    }
    for other in listeners {
        line.push_str(&format!("\nwharf also listening on {other}"));
    }
    line
}

/// `http://HOST:PORT/` for TCP, `unix:PATH` for a Unix socket.
pub fn listen_url(addr: &ListenAddr) -> String {
    match addr {
        ListenAddr::Tcp(addr) => url(*addr),
        ListenAddr::Unix(path) => format!("unix:{}", path.display()),
    }
}

/// `http://HOST:PORT/`, with brackets around IPv6 addresses.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// The URLs a person can open: the bound address itself, or, for an
/// unspecified one, loopback first and then every interface address of the
/// families it accepts (`[::]` also accepts IPv4 on Linux by default).
/// Link-local IPv6 addresses are left out: a browser needs a zone index
/// for them. Returns `(label, url)` pairs.
pub fn urls(bound: SocketAddr, interfaces: &[IpAddr]) -> Vec<(&'static str, String)> {
    let port = bound.port();
    let ip = bound.ip();
    if !ip.is_unspecified() {
        let label = if ip.is_loopback() { "Local" } else { "Network" };
        return vec![(label, url(bound))];
    }
    let want_v6 = ip.is_ipv6();
    let mut addrs: Vec<IpAddr> = interfaces
        .iter()
        .copied()
        .filter(|a| match a {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => want_v6 && !is_link_local_v6(v6),
        })
        .collect();
    if addrs.is_empty() {
        addrs.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    // Loopback first, then IPv4 before IPv6, keeping the system's order.
    addrs.sort_by_key(|a| (!a.is_loopback(), a.is_ipv6()));
    addrs.dedup();
    addrs
        .into_iter()
        .map(|a| {
            let label = if a.is_loopback() { "Local" } else { "Network" };
            (label, url(SocketAddr::new(a, port)))
        })
        .collect()
}

fn is_link_local_v6(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Terminal styling, off with `NO_COLOR`.
pub struct Style {
    pub color: bool,
}

impl Style {
    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn link(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1;36m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn dim(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// The multi-line banner for a terminal.
pub fn banner(facts: &Facts, interfaces: &[IpAddr], style: &Style) -> String {
    let config = facts.config;
    let mut out = format!(
        "\n  {} {}  serving {}\n\n",
        style.bold("wharf"),
        env!("CARGO_PKG_VERSION"),
        style.bold(&config.root.display().to_string())
    );
    let mut last_label = "";
    let mut shown_urls = Vec::new();
    for bound in facts.bound {
        match bound {
            ListenAddr::Tcp(addr) => shown_urls.extend(urls(*addr, interfaces)),
            ListenAddr::Unix(path) => shown_urls.push(("Unix", path.display().to_string())),
        }
    }
    for (label, url) in shown_urls {
        let shown = if label == last_label { "" } else { label };
        last_label = label;
        out.push_str(&format!(
            "  {:<12}{}\n",
            if shown.is_empty() {
                String::new()
            } else {
                format!("{shown}:")
            },
            style.link(&url)
        ));
    }
    let config_file = match &config.config_file {
        Some(path) => absolute(path),
        None => "none (built-in defaults)".to_string(),
    };
    if let Some(metrics) = &facts.metrics {
        out.push_str(&format!("  {:<12}{}\n", "Metrics:", style.link(metrics)));
    }
    out.push_str(&format!(
        "  {:<12}{} event loops, {} IO threads\n",
        "Threads:", config.workers, config.io_threads
    ));
    out.push_str(&format!("  {:<12}{config_file}\n", "Config:"));
    out.push_str(&format!(
        "  {:<12}{}\n",
        "Access log:",
        access_log_text(&config.access_log, config.access_log_format)
    ));
    out.push_str(&format!(
        "\n  {}\n",
        style.dim(&format!(
            "Ctrl-C stops · kill -HUP {pid} reloads the config · kill -USR1 {pid} reopens the log file",
            pid = facts.pid
        ))
    ));
    out
}

fn access_log_text(target: &AccessLogTarget, format: LogFormat) -> String {
    match target {
        AccessLogTarget::Off => "off".to_string(),
        AccessLogTarget::Stdout => format!("stdout ({} format)", format.name()),
        AccessLogTarget::Stderr => format!("stderr ({} format)", format.name()),
        AccessLogTarget::File(path) => format!("{} ({} format)", absolute(path), format.name()),
    }
}

/// A path made absolute lexically (no filesystem access), for display.
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// This machine's interface addresses, from `getifaddrs(3)` (a netlink
/// query, not a filesystem access). Empty if the call fails.
pub fn interface_addrs() -> Vec<IpAddr> {
    let mut addrs = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that we only read
    // and then free with freeifaddrs; every pointer is checked for null and
    // each sockaddr is read according to its family.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return addrs;
        }
        let mut entry = list;
        while !entry.is_null() {
            let sa = (*entry).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(sa as *const libc::sockaddr_in);
                        addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(sa as *const libc::sockaddr_in6);
                        addrs.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            entry = (*entry).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn specific_address_is_the_only_url() {
        let found = urls("127.0.0.1:8080".parse().unwrap(), &ips(&["10.0.0.5"]));
        assert_eq!(found, [("Local", "http://127.0.0.1:8080/".to_string())]);
        let found = urls("[::1]:80".parse().unwrap(), &[]);
        assert_eq!(found, [("Local", "http://[::1]:80/".to_string())]);
        let found = urls("192.0.2.7:80".parse().unwrap(), &[]);
        assert_eq!(found, [("Network", "http://192.0.2.7:80/".to_string())]);
    }

    #[test]
    fn unspecified_v4_lists_v4_interfaces_loopback_first() {
        let interfaces = ips(&["192.168.1.20", "::1", "127.0.0.1", "fe80::1", "10.0.0.5"]);
        let found = urls("0.0.0.0:8000".parse().unwrap(), &interfaces);
        assert_eq!(
            found,
            [
                ("Local", "http://127.0.0.1:8000/".to_string()),
                ("Network", "http://192.168.1.20:8000/".to_string()),
                ("Network", "http://10.0.0.5:8000/".to_string()),
            ]
        );
    }

    #[test]
    fn unspecified_v6_lists_both_families_without_link_local() {
        let interfaces = ips(&["127.0.0.1", "::1", "fe80::abcd", "2001:db8::7", "10.0.0.5"]);
        let found = urls("[::]:8000".parse().unwrap(), &interfaces);
        assert_eq!(
            found,
            [
                ("Local", "http://127.0.0.1:8000/".to_string()),
                ("Local", "http://[::1]:8000/".to_string()),
                ("Network", "http://10.0.0.5:8000/".to_string()),
                ("Network", "http://[2001:db8::7]:8000/".to_string()),
            ]
        );
    }

    #[test]
    fn no_interfaces_falls_back_to_loopback() {
        let found = urls("0.0.0.0:1".parse().unwrap(), &[]);
        assert_eq!(found, [("Local", "http://127.0.0.1:1/".to_string())]);
    }

    fn config() -> Config {
        let overrides = crate::config::Overrides {
            root: Some(".".into()),
            ..Default::default()
        };
        crate::disk::startup::load_config(None, &overrides).unwrap()
    }

    #[test]
    fn plain_line_and_banner() {
        let config = config();
        let bound = [ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap())];
        let mut facts = Facts {
            config: &config,
            bound: &bound,
            pid: 42,
            metrics: None,
        };
        let line = plain_line(&facts);
        assert!(line.starts_with("wharf "), "{line}");
        assert_eq!(
            line.split_whitespace().find(|w| w.starts_with("http://")),
            Some("http://127.0.0.1:8080/")
        );
        assert!(line.ends_with(" IO threads)"), "{line}");
        facts.metrics = Some("http://127.0.0.1:9100/metrics".into());
        let line = plain_line(&facts);
        assert!(!line.contains('\n'));
        assert!(
            line.ends_with(" metrics on http://127.0.0.1:9100/metrics"),
            "{line}"
        );

        let text = banner(&facts, &[], &Style { color: false });
        assert!(
            text.contains("  Local:      http://127.0.0.1:8080/\n"),
            "{text}"
        );
        assert!(
            text.contains("  Metrics:    http://127.0.0.1:9100/metrics\n"),
            "{text}"
        );
        assert!(text.contains("kill -USR1 42"), "{text}");
        let colored = banner(&facts, &[], &Style { color: true });
        assert!(colored.contains("\x1b[1;36mhttp://127.0.0.1:8080/\x1b[0m"));
    }

    #[test]
    fn one_line_per_listener() {
        let config = config();
        let bound = [
            ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap()),
            ListenAddr::Tcp("[::1]:8081".parse().unwrap()),
            ListenAddr::Unix("/run/wharf.sock".into()),
        ];
        let facts = Facts {
            config: &config,
            bound: &bound,
            pid: 42,
            metrics: Some("http://127.0.0.1:9100/metrics".into()),
        };
        let text = plain_line(&facts);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains(" on http://127.0.0.1:8080/ ("), "{text}");
        assert!(lines[0].ends_with("/metrics"), "{text}");
        assert_eq!(lines[1], "wharf also listening on http://[::1]:8081/");
        assert_eq!(lines[2], "wharf also listening on unix:/run/wharf.sock");
        let text = banner(&facts, &[], &Style { color: false });
        // Both loopback URLs under one label.
        assert!(
            text.contains(
                "  Local:      http://127.0.0.1:8080/\n              http://[::1]:8081/\n"
            ),
            "{text}"
        );
        assert!(text.contains("  Unix:       /run/wharf.sock\n"), "{text}");
    }

    #[test]
    fn this_machine_has_a_loopback_address() {
        assert!(interface_addrs().iter().any(IpAddr::is_loopback));
    }
}
