//! token create → join: CA pinned by hash, bootstrap token traded for a node
//! credential; wrong token / expired token / wrong hash refused; a node may
//! change only its own Node and its own pods' status, and read only the
//! Secrets its pods refer to.

mod common;
use common::{ready_status, status_patch, TestServer};
use labyrinth_apiserver::auth::join::join;
use labyrinth_apiserver::create_token;
use labyrinth_contracts::agent_config::AgentConfig;
use labyrinth_contracts::modes::{Datapath, Routing};
use std::time::Duration;

#[test]
fn join_flow_and_node_restrictions() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let (token, cmd) =
        s.rt.block_on(create_token(dir.path(), Duration::from_secs(600)))
            .unwrap();
    let hash = s.running().ca_hash.clone();
    let addr = s.running().addr.to_string();
    assert_eq!(
        cmd,
        format!("labyrinth join {addr} --token {token} --discovery-token-ca-cert-hash {hash}")
    );

    // kubeadm's pin, checked with openssl as an independent tool.
    let ca = dir.path().join("pki/ca.crt");
    let sh = format!(
        "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | sha256sum",
        ca.display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&sh)
        .output()
        .unwrap();
    let openssl_hash = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert_eq!(hash, format!("sha256:{openssl_hash}"));

    let kc1 = s.home.path().join("node-1.kubeconfig");
    let wrong_hash = format!("sha256:{}", "0".repeat(64));
    let e =
        s.rt.block_on(join(&addr, &token, &wrong_hash, "node-1", &kc1))
            .unwrap_err();
    assert!(
        format!("{e:#}").contains("does not match --discovery-token-ca-cert-hash"),
        "{e:#}"
    );
    let bad_token = format!("{}.{}", &token[..6], "x".repeat(16));
    let e =
        s.rt.block_on(join(&addr, &bad_token, &hash, "node-1", &kc1))
            .unwrap_err();
    assert!(
        format!("{e:#}").contains("refused the bootstrap token (HTTP 401)"),
        "{e:#}"
    );
    assert!(!kc1.exists(), "nothing written on a refused join");

    let (short, _) =
        s.rt.block_on(create_token(dir.path(), Duration::from_secs(1)))
            .unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let e =
        s.rt.block_on(join(&addr, &short, &hash, "node-1", &kc1))
            .unwrap_err();
    assert!(format!("{e:#}").contains("has expired"), "{e:#}");

    // With no published agent settings, a join learns none.
    let joined = s.rt.block_on(join(&addr, &token, &hash, "node-1", &kc1)).unwrap();
    assert!(joined.agent.is_none(), "{joined:?}");
    // Once the control plane publishes them, a joining node reads them
    // with its own new credential.
    let published = AgentConfig {
        routing: Routing::Native,
        datapath: Datapath::Ebpf,
        cluster_cidr: "10.0.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        cluster_dns: "10.96.0.10".parse().unwrap(),
        cluster_domain: "cluster.local".into(),
        peer_redirect: false,
        network_daemonset: false,
        allowed_unsafe_sysctls: vec!["net.core.somaxconn".into()],
    };
    s.apply(&serde_json::to_string(&published.config_map()).unwrap(), &[]);
    let kc2 = s.home.path().join("node-2.kubeconfig");
    let joined = s.rt.block_on(join(&addr, &token, &hash, "node-2", &kc2)).unwrap();
    assert_eq!(joined.agent, Some(published));
    let out = s.ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["node/node-1", "node/node-2"]
    );

    // node-1 may set its own status, not node-2's.
    let (ok, _, err) = s.kubectl_with(&kc1, &status_patch("node", "node-1", &ready_status("10.168.0.3")));
    assert!(ok, "{err}");
    // Joining node-1 again is refused twice over: on the node by the
    // preflight (its kubeconfig exists), and by the server (node-1 is
    // Ready) for a join from elsewhere. Its credential keeps working.
    let e =
        s.rt.block_on(join(&addr, &token, &hash, "node-1", &kc1))
            .unwrap_err();
    assert!(
        format!("{e:#}").contains("[preflight]") && format!("{e:#}").contains("already exists"),
        "{e:#}"
    );
    let kc1b = s.home.path().join("node-1-again.kubeconfig");
    let e =
        s.rt.block_on(join(&addr, &token, &hash, "node-1", &kc1b))
            .unwrap_err();
    assert!(
        format!("{e:#}").contains("a Node with name \"node-1\" and status \"Ready\" already exists"),
        "{e:#}"
    );
    assert!(!kc1b.exists());
    let (ok, _, err) = s.kubectl_with(&kc1, &["get", "node", "node-1"]);
    assert!(ok, "node-1's credential still works: {err}");
    // node-2 is not Ready yet: a re-join from a fresh machine is allowed.
    let kc2b = s.home.path().join("node-2-again.kubeconfig");
    s.rt.block_on(join(&addr, &token, &hash, "node-2", &kc2b))
        .unwrap();
    let (ok, _, err) = s.kubectl_with(&kc2, &["get", "node", "node-2"]);
    assert!(
        !ok && err.contains("Unauthorized"),
        "the replaced credential: {err}"
    );
    let (ok, _, err) = s.kubectl_with(&kc2b, &["get", "node", "node-2"]);
    assert!(ok, "{err}");

    let (ok, _, err) = s.kubectl_with(&kc1, &["label", "node", "node-2", "x=y"]);
    assert!(!ok);
    assert!(err.contains("Forbidden") || err.contains("forbidden"), "{err}");
    assert!(err.contains("system:node:node-1"), "{err}");
    let (ok, _, _) = s.kubectl_with(&kc1, &["get", "secrets", "-A"]);
    assert!(!ok, "nodes cannot read credentials");
    let (ok, _, err) = s.kubectl_with(&kc1, &["create", "namespace", "x"]);
    assert!(!ok && err.contains("forbidden"), "{err}");

    // Pods: only the status of pods bound to the node.
    for (name, node) in [("p1", "node-1"), ("p2", "node-2")] {
        s.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: i}}]\n"), &[]);
    }
    let running = r#"{"status":{"phase":"Running","podIP":"10.0.1.5"}}"#;
    let (ok, _, err) = s.kubectl_with(&kc1, &status_patch("pod", "p1", running));
    assert!(ok, "{err}");
    let (ok, _, err) = s.kubectl_with(&kc1, &status_patch("pod", "p2", running));
    assert!(!ok && err.contains("forbidden"), "{err}");
    let wide = s.ok(&["get", "pods", "-o", "wide"]);
    let p1 = wide.lines().find(|l| l.starts_with("p1")).unwrap();
    assert!(p1.contains("Running") && p1.contains("10.0.1.5"), "{wide}");
    let p2 = wide.lines().find(|l| l.starts_with("p2")).unwrap();
    assert!(p2.contains("Pending"), "{wide}");

    // Secrets: by name, only those a pod bound to the node refers to.
    for name in ["mine", "theirs"] {
        s.apply(
            &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{k: v}}\n"),
            &[],
        );
    }
    for (pod, node, secret) in [("s1", "node-1", "mine"), ("s2", "node-2", "theirs")] {
        s.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: i, env: [{{name: K, valueFrom: {{secretKeyRef: {{name: {secret}, key: k}}}}}}]}}]\n"), &[]);
    }
    let (ok, out, err) = s.kubectl_with(&kc1, &["get", "secret", "mine", "-o", "jsonpath={.data.k}"]);
    assert!(ok && out.trim() == "dg==", "{out} {err}");
    let (ok, _, err) = s.kubectl_with(&kc1, &["get", "secret", "theirs"]);
    assert!(
        !ok && err.contains("forbidden") && err.contains("system:node:node-1"),
        "{err}"
    );
    let (ok, _, err) = s.kubectl_with(&kc1, &["get", "secrets"]);
    assert!(!ok && err.contains("forbidden"), "a node lists no secrets: {err}");
}
