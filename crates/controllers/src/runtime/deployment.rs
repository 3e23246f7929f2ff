//! Deployment controller: one reconcile per Deployment, triggered by it and
//! by its ReplicaSets.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::api::{api_code, now, ns_key, Error, MANAGER};
use super::shared::Informer;
use super::{Expectations, Seen};
use crate::deployment::rollout::{self, find_current};
use crate::deployment::status;
use crate::podutil::controller_uid;
use labyrinth_contracts::events::{self as ev, Reason};
use labyrinth_contracts::recorder::Recorder;

struct Ctx {
    client: Client,
    events: Arc<Recorder>,
    rsets: Store<ReplicaSet>,
    expect: Expectations,
}

pub fn controller(
    client: Client,
    deploys: &mut Informer<Deployment>,
    rsets: &mut Informer<ReplicaSet>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), ev::DEPLOYMENT_CONTROLLER),
        client,
        rsets: rsets.store(),
        expect: Expectations::default(),
    });
    let c = Controller::for_stream(deploys.subscribe(), deploys.store()).owns_stream(rsets.subscribe());
    async move {
        c.run(reconcile, error_policy, ctx)
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "deployment reconcile");
                }
            })
            .await
    }
}

fn error_policy(d: Arc<Deployment>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(deployment = %d.name_any(), error = %e, "deployment reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

fn pp() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    super::shared::ready(&ctx.rsets).await;
    let ns = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let key = ns_key(&ns, &name);
    let seen = |n: &str| match ctx.rsets.get(&ObjectRef::new(n).within(&ns)) {
        None => Seen::Absent,
        Some(rs) if rs.metadata.deletion_timestamp.is_some() => Seen::Terminating,
        Some(_) => Seen::Present,
    };
    if !ctx.expect.satisfied(&key, seen) {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    let uid = d.metadata.uid.clone().unwrap_or_default();
    let all = ctx.rsets.state();
    let owned: Vec<&ReplicaSet> = all
        .iter()
        .map(|r| r.as_ref())
        .filter(|r| r.namespace().as_deref() == Some(ns.as_str()))
        .filter(|r| controller_uid(&r.metadata, "Deployment") == Some(uid.as_str()))
        .collect();
    let taken = |n: &str| ctx.rsets.get(&ObjectRef::new(n).within(&ns)).is_some();
    let plan = rollout::plan(&d, &owned, taken).map_err(|e| Error::Logic(e.to_string()))?;

    let deploys: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(count) = plan.bump_collision_count {
        bump_collision(&deploys, &name, count).await?;
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(rs) = &plan.create {
        let rs_name = rs.name_any();
        match api.create(&PostParams::default(), rs).await {
            Ok(_) => {
                tracing::info!(deployment = %name, replicaset = %rs_name, "created ReplicaSet");
                ctx.expect.created(&key, &rs_name);
                let n = rs.spec.replicas.unwrap_or(0);
                let msg = format!("Scaled up replica set {rs_name} from 0 to {n}");
                ctx.events
                    .record(d.object_ref(&()), Reason::ScalingReplicaSet, msg);
            }
            Err(e) if api_code(&e) == Some(409) => {
                // Ours, only not in the cache yet? Otherwise a real hash collision.
                let existing = api.get(&rs_name).await?;
                let ours = controller_uid(&existing.metadata, "Deployment") == Some(uid.as_str())
                    && find_current(&d.spec.template, &[&existing]).is_some();
                if !ours {
                    let count = d.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0) + 1;
                    bump_collision(&deploys, &name, count).await?;
                }
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (rs_name, replicas) in &plan.scale {
        let patch = json!({"spec": {"replicas": replicas}});
        api.patch(rs_name, &pp(), &Patch::Merge(&patch)).await?;
        tracing::info!(deployment = %name, replicaset = %rs_name, replicas, "scaled ReplicaSet");
        let from = owned
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(rs_name.as_str()))
            .and_then(|r| r.spec.replicas)
            .unwrap_or(0);
        let dir = if *replicas >= from { "up" } else { "down" };
        let msg = format!("Scaled {dir} replica set {rs_name} from {from} to {replicas}");
        ctx.events
            .record(d.object_ref(&()), Reason::ScalingReplicaSet, msg);
    }

    let st = status::compute(&d, &owned, &plan.new_rs_name, now());
    if d.status.as_ref() != Some(&st) {
        let patch = json!({"status": st});
        deploys.patch_status(&name, &pp(), &Patch::Merge(&patch)).await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn bump_collision(api: &Api<Deployment>, name: &str, count: i32) -> Result<(), Error> {
    tracing::info!(deployment = %name, count, "pod-template-hash collision; bumping collisionCount");
    let patch = json!({"status": {"collisionCount": count}});
    api.patch_status(name, &pp(), &Patch::Merge(&patch)).await?;
    Ok(())
}
