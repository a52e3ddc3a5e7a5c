//! A gzip stream (RFC 1952) made a piece at a time: raw deflate from
//! `flate2::Compress`, between a header and the CRC-32 and length
//! trailer written here. Not `flate2::write::GzEncoder`: that one finishes
//! its stream when dropped, compressing what it buffered on whichever
//! thread drops it, and a download abandoned on an event loop must not
//! cost that loop any compression. Dropping this one only frees memory.

use std::io;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Member header: magic, deflate, no flags, no mtime (so two downloads of
/// one tree are the same bytes), no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Room made in the output before each call into the compressor.
const ROOM: usize = 64 * 1024;

pub struct Gzip {
    deflate: Compress,
    crc: Crc,
    started: bool,
}

impl Gzip {
    pub fn new() -> Gzip {
        Gzip {
            deflate: Compress::new(Compression::default(), false),
            crc: Crc::new(),
            started: false,
        }
    }

    /// Compresses `input`, appending what the compressor lets out to `out`
    /// (it may hold some back for the next call).
    pub fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.start(out);
        self.crc.update(input);
        while !input.is_empty() {
            out.reserve(ROOM);
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, out, FlushCompress::None)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(input.len());
            input = input.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// Lets out everything compressed so far (a sync flush), so that a
    /// chunk is never empty.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.start(out);
        loop {
            out.reserve(ROOM);
            self.deflate
                .compress_vec(&[], out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            if out.len() < out.capacity() {
                return Ok(());
            }
        }
    }

    /// Ends the stream: the rest of the deflate data, then the trailer.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.start(out);
        loop {
            out.reserve(ROOM);
            let status = self
                .deflate
                .compress_vec(&[], out, FlushCompress::Finish)
                .map_err(io::Error::other)?;
            if status == Status::StreamEnd {
                break;
            }
        }
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        Ok(())
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&HEADER);
            self.started = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pieces_make_one_stream_that_gzip_decodes() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut gzip = Gzip::new();
        let mut out = Vec::new();
        for piece in data.chunks(70_000) {
            gzip.write(piece, &mut out).unwrap();
            gzip.flush(&mut out).unwrap();
        }
        gzip.finish(&mut out).unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded == data);
        let mut empty = Vec::new();
        Gzip::new().finish(&mut empty).unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&empty[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded.is_empty());
    }
}
