//! `labyrinth explain client NODE-IP:NODEPORT` (issue 19, point 2): the
//! prediction for the client host outside the cluster names the NodePort
//! rule (iptables KUBE-NODEPORTS → KUBE-EXT), map element (nftables
//! `service-ips` → `external-…` chain) or map row (eBPF
//! `lby_lb4_nodeport_v2`), and the masquerade (Cluster) or its absence
//! (Local). Each is checked against what the node's datapath holds, read
//! independently with iptables-save, nft or bpftool; the real connection
//! from the client host must then reach the backend explain predicted.

use super::common::*;
use labyrinth_contracts::bpf::abi::NODEPORT_MAP;

/// One NodePort to explain: on `node` (address `ip`), `local` if its
/// externalTrafficPolicy is Local.
pub struct NodePort<'a> {
    pub node: &'a str,
    pub ip: &'a str,
    pub port: u16,
    pub local: bool,
}

/// The prediction's steps of `kind`, as text.
fn steps_of(steps: &serde_json::Value, kind: &str) -> Vec<String> {
    steps
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == kind)
        .map(|s| s["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// iptables: the KUBE-NODEPORTS rule for the port as iptables-save prints
/// it, and whether its KUBE-EXT chain marks a client outside for
/// masquerade (a rule without `-s` or `--src-type` jumping to KUBE-MARK-MASQ).
fn iptables_truth(lab: &Lab, np: &NodePort) -> (String, bool) {
    let save = lab.ssh_ok(np.node, &["iptables-save", "-t", "nat"]);
    let dport = format!("--dport {} -j ", np.port);
    let rule = save
        .lines()
        .find(|l| l.starts_with("-A KUBE-NODEPORTS ") && l.contains(&dport))
        .unwrap_or_else(|| panic!("{}: no KUBE-NODEPORTS rule for {}: {save}", np.node, np.port));
    let ext = rule.rsplit(' ').next().unwrap();
    let masq = save.lines().any(|l| {
        l.starts_with(&format!("-A {ext} "))
            && l.ends_with("-j KUBE-MARK-MASQ")
            && !l.contains(" -s ")
            && !l.contains("--src-type")
    });
    (rule.to_string(), masq)
}

/// nftables: the `service-ips` element for the node's address and port,
/// and whether the chain it jumps to marks for masquerade.
fn nft_truth(lab: &Lab, np: &NodePort) -> (String, bool) {
    let table = lab.ssh_ok(np.node, &["nft", "list", "table", "ip", "labyrinth"]);
    let key = format!("{} . tcp . {} : goto ", np.ip, np.port);
    let chain = table
        .split(&key)
        .nth(1)
        .and_then(|rest| rest.split([',', ' ', '\n']).next())
        .unwrap_or_else(|| panic!("{}: no element {key}: {table}", np.node));
    let body = table
        .split(&format!("chain {chain} {{"))
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("{}: no chain {chain}", np.node));
    (format!("{key}{chain}"), body.contains("jump mark-for-masquerade"))
}

/// eBPF: the NodePort map's row for the node's address and port, read
/// with bpftool from the pinned map (key: address, port in network order,
/// protocol; value: rev NAT id, little-endian, then flags, bit 0 Local).
fn bpf_truth(lab: &Lab, np: &NodePort) -> (u16, bool) {
    let pin = format!("/sys/fs/bpf/labyrinth/{NODEPORT_MAP}");
    let dump = lab.ssh_ok(np.node, &["bpftool", "-j", "map", "dump", "pinned", &pin]);
    let rows: serde_json::Value = serde_json::from_str(&dump).expect("bpftool -j");
    let bytes = |v: &serde_json::Value| -> Vec<u8> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect()
    };
    let ip: std::net::Ipv4Addr = np.ip.parse().unwrap();
    let mut want = ip.octets().to_vec();
    want.extend(np.port.to_be_bytes());
    want.push(6);
    let row = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| bytes(&r["key"]).starts_with(&want))
        .unwrap_or_else(|| panic!("{}: no row for {}:{} in {dump}", np.node, np.ip, np.port));
    let v = bytes(&row["value"]);
    (u16::from_le_bytes([v[0], v[1]]), v[2] & 1 == 1)
}

/// Explain the NodePort from the client host and check the service step
/// against the datapath; returns the backend pod the prediction delivers to.
pub fn explained(lab: &Lab, dp: &str, np: &NodePort) -> String {
    let target = format!("{}:{}", np.ip, np.port);
    let out = ok(&labyrinth(&[
        "explain", "--name", &lab.name, "client", &target, "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("explain --json");
    let service = steps_of(&v["steps"], "service").join("\n");
    let policy = if np.local {
        "externalTrafficPolicy Local"
    } else {
        "externalTrafficPolicy Cluster"
    };
    assert!(service.contains(policy), "{dp} {target}: {service}");
    match dp {
        "iptables" => {
            let (rule, masq) = iptables_truth(lab, np);
            assert!(
                service.contains(&format!("`{rule}`")),
                "{dp}: {rule} not in {service}"
            );
            assert_eq!(masq, !np.local, "{dp} {target}: KUBE-EXT's masquerade: {rule}");
        }
        "nftables" => {
            let (element, masq) = nft_truth(lab, np);
            assert!(service.contains(&element), "{dp}: {element} not in {service}");
            assert_eq!(masq, !np.local, "{dp} {target}: {element}'s chain");
        }
        _ => {
            let (rev, local) = bpf_truth(lab, np);
            let row = format!("{NODEPORT_MAP} row {target}/TCP");
            assert!(service.contains(&row), "{dp}: {row} not in {service}");
            assert!(
                service.contains(&format!("rev NAT {rev})")),
                "{dp}: rev NAT {rev}: {service}"
            );
            assert_eq!(local, np.local, "{dp} {target}: the row's Local flag");
        }
    }
    let delivery = steps_of(&v["steps"], "delivery").join("\n");
    assert!(delivery.contains("delivered to "), "{dp} {target}: {out}");
    delivery
}
