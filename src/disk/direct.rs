//! A small file sent by the pool itself, in the job that opened it: the
//! response head written with `MSG_MORE` and the body with `sendfile`, to
//! a duplicate of the client's socket, where the usual miss reads the body
//! into memory for the loop to copy into the socket (two copies of every
//! byte and a second trip through the loop). nginx and lighttpd answer a
//! miss the same way, open, `fstat`, head, `sendfile`, on one thread.
//!
//! Only for a whole `200` of a small file that the hot-file cache does not
//! take (the loop inserts what it takes, from memory), for a GET whose
//! connection has nothing else to write: the loop offers it with the
//! request ([`DirectSend`]), and [`super::resolve`] uses it when the plan
//! comes out that way. What the socket does not take at once (its buffer
//! is full) goes back to the loop as the rest of the head and a file to
//! `sendfile` from where it stopped, like any larger body.

use std::cell::RefCell;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::SystemTime;

use rustix::net::SendFlags;

use super::io::{send_file, SendStop};
use crate::config::Config;
use crate::http::date::{http_date, DateCache};
use crate::http::serve::FileMeta;
use crate::http::{self, Status};
use crate::offloop::{OffLoopFile, SharedFile};
use crate::site::{file_head, rules};

/// What the loop hands the pool so that the open job may answer itself.
#[derive(Debug)]
pub struct DirectSend {
    /// A duplicate of the client's socket (non-blocking, like the loop's).
    pub socket: OwnedFd,
    /// The loop's configuration, for the path's rule headers.
    pub config: Arc<Config>,
    /// The decoded request path the rules match.
    pub path: String,
    /// The `[http.cors]` fields for this request's `Origin`, rendered.
    pub cors_fields: String,
    pub keep_alive: bool,
    pub minor_version: u8,
}

/// How a direct answer went, for the loop to finish the exchange.
#[derive(Debug)]
pub struct DirectSent {
    /// Body bytes that went out.
    pub body_sent: u64,
    /// The part of the head the socket did not take.
    pub unsent_head: Vec<u8>,
    /// The file and the body bytes still to send from `body_sent`.
    pub rest: Option<(SharedFile, u64)>,
    /// The socket failed: the connection is done.
    pub failed: bool,
}

thread_local! {
    /// Each pool thread's `Date` value, rendered once a second.
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::new());
}

/// Renders the `200` head of `meta` as the loop would and sends it with
/// the `len`-byte body of `file`.
pub fn send_whole(direct: &DirectSend, meta: &FileMeta, file: File, len: u64) -> DirectSent {
    let config = &direct.config;
    let applied = rules::apply(
        &config.http.rules,
        config.http.cache_control.as_deref(),
        &direct.path,
    );
    let last_modified = http_date(meta.modified);
    let accept_ranges = config.limits.max_ranges > 0;
    let head = http::ResponseHead {
        content_length: len,
        keep_alive: direct.keep_alive,
        minor_version: direct.minor_version,
        ..file_head::file_head(meta, &last_modified, &applied, Status::Ok, accept_ranges)
    };
    let mut bytes = Vec::with_capacity(384);
    DATE.with(|date| {
        let mut date = date.borrow_mut();
        date.refresh(SystemTime::now());
        head.render(date.header_value(), &mut bytes);
    });
    http::response::insert_fields(&mut bytes, &direct.cors_fields);
    let head_sent = send_head(direct, &bytes);
    let Ok(head_sent) = head_sent else {
        return DirectSent {
            body_sent: 0,
            unsent_head: Vec::new(),
            rest: None,
            failed: true,
        };
    };
    if head_sent < bytes.len() {
        bytes.drain(..head_sent);
        return DirectSent {
            body_sent: 0,
            unsent_head: bytes,
            rest: Some((OffLoopFile::shared(file), len)),
            failed: false,
        };
    }
    let (body_sent, stop) = send_file(std::os::fd::AsFd::as_fd(&direct.socket), &file, 0, len);
    let (rest, failed) = match stop {
        SendStop::Done => (None, false),
        SendStop::WouldBlock => (Some((OffLoopFile::shared(file), len - body_sent)), false),
        // The file shrank, or the socket failed: the promised length
        // cannot be kept, so the connection ends.
        SendStop::EndOfFile | SendStop::Failed(_) => (None, true),
    };
    DirectSent {
        body_sent,
        unsent_head: Vec::new(),
        rest,
        failed,
    }
}

/// Writes `head` with `MSG_MORE` (so it leaves with the body's first
/// bytes); how much the socket took.
fn send_head(direct: &DirectSend, head: &[u8]) -> std::io::Result<usize> {
    let flags = SendFlags::MORE | SendFlags::NOSIGNAL;
    loop {
        return match rustix::net::send(&direct.socket, head, flags) {
            Ok(n) => Ok(n),
            Err(rustix::io::Errno::AGAIN) => Ok(0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}
