//! Per-path response header rules (`[[http.rules]]`): a glob on the request
//! path selects a `Cache-Control` value and extra headers (CORS, security
//! headers). Pure code, evaluated on the event loop.
//!
//! Glob syntax: `*` matches within one path segment, `**` matches across
//! segments, `?` matches one character. A pattern with no `/` is matched
//! against the last path segment (the file name), so `*.css` matches
//! `/a/b/site.css`; a pattern with a `/` is matched against the whole
//! decoded path from its leading `/`, so `/assets/**` matches everything
//! under `/assets/`.
//!
//! Every matching rule applies, in file order: a later `cache_control`
//! replaces an earlier one, and a later header of the same name replaces an
//! earlier one.

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    whole_path: bool,
}

impl Glob {
    /// Compiles a pattern.
    ///
    /// # Errors
    /// An empty pattern, or `**` inside a segment (`a**b`).
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("empty pattern".to_string());
        }
        for segment in pattern.split('/') {
            if segment.contains("**") && segment != "**" {
                return Err(format!("'**' must be a whole path segment in '{pattern}'"));
            }
        }
        Ok(Glob {
            pattern: pattern.to_string(),
            whole_path: pattern.contains('/'),
        })
    }

    /// Whether the decoded request path (with its leading `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        if self.whole_path {
            glob_match(self.pattern.as_bytes(), path.as_bytes())
        } else {
            let name = path.rsplit('/').next().unwrap_or(path);
            glob_match(self.pattern.as_bytes(), name.as_bytes())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// Glob matching, memoised over (pattern position, text position) so that
/// patterns with many stars stay linear in the number of states.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let mut memo = vec![Memo::Unknown; (pattern.len() + 1) * (text.len() + 1)];
    Matcher {
        pattern,
        text,
        memo: &mut memo,
    }
    .matches(0, 0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Memo {
    Unknown,
    Yes,
    No,
}

struct Matcher<'a> {
    pattern: &'a [u8],
    text: &'a [u8],
    memo: &'a mut [Memo],
}

impl Matcher<'_> {
    fn matches(&mut self, p: usize, t: usize) -> bool {
        let key = p * (self.text.len() + 1) + t;
        match self.memo[key] {
            Memo::Yes => return true,
            Memo::No => return false,
            Memo::Unknown => {}
        }
        let result = self.compute(p, t);
        self.memo[key] = if result { Memo::Yes } else { Memo::No };
        result
    }

    fn compute(&mut self, p: usize, t: usize) -> bool {
        let (pattern, text) = (self.pattern, self.text);
        let Some(&c) = pattern.get(p) else {
            return t == text.len();
        };
        if pattern[p..].starts_with(b"**") {
            let rest = p + 2;
            // `**/` also matches zero segments.
            if pattern.get(rest) == Some(&b'/') && self.matches(rest + 1, t) {
                return true;
            }
            return (t..=text.len()).any(|i| self.matches(rest, i));
        }
        match c {
            b'*' => {
                let segment_end = text[t..]
                    .iter()
                    .position(|&b| b == b'/')
                    .map_or(text.len(), |i| t + i);
                (t..=segment_end).any(|i| self.matches(p + 1, i))
            }
            b'?' => t < text.len() && text[t] != b'/' && self.matches(p + 1, t + 1),
            c => t < text.len() && text[t] == c && self.matches(p + 1, t + 1),
        }
    }
}

/// One `[[http.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    pub pattern: Glob,
    pub cache_control: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// What the rules say for one path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied<'a> {
    pub cache_control: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a str)>,
}

/// Applies `rules` to `path`, starting from the default `cache_control`.
pub fn apply<'a>(
    rules: &'a [HeaderRule],
    default_cache_control: Option<&'a str>,
    path: &str,
) -> Applied<'a> {
    let mut applied = Applied {
        cache_control: default_cache_control,
        headers: Vec::new(),
    };
    for rule in rules.iter().filter(|r| r.pattern.matches(path)) {
        if let Some(cache_control) = &rule.cache_control {
            applied.cache_control = Some(cache_control);
        }
        for (name, value) in &rule.headers {
            applied
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            applied.headers.push((name, value));
        }
    }
    applied
}

/// Whether `name` is a valid header field name (an RFC 9110 token) that a
/// rule may set: not one wharf manages itself.
pub fn valid_header_name(name: &str) -> Result<(), String> {
    const MANAGED: [&str; 12] = [
        "content-length",
        "content-type",
        "content-range",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "date",
        "etag",
        "last-modified",
        "location",
        "cache-control",
        "accept-ranges",
    ];
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("'{name}' is not a valid header name"));
    }
    if MANAGED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "'{name}' is set by wharf itself (use cache_control for Cache-Control)"
        ));
    }
    Ok(())
}

/// Whether `value` may be sent as a header value (no control characters).
pub fn valid_header_value(value: &str) -> Result<(), String> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err("header values must not contain control characters".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let table = [
            ("*.css", "/a/b/site.css", true),
            ("*.css", "/site.css", true),
            ("*.css", "/site.css.map", false),
            ("*.css", "/css/", false),
            ("app.*.js", "/static/app.3f2a.js", true),
            ("app.*.js", "/static/app.js", false),
            ("?.txt", "/a.txt", true),
            ("?.txt", "/ab.txt", false),
            ("/assets/**", "/assets/a/b/c.png", true),
            ("/assets/**", "/assets/", true),
            ("/assets/**", "/other/assets/x", false),
            ("/assets/*", "/assets/x.png", true),
            ("/assets/*", "/assets/a/x.png", false),
            ("/**/*.woff2", "/fonts/a/b.woff2", true),
            ("/**/*.woff2", "/b.woff2", true),
            ("/index.html", "/index.html", true),
            ("/index.html", "/a/index.html", false),
            ("*", "/anything", true),
            ("/**", "/", true),
        ];
        for (pattern, path, expected) in table {
            let glob = Glob::new(pattern).unwrap();
            assert_eq!(glob.matches(path), expected, "{pattern} vs {path}");
        }
        assert!(Glob::new("").is_err());
        assert!(Glob::new("/a**/b").is_err());
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let rules = vec![
            HeaderRule {
                pattern: Glob::new("*").unwrap(),
                cache_control: None,
                headers: vec![("X-Frame-Options".into(), "DENY".into())],
            },
            HeaderRule {
                pattern: Glob::new("/assets/**").unwrap(),
                cache_control: Some("public, max-age=31536000, immutable".into()),
                headers: vec![("x-frame-options".into(), "SAMEORIGIN".into())],
            },
        ];
        let applied = apply(&rules, Some("no-cache"), "/assets/app.js");
        assert_eq!(
            applied.cache_control,
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(applied.headers, vec![("x-frame-options", "SAMEORIGIN")]);
        let applied = apply(&rules, Some("no-cache"), "/index.html");
        assert_eq!(applied.cache_control, Some("no-cache"));
        assert_eq!(applied.headers, vec![("X-Frame-Options", "DENY")]);
    }

    #[test]
    fn header_validation() {
        assert!(valid_header_name("Access-Control-Allow-Origin").is_ok());
        assert!(valid_header_name("Bad Name").is_err());
        assert!(valid_header_name("Content-Length").is_err());
        assert!(valid_header_name("").is_err());
        assert!(valid_header_value("a, b; c=\"d\"").is_ok());
        assert!(valid_header_value("a\r\nInjected: 1").is_err());
    }

    #[test]
    fn pathological_globs_finish() {
        let glob = Glob::new("*a*a*a*a*a*a*b").unwrap();
        assert!(!glob.matches(&format!("/{}", "a".repeat(200))));
    }
}
