//! Services and EndpointSlices from the API into a service model, sent to
//! the sync thread after every change once both lists have arrived.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Result};
use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use labyrinth_proxy::external::ThisNode;
use labyrinth_proxy::ServiceModel;

use crate::agent::context::Agent;

/// The EndpointSlice controller's stamp of the API change behind a slice,
/// the start of kube-proxy's network programming latency.
const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

enum Change {
    Service(Box<Event<Service>>),
    Slice(Box<Event<EndpointSlice>>),
}

pub async fn run(
    agent: Arc<Agent>,
    cluster_cidr: Ipv4Net,
    tx: Sender<(ServiceModel, Option<SystemTime>)>,
) -> Result<()> {
    let services = watcher::watcher(Api::<Service>::all(agent.client.clone()), Default::default())
        .default_backoff()
        .map(|e| e.map(|ev| Change::Service(Box::new(ev))));
    let slices = watcher::watcher(
        Api::<EndpointSlice>::all(agent.client.clone()),
        Default::default(),
    )
    .default_backoff()
    .map(|e| e.map(|ev| Change::Slice(Box::new(ev))));
    let mut events = futures::stream::select(services, slices).boxed();

    let store = &agent.services;
    let mut health = super::healthcheck::HealthChecks::default();
    let node = ThisNode {
        name: agent.node_name.clone(),
        ip: agent.args.node_ip,
        zone: this_node_zone(&agent).await,
    };
    // Objects of a relist in progress, swapped in whole at InitDone.
    let mut relist_services: Vec<Service> = Vec::new();
    let mut relist_slices: Vec<EndpointSlice> = Vec::new();
    let (mut services_listed, mut slices_listed) = (false, false);
    // The Services the last model left out, each said once while it stays out.
    let mut left_out: Vec<String> = Vec::new();
    while let Some(ev) = events.next().await {
        let mut trigger = None;
        match ev {
            Err(e) => {
                tracing::warn!("service proxy watch: {e} (retrying)");
                continue;
            }
            Ok(Change::Service(ev)) => {
                services_listed |= store.apply_event(&mut relist_services, *ev)?;
            }
            Ok(Change::Slice(ev)) => match *ev {
                Event::Init => relist_slices.clear(),
                Event::InitApply(s) => relist_slices.push(s),
                Event::InitDone => {
                    store.update(|st| st.replace_slices(std::mem::take(&mut relist_slices)));
                    slices_listed = true;
                }
                Event::Apply(s) => {
                    trigger = trigger_time(&s);
                    store.update(|st| st.apply_slice(s))?;
                }
                Event::Delete(s) => {
                    let m = &s.metadata;
                    let ns = m.namespace.as_deref().unwrap_or("default");
                    store.update(|st| st.delete_slice(ns, m.name.as_deref().unwrap_or("")));
                }
            },
        }
        // Before both lists are in, a partial model would program Services
        // without their endpoints (rejecting connections that work).
        if !(services_listed && slices_listed) {
            continue;
        }
        match store.read(|st| st.model_for(Some(cluster_cidr), Some(node.clone()))) {
            Ok((model, out)) => {
                let out: Vec<String> = out.iter().map(|e| format!("{e:#}")).collect();
                for why in out.iter().filter(|w| !left_out.contains(w)) {
                    tracing::warn!("not programmed, the other Services are: {why}");
                }
                left_out = out;
                health.update(&model).await;
                if tx.send((model, trigger)).is_err() {
                    bail!("the proxy sync thread stopped");
                }
            }
            // The last good model stays programmed.
            Err(e) => tracing::error!("service model rejected, keeping the programmed rules: {e:#}"),
        }
    }
    bail!("service proxy watch ended")
}

/// This node's zone, read from its Node object as kube-proxy reads its
/// topology labels: the network role (the DaemonSet's agent) is not the
/// process that registered the Node, so its own flags carry no labels.
/// Without an answer from the API, the zone the agent itself registers
/// with (`--node-label topology.kubernetes.io/zone=…`, the one-process
/// agent). Read once at start: a label changed later is not followed.
async fn this_node_zone(agent: &Agent) -> Option<String> {
    let from_flags = node_zone(&agent.args.node_labels);
    match Api::<Node>::all(agent.client.clone()).get(&agent.node_name).await {
        Ok(node) => node
            .metadata
            .labels
            .and_then(|l| l.get(labyrinth_contracts::topology::ZONE_LABEL).cloned())
            .filter(|z| !z.is_empty())
            .or(from_flags),
        Err(e) => {
            tracing::warn!(
                "reading Node {} for its zone: {e} (using the flags')",
                agent.node_name
            );
            from_flags
        }
    }
}

/// The zone among `--node-label` flags.
fn node_zone(labels: &[String]) -> Option<String> {
    labels.iter().find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == labyrinth_contracts::topology::ZONE_LABEL && !v.is_empty()).then(|| v.to_string())
    })
}

fn trigger_time(slice: &EndpointSlice) -> Option<SystemTime> {
    let text = slice.metadata.annotations.as_ref()?.get(TRIGGER_TIME)?;
    // RFC 3339, as metav1.Time serialises.
    let t: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time =
        serde_json::from_value(serde_json::Value::String(text.clone())).ok()?;
    Some(SystemTime::from(t.0))
}
