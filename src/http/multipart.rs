//! `multipart/byteranges` bodies (RFC 9110 section 14.6): the part headers
//! and the layout of a multi-range answer, computed before any byte of the
//! file is read so that `Content-Length` is known up front.
//!
//! Pure code: no IO.

use std::fmt::Write as _;

use super::range::{content_range, ByteRange};

/// Why a [`Multipart`] could not be built. All are caller bugs, not client
/// errors: [`super::range::parse_range`] output with a boundary from a counter and a
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
    /// Lays out a body for `ranges` (normally the output of [`super::range::parse_range`])
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
    use crate::http::range::{parse_range, RangeRequest};

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
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
}
