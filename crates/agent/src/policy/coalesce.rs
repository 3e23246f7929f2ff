//! When the policy watch compiles: the first change after a quiet spell
//! at once, then at most once per `min` while changes keep coming, as
//! kube-proxy's minSyncPeriod. Compiling on every event made a stream of
//! 1,000 policy writes fall tens of seconds behind (each compile walks
//! every policy).

use std::time::Duration;

use tokio::time::Instant;

pub struct Coalesce {
    min: Duration,
    /// A change not compiled yet.
    dirty: bool,
    /// No compile before this.
    earliest: Instant,
}

impl Coalesce {
    pub fn new(min: Duration, now: Instant) -> Self {
        Coalesce {
            min,
            dirty: false,
            earliest: now,
        }
    }

    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// When the next compile is due; None while nothing changed.
    pub fn due(&self) -> Option<Instant> {
        self.dirty.then_some(self.earliest)
    }

    /// A compile starts at `now`.
    pub fn compiled(&mut self, now: Instant) {
        self.dirty = false;
        self.earliest = now + self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_change_at_once_a_stream_once_per_period() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = Coalesce::new(Duration::from_millis(200), t0);
        assert_eq!(c.due(), None, "nothing changed");
        c.changed();
        assert_eq!(c.due(), Some(t0), "the first change is due at once");
        c.compiled(t0);
        assert_eq!(c.due(), None);
        // A stream: every change before 200 ms waits for the same compile.
        for _ in 0..3 {
            c.changed();
            assert_eq!(c.due(), Some(ms(200)));
        }
        c.compiled(ms(200));
        assert_eq!(c.due(), None);
        // The next is due 200 ms after that compile: a change after a
        // longer quiet spell finds it passed and is compiled at once.
        c.changed();
        assert_eq!(c.due(), Some(ms(400)));
    }
}
