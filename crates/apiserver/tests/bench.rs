//! Benchmarks (JSON on stdout), each against a baseline in the same run:
//!   cargo test -p labyrinth-apiserver --release --test bench -- --ignored --nocapture
//! BENCH_PODS (default 150000) sets the large pod count.
//! `bench_etcd_vs_embedded` alone (needs Debian's etcd-server):
//!   cargo test -p labyrinth-apiserver --release --test bench -- --ignored --nocapture bench_etcd
//! BENCH_CREATES (default 500) sets the creates per run there.
//! `bench_list_and_event_memory` alone (issue 17, point 6; alone, since
//! it reads the process's RSS and other benchmarks would share it):
//!   cargo test -p labyrinth-apiserver --release --test bench -- --ignored --nocapture bench_list_and_event_memory
//! BENCH_EVENT_ROUNDS (default 4) sets how many times 10,000 Events are
//! written and expired there.

mod common;
use common::etcd::Etcd;
use common::TestServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, PostParams, WatchParams};
use labyrinth_apiserver::store::Backend;
use serde_json::json;
use std::time::{Duration, Instant};

/// The Kubernetes scalability envelope's other two numbers.
const NODES: usize = 5_000;
const SERVICES: usize = 10_000;

/// BENCH_PODS, or the envelope's 150,000.
fn bench_pods() -> usize {
    std::env::var("BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150_000)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pod(i: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("p-{i}"), "namespace": "default", "uid": format!("u-{i}"),
            "labels": {"app": format!("app-{}", i % 100)}, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": format!("node-{}", i % 5000), "containers": [{"name": "c", "image": "docker.io/library/busybox",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256)}})
}

async fn create_rate(c: &kube::Client, prefix: &str, n: usize) -> f64 {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(c.clone(), "default");
    let t = Instant::now();
    for i in 0..n {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("{prefix}-{i}")}, "data": {"k": "v"}}),
        )
        .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// `n` ConfigMap watchers draining every event; each ends 10 s after its
/// last event and says how many it got.
async fn watchers(c: &kube::Client, n: usize) -> Vec<tokio::task::JoinHandle<usize>> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(c.clone(), "default");
        let mut st = api.watch(&WatchParams::default(), "0").await.unwrap().boxed();
        seen.push(tokio::spawn(async move {
            let mut k = 0usize;
            while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(10), st.next()).await {
                k += 1;
            }
            k
        }));
    }
    seen
}

#[test]
#[ignore]
fn bench() {
    let pods = bench_pods();
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let kc = s.kubeconfig();
    let store = s.running().state.store.clone();
    let rt = common::runtime();
    let out = rt.block_on(async move {
        let c = common::kube_client(&kc).await;
        let n = 1000;
        let base_rate = create_rate(&c, "base", n).await;
        // Three watchers draining every event.
        let seen = watchers(&c, 3).await;
        let watched_rate = create_rate(&c, "watched", n).await;
        let mut delivered = Vec::new();
        for h in seen {
            delivered.push(h.await.unwrap());
        }

        // Memory: small pod set as baseline, then the large one.
        let rss0 = rss_kib();
        for i in 0..pods {
            store.create("pods", "default", &format!("p-{i}"), pod(i)).unwrap();
        }
        let rss1 = rss_kib();
        let json_bytes = serde_json::to_vec(&pod(1)).unwrap().len();
        let api: kube::Api<Pod> = kube::Api::all(c.clone());
        let t = Instant::now();
        let all = api.list(&ListParams::default()).await.unwrap();
        let list_all = t.elapsed().as_secs_f64();
        assert_eq!(all.items.len(), pods);
        let all_rv = all.metadata.resource_version.clone().unwrap();
        drop(all);
        // The same list split in two: the server's part (the whole body
        // received as bytes, through TLS and HTTP) and the client's (kube-rs
        // decoding those bytes into typed Pods), which the figure above sums.
        let t = Instant::now();
        let req = axum::http::Request::get("/api/v1/pods").body(Vec::new()).unwrap();
        let body = c.request_text(req).await.unwrap();
        let list_bytes_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let decoded: kube::core::ObjectList<Pod> = serde_json::from_str(&body).unwrap();
        let decode_s = t.elapsed().as_secs_f64();
        assert_eq!(decoded.items.len(), pods);
        let list_body_bytes = body.len();
        drop((decoded, body));
        let t = Instant::now();
        let one_node = api.list(&ListParams::default().fields("spec.nodeName=node-7")).await.unwrap();
        let list_node = t.elapsed().as_secs_f64();
        assert!(!one_node.items.is_empty());
        // The rest of the scalability envelope, held as objects: 5,000
        // Nodes and 10,000 Services next to the pods.
        for i in 0..NODES {
            let node = json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": format!("node-{i}"), "uid": format!("n-{i}"), "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"kubernetes.io/hostname": format!("node-{i}")}},
                "spec": {"podCIDR": format!("10.{}.{}.0/24", i / 256, i % 256)},
                "status": {"addresses": [{"type": "InternalIP", "address": format!("10.168.{}.{}", i / 256, i % 256)}]}});
            store.create("nodes", "", &format!("node-{i}"), node).unwrap();
        }
        for i in 0..SERVICES {
            let svc = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("svc-{i}"), "namespace": "default", "uid": format!("s-{i}"), "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"clusterIP": format!("10.96.{}.{}", i / 256, i % 256 + 1), "selector": {"app": format!("app-{}", i % 100)},
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}});
            store.create("services", "default", &format!("svc-{i}"), svc).unwrap();
        }
        let rss2 = rss_kib();
        let t = Instant::now();
        let nodes = kube::Api::<k8s_openapi::api::core::v1::Node>::all(c.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let list_nodes = t.elapsed().as_secs_f64();
        assert_eq!(nodes.items.len(), NODES);
        let t = Instant::now();
        let svcs = kube::Api::<k8s_openapi::api::core::v1::Service>::all(c.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let list_services = t.elapsed().as_secs_f64();
        assert!(svcs.items.len() >= SERVICES);
        // A watch from the current resourceVersion still delivers at this
        // size.
        let pods_api: kube::Api<Pod> = kube::Api::namespaced(c.clone(), "default");
        let mut w = pods_api
            .watch(&WatchParams::default(), &all_rv)
            .await
            .unwrap()
            .boxed();
        let t = Instant::now();
        let extra: Pod = serde_json::from_value(pod(pods + 1)).unwrap();
        pods_api.create(&PostParams::default(), &extra).await.unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(30), w.next()).await;
        let watch_event_s = t.elapsed().as_secs_f64();
        assert!(matches!(ev, Ok(Some(Ok(_)))), "no watch event at full size: {ev:?}");
        let nsapi: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(c.clone());
        let t = Instant::now();
        nsapi.list(&ListParams::default()).await.unwrap();
        let list_small = t.elapsed().as_secs_f64();
        json!({
            "create_per_s_no_watchers": base_rate,
            "create_per_s_3_watchers": watched_rate,
            "create_rate_ratio_3_watchers_vs_none": watched_rate / base_rate,
            "events_delivered_per_watcher": delivered,
            "pods_held": pods,
            "memory_kib_per_1000_pods": (rss1.saturating_sub(rss0)) as f64 * 1000.0 / pods as f64,
            "pod_json_bytes": json_bytes,
            "memory_ratio_vs_json_size": (rss1.saturating_sub(rss0)) as f64 * 1024.0 / pods as f64 / json_bytes as f64,
            "list_all_pods_s": list_all,
            "list_all_pods_received_as_bytes_s": list_bytes_s,
            "list_all_pods_client_decode_s": decode_s,
            "list_all_pods_body_bytes": list_body_bytes,
            "list_pods_field_selector_s": list_node,
            "list_namespaces_s_baseline": list_small,
            "list_all_vs_baseline_ratio": list_all / list_small,
            "nodes_held": NODES,
            "services_held": SERVICES,
            "memory_kib_nodes_and_services": rss2.saturating_sub(rss1),
            "list_nodes_s": list_nodes,
            "list_services_s": list_services,
            "watch_event_at_full_size_s": watch_event_s,
            "total_rss_mib": rss_kib() as f64 / 1024.0,
        })
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    assert!(out["events_delivered_per_watcher"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d.as_u64().unwrap() >= 1000));
}

/// Creates per second with three watchers draining every event, on one
/// server; and how many events each watcher got.
fn watched_create_rate(s: &TestServer, prefix: &str, n: usize) -> (f64, Vec<usize>) {
    let kc = s.kubeconfig();
    let rt = common::runtime();
    let prefix = prefix.to_string();
    rt.block_on(async move {
        let c = common::kube_client(&kc).await;
        let seen = watchers(&c, 3).await;
        let rate = create_rate(&c, &prefix, n).await;
        let mut delivered = Vec::new();
        for h in seen {
            delivered.push(h.await.unwrap());
        }
        (rate, delivered)
    })
}

/// Issue 20, benchmark 6 (etcd's half): creates per second with 3
/// watchers on etcd against the embedded store, alternating runs in the
/// same process so both see the same machine load.
#[test]
#[ignore]
fn bench_etcd_vs_embedded() {
    let n: usize = std::env::var("BENCH_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut runs = Vec::new();
    let (mut embedded, mut on_etcd) = (Vec::new(), Vec::new());
    for round in 0..2 {
        for backend in ["embedded", "etcd"] {
            let dir = tempfile::tempdir().unwrap();
            // A fresh etcd per run, as the embedded store starts empty.
            let etcd =
                (backend == "etcd").then(|| Etcd::start("bench_etcd_vs_embedded").expect("etcd installed"));
            let b = match &etcd {
                Some(e) => Backend::Etcd {
                    servers: vec![e.url.clone()],
                },
                None => Backend::Embedded,
            };
            let s = TestServer::start_with(dir.path(), "127.0.0.1:0", b);
            let (rate, delivered) = watched_create_rate(&s, &format!("r{round}"), n);
            assert!(
                delivered.iter().all(|d| *d >= n),
                "{backend}: a watcher missed events: {delivered:?}"
            );
            runs.push(
                json!({"backend": backend, "round": round, "creates_per_s_3_watchers": rate,
                "events_delivered_per_watcher": delivered}),
            );
            match backend {
                "etcd" => on_etcd.push(rate),
                _ => embedded.push(rate),
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let out = json!({
        "benchmark": "apiserver_creates_with_3_watchers_etcd_vs_embedded",
        "creates_per_run": n,
        "runs": runs,
        "embedded_creates_per_s": mean(&embedded),
        "etcd_creates_per_s": mean(&on_etcd),
        "etcd_vs_embedded_ratio": mean(&on_etcd) / mean(&embedded),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// An Event as the node agents write them, last seen now.
fn event(i: usize, round: usize) -> serde_json::Value {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("p-{i}.r{round}"), "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": format!("p-{i}"), "uid": format!("u-{i}"), "apiVersion": "v1"},
        "reason": "Started", "message": "Started container c", "type": "Normal", "count": 1,
        "source": {"component": "kubelet", "host": format!("node-{}", i % 3)},
        "firstTimestamp": now, "lastTimestamp": now})
}

/// One full list of `path` as the server answers it, in seconds (the
/// body read as text: no typed decoding on the client's side).
async fn timed_list(c: &kube::Client, path: &str, expect_items: usize) -> f64 {
    let req = axum::http::Request::get(path).body(Vec::new()).unwrap();
    let t = Instant::now();
    let body = c.request_text(req).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"].as_array().map(Vec::len), Some(expect_items));
    secs
}

/// Issue 17, benchmark 6: a list of 10,000 pods against serializing the
/// same pods with serde_json alone (what any server must at least do, so
/// the ratio is our overhead: routing, TLS, HTTP, the store's snapshot);
/// and the process's RSS while 10,000 Events are written and expire,
/// round after round, against the RSS of the idle server.
#[test]
#[ignore]
fn bench_list_and_event_memory() {
    const PODS: usize = 10_000;
    const EVENTS: usize = 10_000;
    let rounds_n: usize = std::env::var("BENCH_EVENT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let kc = s.kubeconfig();
    let state = s.running().state.clone();
    let rt = common::runtime();
    let out = rt.block_on(async move {
        let c = common::kube_client(&kc).await;

        // Events: written through the API, expired by the server's sweep
        // (driven here with a TTL of one second instead of an hour).
        let rss_idle = rss_kib();
        let mut rounds = Vec::new();
        for round in 0..rounds_n {
            let api: kube::Api<k8s_openapi::api::core::v1::Event> = kube::Api::namespaced(c.clone(), "default");
            let t = Instant::now();
            futures::stream::iter(0..EVENTS)
                .map(|i| {
                    let api = api.clone();
                    async move {
                        let ev = serde_json::from_value(event(i, round)).unwrap();
                        api.create(&PostParams::default(), &ev).await.unwrap();
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<()>>()
                .await;
            let write_s = t.elapsed().as_secs_f64();
            let rss_written = rss_kib();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let st = state.clone();
            let expired = tokio::task::spawn_blocking(move || {
                labyrinth_apiserver::events::expire(&st, Duration::from_secs(1), jiff::Timestamp::now())
            })
            .await
            .unwrap();
            assert_eq!(expired, EVENTS, "every event expires");
            let left = api.list(&ListParams::default()).await.unwrap();
            assert!(left.items.is_empty(), "{} events left", left.items.len());
            let rss_expired = rss_kib();
            rounds.push(json!({"round": round, "events_per_s": EVENTS as f64 / write_s,
                "rss_kib_after_10k_events": rss_written, "rss_kib_after_expiry": rss_expired}));
        }
        let last = &rounds[rounds_n - 1];
        let first = &rounds[0];
        let at = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap() as f64;

        // Lists: 10,000 pods, and 1,000 in a namespace of their own.
        let store = state.store.clone();
        for i in 0..PODS {
            store.create("pods", "default", &format!("p-{i}"), pod(i)).unwrap();
        }
        store
            .create("namespaces", "", "small", json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "small", "uid": "ns-small"}}))
            .unwrap();
        for i in 0..PODS / 10 {
            let mut p = pod(i);
            p["metadata"]["namespace"] = json!("small");
            store.create("pods", "small", &format!("p-{i}"), p).unwrap();
        }
        let (items, _) = store.list("pods", Some("default"));
        assert_eq!(items.len(), PODS);
        let values: Vec<serde_json::Value> = items.iter().map(|o| o.parse()).collect();
        let items: Vec<&serde_json::Value> = values.iter().collect();
        let mut list_runs = Vec::new();
        for _ in 0..5 {
            let list_10k = timed_list(&c, "/api/v1/namespaces/default/pods", PODS).await;
            let list_1k = timed_list(&c, "/api/v1/namespaces/small/pods", PODS / 10).await;
            let t = Instant::now();
            let bytes = serde_json::to_vec(&json!({"kind": "PodList", "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"}, "items": &items}))
            .unwrap();
            let serialize = t.elapsed().as_secs_f64();
            list_runs.push(json!({"list_10k_pods_s": list_10k, "serde_json_10k_pods_s": serialize,
                "list_1k_pods_s": list_1k, "list_bytes": bytes.len(),
                "ratio_list_vs_serde_json": list_10k / serialize,
                "ratio_list_10k_vs_10x_list_1k": list_10k / (10.0 * list_1k)}));
        }
        let median = |k: &str| {
            let mut v: Vec<f64> = list_runs.iter().map(|r| r[k].as_f64().unwrap()).collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        json!({
            "benchmark": "apiserver_list_10k_pods_and_memory_after_10k_events",
            "list_runs": list_runs,
            "list_10k_pods_s_median": median("list_10k_pods_s"),
            "ratio_list_vs_serde_json_median": median("ratio_list_vs_serde_json"),
            "rss_kib_idle": rss_idle,
            "event_rounds": rounds,
            "ratio_rss_after_10k_events_vs_idle": at(first, "rss_kib_after_10k_events") / rss_idle as f64,
            "ratio_rss_after_expiry_vs_idle": at(first, "rss_kib_after_expiry") / rss_idle as f64,
            "ratio_rss_last_round_vs_first_after_10k": at(last, "rss_kib_after_10k_events") / at(first, "rss_kib_after_10k_events"),
        })
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// A pod as a Deployment's ReplicaSet creates it and as the server records
/// it once the kubelet has reported it running: written through the API
/// (so managedFields, the service-account volume and the defaults are the
/// server's own), read back, and used as the template of the pods the
/// store is filled with.
async fn recorded_pod(c: &kube::Client) -> serde_json::Value {
    use kube::api::{Patch, PatchParams};
    let api: kube::Api<Pod> = kube::Api::namespaced(c.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web-7d4b9c8f6d-x2x9q",
        "generateName": "web-7d4b9c8f6d-", "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6d",
            "uid": "5b0d4a4e-8c1f-4f0e-9a55-0d7c6b1f2e3a", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "docker.io/library/nginx:1.27",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "production"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}}))
    .unwrap();
    api.create(
        &PostParams {
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        },
        &pod,
    )
    .await
    .unwrap();
    let t = "2026-01-01T00:00:05Z";
    let conditions: Vec<serde_json::Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|c| json!({"type": c, "status": "True", "lastProbeTime": null, "lastTransitionTime": t}))
    .collect();
    let status = json!({"status": {"phase": "Running", "hostIP": "10.168.0.11", "hostIPs": [{"ip": "10.168.0.11"}],
        "podIP": "10.244.1.17", "podIPs": [{"ip": "10.244.1.17"}], "startTime": "2026-01-01T00:00:01Z", "qosClass": "Burstable",
        "conditions": conditions,
        "containerStatuses": [{"name": "web", "ready": true, "started": true, "restartCount": 0,
            "image": "docker.io/library/nginx:1.27", "imageID": "docker.io/library/nginx@sha256:0a399eb16751829e1af26fea27b20c3ec28d7ab1fb72182879dcae1cca21206a",
            "containerID": "labyrinth://4f1c2e9b7a3d", "state": {"running": {"startedAt": "2026-01-01T00:00:04Z"}}}]}});
    let pp = PatchParams {
        field_manager: Some("kubelet".into()),
        ..Default::default()
    };
    api.patch_status("web-7d4b9c8f6d-x2x9q", &pp, &Patch::Merge(&status))
        .await
        .unwrap();
    let req = axum::http::Request::get("/api/v1/namespaces/default/pods/web-7d4b9c8f6d-x2x9q")
        .body(Vec::new())
        .unwrap();
    serde_json::from_str(&c.request_text(req).await.unwrap()).unwrap()
}

/// Pod `i` of the store's fill: the recorded pod with its own name, uid,
/// node and address.
fn recorded_pod_n(template: &serde_json::Value, i: usize) -> serde_json::Value {
    let mut p = template.clone();
    let m = &mut p["metadata"];
    m["name"] = json!(format!("web-7d4b9c8f6d-{i:06}"));
    m["uid"] = json!(format!("0b6f3c2e-1d4a-4c8e-9f00-{i:012}"));
    m.as_object_mut().unwrap().remove("resourceVersion");
    p["spec"]["nodeName"] = json!(format!("node-{}", i % 5000));
    let ip = format!("10.{}.{}.{}", 64 + i / 65536 % 64, i / 256 % 256, i % 256);
    p["status"]["podIP"] = json!(ip);
    p["status"]["podIPs"] = json!([{"ip": ip}]);
    p
}

/// A list's item count, read without building the items.
fn count_items(body: &str) -> usize {
    #[derive(serde::Deserialize)]
    struct List {
        items: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<List>(body).unwrap().items.len()
}

/// The list body serde_json writes from Values already built (what the
/// store did per list before it kept bytes).
#[derive(serde::Serialize)]
struct ValueList<'a> {
    kind: &'a str,
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    metadata: serde_json::Value,
    items: &'a [serde_json::Value],
}

/// Issue 20, benchmark 6 (the store's half): the store filled with
/// BENCH_PODS (default 150,000) pods as the server records them
/// (managedFields included); its memory per 1,000 pods, against holding
/// the same pods as `serde_json::Value`s (the store's former form, on
/// 10,000 of them); a list of all of them through the API (TLS, HTTP, the
/// body read as text), against serde_json writing a list of the same pods
/// from Values already built (per pod, on the same 10,000). Alone, since it
/// reads the process's RSS:
///   cargo test -p labyrinth-apiserver --release --test bench -- --ignored --nocapture bench_store_list_and_memory
#[test]
#[ignore]
fn bench_store_list_and_memory() {
    const BASELINE_PODS: usize = 10_000;
    let pods = bench_pods();
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let kc = s.kubeconfig();
    let store = s.running().state.store.clone();
    let rt = common::runtime();
    let out = rt.block_on(async move {
        let c = common::kube_client(&kc).await;
        let template = recorded_pod(&c).await;
        let pod_json_bytes = serde_json::to_vec(&template).unwrap().len();
        let managers = template["metadata"]["managedFields"].as_array().map_or(0, Vec::len);

        let st = store.clone();
        let tpl = template.clone();
        let (rss0, rss1) = tokio::task::spawn_blocking(move || {
            let rss0 = rss_kib();
            for i in 0..pods {
                let p = recorded_pod_n(&tpl, i);
                let name = p["metadata"]["name"].as_str().unwrap().to_string();
                st.create("pods", "default", &name, p).unwrap();
            }
            (rss0, rss_kib())
        })
        .await
        .unwrap();
        let store_kib_per_1000 = rss1.saturating_sub(rss0) as f64 * 1000.0 / pods as f64;

        // The baseline: the same pods as Values, on BASELINE_PODS of them,
        // measured before any list so no freed list buffer is reused.
        let (values, rss_values) = tokio::task::spawn_blocking(move || {
            let r0 = rss_kib();
            let values: Vec<serde_json::Value> = (0..BASELINE_PODS)
                .map(|i| {
                    let mut p = recorded_pod_n(&template, i);
                    p["metadata"]["resourceVersion"] = json!((i + 10).to_string());
                    p
                })
                .collect();
            let held = rss_kib().saturating_sub(r0);
            (values, held)
        })
        .await
        .unwrap();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let req = axum::http::Request::get("/api/v1/pods").body(Vec::new()).unwrap();
            let t = Instant::now();
            let body = c.request_text(req).await.unwrap();
            let list_s = t.elapsed().as_secs_f64();
            assert_eq!(count_items(&body), pods + 1);
            let list_bytes = body.len();
            drop(body);
            let req = axum::http::Request::get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-7")
                .body(Vec::new())
                .unwrap();
            let t = Instant::now();
            let body = c.request_text(req).await.unwrap();
            let selected_s = t.elapsed().as_secs_f64();
            assert_eq!(count_items(&body), pods / 5000 + usize::from(pods % 5000 > 7));
            runs.push(json!({"list_all_s": list_s, "list_bytes": list_bytes,
                "list_field_selector_s": selected_s}));
        }

        let mut serde_runs = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let text = serde_json::to_vec(&ValueList {
                kind: "PodList",
                api_version: "v1",
                metadata: json!({"resourceVersion": "1"}),
                items: &values,
            })
            .unwrap();
            serde_runs.push(t.elapsed().as_secs_f64());
            assert!(text.len() > BASELINE_PODS * pod_json_bytes / 2);
        }
        // The server's own part of a list, in process: the store's items
        // and the splice, without TLS, HTTP or a client.
        let mut splice_runs = Vec::new();
        for _ in 0..3 {
            let st = store.clone();
            let t = Instant::now();
            let len = tokio::task::spawn_blocking(move || {
                let (items, rv) = st.list("pods", None);
                let meta = json!({"resourceVersion": rv.to_string()});
                labyrinth_apiserver::rest::stored_body::list_json("PodList", "v1", &meta, &items).len()
            })
            .await
            .unwrap();
            splice_runs.push(t.elapsed().as_secs_f64());
            assert!(len > pods * pod_json_bytes);
        }
        let value_kib_per_1000 = rss_values as f64 * 1000.0 / BASELINE_PODS as f64;
        let median = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        let list_s = median(runs.iter().map(|r| r["list_all_s"].as_f64().unwrap()).collect());
        let serde_per_pod = median(serde_runs.clone()) / BASELINE_PODS as f64;
        json!({
            "benchmark": "apiserver_store_list_and_memory",
            "pods_held": pods,
            "pod_json_bytes": pod_json_bytes,
            "pod_managed_fields_entries": managers,
            "store_kib_per_1000_pods": store_kib_per_1000,
            "store_kib_per_1000_pods_vs_json_size": store_kib_per_1000 * 1024.0 / 1000.0 / pod_json_bytes as f64,
            "values_kib_per_1000_pods_baseline": value_kib_per_1000,
            "memory_ratio_store_vs_values": store_kib_per_1000 / value_kib_per_1000,
            "list_runs": runs,
            "serde_json_list_s_per_10k_values": serde_runs,
            "splice_in_process_s": splice_runs,
            "list_all_s_median": list_s,
            "serde_json_same_pods_s_scaled": serde_per_pod * pods as f64,
            "ratio_list_vs_serde_json": list_s / (serde_per_pod * pods as f64),
            "total_rss_mib": rss_kib() as f64 / 1024.0,
        })
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
