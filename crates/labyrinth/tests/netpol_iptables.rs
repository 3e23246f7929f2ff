//! Issue 18 in a real lab, iptables datapath: the shared NetworkPolicy
//! scenarios (tests/common/netpol.rs) on real packets, the node's rules
//! read back with iptables-save naming the policies, and `labyrinth
//! explain` naming the dropping and the allowing policy, `labyrinth
//! observe` naming the policy of a logged drop.

mod common;
use common::netpol::{network_policy_scenarios, Rendering};
use common::*;

fn save(lab: &Lab, node: &str) -> String {
    lab.ssh_ok(node, &["iptables-save", "-t", "filter"])
}

#[test]
fn network_policies_enforced_by_iptables() {
    if !need_root("network_policies_enforced_by_iptables") {
        return;
    }
    let lab = network_policy_scenarios(
        "netpol-ipt",
        &Rendering {
            datapath: "iptables",
            list: save,
            deny_all: |_server| {
                vec![
                    "--comment \"np-srv/server: isolated for ingress by np-srv/deny-all; no rule allows\" -j DROP".into(),
                    "-A FORWARD -m comment --comment \"labyrinth network policy\" -j LABY-POLICY".into(),
                ]
            },
            allow_friend: |friend_ip| {
                vec![format!(
                    "-s {friend_ip}/32 -p tcp -m tcp --dport 8080 -m comment --comment \"np-srv/allow-friend ingress rule 0 peer 0\" -j RETURN"
                )]
            },
            pod_chain_marks: &["LABY-IN-", "LABY-EG-"],
            explained_as: Some("iptables LABY-IN-"),
            observe_names: true,
            single_agent: false,
        },
    );
    lab.down();
}
