//! Connection deadlines: a min-heap of (deadline, connection) with lazy
//! rescheduling, so the loop never scans its connections.
//!
//! A connection keeps its current deadline in its own state and changes it
//! freely (every request, every write). The heap only has to hold an entry
//! no later than that deadline: when an entry comes due, the loop compares
//! it with the connection's current deadline and either expires the
//! connection or pushes a new entry for the later time. A connection thus
//! has one or two entries in the heap, not one per change.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::disk::pool::ConnRef;

/// Pending deadlines of one event loop.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Timers {
    pub fn new() -> Timers {
        Timers::default()
    }

    /// Schedules an entry for `conn` at `at`.
    pub fn schedule(&mut self, conn: ConnRef, at: Instant) {
        self.heap.push(Reverse((at, conn.slot, conn.id)));
    }

    /// Removes and returns the next entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(ConnRef, Instant)> {
        let Reverse((at, _, _)) = self.heap.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((at, slot, id)) = self.heap.pop()?;
        Some((ConnRef { slot, id }, at))
    }

    /// How long until the next entry is due, if any.
    pub fn next_timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(now))
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let a = ConnRef { slot: 1, id: 10 };
        let b = ConnRef { slot: 2, id: 20 };
        timers.schedule(a, t0 + Duration::from_secs(5));
        timers.schedule(b, t0 + Duration::from_secs(2));
        assert_eq!(timers.next_timeout(t0), Some(Duration::from_secs(2)));
        assert!(timers.pop_due(t0).is_none());
        let (first, _) = timers.pop_due(t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(first, b);
        assert!(timers.pop_due(t0 + Duration::from_secs(3)).is_none());
        let (second, _) = timers.pop_due(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(second, a);
        assert!(timers.is_empty());
    }
}
