//! How fast a recorder may write Events, as the kubelet's event client is
//! limited (KubeletConfiguration `eventRecordQPS`, default 50, and
//! `eventBurst`, default 100): a token bucket that starts full with `burst`
//! writes and refills at `qps` per second. A write takes a token, or waits
//! until one is there. In a burst of pod starts a node's first 100 Events go
//! out at once and the rest follow at 50 a second, after the starts that
//! produced them, as on a cluster of real kubelets.

use std::time::{Duration, Instant};

/// A recorder's limit. `qps` 0 means none (as `eventRecordQPS: 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRate {
    pub qps: f64,
    pub burst: u32,
}

impl EventRate {
    /// The kubelet's defaults.
    pub const KUBELET: EventRate = EventRate {
        qps: 50.0,
        burst: 100,
    };

    /// No limit.
    pub const UNLIMITED: EventRate = EventRate { qps: 0.0, burst: 0 };

    /// The bucket for this limit, full at `now`; None when unlimited.
    pub fn bucket(self, now: Instant) -> Option<TokenBucket> {
        (self.qps > 0.0).then(|| TokenBucket {
            qps: self.qps,
            burst: f64::from(self.burst.max(1)),
            tokens: f64::from(self.burst.max(1)),
            at: now,
        })
    }
}

/// Tokens as of `at`; below zero once writes have been promised ahead of
/// the refill (one writer reserves, then waits).
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// Take a token at `now`: how long to wait before the write may go
    /// (zero when a token was there).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() * self.qps;
        self.tokens = (self.tokens + refilled).min(self.burst);
        self.at = now.max(self.at);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        let t0 = Instant::now();
        let mut b = EventRate { qps: 50.0, burst: 3 }.bucket(t0).unwrap();
        for _ in 0..3 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        // The 4th waits one refill (20 ms), the 5th two: each reservation
        // is promised in turn.
        assert_eq!(b.reserve(t0).as_millis(), 20);
        assert_eq!(b.reserve(t0).as_millis(), 40);
        // Once the promised writes are due, the next waits one more.
        let later = t0 + Duration::from_millis(40);
        assert_eq!(b.reserve(later).as_millis(), 20);
        // A quiet second fills the bucket back to its burst, not beyond.
        let quiet = later + Duration::from_secs(1);
        for _ in 0..3 {
            assert_eq!(b.reserve(quiet), Duration::ZERO);
        }
        assert!(b.reserve(quiet) > Duration::ZERO);
    }

    #[test]
    fn zero_qps_is_no_limit_and_the_kubelet_defaults_are_50_and_100() {
        assert!(EventRate { qps: 0.0, burst: 10 }.bucket(Instant::now()).is_none());
        assert!(EventRate::UNLIMITED.bucket(Instant::now()).is_none());
        assert_eq!(
            EventRate::KUBELET,
            EventRate {
                qps: 50.0,
                burst: 100
            }
        );
        let t0 = Instant::now();
        let mut b = EventRate::KUBELET.bucket(t0).unwrap();
        let waits: Vec<Duration> = (0..101).map(|_| b.reserve(t0)).collect();
        assert!(waits[..100].iter().all(|w| w.is_zero()));
        assert_eq!(waits[100].as_millis(), 20);
    }
}
