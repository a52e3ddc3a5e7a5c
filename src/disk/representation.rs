//! A file's representations: the file itself and the precompressed
//! sidecars (`name.br`, `name.zst`, `name.gz`) found beside it, each open
//! with its `fstat`.

use std::borrow::Cow;
use std::fs::File;
use std::time::{Duration, UNIX_EPOCH};

use rustix::fs::FileType;

use super::root::Root;
use crate::cache::FileCache;
use crate::config::HttpOptions;
use crate::http::conditional;
use crate::http::encoding::Coding;
use crate::http::serve::FileMeta;

/// One representation of a file: the file itself or a precompressed
/// sidecar of it, open, with its `fstat`.
pub(super) struct Representation {
    pub(super) file: File,
    pub(super) stat: rustix::fs::Stat,
    /// `None` for the file itself.
    pub(super) encoding: Option<Coding>,
    /// Reached without any symlink (`None`: not known; see
    /// [`Root::open_beneath_noting_symlinks`]).
    pub(super) symlink_free: Option<bool>,
}

impl Representation {
    pub(super) fn len(&self) -> u64 {
        self.stat.st_size as u64
    }

    /// Its path relative to the root, given the file's.
    pub(super) fn path(&self, relative: &str) -> String {
        match self.encoding {
            None => relative.to_string(),
            Some(coding) => sidecar_path(relative, coding),
        }
    }

    /// The headers' view of it; `has_variants` when sidecars exist.
    pub(super) fn meta(
        &self,
        has_variants: bool,
        content_type: Cow<'static, str>,
        now_secs: u64,
    ) -> FileMeta {
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
pub(super) fn sidecar_path(relative: &str, coding: Coding) -> String {
    format!("{relative}.{}", coding.extension())
}

/// A file and the precompressed sidecars (`name.br`, `name.zst`,
/// `name.gz`) found beside it, in [`Coding::ALL`] order.
pub(super) struct Representations {
    pub(super) plain: Representation,
    pub(super) sidecars: Vec<Representation>,
}

impl Representations {
    /// Opens the sidecars of the file at `relative` (none when
    /// `[http] precompressed` is off): only those the cache's sidecar index
    /// has seen, when the loop found the request `settled` (see
    /// [`FileCache::sidecars_of`]), else every coding's.
    pub(super) fn find(
        root: &Root,
        plain: Representation,
        relative: &str,
        options: &HttpOptions,
        cache: &FileCache,
        settled: bool,
    ) -> Representations {
        let mut sidecars = Vec::new();
        if options.precompressed {
            let present = cache.sidecars_of(relative, settled);
            for coding in Coding::ALL.into_iter().filter(|c| present.contains(*c)) {
                let Ok((fd, symlink_free)) = root.open_beneath_noting_symlinks(
                    &sidecar_path(relative, coding),
                    options.symlinks,
                ) else {
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
                        symlink_free,
                    });
                }
            }
        }
        Representations { plain, sidecars }
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Representation> {
        std::iter::once(&self.plain).chain(&self.sidecars)
    }

    /// The representation with `encoding` (`None`: the plain file; every
    /// sidecar has an encoding, so none matches it).
    pub(super) fn take(self, encoding: Option<Coding>) -> Representation {
        let Representations { plain, sidecars } = self;
        sidecars
            .into_iter()
            .find(|r| r.encoding == encoding)
            .unwrap_or(plain)
    }
}

/// The file being served: its path relative to the root, and the cache
/// generation read before it was opened.
pub(super) struct Target<'a> {
    pub(super) relative: &'a str,
    pub(super) generation: u64,
    /// The cache key of the request (a directory's, for its index file).
    pub(super) cache_key: &'a str,
}

/// A stat's modification time as (seconds, nanoseconds) since the epoch.
// The casts are no-ops on 64-bit Linux but not on every target.
#[allow(clippy::unnecessary_cast)]
pub(super) fn modified_parts(stat: &rustix::fs::Stat) -> (u64, u32) {
    let secs = u64::try_from(stat.st_mtime as i64).unwrap_or(0);
    let nanos = u32::try_from(stat.st_mtime_nsec as i64)
        .unwrap_or(0)
        .min(999_999_999);
    (secs, nanos)
}
