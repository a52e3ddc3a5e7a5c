//! Listening sockets of every kind, and the connections they accept: TCP
//! (IPv4, IPv6, dual-stack `[::]`), Unix-domain stream sockets, and
//! sockets handed over by systemd (socket activation). The loops see one
//! [`Listener`] type and one [`ClientStream`] type whatever the kind.
//!
//! Every worker gets its own listener per address. For TCP addresses that
//! wharf binds itself, each is a socket of its own in one `SO_REUSEPORT`
//! group: the kernel spreads connections across loops. A Unix socket
//! cannot be bound twice, and a socket from systemd is one socket: there
//! each worker gets a duplicate descriptor of the same socket, registered
//! in its own poll. Every loop is then woken for a new connection and one
//! wins the `accept` (the others see `WouldBlock`), which costs a wake-up
//! per loop and spreads connections less evenly than `SO_REUSEPORT`.
//!
//! Binding happens at start-up on the main thread; what a Unix socket path
//! needs from the filesystem is in [`crate::disk::socket_file`].

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use mio::event::Source;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::ListenAddr;
use crate::disk::socket_file::{self, SocketIdentity};

/// A non-blocking listening socket of one loop.
#[derive(Debug)]
pub enum Listener {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl Listener {
    /// Accepts one connection; the peer address is `None` for a Unix
    /// socket (its clients have no address worth logging).
    ///
    /// # Errors
    /// As `accept(2)`; `WouldBlock` when none is pending.
    pub fn accept(&self) -> io::Result<(ClientStream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (ClientStream::Tcp(s), Some(peer))),
            Listener::Unix(l) => l.accept().map(|(s, _)| (ClientStream::Unix(s), None)),
        }
    }
}

impl Source for Listener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(registry, token, interest),
            Listener::Unix(l) => l.register(registry, token, interest),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(registry, token, interest),
            Listener::Unix(l) => l.reregister(registry, token, interest),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(registry),
            Listener::Unix(l) => l.deregister(registry),
        }
    }
}

/// An accepted connection, TCP or Unix.
#[derive(Debug)]
pub enum ClientStream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl ClientStream {
    /// `TCP_NODELAY` on TCP; nothing to do on a Unix socket.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.set_nodelay(on),
            ClientStream::Unix(_) => Ok(()),
        }
    }

    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.shutdown(how),
            ClientStream::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.read(buf),
            ClientStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write(buf),
            ClientStream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write_vectored(bufs),
            ClientStream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for ClientStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ClientStream::Tcp(s) => s.as_fd(),
            ClientStream::Unix(s) => s.as_fd(),
        }
    }
}

impl Source for ClientStream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.register(registry, token, interest),
            ClientStream::Unix(s) => s.register(registry, token, interest),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.reregister(registry, token, interest),
            ClientStream::Unix(s) => s.reregister(registry, token, interest),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.deregister(registry),
            ClientStream::Unix(s) => s.deregister(registry),
        }
    }
}

/// A Unix socket file wharf created, removed at a clean exit.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    identity: SocketIdentity,
}

impl SocketFile {
    /// Removes the file if it is still the one wharf bound.
    pub fn remove(&self) {
        socket_file::remove(&self.path, self.identity);
    }
}

/// Every listener, for every loop.
#[derive(Debug)]
pub struct Listeners {
    /// One list per worker, each with one listener per address.
    pub per_worker: Vec<Vec<Listener>>,
    /// The addresses, in order, as bound (the real port for port 0).
    pub bound: Vec<ListenAddr>,
    /// Socket files to remove at exit.
    pub socket_files: Vec<SocketFile>,
    /// Whether the sockets came from systemd.
    pub activated: bool,
}

/// Backlog of the client listeners: deep, for bursts of connections.
const BACKLOG: i32 = 4096;

/// Binds every address of `listen` for `workers` loops.
///
/// # Errors
/// One line naming the address and what to do.
pub fn bind_all(listen: &[ListenAddr], workers: usize, mode: u32) -> Result<Listeners, String> {
    let mut socket_files = Vec::new();
    let bound = bind_each(listen, workers, mode, &mut socket_files);
    if bound.is_err() {
        // Start-up stops: leave no socket file behind.
        for file in &socket_files {
            file.remove();
        }
    }
    let (per_worker, bound) = bound?;
    Ok(Listeners {
        per_worker,
        bound,
        socket_files,
        activated: false,
    })
}

/// The listeners of [`bind_all`], per worker, and the bound addresses;
/// every socket file created is added to `socket_files`, even on error.
#[allow(clippy::type_complexity)]
fn bind_each(
    listen: &[ListenAddr],
    workers: usize,
    mode: u32,
    socket_files: &mut Vec<SocketFile>,
) -> Result<(Vec<Vec<Listener>>, Vec<ListenAddr>), String> {
    let workers = workers.max(1);
    let mut per_worker: Vec<Vec<Listener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    for addr in listen {
        match addr {
            ListenAddr::Tcp(addr) => {
                let mut addr = *addr;
                for list in &mut per_worker {
                    let socket = bind_tcp(addr, true, BACKLOG).map_err(|e| bind_error(addr, &e))?;
                    if addr.port() == 0 {
                        addr = socket.local_addr().map_err(|e| bind_error(addr, &e))?;
                    }
                    list.push(Listener::Tcp(mio::net::TcpListener::from_std(socket)));
                }
                bound.push(ListenAddr::Tcp(addr));
            }
            ListenAddr::Unix(path) => {
                let unix_error =
                    |e: String| format!("listen: cannot listen on unix:{}: {e}", path.display());
                let (socket, identity) = bind_unix(path, mode).map_err(unix_error)?;
                socket_files.push(SocketFile {
                    path: path.clone(),
                    identity,
                });
                let socket = Socket::from(socket);
                add_duplicates(&mut per_worker, &socket, false)
                    .map_err(|e| unix_error(e.to_string()))?;
                bound.push(ListenAddr::Unix(path.clone()));
            }
        }
    }
    Ok((per_worker, bound))
}

/// A listener for each worker, duplicates of `socket`: `TCP` when it is a
/// TCP socket, Unix otherwise.
fn add_duplicates(per_worker: &mut [Vec<Listener>], socket: &Socket, tcp: bool) -> io::Result<()> {
    for list in per_worker {
        let copy = socket.try_clone()?;
        copy.set_nonblocking(true)?;
        copy.set_cloexec(true)?;
        list.push(if tcp {
            Listener::Tcp(mio::net::TcpListener::from_std(copy.into()))
        } else {
            Listener::Unix(mio::net::UnixListener::from_std(copy.into()))
        });
    }
    Ok(())
}

/// Binds one non-blocking TCP listening socket. The client listeners share
/// their port between the loops (`SO_REUSEPORT`, one listener per loop)
/// and take a deep accept queue; the metrics listener takes neither. An
/// IPv6 socket is made dual-stack (`IPV6_V6ONLY` off), whatever the
/// system default (`net.ipv6.bindv6only`) says: `[::]:PORT` then accepts
/// IPv4 clients too, as IPv4-mapped addresses.
///
/// # Errors
/// As `socket`, `bind`, `listen`.
pub fn bind_tcp(
    addr: SocketAddr,
    reuse_port: bool,
    backlog: i32,
) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Binds a Unix stream socket at `path`: a stale socket file is replaced,
/// a live one or a non-socket refused; the mode is set before `listen`.
fn bind_unix(path: &Path, mode: u32) -> Result<(OwnedFd, SocketIdentity), String> {
    socket_file::clear_stale(path)?;
    let address = SockAddr::unix(path).map_err(|e| e.to_string())?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| e.to_string())?;
    socket.set_cloexec(true).map_err(|e| e.to_string())?;
    socket.bind(&address).map_err(|e| e.to_string())?;
    let identity = socket_file::set_mode(path, mode)?;
    socket.listen(BACKLOG).map_err(|e| e.to_string())?;
    Ok((socket.into(), identity))
}

fn bind_error(addr: SocketAddr, error: &io::Error) -> String {
    let hint = match error.kind() {
        io::ErrorKind::AddrInUse if addr.is_ipv4() => {
            " (another program is using this port, or a [::] address of the list takes IPv4 too; choose another with --listen ADDR:PORT or [server] listen)"
        }
        io::ErrorKind::AddrInUse => {
            " (another program is using this port; choose another with --listen ADDR:PORT or [server] listen)"
        }
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            " (ports below 1024 need privileges; choose another with --listen ADDR:PORT, e.g. 8080)"
        }
        io::ErrorKind::PermissionDenied => {
            " (not allowed to bind here; choose another address with --listen ADDR:PORT)"
        }
        io::ErrorKind::AddrNotAvailable => {
            " (this machine has no such address; use 127.0.0.1, 0.0.0.0 (all IPv4) or [::] (all) with --listen)"
        }
        _ => " (choose another address with --listen ADDR:PORT)",
    };
    format!("listen: cannot listen on {addr}: {error}{hint}")
}

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_ACTIVATED_FD: RawFd = 3;

/// The number of sockets systemd passed, from `LISTEN_PID` and
/// `LISTEN_FDS` (pure: the caller reads the environment). `None` unless
/// `LISTEN_PID` is this process.
pub fn activated_count(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    pid: u32,
) -> Option<usize> {
    let for_us = listen_pid?.trim().parse::<u32>().ok()? == pid;
    let n = listen_fds?.trim().parse::<usize>().ok()?;
    (for_us && n > 0).then_some(n)
}

/// The sockets systemd passed, if it passed any to this process. The
/// variables are removed so that nothing wharf starts inherits them. Call
/// before other threads read the environment (start-up does, before the
/// pool starts).
pub fn take_activated() -> Option<Vec<OwnedFd>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let n = activated_count(pid.as_deref(), fds.as_deref(), std::process::id());
    if pid.is_some() || fds.is_some() {
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            std::env::remove_var(name);
        }
    }
    let n = n?;
    let fds = (0..n)
        .filter_map(|i| {
            let fd = FIRST_ACTIVATED_FD + RawFd::try_from(i).ok()?;
            // SAFETY: systemd's protocol hands this process descriptors
            // 3..3+LISTEN_FDS, open and owned by nobody else here; each is
            // taken once.
            Some(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect();
    Some(fds)
}

/// Listeners from the sockets systemd passed: each one's kind (TCP or
/// Unix) is read from the socket itself (`getsockname`), and each worker
/// gets a duplicate.
///
/// # Errors
/// One line naming the descriptor that is not a listening stream socket.
pub fn from_activated(fds: Vec<OwnedFd>, workers: usize) -> Result<Listeners, String> {
    let workers = workers.max(1);
    let mut per_worker: Vec<Vec<Listener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    for (i, fd) in fds.into_iter().enumerate() {
        let number = FIRST_ACTIVATED_FD as usize + i;
        let socket = Socket::from(fd);
        let problem = |e: String| {
            format!("socket activation: descriptor {number} from systemd: {e} (the .socket unit should have ListenStream= lines only)")
        };
        let address = socket.local_addr().map_err(|e| problem(e.to_string()))?;
        let stream = socket.r#type().map_err(|e| problem(e.to_string()))? == Type::STREAM;
        if !stream {
            return Err(problem("not a stream socket".into()));
        }
        let tcp = address.as_socket().is_some();
        add_duplicates(&mut per_worker, &socket, tcp).map_err(|e| problem(e.to_string()))?;
        bound.push(match address.as_socket() {
            Some(addr) => ListenAddr::Tcp(addr),
            None => ListenAddr::Unix(
                address
                    .as_pathname()
                    .map_or_else(|| PathBuf::from("(unnamed)"), Path::to_path_buf),
            ),
        });
    }
    Ok(Listeners {
        per_worker,
        bound,
        socket_files: Vec::new(),
        activated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sockets_are_dual_stack() {
        let Ok(listener) = bind_tcp("[::]:0".parse().unwrap(), false, 8) else {
            eprintln!("skipping: no IPv6 here");
            return;
        };
        let socket = Socket::from(OwnedFd::from(listener));
        assert!(!socket.only_v6().unwrap(), "IPV6_V6ONLY is on");
    }

    #[test]
    fn activation_is_for_this_process_only() {
        assert_eq!(activated_count(Some("42"), Some("2"), 42), Some(2));
        assert_eq!(activated_count(Some("41"), Some("2"), 42), None);
        assert_eq!(activated_count(None, Some("2"), 42), None);
        assert_eq!(activated_count(Some("42"), None, 42), None);
        assert_eq!(activated_count(Some("42"), Some("0"), 42), None);
        assert_eq!(activated_count(Some("x"), Some("1"), 42), None);
    }
}
