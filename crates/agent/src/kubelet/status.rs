//! PodStatus as the kubelet reports it.

use serde_json::{json, Value};

use super::container_state::{condition, not_started, pod_status, rfc3339, terminated};
use super::nodepod::NodePod;
use super::probes::Prober;
use crate::runtime::sandbox::SandboxRecord;

/// Sandbox up, containers (re)started, waiting out their back-off, or done,
/// as recorded. The phase is Succeeded once every container has exited for
/// good with 0, Failed once every one has and one failed, else Running.
/// Until its init containers have all completed, `super::init_status` says.
pub fn running(pod: &NodePod, rec: &SandboxRecord, probes: &Prober, host_ip: &str) -> Value {
    if let Some(st) = super::init_status::initializing(pod, rec, host_ip) {
        return st;
    }
    let mut statuses = Vec::new();
    let mut all_ready = true;
    let mut unready = Vec::new();
    let (mut done, mut failed) = (0, 0);
    let mut start = u64::MAX;
    for c in &pod.spec.containers {
        let r = rec.containers.get(&c.name);
        let running = r.is_some_and(|r| r.process.is_some());
        let (started_ok, ready_ok) = probes.view(&c.name);
        let ready = running && ready_ok;
        all_ready &= ready;
        if !ready {
            unready.push(c.name.as_str());
        }
        let started = r.and_then(|r| r.started_at).unwrap_or(0);
        start = start.min(started);
        let code = r.and_then(|r| r.last_exit).unwrap_or(0);
        let finished = r.and_then(|r| r.finished_at);
        let state = if running {
            json!({"running": {"startedAt": rfc3339(started)}})
        } else if let Some(r) = r.filter(|r| r.restart_at.is_some()) {
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                "back-off {}s restarting failed container={} pod={}", r.backoff, c.name, pod.name())}})
        } else {
            done += 1;
            failed += usize::from(code != 0);
            terminated(code, Some(started), finished)
        };
        let mut s = json!({
            "name": c.name,
            "image": c.image.clone().unwrap_or_default(),
            "imageID": "",
            "containerID": format!("labyrinth://{}-{}", rec.id, c.name),
            "ready": ready,
            "started": running && started_ok,
            "restartCount": r.map(|r| r.restarts).unwrap_or(0),
            "state": state,
        });
        if let Some(code) = r
            .filter(|r| r.process.is_some() || r.restart_at.is_some())
            .and_then(|r| r.last_exit)
        {
            s["lastState"] = terminated(code, None, finished);
        }
        statuses.push(s);
    }
    let phase = match (done == pod.spec.containers.len() && done > 0, failed) {
        (false, _) => "Running",
        (true, 0) => "Succeeded",
        (true, _) => "Failed",
    };
    let since = rfc3339(if start == u64::MAX { 0 } else { start });
    let mut ready = condition("Ready", all_ready, &since);
    if phase != "Running" {
        ready["reason"] = json!("PodCompleted");
    } else if !all_ready {
        ready["reason"] = json!("ContainersNotReady");
        ready["message"] = json!(format!("containers with unready status: [{}]", unready.join(" ")));
    }
    let containers = json!({
        "containerStatuses": statuses,
        "initContainerStatuses": super::init_status::statuses(pod, rec),
        "ephemeralContainerStatuses": ephemeral_statuses(pod, rec),
    });
    let initialized = condition("Initialized", true, &since);
    pod_status(phase, initialized, ready, &since, host_ip, rec.ip, containers)
}

/// `status.ephemeralContainerStatuses`: running, or terminated with its
/// exit code; waiting until the agent has started it. Null (left out of
/// the status merge patch) for a pod without any, as most are.
fn ephemeral_statuses(pod: &NodePod, rec: &SandboxRecord) -> Value {
    if pod.spec.ephemeral_containers.is_empty() {
        return Value::Null;
    }
    let list: Vec<Value> = pod
        .spec
        .ephemeral_containers
        .iter()
        .map(|ec| {
            let c = &ec.container;
            let r = rec.containers.get(&c.name);
            let state = match r {
                Some(r) if r.process.is_some() => {
                    json!({"running": {"startedAt": r.started_at.map(rfc3339)}})
                }
                Some(r) => terminated(r.last_exit.unwrap_or(0), r.started_at, r.finished_at),
                None => json!({"waiting": {"reason": "ContainerCreating"}}),
            };
            json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": "",
                "containerID": format!("labyrinth://{}-{}", rec.id, c.name),
                "ready": false,
                "restartCount": 0,
                "state": state,
            })
        })
        .collect();
    Value::Array(list)
}

/// Refused by this node before anything of it started (`admission`): it
/// fails for good, as the kubelet fails a pod it does not admit.
pub fn rejected(reason: &str, message: &str) -> Value {
    json!({"status": {"phase": "Failed", "reason": reason, "message": message}})
}

/// The sandbox could not be made yet (e.g. CNI failed): Pending, with why.
pub fn pending(pod: &NodePod, why: &str) -> Value {
    // A container whose env cannot be made waits as the kubelet's does.
    let reason = match why.strip_prefix(super::lifecycle::CONFIG_ERROR) {
        Some(_) => super::lifecycle::CONFIG_ERROR,
        None => "ContainerCreating",
    };
    let statuses: Vec<Value> = pod
        .spec
        .containers
        .iter()
        .map(|c| {
            not_started(
                &c.name,
                c.image.as_deref(),
                json!({"reason": reason, "message": why}),
            )
        })
        .collect();
    json!({"status": {"phase": "Pending", "containerStatuses": statuses, "message": why, "reason": reason}})
}
