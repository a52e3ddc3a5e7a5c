//! Raw file IO on the pool: positional reads and `sendfile`.

use std::fs::File;
use std::io;

/// Reads up to `len` bytes at `offset` into `buf` (cleared first), retrying
/// short reads. Returns fewer bytes only at end of file.
pub fn read_chunk(file: &File, offset: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    buf.reserve(len);
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        let want = len - buf.len();
        let spare = &mut buf.spare_capacity_mut()[..want];
        let (filled, _) = rustix::io::pread(file, spare, at)?;
        if filled.is_empty() {
            break;
        }
        let n = filled.len();
        // SAFETY: pread initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
    }
    Ok(buf.len())
}

/// Why a [`send_file`] job stopped.
#[derive(Debug)]
pub enum SendStop {
    /// Sent everything it was asked to.
    Done,
    /// The socket's buffer is full: wait for writability.
    WouldBlock,
    /// The file ended early (it shrank under us).
    EndOfFile,
    /// The socket or the file failed.
    Failed(io::Error),
}

/// Sends up to `count` bytes of `file` from `offset` to the (non-blocking)
/// socket with `sendfile`, until done, the socket is full, or an error.
/// Returns how many bytes went out and why it stopped. Runs on the pool:
/// `sendfile` reads the file, which may block on disk.
pub fn send_file(
    socket: std::os::fd::BorrowedFd<'_>,
    file: &File,
    offset: u64,
    count: u64,
) -> (u64, SendStop) {
    let mut sent = 0u64;
    let mut position = offset;
    while sent < count {
        // One call moves at most about 2 GiB; ask for at most 1 GiB.
        let want = usize::try_from((count - sent).min(1 << 30)).unwrap_or(1 << 30);
        match rustix::fs::sendfile(socket, file, Some(&mut position), want) {
            Ok(0) => return (sent, SendStop::EndOfFile),
            Ok(n) => sent += n as u64,
            Err(rustix::io::Errno::AGAIN) => return (sent, SendStop::WouldBlock),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return (sent, SendStop::Failed(e.into())),
        }
    }
    (sent, SendStop::Done)
}
