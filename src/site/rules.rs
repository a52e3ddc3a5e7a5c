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
    /// The literal bytes before the first wildcard and after the last one:
    /// checked first, so most paths are told apart without [`glob_match`].
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// The steps between them.
    middle: Vec<Token>,
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
        let mut middle = tokenize(pattern.as_bytes());
        let literal = |token: &Token| match token {
            Token::Byte(c) => Some(*c),
            _ => None,
        };
        let prefix: Vec<u8> = middle.iter().map_while(literal).collect();
        middle.drain(..prefix.len());
        // The `/` of `**/` stays with its `**`, which may skip it.
        let mut suffix_len = middle
            .iter()
            .rev()
            .take_while(|t| literal(t).is_some())
            .count();
        let first_of_suffix = middle.len() - suffix_len;
        if suffix_len > 0 && first_of_suffix > 0 && middle[first_of_suffix - 1] == Token::DoubleStar
        {
            suffix_len -= 1;
        }
        let suffix: Vec<u8> = middle
            .drain(middle.len() - suffix_len..)
            .filter_map(|t| literal(&t))
            .collect();
        Ok(Glob {
            pattern: pattern.to_string(),
            prefix,
            suffix,
            middle,
            whole_path: pattern.contains('/'),
        })
    }

    /// Whether the decoded request path (with its leading `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.as_bytes();
        let text = match path.iter().rposition(|&b| b == b'/') {
            Some(slash) if !self.whole_path => &path[slash + 1..],
            _ => path,
        };
        self.matches_text(text)
    }

    /// Whether the pattern matches all of `text`.
    fn matches_text(&self, text: &[u8]) -> bool {
        if text.len() < self.prefix.len() + self.suffix.len()
            || !same_bytes(&text[..self.prefix.len()], &self.prefix)
            || !same_bytes(&text[text.len() - self.suffix.len()..], &self.suffix)
        {
            return false;
        }
        let text = &text[self.prefix.len()..text.len() - self.suffix.len()];
        // The common shapes (`*.css`, `/assets/**`) need no table.
        match self.middle.as_slice() {
            [] => return text.is_empty(),
            [Token::Star] => return !text.contains(&b'/'),
            [Token::DoubleStar] => return true,
            _ => {}
        }
        glob_match(&self.middle, text)
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// Byte by byte: these are a few bytes long, and a call to `memcmp` (what
/// `starts_with` becomes) costs more than the comparison itself.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// One step of a glob, as [`glob_match`] walks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A byte that must appear as it is.
    Byte(u8),
    /// `?`: any one byte but `/`.
    One,
    /// `*`: any run of bytes within one segment.
    Star,
    /// `**`: any run of bytes, `/` included.
    DoubleStar,
}

/// The texts up to this length are matched with rows on the stack: request
/// paths are short, and a hit must not allocate.
const STACK_TEXT: usize = 255;

/// Glob matching by dynamic programming over (pattern step, text position),
/// one row per step from the pattern's end back to its start: time is
/// pattern length × text length whatever the stars, since a star's choice
/// (match nothing more, or one more byte) refers to its neighbours in the
/// table instead of trying every split again. Only the rows of the next two
/// steps are kept.
#[inline(never)] // Keeps its stack rows out of the fast paths above.
fn glob_match(tokens: &[Token], text: &[u8]) -> bool {
    let width = text.len() + 1;
    let mut on_stack = [false; 3 * (STACK_TEXT + 1)];
    let mut on_heap = Vec::new();
    let rows: &mut [bool] = if width <= STACK_TEXT + 1 {
        &mut on_stack[..3 * width]
    } else {
        on_heap.resize(3 * width, false);
        &mut on_heap
    };
    // Row `step` lives at `row(step)`: whether the pattern from that step
    // on matches the text from each position on. Past the last step, only
    // the empty rest of the text matches.
    let row = |step: usize| (step % 3) * width;
    let end = row(tokens.len());
    rows[end..end + width].fill(false);
    rows[end + text.len()] = true;
    for (step, &token) in tokens.iter().enumerate().rev() {
        let (here, next, after_next) = (row(step), row(step + 1), row(step + 2));
        // `**/` also matches no segment at all: the `/` is skipped too.
        let skip_slash =
            token == Token::DoubleStar && tokens.get(step + 1) == Some(&Token::Byte(b'/'));
        // Whether `**` followed by the rest matches from `t + 1` on. It is
        // not row `step` itself: the `/` of `**/` may be skipped only where
        // `**` starts, not after it has taken bytes.
        let mut double_star_from_next = false;
        // Right to left, so that a star's "one more byte" is known. Every
        // `t + 1` below is read only when a byte exists at `t`.
        for t in (0..width).rev() {
            let byte = text.get(t).copied();
            let in_segment = byte.is_some_and(|b| b != b'/');
            rows[here + t] = match token {
                Token::Byte(c) => byte == Some(c) && rows[next + t + 1],
                Token::One => in_segment && rows[next + t + 1],
                Token::Star => rows[next + t] || (in_segment && rows[here + t + 1]),
                Token::DoubleStar => {
                    let any_run = rows[next + t] || (byte.is_some() && double_star_from_next);
                    double_star_from_next = any_run;
                    any_run || (skip_slash && rows[after_next + t])
                }
            };
        }
    }
    rows[row(0)]
}

/// The steps of a pattern.
fn tokenize(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        let token = match pattern[i] {
            b'*' if pattern.get(i + 1) == Some(&b'*') => {
                i += 1;
                Token::DoubleStar
            }
            b'*' => Token::Star,
            b'?' => Token::One,
            c => Token::Byte(c),
        };
        tokens.push(token);
        i += 1;
    }
    tokens
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

    /// The glob rules written the obvious way: exponential, so only for
    /// short inputs.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        if pattern.is_empty() {
            return text.is_empty();
        }
        if let Some(rest) = pattern.strip_prefix(b"**") {
            if rest.first() == Some(&b'/') && reference(&rest[1..], text) {
                return true;
            }
            return (0..=text.len()).any(|i| reference(rest, &text[i..]));
        }
        let (first, rest) = (pattern[0], &pattern[1..]);
        match first {
            b'*' => {
                let segment = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
                (0..=segment).any(|i| reference(rest, &text[i..]))
            }
            b'?' => text.first().is_some_and(|&b| b != b'/') && reference(rest, &text[1..]),
            c => text.first() == Some(&c) && reference(rest, &text[1..]),
        }
    }

    #[test]
    fn the_matcher_agrees_with_the_obvious_definition() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as usize
        };
        let pieces = ["a", "b", "/", "*", "?", "**"];
        let (mut checked, mut matched) = (0, 0);
        while checked < 20_000 {
            let pattern: String = (0..1 + next(7)).map(|_| pieces[next(6)]).collect();
            let Ok(glob) = Glob::new(&pattern) else {
                continue;
            };
            let text: Vec<u8> = (0..next(11)).map(|_| b"ab/"[next(3)]).collect();
            let expected = reference(pattern.as_bytes(), &text);
            assert_eq!(
                glob.matches_text(&text),
                expected,
                "{pattern} vs {}",
                String::from_utf8_lossy(&text)
            );
            checked += 1;
            matched += usize::from(expected);
        }
        // Both outcomes were exercised, not just one.
        assert!(matched > 1_000 && matched < 19_000, "{matched} matches");
    }

    #[test]
    fn texts_longer_than_the_stack_rows_match_too() {
        let long = format!("/{}/x.png", "d/".repeat(400));
        assert!(Glob::new("/**/*.png").unwrap().matches(&long));
        assert!(Glob::new("*.png").unwrap().matches(&long));
        assert!(!Glob::new("/**/*.jpg").unwrap().matches(&long));
        assert!(!Glob::new("*-*-*.png")
            .unwrap()
            .matches(&format!("/{}", "-".repeat(8000))));
    }

    #[test]
    fn pathological_globs_finish() {
        let glob = Glob::new("*a*a*a*a*a*a*b").unwrap();
        assert!(!glob.matches(&format!("/{}", "a".repeat(200))));
    }
}
