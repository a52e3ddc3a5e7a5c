//! The access log, loop side: formats one line per response and batches
//! lines for the IO pool, which does the actual write (a write to a log file
//! is disk IO, and even a write to a pipe can block).
//!
//! Each loop has at most one batch in flight, so its lines reach the sink in
//! order; lines logged meanwhile wait in the next batch. The format is the
//! Combined Log Format, as nginx and Apache write it by default.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::http::date::clf_timestamp;

/// A pending batch is dropped (and counted) beyond this size, so a stuck
/// sink cannot make the loop's memory grow without bound.
const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

/// What one access-log line records.
pub struct LogRecord<'a> {
    pub remote: SocketAddr,
    pub method: &'a str,
    pub target: &'a str,
    pub minor_version: u8,
    pub status: u16,
    pub bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
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

    /// Appends one line for a finished (or abandoned) response.
    pub fn record(&mut self, record: &LogRecord, now: SystemTime) {
        if !self.enabled {
            return;
        }
        if self.pending.len() > MAX_PENDING_BYTES {
            self.dropped_lines += 1;
            return;
        }
        let line = format!(
            "{} - - [{}] \"{} {} HTTP/1.{}\" {} {} \"{}\" \"{}\"\n",
            self.remote_ip(record),
            clf_timestamp(now),
            escape(record.method),
            escape(record.target),
            record.minor_version,
            record.status,
            record.bytes,
            escape(record.referer.unwrap_or("-")),
            escape(record.user_agent.unwrap_or("-")),
        );
        self.pending.extend_from_slice(line.as_bytes());
    }

    fn remote_ip(&self, record: &LogRecord) -> String {
        record.remote.ip().to_string()
    }

    /// Takes the pending batch if one may be sent now (none is in flight).
    pub fn take_batch(&mut self) -> Option<Vec<u8>> {
        if self.in_flight || self.pending.is_empty() {
            return None;
        }
        if self.dropped_lines > 0 {
            let note = format!(
                "# wharf: {} access-log lines dropped (log sink too slow)\n",
                self.dropped_lines
            );
            self.pending.extend_from_slice(note.as_bytes());
            self.dropped_lines = 0;
        }
        self.in_flight = true;
        Some(std::mem::take(&mut self.pending))
    }

    /// The in-flight batch has been written.
    pub fn batch_written(&mut self) {
        self.in_flight = false;
    }

    /// Whether lines are still waiting to be written.
    pub fn is_idle(&self) -> bool {
        !self.in_flight && self.pending.is_empty()
    }
}

/// Escapes `"`, `\` and non-printable bytes as nginx does (`\xHH`), so a
/// client cannot forge log lines or fields.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn combined_format_line() {
        let mut log = AccessLog::new(true);
        let record = LogRecord {
            remote: "127.0.0.1:5555".parse().unwrap(),
            method: "GET",
            target: "/a \"b\"\n",
            minor_version: 1,
            status: 200,
            bytes: 12,
            referer: None,
            user_agent: Some("curl/8"),
        };
        log.record(&record, UNIX_EPOCH + Duration::from_secs(971_182_536));
        let batch = String::from_utf8(log.take_batch().unwrap()).unwrap();
        assert_eq!(
            batch,
            "127.0.0.1 - - [10/Oct/2000:12:55:36 +0000] \"GET /a \\x22b\\x22\\x0A HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n"
        );
        // One batch in flight at a time.
        log.record(&record, UNIX_EPOCH);
        assert!(log.take_batch().is_none());
        log.batch_written();
        assert!(log.take_batch().is_some());
    }

    #[test]
    fn disabled_log_records_nothing() {
        let mut log = AccessLog::new(false);
        let record = LogRecord {
            remote: "[::1]:1".parse().unwrap(),
            method: "GET",
            target: "/",
            minor_version: 1,
            status: 200,
            bytes: 0,
            referer: None,
            user_agent: None,
        };
        log.record(&record, UNIX_EPOCH);
        assert!(log.take_batch().is_none());
        assert!(log.is_idle());
    }
}
