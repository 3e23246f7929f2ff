//! ReplicaSet controller: keeps each ReplicaSet's pod count, triggered by the
//! ReplicaSet and by its pods.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::api::{api_code, ns_key, Error, MANAGER};
use super::shared::Informer;
use super::status_pace::StatusPace;
use super::{Expectations, Seen};
use crate::deployment::replicaset::{new_pod, plan_pods, status};
use crate::podutil::{self, controller_uid};
use labyrinth_contracts::events::{self as ev, Reason};
use labyrinth_contracts::recorder::Recorder;

struct Ctx {
    client: Client,
    events: Arc<Recorder>,
    pods: Store<Pod>,
    expect: Expectations,
    status_pace: StatusPace,
}

/// At most one status write per ReplicaSet this often while it changes
/// (status_pace.rs): `kubectl get rs` counts move in steps of up to this.
const STATUS_EVERY: Duration = Duration::from_millis(100);

pub fn controller(
    client: Client,
    rsets: &mut Informer<ReplicaSet>,
    pods: &mut Informer<Pod>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), ev::REPLICASET_CONTROLLER),
        client,
        pods: pods.store(),
        expect: Expectations::default(),
        status_pace: StatusPace::new(STATUS_EVERY),
    });
    let c = Controller::for_stream(rsets.subscribe(), rsets.store()).owns_stream(pods.subscribe_meta());
    async move {
        c.run(reconcile, error_policy, ctx)
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "replicaset reconcile");
                }
            })
            .await
    }
}

fn error_policy(rs: Arc<ReplicaSet>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(replicaset = %rs.name_any(), error = %e, "replicaset reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    super::shared::ready(&ctx.pods).await;
    // Reconciles follow its pods' changes to the end of a burst; the
    // SuccessfulCreate Events wait for it (Recorder::busy).
    ctx.events.busy();
    let ns = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let key = ns_key(&ns, &name);
    let seen = |n: &str| match ctx.pods.get(&ObjectRef::new(n).within(&ns)) {
        None => Seen::Absent,
        Some(p) if !podutil::is_active(&p) => Seen::Terminating,
        Some(_) => Seen::Present,
    };
    if !ctx.expect.satisfied(&key, seen) {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let all = ctx.pods.state();
    let owned: Vec<&Pod> = all
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .filter(|p| controller_uid(&p.metadata, "ReplicaSet") == Some(uid.as_str()))
        .collect();
    let plan = plan_pods(&rs, &owned);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    for _ in 0..plan.create {
        // A taken name (1 in 14 million) just gets another draw.
        let mut attempt = 0;
        loop {
            let pod = new_pod(&rs);
            match api.create(&PostParams::default(), &pod).await {
                Ok(created) => {
                    tracing::info!(replicaset = %name, pod = %created.name_any(), "created pod");
                    ctx.expect.created(&key, &created.name_any());
                    let msg = format!("Created pod: {}", created.name_any());
                    ctx.events
                        .record(rs.object_ref(&()), Reason::SuccessfulCreate, msg);
                    break;
                }
                Err(e) if api_code(&e) == Some(409) && attempt < 3 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    for pod in &plan.delete {
        match api.delete(pod, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!(replicaset = %name, %pod, "deleted pod");
                ctx.expect.deleted(&key, pod);
                let msg = format!("Deleted pod: {pod}");
                ctx.events
                    .record(rs.object_ref(&()), Reason::SuccessfulDelete, msg);
            }
            Err(e) if api_code(&e) == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let st = status(&rs, &owned);
    if rs.status.as_ref() != Some(&st) {
        if let Some(wait) = ctx.status_pace.turn(&key, std::time::Instant::now()) {
            return Ok(Action::requeue(wait));
        }
        let rsapi: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
        let pp = PatchParams {
            field_manager: Some(MANAGER.into()),
            ..Default::default()
        };
        rsapi
            .patch_status(&name, &pp, &Patch::Merge(&json!({"status": st})))
            .await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}
