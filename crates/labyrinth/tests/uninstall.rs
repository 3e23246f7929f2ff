//! Issue 21, acceptance 4: `labyrinth uninstall` on a node leaves no
//! device, route, rule, table, chain, eBPF program, map or pin, CNI file
//! or pod state of ours: each worker of a `--manual-join` lab is recorded
//! before its join, joined, given pods, a LoadBalancer Service and a
//! NetworkPolicy, uninstalled, and recorded again, with the node's own
//! tools (ip, tc, nft, iptables-save, bpftool, find). node-1 runs the eBPF
//! datapath (pinned maps, programs on every device), node-2 is moved to
//! iptables (kube-proxy's chains, the policy chains). A second lab does
//! the same with the network as the DaemonSet (nftables).

mod common;
use common::agent::switch_agent;
use common::journey::*;
use common::*;

/// The node's network state and our files, one section each; what names
/// a device by index (`7: lxc…`) is cut, the rest is compared as it is.
const SNAPSHOT: &str = r#"
echo "== links"; ip -d -o link show | sed -E 's/^[0-9]+: //'
echo "== qdiscs"; tc qdisc show
echo "== routes"; ip -4 route show table all
echo "== rules"; ip rule show
echo "== nftables"; nft list ruleset
echo "== iptables"; iptables-save | grep -v '^#'
echo "== bpffs"; find /sys/fs/bpf | sort
echo "== files"
for d in /etc/cni /opt/cni /var/lib/cni /var/lib/labyrinth /run/labyrinth /run/netns /var/log/pods /opt/labyrinth/bin; do
  [ -e $d ] && find $d | sort
done | grep -v -e '^/var/lib/labyrinth$' -e '^/var/lib/labyrinth/pki'
"#;

/// `join` keeps the node's credentials (/var/lib/labyrinth/pki), which
/// uninstall leaves as `kubeadm reset` would be the one to remove them:
/// the listing skips them.
fn snapshot(lab: &Lab, node: &str) -> String {
    lab.ssh_ok(node, &["sh", "-c", SNAPSHOT])
}

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: a1, labels: {app: web}}
spec:
  nodeName: node-1
  containers: [{name: main, image: busybox, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: a2, labels: {app: web}}
spec:
  nodeName: node-1
  containers: [{name: main, image: busybox, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b1, labels: {app: web}}
spec:
  nodeName: node-2
  containers: [{name: main, image: busybox, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
"#;

/// The ids of the eBPF programs and maps node-1's pins hold, as bpftool
/// reads them.
fn pinned_bpf_ids(lab: &Lab) -> (Vec<u64>, Vec<u64>) {
    let script = "for p in /sys/fs/bpf/labyrinth/links/*; do bpftool -j link show pinned $p; echo; done";
    let links = lab.ssh_ok("node-1", &["sh", "-c", script]);
    let progs: Vec<u64> = links
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["prog_id"].as_u64())
        .collect();
    let script = "for p in /sys/fs/bpf/labyrinth/lby_*; do bpftool -j map show pinned $p; echo; done";
    let maps = lab.ssh_ok("node-1", &["sh", "-c", script]);
    let maps: Vec<u64> = maps
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["id"].as_u64())
        .collect();
    (progs, maps)
}

#[test]
fn uninstall_leaves_each_node_as_before_its_join() {
    const TEST: &str = "uninstall_leaves_each_node_as_before_its_join";
    if !need_root(TEST) || !have_tools(TEST) {
        return;
    }
    let lab = Lab::cluster("unin", &["--manual-join", "--datapath", "ebpf", "--single-agent"]);
    uninstall_after_join(&lab, "ebpf", |lab| switch_agent(lab, "node-2", "iptables"));
    lab.down();
}

/// The network as the DaemonSet (the lab's default), nftables: the agent
/// pod's devices, table, CNI program (its init container's) and config go
/// with the rest.
#[test]
fn uninstall_with_the_network_daemonset_nftables() {
    const TEST: &str = "uninstall_with_the_network_daemonset_nftables";
    if !need_root(TEST) || !have_tools(TEST) {
        return;
    }
    let lab = Lab::cluster("unin-ds", &["--manual-join", "--datapath", "nftables"]);
    uninstall_after_join(&lab, "nftables", |lab| {
        for node in ["node-1", "node-2"] {
            let running = format!("spec.nodeName={node},status.phase=Running");
            wait_until(&format!("the agent pod on {node}"), || {
                let pods = ["-n", "kube-system", "get", "po", "-l", "k8s-app=labyrinth"];
                let mut a = pods.to_vec();
                a.extend(["--field-selector", &running, "-o", "name"]);
                kubectl_ok(lab, &a).lines().count() == 1
            });
        }
    });
    lab.down();
}

fn have_tools(test: &str) -> bool {
    ["bpftool", "nft", "iptables-save", "tc"]
        .iter()
        .all(|tool| labyrinth_testkit::root::tool(test, tool).is_some())
}

/// Record node-1 and node-2, join them, run `joined` (a datapath change,
/// a wait), give them the workload, uninstall each and compare.
fn uninstall_after_join(lab: &Lab, datapath: &str, joined: impl Fn(&Lab)) {
    let nodes = ["node-1", "node-2"];
    let before: Vec<String> = nodes.iter().map(|n| snapshot(lab, n)).collect();

    let cmd = lab.ssh_ok("node-0", &[BIN, "token", "create", "--print-join-command"]);
    let mut argv: Vec<&str> = cmd.split_whitespace().collect();
    argv[0] = BIN;
    for node in nodes {
        lab.ssh_ok(node, &argv);
    }
    kubectl_ok(
        lab,
        &["wait", "--for=condition=Ready", "node", "--all", "--timeout=120s"],
    );
    joined(lab);
    kubectl_apply(lab, "default", WORKLOAD);
    for pod in ["a1", "a2", "b1"] {
        wait_ready(lab, "default", pod);
    }
    let mut progs_maps = None;
    if datapath == "ebpf" {
        wait_until("node-2's Service and policy chains", || {
            let rules = lab.ssh_ok("node-2", &["iptables-save"]);
            rules.contains(":KUBE-SERVICES") && rules.contains(":LABY-")
        });
        let (progs, maps) = pinned_bpf_ids(lab);
        assert!(!progs.is_empty() && !maps.is_empty(), "{progs:?} {maps:?}");
        progs_maps = Some((progs, maps));
    } else {
        wait_until("node-1's Service and policy tables", || {
            let tables = lab.ssh_ok("node-1", &["nft", "list", "tables"]);
            tables.lines().any(|l| l.trim() == "table ip labyrinth") && tables.contains("labyrinth-policy")
        });
    }
    wait_until("the LoadBalancer address on node-1", || {
        let local = ["ip", "route", "show", "table", "local", "proto", "199"];
        !lab.ssh_ok("node-1", &local).trim().is_empty()
    });
    for (i, node) in nodes.iter().enumerate() {
        assert_ne!(
            snapshot(lab, node),
            before[i],
            "{node}: the join changed nothing?"
        );
    }

    for (i, node) in nodes.iter().enumerate() {
        let out = lab.ssh(node, &[BIN, "uninstall"]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("Labyrinth is off this node."),
            "{node}: {said}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("node agent: removed the agent's service"), "{said}");
        let after = snapshot(lab, node);
        let (b, a) = (before[i].lines(), after.lines());
        let gone: Vec<&str> = b.clone().filter(|l| !after.lines().any(|x| x == *l)).collect();
        let left: Vec<&str> = a.filter(|l| !before[i].lines().any(|x| x == *l)).collect();
        assert_eq!(
            after, before[i],
            "{node}: left behind {left:#?}\nremoved what was there before: {gone:#?}"
        );
        let agents = lab.ssh(node, &["pgrep", "-f", common::agent::AGENT_PATTERN]);
        assert!(!agents.status.success(), "{node}: an agent still runs");
    }
    // The programs and maps are gone from the kernel, not only unpinned.
    if let Some((progs, maps)) = progs_maps {
        for id in &progs {
            let out = lab.ssh("node-1", &["bpftool", "prog", "show", "id", &id.to_string()]);
            assert!(!out.status.success(), "program {id} is still loaded");
        }
        for id in &maps {
            let out = lab.ssh("node-1", &["bpftool", "map", "show", "id", &id.to_string()]);
            assert!(!out.status.success(), "map {id} is still there");
        }
    }
    // The control plane still sees the cluster; only the two nodes'
    // agents are gone (their Nodes go NotReady in time).
    kubectl_ok(lab, &["get", "nodes"]);
}
