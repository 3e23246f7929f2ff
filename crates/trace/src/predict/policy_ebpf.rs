//! NetworkPolicy in the prediction of an eBPF node: the verdict from the
//! policy maps' typed rows (`bpf map get pol-pods|pol-rules --json` in the
//! node), judged as the programs judge (`judge_rows`), and the policy
//! names, which the maps do not hold, from the allow lists the agent's
//! compiler (`labyrinth-policy`) makes of the API's objects for that node:
//! the allow that admits the packet, or the policies isolating the pod.

use std::net::Ipv4Addr;

use labyrinth_contracts::bpf::policy::{judge_rows, PolicyPodRow, PolicyRuleRow, POLICY_RULES_MAP};
use labyrinth_contracts::bpf::MapKind;
use labyrinth_policy::{compile_node, Cluster, Direction, Protocol};

use super::policy::Judgement;
use crate::explain::service::bpf_map;

fn proto_code(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// The judgement of the rows `pods` and `rules` for the pod at `me` in
/// `dir`, named from `cluster` as compiled for `node`; None when the pod
/// is not isolated there.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    pods: &[PolicyPodRow],
    rules: &[PolicyRuleRow],
    cluster: &Cluster,
    node: &str,
    dir: Direction,
    (me, peer): (Ipv4Addr, Ipv4Addr),
    proto: Protocol,
    port: u16,
) -> Option<Judgement> {
    let (allowed, row) = judge_rows(pods, rules, me, dir.as_str(), proto_code(proto), peer, port)?;
    let compiled = compile_node(cluster, Some(node));
    let pod_rules = compiled.pods.iter().find(|r| r.ip == me && r.direction == dir);
    if allowed {
        let row = row.map(|r| format!(" row {}", r.peer)).unwrap_or_default();
        let by = pod_rules
            .and_then(|r| r.allows.iter().find(|a| a.matches(peer, proto, port)))
            .map_or("a row no policy of the API holds now".to_string(), |a| {
                a.describe(dir)
            });
        return Some(Judgement::Allowed {
            chain: format!("{POLICY_RULES_MAP}{row}"),
            by,
        });
    }
    Some(Judgement::Dropped {
        chain: format!("{POLICY_RULES_MAP}: no row holds it"),
        pod: pod_rules.map(|r| r.pod()).unwrap_or_else(|| me.to_string()),
        isolated_by: pod_rules
            .map(|r| r.isolated_by.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    })
}

/// The node's policy rows; None when it runs no eBPF datapath.
pub fn rows(lab: &str, node: &str) -> Option<(Vec<PolicyPodRow>, Vec<PolicyRuleRow>)> {
    Some((
        bpf_map(lab, node, MapKind::PolPods)?,
        bpf_map(lab, node, MapKind::PolRules)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_policy::{Peer, Pod, Policy, Rule, Selector};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn rows_decide_and_the_compiled_policies_name() {
        let pod = |name: &str, addr: &str| Pod {
            namespace: "x".into(),
            name: name.into(),
            labels: [("pod".to_string(), name.to_string())].into(),
            ip: Some(ip(addr)),
            node: "node-2".into(),
            ports: vec![],
        };
        let cluster = Cluster {
            pods: vec![pod("a", "10.0.2.5"), pod("b", "10.0.1.6")],
            policies: vec![Policy {
                namespace: "x".into(),
                name: "a-from-b".into(),
                pod_selector: Selector::labels([("pod", "a")]),
                ingress: Some(vec![Rule {
                    peers: vec![Peer::Pods {
                        namespaces: None,
                        pods: Some(Selector::labels([("pod", "b")])),
                    }],
                    ports: vec![],
                }]),
                egress: None,
            }],
            ..Default::default()
        };
        let pods = [PolicyPodRow {
            pod: ip("10.0.2.5"),
            ingress: true,
            egress: false,
        }];
        let rules = [PolicyRuleRow {
            pod: ip("10.0.2.5"),
            direction: "ingress".into(),
            protocol: None,
            peer: "10.0.1.6/32".parse().unwrap(),
            ports: vec![],
        }];
        let j = |peer: &str| {
            judge(
                &pods,
                &rules,
                &cluster,
                "node-2",
                Direction::Ingress,
                (ip("10.0.2.5"), ip(peer)),
                Protocol::Tcp,
                80,
            )
        };
        assert_eq!(
            j("10.0.1.6"),
            Some(Judgement::Allowed {
                chain: "lby_pol_rules_v1 row 10.0.1.6/32".into(),
                by: "x/a-from-b ingress rule 0 peer 0".into()
            })
        );
        assert_eq!(
            j("10.0.1.7"),
            Some(Judgement::Dropped {
                chain: "lby_pol_rules_v1: no row holds it".into(),
                pod: "x/a".into(),
                isolated_by: vec!["x/a-from-b".into()]
            })
        );
        let eg = judge(
            &pods,
            &rules,
            &cluster,
            "node-2",
            Direction::Egress,
            (ip("10.0.2.5"), ip("1.1.1.1")),
            Protocol::Tcp,
            80,
        );
        assert_eq!(eg, None);
    }
}
