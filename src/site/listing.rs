//! Directory listing pages: pure rendering of already-read entries into an
//! HTML page or a JSON document, and the sort order chosen by the query.
//!
//! Every name is HTML-escaped where it is shown and percent-encoded where it
//! is linked, so no file name can inject markup or break a link. JSON
//! strings are escaped per RFC 8259.
//!
//! Query parameters: `sort=name|size|time` and `order=asc|desc` (default:
//! by name, ascending; directories always first). Unknown values fall back
//! to the defaults. (`download=tar` asks for the directory as an archive
//! instead: [`crate::site::archive`].)
//!
//! A listing shows what a request for each entry would get: a symlink is
//! shown as what it leads to (its kind, size and time), and an entry no
//! request could be answered with (see [`Omitted`]) is left out and
//! counted, never silently dropped.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::SystemTime;

use crate::http::date::{rfc3339, utc};
use crate::site::archive::ArchiveKinds;
use crate::site::path::percent_encode_path;

/// The most entries one listing shows; the rest are counted, not listed, so
/// a directory of 100,000 files costs bounded memory per request.
pub const MAX_ENTRIES: usize = 10_000;

/// What kind of entry a listing row shows: what a request for it gets (a
/// symlink to a directory is a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
}

/// The entries of a directory a listing leaves out, counted. Hidden names
/// (when `hidden_files` is off) are not among them: they are not part of
/// the site, and counting them would tell that they exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Omitted {
    /// Entries that could not be served through a link: names that are not
    /// UTF-8 or that the path rules refuse (control characters,
    /// backslash), symlinks that lead out of the root, nowhere, or that the
    /// `symlinks` policy refuses, unreadable links, and FIFOs, sockets and
    /// devices.
    pub unservable: usize,
    /// Servable entries past [`MAX_ENTRIES`] in the requested order.
    pub over_limit: usize,
}

impl Omitted {
    /// Every entry left out: the listing's `omitted`.
    pub fn total(&self) -> usize {
        self.unservable + self.over_limit
    }
}

/// One directory entry, as read on the IO pool.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: SystemTime,
}

/// The column a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Size,
    Time,
}

impl SortKey {
    fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Time => "time",
        }
    }
}

/// The listing order asked for in the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingQuery {
    pub sort: SortKey,
    pub descending: bool,
}

impl Default for ListingQuery {
    fn default() -> ListingQuery {
        ListingQuery {
            sort: SortKey::Name,
            descending: false,
        }
    }
}

impl ListingQuery {
    /// Reads `sort` and `order` from a raw query string.
    pub fn parse(query: Option<&str>) -> ListingQuery {
        let mut parsed = ListingQuery::default();
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("sort", "name")) => parsed.sort = SortKey::Name,
                Some(("sort", "size")) => parsed.sort = SortKey::Size,
                Some(("sort", "time")) => parsed.sort = SortKey::Time,
                Some(("order", "desc")) => parsed.descending = true,
                Some(("order", "asc")) => parsed.descending = false,
                _ => {}
            }
        }
        parsed
    }

    /// Sorts entries: directories first, then by the chosen key (ties by
    /// name), ascending or descending.
    pub fn sort(&self, entries: &mut [Entry]) {
        entries.sort_by(|a, b| self.compare(a, b));
    }

    fn compare(&self, a: &Entry, b: &Entry) -> Ordering {
        let dirs_first = (a.kind != EntryKind::Directory).cmp(&(b.kind != EntryKind::Directory));
        let by_key = match self.sort {
            SortKey::Name => Ordering::Equal,
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Time => a.modified.cmp(&b.modified),
        }
        .then_with(|| a.name.cmp(&b.name));
        dirs_first.then(if self.descending {
            by_key.reverse()
        } else {
            by_key
        })
    }
}

/// Renders the listing of `url_path` (decoded, with leading and trailing
/// slash) as a complete HTML page. `entries` are already sorted; `omitted`
/// says what was left out, and why; `archives` are the kinds the directory
/// can be downloaded as (a link for each, under the table).
pub fn render_html(
    url_path: &str,
    entries: &[Entry],
    omitted: Omitted,
    query: &ListingQuery,
    archives: ArchiveKinds,
) -> Vec<u8> {
    let title = escape_html(url_path);
    let mut html = String::with_capacity(2048 + entries.len() * 200);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {title}</title><style>{STYLE}</style></head>\n<body><main>\
         <h1>Index of {title}</h1>\n<table><thead><tr>{name}{size}{time}</tr></thead><tbody>\n",
        name = column_header("Name", SortKey::Name, "", query),
        size = column_header("Size", SortKey::Size, " class=\"size\"", query),
        time = column_header("Modified (UTC)", SortKey::Time, " class=\"time\"", query),
    );
    if url_path != "/" {
        html.push_str(
            "<tr><td><a href=\"../\">../</a></td><td class=\"size\"></td><td class=\"time\"></td></tr>\n",
        );
    }
    for entry in entries {
        let slash = if entry.kind == EntryKind::Directory {
            "/"
        } else {
            ""
        };
        let href = percent_encode_path(&format!("{}{slash}", entry.name));
        let size = match entry.kind {
            EntryKind::File => human_size(entry.size),
            EntryKind::Directory => "-".to_string(),
        };
        let t = utc(entry.modified);
        let _ = writeln!(
            html,
            "<tr><td><a href=\"./{href}\">{name}{slash}</a></td><td class=\"size\" data-bytes=\"{bytes}\">{size}</td>\
             <td class=\"time\">{:04}-{:02}-{:02} {:02}:{:02}</td></tr>",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            name = escape_html(&entry.name),
            bytes = entry.size,
        );
    }
    html.push_str("</tbody></table>\n");
    if !archives.is_empty() {
        html.push_str("<p class=\"archives\">Download as");
        for (i, kind) in archives.iter().enumerate() {
            let name = kind.name();
            let sep = if i == 0 { "" } else { " ·" };
            let _ = write!(
                html,
                "{sep} <a href=\"?download={name}\" download>.{name}</a>"
            );
        }
        html.push_str("</p>\n");
    }
    if omitted.unservable > 0 {
        let _ = writeln!(
            html,
            "<p class=\"note\">{} not listed: {} cannot be served (a name no link can carry, \
             a link leading out of the site or nowhere, or a special file).</p>",
            plural(omitted.unservable),
            if omitted.unservable == 1 {
                "it"
            } else {
                "they"
            },
        );
    }
    if omitted.over_limit > 0 {
        let _ = writeln!(
            html,
            "<p class=\"note\">{} not shown: a listing shows at most {MAX_ENTRIES}.</p>",
            plural(omitted.over_limit),
        );
    }
    let count = entries.len() + omitted.total();
    let _ = writeln!(
        html,
        "<footer>{} · served by wharf</footer></main></body></html>",
        plural(count)
    );
    html.into_bytes()
}

/// `1 entry`, `2 entries`.
fn plural(count: usize) -> String {
    format!("{count} {}", if count == 1 { "entry" } else { "entries" })
}

/// A sortable column header: a link that sorts by this column, toggling
/// the order when it is already the sort key, with an arrow showing the
/// current order.
fn column_header(label: &str, key: SortKey, class: &str, query: &ListingQuery) -> String {
    let active = query.sort == key;
    let next_order = if active && !query.descending {
        "desc"
    } else {
        "asc"
    };
    let arrow = match (active, query.descending) {
        (false, _) => "",
        (true, false) => " ↑",
        (true, true) => " ↓",
    };
    format!(
        "<th{class}><a href=\"?sort={}&amp;order={next_order}\">{label}{arrow}</a></th>",
        key.as_str()
    )
}

/// Renders the listing as JSON:
/// `{"path": "/a/", "entries": [{"name", "type", "size", "modified"}], "omitted": 0}`,
/// `omitted` counting every entry left out ([`Omitted::total`]). With
/// archives enabled, an `archives` member follows:
/// `[{"type": "tar", "href": "?download=tar"}]`.
pub fn render_json(
    url_path: &str,
    entries: &[Entry],
    omitted: Omitted,
    archives: ArchiveKinds,
) -> Vec<u8> {
    let mut json = String::with_capacity(64 + entries.len() * 96);
    json.push_str("{\"path\":");
    push_json_string(&mut json, url_path);
    json.push_str(",\"entries\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"name\":");
        push_json_string(&mut json, &entry.name);
        let kind = match entry.kind {
            EntryKind::File => "file",
            EntryKind::Directory => "directory",
        };
        let _ = write!(
            json,
            ",\"type\":\"{kind}\",\"size\":{},\"modified\":\"{}\"}}",
            entry.size,
            rfc3339(entry.modified)
        );
    }
    let _ = write!(json, "],\"omitted\":{}", omitted.total());
    if !archives.is_empty() {
        json.push_str(",\"archives\":[");
        for (i, kind) in archives.iter().enumerate() {
            let name = kind.name();
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(
                json,
                "{sep}{{\"type\":\"{name}\",\"href\":\"?download={name}\"}}"
            );
        }
        json.push(']');
    }
    json.push_str("}\n");
    json.into_bytes()
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<` too, so the JSON is safe even if someone embeds it in HTML.
            c if (c as u32) < 0x20 || c == '<' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#f7f8fa}\
main{max-width:60rem;margin:0 auto;padding:1.5rem 1rem}h1{font-size:1.3rem;word-break:break-all}\
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;\
box-shadow:0 1px 3px #0002}th,td{padding:.45rem .8rem;text-align:left;border-bottom:1px solid #e8ebf0}\
th{background:#eef1f5;font-weight:600}th a{color:inherit;text-decoration:none}\
td a{color:#1559c4;text-decoration:none;word-break:break-all}\
td a:hover,th a:hover{text-decoration:underline}.size,.time{white-space:nowrap;color:#5b6575}\
.size{text-align:right}.note,footer{margin-top:1rem;color:#8a93a3;font-size:.85rem}\
@media (max-width:36rem){.time{display:none}}\
@media (prefers-color-scheme:dark){body{background:#14171c;color:#dfe3ea}table{background:#1c2027}\
th{background:#252a33}th,td{border-color:#2c323c}td a{color:#7fb0ff}}";

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sizes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(name: &str, kind: EntryKind, size: u64, secs: u64) -> Entry {
        Entry {
            name: name.to_string(),
            kind,
            size,
            modified: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    fn html(url_path: &str, mut entries: Vec<Entry>, query: &ListingQuery) -> String {
        query.sort(&mut entries);
        String::from_utf8(render_html(
            url_path,
            &entries,
            Omitted::default(),
            query,
            ArchiveKinds::default(),
        ))
        .unwrap()
    }

    #[test]
    fn names_are_escaped_and_links_encoded() {
        let page = html(
            "/<dir>/",
            vec![entry(
                "<img src=x onerror=alert(1)>.txt",
                EntryKind::File,
                3,
                0,
            )],
            &ListingQuery::default(),
        );
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
        assert!(page.contains("href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""));
        assert!(page.contains("Index of /&lt;dir&gt;/"));
    }

    #[test]
    fn directories_first_with_slash_and_parent_link() {
        let page = html(
            "/a/",
            vec![
                entry("zeta.txt", EntryKind::File, 2048, 0),
                entry("sub", EntryKind::Directory, 4096, 0),
                entry("alpha.txt", EntryKind::File, 10, 0),
            ],
            &ListingQuery::default(),
        );
        let sub = page.find("./sub/").unwrap();
        let alpha = page.find("./alpha.txt").unwrap();
        let zeta = page.find("./zeta.txt").unwrap();
        assert!(sub < alpha && alpha < zeta);
        assert!(page.contains("href=\"../\""));
        assert!(page.contains("2.0 KiB"));
        assert!(page.contains("1970-01-01 00:00"));
        assert!(page.contains("3 entries"));
    }

    #[test]
    fn sorting_by_size_and_time_both_ways() {
        let entries = vec![
            entry("big", EntryKind::File, 300, 1),
            entry("small", EntryKind::File, 1, 3),
            entry("mid", EntryKind::File, 20, 2),
            entry("dir", EntryKind::Directory, 0, 0),
        ];
        let order = |query: &str| {
            let query = ListingQuery::parse(Some(query));
            let mut sorted = entries.clone();
            query.sort(&mut sorted);
            sorted
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(order(""), "dir,big,mid,small");
        assert_eq!(order("sort=size"), "dir,small,mid,big");
        assert_eq!(order("sort=size&order=desc"), "dir,big,mid,small");
        assert_eq!(order("sort=time"), "dir,big,mid,small");
        assert_eq!(order("order=desc&sort=time"), "dir,small,mid,big");
        assert_eq!(order("sort=bogus&order=sideways"), "dir,big,mid,small");
    }

    #[test]
    fn headers_link_to_the_other_order() {
        let page = html("/", vec![], &ListingQuery::parse(Some("sort=size")));
        assert!(page.contains("href=\"?sort=size&amp;order=desc\">Size ↑"));
        assert!(page.contains("href=\"?sort=name&amp;order=asc\">Name<"));
    }

    #[test]
    fn root_has_no_parent_link_and_omitted_entries_are_counted() {
        let omitted = Omitted {
            unservable: 0,
            over_limit: 5,
        };
        let page = String::from_utf8(render_html(
            "/",
            &[],
            omitted,
            &ListingQuery::default(),
            ArchiveKinds::default(),
        ))
        .unwrap();
        assert!(!page.contains("href=\"../\""));
        assert!(page.contains("5 entries not shown: a listing shows at most 10000"));
        assert!(!page.contains("cannot be served"));
        assert!(page.contains("<footer>5 entries"));
        let omitted = Omitted {
            unservable: 1,
            over_limit: 0,
        };
        let page = String::from_utf8(render_html(
            "/",
            &[entry("a", EntryKind::File, 1, 0)],
            omitted,
            &ListingQuery::default(),
            ArchiveKinds::default(),
        ))
        .unwrap();
        assert!(page.contains("1 entry not listed: it cannot be served"));
        assert!(!page.contains("at most"));
        assert!(page.contains("<footer>2 entries"));
    }

    #[test]
    fn json_listing_is_escaped() {
        let entries = vec![
            entry("a\"b\\c\n<x>", EntryKind::File, 7, 951_782_400),
            entry("d", EntryKind::Directory, 0, 0),
        ];
        let omitted = Omitted {
            unservable: 1,
            over_limit: 1,
        };
        let json = String::from_utf8(render_json(
            "/p/",
            &entries,
            omitted,
            ArchiveKinds::default(),
        ))
        .unwrap();
        assert_eq!(
            json,
            "{\"path\":\"/p/\",\"entries\":[{\"name\":\"a\\\"b\\\\c\\n\\u003cx>\",\"type\":\"file\",\"size\":7,\
             \"modified\":\"2000-02-29T00:00:00Z\"},{\"name\":\"d\",\"type\":\"directory\",\"size\":0,\
             \"modified\":\"1970-01-01T00:00:00Z\"}],\"omitted\":2}\n"
        );
    }

    #[test]
    fn archive_links_follow_the_enabled_kinds() {
        let both = ArchiveKinds::parse(&["tar", "tar.gz"]).unwrap();
        let page = String::from_utf8(render_html(
            "/a/",
            &[],
            Omitted::default(),
            &ListingQuery::default(),
            both,
        ))
        .unwrap();
        assert!(page.contains(
            "<p class=\"archives\">Download as <a href=\"?download=tar\" download>.tar</a> · \
             <a href=\"?download=tar.gz\" download>.tar.gz</a></p>"
        ));
        let none = html("/a/", vec![], &ListingQuery::default());
        assert!(!none.contains("download"));
        let gz = ArchiveKinds::parse(&["tar.gz"]).unwrap();
        let json = String::from_utf8(render_json("/a/", &[], Omitted::default(), gz)).unwrap();
        assert_eq!(
            json,
            "{\"path\":\"/a/\",\"entries\":[],\"omitted\":0,\
             \"archives\":[{\"type\":\"tar.gz\",\"href\":\"?download=tar.gz\"}]}\n"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }
}
