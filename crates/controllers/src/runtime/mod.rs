//! The controllers as Kubernetes clients: shared watches feed kube-rs
//! `Controller`s (Deployment, ReplicaSet, EndpointSlice) and batch loops
//! (scheduler, node pod-CIDR allocator, node lifecycle, Endpoints, DaemonSet, Job,
//! ServiceAccounts, garbage collector) that apply the pure logic of the sibling modules.

mod api;
mod daemonset;
mod deployment;
mod endpoints;
mod endpointslice;
mod expect;
mod foreground;
mod gc;
mod job;
mod loadbalancer;
mod nodeipam;
mod nodelifecycle;
mod replicaset;
mod root_ca;
mod scheduler;
mod serviceaccounts;
mod shared;
mod status_pace;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::scheduler::PodToPlace;
pub use api::{api_code, Error, MANAGER};
pub use expect::{Expectations, Seen};
use shared::Informer;

/// Which controllers to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Which {
    Scheduler,
    Deployment,
    Replicaset,
    Endpointslice,
    Endpoints,
    Nodeipam,
    Nodelifecycle,
    Serviceaccount,
    /// kube-root-ca.crt in every namespace (kube-controller-manager's
    /// root-ca-cert-publisher).
    RootCaCertPublisher,
    Daemonset,
    Job,
    Gc,
    Loadbalancer,
}

impl Which {
    pub const ALL: [Which; 13] = [
        Which::Scheduler,
        Which::Deployment,
        Which::Replicaset,
        Which::Endpointslice,
        Which::Endpoints,
        Which::Nodeipam,
        Which::Nodelifecycle,
        Which::Serviceaccount,
        Which::RootCaCertPublisher,
        Which::Daemonset,
        Which::Job,
        Which::Gc,
        Which::Loadbalancer,
    ];
}

#[derive(Clone, Debug)]
pub struct ControllersConfig {
    /// Pod CIDR of the cluster, cut into one subnet per node.
    pub cluster_cidr: ipnet::Ipv4Net,
    /// Prefix length of each node's pod CIDR.
    pub node_cidr_mask: u8,
    /// A node with no heartbeat for this long goes Unknown.
    pub node_grace: Duration,
    /// How often node heartbeats are checked.
    pub node_monitor_period: Duration,
    pub enabled: Vec<Which>,
    /// Where LoadBalancer Services get their addresses; none: they stay
    /// pending, as in a cluster without a cloud.
    pub lb_pool: Option<labyrinth_contracts::lb_pool::AddressPool>,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        ControllersConfig {
            cluster_cidr: "10.0.0.0/16".parse().expect("literal CIDR"),
            node_cidr_mask: 24,
            node_grace: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            enabled: Which::ALL.to_vec(),
            lb_pool: None,
        }
    }
}

/// Runs the enabled controllers until one of them fails (they retry API
/// errors themselves, so that means a bug or a lost runtime). One watch per
/// kind is shared by all controllers.
pub async fn run_all(client: Client, cfg: ControllersConfig) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let allocator = crate::nodeipam::CidrAllocator::new(cfg.cluster_cidr, cfg.node_cidr_mask)
        .map_err(|e| anyhow::anyhow!("--cluster-cidr/--node-cidr-mask-size: {e}"))?;
    let on = |w: Which| cfg.enabled.contains(&w);

    let mut pods = Informer::new(Api::<Pod>::all(client.clone()));
    let mut nodes = Informer::new(Api::<Node>::all(client.clone()));
    let mut deploys = Informer::new(Api::<Deployment>::all(client.clone()));
    let mut rsets = Informer::new(Api::<ReplicaSet>::all(client.clone()));
    let mut services = Informer::new(Api::<Service>::all(client.clone()));
    let mut slices = Informer::new(Api::<EndpointSlice>::all(client.clone()));
    let mut endpoints = Informer::new(Api::<Endpoints>::all(client.clone()));
    let mut daemonsets = Informer::new(Api::<DaemonSet>::all(client.clone()));
    let mut jobs = Informer::new(Api::<Job>::all(client.clone()));

    // The scheduler's pods are decoded slim (scheduler/pod_to_place.rs):
    // its own watch, so that a process running only the scheduler (the
    // lab's kube-scheduler) never decodes a whole Pod.
    let mut pods_to_place = Informer::<Pod>::decoded_as(Api::<PodToPlace>::all(client.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    if on(Which::Scheduler) {
        let ctx = scheduler::Ctx::new(client.clone(), pods_to_place.store(), nodes.store());
        let (pw, nw) = (pods_to_place.waker(), nodes.waker());
        tasks.spawn(async move { scheduler::run(ctx, pw, nw).await });
    }
    if on(Which::Deployment) {
        let c = deployment::controller(client.clone(), &mut deploys, &mut rsets);
        tasks.spawn(c);
    }
    if on(Which::Replicaset) {
        let c = replicaset::controller(client.clone(), &mut rsets, &mut pods);
        tasks.spawn(c);
    }
    if on(Which::Endpointslice) {
        let c = endpointslice::controller(client.clone(), &mut services, &mut slices, &mut pods, &nodes);
        tasks.spawn(c);
    }
    if on(Which::Endpoints) {
        let changes = merged_wakers([services.waker(), slices.waker(), endpoints.waker()]);
        let l = endpoints::Loop {
            client: client.clone(),
            services: services.store(),
            slices: slices.store(),
            endpoints: endpoints.store(),
            changes,
        };
        tasks.spawn(async move { l.run().await });
    }
    let mut namespaces = Informer::new(Api::<Namespace>::all(client.clone()));
    let mut accounts = Informer::new(Api::<ServiceAccount>::all(client.clone()));
    if on(Which::Serviceaccount) {
        let changes = merged_wakers([namespaces.waker(), accounts.waker()]);
        let (c, n, a) = (client.clone(), namespaces.store(), accounts.store());
        tasks.spawn(async move { serviceaccounts::run(c, n, a, changes).await });
        accounts.start();
    }
    if on(Which::RootCaCertPublisher) {
        let (c, n, w) = (client.clone(), namespaces.store(), namespaces.waker());
        tasks.spawn(async move { root_ca::run(c, n, w).await });
    }
    if on(Which::Serviceaccount) || on(Which::RootCaCertPublisher) {
        namespaces.start();
    }
    if on(Which::Nodeipam) {
        let (store, w) = (nodes.store(), nodes.waker());
        let c = client.clone();
        tasks.spawn(async move { nodeipam::run(c, store, w, allocator).await });
    }
    if on(Which::Nodelifecycle) {
        let leases = lease_informer(&client).await;
        let lease_store = leases.as_ref().map(|l| l.store());
        let store = nodes.store();
        let c = client.clone();
        let (grace, period) = (cfg.node_grace, cfg.node_monitor_period);
        if let Some(l) = leases {
            l.start();
        }
        tasks.spawn(async move { nodelifecycle::run(c, store, lease_store, grace, period).await });
    }
    if on(Which::Daemonset) {
        // Only its own pods: it reads no other (crate::daemonset::plan).
        let changes = merged_wakers([
            daemonsets.waker(),
            pods.waker_for(|p| crate::podutil::controller_uid(&p.metadata, "DaemonSet").is_some()),
            nodes.waker(),
        ]);
        let l = daemonset::Loop {
            client: client.clone(),
            daemonsets: daemonsets.store(),
            pods: pods.store(),
            nodes: nodes.store(),
            changes,
        };
        tasks.spawn(async move { l.run().await });
    }
    if on(Which::Job) {
        let l = job::Loop {
            client: client.clone(),
            jobs: jobs.store(),
            pods: pods.store(),
            changes: merged_wakers([
                jobs.waker(),
                pods.waker_for(|p| crate::podutil::controller_uid(&p.metadata, "Job").is_some()),
            ]),
        };
        tasks.spawn(async move { l.run().await });
    }
    if on(Which::Gc) {
        let g = gc::Gc {
            client: client.clone(),
            deploys: deploys.store(),
            rsets: rsets.store(),
            daemonsets: daemonsets.store(),
            jobs: jobs.store(),
            pods: pods.store(),
            services: services.store(),
            slices: slices.store(),
        };
        tasks.spawn(async move { g.run().await });
    }

    if let (true, Some(pool)) = (on(Which::Loadbalancer), cfg.lb_pool) {
        let (c, store, w) = (client.clone(), services.store(), services.waker());
        tasks.spawn(async move { loadbalancer::run(c, store, w, pool).await });
    }

    // Start the watches only after every consumer subscribed; a kind no
    // controller here reads is not watched (shared.rs, `used`).
    pods_to_place.start();
    pods.start();
    nodes.start();
    deploys.start();
    rsets.start();
    services.start();
    slices.start();
    endpoints.start();
    daemonsets.start();
    jobs.start();
    tracing::info!(controllers = ?cfg.enabled, "controllers running");

    match tasks.join_next().await {
        None => Ok(()),
        Some(Ok(())) => anyhow::bail!("a controller loop ended unexpectedly"),
        Some(Err(e)) => anyhow::bail!("a controller task failed: {e}"),
    }
}

/// One Notify poked by any of `wakers`, for a loop that recomputes from
/// several kinds' caches.
fn merged_wakers<const N: usize>(
    wakers: [std::sync::Arc<tokio::sync::Notify>; N],
) -> std::sync::Arc<tokio::sync::Notify> {
    let merged = std::sync::Arc::new(tokio::sync::Notify::new());
    for w in wakers {
        let m = merged.clone();
        tokio::spawn(async move {
            loop {
                w.notified().await;
                m.notify_one();
            }
        });
    }
    merged
}

/// Node Leases, when the server has them (kube-node-lease); the lifecycle
/// controller then also counts lease renewals as heartbeats.
async fn lease_informer(client: &Client) -> Option<Informer<Lease>> {
    let api = Api::<Lease>::namespaced(client.clone(), "kube-node-lease");
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Some(Informer::new(api)),
        Err(e) => {
            tracing::info!(error = %e, "no node leases; heartbeats come from Node status only");
            None
        }
    }
}
