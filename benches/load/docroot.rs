//! The document root the servers serve: files of pseudo-random bytes
//! (fixed seeds) and an index, plus the page-cache helpers of the isolation
//! scenario (residency, eviction).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::options::Size;
use crate::process::check_interrupt;
use crate::Result;

/// Fills `path` with `len` pseudo-random bytes (xorshift64*, fixed seed).
pub fn write_random(path: &Path, len: u64, seed: u64) -> io::Result<()> {
    let mut state = seed | 1;
    let mut file = File::create(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        check_interrupt();
        for chunk in buf.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            chunk.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.sync_data()
}

pub fn make_root(dir: &Path, sizes: &[Size]) -> Result<PathBuf> {
    let root = dir.join("www");
    fs::create_dir_all(&root)?;
    let mut index = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>bench</title></head><body><ul>\n",
    );
    for (i, size) in sizes.iter().enumerate() {
        write_random(
            &root.join(size.file()),
            size.bytes,
            0x5eed_0000 + i as u64 * 7919 + size.bytes,
        )?;
        let _ = writeln!(index, "<li><a href=\"{0}\">{0}</a></li>", size.file());
    }
    index.push_str("</ul></body></html>\n");
    fs::write(root.join("index.html"), index)?;
    Ok(root)
}

/// The fraction of the files' pages in the page cache (mincore).
pub fn resident_fraction(files: &[(String, PathBuf)]) -> f64 {
    let (mut resident, mut total) = (0usize, 0usize);
    for (_, path) in files {
        let Ok(f) = File::open(path) else { continue };
        let len = f.metadata().map_or(0, |m| m.len()) as usize;
        if len == 0 {
            continue;
        }
        // SAFETY: a private read-only mapping of an open file, unmapped
        // below; mincore writes one byte per page into a vector that size.
        unsafe {
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            );
            if addr == libc::MAP_FAILED {
                continue;
            }
            let page = libc::sysconf(libc::_SC_PAGESIZE).max(1) as usize;
            let mut vec = vec![0u8; len.div_ceil(page)];
            if libc::mincore(addr, len, vec.as_mut_ptr()) == 0 {
                resident += vec.iter().filter(|b| **b & 1 == 1).count();
                total += vec.len();
            }
            libc::munmap(addr, len);
        }
    }
    if total == 0 {
        0.0
    } else {
        resident as f64 / total as f64
    }
}

/// Drops a file's pages from the page cache (they are clean: written with
/// `sync_data`).
pub fn evict(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    // SAFETY: the descriptor is valid for the call.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
