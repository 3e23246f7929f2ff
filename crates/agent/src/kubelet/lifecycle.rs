//! One pod's life on this node: start (sandbox, containers, record), keep
//! its containers running per restartPolicy, tear it down.

use std::process::Child;
use std::sync::Arc;

use anyhow::{Context, Result};
use labyrinth_contracts::by_name::ByName;
use labyrinth_contracts::events::Reason;
use labyrinth_contracts::recorder::Recorder;
use labyrinth_netlink::process::ProcessRef;

use super::nodepod::{EnvSources, NodePod};
use crate::agent::context::Agent;
use crate::runtime::container;
use crate::runtime::sandbox::{self, ContainerRecord, SandboxRecord};
use crate::runtime::stages::Stages;
use crate::runtime::{ContainerSpec, RuntimeConfig};

/// One pod this agent runs.
pub struct Managed {
    pub rec: SandboxRecord,
    /// Containers started by this agent process (their exit codes are ours
    /// to read); adopted ones are watched through `rec.containers`.
    pub children: ByName<Child>,
    /// Its status changed since it was last reported (or the report failed).
    pub report: bool,
    /// Its containers' probes (not recorded: an adopted pod's start over).
    pub probes: super::probes::Prober,
    /// The ConfigMaps and Secrets its env refers to, as read at its start
    /// (restarted containers get the same values); boxed, as most pods
    /// have none.
    pub env_sources: Option<Box<EnvSources>>,
}

impl Managed {
    /// A pod a previous agent started (its eBPF program attached first:
    /// the record's CNI result is then kept on disk only).
    pub fn adopted(mut rec: SandboxRecord) -> Self {
        sandbox::forget_cni_result(&mut rec);
        Managed {
            rec,
            children: ByName::new(),
            report: true,
            probes: super::probes::Prober::adopted(),
            env_sources: None,
        }
    }
}

/// Sandbox, then every container; on failure nothing is left behind.
pub async fn start(agent: &Arc<Agent>, pod: &NodePod, mut stages: Stages) -> Result<(Managed, Stages)> {
    // The kubelet starts no pod network before the network agent (the
    // DaemonSet, itself a hostNetwork pod) wrote the CNI config.
    if agent.args.role == labyrinth_contracts::modes::AgentRole::Kubelet
        && pod.spec.host_network != Some(true)
        && !super::node::network_ready(agent)
    {
        anyhow::bail!(
            "network is not ready: NetworkPluginNotReady (no CNI configuration in {} yet)",
            agent.args.cni_conf_dir.display()
        );
    }
    // No user namespaces here: running such a pod in the node's would
    // quietly give it less isolation than it asked for.
    if pod.spec.host_users == Some(false) {
        anyhow::bail!(
            "hostUsers: false asks for a user namespace of the pod's own, which this node's runtime does not make"
        );
    }
    let r = pod.pod_ref();
    let maps = env_sources(agent, pod).await?;
    stages.mark("env");
    let share = sandbox::Sharing {
        network: (pod.spec.host_network == Some(true)).then_some(agent.args.node_ip),
        pid: pod.spec.host_pid == Some(true),
        ipc: pod.spec.host_ipc == Some(true),
    };
    // The pod's service-account tokens are asked for while its sandbox is
    // made: a TokenRequest is a round trip to the API server, which is
    // busiest in a burst, and waiting for it before the sandbox held this
    // node's start slot idle (2.3 ms of a ~15 ms start, in bench_pods). A
    // sandbox made for a pod whose token is refused is torn down again.
    let cfg = agent.runtime.clone();
    let sysctls = pod.sysctls().to_vec();
    let made = tokio::task::spawn_blocking(move || {
        let rec = sandbox::create(&cfg, &r, share, &sysctls, &mut stages);
        (rec, stages)
    });
    let tokens = super::projected::request_tokens(agent, pod).await;
    let (rec, mut stages) = made.await?;
    let mut rec = rec?;
    stages.mark("token");
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => {
            let cfg = agent.runtime.clone();
            if let Err(undo) = tokio::task::spawn_blocking(move || sandbox::destroy(&cfg, &rec)).await? {
                tracing::warn!("pod {}: undoing its sandbox: {undo:#}", pod.name());
            }
            return Err(e);
        }
    };
    let owner = agent.clone();
    let pod = pod.clone();
    let node = node_facts(agent);
    let cfg = agent.runtime.clone();
    let dp = agent.ebpf.get().cloned();
    let events = agent.events.clone();
    tokio::task::spawn_blocking(move || -> Result<(Managed, Stages)> {
        let facts = super::projected::Facts {
            node: &node,
            pod_ip: rec.ip,
            tokens: &tokens,
        };
        match super::pod_volumes::make_all(&cfg, &pod, &maps, &facts) {
            Ok(fresh) => fresh.into_iter().for_each(|f| owner.renewals.keep(&pod, f)),
            Err(e) => {
                let _ = sandbox::destroy(&cfg, &rec);
                super::events::emit(&events, &rec.pod, None, Reason::FailedMount, e.clone());
                anyhow::bail!("{e}");
            }
        }
        if let Some(dp) = dp.as_ref().filter(|_| !rec.host_network) {
            if let Err(e) = crate::nodenet::ebpf::attach(dp, &rec) {
                let _ = sandbox::destroy(&cfg, &rec);
                return Err(e);
            }
        }
        // The pod's IP is known once its sandbox is: `status.podIP`.
        let specs = match pod.container_specs(&node, rec.ip, &maps).and_then(|mut specs| {
            super::pod_volumes::attach(&cfg, &pod, &mut specs)?;
            // The init containers' env and mounts are checked now too, so
            // that one that cannot be made is the pod's start error.
            super::pod_volumes::attach(&cfg, &pod, &mut pod.init_container_specs(&node, rec.ip, &maps)?)?;
            Ok(specs)
        }) {
            Ok(s) => s,
            Err(e) => {
                let _ = sandbox::destroy(&cfg, &rec);
                super::events::emit(&events, &rec.pod, None, Reason::Failed, format!("Error: {e}"));
                anyhow::bail!("{CONFIG_ERROR}: {e}");
            }
        };
        let mut children = ByName::new();
        // With init containers, the containers wait for them to have run
        // (`super::init_containers`, from the pod loop).
        let now = if pod.spec.init_containers.is_empty() {
            &specs[..]
        } else {
            &[]
        };
        for spec in now {
            match start_one(&cfg, &events, &mut rec, spec, 0) {
                Ok(child) => {
                    children.insert(spec.name.clone(), child);
                }
                Err(e) => {
                    let _ = sandbox::destroy(&cfg, &rec);
                    return Err(e);
                }
            }
        }
        stages.mark("containers");
        sandbox::save(&cfg, &rec)?;
        stages.mark("saved");
        sandbox::forget_cni_result(&mut rec);
        let m = Managed {
            rec,
            children,
            report: true,
            probes: Default::default(),
            env_sources: Some(maps.for_env(&pod)).filter(|m| !m.is_empty()).map(Box::new),
        };
        Ok((m, stages))
    })
    .await?
}

/// Start container `spec` (its start number `attempt`) in the pod's
/// sandbox and record it running, keeping what its record says of earlier
/// starts (its last exit, its back-off); the Events say how it went.
pub(super) fn start_one(
    cfg: &RuntimeConfig,
    events: &Arc<Recorder>,
    rec: &mut SandboxRecord,
    spec: &ContainerSpec,
    attempt: u32,
) -> Result<Child> {
    let started = container::start(cfg, rec, spec, attempt);
    let outcome = started.as_ref().map(|_| ()).map_err(|e| format!("{e:#}"));
    super::events::container_start(events, &rec.pod, spec, outcome);
    let child = started?;
    if rec.containers.get(&spec.name).is_none() {
        rec.containers
            .insert(spec.name.clone(), ContainerRecord::default());
    }
    if let Some(c) = rec.containers.get_mut(&spec.name) {
        c.process = ProcessRef::of(child.id()).ok();
        c.restarts = attempt;
        c.started_at = Some(unix_now());
        c.restart_at = None;
    }
    Ok(child)
}

/// The ConfigMaps and Secrets the pod's env refers to, read through the
/// API (a node may read ConfigMaps, and the Secrets of its pods; the
/// namespace's `kube-root-ca.crt` from the kubelet's cache), and the
/// Services of its namespace (their variables: `service_env`); one that
/// does not exist is left out, for the env to say so (or skip it, when
/// optional).
async fn env_sources(agent: &Agent, pod: &NodePod) -> Result<EnvSources> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let mut src = EnvSources::default();
    let (mut maps, mut secrets) = pod.source_names();
    let (vmaps, vsecrets) = super::pod_volumes::source_names(pod);
    for (all, more) in [(&mut maps, vmaps), (&mut secrets, vsecrets)] {
        all.extend(more);
        all.sort();
        all.dedup();
    }
    let ns = pod.namespace();
    for name in maps {
        // Every pod's token volume reads this one: from the watch's cache
        // (root_ca.rs), or through the API when it has no entry yet.
        if name == super::root_ca::NAME {
            if let Some(data) = agent.root_cas.get(ns) {
                src.config_maps.insert(name, data);
                continue;
            }
        }
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(agent.client.clone(), ns);
        let found = api
            .get_opt(&name)
            .await
            .with_context(|| format!("reading configmap {name:?}"))?;
        if let Some(cm) = found {
            src.config_maps.insert(name, cm.data.unwrap_or_default());
        }
    }
    if pod.spec.enable_service_links != Some(false) {
        src.services = super::service_env::for_namespace(agent, ns).await?;
    }
    for name in secrets {
        let api: kube::Api<Secret> = kube::Api::namespaced(agent.client.clone(), ns);
        let found = api
            .get_opt(&name)
            .await
            .with_context(|| format!("reading secret {name:?}"))?;
        if let Some(s) = found {
            let data = s.data.unwrap_or_default().into_iter();
            let decoded = data.map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()));
            src.secrets.insert(name, decoded.collect());
        }
    }
    Ok(src)
}

/// The waiting reason of a container whose env cannot be made.
pub const CONFIG_ERROR: &str = "CreateContainerConfigError";

/// This node, as a pod's `fieldRef`s read it.
pub(super) fn node_facts(agent: &Agent) -> super::nodepod::NodeFacts {
    super::nodepod::NodeFacts {
        name: agent.node_name.clone(),
        ip: agent.args.node_ip.to_string(),
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Restart exited containers as the pod's restartPolicy says, each after
/// its back-off (`super::backoff`); true if any container's state changed
/// (its status is to be reported).
pub fn keep_running(agent: &Agent, pod: &NodePod, m: &mut Managed) -> bool {
    let policy = pod.spec.restart_policy.as_deref().unwrap_or("Always");
    let mut changed = false;
    let now = unix_now();
    // Runs for every pod twice a second and on every watch event: only
    // looks, and builds a container's spec only to restart it.
    for (i, container) in pod.spec.containers.iter().enumerate() {
        let name = container.name.as_str();
        let Some(c) = m.rec.containers.get_mut(name) else {
            continue;
        };
        if c.process.is_some() {
            let exited: Option<i32> = match m.children.get_mut(name) {
                Some(child) => match child.try_wait() {
                    Ok(Some(st)) => Some(exit_code(st)),
                    _ => None,
                },
                // Adopted: we cannot read its exit code, only see it gone.
                None => c.process.filter(|p| !p.alive()).map(|_| 255),
            };
            if let Some(code) = exited {
                c.last_exit = Some(code);
                c.process = None;
                c.finished_at = Some(now);
                m.children.remove(name);
                changed = true;
                let restart = match policy {
                    "Never" => false,
                    "OnFailure" => code != 0,
                    _ => true,
                };
                if restart {
                    let ran = now.saturating_sub(c.started_at.unwrap_or(now));
                    c.backoff = super::backoff::next(c.backoff, ran, c.restarts);
                    c.restart_at = Some(now + c.backoff);
                    // A restart made at once (below, in this pass) is no
                    // back-off: the kubelet records none.
                    if c.backoff > 0 {
                        let msg = format!(
                            "Back-off {}s restarting failed container={name} pod={}",
                            c.backoff, m.rec.pod.name
                        );
                        super::events::emit(&agent.events, &m.rec.pod, Some(name), Reason::BackOff, msg);
                    }
                }
            }
        }
        if c.process.is_some() || c.restart_at.is_none_or(|t| now < t) {
            continue;
        }
        let attempt = c.restarts + 1;
        let started = pod
            .container_specs(
                &node_facts(agent),
                m.rec.ip,
                m.env_sources.as_deref().unwrap_or(&EnvSources::default()),
            )
            .and_then(|mut specs| {
                super::pod_volumes::attach(&agent.runtime, pod, &mut specs)?;
                Ok(specs)
            })
            .map_err(|e| anyhow::anyhow!("{CONFIG_ERROR}: {e}"))
            .map(|mut specs| specs.swap_remove(i));
        let Ok(spec) = started else {
            // Its env cannot be made (the Failed event says why): retried
            // after the back-off, as a failed start.
            let why = started.err().map(|e| format!("Error: {e:#}")).unwrap_or_default();
            super::events::emit(&agent.events, &m.rec.pod, Some(name), Reason::Failed, why);
            if let Some(c) = m.rec.containers.get_mut(name) {
                c.restart_at = Some(now + super::backoff::after_failed_start(c.backoff));
            }
            continue;
        };
        let started = container::start(&agent.runtime, &m.rec, &spec, attempt);
        let outcome = started.as_ref().map(|_| ()).map_err(|e| format!("{e:#}"));
        super::events::container_start(&agent.events, &m.rec.pod, &spec, outcome);
        let Some(c) = m.rec.containers.get_mut(name) else {
            continue;
        };
        match started {
            Ok(child) => {
                c.started_again(ProcessRef::of(child.id()).ok(), attempt, now);
                m.children.insert(spec.name.clone(), child);
                changed = true;
            }
            // The Failed event (just recorded) says why.
            Err(_) => {
                c.restart_at = Some(now + super::backoff::after_failed_start(c.backoff));
            }
        }
    }
    if changed {
        let _ = sandbox::save(&agent.runtime, &m.rec);
    }
    changed
}

/// Whether container `c`'s process has ended, recording how if so (an
/// adopted one, not our child, only shows it is gone: 255).
pub(super) fn noted_exit(c: &mut ContainerRecord, child: Option<&mut Child>) -> bool {
    let Some(p) = c.process else {
        return false;
    };
    let code = match child {
        Some(child) => match child.try_wait() {
            Ok(Some(st)) => exit_code(st),
            _ => return false,
        },
        None if p.alive() => return false,
        None => 255,
    };
    c.last_exit = Some(code);
    c.process = None;
    c.finished_at = Some(unix_now());
    true
}

/// A container's exit code as Kubernetes reports it: 128 + the signal for
/// one killed by a signal.
pub(super) fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().or(st.signal().map(|s| 128 + s)).unwrap_or(255)
}

/// Stop everything of the pod here; its logs stay if `keep_logs`. A pod
/// being deleted (`deleting`) ends gracefully first (`super::termination`).
pub async fn teardown(agent: &Arc<Agent>, mut m: Managed, keep_logs: bool, deleting: Option<Arc<NodePod>>) {
    let cfg = agent.runtime.clone();
    let name = format!("{}/{}", m.rec.pod.namespace, m.rec.pod.name);
    let rec = m.rec.clone();
    let dp = agent.ebpf.get().cloned();
    let events = agent.events.clone();
    let res = tokio::task::spawn_blocking(move || {
        if let Some(pod) = &deleting {
            super::termination::end_gracefully(&cfg.pause, &events, &rec, pod);
        }
        // Off the veth before CNI DEL removes it.
        if let Some(dp) = dp.as_ref().filter(|_| !rec.host_network) {
            if let Err(e) = crate::nodenet::ebpf::detach(dp, &rec) {
                tracing::warn!("{e:#}");
            }
        }
        if keep_logs {
            sandbox::destroy_keeping_logs(&cfg, &rec)
        } else {
            sandbox::destroy(&cfg, &rec)
        }
    })
    .await;
    for (_, mut child) in m.children.drain() {
        let _ = child.wait();
    }
    match res {
        Ok(Ok(())) => tracing::info!("pod {name} torn down"),
        Ok(Err(e)) => tracing::warn!("pod {name}: {e:#}"),
        Err(e) => tracing::warn!("pod {name}: {e}"),
    }
}
