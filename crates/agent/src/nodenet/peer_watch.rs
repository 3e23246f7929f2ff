//! The other nodes, as the API server lists them, turned into peer routes
//! (and, under the eBPF datapath, ipcache entries): a watch on the Node
//! objects, a sync whenever the set of peers changes, and a periodic pass
//! that repairs routes removed by hand.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use labyrinth_ebpf::SharedDatapath;
use labyrinth_netlink::{netns::NetNs, Handle};

use super::{NodeNetConfig, Peer, PeerSync};

fn peers_of(nodes: &[Arc<Node>]) -> BTreeSet<Peer> {
    nodes
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let pod_cidr = n.spec.as_ref()?.pod_cidr.as_ref()?.parse().ok()?;
            let underlay_ip = n
                .status
                .as_ref()?
                .addresses
                .as_ref()?
                .iter()
                .find(|a| a.type_ == "InternalIP")?
                .address
                .parse()
                .ok()?;
            Some(Peer {
                name,
                underlay_ip,
                pod_cidr,
            })
        })
        .collect()
}

/// Keep one route per other node, as nodes join, change and leave.
pub async fn sync_peers_forever(
    client: kube::Client,
    cfg: NodeNetConfig,
    dp: Option<SharedDatapath>,
) -> Result<()> {
    let api: Api<Node> = Api::all(client);
    let (reader, writer) = reflector::store();
    let mut stream = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    let cfg = Arc::new(cfg);
    let mut last: Option<BTreeSet<Peer>> = None;
    let mut resync = tokio::time::interval(Duration::from_secs(30));
    // Until the first list is complete the store is empty: syncing to it
    // would remove every peer route of a restarted agent.
    let mut listed = false;
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Err(e)) => { tracing::warn!("node watch: {e}"); continue; }
                None => bail!("node watch ended"),
                Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => continue,
                Some(Ok(watcher::Event::InitDone)) => listed = true,
                Some(Ok(_)) => {}
            },
            // A periodic pass repairs routes removed by hand.
            _ = resync.tick() => { last = None; }
        }
        if !listed {
            continue;
        }
        let peers = peers_of(&reader.state());
        if last.as_ref() == Some(&peers) {
            continue;
        }
        let cfg = cfg.clone();
        let list: Vec<Peer> = peers.iter().cloned().collect();
        let dp = dp.clone();
        let res = tokio::task::spawn_blocking(move || -> Result<PeerSync> {
            let ns = NetNs::open("/proc/self/ns/net", "node")?;
            let mut h = Handle::in_netns(&ns)?;
            let s = super::sync_peers(&mut h, &cfg, &list)?;
            // The programs find other nodes' pods through the ipcache.
            if let Some(dp) = dp {
                super::ebpf::sync_ipcache(&dp, cfg.pod_cidr, &list)?;
            }
            Ok(s)
        })
        .await?;
        match res {
            Ok(s) => {
                if !s.added.is_empty() || !s.removed.is_empty() {
                    tracing::info!("peer routes: added {:?} removed {:?}", s.added, s.removed);
                }
                last = Some(peers);
            }
            Err(e) => tracing::warn!("syncing peer routes: {e:#}"),
        }
    }
}
