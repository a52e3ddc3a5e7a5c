//! `Content-Disposition: attachment` (RFC 6266) for a download whose name
//! the server makes up (a directory's archive), and the framing of a body
//! sent with `Transfer-Encoding: chunked` (RFC 9112 section 7.1).

use std::fmt::Write as _;

/// `attachment; filename="..."`, plus `filename*=UTF-8''...` (RFC 8187)
/// when the name is not plain ASCII. The quoted `filename` is the
/// fallback for clients that do not read `filename*`: characters that are
/// not printable ASCII, and `"`, `\` and `%` (which some clients decode),
/// become `_`, and so do `/` (no client should make a path of it).
pub fn attachment(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%' | '/') => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("attachment; filename=\"{fallback}\"");
    if fallback != filename {
        value.push_str("; filename*=UTF-8''");
        for &b in filename.as_bytes() {
            // RFC 8187 attr-char.
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                value.push(char::from(b));
            } else {
                let _ = write!(value, "%{b:02X}");
            }
        }
    }
    value
}

/// Room to leave at the front of a chunk's buffer for its size line: the
/// hex digits of any `usize` and CRLF.
pub const CHUNK_PREFIX: usize = 2 * std::mem::size_of::<usize>() + 2;

/// The last chunk and the end of the (trailer-less) chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Turns `buf` into one chunk: `buf` holds [`CHUNK_PREFIX`] bytes of room,
/// then the data. The size line is written at the end of that room, the
/// rest of it removed, and CRLF appended. Empty data gives an empty `buf`
/// (a zero-size chunk would end the body).
pub fn frame_chunk(buf: &mut Vec<u8>) {
    let len = buf.len().saturating_sub(CHUNK_PREFIX);
    if len == 0 {
        buf.clear();
        return;
    }
    let line = format!("{len:x}\r\n");
    let start = CHUNK_PREFIX - line.len();
    buf[start..CHUNK_PREFIX].copy_from_slice(line.as_bytes());
    buf.drain(..start);
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_names_are_quoted_alone() {
        assert_eq!(
            attachment("photos.tar"),
            "attachment; filename=\"photos.tar\""
        );
        assert_eq!(
            attachment("my dir.tar.gz"),
            "attachment; filename=\"my dir.tar.gz\""
        );
    }

    #[test]
    fn other_names_get_a_fallback_and_filename_star() {
        assert_eq!(
            attachment("été.tar"),
            "attachment; filename=\"_t_.tar\"; filename*=UTF-8''%C3%A9t%C3%A9.tar"
        );
        assert_eq!(
            attachment("a\"b\\c%d.tar"),
            "attachment; filename=\"a_b_c_d.tar\"; filename*=UTF-8''a%22b%5Cc%25d.tar"
        );
        // No CR, LF or other control character can reach the header.
        let value = attachment("x\r\nSet-Cookie: a=b.tar");
        assert!(!value.contains('\r') && !value.contains('\n'));
    }

    #[test]
    fn chunks_are_framed_in_place() {
        let mut buf = vec![0; CHUNK_PREFIX];
        buf.extend_from_slice(&[7; 300]);
        frame_chunk(&mut buf);
        assert!(buf.starts_with(b"12c\r\n"));
        assert!(buf.ends_with(&[7, b'\r', b'\n']));
        assert_eq!(buf.len(), 5 + 300 + 2);
        let mut empty = vec![0; CHUNK_PREFIX];
        frame_chunk(&mut empty);
        assert!(empty.is_empty());
    }
}
