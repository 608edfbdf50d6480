//! Flood protection: a token bucket per session for posting.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Buckets kept before idle (full) ones are dropped.
const MAX_TRACKED: usize = 10_000;

pub struct PostLimiter {
    /// Tokens per second; 0 turns the limit off.
    rate: f64,
    burst: f64,
    /// A std `Mutex`: held for one map look-up and some arithmetic.
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl PostLimiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate: rate.max(0.0),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `session`, or says how long until one is available.
    pub fn check(&self, session: &str) -> Result<(), Duration> {
        self.check_at(session, Instant::now())
    }

    fn check_at(&self, session: &str, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("limiter lock poisoned");
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(session) {
            buckets.retain(|_, b| b.refilled(now, self.rate, self.burst) < self.burst);
        }
        let bucket = buckets.entry(session.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = bucket.refilled(now, self.rate, self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_posts_wait_for_the_rate() {
        let limiter = PostLimiter::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("ann", start).is_ok());
        }
        let wait = limiter.check_at("ann", start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limiter.check_at("bob", start).is_ok(),
            "sessions are separate"
        );
        assert!(
            limiter
                .check_at("ann", start + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .check_at("ann", start + Duration::from_millis(600))
                .is_err()
        );
    }

    #[test]
    fn a_zero_rate_never_limits() {
        let limiter = PostLimiter::new(0.0, 1);
        assert!((0..1000).all(|_| limiter.check("ann").is_ok()));
    }
}
