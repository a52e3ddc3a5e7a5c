//! Directory downloads on the pool (`[http] archive`): a listing streamed
//! as a tar or a gzip-compressed tar, one bounded chunk per pool job.
//!
//! An [`ArchiveStream`] is the whole state of one download between jobs:
//! the walk's cursor ([`walk::Walk`]: names still to visit, no open
//! directory), the file being archived and how much of it was written,
//! and for `tar.gz` the gzip encoder. Each job ([`ArchiveStream::next_chunk`])
//! appends the next piece of the archive (headers, file data, padding) to
//! the buffer the loop handed over, about [`CHUNK_SIZE`] bytes, and hands
//! the stream back with it; the loop asks for the next one while it writes
//! this one, so a download holds at most two chunks however large the
//! directory. Nothing is built in memory or on disk ahead of the socket.
//!
//! A file's header gives the size its `fstat` said when it was reached;
//! exactly that many bytes follow, whatever happens to the file meanwhile:
//! one that grows is cut at that size, one that shrinks (or fails to
//! read) is padded with zeros, so the archive stays well-formed (a warning
//! is logged).
//!
//! The options (`hidden_files`, `symlinks`) are those in force when the
//! download began. If a reload changes the root directory meanwhile, the
//! archive is cut short rather than mixing two sites; so is one that goes
//! over [`walk::MAX_ENTRIES`] entries or [`walk::MAX_DEPTH`] levels. Cut
//! short means no end-of-archive blocks and, over chunked transfer coding,
//! no last chunk: the client sees an incomplete download, not a silently
//! partial archive.
//!
//! The only descriptor a stream holds between jobs is the file being
//! archived, as a [`SharedFile`]: closed on the pool when the stream is
//! dropped there, and on the closer thread if a loop drops it. The rest is
//! memory: dropping a stream anywhere does no IO and no compression
//! ([`gzip`]).

mod gzip;
pub mod walk;

use std::os::fd::OwnedFd;

use rustix::fs::FileType;

use super::root::{OpenError, Root};
use crate::config::HttpOptions;
use crate::http::body_strategy::CHUNK_SIZE;
use crate::http::disposition::{frame_chunk, CHUNK_PREFIX, LAST_CHUNK};
use crate::offloop::{OffLoopFile, SharedFile};
use crate::site::archive::ArchiveKind;
use crate::site::tar::{self, TarEntry, TarKind};
use gzip::Gzip;
use walk::{Found, Limit, Walk};

/// Tar bytes fed to the gzip encoder at a time.
const GZIP_PIECE: usize = 64 * 1024;

/// Most tar bytes one `tar.gz` job compresses: a directory of zeros
/// compresses a thousandfold, and a job must still end.
const GZIP_JOB_INPUT: usize = 4 * 1024 * 1024;

/// How one chunk left the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkEnd {
    /// More chunks follow.
    More,
    /// The archive is complete (with the last chunk, when framed).
    Complete,
    /// The archive was cut short: send what there is, then close.
    Failed,
}

/// Why an archive was cut short.
#[derive(Debug)]
enum Stop {
    Limit(Limit),
    RootChanged,
    Gzip(std::io::Error),
}

/// The file whose data is being archived.
struct Current {
    file: SharedFile,
    path: String,
    /// The size its header announced.
    size: u64,
    /// Bytes of its data written so far.
    written: u64,
    /// It ended early or failed: the rest is zeros.
    short: bool,
}

/// One download's state between pool jobs (see the module doc).
pub struct ArchiveStream {
    walk: Walk,
    options: HttpOptions,
    root_id: Option<(u64, u64)>,
    current: Option<Current>,
    gzip: Option<Gzip>,
    /// Tar bytes on their way into the encoder (`tar.gz` only).
    scratch: Vec<u8>,
    /// The end-of-archive blocks were written.
    tar_done: bool,
    /// The request's path, for log messages.
    label: String,
}

impl std::fmt::Debug for ArchiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveStream")
            .field("label", &self.label)
            .field("gzip", &self.gzip.is_some())
            .field("tar_done", &self.tar_done)
            .finish_non_exhaustive()
    }
}

impl ArchiveStream {
    /// A download of the directory `dir`, open at `relative` beneath
    /// `root`, whose entries are named `name/...` in the archive. Reads
    /// the directory's entries now: an unreadable one is an error status,
    /// not a cut-off download.
    pub fn start(
        root: &Root,
        relative: &str,
        dir: &OwnedFd,
        name: &str,
        kind: ArchiveKind,
        options: &HttpOptions,
    ) -> Result<ArchiveStream, OpenError> {
        let walk = Walk::new(relative, dir, name, options)?;
        Ok(ArchiveStream {
            walk,
            options: options.clone(),
            root_id: root.identity(),
            current: None,
            gzip: (kind == ArchiveKind::TarGz).then(Gzip::new),
            scratch: Vec::new(),
            tar_done: false,
            label: format!("/{relative}"),
        })
    }

    /// The next chunk of the archive, in `buf` (cleared first): framed as
    /// one chunk of the chunked transfer coding when `framed`, the last
    /// one followed by the last chunk; raw bytes otherwise (HTTP/1.0, where
    /// the connection's end ends the body).
    pub fn next_chunk(
        &mut self,
        root: &Root,
        mut buf: Vec<u8>,
        framed: bool,
    ) -> (Vec<u8>, ChunkEnd) {
        buf.clear();
        if framed {
            buf.resize(CHUNK_PREFIX, 0);
        }
        let end = match self.produce(root, &mut buf) {
            Ok(true) => ChunkEnd::Complete,
            Ok(false) => ChunkEnd::More,
            Err(stop) => {
                log::warn!("archive of {}: cut short: {}", self.label, describe(&stop));
                ChunkEnd::Failed
            }
        };
        if framed {
            frame_chunk(&mut buf);
            if end == ChunkEnd::Complete {
                buf.extend_from_slice(LAST_CHUNK);
            }
        }
        (buf, end)
    }

    /// The file the stream holds, if any, to be closed on the pool; the
    /// rest of the stream is memory only.
    pub fn into_file(self: Box<Self>) -> Option<SharedFile> {
        self.current.map(|c| c.file)
    }

    /// Appends the next piece of the archive to `out`. `Ok(true)`: the
    /// archive is complete.
    fn produce(&mut self, root: &Root, out: &mut Vec<u8>) -> Result<bool, Stop> {
        if root.identity() != self.root_id {
            return Err(Stop::RootChanged);
        }
        let Some(mut gzip) = self.gzip.take() else {
            return self.fill_tar(root, out, CHUNK_SIZE).map_err(Stop::Limit);
        };
        let prefix = out.len();
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut fed = 0;
        let result = loop {
            scratch.clear();
            let filled = self.fill_tar(root, &mut scratch, GZIP_PIECE);
            if let Err(e) = gzip.write(&scratch, out) {
                break Err(Stop::Gzip(e));
            }
            fed += scratch.len();
            match filled {
                Err(limit) => break Err(Stop::Limit(limit)),
                Ok(true) => break gzip.finish(out).map(|()| true).map_err(Stop::Gzip),
                Ok(false) => {}
            }
            let produced = out.len() - prefix;
            if produced >= CHUNK_SIZE / 2 {
                break Ok(false);
            }
            if fed >= GZIP_JOB_INPUT {
                // Make sure the chunk is not empty: an empty chunk would
                // end the body.
                if produced == 0 {
                    if let Err(e) = gzip.flush(out) {
                        break Err(Stop::Gzip(e));
                    }
                }
                break Ok(false);
            }
        };
        self.scratch = scratch;
        self.gzip = Some(gzip);
        result
    }

    /// Appends tar bytes to `out` until `budget` more are there (a header
    /// may go a little over) or the archive ends. `Ok(true)`: the
    /// end-of-archive blocks were written.
    fn fill_tar(&mut self, root: &Root, out: &mut Vec<u8>, budget: usize) -> Result<bool, Limit> {
        let target = out.len() + budget;
        while out.len() < target {
            if let Some(current) = &mut self.current {
                if current.written < current.size {
                    let want =
                        (current.size - current.written).min((target - out.len()) as u64) as usize;
                    let start = out.len();
                    out.resize(start + want, 0);
                    if !current.short {
                        let piece = &mut out[start..];
                        let got = read_at(&current.file, piece, current.written);
                        current.short = got < want;
                    }
                    current.written += want as u64;
                    continue;
                }
                out.resize(out.len() + tar::padding(current.size), 0);
                if current.short {
                    log::warn!(
                        "archive of {}: {} shrank or failed while archived; padded with zeros",
                        self.label,
                        current.path
                    );
                }
                self.current = None; // Closed here, on the pool.
                continue;
            }
            if self.tar_done {
                return Ok(true);
            }
            match self.walk.next(root, &self.options)? {
                Some(Found::File { path, file, stat }) => {
                    let size = stat.st_size as u64;
                    tar::push_header(out, &header(&path, TarKind::File, size, &stat));
                    self.current = Some(Current {
                        file: OffLoopFile::shared(std::fs::File::from(file)),
                        path,
                        size,
                        written: 0,
                        short: false,
                    });
                }
                Some(Found::Directory { path, stat }) => {
                    tar::push_header(out, &header(&path, TarKind::Directory, 0, &stat));
                }
                None => {
                    out.extend_from_slice(&tar::END);
                    self.tar_done = true;
                }
            }
        }
        Ok(self.tar_done && self.current.is_none())
    }
}

/// The header of an entry from its stat. (The casts are for platforms
/// whose stat fields have other widths.)
#[allow(clippy::unnecessary_cast)]
fn header<'a>(path: &'a str, kind: TarKind, size: u64, stat: &rustix::fs::Stat) -> TarEntry<'a> {
    debug_assert!(matches!(
        FileType::from_raw_mode(stat.st_mode),
        FileType::RegularFile | FileType::Directory
    ));
    TarEntry {
        path,
        kind,
        size,
        mode: stat.st_mode as u32,
        mtime: stat.st_mtime as i64,
    }
}

/// Reads into all of `buf` from `offset`, retrying short reads; returns
/// how many bytes were read (fewer at the end of the file or on an error).
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::io::pread(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    filled
}

fn describe(stop: &Stop) -> String {
    match stop {
        Stop::Limit(Limit::Entries) => {
            format!("more than {} entries", walk::MAX_ENTRIES)
        }
        Stop::Limit(Limit::Depth) => {
            format!("directories nested deeper than {}", walk::MAX_DEPTH)
        }
        Stop::RootChanged => "the root directory changed (a reload)".to_string(),
        Stop::Gzip(e) => format!("compression failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};
    use crate::disk::startup::StartupFiles;
    use std::io::Read as _;
    use std::path::Path;

    /// The options `toml` gives, for a site at `root`.
    fn options(root: &Path, toml: &str) -> HttpOptions {
        let file = root.join("wharf-test.toml");
        std::fs::write(&file, toml).unwrap();
        let overrides = Overrides {
            root: Some(root.to_path_buf()),
            ..Overrides::default()
        };
        let config = Config::load(Some(&file), &overrides, &StartupFiles).unwrap();
        std::fs::remove_file(file).unwrap();
        config.http
    }

    fn start(
        root: &Root,
        relative: &str,
        kind: ArchiveKind,
        options: &HttpOptions,
    ) -> ArchiveStream {
        let dir = root.open_beneath(relative, options.symlinks).unwrap();
        let name = crate::site::archive::archive_name(relative);
        ArchiveStream::start(root, relative, &dir, name, kind, options).unwrap()
    }

    /// Every chunk, unframed, until the end; and how it ended.
    fn drain(root: &Root, stream: &mut ArchiveStream) -> (Vec<u8>, ChunkEnd, usize) {
        let mut all = Vec::new();
        let mut chunks = 0;
        loop {
            let (chunk, end) = stream.next_chunk(root, Vec::new(), false);
            assert!(
                chunk.len() <= CHUNK_SIZE + 8 * 1024,
                "a chunk of {}",
                chunk.len()
            );
            all.extend_from_slice(&chunk);
            chunks += 1;
            if end != ChunkEnd::More {
                return (all, end, chunks);
            }
        }
    }

    #[test]
    fn a_file_that_shrinks_mid_archive_is_padded_to_its_header_size() {
        let dir = tempfile::tempdir().unwrap();
        let len = 3 * CHUNK_SIZE;
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f.bin"), vec![7u8; len]).unwrap();
        let root = Root::open(&std::fs::canonicalize(dir.path()).unwrap()).unwrap();
        let options = options(dir.path(), "");
        let mut stream = start(&root, "d", ArchiveKind::Tar, &options);
        let (first, end) = stream.next_chunk(&root, Vec::new(), false);
        assert_eq!(end, ChunkEnd::More);
        // The header said `len`; the file now has 1000 bytes.
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("d/f.bin"))
            .unwrap()
            .set_len(1000)
            .unwrap();
        let (rest, end, _) = drain(&root, &mut stream);
        assert_eq!(end, ChunkEnd::Complete);
        let all = [first, rest].concat();
        let mut archive = ::tar::Archive::new(&all[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((entry.path().unwrap().display().to_string(), data));
        }
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], ("d/".to_string(), vec![]));
        let data = &seen[1].1;
        assert_eq!(data.len(), len, "exactly the header's size");
        let read = data.iter().take_while(|&&b| b == 7).count();
        assert!((1000..CHUNK_SIZE).contains(&read), "{read} bytes of data");
        assert!(data[read..].iter().all(|&b| b == 0), "then zeros");
    }

    #[test]
    fn chunks_are_framed_and_gzip_decodes_to_the_same_tar() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/a"), b"a\n").unwrap();
        let root = Root::open(&std::fs::canonicalize(dir.path()).unwrap()).unwrap();
        let options = options(dir.path(), "");
        let (tar_bytes, end, _) = drain(&root, &mut start(&root, "d", ArchiveKind::Tar, &options));
        assert_eq!(end, ChunkEnd::Complete);
        let (gz, end, _) = drain(&root, &mut start(&root, "d", ArchiveKind::TarGz, &options));
        assert_eq!(end, ChunkEnd::Complete);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded == tar_bytes);
        // Framed: one chunk and the last chunk.
        let mut stream = start(&root, "d", ArchiveKind::Tar, &options);
        let (framed, end) = stream.next_chunk(&root, Vec::new(), true);
        assert_eq!(end, ChunkEnd::Complete);
        let head = format!("{:x}\r\n", tar_bytes.len());
        assert!(framed.starts_with(head.as_bytes()));
        assert!(framed.ends_with(b"\r\n0\r\n\r\n"));
        assert_eq!(framed.len(), head.len() + tar_bytes.len() + 7);
    }

    #[test]
    fn too_deep_a_tree_is_cut_short_and_symlink_loops_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().join("d");
        for _ in 0..walk::MAX_DEPTH + 2 {
            deep = deep.join("x");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(dir.path().join("l/sub")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("l/sub/up")).unwrap();
        let root = Root::open(&std::fs::canonicalize(dir.path()).unwrap()).unwrap();
        let options = options(dir.path(), "");
        let (all, end, _) = drain(&root, &mut start(&root, "d", ArchiveKind::Tar, &options));
        assert_eq!(end, ChunkEnd::Failed);
        assert!(!all.ends_with(&tar::END), "no end-of-archive blocks");
        let (all, end, _) = drain(&root, &mut start(&root, "l", ArchiveKind::Tar, &options));
        assert_eq!(end, ChunkEnd::Complete);
        let mut archive = ::tar::Archive::new(&all[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["l/", "l/sub/"]);
    }
}
