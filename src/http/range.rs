//! Byte ranges (RFC 9110 section 14): parsing the `Range` header against a
//! file length, rendering `Content-Range`, and laying out
//! `multipart/byteranges` bodies.
//!
//! Pure code: no IO. The parser works on the raw header bytes, never panics,
//! and allocates only the vector of resulting ranges.
//!
//! # Interpretation choices
//!
//! - The field value is trimmed of leading and trailing whitespace (SP, HTAB)
//!   first, as a field value never includes it (RFC 9110 section 5.5).
//! - The range unit is matched case-insensitively (`BYTES=0-1` is accepted)
//!   and must be followed directly by `=`: `bytes =0-1` is a syntax error,
//!   because `bytes ` is not the token `bytes`.
//! - Optional whitespace is allowed around each list element, i.e. around
//!   commas and right after `=` (`bytes= 0-1 , 5-`), but not inside a
//!   range-spec (`0 - 1` is a syntax error).
//! - Empty list elements are skipped, as RFC 9110 section 5.6.1.2 requires
//!   of recipients: `bytes=0-1,`, `bytes=,0-1` and `bytes=0-1,,2-3` are valid.
//!   A set with no non-empty element (`bytes=`, `bytes=,`) is a syntax error.
//! - Any syntax error anywhere, including a number that overflows `u64` and
//!   `a-b` with `b < a`, makes the whole header be ignored
//!   ([`RangeRequest::None`]: serve the full representation with 200), as
//!   RFC 9110 section 14.2 allows ("a server MAY ignore the Range header").
//! - Ranges are sorted by start and overlapping or adjacent ones are
//!   coalesced, so no byte is ever sent twice whatever the request
//!   (`bytes=0-,0-,0-` is one range). RFC 9110 section 15.3.7.2 says parts
//!   SHOULD keep the request order; wharf sorts instead, since it coalesces
//!   anyway and every part carries its own `Content-Range`.
//! - If more than `max_ranges` ranges remain after coalescing, the header is
//!   ignored ([`RangeRequest::None`], a full 200 response), as nginx does
//!   with `max_ranges`, rather than answering 416: the request is not
//!   unsatisfiable, only too fragmented to be worth serving as parts.
//!   `max_ranges == 0` therefore disables range support.
//! - A zero-length representation satisfies no range, so any syntactically
//!   valid `Range` on an empty file is [`RangeRequest::Unsatisfiable`].

use super::trim_ows;
use std::fmt::Write as _;

/// One satisfiable byte range, both ends inclusive and within the file:
/// `start <= end < file_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub start: u64,
    /// Offset of the last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range (`end - start + 1`); 0 if `end < start`,
    /// which [`parse_range`] never produces. Saturates at `u64::MAX` for the
    /// (unrepresentable) range `0-18446744073709551615`.
    pub fn len(&self) -> u64 {
        if self.end < self.start {
            0
        } else {
            (self.end - self.start).saturating_add(1)
        }
    }

    /// Whether the range covers no byte (only when `end < start`, which
    /// [`parse_range`] never produces).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }
}

/// What to do with a `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range`: absent, syntactically invalid, in an unknown unit,
    /// or with more than `max_ranges` ranges. Serve the full representation
    /// (200).
    None,
    /// At least one satisfiable range: sorted by `start`, non-overlapping,
    /// non-adjacent, each within the file. One range means a single-part
    /// 206; more means `multipart/byteranges` (see [`Multipart`]).
    Satisfiable(Vec<ByteRange>),
    /// Valid syntax but no range overlaps the file: 416 with
    /// [`unsatisfiable_content_range`].
    Unsatisfiable,
}

/// A syntactically valid range-spec, before it meets the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `a-b`
    Closed(u64, u64),
    /// `a-`
    From(u64),
    /// `-n`
    Suffix(u64),
}

/// Parses a `Range` field value against a representation of `file_len` bytes.
///
/// See the module documentation for the exact rules. The result never
/// covers a byte twice, and every range satisfies
/// `start <= end < file_len`.
///
/// The caller must only call this for GET (RFC 9110 section 14.2: a server
/// MUST ignore `Range` for other methods) and after `If-Range` allowed it.
/// The temporary vector is bounded by the header's length, which the request
/// parser already limits.
pub fn parse_range(header: &[u8], file_len: u64, max_ranges: usize) -> RangeRequest {
    let value = trim_ows(header);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return RangeRequest::None;
    };
    let (unit, set) = (&value[..eq], &value[eq + 1..]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return RangeRequest::None;
    }

    let mut ranges: Vec<ByteRange> = Vec::new();
    let mut saw_spec = false;
    for element in set.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        saw_spec = true;
        let Some(spec) = parse_spec(element) else {
            return RangeRequest::None;
        };
        if let Some(range) = resolve(spec, file_len) {
            ranges.push(range);
        }
    }
    if !saw_spec {
        return RangeRequest::None;
    }
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }

    coalesce(&mut ranges);
    if ranges.len() > max_ranges {
        return RangeRequest::None;
    }
    RangeRequest::Satisfiable(ranges)
}

/// `bytes a-b/len`, the `Content-Range` value of a 206 part.
pub fn content_range(range: &ByteRange, file_len: u64) -> String {
    format!("bytes {}-{}/{}", range.start, range.end, file_len)
}

/// `bytes */len`, the `Content-Range` value of a 416 response.
pub fn unsatisfiable_content_range(file_len: u64) -> String {
    format!("bytes */{file_len}")
}

/// Parses one non-empty, trimmed range-spec. `None` is a syntax error.
fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        return Some(Spec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    if last.is_empty() {
        return Some(Spec::From(first));
    }
    let last = parse_digits(last)?;
    if last < first {
        return None;
    }
    Some(Spec::Closed(first, last))
}

/// `1*DIGIT` as a `u64`; `None` if empty, not all digits, or overflowing.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The part of the file a valid spec covers, or `None` if it is
/// unsatisfiable (starts at or past the end, `-0`, or the file is empty).
fn resolve(spec: Spec, file_len: u64) -> Option<ByteRange> {
    let last = file_len.checked_sub(1)?;
    match spec {
        Spec::Closed(start, end) if start <= last => Some(ByteRange {
            start,
            end: end.min(last),
        }),
        Spec::From(start) if start <= last => Some(ByteRange { start, end: last }),
        Spec::Suffix(n) if n > 0 => Some(ByteRange {
            start: file_len.saturating_sub(n),
            end: last,
        }),
        _ => None,
    }
}

/// Sorts by start and merges overlapping or adjacent ranges, in place.
fn coalesce(ranges: &mut Vec<ByteRange>) {
    ranges.sort_unstable_by_key(|r| (r.start, r.end));
    let mut merged = 0;
    for i in 1..ranges.len() {
        let next = ranges[i];
        let current = &mut ranges[merged];
        if next.start <= current.end.saturating_add(1) {
            current.end = current.end.max(next.end);
        } else {
            merged += 1;
            ranges[merged] = next;
        }
    }
    ranges.truncate(merged + 1);
}

/// Why a [`Multipart`] could not be built. All are caller bugs, not client
/// errors: [`parse_range`] output with a boundary from a counter and a
/// content type from `mime_guess` never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// The boundary is empty, longer than 70 characters, or has a character
    /// other than ASCII letters, digits and `'+-._`.
    InvalidBoundary,
    /// The part content type contains a control character (it would break
    /// or inject part headers).
    InvalidContentType,
    /// No ranges were given.
    NoRanges,
    /// A range has `end < start` or `end >= file_len`.
    RangeOutOfBounds,
    /// The body length does not fit in a `u64`.
    TooLong,
}

/// One part of a `multipart/byteranges` body: its precomputed header bytes,
/// then the file bytes of `range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    range: ByteRange,
    header: Vec<u8>,
}

impl Part {
    /// The file bytes this part carries, sent right after [`Part::header`].
    pub fn range(&self) -> ByteRange {
        self.range
    }

    /// `\r\n--BOUNDARY\r\nContent-Type: TYPE\r\nContent-Range: bytes a-b/len\r\n\r\n`
    /// (the `Content-Type` line is omitted when the type is empty).
    pub fn header(&self) -> &[u8] {
        &self.header
    }
}

/// The layout of a `multipart/byteranges` body (RFC 9110 section 14.6):
///
/// ```text
/// for each part: part.header() then the file bytes part.range()
/// then:          closing()   ("\r\n--BOUNDARY--\r\n")
/// ```
///
/// Everything but the file bytes is precomputed, so the exact
/// `Content-Length` is known before any byte is read ([`Multipart::total_len`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    boundary: String,
    parts: Vec<Part>,
    closing: Vec<u8>,
}

impl Multipart {
    /// Lays out a body for `ranges` (normally the output of [`parse_range`])
    /// of a `file_len`-byte file whose own type is `part_content_type`.
    ///
    /// The boundary must be 1 to 70 ASCII letters, digits or `'+-._`
    /// (the characters that are both RFC 2046 `bchars` and HTTP `tchar`, so
    /// it never needs quoting in `Content-Type`), and should be unique per
    /// response and unlikely to occur in the file,
    /// e.g. a per-process random value combined with a counter, hex-encoded.
    /// (A bare counter is predictable: a file crafted to contain
    /// `\r\n--BOUNDARY` could confuse a client that searches for it.)
    pub fn new(
        ranges: &[ByteRange],
        file_len: u64,
        part_content_type: &str,
        boundary: &str,
    ) -> Result<Multipart, MultipartError> {
        if !valid_boundary(boundary) {
            return Err(MultipartError::InvalidBoundary);
        }
        if part_content_type.bytes().any(|b| b.is_ascii_control()) {
            return Err(MultipartError::InvalidContentType);
        }
        if ranges.is_empty() {
            return Err(MultipartError::NoRanges);
        }
        let mut parts = Vec::with_capacity(ranges.len());
        for range in ranges {
            if range.end < range.start || range.end >= file_len {
                return Err(MultipartError::RangeOutOfBounds);
            }
            let mut header = String::with_capacity(boundary.len() + 96);
            let _ = write!(header, "\r\n--{boundary}\r\n");
            if !part_content_type.is_empty() {
                let _ = write!(header, "Content-Type: {part_content_type}\r\n");
            }
            let _ = write!(
                header,
                "Content-Range: {}\r\n\r\n",
                content_range(range, file_len)
            );
            parts.push(Part {
                range: *range,
                header: header.into_bytes(),
            });
        }
        let closing = format!("\r\n--{boundary}--\r\n").into_bytes();
        let multipart = Multipart {
            boundary: boundary.to_string(),
            parts,
            closing,
        };
        multipart
            .checked_total_len()
            .ok_or(MultipartError::TooLong)?;
        Ok(multipart)
    }

    /// The boundary, as given.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The closing delimiter, `\r\n--BOUNDARY--\r\n`, sent after the last part.
    pub fn closing(&self) -> &[u8] {
        &self.closing
    }

    /// The exact length of the whole body: the response's `Content-Length`.
    pub fn total_len(&self) -> u64 {
        // `new` verified that the sum fits.
        self.checked_total_len().unwrap_or(u64::MAX)
    }

    /// `multipart/byteranges; boundary=BOUNDARY`, the response's `Content-Type`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    fn checked_total_len(&self) -> Option<u64> {
        let mut total = u64::try_from(self.closing.len()).ok()?;
        for part in &self.parts {
            total = total
                .checked_add(u64::try_from(part.header.len()).ok()?)?
                .checked_add(part.range.len())?;
        }
        Some(total)
    }
}

/// 1 to 70 characters that are RFC 2046 `bchars` and also HTTP `tchar`
/// (so `boundary=...` is a plain token in the `Content-Type` header).
fn valid_boundary(boundary: &str) -> bool {
    let bytes = boundary.as_bytes();
    (1..=70).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"'+-._".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn sat(ranges: &[(u64, u64)]) -> RangeRequest {
        RangeRequest::Satisfiable(ranges.iter().map(|&(s, e)| r(s, e)).collect())
    }

    const NONE: RangeRequest = RangeRequest::None;
    const UNSAT: RangeRequest = RangeRequest::Unsatisfiable;

    #[test]
    fn parse_table() {
        // (header, file_len, max_ranges, expected)
        let cases: Vec<(&str, u64, usize, RangeRequest)> = vec![
            // Basic forms.
            ("bytes=0-0", 100, 10, sat(&[(0, 0)])),
            ("bytes=0-", 100, 10, sat(&[(0, 99)])),
            ("bytes=-1", 100, 10, sat(&[(99, 99)])),
            ("bytes=0-99", 100, 10, sat(&[(0, 99)])),
            ("bytes=10-19", 100, 10, sat(&[(10, 19)])),
            ("bytes=99-99", 100, 10, sat(&[(99, 99)])),
            ("bytes=007-008", 100, 10, sat(&[(7, 8)])),
            // Clamping and unsatisfiable.
            ("bytes=0-99999", 100, 10, sat(&[(0, 99)])),
            ("bytes=50-18446744073709551615", 100, 10, sat(&[(50, 99)])),
            ("bytes=-100", 100, 10, sat(&[(0, 99)])),
            ("bytes=-500", 100, 10, sat(&[(0, 99)])),
            ("bytes=-18446744073709551615", 100, 10, sat(&[(0, 99)])),
            ("bytes=-0", 100, 10, UNSAT),
            ("bytes=500-", 100, 10, UNSAT),
            ("bytes=100-", 100, 10, UNSAT),
            ("bytes=100-200", 100, 10, UNSAT),
            ("bytes=100-100", 100, 10, UNSAT),
            ("bytes=500-,-0", 100, 10, UNSAT),
            ("bytes=500-,0-0", 100, 10, sat(&[(0, 0)])),
            ("bytes=-0,5-9", 100, 10, sat(&[(5, 9)])),
            // Syntax errors: ignore the header.
            ("bytes=5-2", 100, 10, NONE),
            ("bytes=0-1,5-2", 100, 10, NONE),
            ("bytes=18446744073709551616-", 100, 10, NONE),
            ("bytes=0-18446744073709551616", 100, 10, NONE),
            ("bytes=-18446744073709551616", 100, 10, NONE),
            ("bytes=99999999999999999999999-", 100, 10, NONE),
            ("items=0-1", 100, 10, NONE),
            ("bytes0-1", 100, 10, NONE),
            ("bytes", 100, 10, NONE),
            ("", 100, 10, NONE),
            ("=0-1", 100, 10, NONE),
            ("bytes=", 100, 10, NONE),
            ("bytes=,", 100, 10, NONE),
            ("bytes= , ,", 100, 10, NONE),
            ("bytes=0x10-", 100, 10, NONE),
            ("bytes=+1-2", 100, 10, NONE),
            ("bytes=1-+2", 100, 10, NONE),
            ("bytes=-+2", 100, 10, NONE),
            ("bytes=-", 100, 10, NONE),
            ("bytes=--1", 100, 10, NONE),
            ("bytes=1-2-3", 100, 10, NONE),
            ("bytes=1", 100, 10, NONE),
            ("bytes=a-b", 100, 10, NONE),
            ("bytes=1.5-2", 100, 10, NONE),
            ("bytes=0 - 1", 100, 10, NONE),
            ("bytes =0-1", 100, 10, NONE),
            ("bytes = 0-1", 100, 10, NONE),
            ("bytes=0-1;q=1", 100, 10, NONE),
            ("bytes=0-1 2-3", 100, 10, NONE),
            ("bytes=0-1\r\n", 100, 10, NONE),
            ("bytes=\u{00e9}-1", 100, 10, NONE),
            ("bytes=0-1,x", 100, 10, NONE),
            // A syntax error wins over an otherwise unsatisfiable set.
            ("bytes=500-,5-2", 100, 10, NONE),
            // Case and whitespace.
            ("BYTES=0-1", 100, 10, sat(&[(0, 1)])),
            ("Bytes=0-1", 100, 10, sat(&[(0, 1)])),
            (" bytes=0-1", 100, 10, sat(&[(0, 1)])),
            ("\tbytes=0-1 \t", 100, 10, sat(&[(0, 1)])),
            ("bytes= 0-1", 100, 10, sat(&[(0, 1)])),
            ("bytes=0-1 , 5-6", 100, 10, sat(&[(0, 1), (5, 6)])),
            ("bytes=0-1,\t5-6", 100, 10, sat(&[(0, 1), (5, 6)])),
            // Empty list elements are skipped (RFC 9110 5.6.1.2).
            ("bytes=0-1,", 100, 10, sat(&[(0, 1)])),
            ("bytes=,0-1", 100, 10, sat(&[(0, 1)])),
            ("bytes=0-1,,5-6", 100, 10, sat(&[(0, 1), (5, 6)])),
            ("bytes=0-1, ,2-3", 100, 10, sat(&[(0, 3)])),
            // Sorting and coalescing.
            ("bytes=1-2,3-4", 100, 10, sat(&[(1, 4)])),
            ("bytes=3-4,1-2", 100, 10, sat(&[(1, 4)])),
            ("bytes=1-2,4-5", 100, 10, sat(&[(1, 2), (4, 5)])),
            ("bytes=0-10,5-20", 100, 10, sat(&[(0, 20)])),
            ("bytes=5-20,0-10", 100, 10, sat(&[(0, 20)])),
            ("bytes=0-50,10-20", 100, 10, sat(&[(0, 50)])),
            ("bytes=-5,0-1", 10, 10, sat(&[(0, 1), (5, 9)])),
            ("bytes=-5,0-4", 10, 10, sat(&[(0, 9)])),
            (
                "bytes=50-59,0-9,20-29",
                100,
                10,
                sat(&[(0, 9), (20, 29), (50, 59)]),
            ),
            ("bytes=0-,0-,0-", 100, 10, sat(&[(0, 99)])),
            ("bytes=0-0,0-0,0-0,0-0", 100, 1, sat(&[(0, 0)])),
            ("bytes=-1,99-,90-99999", 100, 10, sat(&[(90, 99)])),
            // Range count cap, applied after coalescing.
            ("bytes=0-0,2-2,4-4", 100, 3, sat(&[(0, 0), (2, 2), (4, 4)])),
            ("bytes=0-0,2-2,4-4", 100, 2, NONE),
            ("bytes=0-0,1-1,2-2", 100, 1, sat(&[(0, 2)])),
            ("bytes=0-1", 100, 0, NONE),
            ("bytes=500-", 100, 0, UNSAT),
            // Zero-length file: every range is unsatisfiable.
            ("bytes=0-0", 0, 10, UNSAT),
            ("bytes=0-", 0, 10, UNSAT),
            ("bytes=-1", 0, 10, UNSAT),
            ("bytes=-0", 0, 10, UNSAT),
            ("bytes=0-5,-3", 0, 10, UNSAT),
            ("bytes=5-2", 0, 10, NONE),
            // One-byte and huge files.
            ("bytes=0-", 1, 10, sat(&[(0, 0)])),
            ("bytes=-1", 1, 10, sat(&[(0, 0)])),
            ("bytes=1-", 1, 10, UNSAT),
            ("bytes=0-", u64::MAX, 10, sat(&[(0, u64::MAX - 1)])),
            (
                "bytes=-1",
                u64::MAX,
                10,
                sat(&[(u64::MAX - 1, u64::MAX - 1)]),
            ),
            (
                "bytes=18446744073709551614-18446744073709551615",
                u64::MAX,
                10,
                sat(&[(u64::MAX - 1, u64::MAX - 1)]),
            ),
        ];
        assert!(cases.len() >= 40);
        for (header, len, max, expected) in &cases {
            assert_eq!(
                parse_range(header.as_bytes(), *len, *max),
                *expected,
                "header {header:?}, len {len}, max {max}"
            );
        }
    }

    #[test]
    fn many_ranges_over_the_cap_are_ignored() {
        // 200 disjoint one-byte ranges: 0-0,2-2,4-4,...
        let header = (0..200u64)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect::<Vec<_>>()
            .join(",");
        let header = format!("bytes={header}");
        assert_eq!(parse_range(header.as_bytes(), 1000, 100), NONE);
        match parse_range(header.as_bytes(), 1000, 200) {
            RangeRequest::Satisfiable(ranges) => assert_eq!(ranges.len(), 200),
            other => panic!("expected 200 ranges, got {other:?}"),
        }
        // The same count of overlapping ranges coalesces under the cap.
        let header = format!("bytes={}", vec!["0-"; 10_000].join(","));
        assert_eq!(parse_range(header.as_bytes(), 1000, 1), sat(&[(0, 999)]));
    }

    #[test]
    fn non_utf8_bytes_are_syntax_errors() {
        for header in [&b"bytes=\xff-1"[..], b"bytes=0-1,\x80", b"\xffbytes=0-1"] {
            assert_eq!(parse_range(header, 100, 10), NONE, "{header:?}");
        }
    }

    #[test]
    fn byte_range_len() {
        assert_eq!(r(0, 0).len(), 1);
        assert_eq!(r(5, 9).len(), 5);
        assert_eq!(r(9, 5).len(), 0);
        assert!(r(9, 5).is_empty());
        assert!(!r(0, 0).is_empty());
        assert_eq!(r(0, u64::MAX).len(), u64::MAX);
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(&r(0, 0), 1), "bytes 0-0/1");
        assert_eq!(content_range(&r(10, 19), 100), "bytes 10-19/100");
        assert_eq!(unsatisfiable_content_range(0), "bytes */0");
        assert_eq!(unsatisfiable_content_range(100), "bytes */100");
    }

    /// Assembles a multipart body the way a sender would.
    fn assemble(multipart: &Multipart, file: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for part in multipart.parts() {
            body.extend_from_slice(part.header());
            let range = part.range();
            body.extend_from_slice(&file[range.start as usize..=range.end as usize]);
        }
        body.extend_from_slice(multipart.closing());
        body
    }

    #[test]
    fn multipart_total_len_matches_assembled_body() {
        let file: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let len = file.len() as u64;
        let cases: &[&str] = &[
            "bytes=0-0,10-19",
            "bytes=0-9,20-29,-10",
            "bytes=-1,0-0",
            "bytes=0-0,2-2,4-4,6-6,8-8,990-",
            "bytes=100-199,300-399,500-599,700-799,900-999",
        ];
        for header in cases {
            let RangeRequest::Satisfiable(ranges) = parse_range(header.as_bytes(), len, 10) else {
                panic!("{header} should be satisfiable");
            };
            for content_type in ["text/plain; charset=utf-8", "application/octet-stream", ""] {
                let m = Multipart::new(&ranges, len, content_type, "wharf-0123456789abcdef")
                    .expect("valid multipart");
                let body = assemble(&m, &file);
                assert_eq!(
                    m.total_len(),
                    body.len() as u64,
                    "{header} {content_type:?}"
                );
            }
        }
    }

    #[test]
    fn multipart_exact_layout() {
        let file = b"0123456789abcdefghij";
        let ranges = [r(0, 1), r(15, 19)];
        let m = Multipart::new(&ranges, 20, "text/plain", "B0UND").expect("valid");
        assert_eq!(m.content_type(), "multipart/byteranges; boundary=B0UND");
        assert_eq!(m.boundary(), "B0UND");
        let body = assemble(&m, file);
        let expected = "\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/20\r\n\r\n01\
                        \r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 15-19/20\r\n\r\nfghij\
                        \r\n--B0UND--\r\n";
        assert_eq!(String::from_utf8_lossy(&body), expected);
        assert_eq!(m.total_len(), expected.len() as u64);

        let m = Multipart::new(&[r(2, 3)], 20, "", "x").expect("valid");
        assert_eq!(
            m.parts()[0].header(),
            b"\r\n--x\r\nContent-Range: bytes 2-3/20\r\n\r\n"
        );
        assert_eq!(m.closing(), b"\r\n--x--\r\n");
    }

    #[test]
    fn multipart_rejects_bad_input() {
        let ok = [r(0, 1)];
        let long = "a".repeat(71);
        let cases: Vec<(Vec<ByteRange>, u64, &str, &str, MultipartError)> = vec![
            (
                ok.to_vec(),
                10,
                "text/plain",
                "",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                &long,
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "a\r\nb",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "ends ",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "quo\"te",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "a b",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "a/b",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "a=b",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "a;b",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain",
                "caf\u{e9}",
                MultipartError::InvalidBoundary,
            ),
            (
                ok.to_vec(),
                10,
                "text/plain\r\nX: y",
                "b",
                MultipartError::InvalidContentType,
            ),
            (vec![], 10, "text/plain", "b", MultipartError::NoRanges),
            (
                vec![r(5, 10)],
                10,
                "text/plain",
                "b",
                MultipartError::RangeOutOfBounds,
            ),
            (
                vec![r(5, 4)],
                10,
                "text/plain",
                "b",
                MultipartError::RangeOutOfBounds,
            ),
            (
                vec![r(0, 0)],
                0,
                "text/plain",
                "b",
                MultipartError::RangeOutOfBounds,
            ),
            (
                vec![r(0, u64::MAX - 1), r(0, u64::MAX - 1)],
                u64::MAX,
                "t",
                "b",
                MultipartError::TooLong,
            ),
        ];
        for (ranges, len, content_type, boundary, expected) in cases {
            assert_eq!(
                Multipart::new(&ranges, len, content_type, boundary),
                Err(expected),
                "{boundary:?} {content_type:?} {ranges:?}"
            );
        }
        let max = "a".repeat(70);
        assert!(Multipart::new(&ok, 10, "t", &max).is_ok());
        assert!(Multipart::new(&ok, 10, "t", "Aa0'+-._").is_ok());
    }

    /// xorshift64*: deterministic pseudo-random numbers without dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn check_invariants(result: &RangeRequest, len: u64, max: usize, header: &[u8]) {
        if let RangeRequest::Satisfiable(ranges) = result {
            assert!(!ranges.is_empty(), "{header:?}");
            assert!(ranges.len() <= max, "{header:?}");
            for range in ranges {
                assert!(range.start <= range.end && range.end < len, "{header:?}");
            }
            for pair in ranges.windows(2) {
                // Sorted, non-overlapping and non-adjacent.
                assert!(pair[0].end.saturating_add(1) < pair[1].start, "{header:?}");
            }
            let covered: u64 = ranges.iter().map(ByteRange::len).sum();
            assert!(covered <= len, "{header:?}");
        }
    }

    #[test]
    fn random_headers_never_panic_and_keep_invariants() {
        const PIECES: &[&str] = &[
            "bytes",
            "BYTES",
            "=",
            "-",
            ",",
            " ",
            "\t",
            "0",
            "1",
            "7",
            "42",
            "99",
            "100",
            "101",
            "18446744073709551615",
            "18446744073709551616",
            "x",
            "+",
            ";",
            "\"",
            "*",
            "\r",
        ];
        const DIGITS: &[&str] = &["0", "1", "5", "42", "99", "100", "18446744073709551615"];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut seen = [0usize; 3];
        for _ in 0..50_000 {
            let mut header = Vec::new();
            if rng.below(8) != 0 {
                header.extend_from_slice(b"bytes=");
            }
            for _ in 0..rng.below(16) {
                match rng.below(40) {
                    // Mostly well-formed specs, so every outcome is exercised.
                    0..=29 => {
                        let kind = rng.below(3);
                        let a = DIGITS[rng.below(DIGITS.len() as u64) as usize];
                        let b = DIGITS[rng.below(DIGITS.len() as u64) as usize];
                        let spec = match kind {
                            0 => format!("{a}-{b},"),
                            1 => format!("{a}-,"),
                            _ => format!("-{a},"),
                        };
                        header.extend_from_slice(spec.as_bytes());
                    }
                    30..=31 => header.push(rng.next() as u8),
                    _ => {
                        let piece = PIECES[rng.below(PIECES.len() as u64) as usize];
                        header.extend_from_slice(piece.as_bytes());
                    }
                }
            }
            let len = match rng.below(4) {
                0 => rng.below(3),
                1 => u64::MAX - rng.below(3),
                _ => rng.below(200),
            };
            let max = rng.below(5) as usize;
            let result = parse_range(&header, len, max);
            check_invariants(&result, len, max, &header);
            seen[match result {
                RangeRequest::None => 0,
                RangeRequest::Satisfiable(_) => 1,
                RangeRequest::Unsatisfiable => 2,
            }] += 1;
        }
        // The generator reaches all three outcomes often.
        assert!(seen.iter().all(|&n| n > 1000), "{seen:?}");
    }

    #[test]
    fn random_valid_headers_match_a_naive_model() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        for _ in 0..5_000 {
            let len = rng.below(40);
            let mut specs = Vec::new();
            let mut covered = vec![false; len as usize];
            for _ in 0..1 + rng.below(6) {
                let a = rng.below(50);
                let b = a + rng.below(20);
                let (spec, first, last) = match rng.below(3) {
                    0 => (format!("{a}-{b}"), a, b),
                    1 => (format!("{a}-"), a, u64::MAX),
                    _ => (
                        format!("-{a}"),
                        len.saturating_sub(a),
                        if a == 0 { 0 } else { u64::MAX },
                    ),
                };
                if !(spec.starts_with('-') && a == 0) {
                    for i in first..len.min(last.saturating_add(1)) {
                        covered[i as usize] = true;
                    }
                }
                specs.push(spec);
            }
            let header = format!("bytes={}", specs.join(", "));
            let result = parse_range(header.as_bytes(), len, usize::MAX);
            check_invariants(&result, len, usize::MAX, header.as_bytes());
            let mut got = vec![false; len as usize];
            match &result {
                RangeRequest::Satisfiable(ranges) => {
                    for range in ranges {
                        for i in range.start..=range.end {
                            got[i as usize] = true;
                        }
                    }
                }
                RangeRequest::Unsatisfiable => {}
                RangeRequest::None => panic!("valid header ignored: {header}"),
            }
            assert_eq!(got, covered, "{header} on len {len}");
            let any = covered.iter().any(|&c| c);
            assert_eq!(
                matches!(result, RangeRequest::Satisfiable(_)),
                any,
                "{header}"
            );
        }
    }
}
