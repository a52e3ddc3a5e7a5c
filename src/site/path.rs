//! Lexical request-target sanitising: turns the raw target of a request line
//! into a relative path that can be looked up under the document root.
//!
//! This is the first of two path checks and is pure (no filesystem access), so
//! it runs on the event loop. The second check, confinement of the resolved
//! file under the root even across symlinks, happens on the IO pool in
//! `disk::root`.
//!
//! Rules (what is refused is refused outright, never "repaired"):
//! - the target must be in origin form (`/...`) or absolute form
//!   (`http://host/...`, served from its path, as RFC 9112 requires);
//!   authority form and `*` are refused;
//! - the query (`?...`) is ignored;
//! - percent-escapes are decoded once; a malformed escape is refused, and the
//!   decoded bytes must be valid UTF-8 (this refuses overlong encodings such as
//!   `%c0%ae`);
//! - a decoded NUL, any other control character or a backslash is refused;
//! - a `..` segment is refused (browsers normalise them away, so only hostile
//!   or broken clients send one); `.` segments and empty segments (`//`) are
//!   dropped.
//!
//! Everything else is a name, looked up as it is: `a:b.txt`,
//! `backup-2024-01-01T10:00:00.tar.gz`, `Special:Random.html`, `C:`,
//! `name.`, `name ` and `...` are all plain file names on the Linux
//! filesystems wharf serves, as they are to nginx. Why each rule stays or
//! went:
//! - NUL ends a C string: a name with one could not be opened as asked,
//!   and the kernel would see a shorter one. Stays.
//! - Other control characters (CR, LF, TAB, DEL, C1) are never in a link a
//!   browser follows, and would reach headers (`Location`) and the access
//!   log; refusing them keeps header and log injection impossible by
//!   construction. Stays.
//! - A backslash is a path separator to browsers (the URL standard turns
//!   `\` into `/` in http URLs), to Windows tools and to some proxies and
//!   caches in front of a server: a target with one means one file to them
//!   and another to wharf, and `..\` is the classic traversal spelling.
//!   Stays.
//! - `..` would leave the directory lexically; the kernel confinement would
//!   catch it, but no honest client sends one. Stays.
//! - The Windows-alias rule (a `:`, a drive letter, a segment ending in a
//!   dot or a space) went. On Linux the VFS gives none of these a meaning:
//!   `:` selects no stream and a trailing dot or space is not stripped on
//!   ext4, xfs, btrfs, tmpfs or nfs. Filesystems that do fold names
//!   (vfat, exfat, case-insensitive ext4, some CIFS mounts) alias names
//!   anyway, by case as much as by a trailing dot, so the rule never made
//!   names unique; and nothing wharf protects depends on how a name ends:
//!   confinement is the kernel's (`openat2(RESOLVE_BENEATH)` on the pool),
//!   and hidden files are named by their first byte, which no alias
//!   changes. Refusing them only made real files (timestamps in backup
//!   names, wiki exports) impossible to serve or mirror.

use std::fmt;

/// A request path that passed the lexical checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafePath {
    /// The decoded path relative to the root, segments joined with `/`,
    /// without a leading or trailing slash. Empty for the root itself.
    pub relative: String,
    /// Whether the decoded target ended with a `/` (asks for a directory).
    pub trailing_slash: bool,
    /// Whether any segment starts with a dot (a "hidden" file or directory).
    pub hidden: bool,
}

/// Why a target was refused. Every variant maps to `400 Bad Request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Neither origin-form nor `http(s)` absolute-form: authority-form, `*`,
    /// another scheme, or empty.
    NotOriginForm,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8 (including overlong encodings).
    NotUtf8,
    /// NUL, another control character, or a backslash.
    ForbiddenByte,
    /// A `..` segment.
    Traversal,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotOriginForm => "the request target must start with '/'",
            PathError::BadEscape => "malformed percent-escape in the path",
            PathError::NotUtf8 => "the decoded path is not valid UTF-8",
            PathError::ForbiddenByte => "control character or backslash in the path",
            PathError::Traversal => "'..' is not allowed in the path",
        })
    }
}

/// Splits a request target into its path and its query (without the `?`).
pub fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Checks and decodes a request target. See the module docs for the rules.
pub fn sanitize(target: &str) -> Result<SafePath, PathError> {
    let mut relative = String::new();
    let facts = sanitize_into(target, &mut Vec::new(), &mut relative)?;
    Ok(SafePath {
        relative,
        trailing_slash: facts.trailing_slash,
        hidden: facts.hidden,
    })
}

/// What [`sanitize_into`] finds out besides the relative path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathFacts {
    pub trailing_slash: bool,
    pub hidden: bool,
}

/// [`sanitize`] into caller-owned buffers (the event loop reuses them, so
/// a request allocates nothing here): `relative` receives the path relative
/// to the root, `decoded` is scratch space.
pub fn sanitize_into(
    target: &str,
    decoded: &mut Vec<u8>,
    relative: &mut String,
) -> Result<PathFacts, PathError> {
    relative.clear();
    let (raw_path, _query) = split_query(strip_origin(target));
    if !raw_path.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }
    percent_decode(raw_path.as_bytes(), decoded)?;
    let decoded = std::str::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return Err(PathError::ForbiddenByte);
    }

    let mut hidden = false;
    for segment in decoded.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return Err(PathError::Traversal),
            _ => {}
        }
        // `/.well-known/` is where other services look for a site's
        // metadata (RFC 8615: ACME challenges, security.txt): a dot
        // directory that is meant to be served.
        let well_known = relative.is_empty() && segment == ".well-known";
        hidden |= segment.starts_with('.') && !well_known;
        if !relative.is_empty() {
            relative.push('/');
        }
        relative.push_str(segment);
    }
    Ok(PathFacts {
        trailing_slash: decoded.ends_with('/'),
        hidden,
    })
}

/// The path and query of an absolute-form target (`http://host/path?q`,
/// which RFC 9112 has servers accept: proxies and some clients send it),
/// or `target` as it is. Only one site is served, so the authority is not
/// looked at.
fn strip_origin(target: &str) -> &str {
    let scheme_len = ["http://", "https://"].into_iter().find_map(|scheme| {
        target
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(str::len)
    });
    let Some(scheme_len) = scheme_len else {
        return target;
    };
    let rest = &target[scheme_len..];
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
        // No path: the root (`http://host` or `http://host?q`).
        _ => "/",
    }
}

/// Decodes `%XX` escapes once, into `out`. `+` is left alone: it means a
/// space only in form bodies, never in a path.
fn percent_decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    out.clear();
    out.reserve(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hi = input.get(i + 1).and_then(|b| hex_value(*b));
            let lo = input.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(PathError::BadEscape),
            }
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a path for use in a `Location` header or an `href`:
/// everything but unreserved characters and `/` is escaped, so the result is
/// safe inside HTML attributes and header values.
pub fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(relative: &str, trailing_slash: bool, hidden: bool) -> Result<SafePath, PathError> {
        Ok(SafePath {
            relative: relative.to_string(),
            trailing_slash,
            hidden,
        })
    }

    #[test]
    fn sanitize_table() {
        use PathError::*;
        let cases: &[(&str, Result<SafePath, PathError>)] = &[
            ("/", ok("", true, false)),
            ("/index.html", ok("index.html", false, false)),
            ("/a/b/", ok("a/b", true, false)),
            ("/a//b", ok("a/b", false, false)),
            ("/./a/./b", ok("a/b", false, false)),
            ("/a?x=1", ok("a", false, false)),
            ("/a?x=../../etc", ok("a", false, false)),
            ("/hello%20world.txt", ok("hello world.txt", false, false)),
            ("/caf%C3%A9", ok("café", false, false)),
            ("/a+b", ok("a+b", false, false)),
            ("/.env", ok(".env", false, true)),
            ("/a/.git/config", ok("a/.git/config", false, true)),
            ("/%2e%2e", Err(Traversal)),
            // Traversal in every spelling.
            ("/..", Err(Traversal)),
            ("/../etc/passwd", Err(Traversal)),
            ("/a/../../etc/passwd", Err(Traversal)),
            ("/a/..", Err(Traversal)),
            ("/%2e%2e/etc/passwd", Err(Traversal)),
            ("/%2E%2E/etc/passwd", Err(Traversal)),
            ("/.%2e/etc/passwd", Err(Traversal)),
            ("/%2e./etc/passwd", Err(Traversal)),
            ("/a%2f..%2f..%2fetc%2fpasswd", Err(Traversal)),
            ("/%252e%252e/etc", ok("%2e%2e/etc", false, false)),
            ("/%c0%ae%c0%ae/etc/passwd", Err(NotUtf8)),
            ("/%e0%80%ae", Err(NotUtf8)),
            ("/%ff", Err(NotUtf8)),
            // Bytes that must never reach the filesystem.
            ("/a%00.txt", Err(ForbiddenByte)),
            ("/a%0a", Err(ForbiddenByte)),
            ("/a%7f", Err(ForbiddenByte)),
            ("/..%5c..%5cetc", Err(ForbiddenByte)),
            ("/a\\b", Err(ForbiddenByte)),
            ("/%5c", Err(ForbiddenByte)),
            // Names Windows would alias are plain names on Linux.
            ("/C:/windows", ok("C:/windows", false, false)),
            ("/c%3a/windows", ok("c:/windows", false, false)),
            ("/index.html::$DATA", ok("index.html::$DATA", false, false)),
            ("/a:b.txt", ok("a:b.txt", false, false)),
            (
                "/backup-2024-01-01T10:00:00.tar.gz",
                ok("backup-2024-01-01T10:00:00.tar.gz", false, false),
            ),
            (
                "/Special%3ARandom.html",
                ok("Special:Random.html", false, false),
            ),
            ("/index.html.", ok("index.html.", false, false)),
            ("/index.html%20", ok("index.html ", false, false)),
            ("/name%20/x", ok("name /x", false, false)),
            ("/...", ok("...", false, true)),
            ("/a/.../b", ok("a/.../b", false, true)),
            // `..` with something after it is a name, not a traversal.
            ("/..%20", ok(".. ", false, true)),
            ("/..:", ok("..:", false, true)),
            ("/..%5c", Err(ForbiddenByte)),
            ("/%2e%2e%00", Err(ForbiddenByte)),
            // Malformed escapes.
            ("/%", Err(BadEscape)),
            ("/%2", Err(BadEscape)),
            ("/%zz", Err(BadEscape)),
            ("/%%32%65", Err(BadEscape)),
            // Neither origin-form nor http(s) absolute-form.
            ("", Err(NotOriginForm)),
            ("*", Err(NotOriginForm)),
            ("index.html", Err(NotOriginForm)),
            // Absolute form: the authority is dropped.
            (
                "http://example.com/etc/passwd",
                ok("etc/passwd", false, false),
            ),
            ("HTTP://example.com:8080/a/?x=1", ok("a", true, false)),
            ("https://example.com", ok("", true, false)),
            ("http://example.com?x=/etc", ok("", true, false)),
            ("http://example.com/../etc", Err(Traversal)),
            ("ftp://example.com/a", Err(NotOriginForm)),
            // The one dot directory served by default, at the top only.
            (
                "/.well-known/acme-challenge/t0k3n",
                ok(".well-known/acme-challenge/t0k3n", false, false),
            ),
            ("/.well-known/.env", ok(".well-known/.env", false, true)),
            ("/a/.well-known/x", ok("a/.well-known/x", false, true)),
            ("example.com:80", Err(NotOriginForm)),
            ("%2fetc/passwd", Err(NotOriginForm)),
        ];
        for (input, expected) in cases {
            assert_eq!(&sanitize(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn relative_never_escapes() {
        for input in ["/a/b/c", "/x/./y//z/", "/%2e/%2E/"] {
            let path = sanitize(input).unwrap();
            assert!(!path.relative.starts_with('/'));
            assert!(path.relative.split('/').all(|s| s != ".." && s != "."));
        }
    }

    #[test]
    fn encode_round_trips_through_sanitize() {
        for name in [
            "a b.txt",
            "<img src=x onerror=alert(1)>.txt",
            "café/ü",
            "100%",
            "a:b.txt",
            "name.",
            "name ",
            "C:",
        ] {
            let encoded = percent_encode_path(&format!("/{name}"));
            assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
            assert!(!encoded.contains(['<', '>', '"', '\'', '&']));
            assert_eq!(sanitize(&encoded).unwrap().relative, name);
        }
    }
}
