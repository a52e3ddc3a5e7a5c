//! Per-loop free lists of buffers, so that serving a cache hit allocates
//! nothing: a connection takes its input buffer, request-target, path and
//! response-head buffers from here while a request is in progress and gives
//! them back when the response is done. An idle connection holds none of
//! them, which keeps idle keep-alive connections small.
//!
//! Bounded: at most [`MAX_KEPT`] buffers of each kind are kept, and none
//! larger than [`MAX_KEPT_CAPACITY`] (a client that sent a 16 KiB head does
//! not make the loop hold 16 KiB buffers forever).

/// Most buffers of each kind kept for reuse.
pub const MAX_KEPT: usize = 4096;

/// Largest buffer capacity kept for reuse.
pub const MAX_KEPT_CAPACITY: usize = 8 * 1024;

/// One loop's free lists.
#[derive(Debug, Default)]
pub struct Recycler {
    bytes: Vec<Vec<u8>>,
    strings: Vec<String>,
}

impl Recycler {
    /// An empty byte buffer, with capacity when one was given back.
    pub fn bytes(&mut self) -> Vec<u8> {
        self.bytes.pop().unwrap_or_default()
    }

    /// An empty string, with capacity when one was given back.
    pub fn string(&mut self) -> String {
        self.strings.pop().unwrap_or_default()
    }

    /// Keeps `buf` for reuse (or frees it, when enough are kept or it is
    /// large).
    pub fn give_bytes(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > MAX_KEPT_CAPACITY || self.bytes.len() >= MAX_KEPT
        {
            return;
        }
        buf.clear();
        self.bytes.push(buf);
    }

    /// Keeps `s` for reuse (or frees it).
    pub fn give_string(&mut self, mut s: String) {
        if s.capacity() == 0 || s.capacity() > MAX_KEPT_CAPACITY || self.strings.len() >= MAX_KEPT {
            return;
        }
        s.clear();
        self.strings.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_comes_back_empty_with_its_capacity() {
        let mut recycler = Recycler::default();
        let mut buf = recycler.bytes();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let capacity = buf.capacity();
        recycler.give_bytes(buf);
        let again = recycler.bytes();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
    }

    #[test]
    fn large_buffers_are_not_kept() {
        let mut recycler = Recycler::default();
        recycler.give_string(String::with_capacity(MAX_KEPT_CAPACITY + 1));
        assert_eq!(recycler.string().capacity(), 0);
    }
}
