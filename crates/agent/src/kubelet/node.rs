//! The Node: registration, heartbeats, the pod CIDR, and the node network
//! built from it (the peer routes are kept by `nodenet::peer_watch`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Api, Patch, PatchParams, PostParams};
use labyrinth_netlink::{netns::NetNs, Handle};
use serde_json::json;

use crate::agent::context::Agent;
use crate::nodenet::{self, NodeNetConfig};
use labyrinth_contracts::modes::AgentRole;

pub const KUBELET_VERSION: &str = concat!("v1.33.0-labyrinth.", env!("CARGO_PKG_VERSION"));

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn labels(agent: &Agent) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/hostname".into(), json!(agent.node_name));
    labels.insert("kubernetes.io/os".into(), json!("linux"));
    labels.insert(
        "kubernetes.io/arch".into(),
        json!(std::env::consts::ARCH.replace("x86_64", "amd64")),
    );
    if agent.args.control_plane {
        labels.insert(CONTROL_PLANE_KEY.into(), json!(""));
    }
    for kv in &agent.args.node_labels {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--node-label {kv:?}: expected key=value")
        };
        labels.insert(k.into(), json!(v));
    }
    Ok(labels)
}

/// Create our Node if the join did not, and publish labels and addresses.
pub async fn register(agent: &Agent) -> Result<()> {
    let api: Api<Node> = Api::all(agent.client.clone());
    let labels = labels(agent)?;
    if api.get_opt(&agent.node_name).await?.is_none() {
        let mut node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": { "name": agent.node_name, "labels": labels },
            "spec": {}
        });
        if agent.args.control_plane {
            node["spec"]["taints"] = json!([{"key": CONTROL_PLANE_KEY, "effect": "NoSchedule"}]);
        }
        let node: Node = serde_json::from_value(node)?;
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e).context("creating the Node"),
        }
    } else {
        let mut patch = json!({"metadata": {"labels": labels}});
        // The join registered the Node bare; a control node still gets its
        // taint, as kubeadm's mark-control-plane phase adds it after the
        // fact. Taints others put there are kept (a merge patch replaces the
        // whole list, so the list sent is theirs plus ours).
        if agent.args.control_plane {
            if let Some(taints) = with_control_plane_taint(api.get(&agent.node_name).await?) {
                patch["spec"] = json!({ "taints": taints });
            }
        }
        api.patch(&agent.node_name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .context("labelling the Node")?;
    }
    post_status(agent).await
}

/// The key of the control node's role label and of the taint kubeadm puts on it.
const CONTROL_PLANE_KEY: &str = "node-role.kubernetes.io/control-plane";

/// The Node's taints with the control-plane one added, or None when it is
/// already there.
fn with_control_plane_taint(node: Node) -> Option<Vec<Taint>> {
    let mut taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    if taints
        .iter()
        .any(|t| t.key == CONTROL_PLANE_KEY && t.effect == "NoSchedule")
    {
        return None;
    }
    taints.push(Taint {
        key: CONTROL_PLANE_KEY.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    });
    Some(taints)
}

/// The kubelet's Ready condition: with the network left to another
/// process (the DaemonSet), the node is not ready until that process wrote
/// the CNI config, as the kubelet says NetworkPluginNotReady.
fn ready_condition(agent: &Agent, t: &str) -> serde_json::Value {
    let waiting = agent.args.role == AgentRole::Kubelet && !network_ready(agent);
    let (status, reason, message) = if waiting {
        (
            "False",
            "KubeletNotReady",
            format!(
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady \
                 message:Network plugin returns error: no CNI configuration file in {}",
                agent.args.cni_conf_dir.display()
            ),
        )
    } else {
        (
            "True",
            "KubeletReady",
            "kubelet is posting ready status".to_string(),
        )
    };
    json!({
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastHeartbeatTime": t, "lastTransitionTime": t
    })
}

/// Whether a CNI network config is in place (the runtime would find one).
pub fn network_ready(agent: &Agent) -> bool {
    agent.runtime.cni.load().is_ok()
}

async fn post_status(agent: &Agent) -> Result<()> {
    let api: Api<Node> = Api::all(agent.client.clone());
    let t = now();
    let uname = nix::sys::utsname::uname()?;
    let status = json!({"status": {
        "conditions": [ready_condition(agent, &t)],
        "addresses": [
            {"type": "InternalIP", "address": agent.args.node_ip.to_string()},
            {"type": "Hostname", "address": agent.node_name}
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": crate::streaming::PORT}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": uname.release().to_string_lossy(),
            "osImage": "Labyrinth node", "containerRuntimeVersion": "labyrinth://0.1.0",
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux", "architecture": std::env::consts::ARCH.replace("x86_64", "amd64")
        }
    }});
    api.patch_status(&agent.node_name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .context("posting the Node's status")?;
    Ok(())
}

/// Renew the Ready condition every 10 s (the node lifecycle controller
/// marks a silent node NotReady); while the network is not ready, every
/// second, so the node turns Ready soon after its CNI config appears.
pub async fn heartbeat(agent: Arc<Agent>) -> Result<()> {
    let mut was_ready = network_ready(&agent);
    let mut since = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ready = network_ready(&agent);
        if ready == was_ready && since.elapsed() < Duration::from_secs(10) {
            continue;
        }
        was_ready = ready;
        since = std::time::Instant::now();
        if let Err(e) = post_status(&agent).await {
            tracing::warn!("heartbeat failed: {e:#}");
        }
    }
}

/// The pod CIDR the control plane assigned us (spec.podCIDR).
pub async fn wait_for_pod_cidr(agent: &Agent) -> Result<Ipv4Net> {
    let api: Api<Node> = Api::all(agent.client.clone());
    loop {
        let node = api.get(&agent.node_name).await?;
        if let Some(cidr) = node.spec.and_then(|s| s.pod_cidr) {
            return cidr
                .parse()
                .with_context(|| format!("Node spec.podCIDR {cidr:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn netcfg(agent: &Agent, pod_cidr: Ipv4Net) -> Result<NodeNetConfig> {
    let a = &agent.args;
    let self_ns = NetNs::open("/proc/self/ns/net", &agent.node_name)?;
    let mut h = Handle::in_netns(&self_ns)?;
    let mtu = h
        .link_by_name(&a.underlay_dev)?
        .with_context(|| format!("no underlay device {}", a.underlay_dev))?
        .mtu;
    Ok(NodeNetConfig {
        node_name: agent.node_name.clone(),
        underlay_ip: a.node_ip,
        underlay_dev: a.underlay_dev.clone(),
        underlay_mtu: mtu,
        pod_cidr,
        routing: a.routing,
        vni: a.vni,
        collect_md: a.datapath.is(labyrinth_contracts::modes::Datapath::Ebpf),
    })
}

/// Gateway pair and tunnel device.
pub async fn setup_network(agent: &Arc<Agent>, pod_cidr: Ipv4Net) -> Result<()> {
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let cfg = netcfg(&agent, pod_cidr)?;
        let ns = NetNs::open("/proc/self/ns/net", &agent.node_name)?;
        let mut h = Handle::in_netns(&ns)?;
        nodenet::setup_devices(&ns, &mut h, &cfg)
    })
    .await?
}

/// Our CNI plugin, served with `around` run at each ADD and DEL; the
/// config comes after (`write_conflist`), once everything it announces is
/// served.
pub async fn serve_cni(
    agent: &Arc<Agent>,
    around: Option<Arc<dyn labyrinth_cni::delegate::Around>>,
) -> Result<()> {
    if agent.args.keep_cni_config {
        return Ok(());
    }
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || install_cni(&agent, around)).await?
}

/// The CNI config for this node's pod range: the runtime starts pods'
/// networks once it is there.
pub async fn write_conflist(agent: &Arc<Agent>, pod_cidr: Ipv4Net) -> Result<()> {
    if agent.args.keep_cni_config {
        return Ok(());
    }
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let cfg = netcfg(&agent, pod_cidr)?;
        let a = &agent.args;
        std::fs::create_dir_all(&a.cni_conf_dir)?;
        let conf = labyrinth_cni::conflist(
            labyrinth_contracts::node::CNI_NETWORK,
            &cfg.pod_cidr.to_string(),
            &cfg.gateway().to_string(),
            cfg.pod_mtu(),
            None,
        );
        let path = a.cni_conf_dir.join(labyrinth_contracts::node::CNI_CONFLIST);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&conf)?)?;
        std::fs::rename(&tmp, &path).context("writing the CNI config")
    })
    .await?
}

/// Point `link` at this very binary (kept if it already does).
fn link_self(link: &std::path::Path) -> Result<()> {
    let exe = std::env::current_exe()?;
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::read_link(link).ok().as_deref() != Some(exe.as_path()) {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&exe, link).with_context(|| format!("installing {}", link.display()))?;
    }
    Ok(())
}

/// Our plugin where containerd would look for it: the plugin runs inside
/// this agent, and /opt/cni/bin/labyrinth-cni is the small program that
/// hands each call to it (or, with no agent listening, runs `labyrinth
/// cni`; see labyrinth_cni::delegate). And, for the one-process agent,
/// this binary on the containers' PATH, so addon pods (cluster DNS) run
/// `labyrinth dns` as their "image" — the same file the plugin program
/// falls back to (the kubelet role's; a network agent in a pod would only
/// change its own container's copy).
fn install_cni(agent: &Agent, around: Option<Arc<dyn labyrinth_cni::delegate::Around>>) -> Result<()> {
    let a = &agent.args;
    if a.role.runs_pods() {
        link_self(&std::path::Path::new(crate::runtime::BIN_DIR).join("labyrinth"))?;
    }
    let socket = std::path::Path::new(labyrinth_cni::delegate::SOCKET);
    labyrinth_cni::delegate::serve_with(socket, around)
        .with_context(|| format!("listening for CNI calls at {}", socket.display()))?;
    install_cni_program(&a.cni_bin_dir)
}

/// /opt/cni/bin/labyrinth-cni (also what the DaemonSet's init container
/// runs: `labyrinth install-cni`).
pub fn install_cni_program(bin_dir: &std::path::Path) -> Result<()> {
    crate::runtime::program::install(
        &bin_dir.join(labyrinth_contracts::node::CNI_PROGRAM),
        labyrinth_cni::delegate::SHIM,
    )
}

/// Keep one route per other node, as nodes join, change and leave (see
/// `nodenet::peer_watch`).
pub async fn sync_peers_forever(agent: Arc<Agent>, pod_cidr: Ipv4Net) -> Result<()> {
    let cfg = tokio::task::spawn_blocking({
        let agent = agent.clone();
        move || netcfg(&agent, pod_cidr)
    })
    .await??;
    // Opened before this task starts (`--datapath ebpf` only).
    let dp = agent.ebpf.get().cloned();
    nodenet::peer_watch::sync_peers_forever(agent.client.clone(), cfg, dp).await
}
