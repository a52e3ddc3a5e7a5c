//! Configured redirects (`[[http.redirects]]`) and the canonical redirect
//! of clean URLs (`[http] canonical`): which request paths are answered
//! with a `Location` instead of a file, and what that `Location` is. Pure
//! code, run on the event loop before the cache lookup.
//!
//! A `Location` is built so that nothing from the request can choose where
//! it points: the configured `to` fixes the scheme and the authority (it
//! is a path starting with one `/`, or an absolute `http(s)` URL whose
//! authority holds no `{rest}`), the part of the request path put into it
//! is percent-encoded, and a path-form result never starts with `//`
//! (which a browser would take for another host).

use super::path::percent_encode_path;
use super::rules::Glob;

/// The status codes a redirect may use.
pub const STATUSES: [u16; 4] = [301, 302, 307, 308];

/// The placeholder for what the trailing `/**` of `from` matched.
const REST: &str = "{rest}";

/// One `[[http.redirects]]` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    from: Glob,
    /// What `{rest}` is.
    rest: Rest,
    to: String,
    pub status: u16,
}

/// Which key of a redirect entry is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub key: &'static str,
    pub message: String,
}

fn refuse(key: &'static str, message: impl Into<String>) -> RedirectError {
    RedirectError {
        key,
        message: message.into(),
    }
}

impl Redirect {
    /// Checks and compiles an entry.
    ///
    /// # Errors
    /// `from` is not a glob starting with `/`; `to` is neither a path
    /// starting with a single `/` nor an absolute `http(s)` URL, holds
    /// spaces, control or non-ASCII characters, an unknown `{...}`, a
    /// `{rest}` in its authority, or a `{rest}` when `from` does not end in
    /// `/**`; `status` is not 301, 302, 307 or 308.
    pub fn new(from: &str, to: &str, status: u16) -> Result<Redirect, RedirectError> {
        if !from.starts_with('/') {
            return Err(refuse("from", format!("'{from}' must start with '/'")));
        }
        let glob = Glob::new(from).map_err(|e| refuse("from", e))?;
        let rest = match from.strip_suffix("/**") {
            Some("") => Rest::All,
            Some(stem) => Rest::After(Glob::new(stem).map_err(|e| refuse("from", e))?),
            None => Rest::Nothing,
        };
        check_to(to, rest != Rest::Nothing)?;
        if !STATUSES.contains(&status) {
            return Err(refuse(
                "status",
                format!("{status} is not a redirect status (expected 301, 302, 307 or 308)"),
            ));
        }
        Ok(Redirect {
            from: glob,
            rest,
            to: to.to_string(),
            status,
        })
    }

    /// The `Location` for the decoded request `path` (with its leading
    /// `/`) and raw `query`, if this entry matches.
    pub fn location(&self, path: &str, query: Option<&str>) -> Option<String> {
        if !self.from.matches(path) {
            return None;
        }
        let rest = match &self.rest {
            Rest::Nothing => "",
            // `from = "/**"`: everything after the root's slash.
            Rest::All => path.strip_prefix('/').unwrap_or(path),
            Rest::After(stem) => rest_after(stem, path),
        };
        Some(build_location(&self.to, rest, query))
    }
}

/// What `{rest}` stands for in an entry's `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rest {
    /// `from` has no trailing `/**`: `to` may not use `{rest}`.
    Nothing,
    /// `from = "/**"`: the whole path after its leading `/`.
    All,
    /// `from` is this glob plus `/**`.
    After(Glob),
}

/// What the trailing `/**` matched: the text after the shortest prefix
/// ending before a `/` that `stem` matches.
fn rest_after<'a>(stem: &Glob, path: &'a str) -> &'a str {
    for (i, _) in path.match_indices('/') {
        if i > 0 && stem.matches(&path[..i]) {
            return &path[i + 1..];
        }
    }
    ""
}

/// The first redirect of `redirects` (in file order) that matches.
pub fn find(redirects: &[Redirect], path: &str, query: Option<&str>) -> Option<(u16, String)> {
    redirects
        .iter()
        .find_map(|r| r.location(path, query).map(|location| (r.status, location)))
}

/// Checks a `to` value.
fn check_to(to: &str, has_rest: bool) -> Result<(), RedirectError> {
    let bad = |m: &str| Err(refuse("to", format!("'{to}' {m}")));
    if let Some(b) = to.bytes().find(|b| !b.is_ascii_graphic()) {
        let what = if b == b' ' {
            "a space"
        } else {
            "a control or non-ASCII character"
        };
        return bad(&format!("holds {what}: percent-encode it"));
    }
    let without = to.replace(REST, "");
    if without.contains(['{', '}']) {
        return bad("has an unknown placeholder (only {rest} is known)");
    }
    if to.contains(REST) && !has_rest {
        return bad("uses {rest}, but from does not end in '/**'");
    }
    if let Some(after_scheme) = strip_scheme(to) {
        let authority_end = after_scheme
            .find(['/', '?', '#'])
            .unwrap_or(after_scheme.len());
        let authority = &after_scheme[..authority_end];
        if authority.is_empty() || authority.contains(['\\', '@']) {
            return bad("must name a host after the scheme");
        }
        if authority.contains("{rest") {
            return bad("must not put {rest} in the host");
        }
        return Ok(());
    }
    if !to.starts_with('/') || to.starts_with("//") {
        return bad("must be a path starting with a single '/' or an http:// or https:// URL");
    }
    Ok(())
}

/// `to` after `http://` or `https://` (any case), if it starts so.
fn strip_scheme(to: &str) -> Option<&str> {
    ["http://", "https://"].into_iter().find_map(|scheme| {
        to.get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &to[scheme.len()..])
    })
}

/// `to` with `{rest}` filled in (percent-encoded), leading slashes of a
/// path collapsed to one, and the request's `query` joined to `to`'s own.
fn build_location(to: &str, rest: &str, query: Option<&str>) -> String {
    let (to, fragment) = match to.split_once('#') {
        Some((to, fragment)) => (to, Some(fragment)),
        None => (to, None),
    };
    let encoded_rest = percent_encode_path(rest);
    let filled = to.replace(REST, &encoded_rest);
    let mut location = if strip_scheme(&filled).is_some() {
        filled
    } else {
        // `/{rest}` with a rest of `/evil.com` (it cannot have one after
        // the path checks, but this does not rely on them) must stay on
        // this site: `//evil.com` is another host to a browser.
        let trimmed = filled.trim_start_matches('/');
        format!("/{trimmed}")
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str(query);
    }
    if let Some(fragment) = fragment {
        location.push('#');
        location.push_str(fragment);
    }
    location
}

/// The canonical redirect of clean URLs (`[http] canonical`): a request
/// for `/about.html`, when `html` is one of `try_extensions`, goes to
/// `/about`; one for an index file (`/docs/index.html`, `index.html` in
/// `index_files`) goes to its directory (`/docs/`). The query is kept.
/// `None` when the path names no such file. Decided from the path alone:
/// a `name.html` shadowed by a `name` or `name/` is then out of reach.
pub fn canonical_location(
    path: &str,
    query: Option<&str>,
    try_extensions: &[String],
    index_files: &[String],
) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let (stem, extension) = name.rsplit_once('.')?;
    if stem.is_empty() || !try_extensions.iter().any(|e| e == extension) {
        return None;
    }
    let target = if index_files.iter().any(|i| i == name) {
        format!("{dir}/")
    } else {
        format!("{dir}/{stem}")
    };
    let mut location = percent_encode_path(&target);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(query);
    }
    Some(location)
}

/// Whether `[http] fallback` may answer a GET or HEAD of `relative` (the
/// sanitised path) that names nothing: when its last segment has no
/// extension (a route of the app, `/users/42`), or the client asks for
/// HTML (a browser navigating, `/users/j.doe`). A missing `/app.js`
/// fetched by a script stays 404.
pub fn fallback_applies(relative: &str, accepts_html: bool) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    accepts_html || !name.contains('.')
}

#[cfg(test)]
mod tests {
    #[test]
    fn fallback_for_routes_and_navigations() {
        assert!(fallback_applies("users/42", false));
        assert!(fallback_applies("", false));
        assert!(fallback_applies("v1.2/users", false));
        assert!(!fallback_applies("app.js", false));
        assert!(!fallback_applies("assets/logo.png", false));
        assert!(fallback_applies("users/j.doe", true));
    }

    use super::*;

    fn redirect(from: &str, to: &str) -> Redirect {
        Redirect::new(from, to, 301).unwrap()
    }

    #[test]
    fn rest_is_what_the_trailing_double_star_matched() {
        let r = redirect("/old/**", "/new/{rest}");
        let table = [
            ("/old/a/b.html", None, Some("/new/a/b.html")),
            ("/old/", None, Some("/new/")),
            ("/old/a b", None, Some("/new/a%20b")),
            ("/old/x", Some("q=1"), Some("/new/x?q=1")),
            ("/old/x", Some(""), Some("/new/x")),
            ("/old", None, None),
            ("/older/x", None, None),
            ("/other/old/x", None, None),
        ];
        for (path, query, expected) in table {
            assert_eq!(r.location(path, query).as_deref(), expected, "{path}");
        }
    }

    #[test]
    fn wildcards_before_the_rest() {
        let r = redirect("/*/legacy/**", "https://example.com/archive/{rest}");
        assert_eq!(
            r.location("/en/legacy/a/b", None).as_deref(),
            Some("https://example.com/archive/a/b")
        );
        let all = redirect("/**", "https://example.com/{rest}");
        assert_eq!(
            all.location("/x/y", Some("a=1")).as_deref(),
            Some("https://example.com/x/y?a=1")
        );
    }

    #[test]
    fn the_query_joins_the_targets_own() {
        let r = redirect("/search", "/find?src=old#top");
        assert_eq!(
            r.location("/search", Some("q=rust")).as_deref(),
            Some("/find?src=old&q=rust#top")
        );
        assert_eq!(
            r.location("/search", None).as_deref(),
            Some("/find?src=old#top")
        );
    }

    #[test]
    fn request_input_never_leaves_the_site() {
        let r = redirect("/**", "/{rest}");
        for path in [
            "//evil.com",
            "///evil.com/x",
            "/\\evil.com",
            "/%2f%2fevil.com",
        ] {
            let location = r.location(path, None).unwrap();
            assert!(location.starts_with('/'), "{path} -> {location}");
            assert!(!location.starts_with("//"), "{path} -> {location}");
            assert!(!location.contains('\\'), "{path} -> {location}");
        }
        assert_eq!(r.location("//evil.com", None).as_deref(), Some("/evil.com"));
        // Characters that would end the path or start a userinfo are escaped.
        let r = redirect("/go/**", "https://example.com/{rest}");
        assert_eq!(
            r.location("/go/@evil.com?#", None).as_deref(),
            Some("https://example.com/%40evil.com%3F%23")
        );
    }

    #[test]
    fn first_match_wins() {
        let redirects = vec![
            redirect("/a/**", "/first/{rest}"),
            Redirect::new("/a/b", "/second", 302).unwrap(),
        ];
        assert_eq!(
            find(&redirects, "/a/b", None),
            Some((301, "/first/b".to_string()))
        );
        assert_eq!(find(&redirects, "/b", None), None);
    }

    #[test]
    fn bad_entries_name_their_key() {
        let table = [
            ("old/**", "/new", 301, "from"),
            ("/a**b", "/new", 301, "from"),
            ("/old/**", "new/{rest}", 301, "to"),
            ("/old/**", "//evil.com/{rest}", 301, "to"),
            ("/old/**", "javascript:alert(1)", 301, "to"),
            ("/old/**", "ftp://host/x", 301, "to"),
            ("/old/**", "https://{rest}", 301, "to"),
            ("/old/**", "https:///x", 301, "to"),
            ("/old/**", "/new/{path}", 301, "to"),
            ("/old/**", "/new path", 301, "to"),
            ("/old/**", "/new\r\nX: 1", 301, "to"),
            ("/old", "/new/{rest}", 301, "to"),
            ("/old/**", "/new", 303, "status"),
            ("/old/**", "/new", 200, "status"),
        ];
        for (from, to, status, key) in table {
            let error = Redirect::new(from, to, status).unwrap_err();
            assert_eq!(error.key, key, "{from} {to:?} {status}: {}", error.message);
        }
        for status in STATUSES {
            assert!(Redirect::new("/a", "https://example.com/b", status).is_ok());
        }
    }

    #[test]
    fn canonical_strips_the_tried_extension() {
        let exts = vec!["html".to_string()];
        let index = vec!["index.html".to_string()];
        let table = [
            ("/about.html", None, Some("/about")),
            ("/a/b.html", Some("x=1"), Some("/a/b?x=1")),
            ("/index.html", None, Some("/")),
            ("/docs/index.html", None, Some("/docs/")),
            ("/caf\u{e9}.html", None, Some("/caf%C3%A9")),
            ("/about", None, None),
            ("/style.css", None, None),
            ("/.html", None, None),
            ("/a.html/", None, None),
        ];
        for (path, query, expected) in table {
            assert_eq!(
                canonical_location(path, query, &exts, &index).as_deref(),
                expected,
                "{path}"
            );
        }
        assert_eq!(canonical_location("/about.html", None, &[], &index), None);
    }
}
