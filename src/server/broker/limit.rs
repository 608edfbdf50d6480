//! Flood protection in process: a GCRA limit per key, from `governor`.
//!
//! The memory broker's limits: signing in (per client address) and posting (per name).
//! On Redis the same limits are GCRA in the claim and publish scripts instead, so that
//! every node shares them (see `redis/lua/gcra.lua`).

use super::clock::Clock;
use governor::{
    Quota, RateLimiter, clock::Clock as _, middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use std::{
    hash::Hash,
    num::NonZeroU32,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

/// How many checks pass between sweeps of keys whose limit has fully recovered. A
/// sweep is O(keys); this keeps its cost per check constant while the number of keys
/// stays bounded by those active within one burst's worth of time.
const SWEEP_EVERY: u32 = 4096;

type Limiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, Clock, NoOpMiddleware<Duration>>;

/// A rate limit per key; `None` inside when the limit is off.
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: Option<Limiter<K>>,
    clock: Clock,
    checks: AtomicU32,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    /// `rate` per second sustained, `burst` at once, in `clock`'s time; a rate of 0 turns
    /// the limit off. The rate is validated by the config (`0.001..=100_000`), so the
    /// period is finite.
    pub fn new(rate: f64, burst: u32, clock: &Clock) -> Self {
        let quota = (rate > 0.0)
            .then(|| Quota::with_period(Duration::from_secs_f64(1.0 / rate)))
            .flatten()
            .map(|quota| quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)));
        Self {
            limiter: quota.map(|quota| RateLimiter::dashmap_with_clock(quota, clock.clone())),
            clock: clock.clone(),
            checks: AtomicU32::new(0),
        }
    }

    /// Takes one cell for `key`, or says how long until one is free.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_applies_per_key() {
        let clock = Clock::manual(0);
        let limit = KeyedLimit::new(2.0, 3, &clock);
        for _ in 0..3 {
            assert!(limit.check(&"ann").is_ok());
        }
        let wait = limit.check(&"ann").unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(limit.check(&"bob").is_ok(), "keys are separate");
        clock.advance(wait);
        assert!(limit.check(&"ann").is_ok());
    }

    #[test]
    fn a_zero_rate_never_limits_and_tracks_nothing() {
        let limit = KeyedLimit::new(0.0, 1, &Clock::system());
        assert!((0..1000).all(|i| limit.check(&i).is_ok()));
        assert_eq!(limit.tracked(), 0);
    }

    #[test]
    fn recovered_keys_are_swept() {
        let clock = Clock::manual(0);
        let limit = KeyedLimit::new(1000.0, 1, &clock);
        for i in 0..SWEEP_EVERY {
            let _ = limit.check(&i);
            if i == SWEEP_EVERY / 2 {
                clock.advance(Duration::from_millis(5));
            }
        }
        assert!(
            limit.tracked() < SWEEP_EVERY as usize,
            "{}",
            limit.tracked()
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::MAX), 86_400);
    }
}
