//! Diagnostics: the `log` crate's logger for the `wharf` binary, writing
//! `wharf: LEVEL: message` lines to stderr, apart from the access log.
//!
//! The level comes from `RUST_LOG` in `env_logger`'s syntax, reduced to what
//! a single binary needs: `warn`, `debug`, `wharf=debug`, `info,mio=trace`,
//! `off`. Default: `info`.
//!
//! Lines are handed to a background thread (`wharf-diag`) through a bounded
//! channel, so a log call never blocks its thread, not even an event loop
//! when stderr is a slow pipe or a file on a busy disk. Lines that do not
//! fit in the channel are counted and reported when there is room again.
//! [`log::Log::flush`] waits (bounded) until every earlier line is written.
//!
//! A panic on an event loop (caught there: it costs only its connection) is
//! reported the same way, in one line and without a backtrace: Rust's
//! default report is written to stderr by the panicking thread, and a
//! backtrace (`RUST_BACKTRACE`) is resolved by reading the executable's
//! files, neither of which a loop may do. Other threads keep the default.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Lines that may wait for the writer thread.
const QUEUE: usize = 1024;
/// How long `flush` waits for the writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Which levels are shown, per target prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    default: LevelFilter,
    /// `(target prefix, level)`, most specific first.
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    /// Parses a `RUST_LOG` value; returns the filter and the directives it
    /// did not understand.
    pub fn parse(spec: &str) -> (Filter, Vec<String>) {
        let mut filter = Filter {
            default: LevelFilter::Info,
            targets: Vec::new(),
        };
        let mut bad = Vec::new();
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None => match directive.parse::<LevelFilter>() {
                    Ok(level) => filter.default = level,
                    // A bare target means "everything from it".
                    Err(_) if is_target(directive) => {
                        filter
                            .targets
                            .push((directive.to_string(), LevelFilter::Trace));
                    }
                    Err(_) => bad.push(directive.to_string()),
                },
                Some((target, level)) => match level.trim().parse::<LevelFilter>() {
                    Ok(level) if is_target(target.trim()) => {
                        filter.targets.push((target.trim().to_string(), level));
                    }
                    _ => bad.push(directive.to_string()),
                },
            }
        }
        filter
            .targets
            .sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        (filter, bad)
    }

    /// The level in force for `target`.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(prefix, _)| {
                target == prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .map_or(self.default, |(_, level)| *level)
    }

    /// The most verbose level any target may log at.
    pub fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, level)| *level)
            .fold(self.default, Ord::max)
    }
}

fn is_target(text: &str) -> bool {
    !text.is_empty()
        && text
            .split("::")
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// One diagnostic line as written: `wharf: warning: message`; info lines
/// have no level (`wharf: message`), debug and trace name their module.
pub fn format_line(level: Level, target: &str, message: &str) -> String {
    // A message is one line, whatever it quotes.
    let message = message.replace(['\n', '\r'], " ");
    match level {
        Level::Error => format!("wharf: error: {message}\n"),
        Level::Warn => format!("wharf: warning: {message}\n"),
        Level::Info => format!("wharf: {message}\n"),
        Level::Debug => format!("wharf: debug: [{target}] {message}\n"),
        Level::Trace => format!("wharf: trace: [{target}] {message}\n"),
    }
}

enum Message {
    Line(String),
    Flush(SyncSender<()>),
}

struct Logger {
    filter: Filter,
    tx: SyncSender<Message>,
    dropped: AtomicU64,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), record.target(), &record.args().to_string());
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = format_line(
                Level::Warn,
                "wharf",
                &format!("{dropped} diagnostic lines dropped (stderr too slow)"),
            );
            if self.tx.try_send(Message::Line(note)).is_err() {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        match self.tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer is gone (it never exits while the logger lives,
            // but if it could not start): write directly.
            Err(TrySendError::Disconnected(Message::Line(line))) => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn flush(&self) {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        if self.tx.send(Message::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

fn writer(rx: Receiver<Message>) {
    for message in rx {
        match message {
            Message::Line(line) => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Message::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Installs the logger with the level from `RUST_LOG` (default `info`).
/// Call once, first thing in `main`.
pub fn init() {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let (filter, bad) = Filter::parse(&spec);
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    // If the thread cannot start, `rx` is dropped and lines are written
    // directly (see `log`).
    let _ = std::thread::Builder::new()
        .name("wharf-diag".to_string())
        .spawn(move || writer(rx));
    let max = filter.max();
    if log::set_boxed_logger(Box::new(Logger {
        filter,
        tx,
        dropped: AtomicU64::new(0),
    }))
    .is_ok()
    {
        log::set_max_level(max);
    }
    install_panic_hook();
    for directive in bad {
        log::warn!(
            "RUST_LOG: ignoring '{directive}' (expected a level: off, error, warn, info, debug, trace, or TARGET=LEVEL)"
        );
    }
}

/// Routes event-loop panics through the logger (see the module comment).
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !crate::offloop::on_loop_thread() {
            return default(info);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("an event loop");
        match info.location() {
            Some(at) => log::error!(
                "thread '{name}' panicked at {}:{}: {message}",
                at.file(),
                at.line()
            ),
            None => log::error!("thread '{name}' panicked: {message}"),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_directives() {
        let (filter, bad) = Filter::parse("");
        assert!(bad.is_empty());
        assert_eq!(filter.level_for("wharf::server"), LevelFilter::Info);

        let (filter, bad) = Filter::parse("warn,wharf::server=debug, mio ,x=nope,wh@t");
        assert_eq!(bad, ["x=nope", "wh@t"]);
        assert_eq!(filter.level_for("wharf"), LevelFilter::Warn);
        assert_eq!(filter.level_for("wharf::server"), LevelFilter::Debug);
        assert_eq!(filter.level_for("wharf::serverless"), LevelFilter::Warn);
        assert_eq!(filter.level_for("mio::poll"), LevelFilter::Trace);
        assert_eq!(filter.max(), LevelFilter::Trace);

        let (filter, _) = Filter::parse("OFF");
        assert_eq!(filter.max(), LevelFilter::Off);

        // The most specific target wins, whatever the order.
        let (filter, _) = Filter::parse("wharf::a::b=error,wharf::a=trace");
        assert_eq!(filter.level_for("wharf::a::b::c"), LevelFilter::Error);
        assert_eq!(filter.level_for("wharf::a::x"), LevelFilter::Trace);
    }

    #[test]
    fn lines() {
        assert_eq!(
            format_line(Level::Error, "wharf", "root: x"),
            "wharf: error: root: x\n"
        );
        assert_eq!(format_line(Level::Info, "wharf", "ok"), "wharf: ok\n");
        assert_eq!(
            format_line(Level::Debug, "wharf::server", "a\nb"),
            "wharf: debug: [wharf::server] a b\n"
        );
    }
}
