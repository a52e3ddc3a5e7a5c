//! The access log, loop side: formats one line per response and batches
//! lines for the IO pool, which does the actual write (a write to a log file
//! is disk IO, and even a write to a pipe can block).
//!
//! Each loop has at most one batch in flight, so its lines reach the sink in
//! order; lines logged meanwhile wait in the next batch.
//!
//! Three formats (`[log] format`):
//! - `combined` (default): the Combined Log Format, as nginx and Apache
//!   write it by default;
//! - `common`: the Common Log Format (combined without referer and agent);
//! - `json`: one JSON object per line, with the request duration.
//!
//! Everything a client sent (method, target, headers) is untrusted: the
//! text formats escape `"`, `\` and non-printable bytes as `\xHH` (as nginx
//! does), JSON escapes per RFC 8259, so no client can forge a line or a
//! field, and every JSON line parses.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::LogFormat;
use crate::http::date::{clf_timestamp, Formatted};

/// A pending batch is dropped (and counted) beyond this size, so a stuck
/// sink cannot make the loop's memory grow without bound.
const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

/// The format every loop writes in. Process-wide: the server sets it at
/// start-up and on reload, and loops read it per line (one relaxed load), so
/// a reload changes the format without the loops having to be told.
static FORMAT: AtomicU8 = AtomicU8::new(0);

/// Sets the access-log format for every loop of this process.
pub fn set_format(format: LogFormat) {
    FORMAT.store(format.to_u8(), Ordering::Relaxed);
}

/// The access-log format in force.
pub fn format() -> LogFormat {
    LogFormat::from_u8(FORMAT.load(Ordering::Relaxed))
}

/// What one access-log line records.
pub struct LogRecord<'a> {
    /// The client: the peer, or behind a proxy the address the PROXY
    /// header or a trusted proxy's `X-Forwarded-For` named; `None` for a
    /// connection on a Unix socket, logged as `unix`. Every format writes
    /// this one.
    pub remote: Option<IpAddr>,
    pub method: &'a str,
    pub target: &'a str,
    pub minor_version: u8,
    pub status: u16,
    pub bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The user name of `Basic` credentials under an `auth` rule (the
    /// third field of the text formats, `"user"` in JSON). The
    /// `Authorization` header itself, and so the password, is never logged.
    pub user: Option<&'a str>,
}

/// The client as logged: its IP address, or `unix`.
struct Remote(Option<IpAddr>);

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            // A dual-stack `[::]` listener sees IPv4 clients as
            // `::ffff:a.b.c.d`; they are logged as plain IPv4.
            Some(ip) => write!(f, "{}", ip.to_canonical()),
            None => f.write_str("unix"),
        }
    }
}

/// One loop's buffer of formatted lines.
pub struct AccessLog {
    enabled: bool,
    pending: Vec<u8>,
    in_flight: bool,
    dropped_lines: u64,
}

impl AccessLog {
    pub fn new(enabled: bool) -> AccessLog {
        AccessLog {
            enabled,
            pending: Vec::new(),
            in_flight: false,
            dropped_lines: 0,
        }
    }

    /// Turns logging on or off (config reload).
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Appends one line for a finished (or abandoned) response whose
    /// duration is not known (JSON: `"duration_us":null`).
    pub fn record(&mut self, record: &LogRecord, now: SystemTime) {
        self.write_line(record, now, None);
    }

    /// Appends one line for a finished (or abandoned) response that took
    /// `duration` from its request head to its last response byte.
    pub fn record_timed(&mut self, record: &LogRecord, now: SystemTime, duration: Duration) {
        self.write_line(record, now, Some(duration));
    }

    fn write_line(&mut self, record: &LogRecord, now: SystemTime, duration: Option<Duration>) {
        if !self.enabled {
            return;
        }
        if self.pending.len() > MAX_PENDING_BYTES {
            self.dropped_lines += 1;
            return;
        }
        format_line(&mut self.pending, format(), record, now, duration);
    }

    /// Takes the pending batch if one may be sent now (none is in flight).
    pub fn take_batch(&mut self) -> Option<Vec<u8>> {
        if self.in_flight || self.pending.is_empty() {
            return None;
        }
        if self.dropped_lines > 0 {
            // Reported as a diagnostic, not in the access log, so the log
            // stays in one format that tools can parse.
            log::warn!(
                "{} access-log lines dropped: the log destination is too slow",
                self.dropped_lines
            );
            self.dropped_lines = 0;
        }
        self.in_flight = true;
        Some(std::mem::take(&mut self.pending))
    }

    /// The in-flight batch has been written; `buf` is its buffer, kept for
    /// the next batch so steady logging allocates nothing.
    pub fn batch_written(&mut self, buf: Vec<u8>) {
        self.in_flight = false;
        if self.pending.capacity() == 0 && buf.capacity() <= MAX_PENDING_BYTES * 2 {
            self.pending = buf;
        }
    }

    /// Whether lines are still waiting to be written.
    pub fn is_idle(&self) -> bool {
        !self.in_flight && self.pending.is_empty()
    }
}

/// Appends one line (with its `\n`) in `format` to `out`.
pub fn format_line(
    out: &mut Vec<u8>,
    format: LogFormat,
    record: &LogRecord,
    now: SystemTime,
    duration: Option<Duration>,
) {
    // Writes into a Vec cannot fail.
    match format {
        LogFormat::Common | LogFormat::Combined => {
            let _ = write!(out, "{} - ", Remote(record.remote));
            match record.user {
                // An empty user-id cannot be logged as itself: the field
                // would vanish. (Credentials with one are refused anyway.)
                Some(user) if !user.is_empty() => clf_escape_word(out, user),
                _ => out.push(b'-'),
            }
            let _ = write!(out, " [{}] \"", clf_timestamp(now));
            clf_escape(out, record.method);
            out.push(b' ');
            clf_escape(out, record.target);
            let _ = write!(
                out,
                " HTTP/1.{}\" {} {}",
                record.minor_version, record.status, record.bytes
            );
            if format == LogFormat::Combined {
                out.extend_from_slice(b" \"");
                clf_escape(out, record.referer.unwrap_or("-"));
                out.extend_from_slice(b"\" \"");
                clf_escape(out, record.user_agent.unwrap_or("-"));
                out.push(b'"');
            }
        }
        LogFormat::Json => {
            let (path, query) = match record.target.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (record.target, None),
            };
            let _ = write!(out, "{{\"time\":\"{}\",\"remote\":\"", rfc3339_millis(now));
            let _ = write!(out, "{}\",\"method\":", Remote(record.remote));
            json_string(out, record.method.as_bytes());
            out.extend_from_slice(b",\"path\":");
            json_string(out, path.as_bytes());
            out.extend_from_slice(b",\"query\":");
            json_opt(out, query);
            let _ = write!(
                out,
                ",\"version\":\"HTTP/1.{}\",\"status\":{},\"bytes\":{},\"duration_us\":",
                record.minor_version, record.status, record.bytes
            );
            match duration {
                Some(d) => {
                    let _ = write!(out, "{}", d.as_micros());
                }
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"referer\":");
            json_opt(out, record.referer);
            out.extend_from_slice(b",\"user_agent\":");
            json_opt(out, record.user_agent);
            out.extend_from_slice(b",\"user\":");
            json_opt(out, record.user);
            out.push(b'}');
        }
    }
    out.push(b'\n');
}

/// Escapes `"`, `\` and non-printable bytes as nginx does (`\xHH`), so a
/// client cannot forge log lines or fields.
fn clf_escape(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.push(b);
        }
    }
}

/// [`clf_escape`] for a field that is not quoted (the user name): a space
/// is escaped too, so the field stays one word for parsers.
fn clf_escape_word(out: &mut Vec<u8>, text: &str) {
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\\x20");
        }
        clf_escape(out, word);
    }
}

fn json_opt(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `bytes` as a JSON string literal (with its quotes). Valid UTF-8
/// is kept; each invalid sequence becomes U+FFFD; `"`, `\`, control
/// characters, DEL and U+2028/U+2029 are escaped, so the result is valid
/// JSON (and valid JavaScript) whatever the input, and never spans lines.
pub fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{0}'..='\u{1f}' | '\u{7f}' => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

/// `2000-10-10T12:55:36.000Z`: RFC 3339, UTC, milliseconds. Times before
/// 1970 (a badly set clock) are written as the epoch.
pub fn rfc3339_millis(time: SystemTime) -> impl std::fmt::Display {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    // (u64::MAX seconds is about 2e14 days: always fits.)
    let days = i64::try_from(secs / 86_400).unwrap_or_default();
    let (year, month, day) = crate::http::date::civil_from_days(days);
    let rem = secs % 86_400;
    Formatted(move |f: &mut std::fmt::Formatter<'_>| {
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            since.subsec_millis()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample<'a>(target: &'a str, user_agent: Option<&'a str>) -> LogRecord<'a> {
        LogRecord {
            remote: Some("127.0.0.1".parse().unwrap()),
            method: "GET",
            target,
            minor_version: 1,
            status: 200,
            bytes: 12,
            referer: None,
            user_agent,
            user: None,
        }
    }

    fn line(format: LogFormat, record: &LogRecord, duration: Option<Duration>) -> String {
        let mut out = Vec::new();
        let now = UNIX_EPOCH + Duration::from_millis(971_182_536_042);
        format_line(&mut out, format, record, now, duration);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn combined_format_line() {
        let record = sample("/a \"b\"\n", Some("curl/8"));
        assert_eq!(
            line(LogFormat::Combined, &record, None),
            "127.0.0.1 - - [10/Oct/2000:12:55:36 +0000] \"GET /a \\x22b\\x22\\x0A HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n"
        );
    }

    #[test]
    fn the_user_is_logged_escaped() {
        let record = LogRecord {
            status: 401,
            user: Some("zoë \"x\""),
            ..sample("/private/", None)
        };
        assert_eq!(
            line(LogFormat::Common, &record, None),
            "127.0.0.1 - zo\\xC3\\xAB\\x20\\x22x\\x22 [10/Oct/2000:12:55:36 +0000] \"GET /private/ HTTP/1.1\" 401 12\n"
        );
        let json = line(LogFormat::Json, &record, None);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["user"], "zoë \"x\"");
        let nobody = LogRecord {
            user: Some(""),
            ..sample("/", None)
        };
        assert!(line(LogFormat::Common, &nobody, None).starts_with("127.0.0.1 - - ["));
    }

    #[test]
    fn common_format_line() {
        let record = sample("/x?y=1", Some("curl/8"));
        assert_eq!(
            line(LogFormat::Common, &record, Some(Duration::from_millis(3))),
            "127.0.0.1 - - [10/Oct/2000:12:55:36 +0000] \"GET /x?y=1 HTTP/1.1\" 200 12\n"
        );
    }

    #[test]
    fn unix_and_mapped_clients() {
        let mut record = sample("/", None);
        record.remote = None;
        assert!(line(LogFormat::Common, &record, None).starts_with("unix - - ["));
        assert!(line(LogFormat::Json, &record, None).contains("\"remote\":\"unix\","));
        // An IPv4 client of a dual-stack socket is logged as IPv4.
        record.remote = Some("::ffff:192.0.2.1".parse().unwrap());
        assert!(line(LogFormat::Common, &record, None).starts_with("192.0.2.1 - - ["));
    }

    #[test]
    fn json_format_line() {
        let record = LogRecord {
            remote: Some("::1".parse().unwrap()),
            referer: Some("http://r/"),
            ..sample("/a%20b?q=\"1\"", Some("ua \u{1}\u{7f}\u{2028}é"))
        };
        let text = line(LogFormat::Json, &record, Some(Duration::from_micros(1234)));
        assert_eq!(
            text,
            "{\"time\":\"2000-10-10T12:55:36.042Z\",\"remote\":\"::1\",\"method\":\"GET\",\
             \"path\":\"/a%20b\",\"query\":\"q=\\\"1\\\"\",\"version\":\"HTTP/1.1\",\"status\":200,\
             \"bytes\":12,\"duration_us\":1234,\"referer\":\"http://r/\",\
             \"user_agent\":\"ua \\u0001\\u007f\\u2028é\",\"user\":null}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["user_agent"], "ua \u{1}\u{7f}\u{2028}é");
        assert_eq!(value["query"], "q=\"1\"");

        let bare = line(LogFormat::Json, &sample("/", None), None);
        let value: serde_json::Value = serde_json::from_str(&bare).unwrap();
        assert!(value["duration_us"].is_null());
        assert!(value["user_agent"].is_null());
        assert!(value["query"].is_null());
    }

    #[test]
    fn json_string_handles_invalid_utf8() {
        let mut out = Vec::new();
        json_string(&mut out, b"a\xff\xfeb\xe2\x82");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\u{fffd}\u{fffd}b\u{fffd}\"");
    }

    proptest! {
        #[test]
        fn json_string_is_always_valid_json(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            json_string(&mut out, &bytes);
            let text = String::from_utf8(out).expect("UTF-8 output");
            prop_assert!(!text.contains('\n') && !text.contains('\r'));
            let parsed: String = serde_json::from_str(&text).expect("valid JSON");
            prop_assert_eq!(parsed, String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn rfc3339_matches_clf_date(secs in 0u64..8_000_000_000) {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            let rfc = rfc3339_millis(time).to_string();
            let parsed = httpdate::fmt_http_date(time);
            // "Tue, 10 Oct 2000 12:55:36 GMT" against "2000-10-10T12:55:36.000Z"
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let day: u64 = parsed[5..7].parse().unwrap();
            let month = MONTHS.iter().position(|m| *m == &parsed[8..11]).unwrap() + 1;
            let year: u64 = parsed[12..16].parse().unwrap();
            prop_assert_eq!(&rfc[..4], format!("{year:04}"));
            prop_assert_eq!(&rfc[5..7], format!("{month:02}"));
            prop_assert_eq!(&rfc[8..10], format!("{day:02}"));
            prop_assert_eq!(&rfc[11..19], &parsed[17..25]);
        }
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(951_782_400_999)).to_string(),
            "2000-02-29T00:00:00.999Z"
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH - Duration::from_secs(5)).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn batches_one_in_flight() {
        let mut log = AccessLog::new(true);
        let record = sample("/", None);
        log.record(&record, UNIX_EPOCH);
        assert!(log.take_batch().is_some());
        // One batch in flight at a time.
        log.record_timed(&record, UNIX_EPOCH, Duration::from_millis(1));
        assert!(log.take_batch().is_none());
        log.batch_written(Vec::new());
        assert!(log.take_batch().is_some());
    }

    #[test]
    fn disabled_log_records_nothing() {
        let mut log = AccessLog::new(false);
        let record = LogRecord {
            remote: Some("::1".parse().unwrap()),
            ..sample("/", None)
        };
        log.record(&record, UNIX_EPOCH);
        assert!(log.take_batch().is_none());
        assert!(log.is_idle());
    }

    #[test]
    fn format_names_round_trip() {
        for name in LogFormat::NAMES {
            assert_eq!(LogFormat::parse(name).unwrap().name(), name);
        }
        assert_eq!(LogFormat::parse("Combined"), None);
        assert_eq!(LogFormat::default(), LogFormat::Combined);
    }
}
