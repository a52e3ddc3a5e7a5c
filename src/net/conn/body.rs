//! A response body on its way out: what is queued for the socket
//! ([`OutBuf`], [`BodyBytes`]) and the part still to come from the file
//! ([`Body`]: streamed in chunks read by the pool, or sent by the pool with
//! `sendfile`; which one is [`crate::http::body_strategy`]'s choice).
//!
//! Each file body is a small state machine whose state is an enum
//! ([`ReadState`], [`SendState`]): a state that holds the file is one in
//! which no job is in flight, so "a job in flight, and the file here too"
//! cannot be written down. The connection asks a body for its next step
//! and hands it the pool's answers; it never sets a state itself.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use crate::disk::io::SendStop;
use crate::http::body_strategy::{SizeClass, CHUNK_SIZE};
use crate::offloop::SharedFile;

/// The part of a response body not yet handed to `out`.
pub(super) enum Body {
    /// Everything is in `out`.
    Complete,
    /// A file streamed in chunks read by the pool and written by the loop.
    Stream(Stream),
    /// A file sent by the pool straight to the socket with `sendfile`.
    Sendfile(Sendfile),
    /// A directory download, made chunk by chunk by the pool.
    Archive(super::archive::ArchiveBody),
}

impl Body {
    /// The file the body still holds, if any, to be closed on the pool
    /// when the response ends (completed or cut short).
    pub(super) fn into_file(self) -> Option<SharedFile> {
        match self {
            Body::Complete => None,
            Body::Stream(stream) => match stream.state {
                ReadState::Idle { file, .. } => Some(file),
                ReadState::InFlight { .. } | ReadState::Truncated { .. } => None,
            },
            Body::Sendfile(send) => match send.state {
                SendState::Ready(file) | SendState::Blocked(file) => Some(file),
                SendState::InFlight { .. } | SendState::Truncated => None,
            },
            Body::Archive(archive) => archive.into_file(),
        }
    }
}

/// A body streamed in chunks: the pool reads one chunk while the loop
/// writes the previous one, so at most two chunks are held per connection
/// whatever the file's size.
pub(super) struct Stream {
    state: ReadState,
    /// Offset of the next chunk to request.
    next_offset: u64,
    /// Bytes not yet requested from the pool.
    unrequested: u64,
}

/// Where a streamed body stands.
enum ReadState {
    /// No read in flight: the file waits here for the next one, and
    /// `chunk` holds the chunk last read until `out` has room for it.
    Idle {
        file: SharedFile,
        chunk: Option<Vec<u8>>,
    },
    /// A read of `len` bytes is on the pool, with the file.
    InFlight { len: usize },
    /// A read came back short (the file shrank, or failed): what it read
    /// (`chunk`) is still sent, then the connection closes. Never pad,
    /// never hang, never send more than `Content-Length`. The file has
    /// gone back to the pool.
    Truncated { chunk: Option<Vec<u8>> },
}

/// What a streamed body needs next, once `out` is empty.
pub(super) enum StreamStep {
    /// Write this chunk; the next read may start meanwhile.
    Write(Vec<u8>),
    /// Ask the pool for the next chunk, and wait for it.
    Read,
    /// A read is on the pool: wait for it.
    Wait,
    /// Every byte was written.
    Done,
    /// The body ended early: close the connection.
    Truncated,
}

impl Stream {
    /// `len` bytes of `file` from `offset`, none requested yet.
    pub(super) fn new(file: SharedFile, offset: u64, len: u64) -> Stream {
        Stream {
            state: ReadState::Idle { file, chunk: None },
            next_offset: offset,
            unrequested: len,
        }
    }

    pub(super) fn next_step(&mut self) -> StreamStep {
        let waiting = match &mut self.state {
            ReadState::Idle { chunk, .. } | ReadState::Truncated { chunk } => chunk.take(),
            ReadState::InFlight { .. } => return StreamStep::Wait,
        };
        match (waiting, &self.state) {
            (Some(chunk), _) => StreamStep::Write(chunk),
            (None, ReadState::Truncated { .. }) => StreamStep::Truncated,
            (None, _) if self.unrequested > 0 => StreamStep::Read,
            (None, _) => StreamStep::Done,
        }
    }

    /// The next read to send to the pool (file, offset, length), now
    /// counted as in flight; `None` while a read is in flight or a chunk
    /// waits for `out`, after a short read, or once every byte was
    /// requested.
    pub(super) fn next_read(&mut self) -> Option<(SharedFile, u64, usize)> {
        let len = CHUNK_SIZE.min(usize::try_from(self.unrequested).unwrap_or(CHUNK_SIZE));
        match std::mem::replace(&mut self.state, ReadState::InFlight { len }) {
            ReadState::Idle { file, chunk: None } if len > 0 => {
                let offset = self.next_offset;
                self.next_offset += len as u64;
                self.unrequested -= len as u64;
                Some((file, offset, len))
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// The pool's answer to [`Stream::next_read`]: the file, the buffer
    /// and how many bytes were read into it. Returns the file when the
    /// stream is done with it, to be closed on the pool.
    pub(super) fn chunk_read(
        &mut self,
        file: SharedFile,
        buf: Vec<u8>,
        result: std::io::Result<usize>,
    ) -> Option<SharedFile> {
        let ReadState::InFlight { len } = self.state else {
            return Some(file); // Not expecting a chunk: drop the answer.
        };
        let n = result.unwrap_or(0);
        let chunk = (n > 0).then_some(buf);
        if n < len {
            self.state = ReadState::Truncated { chunk };
            self.unrequested = 0;
            Some(file)
        } else {
            self.state = ReadState::Idle { file, chunk };
            None
        }
    }
}

/// A body sent with `sendfile` jobs: the pool moves file bytes into the
/// non-blocking socket until it is full, the loop waits for writability and
/// dispatches the next job. No file data passes through wharf's memory.
pub(super) struct Sendfile {
    state: SendState,
    /// A duplicate of the socket descriptor for the jobs: it stays open
    /// until the last job holding it ends, so a job never writes to a
    /// descriptor number the loop has closed and reused.
    socket: Arc<OwnedFd>,
    offset: u64,
    remaining: u64,
    /// How large the jobs are, and whether the head waits for the body.
    class: SizeClass,
}

/// Where a `sendfile` body stands between jobs.
enum SendState {
    /// No job in flight, and the socket may have room: the next job can go.
    Ready(SharedFile),
    /// A job is on the pool, with the file. `writable_seen`: the socket
    /// became writable meanwhile, so a `WouldBlock` answer is followed by
    /// the next job at once instead of a wait for an edge that already
    /// happened.
    InFlight { writable_seen: bool },
    /// The last job found the socket full: wait for writability.
    Blocked(SharedFile),
    /// The file ended early, or the socket failed: close after what was
    /// sent; never pad, never hang. The file has gone back to the pool.
    Truncated,
}

/// What a `sendfile` body needs next, once `out` is empty.
pub(super) enum SendfileStep {
    /// Send this job to the pool (it is counted as in flight).
    Job {
        socket: Arc<OwnedFd>,
        file: SharedFile,
        offset: u64,
        count: u64,
    },
    /// A job is in flight, or the socket is full: wait.
    Wait,
    /// Every byte was sent.
    Done,
    /// The body ended early: close the connection.
    Truncated,
}

impl Sendfile {
    /// `len` bytes of `file` from `offset`, sent on `socket` (a duplicate
    /// of the connection's) in jobs of `class`'s size.
    pub(super) fn new(
        file: SharedFile,
        socket: OwnedFd,
        offset: u64,
        len: u64,
        class: SizeClass,
    ) -> Sendfile {
        Sendfile {
            state: SendState::Ready(file),
            socket: Arc::new(socket),
            offset,
            remaining: len,
            class,
        }
    }

    /// The socket reported writability: a full socket has room again.
    /// (Input alone, a client trickling bytes, must not dispatch jobs.)
    pub(super) fn writable(&mut self) {
        self.state = match std::mem::replace(&mut self.state, SendState::Truncated) {
            SendState::InFlight { .. } => SendState::InFlight {
                writable_seen: true,
            },
            SendState::Blocked(file) => SendState::Ready(file),
            other => other,
        };
    }

    pub(super) fn next_step(&mut self) -> SendfileStep {
        let (state, step) = match std::mem::replace(&mut self.state, SendState::Truncated) {
            SendState::Ready(file) if self.remaining > 0 => {
                let job = SendfileStep::Job {
                    socket: self.socket.clone(),
                    file,
                    offset: self.offset,
                    count: self.remaining.min(self.class.job_max()),
                };
                let in_flight = SendState::InFlight {
                    writable_seen: false,
                };
                (in_flight, job)
            }
            ready @ SendState::Ready(_) => (ready, SendfileStep::Done),
            SendState::Truncated => (SendState::Truncated, SendfileStep::Truncated),
            waiting => (waiting, SendfileStep::Wait),
        };
        self.state = state;
        step
    }

    /// The pool's answer to a [`SendfileStep::Job`]: the file, how much
    /// was sent and why the job stopped. Returns the file when the body is
    /// done with it, to be closed on the pool.
    pub(super) fn job_done(
        &mut self,
        file: SharedFile,
        sent: u64,
        stop: SendStop,
    ) -> Option<SharedFile> {
        let SendState::InFlight { writable_seen } = self.state else {
            return Some(file); // Not expecting an answer: drop it.
        };
        self.offset += sent;
        self.remaining -= sent.min(self.remaining);
        match stop {
            SendStop::Done => self.state = SendState::Ready(file),
            SendStop::WouldBlock if writable_seen => self.state = SendState::Ready(file),
            SendStop::WouldBlock => self.state = SendState::Blocked(file),
            SendStop::EndOfFile | SendStop::Failed(_) => {
                self.state = SendState::Truncated;
                self.remaining = 0;
                return Some(file);
            }
        }
        None
    }

    /// Whether the response head should wait (`MSG_MORE`) for the body's
    /// first bytes: a [`SizeClass::Mid`] body, with bytes still to send.
    pub(super) fn corks_head(&self) -> bool {
        self.remaining > 0 && self.class.corks_head()
    }
}

/// Bytes queued for the socket: a head and a body, written with one
/// vectored write.
#[derive(Default)]
pub(super) struct OutBuf {
    pub(super) head: Vec<u8>,
    pub(super) head_pos: usize,
    pub(super) body: BodyBytes,
    pub(super) body_pos: usize,
}

/// A response body in memory: owned (read for this response), or a slice
/// of a file held by the hot-file cache, shared without copying.
pub(super) enum BodyBytes {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>, std::ops::Range<usize>),
}

impl Default for BodyBytes {
    fn default() -> BodyBytes {
        BodyBytes::Owned(Vec::new())
    }
}

impl BodyBytes {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            BodyBytes::Owned(bytes) => bytes,
            BodyBytes::Shared(bytes, range) => bytes.get(range.clone()).unwrap_or_default(),
        }
    }

    /// The owned buffer, emptied, for reuse as a chunk buffer.
    pub(super) fn into_spare(self) -> Vec<u8> {
        match self {
            BodyBytes::Owned(mut bytes) => {
                bytes.clear();
                bytes
            }
            BodyBytes::Shared(..) => Vec::new(),
        }
    }
}

impl OutBuf {
    pub(super) fn is_empty(&self) -> bool {
        self.head_pos == self.head.len() && self.body_pos == self.body.as_slice().len()
    }

    pub(super) fn clear(&mut self) {
        self.head.clear();
        self.head_pos = 0;
        self.body = BodyBytes::default();
        self.body_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// A stand-in for a file: any descriptor will do, as the states never
    /// read it (and no filesystem is involved).
    fn file() -> SharedFile {
        let (fd, _) = UnixStream::pair().unwrap();
        crate::offloop::OffLoopFile::shared(OwnedFd::from(fd).into())
    }

    fn socket() -> OwnedFd {
        OwnedFd::from(UnixStream::pair().unwrap().0)
    }

    #[test]
    fn a_stream_reads_one_chunk_ahead_and_closes_after_a_short_read() {
        let len = 2 * CHUNK_SIZE as u64 + 10;
        let mut stream = Stream::new(file(), 100, len);
        assert!(matches!(stream.next_step(), StreamStep::Read));
        let (file, offset, n) = stream.next_read().unwrap();
        assert_eq!((offset, n), (100, CHUNK_SIZE));
        assert!(stream.next_read().is_none(), "one read at a time");
        assert!(matches!(stream.next_step(), StreamStep::Wait));
        assert!(stream.chunk_read(file, vec![1], Ok(n)).is_none());
        // The chunk waits for `out`; no read starts before it moved there.
        assert!(stream.next_read().is_none());
        assert!(matches!(stream.next_step(), StreamStep::Write(chunk) if chunk == [1]));
        let (file, offset, n) = stream.next_read().unwrap();
        assert_eq!((offset, n), (100 + CHUNK_SIZE as u64, CHUNK_SIZE));
        // Short: what was read is still written, then the stream ends.
        let back = stream.chunk_read(file, vec![2], Ok(n - 1));
        assert!(back.is_some(), "the file goes back to the pool");
        assert!(stream.next_read().is_none());
        assert!(matches!(stream.next_step(), StreamStep::Write(chunk) if chunk == [2]));
        assert!(matches!(stream.next_step(), StreamStep::Truncated));
        assert!(Body::Stream(stream).into_file().is_none());
    }

    #[test]
    fn a_stream_is_done_when_every_chunk_was_read_and_written() {
        let mut stream = Stream::new(file(), 0, 10);
        let (file, _, n) = stream.next_read().unwrap();
        assert_eq!(n, 10);
        assert!(stream.chunk_read(file, vec![0; 10], Ok(10)).is_none());
        assert!(matches!(stream.next_step(), StreamStep::Write(_)));
        assert!(stream.next_read().is_none());
        assert!(matches!(stream.next_step(), StreamStep::Done));
        assert!(Body::Stream(stream).into_file().is_some());
    }

    #[test]
    fn sendfile_jobs_wait_for_writability_unless_it_came_during_the_job() {
        let mut send = Sendfile::new(file(), socket(), 0, 300 * 1024, SizeClass::Mid);
        assert!(send.corks_head());
        let SendfileStep::Job { file, count, .. } = send.next_step() else {
            panic!("the first job goes at once");
        };
        assert_eq!(count, 300 * 1024, "the whole body fits one job");
        assert!(matches!(send.next_step(), SendfileStep::Wait));
        // The socket filled up: wait for writability.
        assert!(send.job_done(file, 1000, SendStop::WouldBlock).is_none());
        assert!(matches!(send.next_step(), SendfileStep::Wait));
        send.writable();
        let SendfileStep::Job { file, offset, .. } = send.next_step() else {
            panic!("writable again: the next job");
        };
        assert_eq!(offset, 1000);
        // Writable while the job ran: after `WouldBlock`, go again at once.
        send.writable();
        assert!(send.job_done(file, 1000, SendStop::WouldBlock).is_none());
        let SendfileStep::Job {
            file,
            offset,
            count,
            ..
        } = send.next_step()
        else {
            panic!("the edge was seen during the job");
        };
        assert_eq!((offset, count), (2000, 300 * 1024 - 2000));
        assert!(send.job_done(file, count, SendStop::Done).is_none());
        assert!(!send.corks_head());
        assert!(matches!(send.next_step(), SendfileStep::Done));
        assert!(Body::Sendfile(send).into_file().is_some());
    }

    #[test]
    fn a_sendfile_body_cut_short_closes_and_gives_the_file_back() {
        let mut send = Sendfile::new(file(), socket(), 0, 1 << 30, SizeClass::Large);
        assert!(!send.corks_head());
        let SendfileStep::Job { file, count, .. } = send.next_step() else {
            panic!("the first job goes at once");
        };
        assert_eq!(count, SizeClass::Large.job_max());
        assert!(send.job_done(file, 5, SendStop::EndOfFile).is_some());
        send.writable();
        assert!(matches!(send.next_step(), SendfileStep::Truncated));
        assert!(Body::Sendfile(send).into_file().is_none());
    }
}
