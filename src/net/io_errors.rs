//! The two errors a non-blocking call answers with that are not failures,
//! tested one way for `std::io` and rustix alike (as mio's
//! `examples/tcp_server.rs` has `would_block()` and `interrupted()`).

use std::io;

use rustix::io::Errno;

/// Whether an error only means "not now" or "again".
pub trait Transient {
    /// Nothing can be done now (`EAGAIN`): wait for readiness.
    fn would_block(&self) -> bool;
    /// A signal interrupted the call (`EINTR`): make it again.
    fn interrupted(&self) -> bool;
}

impl Transient for io::Error {
    fn would_block(&self) -> bool {
        self.kind() == io::ErrorKind::WouldBlock
    }

    fn interrupted(&self) -> bool {
        self.kind() == io::ErrorKind::Interrupted
    }
}

impl Transient for Errno {
    fn would_block(&self) -> bool {
        *self == Errno::AGAIN || *self == Errno::WOULDBLOCK
    }

    fn interrupted(&self) -> bool {
        *self == Errno::INTR
    }
}

/// The process or the system is out of file descriptors (`EMFILE`,
/// `ENFILE`): accepting must pause, not spin.
pub fn out_of_descriptors(error: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(error),
        Some(Errno::MFILE | Errno::NFILE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_error_agree() {
        for (errno, would_block, interrupted) in [
            (Errno::AGAIN, true, false),
            (Errno::INTR, false, true),
            (Errno::PIPE, false, false),
        ] {
            let error = io::Error::from(errno);
            assert_eq!(errno.would_block(), would_block);
            assert_eq!(error.would_block(), would_block);
            assert_eq!(errno.interrupted(), interrupted);
            assert_eq!(error.interrupted(), interrupted);
        }
        assert!(out_of_descriptors(&io::Error::from(Errno::MFILE)));
        assert!(out_of_descriptors(&io::Error::from(Errno::NFILE)));
        assert!(!out_of_descriptors(&io::Error::from(Errno::AGAIN)));
    }
}
