//! The pods bound to this node: make their sandboxes and containers, keep the
//! containers running per restartPolicy, report status, and tear everything
//! down when a pod is deleted. Sandboxes found on disk at start are adopted,
//! so restarting the agent disturbs no running pod.

use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use labyrinth_netlink::process::ProcessRef;

use super::{status, Agent};
use crate::runtime::sandbox::{self, ContainerRecord, SandboxRecord};
use crate::runtime::{container, ContainerSpec, PodRef};

/// One pod this agent runs.
struct Managed {
    rec: SandboxRecord,
    /// Containers started by this agent process (their exit codes are ours
    /// to read); adopted ones are watched through `rec.containers`.
    children: HashMap<String, Child>,
    last_status: Option<serde_json::Value>,
}

#[derive(Default)]
struct State {
    pods: HashMap<String, Managed>,
    /// uid → (when it last failed, why), to back off and to report.
    failures: HashMap<String, (Instant, String)>,
}

pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let api: Api<Pod> = Api::all(agent.client.clone());
    let (reader, writer) = reflector::store();
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", agent.node_name));
    let mut stream = reflector(writer, watcher(api, cfg))
        .default_backoff()
        // Every event, InitDone included: that is when the store is ready.
        .boxed();

    let mut state = State::default();
    adopt(&agent, &mut state).await;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(_)) => {}
                Some(Err(e)) => { tracing::warn!("pod watch: {e}"); continue; }
                None => anyhow::bail!("pod watch ended"),
            },
            _ = tick.tick() => {}
        }
        // Until the first list is complete (the store fills at once at its
        // end, not with its first object), an empty or partial store would
        // look like "every pod was deleted": adopted pods would be torn down.
        if reader.wait_until_ready().now_or_never_ready() {
            reconcile(&agent, &mut state, reader.state()).await;
        }
    }
}

trait ReadyNow {
    fn now_or_never_ready(self) -> bool;
}

impl<F: std::future::Future> ReadyNow for F {
    fn now_or_never_ready(self) -> bool {
        futures::FutureExt::now_or_never(self).is_some()
    }
}

/// Pick up the sandboxes a previous agent left running.
async fn adopt(agent: &Arc<Agent>, state: &mut State) {
    let cfg = agent.runtime.clone();
    let recs = tokio::task::spawn_blocking(move || sandbox::load_all(&cfg)).await;
    for rec in recs.ok().and_then(|r| r.ok()).unwrap_or_default() {
        if rec.pause.alive() {
            tracing::info!("adopting running pod {}/{}", rec.pod.namespace, rec.pod.name);
            super::ebpf::attach_adopted(agent, &rec).await;
            state.pods.insert(
                rec.pod.uid.clone(),
                Managed {
                    rec,
                    children: HashMap::new(),
                    last_status: None,
                },
            );
        } else {
            let cfg = agent.runtime.clone();
            let _ = tokio::task::spawn_blocking(move || sandbox::destroy(&cfg, &rec)).await;
        }
    }
}

fn pod_ref(pod: &Pod) -> Option<PodRef> {
    Some(PodRef {
        uid: pod.metadata.uid.clone()?,
        namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone()?,
    })
}

fn container_specs(pod: &Pod) -> Vec<ContainerSpec> {
    let Some(spec) = &pod.spec else { return vec![] };
    spec.containers
        .iter()
        .map(|c| {
            let mut argv = c.command.clone().unwrap_or_default();
            argv.extend(c.args.clone().unwrap_or_default());
            let env = c
                .env
                .iter()
                .flatten()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect();
            ContainerSpec {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                argv,
                env,
            }
        })
        .collect()
}

async fn reconcile(agent: &Arc<Agent>, state: &mut State, pods: Vec<Arc<Pod>>) {
    let mut wanted = HashMap::new();
    for pod in &pods {
        let Some(r) = pod_ref(pod) else { continue };
        let terminal = matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded") | Some("Failed")
        );
        if pod.metadata.deletion_timestamp.is_none() && !terminal {
            wanted.insert(r.uid.clone(), pod.clone());
        }
    }

    // Deleted, or being deleted: tear down, then let the object go.
    let gone: Vec<String> = state
        .pods
        .keys()
        .filter(|uid| !wanted.contains_key(*uid))
        .cloned()
        .collect();
    for uid in gone {
        let m = state.pods.remove(&uid).unwrap();
        teardown(agent, m).await;
        if let Some(pod) = pods.iter().find(|p| p.metadata.uid.as_deref() == Some(&uid)) {
            if pod.metadata.deletion_timestamp.is_some() {
                release(agent, pod).await;
            }
        }
    }
    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_some()) {
        // Never started here (or already torn down): just release it.
        if pod
            .metadata
            .uid
            .as_ref()
            .is_some_and(|u| !state.pods.contains_key(u))
        {
            release(agent, pod).await;
        }
    }

    // New pods start side by side: a burst of pods (a Deployment scaled
    // up) should not queue behind each other's CNI calls.
    let to_start: Vec<(String, Arc<Pod>)> = wanted
        .iter()
        .filter(|(uid, _)| !state.pods.contains_key(*uid))
        .filter(|(uid, _)| {
            state
                .failures
                .get(*uid)
                .is_none_or(|(when, _)| when.elapsed() >= Duration::from_secs(2))
        })
        .map(|(uid, pod)| (uid.clone(), pod.clone()))
        .collect();
    let started: Vec<_> = futures::stream::iter(to_start)
        .map(|(uid, pod)| async move {
            let r = start_pod(agent, &pod).await;
            (uid, pod, r)
        })
        .buffer_unordered(PARALLEL_STARTS)
        .collect()
        .await;
    if !started.is_empty() {
        // A burst of starts leaves freed buffers (CNI results, spawn state)
        // that glibc keeps; give them back so the agent's RSS shows what it
        // holds per pod.
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    for (uid, pod, r) in started {
        match r {
            Ok(m) => {
                state.failures.remove(&uid);
                state.pods.insert(uid, m);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::warn!("pod {}: {msg}", pod.metadata.name.as_deref().unwrap_or_default());
                patch_status(agent, &pod, status::pending(&pod, &msg)).await;
                state.failures.insert(uid, (Instant::now(), msg));
            }
        }
    }

    let mut patches = Vec::new();
    for (uid, pod) in wanted {
        let Some(m) = state.pods.get_mut(&uid) else {
            continue;
        };
        keep_running(agent, &pod, m);
        let st = status::running(&pod, &m.rec, &agent.args.node_ip.to_string());
        if m.last_status.as_ref() != Some(&st) {
            m.last_status = Some(st.clone());
            patches.push((pod, st));
        }
    }
    futures::stream::iter(patches)
        .for_each_concurrent(PARALLEL_STARTS, |(pod, st)| async move {
            patch_status(agent, &pod, st).await;
        })
        .await;
}

/// How many pods start (and how many status patches run) at once.
const PARALLEL_STARTS: usize = 8;

/// Let the API server drop a pod being deleted once nothing of it runs
/// here any more (the kubelet's final delete with grace period 0).
async fn release(agent: &Agent, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(
        agent.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    let _ = api
        .delete(pod.metadata.name.as_deref().unwrap_or_default(), &dp)
        .await;
}

async fn patch_status(agent: &Agent, pod: &Pod, st: serde_json::Value) {
    let api: Api<Pod> = Api::namespaced(
        agent.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    if let Err(e) = api
        .patch_status(
            pod.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(st),
        )
        .await
    {
        tracing::warn!("pod status: {e}");
    }
}

async fn start_pod(agent: &Arc<Agent>, pod: &Pod) -> Result<Managed> {
    let r = pod_ref(pod).ok_or_else(|| anyhow::anyhow!("pod without uid or name"))?;
    let specs = container_specs(pod);
    let cfg = agent.runtime.clone();
    let dp = agent.ebpf.get().cloned();
    tokio::task::spawn_blocking(move || -> Result<Managed> {
        let mut rec = sandbox::create(&cfg, &r)?;
        if let Some(dp) = &dp {
            if let Err(e) = super::ebpf::attach(dp, &rec) {
                let _ = sandbox::destroy(&cfg, &rec);
                return Err(e);
            }
        }
        let mut children = HashMap::new();
        for spec in &specs {
            match container::start(&cfg, &rec, spec, 0) {
                Ok(child) => {
                    let process = ProcessRef::of(child.id()).ok();
                    rec.containers.insert(
                        spec.name.clone(),
                        ContainerRecord {
                            process,
                            restarts: 0,
                            last_exit: None,
                            started_at: Some(unix_now()),
                        },
                    );
                    children.insert(spec.name.clone(), child);
                }
                Err(e) => {
                    let _ = sandbox::destroy(&cfg, &rec);
                    return Err(e);
                }
            }
        }
        sandbox::save(&cfg, &rec)?;
        Ok(Managed {
            rec,
            children,
            last_status: None,
        })
    })
    .await?
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Restart exited containers as the pod's restartPolicy says.
fn keep_running(agent: &Agent, pod: &Pod, m: &mut Managed) {
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into());
    let mut changed = false;
    for spec in container_specs(pod) {
        let Some(c) = m.rec.containers.get_mut(&spec.name) else {
            continue;
        };
        let exited: Option<i32> = match m.children.get_mut(&spec.name) {
            Some(child) => match child.try_wait() {
                Ok(Some(st)) => Some(st.code().unwrap_or(137)),
                _ => None,
            },
            // Adopted: we cannot read its exit code, only see it gone.
            None => match c.process {
                Some(p) if !p.alive() => Some(255),
                None => Some(255),
                _ => None,
            },
        };
        let Some(code) = exited else { continue };
        if c.process.is_some() {
            c.last_exit = Some(code);
            c.process = None;
            m.children.remove(&spec.name);
            changed = true;
        }
        let restart = match policy.as_str() {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => true,
        };
        if restart {
            let attempt = c.restarts + 1;
            if let Ok(child) = container::start(&agent.runtime, &m.rec, &spec, attempt) {
                if let Some(c) = m.rec.containers.get_mut(&spec.name) {
                    c.restarts = attempt;
                    c.process = ProcessRef::of(child.id()).ok();
                    c.started_at = Some(unix_now());
                }
                m.children.insert(spec.name.clone(), child);
                changed = true;
            }
        }
    }
    if changed {
        let _ = sandbox::save(&agent.runtime, &m.rec);
    }
}

async fn teardown(agent: &Arc<Agent>, mut m: Managed) {
    let cfg = agent.runtime.clone();
    let name = format!("{}/{}", m.rec.pod.namespace, m.rec.pod.name);
    let rec = m.rec.clone();
    let dp = agent.ebpf.get().cloned();
    let res = tokio::task::spawn_blocking(move || {
        // Off the veth before CNI DEL removes it.
        if let Some(dp) = &dp {
            if let Err(e) = super::ebpf::detach(dp, &rec) {
                tracing::warn!("{e:#}");
            }
        }
        sandbox::destroy(&cfg, &rec)
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
