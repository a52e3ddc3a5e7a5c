//! Decides how a request for a file is answered, from its conditional and
//! `Range` headers and the selected representation's validators:
//! 200, 206 (one range or `multipart/byteranges`), 304, 412 or 416.
//!
//! Pure code. It runs on the IO pool right after the `fstat` of the opened
//! file, so a 304, a 412 or a HEAD never reads the file, and a range reads
//! only its bytes.
//!
//! Order (RFC 9110 sections 13.2.2 and 14): preconditions first
//! ([`conditional::evaluate`]); then, for GET only (`Range` is undefined
//! for HEAD and must be ignored), `If-Range`, then the range set.

use std::sync::atomic::{AtomicU64, Ordering};

use std::borrow::Cow;
use std::time::SystemTime;

use super::conditional::{self, Conditions, Validators};
use super::encoding::Coding;
use super::range::{self, ByteRange, RangeRequest};
use super::request::FileHeaders;

/// The headers' view of the representation sent, all from one `fstat` of
/// the opened file (the sidecar, for a precompressed variant).
#[derive(Debug, Clone)]
pub struct FileMeta {
    /// The representation's length.
    pub len: u64,
    /// Clamped to now (a future mtime is never sent).
    pub modified: SystemTime,
    pub etag: String,
    /// The type of the requested file, also for a compressed variant.
    pub content_type: Cow<'static, str>,
    /// The coding of a precompressed variant.
    pub encoding: Option<Coding>,
    /// Precompressed variants exist, so responses carry `Vary: Accept-Encoding`.
    pub has_variants: bool,
}

/// The most bytes a `multipart/byteranges` body may take. Multi-range
/// requests are rare (PDF viewers, download managers); beyond this size the
/// whole file is sent with 200 instead, which RFC 9110 allows, and the body
/// is built in memory on the pool.
pub const MULTIPART_MAX_BYTES: u64 = 1024 * 1024;

/// The answer for a file request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// 200 with the whole representation.
    Full,
    /// 206 with one range.
    Partial(ByteRange),
    /// 206 `multipart/byteranges` with these (sorted, disjoint) ranges.
    Multipart(Vec<ByteRange>),
    /// 304.
    NotModified,
    /// 412.
    PreconditionFailed,
    /// 416 with `Content-Range: bytes */LEN`.
    Unsatisfiable,
}

/// Decides the answer for a representation of `len` bytes.
///
/// `is_get` is false for HEAD: preconditions apply, ranges do not.
pub fn plan(
    headers: &FileHeaders,
    validators: &Validators,
    len: u64,
    is_get: bool,
    now_secs: u64,
    max_ranges: usize,
) -> Plan {
    let conditions = Conditions {
        if_match: headers.if_match.as_deref(),
        if_unmodified_since: headers.if_unmodified_since.as_deref(),
        if_none_match: headers.if_none_match.as_deref(),
        if_modified_since: headers.if_modified_since.as_deref(),
        if_range: headers.if_range.as_deref(),
    };
    match conditional::evaluate(&conditions, validators, true, now_secs) {
        conditional::Outcome::NotModified => return Plan::NotModified,
        conditional::Outcome::PreconditionFailed => return Plan::PreconditionFailed,
        conditional::Outcome::Proceed => {}
    }
    let Some(range_header) = headers.range.as_deref() else {
        return Plan::Full;
    };
    if !is_get || max_ranges == 0 || !conditions.range_allowed(validators) {
        return Plan::Full;
    }
    match range::parse_range(range_header, len, max_ranges) {
        RangeRequest::None => Plan::Full,
        RangeRequest::Unsatisfiable => Plan::Unsatisfiable,
        RangeRequest::Satisfiable(ranges) if ranges.len() == 1 => Plan::Partial(ranges[0]),
        RangeRequest::Satisfiable(ranges) => {
            let bytes: u64 = ranges.iter().map(ByteRange::len).sum();
            if bytes > MULTIPART_MAX_BYTES {
                Plan::Full
            } else {
                Plan::Multipart(ranges)
            }
        }
    }
}

/// A fresh `multipart/byteranges` boundary: a per-process random value and
/// a counter, so it is unique per response and not predictable from outside.
pub fn boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("wharf-{seed:016x}-{n:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"5f5e100-0-64\"";
    const LAST_MODIFIED: u64 = 100_000_000;
    const NOW: u64 = 2_000_000_000;

    fn validators() -> Validators<'static> {
        Validators {
            etag: ETAG,
            last_modified_secs: LAST_MODIFIED,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> FileHeaders {
        let mut h = FileHeaders::default();
        for (name, value) in pairs {
            let value = Some(value.as_bytes().to_vec());
            match *name {
                "if-match" => h.if_match = value,
                "if-none-match" => h.if_none_match = value,
                "if-modified-since" => h.if_modified_since = value,
                "if-unmodified-since" => h.if_unmodified_since = value,
                "if-range" => h.if_range = value,
                "range" => h.range = value,
                other => panic!("unknown header {other}"),
            }
        }
        h
    }

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn plan_table() {
        let lm = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(LAST_MODIFIED),
        );
        let earlier = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(LAST_MODIFIED - 10),
        );
        // (request headers, is GET, expected plan)
        type Case<'a> = (Vec<(&'a str, &'a str)>, bool, Plan);
        let table: Vec<Case> = vec![
            (vec![], true, Plan::Full),
            (vec![("if-none-match", ETAG)], true, Plan::NotModified),
            (vec![("if-none-match", ETAG)], false, Plan::NotModified),
            (
                vec![("if-none-match", "W/\"5f5e100-0-64\"")],
                true,
                Plan::NotModified,
            ),
            (vec![("if-none-match", "\"other\"")], true, Plan::Full),
            (vec![("if-none-match", "*")], true, Plan::NotModified),
            (vec![("if-modified-since", &lm)], true, Plan::NotModified),
            (vec![("if-modified-since", &earlier)], true, Plan::Full),
            // If-None-Match wins over If-Modified-Since.
            (
                vec![("if-none-match", "\"other\""), ("if-modified-since", &lm)],
                true,
                Plan::Full,
            ),
            (
                vec![("if-match", "\"other\"")],
                true,
                Plan::PreconditionFailed,
            ),
            (vec![("if-match", ETAG)], true, Plan::Full),
            (
                vec![("if-unmodified-since", &earlier)],
                true,
                Plan::PreconditionFailed,
            ),
            (vec![("if-unmodified-since", &lm)], true, Plan::Full),
            // Ranges.
            (vec![("range", "bytes=0-9")], true, Plan::Partial(r(0, 9))),
            (vec![("range", "bytes=0-9")], false, Plan::Full),
            (vec![("range", "bytes=90-")], true, Plan::Partial(r(90, 99))),
            (vec![("range", "bytes=-5")], true, Plan::Partial(r(95, 99))),
            (
                vec![("range", "bytes=50-500")],
                true,
                Plan::Partial(r(50, 99)),
            ),
            (vec![("range", "bytes=100-")], true, Plan::Unsatisfiable),
            (vec![("range", "bytes=x")], true, Plan::Full),
            (
                vec![("range", "bytes=0-1,10-11")],
                true,
                Plan::Multipart(vec![r(0, 1), r(10, 11)]),
            ),
            (
                vec![("range", "bytes=0-5,3-9")],
                true,
                Plan::Partial(r(0, 9)),
            ),
            // If-Range: strong ETag or exact date, else the whole file.
            (
                vec![("range", "bytes=0-9"), ("if-range", ETAG)],
                true,
                Plan::Partial(r(0, 9)),
            ),
            (
                vec![("range", "bytes=0-9"), ("if-range", "\"old\"")],
                true,
                Plan::Full,
            ),
            (
                vec![("range", "bytes=0-9"), ("if-range", "W/\"5f5e100-0-64\"")],
                true,
                Plan::Full,
            ),
            (
                vec![("range", "bytes=0-9"), ("if-range", &lm)],
                true,
                Plan::Partial(r(0, 9)),
            ),
            (
                vec![("range", "bytes=0-9"), ("if-range", &earlier)],
                true,
                Plan::Full,
            ),
            // Preconditions come before ranges.
            (
                vec![("range", "bytes=0-9"), ("if-none-match", ETAG)],
                true,
                Plan::NotModified,
            ),
        ];
        for (pairs, is_get, expected) in table {
            let got = plan(&headers(&pairs), &validators(), 100, is_get, NOW, 16);
            assert_eq!(got, expected, "{pairs:?} get={is_get}");
        }
    }

    #[test]
    fn range_caps() {
        let many = headers(&[("range", "bytes=0-0,2-2,4-4,6-6")]);
        assert_eq!(plan(&many, &validators(), 100, true, NOW, 3), Plan::Full);
        assert!(matches!(
            plan(&many, &validators(), 100, true, NOW, 4),
            Plan::Multipart(_)
        ));
        let off = headers(&[("range", "bytes=0-9")]);
        assert_eq!(plan(&off, &validators(), 100, true, NOW, 0), Plan::Full);
        let huge = headers(&[("range", "bytes=0-999999,2000000-3999999")]);
        assert_eq!(
            plan(&huge, &validators(), 10_000_000, true, NOW, 16),
            Plan::Full
        );
    }

    #[test]
    fn boundaries_are_unique_and_valid() {
        let a = boundary();
        let b = boundary();
        assert_ne!(a, b);
        assert!(crate::http::multipart::Multipart::new(&[r(0, 1)], 10, "text/plain", &a).is_ok());
    }
}
