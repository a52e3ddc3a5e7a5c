//! The walk behind a directory download: the entries of a directory tree,
//! depth first and sorted by name, each one opened exactly as a request for
//! it would be, so the archive holds what the site serves and nothing else.
//!
//! The cursor is a stack of directories being walked, each with its
//! entries still to visit (names only). No directory stays open between
//! pool jobs: a directory is opened, read and closed in the job that
//! reaches it, and each entry is opened by its path beneath the root
//! ([`Root::open_beneath`], the `symlinks` policy, the kernel's
//! confinement). The only descriptor the walk hands out is the file being
//! archived.
//!
//! What is left out:
//! - hidden names (unless `hidden_files`), names that are not UTF-8 or
//!   that no request could name (as in a listing);
//! - FIFOs, sockets and devices, and symlinks the policy refuses or that
//!   lead out of the root, nowhere, or to a special file. A symlink the
//!   policy allows is archived as what it leads to (a file, or a directory
//!   and its contents), as it is served: the archive never holds a link
//!   whose target could lie outside it. A directory already being walked
//!   higher up (a symlink loop) is left out;
//! - entries that vanish or cannot be opened or read before they are
//!   reached.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType};

use crate::config::HttpOptions;
use crate::disk::dir::{requestable, shown};
use crate::disk::resolve::{join, request_path};
use crate::disk::root::{file_id, OpenError, Root};
use crate::site::htpasswd::protecting;

/// Most entries (files and directories) one archive holds. The names
/// waiting on the cursor are bounded by it too.
pub const MAX_ENTRIES: usize = 100_000;

/// Most directory levels below the archived one.
pub const MAX_DEPTH: usize = 32;

/// Why a walk stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// More than [`MAX_ENTRIES`] entries.
    Entries,
    /// Directories nested deeper than [`MAX_DEPTH`].
    Depth,
}

/// The next thing to archive.
pub enum Found {
    /// A regular file, open, with the stat its header is made from.
    File {
        path: String,
        file: OwnedFd,
        stat: rustix::fs::Stat,
    },
    /// A directory (its path ends with `/`); its entries come next.
    Directory {
        path: String,
        stat: rustix::fs::Stat,
    },
}

/// One directory on the cursor.
struct Level {
    /// Beneath the root, as a request names it.
    relative: String,
    /// Inside the archive, ending with `/`.
    archive_path: String,
    /// Names still to visit, in reverse order (the next one is last).
    pending: Vec<String>,
    /// `(st_dev, st_ino)`, to leave out a directory reached again.
    id: (u64, u64),
}

/// The walk's cursor.
pub struct Walk {
    /// The password rule of the directory asked for (which the loop
    /// checked): entries under another rule are left out, or one download
    /// would hand out what a request for them would refuse.
    rule: Option<usize>,
    stack: Vec<Level>,
    /// The directory the walk starts with, until it is handed out.
    start: Option<Found>,
    entries: usize,
}

impl Walk {
    /// Starts at the directory `dir`, open at `relative` beneath the root,
    /// named `name` in the archive. Reads its entries now, so an
    /// unreadable directory is an error before any byte is sent.
    pub fn new(
        relative: &str,
        dir: &OwnedFd,
        name: &str,
        options: &HttpOptions,
    ) -> Result<Walk, OpenError> {
        let stat = rustix::fs::fstat(dir).map_err(OpenError::from_errno)?;
        let pending = read_names(dir, options, MAX_ENTRIES)?;
        let archive_path = format!("{name}/");
        Ok(Walk {
            rule: rule_of(options, &request_path(relative, true)),
            stack: vec![Level {
                relative: relative.to_string(),
                archive_path: archive_path.clone(),
                pending,
                id: file_id(&stat),
            }],
            start: Some(Found::Directory {
                path: archive_path,
                stat,
            }),
            entries: 1,
        })
    }

    /// The next entry, `Ok(None)` at the end of the walk.
    pub fn next(&mut self, root: &Root, options: &HttpOptions) -> Result<Option<Found>, Limit> {
        if let Some(start) = self.start.take() {
            return Ok(Some(start));
        }
        loop {
            let Some(level) = self.stack.last_mut() else {
                return Ok(None);
            };
            let Some(name) = level.pending.pop() else {
                self.stack.pop();
                continue;
            };
            let relative = join(&level.relative, &name);
            let path = format!("{}{name}", level.archive_path);
            let Ok(fd) = root.open_beneath(&relative, options.symlinks) else {
                continue; // Gone, refused, or leading out of the root.
            };
            let Ok(stat) = rustix::fs::fstat(&fd) else {
                continue;
            };
            let kind = FileType::from_raw_mode(stat.st_mode);
            let is_dir = kind == FileType::Directory;
            if !options.auth_rules.is_empty()
                && rule_of(options, &request_path(&relative, is_dir)) != self.rule
            {
                continue; // Under another password rule.
            }
            match kind {
                FileType::RegularFile => {
                    self.count()?;
                    return Ok(Some(Found::File {
                        path,
                        file: fd,
                        stat,
                    }));
                }
                FileType::Directory => {
                    let id = file_id(&stat);
                    if self.stack.iter().any(|l| l.id == id) {
                        continue; // A symlink back up the tree.
                    }
                    if self.stack.len() > MAX_DEPTH {
                        return Err(Limit::Depth);
                    }
                    let room = MAX_ENTRIES.saturating_sub(self.entries);
                    let Ok(pending) = read_names(&fd, options, room) else {
                        continue;
                    };
                    self.count()?;
                    let archive_path = format!("{path}/");
                    self.stack.push(Level {
                        relative,
                        archive_path: archive_path.clone(),
                        pending,
                        id,
                    });
                    return Ok(Some(Found::Directory {
                        path: archive_path,
                        stat,
                    }));
                }
                // Reached through a symlink: never archived.
                _ => continue,
            }
        }
    }

    fn count(&mut self) -> Result<(), Limit> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(Limit::Entries);
        }
        Ok(())
    }
}

/// The password rule protecting the request path `path`, by index.
fn rule_of(options: &HttpOptions, path: &str) -> Option<usize> {
    protecting(&options.auth_rules, path).map(|(index, _)| index)
}

/// The names in `dir` that may be archived, sorted in reverse byte order
/// (so `pop` gives the next one). At most `room + 1` are kept: the first
/// ones by name, and one more so that a walk past [`MAX_ENTRIES`] still
/// notices. Special files are left out here, without being opened;
/// symlinks are kept, to be opened (and judged) when reached.
fn read_names(dir: &OwnedFd, options: &HttpOptions, room: usize) -> Result<Vec<String>, OpenError> {
    let keep = room.saturating_add(1);
    let mut names = Vec::new();
    let reader = rustix::fs::Dir::read_from(dir).map_err(OpenError::from_errno)?;
    for entry in reader {
        let entry = entry.map_err(OpenError::from_errno)?;
        if !shown(entry.file_name().to_bytes(), options) {
            continue;
        }
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if !requestable(name) {
            continue;
        }
        let Ok(stat) = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if !matches!(
            FileType::from_raw_mode(stat.st_mode),
            FileType::RegularFile | FileType::Directory | FileType::Symlink
        ) {
            continue;
        }
        names.push(name.to_string());
        if names.len() >= 2 * keep {
            names.sort_unstable();
            names.truncate(keep);
        }
    }
    names.sort_unstable();
    names.truncate(keep);
    names.reverse();
    Ok(names)
}
