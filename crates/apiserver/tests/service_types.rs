//! Services past ClusterIP, as the real API server takes them: nodePorts
//! allocated from 30000–32767 (given ones checked for range and collision,
//! kept across updates and restarts, released on delete and when the type
//! goes back to ClusterIP), the health-check node port, the traffic policy
//! and affinity defaults and their bounds, source ranges, ExternalName, and
//! `kubectl get svc` showing it all. A refused request keeps nothing.

mod common;
use common::{call, TestServer};
use serde_json::{json, Value};

const SVCS: &str = "/api/v1/namespaces/default/services";

fn svc(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn create(s: &TestServer, name: &str, spec: Value) -> (u16, Value) {
    call(s, "POST", SVCS, Some(&svc(name, spec)))
}

fn node_port_svc(ports: Value) -> Value {
    json!({"type": "NodePort", "selector": {"app": "x"}, "ports": ports})
}

/// The one cause of a 422, as (field, message).
fn cause(code: u16, st: &Value) -> (String, String) {
    assert_eq!(code, 422, "{st}");
    let c = &st["details"]["causes"][0];
    (
        c["field"].as_str().unwrap().to_string(),
        c["message"].as_str().unwrap().to_string(),
    )
}

/// The `kubectl get svc NAME` row, as columns.
fn row(s: &TestServer, name: &str) -> Vec<String> {
    let out = s.ok(&["get", "svc", name]);
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    );
    lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn node_ports_are_allocated_checked_kept_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());

    // Picked by the server, inside the range, shown as kubectl shows it.
    let (code, a) = create(&s, "a", node_port_svc(json!([{"port": 80}])));
    assert_eq!(code, 201, "{a}");
    let np = a["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&np), "{np}");
    assert_eq!(a["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(a["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(a["spec"]["sessionAffinity"], "None");
    let r = row(&s, "a");
    assert_eq!((r[1].as_str(), r[3].as_str()), ("NodePort", "<none>"));
    assert_eq!(r[4], format!("80:{np}/TCP"));

    // Out of range, and taken: 422 with the real server's words, through
    // kubectl as well as in the Status.
    let (code, st) = create(&s, "b", node_port_svc(json!([{"port": 80, "nodePort": 80}])));
    assert_eq!(
        cause(code, &st),
        (
            "spec.ports[0].nodePort".into(),
            "Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767".into()
        )
    );
    let f = s.home.path().join("b.yaml");
    std::fs::write(
        &f,
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: b}}\nspec:\n  type: NodePort\n  ports: [{{port: 80, nodePort: {np}}}]\n"),
    )
    .unwrap();
    let (ok, _, err) = s.kubectl(&["create", "-f", f.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&format!("The Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: {np}: provided port is already allocated")),
        "{err}"
    );

    // Nothing half-applied: the first port's free nodePort, taken before the
    // second failed, is free again. (Ports below 30086 are the band the
    // server picks from last, so no picked port is ever there in this test.)
    let free = 30050;
    let (code, st) = create(
        &s,
        "c",
        node_port_svc(
            json!([{"name": "x", "port": 80, "nodePort": free}, {"name": "y", "port": 81, "nodePort": np}]),
        ),
    );
    assert_eq!(cause(code, &st).0, "spec.ports[1].nodePort");
    let (code, d) = create(&s, "d", node_port_svc(json!([{"port": 80, "nodePort": free}])));
    assert_eq!(code, 201, "{d}");

    // An update that leaves nodePort out keeps it (matched by port name);
    // one that asks for a taken port is refused and changes nothing.
    let mut upd = a.clone();
    upd["spec"]["ports"] = json!([{"port": 80, "targetPort": 8080}]);
    let (code, a2) = call(&s, "PUT", &format!("{SVCS}/a"), Some(&upd));
    assert_eq!(code, 200, "{a2}");
    assert_eq!(a2["spec"]["ports"][0]["nodePort"], np);
    upd = a2.clone();
    upd["spec"]["ports"][0]["nodePort"] = json!(free);
    let (code, st) = call(&s, "PUT", &format!("{SVCS}/a"), Some(&upd));
    assert!(cause(code, &st).1.ends_with("provided port is already allocated"));

    // Back to ClusterIP: the nodePort and the external policy go, and the
    // port is free for another Service.
    let out = s.ok(&[
        "patch",
        "svc",
        "a",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert!(out.contains("patched"), "{out}");
    let (_, a3) = call(&s, "GET", &format!("{SVCS}/a"), None);
    assert!(a3["spec"]["ports"][0].get("nodePort").is_none(), "{a3}");
    assert!(a3["spec"].get("externalTrafficPolicy").is_none(), "{a3}");
    let (code, e) = create(&s, "e", node_port_svc(json!([{"port": 80, "nodePort": np}])));
    assert_eq!(code, 201, "{e}");

    // Delete releases.
    s.ok(&["delete", "svc", "d"]);
    let (code, f2) = create(&s, "f", node_port_svc(json!([{"port": 80, "nodePort": free}])));
    assert_eq!(code, 201, "{f2}");

    // dryRun checks without keeping anything.
    let (code, _) = call(
        &s,
        "POST",
        &format!("{SVCS}?dryRun=All"),
        Some(&svc("g", node_port_svc(json!([{"port": 80, "nodePort": 30042}])))),
    );
    assert_eq!(code, 201);
    let (code, g) = create(&s, "g", node_port_svc(json!([{"port": 80, "nodePort": 30042}])));
    assert_eq!(code, 201, "{g}");
}

#[test]
fn allocations_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestServer::start(dir.path());
    let (code, a) = create(
        &s,
        "lb",
        json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
    );
    assert_eq!(code, 201, "{a}");
    let np = a["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    let hc = a["spec"]["healthCheckNodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&hc) && hc != np, "{a}");
    assert_eq!(a["spec"]["allocateLoadBalancerNodePorts"], true);
    let r = row(&s, "lb");
    assert_eq!((r[1].as_str(), r[3].as_str()), ("LoadBalancer", "<pending>"));
    let addr = s.running().addr.to_string();
    s.stop();
    drop(s);
    s = TestServer::start_at(dir.path(), &addr);
    for port in [np, hc] {
        let (code, st) = create(&s, "x", node_port_svc(json!([{"port": 80, "nodePort": port}])));
        assert!(cause(code, &st).1.ends_with("provided port is already allocated"));
    }
    // Cluster policy: no health check, and its port is given back.
    let out = s.ok(&[
        "patch",
        "svc",
        "lb",
        "--type=merge",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Cluster"}}"#,
    ]);
    assert!(out.contains("patched"), "{out}");
    let (_, lb) = call(&s, "GET", &format!("{SVCS}/lb"), None);
    assert!(lb["spec"].get("healthCheckNodePort").is_none(), "{lb}");
    assert_eq!(lb["spec"]["ports"][0]["nodePort"], np);
    let (code, x) = create(&s, "x", node_port_svc(json!([{"port": 80, "nodePort": hc}])));
    assert_eq!(code, 201, "{x}");
    // The balancer's address, once a controller writes it, is the column.
    s.ok(&common::status_patch(
        "svc",
        "lb",
        r#"{"status":{"loadBalancer":{"ingress":[{"ip":"10.168.0.240","ipMode":"VIP"}]}}}"#,
    ));
    assert_eq!(row(&s, "lb")[3], "10.168.0.240");
}

#[test]
fn affinity_policies_source_ranges_and_external_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());

    let (code, a) = create(
        &s,
        "aff",
        json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}),
    );
    assert_eq!(code, 201, "{a}");
    assert_eq!(
        a["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    for bad in [0, 86401] {
        let (code, st) = create(
            &s,
            "aff2",
            json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": bad}}, "ports": [{"port": 80}]}),
        );
        assert_eq!(
            cause(code, &st),
            (
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds".into(),
                format!("Invalid value: {bad}: must be greater than 0 and less than 86400")
            )
        );
    }
    let (code, st) = create(
        &s,
        "ranges",
        json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["192.0.2.0/24", "10.0.0.0/33"], "ports": [{"port": 80}]}),
    );
    assert_eq!(
        cause(code, &st),
        (
            "spec.LoadBalancerSourceRanges[1]".into(),
            "Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
                .into()
        )
    );
    let (code, st) = create(
        &s,
        "itp",
        json!({"internalTrafficPolicy": "Nearby", "ports": [{"port": 80}]}),
    );
    assert_eq!(cause(code, &st).0, "spec.internalTrafficPolicy");
    // None of the refused ones left a node port or address behind.
    let (_, list) = call(&s, "GET", SVCS, None);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aff", "kubernetes"]);

    // ExternalName: no ClusterIP, the name as the external column.
    s.apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {type: ExternalName, externalName: example.org}\n",
        &[],
    );
    let r = row(&s, "ext");
    assert_eq!(&r[1..5], ["ExternalName", "<none>", "example.org", "<none>"]);
    let (_, ext) = call(&s, "GET", &format!("{SVCS}/ext"), None);
    assert!(ext["spec"].get("clusterIP").is_none(), "{ext}");
    assert!(ext["spec"].get("internalTrafficPolicy").is_none(), "{ext}");
    let (code, st) = create(&s, "ext2", json!({"type": "ExternalName"}));
    assert_eq!(
        cause(code, &st),
        ("spec.externalName".into(), "Required value".into())
    );
    let (code, st) = create(
        &s,
        "ext3",
        json!({"type": "ExternalName", "externalName": "Not_A_Name"}),
    );
    assert_eq!(cause(code, &st).0, "spec.externalName");
    // ExternalName to ClusterIP gets an address; and back gives it up.
    let out = s.ok(&[
        "patch",
        "svc",
        "ext",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP","externalName":null,"ports":[{"port":53}]}}"#,
    ]);
    assert!(out.contains("patched"), "{out}");
    let r = row(&s, "ext");
    assert!(r[2].starts_with("10."), "{r:?}");
    let ip = r[2].clone();
    s.ok(&[
        "patch",
        "svc",
        "ext",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ExternalName","externalName":"example.net"}}"#,
    ]);
    let (_, ext) = call(&s, "GET", &format!("{SVCS}/ext"), None);
    assert!(ext["spec"].get("clusterIP").is_none(), "{ext}");
    let (code, again) = create(&s, "reuse", json!({"clusterIP": ip, "ports": [{"port": 80}]}));
    assert_eq!(code, 201, "the address was released: {again}");
}
