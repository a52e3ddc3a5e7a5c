//! Every filesystem operation wharf performs, and the only module that uses
//! `std::fs` or rustix's filesystem calls.
//!
//! After start-up these functions run only on the IO pool ([`crate::disk::pool`]),
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

pub mod pool;
pub mod watch;

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use crate::cache::FileCache;
use crate::config::{HttpOptions, SymlinkPolicy};
use crate::http::conditional::{self, Validators};
use crate::http::date::unix_seconds;
use crate::http::encoding::{self, Coding};
use crate::http::range::Multipart;
use crate::http::request::FileHeaders;
use crate::http::serve::{self, Plan};
use crate::site::listing::{self, Entry, EntryKind, ListingQuery};
use crate::site::path::percent_encode_path;

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
    /// From [`crate::site::path::SafePath::relative`].
    pub relative: String,
    pub trailing_slash: bool,
    /// The raw query string, kept on redirects and read by listings.
    pub query: Option<String>,
    /// GET, or false for HEAD: the body is not read, ranges do not apply.
    pub is_get: bool,
    /// Preconditions, `Range` and `Accept-Encoding`.
    pub headers: FileHeaders,
    /// The listing is wanted as JSON (`Accept: application/json`).
    pub wants_json: bool,
    /// `[limits] max_ranges`.
    pub max_ranges: usize,
}

/// How the pool answers an [`OpenRequest`].
#[derive(Debug)]
pub enum Opened {
    /// A regular file (or a precompressed variant of it).
    File(FileResponse),
    /// A directory asked for without its trailing slash.
    Redirect { location: String },
    /// A rendered directory listing (HTML, or JSON when asked), with an
    /// `ETag` over its bytes; `not_modified` when `If-None-Match` matched.
    Listing {
        body: Vec<u8>,
        json: bool,
        etag: String,
        not_modified: bool,
    },
}

/// Everything the loop needs to answer with a file.
#[derive(Debug)]
pub struct FileResponse {
    /// 200, 206, 304, 412 or 416, decided before any byte was read.
    pub plan: Plan,
    pub meta: FileMeta,
    /// `Content-Length` for 200 and 206 (also for HEAD, without a body).
    pub content_length: u64,
    /// `multipart/byteranges; boundary=...` for a multi-range answer.
    pub multipart_type: Option<String>,
    pub body: FileBody,
    /// Set when the file may be cached (boxed: it is large, and rare).
    pub cacheable: Option<Box<Cacheable>>,
}

/// The headers' view of the representation sent, all from one `fstat` of
/// the opened file (the sidecar, for a precompressed variant).
#[derive(Debug, Clone)]
pub struct FileMeta {
    /// The representation's length.
    pub len: u64,
    /// Clamped to now (a future mtime is never sent).
    pub modified: SystemTime,
    pub etag: String,
    /// The type of the requested file, also for a compressed variant.
    pub content_type: Cow<'static, str>,
    /// The coding of a precompressed variant.
    pub encoding: Option<Coding>,
    /// Precompressed variants exist, so responses carry `Vary: Accept-Encoding`.
    pub has_variants: bool,
}

/// A file's body as the pool hands it to the loop.
#[derive(Debug)]
pub enum FileBody {
    /// Nothing to send (HEAD, 304, 412, 416).
    Empty,
    /// The whole (small) body, already read; the file is closed.
    InMemory(Vec<u8>),
    /// `len` bytes from `offset`, streamed with [`read_chunk`] jobs.
    Stream {
        file: SharedFile,
        offset: u64,
        len: u64,
    },
    /// `len` bytes from `start` of a whole file read for the cache.
    Shared {
        bytes: Arc<[u8]>,
        start: usize,
        len: usize,
    },
}

/// An open file that may be shared: by the hot-file cache's descriptor
/// entries and the responses sending from them. Its descriptor is never
/// closed on an event loop: when the last reference goes there (an entry
/// evicted by a loop's insert, say), the file is handed to the closer thread
/// instead ([`crate::disk::pool::close_off_loop`]).
pub type SharedFile = Arc<OffLoopFile>;

/// See [`SharedFile`].
#[derive(Debug)]
pub struct OffLoopFile(Option<File>);

impl OffLoopFile {
    pub fn shared(file: File) -> SharedFile {
        Arc::new(OffLoopFile(Some(file)))
    }
}

impl std::ops::Deref for OffLoopFile {
    type Target = File;

    fn deref(&self) -> &File {
        // Some until drop.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("file taken before drop"))
    }
}

impl Drop for OffLoopFile {
    fn drop(&mut self) {
        if let Some(file) = self.0.take() {
            crate::disk::pool::close_off_loop(file);
        }
    }
}

/// A whole small file (and its sidecars), or a large file's descriptor,
/// that the loop may put in the hot-file cache.
#[derive(Debug)]
pub struct Cacheable {
    /// The whole file; empty for a descriptor entry.
    pub bytes: Arc<[u8]>,
    /// A file too large to keep in memory: its open descriptor (a duplicate
    /// of the response's), kept with its metadata so the next request skips
    /// the open and the stat.
    pub file: Option<SharedFile>,
    /// The file's own metadata (not a sidecar's, whichever was sent).
    pub meta: FileMeta,
    /// Its precompressed sidecars, whole, in [`Coding::ALL`] order.
    pub variants: Vec<CacheableVariant>,
    /// The file's own path relative to the root (for an index file, not
    /// the directory's), for invalidation.
    pub file_path: String,
    /// The cache generation read before the file was opened.
    pub generation: u64,
}

/// A precompressed sidecar read whole for the cache.
#[derive(Debug)]
pub struct CacheableVariant {
    pub meta: FileMeta,
    pub bytes: Arc<[u8]>,
}

impl Cacheable {
    /// The bytes of the representation with `encoding` (`None`: the file
    /// itself), if they were read.
    fn bytes_for(&self, encoding: Option<Coding>) -> Option<Arc<[u8]>> {
        if self.file.is_some() {
            return None;
        }
        match encoding {
            None => Some(self.bytes.clone()),
            Some(coding) => self
                .variants
                .iter()
                .find(|v| v.meta.encoding == Some(coding))
                .map(|v| v.bytes.clone()),
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
    options: &HttpOptions,
    cache: &FileCache,
) -> Result<Opened, OpenError> {
    // Read before the open: an insert is refused if anything changed since.
    let generation = cache.generation();
    let fd = root.open_beneath(&request.relative, options.symlinks)?;
    let stat = rustix::fs::fstat(&fd).map_err(OpenError::from_errno)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile if request.trailing_slash => Err(OpenError::NotFound),
        FileType::RegularFile => {
            let target = Target {
                relative: &request.relative,
                generation,
            };
            serve_file(root, fd, &stat, target, request, options, cache)
        }
        FileType::Directory if !request.trailing_slash => {
            let mut location = if request.relative.is_empty() {
                "/".to_string()
            } else {
                percent_encode_path(&format!("/{}/", request.relative))
            };
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
                    let target = Target {
                        relative: &relative,
                        generation,
                    };
                    return serve_file(root, index_fd, &stat, target, request, options, cache);
                }
            }
            if !options.directory_listing {
                return Err(OpenError::Forbidden);
            }
            let query = ListingQuery::parse(request.query.as_deref());
            let (entries, omitted) = read_entries(&fd, options.hidden_files, &query)?;
            let url_path = if request.relative.is_empty() {
                "/".to_string()
            } else {
                format!("/{}/", request.relative)
            };
            let body = if request.wants_json {
                listing::render_json(&url_path, &entries, omitted)
            } else {
                listing::render_html(&url_path, &entries, omitted, &query)
            };
            // A strong validator from the bytes themselves: a listing has
            // no single mtime (editing a file does not touch its directory).
            let etag = format!("\"l-{:016x}-{:x}\"", fnv1a(&body), body.len());
            let not_modified = request
                .headers
                .if_none_match
                .as_deref()
                .and_then(conditional::TagList::parse)
                .zip(conditional::EntityTag::parse(etag.as_bytes()))
                .is_some_and(|(list, own)| list.matches_weak(&own));
            Ok(Opened::Listing {
                body,
                json: request.wants_json,
                etag,
                not_modified,
            })
        }
        // FIFOs, sockets and devices are never served.
        _ => Err(OpenError::NotFound),
    }
}

/// FNV-1a, 64 bits: a stable (across runs and machines) digest for
/// listing validators.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// One representation of a file: the file itself or a precompressed
/// sidecar of it, open, with its `fstat`.
struct Representation {
    file: File,
    stat: rustix::fs::Stat,
    /// `None` for the file itself.
    encoding: Option<Coding>,
}

impl Representation {
    fn len(&self) -> u64 {
        self.stat.st_size as u64
    }

    /// Its path relative to the root, given the file's.
    fn path(&self, relative: &str) -> String {
        match self.encoding {
            None => relative.to_string(),
            Some(coding) => sidecar_path(relative, coding),
        }
    }

    /// The headers' view of it; `has_variants` when sidecars exist.
    fn meta(&self, has_variants: bool, content_type: Cow<'static, str>, now_secs: u64) -> FileMeta {
        let (mtime_secs, mtime_nanos) = modified_parts(&self.stat);
        let len = self.len();
        let etag = conditional::etag(
            len,
            mtime_secs,
            mtime_nanos,
            self.encoding.map(Coding::extension),
        );
        let last_modified_secs = conditional::effective_last_modified(mtime_secs, now_secs);
        FileMeta {
            len,
            modified: UNIX_EPOCH + Duration::from_secs(last_modified_secs),
            etag,
            content_type,
            encoding: self.encoding,
            has_variants,
        }
    }
}

/// The path of the file at `relative`'s sidecar for `coding`.
fn sidecar_path(relative: &str, coding: Coding) -> String {
    format!("{relative}.{}", coding.extension())
}

/// A file and the precompressed sidecars (`name.br`, `name.zst`,
/// `name.gz`) found beside it, in [`Coding::ALL`] order.
struct Representations {
    plain: Representation,
    sidecars: Vec<Representation>,
}

impl Representations {
    /// Opens the sidecars of the file at `relative` (none when
    /// `[http] precompressed` is off).
    fn find(
        root: &Root,
        plain: Representation,
        relative: &str,
        options: &HttpOptions,
    ) -> Representations {
        let mut sidecars = Vec::new();
        if options.precompressed {
            for coding in Coding::ALL {
                let Ok(fd) = root.open_beneath(&sidecar_path(relative, coding), options.symlinks)
                else {
                    continue;
                };
                let Ok(stat) = rustix::fs::fstat(&fd) else {
                    continue;
                };
                if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile {
                    sidecars.push(Representation {
                        file: File::from(fd),
                        stat,
                        encoding: Some(coding),
                    });
                }
            }
        }
        Representations { plain, sidecars }
    }

    fn all(&self) -> impl Iterator<Item = &Representation> {
        std::iter::once(&self.plain).chain(&self.sidecars)
    }

    /// The representation with `encoding` (`None`: the plain file; every
    /// sidecar has an encoding, so none matches it).
    fn take(self, encoding: Option<Coding>) -> Representation {
        let Representations { plain, sidecars } = self;
        sidecars
            .into_iter()
            .find(|r| r.encoding == encoding)
            .unwrap_or(plain)
    }
}

/// The file being served: its path relative to the root, and the cache
/// generation read before it was opened.
struct Target<'a> {
    relative: &'a str,
    generation: u64,
}

fn serve_file(
    root: &Root,
    fd: OwnedFd,
    stat: &rustix::fs::Stat,
    target: Target,
    request: &OpenRequest,
    options: &HttpOptions,
    cache: &FileCache,
) -> Result<Opened, OpenError> {
    let relative = target.relative;
    let plain = Representation {
        file: File::from(fd),
        stat: *stat,
        encoding: None,
    };
    let representations = Representations::find(root, plain, relative, options);
    let has_variants = !representations.sidecars.is_empty();
    // The sidecar the client prefers, if it rates it at least as high as
    // the plain file; ties go to br, then zstd, then gzip.
    let encoding = encoding::preference(request.headers.accept_encoding.as_deref())
        .choose(representations.sidecars.iter().filter_map(|r| r.encoding));
    let now_secs = unix_seconds(SystemTime::now());
    let content_type = content_type(relative);
    let cacheable = read_for_cache(root, &representations, &target, options, cache, |r| {
        r.meta(has_variants, content_type.clone(), now_secs)
    })?;
    let chosen = representations.take(encoding);
    let meta = chosen.meta(has_variants, content_type, now_secs);
    let len = meta.len;
    let validators = Validators {
        etag: &meta.etag,
        last_modified_secs: unix_seconds(meta.modified),
    };
    let plan = serve::plan(
        &request.headers,
        &validators,
        len,
        request.is_get,
        now_secs,
        request.max_ranges,
    );
    let file = chosen.file;
    let cached_bytes = cacheable.as_ref().and_then(|c| c.bytes_for(encoding));
    let mut multipart_type = None;
    let (content_length, body) = match (&plan, cached_bytes) {
        (Plan::NotModified | Plan::PreconditionFailed | Plan::Unsatisfiable, _) => {
            (0, FileBody::Empty)
        }
        (Plan::Multipart(ranges), _) => {
            let multipart = Multipart::new(ranges, len, &meta.content_type, &serve::boundary())
                .map_err(|e| OpenError::Io(io::Error::other(format!("{e:?}"))))?;
            multipart_type = Some(multipart.content_type());
            let body = multipart_body(&file, &multipart)?;
            (multipart.total_len(), FileBody::InMemory(body))
        }
        (plan, Some(bytes)) => {
            let (start, length) = match plan {
                Plan::Partial(range) => (range.start, range.len()),
                _ => (0, len),
            };
            let body = if request.is_get && length > 0 {
                FileBody::Shared {
                    bytes,
                    start: start as usize,
                    len: length as usize,
                }
            } else {
                FileBody::Empty
            };
            (length, body)
        }
        (Plan::Partial(range), None) => (
            range.len(),
            file_body(file, range.start, range.len(), request.is_get)?,
        ),
        (_, None) => (len, file_body(file, 0, len, request.is_get)?),
    };
    Ok(Opened::File(FileResponse {
        plan,
        meta,
        content_length,
        multipart_type,
        body,
        cacheable,
    }))
}

/// Reads a file and its sidecars whole for the hot-file cache, or
/// duplicates its descriptor for a descriptor entry, when they may be
/// cached:
/// - every representation is reached without a symlink and has no other
///   hard link (an event names the path that changed; for such files that
///   is the path the entry is kept by, or, for a sidecar, the file's own
///   path plus the extension the cache strips again);
/// - every representation fits `[cache] max_file_bytes` (descriptor
///   entries: only for large files without sidecars).
fn read_for_cache(
    root: &Root,
    representations: &Representations,
    target: &Target,
    options: &HttpOptions,
    cache: &FileCache,
    meta_of: impl Fn(&Representation) -> FileMeta,
) -> Result<Option<Box<Cacheable>>, OpenError> {
    let relative = target.relative;
    let plain = &representations.plain;
    let in_memory = representations.all().all(|r| cache.wants(r.len()));
    let descriptor = representations.sidecars.is_empty() && cache.wants_descriptor(plain.len());
    // Opened under `Deny` already, a representation was reached without a
    // symlink; otherwise it is opened again under `Deny` to find out.
    let without_symlinks = |r: &Representation| {
        options.symlinks == SymlinkPolicy::Deny
            || root
                .open_beneath(&r.path(relative), SymlinkPolicy::Deny)
                .is_ok()
    };
    let eligible = (in_memory || descriptor)
        && representations
            .all()
            .all(|r| r.stat.st_nlink == 1 && without_symlinks(r));
    if !eligible {
        return Ok(None);
    }
    if !in_memory {
        return Ok(plain.file.try_clone().ok().map(|copy| {
            Box::new(Cacheable {
                bytes: Arc::from(Vec::new()),
                file: Some(OffLoopFile::shared(copy)),
                meta: meta_of(plain),
                variants: Vec::new(),
                file_path: relative.to_string(),
                generation: target.generation,
            })
        }));
    }
    let read_whole = |r: &Representation| -> Result<Option<Arc<[u8]>>, OpenError> {
        let mut data = Vec::with_capacity(r.len() as usize);
        read_chunk(&r.file, 0, r.len() as usize, &mut data).map_err(|e| OpenError::from_io(&e))?;
        // Shorter: the file shrank since the fstat; not kept.
        Ok((data.len() as u64 == r.len()).then(|| Arc::from(data)))
    };
    let Some(bytes) = read_whole(plain)? else {
        return Ok(None);
    };
    let mut variants = Vec::with_capacity(representations.sidecars.len());
    for sidecar in &representations.sidecars {
        let Some(bytes) = read_whole(sidecar)? else {
            return Ok(None);
        };
        variants.push(CacheableVariant {
            meta: meta_of(sidecar),
            bytes,
        });
    }
    Ok(Some(Box::new(Cacheable {
        bytes,
        file: None,
        meta: meta_of(plain),
        variants,
        file_path: relative.to_string(),
        generation: target.generation,
    })))
}

/// The body for `len` bytes at `offset`: read now when small, else streamed.
fn file_body(file: File, offset: u64, len: u64, want_body: bool) -> Result<FileBody, OpenError> {
    if !want_body || len == 0 {
        return Ok(FileBody::Empty);
    }
    if len > SMALL_FILE_MAX {
        return Ok(FileBody::Stream {
            file: OffLoopFile::shared(file),
            offset,
            len,
        });
    }
    let mut data = Vec::with_capacity(len as usize);
    read_chunk(&file, offset, len as usize, &mut data).map_err(|e| OpenError::from_io(&e))?;
    if (data.len() as u64) < len {
        // The file shrank since the fstat: headers and body would disagree.
        return Err(OpenError::Io(io::Error::other(
            "file shrank while being read",
        )));
    }
    Ok(FileBody::InMemory(data))
}

/// Assembles a `multipart/byteranges` body (bounded by
/// [`serve::MULTIPART_MAX_BYTES`] plus the part headers).
fn multipart_body(file: &File, multipart: &Multipart) -> Result<Vec<u8>, OpenError> {
    let mut body = Vec::with_capacity(multipart.total_len() as usize);
    let mut chunk = Vec::new();
    for part in multipart.parts() {
        body.extend_from_slice(part.header());
        let range = part.range();
        read_chunk(file, range.start, range.len() as usize, &mut chunk)
            .map_err(|e| OpenError::from_io(&e))?;
        if (chunk.len() as u64) < range.len() {
            return Err(OpenError::Io(io::Error::other(
                "file shrank while being read",
            )));
        }
        body.extend_from_slice(&chunk);
    }
    body.extend_from_slice(multipart.closing());
    Ok(body)
}

/// The most bytes of a custom error page that are served.
const ERROR_PAGE_MAX: u64 = 1024 * 1024;

/// Reads a custom error page (`[http.error_pages]`) whole. `None` when it is
/// missing, not a regular file or too large: the built-in page is used.
pub fn read_error_page(
    root: &Root,
    relative: &str,
    options: &HttpOptions,
) -> Option<(Vec<u8>, Cow<'static, str>)> {
    let fd = root.open_beneath(relative, options.symlinks).ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    let len = stat.st_size as u64;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || len > ERROR_PAGE_MAX {
        return None;
    }
    let mut data = Vec::new();
    read_chunk(&File::from(fd), 0, len as usize, &mut data).ok()?;
    Some((data, content_type(relative)))
}

/// A stat's modification time, with nanoseconds; times before 1970 become
/// the epoch.
fn modified_time(stat: &rustix::fs::Stat) -> SystemTime {
    let (secs, nanos) = modified_parts(stat);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// A stat's modification time as (seconds, nanoseconds) since the epoch.
// The casts are no-ops on 64-bit Linux but not on every target.
#[allow(clippy::unnecessary_cast)]
fn modified_parts(stat: &rustix::fs::Stat) -> (u64, u32) {
    let secs = u64::try_from(stat.st_mtime as i64).unwrap_or(0);
    let nanos = u32::try_from(stat.st_mtime_nsec as i64)
        .unwrap_or(0)
        .min(999_999_999);
    (secs, nanos)
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

/// Why a [`send_file`] job stopped.
#[derive(Debug)]
pub enum SendStop {
    /// Sent everything it was asked to.
    Done,
    /// The socket's buffer is full: wait for writability.
    WouldBlock,
    /// The file ended early (it shrank under us).
    EndOfFile,
    /// The socket or the file failed.
    Failed(io::Error),
}

/// Sends up to `count` bytes of `file` from `offset` to the (non-blocking)
/// socket with `sendfile`, until done, the socket is full, or an error.
/// Returns how many bytes went out and why it stopped. Runs on the pool:
/// `sendfile` reads the file, which may block on disk.
pub fn send_file(
    socket: std::os::fd::BorrowedFd<'_>,
    file: &File,
    offset: u64,
    count: u64,
) -> (u64, SendStop) {
    let mut sent = 0u64;
    let mut position = offset;
    while sent < count {
        // One call moves at most about 2 GiB; ask for at most 1 GiB.
        let want = usize::try_from((count - sent).min(1 << 30)).unwrap_or(1 << 30);
        match rustix::fs::sendfile(socket, file, Some(&mut position), want) {
            Ok(0) => return (sent, SendStop::EndOfFile),
            Ok(n) => sent += n as u64,
            Err(rustix::io::Errno::AGAIN) => return (sent, SendStop::WouldBlock),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return (sent, SendStop::Failed(e.into())),
        }
    }
    (sent, SendStop::Done)
}

/// Reads a directory's entries with their metadata, keeping at most
/// [`listing::MAX_ENTRIES`] of them (the first in the requested order), so
/// a directory of any size costs bounded memory. Returns the entries and
/// how many were left out. Symlinks are listed but not followed, so a
/// listing never reveals anything about their targets.
fn read_entries(
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
