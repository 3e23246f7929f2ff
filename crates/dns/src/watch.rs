//! Feeds the catalog from a real API server with kube-rs watchers on
//! Services, EndpointSlices and Pods (all namespaces; Pods slim, see
//! pod_watch.rs, and only those with an address).

use std::fmt::Debug;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use labyrinth_contracts::pod::SlimPod;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;

use crate::catalog::{Change, Kind, Object};
use crate::pod_watch;

/// Builds a client from a kubeconfig file, or the in-cluster config.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("kubeconfig {}", path.display()))?
        }
        None => kube::Config::incluster().context("in-cluster config (no --kubeconfig given)")?,
    };
    labyrinth_contracts::api_client::client(config).context("building the Kubernetes client")
}

/// Watches the three kinds until the channel closes; restarts on errors
/// with kube's default backoff.
pub async fn watch_all(client: Client, tx: UnboundedSender<Change>) {
    let svc = watch_kind::<Service>(
        client.clone(),
        watcher::Config::default(),
        Kind::Service,
        |o| Object::Service(Box::new(o)),
        tx.clone(),
    );
    let eps = watch_kind::<EndpointSlice>(
        client.clone(),
        watcher::Config::default(),
        Kind::Slice,
        |o| Object::Slice(Box::new(o)),
        tx.clone(),
    );
    // Only pods with an address make records: a pod's create and its
    // binding (two of a start's three writes) never reach this watch.
    let pods = watch_kind::<SlimPod>(
        client,
        watcher::Config::default().fields(PODS_WITH_AN_IP),
        Kind::Pod,
        |o| Object::Pod(Box::new(pod_watch::into_pod(o))),
        tx,
    );
    futures::join!(svc, eps, pods);
}

/// The pods the catalog is fed: those with an address (the server sends a
/// pod that gets one as ADDED, and one that loses it as DELETED).
pub const PODS_WITH_AN_IP: &str = "status.podIP!=";

async fn watch_kind<K>(
    client: Client,
    config: watcher::Config,
    kind: Kind,
    wrap: fn(K) -> Object,
    tx: UnboundedSender<Change>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let api: Api<K> = Api::all(client);
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut relist: Vec<Object> = Vec::new();
    while let Some(ev) = stream.next().await {
        let change = match ev {
            Ok(Event::Apply(o)) => Some(Change::Apply(wrap(o))),
            Ok(Event::Delete(o)) => {
                let obj = wrap(o);
                Some(Change::Delete(kind, obj.key()))
            }
            Ok(Event::Init) => {
                relist.clear();
                None
            }
            Ok(Event::InitApply(o)) => {
                relist.push(wrap(o));
                None
            }
            Ok(Event::InitDone) => Some(Change::Reset(kind, std::mem::take(&mut relist))),
            Err(e) => {
                tracing::warn!(?kind, error = %e, "watch error (retrying)");
                None
            }
        };
        if let Some(c) = change {
            if tx.send(c).is_err() {
                return;
            }
        }
    }
}
