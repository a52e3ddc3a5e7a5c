//! A directory download on its way out: the body is produced by the pool
//! chunk by chunk ([`crate::disk::archive::ArchiveStream`]), one chunk being
//! made while the loop writes the previous one, as a streamed file is
//! ([`super::body::Stream`]). Its state is an enum, as the other bodies'
//! are: a state that holds the stream is one in which no job is in flight.
//! The pool frames the chunks (chunked transfer coding), so the loop only
//! moves bytes.

use super::*;
use crate::disk::archive::{ArchiveStream, ChunkEnd};

/// A body produced by archive jobs on the pool.
pub(super) struct ArchiveBody {
    state: ArchiveState,
    /// Chunk-framed (HTTP/1.1), or raw until the connection closes
    /// (HTTP/1.0).
    framed: bool,
}

enum ArchiveState {
    /// No job in flight: the stream waits here for the next one, and
    /// `chunk` holds the chunk last made until `out` has room for it.
    Idle {
        stream: Box<ArchiveStream>,
        chunk: Option<Vec<u8>>,
    },
    /// A job is on the pool, with the stream.
    InFlight,
    /// The last chunk came back (`chunk`, still to be written):
    /// `complete`, or cut short, which closes the connection after it.
    /// The stream has gone back to the pool.
    Ended {
        chunk: Option<Vec<u8>>,
        complete: bool,
    },
}

/// What an archive body needs next, once `out` is empty.
pub(super) enum ArchiveStep {
    /// Write this chunk; the next job may start meanwhile.
    Write(Vec<u8>),
    /// Ask the pool for the next chunk, and wait for it.
    Make,
    /// A job is on the pool: wait for it.
    Wait,
    /// The whole archive was written.
    Done,
    /// The archive was cut short: close the connection.
    Truncated,
}

impl ArchiveBody {
    pub(super) fn new(stream: Box<ArchiveStream>, framed: bool) -> ArchiveBody {
        ArchiveBody {
            state: ArchiveState::Idle {
                stream,
                chunk: None,
            },
            framed,
        }
    }

    pub(super) fn next_step(&mut self) -> ArchiveStep {
        match &mut self.state {
            ArchiveState::Idle { chunk, .. } => match chunk.take() {
                Some(chunk) => ArchiveStep::Write(chunk),
                None => ArchiveStep::Make,
            },
            ArchiveState::InFlight => ArchiveStep::Wait,
            ArchiveState::Ended { chunk, complete } => match (chunk.take(), *complete) {
                (Some(chunk), _) => ArchiveStep::Write(chunk),
                (None, true) => ArchiveStep::Done,
                (None, false) => ArchiveStep::Truncated,
            },
        }
    }

    /// The next job to send to the pool (the stream, and whether to
    /// frame), now counted as in flight; `None` while a job is in flight,
    /// a chunk waits for `out`, or after the last chunk.
    pub(super) fn next_job(&mut self) -> Option<(Box<ArchiveStream>, bool)> {
        match std::mem::replace(&mut self.state, ArchiveState::InFlight) {
            ArchiveState::Idle {
                stream,
                chunk: None,
            } => Some((stream, self.framed)),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// The pool's answer to [`ArchiveBody::next_job`]. Returns the stream
    /// when the body is done with it, for its file to be closed on the
    /// pool.
    pub(super) fn chunk_made(
        &mut self,
        stream: Box<ArchiveStream>,
        chunk: Vec<u8>,
        end: ChunkEnd,
    ) -> Option<Box<ArchiveStream>> {
        if !matches!(self.state, ArchiveState::InFlight) {
            return Some(stream); // Not expecting a chunk: drop the answer.
        }
        let chunk = (!chunk.is_empty()).then_some(chunk);
        match end {
            ChunkEnd::More => {
                self.state = ArchiveState::Idle { stream, chunk };
                None
            }
            ChunkEnd::Complete | ChunkEnd::Failed => {
                self.state = ArchiveState::Ended {
                    chunk,
                    complete: end == ChunkEnd::Complete,
                };
                Some(stream)
            }
        }
    }

    /// The stream's open file, if the body holds the stream, to be closed
    /// on the pool when the response ends.
    pub(super) fn into_file(self) -> Option<SharedFile> {
        match self.state {
            ArchiveState::Idle { stream, .. } => stream.into_file(),
            ArchiveState::InFlight | ArchiveState::Ended { .. } => None,
        }
    }
}

impl Conn {
    /// Answers a listing asked for as an archive: 200 with the download's
    /// head (no length, no ranges, no validators), then the chunks the
    /// pool makes. HTTP/1.0 gets the raw archive, ended by the close.
    pub(super) fn start_archive(
        &mut self,
        ctx: &LoopContext,
        mut exchange: Exchange,
        kind: ArchiveKind,
        name: &str,
        stream: Option<Box<ArchiveStream>>,
        applied: &rules::Applied,
    ) {
        let framed = exchange.request.minor_version > 0;
        if !framed {
            exchange.keep_alive = false;
        }
        exchange.status = Status::Ok;
        let disposition = attachment(&format!("{name}.{}", kind.name()));
        let head = ResponseHead {
            content_type: Some(kind.content_type()),
            content_disposition: Some(&disposition),
            length_unknown: true,
            no_ranges: true,
            cache_control: applied.cache_control,
            extra: &applied.headers,
            keep_alive: exchange.keep_alive,
            minor_version: exchange.request.minor_version,
            ..ResponseHead::new(Status::Ok)
        };
        self.out.clear();
        head.render(ctx.date.header_value(), &mut self.out.head);
        let body = match stream {
            Some(stream) if !exchange.head_only => {
                let mut archive = ArchiveBody::new(stream, framed);
                Self::request_archive_chunk(self.conn_ref, ctx, &mut archive, Vec::new());
                Body::Archive(archive)
            }
            Some(stream) => {
                if let Some(file) = stream.into_file() {
                    ctx.io.release(file);
                }
                Body::Complete
            }
            None => Body::Complete,
        };
        self.enter_sending(ctx, exchange, body);
    }

    /// Asks the pool for an archive's next chunk, reusing `buf`.
    pub(super) fn request_archive_chunk(
        conn: ConnRef,
        ctx: &LoopContext,
        archive: &mut ArchiveBody,
        buf: Vec<u8>,
    ) {
        if let Some((stream, framed)) = archive.next_job() {
            ctx.io.archive_chunk(conn, stream, buf, framed);
        }
    }
}
