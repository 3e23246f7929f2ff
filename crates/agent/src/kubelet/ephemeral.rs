//! Ephemeral containers (`kubectl debug POD --image=… [--target=C]`): once
//! the API server has added one to a running pod's spec, it is started in
//! the pod's sandbox, like any of the pod's containers: the pod's network,
//! IPC and UTS namespaces, and its PID namespace, which is the target's
//! too, since every container of a pod here shares the pod's one (its
//! pause is PID 1), so `ps` in it lists the target's processes. It gets a
//! root of its own, as a container of its image would, and its log and
//! (with `stdin: true`) its stdin pipe are a container's, so `kubectl
//! logs -c` and `attach` find it by name. It is never restarted: when it
//! ends, its status says how, for good (`super::status`).

use labyrinth_contracts::pod::EphemeralContainer;
use labyrinth_netlink::process::ProcessRef;

use super::lifecycle::{unix_now, Managed};
use super::nodepod::{EnvSources, NodePod};
use crate::agent::context::Agent;
use crate::runtime::container;
use crate::runtime::sandbox::{self, ContainerRecord};

/// Start the pod's ephemeral containers not started yet and note those
/// that ended; true if any changed (its status is to be reported).
pub fn keep(agent: &Agent, pod: &NodePod, m: &mut Managed) -> bool {
    // Runs for every pod twice a second: most have none.
    if pod.spec.ephemeral_containers.is_empty() {
        return false;
    }
    let mut changed = false;
    for ec in &pod.spec.ephemeral_containers {
        let name = ec.container.name.as_str();
        match m.rec.containers.get_mut(name) {
            Some(c) => changed |= super::lifecycle::noted_exit(c, m.children.get_mut(name)),
            None => {
                start(agent, pod, m, ec);
                changed = true;
            }
        }
        if m.rec.containers.get(name).is_some_and(|c| c.process.is_none()) {
            m.children.remove(name);
        }
    }
    if changed {
        let _ = sandbox::save(&agent.runtime, &m.rec);
    }
    changed
}

fn start(agent: &Agent, pod: &NodePod, m: &mut Managed, ec: &EphemeralContainer) {
    let name = ec.container.name.clone();
    let node = super::lifecycle::node_facts(agent);
    let none = EnvSources::default();
    let src = m.env_sources.as_deref().unwrap_or(&none);
    let spec = pod
        .container_env(&ec.container, &node, m.rec.ip, src)
        // Its volumeMounts are not made: the pod's volumes are attached
        // per container at the pod's start.
        .and_then(|env| super::nodepod::spec_of(pod.spec.security_context.as_deref(), &ec.container, env));
    let started = spec
        .clone()
        .map_err(anyhow::Error::msg)
        .and_then(|spec| container::start(&agent.runtime, &m.rec, &spec, 0));
    let outcome = started.as_ref().map(|_| ()).map_err(|e| format!("{e:#}"));
    if let Ok(spec) = &spec {
        super::events::container_start(&agent.events, &m.rec.pod, spec, outcome.clone());
    }
    let now = unix_now();
    let mut rec = ContainerRecord {
        started_at: Some(now),
        ..Default::default()
    };
    match started {
        Ok(child) => {
            rec.process = ProcessRef::of(child.id()).ok();
            m.children.insert(name.clone(), child);
        }
        // Not started is ended: an ephemeral container is never retried.
        Err(e) => {
            tracing::warn!("pod {}: ephemeral container {name}: {e:#}", pod.name());
            rec.last_exit = Some(128);
            rec.finished_at = Some(now);
        }
    }
    m.rec.containers.insert(name, rec);
}
