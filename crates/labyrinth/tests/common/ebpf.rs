//! What `bpftool` shows of the eBPF datapath inside a node.

use super::Lab;

/// Whether `bpftool net show` lists `prog` on `dev`'s `hook`.
pub fn bpf_on(net: &str, dev: &str, prog: &str, hook: &str) -> bool {
    net.lines()
        .any(|l| l.starts_with(&format!("{dev}(")) && l.contains(prog) && l.contains(hook))
}

/// Every pod's host veth on `node` (`lxc…`, as `ip link` lists them) has
/// our program on its ingress (from the pod); returns the veths.
pub fn ebpf_on_every_pod_veth(lab: &Lab, node: &str) -> Vec<String> {
    let links = lab.ssh_ok(node, &["ip", "-o", "link", "show", "type", "veth"]);
    let veths: Vec<String> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("lxc"))
        .collect();
    assert!(!veths.is_empty(), "no pod veths on {node}: {links}");
    let net = lab.ssh_ok(node, &["bpftool", "net", "show"]);
    for v in &veths {
        assert!(
            bpf_on(&net, v, "lby_from_container", "ingress"),
            "{node}: no program on pod veth {v}: {net}"
        );
    }
    eprintln!(
        "{node}: lby_from_container on all {} pod veths {veths:?}",
        veths.len()
    );
    veths
}
