//! Compressing a cached file (`[http] compress`): the job the loop asks
//! for when a client accepts a coding wharf may compute and the entry has
//! no such variant yet, run on the pool's compression lane
//! (`wharf-io-compress`, see [`super::pool`]), and the codecs it calls.
//!
//! The job reads no file: it compresses the bytes the cache already holds,
//! and its result goes back to the loop that asked, which renders the
//! variant's header fields as it does for every entry and attaches it to
//! the entry ([`crate::cache::FileCache::attach_compressed`]).

use std::io::{self, Write};
use std::sync::Arc;

use crate::cache::CachedFile;
use crate::http::compressible::worth_keeping;
use crate::http::encoding::Coding;

/// What the loop asks the compression lane for.
#[derive(Debug)]
pub struct CompressJob {
    /// The cache key the entry was found under.
    pub key: String,
    /// The request path (for the header rules of the variant's head).
    pub path: String,
    pub entry: Arc<CachedFile>,
    pub coding: Coding,
    pub level: u32,
}

/// A finished compression job, back at the loop that asked.
#[derive(Debug)]
pub struct Compressed {
    pub job: CompressJob,
    /// The compressed bytes; `None` when not worth keeping (see
    /// [`worth_keeping`]) or the codec failed.
    pub bytes: Option<Vec<u8>>,
}

/// Runs `job`: the compressed bytes, if worth keeping.
pub fn run(job: &CompressJob) -> Option<Vec<u8>> {
    let original = &job.entry.body;
    match compress(job.coding, job.level, original) {
        Ok(bytes) => worth_keeping(original.len() as u64, bytes.len() as u64).then_some(bytes),
        Err(e) => {
            log::warn!(
                "compressing {} ({}): {e}",
                job.entry.file_path,
                job.coding.token()
            );
            None
        }
    }
}

/// `data` compressed with `coding` at `level` (gzip 1-9, br 0-11, zstd
/// 1-19; see [`crate::http::compressible`]).
pub fn compress(coding: Coding, level: u32, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    match coding {
        Coding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(out, flate2::Compression::new(level.min(9)));
            encoder.write_all(data)?;
            out = encoder.finish()?;
        }
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: level.min(11) as i32,
                // The window fits the file (up to 16 MiB), as `brotli`'s
                // command line chooses it: a smaller one would lose ratio.
                lgwin: window_bits(data.len()),
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
        }
        Coding::Zstd => {
            out = zstd::bulk::compress(data, level.clamp(1, 19) as i32)?;
        }
    }
    Ok(out)
}

/// The brotli window for `len` bytes: the smallest power of two that holds
/// them, from 2^10 to 2^24.
fn window_bits(len: usize) -> i32 {
    let bits = usize::BITS - len.max(1).saturating_sub(1).leading_zeros();
    bits.clamp(10, 24) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn text(len: usize) -> Vec<u8> {
        let words = [
            "function ",
            "return ",
            "const ",
            "value",
            "(x)",
            " { ",
            " }\n",
            "42",
        ];
        let mut out = Vec::with_capacity(len);
        let mut i = 7usize;
        while out.len() < len {
            i = i.wrapping_mul(2_654_435_761).wrapping_add(1) % 1_000_003;
            out.extend_from_slice(words[i % words.len()].as_bytes());
        }
        out.truncate(len);
        out
    }

    #[test]
    fn every_coding_round_trips() {
        let data = text(50_000);
        let gzip = compress(Coding::Gzip, 6, &data).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let br = compress(Coding::Brotli, 5, &data).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, data);
        let zstd = compress(Coding::Zstd, 3, &data).unwrap();
        assert_eq!(zstd::bulk::decompress(&zstd, data.len()).unwrap(), data);
        for out in [&gzip, &br, &zstd] {
            assert!(
                out.len() < data.len() / 2,
                "{} of {}",
                out.len(),
                data.len()
            );
        }
    }

    #[test]
    fn brotli_windows_fit_the_file() {
        assert_eq!(window_bits(0), 10);
        assert_eq!(window_bits(1024), 10);
        assert_eq!(window_bits(1025), 11);
        assert_eq!(window_bits(100 * 1024), 17);
        assert_eq!(window_bits(1 << 30), 24);
    }
}
