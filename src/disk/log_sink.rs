//! The access log's destination; batches are written on the log's own lane
//! of the pool.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Where access-log batches are written; writes happen on the IO pool.
#[derive(Debug)]
pub enum LogSink {
    Stdout,
    Stderr,
    File(File),
}

impl LogSink {
    /// Opens a log file for appending (created if missing). Start-up only.
    pub fn open_file(path: &Path) -> io::Result<LogSink> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(LogSink::File(file))
    }

    /// Writes one batch of complete lines.
    pub fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        match self {
            LogSink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(batch)?;
                out.flush()
            }
            LogSink::Stderr => io::stderr().lock().write_all(batch),
            LogSink::File(file) => file.write_all(batch),
        }
    }
}
