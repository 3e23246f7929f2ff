//! The pods bound to this node: make their sandboxes and containers, keep the
//! containers running per restartPolicy, report status, and tear everything
//! down when a pod is deleted. Sandboxes found on disk at start are adopted,
//! so restarting the agent disturbs no running pod.
//!
//! New pods wait in a queue, first seen first; each starts in its own task
//! once one of a bounded number of slots is free, and reports its status
//! as soon as it runs: a burst of pods (a Deployment scaled up) neither
//! waits for the slowest pod of its batch nor holds up the watch, so pods
//! bound a moment later start a moment later.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use labyrinth_contracts::events::Reason;
use labyrinth_contracts::pod::SlimPod;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::lifecycle::{self, Managed};
use super::nodepod::NodePod;
use super::pod_store::PodStore;
use super::probes;
use super::status;
use crate::agent::context::Agent;
use crate::runtime::sandbox;
use crate::runtime::stages::Stages;

/// How many pods start at once: one per core, at least two. A start is
/// mostly CPU (three processes exec'd, a network namespace made, netlink
/// changes) with short waits between (the status PATCH, the CNI call, the
/// RTNL lock); more starts at once only time-slice against each other, so
/// that every pod of a burst is late instead of the first ones being early
/// (first come, first served keeps the worst start latency lowest). On two
/// cores with two nodes (bench_pods), two per core and one per core gave the
/// same burst latencies, and one per core left the agents ~1 KiB less per
/// pod (5.4–5.5 against 6.3–6.6 KiB): fewer starts' buffers live at once,
/// so fewer pages stay half used after the burst. One start at a time was
/// slower (docs/performance.md).
fn parallel_starts() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.clamp(2, 32)
}

/// Pod writes (status PATCHes, final deletes) in flight at once, across
/// all tasks. Bounded since kube's HTTP/1.1 client opened a connection per
/// request in flight (a burst of 50 pods with 12 writes in flight left
/// ~0.5 MiB of idle connections behind); the client now multiplexes them
/// on one HTTP/2 connection (`contracts::api_client`), and one at a time
/// still keeps up with the starts (a PATCH is a few ms, a pod start several).
static WRITES: Semaphore = Semaphore::const_new(1);

/// A start that finished, successfully or not, in its own task.
struct Started {
    uid: String,
    result: Result<Managed, String>,
}

struct State {
    /// Boxed: the map keeps spare slots as it grows, and a slot of a
    /// Box is 8 bytes where a Managed is ~260.
    pods: HashMap<String, Box<Managed>>,
    /// Pods waiting for a start slot, first seen first, with when they
    /// were seen. A start's task (~2.7 KiB: the start and the status PATCH
    /// futures) is spawned only once it has a slot: a burst of pods does
    /// not hold a task each while it waits, whose freed blocks would stay
    /// scattered over the heap afterwards.
    queue: VecDeque<(String, Instant)>,
    /// Starts queued or in progress (uid): neither started again nor
    /// released.
    starting: HashSet<String>,
    /// Pods to tear down, in the order they went, each with its final
    /// delete to send afterwards (if it is being deleted, not just done)
    /// and whether its logs stay (it ran to completion).
    to_stop: VecDeque<(Box<Managed>, Option<Arc<NodePod>>, bool)>,
    /// Pods run to completion, torn down but for their logs (`kubectl
    /// logs` reads them): removed once the pod is deleted.
    kept_logs: HashMap<String, crate::runtime::PodRef>,
    /// Teardowns in progress (uid): a teardown runs in its own task, so a
    /// mass delete (~50 ms per pod: processes stopped, CNI DEL, netns
    /// unmounted) does not hold up this loop and new pods' starts.
    stopping: HashSet<String>,
    stop_slots: Arc<Semaphore>,
    stopped: mpsc::UnboundedSender<(String, bool)>,
    /// Pods released (the final delete sent) that the watch still lists:
    /// not released again on every pass until it reports them gone, which
    /// after a mass delete was one DELETE per remaining pod per event,
    /// holding this loop (and new pods' starts) for seconds.
    released: HashSet<String>,
    /// uid → (when it last failed, why), to back off and to report.
    failures: HashMap<String, (Instant, String)>,
    slots: Arc<Semaphore>,
    /// A start gave its slot back (before its status PATCH): the next
    /// queued pod may start without waiting for another event.
    freed: Arc<Notify>,
    /// Boxed: the channel keeps its blocks of 32 slots, and a Started in
    /// place (the whole Managed record) made each ~10 KiB.
    done: mpsc::UnboundedSender<Box<Started>>,
    /// Where probes answer (`super::probes`).
    probed: mpsc::UnboundedSender<probes::Outcome>,
}

pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let api: Api<SlimPod> = Api::all(agent.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", agent.node_name));
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut store = PodStore::default();

    let (done, mut finished) = mpsc::unbounded_channel();
    let (stopped, mut torn_down) = mpsc::unbounded_channel();
    let (probed, mut probe_answers) = mpsc::unbounded_channel();
    let mut state = State {
        pods: HashMap::new(),
        queue: VecDeque::new(),
        starting: HashSet::new(),
        released: HashSet::new(),
        to_stop: VecDeque::new(),
        kept_logs: HashMap::new(),
        stopping: HashSet::new(),
        stop_slots: Arc::new(Semaphore::new(parallel_starts())),
        stopped,
        failures: HashMap::new(),
        slots: Arc::new(Semaphore::new(parallel_starts())),
        freed: Arc::new(Notify::new()),
        done,
        probed,
    };
    adopt(&agent, &mut state).await;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let freed = state.freed.clone();
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(ev)) => {
                    store.apply(ev);
                    // The events already received go in before one pass:
                    // a burst of pods (and of their status changes) came
                    // as one pass per event, each over every pod of the
                    // node, CPU the starts were waiting for.
                    loop {
                        match stream.next().now_or_never() {
                            Some(Some(Ok(ev))) => store.apply(ev),
                            Some(Some(Err(e))) => { tracing::warn!("pod watch: {e}"); break; }
                            Some(None) => anyhow::bail!("pod watch ended"),
                            None => break,
                        }
                    }
                }
                Some(Err(e)) => { tracing::warn!("pod watch: {e}"); continue; }
                None => anyhow::bail!("pod watch ended"),
            },
            Some(s) = finished.recv() => state.finish(*s),
            _ = freed.notified() => {}
            Some(o) = probe_answers.recv() => {
                if let Some(m) = state.pods.get_mut(&o.uid) {
                    let pod = store.get(&o.uid);
                    m.report |= probes::apply(&agent, pod.as_deref(), &m.rec, &mut m.probes, o);
                }
            }
            Some((uid, released)) = torn_down.recv() => {
                state.stopping.remove(&uid);
                if released {
                    state.released.insert(uid);
                }
            }
            _ = tick.tick() => {}
        }
        // Until the first list is complete, an empty or partial store would
        // look like "every pod was deleted": adopted pods would be torn down.
        if store.ready() {
            reconcile(&agent, &mut state, store.pods()).await;
        }
    }
}

impl State {
    fn finish(&mut self, s: Started) {
        self.starting.remove(&s.uid);
        match s.result {
            Ok(m) => {
                self.failures.remove(&s.uid);
                self.pods.insert(s.uid, Box::new(m));
            }
            Err(msg) => {
                self.failures.insert(s.uid, (Instant::now(), msg));
            }
        }
        if self.starting.is_empty() {
            // A burst of starts leaves freed buffers (CNI results, spawn
            // state, HTTP bodies) that glibc keeps; give them back so the
            // agent's RSS shows what it holds per pod.
            // SAFETY: malloc_trim only walks the allocator's own free lists;
            // mallinfo2 only reads its counters.
            let m = unsafe {
                libc::malloc_trim(0);
                libc::mallinfo2()
            };
            tracing::info!(
                pods = self.pods.len(),
                heap_in_use_kib = (m.uordblks + m.hblkhd) / 1024,
                heap_free_kib = m.fordblks / 1024,
                "pod starts done"
            );
        }
    }
}

/// Pick up the sandboxes a previous agent left running.
async fn adopt(agent: &Arc<Agent>, state: &mut State) {
    let cfg = agent.runtime.clone();
    let recs = tokio::task::spawn_blocking(move || sandbox::load_all(&cfg)).await;
    for rec in recs.ok().and_then(|r| r.ok()).unwrap_or_default() {
        if rec.pause.alive() {
            tracing::info!("adopting running pod {}/{}", rec.pod.namespace, rec.pod.name);
            crate::nodenet::ebpf::attach_adopted(agent.ebpf.get().cloned(), &rec).await;
            state
                .pods
                .insert(rec.pod.uid.clone(), Box::new(Managed::adopted(rec)));
        } else {
            let cfg = agent.runtime.clone();
            let _ = tokio::task::spawn_blocking(move || sandbox::destroy(&cfg, &rec)).await;
        }
    }
}

async fn reconcile(agent: &Arc<Agent>, state: &mut State, pods: Vec<Arc<NodePod>>) {
    // By uid, borrowed: this runs on every watch event and every tick.
    let mut wanted: HashMap<&str, &Arc<NodePod>> = HashMap::with_capacity(pods.len());
    for pod in &pods {
        // A static pod's mirror is only its picture (`super::mirror_pods`).
        let mirror = super::static_pods::is_static(pod.namespace(), pod.name());
        if !pod.deleting() && !pod.terminal() && !mirror {
            wanted.insert(pod.uid(), pod);
        }
    }

    // Deleted, or being deleted: tear down, then let the object go.
    let gone: Vec<String> = state
        .pods
        .keys()
        .filter(|uid| !wanted.contains_key(uid.as_str()))
        .cloned()
        .collect();
    for uid in gone {
        let m = state.pods.remove(&uid).unwrap();
        let deleting = pods.iter().find(|p| p.uid() == uid && p.deleting()).cloned();
        let completed = pods
            .iter()
            .any(|p| p.uid() == uid && p.terminal() && !p.deleting());
        if completed {
            state.kept_logs.insert(uid.clone(), m.rec.pod.clone());
        }
        state.stopping.insert(uid);
        state.to_stop.push_back((m, deleting, completed));
    }
    while !state.to_stop.is_empty() {
        let Ok(slot) = state.stop_slots.clone().try_acquire_owned() else {
            break;
        };
        let (m, deleting, keep_logs) = state.to_stop.pop_front().unwrap();
        let (agent, stopped) = (agent.clone(), state.stopped.clone());
        tokio::spawn(async move {
            let uid = m.rec.pod.uid.clone();
            lifecycle::teardown(&agent, *m, keep_logs, deleting.clone()).await;
            // The final delete only once nothing of it runs here.
            let released = match &deleting {
                Some(pod) => release(&agent, pod).await,
                None => false,
            };
            drop(slot);
            let _ = stopped.send((uid, released));
        });
    }
    for pod in pods.iter().filter(|p| p.deleting()) {
        // Never started here: release it, once. One still starting is torn
        // down (and released) once its start ends; one being torn down is
        // released by its teardown.
        let u = pod.uid();
        if !state.pods.contains_key(u)
            && !state.starting.contains(u)
            && !state.stopping.contains(u)
            && !state.released.contains(u)
            && release(agent, pod).await
        {
            state.released.insert(u.to_string());
        }
    }
    if !state.kept_logs.is_empty() {
        let kept: HashSet<&str> = pods.iter().filter(|p| !p.deleting()).map(|p| p.uid()).collect();
        let cfg = &agent.runtime;
        state.kept_logs.retain(|uid, pod| {
            let keep = kept.contains(uid.as_str());
            if !keep {
                crate::runtime::logs::remove(cfg, pod);
            }
            keep
        });
    }
    if !state.released.is_empty() {
        let listed: HashSet<&str> = pods.iter().map(|p| p.uid()).collect();
        state.released.retain(|u| listed.contains(u.as_str()));
    }

    // Queued pods deleted before their start: they never start.
    state.queue.retain(|(uid, _)| {
        let keep = wanted.contains_key(uid.as_str());
        if !keep {
            state.starting.remove(uid);
        }
        keep
    });
    let mut new: Vec<&str> = wanted
        .keys()
        .copied()
        .filter(|uid| {
            !state.pods.contains_key(*uid) && !state.starting.contains(*uid) && !state.stopping.contains(*uid)
        })
        .filter(|uid| {
            state
                .failures
                .get(*uid)
                .is_none_or(|(when, _)| when.elapsed() >= Duration::from_secs(2))
        })
        .collect();
    // Pods come one watch event at a time, so the queue keeps their order;
    // several new at once (after a relist) go in uid order.
    new.sort_unstable();
    let now = Instant::now();
    for uid in new {
        state.starting.insert(uid.to_string());
        state.queue.push_back((uid.to_string(), now));
    }
    while !state.queue.is_empty() {
        let Ok(slot) = state.slots.clone().try_acquire_owned() else {
            break;
        };
        let (uid, seen) = state.queue.pop_front().unwrap();
        let pod = Arc::clone(wanted[uid.as_str()]);
        let (agent, done, freed) = (agent.clone(), state.done.clone(), state.freed.clone());
        tokio::spawn(async move {
            let result = start_and_report(&agent, &pod, seen, slot, &freed).await;
            let _ = done.send(Box::new(Started { uid, result }));
        });
    }

    let mut reports = Vec::new();
    for (uid, pod) in wanted {
        let Some(m) = state.pods.get_mut(uid) else {
            continue;
        };
        let restarted = super::init_containers::advance(agent, pod, m)
            | lifecycle::keep_running(agent, pod, m)
            | super::ephemeral::keep(agent, pod, m);
        let reprobed = probes::schedule(agent, pod, &m.rec, &mut m.probes, &state.probed);
        // An adopted pod's status waits for its probes' first verdict
        // (unless a container restarted: that is news of its own).
        let hold = !restarted && m.probes.undecided();
        m.report |= reprobed && hold;
        if (restarted || reprobed || m.report) && !hold {
            let st = status::running(pod, &m.rec, &m.probes, &agent.args.node_ip.to_string());
            reports.push((uid.to_string(), Arc::clone(pod), st));
        }
    }
    let sent: Vec<(String, bool)> = futures::stream::iter(reports)
        .map(|(uid, pod, st)| async move { (uid, patch_status(agent, &pod, move || st).await) })
        .buffer_unordered(2)
        .collect()
        .await;
    for (uid, ok) in sent {
        if let Some(m) = state.pods.get_mut(&uid) {
            m.report = !ok;
        }
    }
}

/// Start one pod (it holds its slot until its processes run) and report it
/// Running (or Pending, with why) right away; log where the time went since
/// it was first seen.
async fn start_and_report(
    agent: &Arc<Agent>,
    pod: &NodePod,
    seen: Instant,
    slot: OwnedSemaphorePermit,
    freed: &Notify,
) -> Result<Managed, String> {
    if let Some((reason, msg)) = super::admission::refusal(pod, &agent.args.allowed_unsafe_sysctls) {
        tracing::warn!("pod {}/{}: {msg}", pod.namespace(), pod.name());
        let events = &agent.events;
        super::events::emit(events, &pod.pod_ref(), None, Reason::SysctlForbidden, msg.clone());
        patch_status(agent, pod, || status::rejected(reason, &msg)).await;
        return Err(msg);
    }
    let mut stages = Stages::since(seen);
    stages.mark("queued");
    // Boxed, and freed once the start is done: the task lives on waiting
    // for its status write, and a burst's waiting tasks each held the
    // start's whole state (~1.6 KiB) in the heap's high-water mark.
    let started = Box::pin(lifecycle::start(agent, pod, stages)).await;
    // The status PATCH waits for the API (and for the other writes) and
    // costs this node little: the slot goes to the next queued pod now,
    // not after it; a burst's pods queued behind every PATCH before.
    drop(slot);
    freed.notify_one();
    match started {
        Ok((mut m, mut stages)) => {
            probes::prepare(pod, &m.rec, &mut m.probes);
            let ip = agent.args.node_ip.to_string();
            m.report = !patch_status(agent, pod, || status::running(pod, &m.rec, &m.probes, &ip)).await;
            stages.mark("status");
            tracing::info!(
                "pod {}/{} running in {:.1} ms ({stages})",
                pod.namespace(),
                pod.name(),
                stages.total().as_secs_f64() * 1000.0
            );
            Ok(m)
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::warn!("pod {}/{}: {msg}", pod.namespace(), pod.name());
            patch_status(agent, pod, || status::pending(pod, &msg)).await;
            Err(msg)
        }
    }
}

/// Let the API server drop a pod being deleted once nothing of it runs
/// here any more (the kubelet's final delete with grace period 0); true
/// once the server has let it go (or it was gone already).
async fn release(agent: &Agent, pod: &NodePod) -> bool {
    let api: Api<SlimPod> = Api::namespaced(agent.client.clone(), pod.namespace());
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    let _slot = WRITES.acquire().await;
    // The answer (the deleted object, or a Status) is not needed.
    match api.delete(pod.name(), &dp).await {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 404 => true,
        Err(e) => {
            tracing::warn!("releasing pod {}/{}: {e}", pod.namespace(), pod.name());
            false
        }
    }
}

/// PATCH the pod's status (made by `st` once this write's turn came: a
/// burst's starts waiting for it held their statuses, a few hundred
/// allocations each, in the heap's high-water mark); true if the server
/// took it.
async fn patch_status(agent: &Agent, pod: &NodePod, st: impl FnOnce() -> serde_json::Value) -> bool {
    let api: Api<SlimPod> = Api::namespaced(agent.client.clone(), pod.namespace());
    let asked = Instant::now();
    let _slot = WRITES.acquire().await;
    let st = st();
    let sent = Instant::now();
    let answer = api
        .patch_status(pod.name(), &PatchParams::default(), &Patch::Merge(st))
        .await;
    tracing::debug!(
        pod = pod.name(),
        waited_ms = (sent - asked).as_secs_f64() * 1000.0,
        request_ms = sent.elapsed().as_secs_f64() * 1000.0,
        "status PATCH"
    );
    match answer {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("pod status: {e}");
            false
        }
    }
}
