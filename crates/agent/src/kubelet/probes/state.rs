//! A probe's results as the kubelet counts them: no probe before the
//! initial delay, one per period, and a result that flips only after
//! `successThreshold` successes or `failureThreshold` failures in a row.
//! Pure bookkeeping (time is passed in), so it is tested without a pod.

use std::time::{Duration, Instant};

use labyrinth_contracts::probe::Timing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    /// As the kubelet's events spell it ("Liveness probe failed: …").
    pub fn label(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// One probe of one container (one run of it: a restarted container gets
/// new workers, as the kubelet's results start over).
#[derive(Debug)]
pub struct Worker {
    pub kind: Kind,
    pub timing: Timing,
    /// The result in force: `None` before the first threshold is reached
    /// (not ready, not started; alive, as the kubelet assumes).
    pub result: Option<bool>,
    successes: u32,
    failures: u32,
    next: Instant,
    in_flight: bool,
}

impl Worker {
    /// For a container that started at `started`.
    pub fn new(kind: Kind, timing: Timing, started: Instant) -> Self {
        Worker {
            kind,
            timing,
            result: None,
            successes: 0,
            failures: 0,
            next: started + Duration::from_secs(timing.initial_delay.into()),
            in_flight: false,
        }
    }

    /// For a container a previous agent started and this one adopted at
    /// `now`: it has been running since before, so no initial delay (the
    /// kubelet counts that from the container's start, too).
    pub fn adopted(kind: Kind, timing: Timing, now: Instant) -> Self {
        Worker {
            next: now,
            ..Worker::new(kind, timing, now)
        }
    }

    /// Whether a probe is to run now: the delay and period are over and the
    /// previous one has answered (a probe slower than its period does not
    /// pile up). A startup probe that succeeded runs no more.
    pub fn due(&self, now: Instant) -> bool {
        let finished = self.kind == Kind::Startup && self.result == Some(true);
        !finished && !self.in_flight && now >= self.next
    }

    /// A probe was launched at `now`: the next one is a period later.
    pub fn launched(&mut self, now: Instant) {
        self.in_flight = true;
        self.next = now + Duration::from_secs(self.timing.period.into());
    }

    /// A probe answered; the new result when it changed.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        self.in_flight = false;
        if ok {
            self.successes += 1;
            self.failures = 0;
            // Liveness and startup need one success whatever the field says
            // (the API rejects another value; this is what it means).
            let needed = match self.kind {
                Kind::Readiness => self.timing.success_threshold,
                _ => 1,
            };
            (self.successes >= needed && self.result != Some(true)).then(|| {
                self.result = Some(true);
                true
            })
        } else {
            self.failures += 1;
            self.successes = 0;
            (self.failures >= self.timing.failure_threshold && self.result != Some(false)).then(|| {
                self.result = Some(false);
                false
            })
        }
    }
}

/// A container's probes, for one run of it (`generation`: its restart
/// count when they were made).
#[derive(Debug)]
pub struct ContainerProbes {
    pub generation: u32,
    pub startup: Option<Worker>,
    pub liveness: Option<Worker>,
    pub readiness: Option<Worker>,
    /// Adopted from a previous agent: until its probes reach a verdict,
    /// whether it is started and ready is what that agent last reported.
    pub inherited: bool,
}

impl ContainerProbes {
    /// Adopted, and its startup or readiness probe has no verdict yet: its
    /// status in the API is the previous agent's, and this agent knows no
    /// better (a report now would say "not ready" for a container that
    /// was, and its Service would drop it and take it back).
    pub fn undecided(&self) -> bool {
        self.inherited
            && [&self.startup, &self.readiness]
                .into_iter()
                .flatten()
                .any(|w| w.result.is_none())
    }

    /// Started: its startup probe succeeded, or it has none.
    pub fn started(&self) -> bool {
        self.startup.as_ref().is_none_or(|w| w.result == Some(true))
    }

    /// Ready: started, and its readiness probe succeeded (or it has none).
    pub fn ready(&self) -> bool {
        self.started() && self.readiness.as_ref().is_none_or(|w| w.result == Some(true))
    }

    pub fn worker(&mut self, kind: Kind) -> Option<&mut Worker> {
        match kind {
            Kind::Startup => self.startup.as_mut(),
            Kind::Liveness => self.liveness.as_mut(),
            Kind::Readiness => self.readiness.as_mut(),
        }
    }

    /// The probes to run now. Until the startup probe succeeds it runs
    /// alone: liveness and readiness wait for it, as the kubelet holds them.
    pub fn due(&self, now: Instant) -> Vec<Kind> {
        if !self.started() {
            return self
                .startup
                .iter()
                .filter(|w| w.due(now))
                .map(|w| w.kind)
                .collect();
        }
        [&self.liveness, &self.readiness]
            .into_iter()
            .flatten()
            .filter(|w| w.due(now))
            .map(|w| w.kind)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(delay: u32, period: u32, ok: u32, fail: u32) -> Timing {
        Timing {
            initial_delay: delay,
            period,
            timeout: 1,
            success_threshold: ok,
            failure_threshold: fail,
        }
    }

    #[test]
    fn defaults_are_the_kubelets() {
        let t = labyrinth_contracts::probe::Probe::default().timing();
        assert_eq!(t, timing(0, 10, 1, 3));
        let p: labyrinth_contracts::probe::Probe =
            serde_json::from_value(serde_json::json!({"periodSeconds": 0, "failureThreshold": -2})).unwrap();
        assert_eq!((p.timing().period, p.timing().failure_threshold), (1, 1));
    }

    #[test]
    fn waits_the_initial_delay_then_one_probe_per_period() {
        let t0 = Instant::now();
        let mut w = Worker::new(Kind::Readiness, timing(5, 2, 1, 3), t0);
        assert!(!w.due(t0 + Duration::from_secs(4)));
        assert!(w.due(t0 + Duration::from_secs(5)));
        w.launched(t0 + Duration::from_secs(5));
        // Not again while the first has not answered, even past a period.
        assert!(!w.due(t0 + Duration::from_secs(9)));
        w.observe(true);
        assert!(!w.due(t0 + Duration::from_secs(6)));
        assert!(w.due(t0 + Duration::from_secs(7)));
    }

    #[test]
    fn readiness_flips_after_its_thresholds_only() {
        let t0 = Instant::now();
        let mut w = Worker::new(Kind::Readiness, timing(0, 1, 2, 3), t0);
        assert_eq!(w.result, None);
        assert_eq!(w.observe(true), None, "one success of two");
        assert_eq!(w.observe(false), None, "a failure resets the successes");
        assert_eq!(w.observe(true), None);
        assert_eq!(w.observe(true), Some(true));
        assert_eq!(w.observe(true), None, "no change, no transition");
        assert_eq!(w.observe(false), None);
        assert_eq!(w.observe(false), None);
        assert_eq!(w.observe(true), None, "a success resets the failures");
        assert_eq!(w.observe(false), None);
        assert_eq!(w.observe(false), None);
        assert_eq!(w.observe(false), Some(false));
        assert_eq!(w.observe(false), None);
    }

    #[test]
    fn liveness_needs_one_success_whatever_the_threshold_says() {
        let mut w = Worker::new(Kind::Liveness, timing(0, 1, 5, 1), Instant::now());
        assert_eq!(w.observe(true), Some(true));
        assert_eq!(w.observe(false), Some(false));
    }

    #[test]
    fn the_startup_probe_holds_the_others_until_it_succeeds_then_stops() {
        let t0 = Instant::now();
        let t = timing(0, 1, 1, 3);
        let mut c = ContainerProbes {
            generation: 0,
            startup: Some(Worker::new(Kind::Startup, t, t0)),
            liveness: Some(Worker::new(Kind::Liveness, t, t0)),
            readiness: Some(Worker::new(Kind::Readiness, t, t0)),
            inherited: false,
        };
        assert_eq!(c.due(t0), [Kind::Startup]);
        assert!(!c.started() && !c.ready());
        let s = c.worker(Kind::Startup).unwrap();
        s.launched(t0);
        assert_eq!(s.observe(true), Some(true));
        assert!(c.started() && !c.ready(), "ready waits for its own probe");
        let later = t0 + Duration::from_secs(1);
        assert_eq!(c.due(later), [Kind::Liveness, Kind::Readiness]);
        c.worker(Kind::Readiness).unwrap().observe(true);
        assert!(c.ready());
    }

    #[test]
    fn a_container_without_probes_is_started_and_ready() {
        let c = ContainerProbes {
            generation: 0,
            startup: None,
            liveness: None,
            readiness: None,
            inherited: false,
        };
        assert!(c.started() && c.ready() && c.due(Instant::now()).is_empty());
    }

    /// An adopted container is probed at once (it has run since before this
    /// agent) and stays undecided, its status the previous agent's, until
    /// its startup and readiness probes reach a verdict either way.
    #[test]
    fn an_adopted_container_is_probed_at_once_and_undecided_until_a_verdict() {
        let t0 = Instant::now();
        let t = timing(30, 10, 2, 3);
        let adopted = |readiness: bool| ContainerProbes {
            generation: 4,
            startup: None,
            liveness: Some(Worker::adopted(Kind::Liveness, t, t0)),
            readiness: readiness.then(|| Worker::adopted(Kind::Readiness, t, t0)),
            inherited: true,
        };
        let mut c = adopted(true);
        assert_eq!(c.due(t0), [Kind::Liveness, Kind::Readiness], "no initial delay");
        assert!(c.undecided());
        let r = c.worker(Kind::Readiness).unwrap();
        r.launched(t0);
        assert_eq!(r.observe(true), None, "one success of two");
        assert!(c.undecided());
        assert_eq!(c.worker(Kind::Readiness).unwrap().observe(true), Some(true));
        assert!(!c.undecided() && c.ready());

        let mut failing = adopted(true);
        for _ in 0..2 {
            failing.worker(Kind::Readiness).unwrap().observe(false);
            assert!(failing.undecided());
        }
        failing.worker(Kind::Readiness).unwrap().observe(false);
        assert!(
            !failing.undecided() && !failing.ready(),
            "a verdict of failure counts too"
        );

        assert!(
            !adopted(false).undecided(),
            "liveness alone decides nothing about readiness"
        );
        let fresh = ContainerProbes {
            inherited: false,
            ..adopted(true)
        };
        assert!(
            !fresh.undecided(),
            "a container this agent started is not ready until probed"
        );
        assert!(Worker::new(Kind::Readiness, t, t0).next > t0);
    }
}
