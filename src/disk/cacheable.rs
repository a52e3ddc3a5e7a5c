//! Reading a file for the hot-file cache: whole (with its sidecars) when
//! small, or a duplicate of its descriptor when large, and only when an
//! inotify event could tell of its changes.

use std::sync::Arc;

use super::io::read_chunk;
use super::representation::{Representation, Representations, Target};
use super::root::{OpenError, Root};
use crate::cache::{Cacheable, CacheableVariant, FileCache, DESCRIPTOR_COST};
use crate::config::SymlinkPolicy;
use crate::http::serve::FileMeta;
use crate::offloop::OffLoopFile;

/// About what an entry's rendered response head costs, for the admission
/// decision made before it is rendered.
const HEAD_ESTIMATE: usize = 256;

/// Reads a file and its sidecars whole for the hot-file cache, or
/// duplicates its descriptor for a descriptor entry, when they may be
/// cached:
/// - every representation is reached without a symlink and has no other
///   hard link (an event names the path that changed; for such files that
///   is the path the entry is kept by, or, for a sidecar, the file's own
///   path plus the extension the cache strips again);
/// - every representation fits `[cache] max_file_bytes` (descriptor
///   entries: only for large files without sidecars).
pub(super) fn read_for_cache(
    root: &Root,
    representations: &Representations,
    target: &Target,
    cache: &FileCache,
    meta_of: impl Fn(&Representation) -> FileMeta,
) -> Result<Option<Box<Cacheable>>, OpenError> {
    let relative = target.relative;
    let plain = &representations.plain;
    let in_memory = representations.all().all(|r| cache.wants(r.len()));
    let descriptor = representations.sidecars.is_empty() && cache.wants_descriptor(plain.len());
    // Usually known from the open; otherwise it is opened again under
    // `Deny` to find out.
    let without_symlinks = |r: &Representation| match r.symlink_free {
        Some(known) => known,
        None => root
            .open_beneath(&r.path(relative), SymlinkPolicy::Deny)
            .is_ok(),
    };
    let eligible = (in_memory || descriptor)
        && representations
            .all()
            .all(|r| r.stat.st_nlink == 1 && without_symlinks(r));
    if !eligible {
        return Ok(None);
    }
    // Decided before anything is read: a file not taken in costs no copy.
    let cost = if in_memory {
        representations
            .all()
            .map(|r| r.len() as usize + HEAD_ESTIMATE)
            .sum()
    } else {
        DESCRIPTOR_COST + HEAD_ESTIMATE
    };
    if !cache.admit(target.cache_key, cost) {
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
        read_chunk(&r.file, 0, r.len() as usize, &mut data).map_err(OpenError::from_io)?;
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
