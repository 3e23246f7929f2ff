//! Scheduler loop: on any pod or node change, place every pending pod with
//! the indexed [`Cluster`] (in creation order, each decision counting on the
//! next), assume each placement at once and bind in the background, as
//! kube-scheduler does: a binding is one API round trip, and a burst of
//! pods (a Deployment scaled up) should not queue behind each other's.
//!
//! Binding uses the pods/binding subresource (what a real scheduler does and
//! what a real API server requires). If the server has no binding
//! subresource (404/405), it falls back to a JSON merge patch of
//! spec.nodeName and keeps using that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod, PodCondition};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use super::api::{api_code, now, MANAGER};
use crate::podutil;
use crate::scheduler::{wants_scheduling, Cluster, NodeInfo, PodRequirements};
use labyrinth_contracts::events::{self as ev, Reason};
use labyrinth_contracts::recorder::Recorder;

/// Retry unschedulable pods this often even without any change.
const RETRY: Duration = Duration::from_secs(10);

/// Bindings in flight at once.
const PARALLEL_BINDS: usize = 16;

/// After a change, wait this long for more: a burst of new pods is placed
/// in a few passes, not one pass per pod.
const SETTLE: Duration = Duration::from_millis(5);

pub struct Ctx {
    pods: Store<Pod>,
    nodes: Store<Node>,
    shared: Arc<Shared>,
}

/// What the binding tasks share with the loop.
struct Shared {
    client: Client,
    events: Arc<Recorder>,
    /// Pods placed by us that the cache does not show bound yet (uid →
    /// node): bindings in flight and bindings not yet seen by the watch.
    assumed: Mutex<HashMap<String, String>>,
    binding_unsupported: AtomicBool,
    binds: Semaphore,
    /// A binding failed: its pod is to be placed again.
    failed: Notify,
}

impl Ctx {
    pub fn new(client: Client, pods: Store<Pod>, nodes: Store<Node>) -> Self {
        Ctx {
            pods,
            nodes,
            shared: Arc::new(Shared {
                events: Recorder::new(client.clone(), ev::SCHEDULER),
                client,
                assumed: Mutex::new(HashMap::new()),
                binding_unsupported: AtomicBool::new(false),
                binds: Semaphore::new(PARALLEL_BINDS),
                failed: Notify::new(),
            }),
        }
    }
}

pub async fn run(mut ctx: Ctx, pod_changes: Arc<Notify>, node_changes: Arc<Notify>) {
    if !super::shared::ready(&ctx.pods).await || !super::shared::ready(&ctx.nodes).await {
        return;
    }
    loop {
        schedule_pending(&mut ctx).await;
        tokio::select! {
            // A pod changing is the burst still under way (its pods being
            // created, bound, started): the Scheduled Events wait for it.
            _ = pod_changes.notified() => ctx.shared.events.busy(),
            _ = node_changes.notified() => {}
            _ = ctx.shared.failed.notified() => {}
            _ = tokio::time::sleep(RETRY) => {}
        }
        tokio::time::sleep(SETTLE).await;
    }
}

async fn schedule_pending(ctx: &mut Ctx) {
    let nodes: Vec<NodeInfo> = ctx.nodes.state().iter().map(|n| NodeInfo::from_node(n)).collect();
    let mut cluster = Cluster::new(nodes);
    let pods = ctx.pods.state();

    // Forget assumptions the cache has caught up with.
    let live: HashMap<String, &Arc<Pod>> = pods
        .iter()
        .filter_map(|p| p.metadata.uid.clone().map(|u| (u, p)))
        .collect();
    let assumed = {
        let mut a = ctx.shared.assumed.lock().unwrap();
        a.retain(|uid, _| live.get(uid).is_some_and(|p| podutil::node_name(p).is_none()));
        a.clone()
    };

    let mut pending = Vec::new();
    for p in &pods {
        if !podutil::is_active(p) {
            continue;
        }
        let uid = p.metadata.uid.clone().unwrap_or_default();
        match podutil::node_name(p).or(assumed.get(&uid).map(String::as_str)) {
            Some(node) => cluster.add_bound_pod(node),
            None if wants_scheduling(p) => pending.push(p),
            None => {}
        }
    }
    // Borrowed keys: a pass runs per burst of changes over every pending
    // pod, and owned keys cost two strings per comparison.
    fn order(p: &Pod) -> (Option<k8s_openapi::jiff::Timestamp>, Option<&str>, Option<&str>) {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.namespace.as_deref(),
            p.metadata.name.as_deref(),
        )
    }
    pending.sort_by(|a, b| order(a).cmp(&order(b)));

    for pod in pending {
        // The binding task holds the cached pod itself, not a deep copy.
        let pod = Arc::clone(pod);
        match cluster.schedule(&PodRequirements::from_pod(&pod)) {
            Ok(node) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                ctx.shared
                    .assumed
                    .lock()
                    .unwrap()
                    .insert(uid.clone(), node.clone());
                let shared = ctx.shared.clone();
                tokio::spawn(async move {
                    let Ok(_slot) = shared.binds.acquire().await else {
                        return;
                    };
                    let asked = std::time::Instant::now();
                    match bind(&shared, &pod, &node).await {
                        Ok(()) => {
                            // The round trip, to tell a slow API from a
                            // slow scheduler when a pod's start is late.
                            let bind_ms = asked.elapsed().as_secs_f64() * 1000.0;
                            tracing::info!(pod = %pod.name_any(), ns = ?pod.namespace(), %node, bind_ms, "scheduled");
                            let msg = format!(
                                "Successfully assigned {}/{} to {node}",
                                pod.namespace().unwrap_or_default(),
                                pod.name_any()
                            );
                            shared.events.record(pod.object_ref(&()), Reason::Scheduled, msg);
                        }
                        Err(e) => {
                            tracing::warn!(pod = %pod.name_any(), %node, error = %e, "binding failed");
                            shared.assumed.lock().unwrap().remove(&uid);
                            shared.failed.notify_one();
                        }
                    }
                });
            }
            Err(why) => {
                if let Err(e) = mark_unschedulable(&ctx.shared, &pod, &why.message).await {
                    tracing::warn!(pod = %pod.name_any(), error = %e, "could not record unschedulable");
                }
            }
        }
    }
}

async fn bind(ctx: &Shared, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    if !ctx.binding_unsupported.load(Ordering::Relaxed) {
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.into()),
                ..Default::default()
            },
        };
        match api
            .create_subresource::<_, serde_json::Value>("binding", &name, &PostParams::default(), &binding)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if matches!(api_code(&e), Some(404 | 405)) && pod_exists(&api, &name).await => {
                tracing::info!("server has no pods/binding; binding by patching spec.nodeName");
                ctx.binding_unsupported.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    let patch = json!({"spec": {"nodeName": node}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn pod_exists(api: &Api<Pod>, name: &str) -> bool {
    matches!(api.get_opt(name).await, Ok(Some(_)))
}

/// PodScheduled=False/Unschedulable with the scheduler's message, written
/// only when it changes (so a retry every few seconds costs no writes).
async fn mark_unschedulable(ctx: &Shared, pod: &Pod, message: &str) -> Result<(), kube::Error> {
    let mut conds: Vec<PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let current = conds.iter().find(|c| c.type_ == "PodScheduled");
    if current.is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(message)) {
        return Ok(());
    }
    tracing::info!(pod = %pod.name_any(), ns = ?pod.namespace(), %message, "unschedulable");
    ctx.events
        .record(pod.object_ref(&()), Reason::FailedScheduling, message.to_string());
    conds.retain(|c| c.type_ != "PodScheduled");
    conds.push(PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(message.into()),
        last_transition_time: Some(now()),
        ..Default::default()
    });
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({
        "metadata": {"resourceVersion": pod.resource_version()},
        "status": {"conditions": conds}
    });
    let pp = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    api.patch_status(&pod.name_any(), &pp, &Patch::Merge(&patch))
        .await?;
    Ok(())
}
