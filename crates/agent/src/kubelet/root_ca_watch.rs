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
            Err(e) if forbidden(&e) => {
                // A server whose Node authorizer lets a node watch only the
                // ConfigMaps its pods name (kube-apiserver's): every start
                // reads its own through the API, as the cache's misses do.
                // The task stays (the agent stops when one of its tasks
                // ends).
                tracing::info!("{NAME} watch refused ({e}): pod starts read it through the API");
                return std::future::pending().await;
            }
            Err(e) => tracing::warn!("{NAME} watch: {e} (retrying)"),
        }
    }
    anyhow::bail!("{NAME} watch ended")
}

/// The server refused the list or watch itself (403), which no retry
/// changes.
fn forbidden(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 403,
        watcher::Error::WatchError(s) => s.code == 403,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Box<kube::core::Status> {
        Box::new(kube::core::Status::failure("no", "Forbidden").with_code(code))
    }

    #[test]
    fn only_a_refusal_stops_the_watch() {
        assert!(forbidden(&watcher::Error::InitialListFailed(kube::Error::Api(
            status(403)
        ))));
        assert!(forbidden(&watcher::Error::WatchError(status(403))));
        assert!(!forbidden(&watcher::Error::InitialListFailed(kube::Error::Api(
            status(500)
        ))));
        assert!(!forbidden(&watcher::Error::WatchError(status(410))));
        assert!(!forbidden(&watcher::Error::NoResourceVersion));
    }
}
