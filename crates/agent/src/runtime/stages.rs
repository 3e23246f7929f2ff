//! Where the time of one pod start went, stage by stage: the agent logs one
//! line per started pod (`queued=… pause=… cni=… …`), which is how a slow
//! start is explained without a profiler.

use std::fmt;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Stages {
    last: Instant,
    spent: Vec<(&'static str, Duration)>,
}

impl Stages {
    /// Start timing at `since` (e.g. when the pod was first seen).
    pub fn since(since: Instant) -> Self {
        Stages {
            last: since,
            spent: Vec::new(),
        }
    }

    /// `stage` ended now: the time since the previous mark is its own.
    pub fn mark(&mut self, stage: &'static str) {
        let now = Instant::now();
        self.spent.push((stage, now - self.last));
        self.last = now;
    }

    pub fn total(&self) -> Duration {
        self.spent.iter().map(|(_, d)| *d).sum()
    }
}

impl fmt::Display for Stages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (stage, d)) in self.spent.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{stage}={:.1}ms", d.as_secs_f64() * 1000.0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_and_print_in_order() {
        let t0 = Instant::now() - Duration::from_millis(5);
        let mut s = Stages::since(t0);
        s.mark("queued");
        s.mark("cni");
        let text = s.to_string();
        assert!(text.starts_with("queued="), "{text}");
        assert!(text.contains(" cni="), "{text}");
        assert!(s.total() >= Duration::from_millis(5));
    }
}
