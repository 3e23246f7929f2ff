//! EndpointSlice controller: one reconcile per Service, triggered by the
//! Service, by its slices, and by any pod it selects or its slices list
//! (so a pod that stops matching is removed too).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};

use super::api::{api_code, ns_key, Error};
use super::shared::Informer;
use super::{Expectations, Seen};
use crate::endpointslice::zones::{self, node_zones};
use crate::endpointslice::{desired, managed_selector, reconcile as plan_slices, LABEL_SERVICE_NAME};
use crate::podutil::map_selector_matches;

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    /// Endpoints carry their node's zone (read when a Service reconciles).
    nodes: Store<Node>,
    slices: Store<EndpointSlice>,
    expect: Expectations,
}

pub fn controller(
    client: Client,
    services: &mut Informer<Service>,
    slices: &mut Informer<EndpointSlice>,
    pods: &mut Informer<Pod>,
    nodes: &Informer<Node>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let ctx = Arc::new(Ctx {
        client,
        pods: pods.store(),
        nodes: nodes.store(),
        slices: slices.store(),
        expect: Expectations::default(),
    });
    let svc_store = services.store();
    let slice_store = slices.store();
    let pod_to_services = move |pod: PartialObjectMeta<Pod>| {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let mut refs: Vec<ObjectRef<Service>> = svc_store
            .state()
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(ns.as_str()))
            .filter(|s| {
                managed_selector(s).is_some_and(|sel| map_selector_matches(sel, pod.metadata.labels.as_ref()))
            })
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect();
        for sl in slice_store.state() {
            let lists_pod =
                sl.namespace().as_deref() == Some(ns.as_str())
                    && sl.endpoints.iter().flatten().any(|e| {
                        e.target_ref.as_ref().and_then(|t| t.name.as_deref()) == Some(name.as_str())
                    });
            if let (true, Some(svc)) = (lists_pod, sl.labels().get(LABEL_SERVICE_NAME)) {
                refs.push(ObjectRef::new(svc).within(&ns));
            }
        }
        refs
    };
    let c = Controller::for_stream(services.subscribe(), services.store())
        .owns_stream(slices.subscribe())
        .watches_stream(pods.subscribe_meta(), pod_to_services);
    async move {
        c.run(reconcile, error_policy, ctx)
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "endpointslice reconcile");
                }
            })
            .await
    }
}

fn error_policy(svc: Arc<Service>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), error = %e, "endpointslice reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if svc.metadata.deletion_timestamp.is_some() || managed_selector(&svc).is_none() {
        return Ok(Action::await_change());
    }
    super::shared::ready(&ctx.pods).await;
    super::shared::ready(&ctx.slices).await;
    let ns = svc.namespace().unwrap_or_default();
    let key = ns_key(&ns, &svc.name_any());
    let seen = |n: &str| match ctx.slices.get(&ObjectRef::new(n).within(&ns)) {
        None => Seen::Absent,
        Some(_) => Seen::Present,
    };
    if !ctx.expect.satisfied(&key, seen) {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    let all_pods = ctx.pods.state();
    let pods: Vec<&Pod> = all_pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .collect();
    let all_slices = ctx.slices.state();
    let existing: Vec<&EndpointSlice> = all_slices.iter().map(|s| s.as_ref()).collect();
    super::shared::ready(&ctx.nodes).await;
    let zones = node_zones(ctx.nodes.state().iter().map(|n| n.as_ref()));
    let mut want = desired(&svc, &pods);
    zones::apply(&svc, &mut want, &zones);
    let mut plan = plan_slices(&svc, want, &existing);
    if plan.is_empty() {
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    // When this change was seen: proxies measure their network programming
    // latency from it (kube-proxy's metric of that name).
    let seen = k8s_openapi::jiff::Timestamp::now().to_string();
    for s in plan.create.iter_mut().chain(plan.update.iter_mut()) {
        s.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(TRIGGER_TIME.into(), seen.clone());
    }

    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    for s in &plan.create {
        api.create(&PostParams::default(), s).await?;
        tracing::info!(service = %svc.name_any(), slice = %s.name_any(), "created EndpointSlice");
        ctx.expect.created(&key, &s.name_any());
    }
    for s in &plan.update {
        // Carries the cached resourceVersion: a stale cache gets 409 and a retry.
        api.replace(&s.name_any(), &PostParams::default(), s).await?;
        tracing::debug!(service = %svc.name_any(), slice = %s.name_any(), "updated EndpointSlice");
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => ctx.expect.deleted(&key, name),
            Err(e) if api_code(&e) == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}
