//! Byte ranges (RFC 9110 section 14): parsing the `Range` header against a
//! file length and rendering `Content-Range`. A multi-range answer's body
//! is laid out by [`super::multipart`].
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
    /// 206; more means `multipart/byteranges` (see [`super::multipart::Multipart`]).
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
