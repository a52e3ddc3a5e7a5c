//! Debug builds only: the fault-injection hooks tests use to prove that a
//! panic costs only its own connection, and to hold an IO thread at will.
//! Nothing here exists in a release build.

// Runs on an IO thread, in debug builds only; see clippy.toml.
#![allow(clippy::disallowed_methods)]

/// Debug builds only: whether `WHARF_FAULT_INJECTION=1` asks for the test
/// hooks that make a request panic on purpose (`/__wharf_fault/panic-loop`
/// on the event loop, `/__wharf_fault/panic-deadline` in the header
/// timeout of an unfinished head, `/__wharf_fault/panic-pool` in an IO
/// job), so tests can prove that a panic costs only its own connection, or
/// hold an IO thread (`/__wharf_fault/hold-pool`, see
/// [`hold_for_fault_injection`]).
#[cfg(debug_assertions)]
pub fn fault_injection() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("WHARF_FAULT_INJECTION").is_some_and(|v| v == "1"))
}

/// Debug builds only, behind `WHARF_FAULT_INJECTION=1`: holds the calling
/// IO thread so a test can occupy the pool at will. Announces itself by
/// creating `started-<thread name>` in the directory `$WHARF_FAULT_DIR`,
/// then waits while `$WHARF_FAULT_DIR/hold` exists (at most a minute).
#[cfg(debug_assertions)]
pub fn hold_for_fault_injection() {
    let Some(dir) = std::env::var_os("WHARF_FAULT_DIR").map(std::path::PathBuf::from) else {
        return;
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    let _ = std::fs::write(dir.join(format!("started-{name}")), b"");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while dir.join("hold").exists() && std::time::Instant::now() < give_up {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Debug builds only, behind `WHARF_FAULT_INJECTION=1`: how long start-up
/// walks the tree for the file watcher before the watcher thread takes
/// over, from `WHARF_FAULT_WATCH_BUDGET_MS` (0: the whole walk on the
/// thread), so a test reaches the background walk with a small tree.
#[cfg(debug_assertions)]
pub fn watch_budget() -> Option<std::time::Duration> {
    if !fault_injection() {
        return None;
    }
    let millis = std::env::var("WHARF_FAULT_WATCH_BUDGET_MS").ok()?;
    millis.parse().ok().map(std::time::Duration::from_millis)
}
