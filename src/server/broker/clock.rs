//! The time as the in-process broker reads it, so that its tests move time instead of
//! sleeping (once-campfire-rust passes a `SharedClock` in the same way). The Redis broker
//! reads Redis's own clock (`TIME`), which every node shares, so it has none.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Wall-clock milliseconds (message ids, `edited_at`, a room's idleness) and a monotonic
/// reading (how long a name stays held, rate limits): the system's, or a clock that
/// stands still until a test moves it ([`Clock::manual`]).
#[derive(Clone, Debug)]
pub struct Clock(Arc<Time>);

#[derive(Debug)]
enum Time {
    System {
        started: Instant,
    },
    /// Wall-clock ms at the start, and the ns the clock was moved since.
    Manual {
        start_ms: u64,
        moved_ns: AtomicU64,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Time::System {
            started: Instant::now(),
        }))
    }

    /// A clock at `start_ms` (ms since the epoch) that moves only by [`Clock::advance`].
    pub fn manual(start_ms: u64) -> Self {
        Self(Arc::new(Time::Manual {
            start_ms,
            moved_ns: AtomicU64::new(0),
        }))
    }

    /// Moves a manual clock on; the system clock moves by itself and ignores this.
    pub fn advance(&self, by: Duration) {
        if let Time::Manual { moved_ns, .. } = &*self.0 {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            moved_ns.fetch_add(by, Ordering::AcqRel);
        }
    }

    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        match &*self.0 {
            Time::System { .. } => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Time::Manual { start_ms, moved_ns } => {
                start_ms + moved_ns.load(Ordering::Acquire) / 1_000_000
            }
        }
    }

    /// Monotonic time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        match &*self.0 {
            Time::System { started } => started.elapsed(),
            Time::Manual { moved_ns, .. } => Duration::from_nanos(moved_ns.load(Ordering::Acquire)),
        }
    }
}

/// The rate limits (`governor`) read the same monotonic time.
impl governor::clock::Clock for Clock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000);
        assert_eq!((clock.now_ms(), clock.elapsed()), (1_000, Duration::ZERO));
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now_ms(), 2_500);
        assert_eq!(clock.elapsed(), Duration::from_millis(1_500));
        let system = Clock::system();
        system.advance(Duration::from_secs(3600));
        assert!(system.elapsed() < Duration::from_secs(60));
    }
}
