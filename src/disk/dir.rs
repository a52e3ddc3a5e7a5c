//! Directory reads: a listing's entries, and the walks and access checks
//! the file watcher makes.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType};

use super::representation::modified_parts;
use super::root::OpenError;
use crate::site::listing::{self, Entry, EntryKind, ListingQuery};

/// A stat's modification time, with nanoseconds; times before 1970 become
/// the epoch.
fn modified_time(stat: &rustix::fs::Stat) -> SystemTime {
    let (secs, nanos) = modified_parts(stat);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Reads a directory's entries with their metadata, keeping at most
/// [`listing::MAX_ENTRIES`] of them (the first in the requested order), so
/// a directory of any size costs bounded memory. Returns the entries and
/// how many were left out. Symlinks are listed but not followed, so a
/// listing never reveals anything about their targets.
pub(super) fn read_entries(
    dir: &OwnedFd,
    hidden_files: bool,
    query: &ListingQuery,
) -> Result<(Vec<Entry>, usize), OpenError> {
    let mut entries = Vec::new();
    let mut seen = 0usize;
    let reader = rustix::fs::Dir::read_from(dir).map_err(OpenError::from_errno)?;
    for entry in reader {
        let entry = entry.map_err(OpenError::from_errno)?;
        let Ok(name) = entry.file_name().to_str() else {
            // Names that are not UTF-8 cannot be requested, so are not listed.
            continue;
        };
        if name == "." || name == ".." || (!hidden_files && name.starts_with('.')) {
            continue;
        }
        // Names the path rules refuse (`a\b`, `a:b`, `name.`) could not be
        // requested through their link, so they are not listed either.
        if crate::site::path::sanitize(&format!(
            "/{}",
            crate::site::path::percent_encode_path(name)
        ))
        .is_err()
        {
            continue;
        }
        let Ok(stat) = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue; // Gone since the read: skip it.
        };
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::File,
        };
        seen += 1;
        entries.push(Entry {
            name: name.to_string(),
            kind,
            size: stat.st_size as u64,
            modified: modified_time(&stat),
        });
        if entries.len() >= 2 * listing::MAX_ENTRIES {
            query.sort(&mut entries);
            entries.truncate(listing::MAX_ENTRIES);
        }
    }
    query.sort(&mut entries);
    entries.truncate(listing::MAX_ENTRIES);
    let omitted = seen - entries.len();
    Ok((entries, omitted))
}

/// Whether this process may enter (search) the directory at `path`, by its
/// effective ids: if not, nothing below it can be served. (For the watcher,
/// on its own thread.)
pub fn can_enter(path: &Path) -> bool {
    rustix::fs::accessat(
        rustix::fs::CWD,
        path,
        rustix::fs::Access::EXEC_OK,
        AtFlags::EACCESS,
    )
    .is_ok()
}

/// Every directory at or below `relative` (relative to `root`, not
/// following symlinks), as paths relative to `root`. For the file watcher:
/// at start-up on the main thread, later on the watcher thread.
pub fn directories_under(root: &Path, relative: &str) -> io::Result<Vec<String>> {
    let mut found = vec![relative.to_string()];
    let mut next = 0;
    while next < found.len() {
        let dir = found[next].clone();
        next += 1;
        let entries = match std::fs::read_dir(root.join(&dir)) {
            Ok(entries) => entries,
            // Gone or unreadable since it was seen: nothing to watch there.
            Err(_) if next > 1 => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
                found.push(if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    Ok(found)
}
