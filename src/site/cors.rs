//! Cross-origin resource sharing (`[http.cors]`): which origins may read
//! the site from scripts, the header fields that say so, and the answer to
//! a preflight. Pure code, applied per request on the event loop, never
//! baked into a cached response head: `Access-Control-Allow-Origin` depends
//! on the request's `Origin`.

use std::fmt::Write as _;

/// The checked `[http.cors]` section; present only when some origin is
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `None`: any origin (`"*"`); else the origins allowed, as configured.
    origins: Option<Vec<String>>,
    /// `Access-Control-Allow-Methods`, joined.
    methods: String,
    /// `Access-Control-Allow-Headers`, joined; `None` when empty.
    headers: Option<String>,
    /// `Access-Control-Expose-Headers`, joined; `None` when empty.
    expose: Option<String>,
    /// `Access-Control-Max-Age`, rendered.
    max_age: String,
}

/// The methods a preflight may be told about: those wharf answers.
const METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

impl Cors {
    /// Checks the section's values. `None` when no origin is allowed (CORS
    /// off). Each error names the key it is about.
    ///
    /// # Errors
    /// `(key, message)`: an origin that is not `*` or `scheme://host[:port]`,
    /// `*` with other origins, a method wharf does not serve, a header
    /// name that is not a token.
    pub fn new(
        origins: &[String],
        methods: &[String],
        headers: &[String],
        expose: &[String],
        max_age_secs: u64,
    ) -> Result<Option<Cors>, (&'static str, String)> {
        if origins.is_empty() {
            return Ok(None);
        }
        let any = origins.iter().any(|o| o == "*");
        if any && origins.len() > 1 {
            return Err(("allow_origins", "\"*\" must be the only origin".into()));
        }
        if !any {
            if let Some(bad) = origins.iter().find(|o| !valid_origin(o)) {
                return Err((
                    "allow_origins",
                    format!("'{bad}' is not an origin like \"https://example.com\" (scheme, host and port only, no path or trailing '/')"),
                ));
            }
        }
        if let Some(bad) = methods
            .iter()
            .find(|m| !METHODS.contains(&m.to_ascii_uppercase().as_str()))
        {
            return Err((
                "allow_methods",
                format!("'{bad}' is not one of the methods wharf serves (GET, HEAD, OPTIONS)"),
            ));
        }
        for (key, names) in [("allow_headers", headers), ("expose_headers", expose)] {
            if let Some(bad) = names.iter().find(|n| !is_token(n)) {
                return Err((key, format!("'{bad}' is not a header name")));
            }
        }
        let join = |items: &[String]| (!items.is_empty()).then(|| items.join(", "));
        Ok(Some(Cors {
            origins: (!any).then(|| origins.to_vec()),
            methods: methods
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(", "),
            headers: join(headers),
            expose: join(expose),
            max_age: max_age_secs.to_string(),
        }))
    }

    /// The `Access-Control-Allow-Origin` value for a request from
    /// `origin`: `*`, or the configured origin it equals (compared without
    /// regard to case: the configured spelling is sent, never the
    /// request's bytes). `None`: no origin sent, or not allowed.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<&str> {
        let origin = origin?;
        match &self.origins {
            None => Some("*"),
            Some(list) => list
                .iter()
                .find(|o| o.eq_ignore_ascii_case(origin))
                .map(String::as_str),
        }
    }

    /// Appends the fields every response to a request from `origin` gets
    /// (`name: value\r\n` each): `Vary: Origin` whenever the answer depends
    /// on the origin (a list, not `*`: also when the request sent none, so
    /// a shared cache does not give one origin's answer to another), and
    /// for an allowed origin `Access-Control-Allow-Origin` and
    /// `Access-Control-Expose-Headers`.
    pub fn response_fields(&self, origin: Option<&str>, out: &mut String) {
        if self.origins.is_some() {
            out.push_str("Vary: Origin\r\n");
        }
        let Some(allowed) = self.allow_origin(origin) else {
            return;
        };
        let _ = write!(out, "Access-Control-Allow-Origin: {allowed}\r\n");
        if let Some(expose) = &self.expose {
            let _ = write!(out, "Access-Control-Expose-Headers: {expose}\r\n");
        }
    }

    /// The fields a preflight from an allowed origin gets besides
    /// [`Cors::response_fields`].
    pub fn preflight_fields(&self) -> Vec<(&str, &str)> {
        let mut fields = vec![
            ("Access-Control-Allow-Methods", self.methods.as_str()),
            ("Access-Control-Max-Age", self.max_age.as_str()),
        ];
        if let Some(headers) = &self.headers {
            fields.push(("Access-Control-Allow-Headers", headers));
        }
        fields
    }
}

/// `scheme://host[:port]`, with nothing after the authority.
fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
    })
}

/// An RFC 9110 token.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn cors(origins: &[&str]) -> Cors {
        Cors::new(
            &strings(origins),
            &strings(&["GET", "HEAD", "OPTIONS"]),
            &strings(&["Content-Type"]),
            &strings(&["ETag"]),
            600,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn any_origin() {
        let c = cors(&["*"]);
        assert_eq!(c.allow_origin(Some("https://a.example")), Some("*"));
        assert_eq!(c.allow_origin(None), None);
        let mut out = String::new();
        c.response_fields(Some("https://a.example"), &mut out);
        assert_eq!(
            out,
            "Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: ETag\r\n"
        );
        out.clear();
        c.response_fields(None, &mut out);
        assert_eq!(out, "");
    }

    #[test]
    fn listed_origins_are_echoed_with_vary() {
        let c = cors(&["https://app.example", "http://localhost:3000"]);
        assert_eq!(
            c.allow_origin(Some("HTTPS://APP.example")),
            Some("https://app.example")
        );
        assert_eq!(c.allow_origin(Some("https://evil.example")), None);
        assert_eq!(c.allow_origin(Some("https://app.example.evil")), None);
        assert_eq!(c.allow_origin(Some("null")), None);
        let mut out = String::new();
        c.response_fields(Some("https://evil.example"), &mut out);
        assert_eq!(out, "Vary: Origin\r\n");
        out.clear();
        c.response_fields(Some("http://localhost:3000"), &mut out);
        assert!(out.contains("Access-Control-Allow-Origin: http://localhost:3000\r\n"));
    }

    #[test]
    fn preflight_fields() {
        let c = cors(&["*"]);
        assert_eq!(
            c.preflight_fields(),
            vec![
                ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
                ("Access-Control-Max-Age", "600"),
                ("Access-Control-Allow-Headers", "Content-Type"),
            ]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let ok = strings(&["GET"]);
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a str);
        let table: [Case; 7] = [
            (&["*", "https://a.example"], &["GET"], &[], "allow_origins"),
            (&["https://a.example/"], &["GET"], &[], "allow_origins"),
            (&["a.example"], &["GET"], &[], "allow_origins"),
            (&["https://a.example/path"], &["GET"], &[], "allow_origins"),
            (&["https://a\r\nX: 1"], &["GET"], &[], "allow_origins"),
            (&["*"], &["POST"], &[], "allow_methods"),
            (&["*"], &["GET"], &["Bad Name"], "allow_headers"),
        ];
        for (origins, methods, headers, key) in table {
            let error = Cors::new(
                &strings(origins),
                &strings(methods),
                &strings(headers),
                &[],
                600,
            )
            .unwrap_err();
            assert_eq!(error.0, key, "{origins:?}: {}", error.1);
        }
        assert_eq!(Cors::new(&[], &ok, &[], &[], 600), Ok(None));
    }
}
