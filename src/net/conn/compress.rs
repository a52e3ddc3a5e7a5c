//! The loop's side of `[http] compress`: deciding, as a file the pool read
//! goes into the cache, which codings wharf may compute for it (then its
//! answers carry `Vary: Accept-Encoding` from the first on); choosing a
//! cached file's representation for a hit and asking the pool's
//! compression lane for a variant the client would prefer and the entry
//! lacks; and attaching a finished variant to its entry, with its header
//! fields rendered as every entry's are. No compressing happens here: the
//! job runs on the pool (`disk::compress`).

use super::respond::file_head;
use super::*;

use crate::cache::entry::Computed;
use crate::disk::compress::{CompressJob, Compressed};
use crate::http::compressible::{computed_etag, CodingSet};
use crate::http::encoding::{self, Preference};

impl Conn {
    /// The codings wharf may compute for what the pool read for the cache
    /// (a file held in memory, of a type and size `[http] compress`
    /// takes, for the codings its sidecars lack). When there are any, the
    /// answers for every representation vary with `Accept-Encoding`, so
    /// their metadata says so.
    pub(super) fn offer_compression(ctx: &LoopContext, cacheable: &mut Cacheable) -> CodingSet {
        if cacheable.file.is_some() {
            return CodingSet::EMPTY;
        }
        let sidecars = cacheable.variants.iter().filter_map(|v| v.meta.encoding);
        let meta = &cacheable.meta;
        let offer = ctx
            .config
            .http
            .compress
            .offer(&meta.content_type, meta.len, sidecars);
        if !offer.is_empty() {
            cacheable.meta.has_variants = true;
            for variant in &mut cacheable.variants {
                variant.meta.has_variants = true;
            }
        }
        offer
    }

    /// Gives a new entry its slots for computed variants, before it is
    /// inserted.
    pub(super) fn prepare_computed(entry: &mut CachedFile, offer: CodingSet) {
        entry.computed = Computed::offering(offer);
    }

    /// The representation of the cached `entry` (found under `key` for a
    /// request for `path`) to answer `Accept-Encoding: accept_encoding`
    /// with; starts the compression job for a coding the client would
    /// prefer to what the entry holds now.
    pub(super) fn cached_representation<'a>(
        ctx: &LoopContext,
        key: &str,
        path: &str,
        entry: &'a Arc<CachedFile>,
        accept_encoding: Option<&[u8]>,
    ) -> &'a CachedFile {
        if entry.variants.is_empty() && entry.computed.offer().is_empty() {
            return entry;
        }
        let preference = encoding::preference(accept_encoding);
        Self::start_compression(ctx, key, path, entry, &preference);
        entry.representation_for(&preference)
    }

    /// Asks the pool to compress `entry` if a client with `preference`
    /// would be answered with a coding it may compute and has not.
    pub(super) fn start_compression(
        ctx: &LoopContext,
        key: &str,
        path: &str,
        entry: &Arc<CachedFile>,
        preference: &Preference,
    ) {
        let Some(coding) = entry.compression_wanted(preference) else {
            return;
        };
        ctx.io.compress(CompressJob {
            key: key.to_string(),
            path: path.to_string(),
            entry: entry.clone(),
            coding,
            level: ctx.config.http.compress.level(coding),
        });
    }

    /// Attaches a finished compression job's variant to its entry: its
    /// validator derived from the original's, its 200 header fields
    /// rendered with the path's rules as the original's were. A result not
    /// kept is remembered, so that it is not tried again.
    pub fn attach_compressed(ctx: &LoopContext, done: Compressed) {
        let Compressed { job, bytes } = done;
        let CompressJob {
            key,
            path,
            entry,
            coding,
            level,
        } = job;
        let Some(bytes) = bytes else {
            entry.computed.mark_useless(coding);
            return;
        };
        // A reload since: the cache was cleared, and headers rendered now
        // would follow rules no longer in force anyway.
        if !Arc::ptr_eq(&ctx.config, &ctx.control.config()) {
            return;
        }
        let meta = FileMeta {
            len: bytes.len() as u64,
            modified: entry.modified,
            etag: computed_etag(&entry.etag, coding, level),
            content_type: Cow::Owned(entry.content_type.clone()),
            encoding: Some(coding),
            has_variants: true,
        };
        let applied = rules::apply(
            &ctx.config.http.rules,
            ctx.config.http.cache_control.as_deref(),
            &path,
        );
        let last_modified = http_date(meta.modified);
        let mut fields = String::with_capacity(256);
        file_head(ctx, &meta, &last_modified, &applied, Status::Ok).render_fields(&mut fields);
        let mut variant = CachedFile::new(
            entry.file_path.clone(),
            Arc::from(bytes),
            meta.etag,
            meta.modified,
            entry.last_modified_secs,
            entry.content_type.clone(),
            fields.into_bytes(),
        );
        variant.encoding = Some(coding);
        variant.has_variants = true;
        ctx.cache.attach_compressed(&key, &entry, coding, variant);
    }
}
