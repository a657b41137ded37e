//! The per-sender submission limit (CLIENTS.md §3, PROVISIONING.md §8): each authenticated
//! sender may start `n` messages a minute, with a burst of `n`. With the default of 6, a burst
//! of 7 sees the 7th refused, and one more message is allowed every 10 seconds after that.
//! Unlike a fixed window, this generic cell rate algorithm (governor) never lets twice the
//! quota through around a window boundary.
//!
//! One [`SenderLimiter`] is shared by every SMTP connection on every port, so the limit holds
//! per sender, not per connection. The caller passes the limit in force for the sender at each
//! check (the mailbox's own setting or the configured default), so a changed per-mailbox
//! setting applies from the next message. Memory stays bounded: a sender idle long enough for
//! its bucket to refill is indistinguishable from a new one, and is dropped.
//!
//! This crate knows nothing of SMTP; the reply text is the caller's. Entry point:
//! [`SenderLimiter::check`].

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

struct Slot<C: Clock> {
    per_minute: NonZeroU32,
    limiter: Direct<C>,
    last_used: C::Instant,
}

/// The sender has used its quota; `retry_after` is when the next message would be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit {
    pub retry_after: Duration,
}

/// After this long without a message, any bucket has refilled completely.
const REFILL: Duration = Duration::from_secs(60);

/// Idle senders are swept after this many checks.
const SWEEP_EVERY: u64 = 256;

pub struct SenderLimiter<C: Clock = DefaultClock> {
    clock: C,
    state: Mutex<State<C>>,
}

struct State<C: Clock> {
    senders: HashMap<String, Slot<C>>,
    checks: u64,
}

impl SenderLimiter<DefaultClock> {
    pub fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl Default for SenderLimiter<DefaultClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock + Clone> SenderLimiter<C> {
    /// A limiter on an injected clock (tests move a fake clock instead of sleeping).
    pub fn with_clock(clock: C) -> Self {
        SenderLimiter {
            clock,
            state: Mutex::new(State {
                senders: HashMap::new(),
                checks: 0,
            }),
        }
    }

    /// Counts one message from `sender` against `per_minute`. Call once per message (at MAIL
    /// FROM), never per recipient. `sender` should be the normalised address.
    pub fn check(&self, sender: &str, per_minute: NonZeroU32) -> Result<(), OverLimit> {
        let now = self.clock.now();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.checks += 1;
        if st.checks.is_multiple_of(SWEEP_EVERY) {
            st.senders.retain(|_, slot| !idle(slot.last_used, now));
        }
        let slot = match st.senders.get_mut(sender) {
            Some(slot) if slot.per_minute == per_minute => slot,
            _ => {
                // A new sender, or a changed limit: start from a full bucket of the new size.
                let limiter = RateLimiter::direct_with_clock(quota(per_minute), self.clock.clone());
                st.senders.insert(
                    sender.to_string(),
                    Slot {
                        per_minute,
                        limiter,
                        last_used: now,
                    },
                );
                st.senders.get_mut(sender).expect("just inserted")
            }
        };
        slot.last_used = now;
        slot.limiter.check().map_err(|not_until| OverLimit {
            retry_after: not_until.wait_time_from(now),
        })
    }

    /// Senders currently tracked (for metrics and the memory-bound test).
    pub fn tracked(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .senders
            .len()
    }
}

fn quota(per_minute: NonZeroU32) -> Quota {
    Quota::per_minute(per_minute).allow_burst(per_minute)
}

fn idle<I: Reference>(last_used: I, now: I) -> bool {
    Duration::from(now.duration_since(last_used)) >= REFILL
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn six() -> NonZeroU32 {
        NonZeroU32::new(6).unwrap()
    }

    #[test]
    fn burst_of_seven_refuses_the_seventh_then_one_every_ten_seconds() {
        let clock = FakeRelativeClock::default();
        let limiter = SenderLimiter::with_clock(clock.clone());
        for i in 1..=6 {
            assert_eq!(
                limiter.check("mario@pec.localhost", six()),
                Ok(()),
                "message {i}"
            );
        }
        let refused = limiter.check("mario@pec.localhost", six()).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(10));
        clock.advance(Duration::from_secs(9));
        assert!(
            limiter.check("mario@pec.localhost", six()).is_err(),
            "not before 10 s"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            limiter.check("mario@pec.localhost", six()),
            Ok(()),
            "one more after 10 s"
        );
        assert!(
            limiter.check("mario@pec.localhost", six()).is_err(),
            "and only one"
        );
    }

    #[test]
    fn senders_are_independent() {
        let limiter = SenderLimiter::with_clock(FakeRelativeClock::default());
        for _ in 0..6 {
            limiter.check("mario@pec.localhost", six()).unwrap();
        }
        assert!(limiter.check("mario@pec.localhost", six()).is_err());
        assert_eq!(limiter.check("luigi@pec.localhost", six()), Ok(()));
    }

    #[test]
    fn never_twice_the_quota_around_a_minute_boundary() {
        // A fixed one-minute window would let 6 through at 0:59 and 6 more at 1:00.
        let clock = FakeRelativeClock::default();
        let limiter = SenderLimiter::with_clock(clock.clone());
        clock.advance(Duration::from_secs(59));
        let mut allowed = 0;
        for _ in 0..6 {
            allowed += limiter.check("a@pec.localhost", six()).is_ok() as u32;
        }
        clock.advance(Duration::from_secs(1));
        for _ in 0..6 {
            allowed += limiter.check("a@pec.localhost", six()).is_ok() as u32;
        }
        assert_eq!(allowed, 6);
    }

    #[test]
    fn a_changed_limit_applies_at_once_and_can_be_restored() {
        let limiter = SenderLimiter::with_clock(FakeRelativeClock::default());
        let lifted = NonZeroU32::new(30).unwrap();
        for _ in 0..6 {
            limiter.check("a@pec.localhost", six()).unwrap();
        }
        assert!(limiter.check("a@pec.localhost", six()).is_err());
        for i in 0..30 {
            assert_eq!(
                limiter.check("a@pec.localhost", lifted),
                Ok(()),
                "lifted message {i}"
            );
        }
        assert!(limiter.check("a@pec.localhost", lifted).is_err());
        for _ in 0..6 {
            limiter.check("a@pec.localhost", six()).unwrap();
        }
        assert!(
            limiter.check("a@pec.localhost", six()).is_err(),
            "default restored"
        );
    }

    #[test]
    fn idle_senders_are_dropped() {
        let clock = FakeRelativeClock::default();
        let limiter = SenderLimiter::with_clock(clock.clone());
        for i in 0..10_000 {
            limiter
                .check(&format!("sender{i}@pec.localhost"), six())
                .unwrap();
        }
        assert!(limiter.tracked() > 9_000);
        clock.advance(REFILL);
        for _ in 0..SWEEP_EVERY {
            limiter.check("active@pec.localhost", six()).ok();
        }
        assert_eq!(limiter.tracked(), 1);
        // A sender dropped while idle starts again with a full bucket, as it would have anyway.
        for _ in 0..6 {
            assert_eq!(limiter.check("sender0@pec.localhost", six()), Ok(()));
        }
    }
}
