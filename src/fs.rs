//! Every filesystem operation wharf performs, and the only module that uses
//! `std::fs` or rustix's filesystem calls.
//!
//! After start-up these functions run only on the IO pool ([`crate::io_pool`]),
//! never on an event-loop thread. The start-up helpers at the top (reading the
//! config file, checking the root, opening the access log) run on the main
//! thread before any loop exists.
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

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use crate::config::SymlinkPolicy;
use crate::listing::{self, Entry, EntryKind};
use crate::path::percent_encode_path;

/// Files up to this size are read whole in the open job and sent from memory,
/// so a small response costs one pool round trip.
pub const SMALL_FILE_MAX: u64 = 64 * 1024;

// ---------------------------------------------------------------------------
// Start-up helpers (main thread, before the event loops start).

/// Whether `path` names a regular file (following symlinks).
pub fn is_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Reads a config file as UTF-8 text.
pub fn read_config(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
}

/// Canonicalises `path` and checks that it is a directory.
pub fn canonical_dir(path: &Path) -> io::Result<PathBuf> {
    let canonical = std::fs::canonicalize(path)?;
    if !std::fs::metadata(&canonical)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok(canonical)
}

// ---------------------------------------------------------------------------
// The document root.

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
    /// Opens the (already canonical) root directory. Start-up only.
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

    /// Opens `relative` (no leading slash, no `..`; empty means the root)
    /// for reading, following symlinks as `policy` allows.
    fn open_beneath(&self, relative: &str, policy: SymlinkPolicy) -> Result<OwnedFd, OpenError> {
        let relative = if relative.is_empty() { "." } else { relative };
        // O_NONBLOCK: opening a FIFO must not block the pool thread; it has
        // no effect on regular files and directories.
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        if policy == SymlinkPolicy::Follow {
            // `..` was refused lexically, so only symlinks lead elsewhere,
            // and this policy allows them.
            return rustix::fs::openat(&self.dir, relative, flags, Mode::empty())
                .map_err(OpenError::from_errno);
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
                    return Err(OpenError::NotFound)
                }
                Err(e) => return Err(OpenError::from_errno(e)),
            }
        }
        if policy == SymlinkPolicy::Deny {
            // No openat2: walk component by component, refusing symlinks.
            return self.open_no_symlinks(relative, flags);
        }
        let canonical =
            std::fs::canonicalize(self.path.join(relative)).map_err(|e| OpenError::from_io(&e))?;
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
        }
    }

    /// Opens `relative` one component at a time with `O_NOFOLLOW`, so no
    /// symlink is followed anywhere on the way (the pre-`openat2` fallback).
    fn open_no_symlinks(&self, relative: &str, flags: OFlags) -> Result<OwnedFd, OpenError> {
        let mut dir = rustix::io::dup(&self.dir).map_err(OpenError::from_errno)?;
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
                    rustix::io::Errno::LOOP => OpenError::NotFound,
                    e => OpenError::from_errno(e),
                },
            )?;
        }
        if components.is_empty() {
            return rustix::fs::openat(&self.dir, ".", flags, Mode::empty())
                .map_err(OpenError::from_errno);
        }
        Ok(dir)
    }
}

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

// ---------------------------------------------------------------------------
// Opening what a request names.

/// What the event loop asks the pool to open.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// From [`crate::path::SafePath::relative`].
    pub relative: String,
    pub trailing_slash: bool,
    /// The raw query string, kept on redirects.
    pub query: Option<String>,
    /// False for HEAD: the body is not read.
    pub want_body: bool,
}

/// How the pool answers an [`OpenRequest`].
#[derive(Debug)]
pub enum Opened {
    /// A regular file.
    File { meta: FileMeta, body: FileBody },
    /// A directory asked for without its trailing slash.
    Redirect { location: String },
    /// A rendered HTML directory listing.
    Listing { html: Vec<u8> },
}

/// The headers' view of a file, all from one `fstat` of the opened file.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub len: u64,
    pub modified: SystemTime,
    pub content_type: Cow<'static, str>,
}

/// A file's body as the pool hands it to the loop.
#[derive(Debug)]
pub enum FileBody {
    /// Nothing to send (HEAD).
    Empty,
    /// The whole (small) file, already read; the file is closed.
    InMemory(Vec<u8>),
    /// A large file, streamed with [`read_chunk`] jobs.
    Stream(File),
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
    fn from_errno(errno: rustix::io::Errno) -> OpenError {
        OpenError::from_io(&io::Error::from(errno))
    }

    fn from_io(error: &io::Error) -> OpenError {
        match error.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => OpenError::NotFound,
            io::ErrorKind::PermissionDenied => OpenError::Forbidden,
            _ if error.raw_os_error() == Some(libc::ELOOP) => OpenError::NotFound,
            _ if error.raw_os_error() == Some(libc::ENAMETOOLONG) => OpenError::NotFound,
            _ => OpenError::Io(io::Error::new(error.kind(), error.to_string())),
        }
    }
}

/// Resolves and opens what a request names: a file, a directory's index
/// file, a redirect to the slash form of a directory, or a listing.
pub fn open_target(
    root: &Root,
    request: &OpenRequest,
    options: &crate::config::HttpOptions,
) -> Result<Opened, OpenError> {
    let fd = root.open_beneath(&request.relative, options.symlinks)?;
    let stat = rustix::fs::fstat(&fd).map_err(OpenError::from_errno)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile if request.trailing_slash => Err(OpenError::NotFound),
        FileType::RegularFile => serve_file(fd, &stat, &request.relative, request.want_body),
        FileType::Directory if !request.trailing_slash => {
            let mut location = percent_encode_path(&format!("/{}/", request.relative));
            if let Some(query) = &request.query {
                location.push('?');
                location.push_str(query);
            }
            Ok(Opened::Redirect { location })
        }
        FileType::Directory => {
            for index in options.index_files.iter() {
                let relative = join(&request.relative, index);
                let Ok(index_fd) = root.open_beneath(&relative, options.symlinks) else {
                    continue;
                };
                let stat = rustix::fs::fstat(&index_fd).map_err(OpenError::from_errno)?;
                if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile {
                    return serve_file(index_fd, &stat, &relative, request.want_body);
                }
            }
            if !options.directory_listing {
                return Err(OpenError::Forbidden);
            }
            let entries = read_entries(&fd, options.hidden_files)?;
            let url_path = if request.relative.is_empty() {
                "/".to_string()
            } else {
                format!("/{}/", request.relative)
            };
            let html = listing::render_html(&url_path, entries);
            Ok(Opened::Listing { html })
        }
        // FIFOs, sockets and devices are never served.
        _ => Err(OpenError::NotFound),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn serve_file(
    fd: OwnedFd,
    stat: &rustix::fs::Stat,
    name: &str,
    want_body: bool,
) -> Result<Opened, OpenError> {
    let mut meta = FileMeta {
        len: stat.st_size as u64,
        modified: modified_time(stat),
        content_type: content_type(name),
    };
    let file = File::from(fd);
    let body = if !want_body || meta.len == 0 {
        FileBody::Empty
    } else if meta.len <= SMALL_FILE_MAX {
        let mut data = Vec::with_capacity(meta.len as usize);
        read_chunk(&file, 0, meta.len as usize, &mut data).map_err(|e| OpenError::from_io(&e))?;
        // A file that shrank since the fstat is sent as it is now read:
        // headers and body must agree.
        meta.len = data.len() as u64;
        FileBody::InMemory(data)
    } else {
        FileBody::Stream(file)
    };
    Ok(Opened::File { meta, body })
}

/// A stat's modification time, with nanoseconds; times before 1970 become
/// the epoch.
// The casts are no-ops on 64-bit Linux but not on every target.
#[allow(clippy::unnecessary_cast)]
fn modified_time(stat: &rustix::fs::Stat) -> SystemTime {
    let secs = u64::try_from(stat.st_mtime as i64).unwrap_or(0);
    let nanos = u32::try_from(stat.st_mtime_nsec as i64)
        .unwrap_or(0)
        .min(999_999_999);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// The `Content-Type` for a file name: mime_guess's first guess, with
/// `charset=utf-8` on text types, `application/octet-stream` when unknown.
pub fn content_type(name: &str) -> Cow<'static, str> {
    let Some(mime) = mime_guess::from_path(name).first_raw() else {
        return Cow::Borrowed("application/octet-stream");
    };
    let textual = mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if textual {
        Cow::Owned(format!("{mime}; charset=utf-8"))
    } else {
        Cow::Borrowed(mime)
    }
}

/// Reads up to `len` bytes at `offset` into `buf` (cleared first), retrying
/// short reads. Returns fewer bytes only at end of file.
pub fn read_chunk(file: &File, offset: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    buf.reserve(len);
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        let want = len - buf.len();
        let spare = &mut buf.spare_capacity_mut()[..want];
        let (filled, _) = rustix::io::pread(file, spare, at)?;
        if filled.is_empty() {
            break;
        }
        let n = filled.len();
        // SAFETY: pread initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
    }
    Ok(buf.len())
}

/// Reads a directory's entries with their metadata. Symlinks are listed but
/// not followed, so a listing never reveals anything about their targets.
fn read_entries(dir: &OwnedFd, hidden_files: bool) -> Result<Vec<Entry>, OpenError> {
    let mut entries = Vec::new();
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
        let Ok(stat) = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue; // Gone since the read: skip it.
        };
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::File,
        };
        entries.push(Entry {
            name: name.to_string(),
            kind,
            size: stat.st_size as u64,
            modified: modified_time(&stat),
        });
    }
    Ok(entries)
}

// ---------------------------------------------------------------------------
// The access log's destination.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("a.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.unknownext"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
