use super::*;
use serde_json::json;

fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value, ready: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap()
}

/// The journey's cluster: node-0 control plane, two labelled workers.
fn journey_nodes() -> Vec<NodeInfo> {
    [
        node(
            "node-0",
            json!({"node-role.kubernetes.io/control-plane": ""}),
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
            "True",
        ),
        node("node-1", json!({"nodelabel": "node-wrk-1"}), json!([]), "True"),
        node("node-2", json!({"nodelabel": "node-wrk-2"}), json!([]), "True"),
    ]
    .iter()
    .map(NodeInfo::from_node)
    .collect()
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
}

fn selector(k: &str, v: &str) -> PodRequirements {
    PodRequirements::from_pod(&pod(json!({"containers": [], "nodeSelector": {k: v}})))
}

#[test]
fn node_selector_picks_the_labelled_worker() {
    let mut c = Cluster::new(journey_nodes());
    assert_eq!(
        c.schedule(&selector("nodelabel", "node-wrk-1")).unwrap(),
        "node-1"
    );
    assert_eq!(
        c.schedule(&selector("nodelabel", "node-wrk-2")).unwrap(),
        "node-2"
    );
    assert_eq!(
        c.schedule(&selector("nodelabel", "node-wrk-1")).unwrap(),
        "node-1"
    );
}

#[test]
fn spreads_by_pod_count_then_name_and_avoids_control_plane() {
    let mut c = Cluster::new(journey_nodes());
    let any = PodRequirements::default();
    let picks: Vec<String> = (0..4).map(|_| c.schedule(&any).unwrap()).collect();
    assert_eq!(picks, vec!["node-1", "node-2", "node-1", "node-2"]);
    // Pods already bound count: node-1 gets two more, so node-2 is next.
    c.add_bound_pod("node-1");
    assert_eq!(c.schedule(&any).unwrap(), "node-2");
    assert_eq!(c.pods_on("node-1"), Some(3));
    assert_eq!(c.pods_on("node-0"), Some(0));
}

#[test]
fn toleration_lets_a_pod_onto_the_control_plane() {
    let mut c = Cluster::new(journey_nodes());
    c.add_bound_pod("node-1");
    c.add_bound_pod("node-2");
    let req = PodRequirements::from_pod(&pod(json!({
        "containers": [],
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]
    })));
    assert_eq!(c.schedule(&req).unwrap(), "node-0");
}

#[test]
fn unschedulable_message_reads_like_the_real_scheduler() {
    let mut c = Cluster::new(journey_nodes());
    let err = c.schedule(&selector("nodelabel", "node-wrk-9")).unwrap_err();
    assert_eq!(
        err.message,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
         2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: \
         3 Preemption is not helpful for scheduling."
    );
    let mut empty = Cluster::new(vec![]);
    assert_eq!(
        empty.schedule(&PodRequirements::default()).unwrap_err().message,
        "no nodes available to schedule pods"
    );
}

#[test]
fn not_ready_and_cordoned_nodes_are_skipped() {
    let mut nodes: Vec<NodeInfo> = [
        node("a", json!({}), json!([]), "False"),
        node("b", json!({}), json!([]), "Unknown"),
        node("c", json!({}), json!([]), "True"),
    ]
    .iter()
    .map(NodeInfo::from_node)
    .collect();
    nodes[2].unschedulable = true;
    let mut c = Cluster::new(nodes.clone());
    let err = c.schedule(&PodRequirements::default()).unwrap_err();
    assert!(
        err.message.starts_with(
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, \
         1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable."
        ),
        "{}",
        err.message
    );
    nodes[2].unschedulable = false;
    let mut c = Cluster::new(nodes);
    assert_eq!(c.schedule(&PodRequirements::default()).unwrap(), "c");
}

#[test]
fn toleration_matching_rules() {
    let taint = Taint {
        key: "k".into(),
        value: Some("v".into()),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    let t = |key: &str, op: &str, value: &str, effect: &str| TolerationKey {
        key: key.into(),
        operator: op.into(),
        value: value.into(),
        effect: effect.into(),
    };
    assert!(tolerates(&t("k", "Equal", "v", "NoSchedule"), &taint));
    assert!(tolerates(&t("k", "", "v", ""), &taint));
    assert!(!tolerates(&t("k", "Equal", "w", ""), &taint));
    assert!(tolerates(&t("k", "Exists", "", ""), &taint));
    assert!(tolerates(&t("", "Exists", "", ""), &taint));
    assert!(!tolerates(&t("k", "Exists", "", "NoExecute"), &taint));
    assert!(!tolerates(&t("other", "Exists", "", ""), &taint));
}

#[test]
fn which_pods_want_scheduling() {
    assert!(wants_scheduling(&pod(json!({"containers": []}))));
    assert!(!wants_scheduling(&pod(
        json!({"containers": [], "nodeName": "node-1"})
    )));
    assert!(!wants_scheduling(&pod(
        json!({"containers": [], "schedulerName": "other"})
    )));
    assert!(wants_scheduling(&pod(
        json!({"containers": [], "schedulerName": "default-scheduler"})
    )));
    let mut deleting = pod(json!({"containers": []}));
    deleting.metadata.deletion_timestamp =
        Some(serde_json::from_value(json!("2024-01-01T00:00:00Z")).unwrap());
    assert!(!wants_scheduling(&deleting));
}

#[test]
fn indexed_and_naive_agree_on_a_mixed_workload() {
    let (nodes, pods) = bench::workload(60, 500);
    let mut fast = Cluster::new(nodes.clone());
    let mut slow = naive::NaiveCluster::new(nodes);
    fast.add_bound_pod("node-7");
    slow.add_bound_pod("node-7");
    for p in &pods {
        assert_eq!(fast.schedule(p), slow.schedule(p));
    }
    // The impossible selector really was exercised.
    assert!(pods.iter().any(|p| fast.schedule(p).is_err()));
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_scheduler() {
    let v = bench::bench(5_000, 10_000);
    println!("{v}");
    assert_eq!(v["pods"], 10_000);
}
