//! Confinement: the document root and every open beneath it.
//!
//! Confinement (`[http] symlinks = "within-root"`, the default): every path
//! is opened relative to a directory descriptor of the root with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, so the
//! kernel refuses any resolution, through `..` or a symlink, that would leave
//! the root, atomically: a symlink swapped in between a check and the open
//! cannot escape. Absolute symlinks that point inside the root are refused
//! by `RESOLVE_BENEATH`; for them (and on kernels without `openat2`) the path
//! is canonicalised, checked to lie under the root, and the canonical,
//! symlink-free path is opened beneath the root again. `"deny"` adds
//! `RESOLVE_NO_SYMLINKS` (or walks with `O_NOFOLLOW` without openat2);
//! `"follow"` opens with plain `openat`, where only symlinks can lead out,
//! since `..` never gets this far.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::config::SymlinkPolicy;

/// The document root: its canonical path and a directory descriptor that all
/// opens are made relative to.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    dir: OwnedFd,
    /// Cleared when the kernel has no `openat2` (before Linux 5.6).
    has_openat2: AtomicBool,
}

impl Root {
    /// Opens the (already canonical) root directory. At start-up and on
    /// reload, never on an event loop.
    pub fn open(path: &Path) -> io::Result<Root> {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            path: path.to_path_buf(),
            dir,
            has_openat2: AtomicBool::new(true),
        })
    }

    /// Whether `other` is this very directory (same device and inode), as
    /// opposed to another one now found at the same path (a directory
    /// renamed into place, as deploy tools do).
    pub fn is_same_directory(&self, other: &Root) -> bool {
        match (rustix::fs::fstat(&self.dir), rustix::fs::fstat(&other.dir)) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }

    /// The root directory's `(st_dev, st_ino)`: a download that spans
    /// several jobs checks that each one walks the same root.
    pub(super) fn identity(&self) -> Option<(u64, u64)> {
        rustix::fs::fstat(&self.dir).ok().map(|stat| file_id(&stat))
    }

    /// Opens `relative` (no leading slash, no `..`; empty means the root)
    /// for reading, following symlinks as `policy` allows.
    pub(super) fn open_beneath(
        &self,
        relative: &str,
        policy: SymlinkPolicy,
    ) -> Result<OwnedFd, OpenError> {
        self.open_or_missing(relative, policy)
            .map_err(Missing::into_error)
    }

    /// [`Root::open_beneath`], telling apart a name that is simply not
    /// there (`ENOENT` from the confined open itself: [`Missing::Nothing`])
    /// from every other failure, a refused symlink or a way out of the
    /// root included. Only the former may be answered with something else
    /// (a clean URL, the app fallback).
    pub(super) fn open_or_missing(
        &self,
        relative: &str,
        policy: SymlinkPolicy,
    ) -> Result<OwnedFd, Missing> {
        let nothing = |e: rustix::io::Errno| match e {
            rustix::io::Errno::NOENT => Missing::Nothing,
            e => Missing::Other(OpenError::from_errno(e)),
        };
        let relative = if relative.is_empty() { "." } else { relative };
        let flags = READ_FLAGS;
        if policy == SymlinkPolicy::Follow {
            // `..` was refused lexically, so only symlinks lead elsewhere,
            // and this policy allows them.
            return rustix::fs::openat(&self.dir, relative, flags, Mode::empty()).map_err(nothing);
        }
        let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        if policy == SymlinkPolicy::Deny {
            resolve |= ResolveFlags::NO_SYMLINKS;
        }
        if self.has_openat2.load(Ordering::Relaxed) {
            match openat2_retrying(&self.dir, relative, flags, resolve) {
                Ok(fd) => return Ok(fd),
                // EXDEV: the walk would leave the root, or met an absolute
                // symlink. Decide with the canonical path below.
                // AGAIN: renames elsewhere kept interrupting a `..` walk.
                Err(rustix::io::Errno::XDEV | rustix::io::Errno::AGAIN)
                    if policy == SymlinkPolicy::WithinRoot => {}
                Err(rustix::io::Errno::NOSYS) => self.has_openat2.store(false, Ordering::Relaxed),
                Err(rustix::io::Errno::XDEV | rustix::io::Errno::LOOP) => {
                    return Err(Missing::Other(OpenError::NotFound))
                }
                Err(e) => return Err(nothing(e)),
            }
        }
        if policy == SymlinkPolicy::Deny {
            // No openat2: walk component by component, refusing symlinks.
            return self.open_no_symlinks(relative, flags);
        }
        // An absolute symlink: whatever fails from here on went through a
        // symlink, so it is never "nothing there". (Kernels without openat2
        // get here for every path: they answer missing names with 404 only.)
        self.open_canonical(relative, flags, resolve)
            .map_err(Missing::Other)
    }

    /// Opens the canonical, symlink-free form of `relative` beneath the root
    /// (absolute symlinks inside the root, kernels without openat2).
    fn open_canonical(
        &self,
        relative: &str,
        flags: OFlags,
        resolve: ResolveFlags,
    ) -> Result<OwnedFd, OpenError> {
        let canonical =
            std::fs::canonicalize(self.path.join(relative)).map_err(OpenError::from_io)?;
        let inside = canonical
            .strip_prefix(&self.path)
            .map_err(|_| OpenError::NotFound)?;
        let inside = if inside.as_os_str().is_empty() {
            Path::new(".")
        } else {
            inside
        };
        // The canonical path has no symlinks; refuse any that appear now.
        if self.has_openat2.load(Ordering::Relaxed) {
            let resolve = resolve | ResolveFlags::NO_SYMLINKS;
            openat2_retrying(&self.dir, inside, flags, resolve).map_err(|e| match e {
                rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => OpenError::NotFound,
                e => OpenError::from_errno(e),
            })
        } else {
            self.open_no_symlinks(&inside.to_string_lossy(), flags)
                .map_err(Missing::into_error)
        }
    }

    /// [`Root::open_beneath`], also telling whether no symlink was met on
    /// the way (`Some(true)`), one was (`Some(false)`), or that is not
    /// known (`None`: no `openat2`). The hot-file cache needs it (an
    /// inotify event names the path that changed, not a symlink to it).
    /// One `openat2` when the path has no symlink: it is first opened with
    /// `RESOLVE_NO_SYMLINKS`, and again under `policy` only if that met one.
    pub(super) fn open_beneath_noting_symlinks(
        &self,
        relative: &str,
        policy: SymlinkPolicy,
    ) -> Result<(OwnedFd, Option<bool>), OpenError> {
        self.open_or_missing_noting_symlinks(relative, policy)
            .map_err(Missing::into_error)
    }

    /// [`Root::open_beneath_noting_symlinks`], telling a name that is not
    /// there apart as [`Root::open_or_missing`] does.
    pub(super) fn open_or_missing_noting_symlinks(
        &self,
        relative: &str,
        policy: SymlinkPolicy,
    ) -> Result<(OwnedFd, Option<bool>), Missing> {
        if policy == SymlinkPolicy::Deny {
            return self
                .open_or_missing(relative, policy)
                .map(|fd| (fd, Some(true)));
        }
        if self.has_openat2.load(Ordering::Relaxed) {
            let path = if relative.is_empty() { "." } else { relative };
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS;
            match openat2_retrying(&self.dir, path, READ_FLAGS, resolve) {
                Ok(fd) => return Ok((fd, Some(true))),
                // A symlink on the way (or a walk the kernel could not
                // vouch for): open it the way the policy says.
                Err(
                    rustix::io::Errno::LOOP | rustix::io::Errno::XDEV | rustix::io::Errno::AGAIN,
                ) => {
                    return self
                        .open_or_missing(relative, policy)
                        .map(|fd| (fd, Some(false)));
                }
                Err(rustix::io::Errno::NOSYS) => {}
                // ENOENT with no symlink on the way: nothing is there.
                Err(rustix::io::Errno::NOENT) => return Err(Missing::Nothing),
                Err(e) => return Err(Missing::Other(OpenError::from_errno(e))),
            }
        }
        self.open_or_missing(relative, policy).map(|fd| (fd, None))
    }

    /// Opens `relative` one component at a time with `O_NOFOLLOW`, so no
    /// symlink is followed anywhere on the way (the pre-`openat2` fallback).
    fn open_no_symlinks(&self, relative: &str, flags: OFlags) -> Result<OwnedFd, Missing> {
        let mut dir =
            rustix::io::dup(&self.dir).map_err(|e| Missing::Other(OpenError::from_errno(e)))?;
        let components: Vec<&str> = relative.split('/').filter(|c| !c.is_empty()).collect();
        for (i, component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            let component_flags = if last {
                flags | OFlags::NOFOLLOW
            } else {
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            };
            dir = rustix::fs::openat(&dir, *component, component_flags, Mode::empty()).map_err(
                |e| match e {
                    rustix::io::Errno::LOOP => Missing::Other(OpenError::NotFound),
                    rustix::io::Errno::NOENT => Missing::Nothing,
                    e => Missing::Other(OpenError::from_errno(e)),
                },
            )?;
        }
        if components.is_empty() {
            return rustix::fs::openat(&self.dir, ".", flags, Mode::empty())
                .map_err(|e| Missing::Other(OpenError::from_errno(e)));
        }
        Ok(dir)
    }
}

/// A stat's `(st_dev, st_ino)`: what tells one file or directory from
/// another. (The casts are for platforms whose fields are narrower.)
#[allow(clippy::unnecessary_cast)]
pub(super) fn file_id(stat: &rustix::fs::Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

/// How every file and directory beneath the root is opened. `O_NONBLOCK`:
/// opening a FIFO must not block the pool thread; it has no effect on
/// regular files and directories.
const READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY)
    .union(OFlags::NONBLOCK);

/// `openat2`, retried when it fails with `EAGAIN`: with `RESOLVE_BENEATH`
/// the kernel gives up on a `..` walk if any rename happened on the system
/// meanwhile, since it can no longer prove the walk stayed beneath the root.
/// That is about other files, not this request, so try again a few times.
fn openat2_retrying<P: rustix::path::Arg + Copy>(
    dir: &OwnedFd,
    path: P,
    flags: OFlags,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(dir, path, flags, Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) if attempts < 16 => attempts += 1,
            result => return result,
        }
    }
}

/// Why an open beneath the root failed, for [`Root::open_or_missing`].
#[derive(Debug)]
pub enum Missing {
    /// No such name, reached without leaving the root or meeting a refused
    /// symlink.
    Nothing,
    /// Anything else (a refused symlink is [`OpenError::NotFound`] here).
    Other(OpenError),
}

impl Missing {
    pub(super) fn into_error(self) -> OpenError {
        match self {
            Missing::Nothing => OpenError::NotFound,
            Missing::Other(error) => error,
        }
    }
}

/// Why a request's target could not be served.
#[derive(Debug)]
pub enum OpenError {
    /// Missing, outside the root, not a regular file or directory: 404.
    NotFound,
    /// Permission denied, or a directory without index or listing: 403.
    Forbidden,
    /// Anything else: 500.
    Io(io::Error),
}

impl OpenError {
    pub(super) fn from_errno(errno: rustix::io::Errno) -> OpenError {
        OpenError::from_io(io::Error::from(errno))
    }

    pub(super) fn from_io(error: io::Error) -> OpenError {
        match error.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => OpenError::NotFound,
            io::ErrorKind::PermissionDenied => OpenError::Forbidden,
            _ if error.raw_os_error() == Some(libc::ELOOP) => OpenError::NotFound,
            _ if error.raw_os_error() == Some(libc::ENAMETOOLONG) => OpenError::NotFound,
            _ => OpenError::Io(error),
        }
    }
}
