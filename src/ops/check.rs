//! `wharf check URL`: a minimal HTTP/1.1 probe for health checks where no
//! curl is installed (a container's `HEALTHCHECK`, a systemd
//! `ExecStartPost=`). It sends one `GET` over a plain socket and succeeds
//! when the status is 2xx within the time allowed. `http://` URLs only, and
//! `unix:/path/to.sock:/url-path` for a Unix socket; no TLS, no redirects
//! followed (a 3xx is a failure: a probe should name the page it means).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Where a probe goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://HOST[:PORT][/PATH]`: `host` is `HOST:PORT` (port 80 if none).
    Tcp { host: String, path: String },
    /// `unix:SOCKET[:/PATH]`.
    Unix { socket: String, path: String },
}

/// Parses a probe URL.
///
/// # Errors
/// Why the URL is not one `wharf check` can probe.
pub fn parse_target(url: &str) -> Result<Target, String> {
    if let Some(rest) = url.strip_prefix("unix:") {
        // The socket path ends at the first `:/`, where the URL path begins.
        let (socket, path) = match rest.find(":/") {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, "/"),
        };
        if socket.is_empty() {
            return Err(format!("'{url}': no socket path after unix:"));
        }
        return Ok(Target::Unix {
            socket: socket.to_string(),
            path: path.to_string(),
        });
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "'{url}': only http:// URLs (or unix:/path/to.sock:/path) can be checked"
        ));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
        Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains(['@', ' ']) {
        return Err(format!("'{url}': expected http://HOST[:PORT]/PATH"));
    }
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let host = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Target::Tcp { host, path })
}

/// Probes `url`: Ok with the status line when it answers 2xx within
/// `timeout`.
///
/// # Errors
/// One line saying why not (a refused connection, a timeout, the status).
pub fn check(url: &str, timeout: Duration) -> Result<String, String> {
    let target = parse_target(url)?;
    let deadline = Instant::now() + timeout;
    let fail = |what: &str, e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            format!("{url}: no answer within {} s ({what})", timeout.as_secs())
        } else {
            format!("{url}: {what}: {e}")
        }
    };
    let status_line = match &target {
        Target::Tcp { host, path } => {
            let addrs: Vec<_> = host
                .to_socket_addrs()
                .map_err(|e| fail("cannot resolve the host", e))?
                .collect();
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            let mut stream = None;
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, left(deadline)?) {
                    Ok(s) => {
                        stream = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let mut stream = stream.ok_or_else(|| fail("cannot connect", last))?;
            let host_header = host.strip_suffix(":80").unwrap_or(host);
            exchange(&mut stream, host_header, path, deadline, |s, t| {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            })
            .map_err(|e| fail("reading the answer", e))?
        }
        Target::Unix { socket, path } => {
            let mut stream = UnixStream::connect(socket).map_err(|e| fail("cannot connect", e))?;
            exchange(&mut stream, "localhost", path, deadline, |s, t| {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            })
            .map_err(|e| fail("reading the answer", e))?
        }
    };
    let code = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("{url}: not an HTTP answer: {status_line:?}"))?;
    if (200..300).contains(&code) {
        Ok(status_line)
    } else {
        Err(format!(
            "{url}: answered {}",
            status_line.trim_start_matches("HTTP/1.1 ")
        ))
    }
}

/// Time left before `deadline`, or the timeout error.
fn left(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("no answer in time".to_string())
    } else {
        Ok(left)
    }
}

/// Sends the request and reads the status line.
fn exchange<S: Read + Write>(
    stream: &mut S,
    host: &str,
    path: &str,
    deadline: Instant,
    set_timeouts: impl Fn(&S, Duration) -> io::Result<()>,
) -> io::Result<String> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "timed out");
    let remaining = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(timed_out())
        } else {
            Ok(left)
        }
    };
    set_timeouts(stream, remaining()?)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wharf-check/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes())?;
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    while !line.contains(&b'\n') {
        set_timeouts(stream, remaining()?)?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a status line",
            ));
        }
        line.extend_from_slice(&buf[..n]);
        if line.len() > 8192 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "status line too long",
            ));
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    Ok(String::from_utf8_lossy(&line[..end]).trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080/healthz"),
            Ok(Target::Tcp {
                host: "127.0.0.1:8080".into(),
                path: "/healthz".into()
            })
        );
        assert_eq!(
            parse_target("http://example.org"),
            Ok(Target::Tcp {
                host: "example.org:80".into(),
                path: "/".into()
            })
        );
        assert_eq!(
            parse_target("http://[::1]/x?y"),
            Ok(Target::Tcp {
                host: "[::1]:80".into(),
                path: "/x?y".into()
            })
        );
        assert_eq!(
            parse_target("http://[::1]:9?q"),
            Ok(Target::Tcp {
                host: "[::1]:9".into(),
                path: "/?q".into()
            })
        );
        assert_eq!(
            parse_target("unix:/run/w.sock:/readyz"),
            Ok(Target::Unix {
                socket: "/run/w.sock".into(),
                path: "/readyz".into()
            })
        );
        assert_eq!(
            parse_target("unix:/run/w.sock"),
            Ok(Target::Unix {
                socket: "/run/w.sock".into(),
                path: "/".into()
            })
        );
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http:///x",
            "unix:",
            "x",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
