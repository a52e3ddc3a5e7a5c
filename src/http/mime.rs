//! The `Content-Type` of a file, from its name.

use std::borrow::Cow;

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
    if textual {
        Cow::Owned(format!("{mime}; charset=utf-8"))
    } else {
        Cow::Borrowed(mime)
    }
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
