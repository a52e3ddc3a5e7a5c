//! Directory listing pages: pure rendering of already-read entries into HTML.
//!
//! Every name is HTML-escaped where it is shown and percent-encoded where it
//! is linked, so no file name can inject markup or break a link.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::path::percent_encode_path;

/// What kind of entry a listing row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

/// One directory entry, as read on the IO pool.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: SystemTime,
}

/// Renders the listing of `url_path` (decoded, with leading and trailing
/// slash) as a complete HTML page. Directories come first, then files, each
/// group by name.
pub fn render_html(url_path: &str, mut entries: Vec<Entry>) -> Vec<u8> {
    entries.sort_by(|a, b| {
        (a.kind != EntryKind::Directory)
            .cmp(&(b.kind != EntryKind::Directory))
            .then_with(|| a.name.cmp(&b.name))
    });
    let title = escape_html(url_path);
    let mut html = String::with_capacity(1024 + entries.len() * 160);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {title}</title><style>{STYLE}</style></head>\n<body><main>\
         <h1>Index of {title}</h1>\n<table><thead><tr><th>Name</th><th class=\"size\">Size</th>\
         <th class=\"time\">Modified (UTC)</th></tr></thead><tbody>\n"
    );
    if url_path != "/" {
        html.push_str("<tr><td><a href=\"../\">../</a></td><td class=\"size\"></td><td class=\"time\"></td></tr>\n");
    }
    for entry in &entries {
        let slash = if entry.kind == EntryKind::Directory {
            "/"
        } else {
            ""
        };
        let href = percent_encode_path(&format!("{}{slash}", entry.name));
        let size = match entry.kind {
            EntryKind::File => human_size(entry.size),
            EntryKind::Directory | EntryKind::Symlink => "-".to_string(),
        };
        let _ = writeln!(
            html,
            "<tr><td><a href=\"./{href}\">{name}{slash}</a></td><td class=\"size\">{size}</td>\
             <td class=\"time\">{time}</td></tr>",
            name = escape_html(&entry.name),
            time = listing_time(entry.modified),
        );
    }
    html.push_str("</tbody></table>\n<footer>wharf</footer></main></body></html>\n");
    html.into_bytes()
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#f7f8fa}\
main{max-width:60rem;margin:0 auto;padding:1.5rem 1rem}h1{font-size:1.3rem;word-break:break-all}\
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;\
box-shadow:0 1px 3px #0002}th,td{padding:.45rem .8rem;text-align:left;border-bottom:1px solid #e8ebf0}\
th{background:#eef1f5;font-weight:600}td a{color:#1559c4;text-decoration:none;word-break:break-all}\
td a:hover{text-decoration:underline}.size,.time{white-space:nowrap;color:#5b6575}.size{text-align:right}\
footer{margin-top:1rem;color:#8a93a3;font-size:.85rem}\
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

/// `2024-05-01 13:45` in UTC.
fn listing_time(time: SystemTime) -> String {
    // "01/May/2024:13:45:07 +0000" -> reuse the CLF formatter's fields.
    let clf = crate::http::date::clf_timestamp(time);
    let (date, rest) = clf.split_once(':').unwrap_or((&clf, ""));
    let mut parts = date.split('/');
    let (day, month, year) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    format!("{year}-{month}-{day} {}", rest.get(..5).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn entry(name: &str, kind: EntryKind, size: u64) -> Entry {
        Entry {
            name: name.to_string(),
            kind,
            size,
            modified: UNIX_EPOCH,
        }
    }

    #[test]
    fn names_are_escaped_and_links_encoded() {
        let html = render_html(
            "/<dir>/",
            vec![entry(
                "<img src=x onerror=alert(1)>.txt",
                EntryKind::File,
                3,
            )],
        );
        let html = String::from_utf8(html).unwrap();
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
        assert!(html.contains("href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""));
        assert!(html.contains("Index of /&lt;dir&gt;/"));
    }

    #[test]
    fn directories_first_with_slash_and_parent_link() {
        let html = render_html(
            "/a/",
            vec![
                entry("zeta.txt", EntryKind::File, 2048),
                entry("sub", EntryKind::Directory, 4096),
                entry("alpha.txt", EntryKind::File, 10),
            ],
        );
        let html = String::from_utf8(html).unwrap();
        let sub = html.find("./sub/").unwrap();
        let alpha = html.find("./alpha.txt").unwrap();
        let zeta = html.find("./zeta.txt").unwrap();
        assert!(sub < alpha && alpha < zeta);
        assert!(html.contains("href=\"../\""));
        assert!(html.contains("2.0 KiB"));
        assert!(html.contains("1970-Jan-01 00:00"));
    }

    #[test]
    fn root_has_no_parent_link() {
        let html = String::from_utf8(render_html("/", vec![])).unwrap();
        assert!(!html.contains("href=\"../\""));
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
