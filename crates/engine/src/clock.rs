//! The engine's clock: every temporal reference, timer and queue deadline reads it, so tests
//! and drills can move time (the 12 h / 24 h timeouts of PEC.md §6.6) without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

/// Unix seconds, as the engine sees them.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

/// The system clock, moved by a fixed offset (`pec.clock_offset_seconds`, 0 in production).
pub struct SystemClock {
    offset: i64,
}

impl SystemClock {
    pub fn with_offset(offset: i64) -> SystemClock {
        SystemClock { offset }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        secs + self.offset
    }
}

/// A clock that only moves when told to (unit tests).
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: i64) -> ManualClock {
        ManualClock(AtomicI64::new(start))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_manual_clocks() {
        let real = SystemClock::with_offset(0).now();
        let ahead = SystemClock::with_offset(12 * 3600).now();
        assert!((ahead - real - 12 * 3600).abs() <= 1);
        let m = ManualClock::new(100);
        m.advance(50);
        assert_eq!(m.now(), 150);
    }
}
