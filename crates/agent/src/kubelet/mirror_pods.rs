//! Mirror pods: once the API server answers, each static pod this agent
//! runs (`super::static_pods`) is shown in the API as the kubelet shows
//! it, a Pod named `<name>-<node>` made from its manifest, annotated
//! `kubernetes.io/config.mirror` (the static pod's hash, here its uid),
//! owned by the Node, with the static pod's status (phase, the node's
//! address, each container's state and restart count). The pod is only a
//! picture: deleting it through the API stops nothing (it is let go and
//! made again), and the pod loop (`super::pods`) never runs it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use super::static_manifest::Manifest;
use super::static_pods::Shared;
use crate::agent::context::Agent;
use crate::runtime::sandbox::SandboxRecord;

use labyrinth_contracts::mirror_pod::ANNOTATION as MIRROR;

/// Keep every static pod's mirror pod in the API, and its status, forever.
pub async fn run(agent: Arc<Agent>, statics: Shared) -> Result<()> {
    let nodes: Api<Node> = Api::all(agent.client.clone());
    let mut last_status: HashMap<String, Value> = HashMap::new();
    // The mirror pods made, by static pod uid: one whose static pod went
    // (its manifest removed or changed) is deleted.
    let mut made: HashMap<String, (String, String)> = HashMap::new();
    loop {
        let snapshot: Vec<(Manifest, SandboxRecord)> = statics
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        let gone: Vec<String> = made
            .keys()
            .filter(|uid| !snapshot.iter().any(|(m, _)| m.pod.uid() == uid.as_str()))
            .cloned()
            .collect();
        for uid in gone {
            let (ns, name) = made[&uid].clone();
            if remove(&agent, &ns, &name, &uid).await {
                made.remove(&uid);
                last_status.remove(&uid);
            }
        }
        match nodes.get(&agent.node_name).await {
            Ok(node) => {
                let node_uid = node.metadata.uid.unwrap_or_default();
                for (m, rec) in &snapshot {
                    match sync(&agent, &node_uid, m, rec, &mut last_status).await {
                        Ok(()) => {
                            let at = (m.pod.namespace().to_string(), m.pod.name().to_string());
                            made.insert(m.pod.uid().to_string(), at);
                        }
                        Err(e) => tracing::warn!("mirror pod {}/{}: {e:#}", m.pod.namespace(), m.pod.name()),
                    }
                }
            }
            Err(e) => tracing::warn!("mirror pods: reading node {}: {e}", agent.node_name),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Delete the mirror pod of a static pod that went, if it is still that
/// one's (a changed manifest's new mirror pod has the same name); true
/// once it is gone.
async fn remove(agent: &Agent, ns: &str, name: &str, uid: &str) -> bool {
    let api: Api<Pod> = Api::namespaced(agent.client.clone(), ns);
    let found = match api.get_opt(name).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("mirror pod {ns}/{name}: {e}");
            return false;
        }
    };
    let ours = found.is_some_and(|p| {
        p.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MIRROR))
            .is_some_and(|h| h == uid)
    });
    if !ours {
        return true;
    }
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => {
            tracing::info!("mirror pod {ns}/{name} deleted: its static pod is gone");
            true
        }
        Err(kube::Error::Api(e)) if e.code == 404 => true,
        Err(e) => {
            tracing::warn!("mirror pod {ns}/{name}: deleting it: {e}");
            false
        }
    }
}

/// Make the mirror pod if it is missing (or stale, or being deleted), then
/// report the static pod's status when it changed.
async fn sync(
    agent: &Agent,
    node_uid: &str,
    m: &Manifest,
    rec: &SandboxRecord,
    last: &mut HashMap<String, Value>,
) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(agent.client.clone(), m.pod.namespace());
    let name = m.pod.name();
    let found = api.get_opt(name).await.context("reading it")?;
    let current = found.as_ref().is_some_and(|p| {
        let meta = &p.metadata;
        meta.deletion_timestamp.is_none()
            && meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(MIRROR))
                .is_some_and(|h| h == m.pod.uid())
    });
    if !current {
        if found.is_some() {
            // Deleted through the API, or made from an older manifest: let
            // it go at once (the static pod itself keeps running).
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            };
            match api.delete(name, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e).context("letting the old one go"),
            }
        }
        let pod: Pod = serde_json::from_value(mirror(&agent.node_name, node_uid, m)?)?;
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => tracing::info!("mirror pod {}/{name} created", m.pod.namespace()),
            // Still being let go: made on the next pass.
            Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
            Err(e) => return Err(e).context("creating it"),
        }
        last.remove(m.pod.uid());
    }
    let status = status(m, rec, &agent.args.node_ip.to_string());
    if last.get(m.pod.uid()) != Some(&status) {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .context("reporting its status")?;
        last.insert(m.pod.uid().to_string(), status);
    }
    Ok(())
}

/// The mirror pod: the manifest's Pod on this node, marked and owned.
pub fn mirror(node: &str, node_uid: &str, m: &Manifest) -> Result<Value> {
    let mut pod: Value = serde_yaml::from_str(&m.text).context("the manifest")?;
    let meta = pod
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .context("the manifest has no metadata")?;
    meta.insert("name".into(), json!(m.pod.name()));
    meta.insert("namespace".into(), json!(m.pod.namespace()));
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("metadata.annotations is not a map")?;
    annotations.insert(MIRROR.into(), json!(m.pod.uid()));
    annotations.insert("kubernetes.io/config.hash".into(), json!(m.pod.uid()));
    annotations.insert("kubernetes.io/config.source".into(), json!("file"));
    meta.insert(
        "ownerReferences".into(),
        json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid, "controller": true}]),
    );
    pod["spec"]["nodeName"] = json!(node);
    Ok(pod)
}

/// The static pod's status as the kubelet reports it.
pub fn status(m: &Manifest, rec: &SandboxRecord, node_ip: &str) -> Value {
    let since = |t: Option<u64>| super::container_state::rfc3339(t.unwrap_or(0));
    let mut all_ready = true;
    let containers: Vec<Value> = m
        .pod
        .spec
        .containers
        .iter()
        .map(|c| {
            let r = rec.containers.get(&c.name);
            let running = r.is_some_and(|r| r.process.is_some_and(|p| p.alive()));
            all_ready &= running;
            let state = match r {
                Some(r) if running => json!({"running": {"startedAt": since(r.started_at)}}),
                Some(r) if r.restart_at.is_some() => json!({"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": format!("back-off {}s restarting failed container={} pod={}", r.backoff, c.name, m.pod.name()),
                }}),
                _ => json!({"waiting": {"reason": "ContainerCreating"}}),
            };
            let last = r.and_then(|r| r.last_exit).map(|code| {
                json!({"terminated": {"exitCode": code, "finishedAt": since(r.and_then(|r| r.finished_at))}})
            });
            json!({
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": running,
                "started": running,
                "restartCount": r.map_or(0, |r| r.restarts),
                "state": state,
                "lastState": last.unwrap_or_else(|| json!({})),
            })
        })
        .collect();
    let ready = if all_ready { "True" } else { "False" };
    json!({
        "phase": "Running",
        "hostIP": node_ip,
        "hostIPs": [{"ip": node_ip}],
        "podIP": node_ip,
        "podIPs": [{"ip": node_ip}],
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready},
            {"type": "Ready", "status": ready},
        ],
        "containerStatuses": containers,
    })
}
