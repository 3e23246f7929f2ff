//! The watch that feeds [`super::root_ca`]: ConfigMaps named
//! `kube-root-ca.crt` in every namespace (a field selector: the server
//! sends no other ConfigMap). A node may list and watch ConfigMaps (the
//! Node authorizer).

use std::sync::Arc;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{watcher, WatchStreamExt};

use super::root_ca::NAME;
use crate::agent::context::Agent;

pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let api = kube::Api::<ConfigMap>::all(agent.client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(ev) => agent.root_cas.apply(ev),
            Err(e) => tracing::warn!("{NAME} watch: {e} (retrying)"),
        }
    }
    anyhow::bail!("{NAME} watch ended")
}
