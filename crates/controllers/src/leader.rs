//! Leader election through a coordination.k8s.io Lease, as client-go's
//! leaderelection package does it for kube-controller-manager and
//! kube-scheduler: every candidate tries to take or renew one Lease every
//! retry period; the holder renews it, the others wait until its renewTime
//! is older than leaseDuration. Writes carry the resourceVersion read, so
//! two candidates never both win. A holder that cannot renew within the
//! renew deadline gives up (the process exits, as kube's components do, and
//! its kubelet starts it again as a candidate).
//!
//! [`decide`] is the pure rule; [`Elector`] applies it against the API.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::Client;

/// The timings of one election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it gives up.
    pub renew_deadline: Duration,
    /// How often candidates try, and the holder renews.
    pub retry_period: Duration,
}

impl Timing {
    /// kube-controller-manager's and kube-scheduler's defaults (15 s, 10 s, 2 s).
    pub const KUBE: Timing = Timing {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };

    /// Checked as client-go checks them: the holder must give up before
    /// anyone else may take over, and must try more than once.
    pub fn new(
        lease_duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            lease_duration > renew_deadline,
            "--leader-elect-lease-duration ({lease_duration:?}) must be longer than --leader-elect-renew-deadline ({renew_deadline:?})"
        );
        anyhow::ensure!(
            renew_deadline > retry_period && !retry_period.is_zero(),
            "--leader-elect-renew-deadline ({renew_deadline:?}) must be longer than --leader-elect-retry-period ({retry_period:?}), which must be above 0"
        );
        Ok(Self {
            lease_duration,
            renew_deadline,
            retry_period,
        })
    }
}

/// What a candidate does with the Lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or the holder let it expire: take it (a new term).
    Take,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds it and it is still valid.
    Wait { holder: String },
}

/// The election's rule for a Lease `spec` read at `now` by `me`.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Take;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() {
        return Decision::Take;
    }
    if holder == me {
        return Decision::Renew;
    }
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    let duration = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(0).into());
    match last {
        Some(t) if t + duration > now => Decision::Wait {
            holder: holder.to_string(),
        },
        _ => Decision::Take,
    }
}

/// The Lease's spec after `decision` by `me` at `now` (None for Wait).
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    me: &str,
    timing: Timing,
    now: Timestamp,
) -> Option<LeaseSpec> {
    let now = MicroTime(now);
    let seconds = i32::try_from(timing.lease_duration.as_secs()).unwrap_or(i32::MAX);
    match decision {
        Decision::Wait { .. } => None,
        Decision::Renew => {
            let mut spec = current.cloned().unwrap_or_default();
            spec.renew_time = Some(now);
            spec.lease_duration_seconds = Some(seconds);
            Some(spec)
        }
        Decision::Take => {
            let transitions = current.and_then(|s| s.lease_transitions).unwrap_or(0);
            let had_holder = current
                .and_then(|s| s.holder_identity.as_deref())
                .is_some_and(|h| !h.is_empty());
            Some(LeaseSpec {
                holder_identity: Some(me.to_string()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(transitions + i32::from(had_holder)),
                ..Default::default()
            })
        }
    }
}

/// One candidate for one Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
}

impl Elector {
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, timing: Timing) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timing,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// One round: read the Lease, decide, write. Ok(true) when we hold it
    /// after this round.
    pub async fn try_once(&self) -> anyhow::Result<bool> {
        let current = self.api.get_opt(&self.name).await?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let decision = decide(spec, &self.identity, Timestamp::now());
        let Some(next) = next_spec(spec, &decision, &self.identity, self.timing, Timestamp::now()) else {
            return Ok(false);
        };
        let pp = PostParams::default();
        match current {
            Some(mut lease) => {
                // Carries the resourceVersion read: a concurrent winner's
                // write makes ours fail with 409, never both succeed.
                lease.spec = Some(next);
                self.api.replace(&self.name, &pp, &lease).await?;
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(next),
                };
                self.api.create(&pp, &lease).await?;
            }
        }
        if decision == Decision::Take {
            tracing::info!(lease = %self.name, identity = %self.identity, "acquired the lease");
        }
        Ok(true)
    }

    /// Wait until we hold the Lease.
    pub async fn acquire(&self) {
        let mut last_holder = String::new();
        loop {
            match self.try_once().await {
                Ok(true) => return,
                Ok(false) => {
                    if let Ok(Some(l)) = self.api.get_opt(&self.name).await {
                        let h = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                        if h != last_holder {
                            tracing::info!(lease = %self.name, holder = %h, "waiting: the lease is held");
                            last_holder = h;
                        }
                    }
                }
                Err(e) => tracing::debug!(lease = %self.name, "lease attempt failed: {e}"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renew every retry period; return when a renewal has not succeeded
    /// for the renew deadline (or someone else took the Lease): we are no
    /// longer the leader.
    pub async fn hold(&self) -> String {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            match self.try_once().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => return format!("lease {} was taken by another candidate", self.name),
                Err(e) => {
                    if last_ok.elapsed() >= self.timing.renew_deadline {
                        return format!(
                            "could not renew lease {} within {:?}: {e}",
                            self.name, self.timing.renew_deadline
                        );
                    }
                }
            }
        }
    }

    /// Run `work` only while we hold the Lease: wait for it, run, and stop
    /// with an error when leadership is lost (the caller exits, as
    /// kube-controller-manager does, and is started again as a candidate).
    pub async fn run<F>(&self, work: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = anyhow::Result<()>>,
    {
        self.acquire().await;
        tokio::select! {
            r = work => r,
            why = self.hold() => anyhow::bail!("leader election lost: {why}"),
        }
    }
}

/// A candidate's identity as client-go makes it: the host name and a
/// random suffix (not the pid: a static pod's process is pid 2 in its own
/// pid namespace every time), so a restarted process is a new candidate.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{host}_{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn held_by(who: &str, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(who.into()),
            renew_time: Some(MicroTime(at(renewed))),
            acquire_time: Some(MicroTime(at(0))),
            lease_duration_seconds: Some(duration),
            lease_transitions: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_or_unheld_lease_is_taken() {
        assert_eq!(decide(None, "a", at(0)), Decision::Take);
        let empty = LeaseSpec::default();
        assert_eq!(decide(Some(&empty), "a", at(0)), Decision::Take);
    }

    #[test]
    fn a_valid_lease_of_another_is_waited_for_until_it_expires() {
        let l = held_by("b", 10, 15);
        assert_eq!(
            decide(Some(&l), "a", at(24)),
            Decision::Wait { holder: "b".into() }
        );
        assert_eq!(decide(Some(&l), "a", at(25)), Decision::Take);
        assert_eq!(decide(Some(&l), "a", at(40)), Decision::Take);
    }

    #[test]
    fn the_holder_renews_even_after_expiry() {
        let l = held_by("a", 10, 15);
        assert_eq!(decide(Some(&l), "a", at(11)), Decision::Renew);
        assert_eq!(decide(Some(&l), "a", at(100)), Decision::Renew);
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_keeps_the_term() {
        let timing = Timing::new(
            Duration::from_secs(4),
            Duration::from_secs(3),
            Duration::from_secs(1),
        )
        .unwrap();
        let l = held_by("b", 10, 15);
        let taken = next_spec(Some(&l), &Decision::Take, "a", timing, at(30)).unwrap();
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(3));
        assert_eq!(taken.lease_duration_seconds, Some(4));
        assert_eq!(taken.acquire_time, Some(MicroTime(at(30))));
        let renewed = next_spec(Some(&taken), &Decision::Renew, "a", timing, at(31)).unwrap();
        assert_eq!(renewed.acquire_time, Some(MicroTime(at(30))));
        assert_eq!(renewed.renew_time, Some(MicroTime(at(31))));
        assert_eq!(renewed.lease_transitions, Some(3));
        let first = next_spec(None, &Decision::Take, "a", timing, at(0)).unwrap();
        assert_eq!(first.lease_transitions, Some(0));
        assert!(next_spec(
            Some(&l),
            &Decision::Wait { holder: "b".into() },
            "a",
            timing,
            at(1)
        )
        .is_none());
    }

    #[test]
    fn timings_are_checked_as_client_go_checks_them() {
        let s = Duration::from_secs;
        assert!(Timing::new(s(15), s(10), s(2)).is_ok());
        assert_eq!(Timing::new(s(15), s(10), s(2)).unwrap(), Timing::KUBE);
        let e = Timing::new(s(10), s(10), s(2)).unwrap_err().to_string();
        assert!(e.contains("--leader-elect-lease-duration"), "{e}");
        let e = Timing::new(s(15), s(2), s(2)).unwrap_err().to_string();
        assert!(e.contains("--leader-elect-renew-deadline"), "{e}");
        assert!(Timing::new(s(15), s(10), s(0)).is_err());
    }
}
