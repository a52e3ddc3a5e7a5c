//! Which precompressed sidecars exist (`a.css.br`, `a.css.zst`,
//! `a.css.gz`), known without asking the disk, so that a miss on a site
//! with no sidecar for a file does not probe three names that do not exist
//! (three path walks in the kernel per miss, a quarter of a miss's cost).
//!
//! Kept by the file watcher (`disk::watch`): it lists every directory
//! after putting its inotify watch in place, so that a sidecar created at
//! any moment is either in the listing or raises an event, and notes each
//! sidecar name it sees in either. The pool trusts the index only when it
//! is complete and no filesystem event is pending (the same signal that
//! guards cache hits, [`super::EventSignal`]); otherwise it probes the disk
//! as before. A name noted that no longer exists costs one failed probe;
//! a sidecar that exists is never missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use crate::http::encoding::Coding;

/// A set of codings, one bit per [`Coding::ALL`] position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Codings(u8);

impl Codings {
    pub const NONE: Codings = Codings(0);
    pub const ALL: Codings = Codings(0b111);

    fn bit(coding: Coding) -> u8 {
        1 << Coding::ALL.iter().position(|c| *c == coding).unwrap_or(0)
    }

    pub fn contains(self, coding: Coding) -> bool {
        self.0 & Codings::bit(coding) != 0
    }

    fn with(self, coding: Coding) -> Codings {
        Codings(self.0 | Codings::bit(coding))
    }

    fn without(self, coding: Coding) -> Codings {
        Codings(self.0 & !Codings::bit(coding))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The coding of a sidecar name and the file it belongs to, or `None`
/// for a name that is no sidecar.
fn sidecar(path: &str) -> Option<(&str, Coding)> {
    Coding::ALL.iter().find_map(|&coding| {
        path.strip_suffix(coding.extension())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|original| !original.is_empty() && !original.ends_with('/'))
            .map(|original| (original, coding))
    })
}

/// The sidecars under the root, by the file they belong to.
#[derive(Debug, Default)]
pub struct SidecarIndex {
    /// Every directory was listed with its watch in place, and events
    /// are being applied.
    complete: AtomicBool,
    by_original: RwLock<HashMap<Box<str>, Codings>>,
}

impl SidecarIndex {
    /// Notes that `path` (relative to the root) exists, if it names a
    /// sidecar.
    pub fn note_present(&self, path: &str) {
        if let Some((original, coding)) = sidecar(path) {
            let mut map = self.by_original.write().unwrap_or_else(|p| p.into_inner());
            match map.get_mut(original) {
                Some(codings) => *codings = codings.with(coding),
                None => {
                    map.insert(original.into(), Codings::NONE.with(coding));
                }
            }
        }
    }

    /// Notes that `path` is gone (deleted or moved away), if it names a
    /// sidecar.
    pub fn note_absent(&self, path: &str) {
        if let Some((original, coding)) = sidecar(path) {
            let mut map = self.by_original.write().unwrap_or_else(|p| p.into_inner());
            if let Some(codings) = map.get_mut(original) {
                *codings = codings.without(coding);
                if codings.is_empty() {
                    map.remove(original);
                }
            }
        }
    }

    /// Forgets everything and stops vouching (before the tree is listed
    /// again, or when watching ends).
    pub fn reset(&self) {
        self.complete.store(false, Ordering::SeqCst);
        self.by_original
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Starts vouching, once every directory has been listed.
    pub fn set_complete(&self) {
        self.complete.store(true, Ordering::SeqCst);
    }

    /// The codings with a sidecar beside `original`, or `None` when the
    /// index does not know (the caller then probes every coding).
    pub fn codings_of(&self, original: &str) -> Option<Codings> {
        if !self.complete.load(Ordering::SeqCst) {
            return None;
        }
        let map = self.by_original.read().unwrap_or_else(|p| p.into_inner());
        Some(map.get(original).copied().unwrap_or(Codings::NONE))
    }

    pub fn len(&self) -> usize {
        self.by_original
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_nothing_until_complete() {
        let index = SidecarIndex::default();
        index.note_present("a.css.br");
        assert_eq!(index.codings_of("a.css"), None);
        index.set_complete();
        let codings = index.codings_of("a.css").unwrap();
        assert!(codings.contains(Coding::Brotli) && !codings.contains(Coding::Gzip));
        assert_eq!(index.codings_of("b.css"), Some(Codings::NONE));
    }

    #[test]
    fn notes_sidecars_appearing_and_going() {
        let index = SidecarIndex::default();
        index.set_complete();
        index.note_present("d/a.js.gz");
        index.note_present("d/a.js.zst");
        index.note_present("d/a.js"); // not a sidecar
        index.note_present(".gz"); // no original
        index.note_present("d/.gz");
        assert_eq!(index.len(), 1);
        index.note_absent("d/a.js.gz");
        let codings = index.codings_of("d/a.js").unwrap();
        assert!(codings.contains(Coding::Zstd) && !codings.contains(Coding::Gzip));
        index.note_absent("d/a.js.zst");
        assert!(index.is_empty());
        index.note_absent("never.br");
        index.reset();
        assert_eq!(index.codings_of("d/a.js"), None);
    }
}
