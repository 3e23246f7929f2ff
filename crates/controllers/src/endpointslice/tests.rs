use super::*;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

fn svc(selector: serde_json::Value, ports: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"app": "web"}},
        "spec": {"selector": selector, "ports": ports, "clusterIP": "10.96.0.20"}
    }))
    .unwrap()
}

fn pod(name: &str, ip: Option<&str>, ready: bool, extra: serde_json::Value) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn http_svc() -> Service {
    svc(
        json!({"app": "web"}),
        json!([{"name": "http", "port": 80, "targetPort": "http"}]),
    )
}

#[test]
fn lists_matching_pods_with_ips_and_conditions() {
    let s = http_svc();
    let a = pod("a", Some("10.0.1.5"), true, json!({}));
    let b = pod("b", Some("10.0.2.7"), false, json!({}));
    let no_ip = pod("c", None, true, json!({}));
    let other = pod(
        "d",
        Some("10.0.1.9"),
        true,
        json!({"metadata": {"labels": {"app": "db"}}}),
    );
    let other_ns = pod(
        "e",
        Some("10.0.1.10"),
        true,
        json!({"metadata": {"namespace": "x"}}),
    );
    let done = pod(
        "f",
        Some("10.0.1.11"),
        true,
        json!({"status": {"phase": "Succeeded"}}),
    );
    let mut dying = pod("g", Some("10.0.1.12"), true, json!({}));
    dying.metadata.deletion_timestamp = Some(serde_json::from_value(json!("2024-01-01T00:00:00Z")).unwrap());

    let d = desired(&s, &[&b, &a, &no_ip, &other, &other_ns, &done, &dying]);
    assert_eq!(d.len(), 1);
    let eps = &d[0].endpoints;
    let addrs: Vec<&str> = eps.iter().map(|e| e.addresses[0].as_str()).collect();
    assert_eq!(addrs, vec!["10.0.1.5", "10.0.2.7", "10.0.1.12"]);
    let cond = |i: usize| eps[i].conditions.clone().unwrap();
    assert_eq!(
        (cond(0).ready, cond(0).serving, cond(0).terminating),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!((cond(1).ready, cond(1).serving), (Some(false), Some(false)));
    assert_eq!(
        (cond(2).ready, cond(2).serving, cond(2).terminating),
        (Some(false), Some(true), Some(true))
    );
    assert_eq!(eps[0].node_name.as_deref(), Some("node-1"));
    let tr = eps[0].target_ref.clone().unwrap();
    assert_eq!(
        (
            tr.kind.as_deref(),
            tr.name.as_deref(),
            tr.namespace.as_deref(),
            tr.uid.as_deref()
        ),
        (Some("Pod"), Some("a"), Some("ns"), Some("uid-a"))
    );
    assert_eq!(d[0].ports[0].port, Some(8080));
    assert_eq!(d[0].ports[0].name.as_deref(), Some("http"));
}

#[test]
fn pods_with_different_port_sets_get_different_slices() {
    let s = http_svc();
    let a = pod("a", Some("10.0.1.5"), true, json!({}));
    let b = pod(
        "b",
        Some("10.0.1.6"),
        true,
        json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 9090}]}]}}),
    );
    let d = desired(&s, &[&a, &b]);
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].ports[0].port, Some(8080));
    assert_eq!(d[1].ports[0].port, Some(9090));
}

#[test]
fn large_services_are_split_at_100_and_empty_ones_get_a_placeholder() {
    let s = http_svc();
    let pods: Vec<Pod> = (0..250)
        .map(|i| {
            pod(
                &format!("p{i:03}"),
                Some(&format!("10.0.{}.{}", i / 200, i % 200 + 1)),
                true,
                json!({}),
            )
        })
        .collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let d = desired(&s, &refs);
    assert_eq!(
        d.iter().map(|x| x.endpoints.len()).collect::<Vec<_>>(),
        vec![100, 100, 50]
    );
    let empty = desired(&s, &[]);
    assert_eq!(
        empty,
        vec![DesiredSlice {
            ports: vec![],
            endpoints: vec![]
        }]
    );
}

#[test]
fn services_without_selector_or_external_name_are_not_managed() {
    let mut s = svc(json!(null), json!([{"port": 80}]));
    s.spec.as_mut().unwrap().selector = None;
    assert!(desired(&s, &[&pod("a", Some("10.0.1.5"), true, json!({}))]).is_empty());
    let mut ext = http_svc();
    ext.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
    assert!(desired(&ext, &[]).is_empty());
}

#[test]
fn ipv6_only_pods_are_left_out_of_ipv4_slices() {
    let s = http_svc();
    let v6 = pod("a", Some("fd00::5"), true, json!({}));
    let dual = pod(
        "b",
        Some("fd00::6"),
        true,
        json!({"status": {"podIPs": [{"ip": "fd00::6"}, {"ip": "10.0.1.6"}]}}),
    );
    let d = desired(&s, &[&v6, &dual]);
    assert_eq!(d[0].endpoints.len(), 1);
    assert_eq!(d[0].endpoints[0].addresses, vec!["10.0.1.6"]);
}

/// What the API server would hold after applying a plan's creates/updates.
fn apply(plan: &SlicePlan, mut existing: Vec<EndpointSlice>) -> Vec<EndpointSlice> {
    existing.retain(|s| {
        !plan.delete.contains(&s.name_any()) && !plan.update.iter().any(|u| u.name_any() == s.name_any())
    });
    existing.extend(plan.update.iter().cloned());
    existing.extend(plan.create.iter().cloned());
    existing
}

#[test]
fn reconcile_creates_then_leaves_unchanged_then_updates_in_place() {
    let s = http_svc();
    let a = pod("a", Some("10.0.1.5"), true, json!({}));
    let plan = reconcile(&s, desired(&s, &[&a]), &[]);
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (1, 0, 0)
    );
    let created = &plan.create[0];
    assert!(created.name_any().starts_with("web-") && created.name_any().len() == "web-".len() + 5);
    assert_eq!(created.address_type, "IPv4");
    assert_eq!(
        created.labels().get(LABEL_SERVICE_NAME).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        created.labels().get(LABEL_MANAGED_BY).map(String::as_str),
        Some(MANAGED_BY)
    );
    assert_eq!(created.labels().get("app").map(String::as_str), Some("web"));
    assert_eq!(
        created.metadata.owner_references.as_ref().unwrap()[0].kind,
        "Service"
    );

    let stored = apply(&plan, vec![]);
    let refs: Vec<&EndpointSlice> = stored.iter().collect();
    assert!(
        reconcile(&s, desired(&s, &[&a]), &refs).is_empty(),
        "no change, no write"
    );

    let b = pod("b", Some("10.0.1.6"), true, json!({}));
    let plan2 = reconcile(&s, desired(&s, &[&a, &b]), &refs);
    assert_eq!(
        (plan2.create.len(), plan2.update.len(), plan2.delete.len()),
        (0, 1, 0)
    );
    assert_eq!(plan2.update[0].name_any(), created.name_any());
    assert_eq!(plan2.update[0].endpoints.as_ref().unwrap().len(), 2);
}

#[test]
fn reconcile_deletes_surplus_and_ignores_foreign_slices() {
    let s = http_svc();
    let pods: Vec<Pod> = (0..150)
        .map(|i| {
            pod(
                &format!("p{i:03}"),
                Some(&format!("10.0.1.{}", i + 1)),
                true,
                json!({}),
            )
        })
        .collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let stored = apply(&reconcile(&s, desired(&s, &refs), &[]), vec![]);
    assert_eq!(stored.len(), 2);
    let mut foreign = stored[0].clone();
    foreign.metadata.name = Some("hand-made".into());
    foreign
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(LABEL_MANAGED_BY.into(), "someone-else".into());
    let mut all = stored.clone();
    all.push(foreign);
    let srefs: Vec<&EndpointSlice> = all.iter().collect();
    let plan = reconcile(&s, desired(&s, &refs[..10]), &srefs);
    assert_eq!(plan.update.len() + plan.delete.len(), 2);
    assert_eq!(plan.delete.len(), 1);
    assert!(!plan.delete.contains(&"hand-made".to_string()));
    assert!(plan.create.is_empty());
}
