//! Request-head parsing: bytes from the socket to an owned [`Request`].
//!
//! Pure code on top of `httparse`: no IO, no allocation beyond the owned
//! fields of the result. "Need more bytes" is `Ok(None)`, not an error, so the
//! caller simply reads again. Framing is strict because wharf only serves
//! GET and HEAD: a request that carries a body (or could be read as carrying
//! one) is refused, so a body can never be mistaken for a second request.

use std::borrow::Cow;
use std::fmt;

use super::negotiate;
use super::recycle::Recycler;

/// Most header lines a request may have.
pub const MAX_HEADERS: usize = 64;

/// The limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Most bytes the whole head (request line and headers) may take.
    pub max_head_bytes: usize,
    /// Most bytes the request-target may take.
    pub max_target_bytes: usize,
}

/// The request methods wharf distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    /// Anything else: answered with 405.
    Other,
}

/// The request headers that shape a file response: preconditions, `Range`
/// and content negotiation. Raw bytes; a header sent on several lines is
/// joined with `, ` (RFC 9110 section 5.3), which keeps lists meaningful and
/// makes a repeated date or range invalid, so it is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHeaders {
    pub if_match: Option<Vec<u8>>,
    pub if_none_match: Option<Vec<u8>>,
    pub if_modified_since: Option<Vec<u8>>,
    pub if_unmodified_since: Option<Vec<u8>>,
    pub if_range: Option<Vec<u8>>,
    pub range: Option<Vec<u8>>,
    pub accept_encoding: Option<Vec<u8>>,
}

/// A parsed request head, owning what later stages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The method exactly as sent, for the access log (borrowed for the
    /// methods wharf knows, so parsing them allocates nothing).
    pub method_text: Cow<'static, str>,
    /// The request-target exactly as sent.
    pub target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the client allows the connection to stay open afterwards.
    pub keep_alive: bool,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub file_headers: FileHeaders,
    /// `Accept` prefers `application/json` (for directory listings).
    pub wants_json: bool,
    /// How many `Host` header lines the request had. RFC 9112 section 3.2:
    /// an HTTP/1.1 request needs exactly one, and none may have two.
    pub host_count: usize,
}

impl FileHeaders {
    /// The values present, for reuse of their buffers.
    pub fn into_fields(self) -> impl Iterator<Item = Vec<u8>> {
        [
            self.if_match,
            self.if_none_match,
            self.if_modified_since,
            self.if_unmodified_since,
            self.if_range,
            self.range,
            self.accept_encoding,
        ]
        .into_iter()
        .flatten()
    }
}

impl Request {
    /// Stands in for a request whose head could not be parsed, so the error
    /// response and its log line have something to describe.
    pub fn placeholder() -> Request {
        Request {
            method: Method::Get,
            method_text: Cow::Borrowed("-"),
            target: "-".to_string(),
            minor_version: 1,
            keep_alive: false,
            user_agent: None,
            referer: None,
            file_headers: FileHeaders::default(),
            wants_json: false,
            host_count: 1,
        }
    }

    /// Whether the `Host` header lines are as RFC 9112 requires: exactly
    /// one in HTTP/1.1, at most one in HTTP/1.0.
    pub fn host_is_valid(&self) -> bool {
        match self.minor_version {
            1 => self.host_count == 1,
            _ => self.host_count <= 1,
        }
    }
}

/// Why a request head was refused. Each maps to one status code, and each
/// closes the connection after the error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Syntax error in the request line or a header: 400.
    Malformed,
    /// A well-formed `HTTP/x.y` other than 1.0 or 1.1: 505.
    UnsupportedVersion,
    /// The head is larger than allowed, or has too many headers: 431.
    HeadTooLarge,
    /// The request-target is longer than allowed: 414.
    TargetTooLong,
    /// A body, or ambiguous framing (`Transfer-Encoding`, a bad or repeated
    /// `Content-Length`): 400.
    BadFraming,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Malformed => "malformed request",
            ParseError::UnsupportedVersion => "unsupported HTTP version",
            ParseError::HeadTooLarge => "request header section too large",
            ParseError::TargetTooLong => "request-target too long",
            ParseError::BadFraming => "request bodies are not accepted",
        })
    }
}

/// Parses one request head from the start of `buf`.
///
/// Returns `Ok(Some((request, consumed)))` when a whole head is present,
/// `Ok(None)` when more bytes are needed, and an error when the bytes can
/// never become an acceptable request.
pub fn parse(buf: &[u8], limits: &ParseLimits) -> Result<Option<(Request, usize)>, ParseError> {
    parse_reusing(buf, limits, &mut Recycler::default())
}

/// [`parse`], building the request's owned strings in buffers from
/// `recycler`, so that a typical request allocates nothing.
pub fn parse_reusing(
    buf: &[u8],
    limits: &ParseLimits,
    recycler: &mut Recycler,
) -> Result<Option<(Request, usize)>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|e| classify(e, buf))?;
    let consumed = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
    };
    if consumed > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    // httparse fills these in on Complete; treat their absence as malformed
    // rather than trusting that.
    let (Some(method_text), Some(target), Some(minor_version)) =
        (req.method, req.path, req.version)
    else {
        return Err(ParseError::Malformed);
    };
    if target.len() > limits.max_target_bytes {
        return Err(ParseError::TargetTooLong);
    }

    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut content_length: Option<&[u8]> = None;
    let mut user_agent = None;
    let mut referer = None;
    let mut file_headers = FileHeaders::default();
    let mut wants_json = false;
    let mut host_count = 0;
    for header in req.headers.iter() {
        if header
            .value
            .iter()
            .any(|&b| b == 0 || b == b'\r' || b == b'\n')
        {
            return Err(ParseError::Malformed);
        }
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                connection_close |= token.eq_ignore_ascii_case(b"close");
                connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err(ParseError::BadFraming);
            }
            content_length = Some(header.value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::BadFraming);
        } else if name.eq_ignore_ascii_case("user-agent") {
            user_agent = Some(recycled_text(recycler, header.value));
        } else if name.eq_ignore_ascii_case("referer") {
            referer = Some(recycled_text(recycler, header.value));
        } else if name.eq_ignore_ascii_case("host") {
            host_count += 1;
        } else if name.eq_ignore_ascii_case("accept") {
            wants_json |= negotiate::prefers_json(header.value);
        } else if let Some(slot) = file_header_slot(&mut file_headers, name) {
            append_field(slot, header.value, recycler);
        }
    }
    if let Some(value) = content_length {
        // Only an explicit, plain-decimal zero is acceptable: wharf never
        // reads a body, so any other length would desynchronise framing.
        if value.is_empty()
            || !value.iter().all(u8::is_ascii_digit)
            || value.iter().any(|&b| b != b'0')
        {
            return Err(ParseError::BadFraming);
        }
    }

    let (method, method_text) = match method_text {
        "GET" => (Method::Get, Cow::Borrowed("GET")),
        "HEAD" => (Method::Head, Cow::Borrowed("HEAD")),
        "OPTIONS" => (Method::Options, Cow::Borrowed("OPTIONS")),
        other => (Method::Other, Cow::Owned(other.to_string())),
    };
    let mut target_text = recycler.string();
    target_text.push_str(target);
    let keep_alive = match minor_version {
        1 => !connection_close,
        _ => connection_keep_alive && !connection_close,
    };
    Ok(Some((
        Request {
            method,
            method_text,
            target: target_text,
            minor_version,
            keep_alive,
            user_agent,
            referer,
            file_headers,
            wants_json,
            host_count,
        },
        consumed,
    )))
}

/// Where a header that shapes file responses is kept, if `name` is one.
fn file_header_slot<'a>(
    headers: &'a mut FileHeaders,
    name: &str,
) -> Option<&'a mut Option<Vec<u8>>> {
    let slot = match name.len() {
        5 if name.eq_ignore_ascii_case("range") => &mut headers.range,
        8 if name.eq_ignore_ascii_case("if-match") => &mut headers.if_match,
        8 if name.eq_ignore_ascii_case("if-range") => &mut headers.if_range,
        13 if name.eq_ignore_ascii_case("if-none-match") => &mut headers.if_none_match,
        15 if name.eq_ignore_ascii_case("accept-encoding") => &mut headers.accept_encoding,
        17 if name.eq_ignore_ascii_case("if-modified-since") => &mut headers.if_modified_since,
        19 if name.eq_ignore_ascii_case("if-unmodified-since") => &mut headers.if_unmodified_since,
        _ => return None,
    };
    Some(slot)
}

/// Stores a field value, joining a repeated field with `, `.
fn append_field(slot: &mut Option<Vec<u8>>, value: &[u8], recycler: &mut Recycler) {
    match slot {
        Some(existing) => {
            existing.extend_from_slice(b", ");
            existing.extend_from_slice(value);
        }
        None => {
            let mut field = recycler.bytes();
            field.extend_from_slice(value);
            *slot = Some(field);
        }
    }
}

/// A header value as text (invalid UTF-8 replaced), in a recycled buffer.
fn recycled_text(recycler: &mut Recycler, value: &[u8]) -> String {
    let mut text = recycler.string();
    match std::str::from_utf8(value) {
        Ok(valid) => text.push_str(valid),
        Err(_) => text.push_str(&String::from_utf8_lossy(value)),
    }
    text
}

/// An incomplete head is refused early once it can no longer fit.
fn check_partial(buf: &[u8], limits: &ParseLimits) -> Result<(), ParseError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let request_line = &buf[..line_end.unwrap_or(buf.len())];
    // The target is what follows the first space; measure it even while the
    // request line is still arriving.
    if let Some(start) = request_line.iter().position(|&b| b == b' ') {
        let rest = &request_line[start + 1..];
        let target_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        if target_len > limits.max_target_bytes {
            return Err(ParseError::TargetTooLong);
        }
    }
    if buf.len() > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(())
}

/// Tells a version we do not speak (505) from plain garbage (400).
fn classify(error: httparse::Error, buf: &[u8]) -> ParseError {
    match error {
        httparse::Error::TooManyHeaders => ParseError::HeadTooLarge,
        httparse::Error::Version if looks_like_other_version(buf) => ParseError::UnsupportedVersion,
        _ => ParseError::Malformed,
    }
}

/// True when the request line ends in a well-formed `HTTP/d.d`.
fn looks_like_other_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let Some(space) = line.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    match &line[space + 1..] {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        [b'H', b'T', b'T', b'P', b'/', major] => major.is_ascii_digit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_head_bytes: 1024,
        max_target_bytes: 256,
    };

    fn parse_all(input: &str) -> Result<Option<(Request, usize)>, ParseError> {
        parse(input.as_bytes(), &LIMITS)
    }

    #[test]
    fn complete_get() {
        let (req, used) = parse_all("GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.target, "/a?b");
        assert_eq!(req.minor_version, 1);
        assert!(req.keep_alive);
        assert_eq!(req.user_agent.as_deref(), Some("t"));
        assert_eq!(
            used,
            "GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n".len()
        );
    }

    #[test]
    fn keep_alive_rules() {
        let table = [
            ("GET / HTTP/1.1\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            (
                "GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                false,
            ),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ];
        for (input, expected) in table {
            let (req, _) = parse_all(input).unwrap().unwrap();
            assert_eq!(req.keep_alive, expected, "{input:?}");
        }
    }

    #[test]
    fn methods() {
        for (input, method) in [
            ("GET / HTTP/1.1\r\n\r\n", Method::Get),
            ("HEAD / HTTP/1.1\r\n\r\n", Method::Head),
            ("POST / HTTP/1.1\r\n\r\n", Method::Other),
            ("OPTIONS * HTTP/1.1\r\n\r\n", Method::Options),
            ("get / HTTP/1.1\r\n\r\n", Method::Other),
            ("DELETE / HTTP/1.1\r\n\r\n", Method::Other),
        ] {
            assert_eq!(
                parse_all(input).unwrap().unwrap().0.method,
                method,
                "{input:?}"
            );
        }
    }

    #[test]
    fn partial_heads_need_more() {
        for input in ["", "GET", "GET / HTTP/1.1", "GET / HTTP/1.1\r\nHost: x\r\n"] {
            assert_eq!(parse_all(input), Ok(None), "{input:?}");
        }
    }

    #[test]
    fn errors_table() {
        use ParseError::*;
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(300));
        let long_partial_target = format!("GET /{}", "a".repeat(300));
        let big_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        let big_partial = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(2000));
        let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(70));
        let table: Vec<(&str, ParseError)> = vec![
            ("GARBAGE\r\n\r\n", Malformed),
            ("GET\r\n\r\n", Malformed),
            ("GET  / HTTP/1.1\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\n folded: x\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nX: a\r\n continued\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", Malformed),
            ("GET /\r HTTP/1.1\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\rX: a\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nX: \x01\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\nX\x00: a\r\n\r\n", Malformed),
            ("GET / HTTP/2.0\r\n\r\n", UnsupportedVersion),
            ("GET / HTTP/0.9\r\n\r\n", UnsupportedVersion),
            ("GET / HTTP/3\r\n\r\n", UnsupportedVersion),
            ("GET / FOO/1.1\r\n\r\n", Malformed),
            (&long_target, TargetTooLong),
            (&long_partial_target, TargetTooLong),
            (&big_head, HeadTooLarge),
            (&big_partial, HeadTooLarge),
            (&many_headers, HeadTooLarge),
            (
                "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                BadFraming,
            ),
            ("GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n", BadFraming),
            ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", BadFraming),
            ("GET / HTTP/1.1\r\nContent-Length: 0x0\r\n\r\n", BadFraming),
            (
                "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                BadFraming,
            ),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                BadFraming,
            ),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
                Malformed,
            ),
        ];
        for (input, expected) in table {
            assert_eq!(parse_all(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn file_headers_are_kept_and_repeats_joined() {
        let (req, _) = parse_all(
            "GET / HTTP/1.1\r\nIf-None-Match: \"a\"\r\nif-none-match: W/\"b\"\r\nRange: bytes=0-1\r\n\
             If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nAccept-Encoding: br, gzip\r\n\
             If-Match: *\r\nIf-Range: \"x\"\r\nIf-Unmodified-Since: x\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        let h = &req.file_headers;
        assert_eq!(h.if_none_match.as_deref(), Some(&b"\"a\", W/\"b\""[..]));
        assert_eq!(h.range.as_deref(), Some(&b"bytes=0-1"[..]));
        assert_eq!(
            h.if_modified_since.as_deref(),
            Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..])
        );
        assert_eq!(h.accept_encoding.as_deref(), Some(&b"br, gzip"[..]));
        assert_eq!(h.if_match.as_deref(), Some(&b"*"[..]));
        assert_eq!(h.if_range.as_deref(), Some(&b"\"x\""[..]));
        assert_eq!(h.if_unmodified_since.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn accept_json_detection() {
        let table = [
            ("application/json", true),
            ("application/json, text/html;q=0.5", true),
            ("text/html, application/json", false),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                false,
            ),
            ("application/json;q=0", false),
            ("*/*", false),
        ];
        for (accept, expected) in table {
            let raw = format!("GET / HTTP/1.1\r\nAccept: {accept}\r\n\r\n");
            let (req, _) = parse_all(&raw).unwrap().unwrap();
            assert_eq!(req.wants_json, expected, "{accept}");
        }
    }

    #[test]
    fn host_rules() {
        let table = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("GET / HTTP/1.1\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: a\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", false),
        ];
        for (input, valid) in table {
            let (req, _) = parse_all(input).unwrap().unwrap();
            assert_eq!(req.host_is_valid(), valid, "{input:?}");
        }
    }

    #[test]
    fn zero_content_length_is_fine() {
        let (req, _) = parse_all("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(req.method, Method::Get);
    }

    #[test]
    fn pipelined_heads_parse_one_at_a_time() {
        let input = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let (first, used) = parse(input, &LIMITS).unwrap().unwrap();
        assert_eq!(first.target, "/a");
        let (second, used2) = parse(&input[used..], &LIMITS).unwrap().unwrap();
        assert_eq!(second.target, "/b");
        assert_eq!(used + used2, input.len());
    }
}
