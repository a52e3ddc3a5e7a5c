//! Resolution: what a request names, opened beneath the root and turned
//! into an answer for the loop, in this order:
//!
//! 1. open the target beneath the root ([`Root`]) and `fstat` it;
//! 2. a directory: its index file, a redirect to its slash form, a
//!    listing, or (`?download=tar`, `[http] archive`) the listing as an
//!    archive ([`super::archive`]); anything but a regular file or
//!    directory is not found;
//! 3. a file: find its precompressed sidecars and pick the one the client
//!    prefers ([`crate::http::encoding`]);
//! 4. read it for the hot-file cache when it may be cached
//!    ([`super::cacheable`]);
//! 5. plan the answer from the preconditions and ranges
//!    ([`crate::http::serve::plan`]) before any byte is read;
//! 6. read the body when small, or hand the open file back to be streamed.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::SystemTime;

use rustix::fs::FileType;

use super::archive::ArchiveStream;
use super::cacheable::read_for_cache;
use super::dir::read_entries;
use super::io::read_chunk;
use super::representation::{Representation, Representations, Target};
use super::root::{Missing, OpenError, Root};
use crate::cache::{Cacheable, FileCache};
use crate::config::HttpOptions;
use crate::http::body_strategy::{body_strategy, BodyStrategy};
use crate::http::conditional::{self, Validators};
use crate::http::date::unix_seconds;
use crate::http::encoding;
use crate::http::mime::content_type;
use crate::http::multipart::Multipart;
use crate::http::request::FileHeaders;
use crate::http::serve::{self, FileMeta, Plan};
use crate::offloop::{OffLoopFile, SharedFile};
use crate::site::archive::{archive_name, ArchiveKind, Download};
use crate::site::htpasswd::protecting;
use crate::site::listing::{self, ListingQuery};
use crate::site::path::percent_encode_path;

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
    /// The loop saw no filesystem event pending after the request was
    /// read, so the cache's sidecar index is up to date for it
    /// ([`FileCache::events_settled`]).
    pub sidecars_settled: bool,
    /// `[http] fallback` may answer if the path names nothing (the loop
    /// decided from the path and `Accept`, see `site::redirects`).
    pub fallback: bool,
}

/// How the pool answers an [`OpenRequest`].
#[derive(Debug)]
pub enum Opened {
    /// A regular file (or a precompressed variant of it).
    File(FileResponse),
    /// The `[http] fallback` file, for a path that names nothing: never
    /// cached under the missing path (`cacheable` is `None`).
    Fallback(FileResponse),
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
    /// A listing asked for as an archive (`?download=tar`): `name` is the
    /// download's file name without extension; `stream` produces the
    /// archive chunk by chunk (`None` for HEAD).
    Archive {
        kind: ArchiveKind,
        name: String,
        stream: Option<Box<ArchiveStream>>,
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
    let cache_key = FileCache::key(&request.relative, request.trailing_slash);
    let (fd, symlink_free) =
        match root.open_or_missing_noting_symlinks(&request.relative, options.symlinks) {
            Ok(opened) => opened,
            Err(Missing::Nothing) => {
                return open_instead(root, request, options, cache, generation, &cache_key)
            }
            Err(Missing::Other(error)) => return Err(error),
        };
    let stat = rustix::fs::fstat(&fd).map_err(OpenError::from_errno)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile if request.trailing_slash => Err(OpenError::NotFound),
        FileType::RegularFile => {
            let target = Target {
                relative: &request.relative,
                generation,
                cache_key: &cache_key,
            };
            serve_file(
                root,
                (fd, symlink_free),
                &stat,
                target,
                request,
                options,
                cache,
            )
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
                let Ok((index_fd, index_symlink_free)) =
                    root.open_beneath_noting_symlinks(&relative, options.symlinks)
                else {
                    continue;
                };
                let stat = rustix::fs::fstat(&index_fd).map_err(OpenError::from_errno)?;
                if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile {
                    let target = Target {
                        relative: &relative,
                        generation,
                        cache_key: &cache_key,
                    };
                    let opened = (index_fd, index_symlink_free);
                    return serve_file(root, opened, &stat, target, request, options, cache);
                }
            }
            if !options.directory_listing {
                return Err(OpenError::Forbidden);
            }
            match Download::parse(request.query.as_deref()) {
                Download::None => {}
                // Only a kind `[http] archive` enables; any other is not
                // a resource of this site.
                Download::Kind(kind) if options.archive.contains(kind) => {
                    return open_archive(root, request, &fd, kind, options)
                }
                Download::Kind(_) | Download::Unknown => return Err(OpenError::NotFound),
            }
            let query = ListingQuery::parse(request.query.as_deref());
            let (entries, omitted) = read_entries(root, &request.relative, &fd, options, &query)?;
            let url_path = if request.relative.is_empty() {
                "/".to_string()
            } else {
                format!("/{}/", request.relative)
            };
            let body = if request.wants_json {
                listing::render_json(&url_path, &entries, omitted, options.archive)
            } else {
                listing::render_html(&url_path, &entries, omitted, &query, options.archive)
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

/// What answers a request whose path names nothing at all (not a refused
/// symlink, not a way out of the root: those stay 404): `name.EXT` for
/// each of `[http] try_extensions` in turn, then the `[http] fallback`
/// file when the request qualifies; else 404. All in the same pool job as
/// the failed open.
fn open_instead(
    root: &Root,
    request: &OpenRequest,
    options: &HttpOptions,
    cache: &FileCache,
    generation: u64,
    cache_key: &str,
) -> Result<Opened, OpenError> {
    if !request.trailing_slash && !request.relative.is_empty() {
        for extension in options.try_extensions.iter() {
            let relative = format!("{}.{extension}", request.relative);
            if let Some((opened, stat)) = open_regular(root, &relative, options) {
                // Cached under the request's key with `relative` as its
                // file: an event for either name drops the entry.
                let target = Target {
                    relative: &relative,
                    generation,
                    cache_key,
                };
                return serve_file(root, opened, &stat, target, request, options, cache);
            }
        }
    }
    if let (true, Some(fallback)) = (request.fallback, &options.fallback) {
        if let Some(((fd, _), stat)) = open_regular(root, fallback, options) {
            let target = Target {
                relative: fallback,
                generation,
                cache_key,
            };
            // Keyed by the missing path, an entry would outlive the file
            // later created there: no event names that key's file. Passed
            // as reached through a symlink, the fallback is not even read
            // for the cache.
            let opened = (fd, Some(false));
            return match serve_file(root, opened, &stat, target, request, options, cache)? {
                Opened::File(mut file) => {
                    file.cacheable = None;
                    Ok(Opened::Fallback(file))
                }
                other => Ok(other),
            };
        }
    }
    Err(OpenError::NotFound)
}

/// `relative` opened (noting whether a symlink was met) and `fstat`ed, if
/// it is a regular file.
fn open_regular(
    root: &Root,
    relative: &str,
    options: &HttpOptions,
) -> Option<((OwnedFd, Option<bool>), rustix::fs::Stat)> {
    let opened = root
        .open_beneath_noting_symlinks(relative, options.symlinks)
        .ok()?;
    let stat = rustix::fs::fstat(&opened.0).ok()?;
    (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile).then_some((opened, stat))
}

/// A listing's directory as an archive: the walk starts here (its first
/// directory read now, so an unreadable one is an error status); HEAD gets
/// the head alone, with no walk.
fn open_archive(
    root: &Root,
    request: &OpenRequest,
    dir: &OwnedFd,
    kind: ArchiveKind,
    options: &HttpOptions,
) -> Result<Opened, OpenError> {
    let name = archive_name(&request.relative).to_string();
    let stream = if request.is_get {
        let stream = ArchiveStream::start(root, &request.relative, dir, &name, kind, options)?;
        Some(Box::new(stream))
    } else {
        None
    };
    Ok(Opened::Archive { kind, name, stream })
}

/// Whether the file at `served` (relative to the root) falls under the
/// same password rule as the request's own path, which the loop checked.
/// A directory's index file, a clean URL's `name.html` or the fallback is
/// another path than the one asked for: under a rule of its own it is not
/// served through this one (404; it is served when asked for by its own
/// path, with its password), or a rule on `/admin.html` would not protect
/// `/admin`.
fn same_password_rule(request: &OpenRequest, served: &str, options: &HttpOptions) -> bool {
    if options.auth_rules.is_empty() || served == request.relative {
        return true;
    }
    let asked = request_path(&request.relative, request.trailing_slash);
    let rule_of = |path: &str| protecting(&options.auth_rules, path).map(|(index, _)| index);
    rule_of(&asked) == rule_of(&format!("/{served}"))
}

/// The decoded request path (with its leading `/`, and its trailing one
/// for a directory) of `relative`, as the loop matches rules against it.
pub(super) fn request_path(relative: &str, trailing_slash: bool) -> String {
    match (relative.is_empty(), trailing_slash) {
        (true, _) => "/".to_string(),
        (false, true) => format!("/{relative}/"),
        (false, false) => format!("/{relative}"),
    }
}

/// FNV-1a, 64 bits: a stable (across runs and machines) digest for
/// listing validators.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// `dir/name`, or `name` in the root (`dir` empty).
pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn serve_file(
    root: &Root,
    (fd, symlink_free): (OwnedFd, Option<bool>),
    stat: &rustix::fs::Stat,
    target: Target,
    request: &OpenRequest,
    options: &HttpOptions,
    cache: &FileCache,
) -> Result<Opened, OpenError> {
    if !same_password_rule(request, target.relative, options) {
        return Err(OpenError::NotFound);
    }
    let relative = target.relative;
    let plain = Representation {
        file: File::from(fd),
        stat: *stat,
        encoding: None,
        symlink_free,
    };
    let representations = Representations::find(
        root,
        plain,
        relative,
        options,
        cache,
        request.sidecars_settled,
    );
    let has_variants = !representations.sidecars.is_empty();
    // The sidecar the client rates best, unless its own `identity` element
    // rates the plain file higher; ties go to br, then zstd, then gzip.
    let encoding = encoding::preference(request.headers.accept_encoding.as_deref())
        .choose(representations.sidecars.iter().filter_map(|r| r.encoding));
    let now_secs = unix_seconds(SystemTime::now());
    let content_type = content_type(relative);
    let cacheable = read_for_cache(root, &representations, &target, cache, |r| {
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

/// The body for `len` bytes at `offset`: read now when small, else streamed
/// ([`body_strategy`]).
fn file_body(file: File, offset: u64, len: u64, want_body: bool) -> Result<FileBody, OpenError> {
    if !want_body || len == 0 {
        return Ok(FileBody::Empty);
    }
    if body_strategy(len) != BodyStrategy::InMemory {
        return Ok(FileBody::Stream {
            file: OffLoopFile::shared(file),
            offset,
            len,
        });
    }
    let mut data = Vec::with_capacity(len as usize);
    read_chunk(&file, offset, len as usize, &mut data).map_err(OpenError::from_io)?;
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
            .map_err(OpenError::from_io)?;
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
