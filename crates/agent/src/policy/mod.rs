//! NetworkPolicy on this node: Pods, Namespaces and NetworkPolicies are
//! watched from the API, compiled by `labyrinth-policy` into allow lists
//! for the pods of this node, and programmed by the datapath (iptables or
//! nftables chains, or eBPF maps) after every change, in one transaction each;
//! a stream of changes is compiled at most once per MIN_SYNC, each compile
//! reusing what the objects it did not touch compiled to.
//! Pods are watched only while a NetworkPolicy exists: without one no pod
//! is isolated whatever the pods are, and every pod event of the cluster
//! would reach every node's agent (its CPU in a burst of pod starts, the
//! API server's to send it, and a model per pod of the cluster kept).
//! On start the agent removes the other kernel datapath's policy state: a
//! node switched from one --datapath to another would otherwise keep
//! enforcing the policies of the day of the switch.

mod coalesce;
mod ebpf;
mod programmer;
mod store;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use labyrinth_contracts::modes::Datapath;
use labyrinth_policy::watched_pod::WatchedPod;
use labyrinth_policy::{from_k8s, CompileCache, Compiled, ConvertCache};
use labyrinth_proxy::netpol::{PolicyIptables, PolicyNftables};

use crate::agent::context::Agent;
use coalesce::Coalesce;
use programmer::Programmer;
use store::Objects;

/// Rules removed by hand come back within this long.
const RESYNC: Duration = Duration::from_secs(30);
/// At most one compile per this long while changes keep coming
/// (coalesce.rs); a lone change is compiled at once.
const MIN_SYNC: Duration = Duration::from_millis(200);

enum Change {
    Pod(Box<Event<WatchedPod>>),
    Namespace(Box<Event<Namespace>>),
    Policy(Box<Event<NetworkPolicy>>),
}

/// Runs until the watches end or the sync thread dies.
pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let datapath = agent.args.datapath.datapath();
    let removed = match datapath {
        Some(Datapath::Iptables) => PolicyNftables::remove(),
        Some(Datapath::Nftables) => PolicyIptables::remove(),
        _ => PolicyNftables::remove().and_then(|()| PolicyIptables::remove()),
    };
    if let Err(e) = removed {
        tracing::warn!("removing another datapath's network policy state: {e:#}");
    }
    let dp: Box<dyn Programmer> = match datapath {
        Some(Datapath::Iptables) => Box::new(PolicyIptables::default()),
        Some(Datapath::Nftables) => Box::new(PolicyNftables::default()),
        Some(Datapath::Ebpf) => Box::new(ebpf::PolicyEbpf::open(&agent).await?),
        None => {
            tracing::warn!("no datapath on this node: policies are not enforced");
            return std::future::pending().await;
        }
    };
    let (tx, rx) = mpsc::channel::<Compiled>();
    let syncer = std::thread::Builder::new()
        .name("policy-sync".into())
        .spawn(move || sync_loop(dp, rx))
        .context("starting the policy sync thread")?;
    watch(&agent, tx).await?;
    syncer
        .join()
        .map_err(|_| anyhow::anyhow!("policy sync thread panicked"))?
}

type Changes = futures::stream::BoxStream<'static, Result<Change, watcher::Error>>;

/// Every pod of the cluster, decoded slim (watched_pod.rs): each pod event
/// reaches every node's agent.
fn pod_changes(c: &kube::Client) -> Changes {
    watcher::watcher(Api::<WatchedPod>::all(c.clone()), Default::default())
        .default_backoff()
        .map(|e| e.map(|ev| Change::Pod(Box::new(ev))))
        .boxed()
}

/// The next pod change; never, while pods are not watched.
async fn next_pod(pods: &mut Option<Changes>) -> Option<Result<Change, watcher::Error>> {
    match pods {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

async fn watch(agent: &Agent, tx: mpsc::Sender<Compiled>) -> Result<()> {
    let c = &agent.client;
    let nss = watcher::watcher(Api::<Namespace>::all(c.clone()), Default::default())
        .default_backoff()
        .map(|e| e.map(|ev| Change::Namespace(Box::new(ev))));
    let pols = watcher::watcher(Api::<NetworkPolicy>::all(c.clone()), Default::default())
        .default_backoff()
        .map(|e| e.map(|ev| Change::Policy(Box::new(ev))));
    let mut events = futures::stream::select(nss, pols).boxed();
    // Started by the first policy, dropped with the last (the module's doc).
    let mut pod_events: Option<Changes> = None;
    // Pods are kept as their models: every node's agent holds every pod
    // of the cluster, and the API's object is tens of KiB each.
    let mut pods: Objects<labyrinth_policy::Pod> = Objects::default();
    let (mut nss, mut pols) = (Objects::default(), Objects::default());
    let mut last: Option<Compiled> = None;
    // Per object, what did not change since the last compile is reused:
    // a write costs what it touches, not the whole cluster's policy.
    let (mut converted, mut compiler) = (ConvertCache::default(), CompileCache::default());
    let mut coalesce = Coalesce::new(MIN_SYNC, tokio::time::Instant::now());
    loop {
        let due = coalesce.due();
        let ev = tokio::select! {
            // The compile first when due: a stream never starves it.
            biased;
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                coalesce.compiled(tokio::time::Instant::now());
                // Nodes are not watched: a pod's own node reaches it from
                // OUTPUT, which the datapaths never judge, so no rule
                // needs their addresses.
                let t = Instant::now();
                let (cluster, errors) = converted.cluster(pods.values(), nss.values(), pols.values(), []);
                for e in errors {
                    tracing::error!("{e}");
                }
                let compiled = compiler.compile_node(&cluster, Some(&agent.node_name));
                tracing::info!(
                    "network policy: compiled in {} ms ({} policies converted, {} policy allow lists computed)",
                    t.elapsed().as_millis(),
                    converted.converted(),
                    compiler.computed()
                );
                // Most pod events (status, other nodes) change nothing here.
                if last.as_ref() == Some(&compiled) {
                    continue;
                }
                last = Some(compiled.clone());
                if tx.send(compiled).is_err() {
                    bail!("the policy sync thread stopped");
                }
                continue;
            }
            ev = events.next() => ev,
            ev = next_pod(&mut pod_events), if pod_events.is_some() => ev,
        };
        match ev {
            None => bail!("network policy watch ended"),
            Some(Err(e)) => {
                tracing::warn!("network policy watch: {e} (retrying)");
                continue;
            }
            Some(Ok(Change::Pod(ev))) => pods.apply(*ev, from_k8s::watched_pod),
            Some(Ok(Change::Namespace(ev))) => nss.apply(*ev, Some),
            Some(Ok(Change::Policy(ev))) => pols.apply(*ev, Some),
        }
        match (pods_wanted(&pols), pod_events.is_some()) {
            (true, false) => {
                tracing::info!("network policy: a policy exists; watching the cluster's pods");
                pod_events = Some(pod_changes(c));
            }
            (false, true) => {
                tracing::info!("network policy: no policy left; the cluster's pods are no longer watched");
                pod_events = None;
                pods = Objects::default();
                (converted, compiler) = (ConvertCache::default(), CompileCache::default());
            }
            _ => {}
        }
        // Half a picture would isolate pods without their allowed peers.
        if nss.listed && pols.listed && (pod_events.is_none() || pods.listed) {
            coalesce.changed();
        }
    }
}

/// Pods matter to policy only while a policy exists: without one no pod is
/// isolated (compile.rs), whatever the pods are.
fn pods_wanted(pols: &Objects<NetworkPolicy>) -> bool {
    pols.listed && !pols.is_empty()
}

/// Programs the newest allow lists (older queued ones are skipped), and
/// again every RESYNC.
fn sync_loop(mut dp: Box<dyn Programmer>, rx: mpsc::Receiver<Compiled>) -> Result<()> {
    let mut current: Option<Compiled> = None;
    loop {
        let full = match rx.recv_timeout(RESYNC) {
            Ok(mut c) => {
                while let Ok(newer) = rx.try_recv() {
                    c = newer;
                }
                current = Some(c);
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => true,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let Some(c) = &current else { continue };
        let t = Instant::now();
        match dp.sync(c, full) {
            Ok(how) => tracing::info!(
                "network policy: programmed {} pod chains ({}, {how}) in {} ms",
                c.pods.len(),
                dp.name(),
                t.elapsed().as_millis()
            ),
            Err(e) => {
                tracing::error!("network policy sync failed (retried at the next change or resync): {e:#}")
            }
        }
    }
}
