//! Validators and conditional requests (RFC 9110 sections 8.8 and 13).
//!
//! Pure code: no IO, no allocation while evaluating (only [`etag`] builds a
//! string). Everything here reads untrusted header bytes and never panics.
//!
//! # Interpretation choices
//!
//! - Field values are trimmed of leading and trailing SP / HTAB first. A
//!   header sent on several lines should be joined with `, ` by the caller
//!   (entity-tag lists are list-based fields; a joined date simply fails to
//!   parse and is then ignored, as RFC 9110 section 13.1.3 requires for a
//!   date "list").
//! - Entity-tag lists follow `"*" / #entity-tag` strictly: `W/` is
//!   case-sensitive, `etagc` excludes `"`, SP and controls, and `*` must be
//!   alone. Empty list elements are skipped (RFC 9110 section 5.6.1.2); an
//!   empty value is a valid list of zero tags, which matches nothing.
//! - A malformed `If-None-Match` is ignored, i.e. treated as absent (so
//!   `If-Modified-Since` is then evaluated); a malformed `If-Match` fails
//!   safe: 412.
//! - Dates go through `httpdate`, which accepts IMF-fixdate, RFC 850 and
//!   asctime, but only years 1970 to 9999 and only a weekday that matches
//!   the date. Anything else (non-UTF-8, missing `GMT`, `yesterday`, empty,
//!   5-digit years, pre-1970 dates) is an invalid date, and a precondition
//!   with an invalid date is ignored.
//! - Last-Modified is clamped to the server's clock: RFC 9110 section
//!   8.8.2.1 says a modification time in the future MUST be replaced by the
//!   message origination time. See [`effective_last_modified`].
//! - An `If-Modified-Since` later than the server's clock is ignored (full
//!   200). RFC 9110 only says the date is interpreted against the origin
//!   server's clock; RFC 2616 section 14.25 called such a date invalid, and
//!   Apache ignores it too. Honouring it would let a client with a skewed
//!   clock (or a far-future date) get 304s for changes it has never seen.
//!   `If-Unmodified-Since` in the future needs no special case: the file was
//!   not modified after it, so the request proceeds.

use super::trim_ows;
use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

/// A strong entity-tag for a file, quoted: `"<mtime secs>-<mtime nanos>-<len>"`
/// in lowercase hex, plus `-<variant>` for a precompressed variant
/// (e.g. `Some("br")` gives `"…-br"`).
///
/// Built only from size and modification time (with nanoseconds), never from
/// inode or device numbers, so it is stable across restarts, machines and
/// copies that preserve mtime. For a precompressed sidecar, pass the
/// sidecar's own size and mtime and the variant. Characters of `variant`
/// that are not allowed in an entity-tag (`"`, space, controls, non-ASCII)
/// are dropped.
pub fn etag(len: u64, mtime_secs: u64, mtime_nanos: u32, variant: Option<&str>) -> String {
    // Room for the longest tag without a variant, so one allocation.
    let mut tag = String::with_capacity(56);
    let _ = write!(tag, "\"{mtime_secs:x}-{mtime_nanos:x}-{len:x}");
    if let Some(variant) = variant {
        tag.push('-');
        tag.extend(
            variant
                .chars()
                .filter(|&c| c.is_ascii_graphic() && c != '"'),
        );
    }
    tag.push('"');
    tag
}

/// The `Last-Modified` time to send and compare: the file's mtime, clamped
/// to `now_secs` (RFC 9110 section 8.8.2.1).
pub fn effective_last_modified(mtime_secs: u64, now_secs: u64) -> u64 {
    mtime_secs.min(now_secs)
}

/// Parses an HTTP-date field value (IMF-fixdate, RFC 850 or asctime) to Unix
/// seconds. `None` if not UTF-8 or not a valid date (see the module docs).
pub fn parse_http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// One entity-tag: `W/"opaque"` or `"opaque"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// Whether it had the `W/` prefix.
    pub weak: bool,
    /// The characters between the quotes (may include obs-text bytes).
    pub opaque: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Parses exactly one entity-tag (surrounding SP / HTAB allowed).
    pub fn parse(value: &'a [u8]) -> Option<EntityTag<'a>> {
        let mut rest = trim_ows(value);
        let tag = take_tag(&mut rest)?;
        rest.is_empty().then_some(tag)
    }

    /// Strong comparison (RFC 9110 section 8.8.3.2): both strong and the
    /// opaque parts identical.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: the opaque parts identical, weakness ignored.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }
}

/// A parsed `If-Match` / `If-None-Match` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagList<'a> {
    /// `*`
    Any,
    /// A (possibly empty) list of entity-tags, validated; iterate with
    /// [`TagList::tags`].
    Tags(Tags<'a>),
}

impl<'a> TagList<'a> {
    /// Parses `"*" / #entity-tag`. `None` if malformed anywhere.
    pub fn parse(value: &'a [u8]) -> Option<TagList<'a>> {
        let value = trim_ows(value);
        if value == b"*" {
            return Some(TagList::Any);
        }
        let tags = Tags { rest: value };
        // Validate the whole list up front so iteration cannot fail.
        let mut check = tags;
        loop {
            match next_list_tag(&mut check.rest) {
                Ok(Some(_)) => {}
                Ok(None) => return Some(TagList::Tags(tags)),
                Err(()) => return None,
            }
        }
    }

    /// The tags of the list; empty for `*`.
    pub fn tags(&self) -> Tags<'a> {
        match self {
            TagList::Any => Tags { rest: b"" },
            TagList::Tags(tags) => *tags,
        }
    }

    /// Whether `tag` matches by strong comparison; `*` matches any tag
    /// (the representation exists).
    pub fn matches_strong(&self, tag: &EntityTag) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags.into_iter().any(|t| t.strong_eq(tag)),
        }
    }

    /// Whether `tag` matches by weak comparison; `*` matches any tag.
    pub fn matches_weak(&self, tag: &EntityTag) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags.into_iter().any(|t| t.weak_eq(tag)),
        }
    }
}

/// Iterator over the entity-tags of a validated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tags<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Tags<'a> {
    type Item = EntityTag<'a>;

    fn next(&mut self) -> Option<EntityTag<'a>> {
        // The list was validated; an error here cannot happen but ends the
        // iteration rather than panicking.
        next_list_tag(&mut self.rest).ok().flatten()
    }
}

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validators<'a> {
    /// The `ETag` value as sent, quotes included (from [`etag`]).
    pub etag: &'a str,
    /// The `Last-Modified` time as sent, in Unix seconds (from
    /// [`effective_last_modified`]).
    pub last_modified_secs: u64,
}

/// The raw values of the conditional request headers (`None` if absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    /// Not used by [`evaluate`]; see [`Conditions::range_allowed`].
    pub if_range: Option<&'a [u8]>,
}

impl Conditions<'_> {
    /// Step 5 of RFC 9110 section 13.2.2, for a GET with a `Range` header
    /// after [`evaluate`] returned [`Outcome::Proceed`]: whether the range
    /// may be honoured. True without `If-Range`, else [`if_range_allows`].
    pub fn range_allowed(&self, v: &Validators) -> bool {
        self.if_range.is_none_or(|value| if_range_allows(value, v))
    }
}

/// The result of evaluating the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Perform the request normally (200, or 206 if a range applies).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// Evaluates the preconditions in the order of RFC 9110 section 13.2.2:
///
/// 1. `If-Match` present: false (strong comparison; `*` is true because the
///    file exists; malformed is false) gives 412.
/// 2. Otherwise `If-Unmodified-Since` with a valid date: Last-Modified later
///    than the date gives 412. Invalid dates are ignored.
/// 3. `If-None-Match` present and well-formed: a match (weak comparison;
///    `*` matches) gives 304 for GET/HEAD, 412 otherwise. No match (even
///    with an empty list) skips step 4; a malformed value counts as absent.
/// 4. Otherwise, for GET/HEAD, `If-Modified-Since` with a valid date not
///    later than `now_secs`: Last-Modified not later than the date gives 304.
/// 5. Proceed (the caller then checks [`Conditions::range_allowed`]).
///
/// Last-Modified is clamped to `now_secs` first. The caller must skip this
/// (RFC 9110 section 13.2.1) when the response without conditions would not
/// be 2xx, e.g. for a 404 or a redirect.
pub fn evaluate(
    conds: &Conditions,
    v: &Validators,
    is_get_or_head: bool,
    now_secs: u64,
) -> Outcome {
    // Parsed only for a request that compares tags: most send none.
    let own = || EntityTag::parse(v.etag.as_bytes());
    let last_modified = effective_last_modified(v.last_modified_secs, now_secs);

    if let Some(value) = conds.if_match {
        let pass = match TagList::parse(value) {
            Some(TagList::Any) => true,
            Some(list) => own().is_some_and(|own| list.matches_strong(&own)),
            None => false,
        };
        if !pass {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(date) = conds.if_unmodified_since.and_then(parse_http_date) {
        if last_modified > date {
            return Outcome::PreconditionFailed;
        }
    }

    if let Some(list) = conds.if_none_match.and_then(TagList::parse) {
        let matched = match list {
            TagList::Any => true,
            list => own().is_some_and(|own| list.matches_weak(&own)),
        };
        if matched {
            return if is_get_or_head {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if is_get_or_head {
        if let Some(date) = conds.if_modified_since.and_then(parse_http_date) {
            if date <= now_secs && last_modified <= date {
                return Outcome::NotModified;
            }
        }
    }

    Outcome::Proceed
}

/// Whether an `If-Range` value lets a `Range` be honoured (RFC 9110 section
/// 13.1.5). An entity-tag (recognised by a leading `"` or `W/`) must match
/// `v.etag` by strong comparison, so a weak tag never matches; a date must
/// equal `v.last_modified_secs` exactly. Anything malformed is false: the
/// full representation is sent with 200.
pub fn if_range_allows(if_range: &[u8], v: &Validators) -> bool {
    let value = trim_ows(if_range);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let (Some(theirs), Some(own)) =
            (EntityTag::parse(value), EntityTag::parse(v.etag.as_bytes()))
        else {
            return false;
        };
        theirs.strong_eq(&own)
    } else {
        parse_http_date(value) == Some(v.last_modified_secs)
    }
}

/// Takes the next non-empty element of an entity-tag list, consuming the
/// separating comma. `Ok(None)` at the end, `Err` if malformed.
fn next_list_tag<'a>(rest: &mut &'a [u8]) -> Result<Option<EntityTag<'a>>, ()> {
    loop {
        *rest = trim_ows(rest);
        match rest {
            [] => return Ok(None),
            [b',', tail @ ..] => *rest = tail,
            _ => break,
        }
    }
    let tag = take_tag(rest).ok_or(())?;
    *rest = trim_ows(rest);
    match rest {
        [] => {}
        [b',', tail @ ..] => *rest = tail,
        _ => return Err(()),
    }
    Ok(Some(tag))
}

/// Takes one `[W/]"etagc*"` from the front of `rest`.
fn take_tag<'a>(rest: &mut &'a [u8]) -> Option<EntityTag<'a>> {
    let (weak, quoted) = match rest.strip_prefix(b"W/") {
        Some(tail) => (true, tail),
        None => (false, *rest),
    };
    let body = quoted.strip_prefix(b"\"")?;
    let close = body.iter().position(|&b| b == b'"')?;
    let opaque = &body[..close];
    if !opaque
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    *rest = &body[close + 1..];
    Some(EntityTag { weak, opaque })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT
    const T: u64 = 784_111_777;
    const T_IMF: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const NOW: u64 = 1_700_000_000;

    fn tag(weak: bool, opaque: &str) -> EntityTag<'_> {
        EntityTag {
            weak,
            opaque: opaque.as_bytes(),
        }
    }

    #[test]
    fn etag_format() {
        assert_eq!(etag(0, 0, 0, None), "\"0-0-0\"");
        assert_eq!(
            etag(4096, 1_700_000_000, 123_456_789, None),
            "\"6553f100-75bcd15-1000\""
        );
        assert_eq!(etag(1, 2, 3, Some("br")), "\"2-3-1-br\"");
        assert_eq!(etag(1, 2, 3, Some("gz")), "\"2-3-1-gz\"");
        assert_eq!(etag(1, 2, 3, Some("zst")), "\"2-3-1-zst\"");
        assert_eq!(etag(1, 2, 3, Some("a\"b c\u{e9}\n")), "\"2-3-1-abc\"");
        assert_eq!(
            etag(u64::MAX, u64::MAX, u32::MAX, None),
            "\"ffffffffffffffff-ffffffff-ffffffffffffffff\""
        );
        // Sub-second changes and variants give distinct tags.
        assert_ne!(etag(1, 2, 3, None), etag(1, 2, 4, None));
        assert_ne!(etag(1, 2, 3, None), etag(1, 2, 3, Some("gz")));
        // Every generated tag is a valid strong entity-tag.
        for t in [
            etag(7, 8, 9, None),
            etag(7, 8, 9, Some("br")),
            etag(7, 8, 9, Some("\"")),
        ] {
            let parsed = EntityTag::parse(t.as_bytes()).expect("valid etag");
            assert!(!parsed.weak, "{t}");
        }
    }

    /// A parsed list as (weak, opaque) pairs; `*` is `[(false, "*")]`.
    type Parsed = Option<Vec<(bool, String)>>;

    fn parse_list(value: &str) -> Parsed {
        match TagList::parse(value.as_bytes())? {
            TagList::Any => Some(vec![(false, "*".to_string())]),
            list => Some(
                list.tags()
                    .map(|t| (t.weak, String::from_utf8_lossy(t.opaque).into_owned()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn tag_list_table() {
        let w = |s: &str| (true, s.to_string());
        let s = |s: &str| (false, s.to_string());
        let cases: Vec<(&str, Parsed)> = vec![
            ("*", Some(vec![s("*")])),
            ("  *\t", Some(vec![s("*")])),
            ("\"a\"", Some(vec![s("a")])),
            ("W/\"a\"", Some(vec![w("a")])),
            ("W/\"a\", \"b\"", Some(vec![w("a"), s("b")])),
            ("\"a\",\"b\"", Some(vec![s("a"), s("b")])),
            ("\"a\" , W/\"b\"", Some(vec![s("a"), w("b")])),
            ("\"a\",\t\"b\" ,\"c\"", Some(vec![s("a"), s("b"), s("c")])),
            ("\"\"", Some(vec![s("")])),
            ("W/\"\"", Some(vec![w("")])),
            ("\"a,b\"", Some(vec![s("a,b")])),
            ("\"*\"", Some(vec![s("*")])),
            ("\"!#~\"", Some(vec![s("!#~")])),
            ("\"a\",", Some(vec![s("a")])),
            (",\"a\"", Some(vec![s("a")])),
            ("\"a\",,\"b\"", Some(vec![s("a"), s("b")])),
            ("\"a\", ,\"b\"", Some(vec![s("a"), s("b")])),
            ("", Some(vec![])),
            ("   ", Some(vec![])),
            (",", Some(vec![])),
            // Malformed.
            ("garbage", None),
            ("a", None),
            ("\"a", None),
            ("\"a\"b", None),
            ("\"a\" \"b\"", None),
            ("\"a\"W/\"b\"", None),
            ("w/\"a\"", None),
            ("W/a", None),
            ("W/ \"a\"", None),
            ("W/", None),
            ("*, \"a\"", None),
            ("\"a\", *", None),
            ("**", None),
            ("\"a b\"", None),
            ("\"a\tb\"", None),
            ("'a'", None),
            ("\"a\"\r\n", None),
            ("\"a\", \"b", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_list(value), expected, "{value:?}");
        }
    }

    #[test]
    fn tag_list_accepts_obs_text_and_rejects_controls() {
        let list = TagList::parse(b"\"caf\xc3\xa9\", \"\xff\"").expect("obs-text is valid");
        assert_eq!(list.tags().count(), 2);
        assert_eq!(TagList::parse(b"\"a\x00b\""), None);
        assert_eq!(TagList::parse(b"\"a\x7fb\""), None);
    }

    #[test]
    fn comparison_table() {
        // RFC 9110 section 8.8.3.2.
        let cases = [
            (tag(true, "1"), tag(true, "1"), false, true),
            (tag(true, "1"), tag(true, "2"), false, false),
            (tag(true, "1"), tag(false, "1"), false, true),
            (tag(false, "1"), tag(false, "1"), true, true),
            (tag(false, "1"), tag(false, "2"), false, false),
        ];
        for (a, b, strong, weak) in cases {
            assert_eq!(a.strong_eq(&b), strong, "{a:?} {b:?}");
            assert_eq!(b.strong_eq(&a), strong, "{b:?} {a:?}");
            assert_eq!(a.weak_eq(&b), weak, "{a:?} {b:?}");
            assert_eq!(b.weak_eq(&a), weak, "{b:?} {a:?}");
        }
    }

    #[test]
    fn entity_tag_parse() {
        assert_eq!(EntityTag::parse(b" \"x\" "), Some(tag(false, "x")));
        assert_eq!(EntityTag::parse(b"W/\"x\""), Some(tag(true, "x")));
        assert_eq!(EntityTag::parse(b"\"x\",\"y\""), None);
        assert_eq!(EntityTag::parse(b"\"x"), None);
        assert_eq!(EntityTag::parse(b""), None);
    }

    #[test]
    fn list_matching() {
        let own = tag(false, "v1");
        let list = |s: &'static str| TagList::parse(s.as_bytes()).expect("valid");
        assert!(list("*").matches_strong(&own));
        assert!(list("*").matches_weak(&own));
        assert!(list("\"v0\", \"v1\"").matches_strong(&own));
        assert!(!list("W/\"v1\"").matches_strong(&own));
        assert!(list("W/\"v1\"").matches_weak(&own));
        assert!(!list("\"v2\"").matches_weak(&own));
        assert!(!list("").matches_weak(&own));
    }

    #[test]
    fn date_parsing_table() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (T_IMF.as_bytes(), Some(T)),
            (b"  Sun, 06 Nov 1994 08:49:37 GMT  ", Some(T)),
            (b"Sunday, 06-Nov-94 08:49:37 GMT", Some(T)),
            (b"Sun Nov  6 08:49:37 1994", Some(T)),
            (b"Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            (b"Fri, 31 Dec 9999 23:59:59 GMT", Some(253_402_300_799)),
            (b"Sun, 06 Nov 1994 08:49:37", None),
            (b"Sun, 06 Nov 1994 08:49:37 UTC", None),
            (b"Mon, 06 Nov 1994 08:49:37 GMT", None),
            (b"Sun, 06 Nov 1994 25:49:37 GMT", None),
            (b"Sun, 31 Feb 1994 08:49:37 GMT", None),
            (b"Wed, 31 Dec 1969 23:59:59 GMT", None),
            (b"Sat, 01 Jan 10000 00:00:00 GMT", None),
            (b"Sun, 06 Nov 99999 08:49:37 GMT", None),
            (b"yesterday", None),
            (b"", None),
            (b"0", None),
            (b"784111777", None),
            (
                b"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
                None,
            ),
            (b"Sun, 06 Nov 1994 08:49:37 GMT\xff", None),
            (b"\xff\xfe", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_http_date(value),
                *expected,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn effective_last_modified_clamps() {
        assert_eq!(effective_last_modified(5, 10), 5);
        assert_eq!(effective_last_modified(10, 10), 10);
        assert_eq!(effective_last_modified(u64::MAX, 10), 10);
    }

    const ETAG: &str = "\"abc\"";
    const V: Validators<'static> = Validators {
        etag: ETAG,
        last_modified_secs: T,
    };

    fn conds<'a>(
        if_match: Option<&'a str>,
        if_unmodified_since: Option<&'a str>,
        if_none_match: Option<&'a str>,
        if_modified_since: Option<&'a str>,
    ) -> Conditions<'a> {
        Conditions {
            if_match: if_match.map(str::as_bytes),
            if_unmodified_since: if_unmodified_since.map(str::as_bytes),
            if_none_match: if_none_match.map(str::as_bytes),
            if_modified_since: if_modified_since.map(str::as_bytes),
            if_range: None,
        }
    }

    /// (If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since,
    /// is GET/HEAD, expected)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        bool,
        Outcome,
    );

    #[test]
    fn evaluate_table() {
        use Outcome::{NotModified as N304, PreconditionFailed as P412, Proceed as OK};
        const EARLIER: &str = "Sat, 05 Nov 1994 08:49:37 GMT";
        const LATER: &str = "Mon, 07 Nov 1994 08:49:37 GMT";
        const FUTURE: &str = "Fri, 31 Dec 9999 23:59:59 GMT";
        const BAD_DATES: [&str; 5] = [
            "Sun, 06 Nov 1994 08:49:37",
            "yesterday",
            "",
            "Sun, 06 Nov 99999 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ];
        #[rustfmt::skip]
        let mut cases: Vec<Case> = vec![
            (None, None, None, None, true, OK),
            (None, None, None, None, false, OK),
            // If-Match: strong comparison, * matches, malformed fails safe.
            (Some("\"abc\""), None, None, None, true, OK),
            (Some("\"x\", \"abc\""), None, None, None, true, OK),
            (Some("*"), None, None, None, true, OK),
            (Some("\"x\""), None, None, None, true, P412),
            (Some("W/\"abc\""), None, None, None, true, P412),
            (Some("garbage"), None, None, None, true, P412),
            (Some("\"abc"), None, None, None, true, P412),
            (Some(""), None, None, None, true, P412),
            // A failing If-Match beats everything else.
            (Some("\"x\""), Some(LATER), Some("\"abc\""), Some(T_IMF), true, P412),
            (Some("\"x\""), None, Some("*"), None, true, P412),
            // A passing If-Match skips If-Unmodified-Since.
            (Some("\"abc\""), Some(EARLIER), None, None, true, OK),
            (Some("\"abc\""), Some(EARLIER), Some("\"abc\""), None, true, N304),
            // If-Unmodified-Since.
            (None, Some(T_IMF), None, None, true, OK),
            (None, Some(LATER), None, None, true, OK),
            (None, Some(FUTURE), None, None, true, OK),
            (None, Some(EARLIER), None, None, true, P412),
            (None, Some(EARLIER), Some("\"abc\""), Some(T_IMF), true, P412),
            // If-None-Match: weak comparison.
            (None, None, Some("\"abc\""), None, true, N304),
            (None, None, Some("W/\"abc\""), None, true, N304),
            (None, None, Some("\"x\", W/\"abc\""), None, true, N304),
            (None, None, Some("*"), None, true, N304),
            (None, None, Some("\"abc\""), None, false, P412),
            (None, None, Some("*"), None, false, P412),
            (None, None, Some("\"x\""), None, true, OK),
            (None, None, Some(""), None, true, OK),
            // If-None-Match wins over If-Modified-Since, both ways.
            (None, None, Some("\"x\""), Some(T_IMF), true, OK),
            (None, None, Some("\"abc\""), Some(EARLIER), true, N304),
            // A malformed If-None-Match is ignored, so If-Modified-Since counts.
            (None, None, Some("garbage"), None, true, OK),
            (None, None, Some("\"abc"), Some(T_IMF), true, N304),
            (None, None, Some("\"abc"), Some(EARLIER), true, OK),
            // If-Modified-Since: GET/HEAD only, not modified since => 304.
            (None, None, None, Some(T_IMF), true, N304),
            (None, None, None, Some(LATER), true, N304),
            (None, None, None, Some(EARLIER), true, OK),
            (None, None, None, Some(T_IMF), false, OK),
            (None, None, None, Some("Sunday, 06-Nov-94 08:49:37 GMT"), true, N304),
            (None, None, None, Some("Sun Nov  6 08:49:37 1994"), true, N304),
            // An If-Modified-Since later than now is ignored.
            (None, None, None, Some(FUTURE), true, OK),
            // If-Unmodified-Since passing then If-Modified-Since.
            (None, Some(LATER), None, Some(T_IMF), true, N304),
        ];
        for bad in BAD_DATES {
            // Invalid dates are ignored wherever they appear.
            cases.push((None, Some(bad), None, None, true, OK));
            cases.push((None, None, None, Some(bad), true, OK));
            cases.push((None, Some(bad), Some("\"abc\""), None, true, N304));
        }
        for (im, ius, inm, ims, get, expected) in cases {
            let c = conds(im, ius, inm, ims);
            assert_eq!(
                evaluate(&c, &V, get, NOW),
                expected,
                "If-Match {im:?}, If-Unmodified-Since {ius:?}, If-None-Match {inm:?}, \
                 If-Modified-Since {ims:?}, GET/HEAD {get}"
            );
        }
    }

    #[test]
    fn evaluate_uses_the_server_clock() {
        // A future mtime is clamped to now (RFC 9110 section 8.8.2.1).
        let future_file = Validators {
            etag: ETAG,
            last_modified_secs: NOW + 1000,
        };
        let at =
            |secs: u64| httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        let now_date = at(NOW);
        let c = conds(None, None, None, Some(&now_date));
        assert_eq!(evaluate(&c, &future_file, true, NOW), Outcome::NotModified);
        let c = conds(None, Some(&now_date), None, None);
        assert_eq!(evaluate(&c, &future_file, true, NOW), Outcome::Proceed);
        // If-Modified-Since one second after now is ignored, at now it is not.
        let later = at(NOW + 1);
        let c = conds(None, None, None, Some(&later));
        assert_eq!(evaluate(&c, &V, true, NOW), Outcome::Proceed);
        assert_eq!(evaluate(&c, &V, true, NOW + 1), Outcome::NotModified);
    }

    #[test]
    fn evaluate_with_unparseable_own_etag_matches_nothing_but_star() {
        let v = Validators {
            etag: "not quoted",
            last_modified_secs: T,
        };
        let c = conds(Some("\"not quoted\""), None, None, None);
        assert_eq!(evaluate(&c, &v, true, NOW), Outcome::PreconditionFailed);
        let c = conds(Some("*"), None, None, None);
        assert_eq!(evaluate(&c, &v, true, NOW), Outcome::Proceed);
        let c = conds(None, None, Some("\"not quoted\""), None);
        assert_eq!(evaluate(&c, &v, true, NOW), Outcome::Proceed);
    }

    #[test]
    fn if_range_table() {
        let cases: &[(&[u8], bool)] = &[
            (b"\"abc\"", true),
            (b" \"abc\" ", true),
            (b"W/\"abc\"", false),
            (b"\"abd\"", false),
            (b"\"abc\", \"x\"", false),
            (b"\"abc", false),
            (b"*", false),
            (b"", false),
            (T_IMF.as_bytes(), true),
            (b"Sunday, 06-Nov-94 08:49:37 GMT", true),
            (b"Sun, 06 Nov 1994 08:49:38 GMT", false),
            (b"Sun, 06 Nov 1994 08:49:36 GMT", false),
            (b"Sun, 06 Nov 1994 08:49:37", false),
            (b"yesterday", false),
            (b"\xff", false),
        ];
        for (value, expected) in cases {
            assert_eq!(
                if_range_allows(value, &V),
                *expected,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        let weak_own = Validators {
            etag: "W/\"abc\"",
            last_modified_secs: T,
        };
        assert!(!if_range_allows(b"W/\"abc\"", &weak_own));
        assert!(!if_range_allows(b"\"abc\"", &weak_own));
    }

    #[test]
    fn range_allowed_without_if_range() {
        let mut c = Conditions::default();
        assert!(c.range_allowed(&V));
        c.if_range = Some(b"\"abc\"");
        assert!(c.range_allowed(&V));
        c.if_range = Some(b"\"old\"");
        assert!(!c.range_allowed(&V));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let pieces: &[&[u8]] = &[
            b"\"", b"W/", b"w/", b"*", b",", b" ", b"a", b"\xff", b"\x00",
        ];
        for _ in 0..20_000 {
            let mut value = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bits = state;
            for _ in 0..(bits % 10) {
                bits /= 10;
                value.extend_from_slice(pieces[(bits % pieces.len() as u64) as usize]);
            }
            if let Some(list) = TagList::parse(&value) {
                for t in list.tags() {
                    assert!(t.opaque.iter().all(|&b| b != b'"'));
                }
            }
            let c = Conditions {
                if_match: Some(&value),
                if_unmodified_since: Some(&value),
                if_none_match: Some(&value),
                if_modified_since: Some(&value),
                if_range: Some(&value),
            };
            let _ = evaluate(&c, &V, bits % 2 == 0, NOW);
            let _ = c.range_allowed(&V);
        }
    }
}
