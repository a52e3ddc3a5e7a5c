//! How a file's body travels from the disk to the socket, by its length:
//! one table for both sides. The pool reads a small body whole in the open
//! job (`disk::resolve`); the loop has a larger one streamed in chunks read
//! by the pool, or sent by the pool with `sendfile` (`net::conn`). The
//! sizes were chosen by measurement: docs/performance.md, *Body strategy*.
//!
//! | length            | strategy                                  |
//! | ----------------- | ----------------------------------------- |
//! | up to 64 KiB      | [`BodyStrategy::InMemory`]                |
//! | 64 KiB to 256 KiB | [`BodyStrategy::Chunked`], 256 KiB chunks |
//! | 256 KiB to 8 MiB  | `sendfile`, [`SizeClass::Mid`]            |
//! | 8 MiB and more    | `sendfile`, [`SizeClass::Large`]          |
//!
//! (A body the hot-file cache holds in memory is sent from there whatever
//! this table says.)

/// Bodies up to this size are read whole in the open job and sent from
/// memory, so a small response costs one pool round trip.
const SMALL_FILE_MAX: u64 = 64 * 1024;

/// Bodies at least this large are sent with `sendfile` on the pool;
/// smaller streamed bodies go through chunk reads.
const SENDFILE_MIN: u64 = 256 * 1024;

/// Where [`SizeClass::Large`] begins.
const MID_SIZE_LIMIT: u64 = 8 * 1024 * 1024;

/// The most one `sendfile` job sends for a [`SizeClass::Mid`] body: a
/// 1 MiB body takes two jobs (smaller jobs measured slower:
/// docs/performance.md, *Two size classes for `sendfile` bodies*).
const MID_SIZE_JOB: u64 = 512 * 1024;

/// The most one `sendfile` job is asked to send for a
/// [`SizeClass::Large`] body; a job usually stops earlier, when the socket
/// buffer is full.
const LARGE_JOB_MAX: u64 = 16 * 1024 * 1024;

/// Size of one chunk read by the pool for a [`BodyStrategy::Chunked`] body.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// How a body of a given length is sent; see the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStrategy {
    /// Read whole by the open job, written by the loop from memory.
    InMemory,
    /// Read by the pool in chunks of [`CHUNK_SIZE`], one being read while
    /// the previous one is written by the loop.
    Chunked,
    /// Sent by the pool straight from the file to the socket.
    Sendfile(SizeClass),
}

/// The two kinds of `sendfile` body, each sent the way that measured
/// faster for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeClass {
    /// Below 8 MiB: jobs of 512 KiB that take turns with the other
    /// connections' jobs on the pool (as lighttpd writes a bounded amount
    /// per connection and turn), and a response head that waits for the
    /// body's first bytes (`MSG_MORE`) instead of leaving in a packet of
    /// its own.
    Mid,
    /// From 8 MiB: jobs that send until the socket is full (at most
    /// 16 MiB), and the head sent at once. There, fewer hops between loop
    /// and pool matter most, and a corked head cost throughput.
    Large,
}

impl SizeClass {
    /// The most one `sendfile` job sends.
    pub fn job_max(self) -> u64 {
        match self {
            SizeClass::Mid => MID_SIZE_JOB,
            SizeClass::Large => LARGE_JOB_MAX,
        }
    }

    /// Whether the response head is held back (`MSG_MORE`) to leave with
    /// the body's first bytes.
    pub fn corks_head(self) -> bool {
        self == SizeClass::Mid
    }
}

/// How a body of `len` bytes read from a file is sent.
pub fn body_strategy(len: u64) -> BodyStrategy {
    if len <= SMALL_FILE_MAX {
        BodyStrategy::InMemory
    } else if len < SENDFILE_MIN {
        BodyStrategy::Chunked
    } else if len < MID_SIZE_LIMIT {
        BodyStrategy::Sendfile(SizeClass::Mid)
    } else {
        BodyStrategy::Sendfile(SizeClass::Large)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let cases = [
            (0, BodyStrategy::InMemory),
            (64 * KIB, BodyStrategy::InMemory),
            (64 * KIB + 1, BodyStrategy::Chunked),
            (256 * KIB - 1, BodyStrategy::Chunked),
            (256 * KIB, BodyStrategy::Sendfile(SizeClass::Mid)),
            (8 * MIB - 1, BodyStrategy::Sendfile(SizeClass::Mid)),
            (8 * MIB, BodyStrategy::Sendfile(SizeClass::Large)),
            (u64::MAX, BodyStrategy::Sendfile(SizeClass::Large)),
        ];
        for (len, strategy) in cases {
            assert_eq!(body_strategy(len), strategy, "{len}");
        }
        assert_eq!(SizeClass::Mid.job_max(), 512 * KIB);
        assert_eq!(SizeClass::Large.job_max(), 16 * MIB);
        assert!(SizeClass::Mid.corks_head() && !SizeClass::Large.corks_head());
    }
}
