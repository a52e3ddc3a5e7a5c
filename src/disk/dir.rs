//! Directory reads: a listing's entries, and the walks and access checks
//! the file watcher makes.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType};

use super::representation::modified_parts;
use super::resolve::join;
use super::root::{OpenError, Root};
use crate::config::HttpOptions;
use crate::site::listing::{self, Entry, EntryKind, ListingQuery, Omitted};

/// A stat's modification time, with nanoseconds; times before 1970 become
/// the epoch.
fn modified_time(stat: &rustix::fs::Stat) -> SystemTime {
    let (secs, nanos) = modified_parts(stat);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Reads a directory's entries with their metadata, keeping at most
/// [`listing::MAX_ENTRIES`] of them (the first in the requested order), so
/// a directory of any size costs bounded memory. `dir` is the directory
/// opened at `relative` beneath `root`.
///
/// Each entry is shown as a request for it would be answered:
/// - a symlink is opened beneath the root exactly as a request would open
///   it (`options.symlinks`, the kernel's confinement) and shown as what it
///   leads to: its kind, size and time. One that leads out of the root,
///   nowhere, to something that is neither a file nor a directory, or that
///   the policy refuses answers `404`, so it is left out and counted; its
///   target, which the listing never names, is not described in any way.
///   Only symlinks cost this extra open;
/// - names that are not UTF-8 or that the path rules refuse, and FIFOs,
///   sockets and devices, cannot be served: left out and counted;
/// - hidden names (unless `hidden_files`) are left out and not counted
///   (see [`Omitted`]); so is an entry gone since the directory was read.
pub(super) fn read_entries(
    root: &Root,
    relative: &str,
    dir: &OwnedFd,
    options: &HttpOptions,
    query: &ListingQuery,
) -> Result<(Vec<Entry>, Omitted), OpenError> {
    let mut entries = Vec::new();
    let mut servable = 0usize;
    let mut unservable = 0usize;
    let reader = rustix::fs::Dir::read_from(dir).map_err(OpenError::from_errno)?;
    for entry in reader {
        let entry = entry.map_err(OpenError::from_errno)?;
        if !shown(entry.file_name().to_bytes(), options) {
            continue;
        }
        let Ok(name) = entry.file_name().to_str() else {
            // Not UTF-8: no request can name it.
            unservable += 1;
            continue;
        };
        if !requestable(name) {
            unservable += 1;
            continue;
        }
        let Ok(stat) = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue; // Gone since the read: skip it.
        };
        let stat = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile | FileType::Directory => stat,
            FileType::Symlink => match follow(root, &join(relative, name), options) {
                Some(stat) => stat,
                None => {
                    unservable += 1;
                    continue;
                }
            },
            // FIFOs, sockets and devices are never served.
            _ => {
                unservable += 1;
                continue;
            }
        };
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => EntryKind::Directory,
            _ => EntryKind::File,
        };
        servable += 1;
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
    let omitted = Omitted {
        unservable,
        over_limit: servable - entries.len(),
    };
    Ok((entries, omitted))
}

/// Whether a request can name `name`: its link in a listing passes the
/// path rules and comes back as the same name. (`a\b` and names with
/// control characters do not.)
pub(super) fn requestable(name: &str) -> bool {
    crate::site::path::sanitize(&format!(
        "/{}",
        crate::site::path::percent_encode_path(name)
    ))
    .is_ok_and(|path| path.relative == name)
}

/// What a request for the symlink at `relative` would be answered with: the
/// stat of the regular file or directory it leads to, opened beneath the
/// root under the configured policy, or `None` when the answer would be an
/// error (outside the root, dangling, a loop, refused by the policy,
/// unreadable, or a special file).
fn follow(root: &Root, relative: &str, options: &HttpOptions) -> Option<rustix::fs::Stat> {
    let fd = root.open_beneath(relative, options.symlinks).ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    matches!(
        FileType::from_raw_mode(stat.st_mode),
        FileType::RegularFile | FileType::Directory
    )
    .then_some(stat)
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

/// The names in the directory at `relative` (relative to `root`, not
/// following symlinks), each with whether it is a directory itself. For
/// the file watcher: at start-up on the main thread, later on the watcher
/// thread.
pub fn names_in(root: &Path, relative: &str) -> io::Result<Vec<(String, bool)>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join(relative))?.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        // A name that is not UTF-8 cannot be requested (nor be a sidecar
        // wharf serves).
        if let Ok(name) = entry.file_name().into_string() {
            names.push((name, is_dir));
        }
    }
    Ok(names)
}
/// Whether a directory entry's name is shown (in a listing or an archive):
/// not `.` or `..`, and not a dotfile unless `[http] hidden_files`.
pub(super) fn shown(raw: &[u8], options: &HttpOptions) -> bool {
    raw != b"." && raw != b".." && (options.hidden_files || !raw.starts_with(b"."))
}
