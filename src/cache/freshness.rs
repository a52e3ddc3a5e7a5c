//! How the loops learn, without blocking, whether the hot-file cache may
//! be stale: [`EventSignal`] (filesystem events queued or being applied)
//! and [`EventCheck`] (which requests one check vouches for). The watcher
//! that applies the events is `disk::watch`.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Tells the loops, without blocking, whether filesystem events may not
/// have reached the cache yet.
pub struct EventSignal {
    /// A duplicate of the watcher's inotify descriptor, owned here, so it
    /// stays valid for as long as anyone can poll it.
    fd: OwnedFd,
    /// The watcher has taken events off the descriptor and not yet applied
    /// them all.
    applying: AtomicBool,
    /// The watcher has stopped: no event will be applied any more.
    stopped: AtomicBool,
}

impl EventSignal {
    /// A signal over (a duplicate of) the watcher's inotify descriptor.
    pub fn new(fd: OwnedFd) -> EventSignal {
        EventSignal {
            fd,
            applying: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    /// True when events are queued on the inotify descriptor or being
    /// applied, or the watcher has stopped: a cache hit now could be stale.
    pub fn pending(&self) -> bool {
        if self.stopped.load(Ordering::SeqCst) {
            return true;
        }
        // Queued events first: the watcher sets `applying` before it reads
        // them off the descriptor, so one of the two is always visible.
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        readable(self.fd_ref(), Some(&zero)) || self.applying.load(Ordering::SeqCst)
    }

    /// Set by the watcher around taking events off and applying them.
    pub fn set_applying(&self, applying: bool) {
        self.applying.store(applying, Ordering::SeqCst);
    }

    /// Set by the watcher when it stops.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn fd_ref(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }
}

/// Whether `fd` is readable within `timeout` (`Some(0)`: now, without
/// waiting). A failed poll counts as readable, so the caller errs on the
/// side of the disk.
pub fn readable(fd: BorrowedFd<'_>, timeout: Option<&rustix::time::Timespec>) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    loop {
        match rustix::event::poll(&mut fds, timeout) {
            Ok(ready) => return ready != 0,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return true,
        }
    }
}

/// One event loop's record of when it last saw no filesystem event
/// pending, so that one check (a `poll(2)` on the inotify descriptor) can
/// vouch for every request read before it.
///
/// The client that edits a file and then asks for it has finished the edit
/// before its request left; so once that request is in wharf's memory, a
/// check made afterwards that finds the watcher's queue empty proves the
/// edit's invalidation was applied. Reads are numbered; a check records the
/// number of the last read it covers.
#[derive(Debug, Default)]
pub struct EventCheck {
    pub(super) reads: u64,
    pub(super) clean_through: u64,
}

impl EventCheck {
    /// Numbers a socket read that returned request bytes.
    pub fn note_read(&mut self) -> u64 {
        self.reads += 1;
        self.reads
    }
}
