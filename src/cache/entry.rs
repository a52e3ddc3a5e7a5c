//! A cache entry: a file's bytes (or its open descriptor) with the header
//! fields of its 200 answer rendered once, and what the pool read to make
//! one ([`Cacheable`]).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::http::encoding::{self, Coding};
use crate::http::request::FileHeaders;
use crate::http::serve::{self, FileMeta, Plan};
use crate::offloop::SharedFile;

/// A cached file: its bytes and everything its response headers need.
#[derive(Debug)]
pub struct CachedFile {
    /// The file's path relative to the root, for invalidation.
    pub file_path: String,
    pub body: Arc<[u8]>,
    pub etag: String,
    /// Unix seconds, already clamped to the time it was read.
    pub last_modified_secs: u64,
    pub modified: SystemTime,
    pub content_type: String,
    /// The headers a full 200 answer carries after `Date` and before
    /// `Connection`, rendered once at insert time: `Content-Type`, `ETag`,
    /// `Last-Modified`, `Cache-Control`, rule headers, `Content-Length` and
    /// `Accept-Ranges`.
    pub head_200: Vec<u8>,
    pub(super) inserted: Instant,
    pub(super) last_used: AtomicU64,
    /// For a file too large to keep in memory: its open descriptor, sent
    /// from by the pool (`body` is then empty).
    pub file: Option<crate::offloop::SharedFile>,
    /// The file's length (the body's, for an in-memory entry).
    pub len: u64,
    /// The coding of a precompressed sidecar (`None`: the file itself).
    pub encoding: Option<Coding>,
    /// The file has precompressed sidecars: answers carry
    /// `Vary: Accept-Encoding` (`head_200` already does).
    pub has_variants: bool,
    /// The file's sidecars, in [`Coding::ALL`] order, each a whole entry
    /// of its own (kept and dropped with the file's).
    pub variants: Vec<CachedFile>,
}

impl CachedFile {
    /// Builds an entry; `head_200` is rendered by the caller (it knows the
    /// rules that apply to the path).
    pub fn new(
        file_path: String,
        body: Arc<[u8]>,
        etag: String,
        modified: SystemTime,
        last_modified_secs: u64,
        content_type: String,
        head_200: Vec<u8>,
    ) -> CachedFile {
        let body_len = body.len() as u64;
        CachedFile {
            file_path,
            body,
            etag,
            last_modified_secs,
            modified,
            content_type,
            head_200,
            inserted: Instant::now(),
            last_used: AtomicU64::new(0),
            file: None,
            len: body_len,
            encoding: None,
            has_variants: false,
            variants: Vec::new(),
        }
    }

    /// The representation to answer a request with `Accept-Encoding:
    /// accept_encoding` from: a sidecar or the file itself, chosen by the
    /// same rule as the pool's ([`crate::http::encoding::Preference::choose`]).
    pub fn representation(&self, accept_encoding: Option<&[u8]>) -> &CachedFile {
        if self.variants.is_empty() {
            return self;
        }
        let available = self.variants.iter().filter_map(|v| v.encoding);
        encoding::preference(accept_encoding)
            .choose(available)
            .and_then(|coding| self.variants.iter().find(|v| v.encoding == Some(coding)))
            .unwrap_or(self)
    }

    /// Decides the answer to a request from the cached validators (the same
    /// decision the pool makes for uncached files).
    pub fn plan(
        &self,
        headers: &FileHeaders,
        is_get: bool,
        now_secs: u64,
        max_ranges: usize,
    ) -> Plan {
        let validators = crate::http::conditional::Validators {
            etag: &self.etag,
            last_modified_secs: self.last_modified_secs,
        };
        serve::plan(headers, &validators, self.len, is_get, now_secs, max_ranges)
    }
}

/// What a descriptor entry counts against the memory budget: a stand-in
/// that bounds how many descriptors the cache holds (1024 with the default
/// 64 MiB budget, as nginx's `open_file_cache max=1024`).
pub const DESCRIPTOR_COST: usize = 64 * 1024;

/// The bytes an entry counts against the budget, its sidecars' included.
pub(super) fn cost(entry: &CachedFile) -> usize {
    let held = if entry.file.is_some() {
        DESCRIPTOR_COST
    } else {
        entry.body.len()
    };
    let own = held + entry.head_200.len();
    own + entry.variants.iter().map(cost).sum::<usize>()
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
    pub fn bytes_for(&self, encoding: Option<Coding>) -> Option<Arc<[u8]>> {
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
