//! The kubelet's prober: each container's startup, liveness and readiness
//! probes run on their schedule (`state`), each in a task of its own
//! (`check`), their answers coming back to the pod loop (`Outcome`) which
//! owns the pods. Readiness makes the container ready (and so the pod's
//! Ready condition and its EndpointSlice endpoint); a liveness or startup
//! failure kills the container, which is then restarted as its pod's
//! restartPolicy says.

mod check;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use labyrinth_contracts::by_name::ByName;
use labyrinth_contracts::events::Reason;
use labyrinth_contracts::pod::Container;
use tokio::sync::mpsc::UnboundedSender;

use self::state::{ContainerProbes, Kind, Worker};
use super::nodepod::NodePod;
use crate::agent::context::Agent;
use crate::runtime::sandbox::SandboxRecord;

/// The probes of one pod's containers (only those running and probed).
#[derive(Debug, Default)]
pub struct Prober {
    containers: ByName<ContainerProbes>,
    /// The pod was adopted from a previous agent and its running
    /// containers have no probes yet (see `prepare`).
    adopting: bool,
}

impl Prober {
    /// For a pod adopted from a previous agent (`Managed::adopted`).
    pub fn adopted() -> Self {
        Prober {
            containers: ByName::new(),
            adopting: true,
        }
    }

    /// Whether a container adopted with the pod still waits for its
    /// probes' first verdict: its status is not to be reported before.
    pub fn undecided(&self) -> bool {
        self.containers.iter().any(|(_, c)| c.undecided())
    }

    /// Whether the container (running) has started and is ready, as its
    /// probes say; one without probes is both.
    pub fn view(&self, container: &str) -> (bool, bool) {
        self.containers
            .get(container)
            .map_or((true, true), |c| (c.started(), c.ready()))
    }
}

/// A probe's answer, for the pod loop.
#[derive(Debug)]
pub struct Outcome {
    pub uid: String,
    container: String,
    generation: u32,
    kind: Kind,
    answer: check::Answer,
}

fn spec_of(c: &Container, kind: Kind) -> Option<&labyrinth_contracts::probe::Probe> {
    match kind {
        Kind::Startup => c.startup_probe.as_deref(),
        Kind::Liveness => c.liveness_probe.as_deref(),
        Kind::Readiness => c.readiness_probe.as_deref(),
    }
}

fn probes_for(c: &Container, generation: u32, started: Instant, inherited: bool) -> Option<ContainerProbes> {
    let w = |kind| {
        spec_of(c, kind).map(|p| match inherited {
            true => Worker::adopted(kind, p.timing(), started),
            false => Worker::new(kind, p.timing(), started),
        })
    };
    let probes = ContainerProbes {
        generation,
        startup: w(Kind::Startup),
        liveness: w(Kind::Liveness),
        readiness: w(Kind::Readiness),
        inherited,
    };
    (probes.startup.is_some() || probes.liveness.is_some() || probes.readiness.is_some()).then_some(probes)
}

/// Make (or drop) the probes of the pod's containers as they run: a
/// container that stopped has none, one restarted starts over. True if a
/// container's readiness changed by it (a probed container is not ready
/// until its probes say so). The containers an adopted pod was running
/// keep the readiness the previous agent reported until their probes, run
/// at once, reach a verdict: a restarted agent does not flap its pods'
/// Ready condition, nor their Services' endpoints.
pub fn prepare(pod: &NodePod, rec: &SandboxRecord, prober: &mut Prober) -> bool {
    let now = Instant::now();
    let mut changed = false;
    let inherited = std::mem::take(&mut prober.adopting);
    for c in &pod.spec.containers {
        let generation = rec
            .containers
            .get(&c.name)
            .filter(|r| r.process.is_some())
            .map(|r| r.restarts);
        let current = prober.containers.get(&c.name).map(|p| p.generation);
        if current.is_some() && current != generation {
            prober.containers.remove(&c.name);
            changed = true;
        }
        if let (Some(g), None) = (generation, prober.containers.get(&c.name)) {
            if let Some(p) = probes_for(c, g, now, inherited) {
                changed |= !inherited && !p.ready();
                prober.containers.insert(c.name.clone(), p);
            }
        }
    }
    changed
}

/// Launch the probes that are due (after `prepare`); true if a container's
/// readiness changed without a probe.
pub fn schedule(
    agent: &Arc<Agent>,
    pod: &NodePod,
    rec: &SandboxRecord,
    prober: &mut Prober,
    results: &UnboundedSender<Outcome>,
) -> bool {
    let changed = prepare(pod, rec, prober);
    let now = Instant::now();
    for c in &pod.spec.containers {
        let Some(pid) = rec.containers.get(&c.name).and_then(|r| r.process.map(|p| p.pid)) else {
            continue;
        };
        let Some(probes) = prober.containers.get_mut(&c.name) else {
            continue;
        };
        let generation = probes.generation;
        for kind in probes.due(now) {
            let Some(spec) = spec_of(c, kind) else { continue };
            probes.worker(kind).expect("due").launched(now);
            let timeout = Duration::from_secs(spec.timing().timeout.into());
            let checked = check::resolve(spec, &c.ports, rec.ip, |argv| {
                Ok(check::Check::Exec {
                    pause: agent.runtime.pause.clone(),
                    rec: Box::new(rec.clone()),
                    pid,
                    argv,
                })
            });
            let mut outcome = Outcome {
                uid: rec.pod.uid.clone(),
                container: c.name.clone(),
                generation,
                kind,
                answer: Ok(()),
            };
            let tx = results.clone();
            tokio::spawn(async move {
                outcome.answer = match checked {
                    Ok(check) => check::run(check, timeout).await,
                    Err(e) => Err(e),
                };
                let _ = tx.send(outcome);
            });
        }
    }
    changed
}

/// Count a probe's answer; true if the container's readiness changed (its
/// status is to be reported). A failed probe is an Unhealthy event, as the
/// kubelet records each; a liveness or startup probe that fails its
/// threshold has the container killed.
pub fn apply(
    agent: &Arc<Agent>,
    pod: Option<&NodePod>,
    rec: &SandboxRecord,
    prober: &mut Prober,
    o: Outcome,
) -> bool {
    let Some(probes) = prober.containers.get_mut(&o.container) else {
        return false;
    };
    if probes.generation != o.generation {
        return false;
    }
    let ready_before = probes.ready();
    let Some(w) = probes.worker(o.kind) else {
        return false;
    };
    let flipped = w.observe(o.answer.is_ok());
    if let Err(why) = &o.answer {
        let msg = format!("{} probe failed: {why}", o.kind.label());
        super::events::emit(
            &agent.events,
            &rec.pod,
            Some(&o.container),
            Reason::Unhealthy,
            msg,
        );
    }
    let ready_after = probes.ready();
    if flipped == Some(false) && o.kind != Kind::Readiness {
        let what = match o.kind {
            Kind::Startup => "startup",
            _ => "liveness",
        };
        let msg = format!("Container {} failed {what} probe, will be restarted", o.container);
        super::events::emit(&agent.events, &rec.pod, Some(&o.container), Reason::Killing, msg);
        kill(pod, rec, &o.container);
    }
    ready_before != ready_after
}

/// Stop the container's process (SIGTERM, SIGKILL after the pod's grace
/// period) on a blocking thread; the pod loop sees it exit and restarts it.
fn kill(pod: Option<&NodePod>, rec: &SandboxRecord, name: &str) {
    let Some(p) = rec.containers.get(name).and_then(|c| c.process) else {
        return;
    };
    let grace = pod.map_or(Duration::from_secs(30), |p| {
        Duration::from_secs(p.spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64)
    });
    let label = format!("{}/{name}", rec.pod.label());
    tokio::task::spawn_blocking(move || {
        if let Err(e) = crate::runtime::container::stop(&p, grace) {
            tracing::warn!("killing {label}: {e:#}");
        }
    });
}
