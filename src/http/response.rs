//! Response-head rendering and the small HTML bodies of error responses.

use std::fmt::Write as _;

use super::status::Status;

/// The value of the `Server` header.
pub const SERVER: &str = concat!("wharf/", env!("CARGO_PKG_VERSION"));

/// Everything that goes into a response head. Rendered in one pass into a
/// byte buffer by [`ResponseHead::render`].
#[derive(Debug, Clone)]
pub struct ResponseHead<'a> {
    pub status: Status,
    pub content_type: Option<&'a str>,
    pub content_length: u64,
    /// Pre-formatted HTTP date.
    pub last_modified: Option<&'a str>,
    pub location: Option<&'a str>,
    /// Sends `Allow: GET, HEAD` (for 405).
    pub allow: bool,
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
            last_modified: None,
            location: None,
            allow: false,
            keep_alive: false,
            minor_version: 1,
        }
    }

    /// Appends the status line and headers, ending with the blank line.
    pub fn render(&self, date: &str, out: &mut Vec<u8>) {
        // Writing into a String cannot fail; the results are ignored on purpose.
        let mut head = String::with_capacity(256);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nServer: {SERVER}\r\nDate: {date}\r\n",
            self.status.code(),
            self.status.reason()
        );
        if let Some(content_type) = self.content_type {
            let _ = write!(head, "Content-Type: {content_type}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", self.content_length);
        if let Some(last_modified) = self.last_modified {
            let _ = write!(head, "Last-Modified: {last_modified}\r\n");
        }
        if let Some(location) = self.location {
            let _ = write!(head, "Location: {location}\r\n");
        }
        if self.allow {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        if !self.keep_alive {
            head.push_str("Connection: close\r\n");
        } else if self.minor_version == 0 {
            head.push_str("Connection: keep-alive\r\n");
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(head: &ResponseHead) -> String {
        let mut out = Vec::new();
        head.render("Sun, 06 Nov 1994 08:49:37 GMT", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ok_head() {
        let head = ResponseHead {
            content_type: Some("text/plain; charset=utf-8"),
            content_length: 12,
            last_modified: Some("Sat, 05 Nov 1994 08:49:37 GMT"),
            keep_alive: true,
            ..ResponseHead::new(Status::Ok)
        };
        assert_eq!(
            render(&head),
            format!(
                "HTTP/1.1 200 OK\r\nServer: {SERVER}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\
                 Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\n\r\n"
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
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"));
    }

    #[test]
    fn error_body_names_status() {
        let body = String::from_utf8(error_body(Status::NotFound)).unwrap();
        assert!(body.contains("404 Not Found"));
    }
}
