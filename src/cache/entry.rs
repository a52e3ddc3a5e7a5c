//! A cache entry: a file's bytes (or its open descriptor) with the header
//! fields of its 200 answer rendered once, what the pool read to make one
//! ([`Cacheable`]), and the building of the one from the other
//! ([`CachedFile::from_cacheable`]); and the variants wharf compresses
//! itself ([`Computed`], `[http] compress`), kept beside the original.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use crate::http::compressible::CodingSet;
use crate::http::date::unix_seconds;
use crate::http::encoding::{self, Coding, Preference};
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
    /// The file has precompressed sidecars, or variants wharf may compute:
    /// answers carry `Vary: Accept-Encoding` (`head_200` already does).
    pub has_variants: bool,
    /// The file's sidecars, in [`Coding::ALL`] order, each a whole entry
    /// of its own (kept and dropped with the file's).
    pub variants: Vec<CachedFile>,
    /// The variants wharf compresses itself (`[http] compress`), for the
    /// codings no sidecar provides; kept and dropped with the file's.
    pub computed: Computed,
}

/// The variants of a cached file that wharf computes itself, one slot per
/// coding ([`CodingSet::slot`]). Each is compressed at most once per entry,
/// by one pool job at a time: a slot goes from untried to pending when a
/// loop asks for the job, then to done (the variant is set, and counted in
/// the cache's budget by [`crate::cache::FileCache::attach_compressed`]) or
/// to useless (the result did not save enough, or the job failed: not
/// tried again for this entry). Dropping the entry drops them all, so the
/// inotify invalidation of the file is theirs too.
#[derive(Debug, Default)]
pub struct Computed {
    /// The codings that may be computed (type and size qualify, no sidecar
    /// provides them, the file is held in memory); empty for most entries.
    offer: CodingSet,
    state: [AtomicU8; 3],
    variants: [OnceLock<Box<CachedFile>>; 3],
}

const UNTRIED: u8 = 0;
const PENDING: u8 = 1;
const DONE: u8 = 2;
const USELESS: u8 = 3;

impl Computed {
    /// Slots for the codings of `offer`.
    pub fn offering(offer: CodingSet) -> Computed {
        Computed {
            offer,
            ..Computed::default()
        }
    }

    pub fn offer(&self) -> CodingSet {
        self.offer
    }

    fn state(&self, coding: Coding) -> u8 {
        self.state[CodingSet::slot(coding)].load(Ordering::Acquire)
    }

    /// The computed variant for `coding`, once it is done.
    pub fn get(&self, coding: Coding) -> Option<&CachedFile> {
        self.variants[CodingSet::slot(coding)].get().map(|v| &**v)
    }

    /// The codings offered and not found useless (done, pending or untried).
    fn promising(&self) -> CodingSet {
        self.offer
            .iter()
            .filter(|&c| self.state(c) != USELESS)
            .collect()
    }

    /// The codings whose variant is done.
    fn ready(&self) -> CodingSet {
        self.offer
            .iter()
            .filter(|&c| self.get(c).is_some())
            .collect()
    }

    /// Records that `coding`'s result is not kept, so it is not tried again.
    pub fn mark_useless(&self, coding: Coding) {
        self.state[CodingSet::slot(coding)].store(USELESS, Ordering::Release);
    }

    /// Stores `variant` for `coding` (the caller accounts for its cost).
    /// False if there already was one.
    pub(super) fn set(&self, coding: Coding, variant: CachedFile) -> bool {
        let slot = CodingSet::slot(coding);
        let stored = self.variants[slot].set(Box::new(variant)).is_ok();
        self.state[slot].store(DONE, Ordering::Release);
        stored
    }

    /// Every variant that is done.
    fn all(&self) -> impl Iterator<Item = &CachedFile> {
        self.variants.iter().filter_map(|v| v.get().map(|v| &**v))
    }
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
            computed: Computed::default(),
        }
    }

    /// The entry for what the pool read: the file (its bytes, or its
    /// descriptor) with an entry for each of its sidecars. `head_200`
    /// renders the header fields of one representation's 200 answer (see
    /// [`CachedFile::head_200`]): the caller knows the rules that apply to
    /// the path. (Insert it with [`Cacheable::generation`], read first.)
    pub fn from_cacheable(
        cacheable: Cacheable,
        head_200: impl Fn(&FileMeta) -> Vec<u8>,
    ) -> CachedFile {
        let Cacheable {
            bytes,
            file,
            meta,
            variants,
            file_path,
            generation: _,
        } = cacheable;
        let representation = |meta: &FileMeta, body: Arc<[u8]>| CachedFile {
            file_path: file_path.clone(),
            body,
            etag: meta.etag.clone(),
            last_modified_secs: unix_seconds(meta.modified),
            modified: meta.modified,
            content_type: meta.content_type.to_string(),
            head_200: head_200(meta),
            inserted: Instant::now(),
            last_used: AtomicU64::new(0),
            file: None,
            len: meta.len,
            encoding: meta.encoding,
            has_variants: meta.has_variants,
            variants: Vec::new(),
            computed: Computed::default(),
        };
        let variants = variants
            .into_iter()
            .map(|variant| representation(&variant.meta, variant.bytes))
            .collect();
        CachedFile {
            file,
            variants,
            ..representation(&meta, bytes)
        }
    }

    /// The metadata a response from this entry states, as the pool would
    /// have found it.
    pub fn meta(&self) -> FileMeta {
        FileMeta {
            len: self.len,
            modified: self.modified,
            etag: self.etag.clone(),
            content_type: Cow::Owned(self.content_type.clone()),
            encoding: self.encoding,
            has_variants: self.has_variants,
        }
    }

    /// The representation to answer a request with `Accept-Encoding:
    /// accept_encoding` from: a sidecar or the file itself, chosen by the
    /// same rule as the pool's ([`crate::http::encoding::Preference::choose`]).
    ///
    /// A variant wharf computed (see [`Computed`]) is chosen among the
    /// sidecars by the same rule, once it is done.
    pub fn representation(&self, accept_encoding: Option<&[u8]>) -> &CachedFile {
        if self.variants.is_empty() && self.computed.offer.is_empty() {
            return self;
        }
        self.representation_for(&encoding::preference(accept_encoding))
    }

    /// [`CachedFile::representation`] for an `Accept-Encoding` already
    /// negotiated.
    pub fn representation_for(&self, preference: &Preference) -> &CachedFile {
        let sidecars: CodingSet = self.variants.iter().filter_map(|v| v.encoding).collect();
        let ready = self.computed.ready();
        let available = CodingSet::from_iter(sidecars.iter().chain(ready.iter()));
        match preference.choose(available.iter()) {
            Some(coding) if sidecars.contains(coding) => self
                .variants
                .iter()
                .find(|v| v.encoding == Some(coding))
                .unwrap_or(self),
            Some(coding) => self.computed.get(coding).unwrap_or(self),
            None => self,
        }
    }

    /// The coding to compress this file with for a client that negotiated
    /// `preference`, if it would be answered with a coding not computed
    /// yet (and no job computes it now): the slot is then marked pending,
    /// and the caller must start the job, which ends in
    /// [`crate::cache::FileCache::attach_compressed`] or
    /// [`Computed::mark_useless`]. Allocates nothing.
    pub fn compression_wanted(&self, preference: &Preference) -> Option<Coding> {
        let computed = &self.computed;
        if computed.offer.is_empty() {
            return None;
        }
        let sidecars = self.variants.iter().filter_map(|v| v.encoding);
        let candidates = CodingSet::from_iter(sidecars.chain(computed.promising().iter()));
        let coding = preference.choose(candidates.iter())?;
        let slot = CodingSet::slot(coding);
        (computed.offer.contains(coding)
            && computed.state[slot]
                .compare_exchange(UNTRIED, PENDING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok())
        .then_some(coding)
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

/// The bytes an entry counts against the budget, its sidecars' and its
/// computed variants' included (those are set under the cache's write
/// lock, so an entry's cost changes only while the cache accounts for it).
pub(super) fn cost(entry: &CachedFile) -> usize {
    let held = if entry.file.is_some() {
        DESCRIPTOR_COST
    } else {
        entry.body.len()
    };
    let own = held + entry.head_200.len();
    own + entry.variants.iter().map(cost).sum::<usize>()
        + entry.computed.all().map(cost).sum::<usize>()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn meta(len: u64, encoding: Option<Coding>) -> FileMeta {
        FileMeta {
            len,
            modified: UNIX_EPOCH + Duration::from_secs(784_111_777),
            etag: format!("\"{len}\""),
            content_type: Cow::Borrowed("text/css"),
            encoding,
            has_variants: true,
        }
    }

    #[test]
    fn an_entry_from_what_the_pool_read_keeps_each_representation() {
        let cacheable = Cacheable {
            bytes: Arc::from(&b"body { }\n"[..]),
            file: None,
            meta: meta(9, None),
            variants: vec![CacheableVariant {
                meta: meta(4, Some(Coding::Gzip)),
                bytes: Arc::from(&b"gzip"[..]),
            }],
            file_path: "style.css".to_string(),
            generation: 7,
        };
        let entry = CachedFile::from_cacheable(cacheable, |meta| meta.etag.clone().into_bytes());
        assert_eq!(&*entry.body, b"body { }\n");
        assert_eq!((entry.len, entry.encoding), (9, None));
        assert_eq!(entry.head_200, b"\"9\"");
        assert_eq!(entry.last_modified_secs, 784_111_777);
        assert!(entry.has_variants && entry.file.is_none());
        let [gzip] = &entry.variants[..] else {
            panic!("one variant expected");
        };
        assert_eq!((gzip.len, gzip.encoding), (4, Some(Coding::Gzip)));
        assert_eq!(
            (&*gzip.body, &gzip.head_200[..]),
            (&b"gzip"[..], &b"\"4\""[..])
        );
        assert_eq!(gzip.file_path, "style.css");
        assert!(gzip.variants.is_empty());
        // And back: what a response from the entry states.
        let back = gzip.meta();
        assert_eq!((back.len, back.etag.as_str()), (4, "\"4\""));
        assert_eq!(
            (back.encoding, back.content_type),
            (Some(Coding::Gzip), "text/css".into())
        );
        assert_eq!(cost(&entry), 9 + 3 + 4 + 3);
    }
}
