//! Zero-copy sends of cached bodies, from pipes: no disk involved.
//!
//! `write(2)` of a cached body copies it into fresh socket buffers on every
//! response, which is what made 16 KiB hits slower than nginx's `sendfile`
//! (the copy, and the client then reading cold pages). Here a cached body is
//! written once into a pipe of its own, the [`BodyPipe`]; a response `tee`s
//! that pipe into the loop's [`ScratchPipe`] (the kernel takes page
//! references, copies nothing and consumes nothing) and `splice`s the
//! scratch pipe into the socket, so every response hands the socket the
//! same pages, as `sendfile` from the page cache does.
//!
//! Pipes and sockets have readiness and never wait on a disk, so this runs
//! on the event loop; the loop-purity rule concerns files, and none is
//! involved here. Everything is best effort: when a pipe cannot be had (the
//! descriptor limit, the per-user pipe memory limit) or a step falls short,
//! the caller writes the bytes the ordinary way, from the same cached body.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bodies smaller than this are copied: below it the two extra system
/// calls cost more than the copy they save (measured; see the README's
/// performance notes).
pub const SPLICE_MIN_BYTES: usize = 8 * 1024;

/// Bodies larger than this are copied: a pipe holds 64 KiB unless enlarged,
/// and enlarging pipes eats into the per-user pipe memory limit.
pub const SPLICE_MAX_BYTES: usize = 64 * 1024;

/// Most body pipes alive at once, all loops together: each costs a
/// descriptor, and unprivileged users get only so much pipe memory
/// (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default) before new
/// pipes shrink to one page.
pub const MAX_BODY_PIPES: usize = 2048;

/// Body pipes alive now.
static BODY_PIPES: AtomicUsize = AtomicUsize::new(0);

/// A cached body held in a pipe: only the read end is kept, since `tee`
/// never drains it.
#[derive(Debug)]
pub struct BodyPipe {
    read: OwnedFd,
    len: usize,
}

impl Drop for BodyPipe {
    fn drop(&mut self) {
        BODY_PIPES.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BodyPipe {
    /// A pipe holding `body`, or `None` when none can be had or the body
    /// does not fit (the caller then copies).
    pub fn new(body: &[u8]) -> Option<BodyPipe> {
        if !(SPLICE_MIN_BYTES..=SPLICE_MAX_BYTES).contains(&body.len()) {
            return None;
        }
        if BODY_PIPES.fetch_add(1, Ordering::Relaxed) >= MAX_BODY_PIPES {
            BODY_PIPES.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // From here on, every way out drops a `BodyPipe` or undoes the count.
        let Some((read, write)) = pipe() else {
            BODY_PIPES.fetch_sub(1, Ordering::Relaxed);
            return None;
        };
        let body_pipe = BodyPipe {
            read,
            len: body.len(),
        };
        // Room for exactly the body (rounded up by the kernel to pages), so
        // small bodies account little against the per-user pipe limit.
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                body.len() as libc::c_int,
            )
        };
        let mut written = 0;
        while written < body.len() {
            let rest = &body[written..];
            // SAFETY: writes from a live slice to a descriptor we own.
            let n = unsafe { libc::write(write.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                // Full (a pipe shrunk by the per-user limit) or failed.
                return None;
            }
            written += n as usize;
        }
        Some(body_pipe)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One loop's pipe through which bodies pass on their way to a socket. It
/// is empty between calls of [`ScratchPipe::send`].
#[derive(Debug)]
pub struct ScratchPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl ScratchPipe {
    pub fn new() -> Option<ScratchPipe> {
        let (read, write) = pipe()?;
        // As large as any body it carries (the default is already 64 KiB).
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                SPLICE_MAX_BYTES as libc::c_int,
            )
        };
        Some(ScratchPipe { read, write })
    }

    /// Sends `head` (copied into the pipe: it is small) and then `body`
    /// (not copied) into `socket`, in one `splice`. Returns how many bytes
    /// of the two the socket took, possibly 0: the caller writes the rest
    /// from its own copies. `drain` is a buffer for emptying the pipe of
    /// what the socket did not take.
    pub fn send(&self, head: &[u8], body: &BodyPipe, socket: RawFd, drain: &mut [u8]) -> usize {
        // SAFETY (all calls): descriptors we own or borrow, live slices,
        // and the null offsets splice and tee accept for pipes and sockets.
        let written =
            unsafe { libc::write(self.write.as_raw_fd(), head.as_ptr().cast(), head.len()) };
        let written = usize::try_from(written).unwrap_or(0);
        let teed = if written == head.len() {
            let teed = unsafe {
                libc::tee(
                    body.read.as_raw_fd(),
                    self.write.as_raw_fd(),
                    body.len,
                    libc::SPLICE_F_NONBLOCK,
                )
            };
            usize::try_from(teed).unwrap_or(0)
        } else {
            0
        };
        let queued = written + teed;
        let mut sent = 0;
        while sent < queued {
            let n = unsafe {
                libc::splice(
                    self.read.as_raw_fd(),
                    std::ptr::null_mut(),
                    socket,
                    std::ptr::null_mut(),
                    queued - sent,
                    libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
                )
            };
            match usize::try_from(n) {
                Ok(n) if n > 0 => sent += n,
                _ if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        // What the socket did not take must not linger into the next
        // response: read it out (rare: the socket was full).
        let mut left = queued - sent;
        while left > 0 {
            let n = unsafe {
                libc::read(
                    self.read.as_raw_fd(),
                    drain.as_mut_ptr().cast(),
                    drain.len().min(left),
                )
            };
            match usize::try_from(n) {
                Ok(n) if n > 0 => left -= n,
                _ => break,
            }
        }
        sent
    }
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array on success.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if rc != 0 {
        return None;
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn only_bodies_of_the_splice_sizes_get_a_pipe() {
        assert!(BodyPipe::new(&body(SPLICE_MIN_BYTES - 1)).is_none());
        assert!(BodyPipe::new(&body(SPLICE_MAX_BYTES + 1)).is_none());
        assert_eq!(
            BodyPipe::new(&body(SPLICE_MIN_BYTES)).unwrap().len(),
            SPLICE_MIN_BYTES
        );
    }

    #[test]
    fn head_and_body_arrive_intact_again_and_again() {
        let bytes = body(16 * 1024);
        let pipe = BodyPipe::new(&bytes).unwrap();
        let scratch = ScratchPipe::new().unwrap();
        let (mut client, server) = UnixStream::pair().unwrap();
        let mut drain = vec![0; 1024];
        for round in 0..3 {
            let head = format!("HEAD {round}\r\n\r\n");
            let sent = scratch.send(head.as_bytes(), &pipe, server.as_raw_fd(), &mut drain);
            assert_eq!(sent, head.len() + bytes.len());
            let mut got = vec![0; sent];
            client.read_exact(&mut got).unwrap();
            assert_eq!(&got[..head.len()], head.as_bytes());
            assert_eq!(&got[head.len()..], &bytes[..]);
        }
    }

    #[test]
    fn what_a_full_socket_refuses_does_not_leak_into_the_next_send() {
        let bytes = body(32 * 1024);
        let pipe = BodyPipe::new(&bytes).unwrap();
        let scratch = ScratchPipe::new().unwrap();
        let (mut client, mut server) = UnixStream::pair().unwrap();
        server.set_nonblocking(true).unwrap();
        // Fill the socket completely.
        let filler = vec![b'f'; 4096];
        let mut queued = 0;
        while let Ok(n) = server.write(&filler) {
            queued += n;
        }
        let mut drain = vec![0; 1024];
        let sent = scratch.send(b"H\r\n", &pipe, server.as_raw_fd(), &mut drain);
        assert!(sent < 3 + bytes.len(), "a full socket took everything");
        // Empty the socket, then the next send must carry exactly its own
        // bytes: nothing left over in the scratch pipe.
        let mut sink = vec![0; queued + sent];
        client.read_exact(&mut sink).unwrap();
        let sent = scratch.send(b"H\r\n", &pipe, server.as_raw_fd(), &mut drain);
        assert_eq!(sent, 3 + bytes.len());
        let mut got = vec![0; sent];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got[..3], b"H\r\n");
        assert_eq!(&got[3..], &bytes[..]);
        client.set_nonblocking(true).unwrap();
        assert!(client.read(&mut [0; 1]).is_err(), "extra bytes arrived");
    }
}
