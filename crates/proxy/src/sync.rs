//! The sync engine: keeps one datapath in step with the desired service
//! model (full sync first, partial syncs on change, periodic resync that
//! repairs drift), flushes stale UDP conntrack entries, records metrics.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use crate::conntrack::{self, Stale};
use crate::datapath::Datapath;
use crate::metrics::{unix_seconds, Metrics};
use crate::model::{Protocol, ServiceModel, ServicePortName};

/// What one call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncKind {
    /// Nothing changed.
    Noop,
    Full,
    Partial {
        changed: usize,
    },
    /// A resync found drift (the reason) and rewrote everything.
    Repaired(String),
}

#[derive(Debug, Clone)]
pub struct SyncReport {
    pub kind: SyncKind,
    pub took: Duration,
    /// (ClusterIP, endpoint IP, which flows) whose UDP conntrack entries
    /// were flushed.
    pub flushed: Vec<(Ipv4Addr, Ipv4Addr, Stale)>,
}

pub struct Proxier {
    datapath: Box<dyn Datapath>,
    desired: ServiceModel,
    applied: Option<ServiceModel>,
    triggers: Vec<SystemTime>,
    metrics: Arc<Mutex<Metrics>>,
    /// Run `conntrack -D` for removed UDP endpoints (off in benchmarks).
    pub flush_conntrack: bool,
    /// The LoadBalancer addresses announced (None: not read yet).
    announced: Option<std::collections::BTreeSet<Ipv4Addr>>,
}

impl Proxier {
    pub fn new(datapath: Box<dyn Datapath>) -> Self {
        Proxier {
            datapath,
            desired: ServiceModel::default(),
            applied: None,
            triggers: Vec::new(),
            metrics: Arc::default(),
            flush_conntrack: true,
            announced: None,
        }
    }

    pub fn datapath_name(&self) -> &'static str {
        self.datapath.name()
    }

    /// Shared handle for a /metrics server thread.
    pub fn metrics(&self) -> Arc<Mutex<Metrics>> {
        self.metrics.clone()
    }

    /// The Prometheus text of this proxier's metrics.
    pub fn metrics_text(&self) -> String {
        self.metrics.lock().expect("metrics lock").render()
    }

    /// Set what should be programmed; `trigger` is when the API change
    /// behind it happened (EndpointSlice last-change-trigger-time).
    pub fn set_model(&mut self, model: ServiceModel, trigger: Option<SystemTime>) {
        self.desired = model;
        self.triggers.push(trigger.unwrap_or_else(SystemTime::now));
        self.metrics.lock().expect("metrics lock").last_queued_timestamp = unix_seconds(SystemTime::now());
    }

    pub fn desired(&self) -> &ServiceModel {
        &self.desired
    }

    /// Program what changed since the last successful sync (everything the
    /// first time, or after a failed partial sync).
    pub fn sync(&mut self) -> Result<SyncReport> {
        let start = Instant::now();
        let Some(applied) = &self.applied else {
            return self.full_sync();
        };
        let changed = self.desired.changed_since(applied);
        // The cluster CIDR and the node shape every service's rules.
        let same_frame =
            self.desired.cluster_cidr == applied.cluster_cidr && self.desired.node == applied.node;
        if changed.is_empty() && same_frame {
            self.triggers.clear();
            return Ok(SyncReport {
                kind: SyncKind::Noop,
                took: start.elapsed(),
                flushed: vec![],
            });
        }
        if !same_frame {
            return self.full_sync();
        }
        self.desired.validate().map_err(anyhow::Error::msg)?;
        if let Err(e) = self.datapath.partial_sync(&self.desired, &changed) {
            tracing::warn!("partial sync failed, falling back to a full sync: {e:#}");
            return self.full_sync();
        }
        let flushed = self.after_sync(false, start, &changed);
        Ok(SyncReport {
            kind: SyncKind::Partial {
                changed: changed.len(),
            },
            took: start.elapsed(),
            flushed,
        })
    }

    /// Rewrite everything this datapath owns.
    pub fn full_sync(&mut self) -> Result<SyncReport> {
        let start = Instant::now();
        self.desired.validate().map_err(anyhow::Error::msg)?;
        self.datapath.full_sync(&self.desired)?;
        let all: BTreeSet<ServicePortName> = self
            .applied
            .iter()
            .flat_map(|a| a.services.keys().cloned())
            .chain(self.desired.services.keys().cloned())
            .collect();
        let flushed = self.after_sync(true, start, &all);
        Ok(SyncReport {
            kind: SyncKind::Full,
            took: start.elapsed(),
            flushed,
        })
    }

    /// Periodic resync: list the kernel's rules; if someone changed ours,
    /// rewrite them all. Pending model changes are synced either way.
    pub fn resync(&mut self) -> Result<SyncReport> {
        if self.applied.is_none() {
            return self.full_sync();
        }
        if let Some(reason) = self.datapath.check_drift()? {
            tracing::warn!(
                "{} rules drifted ({reason}); rewriting them",
                self.datapath.name()
            );
            let mut report = self.full_sync()?;
            self.metrics.lock().expect("metrics lock").drift_repairs += 1;
            report.kind = SyncKind::Repaired(reason);
            return Ok(report);
        }
        self.sync()
    }

    /// Compare the kernel with what we programmed, without fixing anything.
    pub fn check_drift(&mut self) -> Result<Option<String>> {
        self.datapath.check_drift()
    }

    /// Remove everything this datapath owns.
    pub fn cleanup(&mut self) -> Result<()> {
        self.applied = None;
        self.datapath.cleanup()
    }

    /// LoadBalancer addresses this node answers for on the VPC
    /// (announce.rs); only a proxy that knows its node announces.
    fn announce(&mut self) {
        if self.desired.node.is_none() {
            return;
        }
        let want = crate::announce::wanted(&self.desired);
        let have = match self.announced.take() {
            Some(h) => Ok(h),
            None => crate::announce::announced(),
        };
        match have.and_then(|h| crate::announce::apply(&h, &want)) {
            Ok(()) => self.announced = Some(want),
            Err(e) => tracing::warn!("announcing LoadBalancer addresses: {e:#}"),
        }
    }

    fn after_sync(
        &mut self,
        full: bool,
        start: Instant,
        changed: &BTreeSet<ServicePortName>,
    ) -> Vec<(Ipv4Addr, Ipv4Addr, Stale)> {
        let stale = match &self.applied {
            Some(old) => stale_udp_endpoints(old, &self.desired, changed),
            None => vec![],
        };
        match (&mut self.applied, full) {
            (Some(applied), false) => applied.apply_changes(&self.desired, changed),
            _ => self.applied = Some(self.desired.clone()),
        }
        self.announce();
        let mut metrics = self.metrics.lock().expect("metrics lock");
        metrics.observe_sync(full, start.elapsed(), &self.triggers);
        self.triggers.clear();
        if !self.flush_conntrack {
            return stale;
        }
        for (cip, ep, which) in &stale {
            match conntrack::flush_udp_endpoint(*cip, *ep, *which) {
                Ok(n) => metrics.conntrack_flushed += n,
                Err(e) => tracing::warn!("flushing UDP conntrack entries {cip} -> {ep}: {e:#}"),
            }
        }
        stale
    }
}

/// (ClusterIP, endpoint IP, which flows) of UDP endpoints whose conntrack
/// entries must go: every flow of one that answered and answers no more
/// (gone from the Service, or no longer serving); the answered flows of one
/// that was ready and now only serves (terminating, in lame duck). New flows
/// go to ready endpoints only, so a draining endpoint gets none meanwhile;
/// the flows kept are queries it was sent and still answers, whose answers
/// come back through their entries. See `conntrack` for why.
pub fn stale_udp_endpoints(
    old: &ServiceModel,
    new: &ServiceModel,
    changed: &BTreeSet<ServicePortName>,
) -> Vec<(Ipv4Addr, Ipv4Addr, Stale)> {
    let mut out = BTreeSet::new();
    for name in changed.iter().filter(|n| n.protocol == Protocol::Udp) {
        let Some(o) = old.services.get(name) else { continue };
        let n = new.services.get(name).filter(|n| n.cluster_ip == o.cluster_ip);
        for ep in o.serving_endpoints() {
            let now = n.and_then(|n| n.endpoints.iter().find(|e| e.ip == ep.ip && e.port == ep.port));
            let which = match now {
                Some(e) if e.ready => continue,
                Some(e) if e.serving && ep.ready => Stale::Draining,
                // Drained when it stopped being ready; nothing new since.
                Some(e) if e.serving => continue,
                _ => Stale::Gone,
            };
            out.insert((o.cluster_ip, ep.ip, which));
        }
    }
    out.into_iter().collect()
}

/// Drive a proxier: apply each model received (partial syncs, coalescing
/// bursts), resync every `period`, until the sender hangs up.
pub fn run_loop(
    proxier: &mut Proxier,
    updates: Receiver<(ServiceModel, Option<SystemTime>)>,
    period: Duration,
) -> Result<()> {
    let mut next_resync = Instant::now() + period;
    loop {
        let wait = next_resync.saturating_duration_since(Instant::now());
        match updates.recv_timeout(wait) {
            Ok((model, trigger)) => {
                proxier.set_model(model, trigger);
                while let Ok((model, trigger)) = updates.try_recv() {
                    proxier.set_model(model, trigger);
                }
                if let Err(e) = proxier.sync() {
                    tracing::error!("sync failed: {e:#}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = proxier.resync() {
                    tracing::error!("resync failed: {e:#}");
                }
                next_resync = Instant::now() + period;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, ServicePort};

    #[test]
    fn stale_udp_endpoints_only_for_udp_and_gone() {
        let udp = ServicePortName::new("ns", "dns", "dns", Protocol::Udp);
        let tcp = ServicePortName::new("ns", "web", "", Protocol::Tcp);
        let cip = Ipv4Addr::new(10, 96, 0, 10);
        let e = |d| Endpoint::new(Ipv4Addr::new(10, 0, 1, d), 53);
        let mut old = ServiceModel::new(None);
        old.insert(ServicePort::new(udp.clone(), cip, 53, vec![e(1), e(2)]));
        old.insert(ServicePort::new(tcp.clone(), cip, 80, vec![e(3)]));
        let mut new = ServiceModel::new(None);
        new.insert(ServicePort::new(udp.clone(), cip, 53, vec![e(2)]));
        let changed = new.changed_since(&old);
        assert_eq!(
            stale_udp_endpoints(&old, &new, &changed),
            vec![(cip, Ipv4Addr::new(10, 0, 1, 1), Stale::Gone)]
        );
    }

    #[test]
    fn a_terminating_endpoint_is_drained_while_it_serves_and_flushed_when_it_stops() {
        let udp = ServicePortName::new("ns", "dns", "dns", Protocol::Udp);
        let cip = Ipv4Addr::new(10, 96, 0, 10);
        let ip = |d| Ipv4Addr::new(10, 0, 1, d);
        let model = |eps: Vec<Endpoint>| {
            let mut m = ServiceModel::new(None);
            m.insert(ServicePort::new(udp.clone(), cip, 53, eps));
            m
        };
        let ready = |d| Endpoint::new(ip(d), 53);
        let terminating = |d, serving| Endpoint {
            ready: false,
            serving,
            ..Endpoint::new(ip(d), 53)
        };
        let stale =
            |old: &ServiceModel, new: &ServiceModel| stale_udp_endpoints(old, new, &new.changed_since(old));
        let both = model(vec![ready(1), ready(2)]);
        // Endpoint 1 starts terminating and still serves: drained.
        let lame_duck = model(vec![terminating(1, true), ready(2)]);
        assert_eq!(stale(&both, &lame_duck), vec![(cip, ip(1), Stale::Draining)]);
        // Something else changes meanwhile: no second drain.
        let third = model(vec![terminating(1, true), ready(2), ready(3)]);
        assert_eq!(stale(&lame_duck, &third), vec![]);
        // It stops serving, or its pod goes: every flow is flushed.
        let stopped = model(vec![terminating(1, false), ready(2)]);
        assert_eq!(stale(&lame_duck, &stopped), vec![(cip, ip(1), Stale::Gone)]);
        assert_eq!(
            stale(&lame_duck, &model(vec![ready(2)])),
            vec![(cip, ip(1), Stale::Gone)]
        );
        // Ready to gone at once (a pod that died): every flow.
        assert_eq!(
            stale(&both, &model(vec![ready(2)])),
            vec![(cip, ip(1), Stale::Gone)]
        );
        // A not-ready endpoint that never served had nothing to flush.
        assert_eq!(stale(&stopped, &model(vec![ready(2)])), vec![]);
        // The Service's address changed: every flow to the old one goes.
        let mut moved = both.clone();
        moved.services.get_mut(&udp).unwrap().cluster_ip = Ipv4Addr::new(10, 96, 0, 11);
        assert_eq!(
            stale(&both, &moved),
            vec![(cip, ip(1), Stale::Gone), (cip, ip(2), Stale::Gone)]
        );
    }
}
