//! The accept storm of the churn scenario: N connections opened back to
//! back from a few client threads, each sending one GET with `Connection:
//! close` as soon as it is connected; then every response is read and the
//! connection closed. What it measures is how fast a server drains a burst
//! of new connections (a full accept queue drops SYNs, and each costs the
//! client a 1 s retransmit: those show as slow connects).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::system::{pin_current_thread, CLIENT_CPU};

/// A connect that took this long had a SYN dropped and retransmitted.
const SLOW_CONNECT: Duration = Duration::from_millis(900);

/// Connections per source address: each block of this many gets a fresh
/// 127.x.y.z, so the ports left in `TIME_WAIT` by earlier storms (and the
/// ephemeral port range) never limit a later one.
const PER_SOURCE: usize = 10_000;

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

fn source_addr() -> Ipv4Addr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
    // 127.1.0.1 onwards; z stays in 1..=250.
    Ipv4Addr::new(
        127,
        1 + (n / 62_500 % 250) as u8,
        (n / 250 % 250) as u8,
        (n % 250 + 1) as u8,
    )
}

#[derive(Debug, Clone, Default)]
pub struct Storm {
    /// First connect to last close.
    pub wall: f64,
    /// First connect to last connect returned.
    pub connect_wall: f64,
    pub slow_connects: usize,
    pub max_connect: f64,
    /// Connections that failed (connect, write, read, or not a 200).
    pub failed: usize,
    pub connections: usize,
}

#[derive(Default)]
struct Part {
    connect_end: Option<Instant>,
    end: Option<Instant>,
    slow: usize,
    max_connect: f64,
    failed: usize,
}

fn connect_one(src: Ipv4Addr, dst: SocketAddr) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    s.connect_timeout(&dst.into(), Duration::from_secs(10))?;
    Ok(s.into())
}

fn read_response(mut s: TcpStream) -> io::Result<bool> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let ok = head.starts_with(b"HTTP/1.1 200");
    // Read to the server's close; bounded by the read timeout and a size cap.
    let mut buf = [0u8; 16 << 10];
    let mut total = 0usize;
    loop {
        let n = s.read(&mut buf)?;
        total += n;
        if n == 0 || total > 4 << 20 {
            return Ok(ok);
        }
    }
}

/// One storm of `n` connections against 127.0.0.1:`port`, requesting
/// `path`, from `threads` client threads (pinned to the client CPU if
/// `pin`).
pub fn storm(port: u16, path: &str, n: usize, threads: usize, pin: bool) -> Storm {
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let sources: Vec<Ipv4Addr> = (0..n.div_ceil(PER_SOURCE)).map(|_| source_addr()).collect();
    let barrier = Barrier::new(threads + 1);
    let mut start = Instant::now();
    let parts: Vec<Part> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, request, sources) = (&barrier, &request, &sources);
                scope.spawn(move || {
                    if pin {
                        pin_current_thread(CLIENT_CPU);
                    }
                    let mine: Vec<usize> = (t..n).step_by(threads).collect();
                    let mut part = Part::default();
                    let mut open = Vec::with_capacity(mine.len());
                    barrier.wait();
                    for i in mine {
                        let t0 = Instant::now();
                        let conn = connect_one(sources[i / PER_SOURCE], dst);
                        let took = t0.elapsed();
                        if took >= SLOW_CONNECT {
                            part.slow += 1;
                        }
                        part.max_connect = part.max_connect.max(took.as_secs_f64());
                        match conn.and_then(|mut s| s.write_all(request.as_bytes()).map(|()| s)) {
                            Ok(s) => open.push(s),
                            Err(_) => part.failed += 1,
                        }
                    }
                    part.connect_end = Some(Instant::now());
                    for s in open {
                        if !matches!(read_response(s), Ok(true)) {
                            part.failed += 1;
                        }
                    }
                    part.end = Some(Instant::now());
                    part
                })
            })
            .collect();
        barrier.wait();
        start = Instant::now();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Part {
                    failed: n / threads,
                    ..Part::default()
                })
            })
            .collect()
    });
    let since = |t: Option<Instant>| t.map_or(0.0, |t| t.duration_since(start).as_secs_f64());
    Storm {
        wall: parts.iter().map(|p| since(p.end)).fold(0.0, f64::max),
        connect_wall: parts
            .iter()
            .map(|p| since(p.connect_end))
            .fold(0.0, f64::max),
        slow_connects: parts.iter().map(|p| p.slow).sum(),
        max_connect: parts.iter().map(|p| p.max_connect).fold(0.0, f64::max),
        failed: parts.iter().map(|p| p.failed).sum(),
        connections: n,
    }
}
