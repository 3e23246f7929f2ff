//! Events as `kubectl get events` shows them after a rollout: the scheduler
//! and the Deployment/ReplicaSet controllers record them with the real
//! reasons, the server lists them with the real columns, a repeat is
//! counted on one event, and events older than the TTL expire.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, ObjectReference};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use labyrinth_contracts::events::Reason;
use labyrinth_contracts::recorder::Recorder;
use labyrinth_controllers::{run_all, ControllersConfig};
use serde_json::json;

mod common;
use common::{kubectl, server, wait_for};

async fn events_with(client: &Client, reason: &str, count: usize) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for(&format!("{count} {reason} events"), || async {
        let evs = api.list(&ListParams::default()).await.ok()?.items;
        let hits: Vec<Event> = evs
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .collect();
        (hits.len() >= count).then_some(hits)
    })
    .await
}

/// An object of namespace `default`, as an Event names it.
/// Each event's object and the nanosecond it was written, from its name
/// (`<object>.<hex nanoseconds>`), in the order they were written.
fn written_in_order(events: &[Event]) -> Vec<(String, u64)> {
    let mut written: Vec<(String, u64)> = events
        .iter()
        .map(|e| {
            let name = e.metadata.name.as_deref().unwrap();
            let (object, nanos) = name.rsplit_once('.').unwrap();
            (object.to_string(), u64::from_str_radix(nanos, 16).unwrap())
        })
        .collect();
    written.sort_by_key(|(_, nanos)| *nanos);
    written
}

fn object_in_default(kind: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        kind: Some(kind.into()),
        namespace: Some("default".into()),
        name: Some(name.into()),
        uid: Some(uid.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollout_leaves_events_kubectl_lists() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let kc = running.admin_kubeconfig.clone();

    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}))
            .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
        "reason": "KubeletReady", "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    nodes
        .patch_status("node-1", &PatchParams::default(), &Patch::Merge(&ready))
        .await
        .unwrap();

    let ctl = tokio::spawn(run_all(client.clone(), ControllersConfig::default()));
    let deploy = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: busybox}]}
"#;
    let f = home.path().join("d.yaml");
    std::fs::write(&f, deploy).unwrap();
    let kc2 = kc.clone();
    let h = home.path().to_path_buf();
    tokio::task::spawn_blocking(move || kubectl(&kc2, &h, &["apply", "-f", f.to_str().unwrap()]))
        .await
        .unwrap();

    let scaled = events_with(&client, "ScalingReplicaSet", 1).await;
    let m = scaled[0].message.clone().unwrap_or_default();
    assert!(
        m.starts_with("Scaled up replica set web-") && m.ends_with(" from 0 to 2"),
        "{m}"
    );
    assert_eq!(scaled[0].involved_object.kind.as_deref(), Some("Deployment"));
    let created = events_with(&client, "SuccessfulCreate", 2).await;
    assert!(created.iter().all(|e| e
        .message
        .as_deref()
        .unwrap_or("")
        .starts_with("Created pod: web-")));
    let scheduled = events_with(&client, "Scheduled", 2).await;
    assert!(scheduled
        .iter()
        .all(|e| e.message.as_deref().unwrap_or("").ends_with(" to node-1")
            && e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("default-scheduler")));

    // kubectl's view: the real columns, one row per event.
    let (kc2, h) = (kc.clone(), home.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || kubectl(&kc2, &h, &["get", "events"]))
        .await
        .unwrap();
    let header: Vec<&str> = out.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{out}"
    );
    for want in [
        "ScalingReplicaSet",
        "deployment/web",
        "replicaset/web-",
        "pod/web-",
        "Scheduled",
    ] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }

    // Scale down: the deleted pod and the scaling are recorded.
    let d: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), "default");
    d.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let deleted = events_with(&client, "SuccessfulDelete", 1).await;
    assert!(deleted[0]
        .message
        .as_deref()
        .unwrap_or("")
        .starts_with("Deleted pod: web-"));
    wait_for("a scale-down event", || async {
        let evs = events_with(&client, "ScalingReplicaSet", 1).await;
        evs.iter()
            .any(|e| e.message.as_deref().unwrap_or("").ends_with(" from 2 to 1"))
            .then_some(())
    })
    .await;

    // One (object, reason, message) recorded twice is one event counted twice.
    let rec = Recorder::new(client.clone(), "test-recorder");
    let about = object_in_default("Pod", "someone", "u-1");
    rec.record(about.clone(), Reason::FailedScheduling, "no nodes fit".into());
    let first = events_with(&client, "FailedScheduling", 1).await;
    assert_eq!(first[0].type_.as_deref(), Some("Warning"));
    rec.record(about, Reason::FailedScheduling, "no nodes fit".into());
    let api: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for("the repeat counted", || async {
        let evs = api.list(&ListParams::default()).await.ok()?.items;
        let same: Vec<&Event> = evs
            .iter()
            .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .collect();
        (same.len() == 1 && same[0].count == Some(2)).then_some(())
    })
    .await;

    // client-go's correlation: 30 pods created at once by one ReplicaSet
    // are 9 events of their own and one combined event counting the 10th
    // to the 25th; the object's budget (25) drops the rest.
    let rs = object_in_default("ReplicaSet", "many", "u-many");
    for i in 0..30 {
        rec.record(
            rs.clone(),
            Reason::SuccessfulCreate,
            format!("Created pod: many-{i}"),
        );
    }
    let combined = labyrinth_contracts::event_correlation::COMBINED;
    wait_for("9 events and a combined one", || async {
        let evs = api.list(&ListParams::default()).await.ok()?.items;
        let mine: Vec<&Event> = evs
            .iter()
            .filter(|e| e.involved_object.name.as_deref() == Some("many"))
            .collect();
        let (joined, own): (Vec<&Event>, Vec<&Event>) = mine
            .iter()
            .partition(|e| e.message.as_deref().unwrap_or("").starts_with(combined));
        let all_own = own.len() == 9 && own.iter().all(|e| e.count == Some(1));
        let last = format!("{combined}Created pod: many-24");
        (all_own
            && joined.len() == 1
            && joined[0].count == Some(16)
            && joined[0].message.as_deref() == Some(last.as_str()))
        .then_some(())
    })
    .await;

    // Expiry: an event last seen two hours ago goes, a fresh one stays.
    let old = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "old.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"},
        "reason": "Old", "message": "long ago", "type": "Normal",
        "lastTimestamp": (k8s_openapi::jiff::Timestamp::now() - Duration::from_secs(7200)).to_string()});
    api.create(&PostParams::default(), &serde_json::from_value(old).unwrap())
        .await
        .unwrap();
    let st = running.state.clone();
    let gone = tokio::task::spawn_blocking(move || {
        labyrinth_apiserver::events::expire(
            &st,
            labyrinth_apiserver::events::EVENT_TTL,
            k8s_openapi::jiff::Timestamp::now(),
        )
    })
    .await
    .unwrap();
    assert_eq!(gone, 1);
    let left = api.list(&ListParams::default()).await.unwrap().items;
    assert!(left.iter().all(|e| e.reason.as_deref() != Some("Old")));
    assert!(left.iter().any(|e| e.reason.as_deref() == Some("Scheduled")));

    ctl.abort();
    running.shutdown();
}

/// A node's recorder is limited as the kubelet's event client is: `burst`
/// writes go at once, the next waits for the bucket to refill (here one
/// token per 5 s), and none is lost. The wait is read from the events
/// themselves: each is named after the nanosecond it was written, so a
/// busy machine can only make the gap longer, never shorter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_recorder_writes_its_burst_then_waits_for_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let rate = labyrinth_contracts::event_rate::EventRate { qps: 0.2, burst: 2 };
    let rec = Recorder::limited(client.clone(), "test-kubelet", Some("node-1".into()), rate);
    for i in 0..3 {
        let about = object_in_default("Pod", &format!("p{i}"), &format!("u-p{i}"));
        rec.record(about, Reason::Started, "Started container c".into());
    }
    let all = events_with(&client, "Started", 3).await;
    assert_eq!(all.len(), 3);
    assert!(all
        .iter()
        .all(|e| e.source.as_ref().and_then(|s| s.host.as_deref()) == Some("node-1")));
    let written = written_in_order(&all);
    let objects: Vec<&str> = written.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(objects, ["p0", "p1", "p2"]);
    // The third waited for a token: 5 s after the second's was taken,
    // which was after the second was written.
    let gap = Duration::from_nanos(written[2].1 - written[1].1);
    assert!(
        gap >= Duration::from_millis(4900),
        "the third event came {gap:?} after the second"
    );
    running.shutdown();
}

/// Events yield to the work they describe: while a component keeps
/// recording (here every 50 ms), nothing is written; the held events go out
/// once it has been quiet for 100 ms, all of them, in order. Read from the
/// events' names (the nanosecond each was written), so a busy machine can
/// only make the wait longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_until_their_component_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let rec = Recorder::new(client.clone(), "test-busy");
    let mut last_recorded = 0u64;
    for i in 0..6 {
        let about = object_in_default("Pod", &format!("busy{i}"), &format!("u-busy{i}"));
        last_recorded = u64::try_from(k8s_openapi::jiff::Timestamp::now().as_nanosecond()).unwrap();
        rec.record(about, Reason::Pulled, "image present".into());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = events_with(&client, "Pulled", 6).await;
    let written = written_in_order(&all);
    let objects: Vec<&str> = written.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(objects, ["busy0", "busy1", "busy2", "busy3", "busy4", "busy5"]);
    let first_after_last = Duration::from_nanos(written[0].1.saturating_sub(last_recorded));
    assert!(
        written[0].1 > last_recorded && first_after_last >= Duration::from_millis(95),
        "the first event was written {first_after_last:?} after the last was recorded"
    );
    running.shutdown();
}

/// A component still at work without recording (the scheduler while the
/// pods it bound are started) holds its Events the same way: one recorded
/// event is written only once `busy` has not been called for 100 ms. The
/// calls come every 20 ms for 300 ms, so only a stall of 80 ms between two
/// of them on a busy machine could let the event out early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_while_their_component_says_it_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let rec = Recorder::new(client.clone(), "test-busy-only");
    let about = object_in_default("Pod", "held", "u-held");
    rec.record(about, Reason::Scheduled, "assigned".into());
    let mut last_busy = 0u64;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        last_busy = u64::try_from(k8s_openapi::jiff::Timestamp::now().as_nanosecond()).unwrap();
        rec.busy();
    }
    let all = events_with(&client, "Scheduled", 1).await;
    let written = written_in_order(&all);
    assert_eq!(written.len(), 1);
    let after_busy = Duration::from_nanos(written[0].1.saturating_sub(last_busy));
    assert!(
        written[0].1 > last_busy && after_busy >= Duration::from_millis(95),
        "the event was written {after_busy:?} after the component last said it was busy"
    );
    running.shutdown();
}

/// `when_drained` runs once the writer has emptied its queue: after a held
/// batch is written (three recorded at once make one batch, unless the
/// machine stalls 100 ms between two records: at most three), and a later
/// lone event is a batch of its own, run once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_hook_runs_once_a_held_batch_is_written() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DRAINS: AtomicUsize = AtomicUsize::new(0);
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let rec = Recorder::new(client.clone(), "test-drain");
    rec.when_drained(|| {
        DRAINS.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..3 {
        let about = object_in_default("Pod", &format!("drain{i}"), &format!("u-drain{i}"));
        rec.record(about, Reason::Created, "created".into());
    }
    events_with(&client, "Created", 3).await;
    let after_batch = wait_for("the hook after the batch", || async {
        Some(DRAINS.load(Ordering::SeqCst)).filter(|n| *n >= 1)
    })
    .await;
    assert!(after_batch <= 3, "{after_batch} runs for three events");
    rec.record(
        object_in_default("Pod", "drain3", "u-drain3"),
        Reason::Started,
        "started".into(),
    );
    events_with(&client, "Started", 1).await;
    wait_for("the hook after the lone event", || async {
        (DRAINS.load(Ordering::SeqCst) == after_batch + 1).then_some(())
    })
    .await;
    running.shutdown();
}
