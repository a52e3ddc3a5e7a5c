//! Writing a response: the head and in-memory body in vectored writes,
//! streamed chunks read (or, for a directory download, made) by the pool,
//! and `sendfile` jobs that the loop
//! dispatches as the socket becomes writable.

use super::*;

/// Result of trying to empty `out` into the socket.
pub(super) enum Flush {
    Done,
    Blocked,
    Failed,
}

impl Conn {
    pub(super) fn enter_sending(&mut self, ctx: &LoopContext, exchange: Exchange, body: Body) {
        self.add_cors_fields(ctx, &exchange);
        self.deadline = Some((ctx.now + ctx.config.limits.send_timeout, DeadlineKind::Send));
        self.phase = Phase::Sending(exchange, body);
    }

    /// `[http.cors]`: the fields that depend on the request's `Origin`,
    /// added to every response head here, per request, so that a cached
    /// head (rendered once for all origins) never carries them.
    fn add_cors_fields(&mut self, ctx: &LoopContext, exchange: &Exchange) {
        let Some(cors) = &ctx.config.http.cors else {
            return;
        };
        if self.metrics_endpoint {
            return;
        }
        let mut fields = String::new();
        cors.response_fields(exchange.request.origin.as_deref(), &mut fields);
        http::response::insert_fields(&mut self.out.head, &fields);
    }

    /// Asks the pool for the next chunk of a stream, reusing `buf`.
    pub(super) fn request_chunk(
        conn: ConnRef,
        ctx: &LoopContext,
        stream: &mut Stream,
        buf: Vec<u8>,
    ) {
        if let Some((file, offset, len)) = stream.next_read() {
            ctx.io.read_chunk(conn, file, offset, len, buf);
        }
    }

    /// Writes what is queued and moves file chunks along. `None`: the
    /// response finished and the next request may be read.
    pub(super) fn send(&mut self, ctx: &LoopContext, work: &mut Workspace) -> Option<Next> {
        loop {
            match self.flush(ctx) {
                Flush::Failed => {
                    self.abandon(ctx, work);
                    return Some(Next::Close);
                }
                Flush::Blocked => return Some(Next::Keep),
                Flush::Done => {}
            }
            let conn_ref = self.conn_ref;
            let Phase::Sending(_, body) = &mut self.phase else {
                return Some(Next::Keep);
            };
            match body {
                Body::Complete => return self.finish_response(ctx, work),
                Body::Stream(stream) => {
                    let spare = std::mem::take(&mut self.out.body).into_spare();
                    self.out.clear();
                    match stream.next_step() {
                        StreamStep::Write(chunk) => {
                            self.out.body = BodyBytes::Owned(chunk);
                            Self::request_chunk(conn_ref, ctx, stream, spare);
                            continue;
                        }
                        StreamStep::Read => {
                            Self::request_chunk(conn_ref, ctx, stream, spare);
                            return Some(Next::Keep);
                        }
                        StreamStep::Wait => return Some(Next::Keep),
                        StreamStep::Truncated => return Some(self.close_truncated(ctx, work)),
                        StreamStep::Done => return self.finish_response(ctx, work),
                    }
                }
                Body::Archive(archive) => {
                    let spare = std::mem::take(&mut self.out.body).into_spare();
                    self.out.clear();
                    match archive.next_step() {
                        ArchiveStep::Write(chunk) => {
                            self.out.body = BodyBytes::Owned(chunk);
                            Self::request_archive_chunk(conn_ref, ctx, archive, spare);
                            continue;
                        }
                        ArchiveStep::Make => {
                            Self::request_archive_chunk(conn_ref, ctx, archive, spare);
                            return Some(Next::Keep);
                        }
                        ArchiveStep::Wait => return Some(Next::Keep),
                        ArchiveStep::Truncated => return Some(self.close_truncated(ctx, work)),
                        ArchiveStep::Done => return self.finish_response(ctx, work),
                    }
                }
                Body::Sendfile(send) => match send.next_step() {
                    SendfileStep::Job {
                        socket,
                        file,
                        offset,
                        count,
                    } => {
                        ctx.io.send_file(conn_ref, socket, file, offset, count);
                        return Some(Next::Keep);
                    }
                    SendfileStep::Wait => return Some(Next::Keep),
                    SendfileStep::Truncated => return Some(self.close_truncated(ctx, work)),
                    SendfileStep::Done => return self.finish_response(ctx, work),
                },
            }
        }
    }

    /// Fewer bytes than promised were sent: the client must see the
    /// connection end, not a next response.
    fn close_truncated(&mut self, ctx: &LoopContext, work: &mut Workspace) -> Next {
        self.close_reason = CloseReason::Error;
        self.abandon(ctx, work);
        Next::Close
    }

    /// Writes `out` until it is empty or the socket would block.
    pub(super) fn flush(&mut self, ctx: &LoopContext) -> Flush {
        if self.out.body.as_slice().is_empty() && self.corked_body_follows() {
            match self.flush_head_corked() {
                Flush::Done => {}
                blocked_or_failed => return blocked_or_failed,
            }
        }
        let more = self.more_follows();
        while !self.out.is_empty() {
            let slices = [
                IoSlice::new(&self.out.head[self.out.head_pos..]),
                IoSlice::new(&self.out.body.as_slice()[self.out.body_pos..]),
            ];
            let written = if more {
                self.corked = true;
                rustix::net::sendmsg(
                    &self.socket,
                    &slices,
                    &mut rustix::net::SendAncillaryBuffer::default(),
                    rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL,
                )
                .map_err(io::Error::from)
            } else {
                // Without `MSG_MORE`, the kernel sends whatever earlier
                // responses left corked along with this one.
                self.corked = false;
                self.socket.write_vectored(&slices)
            };
            match written {
                Ok(0) => return Flush::Failed,
                Ok(mut n) => {
                    let from_head = n.min(self.out.head.len() - self.out.head_pos);
                    self.out.head_pos += from_head;
                    n -= from_head;
                    self.out.body_pos += n;
                    if let Phase::Sending(exchange, _) = &mut self.phase {
                        exchange.body_bytes_sent += n as u64;
                    }
                    self.deadline =
                        Some((ctx.now + ctx.config.limits.send_timeout, DeadlineKind::Send));
                }
                Err(e) if e.would_block() => return Flush::Blocked,
                Err(e) if e.interrupted() => {}
                Err(_) => return Flush::Failed,
            }
        }
        Flush::Done
    }

    /// Whether the response in `out` is whole in memory and more follows
    /// it at once, on TCP: then it is written with `MSG_MORE`, and the
    /// kernel holds it back to send with what follows in as few segments
    /// as it fills. What follows is either the answers to pipelined
    /// requests already buffered behind it (writing each of 16 in a
    /// segment of its own costs the loopback path, and a real client's
    /// network, 16 transmits and 16 wake-ups of the client for what one
    /// would carry), or, for the last answer on a connection, the `FIN`
    /// that closing it sends, which then rides on the answer's last
    /// segment. See docs/performance.md, *Pipelined responses*.
    /// [`Conn::push_corked`] sends what is held when nothing follows at
    /// once after all.
    fn more_follows(&self) -> bool {
        let Phase::Sending(exchange, Body::Complete) = &self.phase else {
            return false;
        };
        let closes_next = !exchange.keep_alive && !self.socket_shared;
        matches!(self.socket, ClientStream::Tcp(_)) && (closes_next || !self.inbuf.is_empty())
    }

    /// Sends responses held back by `MSG_MORE` ([`Conn::more_follows`])
    /// once the connection stops answering for now (the next request is
    /// incomplete, goes to the pool, or waits for the connection's next
    /// turn): setting `TCP_NODELAY`, already set, pushes the socket's
    /// queue. Without this, they would wait for the next write or ACK.
    pub(super) fn push_corked(&mut self) {
        if std::mem::take(&mut self.corked) {
            let _ = self.socket.set_nodelay(true);
        }
    }

    /// A `sendfile` body whose head waits for it ([`Sendfile::corks_head`])
    /// is still to come from the pool after what `out` holds.
    pub(super) fn corked_body_follows(&self) -> bool {
        matches!(&self.phase, Phase::Sending(_, Body::Sendfile(send)) if send.corks_head())
    }

    /// Writes the response head with `MSG_MORE`: the kernel holds it back
    /// and sends it in the same segment as the body's first bytes, instead
    /// of in a packet of its own that wakes the client for a few hundred
    /// bytes (nginx's `tcp_nopush` around `sendfile` does the same). The
    /// first `sendfile` job pushes both; a connection closed before that
    /// pushes the head.
    pub(super) fn flush_head_corked(&mut self) -> Flush {
        use rustix::net::SendFlags;
        while self.out.head_pos < self.out.head.len() {
            let rest = &self.out.head[self.out.head_pos..];
            match rustix::net::send(&self.socket, rest, SendFlags::MORE | SendFlags::NOSIGNAL) {
                Ok(0) => return Flush::Failed,
                Ok(n) => self.out.head_pos += n,
                Err(e) if e.would_block() => return Flush::Blocked,
                Err(e) if e.interrupted() => {}
                Err(_) => return Flush::Failed,
            }
        }
        Flush::Done
    }
}
