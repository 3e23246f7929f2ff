//! The Services for the containers' variables (`kubelet::service_env`)
//! where no proxy of this process watches them (the kubelet role, with the
//! network role in the DaemonSet's agent): a watch of its own into the
//! shared store (`super::shared`).

use std::sync::Arc;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::{watcher, WatchStreamExt};

use crate::agent::context::Agent;

/// The kubelet role apart from the proxy (the network DaemonSet's agent
/// is another process): its own watch of the Services, for the containers'
/// Service variables. Without it every pod start LISTed its namespace's
/// Services, a round trip to the API inside each start (as the kubelet,
/// it reads them from a cache its informer keeps).
pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let api = kube::Api::<Service>::all(agent.client.clone());
    let mut events = watcher::watcher(api, Default::default())
        .default_backoff()
        .boxed();
    let mut relist = Vec::new();
    while let Some(ev) = events.next().await {
        match ev {
            // A Service the store cannot key (no name) is only left out:
            // the pods' starts must not stop over it.
            Ok(ev) => {
                if let Err(e) = agent.services.apply_event(&mut relist, ev) {
                    tracing::warn!("service watch (containers' variables): {e:#}");
                }
            }
            Err(e) => tracing::warn!("service watch (containers' variables): {e} (retrying)"),
        }
    }
    anyhow::bail!("service watch ended")
}
