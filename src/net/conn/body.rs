//! A response body on its way out: what is queued for the socket
//! ([`OutBuf`], [`BodyBytes`]) and the part still to come from the file
//! ([`Body`]: streamed in chunks read by the pool, or sent by the pool with
//! `sendfile`; which one is [`crate::http::body_strategy`]'s choice).

use std::os::fd::OwnedFd;
use std::sync::Arc;

use crate::offloop::SharedFile;

/// The part of a response body not yet handed to `out`.
pub(super) enum Body {
    /// Everything is in `out`.
    Complete,
    /// A file streamed in chunks read by the pool and written by the loop.
    Stream(Stream),
    /// A file sent by the pool straight to the socket with `sendfile`.
    Sendfile(Sendfile),
}

/// A body sent with `sendfile` jobs: the pool moves file bytes into the
/// non-blocking socket until it is full, the loop waits for writability and
/// dispatches the next job. No file data passes through wharf's memory.
pub(super) struct Sendfile {
    /// The file, while no job is in flight.
    pub(super) file: Option<SharedFile>,
    /// A duplicate of the socket descriptor for the jobs: it stays open
    /// until the last job holding it ends, so a job never writes to a
    /// descriptor number the loop has closed and reused.
    pub(super) socket: Arc<OwnedFd>,
    pub(super) offset: u64,
    pub(super) remaining: u64,
    pub(super) in_flight: bool,
    /// The most one job sends ([`crate::http::body_strategy::SizeClass::job_max`]).
    pub(super) job_max: u64,
    /// The socket became writable while a job was in flight: after a
    /// `WouldBlock` answer, try again at once instead of waiting for an
    /// edge that already happened.
    pub(super) writable_during_job: bool,
    /// The file ended early: close after what was sent.
    pub(super) truncated: bool,
    /// The last job found the socket full: wait for writability.
    pub(super) blocked: bool,
}

pub(super) struct Stream {
    /// The file, while no read is in flight.
    pub(super) file: Option<SharedFile>,
    /// Offset of the next chunk to request.
    pub(super) next_offset: u64,
    /// Bytes not yet requested from the pool.
    pub(super) unrequested: u64,
    /// A read job is on the pool.
    pub(super) in_flight: bool,
    /// How many bytes that job was asked for.
    pub(super) in_flight_len: usize,
    /// A chunk that arrived while `out` was still busy.
    pub(super) ready: Option<Vec<u8>>,
    /// The file turned out shorter than its `Content-Length`.
    pub(super) truncated: bool,
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
