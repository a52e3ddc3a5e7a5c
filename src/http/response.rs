//! Response-head rendering and the small HTML bodies of error responses.

use std::fmt;

use super::status::Status;

/// The value of the `Server` header.
pub const SERVER: &str = concat!("wharf/", env!("CARGO_PKG_VERSION"));

/// The methods wharf allows, for `Allow` on 405 and OPTIONS.
pub const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";

/// Everything that goes into a response head. Rendered in one pass into a
/// byte buffer by [`ResponseHead::render`]; `None` fields are left out.
#[derive(Debug, Clone)]
pub struct ResponseHead<'a> {
    pub status: Status,
    pub content_type: Option<&'a str>,
    /// Left out for 204 and 304 whatever its value.
    pub content_length: u64,
    pub content_range: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub etag: Option<&'a str>,
    /// Pre-formatted HTTP date.
    pub last_modified: Option<&'a str>,
    /// Sends `Accept-Ranges: bytes` (on file responses).
    pub accept_ranges: bool,
    /// Sends `Accept-Ranges: none` (a body whose length is not known
    /// ahead, such as a directory download).
    pub no_ranges: bool,
    /// `Content-Disposition` (a download's file name).
    pub content_disposition: Option<&'a str>,
    /// The body's length is not known ahead: instead of `Content-Length`,
    /// `Transfer-Encoding: chunked` to an HTTP/1.1 client, and nothing to
    /// an HTTP/1.0 one, whose connection then must close after the body.
    pub length_unknown: bool,
    pub vary: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    pub location: Option<&'a str>,
    /// Sends `Allow` (for 405 and OPTIONS).
    pub allow: bool,
    /// Extra headers from `[[http.rules]]`.
    pub extra: &'a [(&'a str, &'a str)],
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    /// The request's minor version: HTTP/1.0 clients are told explicitly
    /// that the connection stays open.
    pub minor_version: u8,
}

impl<'a> ResponseHead<'a> {
    /// A head with just a status; the other fields are empty.
    pub fn new(status: Status) -> ResponseHead<'a> {
        ResponseHead {
            status,
            content_type: None,
            content_length: 0,
            content_range: None,
            content_encoding: None,
            etag: None,
            last_modified: None,
            accept_ranges: false,
            no_ranges: false,
            content_disposition: None,
            length_unknown: false,
            vary: None,
            cache_control: None,
            location: None,
            allow: false,
            extra: &[],
            keep_alive: false,
            minor_version: 1,
        }
    }

    /// Appends the status line and headers, ending with the blank line.
    pub fn render(&self, date: &str, out: &mut Vec<u8>) {
        // Straight into `out`: no text buffer to allocate and copy. Room
        // for a typical head first, so that it grows at most once.
        out.reserve(256);
        let mut head = ByteSink(out);
        render_start(self.status, date, &mut head);
        self.render_fields(&mut head);
        render_end(self.keep_alive, self.minor_version, &mut head);
    }

    /// Appends the header fields between `Date` and `Connection`: the part
    /// that depends only on the representation, so the hot-file cache can
    /// render it once per file.
    ///
    /// A 304 gets only what RFC 9110 section 15.4.5 lists (see
    /// [`ResponseHead::not_modified_allows`]): whatever the caller filled
    /// in, no `Content-Type`, `Content-Encoding`, `Content-Range`,
    /// `Content-Length`, `Accept-Ranges`, `Location` or `Allow`, so no path
    /// that answers 304 (pool, cache, listing, HEAD) can send them.
    pub fn render_fields(&self, head: &mut impl fmt::Write) {
        let not_modified = self.status == Status::NotModified;
        // Writing into a String or a byte buffer cannot fail; the results
        // are ignored on purpose.
        let mut field = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                let _ = write!(head, "{name}: {value}\r\n");
            }
        };
        if !not_modified {
            field("Content-Type", self.content_type);
            field("Content-Encoding", self.content_encoding);
            field("Content-Range", self.content_range);
            field("Content-Disposition", self.content_disposition);
        }
        field("ETag", self.etag);
        field("Last-Modified", self.last_modified);
        field("Vary", self.vary);
        field("Cache-Control", self.cache_control);
        if !not_modified {
            field("Location", self.location);
        }
        if !self.status.has_no_content() {
            if !self.length_unknown {
                let _ = write!(head, "Content-Length: {}\r\n", self.content_length);
            } else if self.minor_version > 0 {
                let _ = head.write_str("Transfer-Encoding: chunked\r\n");
            }
        }
        if self.accept_ranges && !not_modified {
            let _ = head.write_str("Accept-Ranges: bytes\r\n");
        } else if self.no_ranges && !not_modified {
            let _ = head.write_str("Accept-Ranges: none\r\n");
        }
        if self.allow && !not_modified {
            let _ = write!(head, "Allow: {ALLOWED_METHODS}\r\n");
        }
        for (name, value) in self.extra {
            if !not_modified || Self::not_modified_allows(name) {
                let _ = write!(head, "{name}: {value}\r\n");
            }
        }
    }

    /// Whether a `[[http.rules]]` header named `name` goes on a 304.
    /// RFC 9110 section 15.4.5: a 304 carries what would guide a cache's
    /// update of its stored response (`Expires`, `Content-Location`, and
    /// the response's other headers: CORS, security policies, which a
    /// cache merges into what it stored, RFC 9111 section 4.3.4), but no
    /// representation metadata: `Content-*` headers describe the body
    /// that a 304 does not have (`Content-Language`, `Content-Disposition`,
    /// digests), except `Content-Location` and `Content-Security-Policy`.
    pub fn not_modified_allows(name: &str) -> bool {
        let lower = |prefix: &str| {
            name.len() >= prefix.len()
                && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        };
        !lower("content-") || lower("content-location") || lower("content-security-policy")
    }
}

/// Appends the status line, `Server` and `Date`.
pub fn render_start(status: Status, date: &str, head: &mut impl fmt::Write) {
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nServer: {SERVER}\r\nDate: {date}\r\n",
        status.code(),
        status.reason()
    );
}

/// Appends the connection header (when one is needed) and the blank line.
pub fn render_end(keep_alive: bool, minor_version: u8, head: &mut impl fmt::Write) {
    if !keep_alive {
        let _ = head.write_str("Connection: close\r\n");
    } else if minor_version == 0 {
        let _ = head.write_str("Connection: keep-alive\r\n");
    }
    let _ = head.write_str("\r\n");
}

/// Text written into a byte buffer (header text is ASCII, and UTF-8 at
/// worst, so the bytes are the text).
struct ByteSink<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteSink<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Inserts header `fields` (`name: value\r\n` each) into a rendered
/// `head`, before its blank line. A head not ending in one is left alone.
pub fn insert_fields(head: &mut Vec<u8>, fields: &str) {
    if fields.is_empty() || !head.ends_with(b"\r\n\r\n") {
        return;
    }
    head.truncate(head.len() - 2);
    head.extend_from_slice(fields.as_bytes());
    head.extend_from_slice(b"\r\n");
}

/// The small HTML page sent with an error status.
pub fn error_body(status: Status) -> Vec<u8> {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
         <body><h1>{code} {reason}</h1><hr><p>wharf</p></body></html>\n",
        code = status.code(),
        reason = status.reason()
    )
    .into_bytes()
}

/// Content type of [`error_body`] and of directory listings.
pub const HTML_UTF8: &str = "text/html; charset=utf-8";

/// Content type of JSON directory listings.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn render(head: &ResponseHead) -> String {
        let mut out = Vec::new();
        head.render("Sun, 06 Nov 1994 08:49:37 GMT", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_go_before_the_blank_line() {
        let mut head = b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n".to_vec();
        insert_fields(&mut head, "Vary: Origin\r\n");
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nA: 1\r\nVary: Origin\r\n\r\n");
        let mut partial = b"HTTP/1.1 200 OK\r\n".to_vec();
        insert_fields(&mut partial, "Vary: Origin\r\n");
        assert_eq!(partial, b"HTTP/1.1 200 OK\r\n");
    }

    #[test]
    fn ok_head() {
        let head = ResponseHead {
            content_type: Some("text/plain; charset=utf-8"),
            content_length: 12,
            etag: Some("\"1-2-c\""),
            accept_ranges: true,
            last_modified: Some("Sat, 05 Nov 1994 08:49:37 GMT"),
            keep_alive: true,
            ..ResponseHead::new(Status::Ok)
        };
        assert_eq!(
            render(&head),
            format!(
                "HTTP/1.1 200 OK\r\nServer: {SERVER}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nETag: \"1-2-c\"\r\n\
                 Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\nContent-Length: 12\r\n\
                 Accept-Ranges: bytes\r\n\r\n"
            )
        );
    }

    #[test]
    fn close_and_http10_keep_alive() {
        let closing = render(&ResponseHead::new(Status::NotFound));
        assert!(closing.contains("\r\nConnection: close\r\n"));
        let http10 = render(&ResponseHead {
            keep_alive: true,
            minor_version: 0,
            ..ResponseHead::new(Status::Ok)
        });
        assert!(http10.contains("\r\nConnection: keep-alive\r\n"));
    }

    #[test]
    fn method_not_allowed_has_allow() {
        let text = render(&ResponseHead {
            allow: true,
            ..ResponseHead::new(Status::MethodNotAllowed)
        });
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"));
    }

    #[test]
    fn not_modified_has_only_what_rfc_9110_lists() {
        let extra = [
            ("Access-Control-Allow-Origin", "*"),
            ("Expires", "Thu, 01 Dec 2094 16:00:00 GMT"),
            ("Content-Language", "en"),
            ("content-disposition", "attachment"),
            ("Content-Security-Policy", "default-src 'self'"),
            ("Content-Location", "/a.txt"),
        ];
        let head = ResponseHead {
            content_type: Some("text/plain"),
            content_length: 12,
            content_range: Some("bytes 0-1/12"),
            content_encoding: Some("gzip"),
            etag: Some("\"e\""),
            last_modified: Some("Sat, 05 Nov 1994 08:49:37 GMT"),
            accept_ranges: true,
            vary: Some("Accept-Encoding"),
            cache_control: Some("no-cache"),
            location: Some("/x/"),
            allow: true,
            extra: &extra,
            keep_alive: true,
            ..ResponseHead::new(Status::NotModified)
        };
        assert_eq!(
            render(&head),
            format!(
                "HTTP/1.1 304 Not Modified\r\nServer: {SERVER}\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nETag: \"e\"\r\n\
                 Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\nVary: Accept-Encoding\r\n\
                 Cache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\n\
                 Expires: Thu, 01 Dec 2094 16:00:00 GMT\r\n\
                 Content-Security-Policy: default-src 'self'\r\nContent-Location: /a.txt\r\n\r\n"
            )
        );
        // The same head as a 200 keeps everything.
        let ok = render(&ResponseHead {
            status: Status::Ok,
            ..head
        });
        for name in [
            "Content-Type",
            "Content-Encoding",
            "Accept-Ranges",
            "Content-Language",
        ] {
            assert!(ok.contains(&format!("\r\n{name}: ")), "{name}");
        }
    }

    #[test]
    fn not_modified_has_no_content_length() {
        let text = render(&ResponseHead {
            content_length: 99,
            etag: Some("\"x\""),
            ..ResponseHead::new(Status::NotModified)
        });
        assert!(text.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.contains("\r\nETag: \"x\"\r\n"));
    }

    #[test]
    fn extra_headers_follow() {
        let extra = [("X-Frame-Options", "DENY")];
        let text = render(&ResponseHead {
            extra: &extra,
            cache_control: Some("no-cache"),
            ..ResponseHead::new(Status::Ok)
        });
        assert!(text.contains("\r\nCache-Control: no-cache\r\n"));
        assert!(text.contains("\r\nX-Frame-Options: DENY\r\n"));
    }

    #[test]
    fn a_download_of_unknown_length_is_chunked_for_http11_only() {
        let head = ResponseHead {
            content_type: Some("application/x-tar"),
            content_disposition: Some("attachment; filename=\"a.tar\""),
            length_unknown: true,
            no_ranges: true,
            keep_alive: true,
            ..ResponseHead::new(Status::Ok)
        };
        let text = render(&head);
        assert!(text.contains("\r\nContent-Disposition: attachment; filename=\"a.tar\"\r\n"));
        assert!(text.contains("\r\nTransfer-Encoding: chunked\r\nAccept-Ranges: none\r\n"));
        assert!(!text.contains("Content-Length"));
        let http10 = render(&ResponseHead {
            minor_version: 0,
            keep_alive: false,
            ..head
        });
        assert!(!http10.contains("Transfer-Encoding") && !http10.contains("Content-Length"));
        assert!(http10.contains("\r\nConnection: close\r\n"));
    }

    #[test]
    fn error_body_names_status() {
        let body = String::from_utf8(error_body(Status::NotFound)).unwrap();
        assert!(body.contains("404 Not Found"));
    }
}
