//! Request-head parsing: bytes from the socket to an owned [`Request`].
//!
//! Pure code on top of `httparse`: no IO, no allocation beyond the owned
//! fields of the result. "Need more bytes" is `Ok(None)`, not an error, so the
//! caller simply reads again. Framing is strict (RFC 9112 section 6): wharf
//! reads no request body, so a request that declares one is answered without
//! reading it and the connection is closed afterwards ([`Request::body`]),
//! and one whose framing is ambiguous or invalid is refused; either way a
//! body can never be mistaken for a second request.

use std::borrow::Cow;
use std::fmt;

use super::basic_auth::Secret;
use super::negotiate;
use super::recycle::Recycler;

/// Longest `Origin` kept (a longer one is ignored: no origin is that long).
pub const MAX_ORIGIN_BYTES: usize = 256;

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

/// How a request says its body is delimited (RFC 9112 section 6.3). wharf
/// never reads a body: a request with one is answered as if it had none, and
/// the connection is closed after the response (the lingering drain discards
/// the body), so nothing in the body is ever parsed as a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: no framing headers, or `Content-Length: 0`.
    None,
    /// `Content-Length` greater than zero.
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
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
    /// `Authorization`, for paths that need a password: never logged, and
    /// not shown by `Debug`.
    pub authorization: Option<Secret>,
    /// `Accept` lists `text/html` (a browser navigating: `[http] fallback`).
    pub accepts_html: bool,
    /// `Origin`, when at most [`MAX_ORIGIN_BYTES`] long (CORS).
    pub origin: Option<String>,
    /// `Access-Control-Request-Method` was sent: with `Origin` on an
    /// `OPTIONS`, a CORS preflight.
    pub cors_preflight: bool,
    /// The body the request declares (well framed: bad framing is a
    /// [`ParseError::BadFraming`]). Not read; a request with a body does
    /// not keep the connection alive.
    pub body: BodyFraming,
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
            authorization: None,
            accepts_html: false,
            origin: None,
            cors_preflight: false,
            body: BodyFraming::None,
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
    /// Ambiguous or invalid framing: `Content-Length` with
    /// `Transfer-Encoding`, a bad or repeated `Content-Length`, a
    /// `Transfer-Encoding` not ending in `chunked`, or any in HTTP/1.0: 400.
    BadFraming,
    /// No `Host` in HTTP/1.1, more than one, or an invalid value (RFC 9112
    /// section 3.2): 400.
    BadHost,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Malformed => "malformed request",
            ParseError::UnsupportedVersion => "unsupported HTTP version",
            ParseError::HeadTooLarge => "request header section too large",
            ParseError::TargetTooLong => "request-target too long",
            ParseError::BadFraming => "invalid message framing",
            ParseError::BadHost => "missing, repeated or invalid Host",
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
    let status = match req.parse(buf) {
        Ok(status) => status,
        Err(httparse::Error::Version) => {
            return match version_problem(buf) {
                VersionProblem::Unsupported => Err(ParseError::UnsupportedVersion),
                VersionProblem::Malformed => Err(ParseError::Malformed),
                VersionProblem::Incomplete => {
                    check_partial(buf, limits)?;
                    Ok(None)
                }
                VersionProblem::HigherMinor(at) => {
                    // RFC 9110 section 2.5: a higher minor version of a
                    // major version we implement is processed as the
                    // highest minor we conform to, HTTP/1.1. httparse only
                    // knows 1.0 and 1.1, so it reads a copy saying 1.1 (a
                    // rare request: the copy costs nothing on the usual
                    // path). The copy has the same length, so `consumed`
                    // holds for `buf`.
                    let mut copy = buf.to_vec();
                    match copy.get_mut(at) {
                        Some(minor) => *minor = b'1',
                        None => return Err(ParseError::Malformed),
                    }
                    parse_reusing(&copy, limits, recycler)
                }
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
        Err(_) => return Err(ParseError::Malformed),
    };
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
    let mut transfer_encoding = TransferCodings::default();
    let mut user_agent = None;
    let mut referer = None;
    let mut file_headers = FileHeaders::default();
    let mut wants_json = false;
    let mut authorization: Option<Secret> = None;
    let mut accepts_html = false;
    let mut origin = None;
    let mut cors_preflight = false;
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
            transfer_encoding.add(header.value)?;
        } else if name.eq_ignore_ascii_case("user-agent") {
            user_agent = Some(recycled_text(recycler, header.value));
        } else if name.eq_ignore_ascii_case("referer") {
            referer = Some(recycled_text(recycler, header.value));
        } else if name.eq_ignore_ascii_case("host") {
            if !valid_host(header.value) {
                return Err(ParseError::BadHost);
            }
            host_count += 1;
        } else if name.eq_ignore_ascii_case("accept") {
            wants_json |= negotiate::prefers_json(header.value);
            accepts_html |= lists_html(header.value);
        } else if name.eq_ignore_ascii_case("authorization") {
            match &mut authorization {
                Some(first) => first.append(header.value),
                None => authorization = Some(Secret::new(header.value.to_vec())),
            }
        } else if name.eq_ignore_ascii_case("origin") {
            // A repeated Origin is not an origin: none is kept.
            origin = match origin {
                None if header.value.len() <= MAX_ORIGIN_BYTES => {
                    Some(recycled_text(recycler, header.value))
                }
                _ => Some(String::new()),
            };
        } else if name.eq_ignore_ascii_case("access-control-request-method") {
            cors_preflight = true;
        } else if let Some(slot) = file_header_slot(&mut file_headers, name) {
            append_field(slot, header.value, recycler);
        }
    }
    let body = body_framing(minor_version, content_length, &transfer_encoding)?;
    // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in
    // HTTP/1.0 (a missing or repeated Host is a classic ingredient of
    // smuggling and cache poisoning through proxies).
    let host_ok = match minor_version {
        1 => host_count == 1,
        _ => host_count <= 1,
    };
    if !host_ok {
        return Err(ParseError::BadHost);
    }

    let (method, method_text) = match method_text {
        "GET" => (Method::Get, Cow::Borrowed("GET")),
        "HEAD" => (Method::Head, Cow::Borrowed("HEAD")),
        "OPTIONS" => (Method::Options, Cow::Borrowed("OPTIONS")),
        other => (Method::Other, Cow::Owned(other.to_string())),
    };
    let mut target_text = recycler.string();
    target_text.push_str(target);
    // A body is never read, so the connection cannot go on after it.
    let keep_alive = body == BodyFraming::None
        && match minor_version {
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
            authorization,
            accepts_html,
            origin: origin.filter(|o| !o.is_empty()),
            cors_preflight,
            body,
        },
        consumed,
    )))
}

/// Whether an `Accept` value lists `text/html` (any parameters, any case).
fn lists_html(value: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|range| {
        let media = range.split(|&b| b == b';').next().unwrap_or_default();
        media.trim_ascii().eq_ignore_ascii_case(b"text/html")
    })
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

/// The `Transfer-Encoding` codings of a request, from all its lines.
#[derive(Default)]
struct TransferCodings {
    /// Any `Transfer-Encoding` line was present.
    present: bool,
    /// How many codings were listed.
    count: usize,
    /// The last coding listed was `chunked`.
    ends_chunked: bool,
}

impl TransferCodings {
    /// Adds one line's list. `chunked` before the end is bad framing
    /// (RFC 9112 section 6.1: it is applied once, and last), and so is a
    /// coding that is not a token.
    fn add(&mut self, value: &[u8]) -> Result<(), ParseError> {
        self.present = true;
        for element in value.split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() {
                // RFC 9110 section 5.6.1: empty list elements are ignored.
                continue;
            }
            let name = match element.iter().position(|&b| b == b';') {
                Some(semi) => element[..semi].trim_ascii(),
                None => element,
            };
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) || self.ends_chunked {
                return Err(ParseError::BadFraming);
            }
            self.ends_chunked = name.eq_ignore_ascii_case(b"chunked");
            self.count += 1;
        }
        Ok(())
    }
}

/// The body a request declares, or bad framing (RFC 9112 sections 6.1 and
/// 6.3): `Content-Length` and `Transfer-Encoding` together, a
/// `Transfer-Encoding` in HTTP/1.0 or not ending in `chunked`, a
/// `Content-Length` that is not plain decimal digits (no sign, no list, no
/// repeat: a repeated one was refused while reading the lines).
fn body_framing(
    minor_version: u8,
    content_length: Option<&[u8]>,
    transfer_encoding: &TransferCodings,
) -> Result<BodyFraming, ParseError> {
    if transfer_encoding.present {
        if content_length.is_some()
            || minor_version == 0
            || transfer_encoding.count == 0
            || !transfer_encoding.ends_chunked
        {
            return Err(ParseError::BadFraming);
        }
        return Ok(BodyFraming::Chunked);
    }
    let Some(value) = content_length else {
        return Ok(BodyFraming::None);
    };
    if value.is_empty() {
        return Err(ParseError::BadFraming);
    }
    let mut length: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(ParseError::BadFraming);
        }
        length = length
            .checked_mul(10)
            .and_then(|l| l.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::BadFraming)?;
    }
    Ok(match length {
        0 => BodyFraming::None,
        n => BodyFraming::Length(n),
    })
}

/// `tchar` of RFC 9110 section 5.6.2: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether a `Host` value is `uri-host [ ":" port ]` (RFC 9112 section
/// 3.2, RFC 3986 section 3.2.2): a reg-name (which covers IPv4 addresses)
/// or a bracketed IPv6 or IPvFuture literal, then an optional port of
/// digits. Empty is valid: RFC 9112 has a client send an empty `Host` when
/// the target has no authority.
fn valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..close];
        if !valid_ip_literal(literal) {
            return false;
        }
        match &value[close + 1..] {
            [] => return true,
            [b':', port @ ..] => (&[][..], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        }
    };
    valid_reg_name(host) && port.is_none_or(|p| p.iter().all(u8::is_ascii_digit))
}

/// RFC 3986 reg-name: unreserved, sub-delims and percent-encoded bytes.
fn valid_reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b == b'%' {
            match name.get(i + 1..i + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
            continue;
        }
        let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        let sub_delim = b"!$&'()*+,;=".contains(&b);
        if !(unreserved || sub_delim) {
            return false;
        }
        i += 1;
    }
    true
}

/// The inside of an RFC 3986 IP-literal: an IPv6 address, or IPvFuture
/// (`v` 1*HEXDIG `.` 1*( unreserved / sub-delims / `:` )).
fn valid_ip_literal(literal: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = literal {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:".contains(&b));
    }
    std::str::from_utf8(literal).is_ok_and(|text| text.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Why httparse refused a request line's version.
#[derive(Debug, PartialEq, Eq)]
enum VersionProblem {
    /// A well-formed line with a version wharf does not speak: 505.
    Unsupported,
    /// Not a well-formed request line at all: 400.
    Malformed,
    /// So far a well-formed line with a higher HTTP/1 minor; its end has
    /// not arrived yet.
    Incomplete,
    /// A well-formed `HTTP/1.x` line, x > 1; the minor digit is at this
    /// offset of the buffer.
    HigherMinor(usize),
}

/// Tells a version we do not speak (505), or a higher HTTP/1 minor (served
/// as 1.1), from plain garbage (400): only a request line of exactly
/// `method SP request-target SP HTTP-version` (RFC 9112 section 3) is
/// judged by its version, so `GET / extra HTTP/1.1` is malformed.
fn version_problem(buf: &[u8]) -> VersionProblem {
    // httparse skips empty lines before the request line (RFC 9112
    // section 2.2), so the line starts after them.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (
            rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]),
            true,
        ),
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), false),
    };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return VersionProblem::Malformed;
    };
    let target_ok = !target.is_empty() && target.iter().all(|&b| b.is_ascii_graphic() || b >= 0x80);
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || !target_ok {
        return VersionProblem::Malformed;
    }
    let minor_at = start + method.len() + target.len() + 2 + b"HTTP/1.".len();
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            if *minor <= b'1' {
                // httparse knows these: what it refused is elsewhere.
                VersionProblem::Malformed
            } else if complete {
                VersionProblem::HigherMinor(minor_at)
            } else {
                VersionProblem::Incomplete
            }
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            VersionProblem::Unsupported
        }
        // `HTTP/2`, `HTTP/3`: not the grammar's `DIGIT.DIGIT`, but plainly
        // a version, and not ours.
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() && *major != b'1' => {
            VersionProblem::Unsupported
        }
        _ => VersionProblem::Malformed,
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

    /// `input` with a `Host` line after its request line.
    fn hosted(input: &str) -> String {
        match input.split_once("\r\n") {
            Some((line, rest)) => format!("{line}\r\nHost: x\r\n{rest}"),
            None => input.to_string(),
        }
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
    fn cors_and_fallback_fields() {
        let parse = |headers: &str| {
            parse_all(&format!("OPTIONS /a HTTP/1.1\r\nHost: x\r\n{headers}\r\n"))
                .unwrap()
                .unwrap()
                .0
        };
        let req = parse("Origin: https://a.example\r\nAccess-Control-Request-Method: GET\r\n");
        assert_eq!(req.origin.as_deref(), Some("https://a.example"));
        assert!(req.cors_preflight);
        let req = parse("");
        assert_eq!((req.origin, req.cors_preflight), (None, false));
        // Too long, or repeated: no origin at all.
        let long = format!("Origin: https://{}\r\n", "a".repeat(MAX_ORIGIN_BYTES));
        assert_eq!(parse(&long).origin, None);
        let twice = "Origin: https://a.example\r\nOrigin: https://b.example\r\n";
        assert_eq!(parse(twice).origin, None);
        for (accept, html) in [
            ("text/html,application/xhtml+xml,*/*;q=0.8", true),
            ("TEXT/HTML; q=0.9", true),
            ("*/*", false),
            ("application/json", false),
            ("text/htmlx", false),
        ] {
            let req = parse(&format!("Accept: {accept}\r\n"));
            assert_eq!(req.accepts_html, html, "{accept}");
        }
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
            let (req, _) = parse_all(&hosted(input)).unwrap().unwrap();
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
                parse_all(&hosted(input)).unwrap().unwrap().0.method,
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
            ("GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n", BadFraming),
            ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", BadFraming),
            ("GET / HTTP/1.1\r\nContent-Length: 0x0\r\n\r\n", BadFraming),
            ("GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", BadFraming),
            ("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", BadFraming),
            (
                "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                BadFraming,
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                BadFraming,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                BadFraming,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                BadFraming,
            ),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", BadFraming),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                BadFraming,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                BadFraming,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                BadFraming,
            ),
            ("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", BadFraming),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: a b\r\n\r\n", BadFraming),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
                Malformed,
            ),
            ("GET / extra HTTP/1.1\r\nHost: x\r\n\r\n", Malformed),
            ("Extra lineGET / HTTP/1.1\r\nHost: x\r\n\r\n", Malformed),
            ("GET / HTTP/1.12\r\nHost: x\r\n\r\n", Malformed),
            ("GET / HTTP/1\r\nHost: x\r\n\r\n", Malformed),
            ("GET / HTTP/1.2 \r\nHost: x\r\n\r\n", Malformed),
            ("GET / HTTP/2.0 x\r\nHost: x\r\n\r\n", Malformed),
            ("GET / HTTP/1.1\r\n\r\n", BadHost),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", BadHost),
            ("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", BadHost),
            ("GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", BadHost),
        ];
        for (input, expected) in table {
            assert_eq!(parse_all(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn bodies_are_framed_and_close_the_connection() {
        let table = [
            ("Content-Length: 5\r\n", BodyFraming::Length(5)),
            ("Content-Length: 005\r\n", BodyFraming::Length(5)),
            ("Content-Length: 0\r\n", BodyFraming::None),
            ("Content-Length: 000\r\n", BodyFraming::None),
            ("Transfer-Encoding: chunked\r\n", BodyFraming::Chunked),
            ("Transfer-Encoding: CHUNKED\r\n", BodyFraming::Chunked),
            ("Transfer-Encoding: gzip, chunked\r\n", BodyFraming::Chunked),
            (
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                BodyFraming::Chunked,
            ),
            ("Transfer-Encoding: , chunked\r\n", BodyFraming::Chunked),
            ("", BodyFraming::None),
        ];
        for method in ["GET", "POST"] {
            for (headers, body) in table {
                let raw = format!("{method} / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
                let (req, used) = parse_all(&raw).unwrap().unwrap();
                assert_eq!(req.body, body, "{raw:?}");
                assert_eq!(used, raw.len(), "{raw:?}");
                assert_eq!(req.keep_alive, body == BodyFraming::None, "{raw:?}");
            }
        }
    }

    #[test]
    fn versions() {
        for (input, minor) in [
            ("GET / HTTP/1.0\r\n\r\n", 0),
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1),
            ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 1),
            ("GET / HTTP/1.9\r\nHost: x\r\n\r\n", 1),
            ("\r\nGET / HTTP/1.5\r\nHost: x\r\n\r\n", 1),
            ("GET / HTTP/1.2\nHost: x\n\n", 1),
        ] {
            let (req, used) = parse_all(input).unwrap().unwrap();
            assert_eq!(req.minor_version, minor, "{input:?}");
            assert_eq!(used, input.len(), "{input:?}");
        }
        // A higher minor still arriving needs more bytes, and its head is
        // then parsed as usual.
        for partial in [
            "GET / HTTP/1.2",
            "GET / HTTP/1.2\r",
            "GET / HTTP/1.2\r\nHost: x\r\n",
        ] {
            assert_eq!(parse_all(partial), Ok(None), "{partial:?}");
        }
        assert_eq!(
            parse_all("GET /a HTTP/1.3\r\n\r\n"),
            Err(ParseError::BadHost)
        );
    }

    #[test]
    fn host_values() {
        let valid = [
            "",
            "a",
            "example.com",
            "example.com:8080",
            "a:",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::1]",
            "[v1.x:y]",
            "xn--bcher-kva.example",
            "a%20b",
            "a,b",
            "a_b~c",
        ];
        let invalid = [
            "bad host", "a/b", "a, b", "a@b", "a:b", "a:80:80", "::1", "[::1", "[zz]", "[::1]x",
            "[::1]:a", "a%2", "a%zz", "a\tb", "a?b", "a#b", "a\\b", "\"a\"", "[]", "[v.x]",
        ];
        for host in valid {
            let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert!(parse_all(&raw).is_ok_and(|r| r.is_some()), "{host:?}");
        }
        for host in invalid {
            let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(parse_all(&raw), Err(ParseError::BadHost), "{host:?}");
        }
    }

    #[test]
    fn file_headers_are_kept_and_repeats_joined() {
        let (req, _) = parse_all(
            "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\nif-none-match: W/\"b\"\r\nRange: bytes=0-1\r\n\
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
            let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n");
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
            let parsed = parse_all(input);
            match valid {
                true => assert!(parsed.is_ok_and(|r| r.is_some()), "{input:?}"),
                false => assert_eq!(parsed, Err(ParseError::BadHost), "{input:?}"),
            }
        }
    }

    #[test]
    fn authorization_is_kept_and_a_repeat_spoils_it() {
        let (request, _) = parse_all(&hosted(
            "GET / HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n",
        ))
        .unwrap()
        .unwrap();
        let value = request.authorization.as_ref().unwrap();
        assert_eq!(value.as_bytes(), b"Basic YTpi");
        assert!(!format!("{request:?}").contains("YTpi"));
        let (request, _) = parse_all(&hosted(
            "GET / HTTP/1.1\r\nauthorization: Basic YTpi\r\nAuthorization: Basic YTpj\r\n\r\n",
        ))
        .unwrap()
        .unwrap();
        let value = request.authorization.unwrap();
        assert_eq!(value.as_bytes(), b"Basic YTpi, Basic YTpj");
        assert!(crate::http::basic_auth::parse_basic(value.as_bytes()).is_none());
    }

    #[test]
    fn zero_content_length_is_fine() {
        let (req, _) = parse_all("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(req.method, Method::Get);
    }

    #[test]
    fn pipelined_heads_parse_one_at_a_time() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        let (first, used) = parse(input, &LIMITS).unwrap().unwrap();
        assert_eq!(first.target, "/a");
        let (second, used2) = parse(&input[used..], &LIMITS).unwrap().unwrap();
        assert_eq!(second.target, "/b");
        assert_eq!(used + used2, input.len());
    }
}
