//! The `Content-Type` of a file, from its name.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// The `Content-Type` for a file name: mime_guess's first guess, with
/// `charset=utf-8` on text types, `application/octet-stream` when unknown.
pub fn content_type(name: &str) -> Cow<'static, str> {
    let Some(mime) = mime_guess::from_path(name).first_raw() else {
        return Cow::Borrowed("application/octet-stream");
    };
    let textual = mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    Cow::Borrowed(if textual { with_charset(mime) } else { mime })
}

/// `mime` with `; charset=utf-8`, formatted once per type and kept: the
/// types are mime_guess's own static strings, a fixed set of a few dozen
/// textual ones, so a miss (on the pool) allocates no type string.
fn with_charset(mime: &'static str) -> &'static str {
    static KNOWN: RwLock<BTreeMap<&'static str, &'static str>> = RwLock::new(BTreeMap::new());
    if let Some(known) = KNOWN.read().unwrap_or_else(|p| p.into_inner()).get(mime) {
        return known;
    }
    KNOWN
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(mime)
        .or_insert_with(|| Box::leak(format!("{mime}; charset=utf-8").into_boxed_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("a.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.unknownext"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
