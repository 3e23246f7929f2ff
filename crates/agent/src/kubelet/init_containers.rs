//! Init containers (`spec.initContainers`), as the kubelet runs them: one
//! at a time, in order, each to completion before the next starts, and the
//! pod's containers only once the last has ended with 0. They run in the
//! pod's sandbox like its containers: its network, its volumes, the image
//! catalog's defaults. One that fails is started again after the restart
//! back-off (the pod stays Pending, `Init:CrashLoopBackOff`), unless the
//! pod's restartPolicy is Never: then the pod has failed.
//!
//! How far they got is in the sandbox record (`rec.containers`, under
//! their names, which the API server keeps apart from the containers'), so
//! a restarted agent goes on where it was, `kubectl logs -c` finds their
//! logs, and the status is made from the record alone (`super::init_status`).

use labyrinth_contracts::events::Reason;
use labyrinth_contracts::sandbox::{ContainerRecord, SandboxRecord};

use super::lifecycle::{self, unix_now, Managed, CONFIG_ERROR};
use super::nodepod::{EnvSources, NodePod};
use crate::agent::context::Agent;
use crate::runtime::sandbox;

/// Where a pod's initialization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every init container has ended with 0 (or there are none).
    Done,
    /// Init container `i` is to run, runs, or waits out its back-off.
    At(usize),
    /// Init container `i` failed under restartPolicy Never: the pod failed.
    Failed(usize),
}

/// Ended with 0, for good.
pub fn completed(r: &ContainerRecord) -> bool {
    r.process.is_none() && r.last_exit == Some(0) && r.restart_at.is_none()
}

/// Ended otherwise, and not to be started again.
fn failed_for_good(r: &ContainerRecord) -> bool {
    r.process.is_none() && r.last_exit.is_some_and(|c| c != 0) && r.restart_at.is_none()
}

/// Where initialization stands by the record.
pub fn progress(pod: &NodePod, rec: &SandboxRecord) -> Progress {
    for (i, c) in pod.spec.init_containers.iter().enumerate() {
        match rec.containers.get(&c.name) {
            Some(r) if completed(r) => continue,
            Some(r) if failed_for_good(r) => return Progress::Failed(i),
            _ => return Progress::At(i),
        }
    }
    Progress::Done
}

/// Move the pod's initialization on: note an init container's end, start
/// the next (or the failed one again, its back-off over), and once the
/// last has completed start the pod's containers; true if anything
/// changed (saved here). `lifecycle::keep_running` then keeps the
/// containers running: it looks only at containers that have started.
pub fn advance(agent: &Agent, pod: &NodePod, m: &mut Managed) -> bool {
    if pod.spec.init_containers.is_empty() {
        return false;
    }
    let restart = pod.spec.restart_policy.as_deref() != Some("Never");
    let mut changed = false;
    let initialized = loop {
        let i = match progress(pod, &m.rec) {
            Progress::Done => break true,
            Progress::Failed(_) => break false,
            Progress::At(i) => i,
        };
        let name = pod.spec.init_containers[i].name.as_str();
        let Some(c) = m.rec.containers.get_mut(name) else {
            start(agent, pod, m, i, 0, restart);
            changed = true;
            break false;
        };
        if c.process.is_some() {
            if !lifecycle::noted_exit(c, m.children.get_mut(name)) {
                break false;
            }
            m.children.remove(name);
            changed = true;
            if c.last_exit == Some(0) {
                // The next one at once.
                continue;
            }
            if !restart {
                break false;
            }
            // Its back-off may be none (a first failure): then it starts
            // again below, in this pass, with no CrashLoopBackOff shown.
            back_off(agent, &m.rec.pod, name, c);
        }
        if c.restart_at.is_some_and(|t| unix_now() >= t) {
            let attempt = c.restarts + 1;
            start(agent, pod, m, i, attempt, restart);
            changed = true;
        }
        break false;
    };
    // The containers start once, when initialization ends: none of them
    // has a record before.
    let started = pod
        .spec
        .containers
        .iter()
        .any(|c| m.rec.containers.get(&c.name).is_some());
    if initialized && !started {
        start_containers(agent, pod, m);
        changed = true;
    }
    if changed {
        let _ = sandbox::save(&agent.runtime, &m.rec);
    }
    changed
}

/// It failed: started again after the back-off (`super::backoff`).
fn back_off(agent: &Agent, pod: &crate::runtime::PodRef, name: &str, c: &mut ContainerRecord) {
    let now = unix_now();
    let ran = now.saturating_sub(c.started_at.unwrap_or(now));
    c.backoff = super::backoff::next(c.backoff, ran, c.restarts);
    c.restart_at = Some(now + c.backoff);
    if c.backoff > 0 {
        let msg = format!(
            "Back-off {}s restarting failed container={name} pod={}",
            c.backoff, pod.name
        );
        super::events::emit(&agent.events, pod, Some(name), Reason::BackOff, msg);
    }
}

/// Start init container `i` (its start number `attempt`). One that cannot
/// be started counts as one that failed (exit code 128, as an ephemeral
/// container that does not start): backed off, or the pod's failure.
fn start(agent: &Agent, pod: &NodePod, m: &mut Managed, i: usize, attempt: u32, restart: bool) {
    let c = &pod.spec.init_containers[i];
    let none = EnvSources::default();
    let src = m.env_sources.as_deref().unwrap_or(&none);
    let spec = pod
        .container_env(c, &lifecycle::node_facts(agent), m.rec.ip, src)
        .and_then(|env| super::nodepod::spec_of(pod.spec.security_context.as_deref(), c, env))
        .and_then(|mut spec| {
            super::pod_volumes::attach(&agent.runtime, pod, std::slice::from_mut(&mut spec))?;
            Ok(spec)
        });
    let started = match &spec {
        Ok(spec) => lifecycle::start_one(&agent.runtime, &agent.events, &mut m.rec, spec, attempt)
            .map_err(|e| format!("{e:#}")),
        Err(e) => {
            let why = format!("Error: {CONFIG_ERROR}: {e}");
            super::events::emit(&agent.events, &m.rec.pod, Some(&c.name), Reason::Failed, why);
            Err(e.clone())
        }
    };
    match started {
        Ok(child) => {
            m.children.insert(c.name.clone(), child);
        }
        Err(e) => {
            tracing::warn!("pod {}: init container {}: {e}", pod.name(), c.name);
            if m.rec.containers.get(&c.name).is_none() {
                m.rec
                    .containers
                    .insert(c.name.clone(), ContainerRecord::default());
            }
            let pod_ref = m.rec.pod.clone();
            if let Some(r) = m.rec.containers.get_mut(&c.name) {
                let now = unix_now();
                r.restarts = attempt;
                r.started_at = Some(now);
                r.finished_at = Some(now);
                r.last_exit = Some(128);
                r.restart_at = None;
                if restart {
                    back_off(agent, &pod_ref, &c.name, r);
                }
            }
        }
    }
}

/// Initialization is over: start every container of the pod. One that
/// does not start is recorded to be tried again after the first back-off
/// (`lifecycle::keep_running` does), as a container that failed.
fn start_containers(agent: &Agent, pod: &NodePod, m: &mut Managed) {
    let none = EnvSources::default();
    let src = m.env_sources.as_deref().unwrap_or(&none);
    let specs = pod
        .container_specs(&lifecycle::node_facts(agent), m.rec.ip, src)
        .and_then(|mut specs| {
            super::pod_volumes::attach(&agent.runtime, pod, &mut specs)?;
            Ok(specs)
        });
    let specs = match specs {
        Ok(specs) => specs,
        Err(e) => {
            // Checked at the pod's start: only a source changed since
            // then gets here. Each container is tried again.
            let why = format!("Error: {CONFIG_ERROR}: {e}");
            super::events::emit(&agent.events, &m.rec.pod, None, Reason::Failed, why);
            for c in &pod.spec.containers {
                m.rec.containers.insert(c.name.clone(), retry_later());
            }
            return;
        }
    };
    for spec in &specs {
        match lifecycle::start_one(&agent.runtime, &agent.events, &mut m.rec, spec, 0) {
            Ok(child) => {
                m.children.insert(spec.name.clone(), child);
            }
            Err(e) => {
                tracing::warn!("pod {}: container {}: {e:#}", pod.name(), spec.name);
                m.rec.containers.insert(spec.name.clone(), retry_later());
            }
        }
    }
}

/// A container that did not start, to be tried again after the first
/// back-off.
fn retry_later() -> ContainerRecord {
    let now = unix_now();
    ContainerRecord {
        backoff: super::backoff::INITIAL,
        restart_at: Some(now + super::backoff::INITIAL),
        finished_at: Some(now),
        last_exit: Some(128),
        ..Default::default()
    }
}
