//! Who may have a password checked now: the bounds that keep a flood of
//! guesses from filling the password lanes' queue or keeping a lane busy,
//! shared by every loop and the lanes (one lock, taken only when a check
//! is asked for or answered, never on a cached or memo answer).
//!
//! - At most [`MAX_PASSWORD_CHECKS`] checks queued or running at once:
//!   beyond it, [`Refused::Busy`] (the loop answers `503`).
//! - Penalties per client address. Each wrong password doubles the time
//!   the client's next failure is held back, from `[http]
//!   auth_failure_delay_secs` up to [`MAX_DELAY`]; the right password, or
//!   [`FORGET_AFTER`] without a failure, clears it. A client with a
//!   penalty gets no new check before its last failure's hold is over,
//!   and no more than [`MAX_CHECKS_PER_PENALISED_CLIENT`] at once:
//!   otherwise [`Refused::TooMany`] (`429`). So someone who mistypes waits
//!   1, 2, 4 seconds for the `401`, a browser retrying on its connection
//!   is never refused, and a client guessing over any number of
//!   connections soon gets two checks every half minute (OpenSSH's
//!   `PerSourcePenalties` works the same way for log-ins).
//! - A client without a penalty (any first log-in; a browser's page of
//!   assets sent with credentials not yet in a loop's memo) may have
//!   [`MAX_CHECKS_PER_CLIENT`] checks at once, more than a browser's six
//!   connections: a flood's first wave from one address is that many
//!   checks, not one per connection.
//!
//! The address is the one the access log shows (the PROXY header's, or
//! behind trusted proxies the `X-Forwarded-For` client's); `None` is a
//! Unix-socket client without a PROXY header.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most password checks queued or running at once, over all loops. With
/// one password lane and bcrypt's usual cost (10: some 50 to 100 ms), the
/// last one waits a few seconds: a legitimate log-in during a flood from
/// many addresses is slow or refused (`503`), never the files of anyone
/// else.
pub const MAX_PASSWORD_CHECKS: usize = 64;

/// Most checks a client without a penalty may have queued or running.
pub const MAX_CHECKS_PER_CLIENT: usize = 8;

/// Most checks a client with a penalty may have queued or running.
pub const MAX_CHECKS_PER_PENALISED_CLIENT: usize = 2;

/// The longest hold (unless `auth_failure_delay_secs` is longer).
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// A client without a failure for this long starts over.
pub const FORGET_AFTER: Duration = Duration::from_secs(120);

/// Clients remembered without a check running, at most; beyond it, those
/// forgiven by time go, then (a flood from many addresses) all of them.
pub const MAX_CLIENTS: usize = 4096;

/// Why a check was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// [`MAX_PASSWORD_CHECKS`] are waiting.
    Busy,
    /// The client has a penalty: its answer is held until `until`.
    TooMany { until: Instant },
}

/// The bounds' state (see the module documentation).
#[derive(Debug, Default)]
pub struct PasswordGuard {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Checks queued or running.
    total: usize,
    clients: HashMap<Option<IpAddr>, Client>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Client {
    /// Checks of this client queued or running.
    running: usize,
    /// Wrong passwords since the client was last forgiven.
    failures: u32,
    /// When the last one was answered, and when its hold ends.
    last_failure: Option<(Instant, Instant)>,
}

/// The hold of a client's `failures`-th failure: `base`, doubled for each
/// earlier one, up to [`MAX_DELAY`] (or `base`, if longer).
pub fn hold_for(failures: u32, base: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_DELAY.max(base))
}

impl PasswordGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a check for `client` in, unless a bound says no. `base`:
    /// `[http] auth_failure_delay_secs`.
    pub fn admit(
        &self,
        client: Option<IpAddr>,
        base: Duration,
        now: Instant,
    ) -> Result<(), Refused> {
        let mut state = self.lock();
        let known = state.clients.get(&client).copied().unwrap_or_default();
        let penalty = known.penalty(now);
        if let Some(until) = penalty.filter(|until| now < *until) {
            return Err(Refused::TooMany { until });
        }
        let most = match penalty {
            Some(_) => MAX_CHECKS_PER_PENALISED_CLIENT,
            None => MAX_CHECKS_PER_CLIENT,
        };
        if known.running >= most {
            let failures = if penalty.is_some() { known.failures } else { 0 };
            let until = now + hold_for(failures, base);
            return Err(Refused::TooMany { until });
        }
        if state.total >= MAX_PASSWORD_CHECKS {
            return Err(Refused::Busy);
        }
        state.total += 1;
        state.remember(client, now).running += 1;
        Ok(())
    }

    /// A check admitted for `client` has run: counts it out, forgives the
    /// client if `matched`, and returns how long to hold the answer (zero
    /// for a success).
    pub fn checked(
        &self,
        client: Option<IpAddr>,
        matched: bool,
        base: Duration,
        now: Instant,
    ) -> Duration {
        let mut state = self.lock();
        state.total = state.total.saturating_sub(1);
        let entry = state.remember(client, now);
        entry.running = entry.running.saturating_sub(1);
        if matched {
            entry.failures = 0;
            entry.last_failure = None;
            return Duration::ZERO;
        }
        entry.fail(base, now)
    }

    /// A wrong password answered without a check (from a loop's memo):
    /// the hold of its answer.
    pub fn failed_again(&self, client: Option<IpAddr>, base: Duration, now: Instant) -> Duration {
        self.lock().remember(client, now).fail(base, now)
    }
}

impl State {
    /// The entry of `client`, made room for.
    fn remember(&mut self, client: Option<IpAddr>, now: Instant) -> &mut Client {
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&client) {
            self.clients
                .retain(|_, c| c.running > 0 || c.penalty(now).is_some());
            if self.clients.len() >= MAX_CLIENTS {
                self.clients.retain(|_, c| c.running > 0);
            }
        }
        self.clients.entry(client).or_default()
    }
}

impl Client {
    /// The end of the last failure's hold, while the client has a penalty
    /// (a failure less than [`FORGET_AFTER`] ago).
    fn penalty(&self, now: Instant) -> Option<Instant> {
        let (at, until) = self.last_failure?;
        (now.saturating_duration_since(at) < FORGET_AFTER).then_some(until)
    }

    /// Counts a failure now; returns its hold.
    fn fail(&mut self, base: Duration, now: Instant) -> Duration {
        if self.penalty(now).is_none() {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        let hold = hold_for(self.failures, base);
        self.last_failure = Some((now, now + hold));
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn addr(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn each_failure_doubles_the_hold_up_to_the_cap() {
        let holds: Vec<u64> = (1..=7).map(|f| hold_for(f, SECOND).as_secs()).collect();
        assert_eq!(holds, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(hold_for(5, Duration::ZERO), Duration::ZERO);
        assert_eq!(hold_for(3, 45 * SECOND), 45 * SECOND, "a longer base stays");
        let guard = PasswordGuard::default();
        let now = Instant::now();
        let holds: Vec<u64> = (0..4)
            .map(|_| guard.failed_again(addr(1), SECOND, now).as_secs())
            .collect();
        assert_eq!(holds, [1, 2, 4, 8]);
        assert_eq!(
            guard.failed_again(addr(2), SECOND, now),
            SECOND,
            "another client"
        );
    }

    #[test]
    fn a_penalised_client_waits_out_its_hold_and_runs_two_at_most() {
        let guard = PasswordGuard::default();
        let t0 = Instant::now();
        // No penalty: eight at once.
        for _ in 0..MAX_CHECKS_PER_CLIENT {
            assert_eq!(guard.admit(addr(1), SECOND, t0), Ok(()));
        }
        assert_eq!(
            guard.admit(addr(1), SECOND, t0),
            Err(Refused::TooMany { until: t0 + SECOND })
        );
        for _ in 0..3 {
            guard.checked(addr(1), true, SECOND, t0);
        }
        let hold = guard.checked(addr(1), false, SECOND, t0);
        assert_eq!(hold, SECOND);
        // Penalised: nothing new before the hold is over...
        assert_eq!(
            guard.admit(addr(1), SECOND, t0),
            Err(Refused::TooMany { until: t0 + SECOND })
        );
        assert_eq!(guard.admit(addr(2), SECOND, t0), Ok(()), "another client");
        // ...and then no more than two at once (four are still running;
        // three of them then fail, one is left).
        let t1 = t0 + SECOND;
        assert!(matches!(
            guard.admit(addr(1), SECOND, t1),
            Err(Refused::TooMany { .. })
        ));
        for _ in 0..3 {
            guard.checked(addr(1), false, SECOND, t1);
        }
        let t2 = t1 + 30 * SECOND;
        assert_eq!(guard.admit(addr(1), SECOND, t2), Ok(()), "one of two");
        assert!(matches!(
            guard.admit(addr(1), SECOND, t2),
            Err(Refused::TooMany { .. })
        ));
        // The right password forgives.
        assert_eq!(guard.checked(addr(1), true, SECOND, t2), Duration::ZERO);
        guard.checked(addr(1), true, SECOND, t2);
        assert_eq!(guard.failed_again(addr(1), SECOND, t2), SECOND);
    }

    #[test]
    fn time_forgives_and_the_total_is_bounded() {
        let guard = PasswordGuard::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            guard.failed_again(addr(1), SECOND, t0);
        }
        let later = t0 + FORGET_AFTER;
        assert_eq!(guard.admit(addr(1), SECOND, later), Ok(()));
        assert_eq!(
            guard.checked(addr(1), false, SECOND, later),
            SECOND,
            "from one"
        );
        for n in 0..MAX_PASSWORD_CHECKS as u32 {
            assert_eq!(guard.admit(addr(100 + n), SECOND, later), Ok(()));
        }
        assert_eq!(guard.admit(None, SECOND, later), Err(Refused::Busy));
    }

    #[test]
    fn the_table_stays_bounded() {
        let guard = PasswordGuard::default();
        let now = Instant::now();
        for n in 0..(MAX_CLIENTS as u32 + 10) {
            guard.failed_again(addr(n), SECOND, now);
        }
        assert!(guard.lock().clients.len() <= MAX_CLIENTS);
    }
}
