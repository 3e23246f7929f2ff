//! Static pods: the kubelet runs the pods of its manifest folder
//! (`--pod-manifest-path`, kubelet's staticPodPath) by itself, with no API
//! server, which is how kubeadm's control node starts the API server at
//! all. This runs on a thread of its own from the agent's first moment,
//! before the agent has any client: it reads the folder every second,
//! starts what is new, tears down what went (or changed: a changed file is
//! a new pod), and starts exited containers again after the kubelet's
//! back-off (`super::backoff`; restartPolicy Always unless the manifest
//! says otherwise).
//!
//! Its sandboxes are recorded apart from the API's pods
//! ([`STATE_DIR`]), so the pod loop (`super::pods`), which tears down any
//! recorded pod the API does not list, never sees them; a restarted agent
//! adopts them from there, so killing the agent does not stop the control
//! plane.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labyrinth_contracts::by_name::ByName;
use labyrinth_contracts::process::ProcessRef;

use super::lifecycle::{exit_code, unix_now};
use super::nodepod::{EnvSources, NodeFacts, NodePod};
use super::static_manifest::{read_folder, Manifest};
use crate::runtime::sandbox::{self, ContainerRecord, SandboxRecord, Sharing};
use crate::runtime::stages::Stages;
use crate::runtime::{container, RuntimeConfig};

/// Where static pods' sandbox records are kept, apart from the API's pods.
pub const STATE_DIR: &str = "/var/lib/labyrinth/static-pods";

/// One static pod this agent runs.
pub struct Running {
    pub manifest: Manifest,
    pub rec: SandboxRecord,
    /// Containers this agent process started (their exit codes are ours to
    /// read); adopted ones are watched through `rec.containers`.
    children: ByName<Child>,
}

/// What the static pods are doing now, by uid, for the mirror pods.
pub type Shared = Arc<Mutex<HashMap<String, (Manifest, SandboxRecord)>>>;

/// This agent's static pods, once started: the pod loop asks
/// [`is_static`] of every pod bound here.
static RUNNING: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();

/// Whether the API's pod `namespace/name` is one of this agent's static
/// pods (its mirror pod), which the pod loop must not run a second time.
pub fn is_static(namespace: &str, name: &str) -> bool {
    RUNNING.get().is_some_and(|s| {
        s.lock().is_ok_and(|s| {
            s.values()
                .any(|(m, _)| m.pod.name() == name && m.pod.namespace() == namespace)
        })
    })
}

/// Start the static pods' thread; what it runs is published in the
/// returned map after every pass.
pub fn spawn(dir: PathBuf, mut runtime: RuntimeConfig, node_name: String, node_ip: Ipv4Addr) -> Shared {
    runtime.state_dir = STATE_DIR.into();
    let shared = RUNNING.get_or_init(Shared::default).clone();
    let out = shared.clone();
    let node = NodeFacts {
        name: node_name,
        ip: node_ip.to_string(),
    };
    std::thread::Builder::new()
        .name("static-pods".into())
        .spawn(move || run(&dir, &runtime, &node, node_ip, &out))
        .expect("starting the static pods' thread");
    shared
}

fn run(dir: &std::path::Path, cfg: &RuntimeConfig, node: &NodeFacts, ip: Ipv4Addr, out: &Shared) {
    tracing::info!("static pods: reading {}", dir.display());
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut failed: HashMap<String, Instant> = HashMap::new();
    let mut reported: Vec<String> = Vec::new();
    let (first, _) = read_folder(dir, &node.name);
    adopt(cfg, &first, &mut running);
    loop {
        let (manifests, errors) = read_folder(dir, &node.name);
        // Each bad file is logged once, not every second.
        for e in errors.iter().filter(|e| !reported.contains(e)) {
            tracing::warn!("{e}");
        }
        reported = errors;
        let wanted: HashMap<&str, &Manifest> = manifests.iter().map(|m| (m.pod.uid(), m)).collect();
        running.retain(|uid, r| {
            let keep = wanted.contains_key(uid.as_str());
            if !keep {
                stop(cfg, r);
            }
            keep
        });
        for (uid, m) in &wanted {
            if running.contains_key(*uid)
                || failed
                    .get(*uid)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(2))
            {
                continue;
            }
            match start(cfg, m, node, ip) {
                Ok(r) => {
                    tracing::info!(
                        "static pod {}/{} running (from {})",
                        m.pod.namespace(),
                        m.pod.name(),
                        m.file.display()
                    );
                    failed.remove(*uid);
                    running.insert(uid.to_string(), r);
                }
                Err(e) => {
                    tracing::warn!("static pod {}/{}: {e:#}", m.pod.namespace(), m.pod.name());
                    failed.insert(uid.to_string(), Instant::now());
                }
            }
        }
        for r in running.values_mut() {
            keep_running(cfg, node, r);
        }
        if let Ok(mut shared) = out.lock() {
            *shared = running
                .iter()
                .map(|(uid, r)| (uid.clone(), (r.manifest.clone(), r.rec.clone())))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Keep the sandboxes a previous agent started for manifests still there;
/// remove the others.
fn adopt(cfg: &RuntimeConfig, manifests: &[Manifest], running: &mut HashMap<String, Running>) {
    for rec in sandbox::load_all(cfg).unwrap_or_default() {
        let found = manifests.iter().find(|m| m.pod.uid() == rec.pod.uid);
        match found {
            Some(m) if rec.pause.alive() => {
                tracing::info!("static pod {}/{}: adopted", rec.pod.namespace, rec.pod.name);
                let r = Running {
                    manifest: m.clone(),
                    rec,
                    children: ByName::new(),
                };
                running.insert(r.rec.pod.uid.clone(), r);
            }
            _ => {
                if let Err(e) = sandbox::destroy(cfg, &rec) {
                    tracing::warn!("static pod {}: {e:#}", rec.pod.name);
                }
            }
        }
    }
}

/// Sandbox, volumes, every container; on failure nothing is left.
fn start(cfg: &RuntimeConfig, m: &Manifest, node: &NodeFacts, ip: Ipv4Addr) -> anyhow::Result<Running> {
    let pod = &m.pod;
    let share = Sharing {
        network: (pod.spec.host_network == Some(true)).then_some(ip),
        pid: pod.spec.host_pid == Some(true),
        ipc: pod.spec.host_ipc == Some(true),
    };
    let mut stages = Stages::since(Instant::now());
    let mut rec = sandbox::create(cfg, &pod.pod_ref(), share, pod.sysctls(), &mut stages)?;
    let mut children = ByName::new();
    let result = (|| -> anyhow::Result<()> {
        let specs = specs(cfg, pod, node, &rec)?;
        for spec in &specs {
            let child = container::start(cfg, &rec, spec, 0)?;
            rec.containers.insert(
                spec.name.clone(),
                ContainerRecord {
                    process: ProcessRef::of(child.id()).ok(),
                    started_at: Some(unix_now()),
                    ..Default::default()
                },
            );
            children.insert(spec.name.clone(), child);
        }
        sandbox::save(cfg, &rec)
    })();
    match result {
        Ok(()) => Ok(Running {
            manifest: m.clone(),
            rec,
            children,
        }),
        Err(e) => {
            let _ = sandbox::destroy(cfg, &rec);
            for (_, mut c) in children.drain() {
                let _ = c.wait();
            }
            Err(e)
        }
    }
}

/// The containers' specs with their volumes (a static pod's volumes are
/// the node's: hostPath and emptyDir; it has no API to read others from).
fn specs(
    cfg: &RuntimeConfig,
    pod: &NodePod,
    node: &NodeFacts,
    rec: &SandboxRecord,
) -> anyhow::Result<Vec<crate::runtime::ContainerSpec>> {
    let none = EnvSources::default();
    let facts = super::projected::Facts {
        node,
        pod_ip: rec.ip,
        tokens: &[],
    };
    super::pod_volumes::make_all(cfg, pod, &none, &facts).map_err(anyhow::Error::msg)?;
    let mut specs = pod
        .container_specs(node, rec.ip, &none)
        .map_err(anyhow::Error::msg)?;
    super::pod_volumes::attach(cfg, pod, &mut specs).map_err(anyhow::Error::msg)?;
    Ok(specs)
}

/// Notice exited containers and start them again once their back-off is
/// over, as the restart policy says.
fn keep_running(cfg: &RuntimeConfig, node: &NodeFacts, r: &mut Running) {
    let now = unix_now();
    let policy = r.manifest.pod.spec.restart_policy.clone();
    let mut changed = false;
    let names: Vec<String> = r
        .manifest
        .pod
        .spec
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    for name in &names {
        let Some(c) = r.rec.containers.get_mut(name) else {
            continue;
        };
        let exit = match (c.process, r.children.get_mut(name)) {
            (None, _) => None,
            (Some(_), Some(child)) => child.try_wait().ok().flatten().map(exit_code),
            // Adopted: gone is all we can see of it.
            (Some(p), None) => (!p.alive()).then_some(255),
        };
        if let Some(code) = exit {
            r.children.remove(name);
            c.process = None;
            c.last_exit = Some(code);
            c.finished_at = Some(now);
            changed = true;
            let again = match policy.as_deref() {
                Some("Never") => false,
                Some("OnFailure") => code != 0,
                _ => true,
            };
            if again {
                let ran = now.saturating_sub(c.started_at.unwrap_or(now));
                c.backoff = super::backoff::next(c.backoff, ran, c.restarts);
                c.restart_at = Some(now + c.backoff);
                tracing::warn!(
                    "static pod {}: container {name} exited ({code}); starting it again in {} s",
                    r.rec.pod.name,
                    c.backoff
                );
            }
        }
        if c.process.is_some() || c.restart_at.is_none_or(|t| now < t) {
            continue;
        }
        let attempt = c.restarts + 1;
        let started = specs(cfg, &r.manifest.pod, node, &r.rec).and_then(|specs| {
            let spec = specs
                .into_iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| anyhow::anyhow!("container {name} is gone from the manifest"))?;
            container::start(cfg, &r.rec, &spec, attempt)
        });
        let Some(c) = r.rec.containers.get_mut(name) else {
            continue;
        };
        match started {
            Ok(child) => {
                c.started_again(ProcessRef::of(child.id()).ok(), attempt, now);
                r.children.insert(name.clone(), child);
                changed = true;
            }
            Err(e) => {
                tracing::warn!("static pod {}: starting {name} again: {e:#}", r.rec.pod.name);
                c.restart_at = Some(now + super::backoff::after_failed_start(c.backoff));
            }
        }
    }
    if changed {
        let _ = sandbox::save(cfg, &r.rec);
    }
}

/// The manifest went (or changed): stop the pod and remove its sandbox.
fn stop(cfg: &RuntimeConfig, r: &mut Running) {
    tracing::info!(
        "static pod {}/{}: manifest gone, stopping it",
        r.rec.pod.namespace,
        r.rec.pod.name
    );
    if let Err(e) = sandbox::destroy(cfg, &r.rec) {
        tracing::warn!("static pod {}: {e:#}", r.rec.pod.name);
    }
    for (_, mut c) in r.children.drain() {
        let _ = c.wait();
    }
}
