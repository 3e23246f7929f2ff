//! Issue 19 in a real lab: Services reached from outside the cluster, and
//! traffic policies. The VPC namespace (the cloud network, 10.168.0.1)
//! plays the client host, a laptop in the same VPC, and reaches NodePorts
//! on the nodes' own addresses. One backend (agnhost netexec, which
//! answers /hostname and /clientip) runs on node-2; externalTrafficPolicy
//! Cluster answers on every node and masquerades, Local keeps the client's
//! address on node-2, drops elsewhere, and its health check port says 200
//! or 503, in all three datapaths (eBPF: the program on the node's uplink).
//! LoadBalancer addresses from the lab's pool answer from the client host:
//! nodes make them their own with a local route (every node for Cluster,
//! the endpoint's node for Local).
//! internalTrafficPolicy Local (all three datapaths): pods reach only the
//! endpoint on their own node, none where there is none, and switching
//! the policy to Cluster spreads them again. sessionAffinity ClientIP
//! (all three: xt_recent, nftables' per-endpoint dynamic sets, the eBPF
//! LRU map): 30 connections from one client reach one backend,
//! and switched off they spread again.
//! trafficDistribution PreferClose (all three): the lab puts node-0 and
//! node-1 in zone-a, node-2 in zone-b; the EndpointSlice hints each
//! endpoint for its node's zone, node-0's client reaches only the zone-a
//! endpoint, and once that one is gone it spills over to zone-b.

mod common;
use common::journey::*;
use common::*;
#[path = "services_external/explain.rs"]
mod explain;

const CLUSTER_PORT: u16 = 30080;
const LOCAL_PORT: u16 = 30081;
const HEALTH_PORT: u16 = 32081;
/// The client host's address: the VPC gateway.
const CLIENT: &str = "10.168.0.1";

fn manifest() -> String {
    let svc = |name: &str, node_port: u16, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n{extra}  \
             selector: {{app: np}}\n  ports:\n  - {{port: 80, targetPort: 8080, nodePort: {node_port}}}\n---\n"
        )
    };
    // A LoadBalancer (Cluster policy) also has its NodePort.
    let mut m = svc("np", CLUSTER_PORT, "  type: LoadBalancer\n");
    // A health-check port exists only for a LoadBalancer with Local policy
    // (the API server refuses it elsewhere); its nodePort is served alike.
    m += &svc(
        "npl",
        LOCAL_PORT,
        &format!(
            "  type: LoadBalancer\n  externalTrafficPolicy: Local\n  healthCheckNodePort: {HEALTH_PORT}\n"
        ),
    );
    m +=
        "apiVersion: v1\nkind: Pod\nmetadata: {name: np-2, labels: {app: np}}\nspec:\n  nodeName: node-2\n  \
          containers:\n  - name: agnhost\n    image: registry.k8s.io/e2e-test-images/agnhost:2.52\n    \
          command: [/agnhost, netexec, --http-port=8080]\n";
    m
}

/// Our binary as the pods see it (the agent puts it on their PATH).
const POD_BIN: &str = "/opt/labyrinth/bin/labyrinth";

/// Service `itp` (internalTrafficPolicy Local) over backends on node-1 and
/// node-2, and client pods on node-0 and node-1, all `netexec serve`
/// (which answers a connection with its pod's name).
fn internal_manifest() -> String {
    let mut m = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: itp}\nspec:\n  internalTrafficPolicy: Local\n  \
         selector: {app: itp}\n  ports:\n  - {port: 80, targetPort: 8080}\n",
    );
    for (name, node, label) in [
        ("itp-1", 1, "itp"),
        ("itp-2", 2, "itp"),
        ("cl-0", 0, "client"),
        ("cl-1", 1, "client"),
    ] {
        m += &format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {label}}}}}\n\
             spec:\n  nodeName: node-{node}\n  containers:\n  - name: netexec\n    \
             image: labyrinth/netexec\n    command: [labyrinth, netexec, serve, --port, \"8080\"]\n"
        );
    }
    m
}

/// `netexec dial` from a client pod: which backends answered, how often.
fn dial(lab: &Lab, client: &str, target: &str, tries: u32) -> (serde_json::Value, String) {
    let cmd = format!("{POD_BIN} netexec dial --target {target} --timeout 1 --tries {tries}");
    let out = exec(lab, "default", client, &cmd);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("dial's report {text:?}: {e}"));
    (report["answers"].clone(), text)
}

fn internal_traffic_policy(lab: &Lab, dp: &str) {
    kubectl_apply(lab, "default", &internal_manifest());
    for pod in ["itp-1", "itp-2", "cl-0", "cl-1"] {
        wait_ready(lab, "default", pod);
    }
    let ip = kubectl_ok(lab, &["get", "svc", "itp", "-o", "jsonpath={.spec.clusterIP}"]);
    let target = format!("{ip}:80");
    // Until node-1 has programmed the Service: then 30 new connections
    // from node-1 all reach node-1's endpoint.
    eventually("node-1's client to reach the Service", 300, || {
        let (answers, _) = dial(lab, "cl-1", &target, 1);
        (answers.as_object().is_some_and(|a| !a.is_empty())).then_some(())
    });
    let (answers, report) = dial(lab, "cl-1", &target, 30);
    assert_eq!(answers, serde_json::json!({"itp-1": 30}), "{dp}: {report}");
    // node-0 has no endpoint: nothing answers.
    let (answers, report) = dial(lab, "cl-0", &target, 3);
    assert_eq!(answers, serde_json::json!({}), "{dp}: node-0 reached {report}");
    // Cluster again: node-1's client reaches both endpoints.
    kubectl_ok(
        lab,
        &[
            "patch",
            "svc",
            "itp",
            "-p",
            r#"{"spec":{"internalTrafficPolicy":"Cluster"}}"#,
        ],
    );
    eventually("node-1's client to reach both endpoints", 100, || {
        let (answers, _) = dial(lab, "cl-1", &target, 30);
        (answers.as_object().is_some_and(|a| a.len() == 2)).then_some(())
    });
}

/// sessionAffinity ClientIP over the `itp` backends: 30 new connections
/// from one client reach one backend; switched off, they spread again (as
/// the e2e test "should be able to switch session affinity" does).
fn client_ip_affinity(lab: &Lab, dp: &str) {
    kubectl_apply(
        lab,
        "default",
        "apiVersion: v1\nkind: Service\nmetadata: {name: aff}\nspec:\n  sessionAffinity: ClientIP\n  \
         selector: {app: itp}\n  ports:\n  - {port: 80, targetPort: 8080}\n",
    );
    let ip = kubectl_ok(lab, &["get", "svc", "aff", "-o", "jsonpath={.spec.clusterIP}"]);
    let target = format!("{ip}:80");
    eventually("node-0's client to reach the affinity Service", 300, || {
        let (answers, _) = dial(lab, "cl-0", &target, 1);
        (answers.as_object().is_some_and(|a| !a.is_empty())).then_some(())
    });
    let (answers, report) = dial(lab, "cl-0", &target, 30);
    let a = answers.as_object().expect("answers");
    assert!(
        a.len() == 1 && a.values().next() == Some(&serde_json::json!(30)),
        "{dp}: affinity: {report}"
    );
    kubectl_ok(
        lab,
        &[
            "patch",
            "svc",
            "aff",
            "-p",
            r#"{"spec":{"sessionAffinity":"None"}}"#,
        ],
    );
    eventually("connections to spread once affinity is off", 100, || {
        let (answers, _) = dial(lab, "cl-0", &target, 30);
        (answers.as_object().is_some_and(|a| a.len() == 2)).then_some(())
    });
}

/// PreferClose over the `itp` backends (itp-1 on node-1 in zone-a, itp-2
/// on node-2 in zone-b), from cl-0 on node-0 (zone-a, no endpoint of its
/// own): 30 of 30 connections stay in zone-a; with itp-1 deleted they go
/// to zone-b rather than nowhere. Deletes itp-1: runs after the others.
fn prefer_close(lab: &Lab, dp: &str) {
    kubectl_apply(
        lab,
        "default",
        "apiVersion: v1\nkind: Service\nmetadata: {name: pc}\nspec:\n  trafficDistribution: PreferClose\n  \
         selector: {app: itp}\n  ports:\n  - {port: 80, targetPort: 8080}\n",
    );
    let slices = || {
        kubectl_ok(
            lab,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=pc",
                "-o",
                "jsonpath={range .items[*].endpoints[*]}{.targetRef.name}={.zone}/{.hints.forZones[*].name} {end}",
            ],
        )
    };
    eventually("pc's EndpointSlice to carry zones and hints", 300, || {
        let s = slices();
        (s.contains("itp-1=zone-a/zone-a") && s.contains("itp-2=zone-b/zone-b")).then_some(())
    });
    let ip = kubectl_ok(lab, &["get", "svc", "pc", "-o", "jsonpath={.spec.clusterIP}"]);
    let target = format!("{ip}:80");
    let only = |pod: &str| serde_json::json!({ pod: 30 });
    // Until node-0 has programmed the hints; then they hold.
    eventually("node-0's client to stay in zone-a", 300, || {
        (dial(lab, "cl-0", &target, 30).0 == only("itp-1")).then_some(())
    });
    let (answers, report) = dial(lab, "cl-0", &target, 30);
    assert_eq!(answers, only("itp-1"), "{dp}: PreferClose from zone-a: {report}");

    kubectl_ok(lab, &["delete", "pod", "itp-1", "--wait=true"]);
    eventually("pc's slice to lose itp-1", 300, || {
        (!slices().contains("itp-1=")).then_some(())
    });
    eventually("node-0's client to spill over to zone-b", 300, || {
        (dial(lab, "cl-0", &target, 30).0 == only("itp-2")).then_some(())
    });
}

fn node_ip(lab: &Lab, node: &str) -> String {
    kubectl_ok(
        lab,
        &[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
        ],
    )
}

/// curl from the client host: its exit code, and the body with the HTTP
/// status on a last line of its own.
fn curl_from_client(lab: &Lab, url: &str) -> (i32, String) {
    let vpc = lab.vpc_pid().to_string();
    let out = std::process::Command::new("nsenter")
        .args([
            "-t",
            &vpc,
            "-n",
            "curl",
            "-s",
            "-m",
            "3",
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output()
        .expect("nsenter curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The body of a 200 answer, once one comes.
fn get_ok(lab: &Lab, url: &str) -> String {
    eventually(&format!("{url} from the client host"), 300, || {
        let (code, out) = curl_from_client(lab, url);
        let (body, status) = out.rsplit_once('\n')?;
        (code == 0 && status == "200").then(|| body.trim().to_string())
    })
}

/// What `dp` shows for a node (address `ip`) without a local endpoint of
/// `npl`: the drop is programmed.
fn drop_programmed(lab: &Lab, dp: &str, node: &str, ip: &str) -> bool {
    let cmd = match dp {
        "iptables" => "iptables-save -t filter".to_string(),
        "nftables" => "nft list table ip labyrinth".to_string(),
        _ => format!("{BIN} bpf map get services --json"),
    };
    let text = lab.ssh_ok(node, &["sh", "-c", &cmd]);
    match dp {
        "iptables" => text.contains("default/npl has no local endpoints"),
        // The NodePort's element in no-endpoint-services sends it to drop-chain.
        "nftables" => text.contains(&format!("tcp . {LOCAL_PORT} : goto drop-chain")),
        // The NodePort's frontend on the node's address, with no backends
        // (its row in lby_lb4_nodeport_v2 says Local: drop).
        _ => {
            let v: serde_json::Value = serde_json::from_str(&text).expect("map get --json");
            let frontend = format!("{ip}:{LOCAL_PORT}");
            v["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["frontend"] == frontend.as_str() && r["slot"] == 0 && r["count"] == 0)
        }
    }
}

/// The address the controller gave `svc` from the lab's pool.
fn lb_address(lab: &Lab, svc: &str) -> String {
    eventually(&format!("{svc}'s LoadBalancer address"), 300, || {
        let ip = kubectl_ok(
            lab,
            &[
                "get",
                "svc",
                svc,
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ],
        );
        (!ip.trim().is_empty()).then(|| ip.trim().to_string())
    })
}

/// LoadBalancer addresses answer from the client host on the Service's
/// port: `np` (Cluster, every node announces it) reaches the backend,
/// `npl` (Local, announced by node-2 alone) keeps the client's address.
fn load_balancer_addresses(lab: &Lab, dp: &str) {
    let (np, npl) = (lb_address(lab, "np"), lb_address(lab, "npl"));
    let name = get_ok(lab, &format!("http://{np}/hostname"));
    assert_eq!(name, "np-2", "{dp}: LoadBalancer {np}");
    let seen = get_ok(lab, &format!("http://{npl}/clientip"));
    assert!(
        seen.starts_with(&format!("{CLIENT}:")),
        "{dp}: Local LoadBalancer {npl}: {seen}"
    );
    // Only node-2 (the endpoint's node) makes npl's address its own.
    for node in ["node-0", "node-1", "node-2"] {
        let routes = lab.ssh_ok(node, &["ip", "route", "show", "table", "local", "proto", "199"]);
        assert_eq!(
            routes.contains(&format!("local {npl} ")),
            node == "node-2",
            "{node}: {routes}"
        );
        assert!(routes.contains(&format!("local {np} ")), "{node}: {routes}");
    }
}

fn scenario(dp: &str) {
    if labyrinth_testkit::root::tool("services_external", "curl").is_none() {
        return;
    }
    let lab = Lab::cluster(&format!("ext-{dp}"), &["--datapath", dp]);
    internal_traffic_policy(&lab, dp);
    client_ip_affinity(&lab, dp);
    prefer_close(&lab, dp);
    kubectl_apply(&lab, "default", &manifest());
    wait_ready(&lab, "default", "np-2");
    let backend = pod_ip(&lab, "default", "np-2");
    let nodes: Vec<(String, String)> = ["node-0", "node-1", "node-2"]
        .iter()
        .map(|n| (n.to_string(), node_ip(&lab, n)))
        .collect();

    // Cluster: every node answers, and the backend sees the node (any of
    // its addresses), not the client.
    for (node, ip) in &nodes {
        let name = get_ok(&lab, &format!("http://{ip}:{CLUSTER_PORT}/hostname"));
        assert_eq!(name, "np-2", "NodePort on {node}");
        let seen = get_ok(&lab, &format!("http://{ip}:{CLUSTER_PORT}/clientip"));
        let seen = seen
            .rsplit_once(':')
            .map_or(seen.as_str(), |(a, _)| a)
            .to_string();
        assert_ne!(
            seen, CLIENT,
            "Cluster policy through {node} kept the client's address"
        );
        let addrs = lab.ssh_ok(node, &["ip", "-o", "-4", "addr", "show"]);
        assert!(
            addrs.contains(&format!("inet {seen}/")),
            "the backend saw {seen}, not an address of {node}: {addrs}"
        );
    }

    // Local: node-2 (the backend's node) keeps the client's address.
    let (_, ip2) = &nodes[2];
    let seen = get_ok(&lab, &format!("http://{ip2}:{LOCAL_PORT}/clientip"));
    assert!(seen.starts_with(&format!("{CLIENT}:")), "Local policy: {seen}");
    let health = get_ok(&lab, &format!("http://{ip2}:{HEALTH_PORT}/"));
    let v: serde_json::Value = serde_json::from_str(&health).expect("health body is JSON");
    assert_eq!(v["localEndpoints"], 1, "{health}");
    assert_eq!(v["service"]["name"], "npl", "{health}");
    for (node, ip) in &nodes[..2] {
        let url = format!("http://{ip}:{HEALTH_PORT}/");
        let body = eventually(&format!("{node}'s health check to say 503"), 300, || {
            let (code, out) = curl_from_client(&lab, &url);
            let (body, status) = out.rsplit_once('\n')?;
            (code == 0 && status == "503").then(|| body.to_string())
        });
        assert!(body.contains("\"localEndpoints\": 0"), "{body}");
        eventually(&format!("{node}'s drop to be programmed"), 300, || {
            drop_programmed(&lab, dp, node, ip).then_some(())
        });
        // Dropped, not refused and not served: curl gives up (exit 28).
        let (code, out) = curl_from_client(&lab, &format!("http://{ip}:{LOCAL_PORT}/hostname"));
        assert_eq!(
            code, 28,
            "Local policy on {node} (no local endpoint) answered: {out}"
        );
    }
    // explain from the client host: Cluster through node-0, Local on node-2.
    for (node, port, local) in [(0, CLUSTER_PORT, false), (2, LOCAL_PORT, true)] {
        let (name, ip) = &nodes[node];
        let np = explain::NodePort {
            node: name,
            ip,
            port,
            local,
        };
        let delivery = explain::explained(&lab, dp, &np);
        assert!(
            delivery.contains(&format!("delivered to {backend}:8080")),
            "{dp}: {delivery}"
        );
        let answer = get_ok(&lab, &format!("http://{ip}:{port}/hostname"));
        assert_eq!(answer, "np-2", "{dp}: the connection explain predicted");
    }
    load_balancer_addresses(&lab, dp);
    eprintln!("{dp}: NodePort from the client host to backend {backend}: ok");
    lab.down();
}

#[test]
fn node_ports_and_traffic_policies_iptables() {
    if need_root("node_ports_and_traffic_policies_iptables") {
        scenario("iptables");
    }
}

#[test]
fn node_ports_and_traffic_policies_nftables() {
    if need_root("node_ports_and_traffic_policies_nftables") {
        scenario("nftables");
    }
}

#[test]
fn node_ports_and_traffic_policies_ebpf() {
    if need_root("node_ports_and_traffic_policies_ebpf") {
        scenario("ebpf");
    }
}
