//! The network role as the DaemonSet `labyrinth` in kube-system: one
//! function renders it (with its ServiceAccount and the read-only rights it
//! needs) for given settings. `lab up`, `labyrinth install` and the file
//! committed as deploy/labyrinth.yaml all come from here, so what a lab
//! runs is what a real cluster gets.

use serde_json::{json, Value};

use crate::agent_config::AgentConfig;
use crate::node::BIN_DIR;

pub const NAMESPACE: &str = "kube-system";
/// The DaemonSet's, the ServiceAccount's and the ClusterRole's name.
pub const NAME: &str = "labyrinth";
/// Its pods' label (`kubectl get po -l k8s-app=labyrinth`).
pub const APP_LABEL: (&str, &str) = ("k8s-app", NAME);
/// The catalog image whose program is our binary (crates/agent/images.yaml).
pub const IMAGE: &str = "labyrinth";
/// The committed manifest's API server: a real cluster's must be filled
/// in (`labyrinth install` does, from the kubeconfig's server).
pub const PLACEHOLDER_API: (&str, u16) = ("API_SERVER_HOST", 6443);
/// Where the agent serves /healthz (its metrics address).
pub const HEALTH_PORT: u16 = 10249;

/// What differs between clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The modes and ranges every node agent runs with.
    pub agent: AgentConfig,
    /// The API server's real address (as Cilium's k8sServiceHost): the
    /// Service ClusterIP cannot be reached before this agent programs it.
    pub api_host: String,
    pub api_port: u16,
    /// The VXLAN network identifier (tunnel routing).
    pub vni: u32,
}

impl Settings {
    /// The committed file's settings: the lab's default modes and ranges,
    /// the placeholder API address.
    pub fn committed_default() -> Self {
        Settings {
            agent: AgentConfig {
                routing: crate::modes::Routing::Tunnel,
                datapath: crate::modes::Datapath::Iptables,
                cluster_cidr: "10.0.0.0/16".parse().expect("a valid range"),
                service_cidr: "10.96.0.0/12".parse().expect("a valid range"),
                cluster_dns: std::net::Ipv4Addr::new(10, 96, 0, 10),
                cluster_domain: "cluster.local".into(),
                peer_redirect: false,
                network_daemonset: true,
                allowed_unsafe_sysctls: Vec::new(),
            },
            api_host: PLACEHOLDER_API.0.into(),
            api_port: PLACEHOLDER_API.1,
            vni: crate::node::DEFAULT_VNI,
        }
    }
}

/// The agents' settings (the ConfigMap `join` reads, so joined nodes run
/// the kubelet role), the ServiceAccount, ClusterRole, ClusterRoleBinding
/// and DaemonSet, in the order they must be created.
pub fn render(s: &Settings) -> Vec<Value> {
    let mut agent = s.agent.clone();
    agent.network_daemonset = true;
    vec![
        agent.config_map(),
        service_account(),
        cluster_role(),
        cluster_role_binding(),
        daemonset(s),
    ]
}

/// `render` as one multi-document YAML file (what `kubectl apply -f` takes).
pub fn render_yaml(s: &Settings) -> String {
    let mut out = String::from(
        "# The Labyrinth network agent (rendered by labyrinth_contracts::network_daemonset;\n\
         # `labyrinth install` fills in the API server's address).\n",
    );
    for doc in render(s) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&doc).expect("JSON values serialize as YAML"));
    }
    out
}

fn service_account() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
    })
}

/// Only reads: the Node (its pod CIDR, the peers' addresses), Services and
/// their EndpointSlices (the Service datapath), Pods, Namespaces and
/// NetworkPolicies (policy).
fn cluster_role() -> Value {
    let read = json!(["get", "list", "watch"]);
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": NAME},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes", "services", "pods", "namespaces"], "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
        ],
    })
}

fn cluster_role_binding() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    })
}

/// A hostPath volume and where the agent sees it (the same path).
fn host_dirs() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("cni-bin", "/opt/cni/bin", "DirectoryOrCreate"),
        ("cni-conf", "/etc/cni/net.d", "DirectoryOrCreate"),
        ("cni-data", "/var/lib/cni", "DirectoryOrCreate"),
        ("bpf", "/sys/fs/bpf", "DirectoryOrCreate"),
        // The CNI socket, the runtime's netns and the pods' records.
        ("run", "/run/labyrinth", "DirectoryOrCreate"),
        ("netns", "/run/netns", "DirectoryOrCreate"),
        ("state", "/var/lib/labyrinth", "DirectoryOrCreate"),
        ("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
    ]
}

fn daemonset(s: &Settings) -> Value {
    let labels = json!({APP_LABEL.0: APP_LABEL.1});
    let program = format!("{BIN_DIR}/labyrinth");
    let mut args: Vec<String> = vec![
        "agent".into(),
        "--role".into(),
        crate::modes::AgentRole::Network.to_string(),
        "--node-name".into(),
        "$(NODE_NAME)".into(),
        "--node-ip".into(),
        "$(NODE_IP)".into(),
        "--vni".into(),
        s.vni.to_string(),
    ];
    args.extend(s.agent.agent_flags());
    let volumes: Vec<Value> = host_dirs()
        .into_iter()
        .map(|(name, path, kind)| json!({"name": name, "hostPath": {"path": path, "type": kind}}))
        .collect();
    let mounts: Vec<Value> = host_dirs()
        .into_iter()
        .map(|(name, path, _)| json!({"name": name, "mountPath": path}))
        .collect();
    let health = |period: u32, failures: u32| {
        json!({
            "httpGet": {"host": "127.0.0.1", "path": "/healthz", "port": HEALTH_PORT},
            "periodSeconds": period, "failureThreshold": failures,
        })
    };
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "hostNetwork": true,
                    // The CNI socket's callers are the node's runtime: the
                    // agent reads their network namespace paths through
                    // /proc/<caller>/root.
                    "hostPID": true,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 5,
                    "initContainers": [{
                        "name": "install-cni",
                        "image": IMAGE,
                        "command": [program, "install-cni", "--bin-dir", "/opt/cni/bin"],
                        "volumeMounts": [{"name": "cni-bin", "mountPath": "/opt/cni/bin"}],
                    }],
                    "containers": [{
                        "name": "agent",
                        "image": IMAGE,
                        "command": [program],
                        "args": args,
                        "env": [
                            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                            {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                            {"name": "KUBERNETES_SERVICE_HOST", "value": s.api_host},
                            {"name": "KUBERNETES_SERVICE_PORT", "value": s.api_port.to_string()},
                        ],
                        "securityContext": {"privileged": true},
                        "readinessProbe": health(2, 3),
                        "livenessProbe": health(10, 6),
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemonset_is_what_a_node_network_agent_needs() {
        let docs = render(&Settings::committed_default());
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ConfigMap",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "DaemonSet"
            ]
        );
        let published = crate::agent_config::AgentConfig::from_config_map(&docs[0]).unwrap();
        assert!(published.network_daemonset, "joined nodes run the kubelet role");
        let ds = &docs[4];
        let pod = &ds["spec"]["template"]["spec"];
        assert_eq!(
            ds["spec"]["template"]["metadata"]["labels"]["k8s-app"],
            "labyrinth"
        );
        assert_eq!(pod["hostNetwork"], true);
        assert_eq!(pod["priorityClassName"], "system-node-critical");
        assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"], 1);
        let args = pod["containers"][0]["args"].as_array().unwrap();
        let role = args.iter().position(|a| a == "--role").unwrap();
        assert_eq!(args[role + 1], "network");
        let cni = &pod["initContainers"][0]["command"];
        assert_eq!(cni[1], "install-cni");
        assert!(pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["hostPath"]["path"] == "/opt/cni/bin"));
    }

    #[test]
    fn the_role_only_reads() {
        let role = cluster_role();
        for rule in role["rules"].as_array().unwrap() {
            assert_eq!(rule["verbs"], json!(["get", "list", "watch"]), "{rule}");
        }
    }

    #[test]
    fn settings_reach_the_agent_flags_and_the_api_address() {
        let mut s = Settings::committed_default();
        s.agent.datapath = crate::modes::Datapath::Ebpf;
        s.api_host = "192.168.50.10".into();
        s.vni = 77;
        let ds = &render(&s)[4];
        let c = &ds["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("--datapath ebpf"), "{joined}");
        assert!(joined.contains("--vni 77"), "{joined}");
        assert_eq!(c["env"][2]["value"], "192.168.50.10");
        assert_eq!(c["env"][3]["value"], "6443");
    }

    #[test]
    fn the_committed_file_is_the_rendered_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/labyrinth.yaml");
        let committed = std::fs::read_to_string(path).expect("deploy/labyrinth.yaml is committed");
        assert_eq!(
            committed,
            render_yaml(&Settings::committed_default()),
            "deploy/labyrinth.yaml differs from the rendered default: regenerate it with \
             `labyrinth install --print > deploy/labyrinth.yaml`"
        );
    }
}
