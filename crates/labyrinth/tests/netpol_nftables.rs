//! Issue 18 in a real lab, nftables datapath: the shared NetworkPolicy
//! scenarios (tests/common/netpol.rs) on real packets, and the node's
//! policy table read back with `nft list table`: the verdict maps send
//! the isolated pod's address to its readable chain, whose rules name the
//! allowing policy (in the elements of its allow set) and the isolating ones.
//! `labyrinth explain` walks that table (nft JSON) and names the dropping
//! and the allowing policy; `labyrinth observe` in the node names a drop
//! logged by the drop rule. Then node-2 is moved to the iptables datapath
//! with a policy in force: its new agent removes the policy table and
//! enforces by iptables chains.

mod common;
use common::agent::switch_agent;
use common::journey::*;
use common::netpol::{network_policy_scenarios, until_connects, Rendering, EXAMPLES};
use common::*;

fn list(lab: &Lab, node: &str) -> String {
    // Absent (an agent that never synced) lists as nothing.
    let out = lab.ssh(node, &["nft", "list", "table", "ip", "labyrinth-policy"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn network_policies_enforced_by_nftables() {
    if !need_root("network_policies_enforced_by_nftables") {
        return;
    }
    let lab = network_policy_scenarios(
        "netpol-nft",
        &Rendering {
            datapath: "nftables",
            list,
            deny_all: |server| {
                vec![
                    "chain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\t\
                     ct state established,related accept comment \"replies and connections already open\"\n\t\t\
                     ip saddr vmap @egress-pods\n\t\tip daddr vmap @ingress-pods"
                        .into(),
                    format!("elements = {{ {server} : jump ingress-np-srv/server }}"),
                    "chain ingress-np-srv/server {\n\t\t\
                     log prefix \"LABY-POLICY ingress\" group 1818 drop comment \"np-srv/server: isolated for ingress by np-srv/deny-all; no rule allows\""
                        .into(),
                ]
            },
            allow_friend: |friend_ip| {
                vec![
                    "ip saddr . meta l4proto . th dport @ingress-np-srv/server-allow return \
                     comment \"an allowed peer, protocol and port: the element names its policy\""
                        .into(),
                    // The allow set holds exactly the friend on the port,
                    // its element naming the policy.
                    format!(
                        "set ingress-np-srv/server-allow {{\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\t\
                         flags interval\n\t\telements = {{ {friend_ip} . tcp . 8080 \
                         comment \"np-srv/allow-friend ingress rule 0 peer 0\" }}\n\t}}"
                    ),
                ]
            },
            pod_chain_marks: &["chain ingress-", "chain egress-", "-allow"],
            explained_as: Some("nftables chain ingress-np-srv/server"),
            observe_names: true,
            single_agent: true,
        },
    );

    // Moving node-2 (the server's) to iptables with deny-all in force.
    let deny = format!("{EXAMPLES}/deny-all.yaml");
    kubectl_ok(&lab, &["-n", "np-srv", "apply", "-f", &deny]);
    eventually("the server's chain in node-2's table", 60, || {
        list(&lab, "node-2")
            .contains("chain ingress-np-srv/server {")
            .then_some(())
    });
    switch_agent(&lab, "node-2", "iptables");
    let why = "np-srv/server: isolated for ingress by np-srv/deny-all; no rule allows";
    eventually(
        "iptables chains and no nftables policy table on node-2",
        100,
        || {
            let tables = lab.ssh_ok("node-2", &["nft", "list", "tables"]);
            let rules = lab.ssh_ok("node-2", &["iptables-save", "-t", "filter"]);
            (!tables.contains("table ip labyrinth-policy") && rules.contains(why)).then_some(())
        },
    );
    let server = pod_ip(&lab, "np-srv", "server");
    until_connects(&lab, ("np-srv", "stranger"), &server, false);
    lab.down();
}
