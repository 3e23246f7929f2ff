//! A NodePort in kube-proxy's iptables layout, read back from
//! `iptables-save`, for a client outside the cluster: KUBE-SERVICES' last
//! rule sends local destinations to KUBE-NODEPORTS, whose rule for the
//! port jumps to the Service's KUBE-EXT chain; its rules for a source that
//! is neither a pod nor the node itself decide the masquerade (Cluster) or
//! its absence (Local) and go on to KUBE-SVC or KUBE-SVL. Local without an
//! endpoint on this node is a DROP in filter KUBE-EXTERNAL-SERVICES.

use labyrinth_contracts::iptables_save::{Rule, Save};

use super::iptables::{choices, nat};

const NODEPORTS: &str = "KUBE-NODEPORTS";
const EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
const MARK_MASQ: &str = "KUBE-MARK-MASQ";

fn matches_port(r: &Rule, proto: &str, port: u16) -> bool {
    r.value_of("-p").as_deref() == Some(proto) && r.value_of("--dport") == Some(port.to_string())
}

/// A KUBE-EXT rule a client from outside the cluster meets: the ones that
/// match pod sources (`-s CIDR`) or the node's own (`--src-type LOCAL`)
/// do not apply to it.
fn applies_to_outside(r: &Rule) -> bool {
    r.value_of("-s").is_none() && r.value_of("--src-type").is_none()
}

/// What the node's rules do with a new connection from outside the
/// cluster to `port` on one of its addresses: a text naming the rules and
/// the traffic policy, and the backends (`ip:port`) it may be DNATed to
/// (none: dropped or refused). None when no rule names the port.
pub fn node_port(nat_save: &str, filter_save: &str, proto: &str, port: u16) -> Option<(String, Vec<String>)> {
    if let Ok(filter) = Save::parse(filter_save) {
        let refused = filter.table("filter").and_then(|t| {
            t.rules.iter().find(|r| {
                r.chain == EXTERNAL_SERVICES && r.value_of("-d").is_none() && matches_port(r, proto, port)
            })
        });
        if let Some(r) = refused {
            return Some((
                format!(
                    "iptables filter {EXTERNAL_SERVICES} `{}` (\"{}\")",
                    r.line,
                    r.comment().unwrap_or_default()
                ),
                vec![],
            ));
        }
    }
    let save = Save::parse(nat_save).ok()?;
    let all = nat(&save);
    let jump = all
        .iter()
        .find(|r| r.chain == NODEPORTS && matches_port(r, proto, port))?;
    let ext = jump.target()?;
    let ext_rules: Vec<&Rule> = all
        .iter()
        .filter(|r| r.chain == ext && applies_to_outside(r))
        .collect();
    let masq = ext_rules
        .iter()
        .find(|r| r.target().as_deref() == Some(MARK_MASQ));
    let next = ext_rules.iter().find_map(|r| {
        r.target()
            .filter(|t| t.starts_with("KUBE-SVC-") || t.starts_with("KUBE-SVL-"))
    })?;
    let eps = choices(all, &next)?;
    let policy = match masq {
        Some(r) => format!(
            "{ext} `{}`: externalTrafficPolicy Cluster, the source is masqueraded to the node's \
             address on the way out (KUBE-POSTROUTING)",
            r.line
        ),
        None => format!(
            "{ext} has no {MARK_MASQ} for a client outside the node: externalTrafficPolicy Local, \
             the client's address is kept and {next} holds only this node's endpoints"
        ),
    };
    let list: Vec<String> = eps
        .iter()
        .map(|(sep, be, p)| format!("{be} via {sep} (chance {:.0}%)", p * 100.0))
        .collect();
    let text = format!(
        "iptables nat KUBE-SERVICES → {NODEPORTS} `{}` → {policy}; {ext} → {next} → DNAT to one of: {}",
        jump.line,
        list.join(", ")
    );
    Some((text, eps.into_iter().map(|(_, b, _)| b).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = r#"*nat
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/np" -m tcp --dport 30080 -j KUBE-EXT-AAAA
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/npl" -m tcp --dport 30081 -j KUBE-EXT-BBBB
-A KUBE-EXT-AAAA -m comment --comment "masquerade traffic for default/np external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-AAAA -j KUBE-SVC-AAAA
-A KUBE-EXT-BBBB -s 10.0.0.0/16 -m comment --comment "pod traffic for default/npl external destinations" -j KUBE-SVC-BBBB
-A KUBE-EXT-BBBB -m comment --comment "masquerade LOCAL traffic for default/npl external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-BBBB -m comment --comment "route LOCAL traffic for default/npl external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-BBBB
-A KUBE-EXT-BBBB -j KUBE-SVL-BBBB
-A KUBE-SVC-AAAA -m comment --comment "default/np -> 10.0.2.5:8080" -j KUBE-SEP-A1
-A KUBE-SVL-BBBB -m comment --comment "default/npl -> 10.0.2.5:8080" -j KUBE-SEP-B1
-A KUBE-SEP-A1 -p tcp -m tcp -j DNAT --to-destination 10.0.2.5:8080
-A KUBE-SEP-B1 -p tcp -m tcp -j DNAT --to-destination 10.0.2.5:8080
COMMIT
"#;

    #[test]
    fn names_the_nodeport_rule_and_the_policy_for_a_client_outside() {
        let (text, eps) = node_port(NAT, "", "tcp", 30080).unwrap();
        assert!(text.contains("--dport 30080 -j KUBE-EXT-AAAA`"), "{text}");
        assert!(text.contains("externalTrafficPolicy Cluster"), "{text}");
        assert_eq!(eps, ["10.0.2.5:8080"]);
        let (text, eps) = node_port(NAT, "", "tcp", 30081).unwrap();
        assert!(text.contains("externalTrafficPolicy Local"), "{text}");
        assert!(text.contains("KUBE-EXT-BBBB → KUBE-SVL-BBBB"), "{text}");
        assert_eq!(eps, ["10.0.2.5:8080"]);
        assert!(node_port(NAT, "", "udp", 30080).is_none());
    }

    #[test]
    fn a_local_nodeport_without_a_local_endpoint_is_dropped_in_filter() {
        let filter = "*filter\n-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"default/npl has no local endpoints\" \
                      -m addrtype --dst-type LOCAL -m tcp --dport 30081 -j DROP\nCOMMIT\n";
        let (text, eps) = node_port(NAT, filter, "tcp", 30081).unwrap();
        assert!(
            text.ends_with("-j DROP` (\"default/npl has no local endpoints\")"),
            "{text}"
        );
        assert!(eps.is_empty());
    }
}
