//! How often a controller writes one object's status while it keeps
//! changing: at once after a quiet spell, then at most once per `every`,
//! the latest status always written by the end of its window. A ReplicaSet
//! of 100 starting pods otherwise wrote its status ~90 times in one burst,
//! one write per pod that became ready, and the Deployment controller
//! answered most of them with a write of its own: a sixth of the burst's
//! API writes, competing for the CPU with the starts they report on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct StatusPace {
    every: Duration,
    /// Object key → its last status write.
    last: Mutex<HashMap<String, Instant>>,
}

/// Past this many keys, the ones whose window has passed are forgotten
/// (a forgotten key writes at once next time, as a quiet one does).
const KEPT: usize = 1024;

impl StatusPace {
    pub fn new(every: Duration) -> Self {
        StatusPace {
            every,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// None: write now (the write is recorded as done now). Some(wait): a
    /// write of this object was less than `every` ago; come back in `wait`.
    pub fn turn(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = last.get(key) {
            let since = now.saturating_duration_since(*at);
            if since < self.every {
                return Some(self.every - since);
            }
        }
        if last.len() >= KEPT {
            let every = self.every;
            last.retain(|_, at| now.saturating_duration_since(*at) < every);
        }
        last.insert(key.to_string(), now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_write_goes_at_once_and_the_next_waits_out_the_window() {
        let pace = StatusPace::new(Duration::from_millis(100));
        let t0 = Instant::now();
        assert_eq!(pace.turn("ns/a", t0), None);
        assert_eq!(
            pace.turn("ns/a", t0 + Duration::from_millis(30)),
            Some(Duration::from_millis(70))
        );
        // Another object has its own window.
        assert_eq!(pace.turn("ns/b", t0 + Duration::from_millis(30)), None);
        // Once the window is over the write goes, and starts the next one.
        assert_eq!(pace.turn("ns/a", t0 + Duration::from_millis(100)), None);
        assert_eq!(
            pace.turn("ns/a", t0 + Duration::from_millis(150)),
            Some(Duration::from_millis(50))
        );
    }

    #[test]
    fn keys_past_their_window_are_forgotten_when_many() {
        let pace = StatusPace::new(Duration::from_millis(100));
        let t0 = Instant::now();
        for i in 0..KEPT {
            assert_eq!(pace.turn(&format!("ns/{i}"), t0), None);
        }
        let later = t0 + Duration::from_secs(1);
        assert_eq!(pace.turn("ns/new", later), None);
        assert_eq!(pace.last.lock().unwrap().len(), 1);
    }
}
