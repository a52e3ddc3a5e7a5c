//! The head of an answer with a file's content: type, length, validators,
//! coding and the path's rule headers. Shared by the loop (cache hits and
//! answers the pool handed back) and the pool (a small file it sends
//! itself, `disk::direct`), so both render the same head.

use crate::http::encoding::Coding;
use crate::http::serve::FileMeta;
use crate::http::{ResponseHead, Status};
use crate::site::rules::Applied;

/// The head fields every answer with a file's content shares.
/// `accept_ranges`: `[limits] max_ranges` is not 0.
pub fn file_head<'a>(
    meta: &'a FileMeta,
    last_modified: &'a str,
    applied: &'a Applied,
    status: Status,
    accept_ranges: bool,
) -> ResponseHead<'a> {
    ResponseHead {
        content_type: Some(&meta.content_type),
        content_length: meta.len,
        content_encoding: meta.encoding.map(Coding::token),
        etag: Some(&meta.etag),
        last_modified: Some(last_modified),
        // Not advertised when `max_ranges = 0` turned ranges off.
        accept_ranges,
        vary: meta.has_variants.then_some("Accept-Encoding"),
        cache_control: applied.cache_control,
        extra: &applied.headers,
        ..ResponseHead::new(status)
    }
}
